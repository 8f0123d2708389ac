//! PKCS#10 certificate signing requests (RFC 2986), checked at the edge.
//!
//! An operator enrols a signing key by sending a CSR. [`CheckedCsr`] is the only form in which
//! the rest of tsca sees one, and it can only be made by [`CheckedCsr::from_pem`] or
//! [`CheckedCsr::from_der`], which parse the request and then check, in this order:
//!
//! 1. the encoding: one DER `CertificationRequest`, nothing after it (PEM label
//!    `CERTIFICATE REQUEST`, or the older `NEW CERTIFICATE REQUEST`);
//! 2. the version: v1 (0), the only one RFC 2986 defines;
//! 3. the public key, against tsca's key policy ([`crate::verify::classify_public_key`]);
//! 4. the self-signature, over the exact `certificationRequestInfo` octets received (sliced
//!    from the input, never re-encoded), with [`crate::verify::verify_signature`].
//!
//! Every refusal is an [`Error`] whose message says what to fix. Holding a `CheckedCsr` proves
//! that whoever sent it holds the private key of [`CheckedCsr::public_key`]; it says nothing
//! yet about *who* that is or what numbering scope they may have: that is the registry's
//! enrolment step. The requested subject and attributes are information only; the profile
//! decides what goes in a certificate.
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {                         -- RFC 2986 §4
//!      certificationRequestInfo CertificationRequestInfo,
//!      signatureAlgorithm       AlgorithmIdentifier,
//!      signature                BIT STRING }
//!
//! CertificationRequestInfo ::= SEQUENCE {
//!      version       INTEGER { v1(0) } (v1,...),
//!      subject       Name,
//!      subjectPKInfo SubjectPublicKeyInfo,
//!      attributes    [0] Attributes }
//! ```

use der::asn1::BitString;
use der::{Decode, ErrorKind, Reader, SliceReader};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::name::Name;
use x509_cert::request::CertReqInfo;

use crate::error::{Error, Result};
use crate::verify::{classify_public_key, verify_signature, PublicKeyKind};

/// The PEM label of a PKCS#10 request (RFC 7468 §7).
pub const PEM_CERTIFICATE_REQUEST: &str = "CERTIFICATE REQUEST";
/// The older label that some tools (Netscape, old Windows `certreq`) still write.
pub const PEM_NEW_CERTIFICATE_REQUEST: &str = "NEW CERTIFICATE REQUEST";

/// What a failing self-signature is reported on: [`Error::BadSignature`] prints
/// "bad signature on {what}".
const SELF_SIGNATURE: &str = "CSR: its self-signature does not verify, so the request was \
     altered after signing or signed with a key other than the one it contains; create the CSR \
     again with the key to be certified";

/// A PKCS#10 request that parsed, uses an accepted key and carries a valid self-signature.
///
/// Only [`CheckedCsr::from_pem`] and [`CheckedCsr::from_der`] make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCsr {
    der: Vec<u8>,
    info: CertReqInfo,
    key_kind: PublicKeyKind,
}

/// The first PEM block of `text`, from its BEGIN line to the end of its END line: RFC 7468
/// §2 lets explanatory text surround the block, and the strict decoder refuses it (a CSR
/// copied out of JSON with one more newline is common).
fn pem_block(text: &[u8]) -> &[u8] {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let Some(begin) = find(text, b"-----BEGIN ") else {
        return text;
    };
    let rest = &text[begin..];
    let Some(end) = find(rest, b"-----END ") else {
        return rest;
    };
    // The END line closes with "-----" after its label.
    let after_label = end + b"-----END ".len();
    match find(&rest[after_label..], b"-----") {
        Some(close) => &rest[..after_label + close + b"-----".len()],
        None => rest,
    }
}

