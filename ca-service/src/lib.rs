//! # ca-service: the CA engine
//!
//! Where ca-core (pure certificate logic) meets ca-store (what must never be lost). The
//! [`Engine`] holds the store, the passphrase that unlocks the service-held keys, and the
//! publication URLs, and runs every operation a CA performs with its keys:
//!
//! - creating sub-CAs (issued at once by a parent held here, or a CSR for an offline parent,
//!   completed later with [`Engine::install_authority_certificate`]);
//! - issuing certificates through the record-before-sign cycle (docs/issuance.md);
//! - revoking, with the "revoked" OCSP response signed and stored in the same transaction,
//!   then a new CRL;
//! - delegated OCSP responder certificates, one per CA, issued and rotated automatically
//!   (CA keys never sign OCSP);
//! - CRLs and chains.
//!
//! The registry API and the OCSP responder are thin HTTP layers over this crate.

mod engine;
mod error;

pub use engine::*;
pub use error::{ServiceError, ServiceResult};
