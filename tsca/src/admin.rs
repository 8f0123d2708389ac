//! `tsca admin …`: the registry API from the command line, for people who would rather not
//! write curl. Every subcommand is one HTTPS request; the answer is printed as JSON, and a
//! problem+json answer becomes the error message.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::{CliResult, SubjectArgs};

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

/// The admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// List authorities.
    Authorities,
    /// Create a regional or national sub-CA.
    CreateAuthority {
        /// Name (a-z, 0-9, '-').
        #[arg(long)]
        name: String,
        /// regional or national.
        #[arg(long)]
        tier: String,
        /// Parent authority id.
        #[arg(long)]
        parent: i64,
        /// Scope entries (repeat).
        #[arg(long = "scope", required = true)]
        scope: Vec<String>,
        #[command(flatten)]
        subject: SubjectArgs,
        /// Approve enrolments within scope automatically.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Install the certificate an offline parent signed for an authority.
    InstallCertificate {
        /// Authority id.
        #[arg(long)]
        authority: i64,
        /// The certificate (PEM) from `tsca ceremony sign-subca`.
        #[arg(long)]
        file: PathBuf,
    },
    /// Install the CRL an offline authority (the root) signed in its ceremony.
    InstallCrl {
        /// Authority id (the root's).
        #[arg(long)]
        authority: i64,
        /// The CRL (DER or PEM): root.crl from `tsca ceremony revoke` or `sign-crl`.
        file: PathBuf,
    },
    /// Make the key of a SHAKEN domain's CRL signer and print its CSR (or the pending one's),
    /// for `tsca ceremony sign-crl-signer`.
    CrlSignerCsr {
        /// Authority id (the SHAKEN root's).
        #[arg(long)]
        authority: i64,
        /// Write the CSR (PEM) here instead of printing the answer.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install the root's certificate for the pending CRL signer; it signs /crl/domain.crl
    /// at once.
    InstallCrlSigner {
        /// Authority id (the SHAKEN root's).
        #[arg(long)]
        authority: i64,
        /// The certificate (PEM) from `tsca ceremony sign-crl-signer`.
        file: PathBuf,
    },
    /// Show a SHAKEN root's CRL signers: the pending one and the active one.
    CrlSigner {
        /// Authority id (the SHAKEN root's).
        #[arg(long)]
        authority: i64,
    },
    /// Register an operator (prints its first token once); give it its SPC with
    /// `assign --resource spc:CODE` before it enrols.
    CreateOperator {
        /// Authority id.
        #[arg(long)]
        authority: i64,
        /// Name.
        #[arg(long)]
        name: String,
        /// Country (ISO 3166 alpha-2).
        #[arg(long)]
        country: String,
    },
    /// Assign a numbering resource to an operator.
    Assign {
        /// Operator id.
        #[arg(long)]
        operator: i64,
        /// Resource, e.g. prefix:3361 or range:33612340000+10000.
        #[arg(long)]
        resource: String,
        /// Ported from this operator.
        #[arg(long)]
        ported_from: Option<i64>,
        /// When the assignment ends (seconds since 1970); open-ended when not given.
        #[arg(long)]
        valid_to: Option<i64>,
    },
    /// Move an assignment's end (revokes certificates that no longer fit).
    SetAssignmentEnd {
        /// Assignment id.
        #[arg(long)]
        assignment: i64,
        /// The new end (seconds since 1970), or `never` for open-ended.
        #[arg(long)]
        valid_to: String,
    },
    /// Withdraw an assignment (revokes certificates that no longer fit).
    Withdraw {
        /// Assignment id.
        #[arg(long)]
        assignment: i64,
    },
    /// Issue an operator token.
    CreateToken {
        /// Operator id.
        #[arg(long)]
        operator: i64,
        /// Days it works (1 to 3650; default: the service's operator-token lifetime, or
        /// until revoked).
        #[arg(long)]
        valid_days: Option<u32>,
    },
    /// Revoke a token.
    RevokeToken {
        /// Token id.
        #[arg(long)]
        id: i64,
    },
    /// Approve a pending enrolment.
    Approve {
        /// Enrolment id.
        #[arg(long)]
        enrolment: i64,
    },
    /// Revoke a certificate.
    Revoke {
        /// SHA-256 fingerprint.
        #[arg(long)]
        fingerprint: String,
        /// Reason (keyCompromise, superseded, …).
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

/// Runs one admin command.
pub async fn run(connection: &Connection, command: AdminCommand) -> CliResult<()> {
    let (method, path, body): (&str, String, Option<Value>) = match command {
        AdminCommand::Authorities => ("GET", "/v1/authorities".into(), None),
        AdminCommand::CreateAuthority {
            name,
            tier,
            parent,
            scope,
            subject,
            auto_approve,
        } => (
            "POST",
            "/v1/authorities".into(),
            Some(
                json!({"name": name, "tier": tier, "parent_id": parent, "scope": scope,
                "subject": {"common_name": subject.common_name,
                    "organization": subject.organization, "country": subject.country},
                "auto_approve": auto_approve}),
            ),
        ),
        AdminCommand::InstallCertificate { authority, file } => {
            let pem = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            return request(
                connection,
                "PUT",
                &format!("/v1/authorities/{authority}/certificate"),
                Body::Pem(pem),
            )
            .await;
        }
        AdminCommand::InstallCrl { authority, file } => {
            let crl =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            return request(
                connection,
                "PUT",
                &format!("/v1/authorities/{authority}/crl"),
                Body::Crl(crl),
            )
            .await;
        }
        AdminCommand::CrlSignerCsr { authority, out } => {
            let path = format!("/v1/authorities/{authority}/crl-signer");
            let Some(out) = out else {
                return request(connection, "POST", &path, Body::None).await;
            };
            let answer = request_value(connection, "POST", &path, Body::None).await?;
            let csr = answer
                .get("csr_pem")
                .and_then(Value::as_str)
                .ok_or("the registry's answer has no csr_pem")?;
            std::fs::write(&out, csr)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            return print_quietly(&format!(
                "CRL signer CSR written to {}\nsign it: tsca ceremony sign-crl-signer --csr {} --out signer.pem",
                out.display(),
                out.display()
            ));
        }
        AdminCommand::InstallCrlSigner { authority, file } => {
            let pem = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            return request(
                connection,
                "PUT",
                &format!("/v1/authorities/{authority}/crl-signer"),
                Body::Pem(pem),
            )
            .await;
        }
        AdminCommand::CrlSigner { authority } => (
            "GET",
            format!("/v1/authorities/{authority}/crl-signer"),
            None,
        ),
        AdminCommand::CreateOperator {
            authority,
            name,
            country,
        } => (
            "POST",
            "/v1/operators".into(),
            Some(json!({"authority_id": authority, "name": name, "country": country})),
        ),
        AdminCommand::Assign {
            operator,
            resource,
            ported_from,
            valid_to,
        } => (
            "POST",
            "/v1/assignments".into(),
            Some(
                json!({"operator_id": operator, "resource": resource, "ported_from": ported_from,
                       "valid_to": valid_to}),
            ),
        ),
        AdminCommand::SetAssignmentEnd {
            assignment,
            valid_to,
        } => {
            let valid_to: Value = match valid_to.as_str() {
                "never" => Value::Null,
                seconds => json!(seconds.parse::<i64>().map_err(|_| format!(
                    "--valid-to {seconds:?}: give seconds since 1970, or `never`"
                ))?),
            };
            (
                "PATCH",
                format!("/v1/assignments/{assignment}"),
                Some(json!({"valid_to": valid_to})),
            )
        }
        AdminCommand::Withdraw { assignment } => {
            ("DELETE", format!("/v1/assignments/{assignment}"), None)
        }
        AdminCommand::CreateToken {
            operator,
            valid_days,
        } => (
            "POST",
            format!("/v1/operators/{operator}/tokens"),
            Some(match valid_days {
                Some(days) => json!({"valid_days": days}),
                None => json!({}),
            }),
        ),
        AdminCommand::RevokeToken { id } => ("DELETE", format!("/v1/tokens/{id}"), None),
        AdminCommand::Approve { enrolment } => {
            ("POST", format!("/v1/enrolments/{enrolment}/approve"), None)
        }
        AdminCommand::Revoke {
            fingerprint,
            reason,
        } => (
            "POST",
            format!("/v1/certificates/{fingerprint}/revoke"),
            Some(json!({"reason": reason})),
        ),
    };
    request(
        connection,
        method,
        &path,
        body.map(Body::Json).unwrap_or(Body::None),
    )
    .await
}

enum Body {
    None,
    Json(Value),
    Pem(String),
    Crl(Vec<u8>),
}

/// Sends one request and prints the answer.
async fn request(connection: &Connection, method: &str, path: &str, body: Body) -> CliResult<()> {
    let answer = request_value(connection, method, path, body).await?;
    print_quietly(&serde_json::to_string_pretty(&answer)?)
}

/// Sends one request; the answer's JSON, or an error saying what the registry refused.
async fn request_value(
    connection: &Connection,
    method: &str,
    path: &str,
    body: Body,
) -> CliResult<Value> {
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    if let Some(path) = &connection.cacert {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder.build()?;
    let url = format!("{}{path}", connection.registry.trim_end_matches('/'));
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let changes = method != reqwest::Method::GET;
    let token = connection.token()?;
    let mut request = client.request(method, &url).bearer_auth(token.as_str());
    if let (true, Some(key)) = (changes, &connection.idempotency_key) {
        request = request.header("idempotency-key", key);
    }
    request = match body {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::Pem(pem) => request
            .header("content-type", "application/pem-certificate-chain")
            .body(pem),
        Body::Crl(der) => request
            .header("content-type", "application/pkix-crl")
            .body(der),
    };
    let response = request.send().await.map_err(|e| {
        // reqwest's message is the outermost error; the TLS cause is further down.
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        let hint = if cause.contains("certificate") || cause.contains("UnknownIssuer") {
            " (the registry's TLS certificate is not trusted: give --cacert with it or its CA, \
             e.g. --cacert tsca-data/tls/registry.pem for the quickstart)"
        } else {
            ""
        };
        format!("cannot reach {url}: {cause}{hint}")
    })?;
    let status = response.status();
    let text = response.text().await?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        Ok(value)
    } else {
        let detail = value.get("detail").and_then(Value::as_str).unwrap_or("");
        let field = value
            .get("field")
            .and_then(Value::as_str)
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default();
        Err(format!("{status}: {detail}{field}").into())
    }
}

/// Prints a result on stdout; a reader that went away (`tsca admin … | head`) ends the
/// command quietly instead of a panic.
fn print_quietly(text: &str) -> CliResult<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
