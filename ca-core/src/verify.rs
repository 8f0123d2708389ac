//! Signature verification and the public-key policy, shared by CSR checking ([`crate::csr`])
//! and path validation.
//!
//! Two questions, answered once for the whole crate:
//! - **Which public keys does tsca accept?** [`classify_public_key`] parses a
//!   `SubjectPublicKeyInfo` into a [`PublicKeyKind`] or says why not: ECDSA on the named
//!   curves P-256 or P-384 (RFC 5480), or RSA (`rsaEncryption`, RFC 3279) of 2048 to 4096 bits
//!   with public exponent 65537. Everything else (Ed25519, DSA, other curves, small or odd
//!   exponents) is refused with a message naming what was found and what is accepted.
//! - **Does this signature verify?** [`verify_signature`] maps the `AlgorithmIdentifier` of a
//!   signature onto ring's verification algorithms: ECDSA with SHA-256/384 (RFC 5758), RSA
//!   PKCS#1 v1.5 with SHA-256/384/512 and RSASSA-PSS with SHA-256/384/512 (RFC 4055), PSS
//!   only with MGF1 over the same hash and a salt as long as the hash. SHA-1, MD5 and anything
//!   unknown are refused.
//!
//! ```text
//! SubjectPublicKeyInfo  ::=  SEQUENCE  {                       -- RFC 5280 §4.1
//!      algorithm            AlgorithmIdentifier,
//!      subjectPublicKey     BIT STRING  }
//!
//! RSAPublicKey ::= SEQUENCE {                                   -- RFC 8017 A.1.1
//!      modulus           INTEGER,  -- n
//!      publicExponent    INTEGER   -- e }
//!
//! RSASSA-PSS-params ::= SEQUENCE {                              -- RFC 8017 A.2.3
//!      hashAlgorithm      [0] HashAlgorithm      DEFAULT sha1,
//!      maskGenAlgorithm   [1] MaskGenAlgorithm   DEFAULT mgf1SHA1,
//!      saltLength         [2] INTEGER            DEFAULT 20,
//!      trailerField       [3] TrailerField       DEFAULT trailerFieldBC }
//! ```

use std::fmt;

use const_oid::db::{rfc5912, rfc8410};
use der::{Decode, Sequence};
use ring::signature::{self as ring_sig, VerificationAlgorithm};
use spki::SubjectPublicKeyInfoOwned;
use spki::{AlgorithmIdentifierOwned, AlgorithmIdentifierRef, ObjectIdentifier};

use crate::error::{Error, Result};
use crate::keys::{ID_EC_PUBLIC_KEY, SECP256R1, SECP384R1};

/// The smallest RSA modulus tsca accepts, in bits.
pub const RSA_MIN_BITS: u32 = 2048;
/// The largest RSA modulus tsca accepts, in bits.
pub const RSA_MAX_BITS: u32 = 4096;
/// The only RSA public exponent tsca accepts (F4).
pub const RSA_EXPONENT: u64 = 65_537;

/// What every refusal of a key says is accepted instead.
const ACCEPTED_KEYS: &str =
    "tsca accepts ECDSA keys on P-256 or P-384, or RSA keys of 2048 to 4096 bits with exponent 65537";
/// What every refusal of a signature algorithm says is accepted instead.
const ACCEPTED_ALGORITHMS: &str = "tsca accepts ecdsa-with-SHA256, ecdsa-with-SHA384, \
     sha256/384/512WithRSAEncryption, or RSASSA-PSS with SHA-256/384/512, MGF1 with the same \
     hash and a salt as long as the hash";

/// `secp256k1` (SEC 2), named in messages only: const-oid's database does not know it.
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
/// `ecdsa-with-SHA1` (RFC 3279), named in messages only.
const ECDSA_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

/// A public key that passed tsca's key policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublicKeyKind {
    /// ECDSA on P-256 (secp256r1), a valid uncompressed point.
    EcP256,
    /// ECDSA on P-384 (secp384r1), a valid uncompressed point.
    EcP384,
    /// RSA (`rsaEncryption`), exponent 65537.
    Rsa {
        /// The modulus length in bits, [`RSA_MIN_BITS`]..=[`RSA_MAX_BITS`].
        bits: u32,
    },
}

impl fmt::Display for PublicKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcP256 => f.write_str("ECDSA P-256"),
            Self::EcP384 => f.write_str("ECDSA P-384"),
            Self::Rsa { bits } => write!(f, "RSA {bits}"),
        }
    }
}

