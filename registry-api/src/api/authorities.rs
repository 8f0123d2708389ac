//! `/v1/authorities`: sub-CAs, their certificates and their admin tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use ca_service::{AuthorityRequest, SubjectFields, TokenRequest};
use ca_store::{ApprovalPolicy, AuthorityId, Tier, TokenGrant};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{render, respond, Body};
use crate::auth::{Caller, Idempotency};
use crate::extract::{OptionalBody, Path};
use crate::problem::{ApiResult, Problem};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubjectIn {
    common_name: String,
    organization: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorityIn {
    name: String,
    tier: Tier,
    parent_id: AuthorityId,
    scope: Vec<String>,
    subject: SubjectIn,
    #[serde(default)]
    auto_approve: bool,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Body(body): Body<AuthorityIn>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .create_authority(
            &who,
            AuthorityRequest {
                name: body.name,
                tier: body.tier,
                parent_id: body.parent_id,
                scope: body.scope,
                subject: SubjectFields {
                    common_name: body.subject.common_name,
                    organization: body.subject.organization,
                    country: body.subject.country,
                },
                approval: if body.auto_approve {
                    ApprovalPolicy::WithinAssignments
                } else {
                    ApprovalPolicy::Manual
                },
            },
            idempotency.key(),
        )
        .await?;
    let created = &answer.value;
    let mut body = render::authority(&created.authority);
    if let Some(csr) = &created.csr_pem {
        body["csr_pem"] = json!(csr);
        body["next_step"] = json!(format!(
            "have the parent's offline key sign this CSR (tsca ceremony sign-subca), then PUT the certificate to /v1/authorities/{}/certificate",
            created.authority.id
        ));
    }
    Ok(respond(StatusCode::CREATED, &answer, body))
}

pub(crate) async fn list(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    let all = state.engine.authorities().await?;
    Ok(Json(
        json!({"authorities": all.iter().map(render::authority).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<AuthorityId>,
) -> ApiResult<Json<Value>> {
    Ok(Json(render::authority(&state.engine.authority(id).await?)))
}

pub(crate) async fn install_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<AuthorityId>,
    body: String,
) -> ApiResult<Json<Value>> {
    let first = super::first_pem_certificate(&body)?;
    let installed = state
        .engine
        .install_authority_certificate(&who, id, &first)
        .await?;
    Ok(Json(render::authority(&installed)))
}

/// `PUT /v1/authorities/{id}/crl`: installs the CRL an offline authority (the root) signed in
/// its ceremony, DER (`application/pkix-crl`) or PEM (`X509 CRL`).
pub(crate) async fn install_crl(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<AuthorityId>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let der = if body.starts_with(b"-----BEGIN") {
        match ca_core::x509::pem_rfc7468_decode(&body) {
            Ok((label, der)) if label == "X509 CRL" => der,
            Ok((label, _)) => {
                return Err(Problem::bad_request(
                    "body",
                    format!("expected an X509 CRL, got a PEM {label}"),
                ))
            }
            Err(e) => return Err(Problem::bad_request("body", format!("unreadable PEM: {e}"))),
        }
    } else {
        body.to_vec()
    };
    let installed = state.engine.install_offline_crl(&who, id, &der).await?;
    Ok(Json(json!({
        "authority_id": installed.crl.authority_id,
        "crl_number": installed.crl.crl_number,
        "this_update": installed.crl.this_update.as_second(),
        "next_update": installed.crl.next_update.as_second(),
        "retired_authorities": installed.retired,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenIn {
    #[serde(default)]
    pub(crate) label: Option<String>,
    /// How long the token works, in days.
    #[serde(default)]
    pub(crate) valid_days: Option<u32>,
}

impl TokenIn {
    /// The lifetime asked for (the gateway checks its range).
    pub(crate) fn lifetime(&self) -> Option<std::time::Duration> {
        self.valid_days
            .map(|days| std::time::Duration::from_secs(u64::from(days) * 86_400))
    }
}

pub(crate) async fn create_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    idempotency: Idempotency,
    Path(id): Path<AuthorityId>,
    OptionalBody(body): OptionalBody<TokenIn>,
) -> ApiResult<Response> {
    let answer = state
        .engine
        .create_token(
            &who,
            TokenRequest {
                grant: TokenGrant::AuthorityAdmin(id),
                lifetime: body.as_ref().and_then(TokenIn::lifetime),
                label: body.and_then(|b| b.label),
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
