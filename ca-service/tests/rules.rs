//! Each rule of the gateway with its negative case, on SQLite and PostgreSQL, time driven by
//! the engine's manual clock. A refusal must leave nothing behind: the audit head (every
//! change writes an entry) and the authorities are compared before and after.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use ca_service::{
    AssignRequest, AuthorityRequest, IdempotencyKey, OperatorRequest, Rule, ServiceError,
    SubjectFields,
};
use ca_store::{ApprovalPolicy, CertificateStatus, KeyPurpose, Tier};
use common::{csr, csr_of, on_every_backend, scope, World, ROOT};
use jiff::Timestamp;

const DAY: Duration = Duration::from_secs(86_400);

fn refused(err: &ServiceError) -> Option<Rule> {
    match err {
        ServiceError::Refused { rule, .. } => Some(*rule),
        _ => None,
    }
}

fn at(t: Timestamp, plus: Duration) -> Timestamp {
    t.checked_add(plus).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn numbers_and_time() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Timely", "F0300").await;
        let now = w.engine.now();

        // An assignment that is already over is refused, and nothing is written. Without
        // valid_from (it defaults to now) the refusal is the same, not a complaint about a
        // valid_from the caller never sent.
        let before = w.footprint().await;
        for valid_from in [
            Some(at(now, Duration::ZERO).checked_sub(DAY * 2).unwrap()),
            None,
        ] {
            let err = w
                .engine
                .assign(
                    &ROOT,
                    AssignRequest {
                        operator_id: op,
                        resource: "prefix:3362".into(),
                        valid_from,
                        valid_to: Some(now.checked_sub(DAY).unwrap()),
                        ported_from: None,
                    },
                    None,
                )
                .await
                .unwrap_err();
            assert_eq!(refused(&err), Some(Rule::AssignmentAlreadyOver), "{err}");
            assert!(err.to_string().contains("valid_to"), "{err}");
            assert_eq!(w.footprint().await, before);
        }

        // Issuance on an assignment that starts tomorrow is refused naming valid_from; it
        // works once the clock reaches it.
        w.engine
            .assign(
                &ROOT,
                AssignRequest {
                    operator_id: op,
                    resource: "prefix:3363".into(),
                    valid_from: Some(at(now, DAY)),
                    valid_to: None,
                    ported_from: None,
                },
                None,
            )
            .await
            .unwrap();
        let (_, csr_pem) = csr();
        let err = w
            .engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3363"]), None)
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::AssignmentNotYetValid), "{err}");
        assert!(err.to_string().contains("valid_from"), "{err}");
        w.clock.advance(DAY + Duration::from_secs(1));
        w.engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3363"]), None)
            .await
            .unwrap();

        // A certificate never outlives the numbers it speaks for: notAfter is cut at the
        // last instant the assignment covers, in the record and in the signed certificate.
        let now = w.engine.now();
        let until = at(now, DAY * 30);
        w.engine
            .assign(
                &ROOT,
                AssignRequest {
                    operator_id: op,
                    resource: "prefix:3364".into(),
                    valid_from: None,
                    valid_to: Some(until),
                    ported_from: None,
                },
                None,
            )
            .await
            .unwrap();
        let (_, csr_pem) = csr();
        let capped = w
            .engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3364"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        assert_eq!(capped.not_after.as_second(), until.as_second() - 1);
        let der = &capped.issued.as_ref().unwrap().der;
        let not_after = Certificate::from_der(der)
            .unwrap()
            .tbs_certificate
            .validity
            .not_after
            .to_system_time();
        assert_eq!(Timestamp::try_from(not_after).unwrap(), capped.not_after);

        // Shortening an assignment revokes the certificates that no longer fit; others stay.
        let open = w.assign(op, "prefix:3365").await;
        let (_, csr_pem) = csr();
        let long = w
            .engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3365"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        let shorten: IdempotencyKey = "shorten-3365".parse().unwrap();
        let change = w
            .engine
            .change_assignment_end(&ROOT, open.id, Some(at(now, DAY * 10)), Some(&shorten))
            .await
            .unwrap()
            .value;
        assert_eq!(
            change.revoked.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![long.id]
        );
        assert_eq!(
            w.engine
                .reader()
                .certificate(capped.id)
                .await
                .unwrap()
                .status,
            CertificateStatus::Valid
        );

        // The same resource twice to one operator: 409 naming the assignment it has.
        let err = w
            .engine
            .assign(
                &ROOT,
                AssignRequest {
                    operator_id: op,
                    resource: "prefix:33641".into(),
                    valid_from: None,
                    valid_to: None,
                    ported_from: None,
                },
                None,
            )
            .await
            .unwrap_err();
        match &err {
            ServiceError::Conflict {
                existing: Some(existing),
                ..
            } => assert_eq!(existing.kind, "assignment"),
            other => panic!("{other}"),
        }

        // Extending an assignment over the operator's own later assignment of the same
        // numbers is a conflict too: a resource is held once.
        w.engine
            .assign(
                &ROOT,
                AssignRequest {
                    operator_id: op,
                    resource: "prefix:33642".into(),
                    valid_from: Some(at(until, DAY)),
                    valid_to: None,
                    ported_from: None,
                },
                None,
            )
            .await
            .unwrap();
        let holding = w.assignment_of(op, "prefix:3364").await;
        let err = w
            .engine
            .change_assignment_end(&ROOT, holding.id, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Conflict { existing: Some(e), .. } if e.kind == "assignment"),
            "{err}"
        );

        // A retry of the shortening once its end has passed is answered from the first
        // request, with the same revoked certificates, not judged again against today.
        w.clock.advance(DAY * 11);
        let replay = w
            .engine
            .change_assignment_end(&ROOT, open.id, Some(at(now, DAY * 10)), Some(&shorten))
            .await
            .unwrap();
        assert!(replay.replayed);
        assert_eq!(
            replay.value.revoked.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![long.id]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_sweep_revokes_what_an_ended_assignment_no_longer_covers() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Legacy", "F0400").await;
        let assignment = w.assign(op, "prefix:3366").await;
        let (_, csr_pem) = csr();
        let cert = w
            .engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3366"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        // A row as an earlier version (or another writer) left it: the assignment ends
        // tomorrow without the certificate having been cut or revoked.
        let tomorrow = at(w.engine.now(), DAY).as_second();
        w.db.raw_execute(&format!(
            "UPDATE assignments SET valid_to = {tomorrow} WHERE id = {}",
            assignment.id
        ))
        .await
        .unwrap();
        assert_eq!(w.engine.maintain().await.revoked, 0, "nothing ended yet");
        w.clock.advance(DAY * 2);
        let report = w.engine.maintain().await;
        assert_eq!(
            (report.assignments_expired, report.revoked, report.failures),
            (1, 1, 0),
            "{report:?}"
        );
        let record = w.engine.reader().certificate(cert.id).await.unwrap();
        assert_eq!(
            record.revocation.unwrap().reason,
            Some(RevocationReason::PrivilegeWithdrawn)
        );
        // Another pass (or another instance) does nothing again.
        let again = w.engine.maintain().await;
        assert_eq!((again.assignments_expired, again.revoked), (0, 0));
        let entries = w.engine.reader().audit_entries(0, 10_000).await.unwrap();
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.action == "assignment.expired")
                .count(),
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_key_policy() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (a, a_who) = w.operator("Alpha", "F0501").await;
        let (b, b_who) = w.operator("Bravo", "F0502").await;
        w.assign(a, "prefix:3371").await;
        w.assign(b, "prefix:3372").await;
        let (key, csr_pem) = csr();
        let cert = w
            .engine
            .enrol(&a_who, World::request(&csr_pem, &["prefix:3371"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();

        // A's key for B: refused, naming the rule; nothing written.
        let before = w.footprint().await;
        let err = w
            .engine
            .enrol(
                &b_who,
                World::request(&csr_of(&key), &["prefix:3372"]),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::KeyBoundToAnotherSubject), "{err}");
        assert!(
            err.to_string().contains("key-bound-to-another-subject"),
            "{err}"
        );
        assert_eq!(w.footprint().await, before);

        // Compromised: refused forever, for its own operator too.
        w.engine
            .revoke(&a_who, &cert.fingerprint().unwrap(), "keyCompromise", None)
            .await
            .unwrap();
        let err = w
            .engine
            .enrol(
                &a_who,
                World::request(&csr_of(&key), &["prefix:3371"]),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::KeyCompromised), "{err}");

        // Keys the service generates serve one purpose: a CA key is not a responder key.
        let national = w.engine.reader().authority(w.national).await.unwrap();
        let ca_key = national.key_id.unwrap();
        assert!(w.engine.keys().open(ca_key, KeyPurpose::Ca).await.is_ok());
        assert!(w
            .engine
            .keys()
            .open(ca_key, KeyPurpose::OcspResponder)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_operations_leave_nothing_behind() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let request = |name: &str, parent, tier, entries: &[&str]| AuthorityRequest {
            name: name.into(),
            tier,
            parent_id: parent,
            scope: scope(entries),
            subject: SubjectFields {
                common_name: "Refused CA".into(),
                organization: Some("Refused Org".into()),
                country: Some("FR".into()),
            },
            approval: ApprovalPolicy::Manual,
        };
        let before = w.footprint().await;
        // A subject the CA profile refuses (no organization): named, before any key exists.
        let mut no_org = request("nowhere", w.regional, Tier::National, &["prefix:33"]);
        no_org.subject.organization = None;
        let err = w
            .engine
            .create_authority(&ROOT, no_org, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Invalid {
                    field: "subject",
                    ..
                }
            ),
            "{err}"
        );
        // A CA under a national CA: refused before a key is generated or a row written.
        let err = w
            .engine
            .create_authority(
                &ROOT,
                request("paris", w.national, Tier::National, &["prefix:331"]),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::NationalCaIssuesNoCas), "{err}");
        assert!(
            matches!(
                err,
                ServiceError::Refused {
                    field: Some("parent_id"),
                    ..
                }
            ),
            "the refusal names the API's field: {err:?}"
        );
        // A missing parent.
        let err = w
            .engine
            .create_authority(
                &ROOT,
                request(
                    "ghost",
                    ca_store::AuthorityId(999),
                    Tier::National,
                    &["prefix:34"],
                ),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::NotFound { .. }), "{err}");
        // A scope outside the parent's.
        let err = w
            .engine
            .create_authority(
                &ROOT,
                request("spain", w.regional, Tier::National, &["prefix:34"]),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::OutOfScope { .. }), "{err}");
        // A name that is taken: 409 naming the holder, and the key generated for it is gone.
        let err = w
            .engine
            .create_authority(
                &ROOT,
                request("france", w.regional, Tier::National, &["prefix:33"]),
                None,
            )
            .await
            .unwrap_err();
        match &err {
            ServiceError::Conflict {
                existing: Some(e), ..
            } => assert_eq!(e.id, w.national.to_string()),
            other => panic!("{other}"),
        }
        assert_eq!(w.footprint().await, before);
        // The name stays free for a correct request.
        w.engine
            .create_authority(
                &ROOT,
                request("ghost", w.regional, Tier::National, &["prefix:44"]),
                None,
            )
            .await
            .unwrap();

        // Revocation reasons: operators give their own; nobody puts a certificate on hold.
        let (op, who) = w.operator("Reasons", "F0600").await;
        w.assign(op, "prefix:3367").await;
        let (_, csr_pem) = csr();
        let cert = w
            .engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3367"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        let fp = cert.fingerprint().unwrap();
        let before = w.footprint().await;
        let err = w
            .engine
            .revoke(&who, &fp, "privilegeWithdrawn", None)
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::ReasonNotForOperators), "{err}");
        let err = w
            .engine
            .revoke(&ROOT, &fp, "certificateHold", None)
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::RevocationIsFinal), "{err}");
        let err = w
            .engine
            .revoke(&ROOT, &fp, "because", None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Invalid {
                    field: "reason",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(w.footprint().await, before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_replay_and_refuse_reuse() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let key: IdempotencyKey = "op-1".parse().unwrap();
        let request = || OperatorRequest {
            authority_id: w.national,
            name: "Once".into(),
            country: "FR".into(),
        };
        let first = w
            .engine
            .create_operator(&ROOT, request(), Some(&key))
            .await
            .unwrap();
        assert!(!first.replayed && first.value.token.secret.is_some());
        let again = w
            .engine
            .create_operator(&ROOT, request(), Some(&key))
            .await
            .unwrap();
        assert!(
            again.replayed,
            "the second request is answered from the first"
        );
        assert_eq!(again.value.operator.id, first.value.operator.id);
        assert_eq!(again.value.token.token.id, first.value.token.token.id);
        assert!(again.value.token.secret.is_none(), "a secret is shown once");
        // The same key for another request: refused, naming the key; nothing written.
        let before = w.footprint().await;
        let err = w
            .engine
            .create_operator(
                &ROOT,
                OperatorRequest {
                    name: "Twice".into(),
                    ..request()
                },
                Some(&key),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::IdempotencyKeyReused { key, .. } if key == "op-1"),
            "{err}"
        );
        assert_eq!(w.footprint().await, before);
        // Keys are per account: another principal may use the same text.
        let (_, who) = w.operator("Other", "F0701").await;
        let (op, _) = (first.value.operator.id, ());
        w.assign(op, "prefix:3368").await;
        assert!(matches!(
            w.engine
                .enrol(&who, World::request(&csr().1, &["prefix:3368"]), Some(&key))
                .await,
            Err(ServiceError::OutOfScope { .. })
        ));
        // A malformed key is named.
        assert!(matches!(
            "has space".parse::<IdempotencyKey>(),
            Err(ServiceError::Invalid {
                field: "Idempotency-Key",
                ..
            })
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operator_certificate_carries_the_operators_spc() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        // Without an spc: assignment, an enrolment is refused and leaves nothing.
        let bare = w
            .engine
            .create_operator(
                &ROOT,
                OperatorRequest {
                    authority_id: w.national,
                    name: "No Code Telecom".into(),
                    country: "FR".into(),
                },
                None,
            )
            .await
            .unwrap()
            .value;
        let bare_who = w
            .engine
            .authenticate(bare.token.secret.as_ref().unwrap().expose())
            .await
            .unwrap()
            .unwrap();
        w.assign(bare.operator.id, "prefix:3390").await;
        let before = w.footprint().await;
        let err = w
            .engine
            .enrol(&bare_who, World::request(&csr().1, &["prefix:3390"]), None)
            .await
            .unwrap_err();
        assert_eq!(refused(&err), Some(Rule::SpcAssignmentRequired), "{err}");
        assert!(err.to_string().contains("spc:CODE"), "{err}");
        assert_eq!(w.footprint().await, before);

        // With one, a prefix-only request gets the SPC added: TNAuthList carries it, the
        // prefix stays in tscaNumberingResources, and the CN names it.
        let (op, who) = w.operator("Coded Telecom", "F0391").await;
        w.assign(op, "prefix:3391").await;
        w.assign(op, "range:33922340000+100").await;
        // A range apart from the prefix: TNAuthList carries ranges too.
        let cert = w
            .engine
            .enrol(
                &who,
                World::request(&csr().1, &["prefix:3391", "range:33922340000+100"]),
                None,
            )
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        assert_eq!(
            cert.scope.to_string(),
            "prefix:3391, range:33922340000+100, spc:F0391"
        );
        let x509 = Certificate::from_der(&cert.issued.as_ref().unwrap().der).unwrap();
        let tn_auth_list = x509
            .tbs_certificate
            .decode_extension::<Vec<ca_core::ext::TnEntry>>(
                &ca_core::ext::ID_PE_TN_AUTH_LIST.into(),
                "TNAuthList",
            )
            .unwrap()
            .expect("a TNAuthList")
            .1;
        let spcs: Vec<_> = tn_auth_list
            .iter()
            .filter_map(|e| match e {
                ca_core::ext::TnEntry::Spc(s) => Some(s.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(spcs, ["F0391"]);
        assert_eq!(
            tn_auth_list.len(),
            2,
            "the SPC and the range: {tn_auth_list:?}"
        );
        assert!(
            x509.subject_text().contains("CN=Coded Telecom SPC F0391"),
            "{}",
            x509.subject_text()
        );

        // The SPC is an assignment like any other: withdrawing it revokes the certificate.
        let spc = w.assignment_of(op, "spc:F0391").await;
        let change = w
            .engine
            .withdraw_assignment(&ROOT, spc.id, None)
            .await
            .unwrap()
            .value;
        assert_eq!(change.revoked.len(), 1, "{change:?}");
        assert_eq!(change.revoked[0].id, cert.id);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_and_certificates_have_caps() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Capped", "F0410").await;
        w.assign(op, "prefix:3341").await;
        // More entries than max_scope_entries (256): refused before anything, naming the cap.
        let numbers: Vec<String> = (0..257).map(|i| format!("number:3341000{i:04}")).collect();
        let entries: Vec<&str> = numbers.iter().map(String::as_str).collect();
        let before = w.footprint().await;
        let err = w
            .engine
            .enrol(&who, World::request(&csr().1, &entries), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Invalid { field: "scope", detail } if detail.contains("at most 256")),
            "{err}"
        );
        // A certificate over max_certificate_bytes: refused inside the transaction, which
        // leaves nothing (an engine on the same store with a 2 KiB cap).
        let small = common::engine_with(
            w.store.clone(),
            &w.clock,
            ca_service::EngineConfig {
                max_certificate_bytes: 2 * 1024,
                ..common::test_config()
            },
        );
        let err = small
            .enrol(&who, World::request(&csr().1, &entries[..100]), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Invalid { field: "scope", detail } if detail.contains("max_certificate_bytes")),
            "{err}"
        );
        assert_eq!(w.footprint().await, before, "nothing left behind");
        // Within both caps it is issued.
        w.engine
            .enrol(&who, World::request(&csr().1, &entries[..100]), None)
            .await
            .unwrap();
    })
    .await;
}
