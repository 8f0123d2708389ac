//! The store: reads, and writes that commit together with their audit entry.
//!
//! Every write runs in one transaction that first takes the audit head row
//! (`UPDATE audit_head … RETURNING`): on PostgreSQL that row lock orders all writers, on
//! SQLite the statement takes the write lock up front (so a transaction never has to upgrade
//! a read lock, which is where SQLite returns BUSY). The change, its audit entry and the new
//! head commit together or not at all.

use std::sync::Arc;

use ca_core::numbering::NumberingResource;
use ca_core::revocation::RevocationReason;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::AnyPool;
use sqlx::{Any, Row, Transaction};
use tokio::sync::broadcast;

use crate::audit::{self, ChainVerdict, GENESIS_HASH};
use crate::connect::{self, Backend, DatabaseUrl};
use crate::error::{Result, StoreError};
use crate::lookup::{IndexedCertificate, LookupChange, LookupIndex};
use crate::model::*;
use crate::notify::{RevocationEvent, Subscription, REVOCATION_CHANNEL};

/// A handle on the database. Cheap to clone; all clones share the pools.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    url: DatabaseUrl,
    read: AnyPool,
    write: AnyPool,
    /// In-process revocation events (SQLite; on PostgreSQL they travel by NOTIFY).
    local_events: broadcast::Sender<RevocationEvent>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.inner.url.redacted())
    }
}

/// Filters for listing certificates.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Only this issuer's.
    pub issuer_id: Option<i64>,
    /// Only this operator's.
    pub operator_id: Option<i64>,
    /// Only in this status.
    pub status: Option<CertificateStatus>,
    /// Only with id greater than this (keyset pagination).
    pub after_id: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

/// A revoked serial, as a CRL lists it.
#[derive(Debug, Clone)]
pub struct RevokedSerial {
    /// Serial content octets.
    pub serial: Vec<u8>,
    /// Revocation time.
    pub revoked_at: Timestamp,
    /// Reason, if one was given.
    pub reason: Option<RevocationReason>,
}

/// The outcome of creating an enrolment.
#[derive(Debug, Clone)]
pub struct EnrolmentOutcome {
    /// The enrolment (the earlier one on an idempotent retry).
    pub enrolment: Enrolment,
    /// False when the Idempotency-Key matched an earlier enrolment.
    pub created: bool,
}

const AUTHORITY_COLUMNS: &str = "id, name, tier, parent_id, scope, status, auto_approve, key_id, \
     csr_der, certificate_der, created_at";
const OPERATOR_COLUMNS: &str = "id, authority_id, name, spc, country, status, created_at";
const TOKEN_COLUMNS: &str = "id, role, authority_id, operator_id, label, created_at, revoked_at";
const ASSIGNMENT_COLUMNS: &str = "id, authority_id, operator_id, resource, valid_from, valid_to, \
     ported_from, withdrawn_at, created_at";
const ENROLMENT_COLUMNS: &str =
    "id, operator_id, authority_id, csr_der, requested_scope, profile, \
     status, idempotency_key, certificate_id, decision_reason, created_at, decided_at";
const CERTIFICATE_COLUMNS: &str = "id, issuer_id, serial, status, profile, subject, operator_id, \
     subject_authority_id, enrolment_id, key_id, not_before, not_after, scope, tbs_der, der, \
     fingerprint, reserved_at, issued_at, revoked_at, revocation_reason";
const OCSP_COLUMNS: &str =
    "certificate_id, issuer_id, sha1_key, sha256_key, der, this_update, next_update";

