//! A CA node killed with SIGKILL during 200 enrolments, on PostgreSQL, while a second node
//! keeps running (it is never restarted). Within 60 s the survivor must have reconciled
//! everything the dead node left: no reservation still reserved, every abandoned serial
//! revoked and on its CA's CRL and answered "revoked" by OCSP (checked with `openssl ocsp`),
//! no enrolment stuck, the audit chain intact (`tsca audit verify`). Every client whose
//! request died with the node retries with the same Idempotency-Key against the survivor and
//! gets its certificate; nothing acknowledged is lost, nothing is issued twice.
//!
//! Runs when TSCA_TEST_DATABASE_URL is set (CI's PostgreSQL step); it creates and drops its
//! own database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ca_core::csr::build_csr;
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_service::{
    AssignRequest, AuthorityRequest, Engine, EngineConfig, KeyPassphrases, OperatorRequest,
    Principal, SubjectFields,
};
use ca_store::testing::TestDatabase;
use ca_store::{
    ApprovalPolicy, CertificateFilter, CertificateStatus, EnrolmentStatus, Store, Tier,
};
use rand_core::OsRng;
use zeroize::Zeroizing;

const ENROLMENTS: usize = 200;
const IN_FLIGHT: usize = 16;
const CA_PASSPHRASE: &str = "crash test CA passphrase";
const RESPONDER_PASSPHRASE: &str = "crash test responder passphrase";
const LOCAL: Principal = Principal::Local {
    command: "crash-test",
};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    child: Child,
    registry: u16,
    publication: u16,
}

