//! Real SHAKEN certificates from the field (tests/vectors/README.md) validate with tsca's path
//! validation: both leaves chain to their public issuing CA (TransNexus SHAKEN Issuing CA1)
//! taken as the trust anchor, at a time inside their validity, and yield their SPC from
//! TNAuthList alone (neither carries tscaNumberingResources).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use ca_core::path::verify_path;
use ca_core::x509::Certificate;

fn vector(name: &str) -> Certificate {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    Certificate::from_pem(&std::fs::read(path).unwrap()).unwrap()
}

/// 2022-06-01T00:00:00Z, inside both leaves' validity.
fn june_2022() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_654_041_600)
}

#[test]
fn both_field_leaves_validate_against_their_issuing_ca_and_yield_their_spc() {
    let anchor = vector("transnexus-issuing-ca1.pem");
    for (leaf, spc) in [
        ("shaken-2720-leaf.pem", "spc:2720"),
        ("shaken-873J-leaf.pem", "spc:873J"),
    ] {
        let leaf = vector(leaf);
        let path = verify_path(
            &[leaf, anchor.clone()],
            std::slice::from_ref(&anchor),
            june_2022(),
        )
        .unwrap_or_else(|e| panic!("{spc}: {e}"));
        assert_eq!(path.leaf_scope().to_string(), spc);
    }
}

#[test]
fn the_field_leaves_are_refused_outside_their_validity_and_under_another_anchor() {
    let anchor = vector("transnexus-issuing-ca1.pem");
    let leaf = vector("shaken-873J-leaf.pem");
    let later = june_2022() + Duration::from_secs(2 * 365 * 86_400);
    let expired = verify_path(
        &[leaf.clone(), anchor.clone()],
        std::slice::from_ref(&anchor),
        later,
    )
    .unwrap_err();
    assert!(
        expired.to_string().contains("expired") || expired.to_string().contains("not valid"),
        "{expired}"
    );
    let other = vector("shaken-2720-leaf.pem");
    let wrong = verify_path(&[leaf, anchor], &[other], june_2022()).unwrap_err();
    assert!(wrong.to_string().contains("trust anchor"), "{wrong}");
}
