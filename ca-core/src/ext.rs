//! Certificate extensions that carry numbering resources, and tsca's object identifiers.
//!
//! - **TNAuthList** (RFC 8226 §9, OID 1.3.6.1.5.5.7.1.26, non-critical): service provider
//!   codes, telephone-number ranges and single numbers, as SIP/STIR verifiers read them.
//! - **tscaNumberingResources** (ours, [`ID_TSCA_NUMBERING_RESOURCES`], non-critical): what TNAuthList cannot say — variable-length E.164 prefixes, PLMN IDs,
//!   MCCs, "any SPC". On CA certificates it is a constraint, on operator certificates an
//!   authorisation, in the manner of RFC 3779. The ASN.1 module, with a worked example, is
//!   in `docs/asn1.md`.
//!
//! Both are hand-written because no published crate has these types.

use der::asn1::{Ia5String, Null};
use der::{Choice, Decode, Encode, Sequence};

use crate::error::{Error, Result};
use crate::numbering::{
    E164Prefix, Mcc, NumberingResource, NumberingScope, PlmnId, ServiceProviderCode,
};
use crate::x509::Oid;

/// tsca's OID arc. **Interim**: the IANA example enterprise number of RFC 5612 (32473),
/// until the project registers its own Private Enterprise Number; change only this constant.
///
/// The first design chose a UUID arc (`2.25.208049740704165639494287749751663258592`, X.667). It is
/// valid ASN.1 but its 128-bit arc breaks real parsers: pkilint's decoder (pyasn1-fasder) and
/// the RustCrypto `const-oid` crate refuse arcs above 32 bits and cannot load such a
/// certificate at all, and Go's `crypto/x509` refuses arcs above 63 bits. A certificate a
/// gateway cannot parse is worthless, so the arc is one whose numbers all fit in 32 bits
/// (docs/adr/0002-oid-arc.md).
pub const TSCA_ARC: &str = "1.3.6.1.4.1.32473.1";

/// `id-tsca-numberingResources` = arc.1.1
pub const ID_TSCA_NUMBERING_RESOURCES: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1.1.1");

/// `id-tsca-policy-v1` = arc.2.1: the tsca certificate policy, version 1.
pub const ID_TSCA_POLICY_V1: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1.2.1");

/// [`ID_TSCA_NUMBERING_RESOURCES`] as an [`Oid`].
pub fn id_tsca_numbering_resources() -> Oid {
    Oid::from(ID_TSCA_NUMBERING_RESOURCES)
}

/// [`ID_TSCA_POLICY_V1`] as an [`Oid`].
pub fn id_tsca_policy_v1() -> Oid {
    Oid::from(ID_TSCA_POLICY_V1)
}

/// `id-pe-TNAuthList` (RFC 8226 §9).
pub const ID_PE_TN_AUTH_LIST: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.26");
/// `id-ce-noRevAvail` (RFC 9608): no revocation information is available.
pub const ID_CE_NO_REV_AVAIL: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.5.29.56");
/// `id-pkix-ocsp-nocheck` (RFC 6960 §4.2.2.2.1).
pub const ID_PKIX_OCSP_NOCHECK: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");

/// RFC 8226 §9:
///
/// ```text
/// TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
///
/// TNEntry ::= CHOICE {
///   spc   [0] ServiceProviderCode,
///   range [1] TelephoneNumberRange,
///   one   [2] TelephoneNumber
///   }
///
/// ServiceProviderCode ::= IA5String
///
/// TelephoneNumberRange ::= SEQUENCE {
///   start TelephoneNumber,
///   count INTEGER (2..MAX),
///   ...
///   }
///
/// TelephoneNumber ::= IA5String (SIZE (1..15)) (FROM ("0123456789#*"))
/// ```
///
/// The module's default tagging is EXPLICIT, so `spc [0]` is `A0 len 16 len …`, as deployed
/// SHAKEN certificates carry it (`30 08 A0 06 16 04 32 37 32 30` is SPC "2720").
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum TnEntry {
    /// `spc [0] ServiceProviderCode`
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    Spc(Ia5String),
    /// `range [1] TelephoneNumberRange`
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    Range(TelephoneNumberRange),
    /// `one [2] TelephoneNumber`
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    One(Ia5String),
}

/// RFC 8226 `TelephoneNumberRange` (the extension marker `...` admits no extra fields here).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TelephoneNumberRange {
    /// First number.
    pub start: Ia5String,
    /// How many numbers, at least 2.
    pub count: u64,
}

/// The decoded TNAuthList: one or more entries.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TnAuthList(pub Vec<TnEntry>);