/// Applies tsca's key policy to a `SubjectPublicKeyInfo`.
///
/// - EC (`id-ecPublicKey`): the parameters must be a named curve, P-256 or P-384, and the key
///   an uncompressed point of the curve's length that lies on the curve.
/// - RSA (`rsaEncryption` with NULL parameters): 2048 to 4096 bits, exponent 65537. A smaller
///   modulus or exponent is a [`Error::WeakKey`]; a larger modulus, an even or other exponent
///   is an [`Error::UnsupportedKey`].
/// - Anything else (Ed25519, Ed448, DSA, `id-RSASSA-PSS` keys, other curves) is an
///   [`Error::UnsupportedKey`] naming the algorithm or curve.
///
/// The on-curve check runs an ECDH with a throwaway ephemeral key (ring validates the peer's
/// point there and exposes no other way to do it); the shared secret is discarded, so the
/// result is deterministic even though the check draws randomness.
pub fn classify_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyKind> {
    let oid = spki.algorithm.oid;
    match oid {
        ID_EC_PUBLIC_KEY => classify_ec(spki),
        rfc5912::RSA_ENCRYPTION => classify_rsa(spki),
        rfc5912::ID_RSASSA_PSS => Err(Error::UnsupportedKey(format!(
            "{}: keys restricted to RSASSA-PSS are not accepted; use an ordinary RSA key \
             (rsaEncryption), which may still sign with PSS; {ACCEPTED_KEYS}",
            oid_text(&oid)
        ))),
        _ => Err(Error::UnsupportedKey(format!(
            "{} keys are not accepted: {ACCEPTED_KEYS}",
            oid_text(&oid)
        ))),
    }
}

fn classify_ec(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyKind> {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| {
            Error::UnsupportedKey(format!(
                "EC key without a named curve (explicit or implicit curve parameters): \
                 {ACCEPTED_KEYS}, given by name"
            ))
        })?;
    let (kind, name, point_len, agreement) = match curve {
        SECP256R1 => (
            PublicKeyKind::EcP256,
            "P-256",
            65,
            &ring::agreement::ECDH_P256,
        ),
        SECP384R1 => (
            PublicKeyKind::EcP384,
            "P-384",
            97,
            &ring::agreement::ECDH_P384,
        ),
        other => {
            return Err(Error::UnsupportedKey(format!(
                "EC curve {} is not accepted: {ACCEPTED_KEYS}",
                oid_text(&other)
            )))
        }
    };
    let point = spki.subject_public_key.as_bytes().ok_or_else(|| {
        Error::UnsupportedKey(format!("{name} public key: BIT STRING with unused bits"))
    })?;
    match point.first() {
        Some(0x04) => {}
        Some(0x02 | 0x03) => {
            return Err(Error::UnsupportedKey(format!(
                "{name} public key is a compressed point: tsca needs the uncompressed form \
                 (0x04, X, Y), e.g. `openssl ec -conv_form uncompressed`"
            )))
        }
        _ => {
            return Err(Error::UnsupportedKey(format!(
                "{name} public key is not an uncompressed EC point (it must start with 0x04)"
            )))
        }
    }
    if point.len() != point_len {
        return Err(Error::UnsupportedKey(format!(
            "{name} public key of {} octets: an uncompressed {name} point has {point_len}",
            point.len()
        )));
    }
    point_on_curve(agreement, point).map_err(|()| {
        Error::UnsupportedKey(format!(
            "{name} public key is not a point on the {name} curve: the key is damaged"
        ))
    })?;
    Ok(kind)
}

/// ring checks a peer's point (on the curve, not the identity) before any ECDH; that is the
/// only public entry to its point validation.
fn point_on_curve(algorithm: &'static ring::agreement::Algorithm, point: &[u8]) -> Result<(), ()> {
    let rng = ring::rand::SystemRandom::new();
    let ephemeral =
        ring::agreement::EphemeralPrivateKey::generate(algorithm, &rng).map_err(|_| ())?;
    let peer = ring::agreement::UnparsedPublicKey::new(algorithm, point);
    ring::agreement::agree_ephemeral(ephemeral, &peer, |_| ()).map_err(|_| ())
}

