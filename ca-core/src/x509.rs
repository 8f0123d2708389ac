//! The X.509 certificate structure (RFC 5280 §4.1), with extension and policy OIDs of any size.
//!
//! Why hand-written: the RustCrypto `const-oid` crate (0.9 and 0.10 alike) holds only 32-bit
//! arcs, so `x509_cert::Certificate` cannot even *decode* a certificate that carries one
//! extension or policy under a UUID arc (`2.25.<128-bit integer>`, X.667) — which tsca's
//! first design chose for its own OIDs (see docs/adr/0002-oid-arc.md for why we moved off it) and
//! which others' certificates from the field may still carry. A verifier must not fail on
//! a non-critical extension it does not know, so this module mirrors
//! `x509_cert::certificate` one to one, but the extension identifier is an [`Oid`] that keeps
//! the DER bytes and accepts arcs of any size. Everything else (names, validity, keys,
//! algorithm identifiers) is x509-cert's.
//!
//! ```text
//! Certificate  ::=  SEQUENCE  {
//!      tbsCertificate       TBSCertificate,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//!
//! TBSCertificate  ::=  SEQUENCE  {
//!      version         [0]  EXPLICIT Version DEFAULT v1,
//!      serialNumber         CertificateSerialNumber,
//!      signature            AlgorithmIdentifier,
//!      issuer               Name,
//!      validity             Validity,
//!      subject              Name,
//!      subjectPublicKeyInfo SubjectPublicKeyInfo,
//!      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
//!      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
//!      extensions      [3]  EXPLICIT Extensions OPTIONAL }
//!
//! Extension  ::=  SEQUENCE  {
//!      extnID      OBJECT IDENTIFIER,
//!      critical    BOOLEAN DEFAULT FALSE,
//!      extnValue   OCTET STRING }
//! ```

use std::fmt;

use der::asn1::{BitString, OctetString};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Version;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::error::{Error, Result};

/// An OBJECT IDENTIFIER kept as its DER content octets, so arcs may be of any size.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(Vec<u8>);

impl Oid {
    /// Parses dotted-decimal text (`2.25.2080…`), arcs up to 128 bits.
    pub fn parse_dotted(text: &str) -> Option<Self> {
        let arcs: Vec<u128> = text
            .split('.')
            .map(|a| a.parse().ok())
            .collect::<Option<_>>()?;
        let (&first, rest) = arcs.split_first()?;
        let (&second, rest) = rest.split_first()?;
        if first > 2 || (first < 2 && second >= 40) {
            return None;
        }
        let mut bytes = Vec::new();
        push_base128(&mut bytes, first.checked_mul(40)?.checked_add(second)?);
        for &arc in rest {
            push_base128(&mut bytes, arc);
        }
        Some(Self(bytes))
    }

    /// Checks DER content octets: non-empty, minimal base-128, last octet ends an arc.
    pub fn from_der_content(bytes: &[u8]) -> Option<Self> {
        let ends_arc = bytes.last().is_some_and(|b| b & 0x80 == 0);
        let minimal = bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b != 0x80 || (i > 0 && bytes[i - 1] & 0x80 != 0));
        (ends_arc && minimal).then(|| Self(bytes.to_vec()))
    }

    /// The DER content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The arcs, each up to 128 bits; `None` if an arc is larger still.
    fn arcs(&self) -> Option<Vec<u128>> {
        let mut arcs = Vec::new();
        let mut acc: u128 = 0;
        for &b in &self.0 {
            acc = acc.checked_mul(128)? | u128::from(b & 0x7f);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (acc / 40).min(2);
                    arcs.push(first);
                    arcs.push(acc - first * 40);
                } else {
                    arcs.push(acc);
                }
                acc = 0;
            }
        }
        Some(arcs)
    }
}

fn push_base128(out: &mut Vec<u8>, mut value: u128) {
    let mut groups = vec![(value & 0x7f) as u8];
    value >>= 7;
    while value > 0 {
        groups.push(((value & 0x7f) as u8) | 0x80);
        value >>= 7;
    }
    out.extend(groups.iter().rev());
}

impl From<ObjectIdentifier> for Oid {
    fn from(oid: ObjectIdentifier) -> Self {
        Self(oid.as_bytes().to_vec())
    }
}

impl PartialEq<ObjectIdentifier> for Oid {
    fn eq(&self, other: &ObjectIdentifier) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arcs() {
            Some(arcs) => {
                let text: Vec<String> = arcs.iter().map(u128::to_string).collect();
                f.write_str(&text.join("."))
            }
            None => write!(f, "OID({})", hex::encode(&self.0)),
        }
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl FixedTag for Oid {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl<'a> DecodeValue<'a> for Oid {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length)?;
        Oid::from_der_content(&bytes).ok_or_else(|| Tag::ObjectIdentifier.value_error())
    }
}

impl EncodeValue for Oid {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

/// An X.509 v3 extension whose identifier may use any arc size.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Extension {
    /// extnID
    pub extn_id: Oid,
    /// critical BOOLEAN DEFAULT FALSE
    #[asn1(default = "Default::default")]
    pub critical: bool,
    /// extnValue: the DER of the extension's own value.
    pub extn_value: OctetString,
}

impl Extension {
    /// An extension holding the DER of `value`.
    pub fn new(extn_id: impl Into<Oid>, critical: bool, value: &impl Encode) -> Result<Self> {
        let der = value.to_der().map_err(Error::encode("extension value"))?;
        Ok(Self {
            extn_id: extn_id.into(),
            critical,
            extn_value: OctetString::new(der).map_err(Error::encode("extension value"))?,
        })
    }
}

