//! Running the services: the HTTPS registry and the plain-HTTP publication point (OCSP,
//! CRLs, chains), until Ctrl-C or SIGTERM.
//!
//! A node with the registry part is a CA node: it holds the gateway ([`Engine`]) with the
//! CA-key passphrase, heartbeats, and runs the maintenance pass (reconciling orphaned
//! reservations, sweeps, responder rotation, CRLs). A node with only the OCSP part holds no
//! CA key: it reads the store through its read-only face, signs with delegated responder keys
//! opened with their own passphrase, and picks rotated ones up from the database
//! (docs/architecture.md, "Who writes what").

use std::path::Path;
use std::sync::Arc;

use ca_service::{Engine, EngineConfig, KeyPassphrases, KeyRing, Repository, ResponderSet};
use ca_store::{ResponderAccess, Store};
use ocsp_responder::{OcspConfig, OcspService, OcspSources};
use registry_api::{publication_router, router, AppState, Listener, PublicState, RegistryConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::config::{Config, Part};
use crate::CliResult;

/// What to serve.
pub struct Plan {
    /// The registry's listener (HTTPS or plain), if it runs here.
    pub registry: Option<Listener>,
    /// The publication listener, if the OCSP part runs here.
    pub publication: Option<TcpListener>,
    /// Registry settings.
    pub registry_config: RegistryConfig,
}

/// Serves a CA node (the registry, and the publication point when planned) until a
/// shutdown signal.
pub async fn serve_ca(engine: Engine, plan: Plan) -> CliResult<()> {
    let report = engine.start().await?;
    if !report.abandoned.is_empty() || report.enrolments_finished + report.enrolments_failed > 0 {
        tracing::warn!(
            ?report,
            "work left by an earlier run was reconciled at start-up"
        );
    }
    let _background = engine.spawn_background();
    let state = AppState::new(engine.clone(), plan.registry_config.clone()).await?;
    let ocsp = match &plan.publication {
        Some(_) => Some(
            start_ocsp(OcspSources {
                reader: engine.reader().clone(),
                responses: engine.ocsp_responses(),
                responders: engine.responders().clone(),
            })
            .await?,
        ),
        None => None,
    };
    if let Some(ocsp) = &ocsp {
        let metrics = ocsp.metrics();
        state.add_metrics_source(Arc::new(move || metrics.render_prometheus()));
    }
    let public = PublicState::new(Repository::new(engine.reader().clone()));
    let max_body = plan.registry_config.max_body_bytes;
    let registry = plan.registry.map(|listener| {
        let mut app = router(state.clone());
        if let Some(ocsp) = &ocsp {
            app = app.merge(ocsp.router());
        }
        (listener, app)
    });
    let publication = match (plan.publication, &ocsp) {
        (Some(tcp), Some(ocsp)) => Some((
            tcp,
            publication_router(public, max_body).merge(ocsp.router()),
        )),
        _ => None,
    };
    run_until_signal(registry, publication).await;
    engine.close().await;
    eprintln!(
        "stopped; every committed write is in {}",
        engine.reader().describe()
    );
    Ok(())
}

/// Serves an OCSP-only node: responder keys only, no gateway.
pub async fn serve_ocsp_only(
    access: ResponderAccess,
    responder_passphrase: Zeroizing<Vec<u8>>,
    publication: TcpListener,
    max_body: usize,
) -> CliResult<()> {
    let keys = KeyRing::new(
        access.reader.clone(),
        KeyPassphrases {
            ca: None,
            ocsp_responder: Some(responder_passphrase),
        },
        EngineConfig::new("http://unused").kdf_iterations,
    );
    let validity = EngineConfig::new("http://unused").ocsp_validity;
    let ocsp = start_ocsp(OcspSources {
        reader: access.reader.clone(),
        responses: access.responses.clone(),
        responders: ResponderSet::new(access.reader.clone(), keys, validity),
    })
    .await?;
    let public = PublicState::new(Repository::new(access.reader.clone()));
    let app = publication_router(public, max_body).merge(ocsp.router());
    run_until_signal(None, Some((publication, app))).await;
    eprintln!("stopped");
    Ok(())
}

async fn start_ocsp(sources: OcspSources) -> CliResult<OcspService> {
    OcspService::start(sources, OcspConfig::default())
        .await
        .map_err(|e| format!("cannot start the OCSP responder: {e}").into())
}

async fn run_until_signal(
    registry: Option<(Listener, axum::Router)>,
    publication: Option<(TcpListener, axum::Router)>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some((listener, app)) = registry {
        tasks.push(tokio::spawn(registry_api::serve(
            listener,
            app,
            wait_for(stop_rx.clone()),
        )));
    }
    if let Some((tcp, app)) = publication {
        tasks.push(tokio::spawn(registry_api::serve(
            Listener::Http(tcp),
            app,
            wait_for(stop_rx.clone()),
        )));
    }
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

/// `tsca serve --config FILE`.
pub async fn serve_config(path: &Path) -> CliResult<()> {
    let resolved = Config::load(path)?;
    let config = &resolved.config;
    let registry_config = RegistryConfig {
        max_body_bytes: config.registry.max_body_bytes,
        rate_limit_per_second: config.registry.rate_limit_per_second,
        ..RegistryConfig::default()
    };
    let publication = if config.services.run.contains(&Part::Ocsp) {
        Some(
            TcpListener::bind(config.publication.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.publication.listen))?,
        )
    } else {
        None
    };
    tracing::info!(registry = %config.registry.listen, publication = %config.publication.listen, parts = ?config.services.run, "serving");
    if !config.services.run.contains(&Part::Registry) {
        let Some(publication) = publication else {
            return Err("services.run names no part to serve".into());
        };
        let access = ResponderAccess::open(&resolved.database_url).await?;
        tracing::info!(database = %access.reader.describe(), "database open (OCSP-only node: read-only, no CA key)");
        return serve_ocsp_only(
            access,
            resolved.responder_passphrase.clone(),
            publication,
            registry_config.max_body_bytes,
        )
        .await;
    }
    let store = Store::open(&resolved.database_url).await?;
    tracing::info!(database = %store.describe(), "database open");
    let engine = Engine::new(
        store,
        KeyPassphrases {
            ca: resolved.ca_passphrase.clone(),
            ocsp_responder: Some(resolved.responder_passphrase.clone()),
        },
        EngineConfig::new(config.publication.base_url.clone()),
    );
    let tcp = TcpListener::bind(config.registry.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.registry.listen))?;
    let registry = if config.registry.plain_http {
        Listener::Http(tcp)
    } else {
        let (Some(cert), Some(key)) = (
            &config.registry.tls_certificate,
            &config.registry.tls_private_key,
        ) else {
            return Err("registry TLS files are required".into());
        };
        Listener::Https(tcp, registry_api::tls_config_from_pem_files(cert, key)?)
    };
    serve_ca(
        engine,
        Plan {
            registry: Some(registry),
            publication,
            registry_config,
        },
    )
    .await
}
