//! The storage story, written once against the store's handles and run on SQLite always and
//! on PostgreSQL when TSCA_TEST_DATABASE_URL is set (see tests/common). The rules that decide
//! writes (overlaps, key policy, idempotency, leases) are the gateway's and tested in
//! ca-service; here: what the store itself promises — typed rows, state checks inside a
//! write, changes and audit entries committing together, notification on commit, the audit
//! chain, and honest errors.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use ca_core::ident::{Fingerprint, KeyFingerprint, Serial};
use ca_core::keys::KeyAlgorithm;
use ca_core::numbering::{E164Number, NumberingScope, ScopeConstraint};
use ca_core::profile::Profile;
use ca_core::revocation::RevocationReason;
use ca_store::*;
use common::TestDb;
use jiff::Timestamp;

fn scope(entries: &[&str]) -> ScopeConstraint {
    ScopeConstraint::Within(NumberingScope::parse(entries.iter().copied()).unwrap())
}

fn admin() -> Actor {
    Actor::cli("test-admin")
}

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap()
}

fn now() -> Timestamp {
    t(Timestamp::now().as_second())
}

/// A root, a national CA under it, and one operator.
struct World {
    root: Authority,
    national: Authority,
    operator: Operator,
}

async fn world(store: &Store) -> World {
    let mut tx = store.begin(now()).await.unwrap();
    let root = tx
        .insert_authority(
            &NewAuthority {
                name: "root".into(),
                tier: Tier::Root,
                parent_id: None,
                scope: ScopeConstraint::Unconstrained,
                status: AuthorityStatus::Active,
                approval: ApprovalPolicy::Manual,
                key_id: None,
                csr_der: None,
                certificate_der: Some(b"root-cert".to_vec()),
                family: ca_store::AuthorityFamily::Tsca,
            },
            &admin(),
        )
        .await
        .unwrap();
    let key_id = tx
        .insert_key(
            &NewKey {
                algorithm: KeyAlgorithm::EcdsaP256,
                purpose: KeyPurpose::Ca,
                storage: KeyStorage::Pkcs8Encrypted("-----BEGIN ENCRYPTED PRIVATE KEY-----".into()),
            },
            &admin(),
        )
        .await
        .unwrap();
    let national = tx
        .insert_authority(
            &NewAuthority {
                name: "fr-arcep".into(),
                tier: Tier::National,
                parent_id: Some(root.id),
                scope: scope(&["prefix:33", "plmn:208-01"]),
                status: AuthorityStatus::Active,
                approval: ApprovalPolicy::WithinAssignments,
                key_id: Some(key_id),
                csr_der: None,
                certificate_der: Some(b"national-cert".to_vec()),
                family: ca_store::AuthorityFamily::Tsca,
            },
            &admin(),
        )
        .await
        .unwrap();
    let operator = tx
        .insert_operator(
            &NewOperator {
                authority_id: national.id,
                name: "Orange".into(),
                country: CountryCode::parse("FR").unwrap(),
            },
            &admin(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    World {
        root,
        national,
        operator,
    }
}

fn serial(bytes: &[u8]) -> Serial {
    Serial::new(bytes).unwrap()
}

fn reservation(
    issuer_id: AuthorityId,
    operator_id: OperatorId,
    serial_bytes: &[u8],
) -> Reservation {
    Reservation {
        issuer_id,
        serial: serial(serial_bytes),
        profile: Profile::Operator,
        subject: "CN=Orange SIP signing".into(),
        certified: CertifiedSubject::Operator(operator_id),
        enrolment_id: None,
        not_before: t(1_000),
        not_after: t(4_000_000_000),
        scope: scope(&["prefix:3361"]),
        tbs_der: tbs(serial_bytes),
        public_key: KeyFingerprint::from_bytes([7; 32]),
        reserved_by: InstanceId::new("test-instance"),
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

fn ocsp(serial: &[u8], status: &str) -> PreSignedResponse {
    PreSignedResponse {
        sha1_key: [b"sha1:".as_slice(), serial].concat(),
        sha256_key: [b"sha256:".as_slice(), serial].concat(),
        der: format!("OCSP {status}").into_bytes(),
        this_update: t(100),
        next_update: t(200),
    }
}

async fn issue(store: &Store, w: &World, serial: &[u8]) -> CertificateRecord {
    let mut tx = store.begin(now()).await.unwrap();
    let id = tx
        .reserve_certificate(&reservation(w.national.id, w.operator.id, serial), &admin())
        .await
        .unwrap();
    let record = tx
        .complete_certificate(id, &signed(serial), Some(&ocsp(serial, "good")), &admin())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    record
}

async fn revoke(
    store: &Store,
    id: CertificateId,
    at: i64,
    reason: RevocationReason,
) -> Result<CertificateRecord> {
    let mut tx = store.begin(t(at)).await?;
    let record = tx
        .revoke_certificate(id, reason, Some(&ocsp(&[0], "revoked")), &admin())
        .await?;
    tx.commit().await?;
    Ok(record)
}

#[tokio::test]
async fn typed_records_and_state_checks() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let reader = store.reader();
        let w = world(&store).await;
        assert_eq!(
            reader
                .authority_by_name("fr-arcep")
                .await
                .unwrap()
                .parent_id,
            Some(w.root.id)
        );
        assert_eq!(reader.authorities().await.unwrap().len(), 2);
        let national = reader.authority(w.national.id).await.unwrap();
        assert_eq!(national.scope, scope(&["prefix:33", "plmn:208-01"]));
        assert_eq!(national.approval, ApprovalPolicy::WithinAssignments);
        assert_eq!(
            reader.key(national.key_id.unwrap()).await.unwrap().purpose,
            KeyPurpose::Ca
        );
        assert!(matches!(
            reader.operator(OperatorId(999)).await,
            Err(StoreError::NotFound {
                what: "operator",
                ..
            })
        ));

        // Tokens are found by hash only while live; the grant is one of four shapes.
        let mut tx = store.begin(now()).await.unwrap();
        let token = tx
            .insert_token(
                &NewApiToken {
                    hash: TokenHash([0xab; 32]),
                    grant: TokenGrant::Operator(w.operator.id),
                    label: "ci".into(),
                    expires_at: None,
                },
                &admin(),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            reader
                .live_token(&TokenHash([0xab; 32]))
                .await
                .unwrap()
                .unwrap()
                .id,
            token.id
        );
        let mut tx = store.begin(now()).await.unwrap();
        tx.revoke_token(token.id, &admin()).await.unwrap();
        tx.commit().await.unwrap();
        assert!(reader
            .live_token(&TokenHash([0xab; 32]))
            .await
            .unwrap()
            .is_none());
        // A row that breaks the grant's shape is named, not defaulted.
        db.raw_execute(&format!(
            "UPDATE api_tokens SET operator_id = NULL WHERE id = {}",
            token.id
        ))
        .await
        .unwrap();
        let err = reader.token(token.id).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    what: "token grant",
                    ..
                }
            ),
            "{err}"
        );

        // Assignments, with a port, and the lookup following it.
        let mut tx = store.begin(now()).await.unwrap();
        let sfr = tx
            .insert_operator(
                &NewOperator {
                    authority_id: w.national.id,
                    name: "SFR".into(),
                    country: CountryCode::parse("FR").unwrap(),
                },
                &admin(),
            )
            .await
            .unwrap();
        let assign = |operator_id, resource: &str, ported_from| NewAssignment {
            authority_id: w.national.id,
            operator_id,
            resource: resource.parse().unwrap(),
            valid_from: t(0),
            valid_to: None,
            ported_from,
        };
        let orange_block = tx
            .insert_assignment(&assign(w.operator.id, "prefix:3361", None), &admin())
            .await
            .unwrap();
        let port = tx
            .insert_assignment(
                &assign(sfr.id, "range:33612340000+10000", Some(w.operator.id)),
                &admin(),
            )
            .await
            .unwrap();
        // Overlap candidates are read inside the transaction, uncommitted rows included.
        let overlapping = tx
            .assignments_overlapping(&"prefix:33612".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(overlapping.len(), 2);
        let holdings = tx.holdings(w.operator.id).await.unwrap();
        assert_eq!((holdings.own.len(), holdings.ported_away.len()), (1, 1));
        tx.commit().await.unwrap();
        assert_eq!(port.ported_from, Some(w.operator.id));
        let index = reader.load_lookup_index(now()).await.unwrap();
        let who = |n: &str| -> Vec<OperatorId> {
            index
                .lookup_e164(&E164Number::parse(n).unwrap(), now())
                .iter()
                .map(|m| m.operator_id)
                .collect()
        };
        assert_eq!(who("33612345678"), vec![sfr.id]);
        assert_eq!(who("33619999999"), vec![w.operator.id]);

        // Withdrawal keeps the row; twice is a conflict and rolls back with nothing written.
        let mut tx = store.begin(now()).await.unwrap();
        assert!(tx
            .withdraw_assignment(orange_block.id, &admin())
            .await
            .unwrap()
            .withdrawn_at
            .is_some());
        tx.commit().await.unwrap();
        let head = reader.audit_head_seq().await.unwrap();
        let mut tx = store.begin(now()).await.unwrap();
        assert!(matches!(
            tx.withdraw_assignment(orange_block.id, &admin()).await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);
        assert_eq!(reader.audit_head_seq().await.unwrap(), head);
        assert_eq!(reader.active_assignments(now()).await.unwrap().len(), 1);

        let verdict = reader.verify_audit_chain().await.unwrap();
        assert!(
            matches!(verdict, ChainVerdict::Intact { entries, .. } if entries >= 10),
            "{verdict:?}"
        );
        let actions: Vec<String> = reader
            .audit_entries(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(actions.contains(&"assignment.withdrawn".to_owned()));
        assert!(actions.contains(&"token.revoked".to_owned()));
        store.close().await;
    }
}

/// The shared lookup index follows every change from the audit log, including those
/// another instance (another `Store` on the same database) commits, without a rebuild.
#[tokio::test]
async fn the_lookup_index_catches_up_with_another_instances_changes() {
    for db in TestDb::all().await {
        let reader = Store::open(&db.url).await.unwrap().reader();
        let writer = Store::open(&db.url).await.unwrap();
        let w = world(&writer).await;
        let lookup = SharedLookup::load(&reader, now()).await.unwrap();
        let who = |lookup: &SharedLookup| -> Vec<(OperatorId, usize)> {
            lookup
                .read()
                .lookup_e164(&E164Number::parse("33612345678").unwrap(), now())
                .iter()
                .map(|m| (m.operator_id, m.certificates.len()))
                .collect()
        };
        assert!(who(&lookup).is_empty());

        let mut tx = writer.begin(now()).await.unwrap();
        let assignment = tx
            .insert_assignment(
                &NewAssignment {
                    authority_id: w.national.id,
                    operator_id: w.operator.id,
                    resource: "prefix:3361".parse().unwrap(),
                    valid_from: t(0),
                    valid_to: None,
                    ported_from: None,
                },
                &admin(),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
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
        revoke(&writer, cert.id, 150, RevocationReason::PrivilegeWithdrawn)
            .await
            .unwrap();
        lookup.catch_up(&reader).await.unwrap();
        assert_eq!(who(&lookup), vec![(w.operator.id, 0)]);
        assert_eq!(lookup.read().certificates(), 0);
        let mut tx = writer.begin(now()).await.unwrap();
        tx.withdraw_assignment(assignment.id, &admin())
            .await
            .unwrap();
        tx.commit().await.unwrap();
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
async fn record_before_sign_and_its_contract() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let reader = store.reader();
        let w = world(&store).await;
        let mut tx = store.begin(now()).await.unwrap();
        let enrolment = tx
            .insert_enrolment(
                &NewEnrolment {
                    operator_id: w.operator.id,
                    authority_id: w.national.id,
                    csr_der: b"CSR".to_vec(),
                    requested_scope: NumberingScope::parse(["prefix:3361"]).unwrap(),
                    profile: Profile::Operator,
                },
                &admin(),
            )
            .await
            .unwrap();
        let enrolment = tx
            .decide_enrolment(
                enrolment.id,
                &EnrolmentDecision::Approve { reason: None },
                &admin(),
            )
            .await
            .unwrap();
        let mut r = reservation(w.national.id, w.operator.id, &[0x01, 0x02]);
        r.enrolment_id = Some(enrolment.id);
        // S1: the reservation exists (in the same transaction as the decision) before any
        // signature.
        let id = tx.reserve_certificate(&r, &admin()).await.unwrap();
        assert!(tx
            .serial_taken(w.national.id, &serial(&[0x01, 0x02]))
            .await
            .unwrap());
        assert!(tx
            .enrolment_has_live_certificate(enrolment.id)
            .await
            .unwrap());
        tx.commit().await.unwrap();
        let reserved = reader.certificate(id).await.unwrap();
        assert_eq!(reserved.status, CertificateStatus::Reserved);
        assert_eq!(reserved.tbs_der, tbs(&[0x01, 0x02]));
        assert!(reserved.issued.is_none() && reserved.revocation.is_none());
        assert_eq!(reserved.reserved_by, Some(InstanceId::new("test-instance")));

        // The same serial for the same issuer is refused by the database itself.
        let mut tx = store.begin(now()).await.unwrap();
        assert!(matches!(
            tx.reserve_certificate(&r, &admin()).await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);

        // A certificate that does not carry the reserved TBS is refused.
        let mut tx = store.begin(now()).await.unwrap();
        assert!(matches!(
            tx.complete_certificate(id, b"CERT[other]SIG", None, &admin())
                .await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);

        // While a certificate is reserved for it, the enrolment cannot be failed; once it is
        // failed (inside this transaction), the certificate cannot answer it.
        let mut tx = store.begin(now()).await.unwrap();
        assert!(!tx
            .fail_enrolment(enrolment.id, "test", &admin())
            .await
            .unwrap());
        assert!(!tx.has_changes());
        drop(tx);
        let set_status = |status: &str| {
            format!(
                "UPDATE enrolments SET status = '{status}' WHERE id = {}",
                enrolment.id
            )
        };
        db.raw_execute(&set_status("failed")).await.unwrap();
        let mut tx = store.begin(now()).await.unwrap();
        assert!(matches!(
            tx.complete_certificate(id, &signed(&[0x01, 0x02]), None, &admin())
                .await,
            Err(StoreError::Conflict(m)) if m.contains("no longer approved")
        ));
        drop(tx);
        db.raw_execute(&set_status("approved")).await.unwrap();

        // S3: stored, with its first OCSP response and the enrolment marked issued.
        let mut tx = store.begin(now()).await.unwrap();
        let cert = tx
            .complete_certificate(
                id,
                &signed(&[0x01, 0x02]),
                Some(&ocsp(&[1, 2], "good")),
                &admin(),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(cert.status, CertificateStatus::Valid);
        let fp = cert.fingerprint().unwrap();
        assert_eq!(fp, Fingerprint::of_der(&signed(&[0x01, 0x02])));
        assert_eq!(reader.certificate_by_fingerprint(&fp).await.unwrap().id, id);
        assert_eq!(
            reader.ocsp_response(id).await.unwrap().unwrap().der,
            b"OCSP good"
        );
        let enrolment = reader.enrolment(enrolment.id).await.unwrap();
        assert_eq!(enrolment.status, EnrolmentStatus::Issued);
        assert_eq!(enrolment.certificate_id, Some(id));
        let mut tx = store.begin(now()).await.unwrap();
        assert!(matches!(
            tx.complete_certificate(id, &signed(&[1, 2]), None, &admin())
                .await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);
        store.close().await;
    }
}

#[tokio::test]
async fn an_abandoned_reservation_is_revoked_once_and_announced() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let reader = store.reader();
        let w = world(&store).await;
        let dead = InstanceId::new("dead");
        store.heartbeat(&dead, "will die", t(1_000)).await.unwrap();
        let mut r = reservation(w.national.id, w.operator.id, &[0x7f]);
        r.reserved_by = dead.clone();
        let mut tx = store.begin(t(1_000)).await.unwrap();
        let id = tx.reserve_certificate(&r, &admin()).await.unwrap();
        tx.commit().await.unwrap();
        // The lease is seen as gone once the cut-off passes its last heartbeat.
        assert!(reader
            .orphaned_reservations(t(1_000))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            reader.orphaned_reservations(t(1_001)).await.unwrap()[0].id,
            id
        );

        let mut events = reader.subscribe().await.unwrap();
        let seq_before = reader
            .authority(w.national.id)
            .await
            .unwrap()
            .revocation_seq;
        // The owner came back after the reader saw it gone: the lease, checked again inside
        // the transaction, keeps its reservation.
        let taker = InstanceId::new("taker");
        store.heartbeat(&dead, "came back", t(1_050)).await.unwrap();
        let mut tx = store.begin(t(1_100)).await.unwrap();
        assert!(!tx
            .abandon_reservation(id, &taker, t(1_001), None, &Actor::system())
            .await
            .unwrap());
        assert!(!tx.has_changes());
        drop(tx);
        let mut tx = store.begin(t(1_100)).await.unwrap();
        assert!(tx
            .abandon_reservation(
                id,
                &taker,
                t(1_051),
                Some(&ocsp(&[0x7f], "revoked")),
                &Actor::system()
            )
            .await
            .unwrap());
        tx.commit().await.unwrap();
        let record = reader.certificate(id).await.unwrap();
        assert_eq!(record.status, CertificateStatus::Abandoned);
        let revocation = record.revocation.unwrap();
        assert_eq!(
            revocation.reason,
            Some(RevocationReason::CessationOfOperation)
        );
        assert_eq!(revocation.revoked_at, t(1_100));
        assert_eq!(
            reader.revoked_serials(w.national.id).await.unwrap()[0].serial,
            serial(&[0x7f])
        );
        assert_eq!(
            reader
                .authority(w.national.id)
                .await
                .unwrap()
                .revocation_seq,
            seq_before + 1
        );
        let through = reader.audit_head_seq().await.unwrap();
        assert_eq!(next_commit(&mut events).await, through);
        assert!(reader
            .changes_after(through - 1)
            .await
            .unwrap()
            .certificates
            .contains(&id));
        // A second attempt changes nothing.
        let mut tx = store.begin(t(1_200)).await.unwrap();
        assert!(!tx
            .abandon_reservation(id, &taker, t(1_201), None, &Actor::system())
            .await
            .unwrap());
        assert!(!tx.has_changes());
        drop(tx);
        store.close().await;
    }
}

#[tokio::test]
async fn revocation_commits_status_and_ocsp_together_then_notifies() {
    for db in TestDb::all().await {
        let store = Store::open(&db.url).await.unwrap();
        let reader = store.reader();
        let w = world(&store).await;
        let cert = issue(&store, &w, &[0x0a]).await;
        let mut events = reader.subscribe().await.unwrap();
        let before_revocation = reader.audit_head_seq().await.unwrap();

        let revoked = revoke(&store, cert.id, 150, RevocationReason::KeyCompromise)
            .await
            .unwrap();
        assert_eq!(revoked.status, CertificateStatus::Revoked);
        assert_eq!(
            revoked.revocation.unwrap().reason,
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            reader.ocsp_response(cert.id).await.unwrap().unwrap().der,
            b"OCSP revoked"
        );
        // Subscribers are woken after the commit with its sequence number, and the audit log
        // names the certificate: the whole of what a follower needs.
        let through = reader.audit_head_seq().await.unwrap();
        assert_eq!(next_commit(&mut events).await, through, "{}", db.label());
        let changes = reader.changes_after(before_revocation).await.unwrap();
        assert_eq!(changes.through_seq, through);
        assert_eq!(
            changes.certificates.into_iter().collect::<Vec<_>>(),
            vec![cert.id],
            "{}",
            db.label()
        );

        // On PostgreSQL another process's commit wakes this one too (NOTIFY after commit):
        // a second Store on the same database stands for it.
        if db.is_postgres() {
            let other = Store::open(&db.url).await.unwrap();
            let mut remote = reader.subscribe().await.unwrap();
            let other_cert = issue(&other, &w, &[0x0b]).await;
            let through = reader.audit_head_seq().await.unwrap();
            // The local broadcast of `other` is not this Store's: only the NOTIFY can wake it
            // (once per commit, or once for several that came together).
            while next_commit(&mut remote).await < through {}
            assert!(reader
                .changes_after(before_revocation)
                .await
                .unwrap()
                .certificates
                .contains(&other_cert.id));
            other.close().await;
        }

        // Revoking twice is a conflict and writes nothing.
        let before = reader.audit_head_seq().await.unwrap();
        assert!(matches!(
            revoke(&store, cert.id, 160, RevocationReason::Superseded).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(reader.audit_head_seq().await.unwrap(), before);

        let listed = reader.revoked_serials(w.national.id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked_at, t(150));

        // The CRL records the revocation count it was built from; a CRL behind it is due.
        let seq = reader
            .authority(w.national.id)
            .await
            .unwrap()
            .revocation_seq;
        assert!(reader
            .authorities_needing_crl(t(150))
            .await
            .unwrap()
            .contains(&w.national.id));
        assert_eq!(reader.next_crl_number(w.national.id).await.unwrap(), 1);
        let crl = CrlRecord {
            authority_id: w.national.id,
            crl_number: 1,
            der: b"CRL".to_vec(),
            this_update: t(150),
            next_update: t(150 + 7 * 86_400),
            revocation_seq: seq,
        };
        let mut tx = store.begin(t(150)).await.unwrap();
        tx.insert_crl(&crl, &admin()).await.unwrap();
        tx.commit().await.unwrap();
        assert!(!reader
            .authorities_needing_crl(t(151))
            .await
            .unwrap()
            .contains(&w.national.id));
        assert!(
            reader
                .authorities_needing_crl(t(150 + 4 * 86_400))
                .await
                .unwrap()
                .contains(&w.national.id),
            "past half its validity"
        );
        let mut tx = store.begin(t(150)).await.unwrap();
        assert!(matches!(
            tx.insert_crl(&crl, &admin()).await,
            Err(StoreError::Conflict(_))
        ));
        drop(tx);
        assert_eq!(reader.next_crl_number(w.national.id).await.unwrap(), 2);
        // A slower publisher that read fewer revocations but drew a higher number is refused:
        // the latest CRL never lists less than the one before it.
        let stale = CrlRecord {
            crl_number: 2,
            revocation_seq: seq - 1,
            ..crl.clone()
        };
        let mut tx = store.begin(t(160)).await.unwrap();
        assert!(matches!(
            tx.insert_crl(&stale, &admin()).await,
            Err(StoreError::Conflict(m)) if m.contains("misses")
        ));
        assert!(!tx.has_changes());
        drop(tx);
        assert_eq!(
            reader
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
                    let mut tx = store.begin(now()).await?;
                    tx.reserve_certificate(&r, &admin()).await?;
                    tx.commit().await
                }));
            }
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(other) => panic!("{}: unexpected {other}", db.label()),
            }
        }
        assert_eq!(won, 40, "{}", db.label());
        let all = a
            .reader()
            .certificates(&CertificateFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        let serials: HashSet<Serial> = all.iter().map(|c| c.serial.clone()).collect();
        assert_eq!(serials.len(), all.len());
        assert!(matches!(
            a.reader().verify_audit_chain().await.unwrap(),
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
        let before = a.reader().audit_entries(0, 100_000).await.unwrap().len();
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(n, &id)| {
                let store = if n % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    revoke(&store, id, 500, RevocationReason::CessationOfOperation).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let reader = a.reader();
        assert_eq!(
            reader.revoked_serials(w.national.id).await.unwrap().len(),
            1000,
            "{}",
            db.label()
        );
        let entries = reader.audit_entries(0, 100_000).await.unwrap();
        assert_eq!(entries.len() - before, 1000);
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.action == "certificate.revoked")
                .count(),
            1000
        );
        assert_eq!(
            reader
                .authority(w.national.id)
                .await
                .unwrap()
                .revocation_seq,
            1000
        );
        assert!(matches!(
            reader.verify_audit_chain().await.unwrap(),
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
        let reader = store.reader();
        world(&store).await;
        assert!(matches!(
            reader.verify_audit_chain().await.unwrap(),
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
        match reader.verify_audit_chain().await.unwrap() {
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
async fn a_connection_lost_mid_transaction_writes_nothing_and_says_so() {
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
    let new_operator = move || NewOperator {
        authority_id: national,
        name: "Lost".into(),
        country: CountryCode::parse("FR").unwrap(),
    };
    let task = tokio::spawn(async move {
        let mut tx = writer.begin(now()).await?;
        tx.insert_operator(&new_operator(), &admin()).await?;
        tx.commit().await
    });
    // Wait until the write is blocked, then kill its connection.
    let mut killed = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        killed = db
            .raw_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
            )
            .await
            .unwrap();
        if killed > 0 {
            break;
        }
    }
    assert!(killed > 0, "the blocked writer was never seen");
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(
            err,
            StoreError::Unavailable {
                outcome: WriteOutcome::NotApplied,
                ..
            }
        ),
        "lost before COMMIT: nothing was written, and the error says so: {err}"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    // Nothing half-written; the retry succeeds.
    assert_eq!(
        store
            .reader()
            .operators(Some(national))
            .await
            .unwrap()
            .len(),
        1
    );
    let mut tx = store.begin(now()).await.unwrap();
    tx.insert_operator(
        &NewOperator {
            authority_id: national,
            name: "Lost".into(),
            country: CountryCode::parse("FR").unwrap(),
        },
        &admin(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(
        store.reader().verify_audit_chain().await.unwrap(),
        ChainVerdict::Intact { .. }
    ));
    store.close().await;
}

/// The sequence number of the next commit a subscription hears of.
async fn next_commit(events: &mut ca_store::Subscription) -> i64 {
    match tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("no wake-up within 10 s")
    {
        StoreEvent::Committed { through_seq } => through_seq,
        StoreEvent::Resync => panic!("a resync where a commit was expected"),
    }
}
