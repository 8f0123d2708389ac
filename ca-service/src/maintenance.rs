//! Recovery while running, and the sweeps (docs/architecture.md, "Recovery while running").
//!
//! Every CA node heartbeats ([`Engine::heartbeat`]); its reservations are leased on that
//! heartbeat. [`Engine::maintain`] runs on every CA node every few seconds and:
//!
//! 1. revokes the serials of orphaned reservations — their instance stopped heartbeating for
//!    `orphan_after`, or this instance dropped them (a task that died between commits): the
//!    key may have signed, so the serial is revoked (cessationOfOperation) with its "revoked"
//!    response, announced to responders, and put on its CA's CRL at once;
//! 2. finishes approved enrolments left without a certificate by step 1 (a new serial), or
//!    fails them with the reason when the rules refuse them now;
//! 3. sweeps assignments that have ended: the certificates that no longer fit are revoked
//!    (privilegeWithdrawn);
//! 4. keeps every online CA's delegated responder current and its CRL fresh (a CRL that
//!    misses a revocation, or is past half its validity, is published again);
//! 5. destroys keys that no record points to, and forgets Idempotency-Keys past their
//!    retention and instances long gone.
//!
//! Several instances run it side by side on one database: every check that decides a write
//! is repeated inside the write's transaction, which holds the audit head (so no two
//! instances abandon the same reservation, revoke the same certificate or mark the same
//! assignment twice), and each step's write is conditional on the state it read.

use std::time::Duration;

use ca_core::revocation::RevocationReason;
use ca_store::{Actor, AuthorityStatus, CertificateId, KeyId, WriteTx};
use jiff::Timestamp;

use crate::clock::before;
use crate::error::ServiceResult;
use crate::revocation::revoked_status;
use crate::Engine;

/// Keys no record points to are destroyed once they are this old (an operation that stores
/// its key and its record in one transaction never leaves one; older versions did).
const ORPHAN_KEY_AGE: Duration = Duration::from_secs(3600);
/// Instances silent this long are forgotten (their reservations were reconciled long ago).
const DEAD_INSTANCE_AGE: Duration = Duration::from_secs(24 * 3600);

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// Reservations abandoned (their serials revoked).
    pub abandoned: Vec<CertificateId>,
    /// Interrupted enrolments finished with a new certificate.
    pub enrolments_finished: usize,
    /// Interrupted enrolments failed.
    pub enrolments_failed: usize,
    /// Ended assignments swept.
    pub assignments_expired: usize,
    /// Certificates revoked by the sweep.
    pub revoked: usize,
    /// CRLs published.
    pub crls_published: usize,
    /// Orphaned keys destroyed.
    pub keys_destroyed: Vec<KeyId>,
    /// Steps that failed (logged; retried next pass).
    pub failures: usize,
}

