//! The hardened accept loop against idle, half-open and slow clients (docs/benchmarks.md, Targets S7): they
//! must not stop the responder from answering others, and they are closed after the
//! header-read timeout. Also keep-alive and the connection limit.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use ca_core::ocsp::{CertIdHash, CertStatusAnswer};
use common::*;
use ocsp_responder::OcspConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whether the server closed `stream` within `within` (EOF or reset on read).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // e.g. a 408 before closing
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_half_open_and_slow_clients_do_not_block_answers() {
    let pki = Pki::new().await;
    let cert = pki.issue_operator("Busy Telecom").await;
    let header_read_timeout = Duration::from_secs(2);
    let config = OcspConfig {
        header_read_timeout,
        body_read_timeout: Duration::from_secs(2),
        ..OcspConfig::default()
    };
    let running = start(&pki, config.clone()).await;
    let addr = running.addr;
    let responder = pki.responder_cert().await;
    let key = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    let der = request(&[key], None);

    // 200 idle connections that never send a byte, 20 that stop in the middle of a request
    // head, and 20 that send a head but only part of the promised body: all held open.
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut half_headers = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .await
            .unwrap();
        half_headers.push(s);
    }
    let mut half_bodies = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
            der.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&der[..10]).await.unwrap();
        half_bodies.push(s);
    }
    // A slowloris: one header byte a second, for longer than the header timeout.
    let slowloris = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        for byte in b"GET /ocsp/AAAA HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n" {
            if s.write_all(&[*byte]).await.is_err() {
                return Some(started.elapsed());
            }
            let mut buf = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await
            {
                return Some(started.elapsed());
            }
        }
        None
    });

    // Meanwhile, real requests are answered, on new connections, well before the idle ones
    // would have been cleared by the header timeout.
    let started = Instant::now();
    for _ in 0..10 {
        let r = post_ocsp(addr, &der).await;
        assert_eq!(
            r.verified(&responder).responses[0].status,
            CertStatusAnswer::Good
        );
        let r = get(addr, &get_path(&der, true)).await;
        assert_eq!(
            r.verified(&responder).responses[0].status,
            CertStatusAnswer::Good
        );
    }
    assert!(
        started.elapsed() < header_read_timeout,
        "20 answers took {:?} with 240 stalled connections open",
        started.elapsed()
    );

    // The stalled connections are closed by the server after the header (or body) timeout.
    let limit = header_read_timeout + Duration::from_secs(3);
    for s in held.iter_mut().take(20).chain(&mut half_headers) {
        assert!(
            closed_within(s, limit).await,
            "an idle or half-sent head was never closed"
        );
    }
    let body_limit = config.body_read_timeout + Duration::from_secs(3);
    for s in half_bodies.iter_mut().take(3) {
        assert!(
            closed_within(s, body_limit).await,
            "a half-sent body was never cut off"
        );
    }
    let cut = slowloris
        .await
        .unwrap()
        .expect("the slowloris client was never closed");
    assert!(
        cut < limit + Duration::from_secs(1),
        "slowloris cut after {cut:?}"
    );
}

/// Reads exactly one response (head and Content-Length body) off a kept-alive connection.
async fn read_one_response(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let length: usize = parse_http(&buf)
                .header("content-length")
                .unwrap()
                .parse()
                .unwrap();
            if buf.len() >= end + 4 + length {
                return buf;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed instead of kept alive");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_the_connection_limit() {
    let pki = Pki::new().await;
    let cert = pki.issue_operator("Keep-Alive Telecom").await;
    let config = OcspConfig {
        max_connections: 20,
        header_read_timeout: Duration::from_secs(1),
        ..OcspConfig::default()
    };
    let running = start(&pki, config).await;
    let addr = running.addr;
    let responder = pki.responder_cert().await;
    let der = request(&[pki.cert_id(CertIdHash::Sha1, &cert.serial)], None);

    // Several requests on one connection.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        der.len()
    );
    for _ in 0..3 {
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&der).await.unwrap();
        let buf = read_one_response(&mut s).await;
        parse_http(&buf).verified(&responder);
    }
    drop(s);

    // Fill the limit with idle connections: the next one is closed at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_millis(500)).await,
        "over the limit but kept"
    );
    assert!(running
        .service
        .metrics()
        .render_prometheus()
        .contains("tsca_ocsp_connections_refused_total 1"));

    // Once the header timeout has cleared the idle ones, requests are served again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = post_ocsp(addr, &der).await;
    r.verified(&responder);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_returns() {
    let pki = Pki::new().await;
    let cert = pki.issue_operator("Shutdown Telecom").await;
    let service = ocsp_responder::OcspService::start(sources(&pki.engine), OcspConfig::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ocsp_responder::serve(listener, service, async move {
        let _ = stopped.await;
    }));
    let der = request(&[pki.cert_id(CertIdHash::Sha1, &cert.serial)], None);
    // One connection idle from the start, one idle after a request (kept alive).
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut used = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        der.len()
    );
    used.write_all(head.as_bytes()).await.unwrap();
    used.write_all(&der).await.unwrap();
    read_one_response(&mut used).await;

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve did not return after shutdown")
        .unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(1)).await);
    assert!(closed_within(&mut used, Duration::from_secs(1)).await);
}
