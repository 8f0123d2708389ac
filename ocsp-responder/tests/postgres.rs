//! Two OCSP-only responders on one PostgreSQL database, each with its own connections, its own
//! LISTEN and only the responder passphrase (no CA key): a certificate issued by a third party
//! (a CA node's gateway, on its own store) reaches both caches before anyone asks, by the
//! NOTIFY sent after the commit; after its revocation returns, both answer "revoked". Runs
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
async fn issuance_and_revocation_reach_two_responders_on_one_postgres() {
    let Ok(admin) = std::env::var("TSCA_TEST_DATABASE_URL") else {
        eprintln!("skipped: TSCA_TEST_DATABASE_URL not set");
        return;
    };
    let db = TestDatabase::postgres(&admin).await;
    let url = db.url.clone();
    let pki = Pki::on(&url).await;
    let responder = pki.responder_cert().await;
    // Two OCSP-only responders, each on its own connections, reading the log only hourly:
    // what reaches them sooner came by NOTIFY.
    let validity = Duration::from_secs(24 * 3600);
    let config = OcspConfig {
        follow_interval: Duration::from_secs(3600),
        ..OcspConfig::default()
    };
    let one = start_with(ocsp_only_sources(&url, validity).await, config.clone()).await;
    let two = start_with(ocsp_only_sources(&url, validity).await, config).await;
    let cached_before = [one.service.cached(), two.service.cached()];
    let cert = pki.issue_operator("Twice Watched Telecom").await;
    let issued_at = Instant::now();
    let key = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    for (running, before) in [&one, &two].into_iter().zip(cached_before) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.service.cached() == before {
            assert!(
                Instant::now() < deadline,
                "{} did not receive the new certificate's response within 10 s",
                running.addr
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    eprintln!(
        "both responders held the new response {:?} after the issuance returned",
        issued_at.elapsed()
    );
    let (addr_one, addr_two) = (one.addr, two.addr);
    for running in [&one, &two] {
        let hits = running.service.metrics().cache_hits();
        let r = post_ocsp(running.addr, &request(&[key], None)).await;
        assert_eq!(
            r.verified(&responder).responses[0].status,
            CertStatusAnswer::Good
        );
        assert_eq!(
            running.service.metrics().cache_hits(),
            hits + 1,
            "the first query after the issuance is a hit"
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
