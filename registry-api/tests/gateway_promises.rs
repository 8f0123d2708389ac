//! The gateway's promises seen through HTTP, as a client would replay them, on SQLite and
//! PostgreSQL: forty parallel enrolments with one Idempotency-Key make one certificate; a
//! refused authority leaves its name free; an assignment that is already over, or assigned
//! twice, is refused naming the rule or the existing assignment; moving an assignment's end
//! revokes what no longer fits; a key certified for one operator is refused for another.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use ca_core::profile::Profile;
use ca_store::testing::TestDatabase;
use common::{harness, operator_csr, Harness};
use serde_json::{json, Value};

/// A regional CA (via the ceremony) and a national CA approving within assignments, with an
/// operator holding prefix:3361; returns (national id, operator id, operator token).
async fn world(h: &Harness) -> (i64, i64, String) {
    let admin = &h.admin;
    let (_, regional) = h
        .call("POST", "/v1/authorities", Some(admin), Some(json!({
            "name": "europe", "tier": "regional", "parent_id": 1, "scope": ["prefix:33", "spc:*"],
            "subject": {"common_name": "Gateway Regional", "organization": "Test", "country": "BE"}})))
        .await;
    let regional_id = regional["id"].as_i64().unwrap();
    let signed = h.sign_with_root(
        regional["csr_pem"].as_str().unwrap(),
        &["prefix:33", "spc:*"],
        Profile::RegionalCa,
        "Gateway Regional",
    );
    let (status, _, _) = h
        .raw(
            "PUT",
            &format!("/v1/authorities/{regional_id}/certificate"),
            Some(admin),
            Some(("application/pem-certificate-chain", signed)),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, national) = h
        .call("POST", "/v1/authorities", Some(admin), Some(json!({
            "name": "france", "tier": "national", "parent_id": regional_id, "scope": ["prefix:33", "spc:*"],
            "subject": {"common_name": "Gateway National", "organization": "Test", "country": "FR"},
            "auto_approve": true})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{national}");
    let national_id = national["id"].as_i64().unwrap();
    let (_, operator) = h
        .call(
            "POST",
            "/v1/operators",
            Some(admin),
            Some(json!({
            "authority_id": national_id, "name": "Orange", "country": "FR"})),
        )
        .await;
    let operator_id = operator["operator"]["id"].as_i64().unwrap();
    let token = operator["token"]["token"].as_str().unwrap().to_owned();
    for resource in ["prefix:3361", "spc:F0042"] {
        let (status, _) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(admin),
                Some(json!({"operator_id": operator_id, "resource": resource})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    (national_id, operator_id, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn forty_parallel_enrolments_with_one_key_make_one_certificate() {
    for db in TestDatabase::all().await {
        let h = harness(db).await;
        let (_, operator_id, token) = world(&h).await;
        let (_, csr) = operator_csr();
        let body = json!({"csr": csr, "scope": ["prefix:3361"]}).to_string();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (state, token, body) = (h.state.clone(), token.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let response = tower::ServiceExt::oneshot(
                    registry_api::router(state),
                    axum::http::Request::post("/v1/enrolments")
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .header("idempotency-key", "forty-times")
                        .body(axum::body::Body::from(body))
                        .unwrap(),
                )
                .await
                .unwrap();
                let status = response.status();
                let replayed = response.headers().contains_key("idempotent-replayed");
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (
                    status,
                    replayed,
                    serde_json::from_slice::<Value>(&bytes).unwrap(),
                )
            }));
        }
        let mut fingerprints = BTreeSet::new();
        let mut fresh = 0;
        for task in tasks {
            let (status, replayed, answer) = task.await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            fresh += usize::from(!replayed);
            fingerprints.insert(
                answer["certificate"]["fingerprint"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!((fresh, fingerprints.len()), (1, 1));
        let (_, listed) = h
            .call(
                "GET",
                &format!("/v1/certificates?operator_id={operator_id}"),
                Some(&h.admin),
                None,
            )
            .await;
        assert_eq!(
            listed["certificates"].as_array().unwrap().len(),
            1,
            "{listed}"
        );

        // The key for another request: 422 naming the key.
        let (_, other_csr) = operator_csr();
        let (status, bytes, _) = h
            .raw(
                "POST",
                "/v1/enrolments",
                Some(&token),
                Some((
                    "application/json",
                    json!({"csr": other_csr, "scope": ["prefix:3361"]}).to_string(),
                )),
                &[("idempotency-key", "forty-times")],
            )
            .await;
        let problem: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], "Idempotency-Key");
        assert!(
            problem["detail"].as_str().unwrap().contains("forty-times"),
            "{problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_their_cause_and_leave_nothing() {
    for db in TestDatabase::all().await {
        let h = harness(db).await;
        let admin = h.admin.clone();
        let (national_id, operator_id, token) = world(&h).await;
        let (_, audit) = h
            .call("GET", "/v1/audit?limit=5000", Some(&admin), None)
            .await;
        let audit_before = audit["entries"].as_array().unwrap().len();

        // A sub-CA whose subject the profile refuses: 422 naming the subject; the name stays
        // free and no key or authority is left behind.
        let (status, refused) = h
            .call(
                "POST",
                "/v1/authorities",
                Some(&admin),
                Some(json!({
                "name": "ghost", "tier": "regional", "parent_id": 1, "scope": ["prefix:44"],
                "subject": {"common_name": "Ghost", "country": "BE"}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["field"], "subject");
        // An assignment already over: 422 naming the rule and the field.
        let (status, refused) = h
            .call("POST", "/v1/assignments", Some(&admin), Some(json!({
                "operator_id": operator_id, "resource": "prefix:3362", "valid_from": 1_000, "valid_to": 2_000})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(
            (refused["rule"].as_str(), refused["field"].as_str()),
            (Some("assignment-already-over"), Some("valid_to"))
        );
        // The same resource twice to one operator: 409 naming the existing assignment.
        let (status, refused) = h
            .call(
                "POST",
                "/v1/assignments",
                Some(&admin),
                Some(json!({"operator_id": operator_id, "resource": "prefix:33612"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["existing"]["kind"], "assignment");
        let (_, audit) = h
            .call("GET", "/v1/audit?limit=5000", Some(&admin), None)
            .await;
        assert_eq!(
            audit["entries"].as_array().unwrap().len(),
            audit_before,
            "refusals wrote nothing"
        );
        let (status, _) = h
            .call(
                "POST",
                "/v1/authorities",
                Some(&admin),
                Some(json!({
                "name": "ghost", "tier": "regional", "parent_id": 1, "scope": ["prefix:44"],
                "subject": {"common_name": "Ghost", "organization": "Test", "country": "BE"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "the name was left free");

        // A key certified for Orange is refused for another operator, naming the rule.
        let (key, csr) = operator_csr();
        let (status, issued) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(&token),
                Some(json!({"csr": csr, "scope": ["prefix:3361"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        drop(key);
        let (_, other) = h
            .call(
                "POST",
                "/v1/operators",
                Some(&admin),
                Some(json!({
                "authority_id": national_id, "name": "SFR", "country": "FR"})),
            )
            .await;
        let other_id = other["operator"]["id"].as_i64().unwrap();
        let other_token = other["token"]["token"].as_str().unwrap();
        for resource in ["prefix:3363", "spc:F0043"] {
            h.call(
                "POST",
                "/v1/assignments",
                Some(&admin),
                Some(json!({"operator_id": other_id, "resource": resource})),
            )
            .await;
        }
        let (status, refused) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(other_token),
                Some(json!({"csr": csr, "scope": ["prefix:3363"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["rule"], "key-bound-to-another-subject");

        // Moving the assignment's end a day ahead revokes the year-long certificate; the
        // answer lists it, and the assignment's new end is in the answer.
        let (_, assignments) = h
            .call(
                "GET",
                &format!("/v1/assignments?operator_id={operator_id}"),
                Some(&admin),
                None,
            )
            .await;
        let assignment_id = assignments["assignments"][0]["id"].as_i64().unwrap();
        let tomorrow = jiff::Timestamp::now().as_second() + 86_400;
        let (status, bytes, _) = h
            .raw(
                "PATCH",
                &format!("/v1/assignments/{assignment_id}"),
                Some(&admin),
                Some((
                    "application/merge-patch+json",
                    json!({"valid_to": tomorrow}).to_string(),
                )),
                &[],
            )
            .await;
        let changed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!(changed["assignment"]["valid_to"], tomorrow);
        assert_eq!(
            changed["revoked_certificates"][0]["revocation_reason"],
            "privilegeWithdrawn"
        );
        assert_eq!(
            changed["revoked_certificates"][0]["fingerprint"],
            issued["certificate"]["fingerprint"]
        );
        // A new certificate ends when the numbers do.
        let (_, csr) = operator_csr();
        let (_, capped) = h
            .call(
                "POST",
                "/v1/enrolments",
                Some(&token),
                Some(json!({"csr": csr, "scope": ["prefix:3361"]})),
            )
            .await;
        assert_eq!(capped["certificate"]["not_after"], tomorrow - 1, "{capped}");
        // A patch without valid_to is refused naming it.
        let (status, refused) = h
            .call(
                "PATCH",
                &format!("/v1/assignments/{assignment_id}"),
                Some(&admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["field"], "valid_to");
    }
}