impl TnAuthList {
    /// Decodes the extension value (the bytes inside extnValue).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let entries = Vec::<TnEntry>::from_der(der).map_err(Error::decode("TNAuthList"))?;
        if entries.is_empty() {
            return Err(Error::InvalidRequest(
                "TNAuthList is empty: RFC 8226 requires at least one entry".into(),
            ));
        }
        Ok(Self(entries))
    }

    /// Encodes the extension value.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        self.0.to_der().map_err(Error::encode("TNAuthList"))
    }

    /// The TNAuthList for the SPCs, ranges and numbers of a scope. Prefixes, PLMN IDs and the
    /// wildcards have no TNAuthList form and are left to tscaNumberingResources; `None` when
    /// nothing is left.
    pub fn from_scope(scope: &NumberingScope) -> Result<Option<Self>> {
        let ia5 = |s: &str| Ia5String::new(s).map_err(Error::encode("TNAuthList string"));
        let mut entries = Vec::new();
        // SPCs first, as deployed SHAKEN certificates carry them.
        let spcs = scope
            .entries()
            .filter(|e| matches!(e, NumberingResource::Spc(_)));
        let others = scope
            .entries()
            .filter(|e| !matches!(e, NumberingResource::Spc(_)));
        for entry in spcs.chain(others) {
            match entry {
                NumberingResource::Spc(spc) => entries.push(TnEntry::Spc(ia5(spc.as_str())?)),
                NumberingResource::E164Range(r) => {
                    entries.push(TnEntry::Range(TelephoneNumberRange {
                        start: ia5(r.start().as_str())?,
                        count: r.count(),
                    }))
                }
                NumberingResource::E164Number(n) => entries.push(TnEntry::One(ia5(n.as_str())?)),
                NumberingResource::DialString(d) => entries.push(TnEntry::One(ia5(d.as_str())?)),
                NumberingResource::DialStringRange { start, count } => {
                    entries.push(TnEntry::Range(TelephoneNumberRange {
                        start: ia5(start.as_str())?,
                        count: *count,
                    }))
                }
                _ => {}
            }
        }
        Ok((!entries.is_empty()).then_some(Self(entries)))
    }

    /// The entries as numbering resources. Numbers with `#` or `*` (allowed by RFC 8226 for
    /// service codes) are not E.164 numbers: they become dial strings, which match only
    /// themselves (numbering/dial_string.rs).
    pub fn to_scope(&self) -> Result<NumberingScope> {
        let mut out = Vec::with_capacity(self.0.len());
        for entry in &self.0 {
            out.push(match entry {
                TnEntry::Spc(s) => NumberingResource::Spc(ServiceProviderCode::parse(s.as_str())?),
                TnEntry::Range(r) => {
                    NumberingResource::telephone_number_range(r.start.as_str(), r.count)?
                }
                TnEntry::One(n) => NumberingResource::telephone_number(n.as_str())?,
            });
        }
        Ok(NumberingScope::new(out))
    }
}

/// tscaNumberingResources, tsca's own extension. Module `docs/asn1.md`:
///
/// ```text
/// TscaNumberingResources ::= SEQUENCE SIZE (1..MAX) OF NumberingResource
///
/// NumberingResource ::= CHOICE {                 -- EXPLICIT TAGS
///   e164Prefix  [0] E164Digits,                  -- every number starting with these digits
///   e164Range   [1] E164Range,                   -- RFC 8226 start + count
///   e164Number  [2] E164Digits,
///   spc         [3] IA5String,                   -- RFC 8226 ServiceProviderCode
///   anySpc      [4] NULL,                        -- every SPC (authorities only)
///   plmn        [5] PlmnId,                      -- E.212 MCC + MNC
///   mcc         [6] MccDigits                    -- every PLMN of a country code
/// }
///
/// E164Digits ::= IA5String (SIZE (1..15)) (FROM ("0123456789"))
/// E164Range  ::= SEQUENCE { start E164Digits, count INTEGER (2..MAX) }
/// PlmnId     ::= SEQUENCE { mcc MccDigits, mnc IA5String (SIZE (2..3)) (FROM ("0123456789")) }
/// MccDigits  ::= IA5String (SIZE (3)) (FROM ("0123456789"))
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
#[allow(missing_docs)]
pub enum NumberingResourceAsn1 {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    E164Prefix(Ia5String),
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    E164Range(TelephoneNumberRange),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    E164Number(Ia5String),
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", constructed = "true")]
    Spc(Ia5String),
    #[asn1(context_specific = "4", tag_mode = "EXPLICIT", constructed = "true")]
    AnySpc(Null),
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", constructed = "true")]
    Plmn(PlmnIdAsn1),
    #[asn1(context_specific = "6", tag_mode = "EXPLICIT", constructed = "true")]
    Mcc(Ia5String),
}

