//! # ca-core: the pure heart of tsca
//!
//! Everything a certificate authority for telecom signalling does that needs no database, no
//! network and no clock: numbering resources and scopes ([`numbering`]), the TNAuthList and
//! tscaNumberingResources extensions ([`ext`]), keys and the one signer trait ([`keys`]),
//! PKCS#10 requests ([`csr`]), signature verification and the public-key policy ([`verify`]),
//! certificate profiles and issuance ([`profile`], [`issue`]),
//! CRLs ([`crl`]), OCSP encoding ([`ocsp`]) and path validation ([`path`]).
//!
//! Time and keys are always arguments: a function that needs "now" takes a
//! [`std::time::SystemTime`], and signing goes through [`keys::Signer`], so a test clock or an
//! HSM slots in. How the crates fit together is in `docs/architecture.md`; the issuance cycle
//! in `docs/issuance.md`; the profiles in `docs/profiles.md`.

pub mod crl;
pub mod csr;
pub mod error;
pub mod ext;
pub mod ident;
pub mod indirect_crl;
pub mod issue;
pub mod keys;
pub mod numbering;
pub mod ocsp;
pub mod path;
pub mod profile;
pub mod revocation;
pub mod shaken;
pub mod time;
pub mod verify;
pub mod x509;

pub use error::{Error, Result};
