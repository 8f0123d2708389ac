//! `/v1/enrolments`: operators enrol; admins of manual authorities approve or reject.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use ca_service::{Answer, EnrolRequest, EnrolmentAnswer, ServiceError};
use ca_store::{AuthorityId, EnrolmentId, EnrolmentStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{render, respond, Body};
use crate::auth::{Caller, Idempotency};
use crate::extract::{OptionalBody, Path, Query};
use crate::metrics::bump;
use crate::problem::{ApiResult, Problem};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolmentIn {
    csr: String,
    scope: Vec<String>,
    #[serde(default)]
    profile: Option<String>,
}

/// 201 with the certificate once issued, 202 while pending, 200 for a decided enrolment
/// without one (rejected, failed).
fn enrolment_response(state: &AppState, answer: &Answer<EnrolmentAnswer>) -> Response {
    let EnrolmentAnswer {
        enrolment,
        certificate,
    } = &answer.value;
    match (enrolment.status, certificate) {
        (EnrolmentStatus::Issued, Some(certificate)) => {
            if !answer.replayed {
                bump(&state.metrics.issued);
                bump(&state.metrics.enrolments_issued);
            }
            respond(
                StatusCode::CREATED,
                answer,
                json!({"enrolment_id": enrolment.id, "status": "issued", "certificate": render::certificate(&state.public, certificate)}),
            )
        }
        (EnrolmentStatus::Pending, _) => {
            if !answer.replayed {
                bump(&state.metrics.enrolments_pending);
            }
            respond(
                StatusCode::ACCEPTED,
                answer,
                json!({"enrolment_id": enrolment.id, "status": "pending",
                    "status_url": format!("/v1/enrolments/{}", enrolment.id),
                    "next_step": "an admin of the authority approves or rejects it"}),
            )
        }
        _ => respond(StatusCode::OK, answer, render::enrolment(enrolment)),
    }
}

fn counted(state: &AppState, error: ServiceError) -> Problem {
    bump(&state.metrics.enrolments_refused);
    error.into()
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Body(body): Body<EnrolmentIn>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .enrol(
            &who,
            EnrolRequest {
                csr_pem: body.csr,
                scope: body.scope,
                profile: body.profile,
            },
            idempotency.key(),
        )
        .await
        .map_err(|e| counted(&state, e))?;
    if answer.value.certificate.is_some() {
        state.refresh_lookup().await;
    }
    Ok(enrolment_response(&state, &answer))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<EnrolmentId>,
) -> ApiResult<Json<Value>> {
    Ok(Json(render::enrolment(
        &state.engine.enrolment(&who, id).await?,
    )))
}

#[derive(Deserialize)]
pub(crate) struct EnrolmentQuery {
    status: Option<EnrolmentStatus>,
    authority_id: Option<AuthorityId>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<EnrolmentQuery>,
) -> ApiResult<Json<Value>> {
    let all = state
        .engine
        .enrolments(
            &who,
            query.status.unwrap_or(EnrolmentStatus::Pending),
            query.authority_id,
        )
        .await?;
    Ok(Json(
        json!({"enrolments": all.iter().map(render::enrolment).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionIn {
    reason: Option<String>,
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<EnrolmentId>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .approve_enrolment(&who, id, idempotency.key())
        .await
        .map_err(|e| counted(&state, e))?;
    state.refresh_lookup().await;
    Ok(enrolment_response(&state, &answer))
}

pub(crate) async fn reject(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<EnrolmentId>,
    OptionalBody(body): OptionalBody<DecisionIn>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .reject_enrolment(&who, id, body.and_then(|b| b.reason), idempotency.key())
        .await?;
    if !answer.replayed {
        bump(&state.metrics.enrolments_rejected);
    }
    Ok(respond(
        StatusCode::OK,
        &answer,
        render::enrolment(&answer.value),
    ))
}
