//! The records the store keeps, and the inputs that create them.
//!
//! Times are [`Timestamp`]s (seconds since the Unix epoch, UTC), as in the schema. Numbering
//! scopes and resources are ca-core's types; they are stored in their canonical text form.

use std::fmt;
use std::str::FromStr;

use ca_core::numbering::{NumberingResource, NumberingScope, ScopeConstraint};
use ca_core::revocation::RevocationReason;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A status-like enum stored as TEXT, with the schema's CHECK values as its only spellings.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("Stored as `", $text, "`.")] #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The stored (and API) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(text: &str) -> Result<Self, StoreError> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(StoreError::corrupt(
                        stringify!($name),
                        format!("{other:?} is not one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Where an authority sits in the hierarchy (DESIGN §1).
    Tier { Root = "root", Regional = "regional", National = "national" }
);
text_enum!(
    /// An authority's life.
    AuthorityStatus {
        /// Created with a CSR; waits for its certificate from an offline parent.
        AwaitingCertificate = "awaiting-certificate",
        /// Issuing.
        Active = "active",
        /// No longer issuing.
        Retired = "retired",
    }
);
text_enum!(
    /// An operator's standing.
    OperatorStatus { Active = "active", Suspended = "suspended" }
);
text_enum!(
    /// What an API token may do (enforced by the registry).
    Role {
        /// Manages the whole hierarchy.
        RootAdmin = "root-admin",
        /// Manages one authority and its subtree.
        AuthorityAdmin = "authority-admin",
        /// Enrols and revokes for one operator.
        Operator = "operator",
        /// Reads the audit log.
        Auditor = "auditor",
    }
);
text_enum!(
    /// Where an enrolment stands.
    EnrolmentStatus { Pending = "pending", Approved = "approved", Rejected = "rejected", Issued = "issued" }
);
text_enum!(
    /// Where a certificate stands (see docs/issuance.md for the cycle).
    CertificateStatus {
        /// Serial and to-be-signed bytes recorded; the signature may not exist yet.
        Reserved = "reserved",
        /// Signed, stored and good.
        Valid = "valid",
        /// Revoked.
        Revoked = "revoked",
        /// A reservation found unfinished at start-up: treated as revoked, because the key may
        /// have signed before the crash.
        Abandoned = "abandoned",
    }
);

/// Who did something, as written in the audit log ("token:12 (operator)", "system", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// tsca itself (start-up reconciliation, scheduled work).
    pub fn system() -> Self {
        Self("system".into())
    }
    /// An API caller, by token id and role.
    pub fn token(id: i64, role: Role) -> Self {
        Self(format!("token:{id} ({role})"))
    }
    /// A person at the command line (ceremonies, `tsca admin`).
    pub fn cli(who: &str) -> Self {
        Self(format!("cli:{who}"))
    }
    /// The text stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a private key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStorage {
    /// PKCS#8, PBES2-encrypted, PEM.
    Pkcs8Encrypted(String),
    /// A reference to a key inside an HSM.
    Hsm(String),
}

/// A stored key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Row id.
    pub id: i64,
    /// "P-256" or "P-384".
    pub algorithm: String,
    /// The key material or reference.
    pub storage: KeyStorage,
    /// When stored.
    pub created_at: Timestamp,
}

/// A certificate authority in the hierarchy.
#[derive(Debug, Clone)]
pub struct Authority {
    /// Row id.
    pub id: i64,
    /// Unique name, also used in URLs (`/crl/{name}.crl`).
    pub name: String,
    /// Root, regional or national.
    pub tier: Tier,
    /// The parent authority (none for a root).
    pub parent_id: Option<i64>,
    /// What it may certify.
    pub scope: ScopeConstraint,
    /// Awaiting its certificate, active or retired.
    pub status: AuthorityStatus,
    /// Enrolments within scope are approved without a person.
    pub auto_approve: bool,
    /// Its signing key, when this service holds it (never for an offline root).
    pub key_id: Option<i64>,
    /// Its CSR, while awaiting a certificate from an offline parent.
    pub csr_der: Option<Vec<u8>>,
    /// Its certificate, once it has one.
    pub certificate_der: Option<Vec<u8>>,
    /// When created.
    pub created_at: Timestamp,
}

