//! The engine alone (no HTTP), on SQLite and PostgreSQL: the whole life of an operator —
//! register, assign, enrol, renew, port a range away, revoke — with every artifact checked by
//! ca-core's independent readers (path validation, OCSP and CRL parsers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::SystemTime;

use ca_core::crl::parse_crl;
use ca_core::ident::Fingerprint;
use ca_core::ocsp::{parse_response, CertStatusAnswer, ParsedResponse};
use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use ca_service::{AssignRequest, Rule, ServiceError};
use ca_store::{
    ApprovalPolicy, CertificateRecord, CertificateStatus, ChainVerdict, EnrolmentStatus,
};
use common::{csr, on_every_backend, World, ROOT};

/// The status the stored OCSP response of a certificate gives.
async fn stored_status(w: &World, record: &CertificateRecord) -> CertStatusAnswer {
    let stored = w
        .engine
        .reader()
        .ocsp_response(record.id)
        .await
        .unwrap()
        .expect("a pre-signed response is stored with every status change");
    let ParsedResponse::Successful(basic) = parse_response(&stored.der).unwrap() else {
        panic!("not a successful response")
    };
    basic.verify_with_included_cert().unwrap();
    basic.responses[0].status
}

/// The serials on the issuer's latest CRL, after checking its signature.
async fn crl_serials(w: &World, record: &CertificateRecord) -> Vec<Vec<u8>> {
    let crl = w
        .engine
        .reader()
        .latest_crl(record.issuer_id)
        .await
        .unwrap()
        .expect("a CRL");
    let parsed = parse_crl(&crl.der).unwrap();
    let issuer = w.engine.reader().authority(record.issuer_id).await.unwrap();
    parsed
        .verify_signature(
            &Certificate::from_der(issuer.certificate_der.as_deref().unwrap()).unwrap(),
        )
        .unwrap();
    parsed
        .entries()
        .map(|e| e.unwrap().serial.as_bytes().to_vec())
        .collect()
}

