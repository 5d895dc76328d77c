//! Every parser that takes outside bytes, as a fuzz target: each takes arbitrary bytes and must
//! return (an error or a value), never panic, and never allocate without bound. Shared by the
//! bounded property test (tests/fuzz.rs, proptest) and the longer run (benches/fuzz.rs).
//! Seeds are real inputs (public-good Sigstore bundles, certificates, checkpoints, requests),
//! so that mutations reach deep into each parser.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sigstore_lite_core::trust::TrustedRoot;
use sigstore_lite_core::verify::{Artifact, Policy, TrustMaterial};

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("vectors/sigstore")
            .join(name),
    )
    .unwrap()
}

fn material() -> &'static TrustMaterial {
    static TM: OnceLock<TrustMaterial> = OnceLock::new();
    TM.get_or_init(|| {
        let tr: TrustedRoot = serde_json::from_slice(&vector("staging_trusted_root.json")).unwrap();
        TrustMaterial::from_trusted_root(&tr).unwrap()
    })
}

fn tsa() -> &'static tsa_lite::authority::Authority {
    static A: OnceLock<(tempfile::TempDir, tsa_lite::authority::Authority)> = OnceLock::new();
    &A.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let a =
            tsa_lite::authority::Authority::load_or_create(d.path(), std::time::SystemTime::now())
                .unwrap();
        (d, a)
    })
    .1
}

