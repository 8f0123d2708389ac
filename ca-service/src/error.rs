//! Errors of the gateway, sorted by what the caller should do about them.
//!
//! Each variant says what happened; the HTTP status for each is chosen in one place, the
//! registry's `problem.rs`. Messages name the record, the rule or the request field at fault
//! and never carry a path, an SQL statement or a secret: internal causes stay in the log
//! ([`ServiceError::Internal`]).

use std::fmt;
use std::time::Duration;

use ca_core::numbering::NumberingResource;
use ca_store::{CertificateId, EnrolmentId, KeyId, KeyPurpose, StoreError, WriteOutcome};

/// A named policy rule. The name appears in the error (and in problem+json as `rule`), so an
/// operator can look it up in docs/architecture.md ("Rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A public key certified for one subject is never certified for another.
    KeyBoundToAnotherSubject,
    /// A key whose certificate was revoked for keyCompromise is refused forever.
    KeyCompromised,
    /// An assignment must end in the future.
    AssignmentAlreadyOver,
    /// Issuance needs assignments that are valid now.
    AssignmentNotYetValid,
    /// A suspended operator cannot enrol.
    OperatorSuspended,
    /// A national CA (pathLenConstraint 0) certifies no CA.
    NationalCaIssuesNoCas,
    /// A CA is created under an active parent only.
    ParentNotActive,
    /// Operators revoke only with the reasons that are theirs to give.
    ReasonNotForOperators,
    /// certificateHold and removeFromCRL are not used: revocation is final.
    RevocationIsFinal,
    /// Operators enrol for operator profiles only.
    ProfileNotForOperators,
    /// `spc:*` belongs in authority scopes, not in an operator's assignment.
    WildcardSpcNotAssignable,
    /// A port takes numbers from an operator that holds them.
    PortFromNonHolder,
    /// The issuing authority's key is not held by this service.
    IssuerKeyOffline,
    /// A certificate installed for an authority must certify its key, chain to its parent
    /// and carry exactly its scope.
    CertificateDoesNotMatch,
    /// A CRL installed for an offline authority must be signed by it, be newer than the one
    /// installed, and not be past its nextUpdate.
    CrlDoesNotMatch,
    /// Every operator certificate carries a TNAuthList with the operator's service provider
    /// code: an operator enrols once it holds an `spc:` assignment.
    SpcAssignmentRequired,
    /// Only the root of a SHAKEN hierarchy has a domain CRL signer.
    ShakenRootOnly,
    /// A domain CRL signer's certificate must certify the pending key, carry the signer name
    /// fixed at init-root and keyUsage cRLSign, and chain to the root.
    CrlSignerDoesNotMatch,
}

impl Rule {
    /// The rule's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::KeyBoundToAnotherSubject => "key-bound-to-another-subject",
            Self::KeyCompromised => "key-compromised",
            Self::AssignmentAlreadyOver => "assignment-already-over",
            Self::AssignmentNotYetValid => "assignment-not-yet-valid",
            Self::OperatorSuspended => "operator-suspended",
            Self::NationalCaIssuesNoCas => "national-ca-issues-no-cas",
            Self::ParentNotActive => "parent-not-active",
            Self::ReasonNotForOperators => "reason-not-for-operators",
            Self::RevocationIsFinal => "revocation-is-final",
            Self::ProfileNotForOperators => "profile-not-for-operators",
            Self::WildcardSpcNotAssignable => "wildcard-spc-not-assignable",
            Self::PortFromNonHolder => "port-from-non-holder",
            Self::IssuerKeyOffline => "issuer-key-offline",
            Self::CertificateDoesNotMatch => "certificate-does-not-match",
            Self::CrlDoesNotMatch => "crl-does-not-match",
            Self::SpcAssignmentRequired => "spc-assignment-required",
            Self::ShakenRootOnly => "shaken-root-only",
            Self::CrlSignerDoesNotMatch => "crl-signer-does-not-match",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an unavailable operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was changed; retrying is safe.
    NothingChanged,
    /// The outcome is unknown (the connection failed while committing, or after a first step
    /// committed): retry with the same Idempotency-Key to learn it without doing it twice.
    Unknown,
}

impl Outcome {
    /// In words, for messages and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NothingChanged => "nothing was changed",
            Self::Unknown => "the change may or may not have been applied",
        }
    }
}

/// A record that a conflict is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// What kind of record ("assignment", "authority", "operator", …).
    pub kind: &'static str,
    /// Its id (or fingerprint).
    pub id: String,
}

