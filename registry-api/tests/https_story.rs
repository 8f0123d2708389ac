//! The registry story end to end over real HTTPS, with the clients a user has: the server is
//! `tsca_http::serve` on a random port of 127.0.0.1 with a TLS certificate made here, and
//! every call is `curl --cacert`; the operator's key and CSR come from `openssl`, the chain is
//! checked with `openssl verify`, and the CRL is read with `openssl crl` and used by
//! `openssl verify -crl_check` before and after revocation. On SQLite, and on PostgreSQL when
//! TSCA_TEST_DATABASE_URL is set.
//!
//! api.rs tells the same story through `router.oneshot`, which skips TLS, the accept loop and
//! HTTP parsing; this test is what catches a server that builds but does not serve.
//!
//! curl and openssl are required: the test fails (it does not skip) when one is missing, so a
//! CI image without them cannot pass it silently.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use ca_core::profile::Profile;
use ca_store::testing::TestDatabase;
use common::{harness, Harness};
use registry_api::router;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tsca_http::{serve, tls_config_from_pem_files, Limits, Listener};

/// A number inside the prefix the operator is assigned (prefix:3361).
const NUMBER: &str = "+33612345678";

// The test body runs these blocking commands on the runtime's `block_on` thread; the server's
// tasks run on the two worker threads, so it keeps answering while a command waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_story_over_https_with_curl_and_openssl() {
    require_tool("curl", &["--version"]);
    require_tool("openssl", &["version"]);
    for db in TestDatabase::all().await {
        let label = db.label();
        let started = Instant::now();
        let h = harness(db).await;
        let work = tempfile::tempdir().unwrap();
        let server = Server::start(&h, work.path()).await;
        let user = User {
            dir: work.path().to_owned(),
            base: server.base.clone(),
            cacert: work.path().join("tls.pem"),
            files: Cell::new(0),
            label,
        };
        story(&h, &user);
        server.stop().await;
        eprintln!(
            "{label}: HTTPS story took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn story(h: &Harness, user: &User) {
    let label = user.label;
    let admin = h.admin.as_str();

    // TLS first. With the test's certificate trusted, the server answers...
    let (status, _) = user.call("GET", "/healthz", None, Payload::Nothing);
    assert_eq!(status, 200, "{label}: healthz over HTTPS");
    // ...without it, curl refuses the self-signed certificate (60: peer verification failed)...
    let out = run(
        "curl",
        &[
            "-q",
            "-sS",
            "-o",
            "/dev/null",
            &format!("{}/healthz", user.base),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(60),
        "{label}: curl without --cacert must fail verification: {}",
        text(&out)
    );
    // ...and plain HTTP on the HTTPS port gets no HTTP answer (rustls answers with a TLS
    // alert, which curl reports as "HTTP/0.9"; a hang would hit --max-time).
    let plain = user.base.replace("https://", "http://");
    let out = run(
        "curl",
        &[
            "-q",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
            &format!("{plain}/healthz"),
        ],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stdout) == "000",
        "{label}: plain HTTP to the HTTPS port must fail: {}",
        text(&out)
    );

    // The offline root the relying party trusts, obtained out of band (here: from the test,
    // which plays the root ceremony), never from the server under test.
    let root_pem = user.path("root.pem");
    std::fs::write(&root_pem, h.root_cert.to_pem().unwrap()).unwrap();

    // A regional CA under the offline root: the API answers with a CSR, the ceremony signs it
    // offline, and the certificate is PUT back.
    let regional_scope = ["prefix:33", "mcc:208", "spc:*"];
    let (status, regional) = user.json(
        "POST",
        "/v1/authorities",
        Some(admin),
        &json!({"name": "europe", "tier": "regional", "parent_id": 1, "scope": regional_scope,
            "subject": {"common_name": "tsca Test Regional CA Europe", "organization": "Test Region", "country": "BE"}}),
    );
    assert_eq!(status, 201, "{label}: {regional}");
    assert_eq!(
        regional["status"], "awaiting-certificate",
        "{label}: {regional}"
    );
    let regional_id = regional["id"].as_i64().unwrap();
    let signed = h.sign_with_root(
        regional["csr_pem"].as_str().unwrap(),
        &regional_scope,
        Profile::RegionalCa,
        "tsca Test Regional CA Europe",
    );
    let (status, body) = user.call(
        "PUT",
        &format!("/v1/authorities/{regional_id}/certificate"),
        Some(admin),
        Payload::Pem(&signed),
    );
    let installed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{label}: {installed}");
    assert_eq!(installed["status"], "active", "{label}: {installed}");

    // A national CA under it, signed online by the regional key; it approves enrolments
    // within assignments by itself.
    let (status, national) = user.json(
        "POST",
        "/v1/authorities",
        Some(admin),
        &json!({"name": "france", "tier": "national", "parent_id": regional_id,
            "scope": ["prefix:33", "mcc:208", "spc:*"],
            "subject": {"common_name": "tsca Test National CA France", "organization": "Test Regulator", "country": "FR"},
            "auto_approve": true}),
    );
    assert_eq!(status, 201, "{label}: {national}");
    assert_eq!(national["status"], "active", "{label}: {national}");
    let national_id = national["id"].as_i64().unwrap();

    // An operator; its first token comes with the answer, shown once.
    let (status, operator) = user.json(
        "POST",
        "/v1/operators",
        Some(admin),
        &json!({"authority_id": national_id, "name": "Orange", "country": "FR"}),
    );
    assert_eq!(status, 201, "{label}: {operator}");
    let operator_id = operator["operator"]["id"].as_i64().unwrap();
    let operator_token = operator["token"]["token"].as_str().unwrap().to_owned();
    assert!(!operator_token.is_empty(), "{label}: {operator}");

    for resource in ["prefix:3361", "spc:F0042"] {
        let (status, assignment) = user.json(
            "POST",
            "/v1/assignments",
            Some(admin),
            &json!({"operator_id": operator_id, "resource": resource}),
        );
        assert_eq!(status, 201, "{label}: {assignment}");
    }

    // The operator's key and CSR, made with openssl as an operator would.
    let key = user.path("operator-key.pem");
    let csr = user.path("operator.csr");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        s(&key),
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        s(&key),
        "-subj",
        "/CN=Orange STIR signer",
        "-out",
        s(&csr),
    ]);
    let (status, issued) = user.json(
        "POST",
        "/v1/enrolments",
        Some(&operator_token),
        &json!({"csr": std::fs::read_to_string(&csr).unwrap(), "scope": ["prefix:3361"]}),
    );
    assert_eq!(status, 201, "{label}: {issued}");
    assert_eq!(issued["status"], "issued", "{label}: {issued}");
    let certificate = &issued["certificate"];
    let fingerprint = certificate["fingerprint"].as_str().unwrap().to_owned();
    let chain_url = format!("/chains/{fingerprint}.pem");
    assert_eq!(
        certificate["chain_url"],
        chain_url.as_str(),
        "{label}: {issued}"
    );
    let leaf = user.path("leaf.pem");
    std::fs::write(&leaf, certificate["certificate_pem"].as_str().unwrap()).unwrap();
    // The certificate is for the operator's key, and the fingerprint the API uses in URLs is
    // the certificate's SHA-256 as openssl computes it.
    assert_eq!(
        openssl(&["x509", "-in", s(&leaf), "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", s(&key), "-pubout"]),
        "{label}: the certificate certifies another key"
    );
    assert_eq!(sha256_fingerprint(&leaf), fingerprint, "{label}");

    // The public lookup (no token) names the operator and the new certificate.
    let (status, who) = user.json_get(&format!("/v1/lookup/e164/{NUMBER}"));
    assert_eq!(status, 200, "{label}: {who}");
    let authorised = who["authorised"].as_array().unwrap();
    assert_eq!(authorised.len(), 1, "{label}: {who}");
    assert_eq!(authorised[0]["operator_id"], operator_id, "{label}: {who}");
    let listed = authorised[0]["certificates"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|c| c["fingerprint"] == fingerprint.as_str()
                && c["chain_url"] == chain_url.as_str()),
        "{label}: lookup does not list {fingerprint}: {who}"
    );

    // The chain an x5u points to: leaf first, and openssl builds a path to the offline root
    // through it.
    let chain = user.path("chain.pem");
    let (status, body) = user.call("GET", &chain_url, None, Payload::Nothing);
    assert_eq!(status, 200, "{label}: {}", String::from_utf8_lossy(&body));
    std::fs::write(&chain, &body).unwrap();
    assert_eq!(
        sha256_fingerprint(&chain),
        fingerprint,
        "{label}: chain is not leaf first"
    );
    let out = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            s(&root_pem),
            "-untrusted",
            s(&chain),
            s(&leaf),
        ],
    );
    assert!(
        out.status.success() && text(&out).contains(": OK"),
        "{label}: openssl verify: {}",
        text(&out)
    );
    // The same check against another anchor fails, so the success above means something.
    let out = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            s(&user.cacert),
            "-untrusted",
            s(&chain),
            s(&leaf),
        ],
    );
    assert!(
        !out.status.success(),
        "{label}: verified without the root: {}",
        text(&out)
    );

    // The issuer's CRL before revocation: signed by the national CA, and without our serial.
    let serial = openssl(&["x509", "-in", s(&leaf), "-noout", "-serial"])
        .trim()
        .strip_prefix("serial=")
        .unwrap()
        .to_ascii_uppercase();
    let issuers = user.path("issuers.pem");
    std::fs::write(
        &issuers,
        [
            std::fs::read_to_string(&root_pem).unwrap(),
            std::fs::read_to_string(&chain).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let (crl, crl_text) = user.fetch_crl("/crl/france.crl", &issuers, "crl-before");
    assert!(
        !crl_text.contains(&format!("Serial Number: {serial}")),
        "{label}: listed before revocation:\n{crl_text}"
    );
    // A relying party checking revocation by CRL accepts the certificate now...
    let verify_with_crl = |crl: &Path| {
        run(
            "openssl",
            &[
                "verify",
                "-crl_check",
                "-CRLfile",
                s(crl),
                "-CAfile",
                s(&root_pem),
                "-untrusted",
                s(&chain),
                s(&leaf),
            ],
        )
    };
    let out = verify_with_crl(&crl);
    assert!(
        out.status.success() && text(&out).contains(": OK"),
        "{label}: openssl verify -crl_check before revocation: {}",
        text(&out)
    );

    // Revocation by the operator itself.
    let (status, revoked) = user.json(
        "POST",
        &format!("/v1/certificates/{fingerprint}/revoke"),
        Some(&operator_token),
        &json!({"reason": "keyCompromise"}),
    );
    assert_eq!(status, 200, "{label}: {revoked}");
    assert_eq!(revoked["status"], "revoked", "{label}: {revoked}");
    assert_eq!(
        revoked["serial"].as_str().unwrap().to_ascii_uppercase(),
        serial,
        "{label}: {revoked}"
    );

    // The lookup still names the operator (its assignment stands) but no longer the
    // certificate: a relying party must not be pointed at a revoked key.
    let (status, who) = user.json_get(&format!("/v1/lookup/e164/{NUMBER}"));
    assert_eq!(status, 200, "{label}: {who}");
    assert_eq!(
        who["authorised"][0]["operator_id"], operator_id,
        "{label}: {who}"
    );
    assert!(
        !who["authorised"][0]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["fingerprint"] == fingerprint.as_str()),
        "{label}: lookup still lists the revoked certificate: {who}"
    );

    // The CRL now lists the serial, with the reason.
    let (crl, crl_text) = user.fetch_crl("/crl/france.crl", &issuers, "crl-after");
    let entry = crl_text
        .split("Serial Number: ")
        .find(|e| e.starts_with(&serial))
        .unwrap_or_else(|| panic!("{label}: CRL does not list {serial}:\n{crl_text}"));
    assert!(
        entry.contains("Key Compromise"),
        "{label}: CRL entry without the reason:\n{crl_text}"
    );
    // The relying party checking by CRL now refuses the certificate.
    let out = verify_with_crl(&crl);
    assert!(
        !out.status.success() && text(&out).contains("certificate revoked"),
        "{label}: openssl verify -crl_check after revocation: {}",
        text(&out)
    );
}

