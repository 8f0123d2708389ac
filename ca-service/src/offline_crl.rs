//! CRLs signed offline (docs/operations.md, "The root's CRL"): the root's key never comes
//! online, so its ceremony signs the root's CRL (`tsca ceremony init-root`, `revoke`,
//! `sign-crl`) and an admin installs it here; the publication point then serves it at
//! `/crl/{root name}.crl`, where the CRL distribution point of every certificate the root
//! signed points.
//!
//! Installing acts on what the CRL says: a sub-CA whose certificate it lists is retired in
//! the same transaction, with every CA below it, so none of them issues again.

use std::collections::HashSet;
use std::time::SystemTime;

use ca_core::crl::parse_crl;
use ca_core::x509::Certificate;
use ca_store::{AuthorityId, CrlRecord, StoreError};
use jiff::Timestamp;

use crate::access::Principal;
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::Engine;

/// What installing an offline CRL did.
#[derive(Debug, Clone)]
pub struct InstalledCrl {
    /// The CRL now served.
    pub crl: CrlRecord,
    /// Authorities retired because the CRL lists their certificate (or an ancestor's); empty
    /// when the same CRL is installed again.
    pub retired: Vec<AuthorityId>,
}

impl Engine {
    /// Installs a CRL that an offline authority (the root) signed. It must be signed by the
    /// authority's certificate, carry a cRLNumber above the installed one and a nextUpdate
    /// still ahead. Installing the installed CRL again changes nothing.
    pub async fn install_offline_crl(
        &self,
        who: &Principal,
        authority_id: AuthorityId,
        der: &[u8],
    ) -> ServiceResult<InstalledCrl> {
        self.access().require_admin_of(who, authority_id).await?;
        let authority = self.reader().authority(authority_id).await?;
        if authority.is_online() {
            return Err(ServiceError::refused_field(
                Rule::CrlDoesNotMatch,
                "id",
                format!(
                    "authority {} signs its own CRLs here; only an offline authority's CRL is installed",
                    authority.name
                ),
            ));
        }
        let issuer_der = authority.certificate_der.as_deref().ok_or_else(|| {
            ServiceError::conflict(format!("authority {} has no certificate", authority.name))
        })?;
        let issuer = Certificate::from_der(issuer_der)?;
        let crl = parse_crl(der)
            .map_err(|e| ServiceError::invalid("body", format!("expected an X.509 CRL: {e}")))?;
        let mismatch =
            |detail: String| ServiceError::refused_field(Rule::CrlDoesNotMatch, "body", detail);
        crl.verify_signature(&issuer)
            .map_err(|e| mismatch(format!("not signed by {}: {e}", authority.name)))?;
        let number = crl
            .crl_number_u64()
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| {
                mismatch("the CRL has no cRLNumber tsca can store (at most 2^63 - 1)".into())
            })?;
        let next_update = crl
            .next_update()
            .ok_or_else(|| mismatch("the CRL has no nextUpdate".into()))?;
        let now = self.now();
        if next_update <= SystemTime::from(now) {
            return Err(mismatch(format!(
                "the CRL's nextUpdate ({}) has passed: sign a fresh one (tsca ceremony sign-crl)",
                timestamp(next_update)?
            )));
        }
        if let Some(latest) = self.reader().latest_crl(authority_id).await? {
            if latest.der == der {
                return Ok(InstalledCrl {
                    crl: latest,
                    retired: Vec::new(),
                });
            }
            if latest.crl_number >= number {
                return Err(mismatch(format!(
                    "cRLNumber {number} is not newer than the installed cRLNumber {}: sign a new \
                     CRL (tsca ceremony sign-crl) rather than installing an old one",
                    latest.crl_number
                )));
            }
        }
        let listed = crl
            .entries()
            .map(|e| e.map(|entry| entry.serial.as_bytes().to_vec()))
            .collect::<Result<HashSet<_>, _>>()
            .map_err(|e| ServiceError::invalid("body", e))?;
        let mut revoked_children = Vec::new();
        for child in self.reader().authorities().await? {
            if child.parent_id != Some(authority_id) {
                continue;
            }
            let Some(child_der) = child.certificate_der.as_deref() else {
                continue;
            };
            let serial = Certificate::from_der(child_der)?
                .tbs_certificate
                .serial_number
                .as_bytes()
                .to_vec();
            if listed.contains(&serial) {
                revoked_children.push(child.id);
            }
        }
        let record = CrlRecord {
            authority_id,
            crl_number: number,
            der: der.to_vec(),
            this_update: timestamp(crl.this_update())?,
            next_update: timestamp(next_update)?,
            revocation_seq: authority.revocation_seq,
        };
        let actor = who.actor();
        let mut tx = self.begin_write(now).await?;
        if let Err(e) = tx.insert_crl(&record, &actor).await {
            drop(tx);
            // A parallel install of the same CRL committed first: the same answer.
            return match (e, self.reader().latest_crl(authority_id).await?) {
                (StoreError::Conflict(_), Some(latest)) if latest.der == der => Ok(InstalledCrl {
                    crl: latest,
                    retired: Vec::new(),
                }),
                (e, _) => Err(e.into()),
            };
        }
        let mut retired = Vec::new();
        for child in revoked_children {
            retired.extend(
                tx.retire_authority_subtree(
                    child,
                    &format!("its certificate is listed in cRLNumber {number} of its parent"),
                    &actor,
                )
                .await?,
            );
        }
        tx.commit().await?;
        if !authority.signs_own_crl() {
            // A SHAKEN root: its entries belong in the domain CRL too.
            self.publish_domain_crl_after_change(authority_id).await;
        }
        Ok(InstalledCrl {
            crl: record,
            retired,
        })
    }
}

fn timestamp(time: SystemTime) -> ServiceResult<Timestamp> {
    Timestamp::try_from(time)
        .map_err(|e| ServiceError::invalid("body", format!("a CRL time is out of range: {e}")))
}
