//! Recovery while running, on SQLite and PostgreSQL: reservations whose owner died (or
//! dropped them) are revoked, put on the CRL and their enrolments finished or failed, by any
//! instance, exactly once — time driven by the manual clock. The same with real processes
//! killed by SIGKILL is `tsca/tests/crash.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ca_core::csr::CheckedCsr;
use ca_core::ident::{KeyFingerprint, Serial};
use ca_core::numbering::{NumberingScope, ScopeConstraint};
use ca_core::ocsp::{parse_response, CertStatusAnswer, ParsedResponse};
use ca_core::profile::Profile;
use ca_core::revocation::RevocationReason;
use ca_store::{
    Actor, ApprovalPolicy, CertificateId, CertificateStatus, CertifiedSubject, EnrolmentDecision,
    EnrolmentId, EnrolmentStatus, InstanceId, NewEnrolment, OperatorId, Reservation,
};
use common::{csr, engine_on, on_every_backend, World, ROOT};

const PAST_THE_LEASE: Duration = Duration::from_secs(31);

/// What a process that died between commits (a) and (b) leaves: an approved enrolment and
/// its reservation, owned by `owner`, which heartbeated once.
async fn interrupted_enrolment(
    w: &World,
    operator: OperatorId,
    owner: &InstanceId,
) -> (EnrolmentId, CertificateId, Serial) {
    let (_, csr_pem) = csr();
    let csr = CheckedCsr::from_pem(csr_pem.as_bytes()).unwrap();
    let now = w.engine.now();
    w.store
        .heartbeat(owner, "a process that will die", now)
        .await
        .unwrap();
    let scope = NumberingScope::parse(["prefix:3391"]).unwrap();
    let mut random = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
    random[0] = 0x40;
    let serial = Serial::new(&random).unwrap();
    let actor = Actor::system();
    let mut tx = w.store.begin(now).await.unwrap();
    let enrolment = tx
        .insert_enrolment(
            &NewEnrolment {
                operator_id: operator,
                authority_id: w.national,
                csr_der: csr.der().to_vec(),
                requested_scope: scope.clone(),
                profile: Profile::Operator,
            },
            &actor,
        )
        .await
        .unwrap();
    tx.decide_enrolment(
        enrolment.id,
        &EnrolmentDecision::Approve { reason: None },
        &actor,
    )
    .await
    .unwrap();
    let id = tx
        .reserve_certificate(
            &Reservation {
                issuer_id: w.national,
                serial: serial.clone(),
                profile: Profile::Operator,
                subject: "Interrupted".into(),
                certified: CertifiedSubject::Operator(operator),
                enrolment_id: Some(enrolment.id),
                not_before: now,
                not_after: now.checked_add(Duration::from_secs(86_400)).unwrap(),
                scope: ScopeConstraint::Within(scope),
                tbs_der: vec![0x30, 0x00],
                public_key: KeyFingerprint::of_spki(csr.public_key()).unwrap(),
                reserved_by: owner.clone(),
            },
            &actor,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (enrolment.id, id, serial)
}

async fn stored_is_revoked(w: &World, id: CertificateId) -> bool {
    let stored = w
        .engine
        .reader()
        .ocsp_response(id)
        .await
        .unwrap()
        .expect("a stored response");
    let ParsedResponse::Successful(basic) = parse_response(&stored.der).unwrap() else {
        return false;
    };
    matches!(
        basic.responses[0].status,
        CertStatusAnswer::Revoked {
            reason: Some(RevocationReason::CessationOfOperation),
            ..
        }
    )
}

async fn on_crl(w: &World, serial: &Serial) -> bool {
    let crl = w
        .engine
        .reader()
        .latest_crl(w.national)
        .await
        .unwrap()
        .unwrap();
    ca_core::crl::parse_crl(&crl.der)
        .unwrap()
        .entries()
        .any(|e| e.unwrap().serial.as_bytes() == serial.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orphaned_reservation_is_revoked_and_its_enrolment_finished() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, _) = w.operator("Interrupted", "F1000").await;
        w.assign(op, "prefix:3391").await;
        let dead = InstanceId::new("dead-node");
        let (enrolment, reservation, serial) = interrupted_enrolment(&w, op, &dead).await;

        // Within the lease nothing happens.
        let report = w.engine.maintain().await;
        assert!(report.abandoned.is_empty(), "{report:?}");
        // Past it: revoked (cessationOfOperation), answered revoked, on the CRL at once.
        w.clock.advance(PAST_THE_LEASE);
        let report = w.engine.maintain().await;
        assert_eq!(report.abandoned, vec![reservation], "{report:?}");
        assert_eq!(report.enrolments_finished, 1, "{report:?}");
        let record = w.engine.reader().certificate(reservation).await.unwrap();
        assert_eq!(record.status, CertificateStatus::Abandoned);
        assert_eq!(
            record.revocation.unwrap().reason,
            Some(RevocationReason::CessationOfOperation)
        );
        assert!(stored_is_revoked(&w, reservation).await);
        assert!(on_crl(&w, &serial).await);
        // The enrolment got a certificate with a new serial.
        let finished = w.engine.reader().enrolment(enrolment).await.unwrap();
        assert_eq!(finished.status, EnrolmentStatus::Issued);
        let cert = w
            .engine
            .reader()
            .certificate(finished.certificate_id.unwrap())
            .await
            .unwrap();
        assert_eq!(cert.status, CertificateStatus::Valid);
        assert_ne!(cert.serial, serial);
        // A second pass changes nothing.
        assert_eq!(w.engine.maintain().await.abandoned, Vec::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_enrolment_that_cannot_be_finished_fails_with_the_reason() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, _) = w.operator("Withdrawn", "F1001").await;
        let assignment = w.assign(op, "prefix:3391").await;
        let (enrolment, _, _) = interrupted_enrolment(&w, op, &InstanceId::new("dead")).await;
        w.engine
            .withdraw_assignment(&ROOT, assignment.id, None)
            .await
            .unwrap();
        w.clock.advance(PAST_THE_LEASE);
        let report = w.engine.maintain().await;
        assert_eq!(report.enrolments_failed, 1, "{report:?}");
        let failed = w.engine.reader().enrolment(enrolment).await.unwrap();
        assert_eq!(failed.status, EnrolmentStatus::Failed);
        assert!(failed.decision_reason.unwrap().contains("prefix:3391"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_leases_are_respected_and_dropped_work_is_taken_back() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, _) = w.operator("Leases", "F1002").await;
        w.assign(op, "prefix:3391").await;
        let alive = InstanceId::new("alive-node");
        let (_, alive_reservation, _) = interrupted_enrolment(&w, op, &alive).await;
        // This engine's own reservation, not in flight (its task was dropped).
        let own = w.engine.instance().clone();
        let (_, own_reservation, _) = interrupted_enrolment(&w, op, &own).await;
        w.clock.advance(PAST_THE_LEASE);
        w.store
            .heartbeat(&alive, "still here", w.engine.now())
            .await
            .unwrap();
        w.engine.heartbeat().await.unwrap();
        let report = w.engine.maintain().await;
        assert_eq!(report.abandoned, vec![own_reservation], "{report:?}");
        let kept = w
            .engine
            .reader()
            .certificate(alive_reservation)
            .await
            .unwrap();
        assert_eq!(kept.status, CertificateStatus::Reserved);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn instances_reconciling_side_by_side_do_everything_once() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, _) = w.operator("Crowd", "F1003").await;
        w.assign(op, "prefix:3391").await;
        let dead = InstanceId::new("dead-node");
        let mut orphans = Vec::new();
        for _ in 0..5 {
            orphans.push(interrupted_enrolment(&w, op, &dead).await.1);
        }
        w.clock.advance(PAST_THE_LEASE);
        let others: Vec<_> = (0..3)
            .map(|_| engine_on(w.store.clone(), &w.clock))
            .collect();
        let mut tasks = vec![tokio::spawn({
            let engine = w.engine.clone();
            async move { engine.maintain().await }
        })];
        for engine in others {
            tasks.push(tokio::spawn(async move { engine.maintain().await }));
        }
        let mut abandoned = 0;
        let mut finished = 0;
        for task in tasks {
            let report = task.await.unwrap();
            abandoned += report.abandoned.len();
            finished += report.enrolments_finished;
        }
        assert_eq!(abandoned, orphans.len());
        assert_eq!(finished, orphans.len());
        let entries = w.engine.reader().audit_entries(0, 100_000).await.unwrap();
        for id in &orphans {
            let subject = format!("certificate:{id}");
            let count = entries
                .iter()
                .filter(|e| e.action == "certificate.abandoned" && e.subject == subject)
                .count();
            assert_eq!(count, 1, "{subject}");
        }
        let issued = entries
            .iter()
            .filter(|e| e.action == "certificate.issued")
            .count();
        let certificates = w
            .engine
            .reader()
            .certificates(&ca_store::CertificateFilter {
                operator_id: Some(op),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            certificates.len(),
            orphans.len() * 2,
            "each orphan and one new certificate"
        );
        assert!(issued >= orphans.len());
        assert!(matches!(
            w.engine.reader().verify_audit_chain().await.unwrap(),
            ca_store::ChainVerdict::Intact { .. }
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_waits_for_a_request_still_running_then_says_retry() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Waiting", "F1004").await;
        w.assign(op, "prefix:3391").await;
        // An earlier request with this key got as far as commit (a) on another instance,
        // which is still alive and signing.
        let alive = InstanceId::new("busy-node");
        let (enrolment, _, _) = interrupted_enrolment(&w, op, &alive).await;
        let key: ca_service::IdempotencyKey = "slow-one".parse().unwrap();
        let (_, csr_pem) = csr();
        let request = World::request(&csr_pem, &["prefix:3391"]);
        // Record the key against that enrolment, as the first request's transaction did.
        let canonical_hash = {
            // The retry must be the same request: the test makes it so by recording the hash
            // the gateway computes for it (what a first request would have written).
            let csr = CheckedCsr::from_pem(csr_pem.as_bytes()).unwrap();
            let canonical = serde_json::json!({"csr": hex::encode(csr.der()),
                "scope": NumberingScope::parse(["prefix:3391"]).unwrap().to_string(), "profile": "operator"});
            let digest = ring::digest::digest(&ring::digest::SHA256, canonical.to_string().as_bytes());
            let mut out = [0u8; 32];
            out.copy_from_slice(digest.as_ref());
            out
        };
        let mut tx = w.store.begin(w.engine.now()).await.unwrap();
        tx.record_idempotency(&ca_store::IdempotencyRecord {
            principal: format!("operator:{op}"),
            key: "slow-one".into(),
            operation: "enrolment.create".into(),
            request_hash: canonical_hash,
            result: format!("enrolment:{enrolment}"),
            created_at: w.engine.now(),
        })
        .await
        .unwrap();
        tx.audit(&Actor::system(), "test.recorded", "test", serde_json::json!({})).await.unwrap();
        tx.commit().await.unwrap();

        // The retry waits (in_progress_wait), then answers "still running, retry".
        let started = std::time::Instant::now();
        let err = w.engine.enrol(&who, request.clone(), Some(&key)).await.unwrap_err();
        assert!(matches!(err, ca_service::ServiceError::InProgress { .. }), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(2_900), "it waited for the first request");
        // Once the reconciler has finished it (the owner died after all), the retry gets
        // the certificate, and no second enrolment was made.
        w.clock.advance(PAST_THE_LEASE);
        w.engine.maintain().await;
        let answer = w.engine.enrol(&who, request, Some(&key)).await.unwrap();
        assert!(answer.replayed);
        assert_eq!(answer.value.enrolment.id, enrolment);
        assert!(answer.value.certificate.is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_no_record_points_to_are_destroyed() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        // A key left by an earlier version, which stored keys before their records.
        let mut tx = w.store.begin(w.engine.now()).await.unwrap();
        let orphan = tx
            .insert_key(
                &ca_store::NewKey {
                    algorithm: ca_core::keys::KeyAlgorithm::EcdsaP256,
                    purpose: ca_store::KeyPurpose::Ca,
                    storage: ca_store::KeyStorage::Pkcs8Encrypted(
                        "-----BEGIN ENCRYPTED PRIVATE KEY-----".into(),
                    ),
                },
                &Actor::system(),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            w.engine.maintain().await.keys_destroyed.is_empty(),
            "not before it is an hour old"
        );
        w.clock.advance(Duration::from_secs(2 * 3600));
        let report = w.engine.maintain().await;
        assert_eq!(report.keys_destroyed, vec![orphan], "{report:?}");
        assert!(w.engine.reader().key(orphan).await.is_err());
        // Keys that records point to stay.
        let national = w.engine.reader().authority(w.national).await.unwrap();
        assert!(w
            .engine
            .reader()
            .key(national.key_id.unwrap())
            .await
            .is_ok());
        let entries = w.engine.reader().audit_entries(0, 100_000).await.unwrap();
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.action == "key.destroyed")
                .count(),
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn nodes_rotating_one_responder_at_once_issue_one_certificate() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let national = w.national;
        w.engine.ensure_responder(national).await.unwrap();
        let count = || async {
            w.engine
                .reader()
                .responder_certificates(national)
                .await
                .unwrap()
                .len()
        };
        let before = count().await;
        // Past half of the current responder's 7 days: every node wants a new one at once.
        w.clock.advance(Duration::from_secs(4 * 86_400));
        let nodes: Vec<_> = (0..4)
            .map(|_| engine_on(w.store.clone(), &w.clock))
            .collect();
        let tasks: Vec<_> = nodes
            .iter()
            .cloned()
            .map(|node| tokio::spawn(async move { node.ensure_responder(national).await }))
            .collect();
        for task in tasks {
            let responder = task.await.unwrap().unwrap();
            assert!(
                responder.not_after > w.engine.now(),
                "a valid responder serves"
            );
        }
        assert_eq!(count().await, before + 1, "one new responder certificate");
        // The next pass of every node serves the new one.
        let newest = w
            .engine
            .reader()
            .responder_certificates(national)
            .await
            .unwrap()[0]
            .id;
        for node in &nodes {
            node.maintain().await;
            assert_eq!(
                node.ensure_responder(national)
                    .await
                    .unwrap()
                    .certificate_id,
                newest
            );
        }
    })
    .await;
}
