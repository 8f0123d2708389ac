//! The authenticated `/v1` API: authorities, operators, tokens, assignments, enrolments,
//! certificates and the audit log.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ca_core::csr::CheckedCsr;
use ca_core::numbering::{NumberingResource, NumberingScope, ScopeConstraint};
use ca_core::profile::{Profile, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_service::{AuthorityRequest, ServiceError};
use ca_store::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{is_in_subtree, new_token, Caller};
use crate::extract::{OptionalBody, Path, Query};
use crate::metrics::bump;
use crate::problem::{ApiResult, Problem};
use crate::AppState;

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

fn parse_scope(field: &str, entries: &[String]) -> ApiResult<NumberingScope> {
    if entries.is_empty() {
        return Err(Problem::unprocessable(
            field,
            "the scope must list at least one resource",
        ));
    }
    NumberingScope::parse(entries.iter().map(String::as_str))
        .map_err(|e| Problem::unprocessable(field, e.to_string()))
}

fn scope_list(scope: &ScopeConstraint) -> Value {
    match scope {
        ScopeConstraint::Unconstrained => json!("*"),
        ScopeConstraint::Within(s) => {
            json!(s.entries().map(ToString::to_string).collect::<Vec<_>>())
        }
    }
}

pub(crate) fn authority_json(a: &Authority) -> Value {
    let fingerprint = a
        .certificate_der
        .as_ref()
        .map(|der| hex::encode(ring::digest::digest(&ring::digest::SHA256, der)));
    json!({
        "id": a.id, "name": a.name, "tier": a.tier, "parent_id": a.parent_id,
        "scope": scope_list(&a.scope), "status": a.status, "auto_approve": a.auto_approve,
        "certificate_fingerprint": fingerprint,
        "crl_url": format!("/crl/{}.crl", a.name),
        "certificate_url": a.certificate_der.as_ref().map(|_| format!("/ca/{}.der", a.name)),
        "created_at": a.created_at,
    })
}

pub(crate) fn certificate_json(c: &CertificateRecord) -> Value {
    json!({
        "id": c.id, "fingerprint": c.fingerprint, "serial": hex::encode(&c.serial),
        "status": c.status, "profile": c.profile, "subject": c.subject,
        "issuer_id": c.issuer_id, "operator_id": c.operator_id,
        "not_before": c.not_before, "not_after": c.not_after, "scope": scope_list(&c.scope),
        "revoked_at": c.revoked_at, "revocation_reason": c.revocation_reason.map(|r| r.to_string()),
        "chain_url": c.fingerprint.as_ref().map(|fp| format!("/chains/{fp}.pem")),
        "certificate_pem": c.der.as_ref().and_then(|der| ca_core::x509::pem_encode("CERTIFICATE", der).ok()),
    })
}

fn assignment_json(a: &Assignment) -> Value {
    json!({
        "id": a.id, "authority_id": a.authority_id, "operator_id": a.operator_id,
        "resource": a.resource.to_string(), "valid_from": a.valid_from, "valid_to": a.valid_to,
        "ported_from": a.ported_from, "withdrawn_at": a.withdrawn_at, "created_at": a.created_at,
    })
}

fn enrolment_json(e: &Enrolment) -> Value {
    json!({
        "id": e.id, "operator_id": e.operator_id, "authority_id": e.authority_id,
        "scope": e.requested_scope.entries().map(ToString::to_string).collect::<Vec<_>>(),
        "profile": e.profile, "status": e.status, "certificate_id": e.certificate_id,
        "decision_reason": e.decision_reason, "created_at": e.created_at, "decided_at": e.decided_at,
    })
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

// ---- authorities ----------------------------------------------------------------------------

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
    parent_id: i64,
    scope: Vec<String>,
    subject: SubjectIn,
    #[serde(default)]
    auto_approve: bool,
}

fn valid_name(field: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Problem::unprocessable(
            field,
            format!("{name:?} must be 1–63 characters of a-z, 0-9 and '-' (it appears in URLs)"),
        ))
    }
}

