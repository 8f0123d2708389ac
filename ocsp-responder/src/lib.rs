//! # ocsp-responder: "is this certificate still good?" in microseconds
//!
//! The RFC 6960 / RFC 9919 responder of tsca (docs/architecture.md, "The OCSP fast path").
//! Signing nodes ask it about every peer certificate they verify, so the common answer comes
//! from memory. It holds no CA key: it reads the store through its read-only face, signs with
//! the delegated responders of [`ca_service::ResponderSet`] (opened with the responder
//! passphrase only) and writes nothing but re-signed responses to their own table
//! ([`OcspSources`]):
//!
//! - **Fast path.** Every certificate's current response is pre-signed (by the CA's delegated
//!   P-256 responder, never the CA key) and kept in a bounded in-memory cache keyed by
//!   [`CertIdKey`](ca_core::ocsp::CertIdKey), warmed from the database at start. A request
//!   with one CertID and no nonce whose answer is cached is served from the cached bytes
//!   without touching the database or a key: one parse, one hash-map lookup, one write.
//!   In front of it, the exact bytes of requests already answered that way (a GET path as
//!   sent, a POST body) lead straight to the complete answer and its headers, without even
//!   the parse; such an answer is served only while the cache still holds the entry it came
//!   from, so the cache's rules decide.
//! - **Live path.** Anything else — a SHA-256 CertID (the database holds SHA-1 responses), a
//!   serial not in the cache (a reservation not yet signed, an entry evicted), a never-issued
//!   serial, several CertIDs, a nonce — is looked up
//!   and signed live, with bounded concurrency: when no signing slot frees up within a short
//!   wait the answer is `tryLater`, so a burst cannot pile up. A nonce-less single answer
//!   saying that a certificate we issued is good or revoked is cached too (never-issued
//!   serials are not: random serials must not be able to push real answers out).
//! - **Push.** Every issuance and revocation reaches the cache with its pre-signed response
//!   as soon as it commits (follow.rs): the responder follows the audit log, woken after each
//!   commit (in-process, and by a NOTIFY sent after the commit on PostgreSQL) and reading it
//!   every `follow_interval` anyway. So a responder holds every response that exists, and
//!   the first query after an issuance is a hit.
//! - **Freshness.** A background task re-signs cached responses before half their validity
//!   has passed (storing the SHA-1 ones back in the database for other instances,
//!   refresh.rs). A cached answer is never served past its nextUpdate, whatever else fails.
//! - **Bad input** always gets an OCSP answer, HTTP 200 with an `application/ocsp-response`
//!   body: malformed DER, a wrong content type, an oversized body or a bad nonce →
//!   `malformedRequest`; a CertID of an issuer this service does not run → `unauthorized`.
//!   Never a crash, never an HTML page.
//!
//! [`OcspService::router`] gives the routes as an axum `Router`, which `tsca serve` mounts
//! next to the other publication routes (CRLs, chains) and serves with tsca's one connection
//! loop, `tsca_http::serve`, under [`OcspService::http_limits`]: a header-read timeout, a
//! connection limit and a read buffer sized for the longest GET, so idle, half-open and slow
//! clients cannot stop the responder from answering the others; the POST handler bounds the
//! time to read a body. [`serve`] is that loop with the responder's routes alone.

mod cache;
mod follow;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
mod metrics;
mod refresh;

use std::sync::Arc;
use std::time::Duration;

use ca_core::ocsp::IssuerHashes;
use ca_service::{ResponderSet, ServiceError};
use ca_store::{AuthorityId, OcspResponseWriter, StoreError, StoreReader};

pub use metrics::OcspMetrics;

use crate::cache::{Cache, RequestCache};

/// What goes wrong in the responder: at start (reading the database), or behind an answer
/// (which the client then sees as `internalError`, and the log as this). Boxed payloads keep
/// the `Result`s of the hot paths small.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The database could not be read, written or subscribed to.
    #[error("the OCSP responder cannot use the database: {0}")]
    Store(#[source] Box<StoreError>),
    /// The engine could not provide a responder or sign (key unavailable, CA inactive…).
    #[error("the OCSP responder cannot sign: {0}")]
    Service(#[source] Box<ServiceError>),
    /// ca-core refused to encode a response.
    #[error("cannot encode an OCSP response: {0}")]
    Core(#[source] Box<ca_core::Error>),
    /// No delegated responder of this issuer can be opened here yet (a CA node issues one
    /// within seconds of the CA's creation): the client is told to try later.
    #[error("no delegated responder for issuer {0} yet")]
    NoResponder(AuthorityId),
}

impl OcspError {
    /// The database is unreachable, busy or past a timeout: the client should try later.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Service(e) => matches!(**e, ServiceError::Unavailable { .. }),
            Self::Core(_) | Self::NoResponder(_) => false,
        }
    }
}

