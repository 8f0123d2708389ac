//! `idempotency_keys`: what a request carrying an Idempotency-Key produced, per principal.
//!
//! The row is written in the same transaction as the effect it records, and `(principal,
//! key)` is the primary key: two requests with the same key cannot both commit an effect.
//! Because every write transaction holds the audit head, the second one reads the first's
//! row after the first commits and answers from it (docs/architecture.md, "Idempotency").
//! A refused request writes nothing, so retrying it runs it again.

use jiff::Timestamp;
use sqlx::Row;

use crate::columns::{get_time, time_to_column};
use crate::database::{Store, WriteTx};
use crate::error::{Result, StoreError};

/// A recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Who sent it ("operator:5", "token:9").
    pub principal: String,
    /// The client's key.
    pub key: String,
    /// Which operation ("enrolment.create", …).
    pub operation: String,
    /// SHA-256 of the request as the gateway understood it.
    pub request_hash: [u8; 32],
    /// What it produced ("enrolment:42").
    pub result: String,
    /// When.
    pub created_at: Timestamp,
}

impl WriteTx {
    /// The record of `(principal, key)`, if the key was used.
    pub async fn idempotency_record(
        &mut self,
        principal: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT principal, idempotency_key, operation, request_hash, result, created_at \
             FROM idempotency_keys WHERE principal = $1 AND idempotency_key = $2",
        )
        .bind(principal)
        .bind(key)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| {
            let hash: Vec<u8> = row.try_get("request_hash")?;
            Ok(IdempotencyRecord {
                principal: row.try_get("principal")?,
                key: row.try_get("idempotency_key")?,
                operation: row.try_get("operation")?,
                request_hash: hash
                    .try_into()
                    .map_err(|_| StoreError::corrupt("request_hash", "not 32 octets"))?,
                result: row.try_get("result")?,
                created_at: get_time(&row, "created_at")?,
            })
        })
        .transpose()
    }

    /// Records what a request produced, in the transaction that produced it. Conflict when
    /// the key is taken (which the caller checked inside this transaction, so only a writer
    /// outside tsca's rules can cause it).
    pub async fn record_idempotency(&mut self, record: &IdempotencyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO idempotency_keys (principal, idempotency_key, operation, request_hash, \
             result, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.principal)
        .bind(&record.key)
        .bind(&record.operation)
        .bind(record.request_hash.to_vec())
        .bind(&record.result)
        .bind(self.now_column())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Forgets keys recorded before `before`; returns how many. Not audited: the effects
    /// they point to keep their own audit entries.
    pub async fn forget_idempotency_keys(&self, before: Timestamp) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(time_to_column(before))
                .execute(self.writer_pool())
                .await?
                .rows_affected(),
        )
    }
}
