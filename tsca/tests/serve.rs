//! `tsca serve --config FILE` as an operator runs it: a config with secrets in files, plain
//! HTTP for the registry (as behind a TLS proxy), both parts in one process; ready, then a
//! clean stop on SIGTERM. Then an OCSP-only node on the same database, holding the responder
//! passphrase and no CA key. And a config error names the key.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// `tsca serve` with `config` written to `dir`/tsca.toml, its secrets from files only.
fn serve_with(dir: &std::path::Path, config: &str) -> std::process::Child {
    let path = dir.join("tsca.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("TSCA_LOG", "warn")
        .env_remove("TSCA_KEY_PASSPHRASE")
        .env_remove("TSCA_RESPONDER_KEY_PASSPHRASE")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn serve_from_a_config_file_then_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, publication) = (free_port(), free_port());
    std::fs::write(dir.path().join("passphrase"), "a long enough passphrase\n").unwrap();
    std::fs::write(
        dir.path().join("responder-passphrase"),
        "another long passphrase\n",
    )
    .unwrap();
    let config = format!(
        "[database]\nurl = \"sqlite://{db}/tsca.db\"\n\n[keys]\npassphrase_file = \"{d}/passphrase\"\n\
         responder_passphrase_file = \"{d}/responder-passphrase\"\n\n\
         [registry]\nlisten = \"127.0.0.1:{registry}\"\nplain_http = true\n\n\
         [publication]\nlisten = \"127.0.0.1:{publication}\"\nbase_url = \"http://127.0.0.1:{publication}\"\n",
        db = dir.path().display(),
        d = dir.path().display()
    );
    let child = serve_with(dir.path(), &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        if let Some(answer) = get(registry, "/readyz") {
            break answer;
        }
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains("\"ready\""), "{ready}");
    let health = get(publication, "/healthz").unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The OCSP responder is mounted on the publication port: garbage gets an OCSP error.
    let ocsp = get(publication, "/ocsp/not-base64!").unwrap();
    assert!(ocsp.contains("application/ocsp-response"), "{ocsp}");

    // SIGHUP (systemctl reload) with no TLS files to re-read does not end it.
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let health = get(publication, "/healthz").expect("still serving after SIGHUP");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // Idle keep-alive clients on both ports do not hold the stop up: the one connection loop
    // asks every open connection to close once its request in flight is answered.
    let _idle_publication = kept_alive(publication, "/healthz");
    let _idle_registry = kept_alive(registry, "/healthz");
    let stopping = Instant::now();
    stop(child);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "idle connections held the stop up for {:?}",
        stopping.elapsed()
    );

    // An OCSP-only node on the same database: with the CA-key passphrase it refuses to
    // start, naming it; with the responder passphrase alone it serves.
    let ocsp_only = format!(
        "[database]\nurl = \"sqlite://{db}/tsca.db\"\n\n[keys]\n\
         responder_passphrase_file = \"{d}/responder-passphrase\"\n\n\
         [publication]\nlisten = \"127.0.0.1:{publication}\"\nbase_url = \"http://127.0.0.1:{publication}\"\n\n\
         [services]\nrun = [\"ocsp\"]\n",
        db = dir.path().display(),
        d = dir.path().display()
    );
    let path = dir.path().join("ocsp.toml");
    std::fs::write(&path, &ocsp_only).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("TSCA_KEY_PASSPHRASE", "a long enough passphrase")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{text}");
    assert!(
        text.contains("must not hold the CA-key passphrase"),
        "{text}"
    );
    assert!(
        !text.contains("a long enough passphrase"),
        "the secret is never echoed: {text}"
    );
    let child = serve_with(dir.path(), &ocsp_only);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        if let Some(answer) = get(publication, "/readyz") {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the OCSP-only node never became ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let ocsp = get(publication, "/ocsp/not-base64!").unwrap();
    assert!(ocsp.contains("application/ocsp-response"), "{ocsp}");
    // Its metrics, on its only port.
    let metrics = get(publication, "/metrics").unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("tsca_ocsp_requests_total"), "{metrics}");
    stop(child);
}

/// A connection that has had one answer and stays open, idle.
fn kept_alive(port: u16, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buffer = [0u8; 4096];
    let read = stream.read(&mut buffer).unwrap();
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    stream
}

/// SIGTERM, then a clean exit within 30 s.
fn stop(mut child: std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_bad_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsca.toml");
    std::fs::write(&path, "[database]\nurl = \"sqlite://x.db\"\n\n[registry]\nlisten = \"127.0.0.1:1\"\ntls_cert = \"a.pem\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("tls_cert"), "{text}");
    // The HTTPS side of the publication point is all or nothing, and its URL is https://.
    for (publication, expected) in [
        (
            "tls_listen = \"127.0.0.1:1\"\n",
            "tls_certificate, tls_private_key and tls_base_url go together",
        ),
        (
            "tls_listen = \"127.0.0.1:1\"\ntls_base_url = \"http://pki\"\ntls_certificate = \"c.pem\"\ntls_private_key = \"k.pem\"\n",
            "must be an https:// URL",
        ),
    ] {
        std::fs::write(
            &path,
            format!("[database]\nurl = \"sqlite://x.db\"\n\n[publication]\n{publication}"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && text.contains(expected), "{text}");
    }
    std::fs::write(&path, "[database]\nurl = \"sqlite://x.db\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("TSCA_KEY_PASSPHRASE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("passphrase"),
        "{text}"
    );
}

/// The fingerprint of the certificate a TLS port presents (openssl s_client), if it answers.
fn presented_certificate(port: u16) -> Option<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo | openssl s_client -connect 127.0.0.1:{port} 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The registry takes a new TLS certificate on SIGHUP, without a restart
/// (docs/operations.md, "TLS certificates").
#[test]
fn the_registry_takes_a_new_tls_certificate_on_sighup() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (registry, publication) = (free_port(), free_port());
    let write_pair = |name: &str| {
        let pair = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), pair.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), pair.key_pair.serialize_pem()).unwrap();
    };
    write_pair("first.example");
    std::fs::write(dir.path().join("passphrase"), "a long enough passphrase\n").unwrap();
    std::fs::write(dir.path().join("responder"), "another long passphrase\n").unwrap();
    let config = format!(
        "[database]\nurl = \"sqlite://{d}/tsca.db\"\n\n[keys]\npassphrase_file = \"{d}/passphrase\"\n\
         responder_passphrase_file = \"{d}/responder\"\n\n\
         [registry]\nlisten = \"127.0.0.1:{registry}\"\ntls_certificate = \"{d}/cert.pem\"\n\
         tls_private_key = \"{d}/key.pem\"\n\n\
         [publication]\nlisten = \"127.0.0.1:{publication}\"\nbase_url = \"http://127.0.0.1:{publication}\"\n"
    );
    let child = serve_with(dir.path(), &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(publication, "/healthz").is_none() {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = presented_certificate(registry).expect("the registry answers TLS");
    assert!(before.contains("Fingerprint"), "{before}");

    write_pair("second.example");
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = presented_certificate(registry).expect("still serving after SIGHUP");
        if now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still presenting {now} after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(child);
}