impl From<StoreError> for OcspError {
    fn from(e: StoreError) -> Self {
        Self::Store(Box::new(e))
    }
}

impl From<ServiceError> for OcspError {
    fn from(e: ServiceError) -> Self {
        Self::Service(Box::new(e))
    }
}

impl From<ca_core::Error> for OcspError {
    fn from(e: ca_core::Error) -> Self {
        Self::Core(Box::new(e))
    }
}

/// Settings of the responder and of its HTTP server.
#[derive(Debug, Clone)]
pub struct OcspConfig {
    /// Most CertIDs answered in one OCSPRequest (more → malformedRequest).
    pub max_requests_per_ocsp_request: usize,
    /// Most responses kept in memory. Sized to hold every certificate's SHA-1 response (plus
    /// the SHA-256 ones clients ask for); beyond it arbitrary entries make room.
    pub max_cache_entries: usize,
    /// Request byte strings remembered per form (GET path, POST body) for the hot path
    /// (cache.rs, `RequestCache`): the peers a signing node keeps asking about. Each costs
    /// about 1.2 KB (the request, the complete response, headers), so the default 4,096 per
    /// form is at most 10 MB beside the response cache. 0 turns it off.
    pub max_request_cache_entries: usize,
    /// Live signatures (with their database lookups) at the same time.
    pub live_signing_concurrency: usize,
    /// How long a request waits for a live-signing slot before the answer is `tryLater`.
    pub live_signing_wait: Duration,
    /// How long a live answer (database lookups and signature) may take before the answer is
    /// `tryLater`: with the database slow or gone, a miss is told to come back, never held.
    pub live_answer_deadline: Duration,
    /// Largest request body (POST) or decoded GET request, in octets.
    pub max_body_bytes: usize,
    /// How often the refresher re-signs responses past half their validity, drops expired
    /// ones and re-reads the list of issuers.
    pub refresh_interval: Duration,
    /// How often the audit log is read for changes when no wake-up came (a lost NOTIFY,
    /// another process on the same SQLite file): the longest a pushed change can be late.
    pub follow_interval: Duration,
    /// Time a client has to send a request's headers, from the moment the server waits for
    /// them (also on an idle keep-alive connection): slow and idle clients are closed.
    pub header_read_timeout: Duration,
    /// Time a client has to send a request body once its headers arrived.
    pub body_read_timeout: Duration,
    /// Open connections at most; a connection beyond it is closed at once.
    pub max_connections: usize,
    /// How long requests in flight may finish after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for OcspConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_requests_per_ocsp_request: 16,
            max_cache_entries: 2_000_000,
            max_request_cache_entries: 4_096,
            live_signing_concurrency: 2 * cores,
            live_signing_wait: Duration::from_millis(250),
            live_answer_deadline: Duration::from_secs(2),
            max_body_bytes: 64 * 1024,
            refresh_interval: Duration::from_secs(60),
            follow_interval: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What a responder reads and writes: the store's read face, its own response table, and
/// the delegated responders it signs with. An OCSP-only node opens these with
/// `ca_store::ResponderAccess` and a key ring holding only the responder passphrase.
#[derive(Clone)]
pub struct OcspSources {
    /// Reads (certificates, authorities, stored responses, revocation events).
    pub reader: StoreReader,
    /// Writes re-signed responses back.
    pub responses: OcspResponseWriter,
    /// The delegated responders.
    pub responders: ResponderSet,
}

/// An issuer this responder answers for: an active CA whose key (hence whose delegated
/// responder) is held by this service.
pub(crate) struct KnownIssuer {
    pub(crate) issuer_id: AuthorityId,
    pub(crate) hashes: IssuerHashes,
}

/// The running responder. Cheap to clone. Its two background tasks (follower, refresher)
/// hold clones and run until the tokio runtime shuts down.
#[derive(Clone)]
pub struct OcspService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) reader: StoreReader,
    pub(crate) responses: OcspResponseWriter,
    pub(crate) responders: ResponderSet,
    pub(crate) config: OcspConfig,
    pub(crate) cache: Cache,
    /// The hot path in front of `cache`: request bytes → ready answer.
    pub(crate) requests: RequestCache,
    pub(crate) issuers: std::sync::RwLock<Arc<Vec<KnownIssuer>>>,
    /// When the issuers were last read (unix seconds), to rate-limit re-reads on unknown ones.
    pub(crate) issuers_loaded_at: std::sync::atomic::AtomicI64,
    /// Serialises issuer re-reads triggered by requests.
    pub(crate) issuers_reload: tokio::sync::Mutex<()>,
    pub(crate) live: tokio::sync::Semaphore,
    /// Wakes the refresher before its interval (after the warm-up found expired responses).
    pub(crate) refresh_soon: tokio::sync::Notify,
    /// The audit sequence number through which changes are applied (follow.rs).
    pub(crate) followed_seq: std::sync::atomic::AtomicI64,
    /// Serialises catch-ups (the follower's, and any caller's).
    pub(crate) catching_up: tokio::sync::Mutex<()>,
    pub(crate) metrics: Arc<OcspMetrics>,
}

