//! What the responder answers, over real HTTP: good, revoked, never-issued and unknown-issuer
//! CertIDs by POST and GET, SHA-1 and SHA-256, several CertIDs, nonces; the caching headers;
//! revocations reaching a running responder; and malformed input of every kind answered with
//! the right OCSP error status.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use ca_core::ocsp::{
    BasicResponse, CertIdHash, CertIdKey, CertStatusAnswer, ErrorStatus, ParsedResponse,
};
use ca_core::revocation::RevocationReason;
use ca_store::Actor;
use common::*;
use ocsp_responder::OcspConfig;

fn actor() -> Actor {
    Actor::cli("ocsp-test")
}

fn single(basic: &BasicResponse, key: CertIdKey) -> CertStatusAnswer {
    assert_eq!(basic.responses.len(), 1, "{basic:?}");
    assert_eq!(basic.responses[0].cert_id, key, "the CertID is echoed");
    basic.responses[0].status
}

/// RFC 5019 §6.2 / RFC 9919 caching headers of a successful nonce-less response.
fn assert_cache_headers(r: &HttpResponse, basic: &BasicResponse) {
    let answer = &basic.responses[0];
    let now = SystemTime::now();
    let cache_control = r.header("cache-control").expect("Cache-Control");
    let max_age: u64 = cache_control
        .strip_prefix("max-age=")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache_control:?}"));
    for directive in ["public", "no-transform", "must-revalidate"] {
        assert!(cache_control.contains(directive), "{cache_control}");
    }
    let left = answer
        .next_update
        .duration_since(now)
        .unwrap_or_default()
        .as_secs();
    assert!(
        max_age <= left + 1,
        "max-age {max_age} runs past nextUpdate (in {left} s)"
    );
    assert!(
        max_age + 120 >= left,
        "max-age {max_age} far shorter than validity left {left}"
    );
    // The ETag names the signed part (a signature is unique): the first half of its SHA-256.
    let signed = ca_core::ocsp::split_response(&r.body).unwrap().signed;
    let digest = ring::digest::digest(&ring::digest::SHA256, signed);
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))).as_deref()
    );
    assert_eq!(
        r.header("last-modified"),
        Some(httpdate::fmt_http_date(answer.this_update)).as_deref()
    );
    assert_eq!(
        r.header("expires"),
        Some(httpdate::fmt_http_date(answer.next_update)).as_deref()
    );
}

fn assert_no_cache_headers(r: &HttpResponse) {
    for name in ["cache-control", "etag", "last-modified", "expires"] {
        assert_eq!(
            r.header(name),
            None,
            "{name} on a response that must not be cached"
        );
    }
}

