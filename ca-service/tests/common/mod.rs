//! The world the engine's story tests share: a fresh database (SQLite always, PostgreSQL
//! when TSCA_TEST_DATABASE_URL is set), an offline root whose key the test keeps, a regional
//! CA signed by it, a national CA that approves within assignments, and an engine on a
//! manual clock.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca_core::csr::build_csr;
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::profile::{Profile, ProfileFamily, Publication, SubjectName};
use ca_core::shaken::{ShakenDomain, SHAKEN_CP_V1_4};
use ca_core::x509::Certificate;
use ca_service::{
    AssignRequest, AuthorityRequest, Engine, EngineConfig, EnrolRequest, KeyPassphrases,
    ManualClock, OperatorRequest, OsEntropy, Principal, SubjectFields,
};
use ca_store::testing::TestDatabase;
use ca_store::{ApprovalPolicy, AuthorityId, OperatorId, Store, Tier};
use jiff::Timestamp;
use rand_core::OsRng;
use zeroize::Zeroizing;

pub const ROOT: Principal = Principal::Local { command: "test" };

/// An engine on `store` with the test passphrases, a fast KDF and `clock`.
pub fn engine_on(store: Store, clock: &ManualClock) -> Engine {
    engine_with(store, clock, test_config())
}

/// The tests' engine configuration: a fast KDF, a short wait for in-progress keys.
pub fn test_config() -> EngineConfig {
    EngineConfig {
        kdf_iterations: 1_000,
        in_progress_wait: Duration::from_secs(3),
        ..EngineConfig::new("http://127.0.0.1:8080")
    }
}

/// An engine on `store` with the test passphrases, `config` and `clock`.
pub fn engine_with(store: Store, clock: &ManualClock, config: EngineConfig) -> Engine {
    Engine::with_clock(
        store,
        KeyPassphrases {
            ca: Some(Zeroizing::new(b"ca passphrase for tests".to_vec())),
            ocsp_responder: Some(Zeroizing::new(b"responder passphrase for tests".to_vec())),
        },
        config,
        Arc::new(clock.clone()),
        Arc::new(OsEntropy),
    )
}

/// The current time in whole seconds.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap()
}

pub struct World {
    pub engine: Engine,
    pub clock: ManualClock,
    pub store: Store,
    pub root_key: SoftwareKey,
    pub root_cert: Certificate,
    pub root: AuthorityId,
    pub regional: AuthorityId,
    pub national: AuthorityId,
    /// Shared with `on_every_backend`, which keeps the database until the story ends (a story
    /// closure that uses only some fields of its world would otherwise drop the database with
    /// the unused ones before the story runs).
    pub db: Arc<TestDatabase>,
}

pub fn scope(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| (*e).to_owned()).collect()
}

/// A fresh P-256 key and its CSR (PEM).
pub fn csr() -> (SoftwareKey, String) {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let pem = csr_of(&key);
    (key, pem)
}

/// The CSR (PEM) of a key.
pub fn csr_of(key: &SoftwareKey) -> String {
    let der = build_csr(&SubjectName::new("ignored", None, None).unwrap(), key).unwrap();
    ca_core::x509::pem_encode("CERTIFICATE REQUEST", &der).unwrap()
}

impl World {
    /// The world on `db`, with the national CA approving `approval`.
    pub async fn new(db: Arc<TestDatabase>, approval: ApprovalPolicy) -> World {
        Self::build(db, approval, false).await
    }

    /// The same world in the SHAKEN family (docs/profiles.md): P-256 CAs whose certificates
    /// point at the domain CRL, signed by the signer named [`shaken_signer_name`].
    pub async fn shaken(db: Arc<TestDatabase>) -> World {
        Self::build(db, ApprovalPolicy::WithinAssignments, true).await
    }

