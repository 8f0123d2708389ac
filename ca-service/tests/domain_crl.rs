//! The SHAKEN domain CRL (docs/profiles.md, "The domain CRL"): one signer per domain, its key
//! made once however many times it is asked for, its certificate installed once however many
//! times it is sent, a wrong certificate leaving nothing behind; one indirect CRL that lists
//! every revocation of the domain (operator, CA, and the root's own CRL) with its issuer, a
//! new cRLNumber each time and never two CRLs with one number.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use ca_core::profile::{Profile, SubjectName};
use ca_core::x509::Certificate;
use ca_service::{Engine, Rule, ServiceError};
use ca_store::testing::TestDatabase;
use ca_store::{CrlSignerStatus, DomainCrl};
use common::{csr, shaken_signer_name, sign_in_domain, World, ROOT};
use const_oid::db::rfc5280::ID_CE_CERTIFICATE_ISSUER;
use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

/// The (serial, certificateIssuer) pairs of a domain CRL, whose signature must verify.
fn entries(crl: &DomainCrl, signer: &Certificate) -> Vec<(Vec<u8>, Name)> {
    let list = CertificateList::from_der(&crl.der).unwrap();
    ca_core::verify::verify_signature(
        &list.signature_algorithm,
        &signer.tbs_certificate.subject_public_key_info,
        &der::Encode::to_der(&list.tbs_cert_list).unwrap(),
        list.signature.raw_bytes(),
        "domain CRL",
    )
    .unwrap();
    list.tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .into_iter()
        .map(|entry| {
            let ext = entry
                .crl_entry_extensions
                .unwrap()
                .into_iter()
                .find(|e| e.extn_id == ID_CE_CERTIFICATE_ISSUER)
                .expect("every entry names its issuer");
            assert!(ext.critical);
            let names = Vec::<GeneralName>::from_der(ext.extn_value.as_bytes()).unwrap();
            let [GeneralName::DirectoryName(issuer)] = names.as_slice() else {
                panic!("certificateIssuer {names:?}");
            };
            (entry.serial_number.as_bytes().to_vec(), issuer.clone())
        })
        .collect()
}

/// The latest domain CRL, which must exist.
async fn latest(w: &World) -> DomainCrl {
    w.engine
        .reader()
        .latest_domain_crl(w.root)
        .await
        .unwrap()
        .expect("a domain CRL")
}

fn subject_of(der: &[u8]) -> Name {
    Certificate::from_der(der).unwrap().tbs_certificate.subject
}

/// The signer's certificate from the root's ceremony, for the pending CSR.
async fn certify_signer(w: &World, subject: SubjectName) -> Vec<u8> {
    let pending = w.engine.request_crl_signer(&ROOT, w.root).await.unwrap();
    let pem = ca_core::x509::pem_encode("CERTIFICATE REQUEST", &pending.csr_der).unwrap();
    sign_in_domain(
        &w.root_key,
        &w.root_cert,
        &pem,
        Profile::CrlSigner,
        subject,
        None,
    )
}

/// A new signer certified by the root and installed: what installing answered, and the
/// certificate (DER).
async fn install_new_signer(w: &World) -> (ca_service::InstalledCrlSigner, Vec<u8>) {
    let der = certify_signer(w, signer_subject()).await;
    let installed = w
        .engine
        .install_crl_signer(&ROOT, w.root, &der)
        .await
        .unwrap();
    (installed, der)
}

fn signer_subject() -> SubjectName {
    SubjectName::new("Test SDO SHAKEN CRL Signer", Some("Test SDO"), Some("CH"))
        .unwrap()
        .with_serial_number("domain-crl-signer")
        .unwrap()
}