/// The certificate validates up to the root with numbering encompassing (ca-core path).
async fn validates(w: &World, record: &CertificateRecord) {
    let fingerprint = record.fingerprint().unwrap();
    let (_, pem) = ca_service::Repository::new(w.engine.reader().clone())
        .chain(&fingerprint)
        .await
        .unwrap();
    let mut path = Certificate::load_pem_chain(pem.as_bytes()).unwrap();
    path.push(w.root_cert.clone());
    ca_core::path::verify_path(&path, std::slice::from_ref(&w.root_cert), SystemTime::now())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_life_of_an_operator() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (acme, acme_who) = w.operator("Acme Mobile", "F0099").await;
        w.assign(acme, "prefix:3375").await;

        // Enrol: auto-approved within the assignments, two commits, a valid certificate with
        // its first "good" response stored.
        let (key, csr_pem) = csr();
        let first = w
            .engine
            .enrol(&acme_who, World::request(&csr_pem, &["prefix:3375", "spc:F0099"]), None)
            .await
            .unwrap()
            .value;
        assert_eq!(first.enrolment.status, EnrolmentStatus::Issued);
        let first = first.certificate.unwrap();
        assert_eq!(first.status, CertificateStatus::Valid);
        assert_eq!(first.reserved_by.as_ref(), Some(w.engine.instance()));
        assert_eq!(stored_status(&w, &first).await, CertStatusAnswer::Good);
        validates(&w, &first).await;

        // Renew with the same key: allowed for the same operator.
        let renewed = w
            .engine
            .enrol(&acme_who, World::request(&common::csr_of(&key), &["prefix:3375"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        assert_ne!(renewed.id, first.id);
        assert_eq!(renewed.public_key, first.public_key);

        // Port a block away to Beta: Acme's certificates covering it are revoked
        // (privilegeWithdrawn) in the same transaction, and the CRL lists them.
        let (beta, beta_who) = w.operator("Beta Telecom", "F0100").await;
        let port = w
            .engine
            .assign(
                &ROOT,
                AssignRequest {
                    operator_id: beta,
                    resource: "range:33751234560+10".into(),
                    valid_from: None,
                    valid_to: None,
                    ported_from: Some(acme),
                },
                None,
            )
            .await
            .unwrap()
            .value;
        let mut revoked: Vec<_> = port.revoked.iter().map(|c| c.id).collect();
        revoked.sort();
        assert_eq!(revoked, vec![first.id, renewed.id]);
        for id in [first.id, renewed.id] {
            let record = w.engine.reader().certificate(id).await.unwrap();
            assert_eq!(record.status, CertificateStatus::Revoked);
            assert_eq!(
                record.revocation.unwrap().reason,
                Some(RevocationReason::PrivilegeWithdrawn)
            );
            assert!(matches!(stored_status(&w, &record).await, CertStatusAnswer::Revoked { .. }));
            assert!(crl_serials(&w, &record).await.contains(&record.serial.as_bytes().to_vec()));
        }
        // Acme no longer holds all of prefix:3375: refused, naming it.
        let (_, other_csr) = csr();
        let err = w
            .engine
            .enrol(&acme_who, World::request(&other_csr, &["prefix:3375"]), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::OutOfScope { entries, .. } if entries[0].to_string() == "prefix:3375"),
            "{err}"
        );
        assert!(err.to_string().contains("ported to operator"), "{err}");

        // Beta enrols for what it received, then revokes it for keyCompromise.
        let (_, beta_csr) = csr();
        let beta_cert = w
            .engine
            .enrol(&beta_who, World::request(&beta_csr, &["range:33751234560+10"]), None)
            .await
            .unwrap()
            .value
            .certificate
            .unwrap();
        let fingerprint: Fingerprint = beta_cert.fingerprint().unwrap();
        let gone = w
            .engine
            .revoke(&beta_who, &fingerprint, "keyCompromise", None)
            .await
            .unwrap()
            .value;
        assert_eq!(gone.status, CertificateStatus::Revoked);
        assert!(crl_serials(&w, &gone).await.contains(&gone.serial.as_bytes().to_vec()));
        assert!(matches!(
            stored_status(&w, &gone).await,
            CertStatusAnswer::Revoked { reason: Some(RevocationReason::KeyCompromise), .. }
        ));
        // Revoking again is a conflict, not a second revocation.
        assert!(matches!(
            w.engine.revoke(&beta_who, &fingerprint, "keyCompromise", None).await,
            Err(ServiceError::Conflict { .. })
        ));

        match w.engine.reader().verify_audit_chain().await.unwrap() {
            ChainVerdict::Intact { entries, .. } => assert!(entries > 20),
            broken => panic!("{broken:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_authority_decides_and_issuance_rechecks_the_numbers() {
    on_every_backend(ApprovalPolicy::Manual, |w| async move {
        let (op, who) = w.operator("Slow Telecom", "F0200").await;
        let assignment = w.assign(op, "prefix:3361").await;
        let (_, csr_pem) = csr();
        let pending = w
            .engine
            .enrol(&who, World::request(&csr_pem, &["prefix:3361"]), None)
            .await
            .unwrap()
            .value;
        assert_eq!(pending.enrolment.status, EnrolmentStatus::Pending);
        assert!(pending.certificate.is_none());
        // The numbers are withdrawn before a person approves: approval is refused then,
        // and leaves the enrolment pending.
        w.engine
            .withdraw_assignment(&ROOT, assignment.id, None)
            .await
            .unwrap();
        let err = w
            .engine
            .approve_enrolment(&ROOT, pending.enrolment.id, None)
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::OutOfScope { .. }), "{err}");
        let still = w
            .engine
            .reader()
            .enrolment(pending.enrolment.id)
            .await
            .unwrap();
        assert_eq!(still.status, EnrolmentStatus::Pending);
        // Assigned again, but the operator is suspended meanwhile: approval is refused
        // naming the rule, the enrolment stays pending, nothing is written.
        let reassigned = w.assign(op, "prefix:3361").await;
        w.db.raw_execute(&format!(
            "UPDATE operators SET status = 'suspended' WHERE id = {op}"
        ))
        .await
        .unwrap();
        let before = w.footprint().await;
        let err = w
            .engine
            .approve_enrolment(&ROOT, pending.enrolment.id, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                ServiceError::Refused {
                    rule: Rule::OperatorSuspended,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("suspended"), "{err}");
        assert_eq!(w.footprint().await, before);
        w.db.raw_execute(&format!(
            "UPDATE operators SET status = 'active' WHERE id = {op}"
        ))
        .await
        .unwrap();
        // Active again, approval issues.
        let issued = w
            .engine
            .approve_enrolment(&ROOT, pending.enrolment.id, None)
            .await
            .unwrap()
            .value;
        assert_eq!(issued.enrolment.status, EnrolmentStatus::Issued);
        assert!(issued.certificate.is_some());
        // Rejecting an issued enrolment is a conflict.
        assert!(matches!(
            w.engine
                .reject_enrolment(&ROOT, pending.enrolment.id, None, None)
                .await,
            Err(ServiceError::Conflict { .. })
        ));
        // So is approving it again, even once its numbers are gone: the decision is
        // what conflicts, not today's coverage.
        w.engine
            .withdraw_assignment(&ROOT, reassigned.id, None)
            .await
            .unwrap();
        let err = w
            .engine
            .approve_enrolment(&ROOT, pending.enrolment.id, None)
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("not pending"), "{err}");
    })
    .await;
}
