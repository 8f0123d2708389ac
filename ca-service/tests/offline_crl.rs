//! The root's CRL, signed offline and installed through the gateway (docs/operations.md §1): it
//! is stored once however many times it is sent, a CRL the root did not sign (or an old or
//! expired one) leaves nothing behind, and a CRL listing a sub-CA retires it with everything
//! below it. An online revocation of a CA certificate retires that CA the same way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use ca_core::crl::{sign_crl, RevokedEntry};
use ca_core::keys::SoftwareKey;
use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use ca_service::{AuthorityRequest, Rule, ServiceError, SubjectFields};
use ca_store::{ApprovalPolicy, AuthorityId, AuthorityStatus, Tier};
use common::{on_every_backend, scope, World, ROOT};

/// A CRL for the root, signed with `key`, listing `revoked` (serials of certificates).
fn root_crl(
    w: &World,
    key: &SoftwareKey,
    number: u64,
    this_update: SystemTime,
    revoked: &[&Certificate],
) -> Vec<u8> {
    let entries = revoked.iter().map(|c| {
        RevokedEntry::new(
            c.tbs_certificate.serial_number.clone(),
            this_update,
            Some(RevocationReason::CaCompromise),
        )
    });
    sign_crl(
        &w.root_cert,
        key,
        number,
        this_update,
        this_update + Duration::from_secs(30 * 86_400),
        entries.collect::<Vec<_>>(),
    )
    .unwrap()
}

fn status_of(authorities: &[ca_store::Authority], id: AuthorityId) -> AuthorityStatus {
    authorities.iter().find(|a| a.id == id).unwrap().status
}

async fn certificate_of(w: &World, id: AuthorityId) -> Certificate {
    let der = w
        .engine
        .reader()
        .authority(id)
        .await
        .unwrap()
        .certificate_der;
    Certificate::from_der(&der.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn twenty_installs_of_one_root_crl_store_it_once() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let der = root_crl(&w, &w.root_key, 1, SystemTime::now(), &[]);
        let before = w.footprint().await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (engine, der) = (w.engine.clone(), der.clone());
            let root = w.root;
            tasks.push(tokio::spawn(async move {
                engine.install_offline_crl(&ROOT, root, &der).await
            }));
        }
        for task in tasks {
            let installed = task.await.unwrap().unwrap();
            assert_eq!(installed.crl.crl_number, 1);
            assert!(installed.retired.is_empty());
        }
        assert_eq!(
            w.footprint().await.audit,
            before.audit + 1,
            "one crl.published"
        );
        let latest = w.engine.reader().latest_crl(w.root).await.unwrap().unwrap();
        assert_eq!(latest.der, der);
        let repository = ca_service::Repository::new(w.engine.reader().clone());
        let served = repository.crl("root").await.unwrap();
        assert_eq!(served.der, der, "served at /crl/root.crl");
        // With the database gone, the CRL and the root's certificate read before are still
        // served (docs/operations.md, "When the database is gone"); a CRL never read is not.
        let root_der = repository.ca_certificate("root").await.unwrap();
        w.store.close().await;
        assert_eq!(repository.crl("root").await.unwrap().der, der);
        assert_eq!(repository.ca_certificate("root").await.unwrap(), root_der);
        let never_read = repository.crl("europe").await.unwrap_err();
        assert!(
            matches!(never_read, ca_service::ServiceError::Unavailable { .. }),
            "{never_read}"
        );
    })
    .await;
}

