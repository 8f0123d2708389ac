//! The SHAKEN domain CRL (docs/profiles.md, "The domain CRL"). A SHAKEN hierarchy's CAs may
//! not sign CRLs (their keyUsage is keyCertSign only), so one **domain CRL signer** — a key
//! held here, certified by the root in its ceremony — signs one indirect CRL for the whole
//! domain, served at `/crl/domain.crl`, where every certificate below the root points with
//! the signer's name as cRLIssuer.
//!
//! The signer's life: [`Engine::request_crl_signer`] makes its key and CSR (pending);
//! `tsca ceremony sign-crl-signer` certifies it; [`Engine::install_crl_signer`] checks the
//! certificate and makes it the active signer, which signs the first domain CRL at once.
//! From then on [`Engine::publish_domain_crl`] runs after every revocation in the domain,
//! after every root CRL installed, and at least daily from maintenance.
//!
//! The CRL lists every revoked (or abandoned) certificate of the domain's online CAs and
//! every entry of the root's latest ceremony-signed CRL, each with its issuer in a
//! certificateIssuer entry extension.

use std::time::{Duration, SystemTime};

use ca_core::crl::{parse_crl, RevokedEntry};
use ca_core::csr::build_csr_for_name;
use ca_core::indirect_crl::{sign_indirect_crl, IndirectEntry};
use ca_core::keys::KeyAlgorithm;
use ca_core::x509::Certificate;
use ca_store::{
    Actor, Authority, AuthorityFamily, AuthorityId, CrlSigner, CrlSignerStatus, DomainCrl,
    KeyPurpose, StoreError, Tier,
};
use der::Decode;
use x509_cert::ext::pkix::KeyUsage;
use x509_cert::name::Name;

use crate::access::Principal;
use crate::clock::{after, before};
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::Engine;

/// How often the domain CRL is signed again when nothing changes: SHAKEN relying parties
/// expect a CRL refreshed at least daily.
pub const DOMAIN_CRL_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// A root's domain CRL signers: the one awaiting the root's certificate, and the one signing.
#[derive(Debug, Clone, Default)]
pub struct CrlSigners {
    /// Key and CSR made, certificate not installed yet.
    pub pending: Option<CrlSigner>,
    /// Signs the domain CRL.
    pub active: Option<CrlSigner>,
}

/// What installing a signer's certificate did.
#[derive(Debug, Clone)]
pub struct InstalledCrlSigner {
    /// The signer, now active.
    pub signer: CrlSigner,
    /// The domain CRL it signed at once; `None` when that failed (maintenance retries; the
    /// failure is logged).
    pub crl: Option<DomainCrl>,
}

impl Engine {
    /// The SHAKEN root `root_id`, refused for any other authority.
    async fn shaken_root(&self, root_id: AuthorityId) -> ServiceResult<Authority> {
        let root = self.reader().authority(root_id).await?;
        if root.tier != Tier::Root || !matches!(root.family, AuthorityFamily::Shaken { .. }) {
            return Err(ServiceError::refused_field(
                Rule::ShakenRootOnly,
                "id",
                format!(
                    "authority {} is not the root of a SHAKEN hierarchy: only a SHAKEN domain \
                     has a domain CRL signer (tsca-family CAs sign their own CRLs)",
                    root.name
                ),
            ));
        }
        Ok(root)
    }

    /// The domain CRL signer's name, fixed at the root's ceremony.
    fn signer_name(root: &Authority) -> ServiceResult<Name> {
        let AuthorityFamily::Shaken { crl_issuer_der, .. } = &root.family else {
            return Err(ServiceError::internal(
                "a tsca-family root has no CRL signer",
            ));
        };
        Name::from_der(crl_issuer_der).map_err(ServiceError::internal)
    }

    /// A root's signers (root admins only).
    pub async fn crl_signers(
        &self,
        who: &Principal,
        root_id: AuthorityId,
    ) -> ServiceResult<CrlSigners> {
        self.access().require_admin_of(who, root_id).await?;
        self.shaken_root(root_id).await?;
        Ok(CrlSigners {
            pending: self
                .reader()
                .crl_signer(root_id, CrlSignerStatus::Pending)
                .await?,
            active: self
                .reader()
                .crl_signer(root_id, CrlSignerStatus::Active)
                .await?,
        })
    }