impl CheckedCsr {
    /// Parses and checks a PEM CSR (`-----BEGIN CERTIFICATE REQUEST-----`; text before the
    /// block, as `openssl req -text` writes, and blank lines or text after it are ignored).
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem_block(pem)).map_err(|e| Error::Decode {
            what: "CSR (PEM)",
            source: e.into(),
        })?;
        if label != PEM_CERTIFICATE_REQUEST && label != PEM_NEW_CERTIFICATE_REQUEST {
            return Err(Error::Csr(format!(
                "expected a PEM block labelled {PEM_CERTIFICATE_REQUEST}, found {label}: send the \
                 certificate signing request (`openssl req -new`), not a {}",
                label.to_lowercase()
            )));
        }
        Self::from_der(&der)
    }

    /// Parses and checks a DER CSR. The input must be exactly one `CertificationRequest`.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        // 1. Encoding: split the outer SEQUENCE, keeping the signed octets as received.
        let (info_der, algorithm, signature) = split(der)?;
        // 2. Version, before the full decode, so a v2/v3 request gets a message, not a
        //    decoder error.
        check_version(info_der)?;
        let info = CertReqInfo::from_der(info_der)
            .map_err(Error::decode("CSR certificationRequestInfo"))?;
        // 3. Key policy first: "your key is refused" helps more than "your signature is".
        let key_kind = classify_public_key(&info.public_key)?;
        // 4. Self-signature over the received octets.
        let signature = signature.as_bytes().ok_or_else(|| {
            Error::Csr("the signature BIT STRING has unused bits: the CSR is malformed".into())
        })?;
        verify_signature(
            &algorithm,
            &info.public_key,
            info_der,
            signature,
            SELF_SIGNATURE,
        )?;
        Ok(Self {
            der: der.to_vec(),
            info,
            key_kind,
        })
    }

    /// The public key to be certified; it passed the key policy and signed this request.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.info.public_key
    }

    /// What kind of key [`Self::public_key`] is.
    pub fn key_kind(&self) -> PublicKeyKind {
        self.key_kind
    }

    /// The subject the requester asked for (information only: the profile sets the subject).
    pub fn subject(&self) -> &Name {
        &self.info.subject
    }

    /// The request exactly as received, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Splits `CertificationRequest` into the raw `certificationRequestInfo` TLV, the signature
/// algorithm and the signature, refusing anything after the outer SEQUENCE.
fn split(der: &[u8]) -> Result<(&[u8], AlgorithmIdentifierOwned, BitString)> {
    let mut reader = SliceReader::new(der).map_err(Error::decode("CSR"))?;
    let parts = reader
        .sequence(|r| {
            let info = r.tlv_bytes()?;
            let algorithm = r.decode::<AlgorithmIdentifierOwned>()?;
            let signature = r.decode::<BitString>()?;
            Ok((info, algorithm, signature))
        })
        .map_err(Error::decode("CSR"))?;
    reader.finish(parts).map_err(|e| match e.kind() {
        ErrorKind::TrailingData { decoded, remaining } => Error::Csr(format!(
            "{remaining} octets of trailing data after the {decoded}-octet CSR: send exactly one \
             DER CertificationRequest"
        )),
        _ => Error::decode("CSR")(e),
    })
}

