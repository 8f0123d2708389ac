//! Errors as `application/problem+json` (RFC 9457): type, title, status, detail and, when
//! one field of the request is at fault, `field`. 5xx answers never carry internals: the
//! detail says what to do and the cause goes to the log.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ca_service::ServiceError;
use ca_store::StoreError;
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:tsca:problem:…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened here and what to do.
    pub detail: String,
    /// The request field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem of a status, kind slug and detail.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:tsca:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// 400 bad-request.
    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail).field(field)
    }

    /// 422 unprocessable.
    pub fn unprocessable(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", detail).field(field)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 500 without internals; the cause is logged.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the registry failed to complete the request; it was not applied. Retry later or \
             contact the operator of this service",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"tsca\""),
            );
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::NotFound { .. } => Problem::not_found(error.to_string()),
            StoreError::Conflict(detail) => {
                Problem::new(StatusCode::CONFLICT, "conflict", detail.clone())
            }
            StoreError::Invalid(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                detail.clone(),
            ),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %error, "database unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; nothing was changed. Retry in a few seconds",
                )
            }
            _ => Problem::internal(&error),
        }
    }
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::OutOfScope { .. } => Problem::unprocessable("scope", error.to_string()),
            ServiceError::Invalid(detail) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", detail)
            }
            ServiceError::Store(e) => e.into(),
            ServiceError::Core(e) => core_problem(e),
            ServiceError::Key { .. } => Problem::internal(&error),
            other => Problem::internal(&other),
        }
    }
}

/// ca-core refusals are the client's: a CSR, a key, a scope or a profile rule.
fn core_problem(error: ca_core::Error) -> Problem {
    use ca_core::Error as E;
    match &error {
        E::Csr(_)
        | E::UnsupportedKey(_)
        | E::WeakKey(_)
        | E::BadSignature { .. }
        | E::UnsupportedSignatureAlgorithm(_) => Problem::unprocessable("csr", error.to_string()),
        E::Decode { .. } => Problem::bad_request("csr", error.to_string()),
        E::NotInIssuerScope { .. } | E::Numbering(_) => {
            Problem::unprocessable("scope", error.to_string())
        }
        E::InvalidRequest(_) | E::ProfileViolation { .. } | E::Path { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            error.to_string(),
        ),
        _ => Problem::internal(&error),
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, Problem>;
