//! Certificate revocation lists: RFC 5280 §5 v2 CRLs, written fast enough for a million
//! entries (docs/benchmarks.md, Targets S5: ≤ 1 s to encode and sign, low memory) and read back for tests and
//! the registry.
//!
//! ```text
//! CertificateList  ::=  SEQUENCE  {
//!      tbsCertList          TBSCertList,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//!
//! TBSCertList  ::=  SEQUENCE  {
//!      version                 Version OPTIONAL,
//!                                   -- if present, MUST be v2
//!      signature               AlgorithmIdentifier,
//!      issuer                  Name,
//!      thisUpdate              Time,
//!      nextUpdate              Time OPTIONAL,
//!      revokedCertificates     SEQUENCE OF SEQUENCE  {
//!           userCertificate         CertificateSerialNumber,
//!           revocationDate          Time,
//!           crlEntryExtensions      Extensions OPTIONAL
//!                                    -- if present, version MUST be v2
//!                                }  OPTIONAL,
//!      crlExtensions           [0] Extensions OPTIONAL }
//!                                    -- if present, version MUST be v2
//! ```
//!
//! What tsca writes (RFC 5280 §5.1.2, §5.2, §5.3):
//! - `version` v2, `signature` the signer's algorithm, `issuer` the issuer certificate's
//!   subject, `thisUpdate` and `nextUpdate` always (UTCTime through 2049, GeneralizedTime after);
//! - `revokedCertificates` omitted entirely when nothing is revoked (§5.1.2.6: "the revoked
//!   certificates list MUST be absent", never an empty SEQUENCE);
//! - `crlExtensions`: `authorityKeyIdentifier` (§5.2.1) whose `keyIdentifier` is the issuer
//!   certificate's `subjectKeyIdentifier`, and `cRLNumber` (§5.2.3); both non-critical;
//! - entry extension `reasonCode` (§5.3.1) only for a reason other than `unspecified`
//!   ("the reason code CRL entry extension SHOULD be absent instead of using the unspecified
//!   (0) reasonCode value"). `removeFromCRL` belongs to delta CRLs only and is refused.
//!
//! Why the entries are hand-encoded: a CRL of 1M entries built as `x509_cert::crl::RevokedCert`
//! values would cost several heap allocations per entry and a second full copy during encoding.
//! [`sign_crl`] instead writes each entry's DER straight from the iterator into one pre-sized
//! buffer (entries are tiny and have a fixed shape, so the TLVs are simple to write by hand
//! and are checked against x509-cert's encoder in the tests), then fixes up the three length
//! headers that depend on the total, signs the exact TBS bytes once and appends the signature.
//! The fixed parts (algorithm identifier, name, times, extensions) go through der's `Encode`.

use std::borrow::Borrow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_KEY_IDENTIFIER,
};
use der::asn1::{BitString, ContextSpecific, OctetString, Uint};
use der::{DateTime, Decode, Encode, Reader, SliceReader, TagMode, TagNumber};
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason, KeyUsage};
use x509_cert::ext::Extension as StdExtension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Version;

use crate::error::{Error, Result};
use crate::keys::Signer;
use crate::revocation::RevocationReason;
use crate::time::x509_time;
use crate::x509::{Certificate, Oid};

/// The media type of a DER CRL (RFC 2585 §4.2), for serving `/crl/{authority}.crl`.
pub const CRL_MEDIA_TYPE: &str = "application/pkix-crl";

/// One revoked certificate, as it goes in `revokedCertificates`:
///
/// ```text
/// SEQUENCE  {
///      userCertificate         CertificateSerialNumber,
///      revocationDate          Time,
///      crlEntryExtensions      Extensions OPTIONAL }
/// ```
///
/// The serial is written exactly as [`SerialNumber`] holds it (its DER INTEGER content), so a
/// certificate's own serial, decoded from the certificate, is listed byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// `userCertificate`: the revoked certificate's serial number.
    pub serial: SerialNumber,
    /// `revocationDate`: when the certificate was revoked (whole seconds are kept).
    pub revoked_at: SystemTime,
    /// The `reasonCode` entry extension; `None` and `Some(Unspecified)` both write no
    /// extension (RFC 5280 §5.3.1). `RemoveFromCrl` is refused by [`sign_crl`].
    pub reason: Option<RevocationReason>,
}

impl RevokedEntry {
    /// An entry for `serial`, revoked at `revoked_at` for `reason`.
    pub fn new(
        serial: SerialNumber,
        revoked_at: SystemTime,
        reason: Option<RevocationReason>,
    ) -> Self {
        Self {
            serial,
            revoked_at,
            reason,
        }
    }
}

/// Room for one hand-written DER header: a one-octet tag and a length of up to 5 octets
/// (`0x84` + 4 octets, enough for anything below 4 GiB).
const MAX_HEADER: usize = 6;