/// The background tasks of a CA node; aborted when dropped.
#[derive(Debug)]
pub struct Background {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

impl Engine {
    /// Records that this instance is alive (the lease of its reservations).
    pub async fn heartbeat(&self) -> ServiceResult<()> {
        let description = format!(
            "tsca {} pid {}",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        self.store()
            .heartbeat(self.instance(), &description, self.now())
            .await?;
        Ok(())
    }

    /// Begins a write transaction, registering this instance first if it has never
    /// heartbeated (a reservation must never be made under a lease nobody can see).
    pub(crate) async fn begin_write(&self, now: Timestamp) -> ServiceResult<WriteTx> {
        self.ensure_registered().await?;
        Ok(self.store().begin(now).await?)
    }

    pub(crate) async fn ensure_registered(&self) -> ServiceResult<()> {
        if !self
            .inner
            .registered
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.heartbeat().await?;
            self.inner
                .registered
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Start-up: heartbeat, then one maintenance pass (responders, CRLs, and whatever a
    /// previous run left).
    pub async fn start(&self) -> ServiceResult<MaintenanceReport> {
        self.ensure_registered().await?;
        Ok(self.maintain().await)
    }

    /// Spawns the heartbeat and the maintenance loop on the current runtime.
    pub fn spawn_background(&self) -> Background {
        let beating = self.clone();
        let heartbeat = tokio::spawn(async move {
            let mut every = tokio::time::interval(beating.config().heartbeat_interval);
            loop {
                every.tick().await;
                if let Err(e) = beating.heartbeat().await {
                    tracing::warn!(error = %e, "heartbeat failed; reservations of this instance may be taken over");
                }
            }
        });
        let maintaining = self.clone();
        let maintenance = tokio::spawn(async move {
            let mut every = tokio::time::interval(maintaining.config().maintenance_interval);
            every.tick().await; // the first tick is immediate: start() just ran a pass
            loop {
                every.tick().await;
                let report = maintaining.maintain().await;
                if report != MaintenanceReport::default() {
                    tracing::info!(?report, "maintenance pass");
                }
            }
        });
        Background {
            handles: vec![heartbeat, maintenance],
        }
    }

    /// One maintenance pass. Each step's failure is logged and counted; the next pass
    /// retries it.
    pub async fn maintain(&self) -> MaintenanceReport {
        let mut report = MaintenanceReport::default();
        if let Err(e) = self.reconcile_reservations(&mut report).await {
            report.failures += 1;
            tracing::warn!(error = %e, "reconciling reservations failed");
        }
        if let Err(e) = self.resume_enrolments(&mut report).await {
            report.failures += 1;
            tracing::warn!(error = %e, "resuming enrolments failed");
        }
        if let Err(e) = self.sweep_expired_assignments(&mut report).await {
            report.failures += 1;
            tracing::warn!(error = %e, "sweeping ended assignments failed");
        }
        if let Err(e) = self.refresh_authorities(&mut report).await {
            report.failures += 1;
            tracing::warn!(error = %e, "refreshing responders and CRLs failed");
        }
        if let Err(e) = self.housekeeping(&mut report).await {
            report.failures += 1;
            tracing::warn!(error = %e, "housekeeping failed");
        }
        report
    }

    /// Step 1: orphaned reservations → abandoned, revoked, on the CRL.
    async fn reconcile_reservations(&self, report: &mut MaintenanceReport) -> ServiceResult<()> {
        let now = self.now();
        let cutoff = before(now, self.config().orphan_after);
        // Reservations of instances whose lease ran out, and this instance's own that no task
        // here is working on. A reservation in flight here is never taken, even if this
        // instance's own heartbeat is late.
        let mut orphans = self.reader().orphaned_reservations(cutoff).await?;
        orphans.extend(
            self.reader()
                .reservations_of(self.instance(), cutoff)
                .await?,
        );
        orphans.retain(|r| !self.is_in_flight(r.id));
        orphans.sort_by_key(|r| r.id);
        orphans.dedup_by_key(|r| r.id);
        let mut issuers = Vec::new();
        for orphan in orphans {
            match self.abandon_orphan(&orphan, cutoff).await {
                Ok(true) => {
                    report.abandoned.push(orphan.id);
                    issuers.push(orphan.issuer_id);
                }
                Ok(false) => {} // finished or taken by its owner meanwhile
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(certificate = %orphan.id, error = %e,
                        "abandoning an orphaned reservation failed; retried next pass");
                }
            }
        }
        for issuer in unique(issuers) {
            match self.publish_crl(issuer).await {
                Ok(_) => report.crls_published += 1,
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(authority = %issuer, error = %e,
                        "publishing a CRL after abandoning reservations failed; retried next pass");
                }
            }
        }
        Ok(())
    }

    /// Abandons one orphaned reservation: its serial is revoked with its "revoked" response.
    /// False when its state changed meanwhile (the write is conditional on the lease).
    async fn abandon_orphan(
        &self,
        orphan: &ca_store::CertificateRecord,
        heartbeat_before: Timestamp,
    ) -> ServiceResult<bool> {
        let responder = self.prepared_responder(orphan.issuer_id).await;
        let now = self.now();
        let reason = RevocationReason::CessationOfOperation;
        let response = responder
            .map(|r| {
                r.pre_sign(
                    &orphan.serial,
                    &revoked_status(now, reason),
                    now,
                    self.config().ocsp_validity,
                )
            })
            .transpose()?;
        let mut tx = self.begin_write(now).await?;
        if !tx
            .abandon_reservation(
                orphan.id,
                self.instance(),
                heartbeat_before,
                response.as_ref(),
                &Actor::system(),
            )
            .await?
        {
            return Ok(false);
        }
        tx.commit().await?;
        tracing::warn!(certificate = %orphan.id, serial = %orphan.serial,
            owner = ?orphan.reserved_by, "orphaned reservation abandoned: serial revoked (cessationOfOperation)");
        Ok(true)
    }

    /// Step 2: approved enrolments without a certificate in flight.
    async fn resume_enrolments(&self, report: &mut MaintenanceReport) -> ServiceResult<()> {
        let cutoff = before(self.now(), self.config().orphan_after);
        for enrolment in self.reader().stalled_enrolments(cutoff).await? {
            match self.resume_enrolment(enrolment.id).await {
                Ok(Some(_)) => report.enrolments_finished += 1,
                Ok(None) => {
                    let failed = self
                        .reader()
                        .enrolment(enrolment.id)
                        .await
                        .map(|e| e.status);
                    if matches!(failed, Ok(ca_store::EnrolmentStatus::Failed)) {
                        report.enrolments_failed += 1;
                    }
                }
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(enrolment = %enrolment.id, error = %e,
                        "finishing an interrupted enrolment failed; retried next pass");
                }
            }
        }
        Ok(())
    }

