//! Enrolment: where a certificate for an operator is decided (docs/architecture.md,
//! "The issuance cycle").
//!
//! Two commits per certificate:
//! - (a) one transaction records the enrolment, the approval decision (an authority that
//!   approves within assignments decides at once), the serial reservation with the intended
//!   certificate, the Idempotency-Key and their audit entries — after checking, inside the
//!   same transaction, that the operator holds the scope now (and until when: notAfter is cut
//!   there) and that the key policy allows the key;
//! - (b) after the one signature: the certificate, its status, its first OCSP response and
//!   its audit entry (`issuance.rs`).
//!
//! A crash between (a) and (b) leaves a reservation whose lease runs out; the reconciler
//! revokes its serial and finishes the enrolment with a new one, or fails it with the reason
//! (`maintenance.rs`).

use std::time::Duration;

use ca_core::csr::CheckedCsr;
use ca_core::ident::KeyFingerprint;
use ca_core::numbering::{NumberingResource, NumberingScope, ServiceProviderCode};
use ca_core::profile::{Profile, SubjectName};
use ca_store::{
    Actor, ApprovalPolicy, Authority, AuthorityFamily, CertificateRecord, CertifiedSubject,
    Enrolment, EnrolmentDecision, EnrolmentId, EnrolmentStatus, Holdings, NewEnrolment, Operator,
    OperatorId, OperatorStatus, WriteTx,
};
use jiff::Timestamp;
use serde_json::json;

use crate::access::Principal;
use crate::authorities::parse_scope;
use crate::coverage;
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::idempotency::{record, Answer, Begun, IdempotencyKey, Produced};
use crate::issuance::{CertificateOrder, Reserved};
use crate::key_policy;
use crate::responders::truncate;
use crate::Engine;

/// What an operator asks for.
#[derive(Debug, Clone)]
pub struct EnrolRequest {
    /// The PKCS#10 request, PEM.
    pub csr_pem: String,
    /// The numbering resources to certify (texts, e.g. "prefix:3361").
    pub scope: Vec<String>,
    /// "operator" (the default) or "operator-short-lived".
    pub profile: Option<String>,
}

/// An enrolment and, once issued, its certificate.
#[derive(Debug, Clone)]
pub struct EnrolmentAnswer {
    /// The enrolment as it stands.
    pub enrolment: Enrolment,
    /// Its certificate, when issued.
    pub certificate: Option<CertificateRecord>,
}

fn operator_profile(text: Option<&str>) -> ServiceResult<Profile> {
    let profile: Profile = text.unwrap_or("operator").parse().map_err(|_| {
        ServiceError::invalid(
            "profile",
            "profile must be \"operator\" or \"operator-short-lived\"",
        )
    })?;
    if !matches!(profile, Profile::Operator | Profile::OperatorShortLived) {
        return Err(ServiceError::refused_field(
            Rule::ProfileNotForOperators,
            "profile",
            "operators enrol for \"operator\" or \"operator-short-lived\"",
        ));
    }
    Ok(profile)
}

/// The subject of an operator's certificate: CN "name SPC code" (the first SPC it
/// certifies), O name, C country; in the SHAKEN family CN "name SHAKEN code" and the
/// operator's registry identifier as serialNumber (docs/profiles.md).
fn operator_subject(
    operator: &Operator,
    scope: &NumberingScope,
    family: &AuthorityFamily,
) -> ServiceResult<SubjectName> {
    let (label, shaken) = match family {
        AuthorityFamily::Tsca => ("SPC", false),
        AuthorityFamily::Shaken { .. } => ("SHAKEN", true),
    };
    let common_name = match service_provider_codes(scope).next() {
        Some(spc) => {
            // The code is kept whole: only the name is shortened to fit 64 characters.
            let tail = format!(" {label} {}", spc.as_str());
            let room = 64usize.saturating_sub(tail.chars().count());
            format!("{}{tail}", truncate(&operator.name, room))
        }
        None => operator.name.clone(),
    };
    let subject = SubjectName::new(
        truncate(&common_name, 64),
        Some(truncate(&operator.name, 64)),
        Some(operator.country.as_str()),
    )
    .map_err(ServiceError::internal)?;
    if shaken {
        return subject
            .with_serial_number(&format!("operator-{}", operator.id))
            .map_err(ServiceError::internal);
    }
    Ok(subject)
}

