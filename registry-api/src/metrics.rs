//! Prometheus metrics: request counts and latency, issuance, revocation and enrolment
//! outcomes, and the seconds until each CA certificate expires.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Latency buckets (seconds) of `tsca_http_request_duration_seconds`.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

/// The registry's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests_2xx: AtomicU64,
    requests_4xx: AtomicU64,
    requests_5xx: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Certificates issued.
    pub issued: AtomicU64,
    /// Certificates revoked.
    pub revoked: AtomicU64,
    /// Enrolments issued at once.
    pub enrolments_issued: AtomicU64,
    /// Enrolments left pending for a person.
    pub enrolments_pending: AtomicU64,
    /// Enrolments rejected by an admin.
    pub enrolments_rejected: AtomicU64,
    /// Enrolments refused (bad CSR, out of scope…).
    pub enrolments_refused: AtomicU64,
}

impl Metrics {
    fn observe(&self, status: u16, started: Instant) {
        match status {
            200..=399 => &self.requests_2xx,
            400..=499 => &self.requests_4xx,
            _ => &self.requests_5xx,
        }
        .fetch_add(1, Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64();
        for (bucket, le) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Middleware recording every request.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(response.status().as_u16(), started);
    response
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let mut out = String::new();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let _ = writeln!(out, "# HELP tsca_http_requests_total HTTP requests by status class.\n# TYPE tsca_http_requests_total counter");
    for (class, c) in [
        ("2xx", &m.requests_2xx),
        ("4xx", &m.requests_4xx),
        ("5xx", &m.requests_5xx),
    ] {
        let _ = writeln!(
            out,
            "tsca_http_requests_total{{class=\"{class}\"}} {}",
            get(c)
        );
    }
    let _ = writeln!(out, "# HELP tsca_http_request_duration_seconds Request latency.\n# TYPE tsca_http_request_duration_seconds histogram");
    for (bucket, le) in m.latency_buckets.iter().zip(BUCKETS) {
        let _ = writeln!(
            out,
            "tsca_http_request_duration_seconds_bucket{{le=\"{le}\"}} {}",
            get(bucket)
        );
    }
    let count = get(&m.latency_count);
    let _ = writeln!(
        out,
        "tsca_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(
        out,
        "tsca_http_request_duration_seconds_sum {}",
        get(&m.latency_sum_micros) as f64 / 1e6
    );
    let _ = writeln!(out, "tsca_http_request_duration_seconds_count {count}");
    let _ = writeln!(out, "# HELP tsca_certificates_issued_total Certificates issued by this process.\n# TYPE tsca_certificates_issued_total counter\ntsca_certificates_issued_total {}", get(&m.issued));
    let _ = writeln!(out, "# HELP tsca_certificates_revoked_total Certificates revoked by this process.\n# TYPE tsca_certificates_revoked_total counter\ntsca_certificates_revoked_total {}", get(&m.revoked));
    let _ = writeln!(
        out,
        "# HELP tsca_enrolments_total Enrolment outcomes.\n# TYPE tsca_enrolments_total counter"
    );
    for (outcome, c) in [
        ("issued", &m.enrolments_issued),
        ("pending", &m.enrolments_pending),
        ("rejected", &m.enrolments_rejected),
        ("refused", &m.enrolments_refused),
    ] {
        let _ = writeln!(
            out,
            "tsca_enrolments_total{{outcome=\"{outcome}\"}} {}",
            get(c)
        );
    }
    if let Ok(authorities) = state.engine.reader().authorities().await {
        let _ = writeln!(out, "# HELP tsca_ca_certificate_expiry_seconds Seconds until each CA certificate expires.\n# TYPE tsca_ca_certificate_expiry_seconds gauge");
        let now = jiff::Timestamp::now().as_second();
        for authority in authorities {
            let Some(der) = authority.certificate_der else {
                continue;
            };
            let Ok(cert) = ca_core::x509::Certificate::from_der(&der) else {
                continue;
            };
            let Ok(not_after) =
                jiff::Timestamp::try_from(cert.tbs_certificate.validity.not_after.to_system_time())
            else {
                continue;
            };
            let not_after = not_after.as_second();
            let _ = writeln!(
                out,
                "tsca_ca_certificate_expiry_seconds{{authority=\"{}\"}} {}",
                authority.name.replace(['"', '\\', '\n'], "_"),
                not_after - now
            );
        }
    }
    for source in state
        .extra_metrics
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        out.push_str(&source());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
