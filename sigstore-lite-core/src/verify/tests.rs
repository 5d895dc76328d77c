use base64::{engine::general_purpose::STANDARD as B64, Engine};

use super::*;
use crate::fulcio;
use crate::testdata::sigstore as vectors;
use crate::trust::TrustedRoot;

fn staging() -> (Bundle, TrustMaterial, Vec<u8>) {
    let b: Bundle = serde_json::from_slice(&vectors("bundle_v3.txt.sigstore")).unwrap();
    let tr: TrustedRoot = serde_json::from_slice(&vectors("staging_trusted_root.json")).unwrap();
    (
        b,
        TrustMaterial::from_trusted_root(&tr).unwrap(),
        vectors("bundle_v3.txt"),
    )
}

fn policy(id: &str, iss: &str) -> Policy {
    Policy {
        identity: Matcher::exact(id),
        issuer: Matcher::exact(iss),
        extensions: Vec::new(),
    }
}

#[test]
fn public_good_staging_bundle_verifies_and_only_for_its_identity() {
    let (b, tm, artifact) = staging();
    let good = policy("william@yossarian.net", "https://github.com/login/oauth");
    let v = verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &good).unwrap();
    assert_eq!(v.integrated_time, Some(1712085549));
    assert!(v.timestamps.is_empty());
    assert_eq!(v.identity, "william@yossarian.net");
    assert!(matches!(
        verify_bundle(
            &b,
            Artifact::Bytes(&artifact),
            &tm,
            &policy("x@yossarian.net", "https://github.com/login/oauth")
        ),
        Err(VerifyError::IdentityMismatch { .. })
    ));
    assert!(matches!(
        verify_bundle(
            &b,
            Artifact::Bytes(&artifact),
            &tm,
            &policy("william@yossarian.net", "https://accounts.google.com")
        ),
        Err(VerifyError::IssuerMismatch { .. })
    ));
    assert!(matches!(
        verify_bundle(&b, Artifact::Bytes(b"other"), &tm, &good),
        Err(VerifyError::BadSignature | VerifyError::ArtifactMismatch(_))
    ));
    // Anchored regexps.
    let re = Policy {
        identity: Matcher::regex("william@.*").unwrap(),
        issuer: Matcher::regex("https://github\\.com/.*").unwrap(),
        extensions: Vec::new(),
    };
    assert!(verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &re).is_ok());
    let unanchored = Policy {
        identity: Matcher::regex("william").unwrap(),
        issuer: Matcher::exact("https://github.com/login/oauth"),
        extensions: Vec::new(),
    };
    assert!(matches!(
        verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &unanchored),
        Err(VerifyError::IdentityMismatch { .. })
    ));
    // The production root does not trust it.
    let prod: TrustedRoot = serde_json::from_slice(&vectors("prod_trusted_root.json")).unwrap();
    assert!(verify_bundle(
        &b,
        Artifact::Bytes(&artifact),
        &TrustMaterial::from_trusted_root(&prod).unwrap(),
        &good
    )
    .is_err());
}

#[test]
fn modified_bundles_are_refused() {
    let (b, tm, artifact) = staging();
    let good = policy("william@yossarian.net", "https://github.com/login/oauth");
    let t = |f: &dyn Fn(&mut Bundle)| {
        let mut m = b.clone();
        f(&mut m);
        verify_bundle(&m, Artifact::Bytes(&artifact), &tm, &good).map(|_| ())
    };
    assert_eq!(
        t(&|m| m.verification_material.tlog_entries[0].integrated_time += 1),
        Err(VerifyError::BadSet)
    );
    assert_eq!(
        t(&|m| m.verification_material.tlog_entries[0].log_index += 1),
        Err(VerifyError::BadSet)
    );
    assert!(matches!(
        t(&|m| {
            m.verification_material.tlog_entries[0].inclusion_promise = None;
            m.verification_material.tlog_entries[0]
                .inclusion_proof
                .as_mut()
                .unwrap()
                .hashes[0] = B64.encode([0u8; 32]);
        }),
        Err(VerifyError::BadInclusionProof(_))
    ));
    assert!(matches!(
        t(&|m| {
            m.verification_material.tlog_entries[0].inclusion_promise = None;
            let p = m.verification_material.tlog_entries[0]
                .inclusion_proof
                .as_mut()
                .unwrap();
            p.checkpoint.envelope = p.checkpoint.envelope.replacen("25901138", "25901139", 1);
        }),
        Err(VerifyError::BadCheckpoint(_))
    ));
    assert_eq!(
        t(&|m| {
            let s = m.message_signature.as_mut().unwrap();
            let mut raw = B64.decode(&s.signature).unwrap();
            let n = raw.len();
            raw[n - 3] ^= 1;
            s.signature = B64.encode(raw);
        }),
        Err(VerifyError::BadSignature)
    );
    assert!(matches!(
        t(&|m| {
            let c = m.verification_material.certificate.as_mut().unwrap();
            let mut raw = B64.decode(&c.raw_bytes).unwrap();
            let n = raw.len();
            raw[n - 10] ^= 1;
            c.raw_bytes = B64.encode(raw);
        }),
        Err(VerifyError::Chain { .. })
    ));
    assert!(matches!(
        t(&|m| m.media_type = "application/json".into()),
        Err(VerifyError::UnsupportedBundle(_))
    ));
}

