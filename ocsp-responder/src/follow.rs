//! Keeping the cache true to the database: the warm-up at start, and following every change
//! committed after it — issuance and revocation alike — so that a responder holds every
//! response that exists and the first query after an issuance is a hit.
//!
//! The audit log is the outbox (ca-store's notify.rs): every change to a certificate commits
//! with an audit entry naming it. The warm-up remembers the audit head it read first; the
//! follower then reads the entries after the last one it applied and re-reads each named
//! certificate and its stored response. It is woken after each commit (in-process, and by a
//! NOTIFY sent after the commit on PostgreSQL) and reads the log every `follow_interval`
//! anyway, so a lost wake-up delays a change by at most that, and nothing is ever lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ca_core::ocsp::{CertIdHash, IssuerHashes};
use ca_core::x509::Certificate;
use ca_service::answer_for;
use ca_store::{CertificateId, CertificateStatus, StoreError, StoreEvent, Subscription};

use crate::cache::{
    cached_from, key_from_stored, now, seconds, sign_one, timestamp, Cached, EntryKey, Map,
};
use crate::{KnownIssuer, OcspError, OcspService};

/// Rows per page when warming from the database.
const WARM_PAGE: i64 = 10_000;

/// How often (at most) an unknown issuer in a request makes us re-read the authorities: a CA
/// created after start is answered for within seconds, and a flood of CertIDs of foreign
/// issuers costs at most one query per period.
const ISSUER_REREAD_SECS: i64 = 5;

impl OcspService {
    pub(crate) fn issuers(&self) -> Arc<Vec<KnownIssuer>> {
        self.inner
            .issuers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) async fn load_issuers(&self) -> Result<(), StoreError> {
        let mut issuers = Vec::new();
        for authority in self.inner.reader.authorities().await? {
            // Only CAs whose key the service holds have a delegated responder; an offline
            // root's CertIDs get `unauthorized`.
            let (Some(der), true) = (&authority.certificate_der, authority.is_online()) else {
                continue;
            };
            match Certificate::from_der(der).and_then(|c| IssuerHashes::new(&c)) {
                Ok(hashes) => issuers.push(KnownIssuer {
                    issuer_id: authority.id,
                    hashes,
                }),
                Err(e) => tracing::warn!(authority = %authority.name, error = %e,
                    "CA certificate unreadable; not answering for it"),
            }
        }
        *self
            .inner
            .issuers
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(issuers);
        self.inner.issuers_loaded_at.store(now(), Ordering::SeqCst);
        Ok(())
    }

