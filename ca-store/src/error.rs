//! The one error type at the storage boundary.
//!
//! sqlx errors never leave this crate raw: a missing row becomes [`StoreError::NotFound`], a
//! unique-constraint violation [`StoreError::Conflict`], a lost connection or a busy database
//! [`StoreError::Unavailable`] (retryable: the transaction was rolled back, nothing is
//! half-written), and anything else [`StoreError::Database`].

use std::fmt;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached at start. Names where it looked, never the password.
    #[error(
        "cannot connect to {backend} database {database} at {host}: {reason}. Check that the \
         server is running and that the database URL (TSCA_DATABASE_URL or the config file) is right"
    )]
    Connect {
        /// "PostgreSQL" or "SQLite".
        backend: &'static str,
        /// host:port, or the file path for SQLite.
        host: String,
        /// The database name (or file).
        database: String,
        /// The driver's reason, with any credentials removed.
        reason: String,
    },
    /// The database URL is not one tsca understands.
    #[error("database URL is not usable: {0}. Use postgres://user@host:5432/db or sqlite://path/to/tsca.db")]
    BadUrl(String),
    /// The database was migrated by a newer tsca than this one.
    #[error(
        "the database is at schema version {database} but this tsca knows only up to version \
         {code}: it was upgraded by a newer tsca. Run that version (or newer); migrations are \
         forward-only and never undone"
    )]
    SchemaTooNew {
        /// The newest migration recorded in the database.
        database: i64,
        /// The newest migration embedded in this binary.
        code: i64,
    },
    /// A migration failed or an applied migration no longer matches the embedded one.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The row asked for does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of thing ("certificate", "authority", …).
        what: &'static str,
        /// How it was asked for.
        key: String,
    },
    /// The write would break a uniqueness rule or the state machine of a record.
    #[error("{0}")]
    Conflict(String),
    /// The caller asked for something the records do not allow (not a database fault).
    #[error("{0}")]
    Invalid(String),
    /// The database is unreachable or busy right now. The transaction was rolled back;
    /// retrying the whole operation is safe.
    #[error("database unavailable (retry later): {0}")]
    Unavailable(String),
    /// A stored value could not be read back (a corrupt row or a foreign writer).
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// True when the operation may succeed if retried as a whole.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn not_found(what: &'static str, key: impl fmt::Display) -> Self {
        Self::NotFound {
            what,
            key: key.to_string(),
        }
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl fmt::Display) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        classify(error)
    }
}

/// Sorts a driver error into the kinds callers act on.
fn classify(error: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match error {
        E::RowNotFound => StoreError::NotFound {
            what: "row",
            key: String::new(),
        },
        E::Io(e) => StoreError::Unavailable(format!("connection lost: {e}")),
        E::PoolTimedOut => StoreError::Unavailable("no database connection free in time".into()),
        E::PoolClosed => StoreError::Unavailable("the connection pool is closed".into()),
        E::WorkerCrashed => StoreError::Unavailable("the database worker stopped".into()),
        E::Tls(e) => StoreError::Unavailable(format!("TLS to the database failed: {e}")),
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if db.is_unique_violation() {
                StoreError::Conflict(format!("already exists: {}", db.message()))
            } else if db.is_foreign_key_violation() {
                StoreError::Invalid(format!(
                    "refers to a record that does not exist: {}",
                    db.message()
                ))
            } else if retryable_code(&code) {
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Database(db.message().to_owned())
            }
        }
        E::Migrate(m) => StoreError::Migration(m.to_string()),
        other => StoreError::Database(other.to_string()),
    }
}

/// PostgreSQL SQLSTATEs (connection exceptions, shutdown, serialization failure, deadlock)
/// and SQLite result codes (BUSY, LOCKED and their extended forms) that mean "try again".
fn retryable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        || matches!(code, "5" | "6" | "261" | "262" | "517")
}
