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
            "--publication-base-url",
            "http://pki.example.net",
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
            "--publication-base-url",
            "http://pki.example.net",
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
            "--publication-base-url",
            "http://pki.example.net",
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
    root_crl_ceremonies(&root, &out, pass);

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

/// The root's CRL on the offline machine: the first one from init-root, then `revoke` (by
/// serial or by certificate) and `sign-crl`, each with the next cRLNumber; what cannot be
/// revoked or signed is refused with a message saying what to do.
fn root_crl_ceremonies(root: &std::path::Path, regional_pem: &std::path::Path, pass: &str) {
    let root_s = root.to_str().unwrap();
    let crl_at =
        || ca_core::crl::parse_crl(&std::fs::read(root.join("root.crl")).unwrap()).unwrap();
    let root_cert = Certificate::from_pem(&std::fs::read(root.join("root.pem")).unwrap()).unwrap();
    let first = crl_at();
    first.verify_signature(&root_cert).unwrap();
    assert_eq!((first.crl_number_u64(), first.len()), (Some(1), 0));
    let validity = first
        .next_update()
        .unwrap()
        .duration_since(first.this_update())
        .unwrap();
    assert_eq!(validity.as_secs(), 365 * 86_400, "the default: a year");

    let regional = Certificate::from_pem(&std::fs::read(regional_pem).unwrap()).unwrap();
    let dp = regional
        .tbs_certificate
        .extension(&ca_core::x509::Oid::parse_dotted("2.5.29.31").unwrap())
        .unwrap()
        .expect("a CRL distribution point on the ceremony-signed sub-CA");
    assert!(
        String::from_utf8_lossy(dp.extn_value.as_bytes())
            .contains("http://pki.example.net/crl/root.crl"),
        "{dp:?}"
    );
    let serial = hex::encode(regional.tbs_certificate.serial_number.as_bytes());

    let unknown = tsca(
        &[
            "ceremony",
            "revoke",
            "--root",
            root_s,
            "--serial",
            "01",
            "--reason",
            "cACompromise",
        ],
        pass,
    );
    assert!(
        !unknown.status.success()
            && text(&unknown).contains("not among the certificates this root signed"),
        "{}",
        text(&unknown)
    );
    let on_hold = tsca(
        &[
            "ceremony",
            "revoke",
            "--root",
            root_s,
            "--serial",
            &serial,
            "--reason",
            "certificateHold",
        ],
        pass,
    );
    assert!(
        !on_hold.status.success() && text(&on_hold).contains("revocation is final"),
        "{}",
        text(&on_hold)
    );
    let not_ours = tsca(
        &[
            "ceremony",
            "revoke",
            "--root",
            root_s,
            "--certificate",
            root.join("root.pem").to_str().unwrap(),
            "--reason",
            "cACompromise",
        ],
        pass,
    );
    assert!(
        !not_ours.status.success() && text(&not_ours).contains("does not revoke itself"),
        "{}",
        text(&not_ours)
    );
    assert_eq!(
        crl_at().crl_number_u64(),
        Some(1),
        "nothing signed by the refusals"
    );

    let revoked = tsca(
        &[
            "ceremony",
            "revoke",
            "--root",
            root_s,
            "--serial",
            &serial.to_uppercase(),
            "--reason",
            "cACompromise",
        ],
        pass,
    );
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(
        text(&revoked).contains("install it: tsca admin install-crl"),
        "{}",
        text(&revoked)
    );
    let second = crl_at();
    second.verify_signature(&root_cert).unwrap();
    assert_eq!(second.crl_number_u64(), Some(2));
    let entries: Vec<_> = second.entries().map(Result::unwrap).collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(hex::encode(entries[0].serial.as_bytes()), serial);
    assert_eq!(
        entries[0].reason,
        Some(ca_core::revocation::RevocationReason::CaCompromise)
    );
    let twice = tsca(
        &[
            "ceremony",
            "revoke",
            "--root",
            root_s,
            "--certificate",
            regional_pem.to_str().unwrap(),
            "--reason",
            "superseded",
        ],
        pass,
    );
    assert!(
        !twice.status.success() && text(&twice).contains("already revoked"),
        "{}",
        text(&twice)
    );

    let too_long = tsca(
        &[
            "ceremony",
            "sign-crl",
            "--root",
            root_s,
            "--crl-days",
            "400",
        ],
        pass,
    );
    assert!(
        !too_long.status.success() && text(&too_long).contains("1 to 366 days"),
        "{}",
        text(&too_long)
    );
    let resigned = tsca(
        &["ceremony", "sign-crl", "--root", root_s, "--crl-days", "30"],
        pass,
    );
    assert!(resigned.status.success(), "{}", text(&resigned));
    let third = crl_at();
    assert_eq!((third.crl_number_u64(), third.len()), (Some(3), 1));
    let validity = third
        .next_update()
        .unwrap()
        .duration_since(third.this_update())
        .unwrap();
    assert_eq!(validity.as_secs(), 30 * 86_400);
}

