//! The public repository (no credentials): chains, CRLs, CA certificates, trust anchors and
//! the number lookup; and the operations endpoints.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ca_core::ident::Fingerprint;
use ca_core::numbering::{E164Number, PlmnId};
use ca_service::Repository;
use ca_store::{CertificateId, CertificateStatus, LookupMatch};
use serde_json::{json, Value};

use crate::api::render;
use crate::extract::Path;
use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// What the public routes need: the read-only repository and the chain cache. Every node
/// serves them, OCSP-only ones included (they hold no engine).
#[derive(Clone)]
pub struct PublicState {
    pub(crate) repository: Repository,
    pub(crate) chains: Arc<ChainCache>,
    pub(crate) chain_url_base: Option<Arc<str>>,
    /// Whether this port keeps serving from memory without the database (the publication
    /// point: OCSP, CRLs, chains), which makes it degraded rather than not ready.
    pub(crate) serves_from_memory: bool,
}

impl PublicState {
    /// The public routes' state over a repository. `chain_url_base` is the publication
    /// point's HTTPS base URL (see [`crate::RegistryConfig::chain_url_base`]).
    pub fn new(repository: Repository, chain_url_base: Option<String>) -> Self {
        repository.keep_warm();
        Self {
            repository,
            chains: Arc::new(ChainCache::new(CHAIN_CACHE_ENTRIES)),
            chain_url_base: chain_url_base.map(|b| Arc::from(b.trim_end_matches('/'))),
            serves_from_memory: false,
        }
    }

    /// Where a certificate's chain is served: `{base}/chains/{fingerprint}.pem`, or the path
    /// alone when no base is configured.
    pub(crate) fn chain_url(&self, fingerprint: &impl std::fmt::Display) -> String {
        match &self.chain_url_base {
            Some(base) => format!("{base}/chains/{fingerprint}.pem"),
            None => format!("/chains/{fingerprint}.pem"),
        }
    }
}

impl FromRef<AppState> for PublicState {
    fn from_ref(state: &AppState) -> Self {
        state.public.clone()
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn etag_of(bytes: &[u8]) -> String {
    format!(
        "\"{}\"",
        hex::encode(&ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()[..16])
    )
}

/// An HTTP date (`Last-Modified`).
fn http_date(t: jiff::Timestamp) -> Option<HeaderValue> {
    HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::from(t))).ok()
}

/// A cacheable body with its validators: `ETag` (of the body) and, when known,
/// `Last-Modified`; a conditional GET the client's copy satisfies gets 304
/// (`tsca_http::conditional`).
fn cacheable(
    headers: &HeaderMap,
    content_type: &'static str,
    max_age: i64,
    body: Vec<u8>,
    last_modified: Option<jiff::Timestamp>,
) -> Response {
    let etag = etag_of(&body);
    let last_modified = last_modified.and_then(http_date);
    cacheable_with_validators(
        headers,
        content_type,
        max_age,
        Bytes::from(body),
        &etag,
        last_modified,
    )
}

/// [`cacheable`] with the validators already made.
fn cacheable_with_validators(
    headers: &HeaderMap,
    content_type: &'static str,
    max_age: i64,
    body: Bytes,
    etag: &str,
    last_modified: Option<HeaderValue>,
) -> Response {
    let cache = format!("public, max-age={}", max_age.max(0));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = last_modified {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    tsca_http::conditional::answer(&Method::GET, headers, response)
}

/// How many chains the registry keeps ready (about 2.5 KB each).
pub(crate) const CHAIN_CACHE_ENTRIES: usize = 16_384;

/// A chain as served: the PEM (leaf first), its ETag and how long clients may keep it.
pub(crate) struct CachedChain {
    pem: Bytes,
    etag: String,
    /// When the leaf was issued (the chain's `Last-Modified`).
    last_modified: Option<HeaderValue>,
    max_age: i64,
    /// When it was built: past [`CHAIN_ENTRY_LIFETIME`] it is built again, so a node that
    /// hears of no changes (an OCSP-only node) still follows the certificate's status.
    built: Instant,
}

/// How long a cached chain's `max-age` (which follows the certificate's status) is trusted
/// without hearing of a change.
const CHAIN_ENTRY_LIFETIME: Duration = Duration::from_secs(60);

/// Chains already served, by fingerprint. Verifiers fetch the same `x5u` URLs over and over
/// (one per peer operator), and building a chain reads the certificate and every issuer
/// from the database. The chain of a fingerprint never changes; its status (which sets
/// `max-age`) does, so an entry is forgotten whenever the audit-log catch-up
/// ([`AppState::refresh_lookup`]) reports its certificate changed: at once for changes made
/// here, within a second for other instances', and within [`CHAIN_ENTRY_LIFETIME`] on nodes
/// without the catch-up. Bounded: when full it starts over.
pub(crate) struct ChainCache {
    map: RwLock<HashMap<Fingerprint, (CertificateId, Arc<CachedChain>)>>,
    capacity: usize,
}

impl ChainCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    fn get(&self, fingerprint: &Fingerprint) -> Option<Arc<CachedChain>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(fingerprint)
            .map(|(_, chain)| chain.clone())
            .filter(|chain| chain.built.elapsed() < CHAIN_ENTRY_LIFETIME)
    }

    fn insert(
        &self,
        fingerprint: Fingerprint,
        certificate_id: CertificateId,
        chain: Arc<CachedChain>,
    ) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(fingerprint, (certificate_id, chain));
    }

    /// Drops the chains of these certificates (their status changed).
    pub(crate) fn forget(&self, certificate_ids: &[CertificateId]) {
        if certificate_ids.is_empty() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (id, _)| !certificate_ids.contains(id));
    }
}

