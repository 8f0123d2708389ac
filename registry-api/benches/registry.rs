//! The registry under load (issue 4, docs/benchmarks.md Targets S3 and S4): the real HTTPS server (this binary
//! again, in a child role, pinned to core 1) over a database with 100,000 assigned number
//! blocks, driven by oha on core 0.
//!
//! Measured, each beside a baseline from the same run:
//! - **S3**: number lookups (1,000 different 11-digit +33 numbers in turn, over 100k assignments)
//!   and chain fetches (`/chains/{fp}.pem`), with keep-alive, beside the *limit*: the same
//!   HTTPS accept loop (rustls + hyper, same certificate) with a handler that returns a fixed
//!   1,500-octet body;
//! - **S4**: enrolments (`POST /v1/enrolments`, CSR + scope → 201 with the certificate) with
//!   a durable commit, beside the in-process signing rate of the CA key (the national CA's
//!   P-384 key, the engine's own signer).
//!
//! ```text
//! cargo bench -p registry-api --bench registry                    # SQLite
//! TSCA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p registry-api --bench registry                  # PostgreSQL
//! REGISTRY_BENCH_ASSIGNMENTS=10000 …                              # smaller
//! ```
//!
//! Needs `oha` (cargo install oha) and `taskset`. Load goes to 127.0.0.1 only; the child is
//! killed at the end. Writes target/bench-report/registry.md. Never fails on a timing.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ca_core::profile::Profile;
use ca_store::testing::TestDatabase;
use ca_store::Store;
use common::{harness_with, operator_csr, Harness};
use registry_api::{router, AppState, RegistryConfig};
use serde_json::{json, Value};
use tsca_http::{serve, tls_config_from_pem_files, Limits, Listener};

const ROLE: &str = "REGISTRY_BENCH_ROLE";
const URL: &str = "REGISTRY_BENCH_URL";
const PORT: &str = "REGISTRY_BENCH_PORT";
const TLS_DIR: &str = "REGISTRY_BENCH_TLS";
const LIMIT_BODY: [u8; 1500] = [b'x'; 1500];
/// Operators sharing the assignments.
const OPERATORS: usize = 100;

/// No per-token rate limit: the load generator is one client with one token.
fn registry_config() -> RegistryConfig {
    RegistryConfig {
        rate_limit_per_second: 1e9,
        ..RegistryConfig::default()
    }
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok(role) => tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(child(role)),
        _ => tokio::runtime::Runtime::new().unwrap().block_on(parent()),
    }
}

/// A child: the registry over the database, or the limit handler, over HTTPS.
async fn child(role: &str) {
    let tls_dir = std::path::PathBuf::from(std::env::var(TLS_DIR).unwrap());
    let tls =
        tls_config_from_pem_files(&tls_dir.join("cert.pem"), &tls_dir.join("key.pem")).unwrap();
    let port: u16 = std::env::var(PORT).unwrap().parse().unwrap();
    let tcp = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let app = if role == "registry" {
        let engine = common::engine(Store::open(&std::env::var(URL).unwrap()).await.unwrap());
        router(AppState::new(engine, registry_config()).await.unwrap())
    } else {
        axum::Router::new().fallback(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
                bytes::Bytes::from_static(&LIMIT_BODY),
            )
        })
    };
    println!("READY");
    serve(
        Listener::Tls(tcp, tls),
        app,
        Limits::default(),
        std::future::pending(),
    )
    .await;
}

struct ChildProcess(Child);

impl ChildProcess {
    fn spawn(role: &str, url: &str, port: u16, tls_dir: &std::path::Path) -> ChildProcess {
        let mut child = Command::new("taskset")
            .args(["-c", "1"])
            .arg(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .env(URL, url)
            .env(PORT, port.to_string())
            .env(TLS_DIR, tls_dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("taskset and this binary");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("READY"), "{role} did not start: {line:?}");
        ChildProcess(child)
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
}

/// oha 3 × 5 s on core 0, medians; every answer must have `expected` status.
fn oha(args: &[&str], connections: usize, cacert: &std::path::Path, expected: &str) -> Load {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let out = Command::new("taskset")
            .args([
                "-c",
                "0",
                "oha",
                "-z",
                "5s",
                "--no-tui",
                "--output-format",
                "json",
            ])
            .args(["-c", &connections.to_string()])
            .arg("--cacert")
            .arg(cacert)
            .args(args)
            .output()
            .expect("oha (cargo install oha)");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("oha output ({e}): {}", String::from_utf8_lossy(&out.stderr))
        });
        let codes = &json["statusCodeDistribution"];
        assert!(
            codes
                .as_object()
                .is_some_and(|c| !c.is_empty() && c.keys().all(|k| k == expected)),
            "answers other than {expected} for {args:?}: {codes} {}",
            json["errorDistribution"]
        );
        runs.push(Load {
            rps: json["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
            p50: json["latencyPercentiles"]["p50"].as_f64().unwrap_or(0.0) * 1000.0,
            p99: json["latencyPercentiles"]["p99"].as_f64().unwrap_or(0.0) * 1000.0,
        });
    }
    let median = |f: fn(&Load) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[1]
    };
    Load {
        rps: median(|l| l.rps),
        p50: median(|l| l.p50),
        p99: median(|l| l.p99),
    }
}

