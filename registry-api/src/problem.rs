//! Errors as `application/problem+json` (RFC 9457): type, title, status, detail and, when one
//! field of the request is at fault, `field`; a refusal by a named rule carries `rule`, a
//! conflict with a record carries `existing`. The HTTP status of every gateway error is
//! chosen here and nowhere else ([`Problem::from`] on a [`ServiceError`]). 5xx answers never
//! carry internals: a 500 names a correlation id that the log line of its cause carries too.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ca_service::{Outcome, ServiceError};
use ca_store::KeyPurpose;
use serde::Serialize;
use serde_json::{json, Value};

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
    /// What some problems add (boxed: most have none, and results stay small).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<Extra>>,
}

/// The members only some problems carry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Extra {
    /// The policy rule that refused the request (docs/architecture.md, "Rules").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The existing record a conflict is about: `{"kind": "assignment", "id": "7"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<Value>,
    /// For 500s: the id of the log line that holds the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Seconds for the `Retry-After` header (409 in progress, 429, 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// Why a node is not ready (`/readyz`), a code from docs/operations.md §7.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
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
            extra: None,
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// Sets `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.extra().retry_after = Some(seconds);
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

    /// A fresh correlation id: 8 random octets in hex.
    pub fn correlation_id() -> String {
        let mut id = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        hex::encode(id)
    }

    /// Names the correlation id of the log line that holds the cause.
    pub fn correlated(mut self, id: String) -> Self {
        self.extra().correlation_id = Some(id);
        self
    }

    /// Sets the not-ready reason code.
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.extra().reason = Some(reason);
        self
    }

    /// 500 without internals; the cause is logged under a fresh correlation id, which the
    /// answer names.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = Self::correlation_id();
        tracing::error!(correlation_id = %id, error = %cause, "internal error");
        let mut problem = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!(
                "the registry failed to complete the request. Quote correlation id {id} to the \
                 operator of this service; retrying with the same Idempotency-Key is safe"
            ),
        );
        problem.extra().correlation_id = Some(id);
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tsca\""),
            );
        }
        if let Some(seconds) = self.extra.as_ref().and_then(|e| e.retry_after) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ServiceError> for Problem {
    /// The one place where gateway errors become HTTP statuses.
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound { .. } => Problem::not_found(error.to_string()),
            ServiceError::Forbidden { reason } => Problem::forbidden(reason),
            e @ ServiceError::TokenExpired { .. } => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
            }
            ServiceError::Conflict { detail, existing } => {
                let mut problem = Problem::new(StatusCode::CONFLICT, "conflict", detail);
                if let Some(e) = existing {
                    problem.extra().existing = Some(json!({"kind": e.kind, "id": e.id}));
                }
                problem
            }
            ServiceError::Refused { rule, field, .. } => {
                let mut problem = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    error.to_string(),
                );
                problem.extra().rule = Some(rule.name().to_owned());
                problem.field = field.map(str::to_owned);
                problem
            }
            ServiceError::OutOfScope { field, .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "out-of-scope",
                error.to_string(),
            )
            .field(field),
            ServiceError::Invalid { field, ref detail } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                detail.clone(),
            )
            .field(field),
            ServiceError::IdempotencyKeyReused { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                error.to_string(),
            )
            .field("Idempotency-Key"),
            ServiceError::InProgress {
                detail,
                retry_after,
            } => Problem::new(StatusCode::CONFLICT, "in-progress", detail)
                .retry_after(retry_after.as_secs().max(1)),
            ServiceError::KeyUnavailable { .. } => {
                tracing::error!(error = %error, "signing key unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "key-unavailable",
                    "a signing key this request needs is unavailable on this node; nothing was \
                     changed. Retry later, or contact the operator of this service",
                )
                .retry_after(30)
            }
            ServiceError::NoPassphrase { purpose } => {
                tracing::error!(%purpose, "no key passphrase configured for this purpose");
                let setting = match purpose {
                    KeyPurpose::Ca | KeyPurpose::CrlSigner => {
                        "keys.passphrase_file or TSCA_KEY_PASSPHRASE"
                    }
                    KeyPurpose::OcspResponder => {
                        "keys.responder_passphrase_file or TSCA_RESPONDER_KEY_PASSPHRASE"
                    }
                };
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "key-unavailable",
                    format!(
                        "this node holds no passphrase for {purpose} keys, so it can neither \
                         create nor use them; nothing was changed. The operator of this service \
                         sets {setting} and restarts it"
                    ),
                )
                .retry_after(30)
            }
            ServiceError::Interrupted {
                certificate,
                enrolment,
                ref cause,
            } => {
                tracing::warn!(%certificate, ?enrolment, %cause, "issuance interrupted after its reservation");
                let detail = match enrolment {
                    Some(enrolment) => format!(
                        "enrolment {enrolment} is recorded and approved, but issuing its \
                         certificate was interrupted. The service finishes it with a new serial, \
                         or fails it with the reason, within a minute: GET \
                         /v1/enrolments/{enrolment} shows which, and retrying with the same \
                         Idempotency-Key returns it"
                    ),
                    None => format!(
                        "the certificate was reserved (id {certificate}) but issuing it was \
                         interrupted; its serial will be revoked. Retry with the same \
                         Idempotency-Key"
                    ),
                };
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "interrupted", detail).retry_after(5)
            }
            ServiceError::Unavailable {
                outcome,
                ref detail,
            } => {
                tracing::warn!(%detail, ?outcome, "database unavailable");
                let detail = match outcome {
                    Outcome::NothingChanged => {
                        "the database is unavailable; nothing was changed. Retry in a few seconds"
                    }
                    Outcome::Unknown => {
                        "the database became unavailable while the change was being recorded: it \
                         may or may not have been applied. Retry with the same Idempotency-Key to \
                         learn which, without applying it twice"
                    }
                };
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail).retry_after(2)
            }
            other => Problem::internal(&other),
        }
    }
}

