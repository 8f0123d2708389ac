//! Many parallel identical requests, on SQLite and PostgreSQL: one effect each time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use ca_service::{AssignRequest, IdempotencyKey, ServiceError};
use ca_store::{ApprovalPolicy, CertificateFilter, EnrolmentStatus};
use common::{csr, on_every_backend, World, ROOT};

const PARALLEL: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_enrolments_with_one_key_make_one_certificate() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Eager", "F0800").await;
        w.assign(op, "prefix:3381").await;
        let (_, csr_pem) = csr();
        let key: IdempotencyKey = "enrol-once".parse().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..PARALLEL {
            let engine = w.engine.clone();
            let (who, key, request) = (
                who.clone(),
                key.clone(),
                World::request(&csr_pem, &["prefix:3381"]),
            );
            tasks.push(tokio::spawn(async move {
                engine.enrol(&who, request, Some(&key)).await
            }));
        }
        let mut fingerprints = BTreeSet::new();
        let mut fresh = 0;
        for task in tasks {
            let answer = task
                .await
                .unwrap()
                .expect("every request gets the one certificate");
            fresh += usize::from(!answer.replayed);
            assert_eq!(answer.value.enrolment.status, EnrolmentStatus::Issued);
            fingerprints.insert(answer.value.certificate.unwrap().fingerprint().unwrap());
        }
        assert_eq!(fresh, 1, "one request did the work, the others replayed it");
        assert_eq!(fingerprints.len(), 1);
        let all = w
            .engine
            .reader()
            .certificates(&CertificateFilter {
                operator_id: Some(op),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.len(),
            1,
            "one certificate (and one reservation) in the database"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_assignments_of_one_range_make_one() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let mut operators = Vec::new();
        for i in 0..PARALLEL {
            operators.push(
                w.operator(&format!("Rival {i}"), &format!("F09{i:02}"))
                    .await
                    .0,
            );
        }
        // Fifty operators race for one range: one wins, the others get 409 naming it.
        let mut tasks = Vec::new();
        for op in &operators {
            let engine = w.engine.clone();
            let op = *op;
            tasks.push(tokio::spawn(async move {
                engine
                    .assign(
                        &ROOT,
                        AssignRequest {
                            operator_id: op,
                            resource: "range:33812340000+10000".into(),
                            valid_from: None,
                            valid_to: None,
                            ported_from: None,
                        },
                        None,
                    )
                    .await
            }));
        }
        let (mut won, mut existing) = (Vec::new(), BTreeSet::new());
        for task in tasks {
            match task.await.unwrap() {
                Ok(answer) => won.push(answer.value.assignment.id),
                Err(ServiceError::Conflict {
                    existing: Some(e), ..
                }) => {
                    existing.insert(e.id);
                }
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(won.len(), 1);
        assert_eq!(
            existing.into_iter().collect::<Vec<_>>(),
            vec![won[0].to_string()]
        );

        // One operator sends the same assignment fifty times with one key: one assignment,
        // fifty answers naming it.
        let key: IdempotencyKey = "assign-once".parse().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..PARALLEL {
            let (engine, key, op) = (w.engine.clone(), key.clone(), operators[0]);
            tasks.push(tokio::spawn(async move {
                engine
                    .assign(
                        &ROOT,
                        AssignRequest {
                            operator_id: op,
                            resource: "prefix:3382".into(),
                            valid_from: None,
                            valid_to: None,
                            ported_from: None,
                        },
                        Some(&key),
                    )
                    .await
            }));
        }
        let mut ids = BTreeSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap().unwrap().value.assignment.id);
        }
        assert_eq!(ids.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_revocations_of_one_certificate_revoke_it_once() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Revoker", "F0950").await;
        w.assign(op, "prefix:3383").await;
        let cert = w
            .engine
            .enrol(&who, World::request(&csr().1, &["prefix:3383"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        let fingerprint = cert.fingerprint().unwrap();
        let key: IdempotencyKey = "revoke-once".parse().unwrap();
        let mut tasks = Vec::new();
        for i in 0..PARALLEL {
            let (engine, who, key) = (w.engine.clone(), who.clone(), key.clone());
            // Half with the key (all answered), half without (one revokes, the rest conflict).
            let with_key = i % 2 == 0;
            tasks.push(tokio::spawn(async move {
                engine
                    .revoke(&who, &fingerprint, "superseded", with_key.then_some(&key))
                    .await
            }));
        }
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(answer) => assert!(answer.value.revocation.is_some()),
                Err(ServiceError::Conflict { .. }) => conflicts += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(conflicts >= PARALLEL / 2 - 1, "{conflicts}");
        let entries = w.engine.reader().audit_entries(0, 100_000).await.unwrap();
        let revocations = entries
            .iter()
            .filter(|e| {
                e.action == "certificate.revoked" && e.subject == format!("certificate:{}", cert.id)
            })
            .count();
        assert_eq!(revocations, 1);
    })
    .await;
}
