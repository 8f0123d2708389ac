//! Delegated OCSP responders: one P-256 key and certificate per CA, so CA keys never sign OCSP
//! (RFC 6960 §4.2.2.2).
//!
//! [`ResponderSet`] is the read side, shared by the gateway and by OCSP responders: it loads
//! the newest valid responder certificate of an issuer whose key this node can open (with the
//! responder passphrase) and pre-signs responses with it. It never issues anything, so an
//! OCSP-only node uses it with no CA key at all and picks rotated responders up from the
//! database. [`Engine::ensure_responder`] is the write side, on CA nodes: it issues a new
//! responder certificate when there is none, or less than half of the current one's validity
//! is left, through the ordinary issuance cycle.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ca_core::ident::Serial;
use ca_core::keys::{KeyAlgorithm, Signer as _};
use ca_core::ocsp::{CertIdHash, CertStatusAnswer, IssuerHashes, Responder, SingleAnswer};
use ca_core::profile::{Profile, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use ca_store::{
    Actor, AuthorityId, CertificateId, CertificateRecord, CertificateStatus, CertifiedSubject,
    KeyPurpose, PreSignedResponse, StoreReader,
};
use jiff::Timestamp;

use crate::clock::{after, seconds_between};
use crate::engine::Engine;
use crate::error::{ServiceError, ServiceResult};
use crate::issuance::CertificateOrder;
use crate::keys::KeyRing;

/// A CA's delegated responder: its name and key hashes for CertID matching, and the signer.
pub struct DelegatedResponder {
    /// The CA it answers for.
    pub issuer_id: AuthorityId,
    /// The CA's name and key hashes.
    pub hashes: IssuerHashes,
    /// The signer, holding the responder key and certificate.
    pub responder: Responder,
    /// The responder certificate's notAfter.
    pub not_after: Timestamp,
    /// The responder certificate's record.
    pub certificate_id: CertificateId,
}

impl std::fmt::Debug for DelegatedResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DelegatedResponder(issuer {}, certificate {}, until {})",
            self.issuer_id, self.certificate_id, self.not_after
        )
    }
}

/// The bytes stored as a CertID key: issuerNameHash ‖ issuerKeyHash ‖ serial.
pub fn cert_id_key_bytes(hashes: &IssuerHashes, hash: CertIdHash, serial: &[u8]) -> Vec<u8> {
    [hashes.name_hash(hash), hashes.key_hash(hash), serial].concat()
}

/// What OCSP says about a certificate record (an abandoned reservation is revoked: the key
/// may have signed it).
pub fn answer_for(record: &CertificateRecord) -> CertStatusAnswer {
    match (record.status, &record.revocation) {
        (CertificateStatus::Valid, _) => CertStatusAnswer::Good,
        (CertificateStatus::Revoked | CertificateStatus::Abandoned, Some(revocation)) => {
            CertStatusAnswer::Revoked {
                time: SystemTime::from(revocation.revoked_at),
                reason: revocation
                    .reason
                    .filter(|r| *r != RevocationReason::Unspecified),
            }
        }
        _ => CertStatusAnswer::Unknown,
    }
}

impl DelegatedResponder {
    /// Signs the response stored for a serial: the SHA-1 CertID (the one clients send by
    /// default; SHA-256 requests are answered live), thisUpdate `now`, nextUpdate after
    /// `validity`.
    pub fn pre_sign(
        &self,
        serial: &Serial,
        status: &CertStatusAnswer,
        now: Timestamp,
        validity: Duration,
    ) -> ServiceResult<PreSignedResponse> {
        let this_update = SystemTime::from(now);
        let next_update = this_update + validity;
        let cert_id = self.hashes.cert_id(CertIdHash::Sha1, &serial.to_x509()?)?;
        let der = self.responder.sign_response(
            &[SingleAnswer {
                cert_id,
                status: *status,
                this_update,
                next_update,
            }],
            this_update,
            None,
        )?;
        Ok(PreSignedResponse {
            sha1_key: cert_id_key_bytes(&self.hashes, CertIdHash::Sha1, serial.as_bytes()),
            sha256_key: cert_id_key_bytes(&self.hashes, CertIdHash::Sha256, serial.as_bytes()),
            der,
            this_update: now,
            next_update: after(now, validity),
        })
    }
}