impl Store {
    /// Opens the database at `url`, applies pending migrations and refuses a database newer
    /// than this code. See [`DatabaseUrl::parse`] for the URL forms.
    pub async fn open(url: &str) -> Result<Store> {
        let url = DatabaseUrl::parse(url)?;
        let pools = connect::open_pools(&url).await?;
        let applied = connect::migrate(&pools.write, url.backend).await?;
        if !applied.is_empty() {
            tracing::info!(database = %url.redacted(), ?applied, "applied migrations");
        }
        let (local_events, _) = broadcast::channel(4096);
        Ok(Store {
            inner: Arc::new(Inner {
                url,
                read: pools.read,
                write: pools.write,
                local_events,
            }),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.inner.url.backend
    }

    /// The database URL without credentials.
    pub fn describe(&self) -> String {
        self.inner.url.redacted()
    }

    /// Closes the pools (waits for running statements).
    pub async fn close(&self) {
        self.inner.write.close().await;
        self.inner.read.close().await;
    }

    /// Readiness: the database answers and its schema is the one this code knows.
    pub async fn check_ready(&self) -> Result<()> {
        let version = connect::database_schema_version(&self.inner.read, self.backend()).await?;
        let code = connect::code_schema_version(self.backend());
        if version != code {
            return Err(StoreError::Invalid(format!(
                "database schema is at version {version}, this tsca expects {code}"
            )));
        }
        Ok(())
    }

    /// Subscribes to revocation events: PostgreSQL LISTEN on [`REVOCATION_CHANNEL`] (events
    /// from every process on the database), or the in-process channel on SQLite.
    pub async fn subscribe(&self) -> Result<Subscription> {
        match self.backend() {
            Backend::Postgres => Subscription::postgres(&self.inner.url.url).await,
            Backend::Sqlite => Ok(Subscription::local(self.inner.local_events.subscribe())),
        }
    }

    async fn begin(&self) -> Result<WriteTx> {
        let mut tx = self.inner.write.begin().await?;
        let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("seq")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        Ok(WriteTx {
            tx,
            head_seq: seq,
            head_hash: hash,
            now: now(),
            backend: self.backend(),
            pending_events: Vec::new(),
        })
    }

    async fn commit(&self, tx: WriteTx) -> Result<()> {
        let events = tx.commit().await?;
        for event in events {
            // No receiver is not an error: nobody is listening yet.
            let _ = self.inner.local_events.send(event);
        }
        Ok(())
    }

    // ---- keys -----------------------------------------------------------------------------

    /// Stores a key (its material is not audited, only its id and algorithm).
    pub async fn store_key(
        &self,
        algorithm: &str,
        storage: &KeyStorage,
        actor: &Actor,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let (kind, pem, reference) = match storage {
            KeyStorage::Pkcs8Encrypted(pem) => ("pkcs8-encrypted", Some(pem.as_str()), None),
            KeyStorage::Hsm(r) => ("hsm", None, Some(r.as_str())),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO keys (algorithm, storage, pkcs8_encrypted_pem, hsm_reference, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(algorithm)
        .bind(kind)
        .bind(pem)
        .bind(reference)
        .bind(tx.now)
        .fetch_one(&mut *tx.tx)
        .await?;
        tx.audit(
            actor,
            "key.created",
            &format!("key:{id}"),
            json!({"algorithm": algorithm, "storage": kind}),
        )
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// A stored key.
    pub async fn key(&self, id: i64) -> Result<StoredKey> {
        let row = sqlx::query(
            "SELECT id, algorithm, storage, pkcs8_encrypted_pem, hsm_reference, created_at \
             FROM keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.inner.read)
        .await?
        .ok_or_else(|| StoreError::not_found("key", id))?;
        let storage: String = row.try_get("storage")?;
        let storage = match storage.as_str() {
            "hsm" => KeyStorage::Hsm(
                row.try_get::<Option<String>, _>("hsm_reference")?
                    .unwrap_or_default(),
            ),
            _ => KeyStorage::Pkcs8Encrypted(
                row.try_get::<Option<String>, _>("pkcs8_encrypted_pem")?
                    .unwrap_or_default(),
            ),
        };
        Ok(StoredKey {
            id: row.try_get("id")?,
            algorithm: row.try_get("algorithm")?,
            storage,
            created_at: row.try_get("created_at")?,
        })
    }

    // ---- authorities ----------------------------------------------------------------------

    /// Creates an authority.
    pub async fn create_authority(&self, new: &NewAuthority, actor: &Actor) -> Result<Authority> {
        let mut tx = self.begin().await?;
        if let Some(parent) = new.parent_id {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM authorities WHERE id = $1")
                    .bind(parent)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::not_found("parent authority", parent));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO authorities (name, tier, parent_id, scope, status, auto_approve, key_id, \
             csr_der, certificate_der, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING id",
        )
        .bind(&new.name)
        .bind(new.tier.as_str())
        .bind(new.parent_id)
        .bind(scope_to_text(&new.scope))
        .bind(new.status.as_str())
        .bind(i64::from(new.auto_approve))
        .bind(new.key_id)
        .bind(new.csr_der.clone())
        .bind(new.certificate_der.clone())
        .bind(tx.now)
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|e| unique_to(e, format!("an authority named {:?} already exists", new.name)))?;
        tx.audit(
            actor,
            "authority.created",
            &format!("authority:{id}"),
            json!({"name": new.name, "tier": new.tier, "parent_id": new.parent_id,
                   "scope": scope_to_text(&new.scope), "status": new.status}),
        )
        .await?;
        let authority = fetch_authority(&mut *tx.tx, id).await?;
        self.commit(tx).await?;
        Ok(authority)
    }

    /// Installs the certificate of an authority that was awaiting it, making it active.
    pub async fn install_authority_certificate(
        &self,
        id: i64,
        certificate_der: &[u8],
        actor: &Actor,
    ) -> Result<Authority> {
        let mut tx = self.begin().await?;
        let current = fetch_authority(&mut *tx.tx, id).await?;
        if current.status != AuthorityStatus::AwaitingCertificate {
            return Err(StoreError::Conflict(format!(
                "authority {} is {}, not awaiting a certificate",
                current.name, current.status
            )));
        }
        sqlx::query("UPDATE authorities SET certificate_der = $1, status = 'active' WHERE id = $2")
            .bind(certificate_der.to_vec())
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        tx.audit(
            actor,
            "authority.certificate-installed",
            &format!("authority:{id}"),
            json!({"fingerprint": hex::encode(ring::digest::digest(&ring::digest::SHA256, certificate_der))}),
        )
        .await?;
        let authority = fetch_authority(&mut *tx.tx, id).await?;
        self.commit(tx).await?;
        Ok(authority)
    }

    /// An authority by id.
    pub async fn authority(&self, id: i64) -> Result<Authority> {
        fetch_authority(&self.inner.read, id).await
    }

    /// An authority by name.
    pub async fn authority_by_name(&self, name: &str) -> Result<Authority> {
        let row = sqlx::query(&format!(
            "SELECT {AUTHORITY_COLUMNS} FROM authorities WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.inner.read)
        .await?
        .ok_or_else(|| StoreError::not_found("authority", name))?;
        authority_from_row(&row)
    }

    /// Every authority, by id.
    pub async fn authorities(&self) -> Result<Vec<Authority>> {
        sqlx::query(&format!(
            "SELECT {AUTHORITY_COLUMNS} FROM authorities ORDER BY id"
        ))
        .fetch_all(&self.inner.read)
        .await?
        .iter()
        .map(authority_from_row)
        .collect()
    }

    // ---- operators and tokens -------------------------------------------------------------

    /// Registers an operator.
    pub async fn create_operator(&self, new: &NewOperator, actor: &Actor) -> Result<Operator> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operators (authority_id, name, spc, country, status, created_at) \
             VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id",
        )
        .bind(new.authority_id)
        .bind(&new.name)
        .bind(new.spc.clone())
        .bind(&new.country)
        .bind(tx.now)
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|e| {
            unique_to(
                e,
                format!(
                    "an operator named {:?} or with SPC {:?} already exists",
                    new.name,
                    new.spc.as_deref().unwrap_or("-")
                ),
            )
        })?;
        tx.audit(
            actor,
            "operator.created",
            &format!("operator:{id}"),
            json!({"name": new.name, "spc": new.spc, "country": new.country, "authority_id": new.authority_id}),
        )
        .await?;
        let operator = fetch_operator(&mut *tx.tx, id).await?;
        self.commit(tx).await?;
        Ok(operator)
    }

    /// An operator by id.
    pub async fn operator(&self, id: i64) -> Result<Operator> {
        fetch_operator(&self.inner.read, id).await
    }

    /// Operators, optionally of one authority.
    pub async fn operators(&self, authority_id: Option<i64>) -> Result<Vec<Operator>> {
        sqlx::query(&format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE ($1 IS NULL OR authority_id = $1) ORDER BY id"
        ))
        .bind(authority_id)
        .fetch_all(&self.inner.read)
        .await?
        .iter()
        .map(operator_from_row)
        .collect()
    }

    /// Stores a new API token (its hash).
    pub async fn create_token(&self, new: &NewApiToken, actor: &Actor) -> Result<ApiToken> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (token_hash, role, authority_id, operator_id, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&new.token_hash)
        .bind(new.role.as_str())
        .bind(new.authority_id)
        .bind(new.operator_id)
        .bind(&new.label)
        .bind(tx.now)
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|e| unique_to(e, "a token with this secret already exists".into()))?;
        tx.audit(
            actor,
            "token.created",
            &format!("token:{id}"),
            json!({"role": new.role, "authority_id": new.authority_id, "operator_id": new.operator_id, "label": new.label}),
        )
        .await?;
        let token = fetch_token(&mut *tx.tx, "id = $1", id).await?;
        self.commit(tx).await?;
        Ok(token)
    }

    /// Revokes an API token.
    pub async fn revoke_token(&self, id: i64, actor: &Actor) -> Result<ApiToken> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(tx.now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if done.rows_affected() == 0 {
            let token = fetch_token(&mut *tx.tx, "id = $1", id).await?;
            return Ok(token); // already revoked: idempotent
        }
        tx.audit(actor, "token.revoked", &format!("token:{id}"), json!({}))
            .await?;
        let token = fetch_token(&mut *tx.tx, "id = $1", id).await?;
        self.commit(tx).await?;
        Ok(token)
    }

    /// The live (not revoked) token with this secret hash, if any.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// A token by id.
    pub async fn token(&self, id: i64) -> Result<ApiToken> {
        fetch_token(&self.inner.read, "id = $1", id).await
    }

    // ---- assignments ----------------------------------------------------------------------

    /// Assigns a resource to an operator. Refused (Conflict) when it overlaps an active
    /// assignment of another operator, unless that operator is the one it is ported from.
    pub async fn create_assignment(
        &self,
        new: &NewAssignment,
        actor: &Actor,
    ) -> Result<Assignment> {
        let mut tx = self.begin().await?;
        // The overlap check runs inside the write transaction, which holds the audit head:
        // no other writer can add a conflicting assignment between the check and the insert.
        let active = fetch_assignments(
            &mut *tx.tx,
            "withdrawn_at IS NULL AND (valid_to IS NULL OR valid_to > $1)",
            tx.now,
        )
        .await?;
        let clashes: Vec<&Assignment> = active
            .iter()
            .filter(|a| a.operator_id != new.operator_id)
            .filter(|a| Some(a.operator_id) != new.ported_from)
            .filter(|a| a.resource.overlaps(&new.resource))
            .collect();
        if let Some(first) = clashes.first() {
            return Err(StoreError::Conflict(format!(
                "{} overlaps {} held by operator {} (assignment {}); assign it as a port from \
                 that operator, or withdraw that assignment first",
                new.resource, first.resource, first.operator_id, first.id
            )));
        }
        if let Some(donor) = new.ported_from {
            let donor_holds = active
                .iter()
                .any(|a| a.operator_id == donor && a.resource.overlaps(&new.resource));
            if !donor_holds {
                return Err(StoreError::Invalid(format!(
                    "operator {donor} holds nothing that overlaps {}: nothing to port from",
                    new.resource
                )));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO assignments (authority_id, operator_id, resource, valid_from, valid_to, \
             ported_from, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.authority_id)
        .bind(new.operator_id)
        .bind(new.resource.to_string())
        .bind(new.valid_from)
        .bind(new.valid_to)
        .bind(new.ported_from)
        .bind(tx.now)
        .fetch_one(&mut *tx.tx)
        .await?;
        tx.audit(
            actor,
            "assignment.created",
            &format!("assignment:{id}"),
            json!({"operator_id": new.operator_id, "authority_id": new.authority_id,
                   "resource": new.resource.to_string(), "ported_from": new.ported_from}),
        )
        .await?;
        let assignment = fetch_assignments(&mut *tx.tx, "id = $1", id)
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("assignment", id))?;
        self.commit(tx).await?;
        Ok(assignment)
    }

    /// Withdraws an assignment (the row stays, with its withdrawal time).
    pub async fn withdraw_assignment(&self, id: i64, actor: &Actor) -> Result<Assignment> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE assignments SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL",
        )
        .bind(tx.now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        let assignment = fetch_assignments(&mut *tx.tx, "id = $1", id)
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("assignment", id))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "assignment {id} is already withdrawn"
            )));
        }
        tx.audit(
            actor,
            "assignment.withdrawn",
            &format!("assignment:{id}"),
            json!({"operator_id": assignment.operator_id, "resource": assignment.resource.to_string()}),
        )
        .await?;
        self.commit(tx).await?;
        Ok(assignment)
    }

    /// One assignment.
    pub async fn assignment(&self, id: i64) -> Result<Assignment> {
        fetch_assignments(&self.inner.read, "id = $1", id)
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("assignment", id))
    }

    /// The assignments active at `at` (not withdrawn, inside their validity).
    pub async fn active_assignments(&self, at: Timestamp) -> Result<Vec<Assignment>> {
        let all = fetch_assignments(
            &self.inner.read,
            "withdrawn_at IS NULL AND (valid_to IS NULL OR valid_to > $1)",
            at,
        )
        .await?;
        Ok(all.into_iter().filter(|a| a.is_active_at(at)).collect())
    }

    /// Every assignment of one operator, withdrawn ones included.
    pub async fn operator_assignments(&self, operator_id: i64) -> Result<Vec<Assignment>> {
        fetch_assignments(&self.inner.read, "operator_id = $1", operator_id).await
    }

    // ---- enrolments -----------------------------------------------------------------------

    /// Records an enrolment. With an Idempotency-Key already used by this operator, returns
    /// the earlier enrolment instead (`created: false`) if the request is the same, and a
    /// Conflict if it differs.
    pub async fn create_enrolment(
        &self,
        new: &NewEnrolment,
        actor: &Actor,
    ) -> Result<EnrolmentOutcome> {
        let mut tx = self.begin().await?;
        if let Some(key) = &new.idempotency_key {
            let existing = sqlx::query(&format!(
                "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE operator_id = $1 AND idempotency_key = $2"
            ))
            .bind(new.operator_id)
            .bind(key)
            .fetch_optional(&mut *tx.tx)
            .await?;
            if let Some(row) = existing {
                let enrolment = enrolment_from_row(&row)?;
                if enrolment.csr_der != new.csr_der
                    || enrolment.requested_scope != new.requested_scope
                    || enrolment.profile != new.profile
                {
                    return Err(StoreError::Conflict(format!(
                        "Idempotency-Key {key:?} was already used for a different enrolment \
                         ({}); use a new key for a new request",
                        enrolment.id
                    )));
                }
                return Ok(EnrolmentOutcome {
                    enrolment,
                    created: false,
                });
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO enrolments (operator_id, authority_id, csr_der, requested_scope, profile, \
             status, idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) \
             RETURNING id",
        )
        .bind(new.operator_id)
        .bind(new.authority_id)
        .bind(new.csr_der.clone())
        .bind(numbering_scope_to_text(&new.requested_scope))
        .bind(&new.profile)
        .bind(new.idempotency_key.clone())
        .bind(tx.now)
        .fetch_one(&mut *tx.tx)
        .await?;
        tx.audit(
            actor,
            "enrolment.received",
            &format!("enrolment:{id}"),
            json!({"operator_id": new.operator_id, "scope": numbering_scope_to_text(&new.requested_scope),
                   "profile": new.profile}),
        )
        .await?;
        let enrolment = fetch_enrolment(&mut *tx.tx, id).await?;
        self.commit(tx).await?;
        Ok(EnrolmentOutcome {
            enrolment,
            created: true,
        })
    }

    /// Approves or rejects a pending enrolment.
    pub async fn decide_enrolment(
        &self,
        id: i64,
        approve: bool,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Enrolment> {
        let mut tx = self.begin().await?;
        let current = fetch_enrolment(&mut *tx.tx, id).await?;
        if current.status != EnrolmentStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "enrolment {id} is {}, not pending",
                current.status
            )));
        }
        let status = if approve {
            EnrolmentStatus::Approved
        } else {
            EnrolmentStatus::Rejected
        };
        sqlx::query("UPDATE enrolments SET status = $1, decision_reason = $2, decided_at = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(reason)
            .bind(tx.now)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        tx.audit(
            actor,
            if approve {
                "enrolment.approved"
            } else {
                "enrolment.rejected"
            },
            &format!("enrolment:{id}"),
            json!({"reason": reason}),
        )
        .await?;
        let enrolment = fetch_enrolment(&mut *tx.tx, id).await?;
        self.commit(tx).await?;
        Ok(enrolment)
    }

    /// One enrolment.
    pub async fn enrolment(&self, id: i64) -> Result<Enrolment> {
        fetch_enrolment(&self.inner.read, id).await
    }

    /// Enrolments in a status (e.g. pending), optionally of one authority.
    pub async fn enrolments(
        &self,
        status: EnrolmentStatus,
        authority_id: Option<i64>,
    ) -> Result<Vec<Enrolment>> {
        sqlx::query(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE status = $1 \
             AND ($2 IS NULL OR authority_id = $2) ORDER BY id"
        ))
        .bind(status.as_str())
        .bind(authority_id)
        .fetch_all(&self.inner.read)
        .await?
        .iter()
        .map(enrolment_from_row)
        .collect()
    }

    // ---- certificates: record before sign -------------------------------------------------

    /// Step 1 of issuance (docs/issuance.md): records the serial and the to-be-signed
    /// certificate before any key signs. A duplicate serial for the issuer is a Conflict
    /// (the caller draws a new serial and retries).
    pub async fn reserve_certificate(
        &self,
        reservation: &Reservation,
        actor: &Actor,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO certificates (issuer_id, serial, status, profile, subject, operator_id, \
             subject_authority_id, enrolment_id, not_before, not_after, scope, tbs_der, reserved_at, key_id) \
             VALUES ($1, $2, 'reserved', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(reservation.issuer_id)
        .bind(reservation.serial.clone())
        .bind(&reservation.profile)
        .bind(&reservation.subject)
        .bind(reservation.operator_id)
        .bind(reservation.subject_authority_id)
        .bind(reservation.enrolment_id)
        .bind(reservation.not_before)
        .bind(reservation.not_after)
        .bind(scope_to_text(&reservation.scope))
        .bind(reservation.tbs_der.clone())
        .bind(tx.now)
        .bind(reservation.key_id)
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|e| {
            unique_to(
                e,
                format!(
                    "serial {} is already used by issuer {}",
                    hex::encode(&reservation.serial),
                    reservation.issuer_id
                ),
            )
        })?;
        tx.audit(
            actor,
            "certificate.reserved",
            &format!("certificate:{id}"),
            json!({"issuer_id": reservation.issuer_id, "serial": hex::encode(&reservation.serial),
                   "subject": reservation.subject, "profile": reservation.profile}),
        )
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Step 3 of issuance: stores the signed certificate over its reservation, with its
    /// first "good" OCSP response when the caller has one. The DER must carry the reserved
    /// to-be-signed bytes. Marks the enrolment issued, if there is one.
    pub async fn complete_certificate(
        &self,
        id: i64,
        der: &[u8],
        ocsp: Option<&NewOcspResponse>,
        actor: &Actor,
    ) -> Result<CertificateRecord> {
        let mut tx = self.begin().await?;
        let current = fetch_certificate(&mut *tx.tx, "id = $1", id).await?;
        if current.status != CertificateStatus::Reserved {
            return Err(StoreError::Conflict(format!(
                "certificate {id} is {}, not reserved: it cannot be completed",
                current.status
            )));
        }
        if !contains_subslice(der, &current.tbs_der) {
            return Err(StoreError::Invalid(format!(
                "the signed certificate does not carry the to-be-signed bytes reserved as certificate {id}"
            )));
        }
        let fingerprint = hex::encode(ring::digest::digest(&ring::digest::SHA256, der));
        sqlx::query(
            "UPDATE certificates SET status = 'valid', der = $1, fingerprint = $2, issued_at = $3 \
             WHERE id = $4",
        )
        .bind(der.to_vec())
        .bind(&fingerprint)
        .bind(tx.now)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        if let Some(ocsp) = ocsp {
            upsert_ocsp(&mut *tx.tx, id, current.issuer_id, ocsp).await?;
        }
        if let Some(enrolment) = current.enrolment_id {
            sqlx::query(
                "UPDATE enrolments SET status = 'issued', certificate_id = $1 WHERE id = $2",
            )
            .bind(id)
            .bind(enrolment)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.audit(
            actor,
            "certificate.issued",
            &format!("certificate:{id}"),
            json!({"fingerprint": fingerprint, "serial": hex::encode(&current.serial),
                   "issuer_id": current.issuer_id, "enrolment_id": current.enrolment_id}),
        )
        .await?;
        let record = fetch_certificate(&mut *tx.tx, "id = $1", id).await?;
        self.commit(tx).await?;
        Ok(record)
    }

    /// Start-up reconciliation: every reservation made before `reserved_before` that was
    /// never completed becomes `abandoned`, which OCSP and CRLs treat as revoked (the key
    /// may have signed before the crash). Returns the ids reconciled.
    pub async fn reconcile_reservations(&self, reserved_before: Timestamp) -> Result<Vec<i64>> {
        let mut tx = self.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM certificates WHERE status = 'reserved' AND reserved_at < $1 ORDER BY id",
        )
        .bind(reserved_before)
        .fetch_all(&mut *tx.tx)
        .await?;
        for id in &ids {
            sqlx::query(
                "UPDATE certificates SET status = 'abandoned', revoked_at = $1 WHERE id = $2",
            )
            .bind(tx.now)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
            tx.audit(
                &Actor::system(),
                "certificate.abandoned",
                &format!("certificate:{id}"),
                json!({"why": "reserved but never stored signed (interrupted issuance); treated as revoked"}),
            )
            .await?;
        }
        if ids.is_empty() {
            return Ok(ids); // nothing written: let the transaction roll back
        }
        self.commit(tx).await?;
        Ok(ids)
    }

    /// Revokes a valid certificate and stores its freshly signed "revoked" OCSP response in
    /// the same transaction, then tells every listener (NOTIFY on PostgreSQL, committed with
    /// the transaction; the in-process channel on SQLite, after commit).
    pub async fn revoke_certificate(
        &self,
        id: i64,
        reason: RevocationReason,
        revoked_at: Timestamp,
        ocsp: &NewOcspResponse,
        actor: &Actor,
    ) -> Result<CertificateRecord> {
        let mut tx = self.begin().await?;
        let current = fetch_certificate(&mut *tx.tx, "id = $1", id).await?;
        if current.status != CertificateStatus::Valid {
            return Err(StoreError::Conflict(format!(
                "certificate {} is {}: only a valid certificate can be revoked",
                current.fingerprint.as_deref().unwrap_or("(unsigned)"),
                current.status
            )));
        }
        sqlx::query(
            "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 \
             WHERE id = $3",
        )
        .bind(revoked_at)
        .bind(i64::from(reason.code()))
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        upsert_ocsp(&mut *tx.tx, id, current.issuer_id, ocsp).await?;
        tx.audit(
            actor,
            "certificate.revoked",
            &format!("certificate:{id}"),
            json!({"fingerprint": current.fingerprint, "serial": hex::encode(&current.serial),
                   "issuer_id": current.issuer_id, "reason": reason.to_string(), "revoked_at": revoked_at}),
        )
        .await?;
        let event = RevocationEvent {
            certificate_id: id,
            issuer_id: current.issuer_id,
            serial: hex::encode(&current.serial),
        };
        tx.notify(event).await?;
        let record = fetch_certificate(&mut *tx.tx, "id = $1", id).await?;
        self.commit(tx).await?;
        Ok(record)
    }

    /// A certificate by row id.
    pub async fn certificate(&self, id: i64) -> Result<CertificateRecord> {
        fetch_certificate(&self.inner.read, "id = $1", id).await
    }

    /// A certificate by SHA-256 fingerprint (lower-case hex).
    pub async fn certificate_by_fingerprint(&self, fingerprint: &str) -> Result<CertificateRecord> {
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE fingerprint = $1"
        ))
        .bind(fingerprint.to_ascii_lowercase())
        .fetch_optional(&self.inner.read)
        .await?
        .ok_or_else(|| StoreError::not_found("certificate", fingerprint))?;
        certificate_from_row(&row)
    }

    /// A certificate by issuer and serial, if one was ever reserved.
    pub async fn certificate_by_serial(
        &self,
        issuer_id: i64,
        serial: &[u8],
    ) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE issuer_id = $1 AND serial = $2"
        ))
        .bind(issuer_id)
        .bind(serial.to_vec())
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(certificate_from_row).transpose()
    }

    /// Certificates matching the filter, by id.
    pub async fn certificates(&self, filter: &CertificateFilter) -> Result<Vec<CertificateRecord>> {
        sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE ($1 IS NULL OR issuer_id = $1) \
             AND ($2 IS NULL OR operator_id = $2) AND ($3 IS NULL OR status = $3) \
             AND id > $4 ORDER BY id LIMIT $5"
        ))
        .bind(filter.issuer_id)
        .bind(filter.operator_id)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.after_id.unwrap_or(0))
        .bind(filter.limit.unwrap_or(100).clamp(1, 10_000))
        .fetch_all(&self.inner.read)
        .await?
        .iter()
        .map(certificate_from_row)
        .collect()
    }

    /// The newest valid certificate of `profile` whose subject is authority
    /// `subject_authority_id` (e.g. its current OCSP responder certificate).
    pub async fn current_certificate_for_authority(
        &self,
        subject_authority_id: i64,
        profile: &str,
    ) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE subject_authority_id = $1 \
             AND profile = $2 AND status = 'valid' ORDER BY not_after DESC, id DESC LIMIT 1"
        ))
        .bind(subject_authority_id)
        .bind(profile)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(certificate_from_row).transpose()
    }

    /// Every revoked or abandoned serial of an issuer, for its CRL.
    pub async fn revoked_serials(&self, issuer_id: i64) -> Result<Vec<RevokedSerial>> {
        let rows = sqlx::query(
            "SELECT serial, revoked_at, revocation_reason FROM certificates \
             WHERE issuer_id = $1 AND status IN ('revoked', 'abandoned') ORDER BY id",
        )
        .bind(issuer_id)
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RevokedSerial {
                    serial: row.try_get("serial")?,
                    revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.unwrap_or(0),
                    reason: reason_from_column(row.try_get("revocation_reason")?)?,
                })
            })
            .collect()
    }

    /// The valid, unexpired operator certificates, without their DER: what the lookup
    /// index needs.
    pub async fn indexed_certificates(&self, at: Timestamp) -> Result<Vec<IndexedCertificate>> {
        fetch_indexed_certificates(&self.inner.read, "not_after > $1", at).await
    }

    /// Builds the number lookup index from the current assignments and certificates. The
    /// index remembers the audit head read first, so that [`Store::lookup_changes`] from
    /// there catches up whatever committed while it was being read (applied twice at worst,
    /// which is harmless: a change re-reads the object's current state).
    pub async fn load_lookup_index(&self, at: Timestamp) -> Result<LookupIndex> {
        let seq = self.audit_head_seq().await?;
        let assignments = fetch_assignments(
            &self.inner.read,
            "withdrawn_at IS NULL AND (valid_to IS NULL OR valid_to > $1)",
            at,
        )
        .await?;
        let certificates = self.indexed_certificates(at).await?;
        Ok(LookupIndex::build(&assignments, certificates, at).with_audit_seq(seq))
    }

    /// The sequence number of the newest audit entry (0 for none).
    pub async fn audit_head_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT seq FROM audit_head WHERE id = 1")
                .fetch_optional(&self.inner.read)
                .await?
                .unwrap_or(0),
        )
    }

    /// What the lookup index must change after audit entry `after_seq`: the current state of
    /// every assignment and certificate named by a later audit entry (every change to one
    /// commits with such an entry, ca-store's second guarantee), and the newest sequence
    /// number read. Each object is read once, however many entries name it.
    pub async fn lookup_changes(&self, after_seq: i64) -> Result<(i64, Vec<LookupChange>)> {
        const PAGE: i64 = 10_000;
        let mut seq = after_seq;
        let mut assignments = std::collections::BTreeSet::new();
        let mut certificates = std::collections::BTreeSet::new();
        loop {
            let rows = sqlx::query(
                "SELECT seq, subject FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(seq)
            .bind(PAGE)
            .fetch_all(&self.inner.read)
            .await?;
            for row in &rows {
                seq = row.try_get("seq")?;
                let subject: String = row.try_get("subject")?;
                match subject.split_once(':') {
                    Some(("assignment", id)) => assignments.extend(id.parse::<i64>().ok()),
                    Some(("certificate", id)) => certificates.extend(id.parse::<i64>().ok()),
                    _ => {}
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
        let mut changes = Vec::with_capacity(assignments.len() + certificates.len());
        for id in assignments {
            let current = fetch_assignments(&self.inner.read, "id = $1", id)
                .await?
                .pop();
            changes.push(match current {
                Some(a) if a.withdrawn_at.is_none() => LookupChange::Assignment(a),
                _ => LookupChange::AssignmentGone(id),
            });
        }
        for id in certificates {
            let current = fetch_indexed_certificates(&self.inner.read, "id = $1", id)
                .await?
                .pop();
            changes.push(match current {
                Some(c) => LookupChange::Certificate(c),
                None => LookupChange::CertificateGone(id),
            });
        }
        Ok((seq, changes))
    }

    // ---- OCSP responses and CRLs ----------------------------------------------------------

    /// Replaces a certificate's pre-signed OCSP response (background re-signing; not a state
    /// change of the CA, so not audited).
    pub async fn put_ocsp_response(
        &self,
        certificate_id: i64,
        issuer_id: i64,
        ocsp: &NewOcspResponse,
    ) -> Result<()> {
        let mut conn = self.inner.write.acquire().await?;
        upsert_ocsp(&mut *conn, certificate_id, issuer_id, ocsp).await
    }

    /// The stored response of a certificate.
    pub async fn ocsp_response(&self, certificate_id: i64) -> Result<Option<OcspResponseRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {OCSP_COLUMNS} FROM ocsp_responses WHERE certificate_id = $1"
        ))
        .bind(certificate_id)
        .fetch_optional(&self.inner.read)
        .await?;
        row.as_ref().map(ocsp_from_row).transpose()
    }

    /// Stored responses in certificate order after `after_certificate_id`, at most `limit`
    /// (for warming a cache page by page).
    pub async fn ocsp_responses_page(
        &self,
        after_certificate_id: i64,
        limit: i64,
    ) -> Result<Vec<OcspResponseRecord>> {
        sqlx::query(&format!(
            "SELECT {OCSP_COLUMNS} FROM ocsp_responses WHERE certificate_id > $1 ORDER BY certificate_id LIMIT $2"
        ))
        .bind(after_certificate_id)
        .bind(limit)
        .fetch_all(&self.inner.read)
        .await?
        .iter()
        .map(ocsp_from_row)
        .collect()
    }

    /// The next cRLNumber for an authority (one more than the last published).
    pub async fn next_crl_number(&self, authority_id: i64) -> Result<i64> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(crl_number) FROM crls WHERE authority_id = $1")
                .bind(authority_id)
                .fetch_one(&self.inner.read)
                .await?;
        Ok(last.unwrap_or(0) + 1)
    }

    /// Stores a published CRL. A cRLNumber already used is a Conflict (another instance
    /// published first: take the next number and retry).
    pub async fn store_crl(&self, crl: &CrlRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO crls (authority_id, crl_number, der, this_update, next_update) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(crl.authority_id)
        .bind(crl.crl_number)
        .bind(crl.der.clone())
        .bind(crl.this_update)
        .bind(crl.next_update)
        .execute(&self.inner.write)
        .await
        .map_err(|e| unique_to(e, format!("cRLNumber {} is already published for authority {}", crl.crl_number, crl.authority_id)))?;
        Ok(())
    }

    /// The latest CRL of an authority.
    pub async fn latest_crl(&self, authority_id: i64) -> Result<Option<CrlRecord>> {
        let row = sqlx::query(
            "SELECT authority_id, crl_number, der, this_update, next_update FROM crls \
             WHERE authority_id = $1 ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(authority_id)
        .fetch_optional(&self.inner.read)
        .await?;
        row.map(|row| {
            Ok(CrlRecord {
                authority_id: row.try_get("authority_id")?,
                crl_number: row.try_get("crl_number")?,
                der: row.try_get("der")?,
                this_update: row.try_get("this_update")?,
                next_update: row.try_get("next_update")?,
            })
        })
        .transpose()
    }

    // ---- audit ----------------------------------------------------------------------------

    /// Audit entries after `after_seq`, at most `limit`, in order.
    pub async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.inner.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    details: row.try_get("details")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }

    /// Recomputes the whole audit chain and compares its end with the stored head; names
    /// the first entry that does not check out.
    pub async fn verify_audit_chain(&self) -> Result<ChainVerdict> {
        const PAGE: i64 = 5_000;
        let mut state = (0i64, GENESIS_HASH.to_vec());
        loop {
            let page = self.audit_entries(state.0, PAGE).await?;
            if page.is_empty() {
                break;
            }
            match audit::verify_run(state, &page) {
                Ok(next) => state = next,
                Err((seq, reason)) => return Ok(ChainVerdict::Broken { seq, reason }),
            }
        }
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.inner.read)
            .await?;
        let head_seq: i64 = head.try_get("seq")?;
        let head_hash: Vec<u8> = head.try_get("hash")?;
        if head_seq != state.0 {
            return Ok(ChainVerdict::Broken {
                seq: state.0 + 1,
                reason: format!(
                    "the log ends at entry {} but the head records entry {head_seq}: entries were removed",
                    state.0
                ),
            });
        }
        if head_hash != state.1 {
            return Ok(ChainVerdict::Broken {
                seq: state.0,
                reason: "the last entry's hash differs from the recorded head".into(),
            });
        }
        Ok(ChainVerdict::Intact {
            entries: state.0,
            head: hex::encode(state.1),
        })
    }
}