impl From<ca_store::StoreError> for Problem {
    fn from(error: ca_store::StoreError) -> Self {
        ServiceError::from(error).into()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, Problem>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use ca_service::{Existing, Rule};

    use super::*;

    fn answer(error: ServiceError) -> (u16, Value, Option<String>) {
        let response = Problem::from(error).into_response();
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = futures_bytes(response);
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    fn futures_bytes(response: Response) -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .unwrap()
            .to_vec()
    }

    /// Every gateway error has one status, chosen here; what the client must know is in the
    /// body and headers, and internals are not.
    #[test]
    fn one_status_per_gateway_error() {
        let (status, body, _) = answer(ServiceError::NotFound {
            what: "operator",
            key: "9".into(),
        });
        assert_eq!(
            (status, body["type"].as_str()),
            (404, Some("urn:tsca:problem:not-found"))
        );
        assert_eq!(answer(ServiceError::forbidden("no")).0, 403);
        let (status, body, _) = answer(ServiceError::TokenExpired {
            at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        });
        assert_eq!(status, 401);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("expired at 2027-01-15"),
            "{body}"
        );
        let (status, body, _) = answer(ServiceError::Conflict {
            detail: "taken".into(),
            existing: Some(Existing {
                kind: "assignment",
                id: "7".into(),
            }),
        });
        assert_eq!((status, body["existing"]["id"].as_str()), (409, Some("7")));
        let (status, body, _) = answer(ServiceError::refused_field(
            Rule::KeyCompromised,
            "csr",
            "no",
        ));
        assert_eq!(status, 422);
        assert_eq!(
            (body["rule"].as_str(), body["field"].as_str()),
            (Some("key-compromised"), Some("csr"))
        );
        let (status, body, _) = answer(ServiceError::invalid("country", "two capitals"));
        assert_eq!((status, body["field"].as_str()), (422, Some("country")));
        let (status, body, _) = answer(ServiceError::IdempotencyKeyReused {
            key: "k".into(),
            operation: "x".into(),
        });
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("Idempotency-Key"))
        );
        let (status, _, retry) = answer(ServiceError::InProgress {
            detail: "running".into(),
            retry_after: Duration::from_secs(1),
        });
        assert_eq!((status, retry.as_deref()), (409, Some("1")));
        let (status, body, retry) = answer(ServiceError::Unavailable {
            outcome: Outcome::NothingChanged,
            detail: "pool".into(),
        });
        assert_eq!((status, retry.as_deref()), (503, Some("2")));
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"));
        let (_, body, _) = answer(ServiceError::Unavailable {
            outcome: Outcome::Unknown,
            detail: "commit".into(),
        });
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("may or may not") && detail.contains("same Idempotency-Key"),
            "{detail}"
        );
        // A node without the passphrase names the setting that gives it one.
        let (status, body, retry) = answer(ServiceError::NoPassphrase {
            purpose: KeyPurpose::Ca,
        });
        let detail = body["detail"].as_str().unwrap();
        assert_eq!((status, retry.as_deref()), (503, Some("30")));
        assert!(
            detail.contains("TSCA_KEY_PASSPHRASE") && detail.contains("nothing was changed"),
            "{detail}"
        );
        // An issuance interrupted after its reservation names the enrolment and where to look,
        // and keeps its cause for the log only.
        let (status, body, _) = answer(ServiceError::Interrupted {
            certificate: ca_store::CertificateId(7),
            enrolment: Some(ca_store::EnrolmentId(3)),
            cause: Box::new(ServiceError::internal("SELECT secret")),
        });
        let detail = body["detail"].as_str().unwrap();
        assert_eq!(
            (status, body["type"].as_str()),
            (503, Some("urn:tsca:problem:interrupted")),
            "{body}"
        );
        assert!(
            detail.contains("enrolment 3")
                && detail.contains("/v1/enrolments/3")
                && !detail.contains("SELECT"),
            "{detail}"
        );
        // Internal failures: 500, a correlation id, no trace of the cause.
        let (status, body, _) = answer(ServiceError::internal(
            "SELECT secret FROM /var/lib/tsca/tsca.db",
        ));
        assert_eq!(status, 500);
        let id = body["correlation_id"].as_str().unwrap();
        assert_eq!(id.len(), 16);
        let text = body.to_string();
        assert!(
            !text.contains("SELECT") && !text.contains("/var/lib") && text.contains(id),
            "{text}"
        );
    }
}
