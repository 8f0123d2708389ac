//! The one error type of ca-core. Every variant says what went wrong with which input, so a
//! caller (the registry, the CLI) can turn it into a message that tells the user what to do.

use crate::numbering::{NumberingError, NumberingResource};

/// Everything that can go wrong in ca-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A numbering resource could not be parsed.
    #[error(transparent)]
    Numbering(#[from] NumberingError),

    /// The requested scope reaches outside what the issuer may delegate. Nothing was signed.
    #[error("requested numbering scope is not inside the issuer's scope: {} not covered by [{allowed}]", list(.not_covered))]
    NotInIssuerScope {
        /// The requested entries the issuer does not cover.
        not_covered: Vec<NumberingResource>,
        /// The issuer's scope, as text.
        allowed: String,
    },

    /// DER or PEM input could not be decoded.
    #[error("cannot decode {what}: {source}")]
    Decode {
        /// What was being decoded ("certificate", "CSR", "OCSP request", …).
        what: &'static str,
        /// The decoder's error.
        source: der::Error,
    },

    /// A structure could not be encoded (an internal invariant failed, e.g. a value too long).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        source: der::Error,
    },

    /// A key type or curve that tsca does not accept.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),

    /// A key that is too weak (e.g. RSA below 2048 bits).
    #[error("weak key: {0}")]
    WeakKey(String),

    /// A signature algorithm that tsca does not accept (e.g. SHA-1, or unknown).
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),

    /// A signature did not verify.
    #[error("bad signature on {what}")]
    BadSignature {
        /// What was signed ("CSR", "certificate CN=…", …).
        what: String,
    },

    /// A private key could not be loaded, generated or decrypted (never holds key material).
    #[error("private key: {0}")]
    Key(String),

    /// The signer failed to produce a signature.
    #[error("signing failed: {0}")]
    Signing(String),

    /// A to-be-signed certificate broke its profile; nothing was signed.
    #[error("certificate profile {profile} violated: {}", .problems.join("; "))]
    ProfileViolation {
        /// The profile name.
        profile: &'static str,
        /// Every rule broken, in words.
        problems: Vec<String>,
    },

    /// An issuance request that cannot be served as given (e.g. bad validity).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A PKCS#10 request that is malformed or breaks policy.
    #[error("CSR rejected: {0}")]
    Csr(String),

    /// Path validation failed: the message says at which certificate and why.
    #[error("path validation failed at certificate {index} ({subject}): {reason}")]
    Path {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// The certificate's subject, for humans.
        subject: String,
        /// What failed.
        reason: String,
    },

    /// An OCSP request that is malformed (RFC 6960 `malformedRequest`).
    #[error("malformed OCSP request: {0}")]
    OcspMalformed(String),

    /// An OCSP request with a CertID hash algorithm we do not answer for.
    #[error("unsupported OCSP CertID hash algorithm {0}: use SHA-1 or SHA-256")]
    OcspUnsupportedHash(String),

    /// An OCSP response that does not decode as tsca writes them, or contradicts itself
    /// (used when reading responses back: tests, the store, a responder warming its cache).
    #[error("invalid OCSP response: {0}")]
    OcspResponse(String),
}

fn list(entries: &[NumberingResource]) -> String {
    entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// Wraps a decode error with what was being decoded.
    pub fn decode(what: &'static str) -> impl FnOnce(der::Error) -> Error {
        move |source| Error::Decode { what, source }
    }

    /// Wraps an encode error with what was being encoded.
    pub fn encode(what: &'static str) -> impl FnOnce(der::Error) -> Error {
        move |source| Error::Encode { what, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
