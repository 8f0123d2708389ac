//! Running the services until Ctrl-C or SIGTERM: the HTTPS registry and the publication
//! point (OCSP and CRLs over plain HTTP, chains and CA certificates over both plain HTTP and,
//! when configured, HTTPS). Every port is served by tsca's one connection loop,
//! `tsca_http::serve`; the publication point's routes are the OCSP responder's next to the
//! repository's, under the responder's limits (docs/architecture.md, "Ports and listeners").
//!
//! A node with the registry part is a CA node: it holds the gateway ([`Engine`]) with the
//! CA-key passphrase, heartbeats, and runs the maintenance pass (reconciling orphaned
//! reservations, sweeps, responder rotation, CRLs). A node with only the OCSP part holds no
//! CA key: it reads the store through its read-only face, signs with delegated responder keys
//! opened with their own passphrase, and picks rotated ones up from the database
//! (docs/architecture.md, "Who writes what"). Both serve the publication point with the same
//! code; only where its sources come from differs.

use std::path::Path;
use std::sync::Arc;

use ca_service::{Engine, EngineConfig, KeyPassphrases, KeyRing, Repository, ResponderSet};
use ca_store::{ResponderAccess, Store};
use ocsp_responder::{OcspConfig, OcspService, OcspSources};
use registry_api::{publication_router, router, AppState, PublicState, RegistryConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tsca_http::{Limits, Listener};
use zeroize::Zeroizing;

use crate::config::{Config, Part};
use crate::CliResult;

/// Where a node's authority comes from.
pub enum Node {
    /// A CA node: the gateway, with the CA keys.
    Ca(Engine),
    /// An OCSP-only node: the store's read face and the responder keys.
    OcspOnly {
        /// The read-only store and the response table.
        access: ResponderAccess,
        /// Unlocks the delegated responder keys.
        responder_passphrase: Zeroizing<Vec<u8>>,
    },
}

/// The publication point's listeners.
pub struct Publication {
    /// Plain HTTP: OCSP, CRLs, chains, CA certificates.
    pub plain: TcpListener,
    /// The same routes over HTTPS (for `x5u` chain URLs), if configured.
    pub tls: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
}

/// What to serve.
pub struct Plan {
    /// The registry's listener (HTTPS or plain), if it runs here.
    pub registry: Option<Listener>,
    /// The publication point, if the OCSP part runs here.
    pub publication: Option<Publication>,
    /// Registry settings (also the publication point's body limit and chain URL base).
    pub registry_config: RegistryConfig,
}

/// Serves `plan` for `node` until a shutdown signal.
pub async fn serve(node: Node, plan: Plan) -> CliResult<()> {
    let (sources, engine) = match node {
        Node::Ca(engine) => {
            let report = engine.start().await?;
            if !report.abandoned.is_empty()
                || report.enrolments_finished + report.enrolments_failed > 0
            {
                tracing::warn!(
                    ?report,
                    "work left by an earlier run was reconciled at start-up"
                );
            }
            let sources = OcspSources {
                reader: engine.reader().clone(),
                responses: engine.ocsp_responses(),
                responders: engine.responders().clone(),
            };
            (sources, Some(engine))
        }
        Node::OcspOnly {
            access,
            responder_passphrase,
        } => {
            // Only the response validity and the key-derivation cost are read from it.
            let defaults = EngineConfig::new("http://unused");
            let keys = KeyRing::new(
                access.reader.clone(),
                KeyPassphrases {
                    ca: None,
                    ocsp_responder: Some(responder_passphrase),
                },
                defaults.kdf_iterations,
            );
            let sources = OcspSources {
                reader: access.reader.clone(),
                responses: access.responses.clone(),
                responders: ResponderSet::new(access.reader, keys, defaults.ocsp_validity),
            };
            (sources, None)
        }
    };
    let _background = engine.as_ref().map(Engine::spawn_background);
    let registry_state = match &engine {
        Some(engine) => Some(AppState::new(engine.clone(), plan.registry_config.clone()).await?),
        None => None,
    };
    let ocsp = match &plan.publication {
        Some(_) => Some(
            OcspService::start(sources.clone(), OcspConfig::default())
                .await
                .map_err(|e| format!("cannot start the OCSP responder: {e}"))?,
        ),
        None => None,
    };
    let mut servers = Vec::new();
    if let (Some(publication), Some(ocsp)) = (plan.publication, &ocsp) {
        // A CA node shares the registry's chain cache, which its catch-ups keep current.
        let public = match &registry_state {
            Some(state) => state.public(),
            None => PublicState::new(
                Repository::new(sources.reader.clone()),
                plan.registry_config.chain_url_base.clone(),
            ),
        };
        let mut app =
            publication_router(public, plan.registry_config.max_body_bytes).merge(ocsp.router());
        if registry_state.is_none() {
            // An OCSP-only node has no registry port: its metrics are served here (a CA node
            // serves them, the responder's included, on the registry port).
            let metrics = ocsp.metrics();
            app = app.route(
                "/metrics",
                axum::routing::get(move || {
                    let text = metrics.render_prometheus();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            text,
                        )
                    }
                }),
            );
        }
        servers.push((
            Listener::Plain(publication.plain),
            app.clone(),
            ocsp.http_limits(),
        ));
        if let Some((tcp, tls)) = publication.tls {
            servers.push((Listener::Tls(tcp, tls), app, ocsp.http_limits()));
        }
    }
    if let (Some(listener), Some(state)) = (plan.registry, &registry_state) {
        if let Some(ocsp) = &ocsp {
            let metrics = ocsp.metrics();
            state.add_metrics_source(Arc::new(move || metrics.render_prometheus()));
        }
        // The registry port limits anonymous calls per client address: its requests carry
        // the peer's address.
        let limits = Limits {
            peer_address: true,
            ..Limits::default()
        };
        servers.push((listener, router(state.clone()), limits));
    }
    if servers.is_empty() {
        return Err("nothing to serve: services.run names no part this node can run".into());
    }
    run_until_signal(servers).await;
    match engine {
        Some(engine) => {
            engine.close().await;
            eprintln!(
                "stopped; every committed write is in {}",
                engine.reader().describe()
            );
        }
        None => eprintln!("stopped"),
    }
    Ok(())
}

