//! Issuance: validated request + issuer + profile + `now` + random serial → to-be-signed
//! certificate → profile lint → one signature.
//!
//! The steps are numbered as in `docs/issuance.md`; ca-store wraps them with "record the
//! serial and the intended certificate before signing, store the certificate after".
//!
//! 1. Check the request's shape against the profile (key kind, scope present or absent).
//! 2. Check the requested scope is inside the issuer's scope; refuse **before anything is
//!    built**, naming the entries outside ([`Error::NotInIssuerScope`]).
//! 3. Draw a serial: 126 random bits from the caller's CSPRNG, positive, 16 octets.
//! 4. Build the to-be-signed certificate with the profile's extensions.
//! 5. Lint the built TBS against the profile, reading the extensions back from it.
//! 6. Hand back a [`LintedTbs`]: the only value [`LintedTbs::sign`] accepts, so nothing
//!    unlinted can be signed, and signing consumes it, so nothing is signed twice.
//! 7. Sign once with the issuer's key (checked to be the key in the issuer certificate).

use std::time::{Duration, SystemTime};

use der::asn1::{Ia5String, Null, OctetString};
use der::Encode;
use rand_core::CryptoRngCore;
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::error::{Error, Result};
use crate::ext::{self, TnAuthList};
use crate::keys::{KeyAlgorithm, Signer, ECDSA_WITH_SHA256, ECDSA_WITH_SHA384};
use crate::numbering::{NumberingScope, ScopeConstraint};
use crate::profile::{
    self, IssuerFacts, PolicyInformation, Profile, ProfileFamily, Publication, SubjectName,
};
use crate::time::x509_time;
use crate::verify::{classify_public_key, PublicKeyKind};
use crate::x509::{Certificate, Extension, Oid, TbsCertificate};

/// A CA that issues: its certificate and what is derived from it once.
#[derive(Debug, Clone)]
pub struct IssuingAuthority {
    certificate: Certificate,
    ski: Vec<u8>,
    scope: ScopeConstraint,
    algorithm: KeyAlgorithm,
    path_len: Option<u8>,
    publication: Publication,
    family: ProfileFamily,
}

impl IssuingAuthority {
    /// Reads a CA certificate: it must be a CA with a subjectKeyIdentifier and an EC P-256 or
    /// P-384 key. Its numbering scope is its tscaNumberingResources; a self-signed root
    /// without one is unconstrained.
    pub fn new(certificate: Certificate, publication: Publication) -> Result<Self> {
        publication.validate()?;
        let tbs = &certificate.tbs_certificate;
        let algorithm = match classify_public_key(&tbs.subject_public_key_info)? {
            PublicKeyKind::EcP256 => KeyAlgorithm::EcdsaP256,
            PublicKeyKind::EcP384 => KeyAlgorithm::EcdsaP384,
            other => {
                return Err(Error::UnsupportedKey(format!(
                    "a CA with a {other} key cannot issue: tsca CAs sign with P-256 or P-384"
                )))
            }
        };
        let scope = match ext::certificate_scope(&certificate)? {
            Some(scope) => ScopeConstraint::Within(scope),
            None if tbs.issuer == tbs.subject => ScopeConstraint::Unconstrained,
            None => {
                return Err(Error::InvalidRequest(format!(
                    "CA certificate {} has no numbering scope",
                    certificate.subject_text()
                )))
            }
        };
        let mut ca = Self::new_unscoped(certificate)?;
        ca.algorithm = algorithm;
        ca.scope = scope;
        ca.publication = publication;
        Ok(ca)
    }

    /// A CA of a SHAKEN trust domain. Its certificate carries no numbering extension, so its
    /// scope comes from the registry; it publishes through the domain (one indirect CRL), not
    /// through a [`Publication`] of its own.
    pub fn in_domain(
        certificate: Certificate,
        domain: crate::shaken::ShakenDomain,
        scope: ScopeConstraint,
    ) -> Result<Self> {
        let tbs = &certificate.tbs_certificate;
        if classify_public_key(&tbs.subject_public_key_info)? != PublicKeyKind::EcP256 {
            return Err(Error::UnsupportedKey(format!(
                "{} is not a P-256 CA: SHAKEN CAs sign with P-256",
                certificate.subject_text()
            )));
        }
        let scope = match (scope, tbs.issuer == tbs.subject) {
            (ScopeConstraint::Unconstrained, false) => {
                return Err(Error::InvalidRequest(format!(
                    "{} is not a root: give the scope the registry holds for it",
                    certificate.subject_text()
                )))
            }
            (scope, _) => scope,
        };
        let mut ca = Self::new_unscoped(certificate)?;
        ca.scope = scope;
        ca.family = ProfileFamily::Shaken(domain);
        Ok(ca)
    }