fn classify_rsa(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyKind> {
    if !spki
        .algorithm
        .parameters
        .as_ref()
        .is_some_and(|p| p.is_null())
    {
        return Err(Error::UnsupportedKey(
            "rsaEncryption key whose parameters are not NULL (RFC 3279 §2.3.1 requires NULL)"
                .into(),
        ));
    }
    let der = spki.subject_public_key.as_bytes().ok_or_else(|| {
        Error::UnsupportedKey("RSA public key: BIT STRING with unused bits".into())
    })?;
    let key = pkcs1::RsaPublicKey::from_der(der).map_err(Error::decode("RSA public key"))?;
    let bits = bit_length(key.modulus.as_bytes());
    if bits < RSA_MIN_BITS {
        return Err(Error::WeakKey(format!(
            "RSA key of {bits} bits: the minimum is {RSA_MIN_BITS} bits; generate a new key of \
             2048 to 4096 bits (or ECDSA P-256)"
        )));
    }
    if bits > RSA_MAX_BITS {
        return Err(Error::UnsupportedKey(format!(
            "RSA key of {bits} bits: the maximum is {RSA_MAX_BITS} bits; {ACCEPTED_KEYS}"
        )));
    }
    let exponent = key.public_exponent.as_bytes();
    let exponent_text = if exponent.len() <= 8 {
        let value = exponent
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if value == RSA_EXPONENT {
            return Ok(PublicKeyKind::Rsa { bits });
        }
        if value % 2 == 1 && value < RSA_EXPONENT {
            return Err(Error::WeakKey(format!(
                "RSA public exponent {value} is too small: tsca requires exponent 65537; \
                 generate a new key (openssl uses 65537 by default)"
            )));
        }
        value.to_string()
    } else {
        format!("0x{}", hex::encode(exponent))
    };
    let odd = exponent.last().is_some_and(|b| b & 1 == 1);
    Err(Error::UnsupportedKey(format!(
        "RSA public exponent {exponent_text} is {}: tsca accepts only exponent 65537; generate a new key",
        if odd { "not 65537" } else { "even, which is not a valid RSA key" }
    )))
}

/// The length in bits of a big-endian unsigned integer, leading zero octets ignored.
fn bit_length(bytes: &[u8]) -> u32 {
    let bytes = match bytes.iter().position(|&b| b != 0) {
        Some(first) => &bytes[first..],
        None => return 0,
    };
    // At most 4096-bit keys get here in practice, but a hostile length must not overflow.
    let whole = u32::try_from(bytes.len() - 1).unwrap_or(u32::MAX / 16);
    whole.saturating_mul(8) + (8 - bytes[0].leading_zeros())
}

/// A hash function that tsca accepts in signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            rfc5912::ID_SHA_256 => Some(Self::Sha256),
            rfc5912::ID_SHA_384 => Some(Self::Sha384),
            rfc5912::ID_SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn len(self) -> u32 {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// A signature algorithm that tsca accepts, parsed from its `AlgorithmIdentifier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    RsaPss(Hash),
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ecdsa(h) => write!(f, "ECDSA with {}", h.name()),
            Self::RsaPkcs1(h) => write!(f, "RSA PKCS#1 v1.5 with {}", h.name()),
            Self::RsaPss(h) => write!(f, "RSASSA-PSS with {}", h.name()),
        }
    }
}

/// RSASSA-PSS-params (RFC 8017 A.2.3) with the defaults left to the caller, and the salt length
/// read as a full INTEGER: `pkcs1::RsaPssParams` holds it in a `u8`, which cannot even decode
/// OpenSSL 3.0's default (the maximum salt, 350 octets for RSA-3072 with SHA-256), and we want
/// to say *that* salt is the problem.
#[derive(Sequence)]
struct PssParams<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierRef<'a>>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

fn unsupported_algorithm(oid: &ObjectIdentifier, why: &str) -> Error {
    Error::UnsupportedSignatureAlgorithm(format!("{} {why}", oid_text(oid)))
}

/// A hash `AlgorithmIdentifier` inside PSS parameters: SHA-256/384/512, parameters NULL or
/// absent (RFC 4055 §2.1 requires accepting both).
fn pss_hash(ai: &AlgorithmIdentifierRef<'_>, role: &str) -> Result<Hash> {
    let params_ok = ai.parameters.is_none_or(|p| p.is_null());
    match Hash::from_oid(&ai.oid) {
        Some(hash) if params_ok => Ok(hash),
        Some(hash) => Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS {role} {} with parameters other than NULL",
            hash.name()
        ))),
        None if ai.oid == rfc5912::ID_SHA_1 => Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with {role} SHA-1, which is broken for signatures: sign again with \
             SHA-256; {ACCEPTED_ALGORITHMS}"
        ))),
        None => Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with {role} {}: {ACCEPTED_ALGORITHMS}",
            oid_text(&ai.oid)
        ))),
    }
}

