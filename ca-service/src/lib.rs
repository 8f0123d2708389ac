//! # ca-service: the one transactional gateway
//!
//! Every state change of tsca goes through the [`Engine`]: authorities, operators, tokens,
//! numbering assignments, enrolments, certificates, revocations. The registry's HTTP handlers
//! and the `tsca` command only translate requests into its calls and its typed answers back;
//! the rules live here (docs/architecture.md says where each one is decided):
//!
//! - **Who may do what** ([`access`]): every operation takes the [`Principal`] asking.
//! - **One transaction per operation**, with at most two for a certificate (the issuance
//!   cycle of docs/issuance.md: reserve, then sign and store). A refused operation leaves
//!   nothing behind, its generated key included.
//! - **Idempotency by constraint** ([`idempotency`]): an Idempotency-Key is recorded with the
//!   effect it produced, so concurrent retries yield one effect.
//! - **Numbers and time** ([`coverage`](crate::coverage)): a certificate speaks only for
//!   numbers its operator holds, and never past the instant it stops holding them.
//! - **Key policy**: one public key, one subject; a compromised key never again.
//! - **Recovery while running** ([`maintenance`]): reservations are leased on a heartbeat;
//!   orphans are revoked and their enrolments finished by any other instance.
//! - **Keys by reference** ([`keys`]): records name keys; the [`KeyRing`] opens them with the
//!   passphrase of their purpose, so OCSP-only nodes hold no CA key.
//!
//! The engine reads its clock and randomness from injected values ([`Clock`], [`Entropy`]),
//! so its tests drive time. Its errors are [`ServiceError`]s, whose variants say what happened
//! and which the registry maps to HTTP statuses in one place.

pub mod access;
mod assignments;
mod authorities;
mod clock;
mod coverage;
mod domain_crl;
mod engine;
mod enrolments;
mod error;
pub mod idempotency;
mod issuance;
mod key_policy;
pub mod keys;
mod last_good;
pub mod maintenance;
mod offline_crl;
mod operators;
pub mod publication;
mod queries;
pub mod responders;
mod revocation;

pub use access::{Principal, TokenSecret};
pub use assignments::{AssignRequest, AssignmentChange};
pub use authorities::{AuthorityRequest, CreatedAuthority, SubjectFields};
pub use clock::{Clock, Entropy, ManualClock, OsEntropy, SystemClock};
pub use domain_crl::{CrlSigners, InstalledCrlSigner, DOMAIN_CRL_REFRESH};
pub use engine::{Engine, EngineConfig};
pub use enrolments::{EnrolRequest, EnrolmentAnswer};
pub use error::{Existing, Outcome, Rule, ServiceError, ServiceResult};
pub use idempotency::{Answer, IdempotencyKey};
pub use keys::{KeyPassphrases, KeyRing};
pub use maintenance::{Background, MaintenanceReport};
pub use offline_crl::InstalledCrl;
pub use operators::{CreatedOperator, IssuedToken, OperatorRequest, TokenRequest};
pub use publication::{Repository, ServedCrl};
pub use responders::{answer_for, cert_id_key_bytes, DelegatedResponder, ResponderSet};