/// `PlmnId ::= SEQUENCE { mcc MccDigits, mnc IA5String }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
#[allow(missing_docs)]
pub struct PlmnIdAsn1 {
    pub mcc: Ia5String,
    pub mnc: Ia5String,
}

/// Encodes a scope as the tscaNumberingResources extension value. An empty scope cannot be
/// encoded (the SEQUENCE is `SIZE (1..MAX)`).
pub fn encode_numbering_resources(scope: &NumberingScope) -> Result<Vec<u8>> {
    if scope.is_empty() {
        return Err(Error::InvalidRequest(
            "an empty numbering scope cannot be put in a certificate".into(),
        ));
    }
    let ia5 = |s: &str| Ia5String::new(s).map_err(Error::encode("numbering resource"));
    let mut out = Vec::with_capacity(scope.entries().len());
    for entry in scope.entries() {
        out.push(match entry {
            NumberingResource::E164Prefix(p) => NumberingResourceAsn1::E164Prefix(ia5(p.as_str())?),
            NumberingResource::E164Range(r) => {
                NumberingResourceAsn1::E164Range(TelephoneNumberRange {
                    start: ia5(r.start().as_str())?,
                    count: r.count(),
                })
            }
            NumberingResource::E164Number(n) => NumberingResourceAsn1::E164Number(ia5(n.as_str())?),
            NumberingResource::Spc(s) => NumberingResourceAsn1::Spc(ia5(s.as_str())?),
            NumberingResource::AnySpc => NumberingResourceAsn1::AnySpc(Null),
            NumberingResource::Plmn(p) => NumberingResourceAsn1::Plmn(PlmnIdAsn1 {
                mcc: ia5(p.mcc().as_str())?,
                mnc: ia5(p.mnc())?,
            }),
            NumberingResource::Mcc(m) => NumberingResourceAsn1::Mcc(ia5(m.as_str())?),
            NumberingResource::DialString(d) => NumberingResourceAsn1::E164Number(ia5(d.as_str())?),
            NumberingResource::DialStringRange { start, count } => {
                NumberingResourceAsn1::E164Range(TelephoneNumberRange {
                    start: ia5(start.as_str())?,
                    count: *count,
                })
            } // NumberingResource is non_exhaustive for other crates only; every variant is here.
        });
    }
    out.to_der()
        .map_err(Error::encode("tscaNumberingResources"))
}

/// Decodes a tscaNumberingResources extension value into a scope, checking every entry.
pub fn decode_numbering_resources(der: &[u8]) -> Result<NumberingScope> {
    let entries = Vec::<NumberingResourceAsn1>::from_der(der)
        .map_err(Error::decode("tscaNumberingResources"))?;
    if entries.is_empty() {
        return Err(Error::InvalidRequest(
            "tscaNumberingResources is empty: it must hold at least one entry".into(),
        ));
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        out.push(match entry {
            NumberingResourceAsn1::E164Prefix(p) => {
                NumberingResource::E164Prefix(E164Prefix::parse(p.as_str())?)
            }
            NumberingResourceAsn1::E164Range(r) => {
                NumberingResource::telephone_number_range(r.start.as_str(), r.count)?
            }
            NumberingResourceAsn1::E164Number(n) => {
                NumberingResource::telephone_number(n.as_str())?
            }
            NumberingResourceAsn1::Spc(s) => {
                NumberingResource::Spc(ServiceProviderCode::parse(s.as_str())?)
            }
            NumberingResourceAsn1::AnySpc(_) => NumberingResource::AnySpc,
            NumberingResourceAsn1::Plmn(p) => {
                NumberingResource::Plmn(PlmnId::new(p.mcc.as_str(), p.mnc.as_str())?)
            }
            NumberingResourceAsn1::Mcc(m) => NumberingResource::Mcc(Mcc::parse(m.as_str())?),
        });
    }
    Ok(NumberingScope::new(out))
}

/// The numbering scope a certificate speaks for: the union of its tscaNumberingResources and
/// its TNAuthList (either may be absent; `None` when both are).
pub fn certificate_scope(cert: &crate::x509::Certificate) -> Result<Option<NumberingScope>> {
    certificate_scope_of_tbs(&cert.tbs_certificate)
}

