//! `certificates`: every certificate tsca ever meant to sign, from its reservation to its
//! revocation (docs/issuance.md). Record before sign: the row is written as `reserved` with
//! the to-be-signed bytes before the key signs, then completed to `valid`. A reservation
//! whose owner stopped heartbeating is `abandoned`: treated as revoked
//! (cessationOfOperation), because the key may have signed before the owner died.

use ca_core::ident::{Fingerprint, KeyFingerprint, Serial};
use ca_core::numbering::ScopeConstraint;
use ca_core::profile::Profile;
use ca_core::revocation::RevocationReason;
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row};

use crate::columns::{
    get_optional_time, get_time, required, scope_from_text, sha256_from_hex, text_enum,
    time_to_column,
};
use crate::database::StoreReader;
use crate::error::{Result, StoreError};
use crate::lookup::IndexedCertificate;
use crate::model::{AuthorityId, CertificateId, EnrolmentId, InstanceId, KeyId, OperatorId};

text_enum!(
    /// Where a certificate stands (see docs/issuance.md for the cycle).
    CertificateStatus {
        /// Serial and to-be-signed bytes recorded; the signature may not exist yet.
        Reserved = "reserved",
        /// Signed, stored and good.
        Valid = "valid",
        /// Revoked.
        Revoked = "revoked",
        /// A reservation whose owner died: treated as revoked, because the key may have
        /// signed before it did.
        Abandoned = "abandoned",
    }
);

/// Whom a certificate certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertifiedSubject {
    /// An operator (end-entity certificates).
    Operator(OperatorId),
    /// A sub-CA.
    Authority(AuthorityId),
    /// A CA's delegated OCSP responder, whose key the service holds.
    Responder {
        /// The CA it answers for.
        authority: AuthorityId,
        /// Its key.
        key: KeyId,
    },
}

impl CertifiedSubject {
    pub(crate) fn columns(self) -> (Option<i64>, Option<i64>, Option<i64>) {
        match self {
            Self::Operator(o) => (Some(o.0), None, None),
            Self::Authority(a) => (None, Some(a.0), None),
            Self::Responder { authority, key } => (None, Some(authority.0), Some(key.0)),
        }
    }

    pub(crate) fn from_columns(
        id: CertificateId,
        operator: Option<i64>,
        authority: Option<i64>,
        key: Option<i64>,
    ) -> Result<Self> {
        match (operator, authority, key) {
            (Some(o), None, None) => Ok(Self::Operator(OperatorId(o))),
            (None, Some(a), None) => Ok(Self::Authority(AuthorityId(a))),
            (None, Some(a), Some(k)) => Ok(Self::Responder {
                authority: AuthorityId(a),
                key: KeyId(k),
            }),
            _ => Err(StoreError::corrupt(
                "certificate subject",
                format!(
                    "certificate {id}: operator {operator:?}, authority {authority:?}, key {key:?}"
                ),
            )),
        }
    }

    /// The operator, for operator certificates.
    pub fn operator(self) -> Option<OperatorId> {
        match self {
            Self::Operator(o) => Some(o),
            _ => None,
        }
    }
}

/// The signed certificate of a record.
#[derive(Debug, Clone)]
pub struct Issued {
    /// DER.
    pub der: Vec<u8>,
    /// SHA-256 of `der`.
    pub fingerprint: Fingerprint,
    /// When it was stored.
    pub issued_at: Timestamp,
}

/// How a certificate was revoked (or abandoned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// When.
    pub revoked_at: Timestamp,
    /// Why, when a reason was recorded.
    pub reason: Option<RevocationReason>,
}

/// A certificate as recorded. `issued` is present exactly for valid and revoked records,
/// `revocation` exactly for revoked and abandoned ones (checked when read).
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    /// Row id.
    pub id: CertificateId,
    /// Issuing authority.
    pub issuer_id: AuthorityId,
    /// Serial number.
    pub serial: Serial,
    /// Status.
    pub status: CertificateStatus,
    /// Profile.
    pub profile: Profile,
    /// Subject DN, as text.
    pub subject: String,
    /// Whom it certifies.
    pub certified: CertifiedSubject,
    /// The enrolment it answers.
    pub enrolment_id: Option<EnrolmentId>,
    /// notBefore.
    pub not_before: Timestamp,
    /// notAfter.
    pub not_after: Timestamp,
    /// Its numbering scope.
    pub scope: ScopeConstraint,
    /// The to-be-signed bytes recorded before signing.
    pub tbs_der: Vec<u8>,
    /// The certified public key.
    pub public_key: KeyFingerprint,
    /// When reserved.
    pub reserved_at: Timestamp,
    /// The instance that reserved it (none for reservations older than leases).
    pub reserved_by: Option<InstanceId>,
    /// The signed certificate.
    pub issued: Option<Issued>,
    /// Its revocation.
    pub revocation: Option<Revocation>,
}

