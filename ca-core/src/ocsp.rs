//! OCSP encoding: CertID cache keys, request parsing, signed responses and their decoder.
//!
//! The protocol is RFC 6960 in the lightweight profile of RFC 9919 (SHA-1 and SHA-256 CertIDs,
//! a `byKey` responder ID, `nextUpdate` always present) with RFC 9654 nonces. The answers:
//! unknown issuer → `unauthorized` (RFC 6960 §2.3), known issuer but never-issued serial →
//! revoked / certificateHold / 1970-01-01 with extended-revoke (RFC 6960 §2.2, RFC 9919);
//! docs/architecture.md §13 is the fast path that this module serves:
//!
//! - [`CertIdKey`] is the responder's cache key: a fixed-size, `Copy`, hashable value with no
//!   heap, built either from a request ([`ParsedRequest::from_der`]) or from an issuer and a
//!   serial ([`IssuerHashes::cert_id`]) when a response is pre-signed.
//! - [`Responder`] holds the delegated responder certificate pre-encoded, so signing a response
//!   costs one signature plus a single-buffer DER encode ([`Responder::sign_response`]).
//! - [`error_response`] gives the unsigned error answers as constant bytes.
//! - [`parse_response`] decodes a response again (tests, the store, the warm-up path) and
//!   [`BasicResponse::verify`] checks its signature.
//!
//! Responses are encoded by hand rather than through `x509-ocsp`'s structs: building those
//! would clone every CertID into heap-owned ASN.1 values and re-encode the responder
//! certificate on every call. The tests decode every output with `x509-ocsp` and re-encode it
//! to check that our bytes are exactly the DER it would produce.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use const_oid::db::{rfc5280, rfc5912, rfc6960};
use der::asn1::{AnyRef, BitString, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence};
use ring::digest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::{CrlReason, ExtendedKeyUsage};
use x509_cert::ext::Extension as X509Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, ResponderId, ResponseData,
};

use crate::error::{Error, Result};
use crate::keys::Signer;
use crate::revocation::RevocationReason;
use crate::time::generalized_time;
use crate::x509::{Certificate, Oid};

/// RFC 9654 §2.1: responders accept nonces of 1 to 128 octets; 0 or more is `malformedRequest`.
pub const MAX_NONCE_LEN: usize = 128;

/// The longest serial number content a CertID may carry: RFC 5280 §4.1.2.2 allows 20 octets,
/// and like x509-cert we accept 21 when decoding (a 20-octet positive value with its high bit
/// set needs a leading zero octet in DER).
pub const MAX_SERIAL_LEN: usize = 21;

/// `id-pkix-ocsp-extended-revoke` (RFC 6960 §4.4.8), `1.3.6.1.5.5.7.48.1.9`.
pub const ID_PKIX_OCSP_EXTENDED_REVOKE: ObjectIdentifier = rfc6960::ID_PKIX_OCSP_EXTENDED_REVOKE;

// ---------------------------------------------------------------------------------------------
// CertID keys
// ---------------------------------------------------------------------------------------------

/// The hash algorithm of a CertID (RFC 6960 §4.1.1 `hashAlgorithm`). RFC 9919 §2.1.1 has
/// clients use SHA-1 or SHA-256, and those are the only two tsca answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum CertIdHash {
    /// `id-sha1` (1.3.14.3.2.26), 20-octet hashes.
    Sha1,
    /// `id-sha256` (2.16.840.1.101.3.4.2.1), 32-octet hashes.
    Sha256,
}

/// The DER `AlgorithmIdentifier` we write into a response's CertID, parameters NULL (as
/// openssl writes them; RFC 6960 clients compare the algorithm OID, not the parameters).
const SHA1_ALG_ID: [u8; 11] = [
    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
];
const SHA256_ALG_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
];

impl CertIdHash {
    /// Both algorithms, SHA-1 first.
    pub const ALL: [CertIdHash; 2] = [Self::Sha1, Self::Sha256];

    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => rfc5912::ID_SHA_1,
            Self::Sha256 => rfc5912::ID_SHA_256,
        }
    }

    /// The length of its hashes in octets.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The algorithm with this OID, if it is one we answer for.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            rfc5912::ID_SHA_1 => Some(Self::Sha1),
            rfc5912::ID_SHA_256 => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The name for messages (`SHA-1`, `SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
        }
    }

    fn alg_id_der(self) -> &'static [u8] {
        match self {
            Self::Sha1 => &SHA1_ALG_ID,
            Self::Sha256 => &SHA256_ALG_ID,
        }
    }

    fn digest(self, data: &[u8]) -> [u8; 32] {
        let algorithm = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
        };
        let mut out = [0u8; 32];
        let d = digest::digest(algorithm, data);
        out[..d.as_ref().len()].copy_from_slice(d.as_ref());
        out
    }
}

/// The two issuer hashes of a CertID (RFC 6960 §4.1.1), computed once per CA for both
/// algorithms:
///
/// ```text
/// issuerNameHash  OCTET STRING, -- Hash of issuer's DN
/// issuerKeyHash   OCTET STRING, -- Hash of issuer's public key
/// ```
///
/// `issuerNameHash` hashes the DER of the CA certificate's *subject* Name (the `issuer` of the
/// certificates it signs); `issuerKeyHash` hashes the value of the CA's `subjectPublicKey` BIT
/// STRING, without tag, length and unused-bits octet (not the whole SubjectPublicKeyInfo).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IssuerHashes {
    sha1_name: [u8; 32],
    sha1_key: [u8; 32],
    sha256_name: [u8; 32],
    sha256_key: [u8; 32],
}

impl fmt::Debug for IssuerHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerHashes")
            .field("sha1_name", &hex::encode(self.name_hash(CertIdHash::Sha1)))
            .field("sha1_key", &hex::encode(self.key_hash(CertIdHash::Sha1)))
            .field(
                "sha256_name",
                &hex::encode(self.name_hash(CertIdHash::Sha256)),
            )
            .field(
                "sha256_key",
                &hex::encode(self.key_hash(CertIdHash::Sha256)),
            )
            .finish()
    }
}

impl IssuerHashes {
    /// The hashes of a CA certificate.
    pub fn new(ca: &Certificate) -> Result<Self> {
        let name = ca
            .tbs_certificate
            .subject
            .to_der()
            .map_err(Error::encode("CA subject name"))?;
        let key = ca
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Ok(Self {
            sha1_name: CertIdHash::Sha1.digest(&name),
            sha1_key: CertIdHash::Sha1.digest(key),
            sha256_name: CertIdHash::Sha256.digest(&name),
            sha256_key: CertIdHash::Sha256.digest(key),
        })
    }

    /// `issuerNameHash` for `hash`.
    pub fn name_hash(&self, hash: CertIdHash) -> &[u8] {
        match hash {
            CertIdHash::Sha1 => &self.sha1_name[..20],
            CertIdHash::Sha256 => &self.sha256_name,
        }
    }

    /// `issuerKeyHash` for `hash`.
    pub fn key_hash(&self, hash: CertIdHash) -> &[u8] {
        match hash {
            CertIdHash::Sha1 => &self.sha1_key[..20],
            CertIdHash::Sha256 => &self.sha256_key,
        }
    }

    /// The CertID key of the certificate with `serial` issued by this CA.
    pub fn cert_id(&self, hash: CertIdHash, serial: &SerialNumber) -> Result<CertIdKey> {
        CertIdKey::new(
            hash,
            self.name_hash(hash),
            self.key_hash(hash),
            serial.as_bytes(),
        )
    }

    /// Whether `key` names this CA as issuer (both hashes match, whatever the algorithm).
    /// The responder uses it to tell an unknown issuer (`unauthorized`) from an unknown serial.
    pub fn issued(&self, key: &CertIdKey) -> bool {
        key.issuer_name_hash() == self.name_hash(key.hash)
            && key.issuer_key_hash() == self.key_hash(key.hash)
    }
}

/// A CertID (RFC 6960 §4.1.1) as the responder's cache key:
///
/// ```text
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
///
/// Layout: fixed arrays and no heap, 87 bytes, `Copy`. The serial (the DER INTEGER content
/// octets, up to [`MAX_SERIAL_LEN`]) comes first because it is what differs between keys, so
/// equality usually fails on the first bytes compared. SHA-1 hashes sit in the first 20 octets
/// of their 32-octet arrays, the rest zero, so derived `Eq` and `Hash` are exact. The
/// algorithm parameters (absent or NULL) are not part of the key: both spellings name the same
/// certificate and get the same answer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertIdKey {
    serial_len: u8,
    serial: [u8; MAX_SERIAL_LEN],
    hash: CertIdHash,
    issuer_name_hash: [u8; 32],
    issuer_key_hash: [u8; 32],
}

impl fmt::Debug for CertIdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CertIdKey({}, name {}, key {}, serial {})",
            self.hash.name(),
            hex::encode(self.issuer_name_hash()),
            hex::encode(self.issuer_key_hash()),
            hex::encode(self.serial())
        )
    }
}

impl CertIdKey {
    /// A key from its parts. The hashes must have the algorithm's length and `serial` must be
    /// canonical DER INTEGER content of 1 to [`MAX_SERIAL_LEN`] octets.
    pub fn new(
        hash: CertIdHash,
        issuer_name_hash: &[u8],
        issuer_key_hash: &[u8],
        serial: &[u8],
    ) -> Result<Self> {
        Self::build(hash, issuer_name_hash, issuer_key_hash, serial).map_err(Error::InvalidRequest)
    }