fn parse_pss(algorithm: &AlgorithmIdentifierOwned) -> Result<Hash> {
    let oid = &algorithm.oid;
    let params = algorithm.parameters.as_ref().ok_or_else(|| {
        unsupported_algorithm(
            oid,
            "without parameters: RSASSA-PSS needs RSASSA-PSS-params",
        )
    })?;
    let params: PssParams<'_> = params.decode_as().map_err(|e| {
        unsupported_algorithm(oid, &format!("with malformed RSASSA-PSS-params ({e})"))
    })?;
    let Some(hash_ai) = params.hash else {
        return Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with the default hash SHA-1: SHA-1 is broken for signatures; sign again \
             with SHA-256 (`openssl req -sha256 -sigopt rsa_padding_mode:pss \
             -sigopt rsa_pss_saltlen:digest`); {ACCEPTED_ALGORITHMS}"
        )));
    };
    let hash = pss_hash(&hash_ai, "hash")?;
    let mgf = params.mask_gen.ok_or_else(|| {
        Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with {} and the default mask generation MGF1 with SHA-1: MGF1 must use \
             the same hash as the signature",
            hash.name()
        ))
    })?;
    if mgf.oid != rfc5912::ID_MGF_1 {
        return Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with mask generation function {}: only MGF1 is accepted",
            oid_text(&mgf.oid)
        )));
    }
    let mgf_hash: AlgorithmIdentifierRef<'_> = mgf
        .parameters
        .ok_or_else(|| {
            Error::UnsupportedSignatureAlgorithm("RSASSA-PSS MGF1 without its hash".into())
        })?
        .decode_as()
        .map_err(|e| {
            Error::UnsupportedSignatureAlgorithm(format!(
                "RSASSA-PSS MGF1 with a malformed hash algorithm ({e})"
            ))
        })?;
    let mgf_hash = pss_hash(&mgf_hash, "MGF1 hash")?;
    if mgf_hash != hash {
        return Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with hash {} but MGF1 with {}: MGF1 must use the same hash \
             (`-sigopt rsa_mgf1_md:{}`)",
            hash.name(),
            mgf_hash.name(),
            hash.name().replace('-', "").to_lowercase()
        )));
    }
    let salt = params.salt_len.unwrap_or(20);
    if salt != hash.len() {
        return Err(Error::UnsupportedSignatureAlgorithm(format!(
            "RSASSA-PSS with {} and a salt of {salt} octets: tsca requires the salt to be as long \
             as the hash ({} octets); sign again with `-sigopt rsa_pss_saltlen:digest` \
             (OpenSSL's default is the maximum salt)",
            hash.name(),
            hash.len()
        )));
    }
    if params.trailer_field.is_some_and(|t| t != 1) {
        return Err(Error::UnsupportedSignatureAlgorithm(
            "RSASSA-PSS with a trailer field other than trailerFieldBC (1)".into(),
        ));
    }
    Ok(hash)
}

fn parse_scheme(algorithm: &AlgorithmIdentifierOwned) -> Result<Scheme> {
    let oid = &algorithm.oid;
    let ecdsa = |hash| {
        if algorithm.parameters.is_some() {
            Err(unsupported_algorithm(
                oid,
                "with parameters: RFC 5758 §3.2 requires them to be absent",
            ))
        } else {
            Ok(Scheme::Ecdsa(hash))
        }
    };
    // RFC 4055 §5: NULL, and implementations must accept them absent as well.
    let pkcs1 = |hash| {
        if algorithm.parameters.as_ref().is_none_or(|p| p.is_null()) {
            Ok(Scheme::RsaPkcs1(hash))
        } else {
            Err(unsupported_algorithm(
                oid,
                "with parameters other than NULL",
            ))
        }
    };
    match *oid {
        rfc5912::ECDSA_WITH_SHA_256 => ecdsa(Hash::Sha256),
        rfc5912::ECDSA_WITH_SHA_384 => ecdsa(Hash::Sha384),
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => pkcs1(Hash::Sha256),
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => pkcs1(Hash::Sha384),
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => pkcs1(Hash::Sha512),
        rfc5912::ID_RSASSA_PSS => parse_pss(algorithm).map(Scheme::RsaPss),
        rfc5912::SHA_1_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA1 | rfc5912::DSA_WITH_SHA_1 => {
            Err(unsupported_algorithm(
                oid,
                &format!(
                    "uses SHA-1, which is broken for signatures: sign again with SHA-256 \
                     (e.g. `openssl req -sha256`); {ACCEPTED_ALGORITHMS}"
                ),
            ))
        }
        rfc5912::MD_5_WITH_RSA_ENCRYPTION | rfc5912::MD_2_WITH_RSA_ENCRYPTION => {
            Err(unsupported_algorithm(
                oid,
                &format!(
                    "uses a broken hash: sign again with SHA-256 (e.g. `openssl req -sha256`); \
                     {ACCEPTED_ALGORITHMS}"
                ),
            ))
        }
        _ => Err(unsupported_algorithm(
            oid,
            &format!("is not accepted: {ACCEPTED_ALGORITHMS}"),
        )),
    }
}

