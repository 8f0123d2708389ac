//! # ca-store: what tsca must never lose
//!
//! The storage layer of tsca (DESIGN §7). It keeps the authorities and their keys, operators,
//! API tokens (hashed), numbering assignments, enrolments, every certificate with its status,
//! the pre-signed OCSP responses, the CRLs and the audit log, in PostgreSQL (the system of
//! record, shared by several tsca processes) or SQLite (the embedded default), chosen by the
//! database URL. Both run the same SQL through sqlx's Any driver; the schema lives in
//! `migrations/postgres` and `migrations/sqlite`, embedded and applied at start.
//!
//! Three guarantees shape the API:
//! - **Record before sign.** [`Store::reserve_certificate`] writes the serial and the
//!   to-be-signed bytes before any key signs; [`Store::complete_certificate`] stores the
//!   result; [`Store::reconcile_reservations`] turns reservations left by a crash into
//!   `abandoned` (treated as revoked). See docs/issuance.md.
//! - **Change and audit commit together.** Every write method is one transaction that also
//!   appends a hash-chained audit entry ([`audit`]); [`Store::verify_audit_chain`] recomputes
//!   the chain and names the first broken entry.
//! - **Revocation is announced on commit.** [`Store::revoke_certificate`] stores the status
//!   and the fresh "revoked" OCSP response in one transaction and notifies subscribers
//!   ([`notify`]): PostgreSQL NOTIFY, or an in-process channel on SQLite.
//!
//! Errors at this boundary are [`StoreError`]s: not found, conflict (unique rules and state
//! machines), unavailable (retryable, nothing half-written) and connect errors that name
//! host and database but never the password.

pub mod audit;
mod connect;
pub mod error;
pub mod lookup;
pub mod model;
pub mod notify;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use audit::ChainVerdict;
pub use connect::{code_schema_version, Backend, DatabaseUrl};
pub use error::{Result, StoreError};
pub use lookup::{
    CaughtUp, IndexedCertificate, LookupChange, LookupIndex, LookupMatch, SharedLookup,
};
pub use model::*;
pub use notify::{RevocationEvent, StoreEvent, Subscription, REVOCATION_CHANNEL};
pub use store::{CertificateFilter, EnrolmentOutcome, RevokedSerial, Store};
