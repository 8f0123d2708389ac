//! The engine: what it holds and how it is built. Its operations live in the modules named
//! after what they change (`authorities.rs`, `enrolments.rs`, …).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ca_core::ident::Fingerprint;
use ca_core::issue::IssuingAuthority;
use ca_core::profile::Publication;
use ca_core::shaken::ShakenDomain;
use ca_core::x509::Certificate;
use ca_store::{
    Authority, AuthorityFamily, AuthorityId, AuthorityStatus, CertificateId, InstanceId,
    KeyPurpose, Store, StoreReader,
};
use jiff::Timestamp;

use crate::access::Access;
use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::keys::{KeyHandle, KeyPassphrases, KeyRing};
use crate::responders::ResponderSet;

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
    /// How often this instance records that it is alive (its reservations' lease).
    pub heartbeat_interval: Duration,
    /// How long an instance may miss heartbeats before its reservations are orphaned.
    pub orphan_after: Duration,
    /// How often the reconciler and the sweeps run.
    pub maintenance_interval: Duration,
    /// How long Idempotency-Keys are kept (at least).
    pub idempotency_retention: Duration,
    /// How long a request waits for an earlier one with the same key to finish.
    pub in_progress_wait: Duration,
    /// The most entries a requested scope may list (enrolments, authorities): 422 beyond.
    pub max_scope_entries: usize,
    /// The largest certificate issued, in bytes of DER: 422 for a request that would exceed it.
    pub max_certificate_bytes: usize,
    /// How long operator tokens live when their request names no lifetime (`None`: until
    /// revoked). Other tokens live until revoked unless their request says otherwise.
    pub operator_token_lifetime: Option<Duration>,
}

impl EngineConfig {
    /// Production defaults for a base URL: OCSP responses valid 1 day, CRLs 7 days, leases of
    /// 30 s refreshed every 5 s, maintenance every 10 s, keys kept 24 h; scopes of at most 256
    /// entries and certificates of at most 32 KiB.
    pub fn new(public_base_url: impl Into<String>) -> Self {
        Self {
            public_base_url: public_base_url.into().trim_end_matches('/').to_owned(),
            kdf_iterations: 600_000,
            ocsp_validity: Duration::from_secs(24 * 3600),
            crl_validity: Duration::from_secs(7 * 24 * 3600),
            heartbeat_interval: Duration::from_secs(5),
            orphan_after: Duration::from_secs(30),
            maintenance_interval: Duration::from_secs(10),
            idempotency_retention: Duration::from_secs(24 * 3600),
            in_progress_wait: Duration::from_secs(5),
            max_scope_entries: 256,
            max_certificate_bytes: 32 * 1024,
            operator_token_lifetime: None,
        }
    }
}

/// The gateway. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) reader: StoreReader,
    pub(crate) config: EngineConfig,
    pub(crate) keys: KeyRing,
    pub(crate) responders: ResponderSet,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) instance: InstanceId,
    /// Issuing views of authorities, by id, with the fingerprint they were built from.
    issuing: Mutex<HashMap<AuthorityId, (Fingerprint, Arc<IssuingAuthority>)>>,
    /// Reservations this process is between "reserved" and "issued" on right now: its own
    /// reconciler leaves them alone.
    pub(crate) in_flight: Mutex<HashSet<CertificateId>>,
    /// Serialises responder issuance in this process.
    pub(crate) responder_issuance: tokio::sync::Mutex<()>,
    /// Serialises domain CRL publication in this process: a burst of revocations signs one
    /// CRL after another instead of racing for cRLNumbers (instances still race, and retry).
    pub(crate) domain_crl_publication: tokio::sync::Mutex<()>,
    /// Whether this instance has heartbeated once (see `Engine::begin_write`).
    pub(crate) registered: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Engine({}, instance {})",
            self.inner.store.describe(),
            self.inner.instance
        )
    }
}

/// A fresh instance id: host, process and 48 random bits.
fn new_instance_id(entropy: &dyn Entropy) -> InstanceId {
    let mut random = [0u8; 6];
    entropy.fill(&mut random);
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    InstanceId::new(format!(
        "{host}-{}-{}",
        std::process::id(),
        hex::encode(random)
    ))
}

impl Engine {
    /// The gateway over `store`, with the wall clock and the operating system's randomness.
    pub fn new(store: Store, passphrases: KeyPassphrases, config: EngineConfig) -> Self {
        Self::with_clock(
            store,
            passphrases,
            config,
            Arc::new(SystemClock),
            Arc::new(OsEntropy),
        )
    }