/// A SHAKEN root (docs/profiles.md): `init-root --profile shaken` makes a P-256 root named in
/// the registry; sub-CAs need their registry identifier; the domain CRL signer is certified
/// from its CSR; and the root's CRL (it keeps cRLSign) revokes what it signed.
#[test]
fn shaken_root_ceremony_signs_the_family() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let root_s = root.to_str().unwrap();
    let pass = "correct horse battery staple";
    let init = |cn: &str| {
        tsca(
            &[
                "ceremony",
                "init-root",
                "--out",
                root_s,
                "--common-name",
                cn,
                "--organization",
                "Test STI-PA",
                "--country",
                "US",
                "--allow",
                "prefix:1",
                "--allow",
                "spc:*",
                "--publication-base-url",
                "http://pki.example.net",
                "--profile",
                "shaken",
            ],
            pass,
        )
    };
    let unnamed = init("Test Root");
    assert!(
        !unnamed.status.success() && text(&unnamed).contains("contains \"SHAKEN\""),
        "{}",
        text(&unnamed)
    );
    let made = init("Test SHAKEN ROOT");
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).contains("profile family shaken"),
        "{}",
        text(&made)
    );
    let root_cert = Certificate::from_pem(&std::fs::read(root.join("root.pem")).unwrap()).unwrap();
    assert_eq!(
        root_cert.signature_algorithm.oid,
        ca_core::keys::ECDSA_WITH_SHA256,
        "a P-256 root"
    );
    assert!(
        root_cert.subject_text().contains("SERIALNUMBER=root")
            || root_cert.subject_text().contains("serialNumber=root"),
        "{}",
        root_cert.subject_text()
    );

    let csr_of = |name: &str| {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let csr = build_csr(&SubjectName::new(name, None, None).unwrap(), &key).unwrap();
        let path = dir.path().join(format!("{name}.csr"));
        std::fs::write(
            &path,
            ca_core::x509::pem_encode("CERTIFICATE REQUEST", &csr).unwrap(),
        )
        .unwrap();
        path
    };
    let regional_csr = csr_of("regional");
    let regional_pem = dir.path().join("regional.pem");
    let sign = |extra: &[&str]| {
        let mut args = vec![
            "ceremony",
            "sign-subca",
            "--root",
            root_s,
            "--csr",
            regional_csr.to_str().unwrap(),
            "--tier",
            "regional",
            "--scope",
            "prefix:1",
            "--scope",
            "spc:*",
            "--common-name",
            "Test SHAKEN Regional CA",
            "--organization",
            "Test Region",
            "--country",
            "US",
            "--out",
            regional_pem.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        tsca(&args, pass)
    };
    let anonymous = sign(&[]);
    assert!(
        !anonymous.status.success() && text(&anonymous).contains("--serial-number"),
        "{}",
        text(&anonymous)
    );
    let signed = sign(&["--serial-number", "europe"]);
    assert!(signed.status.success(), "{}", text(&signed));
    let regional = Certificate::from_pem(&std::fs::read(&regional_pem).unwrap()).unwrap();
    let path = ca_core::path::verify_path(
        &[regional.clone(), root_cert.clone()],
        std::slice::from_ref(&root_cert),
        SystemTime::now(),
    )
    .unwrap();
    assert!(
        path.leaf_scope().is_empty(),
        "SHAKEN CAs carry no numbering extension"
    );
    let policies = regional
        .tbs_certificate
        .extension(&ca_core::x509::Oid::parse_dotted("2.5.29.32").unwrap())
        .unwrap()
        .unwrap();
    let policies = <Vec<ca_core::profile::PolicyInformation> as der::Decode>::from_der(
        policies.extn_value.as_bytes(),
    )
    .unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(
        policies[0].policy_identifier.to_string(),
        ca_core::shaken::SHAKEN_CP_V1_4
    );

    let signer_csr = csr_of("signer");
    let signer_pem = dir.path().join("signer.pem");
    let signer = tsca(
        &[
            "ceremony",
            "sign-crl-signer",
            "--root",
            root_s,
            "--csr",
            signer_csr.to_str().unwrap(),
            "--out",
            signer_pem.to_str().unwrap(),
        ],
        pass,
    );
    assert!(signer.status.success(), "{}", text(&signer));
    let signer = Certificate::from_pem(&std::fs::read(&signer_pem).unwrap()).unwrap();
    assert!(
        signer
            .subject_text()
            .contains("CN=Test STI-PA SHAKEN CRL Signer"),
        "{}",
        signer.subject_text()
    );

    let revoked = tsca(
        &[
            "ceremony",
            "revoke",
            "--root",
            root_s,
            "--certificate",
            regional_pem.to_str().unwrap(),
            "--reason",
            "cACompromise",
        ],
        pass,
    );
    assert!(revoked.status.success(), "{}", text(&revoked));
    let crl = ca_core::crl::parse_crl(&std::fs::read(root.join("root.crl")).unwrap()).unwrap();
    crl.verify_signature(&root_cert).unwrap();
    assert_eq!((crl.crl_number_u64(), crl.len()), (Some(2), 1));
}

/// No environment variable's value appears in `--help`: a database URL holds a password, and
/// `tsca admin --help` would otherwise print the token's file path or the registry's URL.
#[test]
fn help_never_prints_environment_values() {
    for args in [
        &["--help"][..],
        &["migrate", "--help"],
        &["bootstrap", "--help"],
        &["audit", "verify", "--help"],
        &["admin", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
            .args(args)
            .env(
                "TSCA_DATABASE_URL",
                "postgres://tsca:sekrit-password@db/tsca",
            )
            .env("TSCA_TOKEN", "tsca_sekrit-token")
            .env("TSCA_TOKEN_FILE", "/run/sekrit-token-file")
            .env("TSCA_CACERT", "/etc/sekrit-ca.pem")
            .output()
            .unwrap();
        let shown = text(&out);
        assert!(out.status.success(), "{args:?}: {shown}");
        assert!(!shown.contains("sekrit"), "{args:?} shows a value: {shown}");
    }
}
