//! cosign's KMS plugin protocol (sigstore/sigstore `pkg/signature/kms/cliplugin`, protocol
//! `v1`): `<scheme>://<id>` is served by the executable `sigstore-kms-<scheme>` on `PATH`, run
//! once per call as `sigstore-kms-<scheme> v1 <request JSON>`, with the message (if any) on
//! stdin and one JSON answer on stdout. Byte fields are standard base64; public keys are PEM
//! (base64 of the PEM text); `hashFunc` is Go's `crypto.Hash` number (SHA-256 = 5).
//!
//! ECDSA keys are signed through their digest (computed here, sent as
//! `messageOptions.digest`), as cosign's own CryptoSigner does; Ed25519 keys get the message on
//! stdin. Every answer is checked against the key's public half before it is used.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sigstore_lite_core::keys::{DigestAlg, KeyKind, PublicKey, SignError, Signer};

use crate::Error;

/// The protocol version argv[1] carries.
pub const PROTOCOL_VERSION: &str = "v1";
/// How long one plugin call may take (its `ctxDeadline`); then it is killed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read from a plugin.
const MAX_ANSWER: u64 = 1 << 20;

/// Go's `crypto.Hash` numbers.
fn go_hash(alg: DigestAlg) -> u32 {
    match alg {
        DigestAlg::Sha256 => 5,
        DigestAlg::Sha384 => 6,
        DigestAlg::Sha512 => 7,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RpcOptions {
    key_version: &'static str,
    remote_verification: bool,
}

const RPC: RpcOptions = RpcOptions {
    key_version: "",
    remote_verification: false,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitOptions<'a> {
    ctx_deadline: String,
    protocol_version: &'static str,
    #[serde(rename = "keyResourceID")]
    key_resource_id: &'a str,
    hash_func: u32,
    rpc_options: RpcOptions,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    init_options: InitOptions<'a>,
    method_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_algorithm: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_key: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_message: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    error_message: String,
    default_algorithm: Option<DefaultAlgorithmResp>,
    create_key: Option<PublicKeyResp>,
    public_key: Option<PublicKeyResp>,
    sign_message: Option<SignMessageResp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefaultAlgorithmResp {
    default_algorithm: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyResp {
    #[serde(rename = "publicKeyPEM")]
    public_key_pem: String,
}

#[derive(Deserialize)]
struct SignMessageResp {
    signature: String,
}

/// A key behind a plugin.
pub(crate) struct PluginKey {
    exe: String,
    resource: String,
    name: String,
    public: PublicKey,
    failed: AtomicBool,
}

impl std::fmt::Debug for PluginKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginKey")
            .field("key", &self.name)
            .field("public", &self.public)
            .finish()
    }
}

/// RFC 3339 UTC, as Go's time.Time marshals.
fn deadline() -> String {
    let t = std::time::SystemTime::now() + CALL_TIMEOUT;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    time_rfc3339(secs)
}

fn time_rfc3339(secs: i64) -> String {
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

struct Call<'a> {
    exe: &'a str,
    resource: &'a str,
    name: &'a str,
    hash: u32,
}

impl Call<'_> {
    fn err(&self, why: impl Into<String>) -> Error {
        Error::Plugin {
            key: self.name.to_string(),
            exe: self.exe.to_string(),
            why: why.into(),
        }
    }

    fn run(
        &self,
        method: &'static str,
        args: serde_json::Value,
        stdin: &[u8],
    ) -> Result<Response, Error> {
        let mut req = Request {
            init_options: InitOptions {
                ctx_deadline: deadline(),
                protocol_version: PROTOCOL_VERSION,
                key_resource_id: self.resource,
                hash_func: self.hash,
                rpc_options: RPC,
            },
            method_name: method,
            default_algorithm: None,
            create_key: None,
            public_key: None,
            sign_message: None,
        };
        match method {
            "defaultAlgorithm" => req.default_algorithm = Some(args),
            "createKey" => req.create_key = Some(args),
            "publicKey" => req.public_key = Some(args),
            _ => req.sign_message = Some(args),
        }
        let json = serde_json::to_string(&req).expect("a request serializes");
        let mut child = Command::new(self.exe)
            .arg(PROTOCOL_VERSION)
            .arg(json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => self.err("is not on PATH"),
                _ => self.err(format!("cannot be started: {e}")),
            })?;
        let mut input = child.stdin.take().expect("piped");
        let message = stdin.to_vec();
        // A plugin that never reads its stdin must not block us: write from a thread.
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&message);
        });
        let mut out = child.stdout.take().expect("piped");
        let (tx, answer_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut out).take(MAX_ANSWER).read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > CALL_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.err(format!(
                        "did not answer {method} within {} s",
                        CALL_TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(self.err(format!("cannot be waited for: {e}"))),
            }
        };
        let _ = writer.join();
        // A plugin that left a child holding its stdout must not hold us past the deadline.
        let answer = answer_rx
            .recv_timeout(
                CALL_TIMEOUT
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_secs(1)),
            )
            .map_err(|_| self.err(format!("did not close its output after {method}")))?;
        // As cosign's client: a plugin killed by a signal failed; an exit code >= 1 with an
        // answer is read (the answer says what went wrong).
        if status.code().is_none() {
            return Err(self.err(format!("was killed during {method}")));
        }
        let resp: Response = serde_json::from_slice(&answer).map_err(|e| {
            self.err(format!(
                "answered {method} with something that is not its JSON ({e}; exit {status})"
            ))
        })?;
        if !resp.error_message.is_empty() {
            return Err(self.err(format!(
                "refused {method}: {}",
                sigstore_lite_core::text::printable(&resp.error_message)
            )));
        }
        Ok(resp)
    }

    fn public_key(&self, pem_b64: Option<PublicKeyResp>, method: &str) -> Result<PublicKey, Error> {
        let p = pem_b64.ok_or_else(|| self.err(format!("answered {method} without a key")))?;
        let pem = B64
            .decode(p.public_key_pem.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| self.err("answered publicKeyPEM that is not base64 PEM text"))?;
        let key = PublicKey::from_pem(&pem)
            .map_err(|e| self.err(format!("answered a public key that does not parse: {e}")))?;
        if key.kind().ecdsa_digest().is_none() && key.kind() != KeyKind::Ed25519 {
            return Err(self.err(format!(
                "holds a {} key; only ECDSA P-256, P-384 and Ed25519 keys sign here",
                key.kind().name()
            )));
        }
        Ok(key)
    }
}

