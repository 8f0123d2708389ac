//! # registry-api: the HTTPS registry
//!
//! What regulators and operators use every day: authorities, operators and their tokens,
//! numbering assignments, enrolment, certificates and revocation under `/v1/…` (bearer
//! tokens, JSON, `application/problem+json` errors), and the public repository a relying
//! party needs without credentials: chains (`/chains/{fp}.pem`, what an `x5u` points to),
//! CRLs, CA certificates, trust anchors and the number lookup.
//!
//! Handlers only translate: they parse a request into a call of the gateway
//! ([`ca_service::Engine`]), which authorises it, decides it and records it, and render its
//! typed answer back; gateway errors become problem documents in one place (`problem.rs`).
//! The public routes read through the read-only [`ca_service::Repository`] and run on every
//! node. `router(state)` is the whole API, and [`publication_router`] the public routes of
//! the publication point; `tsca_http::serve` runs them, over HTTPS or, when configured,
//! plain HTTP. docs/architecture.md shows where each request goes.

mod api;
pub mod auth;
mod extract;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod limits;
mod metrics;
pub mod openapi;
pub mod problem;
mod public;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use ca_service::{Engine, Repository};
use ca_store::{LookupIndex, SharedLookup};

pub use metrics::Metrics;
pub use public::PublicState;

use crate::problem::Problem;

/// A function adding Prometheus exposition lines to /metrics.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// Registry settings.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Largest request body accepted (413 beyond). Default 64 KiB.
    pub max_body_bytes: usize,
    /// Requests per second allowed per token (429 beyond), with a burst of twice that; 0
    /// turns the limit off.
    pub rate_limit_per_second: f64,
    /// Requests per second allowed per client address on the anonymous registry endpoints
    /// (lookups, trust anchors, OpenAPI), with a burst of twice that; 0 turns it off.
    pub anonymous_rate_limit_per_second: f64,
    /// Proxies whose `X-Forwarded-For` names the client (addresses or networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often the lookup index catches up with changes committed by other instances
    /// (one indexed audit-log query when nothing changed). This instance's own changes are
    /// applied before the request that made them returns.
    pub lookup_refresh: Duration,
    /// Base of the chain URLs handed out (`chain_url`, what an operator writes into a
    /// PASSporT's `x5u`): the publication point's HTTPS URL, e.g. `https://pki.example.net`,
    /// since verifiers fetch `x5u` over HTTPS only (RFC 8224 §4.1, ATIS-1000074). `None`
    /// hands out the path alone, relative to whichever port was asked.
    pub chain_url_base: Option<String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            rate_limit_per_second: 50.0,
            anonymous_rate_limit_per_second: 20.0,
            trusted_proxies: Vec::new(),
            lookup_refresh: Duration::from_secs(1),
            chain_url_base: None,
        }
    }
}

/// Shared state of the handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The gateway.
    pub engine: Engine,
    /// Settings.
    pub config: RegistryConfig,
    lookup: Arc<SharedLookup>,
    /// The public routes' state (repository and chain cache).
    pub(crate) public: PublicState,
    pub(crate) limits: Arc<limits::RateLimits>,
    /// Counters for /metrics.
    pub metrics: Arc<Metrics>,
    extra_metrics: Arc<RwLock<Vec<MetricsSource>>>,
}

impl AppState {
    /// State over an engine; builds the lookup index and starts its refresher.
    pub async fn new(engine: Engine, config: RegistryConfig) -> Result<Self, ca_store::StoreError> {
        let lookup = SharedLookup::load(engine.reader(), jiff::Timestamp::now()).await?;
        let state = Self {
            public: PublicState::new(
                Repository::new(engine.reader().clone()),
                config.chain_url_base.clone(),
            ),
            limits: Arc::new(limits::RateLimits::new(
                config.rate_limit_per_second,
                config.anonymous_rate_limit_per_second,
                config.trusted_proxies.clone(),
            )),
            engine,
            config,
            lookup: Arc::new(lookup),
            metrics: Arc::new(Metrics::default()),
            extra_metrics: Arc::new(RwLock::new(Vec::new())),
        };
        let refresher = state.clone();
        tokio::spawn(async move { refresher.refresh_lookup_forever().await });
        Ok(state)
    }

    /// The public routes' state (repository, chain cache), to serve the publication point
    /// from the same chain cache, which this state's catch-ups keep current.
    pub fn public(&self) -> PublicState {
        self.public.clone()
    }

    /// Adds text (Prometheus exposition lines) to /metrics, e.g. the OCSP responder's.
    pub fn add_metrics_source(&self, source: MetricsSource) {
        self.extra_metrics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// The lookup index, for one lookup (a read lock: do not hold it across an await).
    pub fn lookup_index(&self) -> std::sync::RwLockReadGuard<'_, LookupIndex> {
        self.lookup.read()
    }

    /// Brings the lookup index up to date with every committed change, so the caller's own
    /// change is visible to its next lookup. A failure is logged and left to the background
    /// catch-up, which retries every `lookup_refresh`: the change itself is committed.
    pub async fn refresh_lookup(&self) {
        match self.lookup.catch_up(self.engine.reader()).await {
            Ok(caught) => self.public.chains.forget(&caught.certificate_ids),
            Err(e) => {
                tracing::warn!(error = %e, "lookup index catch-up failed; retrying in the background")
            }
        }
    }