    /// The parts of [`IssuingAuthority::new`] every family shares.
    fn new_unscoped(certificate: Certificate) -> Result<Self> {
        let tbs = &certificate.tbs_certificate;
        let bc = tbs
            .decode_extension::<BasicConstraints>(
                &Oid::from(const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS),
                "basicConstraints",
            )?
            .map(|(_, bc)| bc);
        if !bc.as_ref().is_some_and(|bc| bc.ca) {
            return Err(Error::InvalidRequest(format!(
                "{} is not a CA certificate",
                certificate.subject_text()
            )));
        }
        let ski = subject_key_identifier(&certificate)?.ok_or_else(|| {
            Error::InvalidRequest(format!(
                "CA certificate {} has no subjectKeyIdentifier",
                certificate.subject_text()
            ))
        })?;
        Ok(Self {
            path_len: bc.and_then(|bc| bc.path_len_constraint),
            ski,
            scope: ScopeConstraint::Unconstrained,
            algorithm: KeyAlgorithm::EcdsaP256,
            publication: Publication::default(),
            family: ProfileFamily::Tsca,
            certificate,
        })
    }

    /// The family of profiles it issues in.
    pub fn family(&self) -> &ProfileFamily {
        &self.family
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// What this CA may delegate.
    pub fn scope(&self) -> &ScopeConstraint {
        &self.scope
    }

    /// The CA's subjectKeyIdentifier.
    pub fn ski(&self) -> &[u8] {
        &self.ski
    }

    /// Where it publishes status.
    pub fn publication(&self) -> &Publication {
        &self.publication
    }
}

/// Who signs: the subject itself (a root) or an issuing CA.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// A self-signed root: issuer = subject, signed by the subject's own key.
    SelfSigned,
    /// A CA.
    Authority(&'a IssuingAuthority),
}

/// What is asked for. The public key comes from a checked CSR or a generated key.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// Which profile.
    pub profile: Profile,
    /// Which family of profiles: the issuer's (a root chooses it).
    pub family: ProfileFamily,
    /// The subject.
    pub subject: SubjectName,
    /// The subject's public key.
    pub public_key: SubjectPublicKeyInfoOwned,
    /// The numbering scope (CAs and operators; `None` for the root and responders).
    pub scope: Option<NumberingScope>,
    /// Validity start (normally `now`).
    pub not_before: SystemTime,
    /// Validity length; `None` means the profile's maximum, cut at the issuer's notAfter.
    pub validity: Option<Duration>,
}

/// A to-be-signed certificate that passed its profile lint: the only thing that can be signed.
#[derive(Debug, Clone)]
pub struct LintedTbs {
    profile: Profile,
    tbs: TbsCertificate,
    tbs_der: Vec<u8>,
    issuer_key: SubjectPublicKeyInfoOwned,
}

impl LintedTbs {
    /// The to-be-signed certificate (what the store records before signing).
    pub fn tbs(&self) -> &TbsCertificate {
        &self.tbs
    }

    /// Its DER: the exact bytes the signature will cover.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// The serial drawn for it (DER INTEGER content octets).
    pub fn serial(&self) -> &[u8] {
        self.tbs.serial_number.as_bytes()
    }

    /// The profile it was linted against.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Step 7: signs once. The signer must hold the issuer's key.
    pub fn sign(self, signer: &dyn Signer) -> Result<IssuedCertificate> {
        if signer.public_key() != &self.issuer_key {
            return Err(Error::Signing(
                "the signing key is not the issuer's key".into(),
            ));
        }
        let signature = signer.sign(&self.tbs_der)?;
        let certificate = Certificate {
            signature_algorithm: self.tbs.signature.clone(),
            tbs_certificate: self.tbs,
            signature: der::asn1::BitString::from_bytes(&signature)
                .map_err(Error::encode("signature"))?,
        };
        IssuedCertificate::from_certificate(certificate)
    }
}