    /// Re-reads the issuers after a request named one we do not know, at most once every
    /// few seconds. Returns whether it re-read them.
    pub(crate) async fn reread_issuers_if_stale(&self) -> bool {
        let loaded = self.inner.issuers_loaded_at.load(Ordering::SeqCst);
        if now() - loaded < ISSUER_REREAD_SECS {
            return false;
        }
        let Ok(_only_one) = self.inner.issuers_reload.try_lock() else {
            return false;
        };
        if let Err(e) = self.load_issuers().await {
            tracing::warn!(error = %e, "cannot re-read the issuers");
            // Count the failure as a read so a broken database is not hammered.
            self.inner.issuers_loaded_at.store(now(), Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Loads the issuers and every stored response (start-up), and remembers the audit head
    /// read before them, from which [`OcspService::catch_up`] continues: a change committed
    /// while the cache loads is applied afterwards (twice at worst, which is harmless).
    /// Expired and due responses are loaded too, as work for the refresher (which is woken):
    /// they are never served, since a lookup checks nextUpdate.
    pub(crate) async fn warm_up(&self) -> Result<(), StoreError> {
        let store = &self.inner.reader;
        let head = store.audit_head_seq().await?;
        self.load_issuers().await?;
        let now = now();
        let capacity = self.inner.config.max_cache_entries.max(1);
        let mut fresh = Map::new();
        let (mut due, mut skipped) = (0usize, 0usize);
        let mut after = CertificateId(0);
        loop {
            let page = store.ocsp_responses_page(after, WARM_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.certificate_id;
            for record in &page {
                let Some(key) = key_from_stored(CertIdHash::Sha1, &record.sha1_key) else {
                    tracing::warn!(
                        certificate = %record.certificate_id,
                        "stored OCSP key unreadable"
                    );
                    continue;
                };
                if fresh.len() >= capacity {
                    skipped += 1;
                    continue;
                }
                let cached = match Cached::from_record(&self.inner.cache.certs, record) {
                    Ok(cached) => cached,
                    Err(e) => {
                        // Left to the live path, which signs a fresh answer.
                        tracing::warn!(certificate = %record.certificate_id, error = %e,
                            "stored OCSP response unreadable");
                        continue;
                    }
                };
                due += usize::from(cached.is_due(now));
                fresh.insert(EntryKey::new(record.issuer_id, &key), Arc::new(cached));
            }
        }
        let count = fresh.len();
        self.inner.cache.replace_all(fresh);
        self.inner.followed_seq.store(head, Ordering::SeqCst);
        self.inner.metrics.set_cached(count);
        if skipped > 0 {
            tracing::warn!(
                skipped,
                capacity,
                "more stored OCSP responses than max_cache_entries; the rest are answered live"
            );
        }
        if due > 0 {
            self.inner.refresh_soon.notify_one();
        }
        tracing::info!(
            responses = count,
            due,
            audit_seq = head,
            "OCSP cache loaded"
        );
        Ok(())
    }

    /// Follows the changes: at each wake-up past what was applied, and every
    /// `follow_interval` whatever happens. A failed catch-up is retried at the next turn:
    /// meanwhile the cache keeps answering, and its entries still stop being served at their
    /// nextUpdate, so nothing stale outlives its validity.
    pub(crate) async fn follow(&self, mut subscription: Subscription) {
        let interval = self.inner.config.follow_interval;
        loop {
            tokio::select! {
                event = subscription.next() => {
                    if let StoreEvent::Committed { through_seq } = event {
                        if through_seq <= self.inner.followed_seq.load(Ordering::SeqCst) {
                            continue; // already applied (a wake-up heard twice, or coalesced)
                        }
                    }
                }
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "cannot follow the database's changes; retrying");
                tokio::time::sleep(interval.min(Duration::from_secs(1))).await;
            }
        }
    }

    /// Applies every certificate change committed after the last one applied; re-reads the
    /// issuers when an authority changed. Returns how many certificates it applied. The
    /// position moves only once all of them are applied, so a failure is retried whole.
    pub async fn catch_up(&self) -> Result<usize, OcspError> {
        let _one_at_a_time = self.inner.catching_up.lock().await;
        let after = self.inner.followed_seq.load(Ordering::SeqCst);
        let changes = self.inner.reader.changes_after(after).await?;
        if !changes.authorities.is_empty() {
            self.load_issuers().await?;
        }
        for id in &changes.certificates {
            self.apply_change(*id).await?;
        }
        self.inner
            .followed_seq
            .store(changes.through_seq, Ordering::SeqCst);
        self.inner
            .metrics
            .add_changes_applied(changes.certificates.len() as u64);
        Ok(changes.certificates.len())
    }

    /// Brings the cached answers of a changed certificate up to date (cache.rs rule 1):
    ///
    /// - the SHA-1 answer becomes the stored response when it says what the certificate's
    ///   status says now: for a valid certificate the response stored at issuance, for a
    ///   revoked one a response signed at or after the revocation. A revoked certificate
    ///   whose stored response is older (a re-signing that raced the revocation) gets the
    ///   revoked answer signed and stored again. Anything else — a reservation not yet
    ///   signed, a certificate completed without a response — loses its entry: the live path
    ///   answers it from the database;
    /// - a cached SHA-256 answer is signed afresh (or dropped when it cannot be).
    pub(crate) async fn apply_change(
        &self,
        certificate_id: CertificateId,
    ) -> Result<(), OcspError> {
        let inner = &self.inner;
        let record = match inner.reader.certificate(certificate_id).await {
            Ok(record) => record,
            // Never committed (a rolled-back reservation leaves no audit entry, so this is
            // a row removed by hand): nothing to answer from memory.
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let status = answer_for(&record);
        let stored = inner.reader.ocsp_response(certificate_id).await?;
        let revoked_at = record.revocation.map(|r| seconds(r.revoked_at));
        let certs = &inner.cache.certs;
        let key = |hash: CertIdHash| {
            EntryKey::from_serial(record.issuer_id, hash, record.serial.as_bytes())
        };
        let usable = stored.as_ref().filter(|s| match revoked_at {
            Some(at) => seconds(s.this_update) >= at,
            None => record.status == CertificateStatus::Valid,
        });
        let needs_signature = usable.is_none() && revoked_at.is_some();
        let sha256 = key(CertIdHash::Sha256).filter(|k| inner.cache.contains(k));
        let responder = if needs_signature || sha256.is_some() {
            match inner
                .responders
                .get(record.issuer_id, timestamp(now()))
                .await
            {
                Ok(Some(responder)) => Some(responder),
                Ok(None) => {
                    tracing::warn!(issuer = %record.issuer_id, "no responder to re-sign with");
                    None
                }
                Err(e) => {
                    tracing::warn!(issuer = %record.issuer_id, error = %e, "no responder to re-sign with");
                    None
                }
            }
        } else {
            None
        };
        let validity = inner.responders.response_validity();
        let mut updates = Vec::with_capacity(2);
        if let Some(sha1) = key(CertIdHash::Sha1) {
            let value = match (usable, &responder) {
                (Some(stored), _) => Cached::from_record(certs, stored).ok(),
                (None, Some(r)) if needs_signature => {
                    let response =
                        r.pre_sign(&record.serial, &status, timestamp(now()), validity)?;
                    inner
                        .responses
                        .put(record.id, record.issuer_id, &response)
                        .await?;
                    Some(cached_from(certs, &response, record.id)?)
                }
                _ => None,
            };
            updates.push((sha1, value.map(Arc::new)));
        }
        if let Some(sha256) = sha256 {
            let value = responder.as_ref().and_then(|r| {
                let cert_id = sha256.cert_id(&r.hashes)?;
                sign_one(validity, certs, r, cert_id, status, certificate_id)
                    .map_err(|e| tracing::warn!(error = %e, "cannot re-sign the SHA-256 answer; dropping it"))
                    .ok()
            });
            updates.push((sha256, value.map(Arc::new)));
        }
        inner.cache.apply(&updates);
        Ok(())
    }
}
