//! Operators and API tokens: registering an operator (with its first token, in the same
//! transaction), issuing and revoking tokens, and turning a presented token into a
//! [`Principal`].

use ca_store::{
    ApiToken, AuthorityId, CountryCode, NewApiToken, NewOperator, Operator, OperatorId, TokenGrant,
    TokenId,
};
use serde_json::json;

use crate::access::{hash_presented, Principal, TokenSecret};
use crate::error::{ServiceError, ServiceResult};
use crate::idempotency::{record, Answer, Begun, IdempotencyKey, Produced};
use crate::Engine;

/// What [`Engine::create_operator`] is asked.
#[derive(Debug, Clone)]
pub struct OperatorRequest {
    /// The registering authority.
    pub authority_id: AuthorityId,
    /// Name, unique within the authority (1–64 characters).
    pub name: String,
    /// ISO 3166 alpha-2 country code in capitals.
    pub country: String,
}

/// A token as created: its record and, the first time only, its secret.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token.
    pub token: ApiToken,
    /// The secret, shown once; `None` when an Idempotency-Key replays the creation (the
    /// secret was only ever in the first answer).
    pub secret: Option<TokenSecret>,
}

/// A registered operator and its first token.
#[derive(Debug)]
pub struct CreatedOperator {
    /// The operator.
    pub operator: Operator,
    /// Its first token.
    pub token: IssuedToken,
}

/// What a token is asked for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// What it may do.
    pub grant: TokenGrant,
    /// A name for people (defaults to the role's).
    pub label: Option<String>,
    /// How long it lives; `None`: the service's default for operator tokens, else until
    /// revoked.
    pub lifetime: Option<std::time::Duration>,
}

/// The longest lifetime a token may be given: ten years.
const MAX_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3650 * 86_400);

impl Engine {
    /// The principal of a presented token, or `None` when it is unknown or revoked; an
    /// expired token is [`ServiceError::TokenExpired`].
    pub async fn authenticate(&self, presented: &str) -> ServiceResult<Option<Principal>> {
        let Some(token) = self.reader().live_token(&hash_presented(presented)).await? else {
            return Ok(None);
        };
        match token.expires_at {
            Some(at) if token.expired_at(self.now()) => Err(ServiceError::TokenExpired { at }),
            _ => Ok(Some(Principal::of_token(&token))),
        }
    }

    /// When a token asked for with `lifetime` (and `grant`) created now expires.
    fn token_expiry(
        &self,
        grant: TokenGrant,
        lifetime: Option<std::time::Duration>,
    ) -> ServiceResult<Option<jiff::Timestamp>> {
        let lifetime = match (lifetime, grant) {
            (Some(l), _) => Some(l),
            (None, TokenGrant::Operator(_)) => self.config().operator_token_lifetime,
            (None, _) => None,
        };
        let Some(lifetime) = lifetime else {
            return Ok(None);
        };
        if lifetime.is_zero() || lifetime > MAX_TOKEN_LIFETIME {
            return Err(ServiceError::invalid(
                "valid_days",
                "a token lives 1 to 3650 days (or omit valid_days)",
            ));
        }
        Ok(Some(crate::clock::after(self.now(), lifetime)))
    }

    /// Registers an operator and creates its first token.
    pub async fn create_operator(
        &self,
        who: &Principal,
        request: OperatorRequest,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<CreatedOperator>> {
        self.access()
            .require_admin_of(who, request.authority_id)
            .await?;
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ServiceError::invalid(
                "name",
                "the name must be 1 to 64 characters",
            ));
        }
        let country = CountryCode::parse(&request.country).ok_or_else(|| {
            ServiceError::invalid(
                "country",
                "use the ISO 3166 alpha-2 code in capitals, e.g. FR",
            )
        })?;
        let canonical = json!({"authority_id": request.authority_id, "name": name,
            "country": country.as_str()});
        let (mut tx, claim) = match self
            .begin_once(self.now(), who, key, "operator.create", &canonical)
            .await?
        {
            Begun::Replay(produced) => {
                return self.replay_operator(produced).await.map(Answer::replayed)
            }
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        if let Some(existing) = tx.operator_named(request.authority_id, name).await? {
            return Err(ServiceError::conflict_with(
                "operator",
                existing.id,
                format!(
                    "operator {} already has the name {:?} under this authority",
                    existing.id, existing.name
                ),
            ));
        }
        let actor = who.actor();
        let operator = tx
            .insert_operator(
                &NewOperator {
                    authority_id: request.authority_id,
                    name: name.to_owned(),
                    country,
                },
                &actor,
            )
            .await?;
        let secret = TokenSecret::generate(self.entropy());
        let token = tx
            .insert_token(
                &NewApiToken {
                    hash: secret.hash(),
                    grant: TokenGrant::Operator(operator.id),
                    label: format!("{} first token", operator.name),
                    expires_at: self.token_expiry(TokenGrant::Operator(operator.id), None)?,
                },
                &actor,
            )
            .await?;
        record(claim, &mut tx, Produced::Operator(operator.id, token.id)).await?;
        tx.commit().await?;
        Ok(Answer::fresh(CreatedOperator {
            operator,
            token: IssuedToken {
                token,
                secret: Some(secret),
            },
        }))
    }

    async fn replay_operator(&self, produced: Produced) -> ServiceResult<CreatedOperator> {
        let Produced::Operator(id, token) = produced else {
            return Err(ServiceError::internal(format!(
                "operator key recorded {produced:?}"
            )));
        };
        Ok(CreatedOperator {
            operator: self.reader().operator(id).await?,
            token: IssuedToken {
                token: self.reader().token(token).await?,
                secret: None,
            },
        })
    }

