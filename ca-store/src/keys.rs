//! `keys`: the private keys the service holds, encrypted at rest or named in an HSM.
//!
//! A key row is written in the same transaction as the record that uses it (the authority it
//! signs for, the responder certificate it answers with), so a refused operation leaves no
//! key behind. [`StoreReader::orphaned_keys`] finds keys that no record points to (left by
//! versions before that rule); the gateway's sweep destroys them.

use ca_core::keys::KeyAlgorithm;
use jiff::Timestamp;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::columns::{get_time, text_enum, time_to_column};
use crate::database::{StoreReader, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{Actor, KeyId};

text_enum!(
    /// What a key is for. A key serves one purpose for its whole life, and the purpose picks
    /// the passphrase it is encrypted with: an OCSP-only node can open responder keys and
    /// nothing else (docs/architecture.md, "Keys").
    KeyPurpose {
        /// Signs certificates and CRLs for an authority.
        Ca = "ca",
        /// Signs OCSP responses for one authority (a delegated responder).
        OcspResponder = "ocsp-responder",
        /// Signs a SHAKEN domain's indirect CRL (docs/profiles.md, "The domain CRL"); held
        /// on CA nodes, under the CA passphrase.
        CrlSigner = "crl-signer",
    }
);

/// How a private key is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyStorage {
    /// PKCS#8, PBES2-encrypted, PEM.
    Pkcs8Encrypted(String),
    /// A reference to a key inside an HSM.
    Hsm(String),
}

impl std::fmt::Debug for KeyStorage {
    // The ciphertext is not secret, but it has no place in logs either.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pkcs8Encrypted(_) => f.write_str("Pkcs8Encrypted(..)"),
            Self::Hsm(reference) => write!(f, "Hsm({reference})"),
        }
    }
}

/// A stored key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Row id.
    pub id: KeyId,
    /// Curve.
    pub algorithm: KeyAlgorithm,
    /// What it signs.
    pub purpose: KeyPurpose,
    /// The key material or reference.
    pub storage: KeyStorage,
    /// When stored.
    pub created_at: Timestamp,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Curve.
    pub algorithm: KeyAlgorithm,
    /// What it signs.
    pub purpose: KeyPurpose,
    /// The key material or reference.
    pub storage: KeyStorage,
}

const KEY_COLUMNS: &str =
    "id, algorithm, purpose, storage, pkcs8_encrypted_pem, hsm_reference, created_at";

fn key_from_row(row: &AnyRow) -> Result<StoredKey> {
    let id = KeyId(row.try_get("id")?);
    let storage: String = row.try_get("storage")?;
    let storage = match storage.as_str() {
        "hsm" => KeyStorage::Hsm(
            row.try_get::<Option<String>, _>("hsm_reference")?
                .ok_or_else(|| {
                    StoreError::corrupt("key", format!("key {id} has no HSM reference"))
                })?,
        ),
        "pkcs8-encrypted" => KeyStorage::Pkcs8Encrypted(
            row.try_get::<Option<String>, _>("pkcs8_encrypted_pem")?
                .ok_or_else(|| StoreError::corrupt("key", format!("key {id} has no PKCS#8")))?,
        ),
        other => {
            return Err(StoreError::corrupt(
                "key storage",
                format!("key {id}: {other:?}"),
            ))
        }
    };
    let algorithm: String = row.try_get("algorithm")?;
    Ok(StoredKey {
        id,
        algorithm: algorithm
            .parse()
            .map_err(|e| StoreError::corrupt("key algorithm", format!("key {id}: {e}")))?,
        purpose: row.try_get::<String, _>("purpose")?.parse()?,
        storage,
        created_at: get_time(row, "created_at")?,
    })
}

impl StoreReader {
    /// A stored key.
    pub async fn key(&self, id: KeyId) -> Result<StoredKey> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::not_found("key", id))?;
        key_from_row(&row)
    }

    /// Keys created before `before` that no authority, certificate or CRL signer points to.
    pub async fn orphaned_keys(&self, before: Timestamp) -> Result<Vec<StoredKey>> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM authorities a WHERE a.key_id = keys.id) \
             AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.key_id = keys.id) \
             AND NOT EXISTS (SELECT 1 FROM crl_signers s WHERE s.key_id = keys.id) ORDER BY id"
        ))
        .bind(time_to_column(before))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(key_from_row)
        .collect()
    }
}

impl WriteTx {
    /// Stores a key (its material is not audited, only its id, algorithm and purpose).
    pub async fn insert_key(&mut self, new: &NewKey, actor: &Actor) -> Result<KeyId> {
        let (kind, pem, reference) = match &new.storage {
            KeyStorage::Pkcs8Encrypted(pem) => ("pkcs8-encrypted", Some(pem.as_str()), None),
            KeyStorage::Hsm(r) => ("hsm", None, Some(r.as_str())),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO keys (algorithm, purpose, storage, pkcs8_encrypted_pem, hsm_reference, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.algorithm.name())
        .bind(new.purpose.as_str())
        .bind(kind)
        .bind(pem)
        .bind(reference)
        .bind(self.now_column())
        .fetch_one(&mut *self.tx)
        .await?;
        self.audit(
            actor,
            "key.created",
            &format!("key:{id}"),
            json!({"algorithm": new.algorithm.name(), "purpose": new.purpose, "storage": kind}),
        )
        .await?;
        Ok(KeyId(id))
    }

    /// Destroys a key that no record points to (the sweep of orphans). Refused (Conflict)
    /// when something points to it after all.
    pub async fn destroy_orphaned_key(&mut self, id: KeyId, actor: &Actor) -> Result<()> {
        let used: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM authorities WHERE key_id = $1) + \
             (SELECT COUNT(*) FROM certificates WHERE key_id = $1)",
        )
        .bind(id.0)
        .fetch_one(&mut *self.tx)
        .await?;
        if used > 0 {
            return Err(StoreError::Conflict(format!("key {id} is in use")));
        }
        let done = sqlx::query("DELETE FROM keys WHERE id = $1")
            .bind(id.0)
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("key", id));
        }
        self.audit(
            actor,
            "key.destroyed",
            &format!("key:{id}"),
            json!({"why": "no authority or certificate refers to it"}),
        )
        .await?;
        Ok(())
    }
}
