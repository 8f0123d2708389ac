//! Numbering assignments: who holds which numbers, and for how long.
//!
//! Rules (docs/architecture.md, "Numbers and time"):
//! - an assignment lies inside its authority's scope, ends after it starts and in the future;
//! - it may not overlap (in numbers and in time) another operator's assignment, unless it is
//!   a port from that operator, nor one the same operator already holds (409 naming it);
//! - creating a port, changing an assignment's end and withdrawing one revoke
//!   (privilegeWithdrawn), in the same transaction, every certificate that no longer fits
//!   what its operator holds until its notAfter (`coverage.rs`).

use ca_core::numbering::{NumberingResource, NumberingScope};
use ca_store::{
    Assignment, AssignmentId, CertificateId, CertificateRecord, NewAssignment, OperatorId, WriteTx,
};
use jiff::Timestamp;
use serde_json::json;

use crate::access::Principal;
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::idempotency::{record, Answer, Begun, Claim, IdempotencyKey, Produced};
use crate::Engine;

/// What [`Engine::assign`] is asked.
#[derive(Debug, Clone)]
pub struct AssignRequest {
    /// The holder.
    pub operator_id: OperatorId,
    /// The resource, e.g. "prefix:3361" or "range:33612340000+10000".
    pub resource: String,
    /// From (default: now).
    pub valid_from: Option<Timestamp>,
    /// Until (default: open-ended).
    pub valid_to: Option<Timestamp>,
    /// A port from this operator.
    pub ported_from: Option<OperatorId>,
}

/// An assignment after a change, with the certificates the change revoked.
#[derive(Debug, Clone)]
pub struct AssignmentChange {
    /// The assignment as it stands.
    pub assignment: Assignment,
    /// Certificates revoked (privilegeWithdrawn) because they no longer fit.
    pub revoked: Vec<CertificateRecord>,
}

