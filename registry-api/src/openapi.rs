//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of every path the router serves.
//!
//! Written by hand from one table (path, method, summary, who, request body, answers) so that
//! adding a route means adding a row here; `tests/api.rs` checks that every route of the
//! router is described.

use axum::Json;
use serde_json::{json, Map, Value};

struct Op {
    path: &'static str,
    method: &'static str,
    summary: &'static str,
    auth: bool,
    body: Option<&'static str>,
    ok: (&'static str, &'static str),
}

const OPS: &[Op] = &[
    Op { path: "/v1/authorities", method: "post", summary: "Create a regional or national sub-CA (root-admin, or admin of the parent)", auth: true, body: Some("AuthorityIn"), ok: ("201", "Authority") },
    Op { path: "/v1/authorities", method: "get", summary: "List authorities", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/authorities/{id}", method: "get", summary: "One authority", auth: true, body: None, ok: ("200", "Authority") },
    Op { path: "/v1/authorities/{id}/certificate", method: "put", summary: "Install the certificate an offline parent signed (PEM body)", auth: true, body: Some("Pem"), ok: ("200", "Authority") },
    Op { path: "/v1/authorities/{id}/crl", method: "put", summary: "Install the CRL an offline authority (the root) signed in its ceremony (DER application/pkix-crl, or PEM); retires the sub-CAs it lists", auth: true, body: Some("Der"), ok: ("200", "Object") },
    Op { path: "/v1/authorities/{id}/crl-signer", method: "get", summary: "A SHAKEN root's domain CRL signers: the pending one (its CSR) and the active one (its certificate)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/authorities/{id}/crl-signer", method: "post", summary: "A new domain CRL signer for a SHAKEN root: its key is made here, its CSR returned for the root's ceremony (tsca ceremony sign-crl-signer); the pending one again while one is pending", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/authorities/{id}/crl-signer", method: "put", summary: "Install the root's certificate for the pending domain CRL signer (PEM body); it becomes active and signs /crl/domain.crl at once", auth: true, body: Some("Pem"), ok: ("200", "Object") },
    Op { path: "/v1/authorities/{id}/tokens", method: "post", summary: "Issue an authority-admin token", auth: true, body: Some("TokenIn"), ok: ("201", "Token") },
    Op { path: "/v1/operators", method: "post", summary: "Register an operator; returns its first token, shown once. Its service provider codes are spc: assignments (POST /v1/assignments), needed before its first enrolment", auth: true, body: Some("OperatorIn"), ok: ("201", "Object") },
    Op { path: "/v1/operators", method: "get", summary: "List operators visible to the caller", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/operators/{id}", method: "get", summary: "One operator with its assignments", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/operators/{id}/tokens", method: "post", summary: "Issue an operator token", auth: true, body: Some("TokenIn"), ok: ("201", "Token") },
    Op { path: "/v1/operators/{id}/tokens", method: "get", summary: "An operator's tokens: id, label, created, expiry, revocation (never the secret)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/authorities/{id}/tokens", method: "get", summary: "An authority's admin tokens (never the secrets)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/tokens", method: "get", summary: "Root-admin or auditor tokens (?role=root-admin|auditor; root admins and auditors)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/tokens/{id}", method: "delete", summary: "Revoke a token", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/assignments", method: "post", summary: "Assign a numbering resource to an operator (422 outside the authority's scope, 409 overlapping another operator unless ported)", auth: true, body: Some("AssignmentIn"), ok: ("201", "Assignment") },
    Op { path: "/v1/assignments", method: "get", summary: "An operator's assignments (?operator_id=)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/assignments/{id}", method: "delete", summary: "Withdraw an assignment; revokes (privilegeWithdrawn) certificates that no longer fit", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/assignments/{id}", method: "patch", summary: "Move an assignment's end (valid_to, or null for open-ended; JSON merge patch); revokes (privilegeWithdrawn) certificates that no longer fit", auth: true, body: Some("AssignmentPatch"), ok: ("200", "Object") },
    Op { path: "/v1/enrolments", method: "post", summary: "Enrol: CSR + scope + profile; 201 issued, 202 pending. Idempotency-Key header makes retries safe", auth: true, body: Some("EnrolmentIn"), ok: ("201", "Object") },
    Op { path: "/v1/enrolments", method: "get", summary: "Enrolments by status (admins)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/enrolments/{id}", method: "get", summary: "One enrolment", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/enrolments/{id}/approve", method: "post", summary: "Approve a pending enrolment and issue", auth: true, body: None, ok: ("201", "Object") },
    Op { path: "/v1/enrolments/{id}/reject", method: "post", summary: "Reject a pending enrolment", auth: true, body: Some("DecisionIn"), ok: ("200", "Object") },
    Op { path: "/v1/certificates", method: "get", summary: "List certificates (?operator_id, issuer_id, status, after, limit)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/v1/certificates/{fingerprint}", method: "get", summary: "One certificate by SHA-256 fingerprint", auth: true, body: None, ok: ("200", "Certificate") },
    Op { path: "/v1/certificates/{fingerprint}/revoke", method: "post", summary: "Revoke with a reason", auth: true, body: Some("RevokeIn"), ok: ("200", "Certificate") },
    Op { path: "/v1/audit", method: "get", summary: "Audit entries after a sequence number (root-admin, auditor)", auth: true, body: None, ok: ("200", "Object") },
    Op { path: "/chains/{file}", method: "get", summary: "Certificate chain, leaf first ({fingerprint}.pem): what x5u points to", auth: false, body: None, ok: ("200", "Pem") },
    Op { path: "/crl/{file}", method: "get", summary: "An authority's CRL ({name}.crl), or a SHAKEN domain's indirect CRL (domain.crl), DER", auth: false, body: None, ok: ("200", "Der") },
    Op { path: "/ca/{file}", method: "get", summary: "An authority's certificate ({name}.der), or the SHAKEN domain CRL signer's (domain.der), DER", auth: false, body: None, ok: ("200", "Cert") },
    Op { path: "/v1/trust-anchors", method: "get", summary: "The roots: JSON, or a PEM bundle with Accept: application/pem-certificate-chain", auth: false, body: None, ok: ("200", "Object") },
    Op { path: "/v1/lookup/e164/{number}", method: "get", summary: "Operators and certificates authorised for an E.164 number, most specific first", auth: false, body: None, ok: ("200", "Object") },
    Op { path: "/v1/lookup/plmn/{mccmnc}", method: "get", summary: "Operators and certificates authorised for a PLMN", auth: false, body: None, ok: ("200", "Object") },
    Op { path: "/v1/openapi.json", method: "get", summary: "This document", auth: false, body: None, ok: ("200", "Object") },
    Op { path: "/healthz", method: "get", summary: "Liveness", auth: false, body: None, ok: ("200", "Object") },
    Op { path: "/readyz", method: "get", summary: "Readiness: database reachable, schema current", auth: false, body: None, ok: ("200", "Object") },
    Op { path: "/metrics", method: "get", summary: "Prometheus metrics", auth: false, body: None, ok: ("200", "Text") },
];

/// The paths and methods described (for the completeness test).
pub fn described() -> Vec<(&'static str, &'static str)> {
    OPS.iter().map(|op| (op.path, op.method)).collect()
}

fn schemas() -> Value {
    let string_list = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "Object": {"type": "object"},
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "field": {"type": "string"},
            "rule": {"type": "string", "description": "the policy rule that refused the request"},
            "existing": {"type": "object", "description": "the record a conflict is about", "properties": {
                "kind": {"type": "string"}, "id": {"type": "string"}}},
            "correlation_id": {"type": "string", "description": "names the log line of a 500's cause"}}},
        "Authority": {"type": "object", "required": ["id", "name", "tier", "status"], "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "subject": {"type": ["string", "null"], "description": "the subject name (RFC 4514) of its certificate, or of its CSR while it awaits one"},
            "tier": {"type": "string", "enum": ["root", "regional", "national"]},
            "status": {"type": "string", "enum": ["awaiting-certificate", "active", "retired"]}}},
        "Certificate": {"type": "object", "required": ["id", "status", "serial"], "properties": {
            "id": {"type": "integer"}, "serial": {"type": "string"},
            "status": {"type": "string", "enum": ["reserved", "valid", "revoked", "abandoned"]}}},
        "Assignment": {"type": "object", "required": ["id", "operator_id", "resource"]},
        "Token": {"type": "object", "required": ["id", "token"], "properties": {"token": {"type": "string"}}},
        "AuthorityIn": {"type": "object", "additionalProperties": false,
            "required": ["name", "tier", "parent_id", "scope", "subject"], "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "tier": {"type": "string", "enum": ["regional", "national"]},
            "parent_id": {"type": "integer"}, "scope": string_list,
            "subject": {"type": "object", "additionalProperties": false, "required": ["common_name"], "properties": {
                "common_name": {"type": "string"}, "organization": {"type": "string"}, "country": {"type": "string"}}},
            "auto_approve": {"type": "boolean"}}},
        "OperatorIn": {"type": "object", "additionalProperties": false, "required": ["authority_id", "name", "country"], "properties": {
            "authority_id": {"type": "integer"}, "name": {"type": "string"},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"}}},
        "TokenIn": {"type": "object", "additionalProperties": false, "properties": {"label": {"type": "string"}, "valid_days": {"type": "integer", "minimum": 1, "maximum": 3650, "description": "how long the token works; omitted: until revoked (operator tokens: the service's default lifetime, if one is set)"}}},
        "AssignmentIn": {"type": "object", "additionalProperties": false, "required": ["operator_id", "resource"], "properties": {
            "operator_id": {"type": "integer"}, "resource": {"type": "string", "examples": ["prefix:3361", "range:33612340000+10000", "plmn:208-01", "spc:F0042"]},
            "valid_from": {"type": "integer"}, "valid_to": {"type": "integer"}, "ported_from": {"type": "integer"}}},
        "EnrolmentIn": {"type": "object", "additionalProperties": false, "required": ["csr", "scope"], "properties": {
            "csr": {"type": "string", "description": "PKCS#10, PEM"}, "scope": string_list,
            "profile": {"type": "string", "enum": ["operator", "operator-short-lived"]}}},
        "DecisionIn": {"type": "object", "additionalProperties": false, "properties": {"reason": {"type": "string"}}},
        "AssignmentPatch": {"type": "object", "additionalProperties": false, "required": ["valid_to"], "properties": {
            "valid_to": {"type": ["integer", "null"], "description": "seconds since 1970; null: open-ended"}}},
        "RevokeIn": {"type": "object", "additionalProperties": false, "required": ["reason"], "properties": {
            "reason": {"type": "string", "enum": ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"]}}},
    })
}

fn media(schema: &str) -> (&'static str, Value) {
    match schema {
        "Pem" => (
            "application/pem-certificate-chain",
            json!({"type": "string"}),
        ),
        "Der" => (
            "application/pkix-crl",
            json!({"type": "string", "format": "binary"}),
        ),
        "Text" => ("text/plain", json!({"type": "string"})),
        "Cert" => (
            "application/pkix-cert",
            json!({"type": "string", "format": "binary"}),
        ),
        other => (
            "application/json",
            json!({"$ref": format!("#/components/schemas/{other}")}),
        ),
    }
}

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(op.summary));
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "id" {
                    json!({"type": "integer"})
                } else {
                    json!({"type": "string"})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let mut params = params;
        if op.auth && op.method != "get" && op.method != "put" {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
                "description": "makes retries safe: one effect per key and account, kept 24 h; a reuse for another request is 422",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}));
        }
        if !params.is_empty() {
            operation.insert("parameters".into(), json!(params));
        }
        if let Some(body) = op.body {
            let (content_type, schema) = media(body);
            let mut content = serde_json::Map::new();
            content.insert(content_type.into(), json!({"schema": schema.clone()}));
            if body == "AssignmentPatch" {
                content.insert(
                    "application/merge-patch+json".into(),
                    json!({"schema": schema.clone()}),
                );
            }
            if body == "Pem" {
                // The PEM text is accepted whatever the declared type.
                content.insert("text/plain".into(), json!({"schema": schema}));
            } else if body == "Der" {
                // A CRL is accepted as PEM text too.
                content.insert("text/plain".into(), json!({"schema": {"type": "string"}}));
            }
            operation.insert(
                "requestBody".into(),
                json!({"required": body != "TokenIn" && body != "DecisionIn", "content": content}),
            );
        }
        let (content_type, schema) = media(op.ok.1);
        let problem = json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
        let mut responses = Map::new();
        responses.insert(
            op.ok.0.into(),
            json!({"description": "success", "content": {content_type: {"schema": schema}}}),
        );
        for (code, what) in [
            ("400", "malformed request"),
            ("404", "not found"),
            ("409", "conflict (names the existing record), or the earlier request with this Idempotency-Key still running (Retry-After)"),
            ("413", "body too large"),
            ("415", "the body is not JSON (Content-Type)"),
            ("422", "refused: a named rule, numbers out of scope, an invalid field, or an Idempotency-Key reused for another request"),
            ("429", "rate limited"),
            ("503", "database or signing key unavailable; the detail says whether anything changed (Retry-After)"),
        ] {
            let mut r = problem.clone();
            r["description"] = json!(what);
            responses.insert(code.into(), r);
        }
        if op.auth {
            for (code, what) in [
                ("401", "missing or unknown token"),
                ("403", "the token's role may not do this"),
            ] {
                let mut r = problem.clone();
                r["description"] = json!(what);
                responses.insert(code.into(), r);
            }
            operation.insert("security".into(), json!([{"bearer": []}]));
        }
        if op.ok.0 == "201" {
            responses.insert("200".into(), json!({"description": "a decided enrolment without a certificate (rejected, failed)", "content": {"application/json": {"schema": {"type": "object"}}}}));
            responses.insert("202".into(), json!({"description": "accepted, pending a decision", "content": {"application/json": {"schema": {"type": "object"}}}}));
        }
        if op.path.starts_with("/chains")
            || op.path.starts_with("/crl")
            || op.path.starts_with("/ca/")
        {
            responses.insert(
                "304".into(),
                json!({"description": "not modified (If-None-Match)"}),
            );
        }
        operation.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = Value::Object(operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "tsca registry", "version": env!("CARGO_PKG_VERSION"),
            "description": "Trust-anchor PKI for telecom signalling: authorities, operators, numbering assignments, enrolment, revocation, chains, CRLs and number lookup."},
        "paths": paths,
        "components": {"schemas": schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    })
}

/// Handler.
pub(crate) async fn document() -> Json<Value> {
    Json(build())
}