/// RFC 5280 `TBSCertificate`, see the module documentation.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
#[allow(missing_docs)]
pub struct TbsCertificate {
    #[asn1(context_specific = "0", default = "Default::default")]
    pub version: Version,
    pub serial_number: SerialNumber,
    pub signature: AlgorithmIdentifierOwned,
    pub issuer: Name,
    pub validity: Validity,
    pub subject: Name,
    pub subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub issuer_unique_id: Option<BitString>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub subject_unique_id: Option<BitString>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

impl TbsCertificate {
    /// The extensions (empty when absent).
    pub fn extensions(&self) -> &[Extension] {
        self.extensions.as_deref().unwrap_or(&[])
    }

    /// The one extension with this identifier: `Ok(None)` when absent, an error when it
    /// appears twice (RFC 5280 §4.2: "MUST NOT include more than one instance").
    pub fn extension(&self, id: &Oid) -> Result<Option<&Extension>> {
        let mut found = self.extensions().iter().filter(|e| &e.extn_id == id);
        match (found.next(), found.next()) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) => Err(Error::InvalidRequest(format!(
                "extension {id} appears more than once"
            ))),
            (None, Some(_)) => unreachable!("iterator yielded after None"),
        }
    }

    /// Decodes the value of the extension `id` as `T`, with its criticality.
    pub fn decode_extension<T: for<'a> Decode<'a>>(
        &self,
        id: &Oid,
        what: &'static str,
    ) -> Result<Option<(bool, T)>> {
        self.extension(id)?
            .map(|ext| {
                T::from_der(ext.extn_value.as_bytes())
                    .map(|value| (ext.critical, value))
                    .map_err(Error::decode(what))
            })
            .transpose()
    }
}

/// RFC 5280 `Certificate`, see the module documentation.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
#[allow(missing_docs)]
pub struct Certificate {
    pub tbs_certificate: TbsCertificate,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: BitString,
}

/// The PEM label of a certificate.
pub const PEM_CERTIFICATE: &str = "CERTIFICATE";

impl Certificate {
    /// Decodes one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        <Self as Decode>::from_der(der).map_err(Error::decode("certificate"))
    }

    /// Decodes one PEM certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let (label, der) = pem_rfc7468_decode(pem)?;
        if label != PEM_CERTIFICATE {
            return Err(Error::InvalidRequest(format!(
                "expected a PEM CERTIFICATE, found {label}"
            )));
        }
        Self::from_der(&der)
    }

    /// Decodes every certificate of a PEM bundle, in order.
    pub fn load_pem_chain(pem: &[u8]) -> Result<Vec<Self>> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| Error::InvalidRequest("PEM bundle is not UTF-8 text".into()))?;
        let end = "-----END CERTIFICATE-----";
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let block = &rest[start..];
            let stop = block
                .find(end)
                .ok_or_else(|| Error::InvalidRequest("unterminated PEM certificate".into()))?
                + end.len();
            out.push(Self::from_pem(&block.as_bytes()[..stop])?);
            rest = &block[stop..];
        }
        Ok(out)
    }

    /// The DER encoding.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        Encode::to_der(self).map_err(Error::encode("certificate"))
    }

    /// The PEM encoding (LF line endings).
    pub fn to_pem(&self) -> Result<String> {
        pem_encode(PEM_CERTIFICATE, &self.to_der()?)
    }

    /// The subject name as RFC 4514 text, for messages.
    pub fn subject_text(&self) -> String {
        self.tbs_certificate.subject.to_string()
    }
}

/// PEM-encodes DER under `label` (RFC 7468, LF line endings).
pub fn pem_encode(label: &str, der: &[u8]) -> Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| Error::encode("PEM")(e.into()))
}

/// Decodes one PEM block into its label and DER bytes.
pub fn pem_rfc7468_decode(pem: &[u8]) -> Result<(String, Vec<u8>)> {
    let (label, der) = der::pem::decode_vec(pem).map_err(|e| Error::decode("PEM")(e.into()))?;
    Ok((label.to_owned(), der))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn uuid_oid_round_trips_beyond_32_bit_arcs() {
        let text = "2.25.208049740704165639494287749751663258592.1.1";
        let oid = Oid::parse_dotted(text).unwrap();
        assert_eq!(oid.to_string(), text);
        let der = oid.to_der().unwrap();
        assert_eq!(der[0], 0x06);
        let back = <Oid as Decode>::from_der(&der).unwrap();
        assert_eq!(back, oid);
        // openssl agrees on the encoding of the arc: 2.25 is 0x69.
        assert_eq!(oid.as_bytes()[0], 0x69);
    }

    #[test]
    fn standard_oids_compare_with_const_oid() {
        let ski = const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER;
        assert_eq!(Oid::from(ski), ski);
        assert_eq!(Oid::from(ski).to_string(), "2.5.29.14");
        assert_eq!(Oid::parse_dotted("2.5.29.14").unwrap(), ski);
    }

    #[test]
    fn non_minimal_oid_is_refused() {
        assert!(Oid::from_der_content(&[0x2a, 0x80, 0x01]).is_none());
        assert!(Oid::from_der_content(&[0x2a, 0x81]).is_none());
        assert!(Oid::from_der_content(&[]).is_none());
    }

    #[test]
    fn reads_the_field_shaken_certificate() {
        let pem = include_bytes!("../tests/vectors/shaken-2720-leaf.pem");
        let cert = Certificate::from_pem(pem).unwrap();
        assert!(cert.subject_text().contains("Fusion Connect SHAKEN 2720"));
    }
}
