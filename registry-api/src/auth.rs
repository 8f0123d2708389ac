//! Bearer tokens: who is calling. The gateway decides what each caller may do
//! (`ca_service::access`); this module only turns the `Authorization` header into a
//! [`Principal`] and applies the per-token rate limit (a token that does not authenticate
//! counts against its sender's address instead), and reads the optional
//! `Idempotency-Key` header.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use ca_service::{IdempotencyKey, Principal};

use crate::problem::Problem;
use crate::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
        // RFC 9110 §11.1: the auth-scheme is case-insensitive ("bearer", "BEARER").
        let text = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let principal = match state.engine.authenticate(text).await {
            Ok(Some(principal)) => principal,
            failed => {
                // A token that does not authenticate counts against its sender's address, as
                // an anonymous call does: guessing tokens costs database reads.
                if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
                    let client = state.limits.client(peer.ip(), &parts.headers);
                    state.limits.check_address(client)?;
                }
                failed?.ok_or_else(|| unauthorized("the token is unknown or revoked"))?
            }
        };
        if let Some(token) = principal.token() {
            state.rate_limit(token.get())?;
        }
        Ok(Caller(principal))
    }
}

/// The `Idempotency-Key` request header, when sent.
#[derive(Debug, Clone)]
pub struct Idempotency(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Idempotency(None));
        };
        let bad = || {
            Problem::bad_request(
                "Idempotency-Key",
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters (no spaces)",
            )
        };
        let text = value.to_str().map_err(|_| bad())?;
        text.parse()
            .map(|key| Idempotency(Some(key)))
            .map_err(|_| bad())
    }
}

impl Idempotency {
    /// The key, for the gateway.
    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.0.as_ref()
    }
}