    /// Step 3: assignments whose validity ended.
    async fn sweep_expired_assignments(&self, report: &mut MaintenanceReport) -> ServiceResult<()> {
        let expired = self
            .reader()
            .expired_unhandled_assignments(self.now(), 100)
            .await?;
        for assignment in expired {
            match self.sweep_assignment(&assignment).await {
                Ok(Some(revoked)) => {
                    report.assignments_expired += 1;
                    report.revoked += revoked;
                }
                Ok(None) => {} // another instance swept it, or its end moved
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(assignment = %assignment.id, error = %e,
                        "sweeping an ended assignment failed; retried next pass");
                }
            }
        }
        Ok(())
    }

    /// Marks one ended assignment handled and revokes what no longer fits, in one
    /// transaction. The number revoked, or None when there was nothing to do.
    async fn sweep_assignment(
        &self,
        assignment: &ca_store::Assignment,
    ) -> ServiceResult<Option<usize>> {
        let prepared = self.prepare_for_operator(assignment.operator_id).await?;
        let actor = Actor::system();
        let mut tx = self.begin_write(self.now()).await?;
        if !tx
            .mark_assignment_expiry_handled(assignment.id, &actor)
            .await?
        {
            return Ok(None);
        }
        let revoked = self
            .revoke_misfits(&mut tx, assignment.operator_id, &prepared, &actor)
            .await?;
        tx.commit().await?;
        self.publish_crls(revoked.iter().map(|c| c.issuer_id)).await;
        Ok(Some(revoked.len()))
    }

    /// Step 4: responders and CRLs of the online CAs, and SHAKEN domain CRLs.
    async fn refresh_authorities(&self, report: &mut MaintenanceReport) -> ServiceResult<()> {
        for authority in self.reader().authorities().await? {
            if authority.is_online() && authority.status == AuthorityStatus::Active {
                if let Err(e) = self.ensure_responder(authority.id).await {
                    report.failures += 1;
                    tracing::warn!(authority = %authority.name, error = %e,
                        "keeping the OCSP responder current failed; retried next pass");
                }
            }
        }
        for authority in self.reader().authorities_needing_crl(self.now()).await? {
            match self.publish_crl(authority).await {
                Ok(_) => report.crls_published += 1,
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(authority = %authority, error = %e,
                        "publishing a due CRL failed; retried next pass");
                }
            }
        }
        let (published, failed) = self.publish_due_domain_crls().await?;
        report.crls_published += published;
        report.failures += failed;
        Ok(())
    }

    /// Step 5: orphaned keys, old Idempotency-Keys, dead instances.
    async fn housekeeping(&self, report: &mut MaintenanceReport) -> ServiceResult<()> {
        let now = self.now();
        for key in self
            .reader()
            .orphaned_keys(before(now, ORPHAN_KEY_AGE))
            .await?
        {
            let mut tx = self.begin_write(now).await?;
            match tx.destroy_orphaned_key(key.id, &Actor::system()).await {
                Ok(()) => {
                    tx.commit().await?;
                    self.keys().forget(key.id);
                    tracing::warn!(key = %key.id, purpose = %key.purpose, "orphaned key destroyed");
                    report.keys_destroyed.push(key.id);
                }
                // Used after all (a record pointing to it committed meanwhile), or already
                // destroyed by another instance.
                Err(ca_store::StoreError::Conflict(_) | ca_store::StoreError::NotFound { .. }) => {}
                Err(e) => {
                    report.failures += 1;
                    tracing::warn!(key = %key.id, error = %e,
                        "destroying an orphaned key failed; retried next pass");
                }
            }
        }
        self.store()
            .forget_idempotency_keys(before(now, self.config().idempotency_retention))
            .await?;
        self.store()
            .forget_dead_instances(before(now, DEAD_INSTANCE_AGE))
            .await?;
        Ok(())
    }
}

fn unique<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items.dedup();
    items
}
