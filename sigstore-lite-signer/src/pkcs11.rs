//! Keys in a PKCS#11 token, through `cryptoki`. The private key never leaves the token: this
//! process hashes the message, the token signs the digest (CKM_ECDSA) or the message (CKM_EDDSA).
//!
//! One context per module for the whole process (C_Initialize may run once), one login per
//! token (PKCS#11 logs every session of an application in at once), and a pool of sessions so
//! that threads sign concurrently: a session is used by one thread at a time, and one always
//! stays open so the login holds. A failed operation drops its session and is retried once on a
//! fresh one (a reinserted token gives new handles); if that fails too, the key reports itself
//! unavailable until a later operation succeeds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::digest;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sigstore_lite_core::keys::{
    ecdsa_fixed_to_der, random_bytes, spki_from_raw, DigestAlg, KeyKind, PublicKey, SignError,
    Signer,
};

use crate::{Error, Pkcs11Uri};

/// DER OIDs as CKA_EC_PARAMS holds them.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// PKCS#11 3.0 also allows the curve's printable name, as OpenSC's pkcs11-tool writes it.
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// The process's contexts, one per module path.
fn contexts() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static C: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

fn context(path: &Path) -> Result<Pkcs11, Error> {
    let mut all = contexts().lock().expect("lock");
    if let Some(c) = all.get(path) {
        return Ok(c.clone());
    }
    let load = |why: String| Error::ModuleLoad {
        path: path.display().to_string(),
        why,
    };
    if !path.is_file() {
        return Err(load("no such file".into()));
    }
    let ctx = Pkcs11::new(path).map_err(|e| load(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load(format!("C_Initialize: {e}"))),
    }
    all.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// A private key in a token.
pub(crate) struct TokenKey {
    ctx: Pkcs11,
    uri: Pkcs11Uri,
    /// Looked up again when the token has gone: a reinserted token may sit in another slot.
    slot: Mutex<Slot>,
    pin: Option<String>,
    name: String,
    template: Vec<Attribute>,
    public: PublicKey,
    sessions: Mutex<Vec<Session>>,
    handle: Mutex<Option<ObjectHandle>>,
    failed: AtomicBool,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("key", &self.name)
            .field("public", &self.public)
            .finish()
    }
}

struct Located {
    ctx: Pkcs11,
    slot: Slot,
    pin: Option<String>,
    name: String,
}

fn locate(uri: &Pkcs11Uri) -> Result<Located, Error> {
    let name = uri.describe();
    let module = uri
        .module_path
        .clone()
        .or_else(|| std::env::var_os("COSIGN_PKCS11_MODULE_PATH").map(PathBuf::from))
        .ok_or_else(|| Error::NoModule(name.clone()))?;
    let ctx = context(&module)?;
    let token_err = |op: &'static str, e: CkError| Error::Token {
        key: name.clone(),
        op,
        why: e.to_string(),
    };
    // A token being initialised by another process reads as a general error for a moment:
    // look again before giving up.
    let mut attempt = 0;
    let found = loop {
        match matching_slots(&ctx, uri) {
            Ok(found) => break found,
            Err((op, e)) if attempt < 20 => {
                tracing::debug!(key = %name, op, error = %e, "token list not ready; looking again");
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err((op, e)) => return Err(token_err(op, e)),
        }
    };
    let slot = match found[..] {
        [s] => s,
        [] => return Err(Error::NoToken(name)),
        _ => return Err(Error::Ambiguous(name)),
    };
    let pin = match (&uri.pin_value, &uri.pin_source) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Error::PinSource {
                    key: name.clone(),
                    path: path.display().to_string(),
                    why: e.to_string(),
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        (None, None) => std::env::var("COSIGN_PKCS11_PIN").ok(),
    };
    Ok(Located {
        ctx,
        slot,
        pin,
        name,
    })
}

