//! Opening a database: which backend a URL names, the pools, and the schema check.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
use sqlx::Executor;

use crate::error::{Result, StoreError};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL: the system of record, several tsca processes on one database.
    Postgres,
    /// SQLite: the embedded default, one process.
    Sqlite,
}

impl Backend {
    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Postgres => &POSTGRES_MIGRATIONS,
            Self::Sqlite => &SQLITE_MIGRATIONS,
        }
    }
}

/// A parsed database URL, with what error messages may show of it.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(crate) backend: Backend,
    /// The URL handed to the driver (may hold a password: never print it).
    pub(crate) url: String,
    pub(crate) host: String,
    pub(crate) database: String,
    pub(crate) in_memory: bool,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH`, `sqlite:PATH` or
    /// `sqlite::memory:`. A SQLite file is created if missing (with its parent folder).
    pub fn parse(url: &str) -> Result<Self> {
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            let parsed = url::Url::parse(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
            let host = format!(
                "{}:{}",
                parsed.host_str().unwrap_or("localhost"),
                parsed.port().unwrap_or(5432)
            );
            let database = parsed.path().trim_start_matches('/').to_owned();
            if database.is_empty() {
                return Err(StoreError::BadUrl(format!(
                    "postgres URL for {host} names no database (add /DBNAME)"
                )));
            }
            let _ = rest;
            return Ok(Self {
                backend: Backend::Postgres,
                url: url.to_owned(),
                host,
                database,
                in_memory: false,
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            if rest == ":memory:" || rest.starts_with(":memory:?") {
                return Ok(Self {
                    backend: Backend::Sqlite,
                    url: "sqlite::memory:".into(),
                    host: "memory".into(),
                    database: ":memory:".into(),
                    in_memory: true,
                });
            }
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err(StoreError::BadUrl("sqlite URL names no file".into()));
            }
            let query = if query.contains("mode=") {
                query.to_owned()
            } else if query.is_empty() {
                "mode=rwc".to_owned()
            } else {
                format!("{query}&mode=rwc")
            };
            return Ok(Self {
                backend: Backend::Sqlite,
                url: format!("sqlite://{path}?{query}"),
                host: "local file".into(),
                database: path.to_owned(),
                in_memory: false,
            });
        }
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::BadUrl(format!(
            "unknown scheme {scheme:?} (only postgres and sqlite are supported)"
        )))
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL without credentials, for logs and messages.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Postgres => format!("postgres://{}/{}", self.host, self.database),
            Backend::Sqlite => format!("sqlite://{}", self.database),
        }
    }

    fn connect_error(&self, error: sqlx::Error) -> StoreError {
        // sqlx's messages for connection failures do not contain the password, but strip the
        // URL's password anyway in case a future driver echoes it.
        let mut reason = error.to_string();
        if let Ok(parsed) = url::Url::parse(&self.url) {
            if let Some(password) = parsed.password() {
                if !password.is_empty() {
                    reason = reason.replace(password, "***");
                }
            }
        }
        StoreError::Connect {
            backend: self.backend.name(),
            host: self.host.clone(),
            database: self.database.clone(),
            reason,
        }
    }
}

/// The pools of an open database: reads and writes never share a connection pool. On
/// PostgreSQL the write pool is small (writers are serialised by the audit head anyway); on
/// SQLite writes go through a pool of one connection, so writers queue in-process instead of
/// failing with SQLITE_BUSY, while readers use their own connections (WAL mode lets them
/// read during a write).
pub(crate) struct Pools {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
}

/// How long a request may wait on the database (docs/operations.md, "When the database is
/// gone"): a read never waits longer than `wait` for a connection (every request reads
/// first — its token, its records — so an outage is answered within `wait`); a write
/// transaction waits up to `write_wait`, because writers queue behind one another on the
/// audit head in any case and a burst must not turn into refusals; and on PostgreSQL no
/// statement runs longer than `statement_timeout`, nor does a transaction sit idle longer than
/// `idle_transaction_timeout` (the server ends it and frees its locks, so a client whose
/// link froze mid-transaction cannot hold every writer behind the audit head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseLimits {
    /// Longest wait for a read connection (default 2 s).
    pub wait: Duration,
    /// Longest wait for a write connection (default 10 s).
    pub write_wait: Duration,
    /// PostgreSQL `statement_timeout` (default 10 s).
    pub statement_timeout: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout` (default 30 s).
    pub idle_transaction_timeout: Duration,
}