pub(crate) async fn create_authority(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<AuthorityIn>,
) -> ApiResult<Response> {
    caller
        .require_admin_of(state.engine.store(), body.parent_id)
        .await?;
    valid_name("name", &body.name)?;
    let scope = parse_scope("scope", &body.scope)?;
    let subject = SubjectName::new(
        &body.subject.common_name,
        body.subject.organization.as_deref(),
        body.subject.country.as_deref(),
    )
    .map_err(|e| Problem::unprocessable("subject", e.to_string()))?;
    let created_authority = state
        .engine
        .create_authority(
            &AuthorityRequest {
                name: body.name,
                tier: body.tier,
                parent_id: body.parent_id,
                scope,
                subject,
                auto_approve: body.auto_approve,
            },
            &caller.actor(),
        )
        .await?;
    let mut answer = authority_json(&created_authority.authority);
    if let Some(csr) = created_authority.csr_pem {
        answer["csr_pem"] = json!(csr);
        answer["next_step"] = json!(format!(
            "have the parent's offline key sign this CSR (tsca ceremony sign-subca), then PUT the certificate to /v1/authorities/{}/certificate",
            created_authority.authority.id
        ));
    }
    Ok(created(answer))
}

pub(crate) async fn list_authorities(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Value>> {
    let all = state.engine.store().authorities().await?;
    Ok(Json(
        json!({"authorities": all.iter().map(authority_json).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn get_authority(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(authority_json(
        &state.engine.store().authority(id).await?,
    )))
}

pub(crate) async fn install_authority_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: String,
) -> ApiResult<Json<Value>> {
    let authority = state.engine.store().authority(id).await?;
    let parent = authority.parent_id.ok_or_else(|| {
        Problem::unprocessable(
            "id",
            "a root's certificate is installed by the root ceremony",
        )
    })?;
    caller
        .require_admin_of(state.engine.store(), parent)
        .await?;
    let certs = ca_core::x509::Certificate::load_pem_chain(body.as_bytes())
        .map_err(|e| Problem::bad_request("body", format!("expected the PEM certificate: {e}")))?;
    let first = certs
        .first()
        .ok_or_else(|| Problem::bad_request("body", "no certificate in the body"))?
        .to_der()
        .map_err(|e| Problem::bad_request("body", e.to_string()))?;
    let installed = state
        .engine
        .install_authority_certificate(id, &first, &caller.actor())
        .await?;
    Ok(Json(authority_json(&installed)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenIn {
    #[serde(default)]
    label: Option<String>,
}

async fn issue_token(
    state: &AppState,
    caller: &Caller,
    role: Role,
    authority_id: Option<i64>,
    operator_id: Option<i64>,
    label: Option<String>,
) -> ApiResult<Value> {
    let (secret, hash) = new_token();
    let token = state
        .engine
        .store()
        .create_token(
            &NewApiToken {
                token_hash: hash,
                role,
                authority_id,
                operator_id,
                label: label.unwrap_or_else(|| format!("{role} token")),
            },
            &caller.actor(),
        )
        .await?;
    Ok(
        json!({"id": token.id, "role": token.role, "authority_id": authority_id,
        "operator_id": operator_id, "label": token.label,
        "token": secret, "note": "the token is shown once: store it now"}),
    )
}

pub(crate) async fn create_authority_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalBody(body): OptionalBody<TokenIn>,
) -> ApiResult<Response> {
    caller.require_admin_of(state.engine.store(), id).await?;
    state.engine.store().authority(id).await?;
    let label = body.and_then(|b| b.label);
    Ok(created(
        issue_token(&state, &caller, Role::AuthorityAdmin, Some(id), None, label).await?,
    ))
}

// ---- operators and tokens ---------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperatorIn {
    authority_id: i64,
    name: String,
    spc: Option<String>,
    country: String,
}

pub(crate) async fn create_operator(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<OperatorIn>,
) -> ApiResult<Response> {
    caller
        .require_admin_of(state.engine.store(), body.authority_id)
        .await?;
    if body.name.trim().is_empty() || body.name.chars().count() > 64 {
        return Err(Problem::unprocessable(
            "name",
            "the name must be 1 to 64 characters",
        ));
    }
    if body.country.len() != 2 || !body.country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Problem::unprocessable(
            "country",
            "use the ISO 3166 alpha-2 code in capitals, e.g. FR",
        ));
    }
    if let Some(spc) = &body.spc {
        ca_core::numbering::ServiceProviderCode::parse(spc)
            .map_err(|e| Problem::unprocessable("spc", e.to_string()))?;
    }
    let operator = state
        .engine
        .store()
        .create_operator(
            &NewOperator {
                authority_id: body.authority_id,
                name: body.name,
                spc: body.spc,
                country: body.country,
            },
            &caller.actor(),
        )
        .await?;
    let token = issue_token(
        &state,
        &caller,
        Role::Operator,
        None,
        Some(operator.id),
        Some(format!("{} first token", operator.name)),
    )
    .await?;
    Ok(created(json!({"operator": operator, "token": token})))
}

#[derive(Deserialize)]
pub(crate) struct OperatorQuery {
    authority_id: Option<i64>,
}

pub(crate) async fn list_operators(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<OperatorQuery>,
) -> ApiResult<Json<Value>> {
    let store = state.engine.store();
    let all = store.operators(query.authority_id).await?;
    let mut visible = Vec::new();
    for operator in all {
        let allowed = match caller.role() {
            Role::RootAdmin | Role::Auditor => true,
            Role::Operator => caller.token.operator_id == Some(operator.id),
            Role::AuthorityAdmin => match caller.token.authority_id {
                Some(mine) => is_in_subtree(store, mine, operator.authority_id).await?,
                None => false,
            },
        };
        if allowed {
            visible.push(operator);
        }
    }
    Ok(Json(json!({ "operators": visible })))
}

pub(crate) async fn get_operator(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    if caller.role() != Role::Auditor {
        caller
            .require_operator_access(state.engine.store(), id)
            .await?;
    }
    let operator = state.engine.store().operator(id).await?;
    let assignments = state.engine.store().operator_assignments(id).await?;
    Ok(Json(json!({"operator": operator,
        "assignments": assignments.iter().map(assignment_json).collect::<Vec<_>>()})))
}

pub(crate) async fn create_operator_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalBody(body): OptionalBody<TokenIn>,
) -> ApiResult<Response> {
    let operator = state.engine.store().operator(id).await?;
    caller
        .require_admin_of(state.engine.store(), operator.authority_id)
        .await?;
    let label = body.and_then(|b| b.label);
    Ok(created(
        issue_token(&state, &caller, Role::Operator, None, Some(id), label).await?,
    ))
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let store = state.engine.store();
    let token = store.token(id).await?;
    let allowed = match caller.role() {
        Role::RootAdmin => true,
        Role::Operator => token.id == caller.token.id,
        Role::AuthorityAdmin => {
            if let Some(authority) = token.authority_id {
                caller.require_admin_of(store, authority).await.is_ok()
            } else if let Some(operator) = token.operator_id {
                caller
                    .require_operator_access(store, operator)
                    .await
                    .is_ok()
            } else {
                false
            }
        }
        Role::Auditor => false,
    };
    if !allowed {
        return Err(Problem::forbidden("this token cannot revoke that token"));
    }
    let revoked = store.revoke_token(id, &caller.actor()).await?;
    Ok(Json(
        json!({"id": revoked.id, "revoked_at": revoked.revoked_at}),
    ))
}

// ---- assignments ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignmentIn {
    operator_id: i64,
    resource: String,
    valid_from: Option<i64>,
    valid_to: Option<i64>,
    ported_from: Option<i64>,
}

pub(crate) async fn create_assignment(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<AssignmentIn>,
) -> ApiResult<Response> {
    let store = state.engine.store();
    let operator = store.operator(body.operator_id).await?;
    caller
        .require_admin_of(store, operator.authority_id)
        .await?;
    // A port takes the numbers away from the donor (the lookup stops naming it for them), so
    // the caller must administer the donor as well: sibling authorities' scopes may overlap,
    // and one regulator must not port another's operator's numbers away.
    if let Some(donor) = body.ported_from {
        caller.require_operator_access(store, donor).await?;
    }
    let resource: NumberingResource =
        body.resource
            .parse()
            .map_err(|e: ca_core::numbering::NumberingError| {
                Problem::unprocessable("resource", e.to_string())
            })?;
    if resource == NumberingResource::AnySpc {
        return Err(Problem::unprocessable(
            "resource",
            "spc:* is for authorities; assign an operator its own SPC",
        ));
    }
    let authority = store.authority(operator.authority_id).await?;
    let outside = authority
        .scope
        .not_covering(&NumberingScope::new([resource.clone()]));
    if !outside.is_empty() {
        return Err(Problem::unprocessable(
            "resource",
            format!(
                "{resource} is outside the scope of authority {} ({})",
                authority.name, authority.scope
            ),
        ));
    }
    if let (Some(from), Some(to)) = (body.valid_from, body.valid_to) {
        if to <= from {
            return Err(Problem::unprocessable(
                "valid_to",
                "valid_to must be after valid_from",
            ));
        }
    }
    let assignment = store
        .create_assignment(
            &NewAssignment {
                authority_id: authority.id,
                operator_id: operator.id,
                resource,
                valid_from: body.valid_from.unwrap_or_else(now),
                valid_to: body.valid_to,
                ported_from: body.ported_from,
            },
            &caller.actor(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Invalid(detail) => Problem::unprocessable("ported_from", detail),
            other => other.into(),
        })?;
    state.refresh_lookup().await;
    Ok(created(assignment_json(&assignment)))
}

#[derive(Deserialize)]
pub(crate) struct AssignmentQuery {
    operator_id: i64,
}

pub(crate) async fn list_assignments(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AssignmentQuery>,
) -> ApiResult<Json<Value>> {
    if caller.role() != Role::Auditor {
        caller
            .require_operator_access(state.engine.store(), query.operator_id)
            .await?;
    }
    let all = state
        .engine
        .store()
        .operator_assignments(query.operator_id)
        .await?;
    Ok(Json(
        json!({"assignments": all.iter().map(assignment_json).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn withdraw_assignment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let assignment = state.engine.store().assignment(id).await?;
    caller
        .require_admin_of(state.engine.store(), assignment.authority_id)
        .await?;
    let (assignment, revoked) = state
        .engine
        .withdraw_assignment(id, &caller.actor())
        .await?;
    for _ in &revoked {
        bump(&state.metrics.revoked);
    }
    state.refresh_lookup().await;
    Ok(Json(json!({"assignment": assignment_json(&assignment),
        "revoked_certificates": revoked.iter().map(certificate_json).collect::<Vec<_>>()})))
}

// ---- enrolment --------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolmentIn {
    csr: String,
    scope: Vec<String>,
    #[serde(default = "default_profile")]
    profile: String,
}

fn default_profile() -> String {
    "operator".into()
}

pub(crate) async fn create_enrolment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body<EnrolmentIn>,
) -> ApiResult<Response> {
    let refused = |p: Problem| {
        bump(&state.metrics.enrolments_refused);
        p
    };
    caller.require(&[Role::Operator]).map_err(refused)?;
    let operator_id = caller
        .token
        .operator_id
        .ok_or_else(|| Problem::forbidden("token names no operator"))?;
    let store = state.engine.store();
    let operator = store.operator(operator_id).await?;
    if operator.status != OperatorStatus::Active {
        return Err(refused(Problem::forbidden("the operator is suspended")));
    }
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    refused(Problem::bad_request(
                        "Idempotency-Key",
                        "the Idempotency-Key header must be 1–255 visible ASCII characters",
                    ))
                })?;
            Some(key.to_owned())
        }
    };
    let profile: Profile = body.profile.parse().map_err(|_| {
        refused(Problem::unprocessable(
            "profile",
            "profile must be \"operator\" or \"operator-short-lived\"",
        ))
    })?;
    if !matches!(profile, Profile::Operator | Profile::OperatorShortLived) {
        return Err(refused(Problem::unprocessable(
            "profile",
            "operators enrol for \"operator\" or \"operator-short-lived\"",
        )));
    }
    let csr = CheckedCsr::from_pem(body.csr.as_bytes())
        .map_err(|e| refused(Problem::unprocessable("csr", e.to_string())))?;
    let scope = parse_scope("scope", &body.scope).map_err(refused)?;
    state
        .engine
        .check_within_assignments(operator_id, &scope)
        .await
        .map_err(|e| refused(e.into()))?;
    let authority = store.authority(operator.authority_id).await?;
    let outcome = store
        .create_enrolment(
            &NewEnrolment {
                operator_id,
                authority_id: authority.id,
                csr_der: csr.der().to_vec(),
                requested_scope: scope,
                profile: profile.name().to_owned(),
                idempotency_key,
            },
            &caller.actor(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(detail) => {
                Problem::new(StatusCode::CONFLICT, "idempotency-key-reused", detail)
                    .field("Idempotency-Key")
            }
            other => other.into(),
        })?;
    let mut enrolment = outcome.enrolment;
    if outcome.created && authority.auto_approve {
        enrolment = store
            .decide_enrolment(
                enrolment.id,
                true,
                Some("auto-approved: within the operator's assignments"),
                &Actor::system(),
            )
            .await?;
    }
    enrolment_response(&state, &caller, enrolment, outcome.created).await
}

