//! # tsca: the command
//!
//! One binary for every role: `tsca quickstart` (a whole PKI on one machine, no setup),
//! `tsca serve --config FILE` (production, on PostgreSQL), `tsca ceremony …` (the offline
//! root), `tsca migrate` and `tsca audit verify`. The work is done by the library crates;
//! this crate wires them together, reads configuration and talks to people.

mod admin;
mod ceremony;
mod config;
mod quickstart;
mod run;
mod tls;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ca_store::{ChainVerdict, Store};
use clap::{Parser, Subcommand};

/// A CA's subject on the command line (`ceremony sign-subca`, `admin create-authority`).
#[derive(clap::Args, Debug)]
pub struct SubjectArgs {
    /// Subject common name.
    #[arg(long)]
    pub common_name: String,
    /// Organization (a CA certificate needs O and C).
    #[arg(long)]
    pub organization: Option<String>,
    /// Country (ISO 3166 alpha-2).
    #[arg(long)]
    pub country: Option<String>,
}

/// Errors shown to the user as one line.
pub type CliResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(
    name = "tsca",
    version,
    about = "Trust-anchor PKI for telecom signalling"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A running PKI on this machine: SQLite, an offline root, a regional and a national CA,
    /// an example operator with a certificate; serves the registry on https://127.0.0.1:8443,
    /// OCSP/CRLs/chains on http://127.0.0.1:8080 and chains (x5u) on https://127.0.0.1:8444.
    /// A second run reuses the data.
    Quickstart {
        /// Where everything is kept.
        #[arg(long, default_value = "tsca-data")]
        data_dir: PathBuf,
        /// Registry (HTTPS) address.
        #[arg(long, default_value = "127.0.0.1:8443")]
        registry_addr: std::net::SocketAddr,
        /// OCSP / CRL / chain (HTTP) address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        publication_addr: std::net::SocketAddr,
        /// Chain (x5u) / CRL / CA certificate (HTTPS) address: the publication point over TLS.
        #[arg(long, default_value = "127.0.0.1:8444")]
        publication_tls_addr: std::net::SocketAddr,
        /// The hierarchy's profile family on a first run (docs/profiles.md): tsca, or shaken
        /// for SHAKEN-profile certificates (P-256, SPC-only end entities).
        #[arg(long, value_enum, default_value_t = ceremony::cli::FamilyName::Tsca)]
        profile: ceremony::cli::FamilyName,
    },
    /// Serves the registry and/or the OCSP responder from a config file (see deploy/config).
    Serve {
        /// The TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// First step on a new database: registers the root certificate from the ceremony (only
    /// the certificate: the key stays offline) and prints the first root-admin token, once.
    Bootstrap {
        /// Database URL.
        #[arg(long, env = "TSCA_DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// The root's name in the registry (used in URLs).
        #[arg(long, default_value = "root")]
        root_name: String,
        /// root.pem from `tsca ceremony init-root`.
        #[arg(long)]
        root_certificate: PathBuf,
        /// root-policy.json from the same ceremony: the hierarchy's profile family (tsca when
        /// not given).
        #[arg(long)]
        root_policy: Option<PathBuf>,
    },
    /// Applies database migrations and exits.
    Migrate {
        /// Database URL.
        #[arg(long, env = "TSCA_DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Administration through the registry API (authorities, operators, assignments, tokens).
    Admin {
        #[command(flatten)]
        connection: admin::Connection,
        /// table (for people) or json (the registry's answer, for scripts).
        #[arg(long, value_enum, global = true, default_value_t)]
        output: admin::OutputFormat,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Offline root ceremonies.
    Ceremony {
        #[command(subcommand)]
        command: ceremony::cli::CeremonyCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the hash chain; exits 1 naming the first broken entry.
    Verify {
        /// Database URL.
        #[arg(long, env = "TSCA_DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TSCA_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tsca: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tsca: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> CliResult<ExitCode> {
    match command {
        Command::Quickstart {
            data_dir,
            registry_addr,
            publication_addr,
            publication_tls_addr,
            profile,
        } => quickstart::run(
            &data_dir,
            quickstart::Addresses {
                registry: registry_addr,
                publication: publication_addr,
                publication_tls: publication_tls_addr,
            },
            profile,
        )
        .await
        .map(|()| ExitCode::SUCCESS),
        Command::Serve { config } => run::serve_config(&config).await.map(|()| ExitCode::SUCCESS),
        Command::Bootstrap {
            database_url,
            root_name,
            root_certificate,
            root_policy,
        } => bootstrap(
            &database_url,
            &root_name,
            &root_certificate,
            root_policy.as_deref(),
        )
        .await
        .map(|()| ExitCode::SUCCESS),
        Command::Migrate { database_url } => {
            let store = Store::open(&database_url).await?;
            println!(
                "{}: schema at version {}",
                store.describe(),
                ca_store::code_schema_version(store.backend())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { database_url },
        } => {
            let store = Store::open(&database_url).await?;
            match store.reader().verify_audit_chain().await? {
                ChainVerdict::Intact { entries, head } => {
                    println!("audit log intact: {entries} entries, head {head}");
                    Ok(ExitCode::SUCCESS)
                }
                ChainVerdict::Broken { seq, reason } => {
                    println!("audit log BROKEN at entry {seq}: {reason}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Ceremony { command } => ceremony::cli::run(command).map(|()| ExitCode::SUCCESS),
        Command::Admin {
            connection,
            output,
            command,
        } => admin::run(&connection, output, command)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

async fn bootstrap(
    database_url: &str,
    root_name: &str,
    root_certificate: &Path,
    root_policy: Option<&Path>,
) -> CliResult<()> {
    let family = match root_policy {
        None => ca_store::AuthorityFamily::Tsca,
        Some(path) => {
            let text =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let policy: ceremony::RootPolicy = serde_json::from_slice(&text)
                .map_err(|e| format!("{} is not a root policy: {e}", path.display()))?;
            policy.profile.authority_family()?
        }
    };
    let pem = std::fs::read(root_certificate)
        .map_err(|e| format!("cannot read {}: {e}", root_certificate.display()))?;
    let der = ca_core::x509::Certificate::from_pem(&pem)?.to_der()?;
    let store = Store::open(database_url).await?;
    // No key is handled here: the gateway holds no passphrase, so any attempt to use a key
    // fails.
    let engine = ca_service::Engine::new(
        store,
        ca_service::KeyPassphrases::default(),
        ca_service::EngineConfig::new("http://unused"),
    );
    let (root, token) = engine
        .bootstrap(
            &ca_service::Principal::Local {
                command: "bootstrap",
            },
            root_name,
            &der,
            family,
        )
        .await?;
    let secret = token.secret.ok_or("a new token has its secret")?;
    println!(
        "root {root_name} registered as authority {} in {}\nroot-admin token (shown once, store it now): {}",
        root.id,
        engine.reader().describe(),
        secret.expose()
    );
    Ok(())
}

/// A spinner on stderr for work that takes seconds.
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> CliResult<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
