//! Revocation and CRLs (docs/architecture.md, "The revocation cycle").
//!
//! A revocation is one transaction: the status, the freshly signed "revoked" OCSP response,
//! the issuer's revocation count and the audit entry commit together, and the commit tells
//! every responder (NOTIFY on PostgreSQL). The issuer's CRL is published right after; a CRL
//! records the revocation count it was built from, so if that publication fails (or the
//! process dies first) the maintenance pass sees the CRL is behind and publishes again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use ca_core::crl::{sign_crl, RevokedEntry};
use ca_core::ident::Fingerprint;
use ca_core::ocsp::CertStatusAnswer;
use ca_core::revocation::RevocationReason;
use ca_store::{
    Actor, AuthorityId, CertificateRecord, CertifiedSubject, CrlRecord, OperatorId, WriteTx,
};
use jiff::Timestamp;
use serde_json::json;

use crate::access::Principal;
use crate::clock::after;
use crate::coverage;
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::idempotency::{record, Answer, Begun, IdempotencyKey, Produced};
use crate::responders::DelegatedResponder;
use crate::Engine;

/// The reasons an operator may give for its own certificates; the rest (privilegeWithdrawn,
/// cACompromise, aACompromise) are the authority's.
const OPERATOR_REASONS: [RevocationReason; 5] = [
    RevocationReason::Unspecified,
    RevocationReason::KeyCompromise,
    RevocationReason::AffiliationChanged,
    RevocationReason::Superseded,
    RevocationReason::CessationOfOperation,
];

/// The OCSP status of a revocation at `at`.
pub(crate) fn revoked_status(at: Timestamp, reason: RevocationReason) -> CertStatusAnswer {
    CertStatusAnswer::Revoked {
        time: SystemTime::from(at),
        reason: Some(reason).filter(|r| *r != RevocationReason::Unspecified),
    }
}

/// Responders prepared before a transaction (issuing one is a transaction of its own, which
/// must never start inside another).
pub(crate) type Prepared = HashMap<AuthorityId, Arc<DelegatedResponder>>;

impl Engine {
    /// Revokes a certificate by fingerprint. Operators revoke their own, with their reasons;
    /// admins those their authorities issued.
    pub async fn revoke(
        &self,
        who: &Principal,
        fingerprint: &Fingerprint,
        reason: &str,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<CertificateRecord>> {
        if matches!(who, Principal::Auditor { .. }) {
            return Err(ServiceError::forbidden("auditors cannot revoke"));
        }
        let target = self.certificate(who, fingerprint).await?;
        let reason: RevocationReason = reason.parse().map_err(|_| {
            ServiceError::invalid(
                "reason",
                "use one of: unspecified, keyCompromise, affiliationChanged, superseded, \
                 cessationOfOperation, privilegeWithdrawn",
            )
        })?;
        if matches!(
            reason,
            RevocationReason::RemoveFromCrl | RevocationReason::CertificateHold
        ) {
            return Err(ServiceError::refused_field(
                Rule::RevocationIsFinal,
                "reason",
                format!("reason {reason} is not used by tsca: revocation is final"),
            ));
        }
        if matches!(who, Principal::Operator { .. }) && !OPERATOR_REASONS.contains(&reason) {
            return Err(ServiceError::refused_field(
                Rule::ReasonNotForOperators,
                "reason",
                format!("an operator cannot revoke with reason {reason}"),
            ));
        }
        let responder = self.prepared_responder(target.issuer_id).await;
        let now = self.now();
        let response = responder
            .map(|r| {
                r.pre_sign(
                    &target.serial,
                    &revoked_status(now, reason),
                    now,
                    self.config().ocsp_validity,
                )
            })
            .transpose()?;
        let canonical =
            json!({"certificate": fingerprint.to_string(), "reason": reason.to_string()});
        let (mut tx, claim) = match self
            .begin_once(now, who, key, "certificate.revoke", &canonical)
            .await?
        {
            Begun::Replay(_) => {
                return Ok(Answer::replayed(
                    self.reader().certificate(target.id).await?,
                ))
            }
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let revoked = tx
            .revoke_certificate(target.id, reason, response.as_ref(), &who.actor())
            .await?;
        // A revoked CA certificate ends its authority's issuing, and that of every CA below it,
        // in the same transaction.
        if let CertifiedSubject::Authority(authority) = revoked.certified {
            tx.retire_authority_subtree(
                authority,
                &format!("its certificate was revoked ({reason})"),
                &who.actor(),
            )
            .await?;
        }
        record(claim, &mut tx, Produced::Certificate(revoked.id)).await?;
        tx.commit().await?;
        self.publish_crls([revoked.issuer_id]).await;
        Ok(Answer::fresh(revoked))
    }

    /// The responder of an issuer held here, issued if need be; `None` (logged) when it
    /// cannot be had: the revocation still commits, and responders answer from its status.
    pub(crate) async fn prepared_responder(
        &self,
        issuer: AuthorityId,
    ) -> Option<Arc<DelegatedResponder>> {
        match self.ensure_responder(issuer).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(issuer = %issuer, error = %e, "no responder to pre-sign the revoked answer");
                None
            }
        }
    }