async fn run_until_signal(servers: Vec<(Listener, axum::Router, Limits)>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = servers
        .into_iter()
        .map(|(listener, app, limits)| {
            tokio::spawn(tsca_http::serve(
                listener,
                app,
                limits,
                wait_for(stop_rx.clone()),
            ))
        })
        .collect();
    shutdown_signal().await;
    eprintln!("\nshutting down: finishing requests in flight…");
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> CliResult<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}").into())
}

/// `tsca serve --config FILE`.
pub async fn serve_config(path: &Path) -> CliResult<()> {
    crate::tls::survive_hangups();
    let resolved = Config::load(path)?;
    let config = &resolved.config;
    let publication_tls = config.publication.tls_listener()?;
    let chain_url_base = match config.publication.chain_url_base()? {
        Some(base) => base,
        None => {
            tracing::warn!(
                "publication.tls_* not set: chain URLs handed out are plain HTTP, which STIR \
                 verifiers refuse as x5u (RFC 8224 §4.1); see docs/operations.md"
            );
            config.publication.base_url.clone()
        }
    };
    let registry_config = RegistryConfig {
        max_body_bytes: config.registry.max_body_bytes,
        rate_limit_per_second: config.registry.rate_limit_per_second,
        anonymous_rate_limit_per_second: config.registry.anonymous_rate_limit_per_second,
        trusted_proxies: config.registry.trusted_proxies.clone(),
        chain_url_base: Some(chain_url_base),
        ..RegistryConfig::default()
    };
    // Bind every port before any other work: a port in use fails at once.
    let publication = if config.services.run.contains(&Part::Ocsp) {
        let plain = bind(config.publication.listen, "publication").await?;
        let tls = match &publication_tls {
            Some(tls) => Some((
                bind(tls.listen, "publication over HTTPS").await?,
                crate::tls::reloading_config(
                    &tls.certificate,
                    &tls.private_key,
                    "publication over HTTPS",
                )?,
            )),
            None => None,
        };
        Some(Publication { plain, tls })
    } else {
        None
    };
    // Only the ports this node listens on: an OCSP-only node has no registry port.
    let runs = |part| config.services.run.contains(&part);
    tracing::info!(registry = ?runs(Part::Registry).then_some(config.registry.listen),
        publication = ?runs(Part::Ocsp).then_some(config.publication.listen),
        publication_tls = ?publication_tls.as_ref().map(|t| t.listen), parts = ?config.services.run, "serving");
    if !config.services.run.contains(&Part::Registry) {
        let access =
            ResponderAccess::open(&resolved.database_url, config.database.limits()?).await?;
        tracing::info!(database = %access.reader.describe(), "database open (OCSP-only node: read-only, no CA key)");
        let node = Node::OcspOnly {
            access,
            responder_passphrase: resolved.responder_passphrase.clone(),
        };
        let plan = Plan {
            registry: None,
            publication,
            registry_config,
        };
        return serve(node, plan).await;
    }
    let tcp = bind(config.registry.listen, "registry").await?;
    let registry = if config.registry.plain_http {
        Listener::Plain(tcp)
    } else {
        let (Some(cert), Some(key)) = (
            &config.registry.tls_certificate,
            &config.registry.tls_private_key,
        ) else {
            return Err("registry TLS files are required".into());
        };
        Listener::Tls(tcp, crate::tls::reloading_config(cert, key, "registry")?)
    };
    let store = Store::open_with(&resolved.database_url, config.database.limits()?).await?;
    tracing::info!(database = %store.describe(), "database open");
    let engine = Engine::new(
        store,
        KeyPassphrases {
            ca: resolved.ca_passphrase.clone(),
            ocsp_responder: Some(resolved.responder_passphrase.clone()),
        },
        EngineConfig {
            max_scope_entries: config.registry.max_scope_entries,
            operator_token_lifetime: config.registry.operator_token_lifetime()?,
            max_certificate_bytes: config.registry.max_certificate_bytes,
            ..EngineConfig::new(config.publication.base_url.clone())
        },
    );
    let plan = Plan {
        registry: Some(registry),
        publication,
        registry_config,
    };
    serve(Node::Ca(engine), plan).await
}