/// A regional CA through the offline-root ceremony, a national CA under it (auto-approving,
/// scope +33) and `OPERATORS` operators; returns (national id, operator ids and tokens).
async fn hierarchy(h: &Harness) -> (i64, Vec<(i64, String)>) {
    let admin = Some(h.admin.as_str());
    let (_, regional) = h
        .call("POST", "/v1/authorities", admin, Some(json!({
            "name": "europe", "tier": "regional", "parent_id": 1, "scope": ["prefix:33", "spc:*"],
            "subject": {"common_name": "Bench Regional CA", "organization": "Bench", "country": "BE"}})))
        .await;
    let certificate = h.sign_with_root(
        regional["csr_pem"].as_str().unwrap(),
        &["prefix:33", "spc:*"],
        Profile::RegionalCa,
        "Bench Regional CA",
    );
    let (status, body, _) = h
        .raw(
            "PUT",
            &format!("/v1/authorities/{}/certificate", regional["id"]),
            admin,
            Some(("application/pem-certificate-chain", certificate)),
            &[],
        )
        .await;
    assert!(status.is_success(), "{}", String::from_utf8_lossy(&body));
    let (status, national) = h
        .call("POST", "/v1/authorities", admin, Some(json!({
            "name": "france", "tier": "national", "parent_id": regional["id"], "scope": ["prefix:33", "spc:*"],
            "subject": {"common_name": "Bench National CA", "organization": "Bench", "country": "FR"},
            "auto_approve": true})))
        .await;
    assert!(status.is_success(), "{national}");
    let national_id = national["id"].as_i64().unwrap();
    let mut operators = Vec::new();
    for i in 0..OPERATORS {
        let (status, op) = h
            .call("POST", "/v1/operators", admin, Some(json!({
                "authority_id": national_id, "name": format!("Bench Operator {i}"), "country": "FR"})))
            .await;
        assert!(status.is_success(), "{op}");
        operators.push((
            op["operator"]["id"].as_i64().unwrap(),
            op["token"]["token"].as_str().unwrap().to_owned(),
        ));
    }
    (national_id, operators)
}

