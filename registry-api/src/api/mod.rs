//! The authenticated `/v1` API. Each handler translates: it parses the request into a
//! gateway call (`ca_service::Engine`), and renders the typed answer or error back. No
//! handler decides a domain rule; who may do what, and every check on what is asked, is the
//! gateway's.

pub(crate) mod assignments;
pub(crate) mod authorities;
pub(crate) mod certificates;
pub(crate) mod enrolments;
pub(crate) mod operators;
pub(crate) mod render;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ca_service::Answer;
use serde_json::Value;

use crate::problem::Problem;

/// JSON body extraction with problem+json errors naming what is wrong.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => {
                let status = rejection.status();
                let detail = rejection.body_text();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    return Err(Problem::new(
                        status,
                        "too-large",
                        "the request body is over the size limit",
                    ));
                }
                let mut problem = Problem::new(
                    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                        status
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    "bad-json",
                    format!("{detail} (send a JSON body with Content-Type: application/json)"),
                );
                // serde names the field in "... at line 1 column 9: missing field `name`".
                if let Some(field) = detail.split('`').nth(1) {
                    problem = problem.field(field);
                }
                Err(problem)
            }
        }
    }
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
