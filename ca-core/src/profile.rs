//! Certificate profiles (docs/profiles.md): what each kind of certificate must and must not contain,
//! and the lint that checks a to-be-signed certificate against its profile before any key
//! signs it.
//!
//! | | Root | Regional / National CA | Operator | OCSP responder |
//! |---|---|---|---|---|
//! | Key | P-384 (P-256) | P-384 (P-256) | P-256, P-384, RSA ≥ 2048 | P-256 |
//! | Validity (default = max) | 20 y | 10 y | 1 y; short-lived ≤ 7 d | 7 d |
//! | basicConstraints | critical, CA | critical, CA, pathLen | critical, not CA | not CA |
//! | keyUsage (critical) | keyCertSign, cRLSign | same | digitalSignature | digitalSignature |
//! | EKU | — | — | — | OCSPSigning + ocsp-nocheck |
//! | CRL DP, AIA | — | when published | when published; none short-lived | none |
//! | certificatePolicies | — | tsca policy | tsca policy | — |
//! | numbering | — | tscaNumberingResources | both extensions | — |

use std::fmt;
use std::time::Duration;

use der::asn1::{Ia5String, PrintableString, Utf8StringRef};
use der::{Any, Decode, Sequence};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::error::{Error, Result};
use crate::ext;
use crate::numbering::{NumberingResource, NumberingScope};
use crate::time::{days, years};
use crate::verify::{classify_public_key, PublicKeyKind};
use crate::x509::{Oid, TbsCertificate};

/// The kinds of certificate tsca issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// The self-signed, offline root (an SDO or the global regulator body).
    Root,
    /// A regional authority under the root; may sign national authorities (pathLen 1).
    RegionalCa,
    /// A national regulator's CA; signs operators and its OCSP responder (pathLen 0).
    NationalCa,
    /// An operator's signing certificate, revocable (CRL and OCSP).
    Operator,
    /// A short-lived operator certificate (≤ 7 days) with `noRevAvail` (RFC 9608).
    OperatorShortLived,
    /// A CA's delegated OCSP responder (RFC 6960 §4.2.2.2).
    OcspResponder,
    /// The SHAKEN family's domain CRL signer: issued by the root, signs the one indirect CRL
    /// of the trust domain (keyUsage cRLSign only), since SHAKEN CAs may not sign CRLs.
    CrlSigner,
}

impl Profile {
    /// The profile's name in configuration, the API and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::RegionalCa => "regional-ca",
            Self::NationalCa => "national-ca",
            Self::Operator => "operator",
            Self::OperatorShortLived => "operator-short-lived",
            Self::OcspResponder => "ocsp-responder",
            Self::CrlSigner => "crl-signer",
        }
    }

    /// The longest validity allowed, which is also the default (docs/profiles.md).
    pub fn max_validity(self) -> Duration {
        match self {
            Self::Root => years(20),
            Self::RegionalCa | Self::NationalCa | Self::CrlSigner => years(10),
            Self::Operator => days(365),
            Self::OperatorShortLived | Self::OcspResponder => days(7),
        }
    }

    /// True for the CA profiles.
    pub fn is_ca(self) -> bool {
        matches!(self, Self::Root | Self::RegionalCa | Self::NationalCa)
    }

    /// The basicConstraints pathLenConstraint: how many CA certificates may follow below.
    pub fn path_len(self) -> Option<u8> {
        match self {
            Self::RegionalCa => Some(1),
            Self::NationalCa => Some(0),
            _ => None,
        }
    }

    /// Whether a subject key of this kind is allowed.
    pub fn allows_key(self, kind: PublicKeyKind) -> bool {
        match self {
            Self::Root | Self::RegionalCa | Self::NationalCa => {
                matches!(kind, PublicKeyKind::EcP256 | PublicKeyKind::EcP384)
            }
            Self::Operator | Self::OperatorShortLived => true,
            Self::OcspResponder | Self::CrlSigner => kind == PublicKeyKind::EcP256,
        }
    }

    /// Whether the certificate carries a numbering scope (required) or none (forbidden).
    pub fn carries_scope(self) -> bool {
        matches!(
            self,
            Self::RegionalCa | Self::NationalCa | Self::Operator | Self::OperatorShortLived
        )
    }

    /// Whether the subject must have O and C (docs/profiles.md: every profile but the responder).
    fn needs_org_and_country(self) -> bool {
        self != Self::OcspResponder
    }

    /// Whether status information (CRL DP, AIA) belongs in the certificate.
    pub fn is_revocable(self) -> bool {
        matches!(self, Self::RegionalCa | Self::NationalCa | Self::Operator)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Profile {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        [
            Self::Root,
            Self::RegionalCa,
            Self::NationalCa,
            Self::Operator,
            Self::OperatorShortLived,
            Self::OcspResponder,
            Self::CrlSigner,
        ]
        .into_iter()
        .find(|p| p.name() == text)
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "unknown profile {text:?}: use root, regional-ca, national-ca, operator, operator-short-lived, ocsp-responder or crl-signer"
            ))
        })
    }
}

