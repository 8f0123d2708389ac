//! Each `tsca admin` subcommand as one registry request, and how its answer is shown: the
//! columns of a listing, or the headline that says what a change did.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::client::Body;
use super::commands::AdminCommand;
use super::show::Shape;
use crate::CliResult;

/// One request and how its answer is shown.
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Body,
    pub shape: Shape,
}

impl Call {
    fn get(path: String, shape: Shape) -> Self {
        Self {
            method: "GET",
            path,
            body: Body::None,
            shape,
        }
    }

    fn change(method: &'static str, path: String, body: Body, said: fn(&Value) -> String) -> Self {
        Self {
            method,
            path,
            body,
            shape: Shape::Change(said),
        }
    }
}

fn list(key: &'static str, columns: &'static [&'static str]) -> Shape {
    Shape::List {
        key,
        columns,
        page: None,
    }
}

/// `?name=value&…` from the filters that were given.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let given: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
        .collect();
    if given.is_empty() {
        String::new()
    } else {
        format!("?{}", given.join("&"))
    }
}

fn read_file(path: &PathBuf) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// A field of an answer as text, for headlines.
fn at(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// The revocations a change of assignment caused, for its headline.
fn revocations(value: &Value) -> String {
    match value
        .get("revoked_certificates")
        .and_then(Value::as_array)
        .map(Vec::len)
    {
        None | Some(0) => "no certificate revoked".into(),
        Some(1) => "1 certificate revoked (privilegeWithdrawn)".into(),
        Some(n) => format!("{n} certificates revoked (privilegeWithdrawn)"),
    }
}

const AUTHORITY_COLUMNS: &[&str] = &["id", "name", "tier", "parent_id", "status", "subject"];
const TOKEN_COLUMNS: &[&str] = &[
    "id",
    "role",
    "label",
    "created_at",
    "expires_at",
    "revoked_at",
];

pub fn call(command: AdminCommand) -> CliResult<Call> {
    use AdminCommand as C;
    Ok(match command {
        C::Authorities => Call::get(
            "/v1/authorities".into(),
            list("authorities", AUTHORITY_COLUMNS),
        ),
        C::Authority { id } => Call::get(format!("/v1/authorities/{id}"), Shape::Record),
        C::Operators { authority } => Call::get(
            format!(
                "/v1/operators{}",
                query(&[("authority_id", authority.map(|a| a.to_string()))])
            ),
            list(
                "operators",
                &[
                    "id",
                    "authority_id",
                    "name",
                    "country",
                    "status",
                    "created_at",
                ],
            ),
        ),
        C::Operator { id } => Call::get(format!("/v1/operators/{id}"), Shape::Record),
        C::Assignments { operator } => Call::get(
            format!("/v1/assignments?operator_id={operator}"),
            list(
                "assignments",
                &[
                    "id",
                    "operator_id",
                    "resource",
                    "valid_from",
                    "valid_to",
                    "ported_from",
                    "withdrawn_at",
                ],
            ),
        ),
        C::Enrolments { status, authority } => Call::get(
            format!(
                "/v1/enrolments{}",
                query(&[
                    ("status", Some(status)),
                    ("authority_id", authority.map(|a| a.to_string()))
                ])
            ),
            list(
                "enrolments",
                &[
                    "id",
                    "operator_id",
                    "authority_id",
                    "status",
                    "profile",
                    "scope",
                    "created_at",
                    "decision_reason",
                ],
            ),
        ),
        C::Enrolment { id } => Call::get(format!("/v1/enrolments/{id}"), Shape::Record),
        C::Certificates {
            operator,
            authority,
            status,
            after,
            limit,
        } => Call::get(
            format!(
                "/v1/certificates{}",
                query(&[
                    ("operator_id", operator.map(|o| o.to_string())),
                    ("issuer_id", authority.map(|a| a.to_string())),
                    ("status", status),
                    ("after", after.map(|a| a.to_string())),
                    ("limit", Some(limit.to_string())),
                ])
            ),
            Shape::List {
                key: "certificates",
                columns: &[
                    "id",
                    "fingerprint",
                    "status",
                    "profile",
                    "operator_id",
                    "issuer_id",
                    "not_after",
                    "scope",
                ],
                page: Some(limit),
            },
        ),
        C::Certificate { fingerprint } => {
            Call::get(format!("/v1/certificates/{fingerprint}"), Shape::Record)
        }
        C::Tokens {
            operator,
            authority,
            role,
        } => {
            let path = match (operator, authority, role) {
                (Some(operator), _, _) => format!("/v1/operators/{operator}/tokens"),
                (_, Some(authority), _) => format!("/v1/authorities/{authority}/tokens"),
                (_, _, role) => format!("/v1/tokens{}", query(&[("role", role)])),
            };
            Call::get(path, list("tokens", TOKEN_COLUMNS))
        }
        C::Audit { after, limit } => Call::get(
            format!("/v1/audit?after={after}&limit={limit}"),
            Shape::List {
                key: "entries",
                columns: &["seq", "at", "actor", "action", "subject"],
                page: Some(limit),
            },
        ),
        C::CreateAuthority {
            name,
            tier,
            parent,
            scope,
            subject,
            auto_approve,
        } => Call::change(
            "POST",
            "/v1/authorities".into(),
            Body::Json(
                json!({"name": name, "tier": tier, "parent_id": parent, "scope": scope,
                "subject": {"common_name": subject.common_name,
                    "organization": subject.organization, "country": subject.country},
                "auto_approve": auto_approve}),
            ),
            |v| {
                format!(
                    "created authority {} ({}), {}",
                    at(v, "/id"),
                    at(v, "/name"),
                    at(v, "/status")
                )
            },
        ),
        C::InstallCertificate { authority, file } => {
            let pem = String::from_utf8(read_file(&file)?)
                .map_err(|_| format!("{} is not PEM text", file.display()))?;
            Call::change(
                "PUT",
                format!("/v1/authorities/{authority}/certificate"),
                Body::Pem(pem),
                |v| {
                    format!(
                        "installed the certificate of authority {} ({}), now {}",
                        at(v, "/id"),
                        at(v, "/name"),
                        at(v, "/status")
                    )
                },
            )
        }
        C::InstallCrl { authority, file } => Call::change(
            "PUT",
            format!("/v1/authorities/{authority}/crl"),
            Body::Crl(read_file(&file)?),
            |_| "installed the CRL".into(),
        ),
        C::CrlSignerCsr { authority, .. } => Call::change(
            "POST",
            format!("/v1/authorities/{authority}/crl-signer"),
            Body::None,
            |_| "the pending CRL signer's CSR (sign it: tsca ceremony sign-crl-signer)".into(),
        ),
        C::InstallCrlSigner { authority, file } => {
            let pem = String::from_utf8(read_file(&file)?)
                .map_err(|_| format!("{} is not PEM text", file.display()))?;
            Call::change(
                "PUT",
                format!("/v1/authorities/{authority}/crl-signer"),
                Body::Pem(pem),
                |_| "installed the CRL signer; it signed /crl/domain.crl".into(),
            )
        }
        C::CrlSigner { authority } => Call::get(
            format!("/v1/authorities/{authority}/crl-signer"),
            Shape::Record,
        ),
        C::CreateOperator {
            authority,
            name,
            country,
        } => Call::change(
            "POST",
            "/v1/operators".into(),
            Body::Json(json!({"authority_id": authority, "name": name, "country": country})),
            |v| {
                format!(
                    "registered operator {} ({}) under authority {}\n{}",
                    at(v, "/operator/id"),
                    at(v, "/operator/name"),
                    at(v, "/operator/authority_id"),
                    secret_line(v.get("token"))
                )
            },
        ),
        C::Assign {
            operator,
            resource,
            ported_from,
            valid_to,
        } => Call::change(
            "POST",
            "/v1/assignments".into(),
            Body::Json(json!({"operator_id": operator, "resource": resource,
                "ported_from": ported_from, "valid_to": valid_to})),
            |v| {
                format!(
                    "assigned {} to operator {} (assignment {})",
                    at(v, "/resource"),
                    at(v, "/operator_id"),
                    at(v, "/id")
                )
            },
        ),
        C::SetAssignmentEnd {
            assignment,
            valid_to,
        } => {
            let valid_to: Value = match valid_to.as_str() {
                "never" => Value::Null,
                seconds => json!(seconds.parse::<i64>().map_err(|_| format!(
                    "--valid-to {seconds:?}: give seconds since 1970, or `never`"
                ))?),
            };
            Call::change(
                "PATCH",
                format!("/v1/assignments/{assignment}"),
                Body::Json(json!({"valid_to": valid_to})),
                |v| {
                    format!(
                        "assignment {} now ends {}; {}",
                        at(v, "/assignment/id"),
                        show_time(v.pointer("/assignment/valid_to")),
                        revocations(v)
                    )
                },
            )
        }
        C::Withdraw { assignment } => Call::change(
            "DELETE",
            format!("/v1/assignments/{assignment}"),
            Body::None,
            |v| {
                format!(
                    "withdrew assignment {} ({}); {}",
                    at(v, "/assignment/id"),
                    at(v, "/assignment/resource"),
                    revocations(v)
                )
            },
        ),
        C::CreateToken {
            operator,
            authority,
            label,
            valid_days,
        } => {
            let path = match (operator, authority) {
                (Some(operator), _) => format!("/v1/operators/{operator}/tokens"),
                (None, Some(authority)) => format!("/v1/authorities/{authority}/tokens"),
                (None, None) => return Err("give --operator or --authority".into()),
            };
            let mut body = json!({});
            if let Some(label) = label {
                body["label"] = json!(label);
            }
            if let Some(days) = valid_days {
                body["valid_days"] = json!(days);
            }
            Call::change("POST", path, Body::Json(body), |v| {
                format!(
                    "created {} token {}, which works {}\n{}",
                    at(v, "/role"),
                    at(v, "/id"),
                    match v.get("expires_at").and_then(Value::as_i64) {
                        Some(_) => format!("until {}", show_time(v.get("expires_at"))),
                        None => "until revoked".into(),
                    },
                    secret_line(Some(v))
                )
            })
        }
        C::RevokeToken { id } => {
            Call::change("DELETE", format!("/v1/tokens/{id}"), Body::None, |v| {
                format!(
                    "revoked token {} at {}",
                    at(v, "/id"),
                    show_time(v.get("revoked_at"))
                )
            })
        }
        C::Approve { enrolment } => Call::change(
            "POST",
            format!("/v1/enrolments/{enrolment}/approve"),
            Body::None,
            |v| {
                format!(
                    "approved enrolment {}: {}, certificate {}",
                    at(v, "/enrolment_id"),
                    at(v, "/status"),
                    at(v, "/certificate/fingerprint")
                )
            },
        ),
        C::Reject { enrolment, reason } => Call::change(
            "POST",
            format!("/v1/enrolments/{enrolment}/reject"),
            Body::Json(json!({"reason": reason})),
            |v| {
                format!(
                    "rejected enrolment {}: {}",
                    at(v, "/id"),
                    at(v, "/decision_reason")
                )
            },
        ),
        C::Revoke {
            fingerprint,
            reason,
        } => Call::change(
            "POST",
            format!("/v1/certificates/{fingerprint}/revoke"),
            Body::Json(json!({"reason": reason})),
            |v| {
                format!(
                    "certificate {} is {} ({})",
                    at(v, "/fingerprint"),
                    at(v, "/status"),
                    at(v, "/revocation_reason")
                )
            },
        ),
    })
}

/// The line that hands over a new token's secret, or says that a replay cannot.
fn secret_line(token: Option<&Value>) -> String {
    match token.and_then(|t| t.get("token")).and_then(Value::as_str) {
        Some(secret) => format!("token (shown once, store it now): {secret}"),
        None => "the token's secret was shown only in the first answer to this Idempotency-Key; \
                 if it was lost, revoke this token and create another"
            .into(),
    }
}

/// Seconds since the epoch as RFC 3339, `never` for null.
fn show_time(value: Option<&Value>) -> String {
    match value.and_then(Value::as_i64) {
        Some(seconds) => jiff::Timestamp::from_second(seconds)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| seconds.to_string()),
        None => "never".into(),
    }
}
