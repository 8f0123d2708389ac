//! The handles on a database, by who may do what (docs/architecture.md, "Who writes what"):
//!
//! - [`Store`] is the writer. Only the gateway (`ca-service`'s engine) holds one; every change
//!   goes through a [`WriteTx`] it begins, which commits the change together with its audit
//!   entries or not at all.
//! - [`StoreReader`] is the read-only face, for lookups, the registry's public repository and
//!   the OCSP responder. It cannot begin a transaction.
//! - [`OcspResponseWriter`] is the one narrow exception: a responder re-signs pre-signed OCSP
//!   responses and writes them back to their own table, without an audit entry (re-signing
//!   changes no state of the CA). [`ResponderAccess`] is what an OCSP-only node opens: a reader
//!   and that writer, nothing else.
//!
//! Every write transaction first takes the audit head row (`UPDATE audit_head … RETURNING`):
//! on PostgreSQL that row lock orders all writers, on SQLite the statement takes the write
//! lock up front (so a transaction never has to upgrade a read lock, which is where SQLite
//! returns BUSY). A check made inside a [`WriteTx`] therefore cannot race another writer:
//! uniqueness rules that no constraint can express (overlapping assignments, key bindings)
//! are decided there.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::audit;
use crate::columns::time_to_column;
use crate::connect::{self, Backend, DatabaseLimits, DatabaseUrl};
use crate::error::{Result, StoreError};
use crate::model::Actor;
#[cfg(doc)]
use crate::notify::CHANGES_CHANNEL;
use crate::notify::{Announcer, Subscription};

/// The pools and the change wake-ups, shared by every handle on one database.
pub(crate) struct Database {
    pub(crate) url: DatabaseUrl,
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    /// Wake-ups after this process's commits (notify.rs).
    pub(crate) announcer: Announcer,
}

impl Database {
    async fn open(url: &str, limits: DatabaseLimits) -> Result<Arc<Database>> {
        let url = DatabaseUrl::parse(url)?;
        let pools = connect::open_pools(&url, limits).await?;
        let maintenance = connect::maintenance_pool(&url, &pools).await?;
        let applied = connect::migrate(&maintenance, url.backend).await?;
        if !applied.is_empty() {
            tracing::info!(database = %url.redacted(), ?applied, "applied migrations");
        }
        crate::certificates::backfill_public_keys(&maintenance).await?;
        if url.backend == Backend::Postgres {
            maintenance.close().await;
        }
        let announcer = Announcer::new(match url.backend {
            Backend::Postgres => Some(pools.write.clone()),
            Backend::Sqlite => None,
        });
        Ok(Arc::new(Database {
            url,
            read: pools.read,
            write: pools.write,
            announcer,
        }))
    }
}

/// The writer: begins the transactions that change anything. Cheap to clone; clones share
/// the pools. Only the gateway should hold one (docs/architecture.md).
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
}

/// The read-only face of the store. Cheap to clone.
#[derive(Clone)]
pub struct StoreReader {
    pub(crate) db: Arc<Database>,
}

/// Writes re-signed OCSP responses to their table, and nothing else.
#[derive(Clone)]
pub struct OcspResponseWriter {
    pub(crate) db: Arc<Database>,
}

/// What an OCSP-only node holds: reads, and its own response table.
#[derive(Clone)]
pub struct ResponderAccess {
    /// Reads.
    pub reader: StoreReader,
    /// Re-signed responses.
    pub responses: OcspResponseWriter,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.db.url.redacted())
    }
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreReader({})", self.db.url.redacted())
    }
}

impl Store {
    /// Opens the database at `url`, applies pending migrations and refuses a database newer
    /// than this code. See [`DatabaseUrl::parse`] for the URL forms.
    pub async fn open(url: &str) -> Result<Store> {
        Self::open_with(url, DatabaseLimits::default()).await
    }

    /// [`Store::open`] with other waits and timeouts.
    pub async fn open_with(url: &str, limits: DatabaseLimits) -> Result<Store> {
        Ok(Store {
            db: Database::open(url, limits).await?,
        })
    }

    /// The read-only face of the same database.
    pub fn reader(&self) -> StoreReader {
        StoreReader {
            db: self.db.clone(),
        }
    }