/// The profile family of a hierarchy, chosen at its root ceremony: every certificate below
/// a root follows the same family (docs/profiles.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileFamily {
    /// tsca's own profiles: P-384 CAs, tscaNumberingResources, AIA, a CRL per CA.
    Tsca,
    /// The SHAKEN profiles (ATIS-1000080 v005 §6.4.1 and the US SHAKEN CP), so that STIR/SHAKEN
    /// verifiers accept the certificates unchanged ([`crate::shaken`]).
    Shaken(crate::shaken::ShakenDomain),
}

impl ProfileFamily {
    /// The family's name in configuration and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tsca => "tsca",
            Self::Shaken(_) => "shaken",
        }
    }
}

/// A certificate subject: CN, and O and C where the profile needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectName {
    common_name: String,
    organization: Option<String>,
    country: Option<String>,
    serial_number: Option<String>,
}

impl SubjectName {
    /// Checks the parts: CN and O are 1–64 characters (RFC 5280 upper bounds) without control
    /// characters; C is an ISO 3166 alpha-2 code in capitals.
    pub fn new(
        common_name: &str,
        organization: Option<&str>,
        country: Option<&str>,
    ) -> Result<Self> {
        let text = |field: &str, value: &str| -> Result<String> {
            let n = value.chars().count();
            if n == 0 || n > 64 || value.chars().any(char::is_control) || value.trim() != value {
                return Err(Error::InvalidRequest(format!(
                    "{field} {value:?} must be 1 to 64 characters, without control characters or surrounding spaces"
                )));
            }
            Ok(value.to_owned())
        };
        if let Some(c) = country {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(Error::InvalidRequest(format!(
                    "country {c:?} must be an ISO 3166 alpha-2 code in capitals, e.g. FR"
                )));
            }
        }
        Ok(Self {
            common_name: text("common name", common_name)?,
            organization: organization.map(|o| text("organization", o)).transpose()?,
            country: country.map(str::to_owned),
            serial_number: None,
        })
    }

    /// Adds a `serialNumber` attribute (X.520; a PrintableString of 1–64 characters) naming
    /// the subject in the registry, as the SHAKEN CP asks.
    pub fn with_serial_number(mut self, value: &str) -> Result<Self> {
        if value.is_empty() || value.len() > 64 || PrintableString::new(value).is_err() {
            return Err(Error::InvalidRequest(format!(
                "serialNumber {value:?} must be 1 to 64 PrintableString characters (letters, \
                 digits, space and '()+,-./:=?)"
            )));
        }
        self.serial_number = Some(value.to_owned());
        Ok(self)
    }

    /// The common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The X.501 name: C (PrintableString), O, CN (UTF8String), in that order.
    pub fn to_name(&self) -> Result<Name> {
        let enc = Error::encode("subject name");
        let mut rdns = Vec::new();
        let mut push = |oid, value: Any| -> Result<()> {
            let atv = AttributeTypeAndValue { oid, value };
            let set = der::asn1::SetOfVec::try_from(vec![atv]).map_err(Error::encode("RDN"))?;
            rdns.push(RelativeDistinguishedName(set));
            Ok(())
        };
        if let Some(c) = &self.country {
            let v = PrintableString::new(c).map_err(Error::encode("country"))?;
            push(
                const_oid::db::rfc4519::C,
                Any::encode_from(&v).map_err(enc)?,
            )?;
        }
        if let Some(o) = &self.organization {
            let v = Utf8StringRef::new(o).map_err(Error::encode("organization"))?;
            push(
                const_oid::db::rfc4519::O,
                Any::encode_from(&v).map_err(Error::encode("organization"))?,
            )?;
        }
        let v = Utf8StringRef::new(&self.common_name).map_err(Error::encode("common name"))?;
        push(
            const_oid::db::rfc4519::CN,
            Any::encode_from(&v).map_err(Error::encode("common name"))?,
        )?;
        if let Some(serial) = &self.serial_number {
            let v = PrintableString::new(serial).map_err(Error::encode("serialNumber"))?;
            push(
                const_oid::db::rfc4519::SERIAL_NUMBER,
                Any::encode_from(&v).map_err(Error::encode("serialNumber"))?,
            )?;
        }
        Ok(RdnSequence(rdns))
    }
}

