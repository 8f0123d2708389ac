//! End to end, with real clients: `tsca quickstart` on free ports in a temporary folder, then
//! the commands it prints, run verbatim by a shell (curl, openssl): list authorities over
//! HTTPS, look up a number, fetch the chain, `openssl verify`, `openssl ocsp` → good, revoke,
//! `openssl ocsp` → revoked. Ctrl-C (SIGINT) stops it cleanly; a second run reuses the data.
//! Skipped (with a message) when curl or openssl is missing; CI installs both.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{have, interrupt, printed_command, shell, start, start_with, wait_ready, Ports};

#[test]
fn quickstart_commands_work_verbatim() {
    if !have("curl") || !have("openssl") {
        eprintln!("skipped: curl or openssl not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports::free();
    let Ports {
        registry,
        publication,
        publication_tls,
    } = ports;
    let mut run = start(&data, ports);
    wait_ready(publication);
    let printed = run.printed.clone();
    let work = dir.path().to_str().unwrap();

    let (ok, out) =
        shell(&printed_command(&printed, "curl --cacert").replace("curl ", "curl -sf "));
    assert!(ok && out.contains("\"france\""), "authorities: {out}");
    let lookup = printed
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains("/v1/lookup/e164/"))
        .unwrap()
        .to_owned();
    let (ok, out) = shell(&lookup.replace("curl ", "curl -sf "));
    // The chain URL handed out is the publication point's HTTPS one (x5u is HTTPS only).
    let chain_url = format!("https://127.0.0.1:{publication_tls}/chains/");
    assert!(ok && out.contains(&chain_url), "lookup: {out}");
    let fetch = printed_command(&printed, "curl -s --cacert");
    assert!(fetch.contains(&chain_url), "{fetch}");
    let (ok, out) = shell(&format!("cd {work} && {fetch}"));
    assert!(ok, "chain fetch: {out}");
    let chain = std::fs::read_to_string(dir.path().join("chain.pem")).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3, "{chain}");
    // The same chain over plain HTTP, and the OCSP and CRL routes on the HTTPS port too: one
    // server, two listeners. Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain_chain = fetch
        .replace(
            &format!("--cacert {}/tls/registry.pem ", data.display()),
            "",
        )
        .replace(
            &format!("https://127.0.0.1:{publication_tls}"),
            &format!("http://127.0.0.1:{publication}"),
        )
        .replace("-o chain.pem", "-o plain-chain.pem");
    let (ok, out) = shell(&format!("cd {work} && {plain_chain}"));
    assert!(ok, "{plain_chain}: {out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("plain-chain.pem")).unwrap(),
        chain
    );
    let (ok, out) = shell(&format!(
        "curl -sf --cacert {}/tls/registry.pem -o /dev/null -w '%{{http_code}}' https://127.0.0.1:{publication_tls}/crl/france.crl",
        data.display()
    ));
    assert!(ok && out.trim() == "200", "CRL over HTTPS: {out}");
    // Errors on the publication port are problem+json too.
    for (method, path, code) in [("GET", "/nothing", 404), ("POST", "/crl/root.crl", 405)] {
        let (_, out) = shell(&format!(
            "curl -s -X {method} -o /dev/null -w '%{{http_code}} %{{content_type}}' http://127.0.0.1:{publication}{path}"
        ));
        assert_eq!(
            out.trim(),
            format!("{code} application/problem+json"),
            "{method} {path}"
        );
    }
    let (ok, out) = shell(&format!(
        "curl -s -m 5 http://127.0.0.1:{publication_tls}/healthz"
    ));
    assert!(
        !ok || !out.contains("ok"),
        "plain HTTP on the TLS port: {out}"
    );
    let (ok, out) = shell(&printed_command(&printed, "openssl verify"));
    assert!(ok && out.contains(": OK"), "openssl verify: {out}");
    // The whole chain's revocation: every tier's CRL, the root's from its ceremony.
    let fetch = printed_command(&printed, "for ca in root europe france");
    let (ok, out) = shell(&format!("cd {} && {fetch}", data.display()));
    assert!(ok, "fetching the CRLs: {out}");
    let verify = printed_command(&printed, "openssl verify -crl_check_all");
    let (ok, out) = shell(&format!("cd {} && {verify}", data.display()));
    assert!(
        ok && out.contains(": OK"),
        "openssl verify -crl_check_all: {out}"
    );
    let ocsp = printed_command(&printed, "openssl ocsp");
    let (ok, out) = shell(&ocsp);
    assert!(
        ok && out.contains("Response verify OK") && out.contains(": good"),
        "openssl ocsp: {out}"
    );

    // `tsca admin` talks to the same registry; a refused request names the field.
    let admin_token = printed
        .iter()
        .find_map(|l| l.strip_prefix("Root admin token:"))
        .unwrap()
        .trim()
        .to_owned();
    // The token from a file, as the docs say (never on the command line).
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{admin_token}\n")).unwrap();
    let admin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tsca"))
            .args([
                "admin",
                "--registry",
                &format!("https://127.0.0.1:{registry}"),
                "--cacert",
            ])
            .arg(data.join("tls/registry.pem"))
            .arg("--token-file")
            .arg(&token_file)
            .args(["--output", "json"])
            .args(args)
            .output()
            .unwrap()
    };
    // A tsca-family root has no domain CRL signer: its CAs sign their own CRLs.
    let out = admin(&["crl-signer-csr", "--authority", "1"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && said.contains("422")
            && said.contains("not the root of a SHAKEN hierarchy"),
        "{said}"
    );
    // A token on the command line is refused, saying where it goes instead.
    let argv = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["admin", "--token", &admin_token, "authorities"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&argv.stderr);
    assert!(
        !argv.status.success() && said.contains("--token-file"),
        "{said}"
    );
    assert!(
        !said.contains(&admin_token),
        "the refusal must not echo the token: {said}"
    );
    let create = [
        "--idempotency-key",
        "acme-1",
        "create-operator",
        "--authority",
        "3",
        "--name",
        "Acme Mobile",
        "--country",
        "FR",
    ];
    let out = admin(&create);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["operator"]["name"], "Acme Mobile");
    assert!(first["token"]["token"].is_string());
    // The same command with the same key: the first result, no second operator, and the
    // secret is not shown again.
    let out = admin(&create);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["operator"]["id"], first["operator"]["id"]);
    assert!(again["token"]["token"].is_null(), "{again}");
    // Numbers for it, and their end moved a day ahead.
    let acme = first["operator"]["id"].to_string();
    let out = admin(&["assign", "--operator", &acme, "--resource", "prefix:3375"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let assignment: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tomorrow = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400)
        .to_string();
    let out = admin(&[
        "set-assignment-end",
        "--assignment",
        &assignment["id"].to_string(),
        "--valid-to",
        &tomorrow,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(moved["assignment"]["valid_to"].to_string(), tomorrow);
    let out = admin(&[
        "create-operator",
        "--authority",
        "3",
        "--name",
        "Bad",
        "--country",
        "France",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("field country"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A national CA from the command line: it needs an organization and a country.
    let out = admin(&[
        "create-authority",
        "--name",
        "germany",
        "--tier",
        "national",
        "--parent",
        "2",
        "--scope",
        "prefix:49",
        "--scope",
        "spc:*",
        "--common-name",
        "Quickstart National CA Germany",
        "--organization",
        "Quickstart Regulator DE",
        "--country",
        "DE",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let germany: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(germany["status"], "active", "{germany}");
    // A reader that goes away ends the command quietly.
    let (_, piped) = shell(&format!(
        "{} admin --registry https://127.0.0.1:{registry} --cacert {} --token-file {} authorities | head -c 5 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_tsca"),
        data.join("tls/registry.pem").display(),
        token_file.display()
    ));
    assert!(
        piped.contains("status 0") && !piped.contains("panicked"),
        "{piped}"
    );
    // Without --cacert, the TLS failure says what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args([
            "admin",
            "--registry",
            &format!("https://127.0.0.1:{registry}"),
            "--token-file",
        ])
        .arg(&token_file)
        .arg("authorities")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("--cacert"), "{said}");
    // The quickstart's TLS certificate names its host and is valid for two years, not forever.
    let (_, cert) = shell(&format!(
        "openssl x509 -in {} -noout -subject -enddate",
        data.join("tls/registry.pem").display()
    ));
    assert!(cert.contains("tsca quickstart 127.0.0.1"), "{cert}");
    let year: i32 = cert
        .lines()
        .find_map(|l| l.strip_prefix("notAfter="))
        .and_then(|d| d.split_whitespace().nth(3))
        .and_then(|y| y.parse().ok())
        .unwrap();
    let this_year = i32::from(jiff::Zoned::now().year());
    assert!((this_year + 1..=this_year + 2).contains(&year), "{cert}");

    // Revoke with the printed command, then OCSP says revoked (from the responder's cache,
    // updated by the revocation event).
    let revoke = printed
        .iter()
        .map(|l| l.trim())
        .find(|l| l.contains("/revoke"))
        .unwrap()
        .to_owned();
    let (ok, out) = shell(&revoke.replace("curl ", "curl -sf "));
    assert!(ok && out.contains("\"revoked\""), "revoke: {out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out) = shell(&ocsp);
        if out.contains(": revoked") {
            assert!(out.contains("Response verify OK"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "still not revoked: {out}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Ctrl-C: a clean stop.
    let status = interrupt(&mut run.child);
    assert!(status.success(), "exit status after SIGINT: {status}");

    // A second run reuses the data: the certificate is still revoked.
    let mut again = start(&data, ports);
    wait_ready(publication);
    let (_, out) = shell(&ocsp);
    assert!(out.contains(": revoked"), "after restart: {out}");
    let status = interrupt(&mut again.child);
    assert!(status.success());
}

/// `tsca quickstart --profile shaken`: the hierarchy follows the SHAKEN profiles
/// (docs/profiles.md) and what a SHAKEN verifier checks holds: P-256 throughout, the names,
/// a chain openssl verifies, through the domain CRL too, and an OCSP answer; an enrolment naming numbers is refused with
/// the SHAKEN rule.
#[test]
fn a_shaken_quickstart_issues_shaken_certificates() {
    if !have("curl") || !have("openssl") {
        eprintln!("skipped: curl or openssl not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports::free();
    let mut running = start_with(&data, ports, &["--profile", "shaken"]);
    wait_ready(ports.publication);
    let d = data.display();
    let (_, subject) = shell(&format!(
        "openssl x509 -in {d}/example-operator/certificate.pem -noout -subject -text"
    ));
    assert!(
        subject.contains("CN = Example Telecom SHAKEN F0042"),
        "{subject}"
    );
    assert!(subject.contains("serialNumber = operator-1"), "{subject}");
    assert!(
        subject.contains("Policy: 2.16.840.1.114569.1.1.4"),
        "{subject}"
    );
    assert!(subject.contains("URI:http://127.0.0.1:"), "{subject}");
    assert!(subject.contains("/crl/domain.crl"), "{subject}");
    assert!(
        !subject.contains("Authority Information Access"),
        "{subject}"
    );
    let (ok, out) = shell(&format!(
        "openssl verify -x509_strict -CAfile {d}/offline-root/root.pem -untrusted {d}/example-operator/chain.pem {d}/example-operator/certificate.pem"
    ));
    assert!(ok && out.contains(": OK"), "{out}");
    let ocsp = printed_command(&running.printed, "openssl ocsp");
    let (ok, out) = shell(&ocsp);
    assert!(ok && out.contains(": good"), "{out}");
    // The whole chain's revocation, as printed: the domain's indirect CRL and the root's.
    let crl_check = [
        "for crl in domain root",
        "curl -s http://",
        "openssl verify -crl_check_all -extended_crl",
    ]
    .map(|start| printed_command(&running.printed, start))
    .join(" && ");
    let (ok, out) = shell(&format!("cd {d} && {crl_check}"));
    assert!(ok && out.contains("certificate.pem: OK"), "{out}");
    // A SHAKEN certificate names one SPC and nothing else.
    let token = std::fs::read_to_string(data.join("secrets/operator-token")).unwrap();
    let (_, answer) = shell(&format!(
        "openssl ecparam -name prime256v1 -genkey -noout -out {d}/k.pem && \\
         openssl req -new -key {d}/k.pem -subj /CN=x -out {d}/x.csr && \\
         python3 -c 'import json,sys; print(json.dumps({{\"csr\": open(sys.argv[1]).read(), \"scope\": [\"spc:F0042\", \"range:33612340000+10000\"]}}))' {d}/x.csr > {d}/e.json && \\
         curl -s --cacert {d}/tls/registry.pem -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d @{d}/e.json https://127.0.0.1:{}/v1/enrolments",
        token.trim(),
        ports.registry
    ));
    assert!(answer.contains("exactly one SPC"), "{answer}");

    // A new domain CRL signer through the CLI, as docs/operations.md says: its CSR from the
    // registry, its certificate from the root's ceremony, installed; a wrong certificate is
    // refused first, naming the rule.
    let admin = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
            .args(["admin", "--registry"])
            .arg(format!("https://127.0.0.1:{}", ports.registry))
            .arg("--cacert")
            .arg(data.join("tls/registry.pem"))
            .arg("--token-file")
            .arg(data.join("secrets/admin-token"))
            .args(["--output", "json"])
            .args(args)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    let (ok, said) = admin(&["crl-signer", "--authority", "1"]);
    assert!(
        ok && said.contains("\"active\"") && said.contains("\"pending\": null"),
        "{said}"
    );
    let csr = format!("{d}/signer.csr");
    let (ok, said) = admin(&["crl-signer-csr", "--authority", "1", "--out", &csr]);
    assert!(
        ok && said.contains("tsca ceremony sign-crl-signer"),
        "{said}"
    );
    let operator_pem = format!("{d}/example-operator/certificate.pem");
    let (ok, said) = admin(&["install-crl-signer", "--authority", "1", &operator_pem]);
    assert!(
        !ok && said.contains("(field body)") && said.contains("signer"),
        "{said}"
    );
    let signer_pem = format!("{d}/signer.pem");
    let signed = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["ceremony", "sign-crl-signer", "--root"])
        .arg(data.join("offline-root"))
        .args(["--csr", &csr, "--out", &signer_pem, "--passphrase-file"])
        .arg(data.join("secrets/root-ceremony-passphrase"))
        .output()
        .unwrap();
    assert!(
        signed.status.success()
            && String::from_utf8_lossy(&signed.stdout).contains("install-crl-signer"),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let (ok, said) = admin(&["install-crl-signer", "--authority", "1", &signer_pem]);
    assert!(ok && said.contains("\"crl_number\": 2"), "{said}");
    // The new signer's CRL, checked the way the welcome prints it.
    let (ok, out) = shell(&format!("cd {d} && {crl_check}"));
    assert!(ok && out.contains("certificate.pem: OK"), "{out}");
    interrupt(&mut running.child);
}
