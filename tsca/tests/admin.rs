//! `tsca admin` for real work, against a running quickstart: listings as tables by default and
//! as the registry's JSON with `--output json`, records with readable times and PEM last,
//! changes that say what they changed, tokens listed without their secrets, and refusals that
//! say why. Skipped (with a message) when curl is missing; CI installs it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{have, interrupt, start, wait_ready, Ports};

/// Runs `tsca admin ARGS` against the quickstart; (succeeded, stdout, stderr).
fn admin(data: &Path, registry: u16, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .arg("admin")
        .args(["--registry", &format!("https://127.0.0.1:{registry}")])
        .arg("--cacert")
        .arg(data.join("tls/registry.pem"))
        .arg("--token-file")
        .arg(data.join("secrets/admin-token"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_lists_shows_and_says_what_it_changed() {
    if !have("curl") {
        eprintln!("skipped: curl not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports::free();
    let mut run = start(&data, ports);
    wait_ready(ports.publication);
    let admin = |args: &[&str]| admin(&data, ports.registry, args);

    // A listing is a table: a header row, one aligned row per record, times in RFC 3339.
    let (ok, out, err) = admin(&["operators"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("NAME") && lines[0].contains("CREATED_AT"),
        "{out}"
    );
    assert!(
        lines[1].contains("Example Telecom") && lines[1].contains('T') && lines[1].ends_with('Z'),
        "{out}"
    );
    // The same listing for scripts: the registry's JSON.
    let (ok, out, _) = admin(&["operators", "--output", "json"]);
    let operators: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(ok && operators["operators"][0]["name"] == "Example Telecom");

    // Authorities show their subject (organization and country) in the list and the record.
    let (_, out, _) = admin(&["authorities"]);
    assert!(out.contains("O=tsca Quickstart Regulator,C=FR"), "{out}");
    let (_, out, _) = admin(&["authority", "--id", "3"]);
    assert!(out.starts_with("id ") && out.contains("crl_url"), "{out}");

    // A change says what it changed, and hands over the new token's secret once.
    let (ok, out, err) = admin(&[
        "create-operator",
        "--authority",
        "3",
        "--name",
        "Acme Mobile",
        "--country",
        "FR",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("registered operator 2 (Acme Mobile) under authority 3\ntoken (shown once, store it now): tsca_"),
        "{out}"
    );
    let first_secret = out
        .lines()
        .nth(1)
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_owned();
    let (ok, out, err) = admin(&[
        "create-token",
        "--operator",
        "2",
        "--label",
        "ci pipeline",
        "--valid-days",
        "30",
    ]);
    assert!(ok, "{err}");
    let in_30_days = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(30 * 24))
        .unwrap();
    assert!(
        out.starts_with("created operator token 4, which works until ")
            && out.contains(&in_30_days.to_string()[..10]),
        "{out}"
    );

    // Tokens are listed with label and expiry, never with their secrets.
    let (ok, out, err) = admin(&["tokens", "--operator", "2"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Acme Mobile first token") && out.contains("ci pipeline"),
        "{out}"
    );
    assert!(out.contains(&in_30_days.to_string()[..10]), "{out}");
    assert!(
        !out.contains("tsca_") && !out.contains(&first_secret),
        "{out}"
    );
    let (ok, out, _) = admin(&["tokens", "--operator", "2", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        ok && listed["tokens"].as_array().unwrap().len() == 2,
        "{listed}"
    );
    assert!(listed["tokens"][0].get("token").is_none(), "{listed}");
    let (ok, out, _) = admin(&["tokens", "--role", "root-admin"]);
    assert!(ok && out.contains("quickstart root admin"), "{out}");
    let (ok, _, err) = admin(&["tokens", "--role", "operator"]);
    assert!(
        !ok && err.contains("422") && err.contains("(field role)"),
        "{err}"
    );

    // Revoking shows when; the listing shows it too.
    let (ok, out, err) = admin(&["revoke-token", "--id", "4"]);
    assert!(ok && out.starts_with("revoked token 4 at 20"), "{out}{err}");
    let (_, out, _) = admin(&["tokens", "--operator", "2"]);
    let row = out.lines().find(|l| l.contains("ci pipeline")).unwrap();
    assert!(
        !row.trim_end().ends_with(" -"),
        "revoked_at is shown: {out}"
    );

    // The same change again with the same Idempotency-Key: said to have changed nothing, and
    // the secret is not handed out twice.
    let create = [
        "--idempotency-key",
        "admin-test-1",
        "create-token",
        "--operator",
        "2",
    ];
    let (ok, first, err) = admin(&create);
    assert!(ok && first.contains("token (shown once"), "{first}{err}");
    let (ok, again, err) = admin(&create);
    assert!(ok, "{err}");
    assert!(
        again.contains("this run changed nothing")
            && again.contains("shown only in the first answer")
            && !again.contains("tsca_"),
        "{again}"
    );

    // Certificates filtered by operator and status; one certificate with its PEM last.
    let (ok, out, err) = admin(&["certificates", "--operator", "1", "--status", "valid"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{out}");
    let fingerprint = rows[0].split_whitespace().nth(1).unwrap();
    assert_eq!(fingerprint.len(), 64, "{out}");
    let (ok, out, _) = admin(&["certificate", "--fingerprint", fingerprint]);
    assert!(
        ok && out.contains("status ") && out.trim_end().ends_with("-----END CERTIFICATE-----"),
        "{out}"
    );
    let (_, out, _) = admin(&["certificates", "--operator", "1", "--status", "revoked"]);
    assert_eq!(out.trim(), "no certificates");

    // Enrolments: the quickstart's national CA approved the example's itself; rejecting it
    // now is refused, saying why.
    let (ok, out, _) = admin(&["enrolments", "--status", "issued"]);
    assert!(ok && out.contains("auto-approved"), "{out}");
    let (ok, _, err) = admin(&["reject", "--enrolment", "1", "--reason", "wrong numbers"]);
    assert!(
        !ok && err.contains("409") && err.contains("not pending"),
        "{err}"
    );

    // The audit log, a page at a time.
    let (ok, out, _) = admin(&["audit", "--limit", "3"]);
    assert!(ok && out.lines().count() == 5, "{out}");
    assert!(
        out.contains("authority.created") && out.ends_with("more: add --after 3\n"),
        "{out}"
    );

    // Listings need a filter where the API does, and clap says which.
    let (ok, _, err) = admin(&["tokens"]);
    assert!(!ok && err.contains("--operator"), "{err}");

    interrupt(&mut run.child);
}