    fn build(
        hash: CertIdHash,
        issuer_name_hash: &[u8],
        issuer_key_hash: &[u8],
        serial: &[u8],
    ) -> std::result::Result<Self, String> {
        let len = hash.output_len();
        if issuer_name_hash.len() != len || issuer_key_hash.len() != len {
            return Err(format!(
                "{} CertID needs {len}-octet hashes, got issuerNameHash of {} and issuerKeyHash of {}",
                hash.name(),
                issuer_name_hash.len(),
                issuer_key_hash.len()
            ));
        }
        let canonical = match serial {
            [] => false,
            [0x00, next, ..] => *next >= 0x80,
            [0xff, next, ..] => *next < 0x80,
            _ => true,
        };
        if !canonical || serial.len() > MAX_SERIAL_LEN {
            return Err(format!(
                "serial number {} is not a DER INTEGER of 1 to {MAX_SERIAL_LEN} octets",
                hex::encode(serial)
            ));
        }
        let mut key = Self {
            serial_len: serial.len() as u8, // ≤ MAX_SERIAL_LEN, checked above
            serial: [0; MAX_SERIAL_LEN],
            hash,
            issuer_name_hash: [0; 32],
            issuer_key_hash: [0; 32],
        };
        key.serial[..serial.len()].copy_from_slice(serial);
        key.issuer_name_hash[..len].copy_from_slice(issuer_name_hash);
        key.issuer_key_hash[..len].copy_from_slice(issuer_key_hash);
        Ok(key)
    }

    /// The key of a decoded CertID: its hash algorithm must be SHA-1 or SHA-256 with absent or
    /// NULL parameters, its hashes of that algorithm's length.
    pub fn from_cert_id(id: &CertId) -> Result<Self> {
        let alg = &id.hash_algorithm;
        let hash = CertIdHash::from_oid(&alg.oid)
            .ok_or_else(|| Error::OcspUnsupportedHash(alg.oid.to_string()))?;
        if let Some(params) = &alg.parameters {
            if params.decode_as::<Null>().is_err() {
                return Err(Error::OcspMalformed(format!(
                    "{} CertID hashAlgorithm parameters must be absent or NULL",
                    hash.name()
                )));
            }
        }
        Self::build(
            hash,
            id.issuer_name_hash.as_bytes(),
            id.issuer_key_hash.as_bytes(),
            id.serial_number.as_bytes(),
        )
        .map_err(Error::OcspMalformed)
    }

    /// The hash algorithm.
    pub fn hash(&self) -> CertIdHash {
        self.hash
    }

    /// `issuerNameHash`.
    pub fn issuer_name_hash(&self) -> &[u8] {
        &self.issuer_name_hash[..self.hash.output_len()]
    }

    /// `issuerKeyHash`.
    pub fn issuer_key_hash(&self) -> &[u8] {
        &self.issuer_key_hash[..self.hash.output_len()]
    }

    /// `serialNumber` as DER INTEGER content octets (a leading zero octet where the sign needs it).
    pub fn serial(&self) -> &[u8] {
        &self.serial[..usize::from(self.serial_len)]
    }

    /// The CertID as `x509-ocsp` models it (hash parameters NULL).
    pub fn to_cert_id(&self) -> Result<CertId> {
        let octets = |b: &[u8]| OctetString::new(b).map_err(Error::encode("CertID"));
        Ok(CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: self.hash.oid(),
                parameters: Some(Null.into()),
            },
            issuer_name_hash: octets(self.issuer_name_hash())?,
            issuer_key_hash: octets(self.issuer_key_hash())?,
            serial_number: SerialNumber::<x509_cert::certificate::Rfc5280>::from_der(
                &self.serial_tlv(),
            )
            .map_err(Error::encode("CertID serial"))?,
        })
    }

    fn serial_tlv(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.serial().len());
        put_header(&mut out, TAG_INTEGER, self.serial().len());
        out.extend_from_slice(self.serial());
        out
    }

    fn der_content_len(&self) -> usize {
        let h = self.hash.output_len();
        self.hash.alg_id_der().len() + 2 * tlv_len(h) + tlv_len(self.serial().len())
    }

    fn write_der(&self, out: &mut Vec<u8>) {
        put_header(out, TAG_SEQUENCE, self.der_content_len());
        out.extend_from_slice(self.hash.alg_id_der());
        put_header(out, TAG_OCTET_STRING, self.hash.output_len());
        out.extend_from_slice(self.issuer_name_hash());
        put_header(out, TAG_OCTET_STRING, self.hash.output_len());
        out.extend_from_slice(self.issuer_key_hash());
        put_header(out, TAG_INTEGER, self.serial().len());
        out.extend_from_slice(self.serial());
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// An OCSP request (RFC 6960 §4.1.1), checked and reduced to what the responder needs:
///
/// ```text
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
///
/// TBSRequest ::= SEQUENCE {
///     version             [0]     EXPLICIT Version DEFAULT v1,
///     requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
///     requestList                 SEQUENCE OF Request,
///     requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
///
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
///
/// The nonce is RFC 9654's: `id-pkix-ocsp-nonce` in `requestExtensions`, whose `extnValue`
/// holds the DER of `Nonce ::= OCTET STRING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    cert_ids: Vec<CertIdKey>,
    nonce: Option<Vec<u8>>,
    signed: bool,
}

impl ParsedRequest {
    /// Decodes and checks a DER request with at most `max_requests` CertIDs.
    ///
    /// Every failure is [`Error::OcspMalformed`] (answer `malformedRequest`) except a CertID
    /// hash algorithm other than SHA-1 and SHA-256, which is [`Error::OcspUnsupportedHash`].
    /// Refused: anything but exactly one DER `OCSPRequest` (trailing bytes included), an empty
    /// or too long request list, hashes of the wrong length, parameters other than absent or
    /// NULL, a nonce of 0 or more than [`MAX_NONCE_LEN`] octets or one that is not an OCTET
    /// STRING, two nonce extensions, and a critical extension we do not understand (RFC 6960
    /// §4.1.2: unrecognised extensions are ignored unless critical).
    pub fn from_der(der: &[u8], max_requests: usize) -> Result<Self> {
        let request = OcspRequest::from_der(der)
            .map_err(|e| Error::OcspMalformed(format!("not a DER OCSPRequest: {e}")))?;
        let tbs = &request.tbs_request;
        let count = tbs.request_list.len();
        if count == 0 {
            return Err(Error::OcspMalformed("the request list is empty".into()));
        }
        if count > max_requests {
            return Err(Error::OcspMalformed(format!(
                "{count} CertIDs in one request, at most {max_requests} are answered"
            )));
        }
        let mut cert_ids = Vec::with_capacity(count);
        for single in &tbs.request_list {
            if let Some(exts) = &single.single_request_extensions {
                check_critical(exts, &[rfc6960::ID_PKIX_OCSP_SERVICE_LOCATOR])?;
            }
            cert_ids.push(CertIdKey::from_cert_id(&single.req_cert)?);
        }
        let mut nonce = None;
        if let Some(exts) = &tbs.request_extensions {
            check_critical(
                exts,
                &[
                    rfc6960::ID_PKIX_OCSP_NONCE,
                    rfc6960::ID_PKIX_OCSP_RESPONSE,
                    rfc6960::ID_PKIX_OCSP_PREF_SIG_ALGS,
                ],
            )?;
            nonce = find_nonce(exts).map_err(Error::OcspMalformed)?;
        }
        Ok(Self {
            cert_ids,
            nonce,
            // A signed request is accepted, but its signature is neither required nor checked:
            // tsca answers anyone (RFC 9919 §2.1 has no request signatures) and a status answer
            // reveals nothing a signature would protect. We only note that one was there.
            signed: request.optional_signature.is_some(),
        })
    }

    /// The CertIDs, in request order (the response answers them in the same order).
    pub fn cert_ids(&self) -> &[CertIdKey] {
        &self.cert_ids
    }

    /// The RFC 9654 nonce (1 to [`MAX_NONCE_LEN`] octets), if the request had one.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }

    /// Whether the request carried a nonce: it must then be signed live, never from the cache.
    pub fn has_nonce(&self) -> bool {
        self.nonce.is_some()
    }

    /// Whether the request carried an `optionalSignature` (accepted, never verified).
    pub fn was_signed(&self) -> bool {
        self.signed
    }
}

fn check_critical(exts: &[X509Extension], understood: &[ObjectIdentifier]) -> Result<()> {
    match exts
        .iter()
        .find(|e| e.critical && !understood.contains(&e.extn_id))
    {
        Some(e) => Err(Error::OcspMalformed(format!(
            "critical extension {} is not understood",
            e.extn_id
        ))),
        None => Ok(()),
    }
}

/// The nonce of a request's or response's extensions (RFC 9654 §2.1): at most one
/// `id-pkix-ocsp-nonce`, its value a DER OCTET STRING of 1 to 128 octets.
fn find_nonce(exts: &[X509Extension]) -> std::result::Result<Option<Vec<u8>>, String> {
    let mut found = exts
        .iter()
        .filter(|e| e.extn_id == rfc6960::ID_PKIX_OCSP_NONCE);
    let Some(ext) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err("the nonce extension appears more than once".into());
    }
    let nonce = OctetString::from_der(ext.extn_value.as_bytes())
        .map_err(|e| format!("the nonce is not a DER OCTET STRING (RFC 9654 §2.1): {e}"))?
        .into_bytes();
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(format!(
            "a nonce of {} octets: RFC 9654 allows 1 to {MAX_NONCE_LEN}",
            nonce.len()
        ));
    }
    Ok(Some(nonce))
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// What a SingleResponse says about one certificate (RFC 6960 §4.2.1 `CertStatus`):
///
/// ```text
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
///
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertStatusAnswer {
    /// Issued and not revoked.
    Good,
    /// Revoked at `time` (whole seconds on the wire), with a reason unless none was recorded.
    Revoked {
        /// `revocationTime`.
        time: SystemTime,
        /// `revocationReason`.
        reason: Option<RevocationReason>,
    },
    /// The responder knows nothing about it (RFC 6960 `unknown`).
    Unknown,
    /// The issuer is ours but the serial was never issued (RFC 6960 §2.2, RFC 9919 §2.2.3): encoded
    /// as revoked, `revocationTime` 1970-01-01T00:00:00Z, reason certificateHold, and the
    /// response carries the `id-pkix-ocsp-extended-revoke` extension (RFC 6960 §4.4.8).
    NeverIssued,
}