impl Default for DatabaseLimits {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(2),
            write_wait: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(10),
            idle_transaction_timeout: Duration::from_secs(30),
        }
    }
}

pub(crate) async fn open_pools(url: &DatabaseUrl, limits: DatabaseLimits) -> Result<Pools> {
    sqlx::any::install_default_drivers();
    match url.backend {
        Backend::Postgres => {
            // Two pools: every write transaction holds its connection while it queues for the
            // audit head (which orders all writers), so with one shared pool a burst of
            // writers could take every connection and leave none for the reads that the
            // writer holding the lock, or the next request's authentication, needs.
            let session = format!(
                "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}",
                limits.statement_timeout.as_millis(),
                limits.idle_transaction_timeout.as_millis()
            );
            let pool = |size: u32, wait: Duration| {
                let session = session.clone();
                AnyPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(wait)
                    .after_connect(move |conn, _| {
                        let session = session.clone();
                        Box::pin(async move {
                            conn.execute(session.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect(&url.url)
            };
            let read = pool(16, limits.wait)
                .await
                .map_err(|e| url.connect_error(e))?;
            let write = pool(8, limits.write_wait)
                .await
                .map_err(|e| url.connect_error(e))?;
            Ok(Pools { read, write })
        }
        Backend::Sqlite => {
            if !url.in_memory {
                if let Some(parent) = std::path::Path::new(&url.database).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| url.connect_error(sqlx::Error::Io(e)))?;
                    }
                }
            }
            // A local file has no outage: the write pool's one connection is a queue of this
            // process's writers, each a few milliseconds.
            let options = |wait: Duration| {
                AnyPoolOptions::new()
                    .acquire_timeout(wait)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                                 PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            };
            let write = options(limits.write_wait.max(Duration::from_secs(30)))
                .max_connections(1)
                .connect(&url.url)
                .await
                .map_err(|e| url.connect_error(e))?;
            if url.in_memory {
                // Every connection to :memory: is its own database: use the one.
                return Ok(Pools {
                    read: write.clone(),
                    write,
                });
            }
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&write)
                .await
                .map_err(|e| url.connect_error(e))?;
            let read = options(limits.wait)
                .max_connections(4)
                .connect(&url.url)
                .await
                .map_err(|e| url.connect_error(e))?;
            Ok(Pools { read, write })
        }
    }
}

/// The newest schema version this binary knows.
pub fn code_schema_version(backend: Backend) -> i64 {
    backend
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// The newest schema version applied to the database (0 when none).
pub(crate) async fn database_schema_version(pool: &AnyPool, backend: Backend) -> Result<i64> {
    let exists: Option<String> =
        match backend {
            Backend::Postgres => {
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                    .fetch_one(pool)
                    .await?
            }
            Backend::Sqlite => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(pool)
            .await?,
        };
    if exists.is_none() {
        return Ok(0);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(version.unwrap_or(0))
}

/// The pool that applies migrations and one-time backfills: on PostgreSQL a connection of
/// its own without the statement timeout (a migration may build an index over millions of
/// rows, and waits for another node's migration lock), on SQLite the write pool.
pub(crate) async fn maintenance_pool(url: &DatabaseUrl, pools: &Pools) -> Result<AnyPool> {
    match url.backend {
        Backend::Postgres => AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url.url)
            .await
            .map_err(|e| url.connect_error(e)),
        Backend::Sqlite => Ok(pools.write.clone()),
    }
}

/// Applies the embedded migrations, refusing a database that is newer than this code.
/// Returns the versions applied by this call.
pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<Vec<i64>> {
    let code = code_schema_version(backend);
    let before = database_schema_version(pool, backend).await?;
    if before > code {
        return Err(StoreError::SchemaTooNew {
            database: before,
            code,
        });
    }
    backend.migrator().run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMismatch(v) => StoreError::Migration(format!(
            "migration {v} in the database differs from the one embedded in this tsca; \
             migrations are forward-only and must never be edited after release"
        )),
        other => StoreError::Migration(other.to_string()),
    })?;
    Ok(backend
        .migrator()
        .iter()
        .map(|m| m.version)
        .filter(|v| *v > before)
        .collect())
}
