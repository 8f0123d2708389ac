//! `enrolments`: an operator's request for a certificate (CSR + scope + profile) and where it
//! stands. The issuance cycle (docs/issuance.md) moves it pending → approved → issued, or to
//! rejected (a person said no) or failed (issuance could not finish, with the reason).

use ca_core::numbering::NumberingScope;
use ca_core::profile::Profile;
use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::columns::{
    get_optional_time, get_time, numbering_scope_from_text, numbering_scope_to_text, text_enum,
    time_to_column,
};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId, CertificateId, EnrolmentId, OperatorId};

text_enum!(
    /// Where an enrolment stands.
    EnrolmentStatus {
        /// Waits for a person of the authority.
        Pending = "pending",
        /// Approved; its certificate is being issued.
        Approved = "approved",
        /// Refused by the authority.
        Rejected = "rejected",
        /// Its certificate exists.
        Issued = "issued",
        /// Issuance could not finish (e.g. interrupted, and the operator's numbers changed
        /// meanwhile); `decision_reason` says why.
        Failed = "failed",
    }
);

/// A decision on a pending enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentDecision {
    /// Issue the certificate; the reason is recorded when given.
    Approve {
        /// Why (e.g. "auto-approved: within the operator's assignments").
        reason: Option<String>,
    },
    /// Refuse it.
    Reject {
        /// Why.
        reason: String,
    },
}

/// An enrolment request.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Row id.
    pub id: EnrolmentId,
    /// Requesting operator.
    pub operator_id: OperatorId,
    /// Deciding authority.
    pub authority_id: AuthorityId,
    /// The PKCS#10 request.
    pub csr_der: Vec<u8>,
    /// The scope asked for.
    pub requested_scope: NumberingScope,
    /// The operator profile asked for.
    pub profile: Profile,
    /// Where it stands.
    pub status: EnrolmentStatus,
    /// The certificate issued for it.
    pub certificate_id: Option<CertificateId>,
    /// Why it was approved, rejected or failed.
    pub decision_reason: Option<String>,
    /// When received.
    pub created_at: Timestamp,
    /// When approved, rejected or failed.
    pub decided_at: Option<Timestamp>,
}

/// The fields of a new enrolment.
#[derive(Debug, Clone)]
pub struct NewEnrolment {
    /// Operator.
    pub operator_id: OperatorId,
    /// Authority.
    pub authority_id: AuthorityId,
    /// CSR (DER).
    pub csr_der: Vec<u8>,
    /// Scope asked for.
    pub requested_scope: NumberingScope,
    /// Profile.
    pub profile: Profile,
}

const ENROLMENT_COLUMNS: &str =
    "id, operator_id, authority_id, csr_der, requested_scope, profile, \
     status, certificate_id, decision_reason, created_at, decided_at";

async fn fetch_enrolment<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: EnrolmentId,
) -> Result<Enrolment> {
    let row = sqlx::query(&format!(
        "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("enrolment", id))?;
    enrolment_from_row(&row)
}

fn enrolment_from_row(row: &AnyRow) -> Result<Enrolment> {
    let id = EnrolmentId(row.try_get("id")?);
    let profile: String = row.try_get("profile")?;
    Ok(Enrolment {
        id,
        operator_id: OperatorId(row.try_get("operator_id")?),
        authority_id: AuthorityId(row.try_get("authority_id")?),
        csr_der: row.try_get("csr_der")?,
        requested_scope: numbering_scope_from_text(&row.try_get::<String, _>("requested_scope")?)?,
        profile: profile.parse().map_err(|e| {
            StoreError::corrupt("enrolment profile", format!("enrolment {id}: {e}"))
        })?,
        status: row.try_get::<String, _>("status")?.parse()?,
        certificate_id: row
            .try_get::<Option<i64>, _>("certificate_id")?
            .map(CertificateId),
        decision_reason: row.try_get("decision_reason")?,
        created_at: get_time(row, "created_at")?,
        decided_at: get_optional_time(row, "decided_at")?,
    })
}

impl StoreReader {
    /// One enrolment.
    pub async fn enrolment(&self, id: EnrolmentId) -> Result<Enrolment> {
        fetch_enrolment(self.pool(), id).await
    }

    /// Enrolments in a status (e.g. pending), optionally of one authority.
    pub async fn enrolments(
        &self,
        status: EnrolmentStatus,
        authority_id: Option<AuthorityId>,
    ) -> Result<Vec<Enrolment>> {
        sqlx::query(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE status = $1 \
             AND ($2 IS NULL OR authority_id = $2) ORDER BY id"
        ))
        .bind(status.as_str())
        .bind(authority_id.map(|a| a.0))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(enrolment_from_row)
        .collect()
    }

    /// Approved enrolments decided before `before` that have no certificate in flight or
    /// issued: their issuance was interrupted and its reservation, if any, reconciled. The
    /// reconciler finishes or fails them.
    pub async fn stalled_enrolments(&self, before: Timestamp) -> Result<Vec<Enrolment>> {
        sqlx::query(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments e WHERE status = 'approved' \
             AND decided_at < $1 AND NOT EXISTS (SELECT 1 FROM certificates c \
             WHERE c.enrolment_id = e.id AND c.status IN ('reserved', 'valid', 'revoked')) \
             ORDER BY id"
        ))
        .bind(time_to_column(before))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(enrolment_from_row)
        .collect()
    }
}

