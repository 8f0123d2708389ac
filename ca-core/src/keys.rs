//! Keys and the one signer trait.
//!
//! Everything that signs (certificates, CRLs, OCSP responses) goes through [`Signer`], a small
//! trait in the manner of rcgen's `SigningKey`, so that an HSM (PKCS#11) is just another
//! implementation. [`SoftwareKey`] is the software implementation: ECDSA P-256 and P-384 on
//! ring (constant-time, assembly P-256), private keys held as PKCS#8 and written at rest
//! encrypted with PBES2 (PBKDF2-HMAC-SHA256 + AES-256-CBC, readable by `openssl pkey`).
//!
//! RSA signing is deliberately not offered: tsca's profiles never need an RSA issuer, and the
//! pure-Rust `rsa` crate still carries the open Marvin timing advisory (RUSTSEC-2023-0071).
//! RSA *public* keys in CSRs are accepted and verified (see [`crate::csr`]).

use der::asn1::BitString;
use der::{Decode, Encode};
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rand_core::CryptoRngCore;
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, EcdsaKeyPair, KeyPair};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// `id-ecPublicKey` (RFC 5480).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;
/// `secp256r1` / P-256 (RFC 5480).
pub const SECP256R1: ObjectIdentifier = const_oid::db::rfc5912::SECP_256_R_1;
/// `secp384r1` / P-384 (RFC 5480).
pub const SECP384R1: ObjectIdentifier = const_oid::db::rfc5912::SECP_384_R_1;
/// `ecdsa-with-SHA256` (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
/// `ecdsa-with-SHA384` (RFC 5758).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = const_oid::db::rfc5912::ECDSA_WITH_SHA_384;

/// PBKDF2 iterations for keys at rest (OWASP 2023 guidance for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The key algorithms tsca signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (ES256): operators and OCSP responders.
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384 (ES384): roots and authorities.
    EcdsaP384,
}

impl KeyAlgorithm {
    /// The `signatureAlgorithm` this key produces (parameters absent, RFC 5758 §3.2).
    pub fn signature_algorithm(self) -> AlgorithmIdentifierOwned {
        let oid = match self {
            Self::EcdsaP256 => ECDSA_WITH_SHA256,
            Self::EcdsaP384 => ECDSA_WITH_SHA384,
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    /// The named curve OID.
    pub fn curve(self) -> ObjectIdentifier {
        match self {
            Self::EcdsaP256 => SECP256R1,
            Self::EcdsaP384 => SECP384R1,
        }
    }

    /// The name used in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "P-256",
            Self::EcdsaP384 => "P-384",
        }
    }

    fn ring_signing(self) -> &'static ring_sig::EcdsaSigningAlgorithm {
        match self {
            Self::EcdsaP256 => &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            Self::EcdsaP384 => &ring_sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }

    fn from_curve(curve: &ObjectIdentifier) -> Result<Self> {
        match *curve {
            SECP256R1 => Ok(Self::EcdsaP256),
            SECP384R1 => Ok(Self::EcdsaP384),
            other => Err(Error::UnsupportedKey(format!(
                "EC curve {other}: tsca signs with P-256 or P-384"
            ))),
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.to_ascii_uppercase().as_str() {
            "P-256" | "P256" | "ES256" => Ok(Self::EcdsaP256),
            "P-384" | "P384" | "ES384" => Ok(Self::EcdsaP384),
            _ => Err(Error::UnsupportedKey(format!(
                "{text:?}: choose P-256 or P-384"
            ))),
        }
    }
}

/// Something that signs: a software key today, an HSM key later.
///
/// `sign` returns the signature as it goes in the `signatureValue` BIT STRING (for ECDSA the
/// DER `Ecdsa-Sig-Value`), over the exact bytes given.
pub trait Signer: Send + Sync {
    /// The algorithm, which fixes the `signatureAlgorithm` identifier.
    fn algorithm(&self) -> KeyAlgorithm;
    /// The public key, as it goes in a certificate.
    fn public_key(&self) -> &SubjectPublicKeyInfoOwned;
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// The SPKI of an uncompressed EC point on the algorithm's curve.
pub fn ec_spki(algorithm: KeyAlgorithm, point: &[u8]) -> Result<SubjectPublicKeyInfoOwned> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(
                der::Any::encode_from(&algorithm.curve())
                    .map_err(Error::encode("EC parameters"))?,
            ),
        },
        subject_public_key: BitString::from_bytes(point).map_err(Error::encode("EC point"))?,
    })
}

