//! What the registry test suites share: a registry over a fresh test database with an
//! offline root and a root-admin token, request helpers, the root ceremony and operator CSRs.

// Each test file is its own crate and uses only part of this module.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ca_core::csr::{build_csr, CheckedCsr};
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_core::x509::Certificate;
use ca_service::{Engine, EngineConfig, KeyPassphrases, Principal, TokenRequest};
use ca_store::testing::TestDatabase;
use ca_store::{Store, TokenGrant};
use rand_core::OsRng;
use registry_api::{router, AppState, RegistryConfig};
use zeroize::Zeroizing;

/// The command line of a CA node, for what the tests set up outside the API.
pub const LOCAL: Principal = Principal::Local { command: "test" };
use serde_json::Value;
use tower::ServiceExt;

/// A registry over a fresh database with a registered offline root (whose key the test
/// keeps, to play the root ceremony) and a root-admin token.
pub struct Harness {
    /// The handlers' state (engine, store, settings).
    pub state: AppState,
    /// The offline root's key: it never enters the database.
    pub root_key: SoftwareKey,
    /// The offline root's certificate (authority 1).
    pub root_cert: Certificate,
    /// A root-admin token.
    pub admin: String,
    _db: TestDatabase,
}

/// The engine the tests run: the test passphrases, a fast key-derivation setting.
pub fn engine(store: Store) -> Engine {
    Engine::new(
        store,
        KeyPassphrases {
            ca: Some(Zeroizing::new(b"test passphrase".to_vec())),
            ocsp_responder: Some(Zeroizing::new(b"test responder passphrase".to_vec())),
        },
        EngineConfig {
            kdf_iterations: 1_000,
            ..EngineConfig::new("http://127.0.0.1:8080")
        },
    )
}

/// A token created outside the API (as `tsca bootstrap` or the quickstart would), and its
/// secret.
pub async fn token_for(engine: &Engine, grant: TokenGrant, label: &str) -> String {
    engine
        .create_token(
            &LOCAL,
            TokenRequest {
                grant,
                label: Some(label.into()),
                lifetime: None,
            },
            None,
        )
        .await
        .unwrap()
        .value
        .secret
        .unwrap()
        .expose()
        .to_owned()
}

/// [`harness_with`] the default settings.
pub async fn harness(db: TestDatabase) -> Harness {
    harness_with(db, RegistryConfig::default()).await
}

/// A registry over `db` with `config`.
pub async fn harness_with(db: TestDatabase, config: RegistryConfig) -> Harness {
    let engine = engine(Store::open(&db.url).await.unwrap());
    // The offline root: its key stays here, in the test, never in the database.
    let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let root = issue(
        &CertificateRequest {
            profile: Profile::Root,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("tsca Test Root", Some("Test SDO"), Some("CH")).unwrap(),
            public_key: root_key.public_key().clone(),
            scope: None,
            not_before: SystemTime::now() - Duration::from_secs(60),
            validity: None,
        },
        Issuer::SelfSigned,
        &root_key,
        &mut OsRng,
    )
    .unwrap();
    engine
        .register_root(&LOCAL, "root", root.der())
        .await
        .unwrap();
    let secret = token_for(&engine, TokenGrant::RootAdmin, "test root admin").await;
    let state = AppState::new(engine, config).await.unwrap();
    Harness {
        state,
        root_key,
        root_cert: root.certificate().clone(),
        admin: secret,
        _db: db,
    }
}

impl Harness {
    /// One JSON request (or none) through the router; the answer's status and JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes, _) = self
            .raw(
                method,
                path,
                token,
                body.map(|b| ("application/json", b.to_string())),
                &[],
            )
            .await;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// One request with any body and headers; the answer's status, bytes and headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = match body {
            Some((content_type, text)) => request
                .header("content-type", content_type)
                .body(Body::from(text))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
            .await
            .unwrap()
            .to_vec();
        (status, bytes, headers)
    }

    /// The offline ceremony: the root key signs a sub-CA CSR.
    /// A CRL of the offline root, signed in its "ceremony", listing nothing (PEM).
    pub fn root_crl_pem(&self, number: u64) -> String {
        let now = SystemTime::now();
        let der = ca_core::crl::sign_crl(
            &self.root_cert,
            &self.root_key,
            number,
            now,
            now + Duration::from_secs(86_400),
            Vec::<ca_core::crl::RevokedEntry>::new(),
        )
        .unwrap();
        ca_core::x509::pem_encode("X509 CRL", &der).unwrap()
    }

    pub fn sign_with_root(
        &self,
        csr_pem: &str,
        scope: &[&str],
        profile: Profile,
        cn: &str,
    ) -> String {
        let csr = CheckedCsr::from_pem(csr_pem.as_bytes()).unwrap();
        let root = IssuingAuthority::new(
            self.root_cert.clone(),
            Publication {
                crl_url: None,
                ocsp_url: None,
                ca_issuers_url: None,
            },
        )
        .unwrap();
        let cert = issue(
            &CertificateRequest {
                profile,
                family: ca_core::profile::ProfileFamily::Tsca,
                subject: SubjectName::new(cn, Some("Test Region"), Some("BE")).unwrap(),
                public_key: csr.public_key().clone(),
                scope: Some(NumberingScope::parse(scope.iter().copied()).unwrap()),
                not_before: SystemTime::now() - Duration::from_secs(60),
                validity: None,
            },
            Issuer::Authority(&root),
            &self.root_key,
            &mut OsRng,
        )
        .unwrap();
        cert.to_pem().unwrap()
    }
}

/// A fresh P-256 key and its CSR (PEM); the subject is ignored by enrolment.
pub fn operator_csr() -> (SoftwareKey, String) {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let der = build_csr(&SubjectName::new("ignored", None, None).unwrap(), &key).unwrap();
    (
        key,
        ca_core::x509::pem_encode("CERTIFICATE REQUEST", &der).unwrap(),
    )
}
