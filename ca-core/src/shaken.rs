//! The SHAKEN profile family: certificates that STIR/SHAKEN relying parties accept unchanged
//! (docs/profiles.md, "The SHAKEN family"), from ATIS-1000080 v005 §6.4.1 and the naming rules
//! of the US SHAKEN Certificate Policy (v1.4 by default, OID 2.16.840.1.114569.1.1.4).
//!
//! What differs from the tsca family, field by field:
//! - P-256 keys and ecdsa-with-SHA256 throughout;
//! - subject C, O and a CN containing `SHAKEN` (the root's also `ROOT`; an end entity's is
//!   `<name> SHAKEN <SPC>`), plus a `serialNumber` attribute naming the subject in the
//!   registry;
//! - keyUsage critical: intermediates keyCertSign only (so no issuing CA signs a CRL), end
//!   entities digitalSignature only, the domain CRL signer cRLSign only; basicConstraints
//!   critical. The root has keyCertSign and cRLSign, as deployed SHAKEN CAs do (TransNexus
//!   SHAKEN Issuing CA1 in tests/vectors): its ceremony signs the CRL that covers the domain
//!   CRL signer. Without it no verifier can check the signer's own status — its status cannot
//!   come from the CRL it signs, and openssl (`-crl_check_all -extended_crl`) refuses that
//!   recursion ("CRL path validation error"), so a whole-chain check would always fail;
//! - subjectKeyIdentifier = the 160-bit SHA-1 of the subjectPublicKey bits (RFC 5280
//!   §4.2.1.2 method 1); authorityKeyIdentifier below the root;
//! - exactly one SHAKEN certificate policy on intermediates and end entities, none on the
//!   root;
//! - one CRL distribution point on every certificate below the root: the domain CRL's URL
//!   with the domain CRL signer's name in `cRLIssuer` (one indirect CRL for the whole trust
//!   domain, [`crate::indirect_crl::sign_indirect_crl`]);
//! - TNAuthList with exactly one SPC on end entities; no tscaNumberingResources, no AIA, no
//!   short-lived variant.
//!
//! The numbering model still governs issuance: an issuer's scope comes from the registry
//! ([`crate::issue::IssuingAuthority::in_domain`]), since SHAKEN CA certificates carry none.

use der::asn1::{Ia5String, OctetString};
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use crate::error::{Error, Result};
use crate::ext::{self, TnAuthList};
use crate::numbering::{NumberingResource, NumberingScope};
use crate::profile::{IssuerFacts, PolicyInformation, Profile};
use crate::verify::{classify_public_key, PublicKeyKind};
use crate::x509::{Extension, Oid, TbsCertificate};

/// The US SHAKEN CP v1.4 policy OID, the default.
pub const SHAKEN_CP_V1_4: &str = "2.16.840.1.114569.1.1.4";
/// The US SHAKEN CP v1.3 policy OID.
pub const SHAKEN_CP_V1_3: &str = "2.16.840.1.114569.1.1.3";
/// The policy OID deployed SHAKEN certificates carry from the CP's first versions.
pub const SHAKEN_CP_V1_1: &str = "2.16.840.1.114569.1.1.1";

/// What every certificate of one SHAKEN trust domain shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShakenDomain {
    /// The SHAKEN certificate policy written on intermediates and end entities.
    pub certificate_policy: Oid,
    /// The domain CRL's URL (`http://…/crl/domain.crl`), every distribution point's.
    pub crl_url: String,
    /// The domain CRL signer's subject, every distribution point's `cRLIssuer`.
    pub crl_issuer: Name,
}

impl ShakenDomain {
    /// A domain with `policy` (dotted; one of the SHAKEN CP OIDs), checked.
    pub fn new(policy: &str, crl_url: &str, crl_issuer: Name) -> Result<Self> {
        if ![SHAKEN_CP_V1_4, SHAKEN_CP_V1_3, SHAKEN_CP_V1_1].contains(&policy) {
            return Err(Error::InvalidRequest(format!(
                "{policy:?} is not a SHAKEN certificate policy: use {SHAKEN_CP_V1_4} (CP v1.4), \
                 {SHAKEN_CP_V1_3} (v1.3) or {SHAKEN_CP_V1_1}"
            )));
        }
        if !crl_url.starts_with("http://") || !crl_url.is_ascii() {
            return Err(Error::InvalidRequest(format!(
                "domain CRL URL {crl_url:?}: use an http:// URL (RFC 5280 §4.2.1.13)"
            )));
        }
        Ok(Self {
            certificate_policy: Oid::parse_dotted(policy)
                .ok_or_else(|| Error::InvalidRequest(format!("{policy:?} is not a dotted OID")))?,
            crl_url: crl_url.to_owned(),
            crl_issuer,
        })
    }
}