/// The registry served by `tsca_http::serve` over HTTPS on a random port.
struct Server {
    base: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// Makes a TLS certificate for 127.0.0.1 and localhost (PEM files in `dir`: `tls.pem`,
    /// the one clients trust, and `tls-key.pem`) and starts serving `h`'s registry with it.
    async fn start(h: &Harness, dir: &Path) -> Server {
        let tls = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let (cert, key) = (dir.join("tls.pem"), dir.join("tls-key.pem"));
        std::fs::write(&cert, tls.cert.pem()).unwrap();
        std::fs::write(&key, tls.key_pair.serialize_pem()).unwrap();
        let config = tls_config_from_pem_files(&cert, &key).unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            Listener::Tls(tcp, config),
            router(h.state.clone()),
            Limits::default(),
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            base: format!("https://127.0.0.1:{port}"),
            stop,
            task,
        }
    }

    /// Stops accepting and waits for the server to finish, as a shutdown signal would.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(15), self.task)
            .await
            .expect("the server did not stop within 15 s")
            .unwrap();
    }
}

/// A request body.
enum Payload<'a> {
    Nothing,
    /// `-H 'Content-Type: application/json' -d @file`.
    Json(&'a Value),
    /// A PEM certificate, `--data-binary @file` (`-d` would strip the newlines PEM needs).
    Pem(&'a str),
}

/// The user at a shell: a working folder, the registry's address and its TLS certificate.
struct User {
    dir: PathBuf,
    base: String,
    cacert: PathBuf,
    /// Numbers the request and response files, so each call's files stay for inspection.
    files: Cell<u32>,
    label: &'static str,
}

impl User {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// One `curl --cacert` call; the HTTP status and the body. A transport failure (curl
    /// exiting non-zero) fails the test with curl's message.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        payload: Payload,
    ) -> (u16, Vec<u8>) {
        let n = self.files.get() + 1;
        self.files.set(n);
        let response = self.path(&format!("response-{n}"));
        // -q first: no ~/.curlrc, so a local `insecure` cannot change what is tested.
        let mut args: Vec<String> = vec![
            "-q".into(),
            "-sS".into(),
            "--cacert".into(),
            s(&self.cacert).into(),
            "-X".into(),
            method.into(),
            "-o".into(),
            s(&response).into(),
            "-w".into(),
            "%{http_code}".into(),
        ];
        if let Some(token) = token {
            args.extend(["-H".into(), format!("Authorization: Bearer {token}")]);
        }
        let request = self.path(&format!("request-{n}"));
        match payload {
            Payload::Nothing => {}
            Payload::Json(value) => {
                std::fs::write(&request, value.to_string()).unwrap();
                args.extend([
                    "-H".into(),
                    "Content-Type: application/json".into(),
                    "-d".into(),
                    format!("@{}", s(&request)),
                ]);
            }
            Payload::Pem(pem) => {
                std::fs::write(&request, pem).unwrap();
                args.extend([
                    "-H".into(),
                    "Content-Type: application/pem-certificate-chain".into(),
                    "--data-binary".into(),
                    format!("@{}", s(&request)),
                ]);
            }
        }
        args.push(format!("{}{path}", self.base));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run("curl", &args);
        assert!(
            out.status.success(),
            "{}: curl {method} {path} failed: {}",
            self.label,
            text(&out)
        );
        let status = String::from_utf8_lossy(&out.stdout).parse().unwrap();
        (status, std::fs::read(&response).unwrap_or_default())
    }

    /// A JSON request; the status and the JSON answer (Null when the body is not JSON).
    fn json(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let (status, bytes) = self.call(method, path, token, Payload::Json(body));
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// An unauthenticated GET of JSON, as a relying party makes.
    fn json_get(&self, path: &str) -> (u16, Value) {
        let (status, bytes) = self.call("GET", path, None, Payload::Nothing);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Fetches a DER CRL, has openssl check its signature against `issuers` and print it,
    /// and keeps a PEM copy `{name}.pem` for `openssl verify -CRLfile`. The PEM path and the
    /// printout.
    fn fetch_crl(&self, path: &str, issuers: &Path, name: &str) -> (PathBuf, String) {
        let (status, body) = self.call("GET", path, None, Payload::Nothing);
        assert_eq!(
            status,
            200,
            "{}: {}",
            self.label,
            String::from_utf8_lossy(&body)
        );
        let der = self.path(&format!("{name}.der"));
        std::fs::write(&der, body).unwrap();
        let out = run(
            "openssl",
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                s(&der),
                "-noout",
                "-text",
                "-CAfile",
                s(issuers),
            ],
        );
        let all = text(&out);
        assert!(
            out.status.success() && all.contains("verify OK"),
            "{}: openssl crl: {all}",
            self.label
        );
        let pem = self.path(&format!("{name}.pem"));
        openssl(&["crl", "-inform", "DER", "-in", s(&der), "-out", s(&pem)]);
        (pem, all)
    }
}

/// Fails the test, with a message saying so, when `tool` cannot be run.
fn require_tool(tool: &str, version_args: &[&str]) {
    let found = Command::new(tool)
        .args(version_args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is required: this test drives the registry with curl and openssl as a user \
         would (install both; CI does)"
    );
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs openssl, which must succeed; its standard output.
fn openssl(args: &[&str]) -> String {
    let out = run("openssl", args);
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The SHA-256 fingerprint of the first certificate in a PEM file, as the API writes it
/// (lowercase hex, no colons).
fn sha256_fingerprint(pem: &Path) -> String {
    openssl(&["x509", "-in", s(pem), "-noout", "-fingerprint", "-sha256"])
        .trim()
        .split_once('=')
        .unwrap()
        .1
        .replace(':', "")
        .to_ascii_lowercase()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