async fn enrolment_response(
    state: &AppState,
    caller: &Caller,
    enrolment: Enrolment,
    fresh: bool,
) -> ApiResult<Response> {
    match enrolment.status {
        EnrolmentStatus::Approved => {
            let record = state
                .engine
                .issue_for_enrolment(&enrolment, &caller.actor())
                .await
                .map_err(|e| {
                    bump(&state.metrics.enrolments_refused);
                    Problem::from(e)
                })?;
            bump(&state.metrics.issued);
            bump(&state.metrics.enrolments_issued);
            state.refresh_lookup().await;
            Ok(created(
                json!({"enrolment_id": enrolment.id, "status": "issued", "certificate": certificate_json(&record)}),
            ))
        }
        EnrolmentStatus::Issued => {
            let id = enrolment.certificate_id.unwrap_or_default();
            let record = state.engine.store().certificate(id).await?;
            let status = if fresh {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(json!({"enrolment_id": enrolment.id, "status": "issued", "certificate": certificate_json(&record)})))
                .into_response())
        }
        EnrolmentStatus::Pending => {
            if fresh {
                bump(&state.metrics.enrolments_pending);
            }
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"enrolment_id": enrolment.id, "status": "pending",
                "status_url": format!("/v1/enrolments/{}", enrolment.id),
                "next_step": "an admin of the authority approves or rejects it"})),
            )
                .into_response())
        }
        EnrolmentStatus::Rejected => {
            Ok((StatusCode::OK, Json(enrolment_json(&enrolment))).into_response())
        }
    }
}