fn hash_for(kind: KeyKind) -> u32 {
    go_hash(kind.ecdsa_digest().unwrap_or(DigestAlg::Sha256))
}

impl PluginKey {
    fn call(&self) -> Call<'_> {
        Call {
            exe: &self.exe,
            resource: &self.resource,
            name: &self.name,
            hash: hash_for(self.public.kind()),
        }
    }

    pub(crate) fn open(scheme: &str, resource: &str) -> Result<PluginKey, Error> {
        let exe = format!("sigstore-kms-{scheme}");
        let name = format!("{scheme}://{resource}");
        let call = Call {
            exe: &exe,
            resource,
            name: &name,
            hash: 5,
        };
        let r = call.run(
            "publicKey",
            serde_json::json!({"publicKeyOptions": {"rpcOptions": RPC}}),
            &[],
        )?;
        let public = call.public_key(r.public_key, "publicKey")?;
        let key = PluginKey {
            exe,
            resource: resource.to_string(),
            name,
            public,
            failed: AtomicBool::new(false),
        };
        Ok(key)
    }

    /// `createKey` with the algorithm the kind needs (sigstore's names), or for an ECDSA P-256
    /// key the plugin's default, as `cosign generate-key-pair --kms` asks. The key made must be
    /// of that kind.
    pub(crate) fn create(scheme: &str, resource: &str, kind: KeyKind) -> Result<PluginKey, Error> {
        let exe = format!("sigstore-kms-{scheme}");
        let name = format!("{scheme}://{resource}");
        let call = Call {
            exe: &exe,
            resource,
            name: &name,
            hash: 5,
        };
        let alg = match kind {
            KeyKind::EcdsaP256 => {
                call.run("defaultAlgorithm", serde_json::json!({}), &[])?
                    .default_algorithm
                    .ok_or_else(|| call.err("answered defaultAlgorithm without one"))?
                    .default_algorithm
            }
            KeyKind::EcdsaP384 => "ecdsa-p384-sha384".to_string(),
            KeyKind::Ed25519 => "ed25519".to_string(),
            _ => return Err(call.err("cannot be asked for a key of this kind")),
        };
        let r = call.run(
            "createKey",
            serde_json::json!({"ctxDeadline": deadline(), "algorithm": alg}),
            &[],
        )?;
        let made = call.public_key(r.create_key, "createKey")?;
        if made.kind() != kind {
            return Err(call.err(format!(
                "made a {} key for algorithm {alg:?}; a {} key is needed",
                made.kind().name(),
                kind.name()
            )));
        }
        Self::open(scheme, resource)
    }

    fn sign_once(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let call = self.call();
        let kind = self.public.kind();
        let (args, stdin) = match kind.ecdsa_digest() {
            Some(alg) => {
                let d = digest::digest(
                    if alg == DigestAlg::Sha384 {
                        &digest::SHA384
                    } else {
                        &digest::SHA256
                    },
                    msg,
                );
                (
                    serde_json::json!({"signOptions": {"rpcOptions": RPC, "messageOptions": {
                        "digest": B64.encode(d.as_ref()), "hashFunc": go_hash(alg)}}}),
                    Vec::new(),
                )
            }
            None => (
                serde_json::json!({"signOptions": {"rpcOptions": RPC, "messageOptions": {"digest": null}}}),
                msg.to_vec(),
            ),
        };
        let r = call.run("signMessage", args, &stdin)?;
        let sig = r
            .sign_message
            .and_then(|s| B64.decode(s.signature.as_bytes()).ok())
            .ok_or_else(|| call.err("answered signMessage without a base64 signature"))?;
        crate::checked(&self.public, msg, sig).map_err(|e| call.err(e.to_string()))
    }
}