/// One write transaction, holding the audit head.
struct WriteTx {
    tx: Transaction<'static, Any>,
    head_seq: i64,
    head_hash: Vec<u8>,
    now: Timestamp,
    backend: Backend,
    pending_events: Vec<RevocationEvent>,
}

impl WriteTx {
    /// Appends one audit entry, chained to the previous one.
    async fn audit(
        &mut self,
        actor: &Actor,
        action: &str,
        subject: &str,
        details: serde_json::Value,
    ) -> Result<i64> {
        let seq = self.head_seq + 1;
        let details = details.to_string();
        let hash = audit::entry_hash(
            &self.head_hash,
            seq,
            self.now,
            actor.as_str(),
            action,
            subject,
            &details,
        );
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(self.now)
        .bind(actor.as_str())
        .bind(action)
        .bind(subject)
        .bind(&details)
        .bind(self.head_hash.clone())
        .bind(hash.clone())
        .execute(&mut *self.tx)
        .await?;
        self.head_seq = seq;
        self.head_hash = hash;
        Ok(seq)
    }

    /// Queues a revocation event: on PostgreSQL a NOTIFY inside the transaction (delivered
    /// only if it commits), on SQLite an in-process message sent after commit.
    async fn notify(&mut self, event: RevocationEvent) -> Result<()> {
        if self.backend == Backend::Postgres {
            let payload =
                serde_json::to_string(&event).map_err(|e| StoreError::Database(e.to_string()))?;
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(REVOCATION_CHANNEL)
                .bind(payload)
                .fetch_optional(&mut *self.tx)
                .await?;
        } else {
            self.pending_events.push(event);
        }
        Ok(())
    }

