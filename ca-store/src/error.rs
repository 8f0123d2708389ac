//! The one error type at the storage boundary.
//!
//! sqlx errors never leave this crate raw: a missing row becomes [`StoreError::NotFound`], a
//! unique-constraint violation [`StoreError::Conflict`], a lost connection or a busy database
//! [`StoreError::Unavailable`], and anything else [`StoreError::Database`].
//!
//! `Unavailable` says whether the write happened ([`WriteOutcome`]): before `COMMIT` was sent
//! the transaction is rolled back and nothing is written; if the connection fails while
//! `COMMIT` is in flight, nobody can know whether it landed, and the error says so instead of
//! claiming that nothing changed.

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
    /// A write named a row that does not exist (a foreign key): the caller should have
    /// checked, so this is a bug or a row removed by someone else.
    #[error("refers to a record that does not exist: {0}")]
    MissingReference(String),
    /// The database is unreachable or busy right now.
    #[error("database unavailable: {reason} ({outcome})")]
    Unavailable {
        /// The driver's reason, without credentials.
        reason: String,
        /// Whether the write may have happened.
        outcome: WriteOutcome,
    },
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

/// What an [`StoreError::Unavailable`] write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The transaction was rolled back (or was a read): nothing was written.
    NotApplied,
    /// The connection failed while `COMMIT` was in flight: the write may or may not have
    /// landed. Retry with the same Idempotency-Key, or read the record back.
    Unknown,
}

impl std::fmt::Display for WriteOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotApplied => "nothing was written",
            Self::Unknown => "the commit may or may not have landed",
        })
    }
}

impl StoreError {
    /// True when the operation may succeed if retried as a whole.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The same error, for a failure while `COMMIT` was in flight: an unavailable database
    /// then leaves the outcome unknown.
    pub(crate) fn during_commit(self) -> Self {
        match self {
            Self::Unavailable { reason, .. } => Self::Unavailable {
                reason,
                outcome: WriteOutcome::Unknown,
            },
            other => other,
        }
    }

    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
            outcome: WriteOutcome::NotApplied,
        }
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
        E::Io(e) => StoreError::unavailable(format!("connection lost: {e}")),
        E::PoolTimedOut => StoreError::unavailable("no database connection free in time"),
        E::PoolClosed => StoreError::unavailable("the connection pool is closed"),
        E::WorkerCrashed => StoreError::unavailable("the database worker stopped"),
        E::Tls(e) => StoreError::unavailable(format!("TLS to the database failed: {e}")),
        E::Protocol(e) => StoreError::unavailable(format!("database protocol error: {e}")),
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if db.is_unique_violation() {
                StoreError::Conflict(format!("already exists: {}", db.message()))
            } else if db.is_foreign_key_violation() {
                StoreError::MissingReference(db.message().to_owned())
            } else if code == "57014" || code == "25P03" {
                StoreError::unavailable(format!(
                    "the database ended a statement or transaction that ran past its timeout: {}",
                    db.message()
                ))
            } else if retryable_code(&code) {
                StoreError::unavailable(db.message())
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