    /// The responders of the issuers of an operator's live certificates.
    pub(crate) async fn prepare_for_operator(
        &self,
        operator: OperatorId,
    ) -> ServiceResult<Prepared> {
        let authority = self.reader().operator(operator).await?.authority_id;
        let mut prepared = Prepared::new();
        if let Some(r) = self.prepared_responder(authority).await {
            prepared.insert(authority, r);
        }
        Ok(prepared)
    }

    /// Inside `tx`: revokes (privilegeWithdrawn) every live certificate of `operator` that no
    /// longer fits what the operator holds, now or until its notAfter.
    pub(crate) async fn revoke_misfits(
        &self,
        tx: &mut WriteTx,
        operator: OperatorId,
        prepared: &Prepared,
        actor: &Actor,
    ) -> ServiceResult<Vec<CertificateRecord>> {
        let now = tx.now();
        let holdings = tx.holdings(operator).await?;
        let mut revoked = Vec::new();
        for certificate in tx.live_operator_certificates(operator, now).await? {
            if coverage::fits(&holdings, &certificate.scope, certificate.not_after, now) {
                continue;
            }
            let reason = RevocationReason::PrivilegeWithdrawn;
            let response = prepared
                .get(&certificate.issuer_id)
                .cloned()
                .or_else(|| self.responders().cached(certificate.issuer_id))
                .map(|r| {
                    r.pre_sign(
                        &certificate.serial,
                        &revoked_status(now, reason),
                        now,
                        self.config().ocsp_validity,
                    )
                })
                .transpose()?;
            revoked.push(
                tx.revoke_certificate(certificate.id, reason, response.as_ref(), actor)
                    .await?,
            );
        }
        Ok(revoked)
    }

    /// Publishes new CRLs for these issuers; failures are logged and left to maintenance,
    /// which sees each CRL is behind its issuer's revocations.
    pub(crate) async fn publish_crls(&self, issuers: impl IntoIterator<Item = AuthorityId>) {
        let unique: HashSet<AuthorityId> = issuers.into_iter().collect();
        let mut domains = HashSet::new();
        for issuer in unique {
            if !self.signs_own_crl(issuer).await {
                // A SHAKEN CA: its revocations go in its domain's CRL.
                domains.extend(self.shaken_root_of(issuer).await);
                continue;
            }
            if let Err(e) = self.publish_crl(issuer).await {
                tracing::warn!(issuer = %issuer, error = %e, "CRL publication failed; maintenance retries");
            }
        }
        for root in domains {
            self.publish_domain_crl_after_change(root).await;
        }
    }

    /// Whether an authority signs a CRL of its own ([`ca_store::Authority::signs_own_crl`]);
    /// false too when it cannot be read (the caller then has nothing to publish).
    pub(crate) async fn signs_own_crl(&self, id: AuthorityId) -> bool {
        self.reader()
            .authority(id)
            .await
            .is_ok_and(|a| a.signs_own_crl())
    }

    /// Signs and stores a new CRL of an authority held here, listing every revoked and
    /// abandoned serial. SHAKEN-family CAs sign none (their keyUsage has no cRLSign): their
    /// revocations go in the domain's indirect CRL (docs/profiles.md).
    pub async fn publish_crl(&self, authority_id: AuthorityId) -> ServiceResult<CrlRecord> {
        for _ in 0..5 {
            // The count first, then the entries: the CRL holds at least what it claims.
            let authority = self.reader().authority(authority_id).await?;
            if !authority.signs_own_crl() {
                return Err(ServiceError::conflict(format!(
                    "authority {} is a SHAKEN CA: it signs no CRL of its own; its revocations \
                     belong in the domain CRL",
                    authority.name
                )));
            }
            let (issuing, key) = self.signing_authority(&authority).await?;
            let entries = self
                .reader()
                .revoked_serials(authority_id)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(RevokedEntry {
                        serial: r.serial.to_x509()?,
                        revoked_at: SystemTime::from(r.revoked_at),
                        reason: r.reason,
                    })
                })
                .collect::<ServiceResult<Vec<_>>>()?;
            let crl_number = self.reader().next_crl_number(authority_id).await?;
            let number = u64::try_from(crl_number).map_err(|_| {
                ServiceError::internal(format!(
                    "negative cRLNumber {crl_number} for authority {authority_id}"
                ))
            })?;
            let now = self.now();
            let next_update = after(now, self.config().crl_validity);
            let issuer_cert = issuing.certificate().clone();
            let signer = key.signer();
            // A CRL of a million entries takes a fraction of a second: off the runtime.
            let der = tokio::task::spawn_blocking(move || {
                sign_crl(
                    &issuer_cert,
                    signer.as_ref(),
                    number,
                    SystemTime::from(now),
                    SystemTime::from(next_update),
                    entries,
                )
            })
            .await??;
            let crl = CrlRecord {
                authority_id,
                crl_number,
                der,
                this_update: now,
                next_update,
                revocation_seq: authority.revocation_seq,
            };
            let mut tx = self.begin_write(now).await?;
            match tx.insert_crl(&crl, &Actor::system()).await {
                Ok(()) => {
                    tx.commit().await?;
                    return Ok(crl);
                }
                // Another instance published this number first, or a CRL that lists more:
                // build it again from a fresh read.
                Err(ca_store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::internal(format!(
            "five CRL numbers in a row were taken for authority {authority_id}"
        )))
    }
}