impl CertificateRecord {
    /// The fingerprint, once signed.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.issued.as_ref().map(|i| i.fingerprint)
    }

    /// The operator it certifies, for operator certificates.
    pub fn operator_id(&self) -> Option<OperatorId> {
        self.certified.operator()
    }
}

/// What issuance records before the key signs (docs/issuance.md, step S1).
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Issuing authority.
    pub issuer_id: AuthorityId,
    /// Serial number.
    pub serial: Serial,
    /// Profile.
    pub profile: Profile,
    /// Subject DN as text.
    pub subject: String,
    /// Whom it certifies.
    pub certified: CertifiedSubject,
    /// Enrolment answered.
    pub enrolment_id: Option<EnrolmentId>,
    /// notBefore.
    pub not_before: Timestamp,
    /// notAfter.
    pub not_after: Timestamp,
    /// Scope.
    pub scope: ScopeConstraint,
    /// The linted to-be-signed certificate.
    pub tbs_der: Vec<u8>,
    /// The certified public key.
    pub public_key: KeyFingerprint,
    /// The instance reserving it (its lease decides when the reservation is orphaned).
    pub reserved_by: InstanceId,
}

/// Filters for listing certificates.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Only this issuer's.
    pub issuer_id: Option<AuthorityId>,
    /// Only this operator's.
    pub operator_id: Option<OperatorId>,
    /// Only in this status.
    pub status: Option<CertificateStatus>,
    /// Only with id greater than this (keyset pagination).
    pub after_id: Option<CertificateId>,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<i64>,
}

/// A revoked serial, as a CRL lists it.
#[derive(Debug, Clone)]
pub struct RevokedSerial {
    /// Serial.
    pub serial: Serial,
    /// Revocation time.
    pub revoked_at: Timestamp,
    /// Reason, if one was given.
    pub reason: Option<RevocationReason>,
}

/// A certificate that certifies a given public key (the key policy's view).
#[derive(Debug, Clone)]
pub struct KeyBinding {
    /// The certificate.
    pub certificate_id: CertificateId,
    /// Whom it certifies.
    pub certified: CertifiedSubject,
    /// Its status.
    pub status: CertificateStatus,
    /// Why it was revoked.
    pub reason: Option<RevocationReason>,
}

pub(crate) const CERTIFICATE_COLUMNS: &str = "id, issuer_id, serial, status, profile, subject, operator_id, \
     subject_authority_id, enrolment_id, key_id, not_before, not_after, scope, tbs_der, der, \
     fingerprint, public_key_sha256, reserved_at, reserved_by, issued_at, revoked_at, revocation_reason";

pub(crate) fn reason_from_column(code: Option<i64>) -> Result<Option<RevocationReason>> {
    code.map(|c| {
        u8::try_from(c)
            .ok()
            .and_then(RevocationReason::from_code)
            .ok_or_else(|| StoreError::corrupt("revocation reason", c))
    })
    .transpose()
}

fn serial_from_column(id: impl std::fmt::Display, bytes: &[u8]) -> Result<Serial> {
    Serial::new(bytes).map_err(|e| StoreError::corrupt("serial", format!("certificate {id}: {e}")))
}