/// Verifies `signature` over `message` with `public_key`, under the signature algorithm
/// `algorithm` (the `signatureAlgorithm` of a CSR, certificate, CRL or OCSP response).
///
/// The key first goes through [`classify_public_key`], so a key tsca refuses never verifies
/// anything. Errors: [`Error::UnsupportedKey`] / [`Error::WeakKey`] for the key,
/// [`Error::UnsupportedSignatureAlgorithm`] for the algorithm or an algorithm that does not
/// fit the key (ECDSA with an RSA key, ECDSA with SHA-512), [`Error::BadSignature`] naming
/// `what` when the signature itself does not verify.
pub fn verify_signature(
    algorithm: &AlgorithmIdentifierOwned,
    public_key: &SubjectPublicKeyInfoOwned,
    message: &[u8],
    signature: &[u8],
    what: &str,
) -> Result<()> {
    let kind = classify_public_key(public_key)?;
    let scheme = parse_scheme(algorithm)?;
    let ring_algorithm: &'static dyn VerificationAlgorithm = match (scheme, kind) {
        (Scheme::Ecdsa(Hash::Sha256), PublicKeyKind::EcP256) => &ring_sig::ECDSA_P256_SHA256_ASN1,
        (Scheme::Ecdsa(Hash::Sha384), PublicKeyKind::EcP256) => &ring_sig::ECDSA_P256_SHA384_ASN1,
        (Scheme::Ecdsa(Hash::Sha256), PublicKeyKind::EcP384) => &ring_sig::ECDSA_P384_SHA256_ASN1,
        (Scheme::Ecdsa(Hash::Sha384), PublicKeyKind::EcP384) => &ring_sig::ECDSA_P384_SHA384_ASN1,
        (Scheme::RsaPkcs1(Hash::Sha256), PublicKeyKind::Rsa { .. }) => {
            &ring_sig::RSA_PKCS1_2048_8192_SHA256
        }
        (Scheme::RsaPkcs1(Hash::Sha384), PublicKeyKind::Rsa { .. }) => {
            &ring_sig::RSA_PKCS1_2048_8192_SHA384
        }
        (Scheme::RsaPkcs1(Hash::Sha512), PublicKeyKind::Rsa { .. }) => {
            &ring_sig::RSA_PKCS1_2048_8192_SHA512
        }
        (Scheme::RsaPss(Hash::Sha256), PublicKeyKind::Rsa { .. }) => {
            &ring_sig::RSA_PSS_2048_8192_SHA256
        }
        (Scheme::RsaPss(Hash::Sha384), PublicKeyKind::Rsa { .. }) => {
            &ring_sig::RSA_PSS_2048_8192_SHA384
        }
        (Scheme::RsaPss(Hash::Sha512), PublicKeyKind::Rsa { .. }) => {
            &ring_sig::RSA_PSS_2048_8192_SHA512
        }
        (scheme, kind) => {
            return Err(Error::UnsupportedSignatureAlgorithm(format!(
                "{} ({scheme}) does not fit the {kind} key that should verify it",
                oid_text(&algorithm.oid)
            )))
        }
    };
    // For EC keys the point, for RSA keys the DER RSAPublicKey: what ring expects in both
    // cases. classify_public_key has already refused unused bits.
    let key = public_key.subject_public_key.raw_bytes();
    ring_sig::UnparsedPublicKey::new(ring_algorithm, key)
        .verify(message, signature)
        .map_err(|_| Error::BadSignature {
            what: what.to_owned(),
        })
}

