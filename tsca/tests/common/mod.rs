//! What the end-to-end tests of the `tsca` binary share: free ports, `tsca quickstart`
//! started in a folder and read until it is serving, a shell for the commands it prints, and
//! a clean stop with SIGINT.

#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        || Command::new(tool)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
}

pub struct Running {
    pub child: Child,
    pub printed: Vec<String>,
}

/// The quickstart's three ports.
#[derive(Clone, Copy)]
pub struct Ports {
    pub registry: u16,
    pub publication: u16,
    pub publication_tls: u16,
}

impl Ports {
    pub fn free() -> Ports {
        Ports {
            registry: free_port(),
            publication: free_port(),
            publication_tls: free_port(),
        }
    }
}

pub fn start(dir: &std::path::Path, ports: Ports) -> Running {
    start_with(dir, ports, &[])
}

pub fn start_with(dir: &std::path::Path, ports: Ports, extra: &[&str]) -> Running {
    let Ports {
        registry,
        publication,
        publication_tls,
    } = ports;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsca"))
        .args(["quickstart", "--data-dir"])
        .arg(dir)
        .args(["--registry-addr", &format!("127.0.0.1:{registry}")])
        .args(["--publication-addr", &format!("127.0.0.1:{publication}")])
        .args([
            "--publication-tls-addr",
            &format!("127.0.0.1:{publication_tls}"),
        ])
        .args(extra)
        .env("TSCA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.starts_with("Ctrl-C stops it");
            let _ = tx.send(line);
            if done {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut printed = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                let done = line.starts_with("Ctrl-C stops it");
                printed.push(line);
                if done {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("quickstart exited early: {status}\n{}", printed.join("\n"));
                }
            }
            Err(_) => break,
        }
    }
    Running { child, printed }
}

pub fn wait_ready(publication: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{publication}/healthz")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the publication point never became ready");
}

pub fn shell(command: &str) -> (bool, String) {
    let out = Command::new("bash").args(["-c", command]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn printed_command(printed: &[String], starts: &str) -> String {
    printed
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| {
            panic!(
                "no printed command starting with {starts:?}:\n{}",
                printed.join("\n")
            )
        })
        .to_owned()
}

pub fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tsca did not stop within 30 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