/// Reads `version` from `CertificationRequestInfo` and refuses anything but v1 (0).
fn check_version(info_der: &[u8]) -> Result<()> {
    let version = SliceReader::new(info_der)
        .and_then(|mut reader| {
            reader.sequence(|r| {
                let version = r.decode::<i64>()?;
                while !r.is_finished() {
                    r.tlv_bytes()?;
                }
                Ok(version)
            })
        })
        .map_err(Error::decode("CSR certificationRequestInfo"))?;
    if version != 0 {
        return Err(Error::Csr(format!(
            "version field {version} (v{}): PKCS#10 defines only v1, encoded 0; \
             create the CSR with a standard tool (`openssl req -new`)",
            version.saturating_add(1)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::keys::{KeyAlgorithm, Signer, SoftwareKey};
    use der::Encode;
    use std::str::FromStr;
    use x509_cert::request::CertReq;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../tests/fixtures/csr/", $name, ".csr.pem")).as_slice()
        };
    }

    fn der_of(pem: &[u8]) -> Vec<u8> {
        der::pem::decode_vec(pem).unwrap().1
    }

    fn refused(pem: &[u8]) -> Error {
        CheckedCsr::from_pem(pem).unwrap_err()
    }

    fn assert_mentions(err: &Error, parts: &[&str]) {
        let text = err.to_string();
        for part in parts {
            assert!(text.contains(part), "{part:?} not in: {text}");
        }
    }

    #[test]
    fn good_csrs_parse_and_verify() {
        for (pem, name, kind) in [
            (
                fixture!("p256-sha256"),
                "p256-sha256",
                PublicKeyKind::EcP256,
            ),
            (
                fixture!("p256-sha384"),
                "p256-sha384",
                PublicKeyKind::EcP256,
            ),
            (
                fixture!("p384-sha384"),
                "p384-sha384",
                PublicKeyKind::EcP384,
            ),
            (
                fixture!("rsa2048-sha256"),
                "rsa2048-sha256",
                PublicKeyKind::Rsa { bits: 2048 },
            ),
            (
                fixture!("rsa3072-pss-sha256"),
                "rsa3072-pss-sha256",
                PublicKeyKind::Rsa { bits: 3072 },
            ),
        ] {
            let csr = CheckedCsr::from_pem(pem).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(csr.key_kind(), kind, "{name}");
            assert_eq!(
                csr.subject().to_string(),
                format!("CN={name},O=tsca test operator,C=FR")
            );
            let der = der_of(pem);
            assert_eq!(csr.der(), der.as_slice());
            let again = CheckedCsr::from_der(&der).unwrap();
            assert_eq!(again, csr);
            let parsed = CertReq::from_der(&der).unwrap();
            assert_eq!(csr.public_key(), &parsed.info.public_key);
        }
    }

    #[test]
    fn the_old_new_certificate_request_label_is_accepted() {
        let der = der_of(fixture!("p256-sha256"));
        let pem = der::pem::encode_string(
            PEM_NEW_CERTIFICATE_REQUEST,
            der::pem::LineEnding::CRLF,
            &der,
        )
        .unwrap();
        assert!(CheckedCsr::from_pem(pem.as_bytes()).is_ok());
        // Explanatory text before the block, as `openssl req -text` writes it.
        let with_text = [
            b"Certificate Request:\n    Data: ...\n".as_slice(),
            fixture!("p384-sha384"),
        ]
        .concat();
        assert!(CheckedCsr::from_pem(&with_text).is_ok());
        // Blank lines and text after it (a CSR printed out of JSON gets one more newline).
        let with_tail = [
            fixture!("p384-sha384"),
            b"\n\nthat was the CSR\n".as_slice(),
        ]
        .concat();
        assert!(CheckedCsr::from_pem(&with_tail).is_ok());
    }

    #[test]
    fn another_pem_label_is_refused() {
        let der = der_of(fixture!("p256-sha256"));
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap();
        let err = refused(pem.as_bytes());
        assert!(matches!(err, Error::Csr(_)), "{err}");
        assert_mentions(
            &err,
            &["CERTIFICATE REQUEST, found CERTIFICATE", "openssl req -new"],
        );
    }

    #[test]
    fn not_pem_or_not_der_is_a_decode_error() {
        let err = refused(b"hello");
        assert!(
            matches!(
                err,
                Error::Decode {
                    what: "CSR (PEM)",
                    ..
                }
            ),
            "{err}"
        );
        let err = CheckedCsr::from_der(b"\x30\x03\x02\x01").unwrap_err();
        assert!(matches!(err, Error::Decode { what: "CSR", .. }), "{err}");
        let err = CheckedCsr::from_der(&[]).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
    }

    #[test]
    fn trailing_garbage_is_refused() {
        let mut der = der_of(fixture!("p256-sha256"));
        let len = der.len();
        der.extend_from_slice(&[0x00, 0x00]);
        let err = CheckedCsr::from_der(&der).unwrap_err();
        assert!(matches!(err, Error::Csr(_)), "{err}");
        assert_mentions(
            &err,
            &[
                &format!("2 octets of trailing data after the {len}-octet CSR"),
                "exactly one",
            ],
        );
    }

    #[test]
    fn a_version_other_than_v1_is_refused() {
        let mut der = der_of(fixture!("p256-sha256"));
        // SEQUENCE { SEQUENCE { INTEGER 0, ...: find the version inside the first inner header.
        let info_at = 2 + usize::from(der[1] & 0x7f) * usize::from(der[1] > 0x80);
        let version_at = info_at
            + 2
            + usize::from(der[info_at + 1] & 0x7f) * usize::from(der[info_at + 1] > 0x80);
        assert_eq!(&der[version_at..version_at + 3], &[0x02, 0x01, 0x00]);
        der[version_at + 2] = 2;
        let err = CheckedCsr::from_der(&der).unwrap_err();
        assert!(matches!(err, Error::Csr(_)), "{err}");
        assert_mentions(&err, &["version field 2 (v3)", "only v1"]);
    }

    #[test]
    fn a_tampered_csr_fails_its_self_signature() {
        let err = refused(fixture!("tampered"));
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        assert_mentions(&err, &["bad signature on CSR", "altered after signing"]);
    }

    #[test]
    fn a_weak_rsa_key_is_refused() {
        let err = refused(fixture!("rsa1024-sha256"));
        assert!(matches!(err, Error::WeakKey(_)), "{err}");
        assert_mentions(&err, &["1024 bits", "minimum is 2048"]);

        let err = refused(fixture!("rsa2048-e3"));
        assert!(matches!(err, Error::WeakKey(_)), "{err}");
        assert_mentions(&err, &["exponent 3 is too small", "65537"]);
    }

    #[test]
    fn sha1_signatures_are_refused() {
        let err = refused(fixture!("rsa2048-sha1"));
        assert!(
            matches!(err, Error::UnsupportedSignatureAlgorithm(_)),
            "{err}"
        );
        assert_mentions(
            &err,
            &["sha1WithRSAEncryption", "SHA-1", "openssl req -sha256"],
        );
    }

    #[test]
    fn pss_with_openssls_default_maximum_salt_is_refused() {
        let err = refused(fixture!("rsa3072-pss-maxsalt"));
        assert!(
            matches!(err, Error::UnsupportedSignatureAlgorithm(_)),
            "{err}"
        );
        assert_mentions(&err, &["salt of 350 octets", "rsa_pss_saltlen:digest"]);
    }

    #[test]
    fn unsupported_keys_are_refused_by_name() {
        let err = refused(fixture!("ed25519"));
        assert!(matches!(err, Error::UnsupportedKey(_)), "{err}");
        assert_mentions(&err, &["Ed25519 (1.3.101.112)", "P-256 or P-384"]);

        let err = refused(fixture!("p521-sha512"));
        assert!(matches!(err, Error::UnsupportedKey(_)), "{err}");
        assert_mentions(&err, &["secp521r1 (1.3.132.0.35)", "P-256 or P-384"]);

        let err = refused(fixture!("secp256k1-sha256"));
        assert!(matches!(err, Error::UnsupportedKey(_)), "{err}");
        assert_mentions(&err, &["secp256k1 (1.3.132.0.10)", "P-256 or P-384"]);
    }

    /// A CSR made by our own signer, the way the registry makes one for a new sub-CA key.
    fn own_csr(key: &SoftwareKey, algorithm: AlgorithmIdentifierOwned) -> Vec<u8> {
        let info = CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: Name::from_str("CN=FR national authority,O=ARCEP,C=FR").unwrap(),
            public_key: key.public_key().clone(),
            attributes: Default::default(),
        };
        let signature = key.sign(&info.to_der().unwrap()).unwrap();
        CertReq {
            info,
            algorithm,
            signature: BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn csrs_signed_by_our_own_keys_verify() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let key = SoftwareKey::generate(alg).unwrap();
            let csr = CheckedCsr::from_der(&own_csr(&key, alg.signature_algorithm())).unwrap();
            assert_eq!(csr.public_key(), key.public_key());
            assert_eq!(
                csr.subject().to_string(),
                "CN=FR national authority,O=ARCEP,C=FR"
            );
        }
    }

    #[test]
    fn a_signature_algorithm_that_does_not_fit_the_key_is_refused() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let rsa = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(der::Any::null()),
        };
        let err = CheckedCsr::from_der(&own_csr(&key, rsa)).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedSignatureAlgorithm(_)),
            "{err}"
        );
        assert_mentions(&err, &["sha256WithRSAEncryption", "ECDSA P-256 key"]);
    }
}

