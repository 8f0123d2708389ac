//! The TLS certificates of `tsca serve` stay current without a restart (docs/operations.md,
//! "TLS certificates"): each listener's files are checked every 10 s and re-read at once on
//! SIGHUP; new handshakes get the new pair, open connections keep theirs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tsca_http::ReloadingCertificate;

use crate::CliResult;

/// How often the files are checked for a change.
const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// A server configuration for `cert` and `key` that follows changes to the files; `what`
/// names the listener in the log.
pub fn reloading_config(
    cert: &Path,
    key: &Path,
    what: &'static str,
) -> CliResult<Arc<rustls::ServerConfig>> {
    let certificate = ReloadingCertificate::load(cert, key)?;
    let config = certificate.server_config();
    tokio::spawn(keep_current(certificate, what));
    Ok(config)
}

/// SIGHUP asks `tsca serve` to re-read its TLS files; with none configured it must still not
/// end the process (the signal's default action), so it is only logged.
pub fn survive_hangups() {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangup) => {
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP: TLS files are re-read by the listeners that have them");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
    }
}

async fn keep_current(certificate: Arc<ReloadingCertificate>, what: &'static str) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = tokio::select! {
            () = tokio::time::sleep(CHECK_INTERVAL) => false,
            Some(()) = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        #[cfg(not(unix))]
        let forced = {
            tokio::time::sleep(CHECK_INTERVAL).await;
            false
        };
        match certificate.reload(forced) {
            Ok(true) => tracing::info!(listener = what, "TLS certificate reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(listener = what, error = %e,
                "the TLS certificate files changed but do not load; the previous pair stays in use"),
        }
    }
}
