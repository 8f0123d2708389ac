//! `crls`: every CRL published, by authority and cRLNumber (strictly increasing per
//! authority). Each records the issuer's revocation count it was built from
//! ([`crate::Authority::revocation_seq`]), so a CRL that misses a revocation is recognised.

use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::columns::{get_time, time_to_column};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId};

/// A published CRL.
#[derive(Debug, Clone)]
pub struct CrlRecord {
    /// Issuing authority.
    pub authority_id: AuthorityId,
    /// cRLNumber.
    pub crl_number: i64,
    /// DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
    /// The issuer's revocation count when its entries were read.
    pub revocation_seq: i64,
}

fn crl_from_row(row: &AnyRow) -> Result<CrlRecord> {
    Ok(CrlRecord {
        authority_id: AuthorityId(row.try_get("authority_id")?),
        crl_number: row.try_get("crl_number")?,
        der: row.try_get("der")?,
        this_update: get_time(row, "this_update")?,
        next_update: get_time(row, "next_update")?,
        revocation_seq: row.try_get("revocation_seq")?,
    })
}

impl StoreReader {
    /// The latest CRL of an authority.
    pub async fn latest_crl(&self, authority_id: AuthorityId) -> Result<Option<CrlRecord>> {
        let row = sqlx::query(
            "SELECT authority_id, crl_number, der, this_update, next_update, revocation_seq \
             FROM crls WHERE authority_id = $1 ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(authority_id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(crl_from_row).transpose()
    }

    /// The next cRLNumber for an authority (one more than the last published).
    pub async fn next_crl_number(&self, authority_id: AuthorityId) -> Result<i64> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(crl_number) FROM crls WHERE authority_id = $1")
                .bind(authority_id.0)
                .fetch_one(self.pool())
                .await?;
        Ok(last.unwrap_or(0) + 1)
    }

    /// Online authorities whose latest CRL is missing, misses a revocation, or is past half
    /// its validity at `at`: the CRLs to publish now. Retired authorities included: their
    /// certificates stay out there until they expire, so their CRLs must stay fresh. SHAKEN
    /// CAs sign no CRLs of their own.
    pub async fn authorities_needing_crl(&self, at: Timestamp) -> Result<Vec<AuthorityId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT a.id FROM authorities a LEFT JOIN crls c ON c.authority_id = a.id \
             AND c.crl_number = (SELECT MAX(crl_number) FROM crls WHERE authority_id = a.id) \
             WHERE a.key_id IS NOT NULL AND a.status IN ('active', 'retired') \
             AND a.profile_family = 'tsca' AND (c.crl_number IS NULL \
             OR c.revocation_seq < a.revocation_seq \
             OR $1 >= c.this_update + (c.next_update - c.this_update) / 2) ORDER BY a.id",
        )
        .bind(time_to_column(at))
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(AuthorityId).collect())
    }
}

impl WriteTx {
    /// Stores a published CRL. A cRLNumber already used is a Conflict (another instance
    /// published first: the caller takes the next number), and so is a CRL built from an older
    /// read than the latest one (the caller builds it again).
    pub async fn insert_crl(&mut self, crl: &CrlRecord, actor: &Actor) -> Result<()> {
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT crl_number FROM crls WHERE authority_id = $1 AND crl_number = $2",
        )
        .bind(crl.authority_id.0)
        .bind(crl.crl_number)
        .fetch_optional(&mut *self.tx)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "cRLNumber {} is already published for authority {}",
                crl.crl_number, crl.authority_id
            )));
        }
        // A CRL built from an older read must not become the latest after one that lists more:
        // numbers are drawn before signing, so a slow publisher can hold a higher number than
        // a faster one that saw more revocations.
        // Because of this check, revocation_seq never decreases along cRLNumber, so the latest
        // CRL (found through the primary key) is the one to compare with.
        let latest: Option<(i64, i64)> = sqlx::query_as(
            "SELECT crl_number, revocation_seq FROM crls WHERE authority_id = $1 \
             ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(crl.authority_id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some((newer, _)) = latest.filter(|(_, seq)| *seq > crl.revocation_seq) {
            return Err(StoreError::Conflict(format!(
                "cRLNumber {newer} of authority {} already lists revocations this CRL (built at \
                 revocation {}) misses",
                crl.authority_id, crl.revocation_seq
            )));
        }
        sqlx::query(
            "INSERT INTO crls (authority_id, crl_number, der, this_update, next_update, revocation_seq) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(crl.authority_id.0)
        .bind(crl.crl_number)
        .bind(crl.der.clone())
        .bind(time_to_column(crl.this_update))
        .bind(time_to_column(crl.next_update))
        .bind(crl.revocation_seq)
        .execute(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "crl.published",
            &format!("authority:{}", crl.authority_id),
            json!({"crl_number": crl.crl_number, "revocation_seq": crl.revocation_seq,
                   "next_update": time_to_column(crl.next_update)}),
        )
        .await?;
        Ok(())
    }
}