impl CertStatusAnswer {
    /// The `RevokedInfo` this answer encodes, if it is a revocation.
    fn revoked_info(&self) -> Option<(SystemTime, Option<RevocationReason>)> {
        match *self {
            Self::Revoked { time, reason } => Some((time, reason)),
            Self::NeverIssued => Some((UNIX_EPOCH, Some(RevocationReason::CertificateHold))),
            Self::Good | Self::Unknown => None,
        }
    }

    fn der_len(&self) -> usize {
        match self.revoked_info() {
            Some((_, reason)) => tlv_len(GT_TLV_LEN + if reason.is_some() { 5 } else { 0 }),
            None => 2,
        }
    }
}

/// One answer to sign (RFC 6960 §4.2.1 `SingleResponse`, without `singleExtensions`):
///
/// ```text
/// SingleResponse ::= SEQUENCE {
///     certID                      CertID,
///     certStatus                  CertStatus,
///     thisUpdate                  GeneralizedTime,
///     nextUpdate          [0]     EXPLICIT GeneralizedTime OPTIONAL,
///     singleExtensions    [1]     EXPLICIT Extensions OPTIONAL }
/// ```
///
/// `nextUpdate` is always present (RFC 9919 §2.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleAnswer {
    /// The CertID, echoed with the request's hash algorithm.
    pub cert_id: CertIdKey,
    /// The status.
    pub status: CertStatusAnswer,
    /// `thisUpdate` (whole seconds on the wire).
    pub this_update: SystemTime,
    /// `nextUpdate` (whole seconds on the wire), not before `this_update`.
    pub next_update: SystemTime,
}

impl SingleAnswer {
    fn der_content_len(&self) -> usize {
        tlv_len(self.cert_id.der_content_len())
            + self.status.der_len()
            + GT_TLV_LEN
            + tlv_len(GT_TLV_LEN)
    }
}

/// The unsuccessful `OCSPResponseStatus` values (RFC 6960 §4.2.1), answered without
/// `responseBytes` and unsigned:
///
/// ```text
/// OCSPResponseStatus ::= ENUMERATED {
///     successful          (0),  -- Response has valid confirmations
///     malformedRequest    (1),  -- Illegal confirmation request
///     internalError       (2),  -- Internal error in issuer
///     tryLater            (3),  -- Try again later
///                               -- (4) is not used
///     sigRequired         (5),  -- Must sign the request
///     unauthorized        (6)   -- Request unauthorized
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorStatus {
    /// malformedRequest (1)
    MalformedRequest,
    /// internalError (2)
    InternalError,
    /// tryLater (3): the live-signing bound is reached (docs/architecture.md §13).
    TryLater,
    /// sigRequired (5)
    SigRequired,
    /// unauthorized (6): not an issuer this responder answers for (RFC 6960 §2.3).
    Unauthorized,
}

impl ErrorStatus {
    /// Every error status, in code order.
    pub const ALL: [ErrorStatus; 5] = [
        Self::MalformedRequest,
        Self::InternalError,
        Self::TryLater,
        Self::SigRequired,
        Self::Unauthorized,
    ];

    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            Self::MalformedRequest => 1,
            Self::InternalError => 2,
            Self::TryLater => 3,
            Self::SigRequired => 5,
            Self::Unauthorized => 6,
        }
    }

    fn from_status(status: OcspResponseStatus) -> Option<Self> {
        match status {
            OcspResponseStatus::Successful => None,
            OcspResponseStatus::MalformedRequest => Some(Self::MalformedRequest),
            OcspResponseStatus::InternalError => Some(Self::InternalError),
            OcspResponseStatus::TryLater => Some(Self::TryLater),
            OcspResponseStatus::SigRequired => Some(Self::SigRequired),
            OcspResponseStatus::Unauthorized => Some(Self::Unauthorized),
        }
    }
}

/// The complete DER `OCSPResponse` of an error status: `SEQUENCE { ENUMERATED n }`, constant.
pub fn error_response(status: ErrorStatus) -> &'static [u8] {
    match status {
        ErrorStatus::MalformedRequest => &[0x30, 0x03, 0x0a, 0x01, 0x01],
        ErrorStatus::InternalError => &[0x30, 0x03, 0x0a, 0x01, 0x02],
        ErrorStatus::TryLater => &[0x30, 0x03, 0x0a, 0x01, 0x03],
        ErrorStatus::SigRequired => &[0x30, 0x03, 0x0a, 0x01, 0x05],
        ErrorStatus::Unauthorized => &[0x30, 0x03, 0x0a, 0x01, 0x06],
    }
}

/// Signs OCSP responses for one CA with its delegated responder certificate (docs/architecture.md §13 item 6:
/// the CA key never signs OCSP).
///
/// Everything that does not change between responses is encoded once, here: the `byKey`
/// responder ID, the `signatureAlgorithm`, and the `certs` field holding the responder
/// certificate. A response then costs one signature and one buffer.
pub struct Responder {
    signer: Arc<dyn Signer>,
    key_hash: [u8; 20],
    /// `[2] EXPLICIT KeyHash`: `A2 16 04 14 <20 octets>`.
    responder_id: [u8; RESPONDER_ID_LEN],
    /// The DER `AlgorithmIdentifier` of the signer.
    signature_algorithm: Vec<u8>,
    /// `[0] EXPLICIT SEQUENCE OF Certificate` with the responder certificate.
    certs: Vec<u8>,
    certificate: Certificate,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("algorithm", &self.signer.algorithm())
            .field("key_hash", &hex::encode(self.key_hash))
            .field("subject", &self.certificate.subject_text())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A responder signing with `signer`, which must hold the key certified by
    /// `responder_cert_der`, a certificate with the `id-kp-OCSPSigning` extended key usage
    /// (RFC 6960 §4.2.2.2). That the CA issued it is the caller's to ensure (path validation).
    pub fn new(signer: Arc<dyn Signer>, responder_cert_der: &[u8]) -> Result<Self> {
        let certificate = Certificate::from_der(responder_cert_der)?;
        let tbs = &certificate.tbs_certificate;
        if &tbs.subject_public_key_info != signer.public_key() {
            return Err(Error::Key(format!(
                "the OCSP responder certificate ({}) does not certify the signer's public key",
                certificate.subject_text()
            )));
        }
        let eku = tbs
            .decode_extension::<ExtendedKeyUsage>(
                &Oid::from(rfc5280::ID_CE_EXT_KEY_USAGE),
                "extended key usage",
            )?
            .map(|(_, eku)| eku.0)
            .unwrap_or_default();
        if !eku.contains(&rfc5280::ID_KP_OCSP_SIGNING) {
            return Err(Error::InvalidRequest(format!(
                "the OCSP responder certificate ({}) lacks the id-kp-OCSPSigning extended key usage",
                certificate.subject_text()
            )));
        }

        let key_hash = sha1_20(signer.public_key().subject_public_key.raw_bytes());
        let mut responder_id = [0u8; RESPONDER_ID_LEN];
        responder_id[..4].copy_from_slice(&[0xa2, 0x16, TAG_OCTET_STRING, 0x14]);
        responder_id[4..].copy_from_slice(&key_hash);

        let signature_algorithm = signer
            .algorithm()
            .signature_algorithm()
            .to_der()
            .map_err(Error::encode("signature algorithm"))?;

        let seq_len = tlv_len(responder_cert_der.len());
        let mut certs = Vec::with_capacity(tlv_len(seq_len));
        put_header(&mut certs, TAG_CONTEXT_0, seq_len);
        put_header(&mut certs, TAG_SEQUENCE, responder_cert_der.len());
        // The certificate exactly as given: it decoded, so it is one DER Certificate.
        certs.extend_from_slice(responder_cert_der);

        Ok(Self {
            signer,
            key_hash,
            responder_id,
            signature_algorithm,
            certs,
            certificate,
        })
    }

    /// The `byKey` responder ID: SHA-1 of the responder's `subjectPublicKey` BIT STRING value.
    pub fn key_hash(&self) -> &[u8; 20] {
        &self.key_hash
    }