/// `count` assignments of disjoint 7-digit blocks (`prefix:33` + 5 digits), operator
/// `i % OPERATORS`, through multi-row INSERTs (an import, not the one-at-a-time API).
async fn bulk_assign(url: &str, national_id: i64, operators: &[(i64, String)], count: usize) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    for start in (0..count).step_by(2_000) {
        let mut sql = String::from(
            "INSERT INTO assignments (authority_id, operator_id, resource, valid_from, created_at) VALUES ",
        );
        for i in start..(start + 2_000).min(count) {
            if i > start {
                sql.push(',');
            }
            write!(
                sql,
                "({national_id}, {}, 'prefix:33{i:05}', 0, 0)",
                operators[i % OPERATORS].0
            )
            .unwrap();
        }
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

async fn parent() {
    let count: usize = std::env::var("REGISTRY_BENCH_ASSIGNMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let db = match std::env::var("TSCA_TEST_DATABASE_URL") {
        Ok(admin) => TestDatabase::postgres(&admin).await,
        Err(_) => TestDatabase::sqlite(),
    };
    let backend = db.label().to_owned();
    let url = db.url.clone();
    let h = harness_with(db, registry_config()).await;
    let (national_id, operators) = hierarchy(&h).await;
    bulk_assign(&url, national_id, &operators, count).await;
    eprintln!("registry bench: {count} assignments on {backend}");

    // One certificate per operator, for one of its blocks, through the API; each operator
    // with a key pair of its own (the key policy refuses one key for two operators).
    // Operator 0's request is the one the enrolment run repeats.
    let mut fingerprint = String::new();
    let mut first_csr = None;
    for (i, (_, token)) in operators.iter().enumerate() {
        let (_, csr) = operator_csr();
        first_csr.get_or_insert_with(|| csr.clone());
        let (status, enrolment) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(token),
                Some(json!({"csr": csr, "scope": [format!("prefix:33{i:05}")]})),
            )
            .await;
        assert!(status.is_success(), "{enrolment}");
        fingerprint = enrolment["certificate"]["fingerprint"]
            .as_str()
            .or_else(|| enrolment["fingerprint"].as_str())
            .unwrap_or_else(|| panic!("no fingerprint in {enrolment}"))
            .to_owned();
    }

    // The in-process signing rate of the national CA's key: the engine's own signer, on a
    // TBS-sized message, on this core.
    let key_id = h
        .state
        .engine
        .reader()
        .authority(ca_store::AuthorityId(national_id))
        .await
        .unwrap()
        .key_id
        .unwrap();
    let signer = h
        .state
        .engine
        .keys()
        .open(key_id, ca_store::KeyPurpose::Ca)
        .await
        .unwrap()
        .signer();
    let message = [0x5au8; 600];
    let started = Instant::now();
    let mut signatures = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        signer.sign(&message).unwrap();
        signatures += 1;
    }
    let signing_rate = f64::from(signatures) / started.elapsed().as_secs_f64();
    let algorithm = format!("{:?}", signer.algorithm());

    let tls_dir = tempfile::tempdir().unwrap();
    let tls = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(tls_dir.path().join("cert.pem"), tls.cert.pem()).unwrap();
    std::fs::write(tls_dir.path().join("key.pem"), tls.key_pair.serialize_pem()).unwrap();
    let cacert = tls_dir.path().join("cert.pem");

    let limit = ChildProcess::spawn("limit", &url, 39201, tls_dir.path());
    let limit_ka = oha(&["https://127.0.0.1:39201/"], 32, &cacert, "200");
    drop(limit);

    let registry = ChildProcess::spawn("registry", &url, 39202, tls_dir.path());
    let base = "https://127.0.0.1:39202";
    // 1,000 numbers spread over the assigned blocks, from a file: every URL is written out
    // on 127.0.0.1 (oha's generated URLs garble the host).
    let urls_path = tls_dir.path().join("lookup-urls.txt");
    let urls: String = (0..1000u64)
        .map(|i| {
            let number = 33_000_000_000 + (i * 7_919_993) % 1_000_000_000;
            format!("{base}/v1/lookup/e164/{number}\n")
        })
        .collect();
    std::fs::write(&urls_path, urls).unwrap();
    let lookup = oha(
        &["--urls-from-file", urls_path.to_str().unwrap()],
        32,
        &cacert,
        "200",
    );
    let chain = oha(
        &[&format!("{base}/chains/{fingerprint}.pem")],
        32,
        &cacert,
        "200",
    );
    // Enrolment: operator 0 asks again and again for a certificate on its first block.
    let csr = first_csr.expect("at least one operator");
    let body_path = tls_dir.path().join("enrol.json");
    std::fs::write(
        &body_path,
        json!({"csr": csr, "scope": ["prefix:3300000"]}).to_string(),
    )
    .unwrap();
    let auth = format!("Authorization: Bearer {}", operators[0].1);
    let enrol = oha(
        &[
            "-m",
            "POST",
            "-T",
            "application/json",
            "-H",
            &auth,
            "-D",
            body_path.to_str().unwrap(),
            &format!("{base}/v1/enrolments"),
        ],
        8,
        &cacert,
        "201",
    );
    drop(registry);

    let mut report = vec![
        "# Registry under load".to_owned(),
        String::new(),
        format!(
            "Run at unix time {}, {backend}, {count} assigned blocks over {OPERATORS} operators \
             and {OPERATORS} certificates before the enrolment run. Server pinned to core 1, \
             oha to core 0, HTTPS with keep-alive; oha 3 × 5 s per figure, medians.",
            jiff::Timestamp::now().as_second()
        ),
        String::new(),
        "| scenario | req/s | p50 ms | p99 ms | baseline (same run) | ratio | target |".into(),
        "|---|---|---|---|---|---|---|".into(),
    ];
    let row = |name: &str, l: Load, base: &str, base_rate: f64, target: &str| {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {base}: {base_rate:.0}/s | {:.2}× | {target} |",
            l.rps,
            l.p50,
            l.p99,
            l.rps / base_rate
        )
    };
    report.push(row(
        "S3 number lookup, 1,000 +33 numbers in turn, 32 conns",
        lookup,
        "limit (same HTTPS loop, fixed 1.5 KB)",
        limit_ka.rps,
        "≥ 0.5×, p99 ≤ 5 ms",
    ));
    report.push(row(
        "S3 chain fetch `/chains/{fp}.pem`, 32 conns",
        chain,
        "limit (same HTTPS loop, fixed 1.5 KB)",
        limit_ka.rps,
        "≥ 0.5×, p99 ≤ 5 ms",
    ));
    report.push(row(
        "S4 enrolment (CSR → certificate, durable commit), 8 conns",
        enrol,
        &format!("in-process {algorithm} signing with the CA key"),
        signing_rate,
        "≥ 0.5×",
    ));
    let text = report.join("\n") + "\n";
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("registry.md"), &text).unwrap();
    println!("{text}");
}
