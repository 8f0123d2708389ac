//! Running the services: the HTTPS registry and the plain-HTTP publication point (OCSP,
//! CRLs, chains), until Ctrl-C or SIGTERM.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ca_service::{Engine, EngineConfig};
use ca_store::{Backend, Store};
use registry_api::{publication_router, router, AppState, Listener, RegistryConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

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

/// Starts the engine's start-up work and serves until a shutdown signal.
pub async fn serve(engine: Engine, plan: Plan) -> CliResult<()> {
    // Reconcile interrupted issuance. On SQLite this process is the only writer, so every
    // reservation from before now is abandoned; on PostgreSQL only those older than 5 min,
    // so another instance's issuance in flight is left alone.
    let grace = match engine.store().backend() {
        Backend::Sqlite => Duration::ZERO,
        Backend::Postgres => Duration::from_secs(300),
    };
    let abandoned = engine.start_up(grace).await?;
    if !abandoned.is_empty() {
        tracing::warn!(
            count = abandoned.len(),
            "interrupted issuance reconciled at start-up"
        );
    }
    let state = AppState::new(engine.clone(), plan.registry_config).await?;
    let ocsp = if plan.publication.is_some() {
        let service = ocsp_responder::OcspService::start(
            engine.clone(),
            ocsp_responder::OcspConfig::default(),
        )
        .await
        .map_err(|e| format!("cannot start the OCSP responder: {e}"))?;
        let metrics = service.metrics();
        state.add_metrics_source(Arc::new(move || metrics.render_prometheus()));
        Some(service)
    } else {
        None
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(listener) = plan.registry {
        let mut app = router(state.clone());
        if let Some(ocsp) = &ocsp {
            app = app.merge(ocsp.router());
        }
        let stop = wait_for(stop_rx.clone());
        tasks.push(tokio::spawn(registry_api::serve(listener, app, stop)));
    }
    if let (Some(tcp), Some(ocsp)) = (plan.publication, &ocsp) {
        let app = publication_router(state.clone()).merge(ocsp.router());
        let stop = wait_for(stop_rx.clone());
        tasks.push(tokio::spawn(registry_api::serve(
            Listener::Http(tcp),
            app,
            stop,
        )));
    }
    shutdown_signal().await;
    eprintln!("\nshutting down: finishing requests in flight…");
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    engine.store().close().await;
    eprintln!(
        "stopped; every committed write is in {}",
        engine.store().describe()
    );
    Ok(())
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
    let store = Store::open(&resolved.database_url).await?;
    tracing::info!(database = %store.describe(), "database open");
    let engine = Engine::new(
        store,
        &resolved.passphrase,
        EngineConfig::new(config.publication.base_url.clone()),
    );
    let registry = if config.services.run.contains(&Part::Registry) {
        let tcp = TcpListener::bind(config.registry.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.registry.listen))?;
        Some(if config.registry.plain_http {
            Listener::Http(tcp)
        } else {
            let (Some(cert), Some(key)) = (
                &config.registry.tls_certificate,
                &config.registry.tls_private_key,
            ) else {
                return Err("registry TLS files are required".into());
            };
            Listener::Https(tcp, registry_api::tls_config_from_pem_files(cert, key)?)
        })
    } else {
        None
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
    serve(
        engine,
        Plan {
            registry,
            publication,
            registry_config: RegistryConfig {
                max_body_bytes: config.registry.max_body_bytes,
                rate_limit_per_second: config.registry.rate_limit_per_second,
                ..RegistryConfig::default()
            },
        },
    )
    .await
}
