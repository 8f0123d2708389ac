//! The writes of `certificates`: the life of a certificate from its reservation (S1) through
//! its completion (S3) to its revocation or abandonment (docs/issuance.md). Each is a method
//! of the [`WriteTx`] it runs in, checks the record's state inside that transaction and writes
//! its audit entry; a revocation also stores its response, counts itself against the issuer's
//! CRL and tells the responders on commit.

use ca_core::ident::{Fingerprint, KeyFingerprint, Serial};
use ca_core::revocation::RevocationReason;
use jiff::Timestamp;
use serde_json::json;
use sqlx::Row;

use crate::certificates::{
    certificate_from_row, fetch_certificate, reason_from_column, CertificateRecord,
    CertificateStatus, CertifiedSubject, KeyBinding, Reservation, CERTIFICATE_COLUMNS,
};
use crate::columns::{scope_to_text, time_to_column};
use crate::database::WriteTx;
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId, CertificateId, EnrolmentId, InstanceId, OperatorId};
use crate::ocsp_responses::{upsert_ocsp, PreSignedResponse};

impl WriteTx {
    /// A certificate, read inside this transaction.
    pub async fn certificate(&mut self, id: CertificateId) -> Result<CertificateRecord> {
        fetch_certificate(&mut *self.tx, id).await
    }