/// An estimate of one entry's DER size, to pre-size the buffer from the iterator's size hint:
/// SEQUENCE header (2) + INTEGER of a 16-octet serial (18-19) + UTCTime (15) + a reason on
/// some entries (14).
const ENTRY_SIZE_ESTIMATE: usize = 40;

/// The `reasonCode` entry extension, as whole `crlEntryExtensions`, minus the final code octet:
///
/// ```text
/// 30 0C                        Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
///    30 0A                     Extension
///       06 03 55 1D 15         extnID id-ce-cRLReasons (2.5.29.21), critical absent (FALSE)
///       04 03                  extnValue OCTET STRING
///          0A 01 ..            CRLReason ENUMERATED
/// ```
const REASON_EXTENSION_PREFIX: [u8; 13] = [
    0x30, 0x0C, 0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01,
];

/// Signs a v2 CRL for `issuer` with `signer` and returns its DER `CertificateList`.
///
/// - `crl_number` goes in the `cRLNumber` extension (RFC 5280 §5.2.3: a non-negative,
///   monotonically increasing integer of at most 20 octets; a `u64` is both by construction).
///   Keeping it increasing is the caller's job (the store).
/// - `this_update` must be before `next_update` (both whole seconds).
/// - `entries` are written in iteration order; duplicate serials are not looked for (the store
///   keeps serials unique per issuer). Items may be owned entries or references.
///
/// Refused, with nothing signed: `next_update` not after `this_update`; an issuer certificate
/// without a subjectKeyIdentifier (the CRL's AKI must equal it), or whose keyUsage lacks
/// cRLSign; a signer whose public key is not the issuer certificate's; an entry with reason
/// `removeFromCRL`, a serial that is empty, or a time before 1970.
pub fn sign_crl<I>(
    issuer: &Certificate,
    signer: &dyn Signer,
    crl_number: u64,
    this_update: SystemTime,
    next_update: SystemTime,
    entries: I,
) -> Result<Vec<u8>>
where
    I: IntoIterator,
    I::Item: Borrow<RevokedEntry>,
{
    // 1. Check the request before doing any work.
    if next_update <= this_update {
        return Err(Error::InvalidRequest(
            "CRL nextUpdate must be later than thisUpdate".into(),
        ));
    }
    if signer.public_key() != &issuer.tbs_certificate.subject_public_key_info {
        return Err(Error::InvalidRequest(format!(
            "the signing key is not the issuer's key (issuer {})",
            issuer.subject_text()
        )));
    }
    if let Some((_, usage)) = issuer
        .tbs_certificate
        .decode_extension::<KeyUsage>(&Oid::from(ID_CE_KEY_USAGE), "keyUsage")?
    {
        if !usage.crl_sign() {
            return Err(Error::InvalidRequest(format!(
                "issuer {} may not sign CRLs: its keyUsage lacks cRLSign",
                issuer.subject_text()
            )));
        }
    }
    let ski = subject_key_identifier(issuer)?.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "issuer {} has no subjectKeyIdentifier: the CRL's authorityKeyIdentifier must be it",
            issuer.subject_text()
        ))
    })?;

    // 2. The fixed parts of TBSCertList before revokedCertificates, through der's Encode.
    let mut head = Vec::with_capacity(256);
    Version::V2
        .encode_to_vec(&mut head)
        .map_err(Error::encode("CRL version"))?;
    let signature_algorithm = signer
        .algorithm()
        .signature_algorithm()
        .to_der()
        .map_err(Error::encode("CRL signature algorithm"))?;
    head.extend_from_slice(&signature_algorithm);
    issuer
        .tbs_certificate
        .subject
        .encode_to_vec(&mut head)
        .map_err(Error::encode("CRL issuer name"))?;
    x509_time(this_update)?
        .encode_to_vec(&mut head)
        .map_err(Error::encode("CRL thisUpdate"))?;
    x509_time(next_update)?
        .encode_to_vec(&mut head)
        .map_err(Error::encode("CRL nextUpdate"))?;

    // ... and after it: crlExtensions [0] EXPLICIT Extensions.
    let crl_extensions = crl_extensions(&ski, crl_number)?;

    // 3. One buffer: [slack for the CertificateList and TBSCertList headers][head][slack for
    //    the revokedCertificates header][entries][crlExtensions], then the signature.
    let entries = entries.into_iter();
    let hint = entries.size_hint().0;
    let capacity = 2 * MAX_HEADER
        + head.len()
        + MAX_HEADER
        + hint.saturating_mul(ENTRY_SIZE_ESTIMATE)
        + crl_extensions.len()
        + signature_algorithm.len()
        + MAX_HEADER
        + 1
        + 2 * (6 + 49); // the largest ECDSA P-384 signature, with room to spare
    let mut buf = Vec::with_capacity(capacity);
    buf.resize(2 * MAX_HEADER, 0);
    buf.extend_from_slice(&head);
    buf.resize(buf.len() + MAX_HEADER, 0);
    let entries_start = buf.len();
    for entry in entries {
        push_entry(&mut buf, entry.borrow())?;
    }
    let entries_len = buf.len() - entries_start;
    buf.extend_from_slice(&crl_extensions);
    let tbs_end = buf.len();

    // 4. Fix up the headers, from the inside out. The revokedCertificates header goes right
    //    before the entries (or nothing, when there are none); the head moves up against it
    //    (a few hundred bytes), and the TBSCertList header goes before the head.
    let mut head_end = entries_start;
    if entries_len > 0 {
        let header = der_header(0x30, entries_len)?;
        head_end -= header.len();
        buf[head_end..entries_start].copy_from_slice(&header);
    }
    let head_start = head_end - head.len();
    buf.copy_within(2 * MAX_HEADER..2 * MAX_HEADER + head.len(), head_start);
    let tbs_header = der_header(0x30, tbs_end - head_start)?;
    let tbs_start = head_start - tbs_header.len();
    buf[tbs_start..head_start].copy_from_slice(&tbs_header);

    // 5. Sign the exact TBS bytes, once.
    let signature = signer.sign(&buf[tbs_start..tbs_end])?;
    buf.extend_from_slice(&signature_algorithm);
    let signature_value = BitString::from_bytes(&signature)
        .map_err(Error::encode("CRL signature"))?
        .to_der()
        .map_err(Error::encode("CRL signature"))?;
    buf.extend_from_slice(&signature_value);

    // 6. The CertificateList header, then drop the unused slack in front (one memmove).
    let outer_header = der_header(0x30, buf.len() - tbs_start)?;
    let start = tbs_start - outer_header.len();
    buf[start..tbs_start].copy_from_slice(&outer_header);
    buf.drain(..start);
    buf.shrink_to_fit();
    Ok(buf)
}

