//! Counters of the responder, rendered in the Prometheus text format for a /metrics page
//! (the registry's, or whatever hosts the responder).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use ca_core::ocsp::ErrorStatus;

/// The responder's counters. Relaxed atomics: each is an independent tally.
#[derive(Debug, Default)]
pub struct OcspMetrics {
    requests: AtomicU64,
    cache_hits: AtomicU64,
    live_signed: AtomicU64,
    try_later: AtomicU64,
    malformed: AtomicU64,
    unauthorized: AtomicU64,
    internal: AtomicU64,
    changes_applied: AtomicU64,
    resigned: AtomicU64,
    cached: AtomicU64,
    connections_refused: AtomicU64,
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl OcspMetrics {
    pub(crate) fn bump_request(&self) {
        bump(&self.requests);
    }
    pub(crate) fn bump_cache_hit(&self) {
        bump(&self.cache_hits);
    }
    pub(crate) fn bump_live(&self) {
        bump(&self.live_signed);
    }
    pub(crate) fn bump_try_later(&self) {
        bump(&self.try_later);
    }
    pub(crate) fn add_changes_applied(&self, n: u64) {
        self.changes_applied.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn bump_connection_refused(&self) {
        bump(&self.connections_refused);
    }
    pub(crate) fn add_resigned(&self, n: u64) {
        self.resigned.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn set_cached(&self, n: usize) {
        self.cached.store(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn bump_error(&self, status: ErrorStatus) {
        match status {
            ErrorStatus::MalformedRequest => bump(&self.malformed),
            ErrorStatus::Unauthorized => bump(&self.unauthorized),
            ErrorStatus::TryLater => {} // counted by bump_try_later, with its cause
            _ => bump(&self.internal),
        }
    }

    /// Requests received on the OCSP routes (well-formed or not).
    pub fn requests(&self) -> u64 {
        get(&self.requests)
    }

    /// Requests answered from the cache.
    pub fn cache_hits(&self) -> u64 {
        get(&self.cache_hits)
    }

    /// Responses signed live.
    pub fn live_signed(&self) -> u64 {
        get(&self.live_signed)
    }

    /// `tryLater` answers (no live-signing slot in time).
    pub fn try_later(&self) -> u64 {
        get(&self.try_later)
    }

    /// Error answers other than `tryLater` (malformedRequest, unauthorized, internalError).
    pub fn errors(&self) -> u64 {
        get(&self.malformed) + get(&self.unauthorized) + get(&self.internal)
    }

    /// Revocation events applied to the cache.
    pub fn changes_applied(&self) -> u64 {
        get(&self.changes_applied)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "tsca_ocsp_requests_total",
            "counter",
            "OCSP requests received.",
            &[("", get(&self.requests))],
        );
        metric(
            "tsca_ocsp_responses_total",
            "counter",
            "OCSP answers, by how they were produced or why they failed.",
            &[
                ("{path=\"cache\"}", get(&self.cache_hits)),
                ("{path=\"live\"}", get(&self.live_signed)),
                ("{path=\"tryLater\"}", get(&self.try_later)),
                ("{path=\"malformedRequest\"}", get(&self.malformed)),
                ("{path=\"unauthorized\"}", get(&self.unauthorized)),
                ("{path=\"internalError\"}", get(&self.internal)),
            ],
        );
        metric(
            "tsca_ocsp_changes_applied_total",
            "counter",
            "Certificate changes (issuance, revocation) applied to the OCSP cache from the audit log.",
            &[("", get(&self.changes_applied))],
        );
        metric(
            "tsca_ocsp_resigned_total",
            "counter",
            "Cached OCSP responses re-signed before half their validity.",
            &[("", get(&self.resigned))],
        );
        metric(
            "tsca_ocsp_cached_responses",
            "gauge",
            "OCSP responses in memory (as of the last load or refresh pass).",
            &[("", get(&self.cached))],
        );
        metric(
            "tsca_ocsp_connections_refused_total",
            "counter",
            "Connections closed at once because the connection limit was reached.",
            &[("", get(&self.connections_refused))],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let m = OcspMetrics::default();
        m.bump_request();
        m.bump_cache_hit();
        m.bump_error(ErrorStatus::Unauthorized);
        let text = m.render_prometheus();
        assert!(text.contains("tsca_ocsp_requests_total 1\n"), "{text}");
        assert!(
            text.contains("tsca_ocsp_responses_total{path=\"cache\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("tsca_ocsp_responses_total{path=\"unauthorized\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE tsca_ocsp_cached_responses gauge\n"),
            "{text}"
        );
        assert_eq!(m.errors(), 1);
    }
}