/// `GET /chains/{fingerprint}.pem`: what an x5u points to, leaf first.
pub(crate) async fn chain(
    State(state): State<PublicState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let fingerprint: Fingerprint = file
        .strip_suffix(".pem")
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| {
            Problem::not_found("chains are at /chains/{sha256 fingerprint, 64 hex digits}.pem")
        })?;
    let chain = match state.chains.get(&fingerprint) {
        Some(chain) => chain,
        None => {
            let (record, pem) = state.repository.chain(&fingerprint).await?;
            let pem = Bytes::from(pem);
            // The chain never changes for a fingerprint; status does, and is OCSP's job.
            let max_age = if record.status == CertificateStatus::Valid {
                86_400
            } else {
                3_600
            };
            let chain = Arc::new(CachedChain {
                etag: etag_of(&pem),
                last_modified: record
                    .issued
                    .as_ref()
                    .and_then(|issued| http_date(issued.issued_at)),
                pem,
                max_age,
                built: Instant::now(),
            });
            state.chains.insert(fingerprint, record.id, chain.clone());
            chain
        }
    };
    Ok(cacheable_with_validators(
        &headers,
        "application/pem-certificate-chain",
        chain.max_age,
        chain.pem.clone(),
        &chain.etag,
        chain.last_modified.clone(),
    ))
}

/// `GET /crl/{authority}.crl`: the authority's current CRL, DER.
pub(crate) async fn crl(
    State(state): State<PublicState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let name = file.strip_suffix(".crl").ok_or_else(|| {
        Problem::not_found(
            "CRLs are at /crl/{authority name}.crl, and a SHAKEN domain's at /crl/domain.crl",
        )
    })?;
    let record = state.repository.crl(name).await?;
    let max_age = ((record.next_update.as_second() - now()) / 2).min(3600);
    Ok(cacheable(
        &headers,
        "application/pkix-crl",
        max_age,
        record.der,
        Some(record.this_update),
    ))
}

/// `GET /ca/{authority}.der`: an authority's certificate (AIA caIssuers).
pub(crate) async fn ca_certificate(
    State(state): State<PublicState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let name = file
        .strip_suffix(".der")
        .ok_or_else(|| Problem::not_found("CA certificates are at /ca/{authority name}.der"))?;
    let der = state.repository.ca_certificate(name).await?;
    // Its notBefore: when this certificate of the authority came to be.
    let not_before = ca_core::x509::Certificate::from_der(&der)
        .ok()
        .and_then(|c| {
            jiff::Timestamp::try_from(c.tbs_certificate.validity.not_before.to_system_time()).ok()
        });
    Ok(cacheable(
        &headers,
        "application/pkix-cert",
        86_400,
        der,
        not_before,
    ))
}

/// `GET /v1/trust-anchors`: the roots, as a PEM bundle (Accept: application/x-pem-file or
/// application/pem-certificate-chain) or JSON with fingerprints and scopes (default).
pub(crate) async fn trust_anchors(
    State(state): State<PublicState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let roots = state.repository.trust_anchors().await?;
    let wants_pem = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("pem"));
    if wants_pem {
        let mut bundle = String::new();
        for root in &roots {
            if let Some(der) = &root.certificate_der {
                bundle.push_str(
                    &ca_core::x509::pem_encode("CERTIFICATE", der)
                        .map_err(|e| Problem::internal(&e))?,
                );
            }
        }
        return Ok(cacheable(
            &headers,
            "application/pem-certificate-chain",
            3600,
            bundle.into_bytes(),
            None,
        ));
    }
    let list: Vec<Value> = roots
        .iter()
        .map(|root| {
            let mut j = render::authority(root);
            j["certificate_pem"] = json!(root
                .certificate_der
                .as_ref()
                .and_then(|der| ca_core::x509::pem_encode("CERTIFICATE", der).ok()));
            j
        })
        .collect();
    Ok(Json(json!({ "trust_anchors": list })).into_response())
}