/// A private key in memory (ECDSA P-256 or P-384), signing with ring.
pub struct SoftwareKey {
    algorithm: KeyAlgorithm,
    key_pair: EcdsaKeyPair,
    spki: SubjectPublicKeyInfoOwned,
    pkcs8: Zeroizing<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareKey {
    // Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Generates a fresh key from the operating system's CSPRNG.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(algorithm.ring_signing(), &rng)
            .map_err(|_| Error::Key(format!("cannot generate a {} key", algorithm.name())))?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    /// Loads an unencrypted PKCS#8 DER private key (the curve is read from the key).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = PrivateKeyInfo::try_from(der)
            .map_err(|_| Error::Key("not a PKCS#8 private key".into()))?;
        if info.algorithm.oid != ID_EC_PUBLIC_KEY {
            return Err(Error::UnsupportedKey(format!(
                "private key algorithm {}: tsca signs with ECDSA P-256 or P-384",
                info.algorithm.oid
            )));
        }
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|_| Error::Key("EC private key without a named curve".into()))?;
        let algorithm = KeyAlgorithm::from_curve(&curve)?;
        let rng = SystemRandom::new();
        let key_pair = EcdsaKeyPair::from_pkcs8(algorithm.ring_signing(), der, &rng)
            .map_err(|e| Error::Key(format!("cannot load the {} key: {e}", algorithm.name())))?;
        let spki = ec_spki(algorithm, key_pair.public_key().as_ref())?;
        Ok(Self {
            algorithm,
            key_pair,
            spki,
            pkcs8: Zeroizing::new(der.to_vec()),
            rng,
        })
    }

    /// Loads an unencrypted PKCS#8 PEM private key (`BEGIN PRIVATE KEY`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|_| Error::Key("not a PEM private key".into()))?;
        if label != "PRIVATE KEY" {
            return Err(Error::Key(format!(
                "expected a PEM PRIVATE KEY, found {label}: an encrypted key needs its passphrase"
            )));
        }
        let der = Zeroizing::new(der);
        Self::from_pkcs8_der(&der)
    }

    /// The unencrypted PKCS#8 PEM. Handle with care: for tests and sample output only.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &self.pkcs8)
            .map(Zeroizing::new)
            .map_err(|e| Error::Key(format!("cannot PEM-encode the key: {e}")))
    }

    /// The key encrypted at rest: PKCS#8 `EncryptedPrivateKeyInfo` with PBES2
    /// (PBKDF2-HMAC-SHA256, [`PBKDF2_ITERATIONS`], AES-256-CBC), as PEM
    /// (`BEGIN ENCRYPTED PRIVATE KEY`). Salt and IV come from `rng`.
    pub fn to_encrypted_pem(
        &self,
        passphrase: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<String> {
        self.to_encrypted_pem_with_iterations(passphrase, rng, PBKDF2_ITERATIONS)
    }

    /// As [`Self::to_encrypted_pem`] with a chosen PBKDF2 iteration count (tests use fewer).
    pub fn to_encrypted_pem_with_iterations(
        &self,
        passphrase: &[u8],
        rng: &mut impl CryptoRngCore,
        iterations: u32,
    ) -> Result<String> {
        if passphrase.is_empty() {
            return Err(Error::Key(
                "refusing to encrypt with an empty passphrase".into(),
            ));
        }
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
            .map_err(|e| Error::Key(format!("PBES2 parameters: {e}")))?;
        let info = PrivateKeyInfo::try_from(self.pkcs8.as_slice())
            .map_err(|e| Error::Key(format!("PKCS#8: {e}")))?;
        let doc = info
            .encrypt_with_params(params, passphrase)
            .map_err(|e| Error::Key(format!("cannot encrypt the key: {e}")))?;
        der::pem::encode_string(
            "ENCRYPTED PRIVATE KEY",
            der::pem::LineEnding::LF,
            doc.as_bytes(),
        )
        .map_err(|e| Error::Key(format!("cannot PEM-encode the key: {e}")))
    }

    /// Loads a key written by [`Self::to_encrypted_pem`] (or `openssl pkcs8 -topk8 -v2
    /// aes-256-cbc`). A wrong passphrase gives an error that says so, never key material.
    pub fn from_encrypted_pem(pem: &str, passphrase: &[u8]) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|_| Error::Key("not a PEM private key".into()))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(Error::Key(format!(
                "expected a PEM ENCRYPTED PRIVATE KEY, found {label}"
            )));
        }
        let info = EncryptedPrivateKeyInfo::from_der(&der)
            .map_err(|_| Error::Key("malformed encrypted private key".into()))?;
        let doc = info.decrypt(passphrase).map_err(|_| {
            Error::Key("cannot decrypt the private key: wrong passphrase or damaged file".into())
        })?;
        Self::from_pkcs8_der(doc.as_bytes())
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.key_pair
            .sign(&self.rng, message)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| Error::Signing(format!("{} signing failed", self.algorithm.name())))
    }
}

