//! `assignments`: an authority gives an operator a numbering resource for a time. A port is an
//! assignment carved out of another operator's (`ported_from`); withdrawal sets
//! `withdrawn_at`, rows stay. `expiry_handled_at` records that the sweep has revoked what an
//! assignment's end left uncovered.

use ca_core::numbering::NumberingResource;
use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::columns::{get_optional_time, get_time, time_to_column};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AssignmentId, AuthorityId, OperatorId};

/// A numbering assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Row id.
    pub id: AssignmentId,
    /// The assigning authority.
    pub authority_id: AuthorityId,
    /// The holder.
    pub operator_id: OperatorId,
    /// What is assigned.
    pub resource: NumberingResource,
    /// From when.
    pub valid_from: Timestamp,
    /// Until when (open-ended when none); the assignment holds while `now < valid_to`.
    pub valid_to: Option<Timestamp>,
    /// The operator the resource was ported from.
    pub ported_from: Option<OperatorId>,
    /// When withdrawn.
    pub withdrawn_at: Option<Timestamp>,
    /// When created.
    pub created_at: Timestamp,
    /// When the expiry sweep handled its end.
    pub expiry_handled_at: Option<Timestamp>,
}

impl Assignment {
    /// Active at `at`: not withdrawn and inside its validity.
    pub fn is_active_at(&self, at: Timestamp) -> bool {
        self.withdrawn_at.is_none()
            && self.valid_from <= at
            && self.valid_to.is_none_or(|to| at < to)
    }

    /// Its validity overlaps `[from, to)` (`None`: open-ended).
    pub fn overlaps_time(&self, from: Timestamp, to: Option<Timestamp>) -> bool {
        let starts_before_other_ends = to.is_none_or(|to| self.valid_from < to);
        let other_starts_before_this_ends = self.valid_to.is_none_or(|end| from < end);
        self.withdrawn_at.is_none() && starts_before_other_ends && other_starts_before_this_ends
    }
}

/// The fields of a new assignment.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    /// Assigning authority.
    pub authority_id: AuthorityId,
    /// Holder.
    pub operator_id: OperatorId,
    /// Resource.
    pub resource: NumberingResource,
    /// From.
    pub valid_from: Timestamp,
    /// Until.
    pub valid_to: Option<Timestamp>,
    /// Ported from this operator: allowed to overlap that operator's assignments only.
    pub ported_from: Option<OperatorId>,
}

const ASSIGNMENT_COLUMNS: &str = "id, authority_id, operator_id, resource, valid_from, valid_to, \
     ported_from, withdrawn_at, created_at, expiry_handled_at";

/// Assignments matching `condition` (SQL over one `$1` parameter), by id.
pub(crate) async fn fetch_assignments<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    condition: &str,
    param: i64,
) -> Result<Vec<Assignment>> {
    sqlx::query(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE {condition} ORDER BY id"
    ))
    .bind(param)
    .fetch_all(executor)
    .await?
    .iter()
    .map(assignment_from_row)
    .collect()
}

fn assignment_from_row(row: &AnyRow) -> Result<Assignment> {
    let id = AssignmentId(row.try_get("id")?);
    let resource: String = row.try_get("resource")?;
    Ok(Assignment {
        id,
        authority_id: AuthorityId(row.try_get("authority_id")?),
        operator_id: OperatorId(row.try_get("operator_id")?),
        resource: resource.parse::<NumberingResource>().map_err(|e| {
            StoreError::corrupt("assignment resource", format!("assignment {id}: {e}"))
        })?,
        valid_from: get_time(row, "valid_from")?,
        valid_to: get_optional_time(row, "valid_to")?,
        ported_from: row
            .try_get::<Option<i64>, _>("ported_from")?
            .map(OperatorId),
        withdrawn_at: get_optional_time(row, "withdrawn_at")?,
        created_at: get_time(row, "created_at")?,
        expiry_handled_at: get_optional_time(row, "expiry_handled_at")?,
    })
}

/// What decides whether an operator holds a resource at a time: its own assignments that
/// are not withdrawn, and the assignments of others ported away from it.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// The operator's own assignments (not withdrawn; past, current and future).
    pub own: Vec<Assignment>,
    /// Other operators' assignments ported from this one (not withdrawn).
    pub ported_away: Vec<Assignment>,
}

async fn fetch_holdings<'e, E>(executor: E, operator: OperatorId) -> Result<Holdings>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let all = fetch_assignments(
        executor,
        // Two index searches joined, not one OR: SQLite scans the whole table for the OR.
        "id IN (SELECT id FROM assignments WHERE withdrawn_at IS NULL AND operator_id = $1 \
         UNION ALL SELECT id FROM assignments WHERE withdrawn_at IS NULL AND ported_from = $1)",
        operator.0,
    )
    .await?;
    let (own, ported_away) = all.into_iter().partition(|a| a.operator_id == operator);
    Ok(Holdings { own, ported_away })
}