/// A signed certificate with its DER and SHA-256 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    certificate: Certificate,
    der: Vec<u8>,
    fingerprint: [u8; 32],
}

impl IssuedCertificate {
    /// Wraps a certificate (ours or loaded from a file).
    pub fn from_certificate(certificate: Certificate) -> Result<Self> {
        let der = certificate.to_der()?;
        let fingerprint = sha256(&der);
        Ok(Self {
            certificate,
            der,
            fingerprint,
        })
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Its DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// SHA-256 of the DER as lowercase hex (the chain repository's file name).
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// The PEM.
    pub fn to_pem(&self) -> Result<String> {
        crate::x509::pem_encode(crate::x509::PEM_CERTIFICATE, &self.der)
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits.
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    sha256(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

/// A certificate's subjectKeyIdentifier, if it has one.
pub fn subject_key_identifier(cert: &Certificate) -> Result<Option<Vec<u8>>> {
    Ok(cert
        .tbs_certificate
        .decode_extension::<SubjectKeyIdentifier>(
            &Oid::from(const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER),
            "subjectKeyIdentifier",
        )?
        .map(|(_, ski)| ski.0.as_bytes().to_vec()))
}

fn signature_algorithm(alg: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    alg.signature_algorithm()
}

fn ecdsa_oid_ok(oid: ObjectIdentifier) -> bool {
    oid == ECDSA_WITH_SHA256 || oid == ECDSA_WITH_SHA384
}

/// Steps 1–6: builds and lints the certificate; nothing is signed here.
///
/// For [`Issuer::SelfSigned`] the signing algorithm follows the request's own key.
pub fn prepare(
    request: &CertificateRequest,
    issuer: Issuer<'_>,
    rng: &mut impl CryptoRngCore,
) -> Result<LintedTbs> {
    let profile = request.profile;
    // 1. Shape: a root signs itself and nothing else does.
    match (profile, issuer) {
        (Profile::Root, Issuer::SelfSigned) => {}
        (Profile::Root, Issuer::Authority(_)) => {
            return Err(Error::InvalidRequest(
                "a root certificate is self-signed: use Issuer::SelfSigned".into(),
            ))
        }
        (_, Issuer::SelfSigned) => {
            return Err(Error::InvalidRequest(format!(
                "a {profile} certificate needs an issuing authority"
            )))
        }
        _ => {}
    }
    if let Issuer::Authority(ca) = issuer {
        if ca.family != request.family {
            return Err(Error::InvalidRequest(format!(
                "{} issues {}-family certificates, not {}",
                ca.certificate.subject_text(),
                ca.family.name(),
                request.family.name()
            )));
        }
        if profile.is_ca() && ca.path_len == Some(0) {
            return Err(Error::InvalidRequest(format!(
                "{} has pathLenConstraint 0: it may issue operator and responder certificates, not CAs",
                ca.certificate.subject_text()
            )));
        }
    }
    profile::check_key(profile, &request.public_key)?;
    profile::check_scope_shape(profile, request.scope.as_ref())?;
    match &request.family {
        ProfileFamily::Tsca if profile == Profile::CrlSigner => {
            return Err(Error::InvalidRequest(
                "a domain CRL signer belongs to the SHAKEN family: tsca CAs sign their own CRLs"
                    .into(),
            ))
        }
        ProfileFamily::Tsca => {}
        ProfileFamily::Shaken(_) => crate::shaken::check_request(profile, request.scope.as_ref())?,
    }

    // 2. Encompassing: refuse before building anything.
    let unconstrained = ScopeConstraint::Unconstrained;
    let issuer_scope = match issuer {
        Issuer::SelfSigned => &unconstrained,
        Issuer::Authority(ca) => &ca.scope,
    };
    if let Some(scope) = &request.scope {
        let not_covered = issuer_scope.not_covering(scope);
        if !not_covered.is_empty() {
            return Err(Error::NotInIssuerScope {
                not_covered,
                allowed: issuer_scope.to_string(),
            });
        }
    }

    // 3. Serial: 16 octets, top bit clear (positive), next bit set (no leading zero octet).
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x3f) | 0x40;
    let serial_number = SerialNumber::new(&serial).map_err(Error::encode("serial"))?;

    // 4. Build.
    let subject = request.subject.to_name()?;
    let (issuer_name, issuer_key, issuer_ski, issuer_not_after, algorithm) = match issuer {
        Issuer::SelfSigned => {
            let alg = match classify_public_key(&request.public_key)? {
                PublicKeyKind::EcP256 => KeyAlgorithm::EcdsaP256,
                _ => KeyAlgorithm::EcdsaP384,
            };
            (subject.clone(), request.public_key.clone(), None, None, alg)
        }
        Issuer::Authority(ca) => {
            let tbs = &ca.certificate.tbs_certificate;
            (
                tbs.subject.clone(),
                tbs.subject_public_key_info.clone(),
                Some(ca.ski.clone()),
                Some(tbs.validity.not_after.to_system_time()),
                ca.algorithm,
            )
        }
    };
    let max_end = request.not_before + request.validity.unwrap_or(profile.max_validity());
    let not_after = match (request.validity, issuer_not_after) {
        // A default validity is cut at the issuer's end; an explicit one is linted instead.
        (None, Some(issuer_end)) if issuer_end < max_end => issuer_end,
        _ => max_end,
    };
    let validity = Validity {
        not_before: x509_time(request.not_before)?,
        not_after: x509_time(not_after)?,
    };
    let publication = match issuer {
        Issuer::Authority(ca) if profile.is_revocable() => ca.publication.clone(),
        _ => Publication::default(),
    };
    let extensions = match &request.family {
        ProfileFamily::Tsca => build_extensions(
            profile,
            &request.public_key,
            issuer_ski.as_deref(),
            &publication,
            request.scope.as_ref(),
        )?,
        ProfileFamily::Shaken(domain) => crate::shaken::extensions(
            profile,
            domain,
            &request.public_key,
            issuer_ski.as_deref(),
            request.scope.as_ref(),
        )?,
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number,
        signature: signature_algorithm(algorithm),
        issuer: issuer_name.clone(),
        validity,
        subject,
        subject_public_key_info: request.public_key.clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    debug_assert!(ecdsa_oid_ok(tbs.signature.oid));

    // 5. Lint.
    let own_ski = match &request.family {
        ProfileFamily::Tsca => key_identifier(&request.public_key),
        ProfileFamily::Shaken(_) => crate::shaken::key_identifier(&request.public_key),
    };
    let facts = IssuerFacts {
        name: &issuer_name,
        not_after: issuer_not_after.unwrap_or(not_after),
        ski: issuer_ski.as_deref().or(Some(&own_ski)),
        scope: issuer_scope,
        signature_algorithm: &tbs.signature,
    };
    let problems = profile::lint(profile, &request.family, &tbs, &facts);
    if !problems.is_empty() {
        return Err(Error::ProfileViolation {
            profile: profile.name(),
            problems,
        });
    }

    // 6. The proof of linting.
    let tbs_der = tbs.to_der().map_err(Error::encode("TBSCertificate"))?;
    Ok(LintedTbs {
        profile,
        tbs,
        tbs_der,
        issuer_key,
    })
}

/// subjectKeyIdentifier, and authorityKeyIdentifier when there is an issuer (below a root);
/// both families write them the same way, with their own key identifier method.
pub(crate) fn key_identifier_extensions(
    subject_ski: &[u8],
    issuer_ski: Option<&[u8]>,
) -> Result<Vec<Extension>> {
    use const_oid::db::rfc5280 as r;
    let octets = |b: &[u8]| OctetString::new(b).map_err(Error::encode("key identifier"));
    let mut out = vec![Extension::new(
        r::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(octets(subject_ski)?),
    )?];
    if let Some(ski) = issuer_ski {
        out.push(Extension::new(
            r::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(octets(ski)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?);
    }
    Ok(out)
}

fn build_extensions(
    profile: Profile,
    subject_key: &SubjectPublicKeyInfoOwned,
    issuer_ski: Option<&[u8]>,
    publication: &Publication,
    scope: Option<&NumberingScope>,
) -> Result<Vec<Extension>> {
    use const_oid::db::rfc5280 as r;
    use const_oid::db::rfc5912 as r2;
    let ia5 = |s: &str| Ia5String::new(s).map_err(Error::encode("URL"));
    let mut out = Vec::new();

    out.push(Extension::new(
        r::ID_CE_BASIC_CONSTRAINTS,
        profile != Profile::OcspResponder,
        &BasicConstraints {
            ca: profile.is_ca(),
            path_len_constraint: profile.path_len(),
        },
    )?);
    let usage = if profile.is_ca() {
        KeyUsages::KeyCertSign | KeyUsages::CRLSign
    } else {
        KeyUsages::DigitalSignature.into()
    };
    out.push(Extension::new(r::ID_CE_KEY_USAGE, true, &KeyUsage(usage))?);
    if profile == Profile::OcspResponder {
        out.push(Extension::new(
            r::ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![r2::ID_KP_OCSP_SIGNING]),
        )?);
        out.push(Extension::new(ext::ID_PKIX_OCSP_NOCHECK, false, &Null)?);
    }
    out.extend(key_identifier_extensions(
        &key_identifier(subject_key),
        issuer_ski,
    )?);
    if let Some(url) = &publication.crl_url {
        out.push(Extension::new(
            r::ID_CE_CRL_DISTRIBUTION_POINTS,
            false,
            &CrlDistributionPoints(vec![DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(ia5(url)?),
                ])),
                reasons: None,
                crl_issuer: None,
            }]),
        )?);
    }
    let mut access = Vec::new();
    if let Some(url) = &publication.ocsp_url {
        access.push(AccessDescription {
            access_method: r2::ID_AD_OCSP,
            access_location: GeneralName::UniformResourceIdentifier(ia5(url)?),
        });
    }
    if let Some(url) = &publication.ca_issuers_url {
        access.push(AccessDescription {
            access_method: r2::ID_AD_CA_ISSUERS,
            access_location: GeneralName::UniformResourceIdentifier(ia5(url)?),
        });
    }
    if !access.is_empty() {
        out.push(Extension::new(
            r::ID_PE_AUTHORITY_INFO_ACCESS,
            false,
            &AuthorityInfoAccessSyntax(access),
        )?);
    }
    if profile.carries_scope() {
        out.push(Extension::new(
            r::ID_CE_CERTIFICATE_POLICIES,
            false,
            &vec![PolicyInformation {
                policy_identifier: ext::id_tsca_policy_v1(),
                policy_qualifiers: None,
            }],
        )?);
    }
    if profile == Profile::OperatorShortLived {
        out.push(Extension::new(ext::ID_CE_NO_REV_AVAIL, false, &Null)?);
    }
    if let Some(scope) = scope {
        let value = ext::encode_numbering_resources(scope)?;
        out.push(Extension {
            extn_id: ext::id_tsca_numbering_resources(),
            critical: false,
            extn_value: OctetString::new(value).map_err(Error::encode("numbering"))?,
        });
        if matches!(profile, Profile::Operator | Profile::OperatorShortLived) {
            if let Some(list) = TnAuthList::from_scope(scope)? {
                out.push(Extension {
                    extn_id: Oid::from(ext::ID_PE_TN_AUTH_LIST),
                    critical: false,
                    extn_value: OctetString::new(list.to_der()?)
                        .map_err(Error::encode("TNAuthList"))?,
                });
            }
        }
    }
    Ok(out)
}

/// Convenience for tests, examples and the CLI: prepare and sign in one call.
pub fn issue(
    request: &CertificateRequest,
    issuer: Issuer<'_>,
    signer: &dyn Signer,
    rng: &mut impl CryptoRngCore,
) -> Result<IssuedCertificate> {
    prepare(request, issuer, rng)?.sign(signer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::SoftwareKey;
    use crate::time::days;
    use rand_core::OsRng;
    use std::time::UNIX_EPOCH;

    pub(crate) fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_000_000) // 2026-11-19
    }

