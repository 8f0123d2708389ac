//! One HTTPS request to the registry: the bearer token from a file or the environment, the
//! Idempotency-Key on changes, and a problem+json answer turned into a one-line error.

use serde_json::Value;

use super::Connection;
use crate::CliResult;

/// What a request carries.
pub enum Body {
    None,
    Json(Value),
    Pem(String),
    Crl(Vec<u8>),
}

/// The registry's answer to a request that succeeded.
pub struct Reply {
    /// The JSON body (a string when the body was not JSON).
    pub value: Value,
    /// The registry answered from an earlier request with the same Idempotency-Key: this
    /// run changed nothing.
    pub replayed: bool,
}

/// Sends one request; the answer, or an error saying what the registry refused.
pub async fn send(
    connection: &Connection,
    method: &str,
    path: &str,
    body: Body,
) -> CliResult<Reply> {
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
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let text = response.text().await?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        Ok(Reply { value, replayed })
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
