//! `/v1/certificates` and `/v1/audit`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use ca_core::ident::Fingerprint;
use ca_store::{AuthorityId, CertificateFilter, CertificateId, CertificateStatus, OperatorId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{render, respond, Body};
use crate::auth::{Caller, Idempotency};
use crate::extract::{Path, Query};
use crate::metrics::bump;
use crate::problem::{ApiResult, Problem};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct CertificateQuery {
    operator_id: Option<OperatorId>,
    issuer_id: Option<AuthorityId>,
    status: Option<CertificateStatus>,
    after: Option<CertificateId>,
    limit: Option<i64>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<CertificateQuery>,
) -> ApiResult<Json<Value>> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let page = state
        .engine
        .certificates(
            &who,
            CertificateFilter {
                issuer_id: query.issuer_id,
                operator_id: query.operator_id,
                status: query.status,
                after_id: query.after,
                limit: Some(limit),
            },
        )
        .await?;
    let next = (page.len() as i64 == limit)
        .then(|| page.last().map(|c| c.id))
        .flatten();
    Ok(Json(
        json!({"certificates": page.iter().map(|c| render::certificate(&state.public, c)).collect::<Vec<_>>(), "next_after": next}),
    ))
}

fn fingerprint(text: &str) -> ApiResult<Fingerprint> {
    text.parse().map_err(|_| {
        Problem::bad_request(
            "fingerprint",
            "a fingerprint is the SHA-256 of the certificate, 64 hex digits",
        )
    })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(text): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state.engine.certificate(&who, &fingerprint(&text)?).await?;
    Ok(Json(render::certificate(&state.public, &record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeIn {
    reason: String,
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(text): Path<String>,
    Body(body): Body<RevokeIn>,
) -> ApiResult<Response> {
    let fp = fingerprint(&text)?;
    let answer = state
        .engine
        .revoke(&who, &fp, &body.reason, idempotency.key())
        .await?;
    if !answer.replayed {
        bump(&state.metrics.revoked);
    }
    state.refresh_lookup().await;
    Ok(respond(
        StatusCode::OK,
        &answer,
        render::certificate(&state.public, &answer.value),
    ))
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let entries = state
        .engine
        .audit(&who, query.after.unwrap_or(0), query.limit.unwrap_or(500))
        .await?;
    let next = entries.last().map(|e| e.seq);
    Ok(Json(json!({"entries": entries, "next_after": next})))
}