/// The DER of a signer's public key, as `SubjectPublicKeyInfo`.
pub fn spki_der(spki: &SubjectPublicKeyInfoOwned) -> Result<Vec<u8>> {
    spki.to_der().map_err(Error::encode("public key"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn generated_keys_sign_and_verify_with_ring() {
        for (alg, verify) in [
            (KeyAlgorithm::EcdsaP256, &ring_sig::ECDSA_P256_SHA256_ASN1),
            (KeyAlgorithm::EcdsaP384, &ring_sig::ECDSA_P384_SHA384_ASN1),
        ] {
            let key = SoftwareKey::generate(alg).unwrap();
            let sig = key.sign(b"signalling").unwrap();
            let point = key.public_key().subject_public_key.raw_bytes();
            ring_sig::UnparsedPublicKey::new(verify, point)
                .verify(b"signalling", &sig)
                .unwrap();
            let params = key.public_key().algorithm.parameters.as_ref().unwrap();
            assert_eq!(params.decode_as::<ObjectIdentifier>().unwrap(), alg.curve());
        }
    }

    #[test]
    fn encrypted_pkcs8_round_trips_and_refuses_a_wrong_passphrase() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let pem = key
            .to_encrypted_pem_with_iterations(b"correct horse", &mut OsRng, 1000)
            .unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = SoftwareKey::from_encrypted_pem(&pem, b"correct horse").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let err = SoftwareKey::from_encrypted_pem(&pem, b"wrong").unwrap_err();
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
        assert!(key.to_encrypted_pem(b"", &mut OsRng).is_err());
        // The plain PEM loader points at the passphrase instead of failing obscurely.
        let err = SoftwareKey::from_pkcs8_pem(&pem).unwrap_err();
        assert!(err.to_string().contains("passphrase"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let text = format!("{key:?}");
        assert_eq!(text, "SoftwareKey { algorithm: EcdsaP256, .. }");
    }

    #[test]
    fn algorithm_names_parse() {
        assert_eq!(
            "p-256".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert_eq!(
            "ES384".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::EcdsaP384
        );
        assert!("ed25519".parse::<KeyAlgorithm>().is_err());
    }
}