/// The fields of a new authority.
#[derive(Debug, Clone)]
pub struct NewAuthority {
    /// Unique name.
    pub name: String,
    /// Tier.
    pub tier: Tier,
    /// Parent (none for a root).
    pub parent_id: Option<i64>,
    /// Scope.
    pub scope: ScopeConstraint,
    /// Initial status.
    pub status: AuthorityStatus,
    /// Auto-approve enrolments.
    pub auto_approve: bool,
    /// Key held by this service.
    pub key_id: Option<i64>,
    /// CSR awaiting a parent's signature.
    pub csr_der: Option<Vec<u8>>,
    /// Certificate, when issued at once.
    pub certificate_der: Option<Vec<u8>>,
}

/// An operator (carrier or service provider).
#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    /// Row id.
    pub id: i64,
    /// The authority it is registered with.
    pub authority_id: i64,
    /// Name, unique within the authority.
    pub name: String,
    /// Service provider code, unique across tsca when present.
    pub spc: Option<String>,
    /// ISO 3166 country code.
    pub country: String,
    /// Active or suspended.
    pub status: OperatorStatus,
    /// When registered.
    pub created_at: Timestamp,
}

/// The fields of a new operator.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// The registering authority.
    pub authority_id: i64,
    /// Name.
    pub name: String,
    /// Service provider code.
    pub spc: Option<String>,
    /// Country.
    pub country: String,
}

/// An API token (its secret is never stored, only its SHA-256).
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// The authority it acts for (authority admins).
    pub authority_id: Option<i64>,
    /// The operator it acts for (operators).
    pub operator_id: Option<i64>,
    /// A name for people.
    pub label: String,
    /// When created.
    pub created_at: Timestamp,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
}

/// The fields of a new API token.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Lower-case hex SHA-256 of the secret.
    pub token_hash: String,
    /// Role.
    pub role: Role,
    /// Authority (authority admins).
    pub authority_id: Option<i64>,
    /// Operator (operators).
    pub operator_id: Option<i64>,
    /// Label.
    pub label: String,
}

/// A numbering assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Row id.
    pub id: i64,
    /// The assigning authority.
    pub authority_id: i64,
    /// The holder.
    pub operator_id: i64,
    /// What is assigned.
    pub resource: NumberingResource,
    /// From when.
    pub valid_from: Timestamp,
    /// Until when (open-ended when none).
    pub valid_to: Option<Timestamp>,
    /// The operator the resource was ported from.
    pub ported_from: Option<i64>,
    /// When withdrawn.
    pub withdrawn_at: Option<Timestamp>,
    /// When created.
    pub created_at: Timestamp,
}

impl Assignment {
    /// Active at `at`: not withdrawn and inside its validity.
    pub fn is_active_at(&self, at: Timestamp) -> bool {
        self.withdrawn_at.is_none()
            && self.valid_from <= at
            && self.valid_to.is_none_or(|to| at < to)
    }
}

/// The fields of a new assignment.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    /// Assigning authority.
    pub authority_id: i64,
    /// Holder.
    pub operator_id: i64,
    /// Resource.
    pub resource: NumberingResource,
    /// From.
    pub valid_from: Timestamp,
    /// Until.
    pub valid_to: Option<Timestamp>,
    /// Ported from this operator: allowed to overlap that operator's assignments only.
    pub ported_from: Option<i64>,
}

/// An enrolment request.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Row id.
    pub id: i64,
    /// Requesting operator.
    pub operator_id: i64,
    /// Deciding authority.
    pub authority_id: i64,
    /// The PKCS#10 request.
    pub csr_der: Vec<u8>,
    /// The scope asked for.
    pub requested_scope: NumberingScope,
    /// Profile name ("operator" or "operator-short-lived").
    pub profile: String,
    /// Where it stands.
    pub status: EnrolmentStatus,
    /// The client's Idempotency-Key.
    pub idempotency_key: Option<String>,
    /// The certificate issued for it.
    pub certificate_id: Option<i64>,
    /// Why it was rejected.
    pub decision_reason: Option<String>,
    /// When received.
    pub created_at: Timestamp,
    /// When approved or rejected.
    pub decided_at: Option<Timestamp>,
}

/// The fields of a new enrolment.
#[derive(Debug, Clone)]
pub struct NewEnrolment {
    /// Operator.
    pub operator_id: i64,
    /// Authority.
    pub authority_id: i64,
    /// CSR (DER).
    pub csr_der: Vec<u8>,
    /// Scope asked for.
    pub requested_scope: NumberingScope,
    /// Profile name.
    pub profile: String,
    /// Idempotency-Key.
    pub idempotency_key: Option<String>,
}

