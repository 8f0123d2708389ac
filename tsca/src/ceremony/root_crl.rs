//! The root's CRL, kept and signed on the offline machine (docs/operations.md, "The root's
//! CRL"). The root signs sub-CA certificates only in ceremonies, so it revokes them there too.
//!
//! Two files in the root folder:
//! - `root-crl.json`, the ledger: every certificate the root signed (serial, subject, expiry),
//!   every one it revoked, and the last cRLNumber used;
//! - `root.crl`, the latest signed CRL (DER), carried to the service and installed with
//!   `PUT /v1/authorities/{id}/crl`; the publication point serves it at `/crl/{root}.crl`.
//!
//! The ledger is written (atomically) before the CRL: a crash between the two never reuses a
//! cRLNumber, and the next `tsca ceremony sign-crl` signs a complete CRL again.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ca_core::crl::{sign_crl, RevokedEntry};
use ca_core::ident::Serial;
use ca_core::keys::SoftwareKey;
use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::RootFolder;
use crate::CliResult;

/// The longest CRL validity a ceremony signs: a root CRL must be re-signed at least yearly.
pub const MAX_CRL_DAYS: u32 = 366;

/// What the root signed and revoked, and the last cRLNumber (`root-crl.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// The cRLNumber of the latest CRL signed (0: none yet).
    pub last_crl_number: u64,
    /// Every certificate the root signed in a ceremony.
    pub issued: Vec<IssuedByRoot>,
    /// Every certificate the root revoked.
    pub revoked: Vec<RevokedByRoot>,
}

/// A certificate the root signed.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedByRoot {
    /// Serial, hex.
    pub serial: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notAfter.
    pub not_after: Timestamp,
}

/// A certificate the root revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokedByRoot {
    /// Serial, hex.
    pub serial: String,
    /// Subject, RFC 4514 (as recorded when it was signed, or read from the certificate).
    pub subject: String,
    /// When the ceremony revoked it.
    pub revoked_at: Timestamp,
    /// The reason, as RFC 5280 names it.
    pub reason: String,
}

/// Which certificate `tsca ceremony revoke` revokes.
pub enum RevocationTarget {
    /// A serial (hex) from the ledger.
    Serial(String),
    /// The certificate itself, e.g. fetched from `/ca/{name}.der`.
    Certificate(Box<Certificate>),
}

/// A CRL just signed.
pub struct SignedCrl {
    /// Its cRLNumber.
    pub number: u64,
    /// Its nextUpdate.
    pub next_update: Timestamp,
    /// How many certificates it lists.
    pub entries: usize,
}