#[tokio::test]
async fn refused_root_crls_leave_nothing_behind() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let now = SystemTime::now();
        let first = root_crl(&w, &w.root_key, 5, now, &[]);
        w.engine
            .install_offline_crl(&ROOT, w.root, &first)
            .await
            .unwrap();
        let regional = certificate_of(&w, w.regional).await;
        let before = w.footprint().await;
        let day = Duration::from_secs(86_400);
        let refusals: [(&str, Vec<u8>); 3] = [
            ("not signed by root", {
                // The root's name and key identifier, a signature that does not verify.
                let mut der = root_crl(&w, &w.root_key, 6, now, &[&regional]);
                let last = der.len() - 1;
                der[last] ^= 0x01;
                der
            }),
            (
                "is not newer than the installed cRLNumber 5",
                root_crl(
                    &w,
                    &w.root_key,
                    5,
                    now + Duration::from_secs(1),
                    &[&regional],
                ),
            ),
            (
                "has passed",
                root_crl_expired(&w, now - 40 * day, &regional),
            ),
        ];
        for (expected, der) in refusals {
            match w.engine.install_offline_crl(&ROOT, w.root, &der).await {
                Err(ServiceError::Refused { rule, detail, .. }) => {
                    assert_eq!(rule, Rule::CrlDoesNotMatch);
                    assert!(detail.contains(expected), "{expected}: {detail}");
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        assert!(matches!(
            w.engine
                .install_offline_crl(&ROOT, w.root, b"not a CRL")
                .await,
            Err(ServiceError::Invalid { field: "body", .. })
        ));
        // An online authority publishes its own CRLs.
        let national_crl = w.engine.publish_crl(w.national).await.unwrap();
        match w
            .engine
            .install_offline_crl(&ROOT, w.national, &national_crl.der)
            .await
        {
            Err(ServiceError::Refused { rule, detail, .. }) => {
                assert_eq!(rule, Rule::CrlDoesNotMatch);
                assert!(detail.contains("signs its own CRLs"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let after = w.footprint().await;
        assert_eq!(after.authorities, before.authorities);
        assert_eq!(
            after.audit,
            before.audit + 1,
            "only the national CA's own CRL"
        );
        let authorities = w.engine.reader().authorities().await.unwrap();
        assert_eq!(status_of(&authorities, w.regional), AuthorityStatus::Active);
        let latest = w.engine.reader().latest_crl(w.root).await.unwrap().unwrap();
        assert_eq!(latest.crl_number, 5);
    })
    .await;
}

fn root_crl_expired(w: &World, this_update: SystemTime, listed: &Certificate) -> Vec<u8> {
    let entry = RevokedEntry::new(
        listed.tbs_certificate.serial_number.clone(),
        this_update,
        None,
    );
    sign_crl(
        &w.root_cert,
        &w.root_key,
        7,
        this_update,
        this_update + Duration::from_secs(86_400),
        [entry],
    )
    .unwrap()
}

#[tokio::test]
async fn a_root_crl_listing_the_regional_ca_retires_it_and_everything_below() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (op, who) = w.operator("Late Telecom", "F0777").await;
        w.assign(op, "prefix:3377").await;
        let regional = certificate_of(&w, w.regional).await;
        let der = root_crl(&w, &w.root_key, 1, SystemTime::now(), &[&regional]);
        let installed = w
            .engine
            .install_offline_crl(&ROOT, w.root, &der)
            .await
            .unwrap();
        assert_eq!(installed.retired, vec![w.regional, w.national]);
        let authorities = w.engine.reader().authorities().await.unwrap();
        assert_eq!(
            status_of(&authorities, w.regional),
            AuthorityStatus::Retired
        );
        assert_eq!(
            status_of(&authorities, w.national),
            AuthorityStatus::Retired
        );
        // Neither issues again: no CA under the regional one, no operator certificate.
        let refused = w
            .engine
            .create_authority(&ROOT, national_request("germany", w.regional), None)
            .await;
        assert!(
            matches!(
                refused,
                Err(ServiceError::Refused {
                    rule: Rule::ParentNotActive,
                    ..
                })
            ),
            "{refused:?}"
        );
        let enrolled = w
            .engine
            .enrol(
                &who,
                World::request(&common::csr().1, &["prefix:3377"]),
                None,
            )
            .await;
        assert!(enrolled.is_err(), "a retired CA issued: {enrolled:?}");
        // The retired CAs' CRLs stay fresh: maintenance still publishes them.
        let national_crl = w.engine.publish_crl(w.national).await.unwrap();
        assert!(national_crl.crl_number >= 1);
    })
    .await;
}

#[tokio::test]
async fn revoking_a_ca_certificate_online_retires_that_ca() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let national = certificate_of(&w, w.national).await;
        let fingerprint = ca_core::ident::Fingerprint::of_der(&national.to_der().unwrap());
        w.engine
            .revoke(&ROOT, &fingerprint, "cACompromise", None)
            .await
            .unwrap();
        let authorities = w.engine.reader().authorities().await.unwrap();
        assert_eq!(
            status_of(&authorities, w.national),
            AuthorityStatus::Retired
        );
        assert_eq!(status_of(&authorities, w.regional), AuthorityStatus::Active);
        let regional_crl = w.engine.publish_crl(w.regional).await.unwrap();
        let listed = ca_core::crl::parse_crl(&regional_crl.der).unwrap();
        assert_eq!(
            listed.len(),
            1,
            "the regional CA's CRL lists the national CA"
        );
    })
    .await;
}

fn national_request(name: &str, parent: AuthorityId) -> AuthorityRequest {
    AuthorityRequest {
        name: name.into(),
        tier: Tier::National,
        parent_id: parent,
        scope: scope(&["prefix:49"]),
        subject: SubjectFields {
            common_name: "Engine Test National 2".into(),
            organization: Some("Test Regulator".into()),
            country: Some("DE".into()),
        },
        approval: ApprovalPolicy::WithinAssignments,
    }
}