/// The responders this node can sign with, loaded from the database on demand.
#[derive(Clone)]
pub struct ResponderSet {
    inner: Arc<SetInner>,
}

struct SetInner {
    reader: StoreReader,
    keys: KeyRing,
    response_validity: Duration,
    current: RwLock<HashMap<AuthorityId, Arc<DelegatedResponder>>>,
}

impl ResponderSet {
    /// A set over the stored responders, opening their keys through `keys`; responses it
    /// signs are valid for `response_validity`.
    pub fn new(reader: StoreReader, keys: KeyRing, response_validity: Duration) -> Self {
        Self {
            inner: Arc::new(SetInner {
                reader,
                keys,
                response_validity,
                current: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// How long the responses it signs are valid.
    pub fn response_validity(&self) -> Duration {
        self.inner.response_validity
    }

    /// The responder in memory for an issuer, if any (no database access).
    pub fn cached(&self, issuer: AuthorityId) -> Option<Arc<DelegatedResponder>> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&issuer)
            .cloned()
    }

    /// The responder of `issuer` that is valid at `now`: from memory while its certificate
    /// has more than half its validity left, else the newest one in the database this node
    /// can open (which picks up a rotation done by a CA node). `None` when there is none.
    pub async fn get(
        &self,
        issuer: AuthorityId,
        now: Timestamp,
    ) -> ServiceResult<Option<Arc<DelegatedResponder>>> {
        if let Some(r) = self.cached(issuer) {
            if more_than_half_left(&r, now) {
                return Ok(Some(r));
            }
        }
        let loaded = self.load(issuer, now).await?;
        match loaded {
            Some(r) => Ok(Some(r)),
            // Nothing newer: keep using the one in memory until it expires.
            None => Ok(self.cached(issuer).filter(|r| r.not_after > now)),
        }
    }

    /// Reads the newest valid responder of `issuer` whose key this node can open, and keeps
    /// it in memory.
    pub async fn load(
        &self,
        issuer: AuthorityId,
        now: Timestamp,
    ) -> ServiceResult<Option<Arc<DelegatedResponder>>> {
        let authority = self.inner.reader.authority(issuer).await?;
        let Some(issuer_der) = &authority.certificate_der else {
            return Ok(None);
        };
        let hashes = IssuerHashes::new(&Certificate::from_der(issuer_der)?)?;
        for record in self.inner.reader.responder_certificates(issuer).await? {
            if record.not_after <= now {
                break;
            }
            let (CertifiedSubject::Responder { key, .. }, Some(issued)) =
                (record.certified, &record.issued)
            else {
                continue;
            };
            let handle = match self.inner.keys.open(key, KeyPurpose::OcspResponder).await {
                Ok(handle) => handle,
                Err(e) => {
                    // E.g. a key from before responder keys had a passphrase of their own: a
                    // CA node replaces it (ensure_responder); until then try an older one.
                    tracing::debug!(issuer = %issuer, certificate = %record.id, error = %e,
                        "responder key cannot be opened here");
                    continue;
                }
            };
            let responder = Arc::new(DelegatedResponder {
                issuer_id: issuer,
                hashes: hashes.clone(),
                responder: Responder::new(handle.signer(), &issued.der)?,
                not_after: record.not_after,
                certificate_id: record.id,
            });
            self.install(responder.clone());
            return Ok(Some(responder));
        }
        Ok(None)
    }

    /// Keeps `responder` as its issuer's current one (newer not_after wins).
    pub(crate) fn install(&self, responder: Arc<DelegatedResponder>) {
        let mut map = self
            .inner
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let keep_old = map
            .get(&responder.issuer_id)
            .is_some_and(|old| old.not_after > responder.not_after);
        if !keep_old {
            map.insert(responder.issuer_id, responder);
        }
    }
}

/// Half the validity of a responder certificate: one with less left is replaced.
fn half_validity() -> Duration {
    Profile::OcspResponder.max_validity() / 2
}

fn more_than_half_left(r: &DelegatedResponder, now: Timestamp) -> bool {
    let half = i64::try_from(half_validity().as_secs()).unwrap_or(i64::MAX);
    seconds_between(now, r.not_after) > half
}

impl Engine {
    /// The current responder of a CA held here, issuing a new responder certificate when
    /// there is none, or less than half of the current one's validity is left, or this node
    /// cannot open the current one's key.
    pub async fn ensure_responder(
        &self,
        issuer_id: AuthorityId,
    ) -> ServiceResult<Arc<DelegatedResponder>> {
        let now = self.now();
        if let Some(r) = self.responders().get(issuer_id, now).await? {
            if more_than_half_left(&r, now) {
                return Ok(r);
            }
        }
        let _one_at_a_time = self.inner.responder_issuance.lock().await;
        if let Some(r) = self.responders().load(issuer_id, now).await? {
            if more_than_half_left(&r, now) {
                return Ok(r);
            }
        }
        Box::pin(self.issue_responder(issuer_id)).await
    }

    async fn issue_responder(
        &self,
        issuer_id: AuthorityId,
    ) -> ServiceResult<Arc<DelegatedResponder>> {
        let issuer = self.reader().authority(issuer_id).await?;
        let generated = self
            .keys()
            .generate(KeyAlgorithm::EcdsaP256, KeyPurpose::OcspResponder)
            .await?;
        let subject = SubjectName::new(
            &format!("{} OCSP Responder", truncate(&issuer.name, 40)),
            None,
            None,
        )
        .map_err(ServiceError::internal)?;
        let actor = Actor::system();
        self.warm_issuer_key(issuer.id).await;
        let now = self.now();
        let mut tx = self.begin_write(now).await?;
        // Another CA node may have issued one since this node looked, or be signing one now:
        // checked again under the audit head, so that nodes rotating at once issue one
        // certificate. Until the new one is complete, the current one (still valid) serves;
        // the next pass picks the new one up. Only when no responder can be opened here at
        // all (an older key under another passphrase) does this node issue its own.
        if tx
            .responder_in_place(issuer_id, after(now, half_validity()))
            .await?
        {
            drop(tx);
            if let Some(current) = self.responders().load(issuer_id, now).await? {
                return Ok(current);
            }
            tx = self.begin_write(self.now()).await?;
        }
        let key_id = tx.insert_key(generated.new_key(), &actor).await?;
        let reserved = self
            .reserve_in(
                &mut tx,
                &issuer,
                CertificateOrder {
                    profile: Profile::OcspResponder,
                    subject,
                    public_key: generated.signer().public_key().clone(),
                    scope: None,
                    certified: CertifiedSubject::Responder {
                        authority: issuer_id,
                        key: key_id,
                    },
                    enrolment: None,
                    valid_before: None,
                },
                &actor,
            )
            .await?;
        tx.commit().await?;
        let handle = self.keys().adopt(key_id, generated);
        // Responder certificates carry id-pkix-ocsp-nocheck: nobody asks about them, so no
        // response is pre-signed.
        let record = self.complete_reserved(reserved, &actor, false).await?;
        let der = record.issued.as_ref().ok_or_else(|| {
            ServiceError::internal("a completed responder certificate has no DER")
        })?;
        let hashes = IssuerHashes::new(&Certificate::from_der(
            issuer
                .certificate_der
                .as_deref()
                .ok_or_else(|| ServiceError::internal("an issuing authority has no certificate"))?,
        )?)?;
        let responder = Arc::new(DelegatedResponder {
            issuer_id,
            hashes,
            responder: Responder::new(handle.signer(), &der.der)?,
            not_after: record.not_after,
            certificate_id: record.id,
        });
        self.responders().install(responder.clone());
        tracing::info!(issuer = %issuer.name, certificate = %record.id, "delegated OCSP responder issued");
        Ok(responder)
    }
}

/// The first `max` characters of `text`.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].trim_end(),
        None => text,
    }
}
