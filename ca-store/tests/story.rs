//! The storage story, written once against `Store` and run on SQLite always and on
//! PostgreSQL when TSCA_TEST_DATABASE_URL is set (see tests/common).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use ca_core::numbering::{E164Number, NumberingScope, ScopeConstraint};
use ca_core::revocation::RevocationReason;
use ca_store::*;
use common::TestDb;

fn scope(entries: &[&str]) -> ScopeConstraint {
    ScopeConstraint::Within(NumberingScope::parse(entries.iter().copied()).unwrap())
}

fn admin() -> Actor {
    Actor::cli("test-admin")
}

/// A root, a national CA under it, and one operator.
struct World {
    root: Authority,
    national: Authority,
    operator: Operator,
}

async fn world(store: &Store) -> World {
    let root = store
        .create_authority(
            &NewAuthority {
                name: "root".into(),
                tier: Tier::Root,
                parent_id: None,
                scope: ScopeConstraint::Unconstrained,
                status: AuthorityStatus::Active,
                auto_approve: false,
                key_id: None,
                csr_der: None,
                certificate_der: Some(b"root-cert".to_vec()),
            },
            &admin(),
        )
        .await
        .unwrap();
    let key_id = store
        .store_key(
            "P-256",
            &KeyStorage::Pkcs8Encrypted("-----BEGIN ENCRYPTED PRIVATE KEY-----".into()),
            &admin(),
        )
        .await
        .unwrap();
    let national = store
        .create_authority(
            &NewAuthority {
                name: "fr-arcep".into(),
                tier: Tier::National,
                parent_id: Some(root.id),
                scope: scope(&["prefix:33", "plmn:208-01"]),
                status: AuthorityStatus::Active,
                auto_approve: true,
                key_id: Some(key_id),
                csr_der: None,
                certificate_der: Some(b"national-cert".to_vec()),
            },
            &admin(),
        )
        .await
        .unwrap();
    let operator = store
        .create_operator(
            &NewOperator {
                authority_id: national.id,
                name: "Orange".into(),
                spc: Some("F0042".into()),
                country: "FR".into(),
            },
            &admin(),
        )
        .await
        .unwrap();
    World {
        root,
        national,
        operator,
    }
}

fn reservation(issuer_id: i64, operator_id: i64, serial: &[u8]) -> Reservation {
    Reservation {
        issuer_id,
        serial: serial.to_vec(),
        profile: "operator".into(),
        subject: "CN=Orange SIP signing".into(),
        operator_id: Some(operator_id),
        subject_authority_id: None,
        enrolment_id: None,
        key_id: None,
        not_before: 1_000,
        not_after: 4_000_000_000,
        scope: scope(&["prefix:3361"]),
        tbs_der: tbs(serial),
    }
}

/// Stand-ins for DER: the store treats them as opaque, except that a certificate must carry
/// its reserved to-be-signed bytes.
fn tbs(serial: &[u8]) -> Vec<u8> {
    [b"TBS:".as_slice(), serial].concat()
}
fn signed(serial: &[u8]) -> Vec<u8> {
    [b"CERT[".as_slice(), &tbs(serial), b"]SIG"].concat()
}

fn ocsp(serial: &[u8], status: &str) -> NewOcspResponse {
    NewOcspResponse {
        sha1_key: [b"sha1:".as_slice(), serial].concat(),
        sha256_key: [b"sha256:".as_slice(), serial].concat(),
        der: format!("OCSP {status}").into_bytes(),
        this_update: 100,
        next_update: 200,
    }
}

async fn issue(store: &Store, w: &World, serial: &[u8]) -> CertificateRecord {
    let id = store
        .reserve_certificate(&reservation(w.national.id, w.operator.id, serial), &admin())
        .await
        .unwrap();
    store
        .complete_certificate(id, &signed(serial), Some(&ocsp(serial, "good")), &admin())
        .await
        .unwrap()
}

