//! Fresh databases for tests (feature `test-support`, for this workspace's test suites): a
//! SQLite file in a temporary folder always, and a new PostgreSQL database on the server named
//! by `TSCA_TEST_DATABASE_URL` when it is set. A PostgreSQL database is dropped when its
//! [`TestDatabase`] is, also when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// The environment variable naming a PostgreSQL database the tests may use to create
/// (and drop) their own databases. `.ci/run` sets it.
pub const PG_ENV: &str = "TSCA_TEST_DATABASE_URL";

pub enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// One fresh database.
pub struct TestDatabase {
    pub url: String,
    pub kind: Kind,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/tsca.db", dir.path().display());
        TestDatabase {
            url,
            kind: Kind::Sqlite(dir),
        }
    }

    pub async fn postgres(admin_url: &str) -> TestDatabase {
        let name = format!(
            "tsca_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("TSCA_TEST_DATABASE_URL must name a reachable PostgreSQL database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&name);
        TestDatabase {
            url: url.to_string(),
            kind: Kind::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        }
    }

    /// Every backend to run a story on: SQLite, plus PostgreSQL when configured.
    pub async fn all() -> Vec<TestDatabase> {
        let mut dbs = vec![TestDatabase::sqlite()];
        if let Ok(admin) = std::env::var(PG_ENV) {
            if !admin.is_empty() {
                dbs.push(TestDatabase::postgres(&admin).await);
            }
        }
        dbs
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    pub fn label(&self) -> &'static str {
        if self.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Runs SQL outside tsca, as an attacker or a crash would.
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.kind {
            Kind::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
            }
            Kind::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Kind::Postgres { admin_url, name } = &self.kind {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs inside the test's runtime: do the async work on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}
