//! `authorities`: the CA hierarchy. A root has no parent; an authority whose parent's key is
//! offline waits in `awaiting-certificate` holding its CSR until the ceremony's result is
//! installed.

use ca_core::ident::Fingerprint;
use ca_core::numbering::ScopeConstraint;
use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::columns::{get_time, scope_from_text, scope_to_text, text_enum};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, AuthorityId, KeyId};

text_enum!(
    /// Where an authority sits in the hierarchy.
    Tier { Root = "root", Regional = "regional", National = "national" }
);
text_enum!(
    /// An authority's life.
    AuthorityStatus {
        /// Created with a CSR; waits for its certificate from an offline parent.
        AwaitingCertificate = "awaiting-certificate",
        /// Issuing.
        Active = "active",
        /// No longer issuing.
        Retired = "retired",
    }
);

/// How an authority decides enrolments (stored as `authorities.auto_approve`, 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// A person approves or rejects each enrolment.
    Manual,
    /// An enrolment inside the operator's current assignments is approved at once.
    WithinAssignments,
}

impl ApprovalPolicy {
    fn to_column(self) -> i64 {
        match self {
            Self::Manual => 0,
            Self::WithinAssignments => 1,
        }
    }

    fn from_column(value: i64) -> Result<Self> {
        match value {
            0 => Ok(Self::Manual),
            1 => Ok(Self::WithinAssignments),
            other => Err(StoreError::corrupt("auto_approve", other)),
        }
    }
}

/// The profile family an authority issues in (docs/profiles.md): its root's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthorityFamily {
    /// tsca's own profiles.
    #[default]
    Tsca,
    /// The SHAKEN profiles, in one trust domain.
    Shaken {
        /// The SHAKEN certificate policy OID (dotted).
        policy: String,
        /// The domain CRL signer's name, DER: every distribution point's cRLIssuer.
        crl_issuer_der: Vec<u8>,
    },
}

/// A certificate authority in the hierarchy.
#[derive(Debug, Clone)]
pub struct Authority {
    /// Row id.
    pub id: AuthorityId,
    /// Unique name, also used in URLs (`/crl/{name}.crl`).
    pub name: String,
    /// Root, regional or national.
    pub tier: Tier,
    /// The parent authority (none for a root).
    pub parent_id: Option<AuthorityId>,
    /// What it may certify.
    pub scope: ScopeConstraint,
    /// Awaiting its certificate, active or retired.
    pub status: AuthorityStatus,
    /// How it decides enrolments.
    pub approval: ApprovalPolicy,
    /// Its signing key, when this service holds it (never for an offline root).
    pub key_id: Option<KeyId>,
    /// Its CSR, while awaiting a certificate from an offline parent.
    pub csr_der: Option<Vec<u8>>,
    /// Its certificate, once it has one.
    pub certificate_der: Option<Vec<u8>>,
    /// When created.
    pub created_at: Timestamp,
    /// Counts the revocations among the certificates it issued; a CRL records the count it
    /// was built from, so a CRL older than the last revocation is recognised and replaced
    /// (docs/architecture.md, "Revocation").
    pub revocation_seq: i64,
    /// The profile family it issues in.
    pub family: AuthorityFamily,
}

impl Authority {
    /// The fingerprint of its certificate, once it has one.
    pub fn certificate_fingerprint(&self) -> Option<Fingerprint> {
        self.certificate_der.as_deref().map(Fingerprint::of_der)
    }

    /// True when its key is held by this service (an online CA).
    pub fn is_online(&self) -> bool {
        self.key_id.is_some()
    }

    /// True when it signs a CRL of its own: tsca-family CAs do; SHAKEN CAs have no cRLSign,
    /// and their revocations go in the domain's indirect CRL (docs/profiles.md).
    pub fn signs_own_crl(&self) -> bool {
        self.family == AuthorityFamily::Tsca
    }
}