#[tokio::test]
async fn hierarchy_operators_tokens_and_assignments() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let w = world(&store).await;
        assert_eq!(
            store.authority_by_name("fr-arcep").await.unwrap().parent_id,
            Some(w.root.id)
        );
        assert_eq!(store.authorities().await.unwrap().len(), 2);
        assert_eq!(
            store.authority(w.national.id).await.unwrap().scope,
            scope(&["prefix:33", "plmn:208-01"])
        );

        // Names are unique, and the error says which.
        let again = store
            .create_operator(
                &NewOperator {
                    authority_id: w.national.id,
                    name: "Orange".into(),
                    spc: None,
                    country: "FR".into(),
                },
                &admin(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&again, StoreError::Conflict(m) if m.contains("Orange")),
            "{}: {again}",
            db.label()
        );
        assert!(matches!(
            store.operator(999).await,
            Err(StoreError::NotFound {
                what: "operator",
                ..
            })
        ));

        // Tokens are found by hash only while live.
        let token = store
            .create_token(
                &NewApiToken {
                    token_hash: "ab".repeat(32),
                    role: Role::Operator,
                    authority_id: None,
                    operator_id: Some(w.operator.id),
                    label: "ci".into(),
                },
                &admin(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .token_by_hash(&"ab".repeat(32))
                .await
                .unwrap()
                .unwrap()
                .id,
            token.id
        );
        store.revoke_token(token.id, &admin()).await.unwrap();
        assert!(store
            .token_by_hash(&"ab".repeat(32))
            .await
            .unwrap()
            .is_none());

        // Assignments: overlap with another operator is a conflict unless it is a port.
        let sfr = store
            .create_operator(
                &NewOperator {
                    authority_id: w.national.id,
                    name: "SFR".into(),
                    spc: Some("F0043".into()),
                    country: "FR".into(),
                },
                &admin(),
            )
            .await
            .unwrap();
        let assign = |operator_id, resource: &str, ported_from| NewAssignment {
            authority_id: w.national.id,
            operator_id,
            resource: resource.parse().unwrap(),
            valid_from: 0,
            valid_to: None,
            ported_from,
        };
        let orange_block = store
            .create_assignment(&assign(w.operator.id, "prefix:3361", None), &admin())
            .await
            .unwrap();
        let clash = store
            .create_assignment(&assign(sfr.id, "range:33612340000+10000", None), &admin())
            .await
            .unwrap_err();
        assert!(
            matches!(&clash, StoreError::Conflict(m) if m.contains("range:33612340000+10000") && m.contains("prefix:3361")),
            "{clash}"
        );
        let port = store
            .create_assignment(
                &assign(sfr.id, "range:33612340000+10000", Some(w.operator.id)),
                &admin(),
            )
            .await
            .unwrap();
        assert_eq!(port.ported_from, Some(w.operator.id));
        let bogus_port = store
            .create_assignment(&assign(sfr.id, "prefix:339", Some(w.operator.id)), &admin())
            .await
            .unwrap_err();
        assert!(matches!(bogus_port, StoreError::Invalid(_)));

        // The lookup follows the port.
        let index = store.load_lookup_index(now()).await.unwrap();
        let who = |n: &str| -> Vec<i64> {
            index
                .lookup_e164(&E164Number::parse(n).unwrap(), now())
                .iter()
                .map(|m| m.operator_id)
                .collect()
        };
        assert_eq!(who("33612345678"), vec![sfr.id]);
        assert_eq!(who("33619999999"), vec![w.operator.id]);

        // Withdrawal keeps the row, and twice is a conflict.
        let withdrawn = store
            .withdraw_assignment(orange_block.id, &admin())
            .await
            .unwrap();
        assert!(withdrawn.withdrawn_at.is_some());
        assert!(matches!(
            store.withdraw_assignment(orange_block.id, &admin()).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.active_assignments(now()).await.unwrap().len(), 1);

        let verdict = store.verify_audit_chain().await.unwrap();
        assert!(
            matches!(verdict, ChainVerdict::Intact { entries, .. } if entries >= 10),
            "{verdict:?}"
        );
        let actions: Vec<String> = store
            .audit_entries(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(actions.contains(&"assignment.withdrawn".to_owned()));
        assert!(actions.contains(&"token.revoked".to_owned()));
        // A failed write leaves no audit entry: the clash above is not in the log.
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "assignment.created")
                .count(),
            2
        );
        store.close().await;
    }
}