    async fn commit(mut self) -> Result<Vec<RevocationEvent>> {
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.head_seq)
            .bind(self.head_hash.clone())
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(self.pending_events)
    }
}

fn unique_to(error: sqlx::Error, message: String) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}

fn contains_subslice(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn reason_from_column(code: Option<i64>) -> Result<Option<RevocationReason>> {
    code.map(|c| {
        u8::try_from(c)
            .ok()
            .and_then(RevocationReason::from_code)
            .ok_or_else(|| StoreError::corrupt("revocation reason", c))
    })
    .transpose()
}

async fn upsert_ocsp<'e, E>(
    executor: E,
    certificate_id: i64,
    issuer_id: i64,
    ocsp: &NewOcspResponse,
) -> Result<()>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO ocsp_responses (certificate_id, issuer_id, sha1_key, sha256_key, der, this_update, next_update) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (certificate_id) DO UPDATE SET \
         der = excluded.der, this_update = excluded.this_update, next_update = excluded.next_update",
    )
    .bind(certificate_id)
    .bind(issuer_id)
    .bind(ocsp.sha1_key.clone())
    .bind(ocsp.sha256_key.clone())
    .bind(ocsp.der.clone())
    .bind(ocsp.this_update)
    .bind(ocsp.next_update)
    .execute(executor)
    .await?;
    Ok(())
}

