//! The indirect CRL of a SHAKEN trust domain (RFC 5280 §5, indirect CRLs; docs/profiles.md,
//! "The SHAKEN family"): one CRL, signed by the domain CRL signer, listing every revoked
//! certificate of the hierarchy — CAs included — as SHAKEN relying parties expect from the
//! STI-PA's CRL.
//!
//! ```text
//! crlExtensions:
//!   authorityKeyIdentifier      the signer's subjectKeyIdentifier
//!   cRLNumber
//!   issuingDistributionPoint    critical: distributionPoint = the domain CRL URL,
//!                               indirectCRL TRUE
//! each entry:
//!   reasonCode                  when not unspecified
//!   certificateIssuer           critical: the revoked certificate's issuer (directoryName)
//! ```
//!
//! RFC 5280 §5.3.3 lets an entry without certificateIssuer inherit the previous entry's; tsca
//! writes it on every entry, so no reader has to track runs. Unlike [`crate::crl::sign_crl`],
//! entries go through x509-cert's encoder: a domain CRL lists revoked certificates of every
//! CA of one domain, but it is signed on revocations and daily, not on a hot path, and each
//! entry carries a name, which the fixed-shape hand encoder does not handle.

use std::borrow::Borrow;
use std::time::SystemTime;

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CERTIFICATE_ISSUER, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS,
    ID_CE_ISSUING_DISTRIBUTION_POINT,
};
use der::asn1::{Ia5String, OctetString, Uint};
use der::Encode;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason, KeyUsage};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::Version;

use crate::crl::RevokedEntry;
use crate::error::{Error, Result};
use crate::issue::subject_key_identifier;
use crate::keys::Signer;
use crate::revocation::RevocationReason;
use crate::time::x509_time;
use crate::x509::{Certificate, Oid};

/// One entry of an indirect CRL: a revoked certificate and the CA that issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndirectEntry {
    /// The revoked certificate's issuer (its certificateIssuer).
    pub issuer: Name,
    /// Serial, revocation time and reason.
    pub entry: RevokedEntry,
}

fn extension(
    extn_id: der::oid::ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> Result<Extension> {
    Ok(Extension {
        extn_id,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(Error::encode("CRL extension"))?)
            .map_err(Error::encode("CRL extension"))?,
    })
}

/// Signs the domain's indirect CRL with the domain CRL signer (`signer` holds the key of
/// `signer_certificate`, whose keyUsage must include cRLSign). `crl_url` is the domain CRL's
/// URL, written in the issuingDistributionPoint as every certificate's distribution point
/// names it.
pub fn sign_indirect_crl<I>(
    signer_certificate: &Certificate,
    signer: &dyn Signer,
    crl_number: u64,
    this_update: SystemTime,
    next_update: SystemTime,
    crl_url: &str,
    entries: I,
) -> Result<Vec<u8>>
where
    I: IntoIterator,
    I::Item: Borrow<IndirectEntry>,
{
    if next_update <= this_update {
        return Err(Error::InvalidRequest(
            "CRL nextUpdate must be later than thisUpdate".into(),
        ));
    }
    let tbs = &signer_certificate.tbs_certificate;
    if signer.public_key() != &tbs.subject_public_key_info {
        return Err(Error::InvalidRequest(format!(
            "the signing key is not the CRL signer's key ({})",
            signer_certificate.subject_text()
        )));
    }
    let usage = tbs.decode_extension::<KeyUsage>(
        &Oid::from(const_oid::db::rfc5280::ID_CE_KEY_USAGE),
        "keyUsage",
    )?;
    if !usage.is_some_and(|(_, u)| u.crl_sign()) {
        return Err(Error::InvalidRequest(format!(
            "{} may not sign CRLs: its keyUsage lacks cRLSign",
            signer_certificate.subject_text()
        )));
    }
    let ski = subject_key_identifier(signer_certificate)?.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "{} has no subjectKeyIdentifier: the CRL's authorityKeyIdentifier must be it",
            signer_certificate.subject_text()
        ))
    })?;

    let mut revoked = Vec::new();
    for item in entries {
        let IndirectEntry { issuer, entry } = item.borrow();
        if entry.reason == Some(RevocationReason::RemoveFromCrl) {
            return Err(Error::InvalidRequest(
                "removeFromCRL belongs to delta CRLs, which tsca does not issue".into(),
            ));
        }
        let mut extensions = Vec::with_capacity(2);
        if let Some(reason) = entry.reason.filter(|r| *r != RevocationReason::Unspecified) {
            let code = CrlReason::try_from(u32::from(reason.code()))
                .map_err(|_| Error::InvalidRequest(format!("reason {reason} has no CRL code")))?;
            extensions.push(extension(ID_CE_CRL_REASONS, false, &code)?);
        }
        extensions.push(extension(
            ID_CE_CERTIFICATE_ISSUER,
            true,
            &vec![GeneralName::DirectoryName(issuer.clone())],
        )?);
        revoked.push(RevokedCert {
            serial_number: entry.serial.clone(),
            revocation_date: x509_time(entry.revoked_at)?,
            crl_entry_extensions: Some(extensions),
        });
    }

    let url = Ia5String::new(crl_url).map_err(Error::encode("CRL URL"))?;
    let crl_extensions = vec![
        extension(
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(ski).map_err(Error::encode("CRL AKI"))?),
                ..Default::default()
            },
        )?,
        extension(
            ID_CE_CRL_NUMBER,
            false,
            &CrlNumber(Uint::new(&crl_number.to_be_bytes()).map_err(Error::encode("cRLNumber"))?),
        )?,
        extension(
            ID_CE_ISSUING_DISTRIBUTION_POINT,
            true,
            &IssuingDistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(url),
                ])),
                only_contains_user_certs: false,
                only_contains_ca_certs: false,
                only_some_reasons: None,
                indirect_crl: true,
                only_contains_attribute_certs: false,
            },
        )?,
    ];
    let tbs_cert_list = TbsCertList {
        version: Version::V2,
        signature: signer.algorithm().signature_algorithm(),
        issuer: tbs.subject.clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        // RFC 5280 §5.1.2.6: absent, never empty, when nothing is revoked.
        revoked_certificates: (!revoked.is_empty()).then_some(revoked),
        crl_extensions: Some(crl_extensions),
    };
    let tbs_der = tbs_cert_list
        .to_der()
        .map_err(Error::encode("TBSCertList"))?;
    let signature = signer.sign(&tbs_der)?;
    CertificateList {
        signature_algorithm: tbs_cert_list.signature.clone(),
        tbs_cert_list,
        signature: der::asn1::BitString::from_bytes(&signature)
            .map_err(Error::encode("CRL signature"))?,
    }
    .to_der()
    .map_err(Error::encode("CRL"))
}