impl Node {
    fn start(dir: &std::path::Path, name: &str, url: &str, base_url: &str) -> Node {
        let (registry, publication) = (free_port(), free_port());
        let config = format!(
            "[database]\nurl = \"{url}\"\n\n[keys]\npassphrase_file = \"{d}/ca-passphrase\"\n\
             responder_passphrase_file = \"{d}/responder-passphrase\"\n\n\
             [registry]\nlisten = \"127.0.0.1:{registry}\"\nplain_http = true\nrate_limit_per_second = 100000.0\n\n\
             [publication]\nlisten = \"127.0.0.1:{publication}\"\nbase_url = \"{base_url}\"\n",
            d = dir.display()
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tsca"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("TSCA_LOG", "warn")
            .env_remove("TSCA_KEY_PASSPHRASE")
            .env_remove("TSCA_RESPONDER_KEY_PASSPHRASE")
            .env_remove("TSCA_DATABASE_URL")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Node {
            child,
            registry,
            publication,
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let url = format!("http://127.0.0.1:{}/readyz", self.registry);
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "a node never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The hierarchy, set up in-process through the gateway: offline root, regional CA signed by
/// it, a national CA approving within assignments, an operator with a range. Returns the
/// operator's token and the national CA's certificate (PEM).
async fn hierarchy(url: &str, base_url: &str) -> (String, String) {
    let engine = Engine::new(
        Store::open(url).await.unwrap(),
        KeyPassphrases {
            ca: Some(Zeroizing::new(CA_PASSPHRASE.as_bytes().to_vec())),
            ocsp_responder: Some(Zeroizing::new(RESPONDER_PASSPHRASE.as_bytes().to_vec())),
        },
        EngineConfig {
            kdf_iterations: 1_000,
            ..EngineConfig::new(base_url)
        },
    );
    let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let root = issue(
        &CertificateRequest {
            profile: Profile::Root,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("Crash Test Root", Some("Test SDO"), Some("CH")).unwrap(),
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
    let root_id = engine
        .register_root(&LOCAL, "root", root.der())
        .await
        .unwrap()
        .id;
    let scope = ["prefix:33", "spc:*"];
    let subject = |cn: &str, c: &str| SubjectFields {
        common_name: cn.into(),
        organization: Some("Crash Test".into()),
        country: Some(c.into()),
    };
    let regional = engine
        .create_authority(
            &LOCAL,
            AuthorityRequest {
                name: "europe".into(),
                tier: Tier::Regional,
                parent_id: root_id,
                scope: scope.iter().map(|s| (*s).to_owned()).collect(),
                subject: subject("Crash Test Regional", "BE"),
                approval: ApprovalPolicy::Manual,
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let csr = ca_core::csr::CheckedCsr::from_pem(regional.csr_pem.unwrap().as_bytes()).unwrap();
    let signed = issue(
        &CertificateRequest {
            profile: Profile::RegionalCa,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("Crash Test Regional", Some("Crash Test"), Some("BE"))
                .unwrap(),
            public_key: csr.public_key().clone(),
            scope: Some(NumberingScope::parse(scope).unwrap()),
            not_before: SystemTime::now() - Duration::from_secs(3600),
            validity: None,
        },
        Issuer::Authority(
            &IssuingAuthority::new(
                root.certificate().clone(),
                Publication {
                    crl_url: None,
                    ocsp_url: None,
                    ca_issuers_url: None,
                },
            )
            .unwrap(),
        ),
        &root_key,
        &mut OsRng,
    )
    .unwrap();
    engine
        .install_authority_certificate(&LOCAL, regional.authority.id, signed.der())
        .await
        .unwrap();
    let national = engine
        .create_authority(
            &LOCAL,
            AuthorityRequest {
                name: "france".into(),
                tier: Tier::National,
                parent_id: regional.authority.id,
                scope: vec!["prefix:33".into(), "spc:*".into()],
                subject: subject("Crash Test National", "FR"),
                approval: ApprovalPolicy::WithinAssignments,
            },
            None,
        )
        .await
        .unwrap()
        .value
        .authority;
    let operator = engine
        .create_operator(
            &LOCAL,
            OperatorRequest {
                authority_id: national.id,
                name: "Crash Telecom".into(),
                country: "FR".into(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    for resource in ["range:33612340000+10000", "spc:F0666"] {
        engine
            .assign(
                &LOCAL,
                AssignRequest {
                    operator_id: operator.operator.id,
                    resource: resource.into(),
                    valid_from: None,
                    valid_to: None,
                    ported_from: None,
                },
                None,
            )
            .await
            .unwrap();
    }
    engine.close().await;
    (
        operator.token.secret.unwrap().expose().to_owned(),
        ca_core::x509::pem_encode("CERTIFICATE", national.certificate_der.as_deref().unwrap())
            .unwrap(),
    )
}

/// One enrolment request: its Idempotency-Key and body.
struct Request {
    key: String,
    body: serde_json::Value,
}

/// What a node answered: the certificate's fingerprint, that the client must retry (an
/// earlier request with the key still running, or an unknown outcome), or nothing (dead).
enum Outcome {
    Issued(String),
    Retry,
    Dead,
}

async fn send(http: &reqwest::Client, port: u16, token: &str, request: &Request) -> Outcome {
    let answer = http
        .post(format!("http://127.0.0.1:{port}/v1/enrolments"))
        .bearer_auth(token)
        .header("idempotency-key", &request.key)
        .json(&request.body)
        .send()
        .await;
    let Ok(answer) = answer else {
        return Outcome::Dead;
    };
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    match status.as_u16() {
        201 => Outcome::Issued(
            body["certificate"]["fingerprint"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        // Still running (an earlier request with this key), or the outcome is unknown: the
        // answer says to retry with the same key.
        409 | 503 => Outcome::Retry,
        other => panic!("unexpected {other}: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ca_node_killed_during_enrolments_loses_nothing() {
    let Ok(admin) = std::env::var(ca_store::testing::PG_ENV) else {
        eprintln!("skipped: {} not set", ca_store::testing::PG_ENV);
        return;
    };
    let db = TestDatabase::postgres(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca-passphrase"), CA_PASSPHRASE).unwrap();
    std::fs::write(
        dir.path().join("responder-passphrase"),
        RESPONDER_PASSPHRASE,
    )
    .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // The publication base URL written into certificates (not fetched here).
    let base_url = "http://127.0.0.1:9";
    let (token, national_pem) = hierarchy(&db.url, base_url).await;
    let mut victim = Node::start(dir.path(), "victim", &db.url, base_url);
    let survivor = Node::start(dir.path(), "survivor", &db.url, base_url);
    victim.wait_ready(&http).await;
    survivor.wait_ready(&http).await;

    let requests: Arc<Vec<Request>> = Arc::new(
        (0..ENROLMENTS)
            .map(|i| {
                let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
                let csr = build_csr(&SubjectName::new("crash", None, None).unwrap(), &key).unwrap();
                Request {
                    key: format!("crash-{i}"),
                    body: serde_json::json!({
                        "csr": ca_core::x509::pem_encode("CERTIFICATE REQUEST", &csr).unwrap(),
                        "scope": [format!("number:3361234{i:04}")],
                    }),
                }
            })
            .collect(),
    );

    // Phase 1: the victim serves, IN_FLIGHT at a time, until it is killed mid-stream.
    let issued_before_kill = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let mut answered: BTreeMap<usize, String> = BTreeMap::new();
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (http, token, requests, next, issued) = (
            http.clone(),
            token.clone(),
            requests.clone(),
            next.clone(),
            issued_before_kill.clone(),
        );
        let port = victim.registry;
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= ENROLMENTS {
                    return mine;
                }
                loop {
                    match send(&http, port, &token, &requests[i]).await {
                        Outcome::Issued(fp) => {
                            issued.fetch_add(1, Ordering::SeqCst);
                            mine.push((i, fp));
                            break;
                        }
                        Outcome::Retry => tokio::time::sleep(Duration::from_millis(100)).await,
                        // Dead: leave the rest of the queue to phase 2.
                        Outcome::Dead => return mine,
                    }
                }
            }
        }));
    }
    while issued_before_kill.load(Ordering::SeqCst) < 60 {
        // A worker that stopped (a panic on an unexpected answer) is reported by the join.
        if workers.iter().any(|w| w.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    victim.kill();
    let killed_at = Instant::now();
    for worker in workers {
        answered.extend(worker.await.unwrap());
    }
    eprintln!("{} enrolments acknowledged before the kill", answered.len());

    // Phase 2: every client without an answer retries with its key against the survivor.
    let deadline = killed_at + Duration::from_secs(120);
    let mut pending: BTreeSet<usize> = (0..ENROLMENTS)
        .filter(|i| !answered.contains_key(i))
        .collect();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} enrolments never answered",
            pending.len()
        );
        let mut still = BTreeSet::new();
        for &i in &pending {
            match send(&http, survivor.registry, &token, &requests[i]).await {
                Outcome::Issued(fp) => {
                    answered.insert(i, fp);
                }
                Outcome::Retry | Outcome::Dead => {
                    still.insert(i);
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    // The survivor reconciled within 60 s of the kill, without a restart.
    let reader = Store::open(&db.url).await.unwrap().reader();
    let all = loop {
        let all = reader
            .certificates(&CertificateFilter {
                limit: Some(10_000),
                ..Default::default()
            })
            .await
            .unwrap();
        let reserved = all
            .iter()
            .filter(|c| c.status == CertificateStatus::Reserved)
            .count();
        let stuck = reader
            .enrolments(EnrolmentStatus::Approved, None)
            .await
            .unwrap()
            .len()
            + reader
                .enrolments(EnrolmentStatus::Pending, None)
                .await
                .unwrap()
                .len();
        if reserved == 0 && stuck == 0 {
            break all;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "60 s after the kill: {reserved} reservations still reserved, {stuck} enrolments stuck"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("reconciled {:?} after the kill", killed_at.elapsed());

    // Nothing acknowledged is lost, nothing issued twice: one valid certificate per request.
    let operator_certs: Vec<_> = all.iter().filter(|c| c.operator_id().is_some()).collect();
    let valid: BTreeSet<String> = operator_certs
        .iter()
        .filter(|c| c.status == CertificateStatus::Valid)
        .map(|c| c.fingerprint().unwrap().to_string())
        .collect();
    assert_eq!(answered.len(), ENROLMENTS);
    let acknowledged: BTreeSet<String> = answered.values().cloned().collect();
    assert_eq!(
        acknowledged.len(),
        ENROLMENTS,
        "two requests got one certificate"
    );
    assert_eq!(
        valid, acknowledged,
        "the valid certificates are exactly those acknowledged"
    );
    assert_eq!(
        reader
            .enrolments(EnrolmentStatus::Issued, None)
            .await
            .unwrap()
            .len(),
        ENROLMENTS,
        "one issued enrolment per request"
    );

    // Every abandoned serial: revoked, on the CRL the survivor serves, answered revoked.
    let abandoned: Vec<_> = operator_certs
        .iter()
        .filter(|c| c.status == CertificateStatus::Abandoned)
        .collect();
    eprintln!("{} reservations were orphaned by the kill", abandoned.len());
    let crl = http
        .get(format!(
            "http://127.0.0.1:{}/crl/france.crl",
            survivor.publication
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let listed: BTreeSet<Vec<u8>> = ca_core::crl::parse_crl(&crl)
        .unwrap()
        .entries()
        .map(|e| e.unwrap().serial.as_bytes().to_vec())
        .collect();
    std::fs::write(dir.path().join("national.pem"), &national_pem).unwrap();
    for cert in &abandoned {
        assert!(
            listed.contains(cert.serial.as_bytes()),
            "serial {} is not on the CRL",
            cert.serial
        );
        let out = Command::new("openssl")
            .args(["ocsp", "-issuer"])
            .arg(dir.path().join("national.pem"))
            .arg("-serial")
            .arg(format!("0x{}", cert.serial))
            .arg("-url")
            .arg(format!("http://127.0.0.1:{}/ocsp", survivor.publication))
            .args(["-noverify", "-no_nonce"])
            .output();
        if let Ok(out) = out {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(": revoked") && text.contains("cessationOfOperation"),
                "serial {}: {text}",
                cert.serial
            );
        }
    }

    let verify = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["audit", "verify", "--database-url", &db.url])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    drop(survivor);
}
