//! fulcio-lite over real HTTP on 127.0.0.1 with mock-oidc issuers: both request shapes, every
//! identity type, webpki path validation, an independent read of every extension, SCTs rebuilt
//! and verified independently of the issuing code, and every bad input.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use mock_oidc::{Alg, Issuer};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{json, Map, Value};
use sigstore_lite_core::fulcio::{self, San};
use sigstore_lite_core::keys::{pem_parse_all, P256Signer, PublicKey};
use sigstore_lite_core::sct;

const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

async fn start_issuer() -> (Issuer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = Issuer::new(&url, None).unwrap();
    let i2 = issuer.clone();
    tokio::spawn(async move {
        mock_oidc::serve(listener, i2, std::future::pending())
            .await
            .unwrap()
    });
    (issuer, url)
}

struct Stack {
    fulcio: String,
    email: Issuer,
    github: Issuer,
    uri: Issuer,
    spiffe: Issuer,
    username: Issuer,
    unconfigured: Issuer,
    _dir: tempfile::TempDir,
}

async fn stack() -> Stack {
    let (email, e_url) = start_issuer().await;
    let (github, g_url) = start_issuer().await;
    let (uri, u_url) = start_issuer().await;
    let (spiffe, s_url) = start_issuer().await;
    let (username, n_url) = start_issuer().await;
    let (unconfigured, _) = start_issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({"OIDCIssuers": {
        e_url.clone(): {"IssuerURL": e_url, "ClientID": "sigstore", "Type": "email"},
        g_url.clone(): {"IssuerURL": g_url, "ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "github-workflow"},
        u_url.clone(): {"IssuerURL": u_url, "ClientID": "sigstore", "Type": "uri", "SubjectDomain": "https://ci.example.com"},
        s_url.clone(): {"IssuerURL": s_url, "ClientID": "sigstore", "Type": "spiffe", "SPIFFETrustDomain": "example.org"},
        n_url.clone(): {"IssuerURL": n_url, "ClientID": "sigstore", "Type": "username", "SubjectDomain": "example.com"},
    }});
    let cfg_path = dir.path().join("config.json");
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let f = fulcio_lite::open(&fulcio_lite::Settings {
        data_dir: dir.path().join("ca"),
        config: Some(cfg_path),
        extra_issuers: Vec::new(),
        jwks_ttl: std::time::Duration::from_secs(1),
        oidc_roots: Vec::new(),
        keys: Default::default(),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fulcio = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        fulcio_lite::serve(listener, f, std::future::pending())
            .await
            .unwrap()
    });
    Stack {
        fulcio,
        email,
        github,
        uri,
        spiffe,
        username,
        unconfigured,
        _dir: dir,
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(i: &Issuer, claims: Map<String, Value>) -> String {
    i.mint(claims, Alg::RS256, now()).unwrap()
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn pop_request(token: &str, key: &P256Signer, challenge: &str) -> Value {
    json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
            "proofOfPossession": B64.encode(key.sign(challenge.as_bytes())),
        }
    })
}

async fn post(url: &str, body: &Value, bearer: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{url}/api/v2/signingCert"))
        .json(body);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

struct Issued {
    leaf: Vec<u8>,
    chain: Vec<Vec<u8>>,
}

async fn issue_ok(url: &str, body: &Value, bearer: Option<&str>) -> Issued {
    let r = post(url, body, bearer).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    let certs = v["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .unwrap();
    assert_eq!(certs.len(), 3);
    let mut ders = Vec::new();
    for c in certs {
        let pem = c.as_str().unwrap();
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        ders.push(pem_parse_all(pem).unwrap().remove(0).der);
    }
    Issued {
        leaf: ders[0].clone(),
        chain: ders[1..].to_vec(),
    }
}

/// Path validation with rustls-webpki for codeSigning: valid at issue, invalid ten minutes later.
fn check_path(i: &Issued) {
    let info = fulcio::read(&i.leaf).unwrap();
    let leaf = CertificateDer::from(i.leaf.clone());
    let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
    let root = CertificateDer::from(i.chain[1].clone());
    let anchors = [webpki::anchor_from_trusted_cert(&root).unwrap()];
    let inter = [CertificateDer::from(i.chain[0].clone())];
    let algs = &[
        webpki::aws_lc_rs::ECDSA_P256_SHA256,
        webpki::aws_lc_rs::ECDSA_P384_SHA384,
        webpki::aws_lc_rs::ECDSA_P256_SHA384,
        webpki::aws_lc_rs::ECDSA_P384_SHA256,
    ];
    let at = |t: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(t as u64));
    ee.verify_for_usage(
        algs,
        &anchors,
        &inter,
        at(info.not_before + 1),
        webpki::KeyUsage::required(CODE_SIGNING),
        None,
        None,
    )
    .expect("path validates at issue time");
    let later = ee.verify_for_usage(
        algs,
        &anchors,
        &inter,
        at(info.not_before + 601),
        webpki::KeyUsage::required(CODE_SIGNING),
        None,
        None,
    );
    assert!(
        matches!(later, Err(webpki::Error::CertExpired { .. })),
        "{:?}",
        later.err()
    );
}

/// Rebuilds the SCT's signed data from the final certificate (x509-cert, not rcgen) and verifies it.
async fn check_sct(url: &str, i: &Issued) {
    let ct_pem = reqwest::get(format!("{url}/api/v1/ctlog/publicKey"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ct = PublicKey::from_pem(&ct_pem).unwrap();
    let (tbs, scts) = sct::tbs_without_sct(&i.leaf).unwrap();
    assert_eq!(scts.len(), 1, "exactly one embedded SCT");
    let s = &scts[0];
    assert_eq!(s.log_id, ct.key_id());
    assert_eq!((s.hash_alg, s.sig_alg), (4, 3));
    let (_, inter) = x509_parser::parse_x509_certificate(&i.chain[0]).unwrap();
    let ikh: [u8; 32] =
        <sha2::Sha256 as sha2::Digest>::digest(inter.tbs_certificate.subject_pki.raw).into();
    let signed = sct::precert_signed_data(s.timestamp_ms, &ikh, &tbs, &s.extensions);
    ct.verify_message(&signed, &s.signature)
        .expect("SCT verifies");
    let mut wrong = signed.clone();
    let n = wrong.len();
    wrong[n - 40] ^= 1;
    assert!(ct.verify_message(&wrong, &s.signature).is_err());
}

/// Profile checks every leaf must pass, read back with x509-parser (not the issuing code).
fn check_profile(i: &Issued, issuer: &str) -> fulcio::FulcioCert {
    let c = fulcio::read(&i.leaf).unwrap();
    assert!(c.subject_empty);
    assert_eq!(c.sans.len(), 1);
    assert!(c.san_critical);
    assert!(c.digital_signature && c.key_usage_critical && c.code_signing);
    assert_eq!(c.not_after - c.not_before, 600);
    assert!((c.not_before - now()).abs() < 30);
    assert!(c.subject_key_id.is_some());
    let (_, inter) = x509_parser::parse_x509_certificate(&i.chain[0]).unwrap();
    let inter_ski = inter
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    assert_eq!(c.authority_key_id, inter_ski);
    assert!(
        c.serial.len() <= 21 && c.serial.len() >= 19,
        "random 160-bit serial"
    );
    assert_eq!(c.sigstore_extensions[fulcio::OID_ISSUER_V1], issuer);
    assert_eq!(c.sigstore_extensions[fulcio::OID_ISSUER_V2], issuer);
    assert_eq!(c.issuer.as_deref(), Some(issuer));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_for_every_identity_type_and_both_request_shapes() {
    let s = stack().await;
    let key = P256Signer::generate_p256().unwrap();

    // e-mail, publicKeyRequest with the token in the body.
    let t = token(&s.email, mock_oidc::email_claims("alice@example.com"));
    let i = issue_ok(&s.fulcio, &pop_request(&t, &key, "alice@example.com"), None).await;
    let c = check_profile(&i, s.email.url());
    assert_eq!(c.sans, vec![San::Email("alice@example.com".into())]);
    assert_eq!(c.key, *key.public_key());
    assert_eq!(
        c.sigstore_extensions[fulcio::OID_TOKEN_SUBJECT],
        "alice@example.com"
    );
    check_path(&i);
    check_sct(&s.fulcio, &i).await;

    // e-mail, CSR with the token in the Authorization header (sigstore-python's shape).
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&kp).unwrap().pem().unwrap();
    let i = issue_ok(
        &s.fulcio,
        &json!({"certificateSigningRequest": B64.encode(&csr)}),
        Some(&t),
    )
    .await;
    let c = check_profile(&i, s.email.url());
    assert_eq!(
        c.key.spki_der(),
        rcgen::PublicKeyData::subject_public_key_info(&kp).as_slice()
    );
    check_path(&i);
    check_sct(&s.fulcio, &i).await;

    // GitHub Actions through ci-provider: URI SAN and the workflow OIDs.
    let mut gh = mock_oidc::github_claims("octo/app", "refs/tags/v1.0.0", "release.yml");
    gh.insert("environment".into(), json!("production"));
    let sub = gh["sub"].as_str().unwrap().to_string();
    let t = token(&s.github, gh);
    let i = issue_ok(&s.fulcio, &pop_request(&t, &key, &sub), None).await;
    let c = check_profile(&i, s.github.url());
    let uri = "https://github.com/octo/app/.github/workflows/release.yml@refs/tags/v1.0.0";
    assert_eq!(c.sans, vec![San::Uri(uri.into())]);
    let e = |n: u32| c.sigstore_extensions[&format!("1.3.6.1.4.1.57264.1.{n}")].clone();
    assert_eq!(e(2), "push");
    assert_eq!(e(5), "octo/app");
    assert_eq!(e(6), "refs/tags/v1.0.0");
    assert_eq!(e(9), uri);
    assert_eq!(e(12), "https://github.com/octo/app");
    assert_eq!(
        e(21),
        "https://github.com/octo/app/actions/runs/123456789/attempts/1"
    );
    assert_eq!(e(23), "production");
    assert_eq!(e(24), sub);
    check_path(&i);
    check_sct(&s.fulcio, &i).await;

    // uri, spiffe and username identities.
    let t = token(
        &s.uri,
        claims(json!({"sub": "https://ci.example.com/jobs/7"})),
    );
    let i = issue_ok(
        &s.fulcio,
        &pop_request(&t, &key, "https://ci.example.com/jobs/7"),
        None,
    )
    .await;
    assert_eq!(
        check_profile(&i, s.uri.url()).sans,
        vec![San::Uri("https://ci.example.com/jobs/7".into())]
    );
    check_path(&i);
    let t = token(
        &s.spiffe,
        claims(json!({"sub": "spiffe://example.org/ns/prod/sa/builder"})),
    );
    let i = issue_ok(
        &s.fulcio,
        &pop_request(&t, &key, "spiffe://example.org/ns/prod/sa/builder"),
        None,
    )
    .await;
    assert_eq!(
        check_profile(&i, s.spiffe.url()).sans,
        vec![San::Uri("spiffe://example.org/ns/prod/sa/builder".into())]
    );
    let t = token(&s.username, claims(json!({"sub": "alice"})));
    let i = issue_ok(&s.fulcio, &pop_request(&t, &key, "alice"), None).await;
    assert_eq!(
        check_profile(&i, s.username.url()).sans,
        vec![San::Username("alice!example.com".into())]
    );
    check_sct(&s.fulcio, &i).await;

    // ES256 tokens work too; P-384 leaf keys are accepted.
    let t = s
        .email
        .mint(
            mock_oidc::email_claims("bob@example.com"),
            Alg::ES256,
            now(),
        )
        .unwrap();
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let csr = params.serialize_request(&kp).unwrap().pem().unwrap();
    let i = issue_ok(
        &s.fulcio,
        &json!({"certificateSigningRequest": B64.encode(&csr)}),
        Some(&t),
    )
    .await;
    check_path(&i);

    // Trust bundle, configuration, legacy endpoints.
    let tb: Value = reqwest::get(format!("{}/api/v2/trustBundle", s.fulcio))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tb["chains"][0]["certificates"].as_array().unwrap().len(), 2);
    let cfg: Value = reqwest::get(format!("{}/api/v2/configuration", s.fulcio))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let email_cfg = cfg["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["issuerUrl"] == s.email.url())
        .unwrap();
    assert_eq!(email_cfg["challengeClaim"], "email");
    assert_eq!(email_cfg["audience"], "sigstore");
    let t = token(&s.email, mock_oidc::email_claims("carol@example.com"));
    let v1 = reqwest::Client::new()
        .post(format!("{}/api/v1/signingCert", s.fulcio))
        .bearer_auth(&t)
        .json(&json!({"publicKey": {"content": B64.encode(key.public_key().to_pem()), "algorithm": "ecdsa"},
                      "signedEmailAddress": B64.encode(key.sign(b"carol@example.com"))}))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 201);
    assert_eq!(pem_parse_all(&v1.text().await.unwrap()).unwrap().len(), 3);
    let m = reqwest::get(format!("{}/metrics", s.fulcio))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("fulcio_lite_certificates_issued_total 8"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_is_followed_and_removed_keys_are_refused() {
    let s = stack().await;
    let key = P256Signer::generate_p256().unwrap();
    let old = token(&s.email, mock_oidc::email_claims("alice@example.com"));
    issue_ok(
        &s.fulcio,
        &pop_request(&old, &key, "alice@example.com"),
        None,
    )
    .await; // JWKS now cached
    let new_kids = s.email.rotate().unwrap();
    let new = token(&s.email, mock_oidc::email_claims("alice@example.com"));
    // Unknown kid: fulcio refetches the JWKS once and accepts the new key.
    issue_ok(
        &s.fulcio,
        &pop_request(&new, &key, "alice@example.com"),
        None,
    )
    .await;
    // Old tokens stay valid while the old key is published...
    issue_ok(
        &s.fulcio,
        &pop_request(&old, &key, "alice@example.com"),
        None,
    )
    .await;
    // ...and are refused once it is removed (and the 1 s JWKS cache has expired).
    let old_rs_kid = {
        let h: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(old.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_string()
    };
    assert!(!new_kids.contains(&old_rs_kid));
    s.email.remove_key(&old_rs_kid).unwrap();
    assert!(!s.email.jwks().to_string().contains(&old_rs_kid));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = post(
        &s.fulcio,
        &pop_request(&old, &key, "alice@example.com"),
        None,
    )
    .await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reason"], "unknown_key_id", "{v}");
}

fn jwt_with(header: Value, claims: Value, sig: &[u8]) -> String {
    let e = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!(
        "{}.{}.{}",
        e(&header),
        e(&claims),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_no_certificate() {
    let s = stack().await;
    let key = P256Signer::generate_p256().unwrap();
    let other = P256Signer::generate_p256().unwrap();
    let email = "alice@example.com";
    let good = token(&s.email, mock_oidc::email_claims(email));
    let with = |extra: Value| {
        let mut c = mock_oidc::email_claims(email);
        for (k, v) in extra.as_object().unwrap() {
            c.insert(k.clone(), v.clone());
        }
        token(&s.email, c)
    };
    let parts: Vec<&str> = good.split('.').collect();
    let claims_of_good: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let bad_sig = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 256])
    );
    let alg_none = jwt_with(
        json!({"alg": "none", "typ": "JWT"}),
        claims_of_good.clone(),
        b"",
    );
    let hs256 = jwt_with(
        json!({"alg": "HS256", "typ": "JWT"}),
        claims_of_good.clone(),
        &[1; 32],
    );
    let unknown_kid = {
        let h: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[0])
                .unwrap(),
        )
        .unwrap();
        let mut h = h.as_object().unwrap().clone();
        h.insert("kid".into(), json!("no-such-kid"));
        format!(
            "{}.{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&h).unwrap()),
            parts[1],
            parts[2]
        )
    };
    let unverified = token(
        &s.email,
        claims(json!({"sub": email, "email": email, "email_verified": false})),
    );
    let unconfigured = token(&s.unconfigured, mock_oidc::email_claims(email));
    // A 1024-bit RSA public key (openssl genrsa 1024 | openssl rsa -pubout): too weak to certify.
    let weak_rsa = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDsfPOPyK7HDFQjB9EegTfCp2V4
L4kNHTnNkl6ufvvNuGE7bndmrGr7l5kwh+gTNsNDNwN4q3wD7Vy/ziDWQjwTdZJp
2bbzbEMaoCnHoGLtUQokhnYmO2UhbzijJzAeFYcGSkMdlcziXFp2neBZ21/VgecT
BW8CvJ1shWRe3XrtxQIDAQAB
-----END PUBLIC KEY-----
"
    .to_string();
    let csr_bad_sig = {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut der = params.serialize_request(&kp).unwrap().der().to_vec();
        let n = der.len();
        der[n - 5] ^= 0x55;
        sigstore_lite_core::keys::pem_encode("CERTIFICATE REQUEST", &der)
    };
    let now = now();
    let cases: Vec<(&str, Value, Option<String>, u16, &str)> = vec![
        (
            "expired token",
            pop_request(
                &with(json!({"exp": now - 600, "iat": now - 1200})),
                &key,
                email,
            ),
            None,
            401,
            "token_expired",
        ),
        (
            "a token without exp",
            pop_request(&with(json!({"exp": null})), &key, email),
            None,
            401,
            "missing_validity",
        ),
        (
            "a token without iat",
            pop_request(&with(json!({"iat": null})), &key, email),
            None,
            401,
            "missing_validity",
        ),
        (
            "token from the future",
            pop_request(
                &with(json!({"iat": now + 3600, "exp": now + 7200})),
                &key,
                email,
            ),
            None,
            401,
            "token_not_yet_valid",
        ),
        (
            "not-yet-valid token",
            pop_request(&with(json!({"nbf": now + 3600})), &key, email),
            None,
            401,
            "token_not_yet_valid",
        ),
        (
            "wrong audience",
            pop_request(&with(json!({"aud": "not-sigstore"})), &key, email),
            None,
            401,
            "wrong_audience",
        ),
        (
            "unconfigured issuer",
            pop_request(&unconfigured, &key, email),
            None,
            401,
            "unknown_issuer",
        ),
        (
            "bad JWT signature",
            pop_request(&bad_sig, &key, email),
            None,
            401,
            "bad_token_signature",
        ),
        (
            "alg none",
            pop_request(&alg_none, &key, email),
            None,
            401,
            "unsupported_token_algorithm",
        ),
        (
            "HS256",
            pop_request(&hs256, &key, email),
            None,
            401,
            "unsupported_token_algorithm",
        ),
        (
            "unknown kid",
            pop_request(&unknown_kid, &key, email),
            None,
            401,
            "unknown_key_id",
        ),
        (
            "garbage token",
            pop_request("not.a.jwt", &key, email),
            None,
            401,
            "malformed_token",
        ),
        (
            "no token",
            json!({"publicKeyRequest": pop_request("", &key, email)["publicKeyRequest"]}),
            None,
            401,
            "missing_token",
        ),
        (
            "unverified email",
            pop_request(&unverified, &key, email),
            None,
            400,
            "email_not_verified",
        ),
        (
            "PoP over the wrong subject",
            pop_request(&good, &key, "mallory@example.com"),
            None,
            400,
            "bad_proof_of_possession",
        ),
        (
            "PoP by another key",
            {
                let mut r = pop_request(&good, &key, email);
                r["publicKeyRequest"]["proofOfPossession"] =
                    json!(B64.encode(other.sign(email.as_bytes())));
                r
            },
            None,
            400,
            "bad_proof_of_possession",
        ),
        (
            "CSR with a bad self-signature",
            json!({"certificateSigningRequest": B64.encode(&csr_bad_sig)}),
            Some(good.clone()),
            400,
            "bad_csr",
        ),
        (
            "weak RSA key",
            {
                let mut r = pop_request(&good, &key, email);
                r["publicKeyRequest"]["publicKey"]["content"] = json!(weak_rsa);
                r
            },
            None,
            400,
            "bad_public_key",
        ),
        (
            "malformed PEM",
            {
                let mut r = pop_request(&good, &key, email);
                r["publicKeyRequest"]["publicKey"]["content"] =
                    json!("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
                r
            },
            None,
            400,
            "bad_public_key",
        ),
        (
            "unknown algorithm",
            {
                let mut r = pop_request(&good, &key, email);
                r["publicKeyRequest"]["publicKey"]["algorithm"] = json!("DSA");
                r
            },
            None,
            400,
            "malformed_request",
        ),
        (
            "algorithm not the key's",
            {
                let mut r = pop_request(&good, &key, email);
                r["publicKeyRequest"]["publicKey"]["algorithm"] = json!("ED25519");
                r
            },
            None,
            400,
            "malformed_request",
        ),
        (
            "bad base64 PoP",
            {
                let mut r = pop_request(&good, &key, email);
                r["publicKeyRequest"]["proofOfPossession"] = json!("%%%");
                r
            },
            None,
            400,
            "malformed_request",
        ),
        (
            "bad base64 CSR",
            json!({"certificateSigningRequest": "%%%"}),
            Some(good.clone()),
            400,
            "bad_csr",
        ),
        (
            "both shapes",
            json!({"certificateSigningRequest": "AA==", "publicKeyRequest": pop_request(&good, &key, email)["publicKeyRequest"]}),
            Some(good.clone()),
            400,
            "malformed_request",
        ),
    ];
    for (what, body, bearer, status, reason) in cases {
        let r = post(&s.fulcio, &body, bearer.as_deref()).await;
        assert_eq!(r.status().as_u16(), status, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["reason"], json!(reason), "{what}: {v}");
        assert!(!v["message"].as_str().unwrap().is_empty(), "{what}");
        assert!(v.get("signedCertificateEmbeddedSct").is_none());
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/signingCert", s.fulcio))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["reason"],
        "malformed_request"
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/signingCert", s.fulcio))
        .body(pop_request(&good, &key, email).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        415,
        "a JSON API refuses a body that is not declared JSON"
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["reason"],
        "unsupported_media_type"
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/signingCert", s.fulcio))
        .header("content-type", "application/json")
        .body(vec![b' '; fulcio_lite::api::MAX_BODY + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let m = reqwest::get(format!("{}/metrics", s.fulcio))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("fulcio_lite_certificates_issued_total 0"), "{m}");
    let _ = Arc::new(());
}

/// Tokens naming made-up key IDs do not make fulcio fetch the issuer's JWKS each time: one
/// refetch per issuer per `MIN_REFETCH`, counted in /metrics.
#[tokio::test]
async fn unknown_key_ids_refetch_the_jwks_at_most_once() {
    let s = stack().await;
    let key = P256Signer::generate_p256().unwrap();
    let good = token(&s.email, mock_oidc::email_claims("alice@example.com"));
    issue_ok(
        &s.fulcio,
        &pop_request(&good, &key, "alice@example.com"),
        None,
    )
    .await;
    let fetches = |m: String| -> u64 {
        m.lines()
            .find(|l| l.starts_with("fulcio_lite_oidc_fetches_total "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .expect("the fetch counter")
    };
    let metrics = || async {
        reqwest::get(format!("{}/metrics", s.fulcio))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = fetches(metrics().await);
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(good.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    for i in 0..20 {
        let t = jwt_with(
            json!({"alg": "RS256", "typ": "JWT", "kid": format!("made-up-{i}")}),
            claims.clone(),
            &[7u8; 256],
        );
        let r = post(&s.fulcio, &pop_request(&t, &key, "alice@example.com"), None).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["reason"], "unknown_key_id");
    }
    let after = fetches(metrics().await);
    assert!(
        after - before <= 1,
        "{} fetches for 20 unknown key IDs",
        after - before
    );
}

/// A CA directory missing some of its files (an interrupted first start, a lost key) is
/// explained in one sentence naming what is missing, never silently replaced by a new CA or CT
/// log that clients do not trust.
#[test]
fn a_half_initialized_ca_directory_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let ca = fulcio_lite::ca::Ca::open(dir.path(), &Default::default()).unwrap();
    let root = ca.root_der().to_vec();
    // Reused as it is.
    let again = fulcio_lite::ca::Ca::open(dir.path(), &Default::default()).unwrap();
    assert_eq!(again.root_der(), &root[..]);
    for lost in [fulcio_lite::ca::CT_KEY, fulcio_lite::ca::INTERMEDIATE_CERT] {
        let p = dir.path().join(lost);
        let saved = std::fs::read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        let e = match fulcio_lite::ca::Ca::open(dir.path(), &Default::default()) {
            Ok(_) => panic!("a CA missing {lost} loaded"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("holds part of a CA") && e.contains(&format!("{lost} missing")),
            "{e}"
        );
        assert!(!p.exists(), "nothing was created");
        std::fs::write(&p, saved).unwrap();
    }
    assert_eq!(
        fulcio_lite::ca::Ca::open(dir.path(), &Default::default())
            .unwrap()
            .root_der(),
        &root[..]
    );
}

/// `--ca-key` names the key that signs leaves wherever it lives (here a file; tokens in
/// tests/tests/hsm.rs): on first start its certificate and a root are made in the data
/// directory, with no root key kept; `--ca-cert` takes an existing chain instead, and a chain
/// that is not the key's is refused in one sentence.
#[test]
fn a_ca_key_gets_its_certificates_made_or_given() {
    use fulcio_lite::ca::{Ca, CaKeys, INTERMEDIATE_CERT, ROOT_CERT, ROOT_KEY};
    use sigstore_lite_signer::KeyRef;
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("ca.pem");
    let key = P256Signer::generate_p256().unwrap();
    std::fs::write(&key_path, key.to_pkcs8_pem()).unwrap();
    let keys = CaKeys {
        ca_key: Some(KeyRef::File(key_path.clone())),
        ..Default::default()
    };
    let made = dir.path().join("made");
    let ca = Ca::open(&made, &keys).unwrap();
    assert_eq!(
        &PublicKey::from_certificate_der(ca.intermediate_der()).unwrap(),
        key.public_key()
    );
    assert!(made.join(ROOT_CERT).exists() && made.join(INTERMEDIATE_CERT).exists());
    assert!(!made.join(ROOT_KEY).exists(), "the root key was kept");
    // The root signed the CA certificate, and the chain is reused on the next start.
    let root = PublicKey::from_certificate_der(ca.root_der()).unwrap();
    let (_, inter) = x509_parser::parse_x509_certificate(ca.intermediate_der()).unwrap();
    root.verify_message(inter.tbs_certificate.as_ref(), &inter.signature_value.data)
        .unwrap();
    let again = Ca::open(&made, &keys).unwrap();
    assert_eq!(again.root_der(), ca.root_der());

    // --ca-cert: the chain made above, given to a fresh directory.
    let chain = dir.path().join("chain.pem");
    std::fs::write(&chain, ca.chain_pem().concat()).unwrap();
    let given = Ca::open(
        &dir.path().join("given"),
        &CaKeys {
            ca_cert: Some(chain.clone()),
            ..keys.clone()
        },
    )
    .unwrap();
    assert_eq!(given.intermediate_der(), ca.intermediate_der());
    assert!(!dir.path().join("given").join(INTERMEDIATE_CERT).exists());

    // Another key with that chain: refused.
    let other = dir.path().join("other.pem");
    std::fs::write(&other, P256Signer::generate_p256().unwrap().to_pkcs8_pem()).unwrap();
    let e = Ca::open(
        &dir.path().join("wrong"),
        &CaKeys {
            ca_key: Some(KeyRef::File(other)),
            ca_cert: Some(chain),
            ..Default::default()
        },
    )
    .err()
    .expect("a chain of another key")
    .to_string();
    assert!(e.contains("is not the key of the CA certificate"), "{e}");
}