    fn subject(cn: &str) -> SubjectName {
        SubjectName::new(cn, Some("Test Org"), Some("FR")).unwrap()
    }

    fn root() -> (SoftwareKey, IssuingAuthority) {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let req = CertificateRequest {
            profile: Profile::Root,
            family: crate::profile::ProfileFamily::Tsca,
            subject: subject("Test Root"),
            public_key: key.public_key().clone(),
            scope: None,
            not_before: now(),
            validity: None,
        };
        let cert = issue(&req, Issuer::SelfSigned, &key, &mut OsRng).unwrap();
        let ca = IssuingAuthority::new(cert.certificate().clone(), Publication::default()).unwrap();
        (key, ca)
    }

    fn sub_ca(
        parent: &IssuingAuthority,
        parent_key: &SoftwareKey,
        profile: Profile,
        scope: &[&str],
    ) -> (SoftwareKey, IssuingAuthority) {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let req = CertificateRequest {
            profile,
            family: crate::profile::ProfileFamily::Tsca,
            subject: subject(profile.name()),
            public_key: key.public_key().clone(),
            scope: Some(NumberingScope::parse(scope.iter().copied()).unwrap()),
            not_before: now(),
            validity: None,
        };
        let cert = issue(&req, Issuer::Authority(parent), parent_key, &mut OsRng).unwrap();
        let publication = Publication {
            crl_url: Some("http://127.0.0.1:8080/crl/test.crl".into()),
            ocsp_url: Some("http://127.0.0.1:8080/ocsp".into()),
            ca_issuers_url: None,
        };
        (
            key,
            IssuingAuthority::new(cert.certificate().clone(), publication).unwrap(),
        )
    }