impl Signer for PluginKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        match self.sign_once(msg) {
            Ok(sig) => {
                self.failed.store(false, Ordering::Release);
                Ok(sig)
            }
            Err(e) => {
                if !self.failed.swap(true, Ordering::AcqRel) {
                    tracing::error!(key = %self.name, error = %e, "the KMS plugin cannot sign");
                }
                Err(SignError::Unavailable(e.to_string()))
            }
        }
    }

    /// A plugin is a process per call: healthy until a call fails, then tried again.
    fn probe(&self) -> Result<(), SignError> {
        if self.failed.load(Ordering::Acquire) {
            self.try_sign(b"sigstore-lite health probe").map(|_| ())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_go_client_shape() {
        let req = Request {
            init_options: InitOptions {
                ctx_deadline: time_rfc3339(1_743_475_620),
                protocol_version: PROTOCOL_VERSION,
                key_resource_id: "testkey",
                hash_func: 5,
                rpc_options: RPC,
            },
            method_name: "publicKey",
            default_algorithm: None,
            create_key: None,
            public_key: Some(serde_json::json!({"publicKeyOptions": {"rpcOptions": RPC}})),
            sign_message: None,
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"initOptions":{"ctxDeadline":"2025-04-01T02:47:00Z","protocolVersion":"v1","keyResourceID":"testkey","hashFunc":5,"rpcOptions":{"keyVersion":"","remoteVerification":false}},"methodName":"publicKey","publicKey":{"publicKeyOptions":{"rpcOptions":{"keyVersion":"","remoteVerification":false}}}}"#
        );
        assert_eq!(time_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_rfc3339(951_825_600), "2000-02-29T12:00:00Z");
    }

    #[test]
    fn a_missing_plugin_is_one_sentence() {
        let e = PluginKey::open("no-such-kms-here", "k")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "no-such-kms-here://k: the KMS plugin sigstore-kms-no-such-kms-here is not on PATH"
        );
    }
}
