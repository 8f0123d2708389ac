//! The offline ceremony and the database commands, through the binary as a person runs them.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::SystemTime;

use ca_core::csr::build_csr;
use ca_core::keys::{KeyAlgorithm, SoftwareKey};
use ca_core::profile::SubjectName;
use ca_core::x509::Certificate;

fn tsca(args: &[&str], passphrase: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(args)
        .env("TSCA_CEREMONY_PASSPHRASE", passphrase)
        .env("TSCA_LOG", "warn")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn root_ceremony_signs_within_policy_and_refuses_outside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let root_s = root.to_str().unwrap();
    let pass = "correct horse battery staple";

    let short = tsca(
        &[
            "ceremony",
            "init-root",
            "--out",
            root_s,
            "--common-name",
            "Test Root",
            "--organization",
            "SDO",
            "--country",
            "CH",
            "--allow",
            "prefix:33",
        ],
        "short",
    );
    assert!(!short.status.success());
    assert!(
        text(&short).contains("at least 12 characters"),
        "{}",
        text(&short)
    );

    let init = tsca(
        &[
            "ceremony",
            "init-root",
            "--out",
            root_s,
            "--common-name",
            "Test Root",
            "--organization",
            "SDO",
            "--country",
            "CH",
            "--allow",
            "prefix:33",
            "--allow",
            "mcc:208",
        ],
        pass,
    );
    assert!(init.status.success(), "{}", text(&init));
    assert!(text(&init).contains("SHA-256"));
    let again = tsca(
        &[
            "ceremony",
            "init-root",
            "--out",
            root_s,
            "--common-name",
            "Test Root",
            "--organization",
            "SDO",
            "--country",
            "CH",
            "--allow",
            "prefix:33",
        ],
        pass,
    );
    assert!(
        !again.status.success() && text(&again).contains("already exists"),
        "{}",
        text(&again)
    );

    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let csr = build_csr(&SubjectName::new("Regional", None, None).unwrap(), &key).unwrap();
    let csr_path = dir.path().join("regional.csr");
    std::fs::write(
        &csr_path,
        ca_core::x509::pem_encode("CERTIFICATE REQUEST", &csr).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("regional.pem");
    let sign = |scope: &str, passphrase: &str| {
        tsca(
            &[
                "ceremony",
                "sign-subca",
                "--root",
                root_s,
                "--csr",
                csr_path.to_str().unwrap(),
                "--tier",
                "regional",
                "--scope",
                scope,
                "--common-name",
                "Test Regional CA",
                "--organization",
                "Test Region",
                "--country",
                "BE",
                "--out",
                out.to_str().unwrap(),
            ],
            passphrase,
        )
    };
    let refused = sign("prefix:44", pass);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("does not allow prefix:44"),
        "{}",
        text(&refused)
    );
    assert!(!out.exists(), "nothing written when refused");
    let wrong = sign("prefix:33", "not the passphrase at all");
    assert!(
        !wrong.status.success() && text(&wrong).contains("wrong passphrase"),
        "{}",
        text(&wrong)
    );
    let signed = sign("prefix:33", pass);
    assert!(signed.status.success(), "{}", text(&signed));
    let cert = Certificate::from_pem(&std::fs::read(&out).unwrap()).unwrap();
    let root_cert = Certificate::from_pem(&std::fs::read(root.join("root.pem")).unwrap()).unwrap();
    let path =
        ca_core::path::verify_path(&[cert, root_cert.clone()], &[root_cert], SystemTime::now())
            .unwrap();
    assert_eq!(path.leaf_scope().to_string(), "prefix:33");

    // Bootstrap a database with the root certificate (never the key): one token, once.
    let url = format!("sqlite://{}/registry.db", dir.path().display());
    let root_pem = root.join("root.pem");
    let boot = tsca(
        &[
            "bootstrap",
            "--database-url",
            &url,
            "--root-certificate",
            root_pem.to_str().unwrap(),
        ],
        "",
    );
    assert!(boot.status.success(), "{}", text(&boot));
    assert!(
        text(&boot).contains("root-admin token (shown once, store it now): tsca_"),
        "{}",
        text(&boot)
    );
    let twice = tsca(
        &[
            "bootstrap",
            "--database-url",
            &url,
            "--root-certificate",
            root_pem.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        !twice.status.success() && text(&twice).contains("already exists"),
        "{}",
        text(&twice)
    );
    let not_a_cert = tsca(
        &[
            "bootstrap",
            "--database-url",
            &url,
            "--root-certificate",
            csr_path.to_str().unwrap(),
        ],
        "",
    );
    assert!(!not_a_cert.status.success(), "{}", text(&not_a_cert));
}

#[test]
fn migrate_and_audit_verify_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let out = tsca(&["migrate", "--database-url", &url], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("schema at version"));
    let out = tsca(&["audit", "verify", "--database-url", &url], "");
    assert!(
        out.status.success() && text(&out).contains("audit log intact: 0 entries"),
        "{}",
        text(&out)
    );
    let out = tsca(
        &[
            "migrate",
            "--database-url",
            "postgres://tsca:hunter2secret@127.0.0.1:1/none",
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("127.0.0.1:1") && !text(&out).contains("hunter2secret"),
        "{}",
        text(&out)
    );
}
