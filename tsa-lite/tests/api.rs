//! tsa-lite over HTTP on 127.0.0.1:0, checked by OpenSSL (`openssl ts`, an independent RFC 3161
//! implementation) in both directions, and its bad-input table.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use sigstore_lite_core::timestamp;

struct Server {
    url: String,
    chain: Vec<Vec<u8>>,
}

async fn start(dir: &Path) -> Server {
    let t = tsa_lite::open(dir).unwrap();
    let chain = t.authority.chain_der();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tsa_lite::serve(listener, t, std::future::pending()));
    Server { url, chain }
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (Debian openssl)");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

async fn post(url: &str, ct: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/timestamp"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn openssl_verifies_our_replies_and_we_verify_openssls() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir.path().join("tsa")).await;
    let w = dir.path();
    std::fs::write(w.join("sig.bin"), b"the signature bytes a bundle carries").unwrap();
    // The certificate chain, leaf first.
    let pem = reqwest::get(format!("{}/api/v1/timestamp/certchain", srv.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let blocks = sigstore_lite_core::keys::pem_parse_all(&pem).unwrap();
    assert_eq!(
        blocks.iter().map(|b| b.der.clone()).collect::<Vec<_>>(),
        srv.chain
    );
    std::fs::write(
        w.join("leaf.pem"),
        sigstore_lite_core::keys::pem_encode("CERTIFICATE", &srv.chain[0]),
    )
    .unwrap();
    std::fs::write(
        w.join("root.pem"),
        sigstore_lite_core::keys::pem_encode("CERTIFICATE", &srv.chain[1]),
    )
    .unwrap();
    for (hash, extra) in [
        ("-sha256", "-cert"),
        ("-sha384", "-no_nonce"),
        ("-sha512", "-cert"),
    ] {
        let (ok, out) = openssl(
            &[
                "ts", "-query", "-data", "sig.bin", hash, extra, "-out", "q.tsq",
            ],
            w,
        );
        assert!(ok, "{out}");
        let r = post(
            &srv.url,
            "application/timestamp-query",
            std::fs::read(w.join("q.tsq")).unwrap(),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/timestamp-reply");
        std::fs::write(w.join("r.tsr"), r.bytes().await.unwrap()).unwrap();
        let (ok, out) = openssl(
            &[
                "ts",
                "-verify",
                "-queryfile",
                "q.tsq",
                "-in",
                "r.tsr",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "leaf.pem",
            ],
            w,
        );
        assert!(
            ok && out.contains("Verification: OK"),
            "{hash} {extra}: {out}"
        );
        let (ok, text) = openssl(&["ts", "-reply", "-in", "r.tsr", "-text"], w);
        assert!(ok && text.contains("1.3.6.1.4.1.57264.2"), "{text}");
        // And another artifact does not match.
        std::fs::write(w.join("other.bin"), b"other").unwrap();
        let (ok, out) = openssl(
            &[
                "ts",
                "-verify",
                "-data",
                "other.bin",
                "-in",
                "r.tsr",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "leaf.pem",
            ],
            w,
        );
        assert!(!ok, "{out}");
    }
    // The other direction: OpenSSL as the TSA, our verifier (with OpenSSL's chain trusted).
    let cnf = "[tsa]\ndefault_tsa = tsa_config1\n[tsa_config1]\nserial = serial.txt\ndefault_policy = 1.3.6.1.4.1.57264.2\ndigests = sha256, sha384, sha512\naccuracy = secs:1\ness_cert_id_alg = sha256\ntsa_name = yes\nsigner_digest = sha256\n";
    std::fs::write(w.join("tsa.cnf"), cnf).unwrap();
    std::fs::write(w.join("serial.txt"), "01\n").unwrap();
    let ext = "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n";
    std::fs::write(w.join("ext.cnf"), ext).unwrap();
    for args in [
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ][..],
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-subj",
            "/CN=openssl tsa root",
            "-days",
            "30",
            "-extensions",
            "ca",
            "-config",
            "ext.cnf",
            "-out",
            "ca.pem",
        ],
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "tsa.key",
        ],
        &[
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-subj",
            "/CN=openssl tsa",
            "-out",
            "tsa.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
            "-out",
            "tsa.pem",
        ],
        &[
            "ts", "-query", "-data", "sig.bin", "-sha256", "-cert", "-out", "q2.tsq",
        ],
        &[
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            "q2.tsq",
            "-inkey",
            "tsa.key",
            "-signer",
            "tsa.pem",
            "-out",
            "r2.tsr",
        ],
    ] {
        let (ok, out) = openssl(args, w);
        assert!(ok, "openssl {args:?}: {out}");
    }
    let der = |f: &str| {
        sigstore_lite_core::keys::pem_parse_all(&std::fs::read_to_string(w.join(f)).unwrap())
            .unwrap()
            .remove(0)
            .der
    };
    let authorities = [timestamp::Authority {
        chain: vec![der("tsa.pem"), der("ca.pem")],
        from: None,
        to: None,
    }];
    let r2 = std::fs::read(w.join("r2.tsr")).unwrap();
    let v = timestamp::verify(&r2, b"the signature bytes a bundle carries", &authorities).unwrap();
    assert!(v.time > 1_700_000_000);
    assert!(timestamp::verify(&r2, b"another signature", &authorities).is_err());
    // Ours is not theirs.
    let ours = [timestamp::Authority {
        chain: srv.chain.clone(),
        from: None,
        to: None,
    }];
    assert!(timestamp::verify(&r2, b"the signature bytes a bundle carries", &ours).is_err());

    // A client's replay check: the reply carries the request's nonce, and only that one.
    for (nonce, asked) in [(Some(1234u64), 1234u64), (Some(1234), 1235), (None, 1234)] {
        let r = post(
            &srv.url,
            tsa_lite::api::QUERY,
            timestamp::request(b"n", nonce, true),
        )
        .await;
        let reply = r.bytes().await.unwrap();
        let got = timestamp::check_nonce(&reply, asked);
        assert_eq!(
            got.is_ok(),
            nonce == Some(asked),
            "{nonce:?} vs {asked}: {got:?}"
        );
    }
}