#[test]
fn older_bundle_versions_verify_with_their_own_rules() {
    let (b, tm, artifact) = staging();
    let good = policy("william@yossarian.net", "https://github.com/login/oauth");
    let leaf = b.verification_material.certificate.clone().unwrap();
    let as_version = |media: &str| {
        let mut m = b.clone();
        m.media_type = media.into();
        m.verification_material.certificate = None;
        m.verification_material.x509_certificate_chain = Some(crate::trust::CertChain {
            certificates: vec![leaf.clone()],
        });
        m
    };
    // v0.2: a chain, and an inclusion proof is required.
    let v02 = as_version(crate::bundle::MEDIA_TYPE_V02);
    verify_bundle(&v02, Artifact::Bytes(&artifact), &tm, &good).unwrap();
    let mut no_proof = v02.clone();
    no_proof.verification_material.tlog_entries[0].inclusion_proof = None;
    assert!(matches!(
        verify_bundle(&no_proof, Artifact::Bytes(&artifact), &tm, &good),
        Err(VerifyError::MissingProof)
    ));
    // v0.1: an inclusion promise (SET) is required, a proof is not.
    let mut v01 = as_version(crate::bundle::MEDIA_TYPE_V01);
    v01.verification_material.tlog_entries[0].inclusion_proof = None;
    verify_bundle(&v01, Artifact::Bytes(&artifact), &tm, &good).unwrap();
    v01.verification_material.tlog_entries[0].inclusion_promise = None;
    assert!(verify_bundle(&v01, Artifact::Bytes(&artifact), &tm, &good).is_err());
    // v0.3 must not carry a chain.
    let mut v03_chain = as_version(crate::bundle::MEDIA_TYPE_V03);
    v03_chain.media_type = crate::bundle::MEDIA_TYPE_V03.into();
    assert!(matches!(
        verify_bundle(&v03_chain, Artifact::Bytes(&artifact), &tm, &good),
        Err(VerifyError::UnsupportedBundle(_))
    ));
}

#[test]
fn certificates_are_checked_at_the_time_given() {
    let (b, tm, _) = staging();
    let leaf = B64
        .decode(
            &b.verification_material
                .certificate
                .as_ref()
                .unwrap()
                .raw_bytes,
        )
        .unwrap();
    let c = fulcio::read(&leaf).unwrap();
    // Valid at the log's integrated time, within the 10 minutes.
    assert!(tm.verify_certificate(&leaf, &[], 1712085549).is_ok());
    // Used after expiry (e.g. with its SET removed, so "now" is all there is): refused.
    let late = tm
        .verify_certificate(&leaf, &[], c.not_after + 1)
        .unwrap_err();
    assert!(late.to_string().contains("CertExpired"), "{late}");
    // And before it existed.
    assert!(tm
        .verify_certificate(&leaf, &[], c.not_before - 3600)
        .is_err());
}

fn v2() -> (Bundle, TrustedRoot, Vec<u8>) {
    (
        serde_json::from_slice(&vectors("staging-rekor-v2.txt.sigstore.json")).unwrap(),
        serde_json::from_slice(&vectors("staging_trusted_root.json")).unwrap(),
        vectors("staging-rekor-v2.txt"),
    )
}

