//! How tsca names certificates and keys: SHA-256 fingerprints and serial numbers.
//!
//! These cross every crate boundary (a fingerprint is in every chain URL, a serial in every
//! CRL entry and OCSP CertID), so they are types with their invariants rather than strings
//! and byte vectors: a [`Fingerprint`] is exactly 32 octets and prints as 64 lower-case hex
//! digits, a [`Serial`] is a positive DER INTEGER of at most 20 octets (RFC 5280 §4.1.2.2).

use std::fmt;
use std::str::FromStr;

use spki::SubjectPublicKeyInfoOwned;

use crate::error::{Error, Result};

/// Parses exactly 64 hex digits (either case) into 32 octets.
fn parse_sha256_hex(text: &str, what: &'static str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 || hex::decode_to_slice(text, &mut out).is_err() {
        return Err(Error::InvalidRequest(format!(
            "{what} must be 64 hex digits (a SHA-256), got {:?}",
            text.chars().take(80).collect::<String>()
        )));
    }
    Ok(out)
}

/// The SHA-256 of a certificate's DER: how chains (`/chains/{fingerprint}.pem`), the registry
/// and the audit log name a certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// A fingerprint from its 32 octets.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;
    /// 64 hex digits, upper or lower case.
    fn from_str(text: &str) -> Result<Self> {
        parse_sha256_hex(text, "a certificate fingerprint").map(Self)
    }
}

/// The SHA-256 of a DER SubjectPublicKeyInfo: how the key policy recognises one public key
/// across certificates (docs/architecture.md, "Key policy").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyFingerprint([u8; 32]);

impl KeyFingerprint {
    /// The fingerprint of a public key.
    pub fn of_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self> {
        let der = crate::keys::spki_der(spki)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Ok(Self(out))
    }

    /// A key fingerprint from its 32 octets.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 octets.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

impl FromStr for KeyFingerprint {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        parse_sha256_hex(text, "a public-key fingerprint").map(Self)
    }
}

/// A certificate serial number as DER INTEGER content octets: 1 to 20 octets, positive, no
/// superfluous leading zero (RFC 5280 §4.1.2.2). tsca draws 16 random octets (docs/issuance.md,
/// step 3); serials read from elsewhere (CRLs, OCSP requests) may be any valid length.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// The longest serial RFC 5280 allows, in octets.
    pub const MAX_LEN: usize = 20;

    /// Checks the content octets.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        let problem = if bytes.is_empty() {
            Some("it is empty")
        } else if bytes.len() > Self::MAX_LEN {
            Some("it is longer than 20 octets")
        } else if bytes[0] & 0x80 != 0 {
            Some("it is negative")
        } else if bytes.len() > 1 && bytes[0] == 0 && bytes[1] & 0x80 == 0 {
            Some("it has a superfluous leading zero octet")
        } else {
            None
        };
        match problem {
            Some(p) => Err(Error::InvalidRequest(format!(
                "serial number {} is not a valid certificate serial: {p}",
                hex::encode(bytes)
            ))),
            None => Ok(Self(bytes.to_vec())),
        }
    }

    /// The content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// As x509-cert's type.
    pub fn to_x509(&self) -> Result<x509_cert::serial_number::SerialNumber> {
        x509_cert::serial_number::SerialNumber::new(&self.0).map_err(Error::encode("serial"))
    }
}

impl AsRef<[u8]> for Serial {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fingerprints_print_and_parse_as_64_hex_digits() {
        let fp = Fingerprint::of_der(b"abc");
        let text = fp.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.to_uppercase().parse::<Fingerprint>().unwrap(), fp);
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!(format!("{text}00").parse::<Fingerprint>().is_err());
        assert!("g".repeat(64).parse::<Fingerprint>().is_err());
    }

    #[test]
    fn serials_must_be_positive_minimal_and_short() {
        assert!(Serial::new(&[0x01]).is_ok());
        assert!(
            Serial::new(&[0x00, 0x80]).is_ok(),
            "leading zero for a high bit"
        );
        assert!(Serial::new(&[]).is_err());
        assert!(Serial::new(&[0x80]).is_err(), "negative");
        assert!(Serial::new(&[0x00, 0x01]).is_err(), "superfluous zero");
        assert!(Serial::new(&[0x01; 21]).is_err(), "too long");
        assert_eq!(Serial::new(&[0x05, 0x39]).unwrap().to_string(), "0539");
    }
}
