//! The HTTP face: `POST /ocsp` and `GET /ocsp/{base64}` (RFC 6960 Appendix A, RFC 5019 /
//! RFC 9919 §2.1 and §6 headers), and the answer logic behind both.
//!
//! Every answer, good or bad, is HTTP 200 with an `application/ocsp-response` body: OCSP
//! clients read the OCSPResponseStatus, not the HTTP status (RFC 6960 §2.3).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use ca_core::ocsp::{error_response, CertIdKey, CertStatusAnswer, ErrorStatus, ParsedRequest};
use ca_service::answer_for;
use ca_store::{AuthorityId, CertificateId};

use crate::cache::{now, sign_answers, Cached, EntryKey, Ready, RequestForm, Timestamp};
use crate::OcspService;

const OCSP_REQUEST: &str = "application/ocsp-request";
const OCSP_RESPONSE: &str = "application/ocsp-response";

pub(crate) fn router(service: OcspService) -> Router {
    Router::new()
        .route("/ocsp", post(post_request).fallback(malformed))
        .route("/ocsp/", any(malformed))
        .route("/ocsp/{*request}", get(get_request).fallback(malformed))
        .with_state(service)
}

/// Whether the connection may be reused after an error answer. After refusing a body we did
/// not read, it may not: the rest of that body would be taken for the next request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AfterError {
    KeepAlive,
    Close,
}

/// An OCSP error response: unsigned, constant bytes, no caching headers (RFC 5019 §6.2
/// applies them to successful responses only).
fn error(service: &OcspService, status: ErrorStatus, after: AfterError) -> Response {
    service.inner.metrics.bump_error(status);
    let mut response = Response::new(Body::from(Bytes::from_static(error_response(status))));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    if after == AfterError::Close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Any other method on our paths, and `GET /ocsp/` without a request.
async fn malformed(State(service): State<OcspService>) -> Response {
    service.inner.metrics.bump_request();
    error(
        &service,
        ErrorStatus::MalformedRequest,
        AfterError::KeepAlive,
    )
}

async fn post_request(State(service): State<OcspService>, request: Request) -> Response {
    let config = &service.inner.config;
    service.inner.metrics.bump_request();
    // RFC 6960 Appendix A.1: the body is a DER OCSPRequest labelled application/ocsp-request.
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(OCSP_REQUEST) {
        return error(&service, ErrorStatus::MalformedRequest, AfterError::Close);
    }
    // Refuse a declared oversize body before reading any of it; the actual size is checked
    // while reading (a chunked body, or a lying Content-Length).
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > config.max_body_bytes as u64) {
        return error(&service, ErrorStatus::MalformedRequest, AfterError::Close);
    }
    // hyper bounds the time to read headers, not bodies: a body trickling in is cut off here.
    let body = tokio::time::timeout(
        config.body_read_timeout,
        axum::body::to_bytes(request.into_body(), config.max_body_bytes),
    )
    .await;
    match body {
        Ok(Ok(body)) => match hot(&service, RequestForm::Post, &body) {
            Some(response) => response,
            None => answer(&service, RequestForm::Post, &body, &body).await,
        },
        _ => error(&service, ErrorStatus::MalformedRequest, AfterError::Close),
    }
}

/// `GET /ocsp/{request}`. A client holding the answer already (its `If-None-Match` names the
/// ETag, or its `If-Modified-Since` is not before thisUpdate) gets `304 Not Modified` with
/// the caching headers (RFC 5019 §6.2 suggests HTTP caching; RFC 9110 §13 gives the rules).
async fn get_request(State(service): State<OcspService>, request: Request) -> Response {
    service.inner.metrics.bump_request();
    let path = request.uri().path();
    let raw = path.strip_prefix("/ocsp/").unwrap_or_default().as_bytes();
    let response = match hot(&service, RequestForm::Get, raw) {
        Some(response) => response,
        None => match decode_get_path(path, service.inner.config.max_body_bytes) {
            Some(der) => answer(&service, RequestForm::Get, raw, &der).await,
            None => error(
                &service,
                ErrorStatus::MalformedRequest,
                AfterError::KeepAlive,
            ),
        },
    };
    tsca_http::conditional::answer(request.method(), request.headers(), response)
}

