//! Keys in a real token: SoftHSM2, with OpenSC's pkcs11-tool as the independent check.

use std::sync::Arc;

use sigstore_lite_signer::softhsm::TestToken;
use sigstore_lite_signer::{generate, open, Error, KeyKind, KeyRef, Signer};

/// One test at a time: SoftHSM's file store does not promise that objects one process makes
/// (pkcs11-tool) while another writes the same token (this one) are seen at once.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: std::sync::Mutex<()> = std::sync::Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(uri: &str) -> KeyRef {
    KeyRef::parse(uri).unwrap()
}

#[test]
fn keys_made_by_pkcs11_tool_sign_and_openssl_verifies() {
    let _one = serial();
    let t = TestToken::shared();
    t.keygen("EC:prime256v1", "p256", "01");
    t.keygen("EC:secp384r1", "p384", "02");
    t.keygen("EC:edwards25519", "ed", "03");
    let listing = t.pkcs11_tool(&["--list-objects", "--type", "pubkey"]);
    let dir = tempfile::tempdir().unwrap();
    for (label, kind) in [
        ("p256", KeyKind::EcdsaP256),
        ("p384", KeyKind::EcdsaP384),
        ("ed", KeyKind::Ed25519),
    ] {
        let s = open(&key(&t.uri(label))).unwrap();
        assert_eq!(s.public_key().kind(), kind);
        // The public key we derive is the point pkcs11-tool lists for that label.
        let block = listing
            .split("Public Key Object")
            .find(|b| b.contains(&format!("label:      {label}\n")))
            .unwrap_or_else(|| panic!("{label} in {listing}"));
        let point = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
            .unwrap()
            .trim()
            .to_string();
        let raw: String = s
            .public_key()
            .raw()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(point.ends_with(&raw), "{label}: {point} vs {raw}");
        // openssl verifies what the token signed, with that exported key.
        let msg = dir.path().join("msg");
        std::fs::write(&msg, format!("signed by {label}")).unwrap();
        let sig = s.try_sign(&std::fs::read(&msg).unwrap()).unwrap();
        let sig_path = dir.path().join(format!("{label}.sig"));
        std::fs::write(&sig_path, &sig).unwrap();
        let pem = dir.path().join(format!("{label}.pem"));
        std::fs::write(&pem, s.public_key().to_pem()).unwrap();
        let mut cmd = std::process::Command::new("openssl");
        match kind {
            KeyKind::Ed25519 => cmd
                .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
                .arg(&pem)
                .arg("-rawin")
                .arg("-in")
                .arg(&msg)
                .arg("-sigfile")
                .arg(&sig_path),
            KeyKind::EcdsaP384 => cmd
                .args(["dgst", "-sha384", "-verify"])
                .arg(&pem)
                .arg("-signature")
                .arg(&sig_path)
                .arg(&msg),
            _ => cmd
                .args(["dgst", "-sha256", "-verify"])
                .arg(&pem)
                .arg("-signature")
                .arg(&sig_path)
                .arg(&msg),
        };
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{label}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn keys_we_make_are_sensitive_and_never_extractable() {
    let _one = serial();
    let t = TestToken::shared();
    for (label, kind) in [
        ("g256", KeyKind::EcdsaP256),
        ("g384", KeyKind::EcdsaP384),
        ("ged", KeyKind::Ed25519),
    ] {
        let s = generate(&key(&t.uri(label)), kind).unwrap();
        assert_eq!(s.public_key().kind(), kind);
        s.public_key()
            .verify_message(b"m", &s.try_sign(b"m").unwrap())
            .unwrap();
        // A second key under the same label is refused, the first one kept.
        assert!(matches!(
            generate(&key(&t.uri(label)), kind),
            Err(Error::Exists(_))
        ));
    }
    let listing = t.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    let blocks: Vec<&str> = listing
        .split("Private Key Object")
        .filter(|b| {
            ["g256", "g384", "ged"]
                .iter()
                .any(|l| b.contains(&format!("label:      {l}\n")))
        })
        .collect();
    assert_eq!(blocks.len(), 3, "{listing}");
    for b in blocks {
        assert!(
            b.contains("sensitive, always sensitive, never extractable"),
            "{b}"
        );
    }
    // Reading the private key out is refused by the token itself.
    let out = std::process::Command::new("pkcs11-tool")
        .args([
            "--module",
            sigstore_lite_signer::softhsm::MODULE,
            "--token-label",
            &t.label,
            "--login",
            "--pin",
            sigstore_lite_signer::softhsm::PIN,
            "--read-object",
            "--type",
            "privkey",
            "--label",
            "g256",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success() || out.stdout.is_empty(),
        "the private key was read out"
    );
}

#[test]
fn a_wrong_pin_module_or_object_is_one_sentence() {
    let _one = serial();
    let t = TestToken::shared();
    t.keygen("EC:prime256v1", "bad-k", "b1");
    let good = t.uri("bad-k");
    let cases = [
        (
            good.replace("pin-value=4321", "pin-value=0000"),
            "the token refused the PIN",
        ),
        (
            good.replace(
                "/usr/lib/softhsm/libsofthsm2.so",
                "/nonexistent/libpkcs11.so",
            ),
            "does not load",
        ),
        (
            good.replace("object=bad-k", "object=missing"),
            "no such private key",
        ),
        (
            good.replace(&format!("token={}", t.label), "token=no-such-token"),
            "no token",
        ),
        (good.replace("&pin-value=4321", ""), "no PIN is given"),
        (
            good.replace("?module-path=/usr/lib/softhsm/libsofthsm2.so&", "?"),
            "no PKCS#11 module",
        ),
    ];
    for (uri, want) in cases {
        let e = open(&key(&uri)).unwrap_err().to_string();
        assert!(e.contains(want), "{uri}: {e}");
        assert!(!e.contains("4321") && !e.contains("0000"), "a PIN in {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // A PIN from a file, as pin-source= names it.
    let dir = tempfile::tempdir().unwrap();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "4321\n").unwrap();
    let from_file = good.replace(
        "pin-value=4321",
        &format!("pin-source=file:{}", pin.display()),
    );
    open(&key(&from_file)).unwrap();
}

#[test]
fn threads_sign_concurrently_through_the_session_pool() {
    let _one = serial();
    let t = TestToken::shared();
    let s: Arc<dyn Signer> = generate(&key(&t.uri("threads-c")), KeyKind::EcdsaP256).unwrap();
    std::thread::scope(|scope| {
        for i in 0..8 {
            let s = s.clone();
            scope.spawn(move || {
                for j in 0..50 {
                    let msg = format!("{i}/{j}");
                    let sig = s.try_sign(msg.as_bytes()).unwrap();
                    s.public_key().verify_message(msg.as_bytes(), &sig).unwrap();
                }
            });
        }
    });
}