    /// Catches up with other instances' changes every `lookup_refresh` (forgetting the cached
    /// chains of changed certificates), and about once an hour drops expired entries.
    async fn refresh_lookup_forever(&self) {
        const PRUNE_EVERY: Duration = Duration::from_secs(3600);
        let mut pruned = Instant::now();
        loop {
            tokio::time::sleep(self.config.lookup_refresh).await;
            match self.lookup.catch_up(self.engine.reader()).await {
                Ok(caught) => self.public.chains.forget(&caught.certificate_ids),
                Err(e) => tracing::debug!(error = %e, "lookup index catch-up failed; will retry"),
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                self.lookup.prune(jiff::Timestamp::now());
                pruned = Instant::now();
            }
            self.limits.forget_idle();
        }
    }

    /// One request of this token (429 beyond its limit).
    pub(crate) fn rate_limit(&self, token_id: i64) -> Result<(), Problem> {
        self.limits.check_token(token_id)
    }
}

/// The plain-HTTP publication point: chains, CRLs, CA certificates and trust anchors, which
/// relying parties fetch without TLS (a CRL or chain fetch must not itself need a
/// certificate status check), and readiness. It needs only the read-only repository, so
/// OCSP-only nodes serve it too. Mount the OCSP responder next to it.
///
/// Its `/readyz` stays 200 ("degraded") with the database gone: what it serves comes from
/// memory then (docs/operations.md, "When the database is gone"), so a load balancer must
/// keep sending it traffic. The registry port's `/readyz` is 503 then.
pub fn publication_router(state: PublicState, max_body_bytes: usize) -> Router {
    let state = PublicState {
        serves_from_memory: true,
        ..state
    };
    Router::new()
        .route("/chains/{file}", get(public::chain))
        .route("/crl/{file}", get(public::crl))
        .route("/ca/{file}", get(public::ca_certificate))
        .route("/v1/trust-anchors", get(public::trust_anchors))
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
        // problem+json for every error, as on the registry port.
        .fallback(public::not_found)
        .method_not_allowed_fallback(public::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// The whole registry API.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        // Authorities.
        .route(
            "/v1/authorities",
            post(api::authorities::create).get(api::authorities::list),
        )
        .route("/v1/authorities/{id}", get(api::authorities::get))
        .route(
            "/v1/authorities/{id}/certificate",
            put(api::authorities::install_certificate),
        )
        .route(
            "/v1/authorities/{id}/crl",
            put(api::authorities::install_crl),
        )
        .route(
            "/v1/authorities/{id}/crl-signer",
            get(api::crl_signer::get)
                .post(api::crl_signer::request)
                .put(api::crl_signer::install),
        )
        .route(
            "/v1/authorities/{id}/tokens",
            post(api::authorities::create_token).get(api::operators::list_authority_tokens),
        )
        // Operators and tokens.
        .route(
            "/v1/operators",
            post(api::operators::create).get(api::operators::list),
        )
        .route("/v1/operators/{id}", get(api::operators::get))
        .route(
            "/v1/operators/{id}/tokens",
            post(api::operators::create_token).get(api::operators::list_operator_tokens),
        )
        .route("/v1/tokens", get(api::operators::list_tokens))
        .route("/v1/tokens/{id}", delete(api::operators::revoke_token))
        // Assignments.
        .route(
            "/v1/assignments",
            post(api::assignments::create).get(api::assignments::list),
        )
        .route(
            "/v1/assignments/{id}",
            delete(api::assignments::withdraw).patch(api::assignments::change),
        )
        // Enrolment.
        .route(
            "/v1/enrolments",
            post(api::enrolments::create).get(api::enrolments::list),
        )
        .route("/v1/enrolments/{id}", get(api::enrolments::get))
        .route(
            "/v1/enrolments/{id}/approve",
            post(api::enrolments::approve),
        )
        .route("/v1/enrolments/{id}/reject", post(api::enrolments::reject))
        // Certificates.
        .route("/v1/certificates", get(api::certificates::list))
        .route(
            "/v1/certificates/{fingerprint}",
            get(api::certificates::get),
        )
        .route(
            "/v1/certificates/{fingerprint}/revoke",
            post(api::certificates::revoke),
        )
        // Audit.
        .route("/v1/audit", get(api::certificates::audit))
        // Public repository.
        .route("/chains/{file}", get(public::chain))
        .route("/crl/{file}", get(public::crl))
        .route("/ca/{file}", get(public::ca_certificate))
        // Anonymous registry endpoints: limited per client address.
        .merge(
            Router::new()
                .route("/v1/trust-anchors", get(public::trust_anchors))
                .route("/v1/lookup/e164/{number}", get(public::lookup_e164))
                .route("/v1/lookup/plmn/{mccmnc}", get(public::lookup_plmn))
                .route("/v1/openapi.json", get(openapi::document))
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    limits::per_address,
                )),
        )
        // Operations.
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(public::not_found)
        .method_not_allowed_fallback(public::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}
