//! The public repository: what relying parties fetch without credentials (chains, CRLs, CA
//! certificates, trust anchors). Read-only, so every node serves it, OCSP-only nodes
//! included; CRLs are published by the gateway on CA nodes and only read here.

use std::sync::Arc;

use ca_core::ident::Fingerprint;
use ca_core::x509::Certificate;
use ca_store::{
    Authority, AuthorityId, AuthorityStatus, CertificateRecord, CrlRecord, CrlSignerStatus,
    StoreReader, Tier,
};

use crate::error::{ServiceError, ServiceResult};
use crate::last_good::LastGood;

/// The certificates from authority `id` up to its root (inclusive), child first.
pub async fn chain_certificates(
    reader: &StoreReader,
    mut id: Option<AuthorityId>,
) -> ServiceResult<Vec<Certificate>> {
    let mut chain = Vec::new();
    while let Some(current) = id {
        let authority = reader.authority(current).await?;
        let der = authority
            .certificate_der
            .ok_or_else(|| ServiceError::NotFound {
                what: "certificate of authority",
                key: authority.name.clone(),
            })?;
        chain.push(Certificate::from_der(&der)?);
        id = authority.parent_id;
        if chain.len() > 8 {
            return Err(ServiceError::internal("authority hierarchy deeper than 8"));
        }
    }
    Ok(chain)
}

/// A CRL as served: its DER and the times for caching headers.
#[derive(Debug, Clone)]
pub struct ServedCrl {
    /// DER.
    pub der: Vec<u8>,
    /// thisUpdate (Last-Modified).
    pub this_update: jiff::Timestamp,
    /// nextUpdate (bounds max-age).
    pub next_update: jiff::Timestamp,
}

/// The read-only repository over a store. It keeps the last CRLs, CA certificates and
/// chains it served, and serves those when the database is unavailable
/// ([`crate::last_good`]).
#[derive(Clone, Debug)]
pub struct Repository {
    reader: StoreReader,
    crls: Arc<LastGood<ServedCrl>>,
    ca_certificates: Arc<LastGood<Vec<u8>>>,
    chains: Arc<LastGood<(CertificateRecord, String)>>,
}

/// Chains kept for an outage: the peers' chains a signing node keeps fetching (each a few
/// KB, so at most about 12 MB).
const CHAINS_KEPT: usize = 4_096;

/// How often [`Repository::keep_warm`] reads every CRL and CA certificate again.
const WARM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

impl Repository {
    /// The repository over `reader`.
    pub fn new(reader: StoreReader) -> Self {
        Self {
            reader,
            crls: Arc::new(LastGood::new(4_096)),
            ca_certificates: Arc::new(LastGood::new(4_096)),
            chains: Arc::new(LastGood::new(CHAINS_KEPT)),
        }
    }

    /// Reads every authority's CRL and certificate, and the domain CRL and its signer's
    /// certificate, now and every 10 s, so that an outage finds them held even if no one
    /// asked for them yet. Runs until the last clone of this repository is dropped.
    pub fn keep_warm(&self) {
        let reader = self.reader.clone();
        let (crls, certificates) = (
            Arc::downgrade(&self.crls),
            Arc::downgrade(&self.ca_certificates),
        );
        tokio::spawn(async move {
            loop {
                let (Some(crls), Some(ca_certificates)) = (crls.upgrade(), certificates.upgrade())
                else {
                    return;
                };
                let repository = Repository {
                    reader: reader.clone(),
                    crls,
                    ca_certificates,
                    chains: Arc::new(LastGood::new(0)),
                };
                if let Ok(authorities) = repository.reader.authorities().await {
                    let names = authorities
                        .iter()
                        .map(|a| a.name.as_str())
                        .chain(["domain"]);
                    for name in names {
                        // Read as long as it takes (a request is served the held copy after
                        // a short wait); missing ones (not published yet, no SHAKEN domain)
                        // are no news.
                        if let Ok(crl) = repository.read_crl(name).await {
                            repository.crls.keep(name, crl);
                        }
                        if let Ok(der) = repository.read_ca_certificate(name).await {
                            repository.ca_certificates.keep(name, der);
                        }
                    }
                }
                drop(repository);
                tokio::time::sleep(WARM_INTERVAL).await;
            }
        });
    }