    /// Whether issuer and serial are taken.
    pub async fn serial_taken(&mut self, issuer_id: AuthorityId, serial: &Serial) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT id FROM certificates WHERE issuer_id = $1 AND serial = $2",
        )
        .bind(issuer_id.0)
        .bind(serial.as_bytes().to_vec())
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some())
    }

    /// The certificate that stands in the way of certifying `key` for `subject`, if any: one
    /// revoked for keyCompromise (first), else one certifying the key for another subject.
    /// Abandoned reservations were never signed and bind nothing. The database picks the
    /// one row, so a key renewed many times for the same subject costs an index range scan,
    /// not a transfer of every certificate it ever had.
    pub async fn key_binding_conflict(
        &mut self,
        key: &KeyFingerprint,
        subject: CertifiedSubject,
    ) -> Result<Option<KeyBinding>> {
        let (operator, authority, key_id) = subject.columns();
        let compromise = i64::from(RevocationReason::KeyCompromise.code());
        // -1 stands for NULL in the comparison: ids are positive.
        let row = sqlx::query(
            "SELECT id, operator_id, subject_authority_id, key_id, status, revocation_reason \
             FROM certificates WHERE public_key_sha256 = $1 AND status <> 'abandoned' \
             AND (revocation_reason = $2 OR NOT (COALESCE(operator_id, -1) = $3 \
                  AND COALESCE(subject_authority_id, -1) = $4 AND COALESCE(key_id, -1) = $5)) \
             ORDER BY CASE WHEN revocation_reason = $2 THEN 0 ELSE 1 END, id LIMIT 1",
        )
        .bind(key.to_string())
        .bind(compromise)
        .bind(operator.unwrap_or(-1))
        .bind(authority.unwrap_or(-1))
        .bind(key_id.unwrap_or(-1))
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| {
            let id = CertificateId(row.try_get("id")?);
            Ok(KeyBinding {
                certificate_id: id,
                certified: CertifiedSubject::from_columns(
                    id,
                    row.try_get("operator_id")?,
                    row.try_get("subject_authority_id")?,
                    row.try_get("key_id")?,
                )?,
                status: row.try_get::<String, _>("status")?.parse()?,
                reason: reason_from_column(row.try_get("revocation_reason")?)?,
            })
        })
        .transpose()
    }

    /// Whether an enrolment has a certificate reserved, valid or revoked (anything but an
    /// abandoned reservation).
    pub async fn enrolment_has_live_certificate(&mut self, enrolment: EnrolmentId) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT id FROM certificates WHERE enrolment_id = $1 \
             AND status IN ('reserved', 'valid', 'revoked') LIMIT 1",
        )
        .bind(enrolment.0)
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some())
    }

    /// Whether a responder certificate of `authority` is valid, or reserved by a node issuing
    /// it now, until after `until`: read under the audit head, so that two CA nodes rotating
    /// one responder at once issue one certificate.
    pub async fn responder_in_place(
        &mut self,
        authority: AuthorityId,
        until: Timestamp,
    ) -> Result<bool> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT id FROM certificates WHERE subject_authority_id = $1 AND profile = $2 \
             AND key_id IS NOT NULL AND status IN ('valid', 'reserved') AND not_after > $3 LIMIT 1",
        )
        .bind(authority.0)
        .bind(ca_core::profile::Profile::OcspResponder.name())
        .bind(time_to_column(until))
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some())
    }

    /// Valid certificates of an operator that have not expired at `at`.
    pub async fn live_operator_certificates(
        &mut self,
        operator: OperatorId,
        at: Timestamp,
    ) -> Result<Vec<CertificateRecord>> {
        sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE operator_id = $1 \
             AND status = 'valid' AND not_after > $2 ORDER BY id"
        ))
        .bind(operator.0)
        .bind(time_to_column(at))
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(certificate_from_row)
        .collect()
    }

    /// Step S1 of issuance (docs/issuance.md): records the serial and the to-be-signed
    /// certificate before any key signs. A serial already used by the issuer is a Conflict.
    pub async fn reserve_certificate(
        &mut self,
        reservation: &Reservation,
        actor: &Actor,
    ) -> Result<CertificateId> {
        let (operator, authority, key) = reservation.certified.columns();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO certificates (issuer_id, serial, status, profile, subject, operator_id, \
             subject_authority_id, key_id, enrolment_id, not_before, not_after, scope, tbs_der, \
             public_key_sha256, reserved_at, reserved_by) \
             VALUES ($1, $2, 'reserved', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             RETURNING id",
        )
        .bind(reservation.issuer_id.0)
        .bind(reservation.serial.as_bytes().to_vec())
        .bind(reservation.profile.name())
        .bind(&reservation.subject)
        .bind(operator)
        .bind(authority)
        .bind(key)
        .bind(reservation.enrolment_id.map(|e| e.0))
        .bind(time_to_column(reservation.not_before))
        .bind(time_to_column(reservation.not_after))
        .bind(scope_to_text(&reservation.scope))
        .bind(reservation.tbs_der.clone())
        .bind(reservation.public_key.to_string())
        .bind(self.now_column())
        .bind(reservation.reserved_by.as_str())
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "certificate.reserved",
            &format!("certificate:{id}"),
            json!({"issuer_id": reservation.issuer_id, "serial": reservation.serial.to_string(),
                   "subject": reservation.subject, "profile": reservation.profile.name(),
                   "not_after": time_to_column(reservation.not_after),
                   "enrolment_id": reservation.enrolment_id}),
        )
        .await?;
        Ok(CertificateId(id))
    }

    /// Step S3 of issuance: stores the signed certificate over its reservation, with its
    /// first "good" OCSP response when the caller has one. The DER must carry the reserved
    /// to-be-signed bytes. Marks the enrolment issued, if there is one. Conflict when the
    /// reservation is no longer reserved (the reconciler abandoned it).
    pub async fn complete_certificate(
        &mut self,
        id: CertificateId,
        der: &[u8],
        ocsp: Option<&PreSignedResponse>,
        actor: &Actor,
    ) -> Result<CertificateRecord> {
        let current = self.certificate(id).await?;
        if current.status != CertificateStatus::Reserved {
            return Err(StoreError::Conflict(format!(
                "certificate {id} is {}, not reserved: it cannot be completed",
                current.status
            )));
        }
        if !contains_subslice(der, &current.tbs_der) {
            return Err(StoreError::Conflict(format!(
                "the signed certificate does not carry the to-be-signed bytes reserved as certificate {id}"
            )));
        }
        let fingerprint = Fingerprint::of_der(der);
        sqlx::query(
            "UPDATE certificates SET status = 'valid', der = $1, fingerprint = $2, issued_at = $3 \
             WHERE id = $4",
        )
        .bind(der.to_vec())
        .bind(fingerprint.to_string())
        .bind(self.now_column())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        if let Some(ocsp) = ocsp {
            upsert_ocsp(&mut *self.tx, id, current.issuer_id, ocsp).await?;
        }
        if let Some(enrolment) = current.enrolment_id {
            let answered = sqlx::query(
                "UPDATE enrolments SET status = 'issued', certificate_id = $1 \
                 WHERE id = $2 AND status = 'approved'",
            )
            .bind(id.0)
            .bind(enrolment.0)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
            if answered == 0 {
                return Err(StoreError::Conflict(format!(
                    "enrolment {enrolment} is no longer approved: certificate {id} cannot answer it"
                )));
            }
        }
        self.audit(
            actor,
            "certificate.issued",
            &format!("certificate:{id}"),
            json!({"fingerprint": fingerprint.to_string(), "serial": current.serial.to_string(),
                   "issuer_id": current.issuer_id, "enrolment_id": current.enrolment_id}),
        )
        .await?;
        self.certificate(id).await
    }

    /// Revokes a valid certificate at this transaction's time and stores its freshly signed
    /// "revoked" OCSP response with it (when the caller could sign one); responders follow
    /// the audit entry once the transaction commits (notify.rs). Conflict when the
    /// certificate is not valid.
    pub async fn revoke_certificate(
        &mut self,
        id: CertificateId,
        reason: RevocationReason,
        ocsp: Option<&PreSignedResponse>,
        actor: &Actor,
    ) -> Result<CertificateRecord> {
        let current = self.certificate(id).await?;
        if current.status != CertificateStatus::Valid {
            return Err(StoreError::Conflict(format!(
                "certificate {} is {}: only a valid certificate can be revoked",
                current
                    .fingerprint()
                    .map_or("(unsigned)".into(), |f| f.to_string()),
                current.status
            )));
        }
        self.end_certificate(&current, CertificateStatus::Revoked, reason, ocsp)
            .await?;
        self.audit(
            actor,
            "certificate.revoked",
            &format!("certificate:{id}"),
            json!({"fingerprint": current.fingerprint().map(|f| f.to_string()),
                   "serial": current.serial.to_string(), "issuer_id": current.issuer_id,
                   "reason": reason.to_string(), "revoked_at": self.now_column()}),
        )
        .await?;
        self.certificate(id).await
    }

    /// Abandons a reservation whose owner died: revoked with reason cessationOfOperation at
    /// this transaction's time, with its "revoked" response. The lease is checked again
    /// here, inside the transaction: the reservation must still be reserved and held either
    /// by `taker` itself or by an instance that has not heartbeated since
    /// `heartbeat_before`. False otherwise (its owner completed it or came back, or another
    /// instance abandoned it first).
    pub async fn abandon_reservation(
        &mut self,
        id: CertificateId,
        taker: &InstanceId,
        heartbeat_before: Timestamp,
        ocsp: Option<&PreSignedResponse>,
        actor: &Actor,
    ) -> Result<bool> {
        let current = self.certificate(id).await?;
        let reason = RevocationReason::CessationOfOperation;
        let taken = sqlx::query(
            "UPDATE certificates SET status = 'abandoned', revoked_at = $1, revocation_reason = $2 \
             WHERE id = $3 AND status = 'reserved' AND (reserved_by IS NULL OR reserved_by = $4 \
             OR reserved_by NOT IN (SELECT id FROM instances WHERE heartbeat_at >= $5))",
        )
        .bind(self.now_column())
        .bind(i64::from(reason.code()))
        .bind(id.0)
        .bind(taker.as_str())
        .bind(time_to_column(heartbeat_before))
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if taken == 0 {
            return Ok(false);
        }
        self.announce_revocation(&current, ocsp).await?;
        self.audit(
            actor,
            "certificate.abandoned",
            &format!("certificate:{id}"),
            json!({"serial": current.serial.to_string(), "issuer_id": current.issuer_id,
                   "reserved_by": current.reserved_by.as_ref().map(|i| i.as_str()),
                   "why": "reserved but never stored signed, and its instance stopped: the key may \
                           have signed, so the serial is revoked (cessationOfOperation)"}),
        )
        .await?;
        Ok(true)
    }

    async fn end_certificate(
        &mut self,
        current: &CertificateRecord,
        status: CertificateStatus,
        reason: RevocationReason,
        ocsp: Option<&PreSignedResponse>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE certificates SET status = $1, revoked_at = $2, revocation_reason = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(self.now_column())
        .bind(i64::from(reason.code()))
        .bind(current.id.0)
        .execute(&mut *self.tx)
        .await?;
        self.announce_revocation(current, ocsp).await
    }

    /// The parts every revocation shares: the stored response and the issuer's revocation
    /// count (CRL freshness).
    async fn announce_revocation(
        &mut self,
        current: &CertificateRecord,
        ocsp: Option<&PreSignedResponse>,
    ) -> Result<()> {
        if let Some(ocsp) = ocsp {
            upsert_ocsp(&mut *self.tx, current.id, current.issuer_id, ocsp).await?;
        }
        self.bump_revocation_seq(current.issuer_id).await
    }
}

fn contains_subslice(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