/// As [`certificate_scope`], for a to-be-signed certificate.
pub fn certificate_scope_of_tbs(
    tbs: &crate::x509::TbsCertificate,
) -> Result<Option<NumberingScope>> {
    let ours = tbs
        .extension(&id_tsca_numbering_resources())?
        .map(|e| decode_numbering_resources(e.extn_value.as_bytes()))
        .transpose()?;
    let tn = tbs
        .extension(&Oid::from(ID_PE_TN_AUTH_LIST))?
        .map(|e| TnAuthList::from_der(e.extn_value.as_bytes()).and_then(|l| l.to_scope()))
        .transpose()?;
    Ok(match (ours, tn) {
        (None, None) => None,
        (Some(s), None) | (None, Some(s)) => Some(s),
        (Some(mut a), Some(b)) => {
            a.extend(&b);
            Some(a)
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oids_hang_under_the_arc() {
        assert_eq!(
            id_tsca_numbering_resources().to_string(),
            format!("{TSCA_ARC}.1.1")
        );
        assert_eq!(id_tsca_policy_v1().to_string(), format!("{TSCA_ARC}.2.1"));
    }

    #[test]
    fn decodes_the_deployed_shaken_tnauthlist() {
        let der = [0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, 0x32, 0x37, 0x32, 0x30];
        let list = TnAuthList::from_der(&der).unwrap();
        assert_eq!(list.0, vec![TnEntry::Spc(Ia5String::new("2720").unwrap())]);
        assert_eq!(list.to_der().unwrap(), der);
        assert_eq!(list.to_scope().unwrap().to_string(), "spc:2720");
    }

    #[test]
    fn the_field_certificate_speaks_for_spc_2720() {
        let pem = include_bytes!("../tests/vectors/shaken-2720-leaf.pem");
        let cert = crate::x509::Certificate::from_pem(pem).unwrap();
        let scope = certificate_scope(&cert).unwrap().unwrap();
        assert_eq!(scope.to_string(), "spc:2720");
    }

    #[test]
    fn tnauthlist_round_trips_ranges_and_numbers() {
        let scope = NumberingScope::parse([
            "spc:F0042",
            "range:33612340000+10000",
            "number:33612345678",
            "prefix:33",
        ])
        .unwrap();
        let list = TnAuthList::from_scope(&scope).unwrap().unwrap();
        assert_eq!(list.0.len(), 3, "the prefix has no TNAuthList form");
        let der = list.to_der().unwrap();
        // range [1] EXPLICIT: A1 13 30 11 16 0B "33612340000" 02 02 27 10
        let range_at = der.windows(2).position(|w| w == [0xA1, 0x13]).unwrap();
        assert_eq!(der[range_at + 2], 0x30);
        let back = TnAuthList::from_der(&der).unwrap().to_scope().unwrap();
        assert_eq!(
            back,
            NumberingScope::parse(["spc:F0042", "range:33612340000+10000", "number:33612345678"])
                .unwrap()
        );
    }

    #[test]
    fn tnauthlist_service_codes_are_dial_strings_not_e164() {
        let list = TnAuthList(vec![
            TnEntry::One(Ia5String::new("*67").unwrap()),
            TnEntry::Range(TelephoneNumberRange {
                start: Ia5String::new("#30").unwrap(),
                count: 5,
            }),
        ]);
        let scope = list.to_scope().unwrap();
        assert_eq!(scope.to_string(), "number:*67, range:#30+5");
        assert!(matches!(
            scope.entries().next(),
            Some(NumberingResource::DialString(_))
        ));
        let der = TnAuthList::from_scope(&scope)
            .unwrap()
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(
            TnAuthList::from_der(&der).unwrap().to_scope().unwrap(),
            scope
        );
        // Outside RFC 8226's alphabet: refused, naming the character.
        let plus = TnAuthList(vec![TnEntry::One(Ia5String::new("+33").unwrap())]);
        assert!(plus.to_scope().unwrap_err().to_string().contains("'+'"));
        assert!(TnAuthList::from_der(&[0x30, 0x00]).is_err());
    }

    #[test]
    fn numbering_resources_round_trip_every_kind() {
        let scope = NumberingScope::parse([
            "prefix:33",
            "range:33612340000+10000",
            "number:33612345678",
            "spc:F0042",
            "spc:*",
            "plmn:208-01",
            "plmn:310-410",
            "mcc:208",
        ])
        .unwrap();
        let der = encode_numbering_resources(&scope).unwrap();
        assert_eq!(decode_numbering_resources(&der).unwrap(), scope);
        assert!(encode_numbering_resources(&NumberingScope::default()).is_err());
        // A prefix with a letter is refused on decode, naming it.
        let bad = vec![NumberingResourceAsn1::E164Prefix(
            Ia5String::new("33a").unwrap(),
        )]
        .to_der()
        .unwrap();
        let err = decode_numbering_resources(&bad).unwrap_err().to_string();
        assert!(err.contains("33a"), "{err}");
    }

    #[test]
    fn worked_example_in_docs_is_exact() {
        // docs/asn1.md shows this value byte for byte.
        let scope = NumberingScope::parse(["prefix:33", "plmn:208-01", "spc:*"]).unwrap();
        let der = encode_numbering_resources(&scope).unwrap();
        assert_eq!(
            hex::encode(der),
            "3017a00416023333a4020500a50b3009160332303816023031"
        );
    }
}