impl OcspService {
    /// Subscribes to change wake-ups, loads the issuers, warms the cache from the database
    /// and starts the refresher and the follower (on the current tokio runtime).
    ///
    /// The warm-up remembers the audit head it read first, so a change committed while the
    /// cache loads is applied by the follower afterwards rather than lost.
    pub async fn start(sources: OcspSources, config: OcspConfig) -> Result<OcspService, OcspError> {
        let service = OcspService {
            inner: Arc::new(Inner {
                live: tokio::sync::Semaphore::new(config.live_signing_concurrency.max(1)),
                cache: Cache::new(config.max_cache_entries),
                requests: RequestCache::new(config.max_request_cache_entries),
                reader: sources.reader,
                responses: sources.responses,
                responders: sources.responders,
                config,
                issuers: std::sync::RwLock::new(Arc::new(Vec::new())),
                issuers_loaded_at: std::sync::atomic::AtomicI64::new(0),
                issuers_reload: tokio::sync::Mutex::new(()),
                refresh_soon: tokio::sync::Notify::new(),
                followed_seq: std::sync::atomic::AtomicI64::new(0),
                catching_up: tokio::sync::Mutex::new(()),
                metrics: Arc::new(OcspMetrics::default()),
            }),
        };
        let subscription = service.inner.reader.subscribe().await?;
        service.warm_up().await?;
        let follower = service.clone();
        tokio::spawn(async move { follower.follow(subscription).await });
        let refresher = service.clone();
        tokio::spawn(async move { refresher.refresh_forever().await });
        Ok(service)
    }

    /// The counters, for /metrics.
    pub fn metrics(&self) -> Arc<OcspMetrics> {
        self.inner.metrics.clone()
    }

    /// How many responses are cached (fresh or not yet swept).
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }

    /// The settings it runs with.
    pub fn config(&self) -> &OcspConfig {
        &self.inner.config
    }

    /// `POST /ocsp`, `GET /ocsp/{base64 request}` (percent-encoded or not), and an OCSP
    /// `malformedRequest` for any other method on those paths. No fallback route, so the
    /// router can be merged with others.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// The connection limits of the server this responder answers on: the configured
    /// timeouts and connection cap, a read buffer with room for the longest GET (a max-size
    /// request, base64, fully percent-encoded), and refused connections counted in the
    /// metrics.
    pub fn http_limits(&self) -> tsca_http::Limits {
        let config = &self.inner.config;
        let metrics = self.metrics();
        tsca_http::Limits {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            shutdown_grace: config.shutdown_grace,
            max_buf_size: (4 * config.max_body_bytes + 16 * 1024).max(16 * 1024),
            on_refused: Some(Arc::new(move || metrics.bump_connection_refused())),
            // Never limited per address (signing nodes share NATs): no address needed.
            peer_address: false,
        }
    }
}

/// Serves the responder's own routes over plain HTTP on `listener` until `shutdown`
/// resolves, with [`OcspService::http_limits`] (tests, benchmarks, embedding).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: OcspService,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = service.http_limits();
    tsca_http::serve(
        tsca_http::Listener::Plain(listener),
        service.router(),
        limits,
        shutdown,
    )
    .await;
}