/// A named target and its seeds.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub run: fn(&[u8]),
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The leaf certificate of the staging bundle (DER).
fn staging_leaf() -> Vec<u8> {
    let b: serde_json::Value = serde_json::from_slice(&vector("bundle_v3.txt.sigstore")).unwrap();
    B64.decode(
        b["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

fn staging_body() -> Vec<u8> {
    let b: serde_json::Value = serde_json::from_slice(&vector("bundle_v3.txt.sigstore")).unwrap();
    B64.decode(
        b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

fn staging_checkpoint() -> Vec<u8> {
    let b: serde_json::Value = serde_json::from_slice(&vector("bundle_v3.txt.sigstore")).unwrap();
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec()
}

pub fn targets() -> Vec<Target> {
    let leaf = staging_leaf();
    let pem_cert = sigstore_lite_core::keys::pem_encode("CERTIFICATE", &leaf).into_bytes();
    let signer = sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
    let proposed = sigstore_lite_core::rekor::Proposed::hashedrekord(
        [7; 32],
        signer.sign(b"x"),
        sigstore_lite_core::rekor::Verifier::PublicKey(signer.public_key().spki_der().to_vec()),
    )
    .to_json()
    .to_string()
    .into_bytes();
    let tsq = sigstore_lite_core::timestamp::request(b"signature", Some(42), true);
    let tsr = match tsa().answer(&tsq, std::time::SystemTime::now()) {
        tsa_lite::authority::Answer::Granted(der) => der,
        _ => panic!("the TSA refused a good request"),
    };
    let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE",
            "object": {"spec": {"containers": [{"name": "a", "image": "r.example/a:1"}]}}}})
    .to_string()
    .into_bytes();
    let policy = b"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: \"r.example/**\"}]\n  authorities:\n  - keyless:\n      identities: [{issuer: \"https://i\", subjectRegExp: \".*\"}]\n".to_vec();
    let jwt = {
        let e = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.c2ln",
            e(serde_json::json!({"alg": "RS256", "kid": "k"})),
            e(serde_json::json!({"iss": "https://i", "email": "a@b.c"}))
        )
        .into_bytes()
    };
    vec![
        Target { name: "rekor v1 proposed entry", seeds: vec![proposed.clone()], run: |b| {
            if let Ok(p) = sigstore_lite_core::rekor::Proposed::parse(b) { let _ = p.admit(); }
        }},
        Target { name: "rekor v2 proposed entry", seeds: vec![proposed], run: |b| {
            if let Ok(p) = sigstore_lite_core::rekor::v2::ProposedV2::parse(b) { let _ = p.admit(); }
        }},
        Target { name: "logged entry body", seeds: vec![staging_body()], run: |b| {
            let _ = sigstore_lite_core::rekor::Entry::parse_body(b);
        }},
        Target { name: "bundle (parse and verify)", seeds: vec![vector("bundle_v3.txt.sigstore"), vector("staging-rekor-v2.txt.sigstore.json")], run: |b| {
            if let Ok(bundle) = serde_json::from_slice::<sigstore_lite_core::bundle::Bundle>(b) {
                let p = Policy::exact("x@example.com", "https://accounts.example.com");
                let _ = sigstore_lite_core::verify::verify_bundle(&bundle, Artifact::Bytes(b"x"), material(), &p);
            }
        }},
        Target { name: "PEM and DER keys", seeds: vec![pem_cert.clone(), signer.public_key().to_pem().into_bytes(), signer.public_key().spki_der().to_vec()], run: |b| {
            let _ = sigstore_lite_core::keys::pem_parse_all(&text(b));
            let _ = sigstore_lite_core::keys::PublicKey::from_pem(&text(b));
            let _ = sigstore_lite_core::keys::PublicKey::from_spki_der(b);
            let _ = sigstore_lite_core::keys::PublicKey::from_certificate_der(b);
            let _ = sigstore_lite_core::keys::P256Signer::from_pkcs8_der(b);
        }},
        Target { name: "Fulcio certificate", seeds: vec![leaf.clone()], run: |b| {
            let _ = sigstore_lite_core::fulcio::read(b);
        }},
        Target { name: "SCT list", seeds: vec![leaf], run: |b| {
            let _ = sigstore_lite_core::sct::tbs_without_sct(b);
            let _ = sigstore_lite_core::sct::decode_list(b);
            let _ = sigstore_lite_core::sct::Sct::decode(b);
        }},
        Target { name: "signed note / checkpoint", seeds: vec![staging_checkpoint()], run: |b| {
            if let Ok(n) = sigstore_lite_core::note::SignedNote::parse(&text(b)) {
                let _ = sigstore_lite_core::note::Checkpoint::from_text(&n.text);
            }
            let _ = sigstore_lite_core::note::Checkpoint::from_text(&text(b));
        }},
        Target { name: "RFC 3161 response", seeds: vec![tsr], run: |b| {
            let _ = sigstore_lite_core::timestamp::parse_response(b);
            let _ = sigstore_lite_core::timestamp::check_nonce(b, 42);
            let _ = material().verify_timestamp(b, b"signature");
        }},
        Target { name: "RFC 3161 request (tsa-lite)", seeds: vec![tsq], run: |b| {
            let _ = tsa().answer(b, std::time::SystemTime::now());
        }},
        Target { name: "RFC 3161 JSON request (tsa-lite)", seeds: vec![
            br#"{"artifactHash":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","hashAlgorithm":"sha256","certificates":true,"nonce":123456789012345678901234567890}"#.to_vec(),
            br#"{"artifactHash":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","nonce":-42,"tsaPolicyOID":"1.3.6.1.4.1.57264.2"}"#.to_vec(),
            br#"{"artifactHash":"AAAA","nonce":"12"}"#.to_vec(),
        ], run: |b| {
            // A JSON request becomes a DER request or a refusal; a granted timestamp echoes the
            // nonce the request carried, byte for byte (never drops it).
            if let Ok(der) = tsa_lite::authority::json_request(b) {
                let asked = <x509_tsp::TimeStampReq as der::Decode>::from_der(&der).unwrap().nonce;
                if let tsa_lite::authority::Answer::Granted(r) = tsa().answer(&der, std::time::SystemTime::now()) {
                    let got = sigstore_lite_core::timestamp::parse_response(&r).unwrap().tst_info.nonce;
                    assert_eq!(got, asked, "the nonce must be echoed");
                }
            }
        }},
        Target { name: "dpkg version comparison", seeds: vec![
            b"1:2.36-9+deb12u4 2.36-9+deb12u4".to_vec(),
            b"7.88.1-10+deb12u5 7.88.1\x00-10+deb12u5".to_vec(),
            b"1.0~rc1\x00\x00 1.0\x1b[31m".to_vec(),
            b"2:1.02.185-2 2.03.16-2+deb12u1".to_vec(),
        ], run: |b| {
            // Total, terminating and antisymmetric on any bytes (a NUL once looped forever).
            let t = text(b);
            let (x, y) = t.split_once(' ').unwrap_or((&t, "1.0"));
            let xy = sbom_lite::version::dpkg_compare(x, y);
            assert_eq!(xy, sbom_lite::version::dpkg_compare(y, x).reverse(), "{x:?} {y:?}");
            assert_eq!(sbom_lite::version::dpkg_compare(x, x), std::cmp::Ordering::Equal);
            let e = sbom_lite::version::Ecosystem::Debian;
            if let Some(o) = e.compare(x, y) {
                assert_eq!(o, xy);
            }
            let _ = sbom_lite::version::dpkg_valid(x);
        }},
        Target { name: "DSSE envelope and predicates", seeds: vec![br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}"#.to_vec(), br#"{"spdxVersion":"SPDX-2.3","packages":[]}"#.to_vec()], run: |b| {
            let _ = serde_json::from_slice::<sigstore_lite_core::dsse::Envelope>(b);
            let _ = serde_json::from_slice::<sigstore_lite_core::dsse::Statement>(b);
            for kind in ["spdxjson", "cyclonedx", "slsaprovenance1", "custom", "vuln"] {
                let _ = sigstore_lite_core::attestation::predicate(kind, b, 0);
            }
        }},
        Target { name: "JWT claims", seeds: vec![jwt], run: |b| {
            let _ = cosign_keyless::keyless::token_claims(&text(b));
        }},
        Target { name: "CSR and public key (fulcio-lite)", seeds: vec![pem_cert], run: |b| {
            let _ = fulcio_lite::issue::verify_csr(&B64.encode(b));
            let _ = fulcio_lite::issue::verify_csr(&text(b));
            let _ = fulcio_lite::issue::parse_public_key(b);
        }},
        Target { name: "image reference", seeds: vec![b"registry.example:5000/a/b:tag@sha256:0000000000000000000000000000000000000000000000000000000000000000".to_vec()], run: |b| {
            let _ = registry_client::Reference::parse(&text(b));
        }},
        Target { name: "AdmissionReview", seeds: vec![review], run: |b| {
            if let Ok(r) = admission_lite::review::parse(b) {
                let _ = admission_lite::review::images(&r.kind, &r.object);
            }
        }},
        Target { name: "image policy (YAML)", seeds: vec![policy], run: |b| {
            let _ = admission_lite::policy::parse("fuzz.yaml", &text(b));
        }},
        Target { name: "image layer (tar, squashed and catalogued)", seeds: vec![layer_tar()], run: |b| {
            let mut sq = sbom_lite::squash::Squash::new(false, sbom_lite::squash::Limits::default());
            sq.begin_layer(Some("sha256:l".into()));
            let _ = sq.apply_tar(&mut &b[..], "layer");
            let _ = sbom_lite::squash::catalogue(&sq);
        }},
        Target { name: "image layer (gzip blob)", seeds: vec![gzip(&layer_tar())], run: |b| {
            let mut sq = sbom_lite::squash::Squash::new(false, sbom_lite::squash::Limits::default());
            sq.begin_layer(None);
            let _ = sbom_lite::source::apply_layer(&mut sq, &mut &b[..], "layer", None, None);
        }},
        Target { name: "package metadata (dpkg, apk, METADATA, package.json, locks)", seeds: vec![
            DPKG.to_vec(), APK.to_vec(), b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\nLicense: BSD\n\nbody".to_vec(),
            br#"{"name":"@s/n","version":"1.0.0","license":{"type":"MIT"}}"#.to_vec(),
            br#"{"lockfileVersion":3,"packages":{"":{"name":"a","version":"1.0.0"},"node_modules/b":{"version":"2.0.0"}}}"#.to_vec(),
            b"[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\n".to_vec(),
        ], run: |b| {
            let d = sbom_lite::catalog::os_release(b"ID=debian\nVERSION_ID=12\n");
            let _ = sbom_lite::catalog::dpkg(b, d.as_ref(), |_| vec![]);
            let _ = sbom_lite::catalog::apk(b, d.as_ref());
            let _ = sbom_lite::catalog::python(b);
            let _ = sbom_lite::catalog::npm_package(b);
            let _ = sbom_lite::catalog::npm_lock(b);
            let _ = sbom_lite::catalog::cargo_lock(b);
            let _ = sbom_lite::catalog::copyright_licenses(b);
            let _ = sbom_lite::catalog::os_release(b);
        }},
        Target { name: "executable (Go build info, cargo-auditable)", seeds: vec![sbom_lite::catalog::go_buildinfo_sample()], run: |b| {
            let _ = sbom_lite::catalog::binary(b);
        }},
        Target { name: "SBOM document and OSV record (scan)", seeds: vec![
            SPDX.to_vec(), CDX.to_vec(), OSV.to_vec(),
        ], run: |b| {
            let _ = sbom_lite::input::read(b, "fuzz.json");
            if let Ok(rec) = serde_json::from_slice::<sbom_lite::osv::Record>(b) {
                let mut db = sbom_lite::osv::Db::default();
                db.add(rec, "fuzz.json".into());
                if let Ok(inv) = sbom_lite::input::read(SPDX, "spdx") {
                    let _ = sbom_lite::osv::scan(&db, &inv);
                }
            }
        }},
        Target { name: "purl and versions", seeds: vec![
            b"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc".to_vec(),
            b"1:2.36-9+deb12u4~1 1.2.3_rc1-r0 1.0.dev1 1.0.0-alpha.1+b".to_vec(),
        ], run: |b| {
            let t = text(b);
            let _ = sbom_lite::purl::Purl::parse(&t);
            let (a, c) = t.split_once(' ').unwrap_or((&t, "1.0"));
            for e in ["Debian", "Alpine", "PyPI", "npm", "crates.io", "Go"] {
                let _ = sbom_lite::version::Ecosystem::parse(e).unwrap().compare(a, c);
            }
        }},
    ]
}

