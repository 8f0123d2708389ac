//! Errors of the engine, sorted by what the caller should tell its user.

use ca_core::numbering::NumberingResource;
use ca_store::StoreError;

/// What went wrong in an engine operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request asks for numbering resources outside what its issuer (or the operator's
    /// assignments) allow.
    #[error("{resources} outside {what}: {allowed}")]
    OutOfScope {
        /// The offending resources, comma separated.
        resources: String,
        /// "the issuer's scope", "the operator's assignments".
        what: &'static str,
        /// What is allowed.
        allowed: String,
    },
    /// The request is malformed or not allowed in the current state.
    #[error("{0}")]
    Invalid(String),
    /// ca-core refused the request (bad CSR, weak key, profile violation…).
    #[error(transparent)]
    Core(#[from] ca_core::Error),
    /// The store failed (not found, conflict, unavailable…).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A service-held key could not be unlocked or used.
    #[error("key {key_id} cannot be used: {reason}")]
    Key {
        /// The key row.
        key_id: i64,
        /// Why (never the passphrase).
        reason: String,
    },
}

/// Result with [`ServiceError`].
pub type ServiceResult<T> = std::result::Result<T, ServiceError>;

impl ServiceError {
    pub(crate) fn out_of_scope(
        resources: &[NumberingResource],
        what: &'static str,
        allowed: impl std::fmt::Display,
    ) -> Self {
        Self::OutOfScope {
            resources: resources
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            what,
            allowed: allowed.to_string(),
        }
    }
}