    #[test]
    fn hierarchy_issues_and_refuses_out_of_scope_before_signing() {
        let (root_key, root) = root();
        assert_eq!(root.scope(), &ScopeConstraint::Unconstrained);
        let (reg_key, regional) = sub_ca(
            &root,
            &root_key,
            Profile::RegionalCa,
            &["prefix:33", "prefix:44", "mcc:208", "spc:*"],
        );
        let (nat_key, national) = sub_ca(
            &regional,
            &reg_key,
            Profile::NationalCa,
            &["prefix:33", "mcc:208", "spc:*"],
        );

        let op_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut req = CertificateRequest {
            profile: Profile::Operator,
            family: crate::profile::ProfileFamily::Tsca,
            subject: subject("Operator F0042"),
            public_key: op_key.public_key().clone(),
            scope: Some(
                NumberingScope::parse(["spc:F0042", "range:33612340000+10000", "plmn:208-01"])
                    .unwrap(),
            ),
            not_before: now(),
            validity: None,
        };
        let op = issue(&req, Issuer::Authority(&national), &nat_key, &mut OsRng).unwrap();
        let scope = ext::certificate_scope(op.certificate()).unwrap().unwrap();
        assert!(
            scope.is_subset_of(&NumberingScope::parse(["prefix:33", "mcc:208", "spc:*"]).unwrap())
        );

        req.scope =
            Some(NumberingScope::parse(["range:33612340000+10000", "number:4420123456"]).unwrap());
        match prepare(&req, Issuer::Authority(&national), &mut OsRng).unwrap_err() {
            Error::NotInIssuerScope { not_covered, .. } => {
                assert_eq!(
                    not_covered
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                    ["number:4420123456"]
                );
            }
            other => panic!("expected NotInIssuerScope, got {other}"),
        }
    }

