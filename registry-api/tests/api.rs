//! The registry story through `router(state).oneshot(..)`, on SQLite and (when
//! TSCA_TEST_DATABASE_URL is set) PostgreSQL; plus bad input and tenant isolation.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::SystemTime;

use axum::http::StatusCode;
use ca_core::profile::Profile;
use ca_core::x509::Certificate;
use ca_store::testing::TestDatabase;
use ca_store::{AssignmentId, EnrolmentId, TokenGrant};
use common::{harness, operator_csr, Harness};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_registry_story() {
    for db in TestDatabase::all().await {
        let label = db.label();
        let h = harness(db).await;
        let admin = h.admin.clone();

        // A regional CA under the offline root: a CSR comes back, the ceremony signs it.
        let (status, regional) = h
            .call("POST", "/v1/authorities", Some(&admin), Some(json!({
                "name": "europe", "tier": "regional", "parent_id": 1,
                "scope": ["prefix:33", "prefix:44", "mcc:208", "spc:*"],
                "subject": {"common_name": "tsca Test Regional CA Europe", "organization": "Test Region", "country": "BE"}})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{label}: {regional}");
        assert_eq!(regional["status"], "awaiting-certificate");
        let csr = regional["csr_pem"].as_str().unwrap();
        let regional_id = regional["id"].as_i64().unwrap();

        // A wrong certificate (scope differs) is refused and changes nothing.
        let wrong = h.sign_with_root(
            csr,
            &["prefix:33"],
            Profile::RegionalCa,
            "tsca Test Regional CA Europe",
        );
        let (status, body, _) = h
            .raw(
                "PUT",
                &format!("/v1/authorities/{regional_id}/certificate"),
                Some(&admin),
                Some(("application/pem-certificate-chain", wrong)),
                &[],
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let good = h.sign_with_root(
            csr,
            &["prefix:33", "prefix:44", "mcc:208", "spc:*"],
            Profile::RegionalCa,
            "tsca Test Regional CA Europe",
        );
        let (status, body, _) = h
            .raw(
                "PUT",
                &format!("/v1/authorities/{regional_id}/certificate"),
                Some(&admin),
                Some(("application/pem-certificate-chain", good)),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

        // A national CA under the regional one: issued at once. Out-of-scope is a 422 naming it.
        let (status, bad) = h
            .call("POST", "/v1/authorities", Some(&admin), Some(json!({
                "name": "france", "tier": "national", "parent_id": regional_id, "scope": ["prefix:33", "prefix:49"],
                "subject": {"common_name": "tsca Test National CA France", "country": "FR"}})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(
            bad["detail"].as_str().unwrap().contains("prefix:49"),
            "{bad}"
        );
        let (status, national) = h
            .call("POST", "/v1/authorities", Some(&admin), Some(json!({
                "name": "france", "tier": "national", "parent_id": regional_id, "scope": ["prefix:33", "mcc:208", "spc:*"],
                "subject": {"common_name": "tsca Test National CA France", "organization": "Test Regulator", "country": "FR"},
                "auto_approve": true})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{national}");
        assert_eq!(national["status"], "active");
        let national_id = national["id"].as_i64().unwrap();

        // Operators, with their first token.
        // An SPC is an assignment now, not a field of the operator: the old field is refused
        // with a message saying so.
        let (status, refused) = h.call("POST", "/v1/operators", Some(&admin), Some(json!({"authority_id": national_id, "name": "Orange", "spc": "F0042", "country": "FR"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["field"], "spc");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("POST /v1/assignments"),
            "{refused}"
        );
        let (status, orange) = h
            .call(
                "POST",
                "/v1/operators",
                Some(&admin),
                Some(json!({"authority_id": national_id, "name": "Orange", "country": "FR"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{orange}");
        let orange_id = orange["operator"]["id"].as_i64().unwrap();
        let (status, spc) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(&admin),
                Some(json!({"operator_id": orange_id, "resource": "spc:F0042"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{spc}");
        let orange_token = orange["token"]["token"].as_str().unwrap().to_owned();
        let (_, sfr) = h
            .call(
                "POST",
                "/v1/operators",
                Some(&admin),
                Some(json!({"authority_id": national_id, "name": "SFR", "country": "FR"})),
            )
            .await;
        let sfr_id = sfr["operator"]["id"].as_i64().unwrap();
        let sfr_token = sfr["token"]["token"].as_str().unwrap().to_owned();

        // Assignments: outside scope 422, overlap 409, port allowed.
        let (status, a) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(&admin),
                Some(json!({"operator_id": orange_id, "resource": "prefix:4420"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{a}");
        assert_eq!(a["field"], "resource");
        let (status, a) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(&admin),
                Some(json!({"operator_id": orange_id, "resource": "prefix:3361"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        let orange_assignment = a["id"].as_i64().unwrap();
        h.call(
            "POST",
            "/v1/assignments",
            Some(&admin),
            Some(json!({"operator_id": orange_id, "resource": "spc:F0042"})),
        )
        .await;
        let (status, _) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(&admin),
                Some(json!({"operator_id": sfr_id, "resource": "range:33612340000+10000"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = h.call("POST", "/v1/assignments", Some(&admin), Some(json!({"operator_id": sfr_id, "resource": "range:33612340000+10000", "ported_from": orange_id}))).await;
        assert_eq!(status, StatusCode::CREATED);

        // Orange no longer holds all of prefix:3361: a certificate for it is refused, naming
        // the port.
        let (_key, csr) = operator_csr();
        let (status, refused) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(&orange_token),
                Some(json!({"csr": csr, "scope": ["prefix:3361"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("ported to operator"),
            "{refused}"
        );

        // Enrolment within the assignments, auto-approved: 201 with the certificate.
        let enrol =
            json!({"csr": csr, "scope": ["prefix:33619", "spc:F0042"], "profile": "operator"});
        let (status, bytes, _) = h
            .raw(
                "POST",
                "/v1/enrolments",
                Some(&orange_token),
                Some(("application/json", enrol.to_string())),
                &[("idempotency-key", "k1")],
            )
            .await;
        let issued: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        let fingerprint = issued["certificate"]["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned();
        // The retry returns the same certificate, never a second one.
        let (status, bytes, _headers) = h
            .raw(
                "POST",
                "/v1/enrolments",
                Some(&orange_token),
                Some(("application/json", enrol.to_string())),
                &[("idempotency-key", "k1")],
            )
            .await;
        let again: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "the first request's answer: {again}"
        );
        assert_eq!(_headers["idempotent-replayed"], "true");
        assert_eq!(again["certificate"]["fingerprint"], fingerprint.as_str());
        // Outside the operator's assignments: 422 naming the resource.
        let (status, out) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(&orange_token),
                Some(json!({"csr": csr, "scope": ["prefix:3399"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
        assert!(out["detail"].as_str().unwrap().contains("prefix:3399"));

        // The chain repository: public, PEM, leaf first, ETag and 304.
        let (status, chain, headers) = h
            .raw(
                "GET",
                &format!("/chains/{fingerprint}.pem"),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/pem-certificate-chain");
        let chain = Certificate::load_pem_chain(&chain).unwrap();
        assert_eq!(chain.len(), 3, "leaf, national, regional");
        let verified = ca_core::path::verify_path(
            &[chain.clone(), vec![h.root_cert.clone()]].concat(),
            std::slice::from_ref(&h.root_cert),
            SystemTime::now(),
        )
        .unwrap();
        assert!(!verified.certificates().is_empty());
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, _) = h
            .raw(
                "GET",
                &format!("/chains/{fingerprint}.pem"),
                None,
                None,
                &[("if-none-match", &etag)],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=86400"));
        assert_conditional(&h, &format!("/chains/{fingerprint}.pem")).await;
        assert_conditional(&h, "/ca/france.der").await;
        assert_conditional(&h, "/crl/france.crl").await;

        // Lookup: the ported block belongs to SFR; the rest of 3361 to Orange, with its certificate.
        let (_, who) = h
            .call("GET", "/v1/lookup/e164/+33619999999", None, None)
            .await;
        assert_eq!(who["authorised"][0]["operator_id"], orange_id, "{who}");
        assert_eq!(
            who["authorised"][0]["certificates"][0]["fingerprint"],
            fingerprint.as_str()
        );
        let (_, who) = h
            .call("GET", "/v1/lookup/e164/33612345678", None, None)
            .await;
        assert_eq!(who["authorised"].as_array().unwrap().len(), 1);
        assert_eq!(who["authorised"][0]["operator_id"], sfr_id);

        // Tenant isolation: SFR cannot see or revoke Orange's certificate; nothing changes.
        let (status, _) = h
            .call(
                "POST",
                &format!("/v1/certificates/{fingerprint}/revoke"),
                Some(&sfr_token),
                Some(json!({"reason": "keyCompromise"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(&sfr_token),
                Some(json!({"operator_id": sfr_id, "resource": "prefix:3362"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, cert) = h
            .call(
                "GET",
                &format!("/v1/certificates/{fingerprint}"),
                Some(&orange_token),
                None,
            )
            .await;
        assert_eq!(cert["status"], "valid");

        // Revocation by its owner; the CRL lists it.
        let (status, revoked) = h
            .call(
                "POST",
                &format!("/v1/certificates/{fingerprint}/revoke"),
                Some(&orange_token),
                Some(json!({"reason": "keyCompromise"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
        assert_eq!(revoked["status"], "revoked");
        // The chain (cached when first served) is still served, now kept for an hour only.
        let (status, again, headers) = h
            .raw(
                "GET",
                &format!("/chains/{fingerprint}.pem"),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(Certificate::load_pem_chain(&again).unwrap(), chain);
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=3600"),
            "{headers:?}"
        );
        let (status, crl, headers) = h.raw("GET", "/crl/france.crl", None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/pkix-crl");
        let crl = ca_core::crl::parse_crl(&crl).unwrap();
        let serial = revoked["serial"].as_str().unwrap();
        assert!(
            crl.entries()
                .any(|e| hex::encode(e.unwrap().serial.as_bytes()) == serial),
            "CRL lists the serial"
        );

        // Withdrawal revokes what no longer fits.
        let (_key2, csr2) = operator_csr();
        let (status, second) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(&orange_token),
                Some(json!({"csr": csr2, "scope": ["prefix:33618"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        let (status, withdrawn) = h
            .call(
                "DELETE",
                &format!("/v1/assignments/{orange_assignment}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{withdrawn}");
        assert_eq!(
            withdrawn["revoked_certificates"][0]["revocation_reason"],
            "privilegeWithdrawn"
        );

        // Audit: auditors and the root admin read it; operators do not.
        let (status, _) = h.call("GET", "/v1/audit", Some(&orange_token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, audit) = h.call("GET", "/v1/audit?after=0", Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "certificate.revoked"));
        assert!(matches!(
            h.state.engine.reader().verify_audit_chain().await.unwrap(),
            ca_store::ChainVerdict::Intact { .. }
        ));

        // Trust anchors and ops.
        let (_, anchors) = h.call("GET", "/v1/trust-anchors", None, None).await;
        assert_eq!(anchors["trust_anchors"].as_array().unwrap().len(), 1);
        let (status, ready) = h.call("GET", "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ready,
            json!({"status": "ready", "reason": "ok"}),
            "a code, nothing internal"
        );
        let (status, metrics, _) = h.raw("GET", "/metrics", None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&metrics).contains("tsca_certificates_revoked_total"));
    }
}

#[tokio::test]
async fn bad_input_gets_problem_json_naming_the_field() {
    let h = harness(TestDatabase::sqlite()).await;
    let admin = h.admin.clone();
    // No token, unknown token.
    let (status, p) = h.call("GET", "/v1/authorities", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(p["type"], "urn:tsca:problem:unauthorized");
    let (status, _) = h
        .call("GET", "/v1/authorities", Some("tsca_nope"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Malformed JSON and a missing field.
    let (status, bytes, headers) = h
        .raw(
            "POST",
            "/v1/operators",
            Some(&admin),
            Some(("application/json", "{not json".into())),
            &[],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(headers["content-type"], "application/problem+json");
    let (status, p) = h
        .call(
            "POST",
            "/v1/operators",
            Some(&admin),
            Some(json!({"authority_id": 1, "country": "FR"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "name");
    // Bad scope entry, bad country.
    let (status, p) = h.call("POST", "/v1/authorities", Some(&admin), Some(json!({"name": "x", "tier": "national", "parent_id": 1, "scope": ["prefix:33a"], "subject": {"common_name": "X"}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "scope");
    let (status, p) = h
        .call(
            "POST",
            "/v1/operators",
            Some(&admin),
            Some(json!({"authority_id": 1, "name": "A", "country": "France"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "country");
    // Members inside objects, values of the wrong type, and query parameters are named as the
    // API spells them.
    let (status, p) = h.call("POST", "/v1/authorities", Some(&admin), Some(json!({"name": "x", "tier": "national", "parent_id": 1, "scope": ["prefix:33"], "subject": {}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "subject.common_name", "{p}");
    let (status, p) = h.call("POST", "/v1/authorities", Some(&admin), Some(json!({"name": "x", "tier": "bogus", "parent_id": 1, "scope": ["prefix:33"], "subject": {"common_name": "X"}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "tier", "{p}");
    let (status, p) = h
        .call(
            "POST",
            "/v1/operators/1/tokens",
            Some(&admin),
            Some(json!({"valid_days": -1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "valid_days", "{p}");
    let (status, p) = h.call("GET", "/v1/assignments", Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "operator_id", "{p}");
    let (status, p) = h
        .call("GET", "/v1/certificates?limit=many", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "limit", "{p}");
    // Oversized body: 413.
    let big = json!({"authority_id": 1, "name": "x".repeat(100_000), "country": "FR"});
    let (status, _) = h
        .call("POST", "/v1/operators", Some(&admin), Some(big))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Unknown path: problem+json 404; a method the path does not take: problem+json 405.
    let (status, p) = h.call("GET", "/v1/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(p["detail"].as_str().unwrap().contains("openapi"));
    let (status, body, headers) = h.raw("DELETE", "/v1/openapi.json", None, None, &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(String::from_utf8_lossy(&body).contains("DELETE is not allowed"));
    // A chain that does not exist, a malformed fingerprint.
    let (status, _) = h
        .call(
            "GET",
            &format!("/chains/{}.pem", "0".repeat(64)),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.call("GET", "/v1/lookup/e164/33abc", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A merge patch is taken only where merge patch is implemented (an assignment's end);
    // elsewhere it is 415, like any media type that is not JSON.
    let body = json!({"authority_id": 1, "name": "Patchy", "country": "FR"}).to_string();
    for media in [
        "application/merge-patch+json",
        "text/plain",
        "application/problem+json",
    ] {
        let (status, answer, _) = h
            .raw(
                "POST",
                "/v1/operators",
                Some(&admin),
                Some((media, body.clone())),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{media}");
        assert!(
            String::from_utf8_lossy(&answer).contains("application/json"),
            "{media}"
        );
    }
    // The auth-scheme is case-insensitive (RFC 9110 §11.1).
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let value = format!("{scheme} {admin}");
        let (status, _, _) = h
            .raw(
                "GET",
                "/v1/authorities",
                None,
                None,
                &[("authorization", &value)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{scheme}");
    }
    let (status, _, _) = h
        .raw(
            "GET",
            "/v1/authorities",
            None,
            None,
            &[("authorization", &format!("Basic {admin}"))],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Rate limit: a burst beyond 2× the per-second rate gets 429, saying when to come back.
    let mut limited = None;
    for _ in 0..150 {
        let (status, _, headers) = h
            .raw("GET", "/v1/authorities", Some(&admin), None, &[])
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(headers);
            break;
        }
    }
    let headers = limited.expect("no 429 after 150 rapid requests");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document() {
    let doc = registry_api::openapi::build();
    for (path, method) in registry_api::openapi::described() {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // The router's routes (kept in sync by hand with lib.rs; this list fails loudly if a
    // route is added to one and not the other).
    let src = include_str!("../src/lib.rs");
    for line in src
        .lines()
        .filter(|l| l.trim_start().starts_with(".route(\""))
    {
        let path = line.split('"').nth(1).unwrap();
        assert!(
            doc["paths"][path].is_object(),
            "route {path} missing from openapi.json"
        );
    }
}

/// One tenant acting on another's objects: every such call is refused (403 or 404) and
/// nothing changes. Callers: the admin of a sibling national CA, an operator of that CA, and
/// an auditor (who may read, never write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tenants_are_refused_and_nothing_changes() {
    let h = harness(TestDatabase::sqlite()).await;
    let admin = h.admin.clone();
    let (_, regional) = h
        .call("POST", "/v1/authorities", Some(&admin), Some(json!({"name": "europe", "tier": "regional", "parent_id": 1,
            "scope": ["prefix:33", "prefix:39", "spc:*"], "subject": {"common_name": "Regional", "organization": "R", "country": "BE"}})))
        .await;
    let regional_id = regional["id"].as_i64().unwrap();
    let pem = h.sign_with_root(
        regional["csr_pem"].as_str().unwrap(),
        &["prefix:33", "prefix:39", "spc:*"],
        Profile::RegionalCa,
        "Regional",
    );
    h.raw(
        "PUT",
        &format!("/v1/authorities/{regional_id}/certificate"),
        Some(&admin),
        Some(("text/plain", pem)),
        &[],
    )
    .await;
    let national = |name: &'static str, prefix: &'static str| {
        json!({"name": name, "tier": "national", "parent_id": regional_id, "scope": [prefix, "spc:*"],
            "subject": {"common_name": name, "organization": "Regulator", "country": "FR"}, "auto_approve": true})
    };
    let (_, france) = h
        .call(
            "POST",
            "/v1/authorities",
            Some(&admin),
            Some(national("france", "prefix:33")),
        )
        .await;
    let (_, italy) = h
        .call(
            "POST",
            "/v1/authorities",
            Some(&admin),
            Some(national("italy", "prefix:39")),
        )
        .await;
    let (france_id, italy_id) = (
        france["id"].as_i64().unwrap(),
        italy["id"].as_i64().unwrap(),
    );
    let (_, italy_admin) = h
        .call(
            "POST",
            &format!("/v1/authorities/{italy_id}/tokens"),
            Some(&admin),
            None,
        )
        .await;
    let italy_admin = italy_admin["token"].as_str().unwrap().to_owned();
    let (_, orange) = h
        .call(
            "POST",
            "/v1/operators",
            Some(&admin),
            Some(json!({"authority_id": france_id, "name": "Orange", "country": "FR"})),
        )
        .await;
    let (_, tim) = h
        .call(
            "POST",
            "/v1/operators",
            Some(&admin),
            Some(json!({"authority_id": italy_id, "name": "TIM", "country": "IT"})),
        )
        .await;
    let orange_id = orange["operator"]["id"].as_i64().unwrap();
    let orange_token = orange["token"]["token"].as_str().unwrap().to_owned();
    let orange_token_id = orange["token"]["id"].as_i64().unwrap();
    let tim_token = tim["token"]["token"].as_str().unwrap().to_owned();
    h.call(
        "POST",
        "/v1/assignments",
        Some(&admin),
        Some(json!({"operator_id": orange_id, "resource": "spc:F0042"})),
    )
    .await;
    let (_, assignment) = h
        .call(
            "POST",
            "/v1/assignments",
            Some(&admin),
            Some(json!({"operator_id": orange_id, "resource": "prefix:3361"})),
        )
        .await;
    let assignment_id = assignment["id"].as_i64().unwrap();
    let (_, csr) = operator_csr();
    let (status, issued) = h
        .call(
            "POST",
            "/v1/enrolments",
            Some(&orange_token),
            Some(json!({"csr": csr, "scope": ["prefix:3361"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let enrolment_id = issued["enrolment_id"].as_i64().unwrap();
    let fp = issued["certificate"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let auditor = common::token_for(&h.state.engine, TokenGrant::Auditor, "auditor").await;
    let audit_before = h
        .state
        .engine
        .reader()
        .audit_entries(0, 100_000)
        .await
        .unwrap()
        .len();

    let writes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/v1/authorities".into(),
            Some(national("france-sub", "prefix:331")),
        ),
        ("POST", format!("/v1/authorities/{france_id}/tokens"), None),
        (
            "POST",
            "/v1/operators".into(),
            Some(json!({"authority_id": france_id, "name": "Intruder", "country": "FR"})),
        ),
        ("POST", format!("/v1/operators/{orange_id}/tokens"), None),
        ("DELETE", format!("/v1/tokens/{orange_token_id}"), None),
        (
            "POST",
            "/v1/assignments".into(),
            Some(json!({"operator_id": orange_id, "resource": "prefix:3362"})),
        ),
        ("DELETE", format!("/v1/assignments/{assignment_id}"), None),
        (
            "POST",
            format!("/v1/enrolments/{enrolment_id}/approve"),
            None,
        ),
        (
            "POST",
            format!("/v1/enrolments/{enrolment_id}/reject"),
            None,
        ),
        (
            "POST",
            format!("/v1/certificates/{fp}/revoke"),
            Some(json!({"reason": "keyCompromise"})),
        ),
    ];
    let reads: Vec<String> = vec![
        format!("/v1/operators/{orange_id}"),
        format!("/v1/assignments?operator_id={orange_id}"),
        format!("/v1/enrolments/{enrolment_id}"),
        format!("/v1/certificates/{fp}"),
        "/v1/audit".into(),
    ];
    for (who, token) in [
        ("italy admin", &italy_admin),
        ("TIM operator", &tim_token),
        ("auditor", &auditor),
    ] {
        for (method, path, body) in &writes {
            let (status, answer) = h.call(method, path, Some(token), body.clone()).await;
            assert!(
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                "{who}: {method} {path} → {status} {answer}"
            );
        }
        if who != "auditor" {
            for path in &reads {
                let (status, answer) = h.call("GET", path, Some(token), None).await;
                assert!(
                    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                    "{who}: GET {path} → {status} {answer}"
                );
            }
        }
    }
    // Nothing changed.
    let store = h.state.engine.reader();
    assert_eq!(
        store.audit_entries(0, 100_000).await.unwrap().len(),
        audit_before,
        "a refused call wrote to the audit log"
    );
    assert_eq!(
        store
            .certificate_by_fingerprint(&fp.parse().unwrap())
            .await
            .unwrap()
            .status,
        ca_store::CertificateStatus::Valid
    );
    assert!(store
        .assignment(AssignmentId(assignment_id))
        .await
        .unwrap()
        .withdrawn_at
        .is_none());
    assert_eq!(
        store
            .enrolment(EnrolmentId(enrolment_id))
            .await
            .unwrap()
            .status,
        ca_store::EnrolmentStatus::Issued
    );
    let (status, _) = h
        .call(
            "GET",
            &format!("/v1/certificates/{fp}"),
            Some(&orange_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the owner's token still works");
}

/// A public route answers conditional GETs (RFC 9110 §13): ETag and Last-Modified on the
/// 200; 304 with the same validators for a strong or weak If-None-Match, and for an
/// If-Modified-Since not before Last-Modified; the body again when the client's copy is
/// older or its tag another.
async fn assert_conditional(h: &Harness, path: &str) {
    let (status, body, headers) = h.raw("GET", path, None, None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let modified = headers
        .get("last-modified")
        .unwrap_or_else(|| panic!("{path}: no Last-Modified"))
        .to_str()
        .unwrap()
        .to_owned();
    let since = httpdate::parse_http_date(&modified).unwrap();
    let earlier = httpdate::fmt_http_date(since - std::time::Duration::from_secs(3600));
    let weak = format!("W/{etag}");
    for (name, value, expected) in [
        ("if-none-match", etag.as_str(), StatusCode::NOT_MODIFIED),
        ("if-none-match", weak.as_str(), StatusCode::NOT_MODIFIED),
        ("if-none-match", "\"another\"", StatusCode::OK),
        (
            "if-modified-since",
            modified.as_str(),
            StatusCode::NOT_MODIFIED,
        ),
        ("if-modified-since", earlier.as_str(), StatusCode::OK),
    ] {
        let (status, again, headers) = h.raw("GET", path, None, None, &[(name, value)]).await;
        assert_eq!(status, expected, "{path} with {name}: {value}");
        if expected == StatusCode::NOT_MODIFIED {
            assert!(again.is_empty(), "{path}: a 304 has no body");
            assert_eq!(headers["etag"], etag.as_str(), "{path}");
        } else {
            assert_eq!(again, body, "{path}");
        }
    }
}

/// With the database gone, `/readyz` answers at once with a reason code and a correlation id,
/// and nothing internal (no database path, no driver error text): 503 on the registry port,
/// 200 "degraded" on the publication port, which serves from memory.
#[tokio::test]
async fn readyz_says_why_without_internals() {
    let h = harness(TestDatabase::sqlite()).await;
    h.state.engine.close().await;
    let started = std::time::Instant::now();
    let (status, body, headers) = h.raw("GET", "/readyz", None, None, &[]).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "answered within 1 s"
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(headers.contains_key("retry-after"));
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["reason"], "database_unreachable");
    assert_eq!(problem["correlation_id"].as_str().unwrap().len(), 16);
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("sqlite") && !text.contains("closed"),
        "{text}"
    );
    // The publication point serves from memory meanwhile: ready, degraded.
    let publication = registry_api::publication_router(h.state.public(), 64 * 1024);
    let answer = tower::ServiceExt::oneshot(
        publication,
        axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body = axum::body::to_bytes(answer.into_body(), 4096)
        .await
        .unwrap();
    let ready: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["reason"], "database_unreachable", "{ready}");
}

/// The anonymous registry endpoints are limited per client address (20 per second, burst 40,
/// by default): past it 429 with Retry-After, while another address is still served.
#[tokio::test]
async fn anonymous_lookups_are_limited_per_client_address() {
    let h = harness(TestDatabase::sqlite()).await;
    let app = registry_api::router(h.state.clone());
    let from = |address: &str| {
        let mut request = axum::http::Request::get("/v1/lookup/e164/33612345678")
            .body(axum::body::Body::empty())
            .unwrap();
        let peer: std::net::SocketAddr = format!("{address}:40000").parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        request
    };
    let mut statuses = Vec::new();
    // 200 at once: only a run slower than 8 s would stay under 40 + 20 per second.
    for _ in 0..200 {
        let answer = tower::ServiceExt::oneshot(app.clone(), from("192.0.2.1"))
            .await
            .unwrap();
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
            assert_eq!(answer.headers()["content-type"], "application/problem+json");
        }
        statuses.push(answer.status());
    }
    assert!(
        statuses[..40].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let other = tower::ServiceExt::oneshot(app, from("192.0.2.2"))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}