const DPKG: &[u8] = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\nDescription: x\n more\n\nPackage: b\nVersion: 1\n";
const APK: &[u8] =
    b"P:busybox\nV:1.36.1-r5\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\nP:musl\nV:1.2.4-r2\n";
const SPDX: &[u8] = br#"{"spdxVersion":"SPDX-2.3","packages":[{"name":"libc6","SPDXID":"SPDXRef-Package-deb-libc6-1","versionInfo":"2.36-9+deb12u4","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"}]}]}"#;
const CDX: &[u8] = br#"{"bomFormat":"CycloneDX","components":[{"type":"library","name":"lodash","version":"4.17.20","purl":"pkg:npm/lodash@4.17.20"},{"type":"operating-system","name":"debian","version":"12"}]}"#;
const OSV: &[u8] = br#"{"id":"DSA-1","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.36-9+deb12u6"}]}],"versions":["2.36-9"]}]}"#;

/// A layer with an os-release, a dpkg database, a Python package, a whiteout, an opaque
/// marker, a symlink and a path-traversal entry.
fn layer_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, body: &[u8], kind: tar::EntryType, link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o755);
        h.set_entry_type(kind);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        let raw = &mut h.as_old_mut().name;
        raw[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, body).unwrap();
    };
    add(
        "usr/lib/os-release",
        b"ID=debian\nVERSION_ID=12\n",
        tar::EntryType::Regular,
        None,
    );
    add(
        "etc/os-release",
        b"",
        tar::EntryType::Symlink,
        Some("../usr/lib/os-release"),
    );
    add("var/lib/dpkg/status", DPKG, tar::EntryType::Regular, None);
    add(
        "site/x-1.0.dist-info/METADATA",
        b"Name: x\nVersion: 1.0\n",
        tar::EntryType::Regular,
        None,
    );
    add(
        "site/.wh.y-1.0.dist-info",
        b"",
        tar::EntryType::Regular,
        None,
    );
    add("app/.wh..wh..opq", b"", tar::EntryType::Regular, None);
    add("../../escape", b"x", tar::EntryType::Regular, None);
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(b).unwrap();
    z.finish().unwrap()
}

/// A deterministic mutation of a seed: byte flips, a truncation, a duplication.
pub fn mutate(seed: &[u8], ops: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(at, v) in ops {
        if b.is_empty() {
            break;
        }
        let i = at % b.len();
        match v % 4 {
            0 => b[i] = v,
            1 => b[i] ^= 1 << (v % 8),
            2 => {
                b.remove(i);
            }
            _ => b.insert(i, v),
        }
    }
    if cut.is_multiple_of(5) && !b.is_empty() {
        b.truncate(cut % b.len());
    }
    b
}