#[test]
fn the_public_good_rekor_v2_bundle_verifies_by_its_timestamp() {
    let (b, tr, artifact) = v2();
    let tm = TrustMaterial::from_trusted_root(&tr).unwrap();
    let good = policy("jku@goto.fi", "https://github.com/login/oauth");
    let v = verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &good).unwrap();
    assert_eq!(v.integrated_time, None);
    assert_eq!(v.timestamps.len(), 1);
    assert_eq!(v.identity, "jku@goto.fi");
    assert!(matches!(
        verify_bundle(&b, Artifact::Bytes(b"other"), &tm, &good),
        Err(VerifyError::BodyMismatch(BodyMismatch::LeafHash)
            | VerifyError::BadSignature
            | VerifyError::ArtifactMismatch(_))
    ));
}

#[test]
fn tampered_rekor_v2_bundles_are_refused_each_with_its_reason() {
    let (b, tr, artifact) = v2();
    let tm = TrustMaterial::from_trusted_root(&tr).unwrap();
    let good = policy("jku@goto.fi", "https://github.com/login/oauth");
    let t = |f: &dyn Fn(&mut Bundle)| {
        let mut m = b.clone();
        f(&mut m);
        verify_bundle(&m, Artifact::Bytes(&artifact), &tm, &good).map(|_| ())
    };
    let flip = |s: &mut String, at: usize| {
        let mut raw = B64.decode(&*s).unwrap();
        let n = raw.len();
        raw[n - at] ^= 1;
        *s = B64.encode(raw);
    };
    // The timestamp.
    assert!(matches!(
        t(&|m| flip(
            &mut m
                .verification_material
                .timestamp_verification_data
                .as_mut()
                .unwrap()
                .rfc3161_timestamps[0]
                .signed_timestamp,
            20
        )),
        Err(VerifyError::Timestamp(_))
    ));
    // No timestamp at all: a v2 entry has no other time.
    assert_eq!(
        t(&|m| m.verification_material.timestamp_verification_data = None),
        Err(VerifyError::NoVerifiedTime)
    );
    // The checkpoint (its tree size), a proof hash, the entry (its signature).
    assert!(matches!(
        t(&|m| {
            let p = m.verification_material.tlog_entries[0]
                .inclusion_proof
                .as_mut()
                .unwrap();
            p.checkpoint.envelope = p.checkpoint.envelope.replacen("\n646\n", "\n647\n", 1);
        }),
        Err(VerifyError::BadCheckpoint(_))
    ));
    assert!(matches!(
        t(&|m| flip(
            &mut m.verification_material.tlog_entries[0]
                .inclusion_proof
                .as_mut()
                .unwrap()
                .hashes[0],
            3
        )),
        Err(VerifyError::BodyMismatch(BodyMismatch::LeafHash))
    ));
    assert!(matches!(
        t(&|m| flip(&mut m.message_signature.as_mut().unwrap().signature, 3)),
        Err(VerifyError::Timestamp(_) | VerifyError::BodyMismatch(_) | VerifyError::BadSignature)
    ));
    // The TSA chain of the trusted root.
    let mut tr2 = tr.clone();
    for a in &mut tr2.timestamp_authorities {
        flip(&mut a.cert_chain.certificates[0].raw_bytes, 40);
    }
    let tm2 = TrustMaterial::from_trusted_root(&tr2).unwrap();
    assert!(matches!(
        verify_bundle(&b, Artifact::Bytes(&artifact), &tm2, &good),
        Err(VerifyError::Timestamp(_))
    ));
    // The log's origin: a trusted root naming another host for the log.
    let mut tr3 = tr.clone();
    for l in &mut tr3.tlogs {
        l.base_url = l.base_url.replace("sigstage", "sigstore");
    }
    let tm3 = TrustMaterial::from_trusted_root(&tr3).unwrap();
    assert!(matches!(
        verify_bundle(&b, Artifact::Bytes(&artifact), &tm3, &good),
        Err(VerifyError::BadCheckpoint(
            CheckpointError::WrongOrigin { .. }
        ))
    ));
}