pub(crate) async fn get_enrolment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let enrolment = state.engine.store().enrolment(id).await?;
    caller
        .require_operator_access(state.engine.store(), enrolment.operator_id)
        .await?;
    Ok(Json(enrolment_json(&enrolment)))
}

#[derive(Deserialize)]
pub(crate) struct EnrolmentQuery {
    status: Option<EnrolmentStatus>,
    authority_id: Option<i64>,
}

pub(crate) async fn list_enrolments(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<EnrolmentQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::RootAdmin, Role::AuthorityAdmin])?;
    let authority_id = match caller.role() {
        Role::AuthorityAdmin => {
            let mine = caller.token.authority_id;
            match query.authority_id {
                Some(id) => {
                    caller.require_admin_of(state.engine.store(), id).await?;
                    Some(id)
                }
                None => mine,
            }
        }
        _ => query.authority_id,
    };
    let all = state
        .engine
        .store()
        .enrolments(
            query.status.unwrap_or(EnrolmentStatus::Pending),
            authority_id,
        )
        .await?;
    Ok(Json(
        json!({"enrolments": all.iter().map(enrolment_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionIn {
    reason: Option<String>,
}

pub(crate) async fn approve_enrolment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let enrolment = state.engine.store().enrolment(id).await?;
    caller
        .require_admin_of(state.engine.store(), enrolment.authority_id)
        .await?;
    let enrolment = state
        .engine
        .store()
        .decide_enrolment(id, true, None, &caller.actor())
        .await?;
    enrolment_response(&state, &caller, enrolment, true).await
}

pub(crate) async fn reject_enrolment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalBody(body): OptionalBody<DecisionIn>,
) -> ApiResult<Json<Value>> {
    let enrolment = state.engine.store().enrolment(id).await?;
    caller
        .require_admin_of(state.engine.store(), enrolment.authority_id)
        .await?;
    let reason = body.and_then(|b| b.reason);
    let enrolment = state
        .engine
        .store()
        .decide_enrolment(
            id,
            false,
            Some(reason.as_deref().unwrap_or("rejected by the authority")),
            &caller.actor(),
        )
        .await?;
    bump(&state.metrics.enrolments_rejected);
    Ok(Json(enrolment_json(&enrolment)))
}

// ---- certificates -----------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct CertificateQuery {
    operator_id: Option<i64>,
    issuer_id: Option<i64>,
    status: Option<CertificateStatus>,
    after: Option<i64>,
    limit: Option<i64>,
}

pub(crate) async fn list_certificates(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CertificateQuery>,
) -> ApiResult<Json<Value>> {
    let store = state.engine.store();
    let mut filter = CertificateFilter {
        issuer_id: query.issuer_id,
        operator_id: query.operator_id,
        status: query.status,
        after_id: query.after,
        limit: Some(query.limit.unwrap_or(100).clamp(1, 1000)),
    };
    match caller.role() {
        Role::RootAdmin | Role::Auditor => {}
        Role::Operator => filter.operator_id = caller.token.operator_id,
        Role::AuthorityAdmin => match (filter.issuer_id, filter.operator_id) {
            (Some(issuer), _) => caller.require_admin_of(store, issuer).await?,
            (None, Some(operator)) => caller.require_operator_access(store, operator).await?,
            (None, None) => filter.issuer_id = caller.token.authority_id,
        },
    }
    let page = store.certificates(&filter).await?;
    let next = if page.len() as i64 == filter.limit.unwrap_or(100) {
        page.last().map(|c| c.id)
    } else {
        None
    };
    Ok(Json(
        json!({"certificates": page.iter().map(certificate_json).collect::<Vec<_>>(), "next_after": next}),
    ))
}

async fn certificate_for(
    state: &AppState,
    caller: &Caller,
    fingerprint: &str,
) -> ApiResult<CertificateRecord> {
    if fingerprint.len() != 64 || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Problem::bad_request(
            "fingerprint",
            "a fingerprint is the SHA-256 of the certificate, 64 hex digits",
        ));
    }
    let store = state.engine.store();
    let record = store.certificate_by_fingerprint(fingerprint).await?;
    let allowed = match caller.role() {
        Role::RootAdmin | Role::Auditor => true,
        Role::Operator => {
            record.operator_id.is_some() && record.operator_id == caller.token.operator_id
        }
        Role::AuthorityAdmin => caller
            .require_admin_of(store, record.issuer_id)
            .await
            .is_ok(),
    };
    if !allowed {
        // Do not reveal other tenants' certificates through this endpoint (the chain
        // repository is the public view).
        return Err(Problem::not_found(format!(
            "certificate {fingerprint} not found"
        )));
    }
    Ok(record)
}