// ---- row mapping ------------------------------------------------------------------------------

async fn fetch_authority<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: i64,
) -> Result<Authority> {
    let row = sqlx::query(&format!(
        "SELECT {AUTHORITY_COLUMNS} FROM authorities WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("authority", id))?;
    authority_from_row(&row)
}

fn authority_from_row(row: &AnyRow) -> Result<Authority> {
    Ok(Authority {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tier: row.try_get::<String, _>("tier")?.parse()?,
        parent_id: row.try_get("parent_id")?,
        scope: scope_from_text(&row.try_get::<String, _>("scope")?)?,
        status: row.try_get::<String, _>("status")?.parse()?,
        auto_approve: row.try_get::<i64, _>("auto_approve")? != 0,
        key_id: row.try_get("key_id")?,
        csr_der: row.try_get("csr_der")?,
        certificate_der: row.try_get("certificate_der")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn fetch_operator<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: i64,
) -> Result<Operator> {
    let row = sqlx::query(&format!(
        "SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("operator", id))?;
    operator_from_row(&row)
}

fn operator_from_row(row: &AnyRow) -> Result<Operator> {
    Ok(Operator {
        id: row.try_get("id")?,
        authority_id: row.try_get("authority_id")?,
        name: row.try_get("name")?,
        spc: row.try_get("spc")?,
        country: row.try_get("country")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        created_at: row.try_get("created_at")?,
    })
}

async fn fetch_token<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    condition: &str,
    id: i64,
) -> Result<ApiToken> {
    let row = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE {condition}"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("token", id))?;
    token_from_row(&row)
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        role: row.try_get::<String, _>("role")?.parse()?,
        authority_id: row.try_get("authority_id")?,
        operator_id: row.try_get("operator_id")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Valid operator certificates matching `condition` (on one `$1` parameter), without DER.
async fn fetch_indexed_certificates<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    condition: &str,
    param: i64,
) -> Result<Vec<IndexedCertificate>> {
    let rows = sqlx::query(&format!(
        "SELECT id, operator_id, fingerprint, not_after, scope FROM certificates \
         WHERE status = 'valid' AND operator_id IS NOT NULL AND {condition}"
    ))
    .bind(param)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(IndexedCertificate {
                certificate_id: row.try_get("id")?,
                operator_id: row
                    .try_get::<Option<i64>, _>("operator_id")?
                    .unwrap_or_default(),
                fingerprint: row
                    .try_get::<Option<String>, _>("fingerprint")?
                    .unwrap_or_default(),
                not_after: row.try_get("not_after")?,
                scope: scope_from_text(&row.try_get::<String, _>("scope")?)?,
            })
        })
        .collect()
}

async fn fetch_assignments<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    condition: &str,
    param: i64,
) -> Result<Vec<Assignment>> {
    sqlx::query(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE {condition} ORDER BY id"
    ))
    .bind(param)
    .fetch_all(executor)
    .await?
    .iter()
    .map(assignment_from_row)
    .collect()
}

fn assignment_from_row(row: &AnyRow) -> Result<Assignment> {
    let resource: String = row.try_get("resource")?;
    Ok(Assignment {
        id: row.try_get("id")?,
        authority_id: row.try_get("authority_id")?,
        operator_id: row.try_get("operator_id")?,
        resource: resource
            .parse::<NumberingResource>()
            .map_err(|e| StoreError::corrupt("assignment resource", e))?,
        valid_from: row.try_get("valid_from")?,
        valid_to: row.try_get("valid_to")?,
        ported_from: row.try_get("ported_from")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn fetch_enrolment<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: i64,
) -> Result<Enrolment> {
    let row = sqlx::query(&format!(
        "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("enrolment", id))?;
    enrolment_from_row(&row)
}

fn enrolment_from_row(row: &AnyRow) -> Result<Enrolment> {
    Ok(Enrolment {
        id: row.try_get("id")?,
        operator_id: row.try_get("operator_id")?,
        authority_id: row.try_get("authority_id")?,
        csr_der: row.try_get("csr_der")?,
        requested_scope: numbering_scope_from_text(&row.try_get::<String, _>("requested_scope")?)?,
        profile: row.try_get("profile")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        idempotency_key: row.try_get("idempotency_key")?,
        certificate_id: row.try_get("certificate_id")?,
        decision_reason: row.try_get("decision_reason")?,
        created_at: row.try_get("created_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

async fn fetch_certificate<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    condition: &str,
    param: i64,
) -> Result<CertificateRecord> {
    let row = sqlx::query(&format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE {condition}"
    ))
    .bind(param)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("certificate", param))?;
    certificate_from_row(&row)
}

fn certificate_from_row(row: &AnyRow) -> Result<CertificateRecord> {
    Ok(CertificateRecord {
        id: row.try_get("id")?,
        issuer_id: row.try_get("issuer_id")?,
        serial: row.try_get("serial")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        profile: row.try_get("profile")?,
        subject: row.try_get("subject")?,
        operator_id: row.try_get("operator_id")?,
        subject_authority_id: row.try_get("subject_authority_id")?,
        enrolment_id: row.try_get("enrolment_id")?,
        key_id: row.try_get("key_id")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        scope: scope_from_text(&row.try_get::<String, _>("scope")?)?,
        tbs_der: row.try_get("tbs_der")?,
        der: row.try_get("der")?,
        fingerprint: row.try_get("fingerprint")?,
        reserved_at: row.try_get("reserved_at")?,
        issued_at: row.try_get("issued_at")?,
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason: reason_from_column(row.try_get("revocation_reason")?)?,
    })
}

fn ocsp_from_row(row: &AnyRow) -> Result<OcspResponseRecord> {
    Ok(OcspResponseRecord {
        certificate_id: row.try_get("certificate_id")?,
        issuer_id: row.try_get("issuer_id")?,
        sha1_key: row.try_get("sha1_key")?,
        sha256_key: row.try_get("sha256_key")?,
        der: row.try_get("der")?,
        this_update: row.try_get("this_update")?,
        next_update: row.try_get("next_update")?,
    })
}