/// Where an issuer publishes status and its own certificate; written into the certificates it
/// issues (CRL DP and AIA), except where the profile forbids it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publication {
    /// The issuer's CRL URL (`http://…/crl/{authority}.crl`).
    pub crl_url: Option<String>,
    /// The OCSP responder URL for certificates of this issuer.
    pub ocsp_url: Option<String>,
    /// Where the issuer's own certificate can be fetched (AIA caIssuers).
    pub ca_issuers_url: Option<String>,
}

impl Publication {
    /// Checks that each URL is an `http://` URL (RFC 5280 §4.2.1.13 and RFC 9919 expect plain
    /// HTTP for CRLs and OCSP, to avoid a TLS check needing a status check) in IA5 characters.
    pub fn validate(&self) -> Result<()> {
        for url in [&self.crl_url, &self.ocsp_url, &self.ca_issuers_url]
            .into_iter()
            .flatten()
        {
            if !url.starts_with("http://") || Ia5String::new(url).is_err() || url.contains(' ') {
                return Err(Error::InvalidRequest(format!(
                    "publication URL {url:?} must be an http:// URL in ASCII without spaces"
                )));
            }
        }
        Ok(())
    }
}

/// `PolicyInformation ::= SEQUENCE { policyIdentifier CertPolicyId, policyQualifiers … OPTIONAL }`
/// (RFC 5280 §4.2.1.4), with an [`Oid`] so that our UUID-arc policy fits.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PolicyInformation {
    /// policyIdentifier
    pub policy_identifier: Oid,
    /// policyQualifiers (tsca writes none; kept to decode others' certificates)
    #[asn1(optional = "true")]
    pub policy_qualifiers: Option<Vec<Any>>,
}

/// What the issuer side of a lint needs to know.
pub(crate) struct IssuerFacts<'a> {
    pub name: &'a Name,
    pub not_after: std::time::SystemTime,
    pub ski: Option<&'a [u8]>,
    pub scope: &'a crate::numbering::ScopeConstraint,
    pub signature_algorithm: &'a spki::AlgorithmIdentifierOwned,
}

