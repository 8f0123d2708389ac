//! TEMPORARY STUB (replaced by the csr branch)
#![allow(missing_docs)]
use crate::error::{Error, Result};
use spki::SubjectPublicKeyInfoOwned;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyKind {
    EcP256,
    EcP384,
    Rsa { bits: u32 },
}
impl std::fmt::Display for PublicKeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
pub fn classify_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyKind> {
    let p = spki
        .algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| Error::UnsupportedKey("x".into()))?;
    let c: der::oid::ObjectIdentifier = p
        .decode_as()
        .map_err(|_| Error::UnsupportedKey("x".into()))?;
    if c == crate::keys::SECP256R1 {
        Ok(PublicKeyKind::EcP256)
    } else {
        Ok(PublicKeyKind::EcP384)
    }
}
pub fn verify_signature(
    algorithm: &spki::AlgorithmIdentifierOwned,
    public_key: &SubjectPublicKeyInfoOwned,
    message: &[u8],
    signature: &[u8],
    what: &str,
) -> Result<()> {
    let alg: &dyn ring::signature::VerificationAlgorithm =
        if algorithm.oid == crate::keys::ECDSA_WITH_SHA256 {
            if classify_public_key(public_key)? == PublicKeyKind::EcP256 {
                &ring::signature::ECDSA_P256_SHA256_ASN1
            } else {
                &ring::signature::ECDSA_P384_SHA256_ASN1
            }
        } else if classify_public_key(public_key)? == PublicKeyKind::EcP256 {
            &ring::signature::ECDSA_P256_SHA384_ASN1
        } else {
            &ring::signature::ECDSA_P384_SHA384_ASN1
        };
    ring::signature::UnparsedPublicKey::new(alg, public_key.subject_public_key.raw_bytes())
        .verify(message, signature)
        .map_err(|_| Error::BadSignature { what: what.into() })
}