/// What went wrong in a gateway operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The record asked for does not exist (or is not visible to the caller).
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// How it was asked for.
        key: String,
    },
    /// The presented token expired.
    #[error("the token expired at {at}: ask whoever issued it for a new one")]
    TokenExpired {
        /// When it expired.
        at: jiff::Timestamp,
    },
    /// The caller is known but may not do this.
    #[error("{reason}")]
    Forbidden {
        /// Why, and what would be allowed.
        reason: String,
    },
    /// The request clashes with an existing record or with a record's state.
    #[error("{detail}")]
    Conflict {
        /// What clashes.
        detail: String,
        /// The existing record, when there is one to point at.
        existing: Option<Existing>,
    },
    /// A named policy rule refuses the request.
    #[error("{detail} (rule {rule})")]
    Refused {
        /// The rule.
        rule: Rule,
        /// What was refused and why.
        detail: String,
        /// The request field at fault, when one is.
        field: Option<&'static str>,
    },
    /// The request asks for numbering resources outside what is allowed.
    #[error("{} outside {what}: {allowed}", list(.entries))]
    OutOfScope {
        /// The request field holding them.
        field: &'static str,
        /// The offending entries.
        entries: Vec<NumberingResource>,
        /// "the issuer's scope", "the operator's assignments", …
        what: &'static str,
        /// What is allowed.
        allowed: String,
    },
    /// A request field is malformed or impossible.
    #[error("{field}: {detail}")]
    Invalid {
        /// The field (as named in the API).
        field: &'static str,
        /// What is wrong and what would be right.
        detail: String,
    },
    /// The Idempotency-Key was used before for a different request.
    #[error(
        "Idempotency-Key {key:?} was already used for a different request ({operation}); use a \
         new key for a new request"
    )]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// What it was used for.
        operation: String,
    },
    /// The request with this Idempotency-Key is still running.
    #[error("{detail}")]
    InProgress {
        /// What is running.
        detail: String,
        /// When to ask again.
        retry_after: Duration,
    },
    /// A signing key cannot be used on this node now.
    #[error("signing key {key} is unavailable: {reason}")]
    KeyUnavailable {
        /// The key.
        key: KeyId,
        /// Why (never the passphrase).
        reason: String,
    },
    /// This node holds no passphrase for keys of this purpose, so it can neither create nor
    /// open them: a configuration gap of the node, not of the request.
    #[error("this node holds no passphrase for {purpose} keys")]
    NoPassphrase {
        /// The purpose whose passphrase is missing.
        purpose: KeyPurpose,
    },
    /// An issuance stopped after its reservation committed (commit (a) of docs/issuance.md):
    /// the enrolment is recorded and its serial reserved, but the certificate was not stored.
    /// Maintenance finishes the enrolment with a new serial, or fails it with the reason.
    #[error(
        "issuance of certificate {certificate}{} stopped after its reservation: {cause}",
        .enrolment.map_or(String::new(), |e| format!(" (enrolment {e})"))
    )]
    Interrupted {
        /// The reserved certificate (maintenance revokes its serial).
        certificate: CertificateId,
        /// The enrolment it answers, when there is one.
        enrolment: Option<EnrolmentId>,
        /// What stopped it, for the log.
        cause: Box<ServiceError>,
    },
    /// The database is unavailable; the outcome says whether anything changed.
    #[error("the database is unavailable ({}): {detail}", .outcome.describe())]
    Unavailable {
        /// Whether anything changed.
        outcome: Outcome,
        /// The cause, for the log.
        detail: String,
    },
    /// Anything else: a bug, a corrupt row, a failed task. The detail is for the log only.
    #[error("internal error: {detail}")]
    Internal {
        /// The cause.
        detail: String,
    },
}

fn list(entries: &[NumberingResource]) -> String {
    entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Result with [`ServiceError`].
pub type ServiceResult<T> = std::result::Result<T, ServiceError>;

impl ServiceError {
    /// An internal failure with its cause (logged by whoever reports it, never shown).
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::Internal {
            detail: detail.to_string(),
        }
    }

    /// A malformed request field.
    pub fn invalid(field: &'static str, detail: impl fmt::Display) -> Self {
        Self::Invalid {
            field,
            detail: detail.to_string(),
        }
    }

    /// A rule's refusal.
    pub fn refused(rule: Rule, detail: impl fmt::Display) -> Self {
        Self::Refused {
            rule,
            detail: detail.to_string(),
            field: None,
        }
    }

    /// A rule's refusal naming the field.
    pub fn refused_field(rule: Rule, field: &'static str, detail: impl fmt::Display) -> Self {
        Self::Refused {
            rule,
            detail: detail.to_string(),
            field: Some(field),
        }
    }

    /// A refusal to an authenticated caller.
    pub fn forbidden(reason: impl fmt::Display) -> Self {
        Self::Forbidden {
            reason: reason.to_string(),
        }
    }

    /// A conflict with an existing record.
    pub fn conflict_with(
        kind: &'static str,
        id: impl fmt::Display,
        detail: impl fmt::Display,
    ) -> Self {
        Self::Conflict {
            detail: detail.to_string(),
            existing: Some(Existing {
                kind,
                id: id.to_string(),
            }),
        }
    }

    /// A conflict with a record's state.
    pub fn conflict(detail: impl fmt::Display) -> Self {
        Self::Conflict {
            detail: detail.to_string(),
            existing: None,
        }
    }

    /// The error of an issuance that stopped after its reservation committed: whatever it
    /// was, the caller now holds a recorded operation that maintenance will finish.
    pub(crate) fn after_reservation(
        self,
        certificate: CertificateId,
        enrolment: Option<EnrolmentId>,
    ) -> Self {
        Self::Interrupted {
            certificate,
            enrolment,
            cause: Box::new(self),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { what, key } => Self::NotFound { what, key },
            StoreError::Conflict(detail) => Self::conflict(detail),
            StoreError::Unavailable { reason, outcome } => Self::Unavailable {
                outcome: match outcome {
                    WriteOutcome::NotApplied => Outcome::NothingChanged,
                    WriteOutcome::Unknown => Outcome::Unknown,
                },
                detail: reason,
            },
            other => Self::internal(other),
        }
    }
}

impl From<ca_core::Error> for ServiceError {
    /// ca-core errors that reach the gateway unlabelled are internal: every place where a
    /// client's input goes into ca-core names its field itself ([`ServiceError::invalid`]).
    fn from(error: ca_core::Error) -> Self {
        match error {
            ca_core::Error::NotInIssuerScope {
                not_covered,
                allowed,
            } => Self::OutOfScope {
                field: "scope",
                entries: not_covered,
                what: "the issuer's scope",
                allowed,
            },
            other => Self::internal(other),
        }
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::internal(format!("a background task failed: {error}"))
    }
}
