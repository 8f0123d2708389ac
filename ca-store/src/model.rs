//! What every aggregate shares: row ids, who did something ([`Actor`]), which running
//! instance holds a reservation ([`InstanceId`]), and small validated values.
//!
//! The records themselves live with the table that stores them (`authorities.rs`,
//! `certificates.rs`, …).

use std::fmt;

use crate::columns::id_type;

id_type!(
    /// An authority (`authorities.id`).
    AuthorityId
);
id_type!(
    /// An operator (`operators.id`).
    OperatorId
);
id_type!(
    /// An API token (`api_tokens.id`).
    TokenId
);
id_type!(
    /// A numbering assignment (`assignments.id`).
    AssignmentId
);
id_type!(
    /// An enrolment (`enrolments.id`).
    EnrolmentId
);
id_type!(
    /// A certificate record (`certificates.id`).
    CertificateId
);
id_type!(
    /// A service-held private key (`keys.id`).
    KeyId
);

/// Who did something, as written in the audit log ("token:12 (operator)", "system", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// tsca itself (reconciliation, sweeps, rotation).
    pub fn system() -> Self {
        Self("system".into())
    }
    /// An API caller, by token id and role.
    pub fn token(id: TokenId, role: impl fmt::Display) -> Self {
        Self(format!("token:{id} ({role})"))
    }
    /// A person at the command line (ceremonies, quickstart, bootstrap).
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

/// A running tsca process, as named in the `instances` table and in the reservations it
/// holds (`certificates.reserved_by`): host, process id and a random suffix, so a restarted
/// process never inherits its predecessor's leases.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// An instance id from its stored text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
    /// The text stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code in capitals ("FR").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryCode(String);

impl CountryCode {
    /// Two ASCII capitals, or `None`.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 2 && text.chars().all(|c| c.is_ascii_uppercase()))
            .then(|| Self(text.to_owned()))
    }
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