/// The shared lookup index follows every change from the audit log, including those
/// another instance (another `Store` on the same database) commits, without a rebuild.
#[tokio::test]
async fn the_lookup_index_catches_up_with_another_instances_changes() {
    for db in TestDb::all().await {
        let reader = Store::open(&db.url).await.unwrap();
        let writer = Store::open(&db.url).await.unwrap();
        let w = world(&writer).await;
        let lookup = SharedLookup::load(&reader, now()).await.unwrap();
        let who = |lookup: &SharedLookup| -> Vec<(i64, usize)> {
            lookup
                .read()
                .lookup_e164(&E164Number::parse("33612345678").unwrap(), now())
                .iter()
                .map(|m| (m.operator_id, m.certificates.len()))
                .collect()
        };
        assert!(who(&lookup).is_empty());

        let assignment = writer
            .create_assignment(
                &NewAssignment {
                    authority_id: w.national.id,
                    operator_id: w.operator.id,
                    resource: "prefix:3361".parse().unwrap(),
                    valid_from: 0,
                    valid_to: None,
                    ported_from: None,
                },
                &admin(),
            )
            .await
            .unwrap();
        assert!(who(&lookup).is_empty(), "nothing changes before a catch-up");
        assert_eq!(lookup.catch_up(&reader).await.unwrap().objects, 1);
        assert_eq!(who(&lookup), vec![(w.operator.id, 0)]);

        // An issued certificate appears; a second catch-up with nothing new reads nothing.
        let cert = issue(&writer, &w, &[0x51]).await;
        let caught = lookup.catch_up(&reader).await.unwrap();
        assert_eq!(caught.certificate_ids, vec![cert.id]);
        assert_eq!(who(&lookup), vec![(w.operator.id, 1)]);
        assert_eq!(lookup.catch_up(&reader).await.unwrap().objects, 0);
        let head = reader.audit_head_seq().await.unwrap();
        assert_eq!(lookup.read().audit_seq(), head);

        // A revoked certificate and a withdrawn assignment disappear.
        writer
            .revoke_certificate(
                cert.id,
                RevocationReason::PrivilegeWithdrawn,
                150,
                &ocsp(&[0x51], "revoked"),
                &admin(),
            )
            .await
            .unwrap();
        lookup.catch_up(&reader).await.unwrap();
        assert_eq!(who(&lookup), vec![(w.operator.id, 0)]);
        assert_eq!(lookup.read().certificates(), 0);
        writer
            .withdraw_assignment(assignment.id, &admin())
            .await
            .unwrap();
        lookup.catch_up(&reader).await.unwrap();
        assert!(who(&lookup).is_empty());
        assert!(lookup.read().is_empty());

        // A fresh build agrees with the caught-up index.
        let rebuilt = reader.load_lookup_index(now()).await.unwrap();
        assert!(rebuilt.is_empty() && rebuilt.certificates() == 0);
        assert_eq!(rebuilt.audit_seq(), lookup.read().audit_seq());
    }
}