impl StoreReader {
    /// One assignment.
    pub async fn assignment(&self, id: AssignmentId) -> Result<Assignment> {
        fetch_assignments(self.pool(), "id = $1", id.0)
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("assignment", id))
    }

    /// The assignments active at `at` (not withdrawn, inside their validity).
    pub async fn active_assignments(&self, at: Timestamp) -> Result<Vec<Assignment>> {
        let all = fetch_assignments(
            self.pool(),
            "withdrawn_at IS NULL AND (valid_to IS NULL OR valid_to > $1)",
            time_to_column(at),
        )
        .await?;
        Ok(all.into_iter().filter(|a| a.is_active_at(at)).collect())
    }

    /// Every assignment of one operator, withdrawn ones included.
    pub async fn operator_assignments(&self, operator_id: OperatorId) -> Result<Vec<Assignment>> {
        fetch_assignments(self.pool(), "operator_id = $1", operator_id.0).await
    }

    /// What the operator holds, over time.
    pub async fn holdings(&self, operator: OperatorId) -> Result<Holdings> {
        fetch_holdings(self.pool(), operator).await
    }

    /// Assignments whose validity ended at or before `at` and whose end the sweep has not
    /// handled yet, at most `limit` (those that ended first), in id order.
    pub async fn expired_unhandled_assignments(
        &self,
        at: Timestamp,
        limit: i64,
    ) -> Result<Vec<Assignment>> {
        // The limit goes into the query: a bulk import that ended long ago must not be read
        // whole on every pass of the sweep.
        let limit = limit.max(0);
        fetch_assignments(
            self.pool(),
            &format!(
                "id IN (SELECT id FROM assignments WHERE withdrawn_at IS NULL \
                 AND expiry_handled_at IS NULL AND valid_to IS NOT NULL AND valid_to <= $1 \
                 ORDER BY valid_to, id LIMIT {limit})"
            ),
            time_to_column(at),
        )
        .await
    }
}

impl WriteTx {
    /// One assignment, read inside this transaction.
    pub async fn assignment(&mut self, id: AssignmentId) -> Result<Assignment> {
        fetch_assignments(&mut *self.tx, "id = $1", id.0)
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("assignment", id))
    }

    /// What the operator holds, read inside this transaction.
    pub async fn holdings(&mut self, operator: OperatorId) -> Result<Holdings> {
        fetch_holdings(&mut *self.tx, operator).await
    }

    /// Every assignment that is not withdrawn and overlaps `resource` (any operator).
    pub async fn assignments_overlapping(
        &mut self,
        resource: &NumberingResource,
    ) -> Result<Vec<Assignment>> {
        // Resources are compared in Rust (ca-core decides overlap); the table is read inside
        // the transaction, which holds the audit head, so no writer adds one meanwhile.
        let all = fetch_assignments(&mut *self.tx, "withdrawn_at IS NULL AND id > $1", 0).await?;
        Ok(all
            .into_iter()
            .filter(|a| a.resource.overlaps(resource))
            .collect())
    }

    /// Records a new assignment.
    pub async fn insert_assignment(
        &mut self,
        new: &NewAssignment,
        actor: &Actor,
    ) -> Result<Assignment> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO assignments (authority_id, operator_id, resource, valid_from, valid_to, \
             ported_from, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.authority_id.0)
        .bind(new.operator_id.0)
        .bind(new.resource.to_string())
        .bind(time_to_column(new.valid_from))
        .bind(new.valid_to.map(time_to_column))
        .bind(new.ported_from.map(|o| o.0))
        .bind(self.now_column())
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "assignment.created",
            &format!("assignment:{id}"),
            json!({"operator_id": new.operator_id, "authority_id": new.authority_id,
                   "resource": new.resource.to_string(), "valid_from": time_to_column(new.valid_from),
                   "valid_to": new.valid_to.map(time_to_column), "ported_from": new.ported_from}),
        )
        .await?;
        self.assignment(AssignmentId(id)).await
    }

    /// Withdraws an assignment (the row stays, with its withdrawal time). Conflict when it
    /// is already withdrawn.
    pub async fn withdraw_assignment(
        &mut self,
        id: AssignmentId,
        actor: &Actor,
    ) -> Result<Assignment> {
        let done = sqlx::query(
            "UPDATE assignments SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL",
        )
        .bind(self.now_column())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        let assignment = self.assignment(id).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "assignment {id} is already withdrawn"
            )));
        }
        self.audit(
            actor,
            "assignment.withdrawn",
            &format!("assignment:{id}"),
            json!({"operator_id": assignment.operator_id, "resource": assignment.resource.to_string()}),
        )
        .await?;
        Ok(assignment)
    }

    /// Changes when an assignment ends.
    pub async fn set_assignment_end(
        &mut self,
        id: AssignmentId,
        valid_to: Option<Timestamp>,
        actor: &Actor,
    ) -> Result<Assignment> {
        let before = self.assignment(id).await?;
        sqlx::query("UPDATE assignments SET valid_to = $1, expiry_handled_at = NULL WHERE id = $2")
            .bind(valid_to.map(time_to_column))
            .bind(id.0)
            .execute(&mut *self.tx)
            .await?;
        self.audit(
            actor,
            "assignment.end-changed",
            &format!("assignment:{id}"),
            json!({"operator_id": before.operator_id, "resource": before.resource.to_string(),
                   "valid_to_before": before.valid_to.map(time_to_column),
                   "valid_to": valid_to.map(time_to_column)}),
        )
        .await?;
        self.assignment(id).await
    }

    /// Records that the expiry sweep handled an assignment's end. False when another
    /// instance already did, or its end was moved or withdrawn meanwhile (nothing is written
    /// then).
    pub async fn mark_assignment_expiry_handled(
        &mut self,
        id: AssignmentId,
        actor: &Actor,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE assignments SET expiry_handled_at = $1 WHERE id = $2 \
             AND expiry_handled_at IS NULL AND withdrawn_at IS NULL \
             AND valid_to IS NOT NULL AND valid_to <= $1",
        )
        .bind(self.now_column())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let assignment = self.assignment(id).await?;
        self.audit(
            actor,
            "assignment.expired",
            &format!("assignment:{id}"),
            json!({"operator_id": assignment.operator_id, "resource": assignment.resource.to_string(),
                   "valid_to": assignment.valid_to.map(time_to_column)}),
        )
        .await?;
        Ok(true)
    }
}
