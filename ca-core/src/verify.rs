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
