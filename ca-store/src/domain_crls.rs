//! `crl_signers` and `domain_crls`: the SHAKEN domain CRL (docs/profiles.md, "The domain
//! CRL"). A SHAKEN hierarchy's CAs may not sign CRLs, so one signer — a key held here, its
//! certificate signed by the root in its ceremony — signs an indirect CRL listing every
//! revoked certificate of the domain.
//!
//! A signer is `pending` from its key's creation until the root's certificate for it is
//! installed, then `active`; installing a successor makes the old one `superseded`. Each
//! domain CRL records the domain's revocation count it was built from
//! ([`StoreReader::domain_seq`]), so one that misses a revocation is recognised, as for
//! [`crate::CrlRecord`].

use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::columns::{get_optional_time, get_time, id_type, text_enum, time_to_column};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId, KeyId};

id_type!(
    /// A domain CRL signer (`crl_signers.id`).
    CrlSignerId
);

text_enum!(
    /// Where a domain CRL signer is in its life.
    CrlSignerStatus {
        /// Its key and CSR exist; the root has not certified it yet.
        Pending = "pending",
        /// Certified and installed: it signs the domain CRL.
        Active = "active",
        /// Replaced by a newer signer.
        Superseded = "superseded",
    }
);

/// A domain CRL signer.
#[derive(Debug, Clone)]
pub struct CrlSigner {
    /// Row id.
    pub id: CrlSignerId,
    /// The SHAKEN root whose domain it signs for.
    pub root_id: AuthorityId,
    /// Its key, held here.
    pub key_id: KeyId,
    /// The CSR for the root's ceremony.
    pub csr_der: Vec<u8>,
    /// The root's certificate for it, once installed.
    pub certificate_der: Option<Vec<u8>>,
    /// Pending, active or superseded.
    pub status: CrlSignerStatus,
    /// When its key was made.
    pub created_at: Timestamp,
    /// When its certificate was installed.
    pub installed_at: Option<Timestamp>,
}

/// A published domain CRL.
#[derive(Debug, Clone)]
pub struct DomainCrl {
    /// The SHAKEN root of the domain.
    pub root_id: AuthorityId,
    /// cRLNumber.
    pub crl_number: i64,
    /// DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
    /// The domain's revocation count when its entries were read.
    pub domain_seq: i64,
    /// The signer that signed it.
    pub signer_id: CrlSignerId,
}

const SIGNER_COLUMNS: &str =
    "id, root_id, key_id, csr_der, certificate_der, status, created_at, installed_at";
const CRL_COLUMNS: &str =
    "root_id, crl_number, der, this_update, next_update, domain_seq, signer_id";

/// The domain's revocation count: every SHAKEN authority's revocation_seq, plus the root's
/// latest installed cRLNumber (the root signs offline; each of its CRLs may list more). Both
/// only grow, so the sum changes whenever an entry may have appeared. One SHAKEN domain per
/// registry (docs/profiles.md), so the domain is every SHAKEN-family authority.
/// (PostgreSQL sums BIGINTs as NUMERIC, hence the cast.)
const DOMAIN_SEQ: &str = "CAST((SELECT COALESCE(SUM(revocation_seq), 0) FROM authorities \
     WHERE profile_family = 'shaken') + (SELECT COALESCE(MAX(crl_number), 0) FROM crls \
     WHERE authority_id = $1) AS BIGINT)";

fn signer_from_row(row: &AnyRow) -> Result<CrlSigner> {
    Ok(CrlSigner {
        id: CrlSignerId(row.try_get("id")?),
        root_id: AuthorityId(row.try_get("root_id")?),
        key_id: KeyId(row.try_get("key_id")?),
        csr_der: row.try_get("csr_der")?,
        certificate_der: row.try_get("certificate_der")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        created_at: get_time(row, "created_at")?,
        installed_at: get_optional_time(row, "installed_at")?,
    })
}

fn crl_from_row(row: &AnyRow) -> Result<DomainCrl> {
    Ok(DomainCrl {
        root_id: AuthorityId(row.try_get("root_id")?),
        crl_number: row.try_get("crl_number")?,
        der: row.try_get("der")?,
        this_update: get_time(row, "this_update")?,
        next_update: get_time(row, "next_update")?,
        domain_seq: row.try_get("domain_seq")?,
        signer_id: CrlSignerId(row.try_get("signer_id")?),
    })
}

