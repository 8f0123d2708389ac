//! Who is asking, and what they may do.
//!
//! A [`Principal`] is what an API token (or the command line) stands for. The gateway checks
//! every operation against it, so the rules hold for every front end alike: root admins
//! manage everything; an authority admin its authority and the authorities below it, with
//! their operators and certificates; an operator its own account; an auditor reads.
//! `Local` is a person at the command line of a CA node (the quickstart, `tsca bootstrap`),
//! who has the root admin's rights and is audited as `cli:…`.
//!
//! Tokens are 32 random octets shown once as `tsca_` + base64url; the store keeps only the
//! SHA-256 of that text.

use std::fmt;

use base64::Engine as _;
use ca_store::{
    Actor, ApiToken, AuthorityId, OperatorId, StoreReader, TokenGrant, TokenHash, TokenId,
};
use zeroize::Zeroizing;

use crate::clock::Entropy;
use crate::error::{ServiceError, ServiceResult};

/// The authenticated caller of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A root-admin token.
    RootAdmin {
        /// The token.
        token: TokenId,
    },
    /// An authority-admin token.
    AuthorityAdmin {
        /// The token.
        token: TokenId,
        /// The authority it administers (with its subtree).
        authority: AuthorityId,
    },
    /// An operator token.
    Operator {
        /// The token.
        token: TokenId,
        /// The operator it acts for.
        operator: OperatorId,
    },
    /// An auditor token.
    Auditor {
        /// The token.
        token: TokenId,
    },
    /// A person at the command line of a CA node: root-admin rights.
    Local {
        /// Which command ("quickstart", "bootstrap").
        command: &'static str,
    },
    /// tsca itself (reconciliation, sweeps).
    System,
}

impl Principal {
    /// The principal of a live token.
    pub fn of_token(token: &ApiToken) -> Self {
        match token.grant {
            TokenGrant::RootAdmin => Self::RootAdmin { token: token.id },
            TokenGrant::AuthorityAdmin(authority) => Self::AuthorityAdmin {
                token: token.id,
                authority,
            },
            TokenGrant::Operator(operator) => Self::Operator {
                token: token.id,
                operator,
            },
            TokenGrant::Auditor => Self::Auditor { token: token.id },
        }
    }

    /// How the audit log names it.
    pub fn actor(&self) -> Actor {
        match self {
            Self::RootAdmin { token }
            | Self::AuthorityAdmin { token, .. }
            | Self::Operator { token, .. }
            | Self::Auditor { token } => Actor::token(*token, self.role()),
            Self::Local { command } => Actor::cli(command),
            Self::System => Actor::system(),
        }
    }

    /// The role's name ("root-admin", …).
    pub fn role(&self) -> &'static str {
        match self {
            Self::RootAdmin { .. } | Self::Local { .. } => "root-admin",
            Self::AuthorityAdmin { .. } => "authority-admin",
            Self::Operator { .. } => "operator",
            Self::Auditor { .. } => "auditor",
            Self::System => "system",
        }
    }

    /// The token it authenticated with, if any (rate limits are per token).
    pub fn token(&self) -> Option<TokenId> {
        match self {
            Self::RootAdmin { token }
            | Self::AuthorityAdmin { token, .. }
            | Self::Operator { token, .. }
            | Self::Auditor { token } => Some(*token),
            Self::Local { .. } | Self::System => None,
        }
    }

    /// The account whose Idempotency-Keys this principal shares: an operator's tokens share
    /// the operator's keys; every other token is an account of its own.
    pub(crate) fn idempotency_scope(&self) -> String {
        match self {
            Self::Operator { operator, .. } => format!("operator:{operator}"),
            Self::RootAdmin { token }
            | Self::AuthorityAdmin { token, .. }
            | Self::Auditor { token } => format!("token:{token}"),
            Self::Local { command } => format!("cli:{command}"),
            Self::System => "system".into(),
        }
    }

    /// True for root admins and the command line.
    pub fn is_root(&self) -> bool {
        matches!(
            self,
            Self::RootAdmin { .. } | Self::Local { .. } | Self::System
        )
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.actor().as_str())
    }
}

/// A token's secret text, shown once when the token is created.
pub struct TokenSecret(Zeroizing<String>);

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(..)")
    }
}

impl TokenSecret {
    /// A new secret: 32 random octets.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        entropy.fill(bytes.as_mut());
        Self(Zeroizing::new(format!(
            "tsca_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
        )))
    }

    /// The text, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps of it.
    pub fn hash(&self) -> TokenHash {
        hash_presented(&self.0)
    }
}

/// The SHA-256 of a presented token's text.
pub(crate) fn hash_presented(text: &str) -> TokenHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    TokenHash(out)
}

/// True when `candidate` is `root` or below it.
pub(crate) async fn is_in_subtree(
    reader: &StoreReader,
    root: AuthorityId,
    candidate: AuthorityId,
) -> ServiceResult<bool> {
    let mut current = Some(candidate);
    let mut depth = 0;
    while let Some(id) = current {
        if id == root {
            return Ok(true);
        }
        current = reader.authority(id).await?.parent_id;
        depth += 1;
        if depth > 16 {
            break;
        }
    }
    Ok(false)
}

/// The permission checks, over the read face.
pub(crate) struct Access<'a> {
    pub(crate) reader: &'a StoreReader,
}

impl Access<'_> {
    /// Refuses unless the principal has one of these roles.
    pub(crate) fn require_role(
        &self,
        who: &Principal,
        roles: &[&'static str],
    ) -> ServiceResult<()> {
        if roles.contains(&who.role()) {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!(
                "a {} token cannot do this; it needs one of: {}",
                who.role(),
                roles.join(", ")
            )))
        }
    }

    /// Refuses unless the principal administers `authority` (root admins administer all
    /// that exists; authority admins their authority and its descendants).
    pub(crate) async fn require_admin_of(
        &self,
        who: &Principal,
        authority: AuthorityId,
    ) -> ServiceResult<()> {
        match who {
            _ if who.is_root() => self
                .reader
                .authority(authority)
                .await
                .map(|_| ())
                .map_err(Into::into),
            Principal::AuthorityAdmin {
                authority: mine, ..
            } => {
                if is_in_subtree(self.reader, *mine, authority).await? {
                    Ok(())
                } else {
                    Err(ServiceError::forbidden(format!(
                        "authority {authority} is outside the subtree this token administers"
                    )))
                }
            }
            other => Err(ServiceError::forbidden(format!(
                "a {} token cannot administer authorities",
                other.role()
            ))),
        }
    }

    /// Refuses unless the principal acts for `operator` itself or administers its authority.
    pub(crate) async fn require_operator_access(
        &self,
        who: &Principal,
        operator: OperatorId,
    ) -> ServiceResult<()> {
        match who {
            Principal::Operator { operator: mine, .. } if *mine == operator => Ok(()),
            Principal::Operator { .. } => Err(ServiceError::forbidden(
                "an operator token acts only for its own operator",
            )),
            _ => {
                let record = self.reader.operator(operator).await?;
                self.require_admin_of(who, record.authority_id).await
            }
        }
    }

    /// Like [`Access::require_operator_access`], but auditors may read too.
    pub(crate) async fn require_operator_read(
        &self,
        who: &Principal,
        operator: OperatorId,
    ) -> ServiceResult<()> {
        if matches!(who, Principal::Auditor { .. }) {
            self.reader.operator(operator).await?;
            return Ok(());
        }
        self.require_operator_access(who, operator).await
    }
}