    /// The responder certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Signs a complete, successful DER `OCSPResponse` (RFC 6960 §4.2.1) answering `answers` in
    /// order:
    ///
    /// ```text
    /// OCSPResponse ::= SEQUENCE {
    ///     responseStatus      OCSPResponseStatus,          -- successful
    ///     responseBytes   [0] EXPLICIT ResponseBytes }
    /// ResponseBytes ::= SEQUENCE {
    ///     responseType        OBJECT IDENTIFIER,           -- id-pkix-ocsp-basic
    ///     response            OCTET STRING }               -- DER of BasicOCSPResponse
    /// BasicOCSPResponse ::= SEQUENCE {
    ///     tbsResponseData     ResponseData,
    ///     signatureAlgorithm  AlgorithmIdentifier,
    ///     signature           BIT STRING,
    ///     certs           [0] EXPLICIT SEQUENCE OF Certificate }  -- the responder's
    /// ResponseData ::= SEQUENCE {
    ///     version         [0] EXPLICIT Version DEFAULT v1, -- omitted
    ///     responderID         ResponderID,                 -- byKey [2] KeyHash
    ///     producedAt          GeneralizedTime,
    ///     responses           SEQUENCE OF SingleResponse,
    ///     responseExtensions [1] EXPLICIT Extensions OPTIONAL }
    /// ```
    ///
    /// `responseExtensions` holds the nonce when one is given (RFC 9654 §2.1, echoed as
    /// received) and `id-pkix-ocsp-extended-revoke` (value NULL, RFC 6960 §4.4.8) when an
    /// answer is [`CertStatusAnswer::NeverIssued`]; it is absent otherwise. The signature is
    /// over the exact DER of `tbsResponseData`. Times are whole seconds.
    pub fn sign_response(
        &self,
        answers: &[SingleAnswer],
        produced_at: SystemTime,
        nonce: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        // 1. Check the input and size every part, so that one buffer holds it all.
        if answers.is_empty() {
            return Err(Error::InvalidRequest(
                "an OCSP response answers at least one CertID".into(),
            ));
        }
        if let Some(n) = nonce {
            if n.is_empty() || n.len() > MAX_NONCE_LEN {
                return Err(Error::InvalidRequest(format!(
                    "cannot echo a nonce of {} octets: RFC 9654 allows 1 to {MAX_NONCE_LEN}",
                    n.len()
                )));
            }
        }
        let mut responses_len = 0;
        let mut extended_revoke = false;
        for answer in answers {
            if answer.next_update < answer.this_update {
                return Err(Error::InvalidRequest(format!(
                    "nextUpdate before thisUpdate for {:?}",
                    answer.cert_id
                )));
            }
            extended_revoke |= answer.status == CertStatusAnswer::NeverIssued;
            responses_len += tlv_len(answer.der_content_len());
        }
        let nonce_ext_len = nonce.map_or(0, |n| {
            tlv_len(NONCE_OID_TLV.len() + tlv_len(tlv_len(n.len())))
        });
        let exts_len = nonce_ext_len
            + if extended_revoke {
                EXTENDED_REVOKE_EXT.len()
            } else {
                0
            };
        let tbs_content = RESPONDER_ID_LEN
            + GT_TLV_LEN
            + tlv_len(responses_len)
            + if exts_len > 0 {
                tlv_len(tlv_len(exts_len))
            } else {
                0
            };
        let tbs_len = tlv_len(tbs_content);

        // 2. Write tbsResponseData after room for the outer headers (step 4).
        let mut out = Vec::with_capacity(
            PREFIX_ROOM
                + tbs_len
                + self.signature_algorithm.len()
                + MAX_SIGNATURE_TLV
                + self.certs.len(),
        );
        out.resize(PREFIX_ROOM, 0);
        put_header(&mut out, TAG_SEQUENCE, tbs_content);
        out.extend_from_slice(&self.responder_id);
        out.extend_from_slice(&encode_time(produced_at)?);
        put_header(&mut out, TAG_SEQUENCE, responses_len);
        for answer in answers {
            write_single(&mut out, answer)?;
        }
        if exts_len > 0 {
            put_header(&mut out, TAG_CONTEXT_1, tlv_len(exts_len));
            put_header(&mut out, TAG_SEQUENCE, exts_len);
            if let Some(n) = nonce {
                let value_len = tlv_len(n.len());
                put_header(
                    &mut out,
                    TAG_SEQUENCE,
                    NONCE_OID_TLV.len() + tlv_len(value_len),
                );
                out.extend_from_slice(&NONCE_OID_TLV);
                put_header(&mut out, TAG_OCTET_STRING, value_len);
                put_header(&mut out, TAG_OCTET_STRING, n.len());
                out.extend_from_slice(n);
            }
            if extended_revoke {
                out.extend_from_slice(&EXTENDED_REVOKE_EXT);
            }
        }
        debug_assert_eq!(out.len(), PREFIX_ROOM + tbs_len);

        // 3. Sign the exact DER of tbsResponseData, then finish BasicOCSPResponse.
        let signature = self.signer.sign(&out[PREFIX_ROOM..])?;
        out.extend_from_slice(&self.signature_algorithm);
        put_header(&mut out, TAG_BIT_STRING, signature.len() + 1);
        out.push(0); // no unused bits
        out.extend_from_slice(&signature);
        out.extend_from_slice(&self.certs);

        // 4. The outer headers, whose lengths depend on the signature's, go in front.
        let (prefix, at) = outer_headers(out.len() - PREFIX_ROOM);
        let start = PREFIX_ROOM - at;
        out[start..PREFIX_ROOM].copy_from_slice(&prefix[..at]);
        out.drain(..start);
        Ok(out)
    }
}

/// The headers in front of a BasicOCSPResponse's content of `basic_content` octets, up to and
/// including its own SEQUENCE header (`OCSPResponse`, `responseStatus successful`,
/// `[0] responseBytes`, `ResponseBytes`, `id-pkix-ocsp-basic`, the OCTET STRING, the
/// BasicOCSPResponse SEQUENCE), and how many octets of the buffer they fill.
fn outer_headers(basic_content: usize) -> ([u8; PREFIX_ROOM], usize) {
    let basic_len = tlv_len(basic_content);
    let rb_content = BASIC_OID_TLV.len() + tlv_len(basic_len);
    let rb_len = tlv_len(rb_content);
    let resp_content = SUCCESSFUL.len() + tlv_len(rb_len);
    let mut prefix = [0u8; PREFIX_ROOM];
    let mut at = 0;
    for piece in [
        Header::new(TAG_SEQUENCE, resp_content).as_bytes(),
        &SUCCESSFUL,
        Header::new(TAG_CONTEXT_0, rb_len).as_bytes(),
        Header::new(TAG_SEQUENCE, rb_content).as_bytes(),
        &BASIC_OID_TLV,
        Header::new(TAG_OCTET_STRING, basic_len).as_bytes(),
        Header::new(TAG_SEQUENCE, basic_content).as_bytes(),
    ] {
        prefix[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
    }
    (prefix, at)
}

/// A successful `OCSPResponse` taken apart into what is signed and what is not
/// ([`split_response`]); [`join_response`] puts it back together byte for byte.
///
/// A responder cache holds millions of responses, all carrying the same few responder
/// certificates in their `certs` field (about 1 KB each, outside the signature). Holding the
/// signed part per response and the `certs` field once per responder certificate divides the
/// cache's memory by four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseParts<'a> {
    /// `tbsResponseData`, `signatureAlgorithm` and `signature`: the three TLVs, in order.
    pub signed: &'a [u8],
    /// The `[0] EXPLICIT SEQUENCE OF Certificate` TLV, or empty when the response has none.
    pub certs: &'a [u8],
}

/// Splits a DER successful `OCSPResponse` with a BasicOCSPResponse into its signed part and
/// its `certs` field (see [`ResponseParts`]). Checks the structure down to the three signed
/// TLVs, not the signature; anything else is [`Error::InvalidRequest`].
///
/// Hand-written over the DER headers because only their positions are needed: decoding the
/// whole response with x509-ocsp would build every field just to find two byte ranges.
pub fn split_response(der: &[u8]) -> Result<ResponseParts<'_>> {
    let bad = |what: &str| Error::InvalidRequest(format!("not a basic OCSP response: {what}"));
    let (response, rest) = take_tlv(der, TAG_SEQUENCE).ok_or_else(|| bad("OCSPResponse"))?;
    let status_and_bytes = response
        .strip_prefix(&SUCCESSFUL[..])
        .filter(|_| rest.is_empty())
        .ok_or_else(|| bad("responseStatus is not successful"))?;
    let (response_bytes, rest) =
        take_tlv(status_and_bytes, TAG_CONTEXT_0).ok_or_else(|| bad("responseBytes"))?;
    let (rb, rb_rest) =
        take_tlv(response_bytes, TAG_SEQUENCE).ok_or_else(|| bad("ResponseBytes"))?;
    let octets = rb
        .strip_prefix(&BASIC_OID_TLV[..])
        .filter(|_| rest.is_empty() && rb_rest.is_empty())
        .ok_or_else(|| bad("responseType is not id-pkix-ocsp-basic"))?;
    let (basic_der, rest) = take_tlv(octets, TAG_OCTET_STRING).ok_or_else(|| bad("response"))?;
    let (basic, basic_rest) =
        take_tlv(basic_der, TAG_SEQUENCE).ok_or_else(|| bad("BasicOCSPResponse"))?;
    if !rest.is_empty() || !basic_rest.is_empty() {
        return Err(bad("trailing octets"));
    }
    let (_, after_tbs) = take_tlv(basic, TAG_SEQUENCE).ok_or_else(|| bad("tbsResponseData"))?;
    let (_, after_alg) =
        take_tlv(after_tbs, TAG_SEQUENCE).ok_or_else(|| bad("signatureAlgorithm"))?;
    let (_, certs) = take_tlv(after_alg, TAG_BIT_STRING).ok_or_else(|| bad("signature"))?;
    if !certs.is_empty() {
        match take_tlv(certs, TAG_CONTEXT_0) {
            Some((_, [])) => {}
            _ => return Err(bad("certs")),
        }
    }
    Ok(ResponseParts {
        signed: &basic[..basic.len() - certs.len()],
        certs,
    })
}

/// The DER `OCSPResponse` whose BasicOCSPResponse holds `signed` then `certs` (the inverse
/// of [`split_response`]).
pub fn join_response(parts: ResponseParts<'_>) -> Vec<u8> {
    let (prefix, at) = outer_headers(parts.signed.len() + parts.certs.len());
    let mut out = Vec::with_capacity(at + parts.signed.len() + parts.certs.len());
    out.extend_from_slice(&prefix[..at]);
    out.extend_from_slice(parts.signed);
    out.extend_from_slice(parts.certs);
    out
}