    /// The OCSP response writer of the same database.
    pub fn ocsp_responses(&self) -> OcspResponseWriter {
        OcspResponseWriter {
            db: self.db.clone(),
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.db.url.backend
    }

    /// The database URL without credentials.
    pub fn describe(&self) -> String {
        self.db.url.redacted()
    }

    pub(crate) fn writer_pool(&self) -> &AnyPool {
        &self.db.write
    }

    /// Closes the pools (waits for running statements).
    pub async fn close(&self) {
        self.db.write.close().await;
        self.db.read.close().await;
    }

    /// Begins a write transaction at `now` (the time every row and audit entry it writes
    /// records). It holds the audit head until it commits or is dropped (rolled back).
    pub async fn begin(&self, now: Timestamp) -> Result<WriteTx> {
        let mut tx = self.db.write.begin().await?;
        let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("seq")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        Ok(WriteTx {
            tx,
            head_seq: seq,
            head_hash: hash,
            first_seq: seq + 1,
            now,
            backend: self.backend(),
            announcer: self.db.announcer.clone(),
        })
    }
}

impl ResponderAccess {
    /// Opens the database for an OCSP-only node (migrating it like any node, so nodes may
    /// start in any order).
    pub async fn open(url: &str, limits: DatabaseLimits) -> Result<ResponderAccess> {
        let db = Database::open(url, limits).await?;
        Ok(ResponderAccess {
            reader: StoreReader { db: db.clone() },
            responses: OcspResponseWriter { db },
        })
    }
}

impl StoreReader {
    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.db.url.backend
    }

    /// The database URL without credentials.
    pub fn describe(&self) -> String {
        self.db.url.redacted()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.db.read
    }

    /// Readiness: the database answers and its schema is the one this code knows.
    pub async fn check_ready(&self) -> Result<()> {
        let version = connect::database_schema_version(&self.db.read, self.backend()).await?;
        let code = connect::code_schema_version(self.backend());
        if version != code {
            return Err(StoreError::Migration(format!(
                "database schema is at version {version}, this tsca expects {code}"
            )));
        }
        Ok(())
    }

    /// Subscribes to change wake-ups (notify.rs): this process's commits, and on PostgreSQL
    /// every process's through `LISTEN` on [`CHANGES_CHANNEL`]. What changed is read from
    /// the audit log with [`StoreReader::changes_after`].
    pub async fn subscribe(&self) -> Result<Subscription> {
        let local = self.db.announcer.subscribe_local();
        match self.backend() {
            Backend::Postgres => Subscription::postgres(&self.db.url.url, local).await,
            Backend::Sqlite => Ok(Subscription::local(local)),
        }
    }
}

/// One write transaction, holding the audit head. Dropping it without [`WriteTx::commit`]
/// rolls everything back: a refused operation leaves nothing behind.
pub struct WriteTx {
    pub(crate) tx: Transaction<'static, Any>,
    head_seq: i64,
    head_hash: Vec<u8>,
    first_seq: i64,
    now: Timestamp,
    backend: Backend,
    announcer: Announcer,
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteTx(at {}, audit from {})", self.now, self.first_seq)
    }
}

impl WriteTx {
    /// The time this transaction records.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub(crate) fn now_column(&self) -> i64 {
        time_to_column(self.now)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends one audit entry, chained to the previous one. Every change a method of this
    /// crate makes writes its own; the gateway adds entries for decisions that change no row
    /// (none today) through this.
    pub async fn audit(
        &mut self,
        actor: &Actor,
        action: &str,
        subject: &str,
        details: Value,
    ) -> Result<i64> {
        let seq = self.head_seq + 1;
        let details = details.to_string();
        let at = self.now_column();
        let hash = audit::entry_hash(
            &self.head_hash,
            seq,
            at,
            actor.as_str(),
            action,
            subject,
            &details,
        );
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(at)
        .bind(actor.as_str())
        .bind(action)
        .bind(subject)
        .bind(&details)
        .bind(self.head_hash.clone())
        .bind(hash.clone())
        .execute(&mut *self.tx)
        .await?;
        self.head_seq = seq;
        self.head_hash = hash;
        Ok(seq)
    }

    /// True when this transaction has written an audit entry (so something changed).
    pub fn has_changes(&self) -> bool {
        self.head_seq >= self.first_seq
    }

    /// Commits the changes and their audit entries, then wakes the followers (notify.rs). A
    /// failure while `COMMIT` is in flight is reported with [`crate::WriteOutcome::Unknown`].
    /// A transaction that changed nothing is rolled back instead (it holds the audit head for
    /// nothing).
    pub async fn commit(mut self) -> Result<()> {
        if !self.has_changes() {
            return Ok(());
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.head_seq)
            .bind(self.head_hash.clone())
            .execute(&mut *self.tx)
            .await?;
        self.tx
            .commit()
            .await
            .map_err(|e| StoreError::from(e).during_commit())?;
        self.announcer.committed(self.head_seq);
        Ok(())
    }
}