/// A SHAKEN end entity names exactly one SPC and nothing else: SHAKEN verifiers read
/// TNAuthList only, and ATIS-1000080 allows one SPC there.
fn check_shaken_scope(scope: &NumberingScope) -> ServiceResult<()> {
    ca_core::shaken::end_entity_spc(Some(scope))
        .map(|_| ())
        .map_err(|_| {
            ServiceError::invalid(
                "scope",
                format!(
                "a SHAKEN certificate names exactly one SPC and nothing else (asked: {scope}): \
                 request [\"spc:CODE\"] with one of the operator's codes"
            ),
            )
        })
}

fn service_provider_codes(scope: &NumberingScope) -> impl Iterator<Item = &ServiceProviderCode> {
    scope.entries().filter_map(|e| match e {
        NumberingResource::Spc(spc) => Some(spc),
        _ => None,
    })
}

/// The scope an operator certificate certifies: the requested one, plus every SPC the
/// operator holds now when the request names none. The registry's `spc:` assignments are
/// the one source of the SPCs, and every operator certificate carries one in its TNAuthList
/// (docs/profiles.md), so an operator without one is refused.
fn with_service_provider_codes(
    holdings: &Holdings,
    operator: &Operator,
    requested: &NumberingScope,
    now: Timestamp,
) -> ServiceResult<NumberingScope> {
    if service_provider_codes(requested).next().is_some() {
        return Ok(requested.clone());
    }
    let held = holdings
        .own
        .iter()
        .filter(|a| a.is_active_at(now) && matches!(a.resource, NumberingResource::Spc(_)))
        .map(|a| a.resource.clone())
        .collect::<Vec<_>>();
    if held.is_empty() {
        return Err(ServiceError::refused_field(
            Rule::SpcAssignmentRequired,
            "scope",
            format!(
                "operator {} holds no service provider code: every operator certificate carries \
                 its SPC in a TNAuthList (RFC 8226), so an administrator of its authority assigns \
                 one first (POST /v1/assignments with resource \"spc:CODE\")",
                operator.id
            ),
        ));
    }
    let mut certified = requested.clone();
    certified.extend(&NumberingScope::new(held));
    Ok(certified)
}