/// `crlExtensions [0] EXPLICIT Extensions`: authorityKeyIdentifier (keyIdentifier = the
/// issuer's SKI) and cRLNumber, both non-critical (RFC 5280 §5.2.1, §5.2.3).
fn crl_extensions(ski: &[u8], crl_number: u64) -> Result<Vec<u8>> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(ski).map_err(Error::encode("CRL AKI"))?),
        ..Default::default()
    };
    let number =
        CrlNumber(Uint::new(&crl_number.to_be_bytes()).map_err(Error::encode("cRLNumber"))?);
    let extensions = vec![
        std_extension(ID_CE_AUTHORITY_KEY_IDENTIFIER, &aki)?,
        std_extension(ID_CE_CRL_NUMBER, &number)?,
    ];
    ContextSpecific {
        tag_number: TagNumber::N0,
        tag_mode: TagMode::Explicit,
        value: extensions,
    }
    .to_der()
    .map_err(Error::encode("crlExtensions"))
}

fn std_extension(extn_id: der::oid::ObjectIdentifier, value: &impl Encode) -> Result<StdExtension> {
    let der = value.to_der().map_err(Error::encode("CRL extension"))?;
    Ok(StdExtension {
        extn_id,
        critical: false,
        extn_value: OctetString::new(der).map_err(Error::encode("CRL extension"))?,
    })
}

/// The issuer's subjectKeyIdentifier, if it has one.
fn subject_key_identifier(cert: &Certificate) -> Result<Option<Vec<u8>>> {
    Ok(cert
        .tbs_certificate
        .decode_extension::<SubjectKeyIdentifier>(
            &Oid::from(ID_CE_SUBJECT_KEY_IDENTIFIER),
            "subjectKeyIdentifier",
        )?
        .map(|(_, ski)| ski.0.as_bytes().to_vec()))
}

/// A DER tag and definite length, hand-written: the lengths of the revokedCertificates,
/// TBSCertList and CertificateList SEQUENCEs are only known once the entries are written.
fn der_header(tag: u8, len: usize) -> Result<Vec<u8>> {
    let len = u32::try_from(len)
        .map_err(|_| Error::InvalidRequest("CRL too large: a DER length beyond 4 GiB".into()))?;
    let mut header = Vec::with_capacity(MAX_HEADER);
    header.push(tag);
    if len < 0x80 {
        header.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        header.push(0x80 | (4 - skip) as u8);
        header.extend_from_slice(&bytes[skip..]);
    }
    Ok(header)
}

