//! The key policy (docs/architecture.md, "Rules"): which public keys tsca certifies.
//!
//! - `key-bound-to-another-subject`: a public key certified for one subject (an operator, an
//!   authority, a responder) is refused for any other. Renewal with the same key for the
//!   same subject is allowed.
//! - `key-compromised`: a key whose certificate was revoked for keyCompromise is refused
//!   forever, for everyone.
//!
//! Checked inside the issuing transaction (which holds the audit head), so two requests
//! cannot certify one key for two operators at once. Keys tsca generates itself are fresh
//! and serve one [`ca_store::KeyPurpose`] for life (`keys.rs`).

use ca_core::ident::KeyFingerprint;
use ca_core::revocation::RevocationReason;
use ca_store::{CertifiedSubject, WriteTx};

use crate::error::{Rule, ServiceError, ServiceResult};

/// Refuses `key` for `subject` when the policy says so; `field` names the request part that
/// carried the key.
pub(crate) async fn check(
    tx: &mut WriteTx,
    key: &KeyFingerprint,
    subject: CertifiedSubject,
    field: &'static str,
) -> ServiceResult<()> {
    let Some(binding) = tx.key_binding_conflict(key, subject).await? else {
        return Ok(());
    };
    if binding.reason == Some(RevocationReason::KeyCompromise) {
        return Err(ServiceError::refused_field(
            Rule::KeyCompromised,
            field,
            format!(
                "this public key's certificate {} was revoked for keyCompromise; generate a new key pair",
                binding.certificate_id
            ),
        ));
    }
    Err(ServiceError::refused_field(
        Rule::KeyBoundToAnotherSubject,
        field,
        format!(
            "this public key is already certified for another subject (certificate {}); \
             every operator needs key pairs of its own",
            binding.certificate_id
        ),
    ))
}