/// The fields of a new authority.
#[derive(Debug, Clone)]
pub struct NewAuthority {
    /// Unique name.
    pub name: String,
    /// Tier.
    pub tier: Tier,
    /// Parent (none for a root).
    pub parent_id: Option<AuthorityId>,
    /// Scope.
    pub scope: ScopeConstraint,
    /// Initial status.
    pub status: AuthorityStatus,
    /// How it decides enrolments.
    pub approval: ApprovalPolicy,
    /// Key held by this service.
    pub key_id: Option<KeyId>,
    /// CSR awaiting a parent's signature.
    pub csr_der: Option<Vec<u8>>,
    /// Certificate, when it has one already (a root).
    pub certificate_der: Option<Vec<u8>>,
    /// The profile family (a root's choice; its descendants copy it).
    pub family: AuthorityFamily,
}

const AUTHORITY_COLUMNS: &str = "id, name, tier, parent_id, scope, status, auto_approve, key_id, \
     csr_der, certificate_der, created_at, revocation_seq, profile_family, shaken_policy, \
     shaken_crl_issuer";

pub(crate) async fn fetch_authority<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: AuthorityId,
) -> Result<Authority> {
    let row = sqlx::query(&format!(
        "SELECT {AUTHORITY_COLUMNS} FROM authorities WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("authority", id))?;
    authority_from_row(&row)
}

fn authority_from_row(row: &AnyRow) -> Result<Authority> {
    Ok(Authority {
        id: AuthorityId(row.try_get("id")?),
        name: row.try_get("name")?,
        tier: row.try_get::<String, _>("tier")?.parse()?,
        parent_id: row.try_get::<Option<i64>, _>("parent_id")?.map(AuthorityId),
        scope: scope_from_text(&row.try_get::<String, _>("scope")?)?,
        status: row.try_get::<String, _>("status")?.parse()?,
        approval: ApprovalPolicy::from_column(row.try_get("auto_approve")?)?,
        key_id: row.try_get::<Option<i64>, _>("key_id")?.map(KeyId),
        csr_der: row.try_get("csr_der")?,
        certificate_der: row.try_get("certificate_der")?,
        created_at: get_time(row, "created_at")?,
        revocation_seq: row.try_get("revocation_seq")?,
        family: match row.try_get::<String, _>("profile_family")?.as_str() {
            "tsca" => AuthorityFamily::Tsca,
            "shaken" => AuthorityFamily::Shaken {
                policy: row
                    .try_get::<Option<String>, _>("shaken_policy")?
                    .ok_or_else(|| {
                        StoreError::corrupt("shaken_policy", "NULL on a SHAKEN authority")
                    })?,
                crl_issuer_der: row
                    .try_get::<Option<Vec<u8>>, _>("shaken_crl_issuer")?
                    .ok_or_else(|| {
                        StoreError::corrupt("shaken_crl_issuer", "NULL on a SHAKEN authority")
                    })?,
            },
            other => return Err(StoreError::corrupt("profile_family", other)),
        },
    })
}

impl StoreReader {
    /// An authority by id.
    pub async fn authority(&self, id: AuthorityId) -> Result<Authority> {
        fetch_authority(self.pool(), id).await
    }

    /// An authority by name.
    pub async fn authority_by_name(&self, name: &str) -> Result<Authority> {
        let row = sqlx::query(&format!(
            "SELECT {AUTHORITY_COLUMNS} FROM authorities WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("authority", name))?;
        authority_from_row(&row)
    }

    /// Every authority, by id.
    pub async fn authorities(&self) -> Result<Vec<Authority>> {
        sqlx::query(&format!(
            "SELECT {AUTHORITY_COLUMNS} FROM authorities ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(authority_from_row)
        .collect()
    }
}

impl WriteTx {
    /// An authority, read inside this transaction.
    pub async fn authority(&mut self, id: AuthorityId) -> Result<Authority> {
        fetch_authority(&mut *self.tx, id).await
    }

    /// The id of the authority with this name, if there is one.
    pub async fn authority_named(&mut self, name: &str) -> Result<Option<AuthorityId>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT id FROM authorities WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *self.tx)
                .await?
                .map(AuthorityId),
        )
    }

    /// Creates an authority.
    pub async fn insert_authority(
        &mut self,
        new: &NewAuthority,
        actor: &Actor,
    ) -> Result<Authority> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO authorities (name, tier, parent_id, scope, status, auto_approve, key_id, \
             csr_der, certificate_der, created_at, profile_family, shaken_policy, shaken_crl_issuer) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(&new.name)
        .bind(new.tier.as_str())
        .bind(new.parent_id.map(|p| p.0))
        .bind(scope_to_text(&new.scope))
        .bind(new.status.as_str())
        .bind(new.approval.to_column())
        .bind(new.key_id.map(|k| k.0))
        .bind(new.csr_der.clone())
        .bind(new.certificate_der.clone())
        .bind(self.now_column())
        .bind(match new.family {
            AuthorityFamily::Tsca => "tsca",
            AuthorityFamily::Shaken { .. } => "shaken",
        })
        .bind(match &new.family {
            AuthorityFamily::Shaken { policy, .. } => Some(policy.clone()),
            AuthorityFamily::Tsca => None,
        })
        .bind(match &new.family {
            AuthorityFamily::Shaken { crl_issuer_der, .. } => Some(crl_issuer_der.clone()),
            AuthorityFamily::Tsca => None,
        })
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "authority.created",
            &format!("authority:{id}"),
            json!({"name": new.name, "tier": new.tier, "parent_id": new.parent_id,
            "scope": scope_to_text(&new.scope), "status": new.status,
            "approval": new.approval, "key_id": new.key_id,
            "profile_family": match new.family {
                AuthorityFamily::Tsca => "tsca",
                AuthorityFamily::Shaken { .. } => "shaken",
            }}),
        )
        .await?;
        self.authority(AuthorityId(id)).await
    }

    /// Installs the certificate of an authority that was awaiting it, making it active.
    pub async fn install_authority_certificate(
        &mut self,
        id: AuthorityId,
        certificate_der: &[u8],
        actor: &Actor,
    ) -> Result<Authority> {
        let done = sqlx::query(
            "UPDATE authorities SET certificate_der = $1, status = 'active' \
             WHERE id = $2 AND status = 'awaiting-certificate'",
        )
        .bind(certificate_der.to_vec())
        .bind(id.0)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            let current = self.authority(id).await?;
            return Err(StoreError::Conflict(format!(
                "authority {} is {}, not awaiting a certificate",
                current.name, current.status
            )));
        }
        self.audit(
            actor,
            "authority.certificate-installed",
            &format!("authority:{id}"),
            json!({"fingerprint": Fingerprint::of_der(certificate_der).to_string()}),
        )
        .await?;
        self.authority(id).await
    }

    /// Retires an authority and every authority below it, because its own certificate was
    /// revoked (by its parent online, or in the root's CRL): none of them may issue again.
    /// Their CRLs go on being published (crls.rs). Returns the authorities retired now (those
    /// already retired are left as they are).
    pub async fn retire_authority_subtree(
        &mut self,
        id: AuthorityId,
        why: &str,
        actor: &Actor,
    ) -> Result<Vec<AuthorityId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH RECURSIVE below(id) AS (SELECT id FROM authorities WHERE id = $1 \
             UNION ALL SELECT a.id FROM authorities a JOIN below b ON a.parent_id = b.id) \
             SELECT id FROM authorities WHERE id IN (SELECT id FROM below) \
             AND status <> 'retired' ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&mut *self.tx)
        .await?;
        for retired in &ids {
            sqlx::query("UPDATE authorities SET status = 'retired' WHERE id = $1")
                .bind(retired)
                .execute(&mut *self.tx)
                .await?;
            self.audit(
                actor,
                "authority.retired",
                &format!("authority:{retired}"),
                json!({"why": why, "revoked_authority": id}),
            )
            .await?;
        }
        Ok(ids.into_iter().map(AuthorityId).collect())
    }

    /// Counts one more revocation among an authority's certificates (see
    /// [`Authority::revocation_seq`]). Part of every revoking transaction.
    pub(crate) async fn bump_revocation_seq(&mut self, id: AuthorityId) -> Result<()> {
        sqlx::query("UPDATE authorities SET revocation_seq = revocation_seq + 1 WHERE id = $1")
            .bind(id.0)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