impl Engine {
    /// An operator enrols: CSR + scope + profile. Issued at once (commits (a) and (b)) when
    /// the authority approves within assignments, else pending for a person.
    pub async fn enrol(
        &self,
        who: &Principal,
        request: EnrolRequest,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<EnrolmentAnswer>> {
        let Some(operator_id) = Engine::operator_of(who) else {
            return Err(ServiceError::forbidden(format!(
                "a {} token cannot enrol; it needs an operator token",
                who.role()
            )));
        };
        let csr = CheckedCsr::from_pem(request.csr_pem.as_bytes())
            .map_err(|e| ServiceError::invalid("csr", e))?;
        let scope = parse_scope("scope", &request.scope, self.config().max_scope_entries)?;
        let profile = operator_profile(request.profile.as_deref())?;
        let public_key = KeyFingerprint::of_spki(csr.public_key())
            .map_err(|e| ServiceError::invalid("csr", e))?;
        let canonical = json!({"csr": hex::encode(csr.der()), "scope": scope.to_string(), "profile": profile.name()});
        if let Ok(operator) = self.reader().operator(operator_id).await {
            self.warm_issuer_key(operator.authority_id).await;
        }
        let now = self.now();
        let (mut tx, claim) = match self
            .begin_once(now, who, key, "enrolment.create", &canonical)
            .await?
        {
            Begun::Replay(produced) => {
                return self.replay_enrolment(produced).await.map(Answer::replayed)
            }
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let certifiable = may_certify(&mut tx, operator_id, &scope, &public_key, now).await?;
        let authority = certifiable.authority.clone();
        let actor = who.actor();
        let mut enrolment = tx
            .insert_enrolment(
                &NewEnrolment {
                    operator_id,
                    authority_id: authority.id,
                    csr_der: csr.der().to_vec(),
                    requested_scope: certifiable.scope.clone(),
                    profile,
                },
                &actor,
            )
            .await?;
        let reserved = if authority.approval == ApprovalPolicy::WithinAssignments {
            enrolment = tx
                .decide_enrolment(
                    enrolment.id,
                    &EnrolmentDecision::Approve {
                        reason: Some("auto-approved: within the operator's assignments".into()),
                    },
                    &Actor::system(),
                )
                .await?;
            Some(
                self.reserve_for(&mut tx, &enrolment, certifiable, &csr, &actor)
                    .await?,
            )
        } else {
            None
        };
        record(claim, &mut tx, Produced::Enrolment(enrolment.id)).await?;
        tx.commit().await?;
        self.finish_enrolment(enrolment, reserved, actor)
            .await
            .map(Answer::fresh)
    }

    /// Reserves the certificate of an approved enrolment inside `tx` (commit (a)).
    async fn reserve_for(
        &self,
        tx: &mut WriteTx,
        enrolment: &Enrolment,
        certifiable: Certifiable,
        csr: &CheckedCsr,
        actor: &Actor,
    ) -> ServiceResult<Reserved> {
        let Certifiable {
            operator,
            authority,
            scope,
            valid_before,
        } = certifiable;
        // The operator's authority, read by may_certify in this transaction, is the
        // enrolment's issuer unless the enrolment was recorded under another.
        let issuer = if authority.id == enrolment.authority_id {
            authority
        } else {
            tx.authority(enrolment.authority_id).await?
        };
        let subject = operator_subject(&operator, &scope, &issuer.family)?;
        self.reserve_in(
            tx,
            &issuer,
            CertificateOrder {
                profile: enrolment.profile,
                subject,
                public_key: csr.public_key().clone(),
                scope: Some(scope),
                certified: CertifiedSubject::Operator(operator.id),
                enrolment: Some(enrolment.id),
                valid_before,
            },
            actor,
        )
        .await
    }

    /// After commit (a): sign and store (commit (b)) when a certificate was reserved.
    async fn finish_enrolment(
        &self,
        enrolment: Enrolment,
        reserved: Option<Reserved>,
        actor: Actor,
    ) -> ServiceResult<EnrolmentAnswer> {
        let Some(reserved) = reserved else {
            return Ok(EnrolmentAnswer {
                enrolment,
                certificate: None,
            });
        };
        let certificate = self.finish(reserved, actor).await?;
        Ok(EnrolmentAnswer {
            enrolment: self.reader().enrolment(enrolment.id).await?,
            certificate: Some(certificate),
        })
    }

    /// An admin of the authority approves a pending enrolment: the coverage and the key
    /// policy are checked again (assignments may have changed since it was received), then
    /// commits (a) and (b) as for an automatic approval.
    pub async fn approve_enrolment(
        &self,
        who: &Principal,
        id: EnrolmentId,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<EnrolmentAnswer>> {
        let enrolment = self.reader().enrolment(id).await?;
        self.access()
            .require_admin_of(who, enrolment.authority_id)
            .await?;
        let csr = CheckedCsr::from_der(&enrolment.csr_der).map_err(ServiceError::internal)?;
        let public_key = KeyFingerprint::of_spki(csr.public_key())?;
        self.warm_issuer_key(enrolment.authority_id).await;
        let now = self.now();
        let (mut tx, claim) = match self
            .begin_once(
                now,
                who,
                key,
                "enrolment.approve",
                &json!({"enrolment": id}),
            )
            .await?
        {
            Begun::Replay(produced) => {
                return self.replay_enrolment(produced).await.map(Answer::replayed)
            }
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        // A decided enrolment is a conflict whatever its coverage is now; say so
        // before judging the request against today's holdings.
        let current = tx.enrolment(id).await?;
        if current.status != EnrolmentStatus::Pending {
            return Err(ServiceError::conflict(format!(
                "enrolment {id} is {}, not pending",
                current.status.as_str()
            )));
        }
        let certifiable = may_certify(
            &mut tx,
            enrolment.operator_id,
            &enrolment.requested_scope,
            &public_key,
            now,
        )
        .await?;
        let actor = who.actor();
        let enrolment = tx
            .decide_enrolment(id, &EnrolmentDecision::Approve { reason: None }, &actor)
            .await?;
        let reserved = self
            .reserve_for(&mut tx, &enrolment, certifiable, &csr, &actor)
            .await?;
        record(claim, &mut tx, Produced::Enrolment(id)).await?;
        tx.commit().await?;
        self.finish_enrolment(enrolment, Some(reserved), actor)
            .await
            .map(Answer::fresh)
    }

    /// An admin of the authority rejects a pending enrolment.
    pub async fn reject_enrolment(
        &self,
        who: &Principal,
        id: EnrolmentId,
        reason: Option<String>,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<Enrolment>> {
        let enrolment = self.reader().enrolment(id).await?;
        self.access()
            .require_admin_of(who, enrolment.authority_id)
            .await?;
        let reason = reason.unwrap_or_else(|| "rejected by the authority".into());
        if reason.chars().count() > 500 {
            return Err(ServiceError::invalid(
                "reason",
                "the reason must be at most 500 characters",
            ));
        }
        let (mut tx, claim) = match self
            .begin_once(
                self.now(),
                who,
                key,
                "enrolment.reject",
                &json!({"enrolment": id, "reason": reason}),
            )
            .await?
        {
            Begun::Replay(_) => return Ok(Answer::replayed(self.reader().enrolment(id).await?)),
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        let rejected = tx
            .decide_enrolment(id, &EnrolmentDecision::Reject { reason }, &who.actor())
            .await?;
        record(claim, &mut tx, Produced::Enrolment(id)).await?;
        tx.commit().await?;
        Ok(Answer::fresh(rejected))
    }

    /// The answer of an earlier request: the enrolment as it stands, waiting a little while
    /// its certificate is between commits (a) and (b).
    async fn replay_enrolment(&self, produced: Produced) -> ServiceResult<EnrolmentAnswer> {
        let Produced::Enrolment(id) = produced else {
            return Err(ServiceError::internal(format!(
                "enrolment key recorded {produced:?}"
            )));
        };
        let wait = self.config().in_progress_wait;
        let started = tokio::time::Instant::now();
        loop {
            let enrolment = self.reader().enrolment(id).await?;
            if enrolment.status != EnrolmentStatus::Approved {
                let certificate = match enrolment.certificate_id {
                    Some(c) => Some(self.reader().certificate(c).await?),
                    None => None,
                };
                return Ok(EnrolmentAnswer {
                    enrolment,
                    certificate,
                });
            }
            if started.elapsed() >= wait {
                return Err(ServiceError::InProgress {
                    detail: format!(
                        "enrolment {id} was accepted by an earlier request with this Idempotency-Key \
                         and its certificate is still being issued; retry with the same key"
                    ),
                    retry_after: Duration::from_secs(1),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Finishes an approved enrolment whose issuance was interrupted (its reservation, if
    /// any, already revoked): a new reservation and signature, or, when the rules refuse it
    /// now, the enrolment fails with the reason. Returns the certificate when issued.
    pub(crate) async fn resume_enrolment(
        &self,
        id: EnrolmentId,
    ) -> ServiceResult<Option<CertificateRecord>> {
        let actor = Actor::system();
        let authority = self.reader().enrolment(id).await?.authority_id;
        self.warm_issuer_key(authority).await;
        let now = self.now();
        let mut tx = self.begin_write(now).await?;
        let enrolment = tx.enrolment(id).await?;
        if enrolment.status != EnrolmentStatus::Approved
            || tx.enrolment_has_live_certificate(id).await?
        {
            return Ok(None); // another instance got there first
        }
        let attempt: ServiceResult<Reserved> = async {
            let csr = CheckedCsr::from_der(&enrolment.csr_der).map_err(ServiceError::internal)?;
            let public_key = KeyFingerprint::of_spki(csr.public_key())?;
            let certifiable = may_certify(
                &mut tx,
                enrolment.operator_id,
                &enrolment.requested_scope,
                &public_key,
                now,
            )
            .await?;
            self.reserve_for(&mut tx, &enrolment, certifiable, &csr, &actor)
                .await
        }
        .await;
        match attempt {
            Ok(reserved) => {
                tx.commit().await?;
                let record = self.finish(reserved, actor).await?;
                tracing::info!(enrolment = %id, certificate = %record.id, "interrupted enrolment finished");
                Ok(Some(record))
            }
            Err(
                refusal @ (ServiceError::Refused { .. }
                | ServiceError::OutOfScope { .. }
                | ServiceError::Invalid { .. }),
            ) => {
                // The attempt may have written before it was refused: roll it back and fail
                // the enrolment in a transaction of its own, conditional on no certificate
                // having been reserved for it meanwhile.
                drop(tx);
                let mut tx = self.begin_write(self.now()).await?;
                let reason =
                    format!("issuance was interrupted and cannot be finished now: {refusal}");
                if tx.fail_enrolment(id, &reason, &actor).await? {
                    tx.commit().await?;
                    tracing::warn!(enrolment = %id, %reason, "interrupted enrolment failed");
                }
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }
}

/// What an enrolment may certify, decided inside the transaction that decides it.
struct Certifiable {
    operator: Operator,
    /// The operator's authority, read in the same transaction.
    authority: Authority,
    /// The requested scope with the operator's SPCs (see [`with_service_provider_codes`]).
    scope: NumberingScope,
    /// When the operator's holdings of `scope` end (the certificate's notAfter is cut there).
    valid_before: Option<Timestamp>,
}

/// What an enrolment must pass, inside the transaction that decides it, before a
/// certificate is reserved for it: the operator is active, holds an SPC and every requested
/// number now, and the key is not bound to another subject.
async fn may_certify(
    tx: &mut WriteTx,
    operator_id: OperatorId,
    scope: &NumberingScope,
    public_key: &KeyFingerprint,
    now: Timestamp,
) -> ServiceResult<Certifiable> {
    let operator = tx.operator(operator_id).await?;
    if operator.status != OperatorStatus::Active {
        return Err(suspended(&operator));
    }
    let holdings = tx.holdings(operator_id).await?;
    let scope = with_service_provider_codes(&holdings, &operator, scope, now)?;
    let authority = tx.authority(operator.authority_id).await?;
    if authority.family != AuthorityFamily::Tsca {
        check_shaken_scope(&scope)?;
    }
    let valid_before = coverage::require(&holdings, &scope, now)?;
    key_policy::check(
        tx,
        public_key,
        CertifiedSubject::Operator(operator_id),
        "csr",
    )
    .await?;
    Ok(Certifiable {
        operator,
        authority,
        scope,
        valid_before,
    })
}

fn suspended(operator: &Operator) -> ServiceError {
    ServiceError::refused(
        Rule::OperatorSuspended,
        format!(
            "operator {} is {}, so it cannot enrol; ask the administrators of its authority, who \
             decide when it may enrol again",
            operator.id, operator.status
        ),
    )
}
