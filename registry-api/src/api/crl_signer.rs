//! `/v1/authorities/{id}/crl-signer`: a SHAKEN domain's CRL signer (docs/profiles.md, "The
//! domain CRL"). POST makes its key and CSR, the root's ceremony certifies it (`tsca ceremony
//! sign-crl-signer`), PUT installs the certificate; from then on the registry publishes
//! `/crl/domain.crl`.

use axum::extract::State;
use axum::Json;
use ca_store::{AuthorityId, CrlSigner};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::extract::Path;
use crate::problem::ApiResult;
use crate::AppState;

fn pem(label: &str, der: &[u8]) -> Option<String> {
    ca_core::x509::pem_encode(label, der).ok()
}

fn signer(s: &CrlSigner) -> Value {
    let not_after = s
        .certificate_der
        .as_deref()
        .and_then(|der| ca_core::x509::Certificate::from_der(der).ok())
        .and_then(|c| {
            jiff::Timestamp::try_from(c.tbs_certificate.validity.not_after.to_system_time()).ok()
        });
    json!({
        "id": s.id, "status": s.status,
        "csr_pem": pem("CERTIFICATE REQUEST", &s.csr_der),
        "certificate_pem": s.certificate_der.as_deref().and_then(|der| pem("CERTIFICATE", der)),
        "not_after": not_after.map(|t| t.as_second()),
        "created_at": s.created_at.as_second(),
        "installed_at": s.installed_at.map(|t| t.as_second()),
    })
}

/// `GET`: the pending and the active signer.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<AuthorityId>,
) -> ApiResult<Json<Value>> {
    let signers = state.engine.crl_signers(&who, id).await?;
    Ok(Json(json!({
        "root_id": id,
        "pending": signers.pending.as_ref().map(signer),
        "active": signers.active.as_ref().map(signer),
    })))
}

/// `POST`: a new signer's key and CSR, or the pending one's when there is one.
pub(crate) async fn request(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<AuthorityId>,
) -> ApiResult<Json<Value>> {
    Ok(Json(signer(
        &state.engine.request_crl_signer(&who, id).await?,
    )))
}

/// `PUT`: the root's certificate for the pending signer (PEM), which then signs the first
/// domain CRL.
pub(crate) async fn install(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<AuthorityId>,
    body: String,
) -> ApiResult<Json<Value>> {
    let der = super::first_pem_certificate(&body)?;
    let installed = state.engine.install_crl_signer(&who, id, &der).await?;
    Ok(Json(json!({
        "signer": signer(&installed.signer),
        "domain_crl": installed.crl.map(|c| json!({
            "url": "/crl/domain.crl", "crl_number": c.crl_number,
            "this_update": c.this_update.as_second(), "next_update": c.next_update.as_second(),
        })),
    })))
}