/// The answer to request bytes seen before, straight from the request cache
/// ([`RequestCache`](crate::cache::RequestCache)): no decoding, no parsing.
fn hot(service: &OcspService, form: RequestForm, raw: &[u8]) -> Option<Response> {
    let inner = &service.inner;
    let now = now();
    let ready = inner.requests.get(&inner.cache, form, raw, now)?;
    inner.metrics.bump_cache_hit();
    Some(ready_success(&ready, now))
}

/// The DER request of a `GET /ocsp/{request}` path (RFC 6960 Appendix A.1: the base64 of
/// the DER, URL-encoded). The raw path is used, not a decoded path parameter, because the
/// base64 alphabet has '/' and '+', which clients send percent-encoded or not. The URL-safe
/// alphabet and missing padding are accepted too.
pub(crate) fn decode_get_path(path: &str, max_der: usize) -> Option<Vec<u8>> {
    let raw = path.strip_prefix("/ocsp/")?;
    if raw.len() > (max_der.div_ceil(3) * 4) * 3 + 16 {
        return None; // longer than the largest request could be, even fully percent-encoded
    }
    let text: Vec<u8> = percent_encoding::percent_decode_str(raw)
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let der = STANDARD
        .decode(&text)
        .or_else(|_| STANDARD_NO_PAD.decode(&text))
        .or_else(|_| URL_SAFE.decode(&text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(&text))
        .ok()?;
    (der.len() <= max_der).then_some(der)
}

/// Which issuer a request's CertIDs name.
enum IssuerMatch {
    /// All of them name this one.
    One(AuthorityId),
    /// Some CertID names no issuer of ours.
    Unknown,
    /// They name different issuers: one response has one signer, and a delegated responder
    /// speaks for one CA only, so this is answered `unauthorized` too.
    Several,
}

fn match_issuer(service: &OcspService, ids: &[CertIdKey]) -> IssuerMatch {
    let issuers = service.issuers();
    let mut found = None;
    for id in ids {
        match issuers.iter().find(|i| i.hashes.issued(id)) {
            None => return IssuerMatch::Unknown,
            Some(issuer) => match found {
                None => found = Some(issuer.issuer_id),
                Some(first) if first != issuer.issuer_id => return IssuerMatch::Several,
                Some(_) => {}
            },
        }
    }
    found.map_or(IssuerMatch::Unknown, IssuerMatch::One)
}

/// The answer to one DER OCSPRequest, which arrived as `raw` in `form`.
pub(crate) async fn answer(
    service: &OcspService,
    form: RequestForm,
    raw: &[u8],
    der: &[u8],
) -> Response {
    let inner = &service.inner;
    // Every ParsedRequest failure is malformedRequest, including a CertID hash other than
    // SHA-1 or SHA-256 (Error::OcspUnsupportedHash): such a CertID cannot be matched to any
    // issuer, so we could not even tell whether we are authoritative (`unauthorized`), and
    // RFC 9919 §2.1.1 has clients use SHA-1 or SHA-256, so the request is outside the
    // profile we serve. (Go's x/crypto/ocsp, and so Boulder, answer the same.)
    let Ok(parsed) = ParsedRequest::from_der(der, inner.config.max_requests_per_ocsp_request)
    else {
        return error(
            service,
            ErrorStatus::MalformedRequest,
            AfterError::KeepAlive,
        );
    };
    let ids = parsed.cert_ids();
    let nonce = parsed.nonce();
    let now = now();
    // Whose CertIDs are these (memory only)?
    let mut matched = match_issuer(service, ids);
    // Fast path: one CertID of ours, no nonce, cached and fresh. No database, no key.
    if let (IssuerMatch::One(issuer_id), [id], None) = (&matched, ids, nonce) {
        let key = EntryKey::new(*issuer_id, id);
        if let Some(cached) = inner.cache.get(&key, now) {
            inner.metrics.bump_cache_hit();
            let ready = Arc::new(Ready::new(key, cached));
            inner.requests.insert(form, raw, ready.clone());
            return ready_success(&ready, now);
        }
    }
    // Live path.
    if matches!(matched, IssuerMatch::Unknown) && service.reread_issuers_if_stale().await {
        matched = match_issuer(service, ids);
    }
    let IssuerMatch::One(issuer_id) = matched else {
        return error(service, ErrorStatus::Unauthorized, AfterError::KeepAlive);
    };
    // Bounded: past `live_signing_concurrency` signatures in flight, wait briefly, then
    // tryLater. Requests never queue without bound behind the database or the signer.
    let permit = tokio::time::timeout(inner.config.live_signing_wait, inner.live.acquire()).await;
    let Ok(Ok(_permit)) = permit else {
        inner.metrics.bump_try_later();
        return error(service, ErrorStatus::TryLater, AfterError::KeepAlive);
    };
    // Read before the database: a revocation applied after this must win over our answer.
    let generation = inner.cache.generation();
    let deadline = inner.config.live_answer_deadline;
    let Ok(signed) =
        tokio::time::timeout(deadline, sign_live(service, issuer_id, ids, nonce)).await
    else {
        tracing::warn!(
            ?deadline,
            "a live OCSP answer was not ready in time (database slow or gone); answering tryLater"
        );
        inner.metrics.bump_try_later();
        return error(service, ErrorStatus::TryLater, AfterError::KeepAlive);
    };
    let (der, this_update, next_update, cacheable) = match signed {
        Ok(signed) => signed,
        Err(crate::OcspError::NoResponder(issuer)) => {
            tracing::info!(%issuer, "no delegated responder yet; answering tryLater");
            inner.metrics.bump_try_later();
            return error(service, ErrorStatus::TryLater, AfterError::KeepAlive);
        }
        Err(e) if e.is_outage() => {
            tracing::warn!(error = %e, "the database is unavailable for a live OCSP answer; answering tryLater");
            inner.metrics.bump_try_later();
            return error(service, ErrorStatus::TryLater, AfterError::KeepAlive);
        }
        Err(e) => {
            tracing::warn!(error = %e, "live OCSP signing failed");
            return error(service, ErrorStatus::InternalError, AfterError::KeepAlive);
        }
    };
    inner.metrics.bump_live();
    if nonce.is_some() {
        // RFC 5019 §6.2 / RFC 9919: a nonce response is for this client only.
        return uncached_success(der);
    }
    let certificate_id = match (ids, cacheable.as_slice()) {
        ([_], [Some(id)]) => *id,
        // Several answers, or one about a serial that is not ours to cache: as signed,
        // with the caching headers.
        _ => crate::cache::NOT_CACHED,
    };
    let cached = match Cached::new(
        &inner.cache.certs,
        &der,
        this_update,
        next_update,
        certificate_id,
    ) {
        Ok(cached) => Arc::new(cached),
        Err(e) => {
            tracing::warn!(error = %e, "a live OCSP response does not split");
            return error(service, ErrorStatus::InternalError, AfterError::KeepAlive);
        }
    };
    if let ([id], [Some(_)]) = (ids, cacheable.as_slice()) {
        let key = EntryKey::new(issuer_id, id);
        if inner.cache.insert_live(key, cached.clone(), generation) {
            let ready = Arc::new(Ready::new(key, cached));
            inner.requests.insert(form, raw, ready.clone());
            return ready_success(&ready, now);
        }
    }
    let der = cached.der();
    success(
        der,
        &cached,
        [cached.etag(), cached.last_modified(), cached.expires()],
        now,
    )
}

type Signed = (Bytes, Timestamp, Timestamp, Vec<Option<CertificateId>>);

/// Looks every CertID up and signs one response answering them in order. Returns it with
/// its thisUpdate, nextUpdate and, per CertID, the certificate id when its answer may be
/// cached.
///
/// Only answers about certificates we issued, good or revoked, are cacheable. Never-issued
/// serials are unbounded in number and must not push real answers out; and an `unknown`
/// (reserved, issuance in progress) turns good when issuance completes, which sends no event
/// that would replace a cached answer.
async fn sign_live(
    service: &OcspService,
    issuer_id: AuthorityId,
    ids: &[CertIdKey],
    nonce: Option<&[u8]>,
) -> Result<Signed, crate::OcspError> {
    let inner = &service.inner;
    let mut answers = Vec::with_capacity(ids.len());
    let mut certificate_ids = Vec::with_capacity(ids.len());
    let now = now();
    for id in ids {
        // A certificate whose answer is cached: the cache is kept true by the revocation
        // events (cache.rs), so the status it gives is the one to sign again, here with the
        // request's nonce or beside other CertIDs, without reading the database.
        let cached = service.inner.cache.get(&EntryKey::new(issuer_id, id), now);
        if let Some((cached, status)) = cached.and_then(|c| c.status().map(|s| (c, s))) {
            certificate_ids.push(Some(cached.certificate_id));
            answers.push((*id, status));
            continue;
        }
        let record = inner
            .reader
            .certificate_by_serial(issuer_id, id.serial())
            .await?;
        let status = match &record {
            // Our issuer, a serial it never used (RFC 6960 §2.2, RFC 9919 extended revoke).
            None => CertStatusAnswer::NeverIssued,
            // Reserved but not completed → unknown; abandoned → revoked (answer_for).
            Some(record) => answer_for(record),
        };
        let cacheable = record.filter(|_| status != CertStatusAnswer::Unknown);
        certificate_ids.push(cacheable.map(|r| r.id));
        answers.push((*id, status));
    }
    let responder = inner
        .responders
        .get(issuer_id, crate::cache::timestamp(now))
        .await?
        .ok_or(crate::OcspError::NoResponder(issuer_id))?;
    let validity = inner.responders.response_validity();
    let (der, this_update, next_update) = sign_answers(validity, &responder, &answers, nonce)?;
    Ok((der, this_update, next_update, certificate_ids))
}

/// [`success`] for a ready answer (shared bytes and headers: reference counts only).
fn ready_success(ready: &Ready, now: Timestamp) -> Response {
    success(
        ready.der.clone(),
        &ready.cached,
        [
            ready.etag.clone(),
            ready.last_modified.clone(),
            ready.expires.clone(),
        ],
        now,
    )
}

/// A successful response with the RFC 5019 §6.2 / RFC 9919 caching headers (`validators`:
/// ETag, Last-Modified, Expires). `max-age` runs to nextUpdate and no further, so no HTTP
/// cache serves it after it stops being valid.
fn success(der: Bytes, cached: &Cached, validators: [HeaderValue; 3], now: Timestamp) -> Response {
    let mut response = uncached_success(der);
    // `now` is whole seconds, rounded down; count the current second as gone so that
    // max-age never reaches past nextUpdate, whatever the sub-second clock says.
    let max_age = (cached.next_update - now - 1).max(0);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "max-age={max_age}, public, no-transform, must-revalidate"
    )) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    let [etag, last_modified, expires] = validators;
    headers.insert(header::ETAG, etag);
    headers.insert(header::LAST_MODIFIED, last_modified);
    headers.insert(header::EXPIRES, expires);
    response
}