impl StoreReader {
    /// The root's signer in `status` (there is at most one pending and one active).
    pub async fn crl_signer(
        &self,
        root_id: AuthorityId,
        status: CrlSignerStatus,
    ) -> Result<Option<CrlSigner>> {
        let row = sqlx::query(&format!(
            "SELECT {SIGNER_COLUMNS} FROM crl_signers WHERE root_id = $1 AND status = $2 \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(root_id.0)
        .bind(status.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(signer_from_row).transpose()
    }

    /// The latest domain CRL of a root.
    pub async fn latest_domain_crl(&self, root_id: AuthorityId) -> Result<Option<DomainCrl>> {
        let row = sqlx::query(&format!(
            "SELECT {CRL_COLUMNS} FROM domain_crls WHERE root_id = $1 \
             ORDER BY crl_number DESC LIMIT 1"
        ))
        .bind(root_id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(crl_from_row).transpose()
    }

    /// The domain's revocation count now (read it before the entries: a CRL then holds at
    /// least what it claims).
    pub async fn domain_seq(&self, root_id: AuthorityId) -> Result<i64> {
        Ok(sqlx::query_scalar(&format!("SELECT {DOMAIN_SEQ}"))
            .bind(root_id.0)
            .fetch_one(self.pool())
            .await?)
    }

    /// The next cRLNumber of a root's domain CRL.
    pub async fn next_domain_crl_number(&self, root_id: AuthorityId) -> Result<i64> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(crl_number) FROM domain_crls WHERE root_id = $1")
                .bind(root_id.0)
                .fetch_one(self.pool())
                .await?;
        Ok(last.unwrap_or(0) + 1)
    }

    /// Roots with an active signer whose domain CRL is missing, misses a revocation, was
    /// signed by another signer, or was signed before `signed_before`: the domain CRLs to
    /// publish now.
    pub async fn domains_needing_crl(&self, signed_before: Timestamp) -> Result<Vec<AuthorityId>> {
        let mut due = Vec::new();
        let roots: Vec<i64> =
            sqlx::query_scalar("SELECT root_id FROM crl_signers WHERE status = 'active'")
                .fetch_all(self.pool())
                .await?;
        for root in roots.into_iter().map(AuthorityId) {
            let active = self.crl_signer(root, CrlSignerStatus::Active).await?;
            let stale = match self.latest_domain_crl(root).await? {
                None => true,
                Some(crl) => {
                    crl.this_update < signed_before
                        || crl.domain_seq < self.domain_seq(root).await?
                        || active.is_some_and(|a| a.id != crl.signer_id)
                }
            };
            if stale {
                due.push(root);
            }
        }
        Ok(due)
    }
}

impl WriteTx {
    /// The registry's SHAKEN root, if it has one (a registry holds one SHAKEN domain: its
    /// CRL is `/crl/domain.crl`).
    pub async fn shaken_root(&mut self) -> Result<Option<AuthorityId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM authorities WHERE tier = 'root' AND profile_family = 'shaken' \
             ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(id.map(AuthorityId))
    }

    /// Stores a new pending signer (its key row written in the same transaction). A second
    /// pending signer for the root is a Conflict: the caller answers with the one there.
    pub async fn insert_crl_signer(
        &mut self,
        root_id: AuthorityId,
        key_id: KeyId,
        csr_der: &[u8],
        actor: &Actor,
    ) -> Result<CrlSignerId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO crl_signers (root_id, key_id, csr_der, status, created_at) \
             VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
        )
        .bind(root_id.0)
        .bind(key_id.0)
        .bind(csr_der.to_vec())
        .bind(time_to_column(self.now()))
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "crl_signer.requested",
            &format!("authority:{}", root_id),
            json!({"crl_signer_id": id, "key_id": key_id.0}),
        )
        .await?;
        Ok(CrlSignerId(id))
    }

    /// Installs the root's certificate for a pending signer: it becomes the active one and
    /// the previous active signer is superseded. Not pending any more is a Conflict.
    pub async fn activate_crl_signer(
        &mut self,
        signer: &CrlSigner,
        certificate_der: &[u8],
        actor: &Actor,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE crl_signers SET status = 'superseded' WHERE root_id = $1 AND status = 'active'",
        )
        .bind(signer.root_id.0)
        .execute(&mut *self.tx)
        .await?;
        let done = sqlx::query(
            "UPDATE crl_signers SET status = 'active', certificate_der = $1, installed_at = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(certificate_der.to_vec())
        .bind(time_to_column(self.now()))
        .bind(signer.id.0)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "CRL signer {} is not pending any more",
                signer.id
            )));
        }
        self.audit(
            actor,
            "crl_signer.installed",
            &format!("authority:{}", signer.root_id),
            json!({"crl_signer_id": signer.id.0}),
        )
        .await?;
        Ok(())
    }

    /// Stores a published domain CRL. A cRLNumber already used, a CRL built from an older
    /// read than the latest one, or one signed by a signer that is not the active one any
    /// more, is a Conflict (the caller builds it again), as for [`WriteTx::insert_crl`].
    pub async fn insert_domain_crl(&mut self, crl: &DomainCrl, actor: &Actor) -> Result<()> {
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM crl_signers WHERE root_id = $1 AND status = 'active'",
        )
        .bind(crl.root_id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        if active != Some(crl.signer_id.0) {
            return Err(StoreError::Conflict(format!(
                "CRL signer {} is not the active signer any more",
                crl.signer_id
            )));
        }
        let latest: Option<(i64, i64)> = sqlx::query_as(
            "SELECT crl_number, domain_seq FROM domain_crls WHERE root_id = $1 \
             ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(crl.root_id.0)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some((number, seq)) = latest {
            if number >= crl.crl_number || seq > crl.domain_seq {
                return Err(StoreError::Conflict(format!(
                    "domain cRLNumber {number} (built at revocation {seq}) is already published"
                )));
            }
        }
        sqlx::query(&format!(
            "INSERT INTO domain_crls ({CRL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(crl.root_id.0)
        .bind(crl.crl_number)
        .bind(crl.der.clone())
        .bind(time_to_column(crl.this_update))
        .bind(time_to_column(crl.next_update))
        .bind(crl.domain_seq)
        .bind(crl.signer_id.0)
        .execute(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "domain_crl.published",
            &format!("authority:{}", crl.root_id),
            json!({"crl_number": crl.crl_number, "domain_seq": crl.domain_seq,
                   "next_update": time_to_column(crl.next_update)}),
        )
        .await?;
        Ok(())
    }
}
