//! Two responders on one PostgreSQL database, each with its own connections and its own
//! LISTEN: after a revocation committed by a third party (the registry's engine, on its own
//! store) returns, both answer "revoked". Runs when TSCA_TEST_DATABASE_URL is set (CI sets it);
//! the test creates its own database and drops it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use ca_core::ocsp::{CertIdHash, CertStatusAnswer};
use ca_core::revocation::RevocationReason;
use ca_service::{Engine, EngineConfig};
use ca_store::testing::TestDatabase;
use ca_store::{Actor, Store};
use common::*;
use ocsp_responder::{OcspConfig, OcspService};

async fn serve_engine(
    engine: Engine,
) -> (
    OcspService,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
) {
    let service = OcspService::start(engine, OcspConfig::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ocsp_responder::serve(
        listener,
        service.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    (service, addr, stop)
}

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
    // Two responders, each on its own store (its own pool and LISTEN connection).
    let engine = |store| {
        Engine::new(
            store,
            b"test passphrase",
            EngineConfig {
                kdf_iterations: 1_000,
                ..EngineConfig::new("http://127.0.0.1:8080")
            },
        )
    };
    let (_one, addr_one, _stop_one) = serve_engine(engine(Store::open(&url).await.unwrap())).await;
    let (_two, addr_two, _stop_two) = serve_engine(engine(Store::open(&url).await.unwrap())).await;
    for addr in [addr_one, addr_two] {
        let r = post_ocsp(addr, &request(&[key], None)).await;
        assert_eq!(
            r.verified(&responder).responses[0].status,
            CertStatusAnswer::Good
        );
    }

    // The registry's engine, on a third store, revokes.
    let registry = engine(Store::open(&url).await.unwrap());
    registry
        .revoke(
            cert.id,
            RevocationReason::KeyCompromise,
            &Actor::cli("registry"),
        )
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