#[tokio::test]
async fn bad_requests_get_a_refusal_or_a_4xx_never_a_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    // DER clients get the protocol's refusal: status rejection (2) and the failure bit.
    for (what, body) in [
        ("garbage", b"not DER at all".to_vec()),
        ("empty", Vec::new()),
        (
            "a truncated request",
            timestamp::request(b"x", Some(7), true)[..20].to_vec(),
        ),
    ] {
        let r = post(&srv.url, "application/timestamp-query", body).await;
        assert_eq!(r.status(), 400, "{what}");
        let der = r.bytes().await.unwrap();
        assert!(
            matches!(
                timestamp::parse_response(&der),
                Err(timestamp::TimestampError::NotGranted(2))
            ),
            "{what}"
        );
    }
    // JSON clients get JSON errors.
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("text/plain", "a wrong content type", b"x".to_vec(), 415, "unsupported_media_type"),
        ("application/json", "bad JSON", b"{".to_vec(), 400, "malformed_request"),
        ("application/json", "SHA-1", json!({"artifactHash": "AAAA", "hashAlgorithm": "sha1"}).to_string().into_bytes(), 400, "bad_alg"),
        ("application/json", "a short hash", json!({"artifactHash": "AAAA"}).to_string().into_bytes(), 400, "bad_request"),
        ("application/json", "another policy", json!({"artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "tsaPolicyOID": "1.2.3.4"}).to_string().into_bytes(), 400, "unaccepted_policy"),
        ("application/timestamp-query", "a huge body", vec![0u8; 1 << 20], 413, "body_too_large"),
        // A nonce that cannot be echoed is refused, never dropped (issue 24).
        ("application/json", "a nonce as a string", json!({"artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "nonce": "12"}).to_string().into_bytes(), 400, "bad_nonce"),
        ("application/json", "a fractional nonce", br#"{"artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "nonce": 1.5}"#.to_vec(), 400, "bad_nonce"),
        ("application/json", "a nonce in exponent form", br#"{"artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "nonce": 1e30}"#.to_vec(), 400, "bad_nonce"),
    ];
    for (ct, what, body, status, reason) in cases {
        let r = post(&srv.url, ct, body).await;
        assert_eq!(r.status(), status, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["reason"], reason, "{what}: {v}");
        assert_eq!(v["code"], status, "{what}");
    }
    // A good JSON request is granted.
    let r = post(
        &srv.url,
        "application/json",
        json!({"artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "hashAlgorithm": "sha256", "certificates": true, "nonce": 9})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 200);
    // A nonce beyond 2^64 is echoed exactly.
    let big = "340282366920938463463374607431768211457"; // 2^128 + 1
    let r = post(
        &srv.url,
        "application/json",
        format!(
            r#"{{"artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "nonce": {big}}}"#
        )
        .into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let p = timestamp::parse_response(&r.bytes().await.unwrap()).unwrap();
    let mut want = vec![0x01];
    want.extend([0u8; 15]);
    want.push(0x01);
    assert_eq!(p.tst_info.nonce.unwrap().as_bytes(), &want[..]);
    let r = reqwest::get(format!("{}/nope", srv.url)).await.unwrap();
    assert_eq!(r.status(), 404);
    let m = reqwest::get(format!("{}/metrics", srv.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("tsa_lite_timestamps_total 2"), "{m}");
}

/// Issue 24: a refusal's failInfo is RFC 3161's named bit, read back by `openssl ts -reply
/// -text` (an independent decoder): SHA-1 is badAlg, another policy unacceptedPolicy, a short
/// imprint badRequest, garbage badDataFormat, an extension unacceptedExtension.
#[tokio::test]
async fn openssl_reads_the_named_failure_bit_of_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let w = dir.path();
    std::fs::write(w.join("data"), b"some data").unwrap();
    let query = |name: &str, args: &[&str]| {
        let mut a = vec!["ts", "-query", "-data", "data", "-cert", "-out", name];
        a.extend_from_slice(args);
        let (ok, out) = openssl(&a, w);
        assert!(ok, "openssl ts -query {args:?}: {out}");
        std::fs::read(w.join(name)).unwrap()
    };
    // A request with an extension: openssl cannot add one, so a DER extension list is spliced
    // into a real request (x509-tsp encodes it).
    let with_extension = {
        use der::{Decode, Encode};
        let mut q = x509_tsp::TimeStampReq::from_der(&query("e.tsq", &["-sha256"])).unwrap();
        q.extensions = Some(vec![x509_cert::ext::Extension {
            extn_id: der::oid::ObjectIdentifier::new_unwrap("1.2.3.4"),
            critical: false,
            extn_value: der::asn1::OctetString::new(vec![5, 0]).unwrap(),
        }]);
        q.to_der().unwrap()
    };
    // An imprint one byte short of SHA-256's length (re-encoded with x509-tsp).
    let short = {
        use der::{Decode, Encode};
        let mut q = x509_tsp::TimeStampReq::from_der(&query("s.tsq", &["-sha256"])).unwrap();
        q.message_imprint.hashed_message = der::asn1::OctetString::new(vec![7u8; 31]).unwrap();
        q.to_der().unwrap()
    };
    for (what, req, bit, text) in [
        (
            "SHA-1",
            query("a.tsq", &["-sha1"]),
            0,
            "unrecognized or unsupported algorithm identifier",
        ),
        (
            "a short imprint",
            short,
            2,
            "transaction not permitted or supported",
        ),
        (
            "garbage",
            b"not a request".to_vec(),
            5,
            "the data submitted has the wrong format",
        ),
        (
            "another policy",
            query("p.tsq", &["-sha256", "-tspolicy", "1.2.3.4"]),
            15,
            "the requested TSA policy is not supported by the TSA",
        ),
        (
            "an extension",
            with_extension,
            16,
            "the requested extension is not supported by the TSA",
        ),
    ] {
        let r = post(&srv.url, tsa_lite::api::QUERY, req).await;
        assert_eq!(r.status(), 400, "{what}");
        let der = r.bytes().await.unwrap();
        std::fs::write(w.join("r.tsr"), &der).unwrap();
        let (ok, out) = openssl(&["ts", "-reply", "-in", "r.tsr", "-text"], w);
        assert!(ok, "{what}: {out}");
        assert!(out.contains("Status: Rejected"), "{what}: {out}");
        let info = out
            .lines()
            .find(|l| l.starts_with("Failure info:"))
            .unwrap_or_else(|| panic!("{what}: no failure info in {out}"));
        assert_eq!(
            info.trim(),
            format!("Failure info: {text}"),
            "{what} (bit {bit}): {out}"
        );
    }
}
