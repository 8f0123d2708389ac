//! # tsca-http: the one HTTP/1.1 connection loop of tsca
//!
//! Every port tsca listens on — the registry (HTTPS), the publication point (plain HTTP for
//! OCSP and CRLs, HTTPS for the `x5u` chains) — is served by [`serve`], so what the
//! benchmarks measure is what users run (docs/architecture.md, "Ports and listeners").
//!
//! hyper is driven directly (not through `axum::serve`) for the knobs that keep one kind of
//! client from starving the others (docs/benchmarks.md, Targets S7):
//!
//! - **Idle and slow (slowloris) clients:** the header-read timeout runs whenever hyper waits
//!   for a request head, on a new connection and on an idle keep-alive one alike, so a client
//!   that sends nothing, or a byte a second, is closed after it. A TLS handshake gets the
//!   same time. Bodies are bounded by the handlers that read them.
//! - **Half-open clients:** a connection whose peer vanished holds a permit only until the
//!   header timeout closes it; `half_close(false)` closes when the peer shuts down its
//!   writing side.
//! - **Too many connections:** at most [`Limits::max_connections`]; beyond that a new
//!   connection is closed at once (reported to [`Limits::on_refused`]) rather than queued,
//!   so the accept loop never blocks and established clients keep being served.
//! - Each connection is its own task, so no connection can hold up another's requests.
//! - **Shutdown:** stop accepting, ask every open connection to finish the request in
//!   flight and close, wait for them up to [`Limits::shutdown_grace`].

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// How a port listens.
pub enum Listener {
    /// Plain HTTP: OCSP and CRLs (RFC 6960 and RFC 5280 clients fetch them over HTTP), or a
    /// registry behind a TLS-terminating proxy.
    Plain(TcpListener),
    /// HTTPS with this rustls configuration.
    Tls(TcpListener, Arc<rustls::ServerConfig>),
}

impl Listener {
    /// The address it is bound to.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Listener::Plain(tcp) | Listener::Tls(tcp, _) => tcp.local_addr(),
        }
    }
}

/// A called-back counter (e.g. a metric) for connections refused over the limit.
pub type OnRefused = Arc<dyn Fn() + Send + Sync>;

/// The limits of one server.
#[derive(Clone)]
pub struct Limits {
    /// Time a client has to send a request's headers (and to finish a TLS handshake), from
    /// the moment the server waits for them, also on an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Open connections at most; a connection beyond it is closed at once.
    pub max_connections: usize,
    /// How long requests in flight may finish after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// hyper's read buffer, hence the longest request head (a GET's URL included).
    pub max_buf_size: usize,
    /// Told of every connection refused over `max_connections`.
    pub on_refused: Option<OnRefused>,
    /// Whether requests carry the peer's address (axum's `ConnectInfo<SocketAddr>`), for
    /// limits per client address. Off on the publication port: its hot path needs no more.
    pub peer_address: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
            // hyper's own default.
            max_buf_size: 400 * 1024,
            on_refused: None,
            peer_address: false,
        }
    }
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_buf_size", &self.max_buf_size)
            .field("peer_address", &self.peer_address)
            .finish_non_exhaustive()
    }
}

/// Why a TLS configuration could not be made; the message names the file concerned.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsConfigError(String);

/// A rustls server configuration from a PEM certificate chain and a PEM private key,
/// offering HTTP/1.1 by ALPN. The files are read once; [`ReloadingCertificate`] re-reads them.
pub fn tls_config_from_pem_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    Ok(ReloadingCertificate::load(cert, key)?.server_config())
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, asks open
/// connections to finish their request in flight and close, and waits for them up to
/// `limits.shutdown_grace`.
pub async fn serve(
    listener: Listener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let (tcp, tls) = match listener {
        Listener::Plain(tcp) => (tcp, None),
        Listener::Tls(tcp, config) => (tcp, Some(tokio_rustls::TlsAcceptor::from(config))),
    };
    let max =
        u32::try_from(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let connections = Arc::new(Semaphore::new(max as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if let Some(refused) = &limits.on_refused {
                refused();
            }
            drop(stream);
            continue;
        };
        let router = if limits.peer_address {
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
        } else {
            router.clone()
        };
        tokio::spawn(connection(
            stream,
            tls.clone(),
            router,
            limits.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    let _ = stop_tx.send(true);
    // Every connection task holds a permit until it ends: having them all back means done.
    let _ = tokio::time::timeout(limits.shutdown_grace, connections.acquire_many(max)).await;
}

async fn connection(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Responses are small and written at once: do not hold the last segment back.
    let _ = stream.set_nodelay(true);
    match tls {
        None => http1(stream, router, &limits, stop).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http1(stream, router, &limits, stop).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

async fn http1<S>(stream: S, router: Router, limits: &Limits, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .half_close(false)
        .max_buf_size(limits.max_buf_size.max(8 * 1024));
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    // The borrow `wait_for` returns is not Send: drop it inside this future.
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets and garbage end here; they concern one client only.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

pub mod conditional;
mod reload;

pub use reload::ReloadingCertificate;
