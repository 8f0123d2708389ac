//! The JSON the registry answers with: records of the gateway rendered for the API. Times are
//! seconds since the Unix epoch, as the API has always given them.

use ca_core::numbering::ScopeConstraint;
use ca_service::IssuedToken;
use ca_store::{
    ApiToken, ApprovalPolicy, Assignment, Authority, AuthorityFamily, CertificateRecord, Enrolment,
    Operator, TokenGrant,
};
use serde_json::{json, Value};

use crate::PublicState;

fn scope_list(scope: &ScopeConstraint) -> Value {
    match scope {
        ScopeConstraint::Unconstrained => json!("*"),
        ScopeConstraint::Within(s) => {
            json!(s.entries().map(ToString::to_string).collect::<Vec<_>>())
        }
    }
}

/// An authority's subject name (RFC 4514 text): its certificate's, or while it awaits one,
/// the subject its CSR asks for. A record whose DER no longer parses shows none.
fn authority_subject(a: &Authority) -> Option<String> {
    if let Some(der) = &a.certificate_der {
        return ca_core::x509::Certificate::from_der(der)
            .ok()
            .map(|c| c.subject_text());
    }
    let csr = ca_core::csr::CheckedCsr::from_der(a.csr_der.as_deref()?).ok()?;
    Some(csr.subject().to_string())
}

pub(crate) fn authority(a: &Authority) -> Value {
    json!({
        "id": a.id, "name": a.name, "tier": a.tier, "parent_id": a.parent_id,
        "subject": authority_subject(a),
        "scope": scope_list(&a.scope), "status": a.status,
        "auto_approve": a.approval == ApprovalPolicy::WithinAssignments,
        "certificate_fingerprint": a.certificate_fingerprint().map(|f| f.to_string()),
        // Where the certificates it issued are listed when revoked: a SHAKEN authority's go
        // in the domain CRL.
        "crl_url": match a.family {
            AuthorityFamily::Tsca => format!("/crl/{}.crl", a.name),
            AuthorityFamily::Shaken { .. } => "/crl/domain.crl".to_owned(),
        },
        "certificate_url": a.certificate_der.as_ref().map(|_| format!("/ca/{}.der", a.name)),
        "created_at": a.created_at.as_second(),
    })
}

/// A certificate, with the absolute chain URL (what an `x5u` points to) when the publication
/// point's HTTPS base is configured.
pub(crate) fn certificate(public: &PublicState, c: &CertificateRecord) -> Value {
    let fingerprint = c.fingerprint().map(|f| f.to_string());
    json!({
        "id": c.id, "fingerprint": fingerprint, "serial": c.serial.to_string(),
        "status": c.status, "profile": c.profile.name(), "subject": c.subject,
        "issuer_id": c.issuer_id, "operator_id": c.operator_id(),
        "not_before": c.not_before.as_second(), "not_after": c.not_after.as_second(),
        "scope": scope_list(&c.scope),
        "revoked_at": c.revocation.map(|r| r.revoked_at.as_second()),
        "revocation_reason": c.revocation.and_then(|r| r.reason).map(|r| r.to_string()),
        "chain_url": fingerprint.as_ref().map(|fp| public.chain_url(fp)),
        "certificate_pem": c.issued.as_ref().and_then(|i| ca_core::x509::pem_encode("CERTIFICATE", &i.der).ok()),
    })
}

pub(crate) fn assignment(a: &Assignment) -> Value {
    json!({
        "id": a.id, "authority_id": a.authority_id, "operator_id": a.operator_id,
        "resource": a.resource.to_string(), "valid_from": a.valid_from.as_second(),
        "valid_to": a.valid_to.map(|t| t.as_second()), "ported_from": a.ported_from,
        "withdrawn_at": a.withdrawn_at.map(|t| t.as_second()), "created_at": a.created_at.as_second(),
    })
}

pub(crate) fn enrolment(e: &Enrolment) -> Value {
    json!({
        "id": e.id, "operator_id": e.operator_id, "authority_id": e.authority_id,
        "scope": e.requested_scope.entries().map(ToString::to_string).collect::<Vec<_>>(),
        "profile": e.profile.name(), "status": e.status, "certificate_id": e.certificate_id,
        "decision_reason": e.decision_reason, "created_at": e.created_at.as_second(),
        "decided_at": e.decided_at.map(|t| t.as_second()),
    })
}

pub(crate) fn operator(o: &Operator) -> Value {
    json!({
        "id": o.id, "authority_id": o.authority_id, "name": o.name,
        "country": o.country.as_str(),
        "status": o.status, "created_at": o.created_at.as_second(),
    })
}

fn grant_ids(grant: TokenGrant) -> (Value, Value) {
    match grant {
        TokenGrant::AuthorityAdmin(a) => (json!(a), Value::Null),
        TokenGrant::Operator(o) => (Value::Null, json!(o)),
        TokenGrant::RootAdmin | TokenGrant::Auditor => (Value::Null, Value::Null),
    }
}

pub(crate) fn token(t: &ApiToken) -> Value {
    let (authority_id, operator_id) = grant_ids(t.grant);
    json!({"id": t.id, "role": t.grant.role(), "authority_id": authority_id, "operator_id": operator_id,
        "label": t.label, "created_at": t.created_at.as_second(), "revoked_at": t.revoked_at.map(|r| r.as_second()),
        "expires_at": t.expires_at.map(|e| e.as_second())})
}

/// A token as created: its secret, shown once, or a note saying it was shown already.
pub(crate) fn issued_token(issued: &IssuedToken) -> Value {
    let mut body = token(&issued.token);
    match &issued.secret {
        Some(secret) => {
            body["token"] = json!(secret.expose());
            body["note"] = json!("the token is shown once: store it now");
        }
        None => {
            body["token"] = Value::Null;
            body["note"] = json!(
                "this request was already applied with this Idempotency-Key; the secret was shown \
                 only in that first answer. If it was lost, revoke this token and create another"
            );
        }
    }
    body
}
