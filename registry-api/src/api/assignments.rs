//! `/v1/assignments`: numbering assignments. Withdrawing one, or moving its end, revokes the
//! certificates that no longer fit; the answer lists them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use ca_service::{AssignRequest, AssignmentChange};
use ca_store::{AssignmentId, OperatorId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{render, respond, time, Body, MergePatch};
use crate::auth::{Caller, Idempotency};
use crate::extract::{Path, Query};
use crate::metrics::bump;
use crate::problem::ApiResult;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentIn {
    operator_id: OperatorId,
    resource: String,
    valid_from: Option<i64>,
    valid_to: Option<i64>,
    ported_from: Option<OperatorId>,
}

fn change_json(state: &AppState, change: &AssignmentChange) -> Value {
    json!({"assignment": render::assignment(&change.assignment),
        "revoked_certificates": change.revoked.iter().map(|c| render::certificate(&state.public, c)).collect::<Vec<_>>()})
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Body(body): Body<AssignmentIn>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .assign(
            &who,
            AssignRequest {
                operator_id: body.operator_id,
                resource: body.resource,
                valid_from: time("valid_from", body.valid_from)?,
                valid_to: time("valid_to", body.valid_to)?,
                ported_from: body.ported_from,
            },
            idempotency.key(),
        )
        .await?;
    for _ in &answer.value.revoked {
        bump(&state.metrics.revoked);
    }
    state.refresh_lookup().await;
    let mut body = render::assignment(&answer.value.assignment);
    if !answer.value.revoked.is_empty() {
        body["revoked_certificates"] = json!(answer
            .value
            .revoked
            .iter()
            .map(|c| render::certificate(&state.public, c))
            .collect::<Vec<_>>());
    }
    Ok(respond(StatusCode::CREATED, &answer, body))
}

#[derive(Deserialize)]
pub(crate) struct AssignmentQuery {
    operator_id: OperatorId,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<AssignmentQuery>,
) -> ApiResult<Json<Value>> {
    let all = state.engine.assignments(&who, query.operator_id).await?;
    Ok(Json(
        json!({"assignments": all.iter().map(render::assignment).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn withdraw(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<AssignmentId>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .withdraw_assignment(&who, id, idempotency.key())
        .await?;
    for _ in &answer.value.revoked {
        bump(&state.metrics.revoked);
    }
    state.refresh_lookup().await;
    Ok(respond(
        StatusCode::OK,
        &answer,
        change_json(&state, &answer.value),
    ))
}

/// The fields of an assignment that may change: only its end (a JSON merge patch, RFC 7396:
/// a number sets it, null makes the assignment open-ended).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentPatch {
    #[serde(default, deserialize_with = "present")]
    valid_to: Option<Option<i64>>,
}

/// A field that is present (possibly null), as opposed to absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

pub(crate) async fn change(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<AssignmentId>,
    MergePatch(body): MergePatch<AssignmentPatch>,
) -> ApiResult<Response> {
    let valid_to = body.valid_to.ok_or_else(|| {
        crate::problem::Problem::unprocessable(
            "valid_to",
            "the patch must give valid_to: a time in seconds since 1970, or null for open-ended",
        )
    })?;
    let valid_to = time("valid_to", valid_to)?;
    let answer = state
        .engine
        .change_assignment_end(&who, id, valid_to, idempotency.key())
        .await?;
    for _ in &answer.value.revoked {
        bump(&state.metrics.revoked);
    }
    state.refresh_lookup().await;
    Ok(respond(
        StatusCode::OK,
        &answer,
        change_json(&state, &answer.value),
    ))
}