impl Engine {
    /// Assigns a resource to an operator (or ports it from another).
    pub async fn assign(
        &self,
        who: &Principal,
        request: AssignRequest,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<AssignmentChange>> {
        let operator = self.reader().operator(request.operator_id).await?;
        self.access()
            .require_admin_of(who, operator.authority_id)
            .await?;
        // A port takes the numbers away from the donor (the lookup stops naming it for them),
        // so the caller must administer the donor as well: sibling authorities' scopes may
        // overlap, and one regulator must not port another's operator's numbers away.
        if let Some(donor) = request.ported_from {
            self.access().require_operator_access(who, donor).await?;
        }
        let resource: NumberingResource =
            request
                .resource
                .parse()
                .map_err(|e: ca_core::numbering::NumberingError| {
                    ServiceError::invalid("resource", e)
                })?;
        if resource == NumberingResource::AnySpc {
            return Err(ServiceError::refused_field(
                Rule::WildcardSpcNotAssignable,
                "resource",
                "spc:* is for authorities; assign an operator its own SPC",
            ));
        }
        let authority = self.reader().authority(operator.authority_id).await?;
        let outside = authority
            .scope
            .not_covering(&NumberingScope::new([resource.clone()]));
        if !outside.is_empty() {
            return Err(ServiceError::OutOfScope {
                field: "resource",
                entries: outside,
                what: "the scope of authority",
                allowed: format!("{} ({})", authority.name, authority.scope),
            });
        }
        let now = self.now();
        let valid_from = request.valid_from.unwrap_or(now);
        let prepared = match request.ported_from {
            Some(donor) => self.prepare_for_operator(donor).await?,
            None => Default::default(),
        };
        let canonical = json!({"operator_id": operator.id, "resource": resource.to_string(),
            "valid_from": request.valid_from.map(|t| t.as_second()),
            "valid_to": request.valid_to.map(|t| t.as_second()), "ported_from": request.ported_from});
        let (mut tx, claim) = match self
            .begin_once(now, who, key, "assignment.create", &canonical)
            .await?
        {
            Begun::Replay(Produced::Assignment(id, revoked)) => {
                return self.replay_change(id, &revoked).await
            }
            Begun::Replay(other) => return Err(unexpected(&other)),
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        // After the key lookup: a replay answers what was done even once its end has passed.
        check_end(valid_from, request.valid_to, now)?;
        // Checked inside the transaction, which holds the audit head: no writer can add a
        // clashing assignment between this check and the insert.
        let overlapping = tx.assignments_overlapping(&resource).await?;
        let in_time = |a: &&Assignment| a.overlaps_time(valid_from, request.valid_to);
        if let Some(own) = overlapping
            .iter()
            .filter(in_time)
            .find(|a| a.operator_id == operator.id)
        {
            return Err(ServiceError::conflict_with(
                "assignment",
                own.id,
                format!(
                    "operator {} already holds {} (assignment {}), which overlaps {resource}",
                    operator.id, own.resource, own.id
                ),
            ));
        }
        if let Some(clash) = overlapping
            .iter()
            .filter(in_time)
            .find(|a| Some(a.operator_id) != request.ported_from)
        {
            return Err(ServiceError::conflict_with(
                "assignment",
                clash.id,
                format!(
                    "{resource} overlaps {} held by operator {} (assignment {}); assign it as a port \
                     from that operator, or withdraw that assignment first",
                    clash.resource, clash.operator_id, clash.id
                ),
            ));
        }
        if let Some(donor) = request.ported_from {
            let donor_holds = overlapping
                .iter()
                .any(|a| a.operator_id == donor && a.is_active_at(now));
            if !donor_holds {
                return Err(ServiceError::refused_field(
                    Rule::PortFromNonHolder,
                    "ported_from",
                    format!("operator {donor} holds nothing that overlaps {resource} now: nothing to port from"),
                ));
            }
        }
        let actor = who.actor();
        let assignment = tx
            .insert_assignment(
                &NewAssignment {
                    authority_id: authority.id,
                    operator_id: operator.id,
                    resource,
                    valid_from,
                    valid_to: request.valid_to,
                    ported_from: request.ported_from,
                },
                &actor,
            )
            .await?;
        let revoked = match request.ported_from {
            Some(donor) => {
                self.revoke_misfits(&mut tx, donor, &prepared, &actor)
                    .await?
            }
            None => Vec::new(),
        };
        self.commit_change(tx, claim, assignment, revoked).await
    }

    /// Withdraws an assignment and revokes what no longer fits, in one transaction.
    pub async fn withdraw_assignment(
        &self,
        who: &Principal,
        id: AssignmentId,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<AssignmentChange>> {
        let current = self.reader().assignment(id).await?;
        self.access()
            .require_admin_of(who, current.authority_id)
            .await?;
        let prepared = self.prepare_for_operator(current.operator_id).await?;
        let (mut tx, claim) = match self
            .begin_once(
                self.now(),
                who,
                key,
                "assignment.withdraw",
                &json!({"assignment": id}),
            )
            .await?
        {
            Begun::Replay(Produced::Assignment(id, revoked)) => {
                return self.replay_change(id, &revoked).await
            }
            Begun::Replay(other) => return Err(unexpected(&other)),
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let actor = who.actor();
        let assignment = tx.withdraw_assignment(id, &actor).await?;
        let revoked = self
            .revoke_misfits(&mut tx, assignment.operator_id, &prepared, &actor)
            .await?;
        self.commit_change(tx, claim, assignment, revoked).await
    }

    /// Changes when an assignment ends (shortening revokes what no longer fits; extending
    /// must not overlap another operator's assignment).
    pub async fn change_assignment_end(
        &self,
        who: &Principal,
        id: AssignmentId,
        valid_to: Option<Timestamp>,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<AssignmentChange>> {
        let current = self.reader().assignment(id).await?;
        self.access()
            .require_admin_of(who, current.authority_id)
            .await?;
        let now = self.now();
        let prepared = self.prepare_for_operator(current.operator_id).await?;
        let canonical = json!({"assignment": id, "valid_to": valid_to.map(|t| t.as_second())});
        let (mut tx, claim) = match self
            .begin_once(now, who, key, "assignment.change-end", &canonical)
            .await?
        {
            Begun::Replay(Produced::Assignment(id, revoked)) => {
                return self.replay_change(id, &revoked).await
            }
            Begun::Replay(other) => return Err(unexpected(&other)),
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let current = tx.assignment(id).await?;
        if current.withdrawn_at.is_some() {
            return Err(ServiceError::conflict(format!(
                "assignment {id} is withdrawn"
            )));
        }
        check_end(current.valid_from, valid_to, now)?;
        // The operator's own other assignments clash too: one resource is held once.
        if let Some(clash) = tx
            .assignments_overlapping(&current.resource)
            .await?
            .iter()
            .filter(|a| a.id != id)
            .filter(|a| a.ported_from != Some(current.operator_id))
            .find(|a| a.overlaps_time(current.valid_from, valid_to))
        {
            return Err(ServiceError::conflict_with(
                "assignment",
                clash.id,
                format!(
                    "until then, {} overlaps {} held by operator {} (assignment {})",
                    current.resource, clash.resource, clash.operator_id, clash.id
                ),
            ));
        }
        let actor = who.actor();
        let assignment = tx.set_assignment_end(id, valid_to, &actor).await?;
        let revoked = self
            .revoke_misfits(&mut tx, assignment.operator_id, &prepared, &actor)
            .await?;
        self.commit_change(tx, claim, assignment, revoked).await
    }

    /// Records the Idempotency-Key with what the change did, commits, and publishes the CRLs
    /// of the certificates it revoked.
    async fn commit_change(
        &self,
        mut tx: Box<WriteTx>,
        claim: Option<Claim>,
        assignment: Assignment,
        revoked: Vec<CertificateRecord>,
    ) -> ServiceResult<Answer<AssignmentChange>> {
        record(claim, &mut tx, produced(assignment.id, &revoked)).await?;
        tx.commit().await?;
        self.publish_crls(revoked.iter().map(|c| c.issuer_id)).await;
        Ok(Answer::fresh(AssignmentChange {
            assignment,
            revoked,
        }))
    }

    /// The answer of an earlier request with the same key: the assignment and the
    /// certificates it revoked, as they are now.
    async fn replay_change(
        &self,
        id: AssignmentId,
        revoked: &[CertificateId],
    ) -> ServiceResult<Answer<AssignmentChange>> {
        let mut certificates = Vec::with_capacity(revoked.len());
        for certificate in revoked {
            certificates.push(self.reader().certificate(*certificate).await?);
        }
        Ok(Answer::replayed(AssignmentChange {
            assignment: self.reader().assignment(id).await?,
            revoked: certificates,
        }))
    }
}

/// What an assignment operation records against its Idempotency-Key.
fn produced(id: AssignmentId, revoked: &[CertificateRecord]) -> Produced {
    Produced::Assignment(id, revoked.iter().map(|c| c.id).collect())
}

fn unexpected(other: &Produced) -> ServiceError {
    ServiceError::internal(format!(
        "an assignment's Idempotency-Key recorded {other:?}"
    ))
}

/// An assignment ends after it starts, and in the future.
fn check_end(
    valid_from: Timestamp,
    valid_to: Option<Timestamp>,
    now: Timestamp,
) -> ServiceResult<()> {
    let Some(to) = valid_to else { return Ok(()) };
    // An end in the past is the likelier mistake, and valid_from defaults to now: say that
    // first rather than compare with a valid_from the caller may not have sent.
    if to <= now {
        return Err(ServiceError::refused_field(
            Rule::AssignmentAlreadyOver,
            "valid_to",
            format!("valid_to {to} is not in the future (now is {now}): an assignment must end after it is made"),
        ));
    }
    if to <= valid_from {
        return Err(ServiceError::invalid(
            "valid_to",
            "valid_to must be after valid_from",
        ));
    }
    Ok(())
}
