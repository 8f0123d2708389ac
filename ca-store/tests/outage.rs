//! The database's timeouts on PostgreSQL (docs/operations.md, "When the database is gone"):
//! a writer that stops talking mid-transaction (a frozen link) loses its transaction after
//! the idle-in-transaction timeout, so the writers queued behind the audit head go on; and a
//! statement waiting past the statement timeout ends as "unavailable", which the registry
//! answers 503 and the responder tryLater. Skipped without TSCA_TEST_DATABASE_URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ca_core::keys::KeyAlgorithm;
use ca_store::testing::{TestDatabase, PG_ENV};
use ca_store::{Actor, DatabaseLimits, KeyPurpose, KeyStorage, NewKey, Store, StoreError, WriteTx};
use jiff::Timestamp;

async fn postgres(limits: DatabaseLimits) -> Option<(TestDatabase, Store)> {
    let Ok(admin) = std::env::var(PG_ENV) else {
        eprintln!("skipped: {PG_ENV} is not set");
        return None;
    };
    let db = TestDatabase::postgres(&admin).await;
    let store = Store::open_with(&db.url, limits).await.unwrap();
    Some((db, store))
}

async fn write_something(tx: &mut WriteTx) {
    tx.insert_key(
        &NewKey {
            algorithm: KeyAlgorithm::EcdsaP256,
            purpose: KeyPurpose::Ca,
            storage: KeyStorage::Pkcs8Encrypted("not a key".into()),
        },
        &Actor::system(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_writer_gone_quiet_does_not_hold_the_others() {
    let limits = DatabaseLimits {
        idle_transaction_timeout: Duration::from_millis(300),
        ..DatabaseLimits::default()
    };
    let Some((_db, store)) = postgres(limits).await else {
        return;
    };
    let mut frozen = store.begin(Timestamp::now()).await.unwrap();
    write_something(&mut frozen).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The server ended the idle transaction and freed the audit head.
    let mut next = store.begin(Timestamp::now()).await.unwrap();
    write_something(&mut next).await;
    next.commit().await.unwrap();
    let err = frozen.commit().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn a_statement_past_its_timeout_is_unavailable() {
    let limits = DatabaseLimits {
        statement_timeout: Duration::from_millis(300),
        ..DatabaseLimits::default()
    };
    let Some((_db, store)) = postgres(limits).await else {
        return;
    };
    let mut holder = store.begin(Timestamp::now()).await.unwrap();
    write_something(&mut holder).await;
    // Waiting for the audit head behind `holder` is one statement: it ends at the timeout.
    let err = store.begin(Timestamp::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("timeout"), "{err}");
    holder.commit().await.unwrap();
}
