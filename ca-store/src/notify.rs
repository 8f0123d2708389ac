//! Change wake-ups: how every follower of the store (the OCSP responders, on every node)
//! hears at once that something committed.
//!
//! **The audit log is the outbox.** Every change to a certificate, an assignment or an
//! authority commits with an audit entry naming it (`certificate:ID`, …), numbered in one
//! total order by the audit head every writer holds. A follower remembers the last sequence
//! number it applied and reads what came after ([`StoreReader::changes_after`]); nothing it
//! needs travels anywhere else, so nothing can be lost in transit.
//!
//! What travels here is only the wake-up "committed through sequence N", sent **after** the
//! commit, never inside the writer's transaction:
//! - to subscribers in the same process, by an in-process broadcast from
//!   [`crate::WriteTx::commit`];
//! - to other processes on PostgreSQL, by `NOTIFY tsca_changes, 'N'`, sent by one notifier task
//!   per process on its own short transaction, coalescing the commits that happened while it
//!   was busy into one. A NOTIFY inside the writer's transaction would take PostgreSQL's
//!   cluster-wide notification lock from its pre-commit until its commit record is flushed,
//!   serialising every writer behind the WAL flush.
//!
//! Delivery is not guaranteed (a listening connection drops, a slow receiver falls behind,
//! a process on the same SQLite file hears nothing): followers also read the log on a short
//! interval, and a [`StoreEvent::Resync`] tells them to do so at once.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{AnyPool, Row};
use tokio::sync::{broadcast, mpsc, watch};

use crate::database::StoreReader;
use crate::error::{Result, StoreError};
use crate::model::{AssignmentId, AuthorityId, CertificateId};

/// The PostgreSQL NOTIFY channel of change wake-ups; the payload is the audit sequence number
/// committed through, in decimal.
pub const CHANGES_CHANNEL: &str = "tsca_changes";

/// What a subscriber receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    /// Changes committed through this audit sequence number.
    Committed {
        /// The newest audit entry of the commit.
        through_seq: i64,
    },
    /// Wake-ups may have been missed (connection lost and re-established, or the receiver
    /// fell behind): read the log now.
    Resync,
}

/// A stream of [`StoreEvent`]s: this process's commits and, on PostgreSQL, every other
/// process's.
pub struct Subscription {
    local: broadcast::Receiver<i64>,
    remote: Option<mpsc::Receiver<StoreEvent>>,
}

impl Subscription {
    /// `LISTEN tsca_changes` on a connection of its own, forwarded by a task that ends when
    /// the subscription is dropped.
    pub(crate) async fn postgres(url: &str, local: broadcast::Receiver<i64>) -> Result<Self> {
        let mut listener = PgListener::connect(url)
            .await
            .map_err(|e| StoreError::unavailable(format!("cannot LISTEN for changes: {e}")))?;
        listener.listen(CHANGES_CHANNEL).await?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = tx.closed() => return,
                    event = next_notification(&mut listener) => event,
                };
                // A full queue already holds wake-ups: this one adds nothing.
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(event) {
                    return;
                }
            }
        });
        Ok(Self {
            local,
            remote: Some(rx),
        })
    }

    pub(crate) fn local(local: broadcast::Receiver<i64>) -> Self {
        Self {
            local,
            remote: None,
        }
    }

    /// The next event. Never ends.
    pub async fn next(&mut self) -> StoreEvent {
        let local = async {
            match self.local.recv().await {
                Ok(through_seq) => StoreEvent::Committed { through_seq },
                Err(broadcast::error::RecvError::Lagged(_)) => StoreEvent::Resync,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        };
        match &mut self.remote {
            None => local.await,
            Some(remote) => tokio::select! {
                event = local => event,
                event = remote.recv() => event.unwrap_or(StoreEvent::Resync),
            },
        }
    }
}