pub(crate) async fn get_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(fingerprint): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(certificate_json(
        &certificate_for(&state, &caller, &fingerprint).await?,
    )))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeIn {
    reason: String,
}

pub(crate) async fn revoke_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(fingerprint): Path<String>,
    Body(body): Body<RevokeIn>,
) -> ApiResult<Json<Value>> {
    if caller.role() == Role::Auditor {
        return Err(Problem::forbidden("auditors cannot revoke"));
    }
    let record = certificate_for(&state, &caller, &fingerprint).await?;
    let reason: RevocationReason = body.reason.parse().map_err(|_| {
        Problem::unprocessable("reason", "use one of: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn")
    })?;
    if caller.role() == Role::Operator
        && !matches!(
            reason,
            RevocationReason::Unspecified
                | RevocationReason::KeyCompromise
                | RevocationReason::AffiliationChanged
                | RevocationReason::Superseded
                | RevocationReason::CessationOfOperation
        )
    {
        return Err(Problem::unprocessable(
            "reason",
            format!("an operator cannot revoke with reason {reason}"),
        ));
    }
    let revoked = state
        .engine
        .revoke(record.id, reason, &caller.actor())
        .await
        .map_err(|e| match e {
            ServiceError::Invalid(detail) => Problem::unprocessable("reason", detail),
            other => other.into(),
        })?;
    bump(&state.metrics.revoked);
    state.refresh_lookup().await;
    Ok(Json(certificate_json(&revoked)))
}

// ---- audit ------------------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Role::RootAdmin, Role::Auditor])?;
    let limit = query.limit.unwrap_or(500).clamp(1, 5000);
    let entries = state
        .engine
        .store()
        .audit_entries(query.after.unwrap_or(0), limit)
        .await?;
    let next = entries.last().map(|e| e.seq);
    Ok(Json(json!({"entries": entries, "next_after": next})))
}
