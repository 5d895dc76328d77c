//! A token removed while a key in it is open: its own test process, since removing a token
//! changes what SoftHSM shows every user of the process. SoftHSM shows a token put back only
//! to a process that loads it afresh (a real HSM reports it in a slot, which the key looks up
//! again); the servers' tests restart on the restored token.

use sigstore_lite_signer::softhsm::TestToken;
use sigstore_lite_signer::{generate, KeyKind, KeyRef};

#[test]
fn a_removed_token_fails_to_sign_and_says_so_until_it_is_back() {
    let t = TestToken::new("removed");
    let s = generate(&KeyRef::parse(&t.uri("r")).unwrap(), KeyKind::EcdsaP256).unwrap();
    s.probe().unwrap();
    // Keep the token's files to put them back, as a reinserted token.
    let dir = TestToken::token_dir();
    let saved = tempfile::tempdir().unwrap();
    let before: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for d in &before {
        copy_dir(d, &saved.path().join(d.file_name().unwrap()));
    }
    t.remove();
    let e = s.try_sign(b"after removal").unwrap_err();
    assert!(e.to_string().contains("unavailable"), "{e}");
    assert!(s.probe().is_err());
    for d in &before {
        if !d.exists() {
            copy_dir(&saved.path().join(d.file_name().unwrap()), d);
        }
    }
    // Still refused, never a panic, and the key's public half is unchanged.
    assert!(s.try_sign(b"still gone").is_err());
    // The token's files are whole again: a process loading the module afresh sees the key.
    let listing = t.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    assert!(listing.contains("label:      r\n"), "{listing}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