    /// Makes the key of a new domain CRL signer (P-256, under the CA passphrase) and its CSR,
    /// for the root's ceremony. Asking again while one is pending answers with that one, so
    /// parallel or repeated requests make one key.
    pub async fn request_crl_signer(
        &self,
        who: &Principal,
        root_id: AuthorityId,
    ) -> ServiceResult<CrlSigner> {
        self.access().require_admin_of(who, root_id).await?;
        let root = self.shaken_root(root_id).await?;
        if let Some(pending) = self
            .reader()
            .crl_signer(root_id, CrlSignerStatus::Pending)
            .await?
        {
            return Ok(pending);
        }
        let name = Self::signer_name(&root)?;
        // Key generation is slow (PBKDF2): before the transaction, which holds the audit head.
        let generated = self
            .keys()
            .generate(KeyAlgorithm::EcdsaP256, KeyPurpose::CrlSigner)
            .await?;
        let csr = build_csr_for_name(name, generated.signer()).map_err(ServiceError::internal)?;
        let mut tx = self.begin_write(self.now()).await?;
        let actor = who.actor();
        let key_id = tx.insert_key(generated.new_key(), &actor).await?;
        match tx.insert_crl_signer(root_id, key_id, &csr, &actor).await {
            Ok(_) => tx.commit().await?,
            // A parallel request committed first: its signer is the answer; ours (key
            // included) rolls back.
            Err(StoreError::Conflict(_)) => drop(tx),
            Err(e) => return Err(e.into()),
        }
        self.reader()
            .crl_signer(root_id, CrlSignerStatus::Pending)
            .await?
            .ok_or_else(|| ServiceError::internal("the pending CRL signer vanished"))
    }