fn lookup_json(public: &PublicState, matches: &[LookupMatch]) -> Value {
    json!({
        "authorised": matches.iter().map(|m| json!({
            "operator_id": m.operator_id,
            "assignment_id": m.assignment_id,
            "resource": m.resource.to_string(),
            "matched_digits": m.matched_digits,
            "certificates": m.certificates.iter().map(|c| json!({
                "fingerprint": c.fingerprint.to_string(),
                "not_after": c.not_after.as_second(),
                "chain_url": public.chain_url(&c.fingerprint),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    })
}

/// `GET /v1/lookup/e164/{number}`.
pub(crate) async fn lookup_e164(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> ApiResult<Json<Value>> {
    let digits = number.trim_start_matches('+');
    let number =
        E164Number::parse(digits).map_err(|e| Problem::bad_request("number", e.to_string()))?;
    let matches = state
        .lookup_index()
        .lookup_e164(&number, jiff::Timestamp::now());
    let mut body = lookup_json(&state.public, &matches);
    body["number"] = json!(number.as_str());
    Ok(Json(body))
}

/// `GET /v1/lookup/plmn/{mccmnc}`.
pub(crate) async fn lookup_plmn(
    State(state): State<AppState>,
    Path(mccmnc): Path<String>,
) -> ApiResult<Json<Value>> {
    let plmn = PlmnId::parse(&mccmnc).map_err(|e| Problem::bad_request("mccmnc", e.to_string()))?;
    let matches = state
        .lookup_index()
        .lookup_plmn(&plmn, jiff::Timestamp::now());
    let mut body = lookup_json(&state.public, &matches);
    body["plmn"] = json!(plmn.to_string());
    Ok(Json(body))
}

/// `GET /healthz`: the process runs.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Why a node is or is not ready: the codes `/readyz` answers with (docs/operations.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyReason {
    /// Ready.
    Ok,
    /// The database did not answer within the probe's time, or refused.
    DatabaseUnreachable,
    /// The database answers, but its schema is not the one this binary expects.
    MigrationsPending,
}

impl ReadyReason {
    /// The code, as the body's `reason` says it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::DatabaseUnreachable => "database_unreachable",
            Self::MigrationsPending => "migrations_pending",
        }
    }

    /// The reason for a readiness check's outcome (`None`: it did not finish in time).
    fn of(outcome: Option<&Result<(), ca_store::StoreError>>) -> Self {
        match outcome {
            Some(Ok(())) => Self::Ok,
            Some(Err(ca_store::StoreError::Migration(_))) => Self::MigrationsPending,
            Some(Err(_)) | None => Self::DatabaseUnreachable,
        }
    }
}

/// How long `/readyz` waits for the database: probes time out at 1 s by default, and a slow
/// answer must still be an answer.
const READY_WAIT: Duration = Duration::from_millis(800);

/// `GET /readyz`: the database answers within [`READY_WAIT`] and its schema is current. The
/// answer is a reason code and nothing internal; the detail goes to the log under the
/// correlation id the answer names. On the publication port an unreachable database is
/// 200 `degraded`: OCSP responses, CRLs, CA certificates and chains are served from memory.
pub(crate) async fn readyz(State(state): State<PublicState>) -> Response {
    let outcome = tokio::time::timeout(READY_WAIT, state.repository.reader().check_ready())
        .await
        .ok();
    let reason = ReadyReason::of(outcome.as_ref());
    if reason == ReadyReason::Ok {
        return Json(json!({"status": "ready", "reason": reason.code()})).into_response();
    }
    let id = Problem::correlation_id();
    let detail = match &outcome {
        Some(Err(e)) => e.to_string(),
        _ => format!("no answer within {} ms", READY_WAIT.as_millis()),
    };
    if reason == ReadyReason::DatabaseUnreachable && state.serves_from_memory {
        tracing::warn!(correlation_id = %id, reason = reason.code(), %detail,
            "degraded: serving from memory");
        return Json(json!({"status": "degraded", "reason": reason.code(),
            "correlation_id": id}))
        .into_response();
    }
    tracing::warn!(correlation_id = %id, reason = reason.code(), %detail, "not ready");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        format!("not ready: {}", reason.code()),
    )
    .reason(reason.code())
    .correlated(id)
    .retry_after(5)
    .into_response()
}

/// Unknown paths.
pub(crate) async fn not_found() -> Problem {
    Problem::not_found("no such endpoint; the API is described at /v1/openapi.json")
}

/// An endpoint that exists, asked with a method it does not take.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{method} is not allowed here; the API is described at /v1/openapi.json"),
    )
}

#[cfg(test)]
mod tests {
    use super::ReadyReason;
    use ca_store::StoreError;

    #[test]
    fn ready_reasons_name_the_cause() {
        assert_eq!(ReadyReason::of(Some(&Ok(()))), ReadyReason::Ok);
        let behind = Err(StoreError::Migration("schema 2, code 3".into()));
        assert_eq!(
            ReadyReason::of(Some(&behind)),
            ReadyReason::MigrationsPending
        );
        assert_eq!(ReadyReason::of(None), ReadyReason::DatabaseUnreachable);
        assert_eq!(ReadyReason::MigrationsPending.code(), "migrations_pending");
    }
}