#[tokio::test]
async fn record_before_sign_and_idempotent_enrolment() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let w = world(&store).await;

        let outcome = store
            .create_enrolment(
                &NewEnrolment {
                    operator_id: w.operator.id,
                    authority_id: w.national.id,
                    csr_der: b"CSR".to_vec(),
                    requested_scope: NumberingScope::parse(["prefix:3361"]).unwrap(),
                    profile: "operator".into(),
                    idempotency_key: Some("key-1".into()),
                },
                &admin(),
            )
            .await
            .unwrap();
        assert!(outcome.created);
        let mut r = reservation(w.national.id, w.operator.id, &[0x01, 0x02]);
        r.enrolment_id = Some(outcome.enrolment.id);

        // Step 1: the reservation exists before any signature.
        let id = store.reserve_certificate(&r, &admin()).await.unwrap();
        let reserved = store.certificate(id).await.unwrap();
        assert_eq!(reserved.status, CertificateStatus::Reserved);
        assert_eq!(reserved.tbs_der, tbs(&[0x01, 0x02]));
        assert!(reserved.der.is_none());

        // The same serial for the same issuer is refused.
        let dup = store.reserve_certificate(&r, &admin()).await.unwrap_err();
        assert!(
            matches!(&dup, StoreError::Conflict(m) if m.contains("0102")),
            "{dup}"
        );

        // A certificate that does not carry the reserved TBS is refused.
        let wrong = store
            .complete_certificate(id, b"CERT[other]SIG", None, &admin())
            .await
            .unwrap_err();
        assert!(matches!(wrong, StoreError::Invalid(_)));

        // Step 3: stored, with its first OCSP response and the enrolment marked issued.
        let cert = store
            .complete_certificate(
                id,
                &signed(&[0x01, 0x02]),
                Some(&ocsp(&[1, 2], "good")),
                &admin(),
            )
            .await
            .unwrap();
        assert_eq!(cert.status, CertificateStatus::Valid);
        let fp = cert.fingerprint.clone().unwrap();
        assert_eq!(fp.len(), 64);
        assert_eq!(
            store
                .certificate_by_fingerprint(&fp.to_uppercase())
                .await
                .unwrap()
                .id,
            id
        );
        assert_eq!(
            store.ocsp_response(id).await.unwrap().unwrap().der,
            b"OCSP good"
        );
        let enrolment = store.enrolment(outcome.enrolment.id).await.unwrap();
        assert_eq!(enrolment.status, EnrolmentStatus::Issued);
        assert_eq!(enrolment.certificate_id, Some(id));
        assert!(matches!(
            store
                .complete_certificate(id, &signed(&[1, 2]), None, &admin())
                .await,
            Err(StoreError::Conflict(_))
        ));

        // A retry with the same Idempotency-Key finds the same enrolment (and so the same
        // certificate); a different request under that key is refused.
        let retry = store
            .create_enrolment(
                &NewEnrolment {
                    operator_id: w.operator.id,
                    authority_id: w.national.id,
                    csr_der: b"CSR".to_vec(),
                    requested_scope: NumberingScope::parse(["prefix:3361"]).unwrap(),
                    profile: "operator".into(),
                    idempotency_key: Some("key-1".into()),
                },
                &admin(),
            )
            .await
            .unwrap();
        assert!(!retry.created);
        assert_eq!(retry.enrolment.certificate_id, Some(id));
        let misuse = store
            .create_enrolment(
                &NewEnrolment {
                    operator_id: w.operator.id,
                    authority_id: w.national.id,
                    csr_der: b"OTHER CSR".to_vec(),
                    requested_scope: NumberingScope::parse(["prefix:3361"]).unwrap(),
                    profile: "operator".into(),
                    idempotency_key: Some("key-1".into()),
                },
                &admin(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&misuse, StoreError::Conflict(m) if m.contains("key-1")),
            "{misuse}"
        );

        let listed = store
            .certificates(&CertificateFilter {
                operator_id: Some(w.operator.id),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        store.close().await;
    }
}

#[tokio::test]
async fn crash_between_reserve_and_store_is_reconciled_at_start() {
    for db in TestDb::all().await {
        let (national, serial) = {
            let store = Store::open(&db.url).await.unwrap();
            let w = world(&store).await;
            // The process dies after step 1: the reservation is all that exists.
            store
                .reserve_certificate(
                    &reservation(w.national.id, w.operator.id, &[0x7f]),
                    &admin(),
                )
                .await
                .unwrap();
            store.close().await;
            (w.national.id, vec![0x7f])
        };
        // "Start-up" of a new process on the same database.
        let store = Store::open(&db.url).await.unwrap();
        let reconciled = store.reconcile_reservations(now() + 1).await.unwrap();
        assert_eq!(reconciled.len(), 1, "{}", db.label());
        let record = store
            .certificate_by_serial(national, &serial)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, CertificateStatus::Abandoned);
        // Treated as revoked: it is on the CRL.
        let revoked = store.revoked_serials(national).await.unwrap();
        assert_eq!(
            revoked.iter().map(|r| r.serial.clone()).collect::<Vec<_>>(),
            vec![serial]
        );
        // Nothing left to reconcile; the log says what happened.
        assert!(store
            .reconcile_reservations(now() + 1)
            .await
            .unwrap()
            .is_empty());
        let last = store.audit_entries(0, 1000).await.unwrap().pop().unwrap();
        assert_eq!(last.action, "certificate.abandoned");
        assert!(matches!(
            store.verify_audit_chain().await.unwrap(),
            ChainVerdict::Intact { .. }
        ));
        store.close().await;
    }
}

