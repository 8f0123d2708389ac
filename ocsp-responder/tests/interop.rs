//! Other implementations read what the responder serves (STYLE "Tests"): the `openssl ocsp`
//! client queries it and verifies the responses up to the root; Python's `cryptography`
//! parses every response; pkilint's `lint_ocsp_response` lints the good and revoked ones.
//! Each step prints "skipped: … not found" and returns when its tool is missing (CI installs
//! them all).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ca_core::ocsp::CertIdHash;
use ca_core::x509::{pem_encode, Certificate};
use ca_store::CertificateRecord;
use common::*;
use ocsp_responder::OcspConfig;

fn found(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: {program} not found");
    }
    ok
}

/// Runs a command off the async workers (the responder it talks to runs on them).
async fn run(program: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(program).args(&args).output().unwrap())
        .await
        .unwrap()
}

fn write_pem(dir: &Path, name: &str, certs: &[&Certificate]) -> PathBuf {
    let path = dir.join(name);
    let pem: String = certs
        .iter()
        .map(|c| pem_encode("CERTIFICATE", &der::Encode::to_der(*c).unwrap()).unwrap())
        .collect();
    std::fs::write(&path, pem).unwrap();
    path
}

fn leaf(record: &CertificateRecord) -> Certificate {
    Certificate::from_der(&record.issued.as_ref().unwrap().der).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_implementations_accept_the_responses() {
    let pki = Pki::new().await;
    let good = pki.issue_operator("Interop Good Telecom").await;
    let revoked = pki.issue_operator("Interop Revoked Telecom").await;
    pki.revoke(&revoked, "keyCompromise").await;
    let running = start(&pki, OcspConfig::default()).await;
    let dir = pki.dir.path();

    // The served responses, for the parsers and the linter.
    let mut served: Vec<(&str, PathBuf)> = Vec::new();
    let mut keep = |name: &'static str, body: &[u8]| {
        let path = dir.join(format!("{name}.der"));
        std::fs::write(&path, body).unwrap();
        served.push((name, path));
    };
    let good_id = pki.cert_id(CertIdHash::Sha1, &good.serial);
    let revoked_id = pki.cert_id(CertIdHash::Sha1, &revoked.serial);
    keep(
        "good",
        &post_ocsp(running.addr, &request(&[good_id], None))
            .await
            .body,
    );
    keep(
        "revoked",
        &post_ocsp(running.addr, &request(&[revoked_id], None))
            .await
            .body,
    );
    let sha256 = pki.cert_id(CertIdHash::Sha256, &good.serial);
    keep(
        "good-sha256",
        &post_ocsp(running.addr, &request(&[sha256], Some(&[1; 32])))
            .await
            .body,
    );
    let never = pki.cert_id(CertIdHash::Sha1, [0x01, 0x02, 0x03]);
    keep(
        "never-issued",
        &post_ocsp(running.addr, &request(&[never], None)).await.body,
    );
    keep(
        "several",
        &post_ocsp(running.addr, &request(&[good_id, revoked_id, never], None))
            .await
            .body,
    );
    keep("malformed", &post_ocsp(running.addr, b"not DER").await.body);

    // 1. openssl ocsp, with its default nonce (live path) and without (cache path).
    if found("openssl", &["version"]) {
        let root = write_pem(dir, "root.pem", &[&pki.root]);
        let issuer = write_pem(dir, "issuer.pem", &[&pki.national]);
        let chain = write_pem(dir, "chain.pem", &[&pki.national, &pki.regional]);
        let url = format!("http://{}/ocsp", running.addr);
        for (record, name, expected) in [
            (&good, "good", ": good"),
            (&revoked, "revoked", ": revoked"),
        ] {
            let cert = write_pem(dir, &format!("{name}.pem"), &[&leaf(record)]);
            for nonce in ["-nonce", "-no_nonce"] {
                let args: Vec<String> = [
                    "ocsp",
                    "-issuer",
                    path(&issuer),
                    "-cert",
                    path(&cert),
                    "-url",
                    &url,
                    "-CAfile",
                    path(&root),
                    "-verify_other",
                    path(&chain),
                    "-resp_text",
                    nonce,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                let out = run("openssl", args).await;
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success(),
                    "openssl ocsp {name} {nonce}: {stdout}\n{stderr}"
                );
                assert!(
                    stdout.contains(expected),
                    "openssl ocsp {name} {nonce}: {stdout}"
                );
                assert!(
                    stderr.contains("Response verify OK"),
                    "openssl ocsp {name} {nonce}: {stderr}"
                );
                if name == "revoked" {
                    assert!(stdout.contains("Reason: keyCompromise"), "{stdout}");
                }
            }
        }
    }

    // 2. Python's cryptography parses every response.
    if found("python3", &["-c", "import cryptography"]) {
        let script = r#"
import sys
from cryptography.x509 import ocsp
for name, path in zip(sys.argv[1::2], sys.argv[2::2]):
    r = ocsp.load_der_ocsp_response(open(path, "rb").read())
    if r.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        print(name, r.response_status.name)
        continue
    for single in r.responses:
        print(name, single.certificate_status.name, single.next_update_utc is not None)
"#;
        let mut args = vec!["-c".to_string(), script.to_string()];
        for (name, p) in &served {
            args.push(name.to_string());
            args.push(path(p).to_string());
        }
        let out = run("python3", args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "good GOOD True",
                "revoked REVOKED True",
                "good-sha256 GOOD True",
                "never-issued REVOKED True",
                "several GOOD True",
                "several REVOKED True",
                "several REVOKED True",
                "malformed MALFORMED_REQUEST",
            ]
        );
    }

    // 3. pkilint on the good and revoked responses: no ERROR or FATAL finding.
    if found("lint_ocsp_response", &["--help"]) {
        for (name, p) in served
            .iter()
            .filter(|(n, _)| ["good", "revoked", "never-issued"].contains(n))
        {
            let out = run("lint_ocsp_response", vec!["lint".into(), path(p).into()]).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let bad: Vec<&str> = stdout
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("FATAL"))
                .collect();
            assert!(bad.is_empty(), "pkilint on {name}: {stdout}\n{stderr}");
            assert!(
                out.status.success(),
                "pkilint on {name}: {stdout}\n{stderr}"
            );
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