    /// The store it reads.
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }

    /// The PEM chain served for a certificate: the certificate, then its issuers up to but
    /// excluding the root (relying parties hold the root as a trust anchor).
    pub async fn chain(
        &self,
        fingerprint: &Fingerprint,
    ) -> ServiceResult<(CertificateRecord, String)> {
        self.chains
            .read(&fingerprint.to_string(), self.read_chain(fingerprint))
            .await
    }

    async fn read_chain(
        &self,
        fingerprint: &Fingerprint,
    ) -> ServiceResult<(CertificateRecord, String)> {
        let record = self.reader.certificate_by_fingerprint(fingerprint).await?;
        let issued = record
            .issued
            .as_ref()
            .ok_or_else(|| ServiceError::NotFound {
                what: "certificate",
                key: fingerprint.to_string(),
            })?;
        let mut pem = ca_core::x509::pem_encode("CERTIFICATE", &issued.der)?;
        let chain = chain_certificates(&self.reader, Some(record.issuer_id)).await?;
        let without_root = chain.len().saturating_sub(1);
        for cert in chain.iter().take(without_root) {
            pem.push_str(&cert.to_pem()?);
        }
        Ok((record, pem))
    }

    /// The CRL served as `/crl/{name}.crl`: `domain` is the SHAKEN domain's indirect CRL
    /// (the name is reserved for it); any other name is an authority's CRL.
    pub async fn crl(&self, name: &str) -> ServiceResult<ServedCrl> {
        self.crls.read(name, self.read_crl(name)).await
    }

    async fn read_crl(&self, name: &str) -> ServiceResult<ServedCrl> {
        if name == "domain" {
            return self.domain_crl().await;
        }
        self.authority_crl(name).await.map(|c| ServedCrl {
            der: c.der,
            this_update: c.this_update,
            next_update: c.next_update,
        })
    }

    /// The registry's SHAKEN root (it holds at most one SHAKEN domain).
    async fn shaken_root(&self) -> ServiceResult<Authority> {
        self.trust_anchors()
            .await?
            .into_iter()
            .find(|a| !a.signs_own_crl())
            .ok_or_else(|| ServiceError::NotFound {
                what: "SHAKEN domain",
                key: "domain (this registry holds no SHAKEN hierarchy)".into(),
            })
    }

    /// The latest domain CRL of the registry's SHAKEN domain.
    async fn domain_crl(&self) -> ServiceResult<ServedCrl> {
        let missing = |hint: &str| ServiceError::NotFound {
            what: "CRL",
            key: format!("domain ({hint})"),
        };
        let root = self.shaken_root().await?;
        let crl = self
            .reader
            .latest_domain_crl(root.id)
            .await?
            .ok_or_else(|| {
                missing(
                    "no domain CRL signer is installed yet: tsca admin crl-signer-csr, tsca \
                 ceremony sign-crl-signer, tsca admin install-crl-signer",
                )
            })?;
        Ok(ServedCrl {
            der: crl.der,
            this_update: crl.this_update,
            next_update: crl.next_update,
        })
    }

    /// The current CRL of an authority: the latest it published (online authorities) or the
    /// latest installed from its ceremony (offline ones, the root).
    async fn authority_crl(&self, authority_name: &str) -> ServiceResult<CrlRecord> {
        let authority = self.reader.authority_by_name(authority_name).await?;
        let hint = if !authority.signs_own_crl() && authority.is_online() {
            "a SHAKEN CA signs no CRL of its own: its revocations are in the domain CRL, \
             /crl/domain.crl"
        } else if authority.is_online() {
            "not published yet; the CA node publishes it within seconds"
        } else {
            "not installed yet: sign it in the ceremony (tsca ceremony sign-crl) and install it \
             with PUT /v1/authorities/{id}/crl"
        };
        self.reader
            .latest_crl(authority.id)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                what: "CRL of authority",
                key: format!("{authority_name} ({hint})"),
            })
    }

    /// An authority's certificate (DER), for AIA caIssuers; `domain` is the SHAKEN domain
    /// CRL signer's, which relying parties need to check `/crl/domain.crl`.
    pub async fn ca_certificate(&self, authority_name: &str) -> ServiceResult<Vec<u8>> {
        self.ca_certificates
            .read(authority_name, self.read_ca_certificate(authority_name))
            .await
    }

    async fn read_ca_certificate(&self, authority_name: &str) -> ServiceResult<Vec<u8>> {
        if authority_name == "domain" {
            let root = self.shaken_root().await?;
            return self
                .reader
                .crl_signer(root.id, CrlSignerStatus::Active)
                .await?
                .and_then(|s| s.certificate_der)
                .ok_or_else(|| ServiceError::NotFound {
                    what: "certificate of the domain CRL signer",
                    key: "domain (none is installed yet)".into(),
                });
        }
        self.reader
            .authority_by_name(authority_name)
            .await?
            .certificate_der
            .ok_or_else(|| ServiceError::NotFound {
                what: "certificate of authority",
                key: format!("{authority_name} (it has none yet)"),
            })
    }

    /// The active roots.
    pub async fn trust_anchors(&self) -> ServiceResult<Vec<Authority>> {
        Ok(self
            .reader
            .authorities()
            .await?
            .into_iter()
            .filter(|a| a.tier == Tier::Root && a.status == AuthorityStatus::Active)
            .collect())
    }
}
