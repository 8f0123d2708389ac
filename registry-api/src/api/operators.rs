//! `/v1/operators` and `/v1/tokens`: operators, their tokens, and token revocation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use ca_service::{OperatorRequest, TokenRequest};
use ca_store::{AuthorityId, OperatorId, TokenGrant, TokenId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::authorities::TokenIn;
use super::{render, respond, Body};
use crate::auth::{Caller, Idempotency};
use crate::extract::{OptionalBody, Path, Query};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperatorIn {
    authority_id: AuthorityId,
    name: String,
    /// No longer taken: refused with a message saying where SPCs go now.
    spc: Option<serde_json::Value>,
    country: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Body(body): Body<OperatorIn>,
) -> ApiResult<Response> {
    if body.spc.is_some() {
        return Err(Problem::bad_request(
            "spc",
            "an operator's service provider codes are its spc: assignments: register the \
             operator without spc, then POST /v1/assignments {\"operator_id\": ID, \"resource\": \"spc:CODE\"}",
        ));
    }
    let answer = state
        .engine
        .create_operator(
            &who,
            OperatorRequest {
                authority_id: body.authority_id,
                name: body.name,
                country: body.country,
            },
            idempotency.key(),
        )
        .await?;
    let created = &answer.value;
    let body = json!({"operator": render::operator(&created.operator), "token": render::issued_token(&created.token)});
    Ok(respond(StatusCode::CREATED, &answer, body))
}

#[derive(Deserialize)]
pub(crate) struct OperatorQuery {
    authority_id: Option<AuthorityId>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<OperatorQuery>,
) -> ApiResult<Json<Value>> {
    let visible = state.engine.operators(&who, query.authority_id).await?;
    Ok(Json(
        json!({"operators": visible.iter().map(render::operator).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OperatorId>,
) -> ApiResult<Json<Value>> {
    let (operator, assignments) = state.engine.operator(&who, id).await?;
    Ok(Json(json!({"operator": render::operator(&operator),
        "assignments": assignments.iter().map(render::assignment).collect::<Vec<_>>()})))
}

pub(crate) async fn create_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<OperatorId>,
    OptionalBody(body): OptionalBody<TokenIn>,
) -> ApiResult<Response> {
    let lifetime = body.as_ref().and_then(TokenIn::lifetime);
    let label = body.and_then(|b| b.label);
    let answer = state
        .engine
        .create_token(
            &who,
            TokenRequest {
                grant: TokenGrant::Operator(id),
                label,
                lifetime,
            },
            idempotency.key(),
        )
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        &answer,
        render::issued_token(&answer.value),
    ))
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<TokenId>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .revoke_token(&who, id, idempotency.key())
        .await?;
    let token = &answer.value;
    let body = json!({"id": token.id, "revoked_at": token.revoked_at.map(|t| t.as_second())});
    Ok(respond(StatusCode::OK, &answer, body))
}

fn token_list(tokens: &[ca_store::ApiToken]) -> Json<Value> {
    Json(json!({"tokens": tokens.iter().map(render::token).collect::<Vec<_>>()}))
}

/// `GET /v1/operators/{id}/tokens`: an operator's tokens (ids, labels, expiry; never secrets).
pub(crate) async fn list_operator_tokens(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OperatorId>,
) -> ApiResult<Json<Value>> {
    let tokens = state.engine.tokens(&who, TokenGrant::Operator(id)).await?;
    Ok(token_list(&tokens))
}

/// `GET /v1/authorities/{id}/tokens`: an authority's admin tokens.
pub(crate) async fn list_authority_tokens(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<AuthorityId>,
) -> ApiResult<Json<Value>> {
    let tokens = state
        .engine
        .tokens(&who, TokenGrant::AuthorityAdmin(id))
        .await?;
    Ok(token_list(&tokens))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenQuery {
    role: String,
}

/// `GET /v1/tokens?role=root-admin|auditor`: the tokens that belong to no authority or
/// operator.
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Json<Value>> {
    let grant = match query.role.as_str() {
        "root-admin" => TokenGrant::RootAdmin,
        "auditor" => TokenGrant::Auditor,
        _ => {
            return Err(Problem::unprocessable(
                "role",
                "role must be root-admin or auditor; an authority's admin tokens are at \
                 /v1/authorities/{id}/tokens, an operator's at /v1/operators/{id}/tokens",
            ))
        }
    };
    Ok(token_list(&state.engine.tokens(&who, grant).await?))
}
