//! Tokens may expire (docs/operations.md, "Rotation"): a token asked for with a lifetime, or
//! an operator token under the service's default lifetime, stops authenticating at its end
//! with an error that says so; a lifetime out of range is refused and leaves nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use ca_service::{EngineConfig, OperatorRequest, ServiceError, TokenRequest};
use ca_store::{ApprovalPolicy, TokenGrant};
use common::{engine_with, on_every_backend, test_config, ROOT};

const DAY: Duration = Duration::from_secs(86_400);

/// An operator token asked for with `lifetime`.
fn operator_token(operator: ca_store::OperatorId, lifetime: Option<Duration>) -> TokenRequest {
    TokenRequest {
        grant: TokenGrant::Operator(operator),
        label: None,
        lifetime,
    }
}

#[tokio::test]
async fn a_token_stops_working_at_its_end() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let (operator, _) = w.operator("Expiring Telecom", "F0009").await;
        let issued = w
            .engine
            .create_token(&ROOT, operator_token(operator, Some(DAY)), None)
            .await
            .unwrap()
            .value;
        let expires_at = issued.token.expires_at.expect("a lifetime was asked for");
        let secret = issued.secret.unwrap();
        assert!(w
            .engine
            .authenticate(secret.expose())
            .await
            .unwrap()
            .is_some());
        w.clock.advance(DAY + Duration::from_secs(1));
        let err = w.engine.authenticate(secret.expose()).await.unwrap_err();
        assert!(
            matches!(err, ServiceError::TokenExpired { at } if at == expires_at),
            "{err}"
        );
        assert!(err.to_string().contains("ask whoever issued it"), "{err}");

        // Out of range: refused, nothing written.
        let before = w.footprint().await;
        for lifetime in [Duration::ZERO, 3651 * DAY] {
            let err = w
                .engine
                .create_token(&ROOT, operator_token(operator, Some(lifetime)), None)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("1 to 3650 days"), "{err}");
            assert!(
                matches!(
                    err,
                    ServiceError::Invalid {
                        field: "valid_days",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        assert_eq!(w.footprint().await, before);
    })
    .await;
}

#[tokio::test]
async fn operator_tokens_take_the_service_default_lifetime() {
    on_every_backend(ApprovalPolicy::WithinAssignments, |w| async move {
        let engine = engine_with(
            w.store.clone(),
            &w.clock,
            EngineConfig {
                operator_token_lifetime: Some(30 * DAY),
                ..test_config()
            },
        );
        let created = engine
            .create_operator(
                &ROOT,
                OperatorRequest {
                    authority_id: w.national,
                    name: "Default Lifetime".into(),
                    country: "FR".into(),
                },
                None,
            )
            .await
            .unwrap()
            .value;
        let expires_at = created.token.token.expires_at.expect("the default applies");
        assert_eq!(
            expires_at.as_second() - created.token.token.created_at.as_second(),
            30 * 86_400
        );
        // Admin tokens live until revoked unless asked otherwise.
        let admin = engine
            .create_token(
                &ROOT,
                TokenRequest {
                    grant: TokenGrant::AuthorityAdmin(w.national),
                    label: None,
                    lifetime: None,
                },
                None,
            )
            .await
            .unwrap()
            .value;
        assert!(admin.token.expires_at.is_none());
    })
    .await;
}
