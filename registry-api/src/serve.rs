//! Serving the registry: HTTPS through rustls, or plain HTTP only when asked for.
//!
//! The accept loop drives hyper directly so that slow clients time out: headers must arrive
//! within `header_timeout`, and the number of open connections is capped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How to listen.
pub enum Listener {
    /// HTTPS with this rustls configuration.
    Https(TcpListener, Arc<rustls::ServerConfig>),
    /// Plain HTTP (explicitly configured: tests, or behind a TLS-terminating proxy).
    Http(TcpListener),
}

/// A rustls server configuration from a PEM certificate chain and a PEM private key.
pub fn tls_config_from_pem_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read TLS private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not form a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` until `shutdown` resolves, then stops accepting and lets open requests
/// finish (up to 10 s).
pub async fn serve(
    listener: Listener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(4096));
    let header_timeout = Duration::from_secs(10);
    let (tcp, tls) = match listener {
        Listener::Https(tcp, config) => (tcp, Some(tokio_rustls::TlsAcceptor::from(config))),
        Listener::Http(tcp) => (tcp, None),
    };
    let tracker = tokio_util_free::Tracker::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            drop(stream); // over the connection limit: refuse at once rather than queue
            continue;
        };
        let router = router.clone();
        let tls = tls.clone();
        let guard = tracker.enter();
        tokio::spawn(async move {
            let _permit = permit;
            let _guard = guard;
            let service = TowerToHyperService::new(router);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), tracker.wait()).await;
}

/// Counting open connections to wait for them at shutdown, without another dependency.
mod tokio_util_free {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Default, Clone)]
    pub struct Tracker(Arc<(AtomicUsize, tokio::sync::Notify)>);

    pub struct Guard(Arc<(AtomicUsize, tokio::sync::Notify)>);

    impl Tracker {
        pub fn enter(&self) -> Guard {
            self.0 .0.fetch_add(1, Ordering::SeqCst);
            Guard(self.0.clone())
        }
        pub async fn wait(&self) {
            while self.0 .0.load(Ordering::SeqCst) > 0 {
                let notified = self.0 .1.notified();
                if self.0 .0.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0 .0.fetch_sub(1, Ordering::SeqCst);
            self.0 .1.notify_waiters();
        }
    }
}