fn uncached_success(der: Bytes) -> Response {
    let mut response = Response::new(Body::from(der));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn get_paths_decode_in_every_spelling() {
        let der: Vec<u8> = (0u8..=255).collect(); // its base64 has '+' and '/'
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(b64.contains('+') && b64.contains('/'));
        let encoded = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
        for path in [
            &b64,
            &encoded,
            &url_safe,
            &b64.trim_end_matches('=').to_owned(),
        ] {
            assert_eq!(
                decode_get_path(&format!("/ocsp/{path}"), 1024),
                Some(der.clone()),
                "{path}"
            );
        }
        assert_eq!(decode_get_path("/ocsp/!!!", 1024), None);
        assert_eq!(
            decode_get_path(&format!("/ocsp/{b64}"), 100),
            None,
            "over the size limit"
        );
    }

    /// A responder on a fresh database that knows one issuer (no rows needed), and an
    /// OCSP request (POST body) about a serial of it that is in no cache.
    async fn one_issuer_service(
        config: crate::OcspConfig,
    ) -> (OcspService, ca_store::Store, Vec<u8>, tempfile::TempDir) {
        use ca_core::issue::{issue, CertificateRequest, Issuer};
        use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
        use ca_core::ocsp::{CertIdHash, IssuerHashes};
        use ca_core::profile::{Profile, SubjectName};
        use der::Encode;

        let dir = tempfile::tempdir().unwrap();
        let store = ca_store::Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let reader = store.reader();
        let keys =
            ca_service::KeyRing::new(reader.clone(), ca_service::KeyPassphrases::default(), 1_000);
        let sources = crate::OcspSources {
            responders: ca_service::ResponderSet::new(
                reader.clone(),
                keys,
                std::time::Duration::from_secs(3600),
            ),
            responses: store.ocsp_responses(),
            reader,
        };
        let service = OcspService::start(sources, config).await.unwrap();
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca = issue(
            &CertificateRequest {
                profile: Profile::Root,
                family: ca_core::profile::ProfileFamily::Tsca,
                subject: SubjectName::new("slot test", Some("Test"), Some("CH")).unwrap(),
                public_key: key.public_key().clone(),
                scope: None,
                not_before: std::time::SystemTime::now(),
                validity: None,
            },
            Issuer::SelfSigned,
            &key,
            &mut rand_core::OsRng,
        )
        .unwrap();
        let hashes = IssuerHashes::new(ca.certificate()).unwrap();
        *service.inner.issuers.write().unwrap() = Arc::new(vec![crate::KnownIssuer {
            issuer_id: AuthorityId(1),
            hashes: hashes.clone(),
        }]);
        let id = hashes
            .cert_id(
                CertIdHash::Sha256,
                &ca.certificate().tbs_certificate.serial_number,
            )
            .unwrap();
        let request = x509_ocsp::OcspRequest {
            tbs_request: x509_ocsp::TbsRequest {
                version: x509_ocsp::Version::V1,
                requestor_name: None,
                request_list: vec![x509_ocsp::Request {
                    req_cert: id.to_cert_id().unwrap(),
                    single_request_extensions: None,
                }],
                request_extensions: None,
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap();
        (service, store, request, dir)
    }

    async fn answer_status(service: &OcspService, request: &[u8]) -> ca_core::ocsp::ParsedResponse {
        let response = answer(service, RequestForm::Post, request, request).await;
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        ca_core::ocsp::parse_response(&body).unwrap()
    }

    /// With every live-signing slot taken, a miss is answered tryLater after the short wait
    /// instead of queueing.
    #[tokio::test]
    async fn no_free_signing_slot_means_try_later() {
        let config = crate::OcspConfig {
            live_signing_concurrency: 2,
            live_signing_wait: std::time::Duration::from_millis(20),
            ..crate::OcspConfig::default()
        };
        let (service, _store, request, _dir) = one_issuer_service(config).await;
        let _taken = service.inner.live.try_acquire_many(2).unwrap();
        assert_eq!(
            answer_status(&service, &request).await,
            ca_core::ocsp::ParsedResponse::Error(ErrorStatus::TryLater)
        );
        assert_eq!(service.metrics().try_later(), 1);
    }

    /// With the database gone, a miss (a certificate in no cache) is tryLater, the answer
    /// RFC 6960 §2.3 gives for "temporarily unable to respond", not internalError.
    #[tokio::test]
    async fn a_miss_with_the_database_gone_is_try_later() {
        let (service, store, request, _dir) =
            one_issuer_service(crate::OcspConfig::default()).await;
        store.close().await;
        assert_eq!(
            answer_status(&service, &request).await,
            ca_core::ocsp::ParsedResponse::Error(ErrorStatus::TryLater)
        );
        assert_eq!(service.metrics().try_later(), 1);
    }
}