pub(crate) async fn fetch_certificate<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    id: CertificateId,
) -> Result<CertificateRecord> {
    let row = sqlx::query(&format!(
        "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::not_found("certificate", id))?;
    certificate_from_row(&row)
}

pub(crate) fn certificate_from_row(row: &AnyRow) -> Result<CertificateRecord> {
    let id = CertificateId(row.try_get("id")?);
    let status: CertificateStatus = row.try_get::<String, _>("status")?.parse()?;
    let profile: String = row.try_get("profile")?;
    let der: Option<Vec<u8>> = row.try_get("der")?;
    let fingerprint: Option<String> = row.try_get("fingerprint")?;
    let issued_at = get_optional_time(row, "issued_at")?;
    let signed = matches!(
        status,
        CertificateStatus::Valid | CertificateStatus::Revoked
    );
    let issued = if signed {
        let der = required(der, "certificate DER", format_args!("certificate {id}"))?;
        let fingerprint = required(fingerprint, "fingerprint", format_args!("certificate {id}"))?;
        Some(Issued {
            fingerprint: Fingerprint::from_bytes(sha256_from_hex("fingerprint", &fingerprint)?),
            der,
            issued_at: required(issued_at, "issued_at", format_args!("certificate {id}"))?,
        })
    } else {
        None
    };
    let revoked_at = get_optional_time(row, "revoked_at")?;
    let ended = matches!(
        status,
        CertificateStatus::Revoked | CertificateStatus::Abandoned
    );
    let revocation = if ended {
        Some(Revocation {
            revoked_at: required(revoked_at, "revoked_at", format_args!("certificate {id}"))?,
            reason: reason_from_column(row.try_get("revocation_reason")?)?,
        })
    } else {
        None
    };
    let public_key: Option<String> = row.try_get("public_key_sha256")?;
    let public_key = required(
        public_key,
        "public_key_sha256",
        format_args!("certificate {id}"),
    )?;
    Ok(CertificateRecord {
        id,
        issuer_id: AuthorityId(row.try_get("issuer_id")?),
        serial: serial_from_column(id, &row.try_get::<Vec<u8>, _>("serial")?)?,
        status,
        profile: profile.parse().map_err(|e| {
            StoreError::corrupt("certificate profile", format!("certificate {id}: {e}"))
        })?,
        subject: row.try_get("subject")?,
        certified: CertifiedSubject::from_columns(
            id,
            row.try_get("operator_id")?,
            row.try_get("subject_authority_id")?,
            row.try_get("key_id")?,
        )?,
        enrolment_id: row
            .try_get::<Option<i64>, _>("enrolment_id")?
            .map(EnrolmentId),
        not_before: get_time(row, "not_before")?,
        not_after: get_time(row, "not_after")?,
        scope: scope_from_text(&row.try_get::<String, _>("scope")?)?,
        tbs_der: row.try_get("tbs_der")?,
        public_key: KeyFingerprint::from_bytes(sha256_from_hex("public_key_sha256", &public_key)?),
        reserved_at: get_time(row, "reserved_at")?,
        reserved_by: row
            .try_get::<Option<String>, _>("reserved_by")?
            .map(InstanceId::new),
        issued,
        revocation,
    })
}

/// Valid operator certificates matching `condition` (on one `$1` parameter), without DER.
pub(crate) async fn fetch_indexed_certificates<'e, E: sqlx::Executor<'e, Database = Any>>(
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
            let id = CertificateId(row.try_get("id")?);
            let operator: Option<i64> = row.try_get("operator_id")?;
            let fingerprint: Option<String> = row.try_get("fingerprint")?;
            let fingerprint =
                required(fingerprint, "fingerprint", format_args!("certificate {id}"))?;
            Ok(IndexedCertificate {
                certificate_id: id,
                operator_id: OperatorId(required(
                    operator,
                    "operator_id",
                    format_args!("certificate {id}"),
                )?),
                fingerprint: Fingerprint::from_bytes(sha256_from_hex("fingerprint", &fingerprint)?),
                not_after: get_time(row, "not_after")?,
                scope: scope_from_text(&row.try_get::<String, _>("scope")?)?,
            })
        })
        .collect()
}

/// Fills `public_key_sha256` of rows written before the column existed, from their recorded
/// to-be-signed bytes (once, at open; a no-op afterwards).
pub(crate) async fn backfill_public_keys(pool: &AnyPool) -> Result<()> {
    let rows = sqlx::query("SELECT id, tbs_der FROM certificates WHERE public_key_sha256 IS NULL")
        .fetch_all(pool)
        .await?;
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let tbs: Vec<u8> = row.try_get("tbs_der")?;
        let tbs = <ca_core::x509::TbsCertificate as der::Decode>::from_der(&tbs)
            .map_err(|e| StoreError::corrupt("tbs_der", format!("certificate {id}: {e}")))?;
        let key = KeyFingerprint::of_spki(&tbs.subject_public_key_info)
            .map_err(|e| StoreError::corrupt("tbs_der", format!("certificate {id}: {e}")))?;
        sqlx::query("UPDATE certificates SET public_key_sha256 = $1 WHERE id = $2")
            .bind(key.to_string())
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(())
}