/// An OID for messages: its name where known, always its dotted form.
fn oid_text(oid: &ObjectIdentifier) -> String {
    let name = match *oid {
        SECP256K1 => Some("secp256k1"),
        ECDSA_WITH_SHA1 => Some("ecdsa-with-SHA1"),
        rfc8410::ID_ED_25519 => Some("Ed25519"),
        rfc8410::ID_ED_448 => Some("Ed448"),
        rfc5912::ID_DSA => Some("DSA"),
        _ => const_oid::db::DB.by_oid(oid),
    };
    match name {
        Some(name) => format!("{name} ({oid})"),
        None => format!("OID {oid}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::{ec_spki, KeyAlgorithm, Signer, SoftwareKey};
    use der::asn1::{BitString, UintRef};
    use der::{Any, Encode};

    fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> SubjectPublicKeyInfoOwned {
        let key = pkcs1::RsaPublicKey {
            modulus: UintRef::new(modulus).unwrap(),
            public_exponent: UintRef::new(exponent).unwrap(),
        };
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            subject_public_key: BitString::from_bytes(&key.to_der().unwrap()).unwrap(),
        }
    }

    fn modulus(bits: usize) -> Vec<u8> {
        let mut m = vec![0xff; bits.div_ceil(8)];
        if bits % 8 != 0 {
            m[0] = 0xff >> (8 - bits % 8);
        }
        m
    }

    const F4: &[u8] = &[0x01, 0x00, 0x01];

    #[test]
    fn software_keys_sign_and_verify() {
        for (key_alg, kind) in [
            (KeyAlgorithm::EcdsaP256, PublicKeyKind::EcP256),
            (KeyAlgorithm::EcdsaP384, PublicKeyKind::EcP384),
        ] {
            let key = SoftwareKey::generate(key_alg).unwrap();
            assert_eq!(classify_public_key(key.public_key()).unwrap(), kind);
            let sig = key.sign(b"IAM from +33612345678").unwrap();
            let sig_alg = key_alg.signature_algorithm();
            verify_signature(
                &sig_alg,
                key.public_key(),
                b"IAM from +33612345678",
                &sig,
                "test",
            )
            .unwrap();

            // One flipped bit in the message or in the signature.
            let err = verify_signature(
                &sig_alg,
                key.public_key(),
                b"IAM from +33612345679",
                &sig,
                "the IAM",
            )
            .unwrap_err();
            assert!(
                matches!(&err, Error::BadSignature { what } if what == "the IAM"),
                "{err}"
            );
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            let err = verify_signature(
                &sig_alg,
                key.public_key(),
                b"IAM from +33612345678",
                &bad,
                "x",
            )
            .unwrap_err();
            assert!(matches!(err, Error::BadSignature { .. }), "{err}");

            // The right key, the wrong hash in the algorithm identifier.
            let other = match key_alg {
                KeyAlgorithm::EcdsaP256 => rfc5912::ECDSA_WITH_SHA_384,
                _ => rfc5912::ECDSA_WITH_SHA_256,
            };
            let err = verify_signature(
                &alg(other),
                key.public_key(),
                b"IAM from +33612345678",
                &sig,
                "x",
            )
            .unwrap_err();
            assert!(matches!(err, Error::BadSignature { .. }), "{err}");

            // Another key of the same kind.
            let stranger = SoftwareKey::generate(key_alg).unwrap();
            let err = verify_signature(
                &sig_alg,
                stranger.public_key(),
                b"IAM from +33612345678",
                &sig,
                "x",
            )
            .unwrap_err();
            assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        }
    }

    #[test]
    fn an_algorithm_that_does_not_fit_the_key_is_refused() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sig = key.sign(b"m").unwrap();
        let err = verify_signature(
            &alg(rfc5912::SHA_256_WITH_RSA_ENCRYPTION),
            key.public_key(),
            b"m",
            &sig,
            "x",
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedSignatureAlgorithm(_)),
            "{err}"
        );
        assert!(
            err.to_string().contains("does not fit the ECDSA P-256 key"),
            "{err}"
        );

        let err = verify_signature(
            &alg(rfc5912::ECDSA_WITH_SHA_512),
            key.public_key(),
            b"m",
            &sig,
            "x",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("ecdsa-with-SHA512 (1.2.840.10045.4.3.4)"),
            "{err}"
        );
        assert!(err.to_string().contains("ecdsa-with-SHA256"), "{err}");
    }

    #[test]
    fn ecdsa_parameters_must_be_absent() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sig = key.sign(b"m").unwrap();
        let with_null = AlgorithmIdentifierOwned {
            oid: rfc5912::ECDSA_WITH_SHA_256,
            parameters: Some(Any::null()),
        };
        let err = verify_signature(&with_null, key.public_key(), b"m", &sig, "x").unwrap_err();
        assert!(err.to_string().contains("RFC 5758"), "{err}");
    }

    #[test]
    fn sha1_md5_and_unknown_algorithms_are_refused_by_name() {
        for (oid, expect) in [
            (
                rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
                "sha1WithRSAEncryption (1.2.840.113549.1.1.5) uses SHA-1",
            ),
            (
                ECDSA_WITH_SHA1,
                "ecdsa-with-SHA1 (1.2.840.10045.4.1) uses SHA-1",
            ),
            (rfc5912::MD_5_WITH_RSA_ENCRYPTION, "broken hash"),
            (
                rfc8410::ID_ED_25519,
                "Ed25519 (1.3.101.112) is not accepted",
            ),
            (
                ObjectIdentifier::new_unwrap("1.2.3.4"),
                "OID 1.2.3.4 is not accepted",
            ),
        ] {
            let err = parse_scheme(&alg(oid)).unwrap_err();
            assert!(
                matches!(err, Error::UnsupportedSignatureAlgorithm(_)),
                "{err}"
            );
            assert!(err.to_string().contains(expect), "{err}");
            assert!(err.to_string().contains("SHA-256"), "{err}");
        }
    }

    #[test]
    fn pkcs1_v15_accepts_null_or_absent_parameters() {
        let mut ai = alg(rfc5912::SHA_384_WITH_RSA_ENCRYPTION);
        assert_eq!(parse_scheme(&ai).unwrap(), Scheme::RsaPkcs1(Hash::Sha384));
        ai.parameters = Some(Any::null());
        assert_eq!(parse_scheme(&ai).unwrap(), Scheme::RsaPkcs1(Hash::Sha384));
        ai.parameters = Some(Any::encode_from(&SECP256R1).unwrap());
        assert!(parse_scheme(&ai).is_err());
    }

    /// RSASSA-PSS-params DER, built by hand: `hash` and `mgf_hash` are SHA-2 OIDs or None for
    /// the default, `salt` None for the default.
    fn pss(
        hash: Option<ObjectIdentifier>,
        mgf_hash: Option<ObjectIdentifier>,
        salt: Option<u32>,
    ) -> AlgorithmIdentifierOwned {
        fn explicit(tag: u8, inner: &[u8]) -> Vec<u8> {
            let mut out = vec![0xa0 | tag, u8::try_from(inner.len()).unwrap()];
            out.extend_from_slice(inner);
            out
        }
        let hash_ai = |oid| {
            AlgorithmIdentifierOwned {
                oid,
                parameters: Some(Any::null()),
            }
            .to_der()
            .unwrap()
        };
        let mut content = Vec::new();
        if let Some(h) = hash {
            content.extend(explicit(0, &hash_ai(h)));
        }
        if let Some(h) = mgf_hash {
            let mgf = AlgorithmIdentifierOwned {
                oid: rfc5912::ID_MGF_1,
                parameters: Some(Any::from_der(&hash_ai(h)).unwrap()),
            };
            content.extend(explicit(1, &mgf.to_der().unwrap()));
        }
        if let Some(s) = salt {
            content.extend(explicit(2, &s.to_der().unwrap()));
        }
        AlgorithmIdentifierOwned {
            oid: rfc5912::ID_RSASSA_PSS,
            parameters: Some(Any::new(der::Tag::Sequence, content).unwrap()),
        }
    }

    #[test]
    fn pss_parameters_are_checked() {
        let (s256, s384) = (rfc5912::ID_SHA_256, rfc5912::ID_SHA_384);
        assert_eq!(
            parse_scheme(&pss(Some(s256), Some(s256), Some(32))).unwrap(),
            Scheme::RsaPss(Hash::Sha256)
        );
        assert_eq!(
            parse_scheme(&pss(Some(s384), Some(s384), Some(48))).unwrap(),
            Scheme::RsaPss(Hash::Sha384)
        );
        for (ai, expect) in [
            (pss(None, None, None), "default hash SHA-1"),
            (pss(Some(s256), None, Some(32)), "MGF1 with SHA-1"),
            (
                pss(Some(s256), Some(s384), Some(32)),
                "MGF1 must use the same hash",
            ),
            (pss(Some(s256), Some(s256), None), "salt of 20 octets"),
            (pss(Some(s256), Some(s256), Some(350)), "salt of 350 octets"),
            (
                pss(Some(rfc5912::ID_SHA_1), Some(s256), Some(32)),
                "hash SHA-1, which is broken",
            ),
            (
                pss(Some(s256), Some(rfc5912::ID_SHA_1), Some(32)),
                "MGF1 hash SHA-1",
            ),
            (
                AlgorithmIdentifierOwned {
                    oid: rfc5912::ID_RSASSA_PSS,
                    parameters: None,
                },
                "without parameters",
            ),
        ] {
            let err = parse_scheme(&ai).unwrap_err();
            assert!(
                matches!(err, Error::UnsupportedSignatureAlgorithm(_)),
                "{err}"
            );
            assert!(
                err.to_string()
                    .to_lowercase()
                    .contains(&expect.to_lowercase()),
                "{err}"
            );
        }
        let err = parse_scheme(&pss(Some(s256), Some(s256), Some(350))).unwrap_err();
        assert!(err.to_string().contains("rsa_pss_saltlen:digest"), "{err}");
    }

    #[test]
    fn rsa_size_and_exponent_policy() {
        assert_eq!(
            classify_public_key(&rsa_spki(&modulus(2048), F4)).unwrap(),
            PublicKeyKind::Rsa { bits: 2048 }
        );
        assert_eq!(
            classify_public_key(&rsa_spki(&modulus(4096), F4)).unwrap(),
            PublicKeyKind::Rsa { bits: 4096 }
        );
        // A leading zero octet does not count (DER adds one when the top bit is set; here
        // UintRef strips it and re-adds it, bit_length must not count it either way).
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x00, 0x00]), 0);
        assert_eq!(bit_length(&[0x01]), 1);

        let err = classify_public_key(&rsa_spki(&modulus(2047), F4)).unwrap_err();
        assert!(matches!(err, Error::WeakKey(_)), "{err}");
        assert!(
            err.to_string().contains("2047 bits: the minimum is 2048"),
            "{err}"
        );

        let err = classify_public_key(&rsa_spki(&modulus(4097), F4)).unwrap_err();
        assert!(matches!(err, Error::UnsupportedKey(_)), "{err}");
        assert!(
            err.to_string().contains("4097 bits: the maximum is 4096"),
            "{err}"
        );

        for (e, weak, expect) in [
            (&[3u8][..], true, "exponent 3 is too small"),
            (&[17], true, "exponent 17 is too small"),
            (&[0x01, 0x00, 0x00], false, "65536 is even"),
            (&[0x01, 0x00, 0x03], false, "65539 is not 65537"),
            (&[0x01; 9], false, "0x010101010101010101"),
        ] {
            let err = classify_public_key(&rsa_spki(&modulus(2048), e)).unwrap_err();
            assert_eq!(matches!(err, Error::WeakKey(_)), weak, "{err}");
            assert!(
                matches!(err, Error::WeakKey(_) | Error::UnsupportedKey(_)),
                "{err}"
            );
            assert!(err.to_string().contains(expect), "{err}");
            assert!(err.to_string().contains("65537"), "{err}");
        }
    }

    #[test]
    fn rsa_parameters_must_be_null() {
        let mut spki = rsa_spki(&modulus(2048), F4);
        spki.algorithm.parameters = None;
        let err = classify_public_key(&spki).unwrap_err();
        assert!(err.to_string().contains("NULL"), "{err}");
    }

    #[test]
    fn ec_points_are_checked() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let point = key.public_key().subject_public_key.raw_bytes().to_vec();

        let mut compressed = vec![0x02 | (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        let err = classify_public_key(&ec_spki(KeyAlgorithm::EcdsaP256, &compressed).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("compressed point"), "{err}");

        // A P-256 point under the P-384 OID: wrong length.
        let err =
            classify_public_key(&ec_spki(KeyAlgorithm::EcdsaP384, &point).unwrap()).unwrap_err();
        assert!(err.to_string().contains("65 octets"), "{err}");

        let mut off_curve = point.clone();
        off_curve[64] ^= 1;
        let err = classify_public_key(&ec_spki(KeyAlgorithm::EcdsaP256, &off_curve).unwrap())
            .unwrap_err();
        assert!(matches!(err, Error::UnsupportedKey(_)), "{err}");
        assert!(
            err.to_string().contains("not a point on the P-256 curve"),
            "{err}"
        );

        let mut no_curve = key.public_key().clone();
        no_curve.algorithm.parameters = None;
        let err = classify_public_key(&no_curve).unwrap_err();
        assert!(err.to_string().contains("named curve"), "{err}");

        let mut k256 = key.public_key().clone();
        k256.algorithm.parameters = Some(Any::encode_from(&SECP256K1).unwrap());
        let err = classify_public_key(&k256).unwrap_err();
        assert!(
            err.to_string().contains("secp256k1 (1.3.132.0.10)"),
            "{err}"
        );
        assert!(err.to_string().contains("P-256 or P-384"), "{err}");
    }

    #[test]
    fn other_key_algorithms_are_named() {
        for (oid, name) in [
            (rfc8410::ID_ED_25519, "Ed25519 (1.3.101.112)"),
            (rfc5912::ID_DSA, "DSA (1.2.840.10040.4.1)"),
            (rfc5912::ID_RSASSA_PSS, "restricted to RSASSA-PSS"),
        ] {
            let spki = SubjectPublicKeyInfoOwned {
                algorithm: alg(oid),
                subject_public_key: BitString::from_bytes(&[0; 32]).unwrap(),
            };
            let err = classify_public_key(&spki).unwrap_err();
            assert!(matches!(err, Error::UnsupportedKey(_)), "{err}");
            assert!(err.to_string().contains(name), "{err}");
            assert!(
                err.to_string().contains("RSA keys of 2048 to 4096 bits"),
                "{err}"
            );
        }
    }
}