/// RFC 5280 §4.2.1.2 method 1: the SHA-1 of the subjectPublicKey bits, as SHAKEN requires.
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        spki.subject_public_key.raw_bytes(),
    )
    .as_ref()
    .to_vec()
}

/// The keyUsage of each profile in this family (the root's cRLSign: see the module text).
fn key_usage(profile: Profile) -> KeyUsage {
    KeyUsage(match profile {
        Profile::Root => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        Profile::RegionalCa | Profile::NationalCa => KeyUsages::KeyCertSign.into(),
        Profile::CrlSigner => KeyUsages::CRLSign.into(),
        _ => KeyUsages::DigitalSignature.into(),
    })
}

/// Whether the profile carries the SHAKEN certificate policy.
fn carries_policy(profile: Profile) -> bool {
    matches!(
        profile,
        Profile::RegionalCa | Profile::NationalCa | Profile::Operator
    )
}

/// Whether the profile points at the domain CRL: every certificate below the root but the
/// domain CRL signer itself (its status would be in the CRL it signs, a loop verifiers refuse:
/// openssl's CRL path validation fails on it) and OCSP responders (ocsp-nocheck).
fn carries_distribution_point(profile: Profile) -> bool {
    !matches!(
        profile,
        Profile::Root | Profile::CrlSigner | Profile::OcspResponder
    )
}

/// The one SPC a SHAKEN end entity may name, or why the scope does not fit.
pub fn end_entity_spc(scope: Option<&NumberingScope>) -> Result<&NumberingResource> {
    let entries: Vec<_> = scope.map(|s| s.entries().collect()).unwrap_or_default();
    match entries.as_slice() {
        [spc @ NumberingResource::Spc(_)] => Ok(spc),
        _ => Err(Error::InvalidRequest(format!(
            "a SHAKEN end-entity certificate names exactly one SPC in its TNAuthList, and \
             nothing else (asked: {})",
            scope.map_or("nothing".into(), ToString::to_string)
        ))),
    }
}

/// Which profiles exist in this family, and their request shape: checked before building.
pub(crate) fn check_request(profile: Profile, scope: Option<&NumberingScope>) -> Result<()> {
    match profile {
        Profile::Operator => end_entity_spc(scope).map(|_| ()),
        Profile::OperatorShortLived => Err(Error::ProfileViolation {
            profile: profile.name(),
            problems: vec![
                "profile: the SHAKEN family has no short-lived certificates; ask for operator"
                    .into(),
            ],
        }),
        _ => Ok(()),
    }
}

/// The extensions of a SHAKEN-family certificate.
pub(crate) fn extensions(
    profile: Profile,
    domain: &ShakenDomain,
    subject_key: &SubjectPublicKeyInfoOwned,
    issuer_ski: Option<&[u8]>,
    scope: Option<&NumberingScope>,
) -> Result<Vec<Extension>> {
    use const_oid::db::rfc5280 as r;
    let mut out = vec![
        Extension::new(
            r::ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: profile.is_ca(),
                path_len_constraint: profile.path_len(),
            },
        )?,
        Extension::new(r::ID_CE_KEY_USAGE, true, &key_usage(profile))?,
    ];
    out.extend(crate::issue::key_identifier_extensions(
        &key_identifier(subject_key),
        issuer_ski,
    )?);
    if profile == Profile::OcspResponder {
        // A CA's delegated responder (RFC 6960 §4.2.2.2): not a SHAKEN certificate, but the
        // responder still answers for the domain's certificates.
        out.push(Extension::new(
            r::ID_CE_EXT_KEY_USAGE,
            false,
            &x509_cert::ext::pkix::ExtendedKeyUsage(vec![
                const_oid::db::rfc5912::ID_KP_OCSP_SIGNING,
            ]),
        )?);
        out.push(Extension::new(
            ext::ID_PKIX_OCSP_NOCHECK,
            false,
            &der::asn1::Null,
        )?);
    }
    if carries_policy(profile) {
        out.push(Extension::new(
            r::ID_CE_CERTIFICATE_POLICIES,
            false,
            &vec![PolicyInformation {
                policy_identifier: domain.certificate_policy.clone(),
                policy_qualifiers: None,
            }],
        )?);
    }
    if carries_distribution_point(profile) {
        out.push(Extension::new(
            r::ID_CE_CRL_DISTRIBUTION_POINTS,
            false,
            &distribution_points(domain)?,
        )?);
    }
    if profile == Profile::Operator {
        let spc = end_entity_spc(scope)?;
        let list = TnAuthList::from_scope(&NumberingScope::new([spc.clone()]))?
            .ok_or_else(|| Error::InvalidRequest("a SHAKEN end entity needs its SPC".into()))?;
        out.push(Extension {
            extn_id: ext::ID_PE_TN_AUTH_LIST.into(),
            critical: false,
            extn_value: OctetString::new(list.to_der()?).map_err(Error::encode("TNAuthList"))?,
        });
    }
    Ok(out)
}