    /// The gateway with an injected clock and randomness (tests).
    pub fn with_clock(
        store: Store,
        passphrases: KeyPassphrases,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        let reader = store.reader();
        let keys = KeyRing::new(reader.clone(), passphrases, config.kdf_iterations);
        let responders = ResponderSet::new(reader.clone(), keys.clone(), config.ocsp_validity);
        let instance = new_instance_id(entropy.as_ref());
        Self {
            inner: Arc::new(Inner {
                store,
                reader,
                config,
                keys,
                responders,
                clock,
                entropy,
                instance,
                issuing: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashSet::new()),
                responder_issuance: tokio::sync::Mutex::new(()),
                domain_crl_publication: tokio::sync::Mutex::new(()),
                registered: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The read-only face of the store (the writer stays inside the gateway).
    pub fn reader(&self) -> &StoreReader {
        &self.inner.reader
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The OCSP response writer, for a responder running in this process.
    pub fn ocsp_responses(&self) -> ca_store::OcspResponseWriter {
        self.inner.store.ocsp_responses()
    }

    /// The delegated OCSP responders, shared with an OCSP responder in the same process.
    pub fn responders(&self) -> &ResponderSet {
        &self.inner.responders
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// This process's instance id.
    pub fn instance(&self) -> &InstanceId {
        &self.inner.instance
    }

    /// The engine's "now".
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn entropy(&self) -> &dyn Entropy {
        self.inner.entropy.as_ref()
    }

    pub(crate) fn access(&self) -> Access<'_> {
        Access {
            reader: &self.inner.reader,
        }
    }

    /// Closes the database pools.
    pub async fn close(&self) {
        self.inner.store.close().await;
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

    /// Opens (decrypts) an authority's CA key ahead of a transaction that will sign with it,
    /// so that the seconds of PBKDF2 on a cold cache are not spent holding the audit head.
    /// Only a warm-up: any failure is met again, and reported, by the transaction's own
    /// [`Engine::issuing_authority`] on its consistent read.
    pub(crate) async fn warm_issuer_key(&self, authority_id: AuthorityId) {
        // Issued with before on this node: its key was opened then and stays open.
        let issued_before = self
            .inner
            .issuing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&authority_id);
        if issued_before {
            return;
        }
        let Ok(authority) = self.reader().authority(authority_id).await else {
            return;
        };
        if let Some(key_id) = authority.key_id {
            if let Err(e) = self.inner.keys.open(key_id, KeyPurpose::Ca).await {
                tracing::debug!(authority = %authority_id, error = %e, "CA key not opened ahead");
            }
        }
    }

    /// The issuing view of an active authority whose key this service holds, with its key.
    pub(crate) async fn issuing_authority(
        &self,
        authority: &Authority,
    ) -> ServiceResult<(Arc<IssuingAuthority>, Arc<KeyHandle>)> {
        if authority.status != AuthorityStatus::Active {
            return Err(ServiceError::refused(
                Rule::ParentNotActive,
                format!(
                    "authority {} is {}, not active",
                    authority.name, authority.status
                ),
            ));
        }
        self.signing_authority(authority).await
    }

    /// An authority's certificate as ca-core issues with it, in the authority's family: a
    /// tsca CA carries its scope and publishes on its own; a SHAKEN CA takes its scope from
    /// the registry and publishes through the domain CRL.
    pub(crate) fn issuing_view(
        &self,
        authority: &Authority,
        certificate_der: &[u8],
    ) -> ServiceResult<IssuingAuthority> {
        let certificate = Certificate::from_der(certificate_der)?;
        Ok(match &authority.family {
            AuthorityFamily::Tsca => {
                IssuingAuthority::new(certificate, self.publication(&authority.name))?
            }
            AuthorityFamily::Shaken { .. } => IssuingAuthority::in_domain(
                certificate,
                self.shaken_domain(&authority.family)?,
                authority.scope.clone(),
            )?,
        })
    }

    /// The SHAKEN trust domain of a SHAKEN-family authority: its policy, the domain CRL at
    /// this service's publication point, and the domain CRL signer's name.
    pub(crate) fn shaken_domain(&self, family: &AuthorityFamily) -> ServiceResult<ShakenDomain> {
        let AuthorityFamily::Shaken {
            policy,
            crl_issuer_der,
        } = family
        else {
            return Err(ServiceError::internal(
                "a tsca-family authority has no SHAKEN domain",
            ));
        };
        let issuer = <x509_cert::name::Name as der::Decode>::from_der(crl_issuer_der)
            .map_err(ServiceError::internal)?;
        Ok(ShakenDomain::new(
            policy,
            &format!("{}/crl/domain.crl", self.config().public_base_url),
            issuer,
        )?)
    }

    /// An authority's certificate and key for signing its CRLs: retired authorities too, as
    /// their certificates stay out there until they expire.
    pub(crate) async fn signing_authority(
        &self,
        authority: &Authority,
    ) -> ServiceResult<(Arc<IssuingAuthority>, Arc<KeyHandle>)> {
        let (Some(der), Some(key_id)) = (&authority.certificate_der, authority.key_id) else {
            return Err(ServiceError::refused(
                Rule::IssuerKeyOffline,
                format!(
                    "authority {} cannot issue here: its key is offline or it has no certificate yet",
                    authority.name
                ),
            ));
        };
        // The key first: an authority is in the issuing cache only once its key has opened
        // here (warm_issuer_key relies on it).
        let key = self.inner.keys.open(key_id, KeyPurpose::Ca).await?;
        let fingerprint = Fingerprint::of_der(der);
        let cached = self
            .inner
            .issuing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&authority.id)
            .filter(|(fp, _)| *fp == fingerprint)
            .map(|(_, issuing)| issuing.clone());
        let issuing = match cached {
            Some(issuing) => issuing,
            None => {
                let issuing = Arc::new(self.issuing_view(authority, der)?);
                self.inner
                    .issuing
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(authority.id, (fingerprint, issuing.clone()));
                issuing
            }
        };
        Ok((issuing, key))
    }

    pub(crate) fn mark_in_flight(&self, id: CertificateId) -> InFlight {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        InFlight {
            engine: self.clone(),
            id,
        }
    }

    pub(crate) fn is_in_flight(&self, id: CertificateId) -> bool {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }
}

/// A reservation this process is working on; forgotten when dropped (completed, failed, or
/// the task cancelled), after which the reconciler may take it over.
pub(crate) struct InFlight {
    engine: Engine,
    id: CertificateId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.engine
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