/// Checks a built to-be-signed certificate against its profile, reading every extension back
/// from the TBS itself (so a bug in building is caught here, before any key signs). Returns
/// every problem found; empty means the TBS may be signed.
pub(crate) fn lint(
    profile: Profile,
    family: &ProfileFamily,
    tbs: &TbsCertificate,
    issuer: &IssuerFacts<'_>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |p: String| problems.push(p);

    if tbs.version != x509_cert::certificate::Version::V3 {
        fail("version must be v3".into());
    }
    let serial = tbs.serial_number.as_bytes();
    if serial.is_empty() || serial.len() > 20 || serial[0] & 0x80 != 0 {
        fail("serial must be positive and at most 20 octets".into());
    } else if serial.len() < 9 {
        fail("serial must carry at least 64 random bits".into());
    }
    if &tbs.signature != issuer.signature_algorithm {
        fail("signature algorithm differs from the issuer key's".into());
    }
    if &tbs.issuer != issuer.name {
        fail("issuer name differs from the issuer certificate's subject".into());
    }

    // Validity.
    let nb = tbs.validity.not_before.to_system_time();
    let na = tbs.validity.not_after.to_system_time();
    match na.duration_since(nb) {
        Err(_) => fail("notAfter is before notBefore".into()),
        Ok(span) if span > profile.max_validity() => fail(format!(
            "validity of {} days exceeds the profile maximum of {} days",
            span.as_secs() / 86_400,
            profile.max_validity().as_secs() / 86_400
        )),
        Ok(_) => {}
    }
    if profile != Profile::Root && na > issuer.not_after {
        fail("validity ends after the issuer certificate's".into());
    }

    // Subject.
    let has_attr = |oid| {
        tbs.subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .any(|atv| atv.oid == oid)
    };
    if !has_attr(const_oid::db::rfc4519::CN) {
        fail("subject has no commonName".into());
    }
    if profile.needs_org_and_country()
        && !(has_attr(const_oid::db::rfc4519::O) && has_attr(const_oid::db::rfc4519::C))
    {
        fail("subject must have organizationName and countryName".into());
    }

    // Subject key.
    match classify_public_key(&tbs.subject_public_key_info) {
        Ok(kind) if !profile.allows_key(kind) => {
            fail(format!("a {kind} key is not allowed for this profile"))
        }
        Ok(_) => {}
        Err(e) => fail(format!("subject key: {e}")),
    }

    // Extensions: no duplicates, then each one the profile names.
    let exts = tbs.extensions();
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|p| p.extn_id == e.extn_id) {
            fail(format!("extension {} appears twice", e.extn_id));
        }
    }
    let ProfileFamily::Tsca = family else {
        if let ProfileFamily::Shaken(domain) = family {
            crate::shaken::lint(profile, domain, tbs, issuer, &mut fail);
        }
        return problems;
    };
    if profile == Profile::CrlSigner {
        fail("the tsca family has no domain CRL signer".into());
    }
    let find = |oid: der::oid::ObjectIdentifier| exts.iter().find(|e| e.extn_id == oid);
    use const_oid::db::rfc5280 as r;
    use const_oid::db::rfc5912 as r2;

    match find(r::ID_CE_BASIC_CONSTRAINTS) {
        None => fail("basicConstraints missing".into()),
        Some(e) => match BasicConstraints::from_der(e.extn_value.as_bytes()) {
            Err(_) => fail("basicConstraints does not decode".into()),
            Ok(bc) => {
                if bc.ca != profile.is_ca() {
                    fail(format!("basicConstraints cA must be {}", profile.is_ca()));
                }
                if bc.path_len_constraint != profile.path_len() {
                    fail(format!(
                        "pathLenConstraint must be {:?}",
                        profile.path_len()
                    ));
                }
                if !e.critical && profile != Profile::OcspResponder {
                    fail("basicConstraints must be critical".into());
                }
            }
        },
    }
    match find(r::ID_CE_KEY_USAGE) {
        None => fail("keyUsage missing".into()),
        Some(e) => match KeyUsage::from_der(e.extn_value.as_bytes()) {
            Err(_) => fail("keyUsage does not decode".into()),
            Ok(ku) => {
                let want = if profile.is_ca() {
                    KeyUsages::KeyCertSign | KeyUsages::CRLSign
                } else {
                    KeyUsages::DigitalSignature.into()
                };
                if ku.0 != want {
                    fail(format!("keyUsage must be exactly {want:?}"));
                }
                if !e.critical {
                    fail("keyUsage must be critical".into());
                }
            }
        },
    }
    let eku = find(r::ID_CE_EXT_KEY_USAGE)
        .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok());
    let nocheck = find(ext::ID_PKIX_OCSP_NOCHECK).is_some();
    if profile == Profile::OcspResponder {
        if eku.map(|e| e.0) != Some(vec![r2::ID_KP_OCSP_SIGNING]) {
            fail("extendedKeyUsage must be exactly id-kp-OCSPSigning".into());
        }
        if !nocheck {
            fail("id-pkix-ocsp-nocheck missing".into());
        }
    } else if find(r::ID_CE_EXT_KEY_USAGE).is_some() || nocheck {
        fail("only OCSP responder certificates carry extendedKeyUsage or ocsp-nocheck".into());
    }

    if find(r::ID_CE_SUBJECT_KEY_IDENTIFIER).is_none() {
        fail("subjectKeyIdentifier missing".into());
    }
    if profile != Profile::Root {
        let aki = find(r::ID_CE_AUTHORITY_KEY_IDENTIFIER).and_then(|e| {
            x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok()
        });
        match (aki.and_then(|a| a.key_identifier), issuer.ski) {
            (Some(kid), Some(ski)) if kid.as_bytes() == ski => {}
            _ => fail("authorityKeyIdentifier must equal the issuer's subjectKeyIdentifier".into()),
        }
    }

    let revocation_pointers = find(r::ID_CE_CRL_DISTRIBUTION_POINTS).is_some()
        || find(r::ID_PE_AUTHORITY_INFO_ACCESS).is_some();
    let no_rev_avail = find(ext::ID_CE_NO_REV_AVAIL).is_some();
    match profile {
        Profile::OperatorShortLived => {
            if !no_rev_avail {
                fail("short-lived certificates must carry noRevAvail (RFC 9608)".into());
            }
            if revocation_pointers {
                fail("short-lived certificates carry no CRL DP or AIA".into());
            }
        }
        Profile::OcspResponder | Profile::Root => {
            if revocation_pointers || no_rev_avail {
                fail("this profile carries no CRL DP, AIA or noRevAvail".into());
            }
        }
        _ => {
            if no_rev_avail {
                fail("noRevAvail belongs only on short-lived certificates".into());
            }
        }
    }

    let has_policy = tbs
        .extension(&Oid::from(r::ID_CE_CERTIFICATE_POLICIES))
        .ok()
        .flatten()
        .and_then(|e| Vec::<PolicyInformation>::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|p| {
            p.iter()
                .any(|pi| pi.policy_identifier == ext::id_tsca_policy_v1())
        });
    if profile.carries_scope() != has_policy {
        fail(format!(
            "certificatePolicies with the tsca policy must be {}",
            if profile.carries_scope() {
                "present"
            } else {
                "absent"
            }
        ));
    }

    // Numbering.
    match (
        profile.carries_scope(),
        crate::ext::certificate_scope_of_tbs(tbs),
    ) {
        (_, Err(e)) => fail(format!("numbering extensions: {e}")),
        (true, Ok(None)) => fail("numbering scope missing".into()),
        (false, Ok(Some(_))) => fail("this profile carries no numbering scope".into()),
        (true, Ok(Some(scope))) => {
            let outside = issuer.scope.not_covering(&scope);
            if !outside.is_empty() {
                fail(format!(
                    "scope entries outside the issuer's scope: {}",
                    outside
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if matches!(profile, Profile::Operator | Profile::OperatorShortLived) {
                if scope
                    .entries()
                    .any(|e| matches!(e, NumberingResource::AnySpc | NumberingResource::Mcc(_)))
                {
                    fail("operator certificates cannot hold spc:* or a whole MCC".into());
                }
                if find(ext::ID_PE_TN_AUTH_LIST).is_none()
                    && scope.entries().any(|e| {
                        matches!(
                            e,
                            NumberingResource::Spc(_)
                                | NumberingResource::E164Range(_)
                                | NumberingResource::E164Number(_)
                                | NumberingResource::DialString(_)
                                | NumberingResource::DialStringRange { .. }
                        )
                    })
                {
                    fail("operator scope with SPC, ranges or numbers must carry TNAuthList".into());
                }
            }
        }
        (false, Ok(None)) => {}
    }
    problems
}

/// Whether a scope may be requested for this profile (before anything is built).
pub(crate) fn check_scope_shape(profile: Profile, scope: Option<&NumberingScope>) -> Result<()> {
    match (profile.carries_scope(), scope) {
        (true, None) => Err(Error::InvalidRequest(format!(
            "a {profile} certificate needs a numbering scope"
        ))),
        (true, Some(s)) if s.is_empty() => Err(Error::InvalidRequest(format!(
            "a {profile} certificate needs a non-empty numbering scope"
        ))),
        (false, Some(_)) => Err(Error::InvalidRequest(format!(
            "a {profile} certificate carries no numbering scope"
        ))),
        _ => Ok(()),
    }
}

/// Used by issuance to know a key before building.
pub(crate) fn check_key(profile: Profile, spki: &SubjectPublicKeyInfoOwned) -> Result<()> {
    let kind = classify_public_key(spki)?;
    if !profile.allows_key(kind) {
        return Err(Error::UnsupportedKey(format!(
            "a {kind} key is not allowed for a {profile} certificate"
        )));
    }
    Ok(())
}