/// Writes one `revokedCertificates` entry. Hand-written for speed and memory (see the module
/// documentation); `tests::entries_match_x509_cert_encoding` holds it to x509-cert's encoder.
///
/// Every entry is short: INTEGER (2 + at most 21) + Time (at most 17) + reasonCode (14) = 54
/// content octets, so its SEQUENCE length always fits the one-octet short form.
fn push_entry(buf: &mut Vec<u8>, entry: &RevokedEntry) -> Result<()> {
    let serial = entry.serial.as_bytes();
    if serial.is_empty() || serial.len() > 21 {
        return Err(Error::InvalidRequest(format!(
            "CRL entry serial of {} octets: a serial is 1 to 20 octets",
            serial.len()
        )));
    }
    let (time, time_len) = encode_time(entry.revoked_at)?;
    let reason = match entry.reason {
        None | Some(RevocationReason::Unspecified) => None,
        Some(RevocationReason::RemoveFromCrl) => {
            return Err(Error::InvalidRequest(format!(
                "CRL entry {}: removeFromCRL is only for delta CRLs, which tsca does not issue",
                entry.serial
            )))
        }
        Some(reason) => Some(reason.code()),
    };
    let reason_len = reason.map_or(0, |_| REASON_EXTENSION_PREFIX.len() + 1);
    let content_len = 2 + serial.len() + time_len + reason_len;
    debug_assert!(content_len < 0x80);
    // Casts: serial.len() ≤ 21 and content_len ≤ 54, checked above.
    buf.extend_from_slice(&[0x30, content_len as u8, 0x02, serial.len() as u8]);
    buf.extend_from_slice(serial);
    buf.extend_from_slice(&time[..time_len]);
    if let Some(code) = reason {
        buf.extend_from_slice(&REASON_EXTENSION_PREFIX);
        buf.push(code);
    }
    Ok(())
}

/// RFC 5280 §5.1.2.6 / §4.1.2.5 `Time`, hand-written with the same rule as
/// [`crate::time::x509_time`]: `UTCTime` YYMMDDHHMMSSZ through 2049, `GeneralizedTime`
/// YYYYMMDDHHMMSSZ from 2050, whole seconds. Returns the TLV in a fixed array and its length.
fn encode_time(t: SystemTime) -> Result<([u8; 17], usize)> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::InvalidRequest("CRL entry revocation time before 1970".into()))?
        .as_secs();
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(Error::encode("CRL entry revocation time"))?;
    let mut out = [0u8; 17];
    let year = dt.year();
    let mut at = if year < 2050 {
        out[0] = 0x17;
        out[1] = 13;
        put2(&mut out[2..], (year % 100) as u8);
        4
    } else {
        out[0] = 0x18;
        out[1] = 15;
        put2(&mut out[2..], (year / 100) as u8);
        put2(&mut out[4..], (year % 100) as u8);
        6
    };
    for part in [dt.month(), dt.day(), dt.hour(), dt.minutes(), dt.seconds()] {
        put2(&mut out[at..], part);
        at += 2;
    }
    out[at] = b'Z';
    Ok((out, at + 1))
}

fn put2(out: &mut [u8], value: u8) {
    out[0] = b'0' + value / 10;
    out[1] = b'0' + value % 10;
}

/// A decoded v2 CRL, as tsca writes them: version v2, `signature` equal to
/// `signatureAlgorithm`, a cRLNumber and an authorityKeyIdentifier, and no critical
/// extension other than those tsca understands (none: delta and partitioned CRLs are refused,
/// as RFC 5280 §5.2 requires of a reader that does not process them).
///
/// Its signature is not yet checked: call [`Crl::verify_signature`].
#[derive(Clone, Debug)]
pub struct Crl {
    list: CertificateList,
    tbs_der: Vec<u8>,
    crl_number: Vec<u8>,
    authority_key_identifier: Vec<u8>,
}

/// Decodes a DER CRL (see [`Crl`] for what is checked).
pub fn parse_crl(der: &[u8]) -> Result<Crl> {
    let list = CertificateList::from_der(der).map_err(Error::decode("CRL"))?;
    // The exact TBSCertList bytes, for the signature check: the first TLV inside the outer
    // SEQUENCE (x509-cert's decoder is strict DER, so they also re-encode identically).
    let tbs_der = {
        let mut reader = SliceReader::new(der).map_err(Error::decode("CRL"))?;
        let header = der::Header::decode(&mut reader).map_err(Error::decode("CRL"))?;
        let mut content = SliceReader::new(
            reader
                .read_slice(header.length)
                .map_err(Error::decode("CRL"))?,
        )
        .map_err(Error::decode("CRL"))?;
        content.tlv_bytes().map_err(Error::decode("CRL"))?.to_vec()
    };
    let tbs = &list.tbs_cert_list;
    if tbs.version != Version::V2 {
        return Err(Error::InvalidRequest(format!(
            "CRL version {:?}: tsca reads v2 CRLs",
            tbs.version
        )));
    }
    if tbs.signature != list.signature_algorithm {
        return Err(Error::InvalidRequest(
            "CRL signature and signatureAlgorithm differ (RFC 5280 §5.1.1.2)".into(),
        ));
    }
    let mut crl_number = None;
    let mut aki = None;
    for ext in tbs.crl_extensions.as_deref().unwrap_or(&[]) {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            ID_CE_CRL_NUMBER if crl_number.is_none() => {
                let number = CrlNumber::from_der(value).map_err(Error::decode("cRLNumber"))?;
                crl_number = Some(number.0.as_bytes().to_vec());
            }
            ID_CE_AUTHORITY_KEY_IDENTIFIER if aki.is_none() => {
                let value = AuthorityKeyIdentifier::from_der(value)
                    .map_err(Error::decode("CRL authorityKeyIdentifier"))?;
                aki = Some(
                    value
                        .key_identifier
                        .ok_or_else(|| {
                            Error::InvalidRequest(
                                "CRL authorityKeyIdentifier without a keyIdentifier".into(),
                            )
                        })?
                        .as_bytes()
                        .to_vec(),
                );
            }
            ID_CE_CRL_NUMBER | ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                return Err(Error::InvalidRequest(format!(
                    "CRL extension {} appears twice",
                    ext.extn_id
                )))
            }
            other if ext.critical => {
                return Err(Error::InvalidRequest(format!(
                    "CRL has an unsupported critical extension {other}"
                )))
            }
            _ => {}
        }
    }
    Ok(Crl {
        tbs_der,
        crl_number: crl_number
            .ok_or_else(|| Error::InvalidRequest("CRL without a cRLNumber".into()))?,
        authority_key_identifier: aki
            .ok_or_else(|| Error::InvalidRequest("CRL without an authorityKeyIdentifier".into()))?,
        list,
    })
}