    async fn build(db: Arc<TestDatabase>, approval: ApprovalPolicy, shaken: bool) -> World {
        let store = Store::open(&db.url).await.unwrap();
        let clock = ManualClock::at(now());
        let engine = engine_on(store.clone(), &clock);
        let (algorithm, family, word) = if shaken {
            (KeyAlgorithm::EcdsaP256, shaken_family(), " SHAKEN")
        } else {
            (KeyAlgorithm::EcdsaP384, ProfileFamily::Tsca, "")
        };
        let root_key = SoftwareKey::generate(algorithm).unwrap();
        let root = issue(
            &CertificateRequest {
                profile: Profile::Root,
                family: family.clone(),
                subject: SubjectName::new(
                    if shaken {
                        "Engine Test SHAKEN ROOT"
                    } else {
                        "Engine Test Root"
                    },
                    Some("Test SDO"),
                    Some("CH"),
                )
                .and_then(|s| {
                    if shaken {
                        s.with_serial_number("root")
                    } else {
                        Ok(s)
                    }
                })
                .unwrap(),
                public_key: root_key.public_key().clone(),
                scope: None,
                not_before: SystemTime::now() - Duration::from_secs(3600),
                validity: None,
            },
            Issuer::SelfSigned,
            &root_key,
            &mut OsRng,
        )
        .unwrap();
        let authority_family = match &family {
            ProfileFamily::Tsca => ca_store::AuthorityFamily::Tsca,
            ProfileFamily::Shaken(_) => ca_store::AuthorityFamily::Shaken {
                policy: SHAKEN_CP_V1_4.into(),
                crl_issuer_der: der::Encode::to_der(&shaken_signer_name()).unwrap(),
            },
        };
        let root_id = engine
            .register_root_in(&ROOT, "root", root.der(), authority_family)
            .await
            .unwrap()
            .id;
        let regional_scope = ["prefix:33", "prefix:44", "mcc:208", "spc:*"];
        let created = engine
            .create_authority(
                &ROOT,
                AuthorityRequest {
                    name: "europe".into(),
                    tier: Tier::Regional,
                    parent_id: root_id,
                    scope: scope(&regional_scope),
                    subject: SubjectFields {
                        common_name: format!("Engine Test{word} Regional"),
                        organization: Some("Test Region".into()),
                        country: Some("BE".into()),
                    },
                    approval: ApprovalPolicy::Manual,
                },
                None,
            )
            .await
            .unwrap()
            .value;
        let csr_pem = created.csr_pem.expect("the root is offline: a CSR");
        let signed = if shaken {
            sign_in_domain(
                &root_key,
                root.certificate(),
                &csr_pem,
                Profile::RegionalCa,
                {
                    SubjectName::new(
                        "Engine Test SHAKEN Regional",
                        Some("Test Region"),
                        Some("BE"),
                    )
                    .unwrap()
                    .with_serial_number("europe")
                    .unwrap()
                },
                Some(&regional_scope),
            )
        } else {
            sign_with_root(&root_key, root.certificate(), &csr_pem, &regional_scope)
        };
        let regional = engine
            .install_authority_certificate(&ROOT, created.authority.id, &signed)
            .await
            .unwrap()
            .id;
        let national = engine
            .create_authority(
                &ROOT,
                AuthorityRequest {
                    name: "france".into(),
                    tier: Tier::National,
                    parent_id: regional,
                    scope: scope(&["prefix:33", "mcc:208", "spc:*"]),
                    subject: SubjectFields {
                        common_name: format!("Engine Test{word} National"),
                        organization: Some("Test Regulator".into()),
                        country: Some("FR".into()),
                    },
                    approval,
                },
                None,
            )
            .await
            .unwrap()
            .value
            .authority
            .id;
        World {
            engine,
            clock,
            store,
            root_key,
            root_cert: root.certificate().clone(),
            root: root_id,
            regional,
            national,
            db,
        }
    }

    /// A new operator under the national CA holding the SPC `spc`, and the principal of its
    /// first token.
    pub async fn operator(&self, name: &str, spc: &str) -> (OperatorId, Principal) {
        let created = self
            .engine
            .create_operator(
                &ROOT,
                OperatorRequest {
                    authority_id: self.national,
                    name: name.into(),
                    country: "FR".into(),
                },
                None,
            )
            .await
            .unwrap()
            .value;
        let secret = created.token.secret.expect("a fresh token has its secret");
        let principal = self
            .engine
            .authenticate(secret.expose())
            .await
            .unwrap()
            .expect("the new token authenticates");
        // Its SPC, as every operator needs before it enrols.
        self.assign(created.operator.id, &format!("spc:{spc}"))
            .await;
        (created.operator.id, principal)
    }

    /// Assigns `resource` to `operator`, open-ended from now.
    pub async fn assign(&self, operator: OperatorId, resource: &str) -> ca_store::Assignment {
        self.engine
            .assign(
                &ROOT,
                AssignRequest {
                    operator_id: operator,
                    resource: resource.into(),
                    valid_from: None,
                    valid_to: None,
                    ported_from: None,
                },
                None,
            )
            .await
            .unwrap()
            .value
            .assignment
    }