impl Ledger {
    /// Reads the ledger; a root folder made before root CRLs existed has none yet.
    pub fn load(folder: &RootFolder) -> CliResult<Self> {
        let path = folder.ledger();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a root CRL ledger: {e}", path.display()).into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display()).into()),
        }
    }

    fn save(&self, folder: &RootFolder) -> CliResult<()> {
        write_atomically(
            &folder.ledger(),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }

    /// Records a certificate the root just signed; saved at once.
    pub fn record_issued(
        &mut self,
        folder: &RootFolder,
        certificate: &Certificate,
    ) -> CliResult<()> {
        let tbs = &certificate.tbs_certificate;
        self.issued.push(IssuedByRoot {
            serial: hex::encode(tbs.serial_number.as_bytes()),
            subject: certificate.subject_text(),
            not_after: Timestamp::try_from(tbs.validity.not_after.to_system_time())?,
        });
        self.save(folder)
    }

    /// Adds a revocation to the ledger (saved at once); the caller signs the CRL next.
    pub fn revoke(
        &mut self,
        folder: &RootFolder,
        root: &Certificate,
        target: &RevocationTarget,
        reason: RevocationReason,
    ) -> CliResult<RevokedByRoot> {
        if matches!(
            reason,
            RevocationReason::CertificateHold | RevocationReason::RemoveFromCrl
        ) {
            return Err(format!("reason {reason} is not used by tsca: revocation is final").into());
        }
        let (serial, subject) = match target {
            RevocationTarget::Serial(text) => {
                let serial = text.trim().to_ascii_lowercase().replace(':', "");
                let issued = self
                    .issued
                    .iter()
                    .find(|i| i.serial == serial)
                    .ok_or_else(|| {
                        format!(
                            "serial {serial} is not among the certificates this root signed ({}): \
                         check it, or give the certificate itself with --certificate",
                            folder.ledger().display()
                        )
                    })?;
                (serial, issued.subject.clone())
            }
            RevocationTarget::Certificate(cert) => {
                if cert.tbs_certificate.subject_public_key_info
                    == root.tbs_certificate.subject_public_key_info
                {
                    return Err(
                        "a root does not revoke itself: retire it by taking it out of \
                                relying parties' trust stores (and the trust list)"
                            .into(),
                    );
                }
                signed_by(cert, root).map_err(|e| {
                    format!("{} was not signed by this root: {e}", cert.subject_text())
                })?;
                (
                    hex::encode(cert.tbs_certificate.serial_number.as_bytes()),
                    cert.subject_text(),
                )
            }
        };
        if let Some(earlier) = self.revoked.iter().find(|r| r.serial == serial) {
            return Err(format!(
                "{subject} (serial {serial}) was already revoked at {}; to publish the CRL \
                 again, run tsca ceremony sign-crl",
                earlier.revoked_at
            )
            .into());
        }
        let revoked = RevokedByRoot {
            serial,
            subject,
            revoked_at: Timestamp::now(),
            reason: reason.name().to_owned(),
        };
        self.revoked.push(revoked.clone());
        self.save(folder)?;
        Ok(revoked)
    }

    /// Signs the next CRL, listing every revocation, valid for `validity`, and writes it to
    /// `root.crl`.
    pub fn sign(
        &mut self,
        folder: &RootFolder,
        key: &SoftwareKey,
        root: &Certificate,
        validity: Duration,
    ) -> CliResult<SignedCrl> {
        let entries = self
            .revoked
            .iter()
            .map(|r| {
                let bytes = hex::decode(&r.serial)
                    .map_err(|e| format!("serial {} in the ledger is not hex: {e}", r.serial))?;
                let reason: RevocationReason = r.reason.parse()?;
                Ok(RevokedEntry::new(
                    Serial::new(&bytes)?.to_x509()?,
                    SystemTime::from(r.revoked_at),
                    Some(reason),
                ))
            })
            .collect::<CliResult<Vec<_>>>()?;
        // Whole seconds: the CRL keeps no more, and the ledger should say what the CRL says.
        let now = SystemTime::from(Timestamp::from_second(Timestamp::now().as_second())?);
        let next_update = now + validity;
        self.last_crl_number += 1;
        self.save(folder)?;
        let der = sign_crl(root, key, self.last_crl_number, now, next_update, &entries)?;
        write_atomically(&folder.crl(), &der)?;
        Ok(SignedCrl {
            number: self.last_crl_number,
            next_update: Timestamp::try_from(next_update)?,
            entries: entries.len(),
        })
    }
}

/// Checks that `root` signed `cert`: the issuer name and the signature.
fn signed_by(cert: &Certificate, root: &Certificate) -> CliResult<()> {
    use der::Encode;
    if cert.tbs_certificate.issuer != root.tbs_certificate.subject {
        return Err(format!("its issuer is {}", cert.tbs_certificate.issuer).into());
    }
    let signature = cert
        .signature
        .as_bytes()
        .ok_or("its signature has unused bits")?;
    ca_core::verify::verify_signature(
        &cert.signature_algorithm,
        &root.tbs_certificate.subject_public_key_info,
        &cert.tbs_certificate.to_der()?,
        signature,
        "certificate",
    )?;
    Ok(())
}

/// The CRL validity in days, checked: 1 to [`MAX_CRL_DAYS`].
pub fn crl_validity(days: u32) -> CliResult<Duration> {
    if days == 0 || days > MAX_CRL_DAYS {
        return Err(format!(
            "a root CRL is valid 1 to {MAX_CRL_DAYS} days (asked: {days}); re-sign it with \
             tsca ceremony sign-crl before it runs out"
        )
        .into());
    }
    Ok(Duration::from_secs(u64::from(days) * 86_400))
}

/// Writes a file whole or not at all: a temporary file beside it, synced, then renamed.
fn write_atomically(path: &Path, bytes: &[u8]) -> CliResult<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)
        .map_err(|e| format!("cannot create {}: {e}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .map_err(|e| format!("cannot replace {}: {e}", path.display()).into())
}