impl StoreReader {
    /// A certificate by row id.
    pub async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord> {
        fetch_certificate(self.pool(), id).await
    }

    /// A certificate by SHA-256 fingerprint.
    pub async fn certificate_by_fingerprint(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<CertificateRecord> {
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE fingerprint = $1"
        ))
        .bind(fingerprint.to_string())
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("certificate", fingerprint))?;
        certificate_from_row(&row)
    }

    /// A certificate by issuer and serial, if one was ever reserved.
    pub async fn certificate_by_serial(
        &self,
        issuer_id: AuthorityId,
        serial: &[u8],
    ) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE issuer_id = $1 AND serial = $2"
        ))
        .bind(issuer_id.0)
        .bind(serial.to_vec())
        .fetch_optional(self.pool())
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
        .bind(filter.issuer_id.map(|a| a.0))
        .bind(filter.operator_id.map(|o| o.0))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.after_id.map_or(0, |c| c.0))
        .bind(filter.limit.unwrap_or(100).clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(certificate_from_row)
        .collect()
    }

    /// The responder certificates of an authority that are valid, newest first.
    pub async fn responder_certificates(
        &self,
        authority: AuthorityId,
    ) -> Result<Vec<CertificateRecord>> {
        sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE subject_authority_id = $1 \
             AND key_id IS NOT NULL AND profile = $2 AND status = 'valid' \
             ORDER BY not_after DESC, id DESC"
        ))
        .bind(authority.0)
        .bind(Profile::OcspResponder.name())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(certificate_from_row)
        .collect()
    }

    /// Every revoked or abandoned serial of an issuer, for its CRL.
    pub async fn revoked_serials(&self, issuer_id: AuthorityId) -> Result<Vec<RevokedSerial>> {
        let rows = sqlx::query(
            "SELECT id, serial, revoked_at, revocation_reason FROM certificates \
             WHERE issuer_id = $1 AND status IN ('revoked', 'abandoned') ORDER BY id",
        )
        .bind(issuer_id.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(RevokedSerial {
                    serial: serial_from_column(id, &row.try_get::<Vec<u8>, _>("serial")?)?,
                    revoked_at: required(
                        get_optional_time(row, "revoked_at")?,
                        "revoked_at",
                        format_args!("certificate {id}"),
                    )?,
                    reason: reason_from_column(row.try_get("revocation_reason")?)?,
                })
            })
            .collect()
    }

    /// The valid, unexpired operator certificates, without their DER: what the lookup
    /// index needs.
    pub async fn indexed_certificates(&self, at: Timestamp) -> Result<Vec<IndexedCertificate>> {
        fetch_indexed_certificates(self.pool(), "not_after > $1", time_to_column(at)).await
    }

    /// Reservations that nobody holds any more: not completed, and their instance has not
    /// heartbeated since `heartbeat_before` (or is gone, or the row predates leases).
    pub async fn orphaned_reservations(
        &self,
        heartbeat_before: Timestamp,
    ) -> Result<Vec<CertificateRecord>> {
        sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE status = 'reserved' \
             AND (reserved_by IS NULL OR reserved_by NOT IN \
             (SELECT id FROM instances WHERE heartbeat_at >= $1)) ORDER BY id"
        ))
        .bind(time_to_column(heartbeat_before))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(certificate_from_row)
        .collect()
    }
}

impl StoreReader {
    /// Reservations made by `instance` before `before` that are still reserved.
    pub async fn reservations_of(
        &self,
        instance: &InstanceId,
        before: Timestamp,
    ) -> Result<Vec<CertificateRecord>> {
        sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE status = 'reserved' \
             AND reserved_by = $1 AND reserved_at < $2 ORDER BY id"
        ))
        .bind(instance.as_str())
        .bind(time_to_column(before))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(certificate_from_row)
        .collect()
    }
}
