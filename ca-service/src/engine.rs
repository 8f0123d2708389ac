//! The engine: CA operations over the store, with the service-held keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca_core::crl::{sign_crl, RevokedEntry};
use ca_core::csr::{build_csr, CheckedCsr};
use ca_core::ext::certificate_scope;
use ca_core::issue::{prepare, CertificateRequest, IssuedCertificate, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::{NumberingScope, ScopeConstraint};
use ca_core::ocsp::{CertIdHash, CertStatusAnswer, IssuerHashes, Responder, SingleAnswer};
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use ca_store::*;
use rand_core::OsRng;
use x509_cert::serial_number::SerialNumber;
use zeroize::Zeroizing;

use crate::error::{ServiceError, ServiceResult};

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Base of the plain-HTTP publication URLs written into certificates, e.g.
    /// `http://127.0.0.1:8080`: CRLs at `{base}/crl/{authority}.crl`, OCSP at `{base}/ocsp`,
    /// CA certificates at `{base}/ca/{authority}.der`.
    pub public_base_url: String,
    /// PBKDF2 iterations for keys encrypted at rest (600,000 in production; tests lower it).
    pub kdf_iterations: u32,
    /// Validity of pre-signed OCSP responses (nextUpdate − thisUpdate).
    pub ocsp_validity: Duration,
    /// Validity of CRLs.
    pub crl_validity: Duration,
}

impl EngineConfig {
    /// Production defaults for a base URL: OCSP responses valid 1 day, CRLs 7 days.
    pub fn new(public_base_url: impl Into<String>) -> Self {
        Self {
            public_base_url: public_base_url.into().trim_end_matches('/').to_owned(),
            kdf_iterations: 600_000,
            ocsp_validity: Duration::from_secs(24 * 3600),
            crl_validity: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What [`Engine::create_authority`] is asked.
#[derive(Debug, Clone)]
pub struct AuthorityRequest {
    /// Unique name (used in URLs).
    pub name: String,
    /// Regional or national.
    pub tier: Tier,
    /// The parent authority.
    pub parent_id: i64,
    /// The numbering scope, inside the parent's.
    pub scope: NumberingScope,
    /// Its certificate subject.
    pub subject: SubjectName,
    /// Approve enrolments within scope without a person.
    pub auto_approve: bool,
}

/// The outcome of [`Engine::create_authority`].
#[derive(Debug, Clone)]
pub struct CreatedAuthority {
    /// The authority (active, or awaiting its certificate).
    pub authority: Authority,
    /// The CSR (PEM) to take to the offline parent, when the parent's key is not held here.
    pub csr_pem: Option<String>,
}

/// A delegated OCSP responder for one CA.
pub struct IssuerResponder {
    /// The CA.
    pub issuer_id: i64,
    /// The CA's name and key hashes, for CertID matching.
    pub hashes: IssuerHashes,
    /// The signer, holding the responder key and certificate.
    pub responder: Responder,
    /// The responder certificate's notAfter.
    pub not_after: Timestamp,
}

impl std::fmt::Debug for IssuerResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IssuerResponder(issuer {}, until {})",
            self.issuer_id, self.not_after
        )
    }
}

/// The CA engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: EngineConfig,
    passphrase: Zeroizing<Vec<u8>>,
    /// Decrypted keys by key id (decrypting costs a PBKDF2 run).
    keys: Mutex<HashMap<i64, Arc<SoftwareKey>>>,
    /// Current responder per issuer.
    responders: Mutex<HashMap<i64, Arc<IssuerResponder>>>,
    /// Serialises responder issuance per process (two concurrent misses issue one).
    responder_issuance: tokio::sync::Mutex<()>,
}

/// Seconds since the epoch of a `SystemTime`.
pub fn to_timestamp(t: SystemTime) -> Timestamp {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The `SystemTime` of a timestamp.
pub fn from_timestamp(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)
}

fn serial_number(bytes: &[u8]) -> ServiceResult<SerialNumber> {
    SerialNumber::new(bytes).map_err(|e| ServiceError::Invalid(format!("bad serial: {e}")))
}