    #[test]
    fn serials_are_positive_random_and_distinct() {
        let (root_key, root) = root();
        let (_, national) = sub_ca(&root, &root_key, Profile::NationalCa, &["prefix:33"]);
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let req = CertificateRequest {
            profile: Profile::OcspResponder,
            family: crate::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("OCSP", None, None).unwrap(),
            public_key: key.public_key().clone(),
            scope: None,
            not_before: now(),
            validity: None,
        };
        let a = prepare(&req, Issuer::Authority(&national), &mut OsRng).unwrap();
        let b = prepare(&req, Issuer::Authority(&national), &mut OsRng).unwrap();
        assert_ne!(a.serial(), b.serial());
        assert_eq!(a.serial().len(), 16);
        assert!(a.serial()[0] & 0x80 == 0 && a.serial()[0] != 0);
    }

    #[test]
    fn wrong_signer_is_refused() {
        let (root_key, root) = root();
        let (_, national) = sub_ca(&root, &root_key, Profile::NationalCa, &["prefix:33"]);
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let req = CertificateRequest {
            profile: Profile::OcspResponder,
            family: crate::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("OCSP", None, None).unwrap(),
            public_key: key.public_key().clone(),
            scope: None,
            not_before: now(),
            validity: None,
        };
        let tbs = prepare(&req, Issuer::Authority(&national), &mut OsRng).unwrap();
        let err = tbs.sign(&root_key).unwrap_err();
        assert!(err.to_string().contains("not the issuer's key"));
    }