/// The content of the DER TLV with `tag` at the start of `input`, and what follows it.
/// Definite lengths of up to four octets, minimally encoded (DER).
fn take_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, rest) = rest.split_first()?;
    let (len, rest) = if len_byte < 0x80 {
        (usize::from(len_byte), rest)
    } else {
        let n = usize::from(len_byte & 0x7f);
        if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 || len_of_len(len) != n + 1 {
            return None; // not the shortest form
        }
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

fn write_single(out: &mut Vec<u8>, answer: &SingleAnswer) -> Result<()> {
    put_header(out, TAG_SEQUENCE, answer.der_content_len());
    answer.cert_id.write_der(out);
    match answer.status {
        // good [0] IMPLICIT NULL
        CertStatusAnswer::Good => out.extend_from_slice(&[0x80, 0x00]),
        // unknown [2] IMPLICIT UnknownInfo (NULL)
        CertStatusAnswer::Unknown => out.extend_from_slice(&[0x82, 0x00]),
        CertStatusAnswer::Revoked { time, reason } => write_revoked(out, time, reason)?,
        CertStatusAnswer::NeverIssued => {
            write_revoked(out, UNIX_EPOCH, Some(RevocationReason::CertificateHold))?
        }
    }
    out.extend_from_slice(&encode_time(answer.this_update)?);
    put_header(out, TAG_CONTEXT_0, GT_TLV_LEN);
    out.extend_from_slice(&encode_time(answer.next_update)?);
    Ok(())
}

/// `revoked [1] IMPLICIT RevokedInfo`, with `revocationReason [0] EXPLICIT CRLReason` if given.
fn write_revoked(
    out: &mut Vec<u8>,
    time: SystemTime,
    reason: Option<RevocationReason>,
) -> Result<()> {
    put_header(
        out,
        TAG_CONTEXT_1_CONSTRUCTED,
        GT_TLV_LEN + if reason.is_some() { 5 } else { 0 },
    );
    out.extend_from_slice(&encode_time(time)?);
    if let Some(reason) = reason {
        out.extend_from_slice(&[TAG_CONTEXT_0, 0x03, 0x0a, 0x01, reason.code()]);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding responses
// ---------------------------------------------------------------------------------------------

/// A decoded `OCSPResponse` (RFC 6960 §4.2.1): an unsigned error status, or a successful
/// basic response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsedResponse {
    /// An unsuccessful `responseStatus` (no `responseBytes`).
    Error(ErrorStatus),
    /// `successful` with an `id-pkix-ocsp-basic` response, not yet verified.
    Successful(Box<BasicResponse>),
}

/// A decoded `BasicOCSPResponse` (RFC 6960 §4.2.1, ASN.1 at [`Responder::sign_response`]).
/// Decoding checks structure only; [`BasicResponse::verify`] checks the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BasicResponse {
    /// `responderID`.
    pub responder_id: ResponderId,
    /// `producedAt`.
    pub produced_at: SystemTime,
    /// The single responses, in order. [`CertStatusAnswer::NeverIssued`] is reported for a
    /// revocation at 1970-01-01 with reason certificateHold in a response that carries the
    /// extended-revoke extension.
    pub responses: Vec<SingleAnswer>,
    /// The RFC 9654 nonce in `responseExtensions`.
    pub nonce: Option<Vec<u8>>,
    /// Whether `responseExtensions` holds `id-pkix-ocsp-extended-revoke`.
    pub extended_revoke: bool,
    /// `signatureAlgorithm`.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// `signature` (for ECDSA the DER `Ecdsa-Sig-Value`).
    pub signature: Vec<u8>,
    /// `certs` (empty when absent).
    pub certs: Vec<Certificate>,
    /// The exact DER of `tbsResponseData`, which the signature covers.
    pub tbs_response_data: Vec<u8>,
}

/// `BasicOCSPResponse` with the `tbsResponseData` kept raw (for the signature) and the
/// certificates decoded with our own [`Certificate`], which, unlike x509-cert's, reads
/// extension OIDs under tsca's UUID arc.
#[derive(Sequence)]
struct RawBasicResponse<'a> {
    tbs_response_data: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    certs: Option<Vec<Certificate>>,
}