/// The bytes stored as a CertID key: issuerNameHash ‖ issuerKeyHash ‖ serial.
pub fn cert_id_key_bytes(hashes: &IssuerHashes, hash: CertIdHash, serial: &[u8]) -> Vec<u8> {
    [hashes.name_hash(hash), hashes.key_hash(hash), serial].concat()
}

impl Engine {
    /// An engine over `store`, unlocking service-held keys with `passphrase`.
    pub fn new(store: Store, passphrase: &[u8], config: EngineConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                passphrase: Zeroizing::new(passphrase.to_vec()),
                keys: Mutex::new(HashMap::new()),
                responders: Mutex::new(HashMap::new()),
                responder_issuance: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The publication URLs of an authority.
    pub fn publication(&self, authority_name: &str) -> Publication {
        let base = &self.inner.config.public_base_url;
        Publication {
            crl_url: Some(format!("{base}/crl/{authority_name}.crl")),
            ocsp_url: Some(format!("{base}/ocsp")),
            ca_issuers_url: Some(format!("{base}/ca/{authority_name}.der")),
        }
    }

    // ---- keys -----------------------------------------------------------------------------

    /// Generates a key, stores it encrypted and returns its id and signer.
    pub async fn generate_key(
        &self,
        algorithm: KeyAlgorithm,
        actor: &Actor,
    ) -> ServiceResult<(i64, Arc<SoftwareKey>)> {
        let passphrase = self.inner.passphrase.clone();
        let iterations = self.inner.config.kdf_iterations;
        let (key, pem) = tokio::task::spawn_blocking(move || -> ServiceResult<_> {
            let key = SoftwareKey::generate(algorithm)?;
            let pem = key.to_encrypted_pem_with_iterations(&passphrase, &mut OsRng, iterations)?;
            Ok((key, pem))
        })
        .await
        .map_err(|e| ServiceError::Invalid(format!("key generation task failed: {e}")))??;
        let id = self
            .store()
            .store_key(algorithm.name(), &KeyStorage::Pkcs8Encrypted(pem), actor)
            .await?;
        let key = Arc::new(key);
        self.lock_keys().insert(id, key.clone());
        Ok((id, key))
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<SoftwareKey>>> {
        self.inner
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_responders(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<IssuerResponder>>> {
        self.inner
            .responders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The signer of a stored key (decrypted once, then cached).
    pub async fn signer(&self, key_id: i64) -> ServiceResult<Arc<SoftwareKey>> {
        if let Some(key) = self.lock_keys().get(&key_id) {
            return Ok(key.clone());
        }
        let stored = self.store().key(key_id).await?;
        let KeyStorage::Pkcs8Encrypted(pem) = stored.storage else {
            return Err(ServiceError::Key {
                key_id,
                reason: "HSM keys are not supported by this build".into(),
            });
        };
        let passphrase = self.inner.passphrase.clone();
        let key =
            tokio::task::spawn_blocking(move || SoftwareKey::from_encrypted_pem(&pem, &passphrase))
                .await
                .map_err(|e| ServiceError::Invalid(format!("key decryption task failed: {e}")))?
                .map_err(|e| ServiceError::Key {
                    key_id,
                    reason: format!("{e} (is the key passphrase right?)"),
                })?;
        let key = Arc::new(key);
        self.lock_keys().insert(key_id, key.clone());
        Ok(key)
    }

    // ---- authorities ----------------------------------------------------------------------

    /// Records a root whose key is kept offline: only its self-signed certificate enters the
    /// database. The caller (a ceremony) signs it with the offline key beforehand.
    pub async fn register_root(
        &self,
        name: &str,
        root_certificate_der: &[u8],
        actor: &Actor,
    ) -> ServiceResult<Authority> {
        let cert = Certificate::from_der(root_certificate_der)?;
        if cert.tbs_certificate.issuer != cert.tbs_certificate.subject {
            return Err(ServiceError::Invalid(
                "a root certificate must be self-issued".into(),
            ));
        }
        // Self-signed: its own key must verify its signature.
        let tbs_der = der::Encode::to_der(&cert.tbs_certificate)
            .map_err(|e| ServiceError::Invalid(format!("root certificate: {e}")))?;
        let signature = cert.signature.as_bytes().ok_or_else(|| {
            ServiceError::Invalid("root certificate signature is malformed".into())
        })?;
        ca_core::verify::verify_signature(
            &cert.signature_algorithm,
            &cert.tbs_certificate.subject_public_key_info,
            &tbs_der,
            signature,
            "the root certificate's self-signature does not verify",
        )?;
        Ok(self
            .store()
            .create_authority(
                &NewAuthority {
                    name: name.to_owned(),
                    tier: Tier::Root,
                    parent_id: None,
                    scope: ScopeConstraint::Unconstrained,
                    status: AuthorityStatus::Active,
                    auto_approve: false,
                    key_id: None,
                    csr_der: None,
                    certificate_der: Some(root_certificate_der.to_vec()),
                },
                actor,
            )
            .await?)
    }

    /// The issuing view of an active authority whose key this service holds.
    pub async fn issuing_authority(
        &self,
        authority: &Authority,
    ) -> ServiceResult<(IssuingAuthority, Arc<SoftwareKey>)> {
        let (Some(der), Some(key_id)) = (&authority.certificate_der, authority.key_id) else {
            return Err(ServiceError::Invalid(format!(
                "authority {} cannot issue here: its key is offline or it has no certificate yet",
                authority.name
            )));
        };
        if authority.status != AuthorityStatus::Active {
            return Err(ServiceError::Invalid(format!(
                "authority {} is {}, not active",
                authority.name, authority.status
            )));
        }
        let cert = Certificate::from_der(der)?;
        let issuing = IssuingAuthority::new(cert, self.publication(&authority.name))?;
        Ok((issuing, self.signer(key_id).await?))
    }

    /// Creates a regional or national CA under `parent_id`. Its key is generated here. When
    /// the parent's key is held here the certificate is issued at once; otherwise the answer
    /// holds a CSR and the authority waits for [`Self::install_authority_certificate`].
    pub async fn create_authority(
        &self,
        request: &AuthorityRequest,
        actor: &Actor,
    ) -> ServiceResult<CreatedAuthority> {
        let parent = self.store().authority(request.parent_id).await?;
        let profile =
            match request.tier {
                Tier::Regional => Profile::RegionalCa,
                Tier::National => Profile::NationalCa,
                Tier::Root => return Err(ServiceError::Invalid(
                    "a root is created by the root ceremony (tsca ceremony init-root), not here"
                        .into(),
                )),
            };
        let outside = parent.scope.not_covering(&request.scope);
        if !outside.is_empty() {
            return Err(ServiceError::out_of_scope(
                &outside,
                "the parent's scope",
                &parent.scope,
            ));
        }
        // Refuse here, before the key and the authority row are written: issuance would refuse
        // it later (pathLenConstraint 0) and leave an authority without CSR or certificate.
        if parent.tier == Tier::National {
            return Err(ServiceError::Invalid(format!(
                "authority {} is a national CA (pathLenConstraint 0): it may issue operator and \
                 responder certificates, not CAs",
                parent.name
            )));
        }
        let (key_id, key) = self.generate_key(KeyAlgorithm::EcdsaP384, actor).await?;
        let parent_holds_key = parent.key_id.is_some() && parent.status == AuthorityStatus::Active;
        let csr = if parent_holds_key {
            None
        } else {
            Some(build_csr(&request.subject, key.as_ref())?)
        };
        let authority = self
            .store()
            .create_authority(
                &NewAuthority {
                    name: request.name.clone(),
                    tier: request.tier,
                    parent_id: Some(parent.id),
                    scope: ScopeConstraint::Within(request.scope.clone()),
                    status: AuthorityStatus::AwaitingCertificate,
                    auto_approve: request.auto_approve,
                    key_id: Some(key_id),
                    csr_der: csr.clone(),
                    certificate_der: None,
                },
                actor,
            )
            .await?;
        if let Some(csr) = csr {
            let csr_pem = ca_core::x509::pem_encode("CERTIFICATE REQUEST", &csr)?;
            return Ok(CreatedAuthority {
                authority,
                csr_pem: Some(csr_pem),
            });
        }
        let record = self
            .issue(
                &IssueRequest {
                    issuer_id: parent.id,
                    profile,
                    subject: request.subject.clone(),
                    public_key: key.public_key().clone(),
                    scope: Some(request.scope.clone()),
                    validity: None,
                    operator_id: None,
                    subject_authority_id: Some(authority.id),
                    enrolment_id: None,
                    key_id: None,
                },
                actor,
            )
            .await?;
        let der = record.der.clone().unwrap_or_default();
        let authority = self
            .store()
            .install_authority_certificate(authority.id, &der, actor)
            .await?;
        Ok(CreatedAuthority {
            authority,
            csr_pem: None,
        })
    }

    /// Installs the certificate an offline parent signed for an authority awaiting it. It
    /// must chain to the parent, certify the key of the authority's CSR, and carry exactly
    /// the authority's scope.
    pub async fn install_authority_certificate(
        &self,
        authority_id: i64,
        certificate_der: &[u8],
        actor: &Actor,
    ) -> ServiceResult<Authority> {
        let authority = self.store().authority(authority_id).await?;
        if authority.status != AuthorityStatus::AwaitingCertificate {
            return Err(ServiceError::Invalid(format!(
                "authority {} is {}, not awaiting a certificate",
                authority.name, authority.status
            )));
        }
        let cert = Certificate::from_der(certificate_der)?;
        let key_id = authority
            .key_id
            .ok_or_else(|| ServiceError::Invalid("authority has no key".into()))?;
        let key = self.signer(key_id).await?;
        if &cert.tbs_certificate.subject_public_key_info != key.public_key() {
            return Err(ServiceError::Invalid(
                "the certificate does not certify this authority's key (the one in its CSR)".into(),
            ));
        }
        let chain = self.chain_certificates(authority.parent_id).await?;
        let mut path = vec![cert.clone()];
        path.extend(chain.iter().cloned());
        let anchor = path.last().cloned().into_iter().collect::<Vec<_>>();
        ca_core::path::verify_path(&path, &anchor, SystemTime::now())?;
        let cert_scope = certificate_scope(&cert)?.unwrap_or_default();
        if ScopeConstraint::Within(cert_scope.clone()) != authority.scope {
            return Err(ServiceError::Invalid(format!(
                "the certificate's numbering scope ({cert_scope}) differs from the authority's ({})",
                authority.scope
            )));
        }
        Ok(self
            .store()
            .install_authority_certificate(authority_id, certificate_der, actor)
            .await?)
    }

    /// The certificates from authority `id` up to its root (inclusive), child first.
    pub async fn chain_certificates(&self, mut id: Option<i64>) -> ServiceResult<Vec<Certificate>> {
        let mut chain = Vec::new();
        while let Some(current) = id {
            let authority = self.store().authority(current).await?;
            let der = authority.certificate_der.ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "authority {} has no certificate yet",
                    authority.name
                ))
            })?;
            chain.push(Certificate::from_der(&der)?);
            id = authority.parent_id;
            if chain.len() > 8 {
                return Err(ServiceError::Invalid(
                    "authority hierarchy deeper than 8".into(),
                ));
            }
        }
        Ok(chain)
    }

    /// The PEM chain served for a certificate: the certificate, then its issuers up to but
    /// excluding the root (relying parties hold the root as a trust anchor).
    pub async fn chain_pem(&self, record: &CertificateRecord) -> ServiceResult<String> {
        let der = record
            .der
            .as_ref()
            .ok_or_else(|| ServiceError::Invalid("the certificate is not signed".into()))?;
        let mut pem = ca_core::x509::pem_encode("CERTIFICATE", der)?;
        let chain = self.chain_certificates(Some(record.issuer_id)).await?;
        let without_root = chain.len().saturating_sub(1);
        for cert in chain.iter().take(without_root) {
            pem.push_str(&cert.to_pem()?);
        }
        Ok(pem)
    }

    // ---- issuance -------------------------------------------------------------------------

    /// Issues a certificate through the record-before-sign cycle (docs/issuance.md, steps
    /// 1–7 and S1–S3) and stores its first "good" OCSP response.
    pub async fn issue(
        &self,
        request: &IssueRequest,
        actor: &Actor,
    ) -> ServiceResult<CertificateRecord> {
        let issuer = self.store().authority(request.issuer_id).await?;
        let (issuing, signer) = self.issuing_authority(&issuer).await?;
        let certificate_request = CertificateRequest {
            profile: request.profile,
            subject: request.subject.clone(),
            public_key: request.public_key.clone(),
            scope: request.scope.clone(),
            not_before: SystemTime::now() - Duration::from_secs(60),
            validity: request.validity,
        };
        // Steps 1–6 (ca-core): refuse early, build, lint. Out of scope fails here, before a
        // serial is drawn.
        let (reservation, linted) = loop {
            let linted = prepare(
                &certificate_request,
                Issuer::Authority(&issuing),
                &mut OsRng,
            )?;
            let tbs = linted.tbs();
            let reservation = Reservation {
                issuer_id: issuer.id,
                serial: linted.serial().to_vec(),
                profile: request.profile.name().to_owned(),
                subject: request.subject.common_name().to_owned(),
                operator_id: request.operator_id,
                subject_authority_id: request.subject_authority_id,
                enrolment_id: request.enrolment_id,
                key_id: request.key_id,
                not_before: to_timestamp(tbs.validity.not_before.to_system_time()),
                not_after: to_timestamp(tbs.validity.not_after.to_system_time()),
                scope: match &request.scope {
                    Some(scope) => ScopeConstraint::Within(scope.clone()),
                    None => ScopeConstraint::Within(NumberingScope::default()),
                },
                tbs_der: linted.tbs_der().to_vec(),
            };
            // S1: record before sign. A serial collision (2^-126) draws again.
            match self.store().reserve_certificate(&reservation, actor).await {
                Ok(id) => break ((id, reservation), linted),
                Err(StoreError::Conflict(_)) => continue,
                Err(other) => return Err(other.into()),
            }
        };
        let (certificate_id, reservation) = reservation;
        // S2 (step 7): the only moment the key is used.
        let issued: IssuedCertificate = linted.sign(signer.as_ref())?;
        // S3: store it with its first OCSP response. Responses for responder certificates
        // are not pre-signed (id-pkix-ocsp-nocheck: nobody asks).
        let ocsp = if request.profile == Profile::OcspResponder {
            None
        } else {
            let responder = self.responder(issuer.id).await?;
            Some(self.sign_stored_response(
                &responder,
                &reservation.serial,
                &CertStatusAnswer::Good,
            )?)
        };
        Ok(self
            .store()
            .complete_certificate(certificate_id, issued.der(), ocsp.as_ref(), actor)
            .await?)
    }

    /// Issues the certificate an approved (or auto-approved) enrolment asks for.
    pub async fn issue_for_enrolment(
        &self,
        enrolment: &Enrolment,
        actor: &Actor,
    ) -> ServiceResult<CertificateRecord> {
        if enrolment.status != EnrolmentStatus::Approved {
            return Err(ServiceError::Invalid(format!(
                "enrolment {} is {}, not approved",
                enrolment.id, enrolment.status
            )));
        }
        let operator = self.store().operator(enrolment.operator_id).await?;
        let csr = CheckedCsr::from_der(&enrolment.csr_der)?;
        let profile: Profile = enrolment.profile.parse()?;
        let subject_name = match &operator.spc {
            Some(spc) => format!("{} SPC {spc}", operator.name),
            None => operator.name.clone(),
        };
        let subject = SubjectName::new(
            truncate(&subject_name, 64),
            Some(truncate(&operator.name, 64)),
            Some(&operator.country),
        )?;
        self.issue(
            &IssueRequest {
                issuer_id: enrolment.authority_id,
                profile,
                subject,
                public_key: csr.public_key().clone(),
                scope: Some(enrolment.requested_scope.clone()),
                validity: None,
                operator_id: Some(operator.id),
                subject_authority_id: None,
                enrolment_id: Some(enrolment.id),
                key_id: None,
            },
            actor,
        )
        .await
    }

    /// Everything an operator holds now: the union of its active assignments.
    pub async fn operator_scope(&self, operator_id: i64) -> ServiceResult<NumberingScope> {
        let now = now();
        Ok(NumberingScope::new(
            self.store()
                .operator_assignments(operator_id)
                .await?
                .into_iter()
                .filter(|a| a.is_active_at(now))
                .map(|a| a.resource),
        ))
    }

    /// Checks that every requested resource is inside the operator's active assignments.
    pub async fn check_within_assignments(
        &self,
        operator_id: i64,
        requested: &NumberingScope,
    ) -> ServiceResult<()> {
        let held = self.operator_scope(operator_id).await?;
        let outside = requested.not_covered_by(&held);
        if !outside.is_empty() {
            return Err(ServiceError::out_of_scope(
                &outside,
                "the operator's assignments",
                if held.is_empty() {
                    "none".to_owned()
                } else {
                    held.to_string()
                },
            ));
        }
        Ok(())
    }

    // ---- revocation, OCSP, CRLs -----------------------------------------------------------

    /// Revokes a valid certificate: signs its "revoked" OCSP response, stores both in one
    /// transaction (which notifies the responders), then publishes a new CRL.
    pub async fn revoke(
        &self,
        certificate_id: i64,
        reason: RevocationReason,
        actor: &Actor,
    ) -> ServiceResult<CertificateRecord> {
        let record = self.store().certificate(certificate_id).await?;
        if record.status != CertificateStatus::Valid {
            return Err(StoreError::Conflict(format!(
                "certificate {} is {}: only a valid certificate can be revoked",
                record.fingerprint.as_deref().unwrap_or("(unsigned)"),
                record.status
            ))
            .into());
        }
        if reason == RevocationReason::RemoveFromCrl || reason == RevocationReason::CertificateHold
        {
            return Err(ServiceError::Invalid(format!(
                "reason {reason} is not used by tsca: revocation is final"
            )));
        }
        let revoked_at = now();
        let responder = self.responder(record.issuer_id).await?;
        let ocsp = self.sign_stored_response(
            &responder,
            &record.serial,
            &CertStatusAnswer::Revoked {
                time: from_timestamp(revoked_at),
                reason: Some(reason),
            },
        )?;
        let revoked = self
            .store()
            .revoke_certificate(certificate_id, reason, revoked_at, &ocsp, actor)
            .await?;
        if let Err(e) = self.publish_crl(record.issuer_id).await {
            // The revocation stands (OCSP already says so); the CRL is regenerated on the next
            // revocation or before nextUpdate.
            tracing::warn!(issuer = record.issuer_id, error = %e, "CRL regeneration after revocation failed");
        }
        Ok(revoked)
    }

    /// What OCSP says about a certificate record.
    pub fn answer_for(record: &CertificateRecord) -> CertStatusAnswer {
        match record.status {
            CertificateStatus::Valid => CertStatusAnswer::Good,
            CertificateStatus::Revoked | CertificateStatus::Abandoned => {
                CertStatusAnswer::Revoked {
                    time: from_timestamp(record.revoked_at.unwrap_or(0)),
                    reason: record
                        .revocation_reason
                        .filter(|r| *r != RevocationReason::Unspecified),
                }
            }
            CertificateStatus::Reserved => CertStatusAnswer::Unknown,
        }
    }

    /// Signs the response stored for a serial (SHA-1 CertID, the one clients send by default;
    /// SHA-256 requests are answered live by the responder).
    pub fn sign_stored_response(
        &self,
        responder: &IssuerResponder,
        serial: &[u8],
        status: &CertStatusAnswer,
    ) -> ServiceResult<NewOcspResponse> {
        let serial_number = serial_number(serial)?;
        let this_update = SystemTime::now();
        let next_update = this_update + self.inner.config.ocsp_validity;
        let cert_id = responder.hashes.cert_id(CertIdHash::Sha1, &serial_number)?;
        let der = responder.responder.sign_response(
            &[SingleAnswer {
                cert_id,
                status: *status,
                this_update,
                next_update,
            }],
            this_update,
            None,
        )?;
        Ok(NewOcspResponse {
            sha1_key: cert_id_key_bytes(&responder.hashes, CertIdHash::Sha1, serial),
            sha256_key: cert_id_key_bytes(&responder.hashes, CertIdHash::Sha256, serial),
            der,
            this_update: to_timestamp(this_update),
            next_update: to_timestamp(next_update),
        })
    }

    /// The current delegated responder of a CA, issuing or rotating its certificate when
    /// there is none or less than half of its validity is left.
    pub async fn responder(&self, issuer_id: i64) -> ServiceResult<Arc<IssuerResponder>> {
        let now = now();
        let fresh = |r: &IssuerResponder| {
            let half = Profile::OcspResponder.max_validity().as_secs() as i64 / 2;
            r.not_after - now > half
        };
        if let Some(r) = self.lock_responders().get(&issuer_id) {
            if fresh(r) {
                return Ok(r.clone());
            }
        }
        let _serial = self.inner.responder_issuance.lock().await;
        if let Some(r) = self.lock_responders().get(&issuer_id) {
            if fresh(r) {
                return Ok(r.clone());
            }
        }
        let issuer = self.store().authority(issuer_id).await?;
        let issuer_der = issuer.certificate_der.clone().ok_or_else(|| {
            ServiceError::Invalid(format!("authority {} has no certificate", issuer.name))
        })?;
        let hashes = IssuerHashes::new(&Certificate::from_der(&issuer_der)?)?;
        let stored = self
            .store()
            .current_certificate_for_authority(issuer_id, Profile::OcspResponder.name())
            .await?;
        let half = Profile::OcspResponder.max_validity().as_secs() as i64 / 2;
        let record = match stored {
            Some(record) if record.not_after - now > half && record.key_id.is_some() => record,
            _ => {
                let (key_id, key) = self
                    .generate_key(KeyAlgorithm::EcdsaP256, &Actor::system())
                    .await?;
                let subject = SubjectName::new(
                    &format!("{} OCSP Responder", truncate(&issuer.name, 40)),
                    None,
                    None,
                )?;
                // Boxed: issue() calls responder() for the first OCSP response of ordinary
                // certificates (never for responder certificates, so this ends).
                Box::pin(self.issue(
                    &IssueRequest {
                        issuer_id,
                        profile: Profile::OcspResponder,
                        subject,
                        public_key: key.public_key().clone(),
                        scope: None,
                        validity: None,
                        operator_id: None,
                        subject_authority_id: Some(issuer_id),
                        enrolment_id: None,
                        key_id: Some(key_id),
                    },
                    &Actor::system(),
                ))
                .await?
            }
        };
        let key_id = record.key_id.unwrap_or_default();
        let key = self.signer(key_id).await?;
        let der = record.der.clone().unwrap_or_default();
        let responder = Arc::new(IssuerResponder {
            issuer_id,
            hashes,
            responder: Responder::new(key, &der)?,
            not_after: record.not_after,
        });
        self.lock_responders().insert(issuer_id, responder.clone());
        Ok(responder)
    }

    /// Signs and stores a new CRL of an authority, listing every revoked and abandoned serial.
    pub async fn publish_crl(&self, authority_id: i64) -> ServiceResult<CrlRecord> {
        let authority = self.store().authority(authority_id).await?;
        let (issuing, signer) = self.issuing_authority(&authority).await?;
        let revoked = self.store().revoked_serials(authority_id).await?;
        let entries = revoked
            .iter()
            .map(|r| {
                Ok(RevokedEntry {
                    serial: serial_number(&r.serial)?,
                    revoked_at: from_timestamp(r.revoked_at),
                    reason: r.reason,
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        loop {
            let number = self.store().next_crl_number(authority_id).await?;
            let this_update = SystemTime::now();
            let next_update = this_update + self.inner.config.crl_validity;
            let issuer_cert = issuing.certificate().clone();
            let signer = signer.clone();
            let entries = entries.clone();
            let der = tokio::task::spawn_blocking(move || {
                sign_crl(
                    &issuer_cert,
                    signer.as_ref(),
                    number as u64,
                    this_update,
                    next_update,
                    entries,
                )
            })
            .await
            .map_err(|e| ServiceError::Invalid(format!("CRL task failed: {e}")))??;
            let record = CrlRecord {
                authority_id,
                crl_number: number,
                der,
                this_update: to_timestamp(this_update),
                next_update: to_timestamp(next_update),
            };
            match self.store().store_crl(&record).await {
                Ok(()) => return Ok(record),
                // Another instance published this number first: take the next one.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The CRL to serve: the latest, re-published when none exists or less than half of its
    /// validity is left.
    pub async fn current_crl(&self, authority_id: i64) -> ServiceResult<CrlRecord> {
        let now = now();
        if let Some(crl) = self.store().latest_crl(authority_id).await? {
            if crl.next_update - now > (crl.next_update - crl.this_update) / 2 {
                return Ok(crl);
            }
        }
        self.publish_crl(authority_id).await
    }

    /// Withdraws an assignment and revokes (privilegeWithdrawn) every valid certificate of
    /// that operator whose scope no longer fits its remaining assignments.
    pub async fn withdraw_assignment(
        &self,
        assignment_id: i64,
        actor: &Actor,
    ) -> ServiceResult<(Assignment, Vec<CertificateRecord>)> {
        let assignment = self
            .store()
            .withdraw_assignment(assignment_id, actor)
            .await?;
        let remaining = self.operator_scope(assignment.operator_id).await?;
        let mut revoked = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .store()
                .certificates(&CertificateFilter {
                    operator_id: Some(assignment.operator_id),
                    status: Some(CertificateStatus::Valid),
                    after_id: Some(after),
                    limit: Some(500),
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for cert in page {
                let fits = match &cert.scope {
                    ScopeConstraint::Unconstrained => false,
                    ScopeConstraint::Within(scope) => scope.is_subset_of(&remaining),
                };
                if !fits {
                    revoked.push(
                        self.revoke(cert.id, RevocationReason::PrivilegeWithdrawn, actor)
                            .await?,
                    );
                }
            }
        }
        Ok((assignment, revoked))
    }

    /// Start-up work: reconcile interrupted issuance (reservations older than
    /// `grace` before now), make sure every active CA held here has a responder and a CRL.
    pub async fn start_up(&self, grace: Duration) -> ServiceResult<Vec<i64>> {
        let abandoned = self
            .store()
            .reconcile_reservations(now() - grace.as_secs() as i64)
            .await?;
        for id in &abandoned {
            tracing::warn!(
                certificate = id,
                "interrupted issuance reconciled: serial abandoned (treated as revoked)"
            );
        }
        for authority in self.store().authorities().await? {
            if authority.key_id.is_some() && authority.status == AuthorityStatus::Active {
                self.responder(authority.id).await?;
                self.current_crl(authority.id).await?;
            }
        }
        Ok(abandoned)
    }
}

/// What [`Engine::issue`] is asked.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The issuing authority (its key must be held here).
    pub issuer_id: i64,
    /// Profile.
    pub profile: Profile,
    /// Subject.
    pub subject: SubjectName,
    /// The key to certify.
    pub public_key: spki::SubjectPublicKeyInfoOwned,
    /// Scope (CAs and operators).
    pub scope: Option<NumberingScope>,
    /// Validity (profile maximum when none).
    pub validity: Option<Duration>,
    /// Operator certified.
    pub operator_id: Option<i64>,
    /// Authority certified (CA and responder certificates).
    pub subject_authority_id: Option<i64>,
    /// Enrolment answered.
    pub enrolment_id: Option<i64>,
    /// The subject's key when held here (responders).
    pub key_id: Option<i64>,
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].trim_end(),
        None => text,
    }
}