impl Crl {
    /// The decoded structure.
    pub fn certificate_list(&self) -> &CertificateList {
        &self.list
    }

    /// The exact DER of `tbsCertList`, as signed.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.list.tbs_cert_list.issuer
    }

    /// `thisUpdate`.
    pub fn this_update(&self) -> SystemTime {
        self.list.tbs_cert_list.this_update.to_system_time()
    }

    /// `nextUpdate`, when present.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.list
            .tbs_cert_list
            .next_update
            .map(|t| t.to_system_time())
    }

    /// The cRLNumber as big-endian unsigned octets, leading zeros stripped (up to 20 octets).
    pub fn crl_number(&self) -> &[u8] {
        &self.crl_number
    }

    /// The cRLNumber if it fits a `u64` (every number tsca writes does).
    pub fn crl_number_u64(&self) -> Option<u64> {
        let bytes = self.crl_number.as_slice();
        (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b)))
    }

    /// The authorityKeyIdentifier's keyIdentifier (the issuer's SKI).
    pub fn authority_key_identifier(&self) -> &[u8] {
        &self.authority_key_identifier
    }

    /// The number of revoked entries.
    pub fn len(&self) -> usize {
        self.revoked().len()
    }

    /// Whether no certificate is listed.
    pub fn is_empty(&self) -> bool {
        self.revoked().is_empty()
    }

    fn revoked(&self) -> &[RevokedCert] {
        self.list
            .tbs_cert_list
            .revoked_certificates
            .as_deref()
            .unwrap_or(&[])
    }

    /// The entries, in CRL order. An entry with an unreadable reasonCode or an unsupported
    /// critical entry extension (e.g. certificateIssuer, for indirect CRLs) is an error.
    pub fn entries(&self) -> impl Iterator<Item = Result<RevokedEntry>> + '_ {
        self.revoked().iter().map(|cert| {
            let mut reason = None;
            for ext in cert.crl_entry_extensions.as_deref().unwrap_or(&[]) {
                if ext.extn_id == ID_CE_CRL_REASONS && reason.is_none() {
                    let code = CrlReason::from_der(ext.extn_value.as_bytes())
                        .map_err(Error::decode("CRL entry reasonCode"))?;
                    reason = Some(RevocationReason::from_code(code as u8).ok_or_else(|| {
                        Error::InvalidRequest(format!("CRL reasonCode {}", code as u8))
                    })?);
                } else if ext.critical || ext.extn_id == ID_CE_CRL_REASONS {
                    return Err(Error::InvalidRequest(format!(
                        "CRL entry {} has an unsupported or repeated extension {}",
                        cert.serial_number, ext.extn_id
                    )));
                }
            }
            Ok(RevokedEntry {
                serial: cert.serial_number.clone(),
                revoked_at: cert.revocation_date.to_system_time(),
                reason,
            })
        })
    }

    /// Checks that `issuer` issued this CRL: same name, its SKI (if any) equals the CRL's
    /// AKI, and the signature verifies with its key (ECDSA P-256 or P-384, SHA-256 or
    /// SHA-384, with ring).
    pub fn verify_signature(&self, issuer: &Certificate) -> Result<()> {
        if issuer.tbs_certificate.subject != *self.issuer() {
            return Err(Error::InvalidRequest(format!(
                "CRL issuer {} is not {}",
                self.issuer(),
                issuer.subject_text()
            )));
        }
        if let Some(ski) = subject_key_identifier(issuer)? {
            if ski != self.authority_key_identifier {
                return Err(Error::InvalidRequest(format!(
                    "CRL authorityKeyIdentifier {} is not the subjectKeyIdentifier {} of {}",
                    hex::encode(&self.authority_key_identifier),
                    hex::encode(ski),
                    issuer.subject_text()
                )));
            }
        }
        let signature = self
            .list
            .signature
            .as_bytes()
            .ok_or_else(|| Error::BadSignature {
                what: "CRL (signature has unused bits)".into(),
            })?;
        crate::verify::verify_signature(
            &self.list.signature_algorithm,
            &issuer.tbs_certificate.subject_public_key_info,
            &self.tbs_der,
            signature,
            &format!("CRL of {}", issuer.subject_text()),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::{KeyAlgorithm, SoftwareKey};
    use crate::time::days;
    use crate::x509::{Extension, TbsCertificate};
    use der::asn1::BitString;
    use std::str::FromStr;
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsages};
    use x509_cert::time::{Time, Validity};

    /// 2025-06-15T16:53:20Z
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_750_006_400)
    }

    struct TestCa {
        key: SoftwareKey,
        cert: Certificate,
        ski: Vec<u8>,
    }

    /// A throwaway CA certificate: self-signed, SKI set, and an AKI deliberately different
    /// from its SKI (so a CRL that copied the issuer's AKI would be caught).
    fn test_ca(algorithm: KeyAlgorithm, ski: Option<&[u8]>, usage: KeyUsages) -> TestCa {
        let key = SoftwareKey::generate(algorithm).unwrap();
        let name = Name::from_str("CN=tsca test CA,O=tsca,C=FR").unwrap();
        let mut extensions = vec![
            Extension::new(
                const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            )
            .unwrap(),
            Extension::new(
                ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | usage),
            )
            .unwrap(),
            Extension::new(
                ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(vec![0xAA; 20]).unwrap()),
                    ..Default::default()
                },
            )
            .unwrap(),
        ];
        if let Some(ski) = ski {
            extensions.push(
                Extension::new(
                    ID_CE_SUBJECT_KEY_IDENTIFIER,
                    false,
                    &SubjectKeyIdentifier(OctetString::new(ski).unwrap()),
                )
                .unwrap(),
            );
        }
        let tbs = TbsCertificate {
            version: x509_cert::certificate::Version::V3,
            serial_number: SerialNumber::new(&[0x01, 0x02, 0x03]).unwrap(),
            signature: key.algorithm().signature_algorithm(),
            issuer: name.clone(),
            validity: Validity {
                not_before: x509_time(now() - days(1)).unwrap(),
                not_after: x509_time(now() + days(3650)).unwrap(),
            },
            subject: name,
            subject_public_key_info: key.public_key().clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let signature = key.sign(&tbs.to_der().unwrap()).unwrap();
        let cert = Certificate {
            signature_algorithm: key.algorithm().signature_algorithm(),
            tbs_certificate: tbs,
            signature: BitString::from_bytes(&signature).unwrap(),
        };
        TestCa {
            key,
            cert,
            ski: ski.map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }

    fn ca(algorithm: KeyAlgorithm) -> TestCa {
        let ski: Vec<u8> = (1..=20).collect();
        test_ca(algorithm, Some(&ski), KeyUsages::CRLSign)
    }

    fn serial(n: u64) -> SerialNumber {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        SerialNumber::new(&bytes).unwrap()
    }

    /// One entry per reason tsca may write, plus one without a reason.
    fn sample_entries() -> Vec<RevokedEntry> {
        let mut reasons: Vec<Option<RevocationReason>> = RevocationReason::ALL
            .into_iter()
            .filter(|r| *r != RevocationReason::RemoveFromCrl)
            .map(Some)
            .collect();
        reasons.push(None);
        reasons
            .into_iter()
            .enumerate()
            .map(|(i, reason)| {
                RevokedEntry::new(serial(i as u64 + 1), now() - days(i as u64 + 1), reason)
            })
            .collect()
    }

    #[test]
    fn round_trip_with_every_reason_on_both_curves() {
        for algorithm in [KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256] {
            let ca = ca(algorithm);
            let entries = sample_entries();
            let der = sign_crl(
                &ca.cert,
                &ca.key,
                42,
                now(),
                now() + days(7),
                entries.iter(),
            )
            .unwrap();

            // x509-cert's view.
            let list = CertificateList::from_der(&der).unwrap();
            let tbs = &list.tbs_cert_list;
            assert_eq!(tbs.version, Version::V2);
            assert_eq!(tbs.signature, algorithm.signature_algorithm());
            assert_eq!(list.signature_algorithm, algorithm.signature_algorithm());
            assert_eq!(
                tbs.issuer.to_der().unwrap(),
                ca.cert.tbs_certificate.subject.to_der().unwrap()
            );
            assert!(matches!(tbs.this_update, Time::UtcTime(_)));
            assert_eq!(tbs.this_update.to_system_time(), now());
            assert_eq!(tbs.next_update.unwrap().to_system_time(), now() + days(7));
            let exts = tbs.crl_extensions.as_ref().unwrap();
            assert_eq!(exts.len(), 2);
            assert!(exts.iter().all(|e| !e.critical));
            let revoked = tbs.revoked_certificates.as_ref().unwrap();
            assert_eq!(revoked.len(), entries.len());
            for (cert, entry) in revoked.iter().zip(&entries) {
                assert_eq!(cert.serial_number, entry.serial);
                assert_eq!(cert.revocation_date.to_system_time(), entry.revoked_at);
                let exts = cert.crl_entry_extensions.as_deref().unwrap_or(&[]);
                match entry.reason {
                    None | Some(RevocationReason::Unspecified) => assert!(exts.is_empty()),
                    Some(reason) => {
                        assert_eq!(exts.len(), 1);
                        assert_eq!(exts[0].extn_id, ID_CE_CRL_REASONS);
                        let code = CrlReason::from_der(exts[0].extn_value.as_bytes()).unwrap();
                        assert_eq!(code as u8, reason.code());
                    }
                }
            }

            // Our reader's view.
            let crl = parse_crl(&der).unwrap();
            assert_eq!(crl.crl_number_u64(), Some(42));
            assert_eq!(crl.crl_number(), &[42]);
            assert_eq!(crl.authority_key_identifier(), ca.ski.as_slice());
            assert_ne!(crl.authority_key_identifier(), &[0xAA; 20]);
            let back: Vec<RevokedEntry> = crl.entries().collect::<Result<_>>().unwrap();
            let expected: Vec<RevokedEntry> = entries
                .iter()
                .cloned()
                .map(|mut e| {
                    if e.reason == Some(RevocationReason::Unspecified) {
                        e.reason = None;
                    }
                    e
                })
                .collect();
            assert_eq!(back, expected);
            crl.verify_signature(&ca.cert).unwrap();

            // Tampering breaks the signature.
            let mut bad = der.clone();
            let i = bad.len() / 2;
            bad[i] ^= 0x01;
            if let Ok(crl) = parse_crl(&bad) {
                assert!(crl.verify_signature(&ca.cert).is_err());
            }

            // Another CA with the same name does not verify it.
            let other = self::ca(algorithm);
            assert!(parse_crl(&der)
                .unwrap()
                .verify_signature(&other.cert)
                .is_err());

            openssl_verify(&der, &ca, algorithm.name());
        }
    }

    #[test]
    fn empty_crl_has_no_revoked_certificates_field() {
        let ca = ca(KeyAlgorithm::EcdsaP256);
        let der = sign_crl(
            &ca.cert,
            &ca.key,
            1,
            now(),
            now() + days(1),
            Vec::<RevokedEntry>::new(),
        )
        .unwrap();
        let list = CertificateList::from_der(&der).unwrap();
        assert!(list.tbs_cert_list.revoked_certificates.is_none());
        // Re-encoding the decoded structure gives the same bytes: no empty SEQUENCE hides in it.
        assert_eq!(list.to_der().unwrap(), der);
        let crl = parse_crl(&der).unwrap();
        assert!(crl.is_empty());
        crl.verify_signature(&ca.cert).unwrap();
        openssl_verify(&der, &ca, "empty");
    }

    #[test]
    fn ten_thousand_entries_decode() {
        let ca = ca(KeyAlgorithm::EcdsaP384);
        let entries = (0..10_000u64).map(|i| {
            RevokedEntry::new(
                serial(i),
                now() - Duration::from_secs(i * 37),
                (i % 10 == 0).then_some(RevocationReason::KeyCompromise),
            )
        });
        let der = sign_crl(&ca.cert, &ca.key, u64::MAX, now(), now() + days(1), entries).unwrap();
        let crl = parse_crl(&der).unwrap();
        assert_eq!(crl.len(), 10_000);
        assert_eq!(crl.crl_number_u64(), Some(u64::MAX));
        assert_eq!(crl.crl_number(), &[0xFF; 8]);
        crl.verify_signature(&ca.cert).unwrap();
        // The length fix-ups are right: x509-cert re-encodes exactly what we wrote.
        assert_eq!(crl.certificate_list().to_der().unwrap(), der);
        openssl_verify(&der, &ca, "10k");
    }

    #[test]
    fn entries_match_x509_cert_encoding() {
        let times = [
            UNIX_EPOCH,
            now(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_999),
            UNIX_EPOCH + Duration::from_secs(2_524_607_999), // 2049-12-31T23:59:59Z
            UNIX_EPOCH + Duration::from_secs(2_524_608_000), // 2050-01-01T00:00:00Z
            UNIX_EPOCH + Duration::from_secs(4_102_444_800 + 86_399), // 2100-01-01T23:59:59Z
            UNIX_EPOCH + Duration::from_secs(253_402_300_799), // 9999-12-31T23:59:59Z
        ];
        let serials = [
            SerialNumber::new(&[0x01]).unwrap(),
            SerialNumber::new(&[0x80]).unwrap(),
            SerialNumber::new(&[0x7F; 20]).unwrap(),
            SerialNumber::new(&[0xFF; 19]).unwrap(),
            serial(7),
        ];
        for (i, &t) in times.iter().enumerate() {
            for (j, serial) in serials.iter().enumerate() {
                let reason = RevocationReason::ALL
                    .into_iter()
                    .filter(|r| *r != RevocationReason::RemoveFromCrl)
                    .nth((i + j) % 9);
                let entry = RevokedEntry::new(serial.clone(), t, reason);
                let mut ours = Vec::new();
                push_entry(&mut ours, &entry).unwrap();
                let extensions = match reason {
                    None | Some(RevocationReason::Unspecified) => None,
                    Some(r) => {
                        let code = CrlReason::from_der(&[0x0A, 0x01, r.code()]).unwrap();
                        Some(vec![std_extension(ID_CE_CRL_REASONS, &code).unwrap()])
                    }
                };
                let theirs = RevokedCert {
                    serial_number: serial.clone(),
                    revocation_date: x509_time(t).unwrap(),
                    crl_entry_extensions: extensions,
                }
                .to_der()
                .unwrap();
                assert_eq!(ours, theirs, "time {t:?}, serial {serial}");
            }
        }
    }

    #[test]
    fn header_lengths() {
        assert_eq!(der_header(0x30, 0).unwrap(), [0x30, 0x00]);
        assert_eq!(der_header(0x30, 127).unwrap(), [0x30, 0x7F]);
        assert_eq!(der_header(0x30, 128).unwrap(), [0x30, 0x81, 0x80]);
        assert_eq!(der_header(0x30, 256).unwrap(), [0x30, 0x82, 0x01, 0x00]);
        assert_eq!(
            der_header(0x30, 40_000_000).unwrap(),
            [0x30, 0x84, 0x02, 0x62, 0x5A, 0x00]
        );
    }

    #[test]
    fn refuses_bad_requests() {
        let ca = ca(KeyAlgorithm::EcdsaP256);
        let none = Vec::<RevokedEntry>::new;

        for next in [now(), now() - days(1)] {
            let err = sign_crl(&ca.cert, &ca.key, 1, now(), next, none()).unwrap_err();
            assert!(err.to_string().contains("nextUpdate"), "{err}");
        }

        let no_ski = test_ca(KeyAlgorithm::EcdsaP256, None, KeyUsages::CRLSign);
        let err =
            sign_crl(&no_ski.cert, &no_ski.key, 1, now(), now() + days(1), none()).unwrap_err();
        assert!(err.to_string().contains("subjectKeyIdentifier"), "{err}");

        let no_crl_sign = test_ca(
            KeyAlgorithm::EcdsaP256,
            Some(&[1; 20]),
            KeyUsages::DigitalSignature,
        );
        let err = sign_crl(
            &no_crl_sign.cert,
            &no_crl_sign.key,
            1,
            now(),
            now() + days(1),
            none(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("cRLSign"), "{err}");

        let stranger = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let err = sign_crl(&ca.cert, &stranger, 1, now(), now() + days(1), none()).unwrap_err();
        assert!(
            err.to_string()
                .contains("the signing key is not the issuer's key"),
            "{err}"
        );

        let remove = [RevokedEntry::new(
            serial(1),
            now(),
            Some(RevocationReason::RemoveFromCrl),
        )];
        let err =
            sign_crl(&ca.cert, &ca.key, 1, now(), now() + days(1), remove.iter()).unwrap_err();
        assert!(err.to_string().contains("removeFromCRL"), "{err}");
    }

    /// Hands the CRL to `openssl crl -verify` when the binary exists, and checks that openssl
    /// reads the issuer's SKI as the CRL's AKI.
    fn openssl_verify(crl: &[u8], test_ca: &TestCa, label: &str) {
        let ca = &test_ca.cert;
        use std::process::Command;
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("note: openssl not found, CRL not cross-checked ({label})");
            return;
        }
        let dir = std::env::temp_dir().join(format!(
            "tsca-crl-{}-{label}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let crl_path = dir.join("x.crl");
        let ca_path = dir.join("ca.pem");
        std::fs::write(&crl_path, crl).unwrap();
        std::fs::write(&ca_path, ca.to_pem().unwrap()).unwrap();
        let out = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-in"])
            .arg(&crl_path)
            .arg("-CAfile")
            .arg(&ca_path)
            .args(["-noout", "-verify"])
            .output()
            .unwrap();
        let dump = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&crl_path)
            .output()
            .unwrap();
        if std::env::var_os("TSCA_KEEP_CRL").is_some() {
            eprintln!("kept {}", dir.display());
        } else {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("verify OK"),
            "openssl crl -verify ({label}): {text}"
        );
        let dump = String::from_utf8_lossy(&dump.stdout);
        let aki: Vec<String> = test_ca.ski.iter().map(|b| format!("{b:02X}")).collect();
        assert!(
            dump.contains("CRL Number") && dump.contains(&aki.join(":")),
            "openssl crl -text ({label}): {dump}"
        );
    }
}