impl WriteTx {
    /// An enrolment, read inside this transaction.
    pub async fn enrolment(&mut self, id: EnrolmentId) -> Result<Enrolment> {
        fetch_enrolment(&mut *self.tx, id).await
    }

    /// Records an enrolment as pending.
    pub async fn insert_enrolment(
        &mut self,
        new: &NewEnrolment,
        actor: &Actor,
    ) -> Result<Enrolment> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO enrolments (operator_id, authority_id, csr_der, requested_scope, profile, \
             status, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING id",
        )
        .bind(new.operator_id.0)
        .bind(new.authority_id.0)
        .bind(new.csr_der.clone())
        .bind(numbering_scope_to_text(&new.requested_scope))
        .bind(new.profile.name())
        .bind(self.now_column())
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "enrolment.received",
            &format!("enrolment:{id}"),
            json!({"operator_id": new.operator_id, "scope": numbering_scope_to_text(&new.requested_scope),
                   "profile": new.profile.name()}),
        )
        .await?;
        self.enrolment(EnrolmentId(id)).await
    }

    /// Approves or rejects a pending enrolment. Conflict when it is not pending.
    pub async fn decide_enrolment(
        &mut self,
        id: EnrolmentId,
        decision: &EnrolmentDecision,
        actor: &Actor,
    ) -> Result<Enrolment> {
        let (status, reason, action) = match decision {
            EnrolmentDecision::Approve { reason } => (
                EnrolmentStatus::Approved,
                reason.clone(),
                "enrolment.approved",
            ),
            EnrolmentDecision::Reject { reason } => (
                EnrolmentStatus::Rejected,
                Some(reason.clone()),
                "enrolment.rejected",
            ),
        };
        let done = sqlx::query(
            "UPDATE enrolments SET status = $1, decision_reason = $2, decided_at = $3 \
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(reason.clone())
        .bind(self.now_column())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            let current = self.enrolment(id).await?;
            return Err(StoreError::Conflict(format!(
                "enrolment {id} is {}, not pending",
                current.status
            )));
        }
        self.audit(
            actor,
            action,
            &format!("enrolment:{id}"),
            json!({"reason": reason}),
        )
        .await?;
        self.enrolment(id).await
    }

    /// Marks an approved enrolment failed, with the reason. False when it is no longer
    /// approved, or a certificate for it is reserved or valid (another instance finished it
    /// or is finishing it): nothing is written then.
    pub async fn fail_enrolment(
        &mut self,
        id: EnrolmentId,
        reason: &str,
        actor: &Actor,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE enrolments SET status = 'failed', decision_reason = $1, decided_at = $2 \
             WHERE id = $3 AND status = 'approved' AND NOT EXISTS (SELECT 1 FROM certificates \
             WHERE enrolment_id = $3 AND status IN ('reserved', 'valid', 'revoked'))",
        )
        .bind(reason)
        .bind(self.now_column())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.audit(
            actor,
            "enrolment.failed",
            &format!("enrolment:{id}"),
            json!({"reason": reason}),
        )
        .await?;
        Ok(true)
    }
}
