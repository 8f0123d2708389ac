//! `tsca admin …`: the registry API from the command line, for people who would rather not
//! write curl. Every subcommand is one HTTPS request ([`client`]); the answer is printed as a
//! table or record, or as the registry's JSON with `--output json` ([`show`]); a change says
//! what it changed; a problem+json answer becomes the error message.

mod calls;
mod client;
mod commands;
mod show;

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

use crate::CliResult;
use calls::{call, Call};
use client::send;
pub use commands::AdminCommand;
pub use show::OutputFormat;
use show::{print, print_quietly};

/// Where the registry is and who is asking.
#[derive(Args)]
pub struct Connection {
    /// Registry base URL.
    #[arg(
        long,
        env = "TSCA_REGISTRY_URL",
        default_value = "https://127.0.0.1:8443"
    )]
    pub registry: String,
    /// A file holding the bearer token (else the TSCA_TOKEN environment variable). Tokens
    /// are never taken on the command line, where ps and shell history would show them.
    #[arg(long, env = "TSCA_TOKEN_FILE", hide_env_values = true)]
    pub token_file: Option<PathBuf>,
    /// Refused with a pointer to --token-file and TSCA_TOKEN (kept so that the old form
    /// gets an explanation rather than "unexpected argument").
    #[arg(long = "token", hide = true)]
    pub token_on_command_line: Option<String>,
    /// PEM file of the registry's TLS certificate or its CA (e.g. tsca-data/tls/registry.pem).
    #[arg(long, env = "TSCA_CACERT", hide_env_values = true)]
    pub cacert: Option<PathBuf>,
    /// Sent as the Idempotency-Key header of a change: running the same command again with
    /// the same key applies it once and prints the first result.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

impl Connection {
    /// The bearer token: the --token-file's first line, else TSCA_TOKEN.
    fn token(&self) -> CliResult<zeroize::Zeroizing<String>> {
        if self.token_on_command_line.is_some() {
            return Err(
                "--token is not taken: a token on the command line shows in ps and in \
                        shell history; put it in a file (--token-file FILE, or TSCA_TOKEN_FILE) \
                        or in the TSCA_TOKEN environment variable"
                    .into(),
            );
        }
        let token = match &self.token_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            None => std::env::var("TSCA_TOKEN").unwrap_or_default(),
        };
        if token.is_empty() {
            return Err(
                "no token: give --token-file FILE (or TSCA_TOKEN_FILE), or set TSCA_TOKEN".into(),
            );
        }
        Ok(zeroize::Zeroizing::new(token))
    }
}

/// Runs one admin command.
pub async fn run(
    connection: &Connection,
    output: OutputFormat,
    command: AdminCommand,
) -> CliResult<()> {
    // `crl-signer-csr --out FILE` writes the CSR instead of printing the answer.
    let csr_out = match &command {
        AdminCommand::CrlSignerCsr { out, .. } => out.clone(),
        _ => None,
    };
    let Call {
        method,
        path,
        body,
        shape,
    } = call(command)?;
    let reply = send(connection, method, &path, body).await?;
    if let Some(out) = csr_out {
        let csr = reply
            .value
            .get("csr_pem")
            .and_then(Value::as_str)
            .ok_or("the registry's answer has no csr_pem")?;
        std::fs::write(&out, csr).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        return print_quietly(&format!(
            "CRL signer CSR written to {}\nsign it: tsca ceremony sign-crl-signer --csr {} --out signer.pem",
            out.display(),
            out.display()
        ));
    }
    print(output, &shape, &reply.value, reply.replayed)
}
