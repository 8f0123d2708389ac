//! Bearer tokens and who may do what.
//!
//! A token is 32 random octets (256 bits), shown once as `tsca_` + base64url; the store keeps
//! only the SHA-256 of the text. Roles (DESIGN §1): root-admin (everything), authority-admin
//! (its authority and the authorities below it, their operators and certificates), operator
//! (its own account), auditor (the audit log and read-only listings).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use base64::Engine as _;
use ca_store::{Actor, ApiToken, Authority, Role, Store};
use rand_core::{OsRng, RngCore};

use crate::problem::{ApiResult, Problem};
use crate::AppState;

/// A new token secret and the hash to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = format!(
        "tsca_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = token_hash(&secret);
    (secret, hash)
}

/// Lower-case hex SHA-256 of a token's text.
pub fn token_hash(secret: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        secret.as_bytes(),
    ))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its token.
    pub token: ApiToken,
}

impl Caller {
    /// The audit actor.
    pub fn actor(&self) -> Actor {
        Actor::token(self.token.id, self.token.role)
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.token.role
    }

    /// Refuses unless the role is one of `roles`.
    pub fn require(&self, roles: &[Role]) -> ApiResult<()> {
        if roles.contains(&self.token.role) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "a {} token cannot do this; it needs one of: {}",
                self.token.role,
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Refuses unless the caller administers `authority_id` (root admins administer all;
    /// authority admins their authority and its descendants).
    pub async fn require_admin_of(&self, store: &Store, authority_id: i64) -> ApiResult<()> {
        match self.token.role {
            // Root admins administer everything that exists.
            Role::RootAdmin => store
                .authority(authority_id)
                .await
                .map(|_| ())
                .map_err(Into::into),
            Role::AuthorityAdmin => {
                let Some(mine) = self.token.authority_id else {
                    return Err(Problem::forbidden(
                        "this authority-admin token names no authority",
                    ));
                };
                if is_in_subtree(store, mine, authority_id).await? {
                    Ok(())
                } else {
                    Err(Problem::forbidden(format!(
                        "authority {authority_id} is outside the subtree this token administers"
                    )))
                }
            }
            _ => Err(Problem::forbidden(format!(
                "a {} token cannot administer authorities",
                self.token.role
            ))),
        }
    }

    /// Refuses unless the caller acts for `operator_id` itself or administers its authority.
    pub async fn require_operator_access(&self, store: &Store, operator_id: i64) -> ApiResult<()> {
        match self.token.role {
            Role::Operator if self.token.operator_id == Some(operator_id) => Ok(()),
            Role::Operator => Err(Problem::forbidden(
                "an operator token acts only for its own operator",
            )),
            _ => {
                let operator = store.operator(operator_id).await?;
                self.require_admin_of(store, operator.authority_id).await
            }
        }
    }
}

/// True when `candidate` is `root` or below it.
pub async fn is_in_subtree(store: &Store, root: i64, candidate: i64) -> ApiResult<bool> {
    let mut current = Some(candidate);
    let mut depth = 0;
    while let Some(id) = current {
        if id == root {
            return Ok(true);
        }
        let authority: Authority = store.authority(id).await?;
        current = authority.parent_id;
        depth += 1;
        if depth > 16 {
            break;
        }
    }
    Ok(false)
}

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
        let text = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let token = state
            .engine
            .store()
            .token_by_hash(&token_hash(text))
            .await?
            .ok_or_else(|| unauthorized("the token is unknown or revoked"))?;
        state.rate_limit(token.id)?;
        Ok(Caller { token })
    }
}
