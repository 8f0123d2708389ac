//! Freshness: re-signing cached responses before half their validity has passed, and
//! storing the SHA-1 ones back in the database for every other instance (cache.rs rule 3
//! says how this races the follower).

use std::sync::Arc;

use ca_core::ocsp::CertIdHash;
use ca_service::answer_for;
use ca_store::StoreError;

use crate::cache::{cached_from, now, sign_one, timestamp, Cached, EntryKey};
use crate::{OcspError, OcspService};

impl OcspService {
    /// Every `refresh_interval` (or sooner when woken): re-read the issuers and re-sign what
    /// is past half its validity.
    pub(crate) async fn refresh_forever(&self) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.inner.config.refresh_interval) => {}
                _ = self.inner.refresh_soon.notified() => {}
            }
            if let Err(e) = self.load_issuers().await {
                tracing::warn!(error = %e, "cannot re-read the issuers");
            }
            let (done, failed) = self.refresh_due().await;
            if done + failed > 0 {
                tracing::info!(resigned = done, failed, "OCSP refresh pass");
            }
            self.inner.metrics.set_cached(self.inner.cache.len());
        }
    }

    /// Re-signs every cached answer past half its validity. Returns (re-signed, failed).
    pub(crate) async fn refresh_due(&self) -> (usize, usize) {
        let (mut done, mut failed) = (0, 0);
        for (key, cached) in self.inner.cache.due(now()) {
            match self.refresh_one(key, &cached).await {
                Ok(()) => done += 1,
                Err(e) => {
                    failed += 1;
                    tracing::warn!(certificate = %cached.certificate_id, error = %e,
                        "cannot re-sign an OCSP response; will retry");
                }
            }
        }
        self.inner.metrics.add_resigned(done as u64);
        (done, failed)
    }

    async fn refresh_one(&self, key: EntryKey, cached: &Arc<Cached>) -> Result<(), OcspError> {
        let inner = &self.inner;
        let certs = &inner.cache.certs;
        let record = match inner.reader.certificate(cached.certificate_id).await {
            Ok(record) => record,
            Err(StoreError::NotFound { .. }) => {
                inner.cache.remove_if_same(&key, cached);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let responder = inner
            .responders
            .get(key.issuer_id, timestamp(now()))
            .await?
            .ok_or(OcspError::NoResponder(key.issuer_id))?;
        let validity = inner.responders.response_validity();
        let status = answer_for(&record);
        if key.hash() != CertIdHash::Sha1 {
            // SHA-256 answers live only here: re-sign, never store.
            let Some(cert_id) = key.cert_id(&responder.hashes) else {
                inner.cache.remove_if_same(&key, cached);
                return Ok(());
            };
            let fresh = sign_one(validity, certs, &responder, cert_id, status, record.id)?;
            inner.cache.replace_if_same(key, cached, Arc::new(fresh));
            return Ok(());
        }
        // SHA-1: the stored response, re-signed and stored back for every instance.
        let response = responder.pre_sign(&record.serial, &status, timestamp(now()), validity)?;
        inner
            .responses
            .put(record.id, record.issuer_id, &response)
            .await?;
        let fresh = Arc::new(cached_from(certs, &response, record.id)?);
        // A revocation committed between our read and our write was overwritten by the old
        // status: put the revoked answer back, in the database and here, unconditionally.
        let after = inner.reader.certificate(record.id).await?;
        if answer_for(&after) != status {
            let response = responder.pre_sign(
                &after.serial,
                &answer_for(&after),
                timestamp(now()),
                validity,
            )?;
            inner
                .responses
                .put(after.id, after.issuer_id, &response)
                .await?;
            let corrected = Arc::new(cached_from(certs, &response, after.id)?);
            inner.cache.apply(&[(key, Some(corrected))]);
            return Ok(());
        }
        inner.cache.replace_if_same(key, cached, fresh);
        Ok(())
    }

    /// Runs one refresh pass now instead of waiting for the interval (tests, operations);
    /// returns how many answers were re-signed and how many could not be.
    pub async fn refresh_now(&self) -> Result<(usize, usize), OcspError> {
        self.load_issuers().await?;
        Ok(self.refresh_due().await)
    }
}
