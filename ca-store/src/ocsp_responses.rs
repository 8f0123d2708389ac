//! `ocsp_responses`: the current pre-signed OCSP response of each certificate, keyed for
//! lookup by its SHA-1 and SHA-256 CertID key bytes (issuerNameHash ‖ issuerKeyHash ‖ serial).
//!
//! The gateway writes one in the transaction that issues or revokes a certificate. The
//! responders re-sign them before half their validity and write them back through
//! [`OcspResponseWriter`], the one write the read-only nodes may make (docs/architecture.md).

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::columns::{get_time, time_to_column};
use crate::database::{OcspResponseWriter, StoreReader};
use crate::error::Result;
use crate::model::{AuthorityId, CertificateId};

/// A pre-signed OCSP response to store for a certificate.
#[derive(Debug, Clone)]
pub struct PreSignedResponse {
    /// The SHA-1 CertID key bytes.
    pub sha1_key: Vec<u8>,
    /// The SHA-256 CertID key bytes.
    pub sha256_key: Vec<u8>,
    /// The OCSPResponse DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
}

/// A stored OCSP response.
#[derive(Debug, Clone)]
pub struct OcspResponseRecord {
    /// The certificate it is about.
    pub certificate_id: CertificateId,
    /// Its issuer.
    pub issuer_id: AuthorityId,
    /// SHA-1 CertID key.
    pub sha1_key: Vec<u8>,
    /// SHA-256 CertID key.
    pub sha256_key: Vec<u8>,
    /// OCSPResponse DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: Timestamp,
    /// nextUpdate.
    pub next_update: Timestamp,
}

const OCSP_COLUMNS: &str =
    "certificate_id, issuer_id, sha1_key, sha256_key, der, this_update, next_update";

fn ocsp_from_row(row: &AnyRow) -> Result<OcspResponseRecord> {
    Ok(OcspResponseRecord {
        certificate_id: CertificateId(row.try_get("certificate_id")?),
        issuer_id: AuthorityId(row.try_get("issuer_id")?),
        sha1_key: row.try_get("sha1_key")?,
        sha256_key: row.try_get("sha256_key")?,
        der: row.try_get("der")?,
        this_update: get_time(row, "this_update")?,
        next_update: get_time(row, "next_update")?,
    })
}

pub(crate) async fn upsert_ocsp<'e, E>(
    executor: E,
    certificate_id: CertificateId,
    issuer_id: AuthorityId,
    ocsp: &PreSignedResponse,
) -> Result<()>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO ocsp_responses (certificate_id, issuer_id, sha1_key, sha256_key, der, this_update, next_update) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (certificate_id) DO UPDATE SET \
         der = excluded.der, this_update = excluded.this_update, next_update = excluded.next_update",
    )
    .bind(certificate_id.0)
    .bind(issuer_id.0)
    .bind(ocsp.sha1_key.clone())
    .bind(ocsp.sha256_key.clone())
    .bind(ocsp.der.clone())
    .bind(time_to_column(ocsp.this_update))
    .bind(time_to_column(ocsp.next_update))
    .execute(executor)
    .await?;
    Ok(())
}

impl StoreReader {
    /// The stored response of a certificate.
    pub async fn ocsp_response(
        &self,
        certificate_id: CertificateId,
    ) -> Result<Option<OcspResponseRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {OCSP_COLUMNS} FROM ocsp_responses WHERE certificate_id = $1"
        ))
        .bind(certificate_id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(ocsp_from_row).transpose()
    }

    /// Stored responses in certificate order after `after`, at most `limit` (for warming a
    /// cache page by page).
    pub async fn ocsp_responses_page(
        &self,
        after: CertificateId,
        limit: i64,
    ) -> Result<Vec<OcspResponseRecord>> {
        sqlx::query(&format!(
            "SELECT {OCSP_COLUMNS} FROM ocsp_responses WHERE certificate_id > $1 ORDER BY certificate_id LIMIT $2"
        ))
        .bind(after.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(ocsp_from_row)
        .collect()
    }
}

impl OcspResponseWriter {
    /// Replaces a certificate's pre-signed OCSP response (re-signing; not a state change of
    /// the CA, so not audited).
    pub async fn put(
        &self,
        certificate_id: CertificateId,
        issuer_id: AuthorityId,
        ocsp: &PreSignedResponse,
    ) -> Result<()> {
        let mut conn = self.db.write.acquire().await?;
        upsert_ocsp(&mut *conn, certificate_id, issuer_id, ocsp).await
    }
}