    #[test]
    fn profile_rules_are_enforced() {
        let (root_key, root) = root();
        let (nat_key, national) = sub_ca(
            &root,
            &root_key,
            Profile::NationalCa,
            &["prefix:33", "spc:*"],
        );
        let p256 = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let p384 = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let base = CertificateRequest {
            profile: Profile::OperatorShortLived,
            family: crate::profile::ProfileFamily::Tsca,
            subject: subject("Operator F1"),
            public_key: p256.public_key().clone(),
            scope: Some(NumberingScope::parse(["spc:F1"]).unwrap()),
            not_before: now(),
            validity: Some(days(8)),
        };
        // Short-lived beyond 7 days.
        let err = prepare(&base, Issuer::Authority(&national), &mut OsRng).unwrap_err();
        assert!(matches!(err, Error::ProfileViolation { .. }), "{err}");
        assert!(
            err.to_string().contains("exceeds the profile maximum"),
            "{err}"
        );
        // Within 7 days: noRevAvail and no CRL DP.
        let ok = CertificateRequest {
            validity: Some(days(7)),
            ..base.clone()
        };
        let cert = issue(&ok, Issuer::Authority(&national), &nat_key, &mut OsRng).unwrap();
        let tbs = &cert.certificate().tbs_certificate;
        assert!(tbs
            .extension(&Oid::from(ext::ID_CE_NO_REV_AVAIL))
            .unwrap()
            .is_some());
        assert!(tbs
            .extension(&Oid::from(
                const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS
            ))
            .unwrap()
            .is_none());
        // OCSP responder must be P-256.
        let resp = CertificateRequest {
            profile: Profile::OcspResponder,
            family: crate::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("OCSP", None, None).unwrap(),
            public_key: p384.public_key().clone(),
            scope: None,
            not_before: now(),
            validity: None,
        };
        assert!(matches!(
            prepare(&resp, Issuer::Authority(&national), &mut OsRng),
            Err(Error::UnsupportedKey(_))
        ));
        // Operators cannot hold spc:*.
        let wild = CertificateRequest {
            scope: Some(NumberingScope::parse(["spc:*"]).unwrap()),
            validity: None,
            profile: Profile::Operator,
            family: crate::profile::ProfileFamily::Tsca,
            ..base.clone()
        };
        let err = prepare(&wild, Issuer::Authority(&national), &mut OsRng).unwrap_err();
        assert!(err.to_string().contains("spc:*"), "{err}");
        // A scope is required for operators, forbidden for responders.
        let none = CertificateRequest {
            scope: None,
            profile: Profile::Operator,
            family: crate::profile::ProfileFamily::Tsca,
            validity: None,
            ..base.clone()
        };
        assert!(matches!(
            prepare(&none, Issuer::Authority(&national), &mut OsRng),
            Err(Error::InvalidRequest(_))
        ));
        // A national CA (pathLen 0) cannot issue a CA; a root request through an authority
        // is refused.
        let sub = CertificateRequest {
            profile: Profile::NationalCa,
            family: crate::profile::ProfileFamily::Tsca,
            scope: Some(NumberingScope::parse(["prefix:336"]).unwrap()),
            validity: None,
            public_key: p384.public_key().clone(),
            ..base.clone()
        };
        let err = prepare(&sub, Issuer::Authority(&national), &mut OsRng).unwrap_err();
        assert!(err.to_string().contains("pathLenConstraint 0"), "{err}");
        let root_req = CertificateRequest {
            profile: Profile::Root,
            family: crate::profile::ProfileFamily::Tsca,
            scope: None,
            validity: None,
            public_key: p384.public_key().clone(),
            ..base.clone()
        };
        assert!(prepare(&root_req, Issuer::Authority(&national), &mut OsRng).is_err());
        // Explicit validity past the issuer's end is a lint failure; default is cut.
        let long = CertificateRequest {
            profile: Profile::NationalCa,
            family: crate::profile::ProfileFamily::Tsca,
            validity: Some(crate::time::years(10) + days(1)),
            scope: Some(NumberingScope::parse(["prefix:33"]).unwrap()),
            public_key: p384.public_key().clone(),
            ..base
        };
        assert!(prepare(&long, Issuer::Authority(&root), &mut OsRng).is_err());
    }

    #[test]
    fn root_has_no_aki_and_an_ski() {
        let (_, root) = root();
        let tbs = &root.certificate().tbs_certificate;
        assert!(tbs
            .extension(&Oid::from(
                const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER
            ))
            .unwrap()
            .is_none());
        assert_eq!(root.ski().len(), 20);
        assert_eq!(tbs.issuer, tbs.subject);
    }
}
