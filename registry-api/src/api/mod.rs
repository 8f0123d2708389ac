//! The authenticated `/v1` API. Each handler translates: it parses the request into a
//! gateway call (`ca_service::Engine`), and renders the typed answer or error back. No
//! handler decides a domain rule; who may do what, and every check on what is asked, is the
//! gateway's.

pub(crate) mod assignments;
pub(crate) mod authorities;
pub(crate) mod certificates;
pub(crate) mod crl_signer;
pub(crate) mod enrolments;
pub(crate) mod operators;
pub(crate) mod render;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ca_service::Answer;
use serde_json::Value;

use crate::problem::Problem;

/// JSON body extraction with problem+json errors naming what is wrong. Only
/// `application/json` is taken (axum's `Json` would take any `application/*+json`, such as
/// `application/merge-patch+json`, which only [`MergePatch`] routes implement): 415 otherwise.
pub struct Body<T>(pub T);

/// The body of a route that implements JSON merge patch (RFC 7396): `application/json` or
/// `application/merge-patch+json`.
pub struct MergePatch<T>(pub T);

/// The first certificate of a PEM body (what `tsca ceremony` writes), as DER.
pub(crate) fn first_pem_certificate(body: &str) -> Result<Vec<u8>, Problem> {
    let certs = ca_core::x509::Certificate::load_pem_chain(body.as_bytes())
        .map_err(|e| Problem::bad_request("body", format!("expected the PEM certificate: {e}")))?;
    certs
        .first()
        .ok_or_else(|| Problem::bad_request("body", "no certificate in the body"))?
        .to_der()
        .map_err(|e| Problem::bad_request("body", e.to_string()))
}

/// The media type of a request, without parameters, lower-cased.
fn media_type(req: &axum::extract::Request) -> Option<String> {
    let value = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

fn unsupported(media: Option<&str>, accepted: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        format!(
            "Content-Type {} is not taken here: send {accepted}",
            media.unwrap_or("(none)")
        ),
    )
}

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S>
    for MergePatch<T>
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = media_type(&req);
        if !matches!(
            media.as_deref(),
            Some("application/json" | "application/merge-patch+json")
        ) {
            return Err(unsupported(
                media.as_deref(),
                "application/json or application/merge-patch+json",
            ));
        }
        decode(req, state).await.map(MergePatch)
    }
}

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = media_type(&req);
        if media.as_deref() != Some("application/json") {
            return Err(unsupported(media.as_deref(), "application/json"));
        }
        decode(req, state).await.map(Body)
    }
}

/// The JSON decoding both extractors share, with problem+json errors: 413 past the body
/// limit, else [`crate::extract::parse_json`].
async fn decode<T: serde::de::DeserializeOwned, S: Send + Sync>(
    req: axum::extract::Request,
    state: &S,
) -> Result<T, Problem> {
    use axum::extract::FromRequest;
    let bytes =
        bytes::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "the request body is over the size limit",
                ),
                status => Problem::new(status, "bad-body", rejection.body_text()),
            })?;
    crate::extract::parse_json(
        &bytes,
        "send a JSON body with Content-Type: application/json",
    )
}

/// An answer with its status; a replay of an earlier request with the same Idempotency-Key
/// carries `Idempotent-Replayed: true`.
pub(crate) fn respond<T>(status: StatusCode, answer: &Answer<T>, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if answer.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Seconds since the epoch as a time (the API's time form).
pub(crate) fn time(
    field: &'static str,
    seconds: Option<i64>,
) -> Result<Option<jiff::Timestamp>, Problem> {
    seconds
        .map(|s| {
            jiff::Timestamp::from_second(s).map_err(|e| {
                Problem::unprocessable(
                    field,
                    format!("{s} is not a time in seconds since 1970: {e}"),
                )
            })
        })
        .transpose()
}
