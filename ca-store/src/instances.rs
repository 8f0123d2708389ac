//! `instances`: the running tsca processes and their heartbeats. A reservation belongs to the
//! instance that made it (`certificates.reserved_by`); when that instance has not heartbeated
//! for the orphan delay, any other instance's reconciler takes the reservation over
//! (docs/architecture.md, "Recovery while running").
//!
//! Heartbeats are plain upserts outside the audit chain: they record liveness, not a change
//! of the CA. On PostgreSQL they never wait for the audit head (they lock only their own
//! row); on SQLite every write takes the database's one write lock, so a heartbeat waits for
//! the write transaction in progress, which is short (signing happens between commits).

use jiff::Timestamp;

use crate::columns::time_to_column;
use crate::database::Store;
use crate::error::Result;
use crate::model::InstanceId;

impl Store {
    /// Records that `instance` is alive at `now` (registering it on the first call).
    pub async fn heartbeat(
        &self,
        instance: &InstanceId,
        description: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (id, description, started_at, heartbeat_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(instance.as_str())
        .bind(description)
        .bind(time_to_column(now))
        .execute(self.writer_pool())
        .await?;
        Ok(())
    }

    /// Removes instances that have not heartbeated since `before` and hold no reservation.
    pub async fn forget_dead_instances(&self, before: Timestamp) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM instances WHERE heartbeat_at < $1 AND id NOT IN \
             (SELECT reserved_by FROM certificates WHERE status = 'reserved' AND reserved_by IS NOT NULL)",
        )
        .bind(time_to_column(before))
        .execute(self.writer_pool())
        .await?
        .rows_affected())
    }
}
