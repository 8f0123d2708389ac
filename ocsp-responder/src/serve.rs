//! The hardened HTTP/1.1 accept loop.
//!
//! hyper is driven directly (not through `axum::serve`) for the knobs that keep one kind of
//! client from starving the others (docs/benchmarks.md, Targets S7):
//!
//! - **Idle and slow (slowloris) clients:** `header_read_timeout` runs whenever hyper waits
//!   for a request head, on a new connection and on an idle keep-alive one alike, so a
//!   client that sends nothing, or a byte a second, is closed after it. Bodies are bounded by
//!   `body_read_timeout` in the POST handler.
//! - **Half-open clients:** a connection whose peer vanished holds a permit only until the
//!   header timeout closes it; hyper's `half_close(false)` closes when the peer shuts down
//!   its writing side.
//! - **Too many connections:** at most `max_connections`; beyond that a new connection is
//!   closed at once (counted in the metrics) rather than queued, so the accept loop itself
//!   never blocks and established clients keep being served.
//! - Each connection is its own task, so no connection can hold up another's requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::{OcspConfig, OcspService};

/// Serves the responder's own routes ([`OcspService::router`]) on `listener` until
/// `shutdown` resolves; then stops accepting, asks open connections to finish their request
/// in flight and close, and waits for them up to `shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    service: OcspService,
    shutdown: impl Future<Output = ()>,
) {
    let router = service.router();
    serve_router(listener, router, &service, shutdown).await;
}

/// [`serve`] for any router, e.g. the responder's merged with other publication routes
/// (CRLs, chains), with the limits and counters of `service`.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    service: &OcspService,
    shutdown: impl Future<Output = ()>,
) {
    let config = service.config().clone();
    let metrics = service.metrics();
    let max =
        u32::try_from(config.max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let connections = Arc::new(Semaphore::new(max as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
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
            metrics.bump_connection_refused();
            drop(stream);
            continue;
        };
        tokio::spawn(connection(
            stream,
            router.clone(),
            config.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    let _ = stop_tx.send(true);
    // Every connection task holds a permit until it ends: having them all back means done.
    let _ = tokio::time::timeout(config.shutdown_grace, connections.acquire_many(max)).await;
}

async fn connection(
    stream: TcpStream,
    router: Router,
    config: OcspConfig,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Responses are small and written at once: do not hold the last segment back.
    let _ = stream.set_nodelay(true);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .half_close(false)
        // Room for the longest GET (a max-size request, base64, fully percent-encoded).
        .max_buf_size((4 * config.max_body_bytes + 16 * 1024).max(16 * 1024));
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
        tracing::debug!(error = %e, "OCSP connection ended with an error");
    }
}