fn matching_slots(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Vec<Slot>, (&'static str, CkError)> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| ("C_GetSlotList", e))?;
    let mut found = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| ("C_GetTokenInfo", e))?;
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w == have.trim_end())
        };
        if matches(&uri.token, info.label())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.model, info.model())
        {
            found.push(slot);
        }
    }
    Ok(found)
}

fn label_and_id(uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut t = Vec::new();
    if let Some(o) = &uri.object {
        t.push(Attribute::Label(o.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// Opens a session and logs the token in (once per process; later sessions share it).
fn session(l: &Located, rw: bool) -> Result<Session, Error> {
    let s = if rw {
        l.ctx.open_rw_session(l.slot)
    } else {
        l.ctx.open_ro_session(l.slot)
    }
    .map_err(|e| Error::Token {
        key: l.name.clone(),
        op: "C_OpenSession",
        why: e.to_string(),
    })?;
    login(&s, l.pin.as_deref(), &l.name)?;
    Ok(s)
}

fn login(s: &Session, pin: Option<&str>, name: &str) -> Result<(), Error> {
    let Some(pin) = pin else {
        return Err(Error::NoPin(name.to_string()));
    };
    match s.login(UserType::User, Some(&AuthPin::new(pin.into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
            _,
        )) => Err(Error::WrongPin(name.to_string())),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::Token {
            key: name.to_string(),
            op: "C_Login",
            why: "the PIN is locked".into(),
        }),
        Err(e) => Err(Error::Token {
            key: name.to_string(),
            op: "C_Login",
            why: e.to_string(),
        }),
    }
}

fn find_one(s: &Session, template: &[Attribute], name: &str) -> Result<ObjectHandle, Error> {
    let found = s.find_objects(template).map_err(|e| Error::Token {
        key: name.to_string(),
        op: "C_FindObjects",
        why: e.to_string(),
    })?;
    match found[..] {
        [h] => Ok(h),
        [] => Err(Error::NoObject(name.to_string())),
        _ => Err(Error::Ambiguous(name.to_string())),
    }
}

/// The public half, read from the token's public key object beside the private one.
fn read_public(s: &Session, uri: &Pkcs11Uri, name: &str) -> Result<PublicKey, Error> {
    let mut t = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    t.extend(label_and_id(uri));
    let h = find_one(s, &t, name).map_err(|e| match e {
        Error::NoObject(k) => Error::Unsupported {
            key: k,
            why: "the token holds the private key but no public key object beside it (same label and id)".into(),
        },
        other => other,
    })?;
    let attrs = s
        .get_attributes(
            h,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(|e| Error::Token {
            key: name.to_string(),
            op: "C_GetAttributeValue",
            why: e.to_string(),
        })?;
    let (mut params, mut point, mut key_type) = (None, None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::KeyType(k) => key_type = Some(k),
            _ => {}
        }
    }
    let unsupported = |why: &str| Error::Unsupported {
        key: name.to_string(),
        why: why.to_string(),
    };
    let (Some(params), Some(point)) = (params, point) else {
        return Err(unsupported(
            "not an EC or EdDSA key (only ECDSA P-256, P-384 and Ed25519 are used)",
        ));
    };
    let kind = match &params[..] {
        P256_PARAMS => KeyKind::EcdsaP256,
        P384_PARAMS => KeyKind::EcdsaP384,
        ED25519_PARAMS | ED25519_NAME => KeyKind::Ed25519,
        _ => {
            return Err(unsupported(
                "the key's curve is not P-256, P-384 or Ed25519",
            ))
        }
    };
    if kind == KeyKind::Ed25519 && key_type.is_some_and(|k| k != KeyType::EC_EDWARDS) {
        return Err(unsupported(
            "an Ed25519 curve on a key that is not CKK_EC_EDWARDS",
        ));
    }
    let raw = unwrap_octet_string(&point, kind)
        .ok_or_else(|| unsupported("CKA_EC_POINT is not a point on its curve"))?;
    spki_from_raw(kind, raw).map_err(|e| unsupported(&e.to_string()))
}

/// CKA_EC_POINT is a DER OCTET STRING holding the point; some tokens store the bare point.
fn unwrap_octet_string(v: &[u8], kind: KeyKind) -> Option<&[u8]> {
    let want = match kind {
        KeyKind::EcdsaP256 => 65,
        KeyKind::EcdsaP384 => 97,
        _ => 32,
    };
    match v {
        [0x04, n, rest @ ..] if *n as usize == want && rest.len() == want => Some(rest),
        _ if v.len() == want && (kind == KeyKind::Ed25519 || v[0] == 0x04) => Some(v),
        _ => None,
    }
}

impl TokenKey {
    pub(crate) fn open(uri: &Pkcs11Uri) -> Result<TokenKey, Error> {
        let l = locate(uri)?;
        let s = session(&l, false)?;
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        template.extend(label_and_id(uri));
        let handle = find_one(&s, &template, &l.name)?;
        let public = read_public(&s, uri, &l.name)?;
        let key = TokenKey {
            ctx: l.ctx,
            uri: uri.clone(),
            slot: Mutex::new(l.slot),
            pin: l.pin,
            name: l.name,
            template,
            public,
            sessions: Mutex::new(vec![s]),
            handle: Mutex::new(Some(handle)),
            failed: AtomicBool::new(false),
        };
        // A private key that does not belong to the public object, or one the token will not
        // sign with, is found now rather than at the first request.
        let probe = b"sigstore-lite: does this key sign?";
        let sig = key.try_sign(probe).map_err(|e| Error::Token {
            key: key.name.clone(),
            op: "C_Sign",
            why: e.to_string(),
        })?;
        crate::checked(&key.public, probe, sig).map_err(|_| Error::Unsupported {
            key: key.name.clone(),
            why:
                "the private key does not belong to the public key object of the same label and id"
                    .into(),
        })?;
        Ok(key)
    }

    /// The public half of the key, read from the token's public key object (logged in when a
    /// PIN is given; public objects are readable without one on most tokens).
    pub(crate) fn public_only(uri: &Pkcs11Uri) -> Result<PublicKey, Error> {
        let l = locate(uri)?;
        let s = l.ctx.open_ro_session(l.slot).map_err(|e| Error::Token {
            key: l.name.clone(),
            op: "C_OpenSession",
            why: e.to_string(),
        })?;
        if l.pin.is_some() {
            login(&s, l.pin.as_deref(), &l.name)?;
        }
        read_public(&s, uri, &l.name).map_err(|e| match e {
            Error::Unsupported { key, why } if why.contains("no public key object") => {
                Error::NoObject(key)
            }
            other => other,
        })
    }

    /// A new key pair in the token: sensitive, not extractable, stored on the token.
    pub(crate) fn generate(uri: &Pkcs11Uri, kind: KeyKind) -> Result<TokenKey, Error> {
        let l = locate(uri)?;
        let s = session(&l, true)?;
        let mut any = label_and_id(uri);
        any.push(Attribute::Class(ObjectClass::PRIVATE_KEY));
        match find_one(&s, &any, &l.name) {
            Err(Error::NoObject(_)) => {}
            Ok(_) | Err(Error::Ambiguous(_)) => return Err(Error::Exists(l.name)),
            Err(e) => return Err(e),
        }
        let (mech, params) = match kind {
            KeyKind::EcdsaP256 => (Mechanism::EccKeyPairGen, P256_PARAMS),
            KeyKind::EcdsaP384 => (Mechanism::EccKeyPairGen, P384_PARAMS),
            KeyKind::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, ED25519_PARAMS),
            _ => {
                return Err(Error::Unsupported {
                    key: l.name,
                    why: "RSA keys are not made here".into(),
                })
            }
        };
        let id = uri.id.clone().unwrap_or_else(|| {
            let mut id = vec![0u8; 8];
            random_bytes(&mut id);
            id
        });
        let label = uri.object.clone().unwrap_or_default().into_bytes();
        let public_t = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::Label(label.clone()),
            Attribute::Id(id.clone()),
        ];
        let private_t = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id),
        ];
        s.generate_key_pair(&mech, &public_t, &private_t)
            .map_err(|e| Error::Token {
                key: l.name.clone(),
                op: "C_GenerateKeyPair",
                why: e.to_string(),
            })?;
        drop(s);
        TokenKey::open(uri)
    }

    fn new_session(&self) -> Result<Session, String> {
        let located = Located {
            ctx: self.ctx.clone(),
            slot: *self.slot.lock().expect("lock"),
            pin: self.pin.clone(),
            name: self.name.clone(),
        };
        match session(&located, false) {
            Ok(s) => Ok(s),
            Err(first) => {
                // The token may be back in another slot.
                let again = locate(&self.uri).map_err(|_| first.to_string())?;
                *self.slot.lock().expect("lock") = again.slot;
                session(&again, false).map_err(|e| e.to_string())
            }
        }
    }

    fn sign_once(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let pooled = self.sessions.lock().expect("lock").pop();
        let s = match pooled {
            Some(s) => s,
            None => self.new_session()?,
        };
        let cached = *self.handle.lock().expect("lock");
        let (handle, looked_up) = match cached {
            Some(h) => (h, false),
            None => (
                find_one(&s, &self.template, &self.name).map_err(|e| e.to_string())?,
                true,
            ),
        };
        let kind = self.public.kind();
        let result = match kind.ecdsa_digest() {
            Some(alg) => {
                let d = digest::digest(
                    if alg == DigestAlg::Sha384 {
                        &digest::SHA384
                    } else {
                        &digest::SHA256
                    },
                    msg,
                );
                s.sign(&Mechanism::Ecdsa, handle, d.as_ref())
                    .and_then(|fixed| {
                        ecdsa_fixed_to_der(&fixed, kind.ecdsa_scalar_len().unwrap_or(32))
                            .map_err(|_| CkError::InvalidValue)
                    })
            }
            None => s.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                handle,
                msg,
            ),
        };
        // A key looked up again (after a failure, a token put back) must still be this key: a
        // stray object under the same label would sign as the log or the CA otherwise.
        let result = match result {
            Ok(sig) if looked_up => match crate::checked(&self.public, msg, sig) {
                Ok(sig) => {
                    *self.handle.lock().expect("lock") = Some(handle);
                    Ok(sig)
                }
                Err(e) => {
                    self.sessions.lock().expect("lock").push(s);
                    return Err(format!("the key found again is another key ({e})"));
                }
            },
            other => other,
        };
        match result {
            Ok(sig) => {
                self.sessions.lock().expect("lock").push(s);
                Ok(sig)
            }
            Err(e) => {
                // The session and handle may belong to a token that is gone: forget them all.
                *self.handle.lock().expect("lock") = None;
                drop(s);
                self.sessions.lock().expect("lock").clear();
                Err(e.to_string())
            }
        }
    }
}

impl Signer for TokenKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        let r = self.sign_once(msg).or_else(|first| {
            self.sign_once(msg).map_err(|second| {
                if first == second {
                    first
                } else {
                    format!("{first}; then {second}")
                }
            })
        });
        match r {
            Ok(sig) => {
                if self.failed.swap(false, Ordering::AcqRel) {
                    tracing::info!(key = %self.name, "the token signs again");
                }
                Ok(sig)
            }
            Err(why) => {
                if !self.failed.swap(true, Ordering::AcqRel) {
                    tracing::error!(key = %self.name, error = %why, "the token cannot sign");
                }
                Err(SignError::Unavailable(format!("{}: {why}", self.name)))
            }
        }
    }

    fn probe(&self) -> Result<(), SignError> {
        self.try_sign(b"sigstore-lite health probe").map(|_| ())
    }
}