/// Decodes a DER `OCSPResponse`. Successful responses must be `id-pkix-ocsp-basic` with SHA-1
/// or SHA-256 CertIDs and `nextUpdate` in every single response (as tsca writes them).
pub fn parse_response(der: &[u8]) -> Result<ParsedResponse> {
    let bad = |what: &str| Error::OcspResponse(what.to_owned());
    let response = OcspResponse::from_der(der).map_err(Error::decode("OCSP response"))?;
    if let Some(status) = ErrorStatus::from_status(response.response_status) {
        if response.response_bytes.is_some() {
            return Err(bad("an error status with responseBytes"));
        }
        return Ok(ParsedResponse::Error(status));
    }
    let bytes = response
        .response_bytes
        .ok_or_else(|| bad("a successful response without responseBytes"))?;
    if bytes.response_type != rfc6960::ID_PKIX_OCSP_BASIC {
        return Err(Error::OcspResponse(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    let raw = RawBasicResponse::from_der(bytes.response.as_bytes())
        .map_err(Error::decode("BasicOCSPResponse"))?;
    let tbs_response_data = raw
        .tbs_response_data
        .to_der()
        .map_err(Error::encode("tbsResponseData"))?;
    let data =
        ResponseData::from_der(&tbs_response_data).map_err(Error::decode("tbsResponseData"))?;

    let exts = data.response_extensions.as_deref().unwrap_or(&[]);
    let nonce = find_nonce(exts).map_err(Error::OcspResponse)?;
    let extended_revoke = exts
        .iter()
        .any(|e| e.extn_id == ID_PKIX_OCSP_EXTENDED_REVOKE);
    let responses = data
        .responses
        .iter()
        .map(|single| {
            let cert_id = CertIdKey::from_cert_id(&single.cert_id).map_err(|e| match e {
                Error::OcspMalformed(m) => Error::OcspResponse(m),
                other => other,
            })?;
            let status = match single.cert_status {
                CertStatus::Good(_) => CertStatusAnswer::Good,
                CertStatus::Unknown(_) => CertStatusAnswer::Unknown,
                CertStatus::Revoked(info) => {
                    let time = info.revocation_time.0.to_system_time();
                    let reason = info.revocation_reason.map(from_crl_reason).transpose()?;
                    if extended_revoke
                        && time == UNIX_EPOCH
                        && reason == Some(RevocationReason::CertificateHold)
                    {
                        CertStatusAnswer::NeverIssued
                    } else {
                        CertStatusAnswer::Revoked { time, reason }
                    }
                }
            };
            let next_update = single
                .next_update
                .ok_or_else(|| bad("a single response without nextUpdate"))?;
            Ok(SingleAnswer {
                cert_id,
                status,
                this_update: single.this_update.0.to_system_time(),
                next_update: next_update.0.to_system_time(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let signature = raw
        .signature
        .as_bytes()
        .ok_or_else(|| bad("a signature BIT STRING with unused bits"))?
        .to_vec();
    Ok(ParsedResponse::Successful(Box::new(BasicResponse {
        responder_id: data.responder_id,
        produced_at: data.produced_at.0.to_system_time(),
        responses,
        nonce,
        extended_revoke,
        signature_algorithm: raw.signature_algorithm,
        signature,
        certs: raw.certs.unwrap_or_default(),
        tbs_response_data,
    })))
}

fn from_crl_reason(reason: CrlReason) -> Result<RevocationReason> {
    let code = reason as u32;
    u8::try_from(code)
        .ok()
        .and_then(RevocationReason::from_code)
        .ok_or_else(|| Error::OcspResponse(format!("unknown CRLReason {code}")))
}

impl BasicResponse {
    /// Checks that `responder_cert` is the one the `responderID` names and that its key signed
    /// `tbsResponseData` (ECDSA P-256 or P-384 with SHA-256 or SHA-384, verified by ring).
    /// Does not check the certificate itself (validity, EKU, that the CA issued it).
    pub fn verify(&self, responder_cert: &Certificate) -> Result<()> {
        let spki = &responder_cert.tbs_certificate.subject_public_key_info;
        let key = spki.subject_public_key.raw_bytes();
        let named = match &self.responder_id {
            ResponderId::ByKey(hash) => hash.as_bytes() == sha1_20(key),
            ResponderId::ByName(name) => name == &responder_cert.tbs_certificate.subject,
        };
        if !named {
            return Err(Error::BadSignature {
                what: format!(
                    "OCSP response: its responder ID does not name {}",
                    responder_cert.subject_text()
                ),
            });
        }
        crate::verify::verify_signature(
            &self.signature_algorithm,
            spki,
            &self.tbs_response_data,
            &self.signature,
            "OCSP response",
        )
    }

    /// [`Self::verify`] against the first certificate in `certs`, which is returned.
    pub fn verify_with_included_cert(&self) -> Result<&Certificate> {
        let cert = self
            .certs
            .first()
            .ok_or_else(|| Error::OcspResponse("no certificate in certs".into()))?;
        self.verify(cert)?;
        Ok(cert)
    }
}

// ---------------------------------------------------------------------------------------------
// DER by hand (only the handful of shapes above)
// ---------------------------------------------------------------------------------------------

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;
/// `[1] IMPLICIT RevokedInfo` (constructed): the same octet as EXPLICIT `[1]`.
const TAG_CONTEXT_1_CONSTRUCTED: u8 = 0xa1;

/// `A2 16 04 14` + SHA-1.
const RESPONDER_ID_LEN: usize = 24;
/// A GeneralizedTime `YYYYMMDDHHMMSSZ` with tag and length.
const GT_TLV_LEN: usize = 17;
/// Room for the outer headers: five headers of at most 6 octets, the status, the OID.
const PREFIX_ROOM: usize = 48;
/// A capacity hint: the largest ECDSA P-384 signature, with BIT STRING header.
const MAX_SIGNATURE_TLV: usize = 110;

/// `responseStatus successful`.
const SUCCESSFUL: [u8; 3] = [0x0a, 0x01, 0x00];
/// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1) with tag and length.
const BASIC_OID_TLV: [u8; 11] = [
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01,
];
/// `id-pkix-ocsp-nonce` (1.3.6.1.5.5.7.48.1.2) with tag and length.
const NONCE_OID_TLV: [u8; 11] = [
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02,
];
/// The whole extension `{ id-pkix-ocsp-extended-revoke, extnValue = DER of NULL }`,
/// not critical (RFC 6960 §4.4.8).
const EXTENDED_REVOKE_EXT: [u8; 17] = [
    0x30, 0x0f, 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x09, 0x04, 0x02, 0x05,
    0x00,
];

fn len_of_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

fn tlv_len(content_len: usize) -> usize {
    1 + len_of_len(content_len) + content_len
}

/// A DER tag and definite length, on the stack.
struct Header {
    bytes: [u8; 2 + std::mem::size_of::<usize>()],
    len: usize,
}

impl Header {
    fn new(tag: u8, len: usize) -> Self {
        let mut bytes = [0u8; 2 + std::mem::size_of::<usize>()];
        bytes[0] = tag;
        if len < 0x80 {
            bytes[1] = len as u8; // < 0x80
            return Self { bytes, len: 2 };
        }
        let n = len_of_len(len) - 1;
        bytes[1] = 0x80 | n as u8; // n ≤ size_of::<usize>()
        bytes[2..2 + n].copy_from_slice(&len.to_be_bytes()[std::mem::size_of::<usize>() - n..]);
        Self { bytes, len: 2 + n }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn put_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.extend_from_slice(Header::new(tag, len).as_bytes());
}

/// A DER GeneralizedTime in whole seconds, with tag and length.
fn encode_time(t: SystemTime) -> Result<[u8; GT_TLV_LEN]> {
    let time = generalized_time(t)?;
    let mut buf = [0u8; GT_TLV_LEN];
    let written = time
        .encode_to_slice(&mut buf)
        .map_err(Error::encode("GeneralizedTime"))?
        .len();
    if written != GT_TLV_LEN {
        return Err(Error::encode("GeneralizedTime")(
            der::Tag::GeneralizedTime.length_error(),
        ));
    }
    Ok(buf)
}

fn sha1_20(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&CertIdHash::Sha1.digest(data)[..20]);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::{KeyAlgorithm, SoftwareKey};
    use crate::time::{days, x509_time};
    use crate::x509::{Extension, TbsCertificate};
    use std::str::FromStr;
    use std::time::Duration;
    use x509_cert::certificate::Version;
    use x509_cert::name::Name;
    use x509_cert::time::Validity;
    use x509_ocsp::{BasicOcspResponse, Request, TbsRequest};

    // ---- a throwaway CA and its delegated responder -------------------------------------

    const T0: u64 = 1_750_000_000; // 2025-06-15

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn issue(
        issuer_key: &SoftwareKey,
        issuer: &Name,
        subject: &str,
        subject_key: &dyn Signer,
        serial: u64,
        extensions: Vec<Extension>,
    ) -> Certificate {
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::from(serial),
            signature: issuer_key.algorithm().signature_algorithm(),
            issuer: issuer.clone(),
            validity: Validity {
                not_before: x509_time(at(T0)).unwrap(),
                not_after: x509_time(at(T0) + days(365)).unwrap(),
            },
            subject: Name::from_str(subject).unwrap(),
            subject_public_key_info: subject_key.public_key().clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let sig = issuer_key.sign(&Encode::to_der(&tbs).unwrap()).unwrap();
        Certificate {
            tbs_certificate: tbs,
            signature_algorithm: issuer_key.algorithm().signature_algorithm(),
            signature: BitString::from_bytes(&sig).unwrap(),
        }
    }

    fn ocsp_eku() -> Extension {
        Extension::new(
            rfc5280::ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![rfc5280::ID_KP_OCSP_SIGNING]),
        )
        .unwrap()
    }

    struct Pki {
        ca: Certificate,
        hashes: IssuerHashes,
        responder: Responder,
        responder_cert: Certificate,
    }

    fn pki() -> Pki {
        let ca_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let ca_name = Name::from_str("CN=Test National CA,O=tsca tests,C=ZZ").unwrap();
        let ca = issue(
            &ca_key,
            &ca_name,
            "CN=Test National CA,O=tsca tests,C=ZZ",
            &ca_key,
            1,
            vec![],
        );
        let key = Arc::new(SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap());
        let responder_cert = issue(
            &ca_key,
            &ca_name,
            "CN=Test OCSP Responder,O=tsca tests,C=ZZ",
            key.as_ref(),
            2,
            vec![ocsp_eku()],
        );
        let responder = Responder::new(key, &responder_cert.to_der().unwrap()).unwrap();
        Pki {
            hashes: IssuerHashes::new(&ca).unwrap(),
            ca,
            responder,
            responder_cert,
        }
    }

    // ---- requests built by hand with x509-ocsp ------------------------------------------

    fn cert_id(pki: &Pki, hash: CertIdHash, serial: &[u8]) -> CertId {
        let key = pki
            .hashes
            .cert_id(hash, &SerialNumber::new(serial).unwrap())
            .unwrap();
        key.to_cert_id().unwrap()
    }

    fn nonce_ext(value: &[u8]) -> X509Extension {
        X509Extension {
            extn_id: rfc6960::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(value).unwrap().to_der().unwrap())
                .unwrap(),
        }
    }

    fn request(ids: Vec<CertId>, exts: Option<Vec<X509Extension>>) -> OcspRequest {
        OcspRequest {
            tbs_request: TbsRequest {
                version: Default::default(),
                requestor_name: None,
                request_list: ids
                    .into_iter()
                    .map(|req_cert| Request {
                        req_cert,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions: exts,
            },
            optional_signature: None,
        }
    }

    fn request_der(ids: Vec<CertId>, exts: Option<Vec<X509Extension>>) -> Vec<u8> {
        request(ids, exts).to_der().unwrap()
    }

    // ---- tests --------------------------------------------------------------------------

    #[test]
    fn der_constants_match_const_oid_and_x509_ocsp() {
        for hash in CertIdHash::ALL {
            let alg = AlgorithmIdentifierOwned {
                oid: hash.oid(),
                parameters: Some(Null.into()),
            };
            assert_eq!(alg.to_der().unwrap(), hash.alg_id_der());
        }
        assert_eq!(rfc6960::ID_PKIX_OCSP_BASIC.to_der().unwrap(), BASIC_OID_TLV);
        assert_eq!(rfc6960::ID_PKIX_OCSP_NONCE.to_der().unwrap(), NONCE_OID_TLV);
        let ext = X509Extension {
            extn_id: ID_PKIX_OCSP_EXTENDED_REVOKE,
            critical: false,
            extn_value: OctetString::new(Null.to_der().unwrap()).unwrap(),
        };
        assert_eq!(ext.to_der().unwrap(), EXTENDED_REVOKE_EXT);
        for len in [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0x12_3456] {
            let mut ours = Vec::new();
            put_header(&mut ours, TAG_OCTET_STRING, len);
            let theirs = der::Header::new(der::Tag::OctetString, len).unwrap();
            assert_eq!(ours, theirs.to_der().unwrap(), "length {len}");
            assert_eq!(tlv_len(len), ours.len() + len);
        }
    }

    /// Split into signed part and certs, then joined, a response is the same bytes; x509-ocsp
    /// agrees on what the parts are; and a response without certs (or a damaged one) is
    /// handled as such.
    #[test]
    fn responses_split_and_join_byte_for_byte() {
        let pki = pki();
        for (serial, nonce) in [
            (&[0x01u8][..], None),
            (&[0x7f; 20][..], Some(&[9u8; 128][..])),
        ] {
            let answer = SingleAnswer {
                cert_id: CertIdKey::from_cert_id(&cert_id(&pki, CertIdHash::Sha1, serial)).unwrap(),
                status: CertStatusAnswer::Good,
                this_update: at(T0),
                next_update: at(T0 + 3600),
            };
            let der = pki
                .responder
                .sign_response(&[answer], at(T0), nonce)
                .unwrap();
            let parts = split_response(&der).unwrap();
            assert_eq!(join_response(parts), der);
            let response = OcspResponse::from_der(&der).unwrap();
            let basic =
                BasicOcspResponse::from_der(response.response_bytes.unwrap().response.as_bytes())
                    .unwrap();
            let expected_signed = [
                basic.tbs_response_data.to_der().unwrap(),
                basic.signature_algorithm.to_der().unwrap(),
                basic.signature.to_der().unwrap(),
            ]
            .concat();
            assert_eq!(parts.signed, expected_signed);
            assert_eq!(parts.certs, pki.responder.certs);

            // Without certs: joins to a response x509-ocsp reads, with no certs.
            let bare = join_response(ResponseParts {
                signed: parts.signed,
                certs: &[],
            });
            let parts_bare = split_response(&bare).unwrap();
            assert!(parts_bare.certs.is_empty());
            let response = OcspResponse::from_der(&bare).unwrap();
            let basic =
                BasicOcspResponse::from_der(response.response_bytes.unwrap().response.as_bytes())
                    .unwrap();
            assert!(basic.certs.is_none());

            for cut in [1, 10, der.len() / 2, der.len() - 1] {
                assert!(split_response(&der[..cut]).is_err(), "cut at {cut}");
            }
            let mut trailing = der.clone();
            trailing.push(0);
            assert!(split_response(&trailing).is_err());
        }
        for status in [ErrorStatus::MalformedRequest, ErrorStatus::TryLater] {
            assert!(split_response(error_response(status)).is_err());
        }
    }

    #[test]
    fn cert_id_key_is_small_and_exact() {
        assert!(std::mem::size_of::<CertIdKey>() <= 88);
        let pki = pki();
        let serial = SerialNumber::new(&[0x80, 1, 2]).unwrap(); // needs a leading zero
        let a = pki.hashes.cert_id(CertIdHash::Sha1, &serial).unwrap();
        assert_eq!(a.serial(), [0, 0x80, 1, 2]);
        assert_eq!(a.issuer_name_hash().len(), 20);
        let b = CertIdKey::from_cert_id(&a.to_cert_id().unwrap()).unwrap();
        assert_eq!(a, b);
        let c = pki.hashes.cert_id(CertIdHash::Sha256, &serial).unwrap();
        assert_ne!(a, c);
        assert!(pki.hashes.issued(&a) && pki.hashes.issued(&c));
        let other = IssuerHashes::new(&pki.responder_cert).unwrap();
        assert!(!other.issued(&a));
        // Non-canonical serials and wrong hash lengths are refused.
        assert!(CertIdKey::new(CertIdHash::Sha1, &[0; 20], &[0; 20], &[0, 1]).is_err());
        assert!(CertIdKey::new(CertIdHash::Sha1, &[0; 20], &[0; 20], &[]).is_err());
        assert!(CertIdKey::new(CertIdHash::Sha1, &[0; 20], &[0; 20], &[1; 22]).is_err());
        assert!(CertIdKey::new(CertIdHash::Sha256, &[0; 20], &[0; 20], &[1]).is_err());
    }

    #[test]
    fn issuer_hashes_match_openssl_cert_ids() {
        let ca = Certificate::from_pem(include_bytes!("../tests/fixtures/ocsp/ca.pem")).unwrap();
        let hashes = IssuerHashes::new(&ca).unwrap();

        let req = include_bytes!("../tests/fixtures/ocsp/req-sha1-two-nonce.der");
        let parsed = ParsedRequest::from_der(req, 8).unwrap();
        let serial = |b: &[u8]| SerialNumber::new(b).unwrap();
        assert_eq!(
            parsed.cert_ids(),
            [
                hashes
                    .cert_id(CertIdHash::Sha1, &serial(&[0x12, 0x34]))
                    .unwrap(),
                hashes
                    .cert_id(
                        CertIdHash::Sha1,
                        &serial(&hex::decode("ff00ff00ff00ff00ff").unwrap())
                    )
                    .unwrap(),
            ]
        );
        assert_eq!(
            hex::encode(parsed.cert_ids()[0].issuer_name_hash()),
            "06434d35f36f7ea6b71a3a4dfa97fed8d52ff44c"
        );
        assert_eq!(parsed.nonce().map(<[u8]>::len), Some(16));
        assert!(!parsed.was_signed());

        let req = include_bytes!("../tests/fixtures/ocsp/req-sha256-no-nonce.der");
        let parsed = ParsedRequest::from_der(req, 1).unwrap();
        let s = hex::decode("7f0102030405060708090a0b0c0d0e0f10111213").unwrap();
        assert_eq!(
            parsed.cert_ids(),
            [hashes.cert_id(CertIdHash::Sha256, &serial(&s)).unwrap()]
        );
        assert_eq!(
            hex::encode(parsed.cert_ids()[0].issuer_key_hash()),
            "7d2467d16d2ce045a373ca1d2f708376612e8c71025b19941a964b5baa0cd508"
        );
        assert!(!parsed.has_nonce());
    }

    #[test]
    fn request_to_signed_response_round_trip() {
        let pki = pki();
        let serials: [&[u8]; 4] = [&[0x01], &[0x00, 0xff, 0x10], &[0x42; 20], &[0x7e, 0x01]];
        let hashes = [
            CertIdHash::Sha1,
            CertIdHash::Sha256,
            CertIdHash::Sha256,
            CertIdHash::Sha1,
        ];
        let ids: Vec<CertId> = serials
            .iter()
            .zip(hashes)
            .map(|(s, h)| cert_id(&pki, h, s))
            .collect();
        let nonce = [0xa5; 32];
        for with_nonce in [true, false] {
            let exts = with_nonce.then(|| vec![nonce_ext(&nonce)]);
            let req = ParsedRequest::from_der(&request_der(ids.clone(), exts), 4).unwrap();
            assert_eq!(req.cert_ids().len(), 4);
            assert_eq!(req.has_nonce(), with_nonce);
            for (key, id) in req.cert_ids().iter().zip(&ids) {
                assert_eq!(key.hash().oid(), id.hash_algorithm.oid);
                assert_eq!(key.serial(), id.serial_number.as_bytes());
                assert!(pki.hashes.issued(key));
            }

            let revoked_at = at(T0 + 1000) + Duration::from_millis(999);
            let statuses = [
                CertStatusAnswer::Good,
                CertStatusAnswer::Revoked {
                    time: revoked_at,
                    reason: Some(RevocationReason::KeyCompromise),
                },
                CertStatusAnswer::Unknown,
                CertStatusAnswer::NeverIssued,
            ];
            let this_update = at(T0 + 2000);
            let next_update = this_update + days(4);
            let answers: Vec<SingleAnswer> = req
                .cert_ids()
                .iter()
                .zip(statuses)
                .map(|(&cert_id, status)| SingleAnswer {
                    cert_id,
                    status,
                    this_update,
                    next_update,
                })
                .collect();
            let produced_at = at(T0 + 2000) + Duration::from_millis(500);
            let der = pki
                .responder
                .sign_response(&answers, produced_at, req.nonce())
                .unwrap();

            // Someone else's decoder: x509-ocsp, field by field.
            let resp = OcspResponse::from_der(&der).unwrap();
            assert_eq!(resp.response_status, OcspResponseStatus::Successful);
            let bytes = resp.response_bytes.unwrap();
            assert_eq!(bytes.response_type, rfc6960::ID_PKIX_OCSP_BASIC);
            let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
            let data = &basic.tbs_response_data;
            assert_eq!(data.version, x509_ocsp::Version::V1);
            let ResponderId::ByKey(key_hash) = &data.responder_id else {
                panic!("responder ID by name")
            };
            let expected = digest::digest(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                pki.responder_cert
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            );
            assert_eq!(key_hash.as_bytes(), expected.as_ref());
            assert_eq!(data.produced_at.0.to_unix_duration().as_secs(), T0 + 2000);
            assert_eq!(data.responses.len(), 4);
            for (single, id) in data.responses.iter().zip(&ids) {
                assert_eq!(&single.cert_id, id, "CertID echoed with the request's hash");
                assert_eq!(single.this_update.0.to_system_time(), this_update);
                assert_eq!(single.next_update.unwrap().0.to_system_time(), next_update);
                assert!(single.single_extensions.is_none());
            }
            assert_eq!(data.responses[0].cert_status, CertStatus::good());
            let CertStatus::Revoked(info) = data.responses[1].cert_status else {
                panic!("not revoked")
            };
            assert_eq!(
                info.revocation_time.0.to_unix_duration().as_secs(),
                T0 + 1000
            );
            assert_eq!(info.revocation_reason, Some(CrlReason::KeyCompromise));
            assert_eq!(data.responses[2].cert_status, CertStatus::unknown());
            let CertStatus::Revoked(info) = data.responses[3].cert_status else {
                panic!("never-issued is not revoked")
            };
            assert_eq!(info.revocation_time.0.to_unix_duration(), Duration::ZERO);
            assert_eq!(info.revocation_reason, Some(CrlReason::CertificateHold));
            let exts = data.response_extensions.as_ref().unwrap();
            let ext_revoke: Vec<_> = exts
                .iter()
                .filter(|e| e.extn_id == ID_PKIX_OCSP_EXTENDED_REVOKE)
                .collect();
            assert_eq!(ext_revoke.len(), 1);
            assert!(!ext_revoke[0].critical);
            assert_eq!(ext_revoke[0].extn_value.as_bytes(), [0x05, 0x00]);
            assert_eq!(
                basic.nonce().map(|n| n.0.into_bytes()),
                with_nonce.then(|| nonce.to_vec())
            );
            assert_eq!(exts.len(), if with_nonce { 2 } else { 1 });
            let certs = basic.certs.as_ref().unwrap();
            assert_eq!(certs.len(), 1);
            assert_eq!(
                certs[0].to_der().unwrap(),
                pki.responder_cert.to_der().unwrap()
            );
            assert_eq!(
                basic.signature_algorithm,
                KeyAlgorithm::EcdsaP256.signature_algorithm()
            );

            // Canonical DER: x509-ocsp re-encodes our bytes to the same bytes.
            assert_eq!(OcspResponse::from_der(&der).unwrap().to_der().unwrap(), der);
            let tbs = data.to_der().unwrap();
            assert_eq!(basic.to_der().unwrap(), bytes.response.as_bytes());

            // The signature is over the exact tbsResponseData, by the responder key.
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                pki.responder_cert
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            )
            .verify(&tbs, basic.signature.raw_bytes())
            .unwrap();

            // Our own decoder agrees and verifies.
            let ParsedResponse::Successful(ours) = parse_response(&der).unwrap() else {
                panic!("not successful")
            };
            assert_eq!(ours.tbs_response_data, tbs);
            assert_eq!(ours.nonce.as_deref(), req.nonce());
            assert!(ours.extended_revoke);
            assert_eq!(ours.produced_at, at(T0 + 2000));
            let mut expected = answers.clone();
            expected[1].status = CertStatusAnswer::Revoked {
                time: at(T0 + 1000), // whole seconds on the wire
                reason: Some(RevocationReason::KeyCompromise),
            };
            assert_eq!(ours.responses, expected);
            assert_eq!(
                ours.verify_with_included_cert().unwrap(),
                &pki.responder_cert
            );
            assert!(ours.verify(&pki.ca).is_err(), "the CA did not sign it");
        }
    }

    #[test]
    fn good_only_response_has_no_extensions_and_tampering_is_caught() {
        let pki = pki();
        let key = pki
            .hashes
            .cert_id(CertIdHash::Sha256, &SerialNumber::from(77u32))
            .unwrap();
        let answers = [SingleAnswer {
            cert_id: key,
            status: CertStatusAnswer::Revoked {
                time: at(T0),
                reason: None,
            },
            this_update: at(T0),
            next_update: at(T0) + days(1),
        }];
        let der = pki.responder.sign_response(&answers, at(T0), None).unwrap();
        let resp = OcspResponse::from_der(&der).unwrap();
        let basic =
            BasicOcspResponse::from_der(resp.response_bytes.unwrap().response.as_bytes()).unwrap();
        assert!(basic.tbs_response_data.response_extensions.is_none());
        let CertStatus::Revoked(info) = basic.tbs_response_data.responses[0].cert_status else {
            panic!("not revoked")
        };
        assert_eq!(info.revocation_reason, None);

        let ParsedResponse::Successful(ours) = parse_response(&der).unwrap() else {
            panic!("not successful")
        };
        assert!(!ours.extended_revoke && ours.nonce.is_none());
        ours.verify(&pki.responder_cert).unwrap();
        // Flip one bit of the serial inside tbsResponseData: decodes, no longer verifies.
        let serial_at = der
            .windows(3)
            .position(|w| w == [TAG_INTEGER, 0x01, 77])
            .unwrap();
        let mut bad = der.clone();
        bad[serial_at + 2] ^= 1;
        let ParsedResponse::Successful(tampered) = parse_response(&bad).unwrap() else {
            panic!("not successful")
        };
        assert!(matches!(
            tampered.verify(&pki.responder_cert),
            Err(Error::BadSignature { .. })
        ));
    }

    #[test]
    fn sign_response_refuses_nonsense() {
        let pki = pki();
        let key = pki
            .hashes
            .cert_id(CertIdHash::Sha1, &SerialNumber::from(5u32))
            .unwrap();
        let answer = SingleAnswer {
            cert_id: key,
            status: CertStatusAnswer::Good,
            this_update: at(T0),
            next_update: at(T0) + days(1),
        };
        let r = &pki.responder;
        assert!(r.sign_response(&[], at(T0), None).is_err());
        assert!(r.sign_response(&[answer], at(T0), Some(&[])).is_err());
        assert!(r.sign_response(&[answer], at(T0), Some(&[0; 129])).is_err());
        assert!(r.sign_response(&[answer], at(T0), Some(&[0; 128])).is_ok());
        let backwards = SingleAnswer {
            next_update: at(T0) - Duration::from_secs(1),
            ..answer
        };
        assert!(r.sign_response(&[backwards], at(T0), None).is_err());
    }

    #[test]
    fn responder_refuses_a_certificate_that_does_not_fit() {
        let pki = pki();
        let cert_der = pki.responder_cert.to_der().unwrap();
        let other = Arc::new(SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap());
        assert!(matches!(
            Responder::new(other.clone(), &cert_der),
            Err(Error::Key(_))
        ));
        // A certificate for the key, but without id-kp-OCSPSigning.
        let ca_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let name = Name::from_str("CN=Other CA").unwrap();
        let no_eku = issue(
            &ca_key,
            &name,
            "CN=Not a responder",
            other.as_ref(),
            9,
            vec![],
        );
        let err = Responder::new(other, &no_eku.to_der().unwrap()).unwrap_err();
        assert!(err.to_string().contains("OCSPSigning"), "{err}");
        assert!(format!("{:?}", pki.responder).contains("Test OCSP Responder"));
    }

    #[test]
    fn error_responses_are_constant_and_decode() {
        for status in ErrorStatus::ALL {
            let der = error_response(status);
            let resp = OcspResponse::from_der(der).unwrap();
            assert!(resp.response_bytes.is_none());
            assert_eq!(resp.response_status as u8, status.code());
            let expected = match status {
                ErrorStatus::MalformedRequest => OcspResponse::malformed_request(),
                ErrorStatus::InternalError => OcspResponse::internal_error(),
                ErrorStatus::TryLater => OcspResponse::try_later(),
                ErrorStatus::SigRequired => OcspResponse::sig_required(),
                ErrorStatus::Unauthorized => OcspResponse::unauthorized(),
            };
            assert_eq!(expected.to_der().unwrap(), der);
            assert_eq!(parse_response(der).unwrap(), ParsedResponse::Error(status));
        }
    }

    #[test]
    fn signed_requests_and_harmless_extensions_are_accepted() {
        let pki = pki();
        let mut req = request(vec![cert_id(&pki, CertIdHash::Sha1, &[9])], None);
        req.optional_signature = Some(x509_ocsp::Signature {
            signature_algorithm: KeyAlgorithm::EcdsaP256.signature_algorithm(),
            signature: BitString::from_bytes(b"not checked").unwrap(),
            certs: None,
        });
        // Unknown but non-critical: ignored. Known and critical: fine.
        req.tbs_request.request_extensions = Some(vec![
            X509Extension {
                extn_id: rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                critical: false,
                extn_value: OctetString::new([0x05, 0x00]).unwrap(),
            },
            X509Extension {
                critical: true,
                ..nonce_ext(&[1; 16])
            },
        ]);
        let parsed = ParsedRequest::from_der(&req.to_der().unwrap(), 1).unwrap();
        assert!(parsed.was_signed());
        assert_eq!(parsed.nonce(), Some(&[1; 16][..]));
        // Absent hash parameters are as good as NULL, and give the same key.
        let mut id = cert_id(&pki, CertIdHash::Sha256, &[9]);
        let with_null = CertIdKey::from_cert_id(&id).unwrap();
        id.hash_algorithm.parameters = None;
        let der = request_der(vec![id], None);
        assert_eq!(
            ParsedRequest::from_der(&der, 1).unwrap().cert_ids(),
            [with_null]
        );
    }

    #[derive(Debug)]
    enum Expect {
        Ok,
        Malformed,
        Unsupported(&'static str),
    }

    #[test]
    fn malformed_requests_are_refused_with_the_right_error() {
        let pki = pki();
        let id1 = cert_id(&pki, CertIdHash::Sha1, &[1]);
        let id256 = cert_id(&pki, CertIdHash::Sha256, &[2]);
        let good = request_der(vec![id1.clone()], Some(vec![nonce_ext(&[7; 16])]));
        let with_nonce = |n: &[u8]| request_der(vec![id1.clone()], Some(vec![nonce_ext(n)]));
        let with_hash = |oid: ObjectIdentifier, len: usize| {
            let mut id = id1.clone();
            id.hash_algorithm.oid = oid;
            id.issuer_name_hash = OctetString::new(vec![1; len]).unwrap();
            id.issuer_key_hash = OctetString::new(vec![2; len]).unwrap();
            request_der(vec![id], None)
        };
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 5);
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 0x31;
        let mut trailing = good.clone();
        trailing.push(0);
        let mut bad_params = id1.clone();
        bad_params.hash_algorithm.parameters =
            Some(der::Any::encode_from(&rfc5912::ID_SHA_1).unwrap());
        let raw_nonce = X509Extension {
            // An old-style nonce: raw octets, not a DER OCTET STRING.
            extn_value: OctetString::new([0xde, 0xad, 0xbe, 0xef]).unwrap(),
            ..nonce_ext(&[1])
        };
        let critical_unknown = X509Extension {
            extn_id: rfc6960::ID_PKIX_OCSP_CRL,
            critical: true,
            extn_value: OctetString::new([0x30, 0x00]).unwrap(),
        };
        let md5 = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");

        let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
            ("well-formed", good.clone(), Expect::Ok),
            ("empty input", vec![], Expect::Malformed),
            ("truncated", truncated, Expect::Malformed),
            ("wrong outer tag", wrong_tag, Expect::Malformed),
            ("trailing garbage", trailing, Expect::Malformed),
            (
                "not DER at all",
                b"GET / HTTP/1.1".to_vec(),
                Expect::Malformed,
            ),
            ("0-octet nonce", with_nonce(&[]), Expect::Malformed),
            ("1-octet nonce", with_nonce(&[1]), Expect::Ok),
            ("128-octet nonce", with_nonce(&[1; 128]), Expect::Ok),
            ("129-octet nonce", with_nonce(&[1; 129]), Expect::Malformed),
            ("200-octet nonce", with_nonce(&[1; 200]), Expect::Malformed),
            (
                "duplicate nonce",
                request_der(
                    vec![id1.clone()],
                    Some(vec![nonce_ext(&[1; 16]), nonce_ext(&[2; 16])]),
                ),
                Expect::Malformed,
            ),
            (
                "nonce not an OCTET STRING",
                request_der(vec![id1.clone()], Some(vec![raw_nonce])),
                Expect::Malformed,
            ),
            (
                "critical unknown extension",
                request_der(vec![id1.clone()], Some(vec![critical_unknown])),
                Expect::Malformed,
            ),
            (
                "SHA-512 CertID",
                with_hash(rfc5912::ID_SHA_512, 64),
                Expect::Unsupported("2.16.840.1.101.3.4.2.3"),
            ),
            (
                "MD5 CertID",
                with_hash(md5, 16),
                Expect::Unsupported("1.2.840.113549.2.5"),
            ),
            (
                "SHA-1 with 32-octet hashes",
                with_hash(rfc5912::ID_SHA_1, 32),
                Expect::Malformed,
            ),
            (
                "SHA-256 with 20-octet hashes",
                with_hash(rfc5912::ID_SHA_256, 20),
                Expect::Malformed,
            ),
            (
                "hash parameters not NULL",
                request_der(vec![bad_params], None),
                Expect::Malformed,
            ),
            (
                "zero requests",
                request_der(vec![], None),
                Expect::Malformed,
            ),
            (
                "three requests, at the limit",
                request_der(vec![id1.clone(), id256.clone(), id1.clone()], None),
                Expect::Ok,
            ),
            (
                "four requests, over the limit",
                request_der(vec![id1.clone(), id256.clone(), id1.clone(), id256], None),
                Expect::Malformed,
            ),
        ];
        for (name, der, expect) in cases {
            let got = ParsedRequest::from_der(&der, 3);
            match (&expect, &got) {
                (Expect::Ok, Ok(_)) | (Expect::Malformed, Err(Error::OcspMalformed(_))) => {}
                (Expect::Unsupported(oid), Err(Error::OcspUnsupportedHash(got))) if oid == got => {}
                _ => panic!("{name}: expected {expect:?}, got {got:?}"),
            }
        }
    }
}