    /// Installs the root's certificate for the pending signer: it must certify the pending
    /// key, carry the signer's name, keyUsage cRLSign, and chain to the root now. The signer
    /// becomes active (superseding the previous one) and signs the domain CRL at once.
    /// Installing the active signer's certificate again changes nothing.
    pub async fn install_crl_signer(
        &self,
        who: &Principal,
        root_id: AuthorityId,
        certificate_der: &[u8],
    ) -> ServiceResult<InstalledCrlSigner> {
        self.access().require_admin_of(who, root_id).await?;
        let root = self.shaken_root(root_id).await?;
        if let Some(installed) = self.installed_signer(root_id, certificate_der).await? {
            return Ok(installed);
        }
        let Some(pending) = self
            .reader()
            .crl_signer(root_id, CrlSignerStatus::Pending)
            .await?
        else {
            // A parallel install of this certificate may have committed since the check above.
            if let Some(installed) = self.installed_signer(root_id, certificate_der).await? {
                return Ok(installed);
            }
            return Err(ServiceError::conflict(format!(
                "root {} has no pending CRL signer: request one first (POST \
                 /v1/authorities/{root_id}/crl-signer), sign its CSR in the ceremony \
                 (tsca ceremony sign-crl-signer), then install the certificate",
                root.name
            )));
        };
        let cert =
            Certificate::from_der(certificate_der).map_err(|e| ServiceError::invalid("body", e))?;
        self.check_signer_certificate(&root, &pending, &cert)
            .await?;
        let mut tx = self.begin_write(self.now()).await?;
        match tx
            .activate_crl_signer(&pending, certificate_der, &who.actor())
            .await
        {
            Ok(()) => tx.commit().await?,
            Err(StoreError::Conflict(_)) => {
                drop(tx);
                // A parallel install of the same certificate committed first.
                return self
                    .installed_signer(root_id, certificate_der)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::conflict(
                            "another CRL signer certificate was installed meanwhile",
                        )
                    });
            }
            Err(e) => return Err(e.into()),
        }
        let signer = self
            .reader()
            .crl_signer(root_id, CrlSignerStatus::Active)
            .await?
            .ok_or_else(|| ServiceError::internal("the installed CRL signer vanished"))?;
        let crl = match self.publish_domain_crl(root_id).await {
            Ok(crl) => Some(crl),
            Err(e) => {
                tracing::warn!(root = %root.name, error = %e,
                    "the first domain CRL failed; maintenance retries");
                None
            }
        };
        Ok(InstalledCrlSigner { signer, crl })
    }

    /// The answer to installing `certificate_der` again when it is the active signer's.
    async fn installed_signer(
        &self,
        root_id: AuthorityId,
        certificate_der: &[u8],
    ) -> ServiceResult<Option<InstalledCrlSigner>> {
        let active = self
            .reader()
            .crl_signer(root_id, CrlSignerStatus::Active)
            .await?;
        let Some(signer) = active.filter(|a| a.certificate_der.as_deref() == Some(certificate_der))
        else {
            return Ok(None);
        };
        let crl = self.reader().latest_domain_crl(root_id).await?;
        Ok(Some(InstalledCrlSigner { signer, crl }))
    }

    async fn check_signer_certificate(
        &self,
        root: &Authority,
        pending: &CrlSigner,
        cert: &Certificate,
    ) -> ServiceResult<()> {
        let mismatch = |detail: String| {
            ServiceError::refused_field(Rule::CrlSignerDoesNotMatch, "body", detail)
        };
        let key = self
            .keys()
            .open(pending.key_id, KeyPurpose::CrlSigner)
            .await?;
        let tbs = &cert.tbs_certificate;
        if &tbs.subject_public_key_info != key.signer().public_key() {
            return Err(mismatch(
                "the certificate does not certify the pending signer's key (the one in its CSR)"
                    .into(),
            ));
        }
        if tbs.subject != Self::signer_name(root)? {
            return Err(mismatch(format!(
                "the certificate's subject ({}) is not the signer name fixed at init-root, which \
                 every certificate of the domain names as cRLIssuer",
                cert.subject_text()
            )));
        }
        let usage = tbs
            .decode_extension::<KeyUsage>(
                &ca_core::x509::Oid::from(const_oid::db::rfc5280::ID_CE_KEY_USAGE),
                "keyUsage",
            )
            .map_err(|e| mismatch(e.to_string()))?;
        if !usage.is_some_and(|(_, u)| u.crl_sign()) {
            return Err(mismatch("the certificate's keyUsage lacks cRLSign".into()));
        }
        let root_der = root
            .certificate_der
            .as_deref()
            .ok_or_else(|| ServiceError::internal("a root without its certificate"))?;
        let root_cert = Certificate::from_der(root_der)?;
        // Path validation (ca_core::path) judges signing certificates; a CRL signer signs
        // no signalling, so its issuer, signature and validity are checked here directly.
        if tbs.issuer != root_cert.tbs_certificate.subject {
            return Err(mismatch(format!("it is not issued by root {}", root.name)));
        }
        let tbs_der = der::Encode::to_der(tbs).map_err(ServiceError::internal)?;
        ca_core::verify::verify_signature(
            &cert.signature_algorithm,
            &root_cert.tbs_certificate.subject_public_key_info,
            &tbs_der,
            cert.signature.raw_bytes(),
            "the CRL signer certificate",
        )
        .map_err(|e| mismatch(format!("root {} did not sign it: {e}", root.name)))?;
        let now = SystemTime::from(self.now());
        let validity = &tbs.validity;
        if now < validity.not_before.to_system_time() || now >= validity.not_after.to_system_time()
        {
            return Err(mismatch("it is not valid now".into()));
        }
        Ok(())
    }

    /// Signs and stores a new domain CRL with the active signer. Entries are read after the
    /// domain's revocation count, so the CRL holds at least what it claims; a CRL that lost a
    /// race to a newer one is built again.
    pub async fn publish_domain_crl(&self, root_id: AuthorityId) -> ServiceResult<DomainCrl> {
        let root = self.shaken_root(root_id).await?;
        let _one_at_a_time = self.inner.domain_crl_publication.lock().await;
        for _ in 0..5 {
            // The signer is read on every try, inside the turn: a signer installed meanwhile
            // signs, never the one it superseded (the store refuses a CRL of a signer that is
            // not active any more).
            let (signer, signer_cert, key) = self.active_signer(&root).await?;
            let domain_seq = self.reader().domain_seq(root_id).await?;
            let entries = self.domain_entries(&root).await?;
            let crl_number = self.reader().next_domain_crl_number(root_id).await?;
            let number = u64::try_from(crl_number)
                .map_err(|_| ServiceError::internal(format!("negative cRLNumber {crl_number}")))?;
            let now = self.now();
            // Never past the signer's own certificate.
            let signer_until = jiff::Timestamp::try_from(
                signer_cert
                    .tbs_certificate
                    .validity
                    .not_after
                    .to_system_time(),
            )
            .map_err(ServiceError::internal)?;
            let next_update = after(now, self.config().crl_validity).min(signer_until);
            let url = format!("{}/crl/domain.crl", self.config().public_base_url);
            let (cert, sign_with) = (signer_cert.clone(), key.signer());
            let der = tokio::task::spawn_blocking(move || {
                sign_indirect_crl(
                    &cert,
                    sign_with.as_ref(),
                    number,
                    SystemTime::from(now),
                    SystemTime::from(next_update),
                    &url,
                    entries,
                )
            })
            .await??;
            let crl = DomainCrl {
                root_id,
                crl_number,
                der,
                this_update: now,
                next_update,
                domain_seq,
                signer_id: signer.id,
            };
            let mut tx = self.begin_write(now).await?;
            match tx.insert_domain_crl(&crl, &Actor::system()).await {
                Ok(()) => {
                    tx.commit().await?;
                    return Ok(crl);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::internal(format!(
            "five domain cRLNumbers in a row were taken for root {}",
            root.name
        )))
    }

    /// The active signer, its certificate (refused once expired) and its key.
    async fn active_signer(
        &self,
        root: &Authority,
    ) -> ServiceResult<(
        CrlSigner,
        Certificate,
        std::sync::Arc<crate::keys::KeyHandle>,
    )> {
        let signer = self
            .reader()
            .crl_signer(root.id, CrlSignerStatus::Active)
            .await?
            .ok_or_else(|| {
                ServiceError::conflict(format!(
                    "root {} has no domain CRL signer yet: request one (tsca admin \
                     crl-signer-csr), sign it in the ceremony, install it",
                    root.name
                ))
            })?;
        let certificate =
            Certificate::from_der(signer.certificate_der.as_deref().ok_or_else(|| {
                ServiceError::internal("an active CRL signer without certificate")
            })?)?;
        let not_after = certificate
            .tbs_certificate
            .validity
            .not_after
            .to_system_time();
        if SystemTime::from(self.now()) >= not_after {
            return Err(ServiceError::conflict(format!(
                "the domain CRL signer of root {} has expired: request a new one (tsca admin \
                 crl-signer-csr), sign it in the ceremony, install it",
                root.name
            )));
        }
        let key = self
            .keys()
            .open(signer.key_id, KeyPurpose::CrlSigner)
            .await?;
        Ok((signer, certificate, key))
    }

    /// Every revoked certificate of the domain, with its issuer.
    async fn domain_entries(&self, root: &Authority) -> ServiceResult<Vec<IndirectEntry>> {
        let mut entries = Vec::new();
        for authority in self.reader().authorities().await? {
            if !matches!(authority.family, AuthorityFamily::Shaken { .. }) {
                continue;
            }
            let Some(der) = authority.certificate_der.as_deref() else {
                continue;
            };
            let issuer = Certificate::from_der(der)?.tbs_certificate.subject;
            if authority.id == root.id {
                // The root signs offline: its entries are those of its latest installed CRL.
                let Some(installed) = self.reader().latest_crl(root.id).await? else {
                    continue;
                };
                let crl = parse_crl(&installed.der).map_err(ServiceError::internal)?;
                for entry in crl.entries() {
                    let entry = entry.map_err(ServiceError::internal)?;
                    entries.push(IndirectEntry {
                        issuer: issuer.clone(),
                        entry,
                    });
                }
                continue;
            }
            for revoked in self.reader().revoked_serials(authority.id).await? {
                entries.push(IndirectEntry {
                    issuer: issuer.clone(),
                    entry: RevokedEntry {
                        serial: revoked.serial.to_x509()?,
                        revoked_at: SystemTime::from(revoked.revoked_at),
                        reason: revoked.reason,
                    },
                });
            }
        }
        Ok(entries)
    }

    /// Publishes the domain CRL of every root whose CRL is missing, behind a revocation, or
    /// signed more than [`DOMAIN_CRL_REFRESH`] ago. Returns how many were published and how
    /// many failed (logged).
    pub(crate) async fn publish_due_domain_crls(&self) -> ServiceResult<(usize, usize)> {
        let (mut published, mut failed) = (0, 0);
        let signed_before = before(self.now(), DOMAIN_CRL_REFRESH);
        for root in self.reader().domains_needing_crl(signed_before).await? {
            match self.publish_domain_crl(root).await {
                Ok(_) => published += 1,
                Err(e) => {
                    failed += 1;
                    tracing::warn!(root = %root, error = %e,
                        "publishing a due domain CRL failed; retried next pass");
                }
            }
        }
        Ok((published, failed))
    }

    /// After a revocation by a SHAKEN CA (or a root CRL installed): the domain CRL now, or,
    /// when that fails, at maintenance's next pass (it sees the CRL behind the domain).
    pub(crate) async fn publish_domain_crl_after_change(&self, root_id: AuthorityId) {
        if self
            .reader()
            .crl_signer(root_id, CrlSignerStatus::Active)
            .await
            .is_ok_and(|s| s.is_none())
        {
            return;
        }
        if let Err(e) = self.publish_domain_crl(root_id).await {
            tracing::warn!(root = %root_id, error = %e,
                "domain CRL publication failed; maintenance retries");
        }
    }

    /// The root of the domain an authority belongs to, when it is a SHAKEN one.
    pub(crate) async fn shaken_root_of(&self, id: AuthorityId) -> Option<AuthorityId> {
        let mut current = self.reader().authority(id).await.ok()?;
        if !matches!(current.family, AuthorityFamily::Shaken { .. }) {
            return None;
        }
        for _ in 0..8 {
            match current.parent_id {
                None => return Some(current.id),
                Some(parent) => current = self.reader().authority(parent).await.ok()?,
            }
        }
        None
    }
}
