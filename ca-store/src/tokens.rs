//! `api_tokens`: bearer tokens, stored only as the SHA-256 of the secret. A token grants one
//! role, scoped to an authority (authority admins) or an operator (operators).

use std::fmt;

use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::columns::{get_optional_time, get_time, time_to_column};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId, OperatorId, TokenId};

/// What a token may do, and for whom. The schema keeps the role and the two optional ids as
/// columns; this enum is the only combination of them that is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenGrant {
    /// Manages the whole hierarchy.
    RootAdmin,
    /// Manages one authority and its subtree.
    AuthorityAdmin(AuthorityId),
    /// Enrols and revokes for one operator.
    Operator(OperatorId),
    /// Reads the audit log and listings.
    Auditor,
}

impl TokenGrant {
    /// The role's stored (and API) name.
    pub fn role(self) -> &'static str {
        match self {
            Self::RootAdmin => "root-admin",
            Self::AuthorityAdmin(_) => "authority-admin",
            Self::Operator(_) => "operator",
            Self::Auditor => "auditor",
        }
    }

    fn columns(self) -> (&'static str, Option<i64>, Option<i64>) {
        match self {
            Self::RootAdmin => ("root-admin", None, None),
            Self::AuthorityAdmin(a) => ("authority-admin", Some(a.0), None),
            Self::Operator(o) => ("operator", None, Some(o.0)),
            Self::Auditor => ("auditor", None, None),
        }
    }

    fn from_columns(
        id: TokenId,
        role: &str,
        authority: Option<i64>,
        operator: Option<i64>,
    ) -> Result<Self> {
        match (role, authority, operator) {
            ("root-admin", None, None) => Ok(Self::RootAdmin),
            ("authority-admin", Some(a), None) => Ok(Self::AuthorityAdmin(AuthorityId(a))),
            ("operator", None, Some(o)) => Ok(Self::Operator(OperatorId(o))),
            ("auditor", None, None) => Ok(Self::Auditor),
            _ => Err(StoreError::corrupt(
                "token grant",
                format!("token {id}: role {role:?} with authority {authority:?} and operator {operator:?}"),
            )),
        }
    }
}

impl fmt::Display for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.role())
    }
}

/// The SHA-256 of a token's secret text: all the store ever keeps of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// An API token (its secret is never stored, only its SHA-256).
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// Row id.
    pub id: TokenId,
    /// What it may do.
    pub grant: TokenGrant,
    /// A name for people.
    pub label: String,
    /// When created.
    pub created_at: Timestamp,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
    /// When it stops working (`None`: when revoked).
    pub expires_at: Option<Timestamp>,
}

impl ApiToken {
    /// Whether it has expired at `now`.
    pub fn expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The fields of a new API token.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// SHA-256 of the secret.
    pub hash: TokenHash,
    /// What it may do.
    pub grant: TokenGrant,
    /// Label.
    pub label: String,
    /// When it stops working (`None`: when revoked).
    pub expires_at: Option<Timestamp>,
}

const TOKEN_COLUMNS: &str =
    "id, role, authority_id, operator_id, label, created_at, revoked_at, expires_at";

async fn fetch_token<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: TokenId,
) -> Result<ApiToken> {
    let row = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("token", id))?;
    token_from_row(&row)
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken> {
    let id = TokenId(row.try_get("id")?);
    let role: String = row.try_get("role")?;
    Ok(ApiToken {
        id,
        grant: TokenGrant::from_columns(
            id,
            &role,
            row.try_get("authority_id")?,
            row.try_get("operator_id")?,
        )?,
        label: row.try_get("label")?,
        created_at: get_time(row, "created_at")?,
        revoked_at: get_optional_time(row, "revoked_at")?,
        expires_at: get_optional_time(row, "expires_at")?,
    })
}

impl StoreReader {
    /// The live (not revoked) token with this secret hash, if any.
    pub async fn live_token(&self, hash: &TokenHash) -> Result<Option<ApiToken>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(hex::encode(hash.0))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// A token by id.
    pub async fn token(&self, id: TokenId) -> Result<ApiToken> {
        fetch_token(self.pool(), id).await
    }

    /// Every token with this grant, revoked and expired ones included, oldest first.
    pub async fn tokens_with_grant(&self, grant: TokenGrant) -> Result<Vec<ApiToken>> {
        let (role, authority, operator) = grant.columns();
        // `IS NOT DISTINCT FROM` would read better but SQLite spells it `IS`: compare through
        // COALESCE (ids are positive) so that one statement serves both databases.
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE role = $1 \
             AND COALESCE(authority_id, 0) = $2 AND COALESCE(operator_id, 0) = $3 ORDER BY id"
        ))
        .bind(role)
        .bind(authority.unwrap_or(0))
        .bind(operator.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }
}

impl WriteTx {
    /// Stores a new API token (its hash).
    pub async fn insert_token(&mut self, new: &NewApiToken, actor: &Actor) -> Result<ApiToken> {
        let (role, authority, operator) = new.grant.columns();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (token_hash, role, authority_id, operator_id, label, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(hex::encode(new.hash.0))
        .bind(role)
        .bind(authority)
        .bind(operator)
        .bind(&new.label)
        .bind(self.now_column())
        .bind(new.expires_at.map(time_to_column))
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "token.created",
            &format!("token:{id}"),
            json!({"role": role, "authority_id": authority, "operator_id": operator, "label": new.label,
                   "expires_at": new.expires_at.map(time_to_column)}),
        )
        .await?;
        fetch_token(&mut *self.tx, TokenId(id)).await
    }

    /// A token, read inside this transaction.
    pub async fn token(&mut self, id: TokenId) -> Result<ApiToken> {
        fetch_token(&mut *self.tx, id).await
    }

    /// Revokes an API token; revoking a revoked token changes nothing and returns it.
    pub async fn revoke_token(&mut self, id: TokenId, actor: &Actor) -> Result<ApiToken> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(self.now_column())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 1 {
            self.audit(actor, "token.revoked", &format!("token:{id}"), json!({}))
                .await?;
        }
        self.token(id).await
    }
}