#[tokio::test]
async fn revocation_commits_status_and_ocsp_together_then_notifies() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let w = world(&store).await;
        let cert = issue(&store, &w, &[0x0a]).await;
        let mut events = store.subscribe().await.unwrap();

        let revoked = store
            .revoke_certificate(
                cert.id,
                RevocationReason::KeyCompromise,
                150,
                &ocsp(&[0x0a], "revoked"),
                &admin(),
            )
            .await
            .unwrap();
        assert_eq!(revoked.status, CertificateStatus::Revoked);
        assert_eq!(
            revoked.revocation_reason,
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            store.ocsp_response(cert.id).await.unwrap().unwrap().der,
            b"OCSP revoked"
        );

        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .unwrap();
        assert_eq!(
            event,
            StoreEvent::Revoked(RevocationEvent {
                certificate_id: cert.id,
                issuer_id: w.national.id,
                serial: "0a".into()
            }),
            "{}",
            db.label()
        );

        // Revoking twice is a conflict and writes nothing.
        let before = store.audit_entries(0, 1000).await.unwrap().len();
        let twice = store
            .revoke_certificate(
                cert.id,
                RevocationReason::Superseded,
                160,
                &ocsp(&[0x0a], "again"),
                &admin(),
            )
            .await
            .unwrap_err();
        assert!(matches!(twice, StoreError::Conflict(_)));
        assert_eq!(store.audit_entries(0, 1000).await.unwrap().len(), before);
        assert_eq!(
            store.ocsp_response(cert.id).await.unwrap().unwrap().der,
            b"OCSP revoked"
        );

        let crl = store.revoked_serials(w.national.id).await.unwrap();
        assert_eq!(crl.len(), 1);
        assert_eq!(crl[0].revoked_at, 150);

        // CRL numbers increase; a reused number is a conflict.
        assert_eq!(store.next_crl_number(w.national.id).await.unwrap(), 1);
        let crl_record = CrlRecord {
            authority_id: w.national.id,
            crl_number: 1,
            der: b"CRL".to_vec(),
            this_update: 1,
            next_update: 2,
        };
        store.store_crl(&crl_record).await.unwrap();
        assert!(matches!(
            store.store_crl(&crl_record).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.next_crl_number(w.national.id).await.unwrap(), 2);
        assert_eq!(
            store
                .latest_crl(w.national.id)
                .await
                .unwrap()
                .unwrap()
                .crl_number,
            1
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_never_produce_a_duplicate_serial() {
    for db in TestDb::all().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        let w = world(&a).await;
        // 40 serials, each reserved by both writers at the same time.
        let mut tasks = Vec::new();
        for i in 0..40u8 {
            for store in [a.clone(), b.clone()] {
                let r = reservation(w.national.id, w.operator.id, &[0x10, i]);
                tasks.push(tokio::spawn(async move {
                    store.reserve_certificate(&r, &admin()).await
                }));
            }
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(other) => panic!("{}: unexpected {other}", db.label()),
            }
        }
        assert_eq!(won, 40, "{}", db.label());
        let all = a
            .certificates(&CertificateFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        let serials: HashSet<Vec<u8>> = all.iter().map(|c| c.serial.clone()).collect();
        assert_eq!(serials.len(), all.len());
        assert!(matches!(
            a.verify_audit_chain().await.unwrap(),
            ChainVerdict::Intact { .. }
        ));
        a.close().await;
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_revocations_all_land_with_their_audit_entries() {
    for db in TestDb::all().await {
        let a = Store::open(&db.url).await.unwrap();
        let b = Store::open(&db.url).await.unwrap();
        let w = world(&a).await;
        let mut ids = Vec::new();
        for i in 0..1000u16 {
            ids.push(issue(&a, &w, &[0x20, (i >> 8) as u8, i as u8]).await.id);
        }
        let before = a.audit_entries(0, 100_000).await.unwrap().len();
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(n, &id)| {
                let store = if n % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    store
                        .revoke_certificate(
                            id,
                            RevocationReason::CessationOfOperation,
                            500,
                            &ocsp(&[0], "revoked"),
                            &admin(),
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let revoked = a.revoked_serials(w.national.id).await.unwrap();
        assert_eq!(revoked.len(), 1000, "{}", db.label());
        let entries = a.audit_entries(0, 100_000).await.unwrap();
        assert_eq!(entries.len() - before, 1000);
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.action == "certificate.revoked")
                .count(),
            1000
        );
        assert!(matches!(
            a.verify_audit_chain().await.unwrap(),
            ChainVerdict::Intact { .. }
        ));
        a.close().await;
        b.close().await;
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_tampering_is_named() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        world(&store).await;
        assert!(matches!(
            store.verify_audit_chain().await.unwrap(),
            ChainVerdict::Intact { entries: 4, .. }
        ));

        // The database itself refuses to change or delete an entry.
        let update = db
            .raw_execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
            .await;
        assert!(
            update.unwrap_err().to_string().contains("append-only"),
            "{}",
            db.label()
        );
        let delete = db.raw_execute("DELETE FROM audit_log WHERE seq = 3").await;
        assert!(delete.unwrap_err().to_string().contains("append-only"));

        // Someone with the power to disable that (a superuser) edits entry 3: verification
        // names it.
        if db.is_postgres() {
            db.raw_execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
                .await
                .unwrap();
        } else {
            db.raw_execute("DROP TRIGGER audit_log_no_update")
                .await
                .unwrap();
        }
        db.raw_execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
            .await
            .unwrap();
        match store.verify_audit_chain().await.unwrap() {
            ChainVerdict::Broken { seq, reason } => {
                assert_eq!(seq, 3, "{}", db.label());
                assert!(reason.contains("altered"), "{reason}");
            }
            other => panic!("tampering not detected: {other:?}"),
        }
        store.close().await;
    }
}

#[tokio::test]
async fn a_database_newer_than_the_code_is_refused() {
    for db in TestDb::all().await {
        Store::open(&db.url).await.unwrap().close().await;
        let future = if db.is_postgres() {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (29991231000000, 'from the future', TRUE, '\\x00'::bytea, 0)"
        } else {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (29991231000000, 'from the future', 1, X'00', 0)"
        };
        db.raw_execute(future).await.unwrap();
        let err = Store::open(&db.url).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaTooNew {
                    database: 29991231000000,
                    ..
                }
            ),
            "{}: {err}",
            db.label()
        );
        assert!(err.to_string().contains("newer tsca"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let err = Store::open("postgres://tsca:s3cret-pw@127.0.0.1:1/registry")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{message}");
    assert!(
        message.contains("127.0.0.1:1") && message.contains("registry"),
        "{message}"
    );
    assert!(!message.contains("s3cret-pw"), "{message}");

    let bad = Store::open("mysql://localhost/tsca").await.unwrap_err();
    assert!(matches!(bad, StoreError::BadUrl(_)), "{bad}");
    assert!(bad.to_string().contains("postgres://"), "{bad}");
}

#[tokio::test]
async fn a_connection_lost_mid_transaction_is_retryable_and_writes_nothing() {
    // PostgreSQL only: SQLite has no connection to lose.
    let Ok(admin_url) = std::env::var(common::PG_ENV) else {
        eprintln!("skipped: {} not set", common::PG_ENV);
        return;
    };
    let db = TestDb::postgres(&admin_url).await;
    let store = Store::open(&db.url).await.unwrap();
    let w = world(&store).await;

    // Hold the audit head from outside so the store's next write blocks mid-transaction.
    use sqlx::Connection;
    let mut blocker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut blocker)
        .await
        .unwrap();

    let writer = store.clone();
    let national = w.national.id;
    let task = tokio::spawn(async move {
        writer
            .create_operator(
                &NewOperator {
                    authority_id: national,
                    name: "Lost".into(),
                    spc: None,
                    country: "FR".into(),
                },
                &admin(),
            )
            .await
    });
    // Wait until the write is blocked, then kill its connection.
    let mut killed = 0;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        killed = db
            .raw_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND pid <> {}",
                0
            ))
            .await
            .unwrap();
        if killed > 0 {
            break;
        }
    }
    assert!(killed > 0, "the blocked writer was never seen");
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_retryable(), "{err}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    // Nothing half-written; the retry succeeds.
    assert_eq!(store.operators(Some(national)).await.unwrap().len(), 1);
    store
        .create_operator(
            &NewOperator {
                authority_id: national,
                name: "Lost".into(),
                spc: None,
                country: "FR".into(),
            },
            &admin(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.verify_audit_chain().await.unwrap(),
        ChainVerdict::Intact { .. }
    ));
    store.close().await;
}
