//! Two OCSP-only responders on one PostgreSQL database, each with its own connections, its own
//! LISTEN and only the responder passphrase (no CA key): after a revocation committed by a
//! third party (a CA node's gateway, on its own store) returns, both answer "revoked". Runs
//! when TSCA_TEST_DATABASE_URL is set (CI sets it); the test creates its own database and
//! drops it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use ca_core::ocsp::{CertIdHash, CertStatusAnswer};
use ca_store::testing::TestDatabase;
use ca_store::Store;
use common::*;
use ocsp_responder::OcspConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_two_responders_on_one_postgres() {
    let Ok(admin) = std::env::var("TSCA_TEST_DATABASE_URL") else {
        eprintln!("skipped: TSCA_TEST_DATABASE_URL not set");
        return;
    };
    let db = TestDatabase::postgres(&admin).await;
    let url = db.url.clone();
    let pki = Pki::on(&url).await;
    let cert = pki.issue_operator("Twice Watched Telecom").await;
    let key = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    let responder = pki.responder_cert().await;
    // Two OCSP-only responders, each on its own connections.
    let validity = Duration::from_secs(24 * 3600);
    let one = start_with(
        ocsp_only_sources(&url, validity).await,
        OcspConfig::default(),
    )
    .await;
    let two = start_with(
        ocsp_only_sources(&url, validity).await,
        OcspConfig::default(),
    )
    .await;
    let (addr_one, addr_two) = (one.addr, two.addr);
    for addr in [addr_one, addr_two] {
        let r = post_ocsp(addr, &request(&[key], None)).await;
        assert_eq!(
            r.verified(&responder).responses[0].status,
            CertStatusAnswer::Good
        );
    }

    // A CA node's gateway, on a third store, revokes.
    let registry = engine_on(Store::open(&url).await.unwrap(), validity);
    registry
        .revoke(&ADMIN, &cert.fingerprint().unwrap(), "keyCompromise", None)
        .await
        .unwrap();
    let revoked_at = Instant::now();
    for addr in [addr_one, addr_two] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = post_ocsp(addr, &request(&[key], None)).await;
            if matches!(
                r.verified(&responder).responses[0].status,
                CertStatusAnswer::Revoked { .. }
            ) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{addr} still answers good 10 s after the revocation"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!(
        "both responders answered revoked {:?} after the revoke call returned",
        revoked_at.elapsed()
    );
}
