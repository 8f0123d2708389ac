//! Rate limits of the registry port (docs/operations.md, "Rate limits"), on `governor`'s keyed
//! limiters (GCRA, state per key in a concurrent map that [`RateLimits::forget_idle`] prunes,
//! so memory stays bounded by the clients of the last minutes):
//!
//! - **per token** on every authenticated call;
//! - **per client address** on the anonymous registry endpoints (number lookups, trust
//!   anchors, the OpenAPI document), which anyone can call in a loop. Never on the publication
//!   port: signing nodes behind one NAT fetch OCSP, CRLs and chains hard, and those answers are
//!   cheap and cached. Behind a load balancer every request comes from its address, so the
//!   client is taken from `X-Forwarded-For` when the peer is a trusted proxy: the rightmost
//!   address in it that is not itself a trusted proxy (a client can prepend anything, but not
//!   what the proxies append).
//!
//! Both answer 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

use crate::problem::Problem;
use crate::AppState;

/// The keyed limiters of one registry process.
pub(crate) struct RateLimits {
    per_token: Option<Limiter<i64>>,
    per_address: Option<Limiter<IpAddr>>,
    trusted_proxies: Vec<IpNet>,
}

struct Limiter<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    rate: f64,
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    /// `rate` per second with a burst of twice that; none when `rate` is 0 (turned off).
    fn new(rate: f64) -> Option<Self> {
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))?
            .allow_burst(NonZeroU32::new((rate * 2.0).ceil() as u32).unwrap_or(NonZeroU32::MIN));
        Some(Self {
            limiter: DefaultKeyedRateLimiter::dashmap(quota),
            rate,
        })
    }

    /// Takes one request of `key`'s quota, or says how long to wait (whole seconds, at least 1).
    fn take(&self, key: &K) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

impl RateLimits {
    /// Limits of `per_token` and `per_address` requests per second (0 turns one off).
    pub(crate) fn new(per_token: f64, per_address: f64, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            per_token: Limiter::new(per_token),
            per_address: Limiter::new(per_address),
            trusted_proxies,
        }
    }

    /// One request of this token.
    pub(crate) fn check_token(&self, token_id: i64) -> Result<(), Problem> {
        let Some(limiter) = &self.per_token else {
            return Ok(());
        };
        limiter.take(&token_id).map_err(|wait| {
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                format!(
                    "more than {} requests per second with this token; slow down",
                    limiter.rate
                ),
            )
            .retry_after(wait)
        })
    }

    /// The client of a request: the peer, or behind trusted proxies the rightmost
    /// `X-Forwarded-For` address that is not one of them.
    ///
    /// Read from the right: each trusted proxy appended the address it saw. An entry that is
    /// not an address (`unknown`, `ip:port`) ends the walk at the last address read, because
    /// what stands left of it may have come from the client. IPv4-mapped IPv6 addresses count
    /// as the IPv4 address (a dual-stack listener sees IPv4 peers so).
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for entry in forwarded.iter().rev() {
            let Ok(address) = entry.parse::<IpAddr>().map(|a| a.to_canonical()) else {
                break;
            };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        client
    }

    /// The key a client's quota is kept under: its IPv4 address, or its IPv6 /64 (one
    /// subscriber's prefix: keying by /128 would give each a fresh quota per address).
    fn quota_key(client: IpAddr) -> IpAddr {
        match client {
            IpAddr::V4(_) => client,
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// One anonymous request from this client address.
    pub(crate) fn check_address(&self, client: IpAddr) -> Result<(), Problem> {
        let Some(limiter) = &self.per_address else {
            return Ok(());
        };
        limiter.take(&Self::quota_key(client)).map_err(|wait| {
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                format!(
                    "more than {} anonymous requests per second from this address; slow down \
                     (authenticated calls have a limit per token instead)",
                    limiter.rate
                ),
            )
            .retry_after(wait)
        })
    }

    /// Drops the state of keys idle long enough to have a full quota again.
    pub(crate) fn forget_idle(&self) {
        if let Some(l) = &self.per_token {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
        if let Some(l) = &self.per_address {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
    }
}

/// Middleware of the anonymous registry routes: the per-address limit. A request without a
/// peer address (an in-process call, as in tests) is not limited.
pub(crate) async fn per_address(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, Problem> {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = state.limits.client(peer.ip(), request.headers());
        state.limits.check_address(client)?;
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", forwarded.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let limits = RateLimits::new(1.0, 1.0, vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer's header is ignored.
        assert_eq!(
            limits.client(ip("192.0.2.1"), &headers("198.51.100.7")),
            ip("192.0.2.1")
        );
        // Behind the proxy: the rightmost address the proxies did not add.
        assert_eq!(
            limits.client(ip("10.1.1.1"), &headers("6.6.6.6, 198.51.100.7, 10.2.2.2")),
            ip("198.51.100.7")
        );
        assert_eq!(
            limits.client(ip("10.1.1.1"), &HeaderMap::new()),
            ip("10.1.1.1")
        );
        // A forged entry left of one the proxy could not parse is not believed.
        assert_eq!(
            limits.client(ip("10.1.1.1"), &headers("6.6.6.6, unknown, 10.2.2.2")),
            ip("10.2.2.2")
        );
        // A dual-stack listener's view of an IPv4 proxy.
        assert_eq!(
            limits.client(ip("::ffff:10.1.1.1"), &headers("198.51.100.7")),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn each_address_has_its_own_quota_and_waits_are_whole_seconds() {
        let limits = RateLimits::new(0.0, 1.0, Vec::new());
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        // A burst of two, then 429 with Retry-After.
        assert!(limits.check_address(a).is_ok());
        assert!(limits.check_address(a).is_ok());
        let refused = limits.check_address(a).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS.as_u16());
        assert!(limits.check_address(b).is_ok());
        // One IPv6 /64 is one client.
        let (v6a, v6b) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        assert!(limits.check_address(v6a).is_ok());
        assert!(limits.check_address(v6b).is_ok());
        assert!(limits.check_address(v6a).is_err());
        // Turned off per token (rate 0).
        for _ in 0..100 {
            assert!(limits.check_token(1).is_ok());
        }
    }
}