    /// Creates a token. Root admins create any; an authority admin creates admin tokens for
    /// its subtree and tokens for their operators.
    pub async fn create_token(
        &self,
        who: &Principal,
        request: TokenRequest,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<IssuedToken>> {
        match request.grant {
            TokenGrant::RootAdmin | TokenGrant::Auditor if !who.is_root() => {
                return Err(ServiceError::forbidden(format!(
                    "only a root admin creates {} tokens",
                    request.grant
                )))
            }
            TokenGrant::RootAdmin | TokenGrant::Auditor => {}
            TokenGrant::AuthorityAdmin(authority) => {
                self.access().require_admin_of(who, authority).await?;
            }
            TokenGrant::Operator(operator) => {
                let operator = self.reader().operator(operator).await?;
                self.access()
                    .require_admin_of(who, operator.authority_id)
                    .await?;
            }
        }
        let label = request
            .label
            .clone()
            .unwrap_or_else(|| format!("{} token", request.grant));
        if label.chars().count() > 200 {
            return Err(ServiceError::invalid(
                "label",
                "the label must be at most 200 characters",
            ));
        }
        let expires_at = self.token_expiry(request.grant, request.lifetime)?;
        let canonical = json!({"grant": format!("{:?}", request.grant), "label": label,
            "lifetime_seconds": request.lifetime.map(|l| l.as_secs())});
        let (mut tx, claim) = match self
            .begin_once(self.now(), who, key, "token.create", &canonical)
            .await?
        {
            Begun::Replay(Produced::Token(id)) => {
                return Ok(Answer::replayed(IssuedToken {
                    token: self.reader().token(id).await?,
                    secret: None,
                }))
            }
            Begun::Replay(other) => {
                return Err(ServiceError::internal(format!(
                    "token key recorded {other:?}"
                )))
            }
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let secret = TokenSecret::generate(self.entropy());
        let token = tx
            .insert_token(
                &NewApiToken {
                    hash: secret.hash(),
                    grant: request.grant,
                    label,
                    expires_at,
                },
                &who.actor(),
            )
            .await?;
        record(claim, &mut tx, Produced::Token(token.id)).await?;
        tx.commit().await?;
        Ok(Answer::fresh(IssuedToken {
            token,
            secret: Some(secret),
        }))
    }

    /// The tokens with one grant, revoked and expired ones included (never their secrets):
    /// an operator's tokens to the operator itself and to the admins of its authority, an
    /// authority's admin tokens to the admins above and within it, root-admin and auditor
    /// tokens to root admins. Auditors read them all.
    pub async fn tokens(&self, who: &Principal, grant: TokenGrant) -> ServiceResult<Vec<ApiToken>> {
        let auditor = matches!(who, Principal::Auditor { .. });
        match grant {
            TokenGrant::Operator(operator) => {
                self.access().require_operator_read(who, operator).await?;
            }
            TokenGrant::AuthorityAdmin(authority) if auditor => {
                self.reader().authority(authority).await?;
            }
            TokenGrant::AuthorityAdmin(authority) => {
                self.access().require_admin_of(who, authority).await?;
            }
            TokenGrant::RootAdmin | TokenGrant::Auditor if auditor || who.is_root() => {}
            TokenGrant::RootAdmin | TokenGrant::Auditor => {
                return Err(ServiceError::forbidden(format!(
                    "only root admins and auditors list {grant} tokens"
                )))
            }
        }
        Ok(self.reader().tokens_with_grant(grant).await?)
    }

    /// Revokes a token. Root admins revoke any; an operator its own token; an authority admin
    /// the tokens of its subtree and of their operators. Revoking a revoked token changes
    /// nothing.
    pub async fn revoke_token(
        &self,
        who: &Principal,
        id: TokenId,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<ApiToken>> {
        if matches!(who, Principal::Auditor { .. }) {
            return Err(ServiceError::forbidden("auditors cannot revoke tokens"));
        }
        // "No such token" and "not a token you may revoke" answer the same, so that token ids
        // cannot be probed.
        let hidden = || ServiceError::NotFound {
            what: "token",
            key: format!("{id} (or not one this token may revoke)"),
        };
        let token = match self.reader().token(id).await {
            Ok(token) => token,
            Err(ca_store::StoreError::NotFound { .. }) => return Err(hidden()),
            Err(e) => return Err(e.into()),
        };
        let allowed = match who {
            _ if who.is_root() => true,
            Principal::Operator { token: mine, .. } => token.id == *mine,
            Principal::AuthorityAdmin { .. } => match token.grant {
                TokenGrant::AuthorityAdmin(authority) => {
                    self.access().require_admin_of(who, authority).await.is_ok()
                }
                TokenGrant::Operator(operator) => self
                    .access()
                    .require_operator_access(who, operator)
                    .await
                    .is_ok(),
                _ => false,
            },
            _ => false,
        };
        if !allowed {
            return Err(hidden());
        }
        let (mut tx, claim) = match self
            .begin_once(self.now(), who, key, "token.revoke", &json!({"token": id}))
            .await?
        {
            Begun::Replay(_) => return Ok(Answer::replayed(self.reader().token(id).await?)),
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let revoked = tx.revoke_token(id, &who.actor()).await?;
        if tx.has_changes() {
            record(claim, &mut tx, Produced::Token(id)).await?;
        }
        tx.commit().await?;
        Ok(Answer::fresh(revoked))
    }

    /// The operator a principal acts for, if it is an operator.
    pub fn operator_of(who: &Principal) -> Option<OperatorId> {
        match who {
            Principal::Operator { operator, .. } => Some(*operator),
            _ => None,
        }
    }
}