fn error_status(r: &HttpResponse) -> ErrorStatus {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/ocsp-response"),
        "{r:?}"
    );
    assert_no_cache_headers(r);
    match r.ocsp() {
        ParsedResponse::Error(status) => status,
        other => panic!("expected an error status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_revoked_never_issued_and_unknown_issuer() {
    let pki = Pki::new().await;
    let good = pki.issue_operator("Good Telecom").await;
    let revoked = pki.issue_operator("Revoked Telecom").await;
    pki.revoke(&revoked, "keyCompromise").await;
    let running = start(&pki, OcspConfig::default()).await;
    let metrics = running.service.metrics();
    assert!(running.service.cached() >= 2, "warmed from the database");
    let late = pki.issue_operator("Late Telecom").await; // not in the warmed cache
    let responder = pki.responder_cert().await;
    let addr = running.addr;

    // Good, SHA-1, POST: from the cache, with the caching headers.
    let key = pki.cert_id(CertIdHash::Sha1, &good.serial);
    let der = request(&[key], None);
    let hits = metrics.cache_hits();
    let r = post_ocsp(addr, &der).await;
    let basic = r.verified(&responder);
    assert_eq!(single(&basic, key), CertStatusAnswer::Good);
    assert!(!basic.extended_revoke);
    assert_cache_headers(&r, &basic);
    assert_eq!(
        metrics.cache_hits(),
        hits + 1,
        "a pre-signed answer is served from memory"
    );

    // The same by GET, plain and percent-encoded base64: the same cached bytes.
    for encoded in [false, true] {
        let g = get(addr, &get_path(&der, encoded)).await;
        assert_eq!(g.body, r.body, "GET (percent-encoded: {encoded})");
        assert_cache_headers(&g, &g.verified(&responder));
    }

    // Revoked, with time and reason.
    let key = pki.cert_id(CertIdHash::Sha1, &revoked.serial);
    let r = post_ocsp(addr, &request(&[key], None)).await;
    let basic = r.verified(&responder);
    match single(&basic, key) {
        CertStatusAnswer::Revoked { time, reason } => {
            assert_eq!(reason, Some(RevocationReason::KeyCompromise));
            let age = SystemTime::now().duration_since(time).unwrap();
            assert!(age < Duration::from_secs(300), "revocation time {time:?}");
        }
        other => panic!("expected revoked, got {other:?}"),
    }
    assert_cache_headers(&r, &basic);

    // SHA-256: signed live the first time, then from the cache.
    let key = pki.cert_id(CertIdHash::Sha256, &good.serial);
    let der = request(&[key], None);
    let live = metrics.live_signed();
    let first = post_ocsp(addr, &der).await;
    let basic = first.verified(&responder);
    assert_eq!(single(&basic, key), CertStatusAnswer::Good);
    assert_cache_headers(&first, &basic);
    assert_eq!(metrics.live_signed(), live + 1);
    let hits = metrics.cache_hits();
    let second = get(addr, &get_path(&der, true)).await;
    assert_eq!(second.body, first.body);
    assert_eq!(metrics.cache_hits(), hits + 1);

    // Issued after the warm-up: signed live (then cached).
    let key = pki.cert_id(CertIdHash::Sha1, &late.serial);
    let r = post_ocsp(addr, &request(&[key], None)).await;
    assert_eq!(single(&r.verified(&responder), key), CertStatusAnswer::Good);

    // Our issuer, a serial never issued: revoked / certificateHold / 1970 + extended-revoke.
    for hash in [CertIdHash::Sha1, CertIdHash::Sha256] {
        let key = pki.cert_id(hash, [0x12, 0x34, 0x56, 0x78]);
        let r = post_ocsp(addr, &request(&[key], None)).await;
        let basic = r.verified(&responder);
        assert_eq!(single(&basic, key), CertStatusAnswer::NeverIssued);
        assert!(basic.extended_revoke);
    }

    // Reserved, issuance not completed: unknown, and not cached (it turns good without an
    // event when issuance completes).
    let serial = [0x33, 0x44, 0x55];
    let mut tx = pki.store.begin(jiff::Timestamp::now()).await.unwrap();
    tx.reserve_certificate(
        &ca_store::Reservation {
            issuer_id: pki.national_id,
            serial: ca_core::ident::Serial::new(&serial).unwrap(),
            profile: ca_core::profile::Profile::Operator,
            subject: "In Progress Telecom".into(),
            certified: ca_store::CertifiedSubject::Operator(good.operator_id().unwrap()),
            enrolment_id: None,
            not_before: jiff::Timestamp::UNIX_EPOCH,
            not_after: jiff::Timestamp::from_second(4_000_000_000).unwrap(),
            scope: ca_core::numbering::ScopeConstraint::Unconstrained,
            tbs_der: vec![0x30, 0x00],
            public_key: ca_core::ident::KeyFingerprint::from_bytes([3; 32]),
            reserved_by: pki.engine.instance().clone(),
        },
        &actor(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let key = pki.cert_id(CertIdHash::Sha1, serial);
    let live = metrics.live_signed();
    for _ in 0..2 {
        let r = post_ocsp(addr, &request(&[key], None)).await;
        assert_eq!(
            single(&r.verified(&responder), key),
            CertStatusAnswer::Unknown
        );
    }
    assert_eq!(
        metrics.live_signed(),
        live + 2,
        "an unknown answer is not cached"
    );

    // Issuers we do not answer for: a made-up one, and the offline root (whose key, hence
    // responder, is not here) for the regional CA's certificate.
    let stranger =
        CertIdKey::new(CertIdHash::Sha1, &[7; 20], &[9; 20], good.serial.as_bytes()).unwrap();
    let r = post_ocsp(addr, &request(&[stranger], None)).await;
    assert_eq!(error_status(&r), ErrorStatus::Unauthorized);
    let root_hashes = ca_core::ocsp::IssuerHashes::new(&pki.root).unwrap();
    let regional_id = root_hashes
        .cert_id(
            CertIdHash::Sha256,
            &pki.regional.tbs_certificate.serial_number,
        )
        .unwrap();
    let r = get(addr, &get_path(&request(&[regional_id], None), false)).await;
    assert_eq!(error_status(&r), ErrorStatus::Unauthorized);
    // Mixing one of ours with a stranger: one response has one signer.
    let ours = pki.cert_id(CertIdHash::Sha1, &good.serial);
    let r = post_ocsp(addr, &request(&[ours, stranger], None)).await;
    assert_eq!(error_status(&r), ErrorStatus::Unauthorized);

    // Several CertIDs in one request, mixed algorithms: answered in order, in one response.
    let keys = [
        pki.cert_id(CertIdHash::Sha1, &good.serial),
        pki.cert_id(CertIdHash::Sha256, &revoked.serial),
        pki.cert_id(CertIdHash::Sha1, [0x7f, 0x01]),
    ];
    let r = post_ocsp(addr, &request(&keys, None)).await;
    let basic = r.verified(&responder);
    let got: Vec<_> = basic
        .responses
        .iter()
        .map(|s| (s.cert_id, s.status))
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], (keys[0], CertStatusAnswer::Good));
    assert_eq!(got[1].0, keys[1]);
    assert!(matches!(
        got[1].1,
        CertStatusAnswer::Revoked {
            reason: Some(RevocationReason::KeyCompromise),
            ..
        }
    ));
    assert_eq!(got[2], (keys[2], CertStatusAnswer::NeverIssued));
    assert!(basic.extended_revoke);

    // A nonce: signed live, echoed, and no caching headers.
    let key = pki.cert_id(CertIdHash::Sha1, &good.serial);
    let live = metrics.live_signed();
    for nonce in [vec![0x42], vec![0xa5; 32], vec![0x5a; 128]] {
        let r = post_ocsp(addr, &request(&[key], Some(&nonce))).await;
        let basic = r.verified(&responder);
        assert_eq!(single(&basic, key), CertStatusAnswer::Good);
        assert_eq!(basic.nonce.as_deref(), Some(nonce.as_slice()));
        assert_no_cache_headers(&r);
    }
    assert_eq!(
        metrics.live_signed(),
        live + 3,
        "nonce requests are never served from the cache"
    );

    let text = metrics.render_prometheus();
    assert!(
        text.contains("tsca_ocsp_responses_total{path=\"cache\"}"),
        "{text}"
    );
    assert!(metrics.requests() >= 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_a_running_responder() {
    let pki = Pki::new().await;
    let cert = pki.issue_operator("Soon Revoked Telecom").await;
    let running = start(&pki, OcspConfig::default()).await;
    let responder = pki.responder_cert().await;
    let sha1 = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    let sha256 = pki.cert_id(CertIdHash::Sha256, &cert.serial);
    // Both answers cached as good first (SHA-1 pre-signed, SHA-256 live then cached).
    // The same bytes twice by POST and by GET: the second of each comes from the request
    // cache, which must follow the revocation below too.
    for key in [sha1, sha256] {
        for _ in 0..2 {
            let r = post_ocsp(running.addr, &request(&[key], None)).await;
            assert_eq!(single(&r.verified(&responder), key), CertStatusAnswer::Good);
            let r = get(running.addr, &get_path(&request(&[key], None), true)).await;
            assert_eq!(single(&r.verified(&responder), key), CertStatusAnswer::Good);
        }
    }
    let hits = running.service.metrics().cache_hits();
    assert!(hits >= 2, "both were served from the cache");

    pki.revoke(&cert, "superseded").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    for key in [sha1, sha256] {
        loop {
            let r = get(running.addr, &get_path(&request(&[key], None), true)).await;
            match single(&r.verified(&responder), key) {
                CertStatusAnswer::Revoked { reason, .. } => {
                    assert_eq!(reason, Some(RevocationReason::Superseded));
                    break;
                }
                CertStatusAnswer::Good => {
                    assert!(
                        Instant::now() < deadline,
                        "{key:?} still good 10 s after revocation"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(running.service.metrics().changes_applied() >= 1);
    // Still answered from memory after the revocation.
    // The POST bytes answered "good" before now get "revoked", from memory.
    let hits = running.service.metrics().cache_hits();
    for key in [sha1, sha256] {
        let r = post_ocsp(running.addr, &request(&[key], None)).await;
        assert!(matches!(
            single(&r.verified(&responder), key),
            CertStatusAnswer::Revoked { .. }
        ));
    }
    assert_eq!(running.service.metrics().cache_hits(), hits + 2);
    // A nonce request is signed live, with the status the cache holds: revoked too.
    for key in [sha1, sha256] {
        let r = post_ocsp(
            running.addr,
            &request(&[key], Some(b"after the revocation")),
        )
        .await;
        let basic = r.verified(&responder);
        assert!(matches!(
            single(&basic, key),
            CertStatusAnswer::Revoked { .. }
        ));
        assert_eq!(basic.nonce.as_deref(), Some(&b"after the revocation"[..]));
    }
}

/// `GET path` with one more request header.
async fn get_with(addr: std::net::SocketAddr, path: &str, name: &str, value: &str) -> HttpResponse {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{name}: {value}\r\nConnection: close\r\n\r\n"
    );
    send_raw(addr, raw.into_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_gets_get_304_with_the_caching_headers() {
    let pki = Pki::new().await;
    let cert = pki.issue_operator("Conditional Telecom").await;
    let running = start(&pki, OcspConfig::default()).await;
    for hash in [CertIdHash::Sha1, CertIdHash::Sha256] {
        let key = pki.cert_id(hash, &cert.serial);
        let path = get_path(&request(&[key], None), true);
        let first = get(running.addr, &path).await;
        assert_eq!(first.status, 200);
        let etag = first.header("etag").unwrap().to_owned();
        let modified = first.header("last-modified").unwrap().to_owned();
        let earlier = httpdate::fmt_http_date(
            httpdate::parse_http_date(&modified).unwrap() - Duration::from_secs(60),
        );
        let weak = format!("W/{etag}");
        for (name, value, expected) in [
            ("If-None-Match", etag.as_str(), 304),
            ("If-None-Match", weak.as_str(), 304),
            ("If-None-Match", "\"someone else's\"", 200),
            ("If-Modified-Since", modified.as_str(), 304),
            ("If-Modified-Since", earlier.as_str(), 200),
        ] {
            let r = get_with(running.addr, &path, name, value).await;
            assert_eq!(r.status, expected, "{hash:?} {name}: {value}");
            if expected == 304 {
                assert!(r.body.is_empty());
                assert_eq!(r.header("etag"), Some(etag.as_str()));
                assert!(r.header("cache-control").unwrap().contains("max-age="));
            } else {
                assert_eq!(r.body, first.body);
            }
        }
    }
    // An OCSP error carries no validators: never a 304.
    let r = get_with(running.addr, "/ocsp/not-base64!", "If-None-Match", "*").await;
    assert_eq!(r.status, 200);
    assert_eq!(error_status(&r), ErrorStatus::MalformedRequest);
}

/// Config for watching the push alone: the log is read every hour at most, so anything that
/// arrives sooner came by the wake-up after the commit.
fn push_only() -> OcspConfig {
    OcspConfig {
        follow_interval: Duration::from_secs(3600),
        ..OcspConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuance_reaches_a_running_responder_before_any_query() {
    let pki = Pki::new().await;
    let running = start(&pki, push_only()).await;
    let responder = pki.responder_cert().await;
    let before = running.service.cached();
    let cert = pki.issue_operator("Newly Issued Telecom").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.service.cached() == before {
        assert!(
            Instant::now() < deadline,
            "the new certificate's response did not reach the cache within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The first query after the issuance is answered from memory, not signed live.
    let metrics = running.service.metrics();
    let (hits, live) = (metrics.cache_hits(), metrics.live_signed());
    let key = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    let r = post_ocsp(running.addr, &request(&[key], None)).await;
    assert_eq!(single(&r.verified(&responder), key), CertStatusAnswer::Good);
    assert_eq!(metrics.cache_hits(), hits + 1);
    assert_eq!(metrics.live_signed(), live);
    assert!(metrics.changes_applied() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_resigned_before_half_their_validity() {
    // Responses valid 4 s: due for re-signing after 2 s.
    let pki = Pki::with_validity(Duration::from_secs(4)).await;
    let cert = pki.issue_operator("Short Lived Answers").await;
    let running = start(
        &pki,
        OcspConfig {
            refresh_interval: Duration::from_secs(3600),
            ..OcspConfig::default()
        },
    )
    .await;
    let responder = pki.responder_cert().await;
    let key = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    let before = post_ocsp(running.addr, &request(&[key], None))
        .await
        .verified(&responder);
    let stored_before = pki
        .engine
        .reader()
        .ocsp_response(cert.id)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (resigned, failed) = running.service.refresh_now().await.unwrap();
    assert_eq!(failed, 0);
    assert!(resigned >= 1);
    let r = post_ocsp(running.addr, &request(&[key], None)).await;
    let after = r.verified(&responder);
    assert!(after.responses[0].this_update > before.responses[0].this_update);
    assert_eq!(single(&after, key), CertStatusAnswer::Good);
    let stored_after = pki
        .engine
        .reader()
        .ocsp_response(cert.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored_after.this_update > stored_before.this_update,
        "stored back for other instances"
    );
    assert_eq!(stored_after.der, r.body);

    // Past nextUpdate with nobody re-signing, the cached answer is not served: the request
    // goes live and gets a fresh one.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let live = running.service.metrics().live_signed();
    let r = post_ocsp(running.addr, &request(&[key], None)).await;
    let fresh = r.verified(&responder);
    assert!(fresh.responses[0].next_update > SystemTime::now());
    assert_eq!(running.service.metrics().live_signed(), live + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_ocsp_errors() {
    let pki = Pki::new().await;
    let cert = pki.issue_operator("Target Telecom").await;
    let running = start(&pki, OcspConfig::default()).await;
    let addr = running.addr;
    let key = pki.cert_id(CertIdHash::Sha1, &cert.serial);
    let good = request(&[key], None);

    let mut wrong_tag = good.clone();
    wrong_tag[0] = 0x31; // SET instead of SEQUENCE
                         // A CertID hashed with MD5 (1.2.840.113549.2.5). Answered malformedRequest: it cannot be
                         // matched to an issuer, and RFC 9919 §2.1.1 has clients use SHA-1 or SHA-256 only.
    let mut md5 = key.to_cert_id().unwrap();
    md5.hash_algorithm.oid = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
    md5.issuer_name_hash = der::asn1::OctetString::new([1u8; 16]).unwrap();
    md5.issuer_key_hash = der::asn1::OctetString::new([2u8; 16]).unwrap();
    let too_many = request(&[key; 17], None); // the default limit is 16

    let ocsp = "application/ocsp-request";
    let cases: Vec<(&str, HttpResponse)> = vec![
        (
            "truncated DER",
            post(addr, ocsp, &good[..good.len() - 3]).await,
        ),
        (
            "trailing bytes",
            post(addr, ocsp, &[good.as_slice(), &[0]].concat()).await,
        ),
        ("wrong outer tag", post(addr, ocsp, &wrong_tag).await),
        ("empty body", post(addr, ocsp, &[]).await),
        ("1 MiB body", post(addr, ocsp, &vec![0x30; 1 << 20]).await),
        ("wrong content type", post(addr, "text/plain", &good).await),
        ("no content type", {
            let mut raw = format!(
                "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                good.len()
            )
            .into_bytes();
            raw.extend_from_slice(&good);
            send_raw(addr, raw).await
        }),
        (
            "0-octet nonce",
            post(addr, ocsp, &request(&[key], Some(&[]))).await,
        ),
        (
            "200-octet nonce",
            post(addr, ocsp, &request(&[key], Some(&[7; 200]))).await,
        ),
        (
            "129-octet nonce",
            post(addr, ocsp, &request(&[key], Some(&[7; 129]))).await,
        ),
        (
            "MD5 CertID",
            post(addr, ocsp, &request_for(vec![md5], None)).await,
        ),
        ("17 CertIDs", post(addr, ocsp, &too_many).await),
        ("bad base64 GET", get(addr, "/ocsp/not*base64!").await),
        ("GET of base64 garbage", get(addr, "/ocsp/AAAA").await),
        ("GET without a request", get(addr, "/ocsp/").await),
        ("GET /ocsp", get(addr, "/ocsp").await),
        (
            "PUT /ocsp",
            send_raw(
                addr,
                b"PUT /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            )
            .await,
        ),
    ];
    for (what, r) in &cases {
        assert_eq!(error_status(r), ErrorStatus::MalformedRequest, "{what}");
    }
    assert!(running.service.metrics().errors() >= cases.len() as u64);

    // The responder still answers properly afterwards.
    let responder = pki.responder_cert().await;
    let r = post_ocsp(addr, &good).await;
    assert_eq!(single(&r.verified(&responder), key), CertStatusAnswer::Good);
    // An unknown path is not ours: a plain 404, not an OCSP body.
    assert_eq!(get(addr, "/elsewhere").await.status, 404);
}
