//! Revocation events: how a committed revocation reaches every OCSP responder.
//!
//! On PostgreSQL the revoking transaction runs `pg_notify('tsca_revocation', payload)`, so
//! the event is delivered to every listening connection exactly when the transaction
//! commits (and never if it rolls back). The payload is the JSON of [`RevocationEvent`].
//! On SQLite (one process) an in-process broadcast carries the same event after commit.
//!
//! Delivery is not guaranteed: a listener's connection can drop, a slow receiver can fall
//! behind. Both surface as [`StoreEvent::Resync`], telling the receiver to reload from the
//! database rather than trust its cache.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::error::{Result, StoreError};

/// The PostgreSQL NOTIFY channel of revocations.
pub const REVOCATION_CHANNEL: &str = "tsca_revocation";

/// A committed revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEvent {
    /// The certificate's row id.
    pub certificate_id: i64,
    /// Its issuer's id.
    pub issuer_id: i64,
    /// Its serial, lower-case hex.
    pub serial: String,
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// A certificate was revoked.
    Revoked(RevocationEvent),
    /// Events may have been missed (connection lost and re-established, or the receiver fell
    /// behind): reload state from the database.
    Resync,
}

/// A stream of [`StoreEvent`]s.
pub struct Subscription {
    source: Source,
}

enum Source {
    Postgres(Box<PgListener>),
    Local(broadcast::Receiver<RevocationEvent>),
}

impl Subscription {
    pub(crate) async fn postgres(url: &str) -> Result<Self> {
        let mut listener = PgListener::connect(url)
            .await
            .map_err(|e| StoreError::unavailable(format!("cannot LISTEN for revocations: {e}")))?;
        listener.listen(REVOCATION_CHANNEL).await?;
        Ok(Self {
            source: Source::Postgres(Box::new(listener)),
        })
    }

    pub(crate) fn local(receiver: broadcast::Receiver<RevocationEvent>) -> Self {
        Self {
            source: Source::Local(receiver),
        }
    }

    /// The next event. Never ends: a broken connection is retried (after a pause) and
    /// reported as [`StoreEvent::Resync`] once it is back.
    pub async fn next(&mut self) -> StoreEvent {
        match &mut self.source {
            Source::Postgres(listener) => loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => match serde_json::from_str(notification.payload()) {
                        Ok(event) => return StoreEvent::Revoked(event),
                        Err(e) => {
                            tracing::warn!(payload = notification.payload(), error = %e,
                                    "unreadable revocation notification; resynchronising");
                            return StoreEvent::Resync;
                        }
                    },
                    // The connection was lost; PgListener reconnects (and re-LISTENs) on the
                    // next call. Whatever was sent meanwhile is lost: resynchronise.
                    Ok(None) => return StoreEvent::Resync,
                    Err(e) => {
                        tracing::warn!(error = %e, "revocation listener failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            },
            Source::Local(receiver) => match receiver.recv().await {
                Ok(event) => StoreEvent::Revoked(event),
                Err(broadcast::error::RecvError::Lagged(_)) => StoreEvent::Resync,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            },
        }
    }
}