/// Builds and signs a PKCS#10 request for `subject` with `signer`'s key (no attributes): what
/// an authority under an offline parent hands to the ceremony. The result passes
/// [`CheckedCsr::from_der`].
pub fn build_csr(
    subject: &crate::profile::SubjectName,
    signer: &dyn crate::keys::Signer,
) -> Result<Vec<u8>> {
    build_csr_for_name(subject.to_name()?, signer)
}

/// [`build_csr`] for a subject already encoded as a name (a SHAKEN domain CRL signer's,
/// fixed by the root's ceremony and kept as DER).
pub fn build_csr_for_name(
    subject: x509_cert::name::Name,
    signer: &dyn crate::keys::Signer,
) -> Result<Vec<u8>> {
    use der::Encode;
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject,
        public_key: signer.public_key().clone(),
        attributes: Default::default(),
    };
    let info_der = info
        .to_der()
        .map_err(Error::encode("CSR certificationRequestInfo"))?;
    let signature = signer.sign(&info_der)?;
    let request = x509_cert::request::CertReq {
        info,
        algorithm: signer.algorithm().signature_algorithm(),
        signature: BitString::from_bytes(&signature).map_err(Error::encode("CSR signature"))?,
    };
    let der = request.to_der().map_err(Error::encode("CSR"))?;
    // Check our own output the way a receiver would.
    CheckedCsr::from_der(&der)?;
    Ok(der)
}

#[cfg(test)]
mod build_tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, Signer, SoftwareKey};
    use crate::profile::SubjectName;

    #[test]
    fn built_csr_verifies_and_carries_the_key() {
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let key = SoftwareKey::generate(algorithm).expect("key");
            let subject = SubjectName::new("tsca Test National CA", Some("Regulator"), Some("FR"))
                .expect("name");
            let der = build_csr(&subject, &key).expect("csr");
            let csr = CheckedCsr::from_der(&der).expect("checked");
            assert_eq!(csr.public_key(), key.public_key());
        }
    }
}
