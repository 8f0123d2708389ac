//! The SHAKEN profile family's refusals (docs/profiles.md): what ATIS-1000080 and the SHAKEN
//! CP forbid is refused before any key signs, with a message naming the rule; and the
//! domain's indirect CRL carries what RFC 5280 §5 asks of one.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use ca_core::crl::RevokedEntry;
use ca_core::indirect_crl::{sign_indirect_crl, IndirectEntry};
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::{NumberingScope, ScopeConstraint};
use ca_core::profile::{Profile, ProfileFamily, Publication, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_core::shaken::{ShakenDomain, SHAKEN_CP_V1_3, SHAKEN_CP_V1_4};
use der::Decode;
use rand_core::OsRng;

fn domain() -> ShakenDomain {
    let signer = SubjectName::new("Test SHAKEN CRL Signer", Some("Test"), Some("US"))
        .unwrap()
        .with_serial_number("signer")
        .unwrap();
    ShakenDomain::new(
        SHAKEN_CP_V1_4,
        "http://127.0.0.1:8080/crl/domain.crl",
        signer.to_name().unwrap(),
    )
    .unwrap()
}

fn name(cn: &str) -> SubjectName {
    SubjectName::new(cn, Some("Test Org"), Some("US"))
        .unwrap()
        .with_serial_number("id-1")
        .unwrap()
}

fn request(
    profile: Profile,
    subject: SubjectName,
    key: &SoftwareKey,
    scope: &[&str],
) -> CertificateRequest {
    CertificateRequest {
        profile,
        family: ProfileFamily::Shaken(domain()),
        subject,
        public_key: key.public_key().clone(),
        scope: (!scope.is_empty()).then(|| NumberingScope::parse(scope.iter().copied()).unwrap()),
        not_before: SystemTime::now(),
        validity: None,
    }
}

/// A SHAKEN root named `cn`, with its key.
fn root(cn: &str) -> (SoftwareKey, IssuingAuthority) {
    let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let root = issue(
        &request(Profile::Root, name(cn), &root_key, &[]),
        Issuer::SelfSigned,
        &root_key,
        &mut OsRng,
    )
    .unwrap();
    let root = IssuingAuthority::in_domain(
        root.certificate().clone(),
        domain(),
        ScopeConstraint::Unconstrained,
    )
    .unwrap();
    (root_key, root)
}

/// An intermediate under a SHAKEN root, with its key.
fn hierarchy() -> (SoftwareKey, IssuingAuthority) {
    let (root_key, root) = root("Test SHAKEN ROOT");
    let ca_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let ca = issue(
        &request(
            Profile::NationalCa,
            name("Test SHAKEN CA"),
            &ca_key,
            &["spc:*", "prefix:1"],
        ),
        Issuer::Authority(&root),
        &root_key,
        &mut OsRng,
    )
    .unwrap();
    let scope = ScopeConstraint::Within(NumberingScope::parse(["spc:*", "prefix:1"]).unwrap());
    (
        ca_key,
        IssuingAuthority::in_domain(ca.certificate().clone(), domain(), scope).unwrap(),
    )
}

fn refusal(request: &CertificateRequest, ca: &IssuingAuthority, key: &SoftwareKey) -> String {
    issue(request, Issuer::Authority(ca), key, &mut OsRng)
        .unwrap_err()
        .to_string()
}

#[test]
fn what_the_shaken_profile_forbids_is_refused_before_signing() {
    let (ca_key, ca) = hierarchy();
    let ee_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let ok = request(
        Profile::Operator,
        name("Acme SHAKEN F0042"),
        &ee_key,
        &["spc:F0042"],
    );
    issue(&ok, Issuer::Authority(&ca), &ca_key, &mut OsRng).unwrap();

    let cases = [
        (
            request(
                Profile::Operator,
                name("Acme SHAKEN F0042"),
                &ee_key,
                &["spc:F0042", "spc:F0043"],
            ),
            "exactly one SPC",
        ),
        (
            request(
                Profile::Operator,
                name("Acme SHAKEN F0042"),
                &ee_key,
                &["spc:F0042", "prefix:1555"],
            ),
            "exactly one SPC",
        ),
        (
            request(
                Profile::Operator,
                name("Acme F0042"),
                &ee_key,
                &["spc:F0042"],
            ),
            "contains \"SHAKEN\"",
        ),
        (
            request(
                Profile::Operator,
                name("Acme SHAKEN F0043"),
                &ee_key,
                &["spc:F0042"],
            ),
            "<name> SHAKEN F0042",
        ),
        (
            request(
                Profile::Operator,
                name("Acme SHAKEN f0042"),
                &ee_key,
                &["spc:f0042"],
            ),
            "uppercase letters and digits",
        ),
        (
            request(
                Profile::Operator,
                SubjectName::new("Acme SHAKEN F0042", Some("Acme"), Some("US")).unwrap(),
                &ee_key,
                &["spc:F0042"],
            ),
            "serialNumber",
        ),
        (
            request(
                Profile::OperatorShortLived,
                name("Acme SHAKEN F0042"),
                &ee_key,
                &["spc:F0042"],
            ),
            "no short-lived",
        ),
        (
            request(
                Profile::Operator,
                name("Acme SHAKEN F0042"),
                &SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap(),
                &["spc:F0042"],
            ),
            "P-256",
        ),
    ];
    for (request, expected) in cases {
        let why = refusal(&request, &ca, &ca_key);
        assert!(why.contains(expected), "{expected}: {why}");
    }
}

#[test]
fn families_do_not_mix_and_the_policy_and_url_are_checked() {
    let (ca_key, shaken_ca) = hierarchy();
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let mut tsca_request = request(
        Profile::Operator,
        name("Acme SHAKEN F0042"),
        &key,
        &["spc:F0042"],
    );
    tsca_request.family = ProfileFamily::Tsca;
    assert!(refusal(&tsca_request, &shaken_ca, &ca_key)
        .contains("issues shaken-family certificates, not tsca"));

    let tsca_root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let mut root_request = request(Profile::Root, name("tsca root"), &tsca_root_key, &[]);
    root_request.family = ProfileFamily::Tsca;
    let tsca_root = issue(
        &root_request,
        Issuer::SelfSigned,
        &tsca_root_key,
        &mut OsRng,
    )
    .unwrap();
    let tsca_root =
        IssuingAuthority::new(tsca_root.certificate().clone(), Publication::default()).unwrap();
    let mut signer = request(Profile::CrlSigner, name("signer"), &key, &[]);
    signer.family = ProfileFamily::Tsca;
    assert!(refusal(&signer, &tsca_root, &tsca_root_key).contains("SHAKEN family"));

    let issuer = name("x").to_name().unwrap();
    assert!(ShakenDomain::new("1.2.3", "http://x/crl/domain.crl", issuer.clone()).is_err());
    assert!(ShakenDomain::new(SHAKEN_CP_V1_3, "https://x/crl/domain.crl", issuer.clone()).is_err());
    assert!(ShakenDomain::new(SHAKEN_CP_V1_3, "http://x/crl/domain.crl", issuer).is_ok());
}

#[test]
fn the_indirect_crl_names_each_entrys_issuer_and_says_it_is_indirect() {
    let (ca_key, ca) = hierarchy();
    let (root_key, root) = root("Signer SHAKEN ROOT");
    let signer_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let signer = issue(
        &request(
            Profile::CrlSigner,
            name("Test SHAKEN CRL Signer"),
            &signer_key,
            &[],
        ),
        Issuer::Authority(&root),
        &root_key,
        &mut OsRng,
    )
    .unwrap();
    let now = SystemTime::now();
    let revoked_serial = ca.certificate().tbs_certificate.serial_number.clone();
    let entries = [IndirectEntry {
        issuer: ca.certificate().tbs_certificate.issuer.clone(),
        entry: RevokedEntry::new(
            revoked_serial.clone(),
            now,
            Some(RevocationReason::CaCompromise),
        ),
    }];
    let der = sign_indirect_crl(
        signer.certificate(),
        &signer_key,
        7,
        now,
        now + Duration::from_secs(86_400),
        "http://127.0.0.1:8080/crl/domain.crl",
        &entries,
    )
    .unwrap();
    let list = x509_cert::crl::CertificateList::from_der(&der).unwrap();
    let tbs = &list.tbs_cert_list;
    assert_eq!(tbs.issuer, signer.certificate().tbs_certificate.subject);
    let idp = tbs
        .crl_extensions
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT)
        .unwrap();
    assert!(idp.critical);
    let idp = x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint::from_der(
        idp.extn_value.as_bytes(),
    )
    .unwrap();
    assert!(idp.indirect_crl);
    let entry = &tbs.revoked_certificates.as_ref().unwrap()[0];
    assert_eq!(entry.serial_number, revoked_serial);
    let issuer = entry
        .crl_entry_extensions
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CERTIFICATE_ISSUER)
        .unwrap();
    assert!(
        issuer.critical,
        "certificateIssuer is critical (RFC 5280 §5.3.3)"
    );
    // A CA cannot sign it: SHAKEN intermediates have no cRLSign.
    let why = sign_indirect_crl(
        ca.certificate(),
        &ca_key,
        8,
        now,
        now + Duration::from_secs(60),
        "http://127.0.0.1:8080/crl/domain.crl",
        &entries,
    )
    .unwrap_err();
    assert!(why.to_string().contains("cRLSign"), "{why}");
}