fn distribution_points(domain: &ShakenDomain) -> Result<CrlDistributionPoints> {
    let url = Ia5String::new(&domain.crl_url).map_err(Error::encode("CRL URL"))?;
    Ok(CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(url),
        ])),
        reasons: None,
        crl_issuer: Some(vec![GeneralName::DirectoryName(domain.crl_issuer.clone())]),
    }]))
}

/// The SHAKEN family's rules, on a built TBS (after the checks every family shares).
pub(crate) fn lint(
    profile: Profile,
    domain: &ShakenDomain,
    tbs: &TbsCertificate,
    issuer: &IssuerFacts<'_>,
    fail: &mut dyn FnMut(String),
) {
    use const_oid::db::rfc5280 as r;
    if profile == Profile::OperatorShortLived {
        fail("the SHAKEN family has no short-lived certificates".into());
    }
    if tbs.signature.oid != crate::keys::ECDSA_WITH_SHA256 {
        fail("SHAKEN certificates are signed with ecdsa-with-SHA256".into());
    }
    if !matches!(
        classify_public_key(&tbs.subject_public_key_info),
        Ok(PublicKeyKind::EcP256)
    ) {
        fail("SHAKEN certificates certify P-256 keys".into());
    }
    // Subject: C, O, CN with SHAKEN (and ROOT on the root), serialNumber.
    let attribute = |oid| {
        tbs.subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == oid)
            .map(|atv| attribute_text(&atv.value))
    };
    use const_oid::db::rfc4519 as n;
    let cn = attribute(n::CN).unwrap_or_default();
    // The subject rules are the SHAKEN certificates'; a delegated OCSP responder is not one.
    let named = profile != Profile::OcspResponder;
    if named && (attribute(n::C).is_none() || attribute(n::O).is_none()) {
        fail("a SHAKEN subject has countryName and organizationName".into());
    }
    if named && attribute(const_oid::db::rfc4519::SERIAL_NUMBER).is_none() {
        fail("a SHAKEN subject has a serialNumber naming it in the registry".into());
    }
    if named && !cn.contains("SHAKEN") {
        fail(format!(
            "a SHAKEN commonName contains \"SHAKEN\" (is {cn:?})"
        ));
    }
    if profile == Profile::Root && !cn.contains("ROOT") {
        fail(format!(
            "a SHAKEN root's commonName contains \"ROOT\" (is {cn:?})"
        ));
    }
    // Extensions: exactly the family's, with the family's values.
    let exts = tbs.extensions();
    let find = |oid: der::oid::ObjectIdentifier| exts.iter().find(|e| e.extn_id == oid);
    let mut allowed = vec![
        r::ID_CE_BASIC_CONSTRAINTS,
        r::ID_CE_KEY_USAGE,
        r::ID_CE_SUBJECT_KEY_IDENTIFIER,
    ];
    if profile != Profile::Root {
        allowed.push(r::ID_CE_AUTHORITY_KEY_IDENTIFIER);
    }
    if carries_distribution_point(profile) {
        allowed.push(r::ID_CE_CRL_DISTRIBUTION_POINTS);
    }
    if carries_policy(profile) {
        allowed.push(r::ID_CE_CERTIFICATE_POLICIES);
    }
    if profile == Profile::Operator {
        allowed.push(ext::ID_PE_TN_AUTH_LIST);
    }
    if profile == Profile::OcspResponder {
        allowed.extend([r::ID_CE_EXT_KEY_USAGE, ext::ID_PKIX_OCSP_NOCHECK]);
    }
    for e in exts {
        if !allowed.iter().any(|a| e.extn_id == *a) {
            fail(format!(
                "extension {} is outside the SHAKEN profile",
                e.extn_id
            ));
        }
    }
    for oid in &allowed {
        if find(*oid).is_none() && *oid != ext::ID_PKIX_OCSP_NOCHECK {
            fail(format!("extension {oid} is missing"));
        }
    }
    match find(r::ID_CE_BASIC_CONSTRAINTS).map(|e| {
        (
            e.critical,
            BasicConstraints::from_der(e.extn_value.as_bytes()),
        )
    }) {
        Some((true, Ok(bc))) if bc.ca == profile.is_ca() => {}
        _ => fail(format!(
            "basicConstraints must be critical with cA {}",
            profile.is_ca()
        )),
    }
    match find(r::ID_CE_KEY_USAGE)
        .map(|e| (e.critical, KeyUsage::from_der(e.extn_value.as_bytes())))
    {
        Some((true, Ok(ku))) if ku == key_usage(profile) => {}
        _ => fail(format!(
            "keyUsage must be critical and exactly {:?}",
            key_usage(profile).0
        )),
    }
    let ski = find(r::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok());
    if ski.map(|s| s.0.as_bytes().to_vec()) != Some(key_identifier(&tbs.subject_public_key_info)) {
        fail("subjectKeyIdentifier must be the SHA-1 of the subject key".into());
    }
    if profile != Profile::Root {
        let aki = find(r::ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .and_then(|e| AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
            .and_then(|a| a.key_identifier);
        match (aki, issuer.ski) {
            (Some(kid), Some(ski)) if kid.as_bytes() == ski => {}
            _ => fail("authorityKeyIdentifier must equal the issuer's subjectKeyIdentifier".into()),
        }
    }
    if carries_policy(profile) {
        let policies = find(r::ID_CE_CERTIFICATE_POLICIES)
            .and_then(|e| Vec::<PolicyInformation>::from_der(e.extn_value.as_bytes()).ok())
            .unwrap_or_default();
        if policies.len() != 1 || policies[0].policy_identifier != domain.certificate_policy {
            fail(format!(
                "certificatePolicies must hold exactly the SHAKEN policy {}",
                domain.certificate_policy
            ));
        }
    }
    if let Some(e) = find(r::ID_CE_CRL_DISTRIBUTION_POINTS) {
        match distribution_points(domain)
            .and_then(|want| want.to_der().map_err(Error::encode("CRL DP")))
        {
            Ok(want) if want == e.extn_value.as_bytes() => {}
            _ => fail(
                "the CRL distribution point must be the domain CRL with its signer as cRLIssuer"
                    .into(),
            ),
        }
    }
    if profile == Profile::Operator {
        let spcs = find(ext::ID_PE_TN_AUTH_LIST)
            .and_then(|e| TnAuthList::from_der(e.extn_value.as_bytes()).ok())
            .and_then(|l| l.to_scope().ok());
        match spcs.as_ref().map(|s| end_entity_spc(Some(s))) {
            Some(Ok(NumberingResource::Spc(spc))) => {
                let code = spc.as_str();
                if !code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                {
                    fail(format!("SPC {code:?} must be uppercase letters and digits"));
                }
                if !cn.ends_with(&format!(" SHAKEN {code}")) {
                    fail(format!(
                        "an end entity's commonName is \"<name> SHAKEN {code}\" (is {cn:?})"
                    ));
                }
                if let Some(scope) = &spcs {
                    let outside = issuer.scope.not_covering(scope);
                    if !outside.is_empty() {
                        fail(format!("SPC {code} is outside the issuer's scope"));
                    }
                }
            }
            _ => fail("TNAuthList must hold exactly one SPC".into()),
        }
    }
}

/// A directory string attribute's text (UTF8String or PrintableString; empty otherwise).
fn attribute_text(value: &der::Any) -> String {
    value
        .decode_as::<der::asn1::Utf8StringRef<'_>>()
        .map(|s| s.as_str().to_owned())
        .or_else(|_| {
            value
                .decode_as::<der::asn1::PrintableStringRef<'_>>()
                .map(|s| s.as_str().to_owned())
        })
        .unwrap_or_default()
}