async fn each_backend(story: impl AsyncFn(World)) {
    for db in TestDatabase::all().await {
        eprintln!("--- {}", db.label());
        let db = Arc::new(db);
        story(World::shaken(db.clone()).await).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signer_one_key_however_often_asked() {
    each_backend(async |w| {
        // No signer yet: the domain CRL says what to do.
        let err = w.engine.publish_domain_crl(w.root).await.unwrap_err();
        assert!(err.to_string().contains("crl-signer-csr"), "{err}");

        let before = w.footprint().await;
        let root = w.root;
        let signers = eight_at_once(
            &w,
            |e| async move { e.request_crl_signer(&ROOT, root).await },
        )
        .await;
        let ids: Vec<_> = signers.iter().map(|s| s.as_ref().unwrap().id).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let signer = signers[0].as_ref().unwrap();
        assert_eq!(signer.status, CrlSignerStatus::Pending);
        // One key, one audit entry for it and one for the request.
        assert_eq!(w.footprint().await.audit, before.audit + 2);
        let csr = ca_core::csr::CheckedCsr::from_der(&signer.csr_der).unwrap();
        assert_eq!(csr.subject(), &shaken_signer_name());

        // A tsca-family authority has none.
        let err = w
            .engine
            .request_crl_signer(&ROOT, w.national)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Refused {
                    rule: Rule::ShakenRootOnly,
                    ..
                }
            ),
            "{err}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signer_certificate_leaves_nothing_behind() {
    each_backend(async |w| {
        let right = certify_signer(&w, signer_subject()).await;
        let wrong_name = certify_signer(
            &w,
            SubjectName::new("Someone Else SHAKEN", Some("Test SDO"), Some("CH"))
                .unwrap()
                .with_serial_number("x")
                .unwrap(),
        )
        .await;
        let (other_key, other_csr) = csr();
        drop(other_key);
        let wrong_key = sign_in_domain(
            &w.root_key,
            &w.root_cert,
            &other_csr,
            Profile::CrlSigner,
            signer_subject(),
            None,
        );
        // A CA certificate of the domain: keyCertSign, not cRLSign, and another key.
        let national = w.engine.reader().authority(w.national).await.unwrap();
        let before = w.footprint().await;
        for (der, says) in [
            (wrong_name, "not the signer name"),
            (wrong_key, "pending signer's key"),
            (national.certificate_der.unwrap(), "pending signer's key"),
        ] {
            let err = w
                .engine
                .install_crl_signer(&ROOT, w.root, &der)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ServiceError::Refused {
                        rule: Rule::CrlSignerDoesNotMatch,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains(says), "{err}");
            assert_eq!(w.footprint().await, before);
        }
        let signers = w.engine.crl_signers(&ROOT, w.root).await.unwrap();
        assert!(signers.active.is_none() && signers.pending.is_some());
        assert!(w
            .engine
            .reader()
            .latest_domain_crl(w.root)
            .await
            .unwrap()
            .is_none());

        // The right one, sent eight times at once: one install, one first CRL.
        let root = w.root;
        let installs = eight_at_once(&w, |e| {
            let right = right.clone();
            async move { e.install_crl_signer(&ROOT, root, &right).await }
        })
        .await;
        for installed in &installs {
            let installed = installed.as_ref().unwrap();
            assert_eq!(installed.signer.status, CrlSignerStatus::Active);
            // A replay answers with the CRL published so far (none while the first install
            // is still signing it).
            assert!(installed.crl.as_ref().is_none_or(|c| c.crl_number == 1));
        }
        assert_eq!(latest(&w).await.crl_number, 1);
        let after = w.footprint().await;
        // signer installed + domain CRL published.
        assert_eq!(after.audit, before.audit + 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domain_crl_lists_every_revocation_of_the_domain() {
    each_backend(async |w| {
        let (installed, signer_der) = install_new_signer(&w).await;
        let signer = Certificate::from_der(&signer_der).unwrap();
        let first = installed.crl.unwrap();
        assert!(entries(&first, &signer).is_empty());

        // An operator certificate, revoked by its operator: in the next CRL, issued by the
        // national CA.
        let (_, operator) = w.operator("Opérateur", "F0001").await;
        let (_, csr_pem) = csr();
        // The family has no short-lived certificates: refused, naming the API's field.
        let mut short = World::request(&csr_pem, &["spc:F0001"]);
        short.profile = Some("operator-short-lived".into());
        let err = w.engine.enrol(&operator, short, None).await.unwrap_err();
        assert!(
            matches!(err, ca_service::ServiceError::Invalid { field: "profile", ref detail } if detail.contains("short-lived")),
            "{err:?}"
        );
        let issued = w
            .engine
            .enrol(&operator, World::request(&csr_pem, &["spc:F0001"]), None)
            .await
            .unwrap()
            .value;
        let leaf = issued.certificate.unwrap();
        w.engine
            .revoke(
                &operator,
                &leaf.fingerprint().unwrap(),
                "keyCompromise",
                None,
            )
            .await
            .unwrap();
        let national = w.engine.reader().authority(w.national).await.unwrap();
        let crl = latest(&w).await;
        assert_eq!(crl.crl_number, 2);
        let listed = entries(&crl, &signer);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, leaf.serial.to_x509().unwrap().as_bytes());
        assert_eq!(
            listed[0].1,
            subject_of(national.certificate_der.as_deref().unwrap())
        );

        // Eight publications at once: eight numbers, none twice, each CRL complete.
        let root = w.root;
        let published =
            eight_at_once(&w, |e| async move { e.publish_domain_crl(root).await }).await;
        let mut numbers: Vec<i64> = published
            .iter()
            .map(|c| c.as_ref().unwrap().crl_number)
            .collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 8, "{numbers:?}");
        for crl in published {
            assert_eq!(entries(&crl.unwrap(), &signer).len(), 1);
        }

        // The national CA's certificate revoked by its (online) regional parent: listed
        // under the regional CA's name; the national CA retires.
        let regional = w.engine.reader().authority(w.regional).await.unwrap();
        let national_fp =
            ca_core::ident::Fingerprint::of_der(national.certificate_der.as_deref().unwrap());
        w.engine
            .revoke(&ROOT, &national_fp, "cACompromise", None)
            .await
            .unwrap();
        let crl = latest(&w).await;
        let listed = entries(&crl, &signer);
        assert_eq!(listed.len(), 2);
        assert!(
            listed
                .iter()
                .any(|(_, issuer)| *issuer
                    == subject_of(regional.certificate_der.as_deref().unwrap()))
        );

        // The root's ceremony revokes the regional CA: once its CRL is installed, the domain
        // CRL lists it under the root's name.
        let regional_cert =
            Certificate::from_der(regional.certificate_der.as_deref().unwrap()).unwrap();
        let now = std::time::SystemTime::from(ca_service::Clock::now(&w.clock));
        let root_crl = ca_core::crl::sign_crl(
            &w.root_cert,
            &w.root_key,
            1,
            now,
            now + std::time::Duration::from_secs(30 * 86_400),
            vec![ca_core::crl::RevokedEntry::new(
                regional_cert.tbs_certificate.serial_number.clone(),
                now,
                Some(ca_core::revocation::RevocationReason::CaCompromise),
            )],
        )
        .unwrap();
        w.engine
            .install_offline_crl(&ROOT, w.root, &root_crl)
            .await
            .unwrap();
        let crl = latest(&w).await;
        let listed = entries(&crl, &signer);
        assert_eq!(listed.len(), 3);
        assert!(listed.contains(&(
            regional_cert
                .tbs_certificate
                .serial_number
                .as_bytes()
                .to_vec(),
            w.root_cert.tbs_certificate.subject.clone()
        )));

        // Nothing changed: maintenance leaves a fresh CRL alone.
        let report = w.engine.maintain().await;
        assert_eq!(report.crls_published, 0, "{report:?}");
        let fresh = crl.crl_number;
        // A day later it signs again.
        w.clock
            .advance(std::time::Duration::from_secs(24 * 3600 + 60));
        let report = w.engine.maintain().await;
        assert!(report.crls_published >= 1, "{report:?}");
        let crl = latest(&w).await;
        assert!(crl.crl_number > fresh);
        assert_eq!(entries(&crl, &signer).len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_holds_one_shaken_domain() {
    each_backend(async |w| {
        let root = w.engine.reader().authority(w.root).await.unwrap();
        let before = w.footprint().await;
        let err = w
            .engine
            .register_root_in(
                &ROOT,
                "second",
                root.certificate_der.as_deref().unwrap(),
                root.family.clone(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("one SHAKEN domain"), "{err}");
        assert_eq!(w.footprint().await, before);
    })
    .await;
}

/// Eight calls of `call` at once, each on its own task; their answers in order.
async fn eight_at_once<T, F, Fut>(w: &World, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Engine) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(call(w.engine.clone())))
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// After a new signer is installed, the old one signs nothing more: its CRLs are refused by
/// the store (a publication that read it before the install builds again with the new one),
/// and maintenance sees a CRL of the old signer as due.
#[tokio::test]
async fn a_replaced_signer_signs_no_more() {
    each_backend(async |w| {
        let old = install_new_signer(&w).await.0.signer;
        let (installed, second) = install_new_signer(&w).await;
        assert_ne!(installed.signer.id, old.id);
        let latest = latest(&w).await;
        assert_eq!(latest.signer_id, installed.signer.id);
        entries(&latest, &Certificate::from_der(&second).unwrap());

        let stale = DomainCrl {
            crl_number: latest.crl_number + 1,
            signer_id: old.id,
            ..latest.clone()
        };
        let mut tx = w.store.begin(jiff::Timestamp::now()).await.unwrap();
        let err = tx
            .insert_domain_crl(&stale, &ca_store::Actor::system())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not the active signer"), "{err}");
    })
    .await;
}