/// A certificate as recorded.
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    /// Row id.
    pub id: i64,
    /// Issuing authority.
    pub issuer_id: i64,
    /// Serial number (DER INTEGER content octets).
    pub serial: Vec<u8>,
    /// Status.
    pub status: CertificateStatus,
    /// Profile name.
    pub profile: String,
    /// Subject DN, as text.
    pub subject: String,
    /// The operator it certifies.
    pub operator_id: Option<i64>,
    /// The authority it certifies (CA certificates).
    pub subject_authority_id: Option<i64>,
    /// The enrolment it answers.
    pub enrolment_id: Option<i64>,
    /// The subject's private key, when this service holds it (OCSP responders).
    pub key_id: Option<i64>,
    /// notBefore.
    pub not_before: Timestamp,
    /// notAfter.
    pub not_after: Timestamp,
    /// Its numbering scope.
    pub scope: ScopeConstraint,
    /// The to-be-signed bytes recorded before signing.
    pub tbs_der: Vec<u8>,
    /// The certificate, once signed.
    pub der: Option<Vec<u8>>,
    /// SHA-256 of `der`, lower-case hex.
    pub fingerprint: Option<String>,
    /// When reserved.
    pub reserved_at: Timestamp,
    /// When stored signed.
    pub issued_at: Option<Timestamp>,
    /// When revoked (or abandoned).
    pub revoked_at: Option<Timestamp>,
    /// Why revoked.
    pub revocation_reason: Option<RevocationReason>,
}

/// What issuance records before the key signs (step 1 of the cycle in docs/issuance.md).
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Issuing authority.
    pub issuer_id: i64,
    /// Serial number content octets.
    pub serial: Vec<u8>,
    /// Profile name.
    pub profile: String,
    /// Subject DN as text.
    pub subject: String,
    /// Operator certified.
    pub operator_id: Option<i64>,
    /// Authority certified.
    pub subject_authority_id: Option<i64>,
    /// Enrolment answered.
    pub enrolment_id: Option<i64>,
    /// The subject's key, when this service holds it.
    pub key_id: Option<i64>,
    /// notBefore.
    pub not_before: Timestamp,
    /// notAfter.
    pub not_after: Timestamp,
    /// Scope.
    pub scope: ScopeConstraint,
    /// The linted to-be-signed certificate.
    pub tbs_der: Vec<u8>,
}

/// A pre-signed OCSP response to store for a certificate.
#[derive(Debug, Clone)]
pub struct NewOcspResponse {
    /// The SHA-1 CertID key bytes (opaque to the store; the responder defines them).
    pub sha1_key: Vec<u8>,
    /// The SHA-256 CertID key bytes.
    pub sha256_key: Vec<u8>,
    /// The OCSPResponse DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
}

/// A stored OCSP response.
#[derive(Debug, Clone)]
pub struct OcspResponseRecord {
    /// The certificate it is about.
    pub certificate_id: i64,
    /// Its issuer.
    pub issuer_id: i64,
    /// SHA-1 CertID key.
    pub sha1_key: Vec<u8>,
    /// SHA-256 CertID key.
    pub sha256_key: Vec<u8>,
    /// OCSPResponse DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
}

/// A published CRL.
#[derive(Debug, Clone)]
pub struct CrlRecord {
    /// Issuing authority.
    pub authority_id: i64,
    /// cRLNumber.
    pub crl_number: i64,
    /// DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
}

/// One audit log entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Sequence number, from 1, without gaps.
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What ("certificate.revoked", …).
    pub action: String,
    /// On what ("certificate:ab12…").
    pub subject: String,
    /// Details, as a JSON object.
    pub details: String,
    /// Hash of the previous entry (hex in JSON).
    #[serde(serialize_with = "hex_bytes")]
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    #[serde(serialize_with = "hex_bytes")]
    pub hash: Vec<u8>,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// The text form of a scope in the database: "*" for unconstrained, else entries separated
/// by single spaces.
pub(crate) fn scope_to_text(scope: &ScopeConstraint) -> String {
    match scope {
        ScopeConstraint::Unconstrained => "*".into(),
        ScopeConstraint::Within(scope) => numbering_scope_to_text(scope),
    }
}

pub(crate) fn numbering_scope_to_text(scope: &NumberingScope) -> String {
    scope
        .entries()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn scope_from_text(text: &str) -> Result<ScopeConstraint, StoreError> {
    if text == "*" {
        return Ok(ScopeConstraint::Unconstrained);
    }
    numbering_scope_from_text(text).map(ScopeConstraint::Within)
}

pub(crate) fn numbering_scope_from_text(text: &str) -> Result<NumberingScope, StoreError> {
    NumberingScope::parse(text.split_whitespace()).map_err(|e| StoreError::corrupt("scope", e))
}