/// The next notification of a listener; a broken connection is retried (after a pause) and
/// reported as [`StoreEvent::Resync`] once it is back, since whatever was sent meanwhile is
/// lost.
async fn next_notification(listener: &mut PgListener) -> StoreEvent {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                return match notification.payload().parse() {
                    Ok(through_seq) => StoreEvent::Committed { through_seq },
                    Err(_) => {
                        tracing::warn!(
                            payload = notification.payload(),
                            "unreadable change notification; reading the log"
                        );
                        StoreEvent::Resync
                    }
                };
            }
            // The connection was lost; PgListener reconnects (and re-LISTENs) on the next call.
            Ok(None) => return StoreEvent::Resync,
            Err(e) => {
                tracing::warn!(error = %e, "change listener failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Sends the wake-ups of one process's commits.
#[derive(Clone)]
pub(crate) struct Announcer {
    local: broadcast::Sender<i64>,
    /// The newest sequence committed here, for the PostgreSQL notifier task (none on SQLite).
    remote: Option<watch::Sender<i64>>,
}

impl Announcer {
    /// An announcer; on PostgreSQL it starts the notifier task, which ends with the last
    /// clone of the announcer.
    pub(crate) fn new(postgres: Option<AnyPool>) -> Self {
        let (local, _) = broadcast::channel(4096);
        let remote = postgres.map(|pool| {
            let (tx, rx) = watch::channel(0);
            tokio::spawn(notify_forever(pool, rx));
            tx
        });
        Self { local, remote }
    }

    pub(crate) fn subscribe_local(&self) -> broadcast::Receiver<i64> {
        self.local.subscribe()
    }

    /// Tells this process's subscribers at once, and hands the sequence number to the
    /// notifier. Called after the commit.
    pub(crate) fn committed(&self, through_seq: i64) {
        // No receiver is not an error: nobody is listening yet.
        let _ = self.local.send(through_seq);
        if let Some(remote) = &self.remote {
            remote.send_if_modified(|newest| {
                let newer = through_seq > *newest;
                if newer {
                    *newest = through_seq;
                }
                newer
            });
        }
    }
}

/// One `NOTIFY` at a time, with the newest sequence number committed since the last one.
async fn notify_forever(pool: AnyPool, mut newest: watch::Receiver<i64>) {
    while newest.changed().await.is_ok() {
        let through_seq = *newest.borrow_and_update();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(through_seq.to_string())
            .fetch_optional(&pool)
            .await;
        if let Err(e) = sent {
            // Followers read the log on their own interval too: they are late, not wrong.
            tracing::warn!(error = %e, "cannot NOTIFY the other processes of a commit");
        }
    }
}

/// What changed after an audit sequence number: the objects named by later audit entries,
/// each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The newest sequence number read (the `after` of the next call).
    pub through_seq: i64,
    /// Assignments changed.
    pub assignments: BTreeSet<AssignmentId>,
    /// Certificates changed (reserved, issued, revoked, abandoned, …).
    pub certificates: BTreeSet<CertificateId>,
    /// Authorities changed (created, certificate installed, retired, …).
    pub authorities: BTreeSet<AuthorityId>,
}

impl StoreReader {
    /// The objects named by the audit entries after `after_seq` (every change to one commits
    /// with such an entry), read in pages.
    pub async fn changes_after(&self, after_seq: i64) -> Result<Changes> {
        const PAGE: i64 = 10_000;
        let mut changes = Changes {
            through_seq: after_seq,
            ..Changes::default()
        };
        loop {
            let rows = sqlx::query(
                "SELECT seq, subject FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(changes.through_seq)
            .bind(PAGE)
            .fetch_all(self.pool())
            .await?;
            for row in &rows {
                changes.through_seq = row.try_get("seq")?;
                let subject: String = row.try_get("subject")?;
                let Some((kind, id)) = subject.split_once(':') else {
                    continue;
                };
                let Ok(id) = id.parse::<i64>() else { continue };
                match kind {
                    "assignment" => {
                        changes.assignments.insert(AssignmentId(id));
                    }
                    "certificate" => {
                        changes.certificates.insert(CertificateId(id));
                    }
                    "authority" => {
                        changes.authorities.insert(AuthorityId(id));
                    }
                    _ => {}
                }
            }
            if (rows.len() as i64) < PAGE {
                return Ok(changes);
            }
        }
    }
}
