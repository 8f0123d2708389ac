//! `operators`: carriers and service providers that enrol for certificates.

use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::columns::{get_time, text_enum};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId, CountryCode, OperatorId};

text_enum!(
    /// An operator's standing.
    OperatorStatus { Active = "active", Suspended = "suspended" }
);

/// An operator (carrier or service provider).
#[derive(Debug, Clone)]
pub struct Operator {
    /// Row id.
    pub id: OperatorId,
    /// The authority it is registered with.
    pub authority_id: AuthorityId,
    /// Name, unique within the authority.
    pub name: String,
    /// Its country.
    pub country: CountryCode,
    /// Active or suspended.
    pub status: OperatorStatus,
    /// When registered.
    pub created_at: Timestamp,
}

/// The fields of a new operator.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// The registering authority.
    pub authority_id: AuthorityId,
    /// Name.
    pub name: String,
    /// Country.
    pub country: CountryCode,
}

/// The `spc` column of early schemas is no longer read or written: an operator's service
/// provider codes are its `spc:` assignments (docs/architecture.md).
const OPERATOR_COLUMNS: &str = "id, authority_id, name, country, status, created_at";

async fn fetch_operator<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: OperatorId,
) -> Result<Operator> {
    let row = sqlx::query(&format!(
        "SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("operator", id))?;
    operator_from_row(&row)
}

fn operator_from_row(row: &AnyRow) -> Result<Operator> {
    let id = OperatorId(row.try_get("id")?);
    let country: String = row.try_get("country")?;
    Ok(Operator {
        id,
        authority_id: AuthorityId(row.try_get("authority_id")?),
        name: row.try_get("name")?,
        country: CountryCode::parse(&country).ok_or_else(|| {
            StoreError::corrupt("operator country", format!("operator {id}: {country:?}"))
        })?,
        status: row.try_get::<String, _>("status")?.parse()?,
        created_at: get_time(row, "created_at")?,
    })
}

impl StoreReader {
    /// An operator by id.
    pub async fn operator(&self, id: OperatorId) -> Result<Operator> {
        fetch_operator(self.pool(), id).await
    }

    /// Operators, optionally of one authority.
    pub async fn operators(&self, authority_id: Option<AuthorityId>) -> Result<Vec<Operator>> {
        sqlx::query(&format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE ($1 IS NULL OR authority_id = $1) ORDER BY id"
        ))
        .bind(authority_id.map(|a| a.0))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(operator_from_row)
        .collect()
    }
}

impl WriteTx {
    /// An operator, read inside this transaction.
    pub async fn operator(&mut self, id: OperatorId) -> Result<Operator> {
        fetch_operator(&mut *self.tx, id).await
    }

    /// The operator that already uses this name under this authority.
    pub async fn operator_named(
        &mut self,
        authority_id: AuthorityId,
        name: &str,
    ) -> Result<Option<Operator>> {
        let row = sqlx::query(&format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE authority_id = $1 AND name = $2 \
             ORDER BY id LIMIT 1"
        ))
        .bind(authority_id.0)
        .bind(name)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(operator_from_row).transpose()
    }

    /// Registers an operator.
    pub async fn insert_operator(&mut self, new: &NewOperator, actor: &Actor) -> Result<Operator> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operators (authority_id, name, country, status, created_at) \
             VALUES ($1, $2, $3, 'active', $4) RETURNING id",
        )
        .bind(new.authority_id.0)
        .bind(&new.name)
        .bind(new.country.as_str())
        .bind(self.now_column())
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "operator.created",
            &format!("operator:{id}"),
            json!({"name": new.name,
                   "country": new.country.as_str(), "authority_id": new.authority_id}),
        )
        .await?;
        self.operator(OperatorId(id)).await
    }
}