    /// The operator's assignment of `resource` (text form), which must exist.
    pub async fn assignment_of(
        &self,
        operator: OperatorId,
        resource: &str,
    ) -> ca_store::Assignment {
        self.engine
            .reader()
            .operator_assignments(operator)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.resource.to_string() == resource)
            .unwrap_or_else(|| panic!("operator {operator} holds no {resource}"))
    }

    /// An enrolment request for `entries` with a CSR.
    pub fn request(csr_pem: &str, entries: &[&str]) -> EnrolRequest {
        EnrolRequest {
            csr_pem: csr_pem.to_owned(),
            scope: scope(entries),
            profile: None,
        }
    }

    /// Counts of what a refused operation must not leave behind.
    pub async fn footprint(&self) -> Footprint {
        let reader = self.engine.reader();
        Footprint {
            audit: reader.audit_head_seq().await.unwrap(),
            authorities: reader.authorities().await.unwrap().len(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Footprint {
    pub audit: i64,
    pub authorities: usize,
}

/// The offline ceremony: the root key signs a sub-CA CSR.
pub fn sign_with_root(
    key: &SoftwareKey,
    root: &Certificate,
    csr_pem: &str,
    entries: &[&str],
) -> Vec<u8> {
    let csr = ca_core::csr::CheckedCsr::from_pem(csr_pem.as_bytes()).unwrap();
    let issuing = IssuingAuthority::new(
        root.clone(),
        Publication {
            crl_url: Some("http://127.0.0.1:8080/crl/root.crl".into()),
            ocsp_url: None,
            ca_issuers_url: None,
        },
    )
    .unwrap();
    ceremony_issue(
        &issuing,
        key,
        CertificateRequest {
            profile: Profile::RegionalCa,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("Engine Test Regional", Some("Test Region"), Some("BE"))
                .unwrap(),
            public_key: csr.public_key().clone(),
            scope: Some(NumberingScope::parse(entries.iter().copied()).unwrap()),
            not_before: SystemTime::now() - Duration::from_secs(3600),
            validity: None,
        },
    )
}

/// The root key signs `request` as `issuing`: the DER certificate.
fn ceremony_issue(
    issuing: &IssuingAuthority,
    key: &SoftwareKey,
    request: CertificateRequest,
) -> Vec<u8> {
    issue(&request, Issuer::Authority(issuing), key, &mut OsRng)
        .unwrap()
        .der()
        .to_vec()
}

/// The SHAKEN trust domain of [`World::shaken`].
pub fn shaken_family() -> ProfileFamily {
    ProfileFamily::Shaken(
        ShakenDomain::new(
            SHAKEN_CP_V1_4,
            "http://127.0.0.1:8080/crl/domain.crl",
            shaken_signer_name(),
        )
        .unwrap(),
    )
}

/// The domain CRL signer's name in [`World::shaken`].
pub fn shaken_signer_name() -> x509_cert::name::Name {
    SubjectName::new("Test SDO SHAKEN CRL Signer", Some("Test SDO"), Some("CH"))
        .unwrap()
        .with_serial_number("domain-crl-signer")
        .unwrap()
        .to_name()
        .unwrap()
}

/// The SHAKEN root's ceremony: the root key certifies a CSR's key with `profile`.
pub fn sign_in_domain(
    key: &SoftwareKey,
    root: &Certificate,
    csr_pem: &str,
    profile: Profile,
    subject: SubjectName,
    scope: Option<&[&str]>,
) -> Vec<u8> {
    let csr = ca_core::csr::CheckedCsr::from_pem(csr_pem.as_bytes()).unwrap();
    let ProfileFamily::Shaken(domain) = shaken_family() else {
        unreachable!()
    };
    let issuing = IssuingAuthority::in_domain(
        root.clone(),
        domain,
        ca_core::numbering::ScopeConstraint::Unconstrained,
    )
    .unwrap();
    ceremony_issue(
        &issuing,
        key,
        CertificateRequest {
            profile,
            family: shaken_family(),
            subject,
            public_key: csr.public_key().clone(),
            scope: scope.map(|entries| NumberingScope::parse(entries.iter().copied()).unwrap()),
            not_before: SystemTime::now() - Duration::from_secs(3600),
            validity: None,
        },
    )
}

/// Runs `story` on every configured backend.
pub async fn on_every_backend<F, Fut>(approval: ApprovalPolicy, story: F)
where
    F: Fn(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDatabase::all().await {
        let label = db.label();
        eprintln!("--- {label}");
        let db = Arc::new(db);
        story(World::new(db.clone(), approval).await).await;
        drop(db);
    }
}
