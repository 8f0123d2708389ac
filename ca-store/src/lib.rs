//! # ca-store: what tsca must never lose
//!
//! The storage layer of tsca. It keeps the authorities and their keys, operators, API tokens
//! (hashed), numbering assignments, enrolments, every certificate with its status, the
//! pre-signed OCSP responses, the CRLs (a SHAKEN domain's indirect CRL and its signer too), idempotency records, the running instances and the
//! audit log, in PostgreSQL (the system of record, shared by several tsca processes) or SQLite
//! (the embedded default), chosen by the database URL. Both run the same SQL through sqlx's
//! Any driver; the schema lives in `migrations/postgres` and `migrations/sqlite`, embedded and
//! applied at start. Rows become typed records here and nowhere else ([`columns`] says how).
//!
//! The API is split by who may do what (docs/architecture.md, "Who writes what"):
//! - [`Store`] begins [`WriteTx`]s; only the gateway (`ca-service`) holds one. Each table's
//!   module (`authorities`, `certificates`, …) adds the writes of its aggregate to
//!   [`WriteTx`], each appending its hash-chained audit entry ([`audit`]) in the same
//!   transaction, so a change and its audit entry commit together or not at all.
//! - [`StoreReader`] is the read-only face, for the registry's reads, lookups and the OCSP
//!   responder; [`OcspResponseWriter`] is the responder's one write (its own response table).
//!
//! Three guarantees shape the writes:
//! - **Record before sign.** [`WriteTx::reserve_certificate`] writes the serial and the
//!   to-be-signed bytes before any key signs; [`WriteTx::complete_certificate`] stores the
//!   result; [`WriteTx::abandon_reservation`] turns a reservation whose owner died into
//!   `abandoned` (revoked). See docs/issuance.md.
//! - **Checks inside the transaction.** Every [`WriteTx`] holds the audit head row, which
//!   orders all writers, so what it reads cannot change under it before it commits.
//! - **Changes are announced after commit.** The audit log is the outbox: followers (the
//!   OCSP responders) read what changed after the last entry they applied, woken by an
//!   in-process broadcast and, on PostgreSQL, a NOTIFY sent after the commit ([`notify`]).
//!
//! Errors at this boundary are [`StoreError`]s: not found, conflict, unavailable (saying
//! whether the write may have happened) and connect errors that name host and database but
//! never the password.

mod assignments;
pub mod audit;
mod authorities;
mod certificate_writes;
mod certificates;
pub mod columns;
mod connect;
mod crls;
mod database;
mod domain_crls;
mod enrolments;
pub mod error;
mod idempotency;
mod instances;
mod keys;
pub mod lookup;
mod model;
pub mod notify;
mod ocsp_responses;
mod operators;
#[cfg(feature = "test-support")]
pub mod testing;
mod tokens;

pub use assignments::{Assignment, Holdings, NewAssignment};
pub use audit::{AuditEntry, ChainVerdict};
pub use authorities::{
    ApprovalPolicy, Authority, AuthorityFamily, AuthorityStatus, NewAuthority, Tier,
};
pub use certificates::{
    CertificateFilter, CertificateRecord, CertificateStatus, CertifiedSubject, Issued, KeyBinding,
    Reservation, Revocation, RevokedSerial,
};
pub use connect::{code_schema_version, Backend, DatabaseLimits, DatabaseUrl};
pub use crls::CrlRecord;
pub use database::{OcspResponseWriter, ResponderAccess, Store, StoreReader, WriteTx};
pub use domain_crls::{CrlSigner, CrlSignerId, CrlSignerStatus, DomainCrl};
pub use enrolments::{Enrolment, EnrolmentDecision, EnrolmentStatus, NewEnrolment};
pub use error::{Result, StoreError, WriteOutcome};
pub use idempotency::IdempotencyRecord;
pub use keys::{KeyPurpose, KeyStorage, NewKey, StoredKey};
pub use lookup::{
    CaughtUp, IndexedCertificate, LookupChange, LookupIndex, LookupMatch, SharedLookup,
};
pub use model::{
    Actor, AssignmentId, AuthorityId, CertificateId, CountryCode, EnrolmentId, InstanceId, KeyId,
    OperatorId, TokenId,
};
pub use notify::{Changes, StoreEvent, Subscription, CHANGES_CHANNEL};
pub use ocsp_responses::{OcspResponseRecord, PreSignedResponse};
pub use operators::{NewOperator, Operator, OperatorStatus};
pub use tokens::{ApiToken, NewApiToken, TokenGrant, TokenHash};
