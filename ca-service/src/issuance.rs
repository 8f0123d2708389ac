//! The issuance cycle around ca-core (docs/issuance.md), shared by every kind of
//! certificate the gateway issues: operator certificates, sub-CA certificates and delegated
//! OCSP responder certificates.
//!
//! - [`Engine::reserve_in`] runs steps 1–6 (ca-core: refuse early, build, lint) and S1
//!   (record the serial and the to-be-signed bytes) inside the caller's transaction, so the
//!   reservation commits together with whatever decided it (the enrolment, its approval).
//! - [`Engine::finish`] runs S2 (the only signature) and S3 (store the certificate with its
//!   first "good" OCSP response) in a second transaction, on a task of its own, so a client
//!   that goes away does not cancel a signature half-recorded. Until S3 commits the
//!   reservation is in flight in this process; if this process dies, its lease runs out and
//!   any other instance's reconciler revokes the serial (`maintenance.rs`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca_core::ident::{KeyFingerprint, Serial};
use ca_core::issue::{prepare, CertificateRequest, IssuedCertificate, Issuer, LintedTbs};
use ca_core::numbering::{NumberingScope, ScopeConstraint};
use ca_core::ocsp::CertStatusAnswer;
use ca_core::profile::{Profile, SubjectName};
use ca_store::{
    Actor, Authority, AuthorityFamily, AuthorityId, CertificateId, CertificateRecord,
    CertifiedSubject, EnrolmentId, Reservation, WriteTx,
};
use jiff::Timestamp;
use spki::SubjectPublicKeyInfoOwned;

use crate::clock::{before, EntropyRng};
use crate::engine::{Engine, InFlight};
use crate::error::{ServiceError, ServiceResult};
use crate::key_policy;
use crate::keys::KeyHandle;
use crate::responders::DelegatedResponder;

/// How far back notBefore is set, for verifiers whose clocks run a little behind.
const BACKDATE: Duration = Duration::from_secs(60);

/// What to certify.
#[derive(Debug, Clone)]
pub(crate) struct CertificateOrder {
    pub(crate) profile: Profile,
    pub(crate) subject: SubjectName,
    pub(crate) public_key: SubjectPublicKeyInfoOwned,
    pub(crate) scope: Option<NumberingScope>,
    pub(crate) certified: CertifiedSubject,
    pub(crate) enrolment: Option<EnrolmentId>,
    /// The first instant the certificate must no longer be valid at (the end of the
    /// operator's coverage), if there is one.
    pub(crate) valid_before: Option<Timestamp>,
}

/// A reserved certificate: recorded (S1), not yet signed.
pub(crate) struct Reserved {
    pub(crate) id: CertificateId,
    enrolment: Option<EnrolmentId>,
    issuer_id: AuthorityId,
    serial: Serial,
    linted: LintedTbs,
    key: Arc<KeyHandle>,
    _in_flight: InFlight,
}

impl std::fmt::Debug for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reserved(certificate {}, serial {})",
            self.id, self.serial
        )
    }
}

/// The validity to ask ca-core for: the profile's (cut at the issuer's notAfter by ca-core)
/// unless something ends sooner, here the operator's coverage.
fn validity_for(
    profile: Profile,
    not_before: SystemTime,
    issuer_not_after: SystemTime,
    valid_before: Option<Timestamp>,
) -> Option<Duration> {
    let until = valid_before?;
    // notAfter is inclusive in X.509: the last covered second is the one before `until`.
    let last = SystemTime::from(until) - Duration::from_secs(1);
    let last = last.min(issuer_not_after);
    let default_end = not_before + profile.max_validity();
    if last >= default_end {
        return None;
    }
    Some(last.duration_since(not_before).unwrap_or(Duration::ZERO))
}

/// A ca-core refusal of what was asked (the subject, the scope, the key), as the request
/// field at fault; anything else ca-core reports is internal.
pub(crate) fn request_error(error: ca_core::Error) -> ServiceError {
    use ca_core::Error as E;
    match error {
        E::ProfileViolation { ref problems, .. } => {
            let field = if problems.iter().all(|p| p.starts_with("subject")) {
                "subject"
            } else if problems.iter().all(|p| p.starts_with("profile")) {
                "profile"
            } else if problems
                .iter()
                .all(|p| p.contains("scope") || p.contains("numbering") || p.contains("spc:*"))
            {
                "scope"
            } else {
                "request"
            };
            ServiceError::invalid(field, error)
        }
        E::UnsupportedKey(_) | E::WeakKey(_) => ServiceError::invalid("csr", error),
        E::InvalidRequest(_) => ServiceError::invalid("request", error),
        other => ServiceError::from(other),
    }
}

impl Engine {
    /// Steps 1–6 with a throwaway key, before anything is generated or written (refuse
    /// early): whatever the profile lint would refuse about the subject or the scope is
    /// refused here, naming the field.
    pub(crate) fn dry_run(
        &self,
        issuer: &Authority,
        profile: Profile,
        subject: &SubjectName,
        scope: &NumberingScope,
    ) -> ServiceResult<()> {
        let der = issuer.certificate_der.as_deref().ok_or_else(|| {
            ServiceError::refused(
                crate::error::Rule::ParentNotActive,
                format!("authority {} has no certificate yet", issuer.name),
            )
        })?;
        let issuing = self.issuing_view(issuer, der)?;
        let throwaway = ca_core::keys::SoftwareKey::generate(profile_key(profile, &issuer.family))?;
        prepare(
            &CertificateRequest {
                profile,
                family: issuing.family().clone(),
                subject: subject.clone(),
                public_key: ca_core::keys::Signer::public_key(&throwaway).clone(),
                scope: Some(scope.clone()),
                not_before: SystemTime::from(before(self.now(), BACKDATE)),
                validity: None,
            },
            Issuer::Authority(&issuing),
            &mut EntropyRng(self.entropy()),
        )
        .map(|_| ())
        .map_err(request_error)
    }

    /// Steps 1–6 and S1, inside `tx`: build and lint the certificate, draw a serial not yet
    /// used by the issuer, and record the reservation (owned by this instance's lease).
    pub(crate) async fn reserve_in(
        &self,
        tx: &mut WriteTx,
        issuer: &Authority,
        order: CertificateOrder,
        actor: &Actor,
    ) -> ServiceResult<Reserved> {
        let (issuing, key) = self.issuing_authority(issuer).await?;
        let not_before = SystemTime::from(before(tx.now(), BACKDATE));
        let issuer_not_after = issuing
            .certificate()
            .tbs_certificate
            .validity
            .not_after
            .to_system_time();
        let request = CertificateRequest {
            profile: order.profile,
            family: issuing.family().clone(),
            subject: order.subject.clone(),
            public_key: order.public_key.clone(),
            scope: order.scope.clone(),
            not_before,
            validity: validity_for(
                order.profile,
                not_before,
                issuer_not_after,
                order.valid_before,
            ),
        };
        let public_key = KeyFingerprint::of_spki(&order.public_key)?;
        key_policy::check(tx, &public_key, order.certified, "public_key").await?;
        // A serial clash (2^-126 per draw with a sound source) draws again; a source that
        // keeps repeating itself is broken, and the request fails rather than loops.
        for _ in 0..4 {
            let linted = prepare(
                &request,
                Issuer::Authority(&issuing),
                &mut EntropyRng(self.entropy()),
            )
            .map_err(request_error)?;
            // The signature adds at most ~150 bytes (an ECDSA P-384 signature and its headers;
            // RSA issuers do not exist here).
            let size = linted.tbs_der().len() + 150;
            if size > self.config().max_certificate_bytes {
                return Err(ServiceError::invalid(
                    "scope",
                    format!(
                        "the certificate would be about {size} bytes, above the service's cap of \
                         {} (max_certificate_bytes): certify fewer entries",
                        self.config().max_certificate_bytes
                    ),
                ));
            }
            let serial = Serial::new(linted.serial())?;
            if tx.serial_taken(issuer.id, &serial).await? {
                tracing::warn!(issuer = %issuer.id, %serial, "serial already used by this issuer; drawing again");
                continue;
            }
            let tbs = linted.tbs();
            let reservation = Reservation {
                issuer_id: issuer.id,
                serial: serial.clone(),
                profile: order.profile,
                subject: order.subject.common_name().to_owned(),
                certified: order.certified,
                enrolment_id: order.enrolment,
                not_before: Timestamp::try_from(tbs.validity.not_before.to_system_time())
                    .map_err(ServiceError::internal)?,
                not_after: Timestamp::try_from(tbs.validity.not_after.to_system_time())
                    .map_err(ServiceError::internal)?,
                scope: ScopeConstraint::Within(order.scope.clone().unwrap_or_default()),
                tbs_der: linted.tbs_der().to_vec(),
                public_key,
                reserved_by: self.instance().clone(),
            };
            let id = tx.reserve_certificate(&reservation, actor).await?;
            return Ok(Reserved {
                id,
                enrolment: order.enrolment,
                issuer_id: issuer.id,
                serial,
                linted,
                key,
                _in_flight: self.mark_in_flight(id),
            });
        }
        Err(ServiceError::internal(format!(
            "four serials in a row were already used by issuer {}: the randomness source is broken",
            issuer.id
        )))
    }

    /// S2: the only moment the issuer's key is used.
    async fn sign_reserved(&self, reserved: &Reserved) -> ServiceResult<IssuedCertificate> {
        let linted = reserved.linted.clone();
        reserved
            .key
            .with_signer(move |signer| linted.sign(signer))
            .await?
            .map_err(ServiceError::from)
    }

    /// S2 and S3 in this task: sign, then store the certificate (with its first "good"
    /// response when `respond`) in a transaction of its own.
    pub(crate) async fn complete_reserved(
        &self,
        reserved: Reserved,
        actor: &Actor,
        respond: bool,
    ) -> ServiceResult<CertificateRecord> {
        let issued = self.sign_reserved(&reserved).await?;
        let response = if respond {
            match self.ensure_responder(reserved.issuer_id).await {
                Ok(responder) => Some(responder.pre_sign(
                    &reserved.serial,
                    &CertStatusAnswer::Good,
                    self.now(),
                    self.config().ocsp_validity,
                )?),
                Err(e) => {
                    // The certificate still completes: the responders answer from its status
                    // and pre-sign it on their next pass.
                    tracing::warn!(issuer = %reserved.issuer_id, error = %e,
                        "no responder to pre-sign the first OCSP response; completing without it");
                    None
                }
            }
        } else {
            None
        };
        let mut tx = self.begin_write(self.now()).await?;
        let record = tx
            .complete_certificate(reserved.id, issued.der(), response.as_ref(), actor)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// S2 and S3 inside `tx`, for operations that are one transaction (a sub-CA's certificate
    /// with its authority record): the signed bytes leave this process only if `tx` commits.
    pub(crate) async fn sign_in(
        &self,
        tx: &mut WriteTx,
        reserved: Reserved,
        responder: Option<&DelegatedResponder>,
        actor: &Actor,
    ) -> ServiceResult<CertificateRecord> {
        let issued = self.sign_reserved(&reserved).await?;
        let response = responder
            .map(|r| {
                r.pre_sign(
                    &reserved.serial,
                    &CertStatusAnswer::Good,
                    tx.now(),
                    self.config().ocsp_validity,
                )
            })
            .transpose()?;
        Ok(tx
            .complete_certificate(reserved.id, issued.der(), response.as_ref(), actor)
            .await?)
    }

    /// [`Engine::complete_reserved`] on a task of its own: a caller that goes away does not
    /// cancel it. Errors are reported as [`ServiceError::Interrupted`] (the reservation committed).
    pub(crate) async fn finish(
        &self,
        reserved: Reserved,
        actor: Actor,
    ) -> ServiceResult<CertificateRecord> {
        let engine = self.clone();
        let (id, enrolment) = (reserved.id, reserved.enrolment);
        let result =
            tokio::spawn(async move { engine.complete_reserved(reserved, &actor, true).await })
                .await
                .map_err(ServiceError::from)
                .and_then(|r| r);
        result.map_err(|e| {
            tracing::warn!(certificate = %id, enrolment = ?enrolment, error = %e,
                "issuance stopped after the reservation; maintenance revokes the serial and \
                 finishes or fails the enrolment");
            e.after_reservation(id, enrolment)
        })
    }
}

/// The key a CA profile is generated with.
/// The key a CA of `profile` gets in `family`: P-384 for tsca CAs, P-256 for everything in
/// the SHAKEN family and for end entities and responders.
pub(crate) fn profile_key(
    profile: Profile,
    family: &AuthorityFamily,
) -> ca_core::keys::KeyAlgorithm {
    match (profile, family) {
        (Profile::Root | Profile::RegionalCa | Profile::NationalCa, AuthorityFamily::Tsca) => {
            ca_core::keys::KeyAlgorithm::EcdsaP384
        }
        _ => ca_core::keys::KeyAlgorithm::EcdsaP256,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn validity_follows_the_coverage_when_it_ends_first() {
        let nb = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let far = nb + Duration::from_secs(100 * 365 * 86_400);
        let until = Timestamp::from_second(1_000_000 + 86_400).unwrap();
        assert_eq!(
            validity_for(Profile::Operator, nb, far, Some(until)),
            Some(Duration::from_secs(86_399))
        );
        assert_eq!(validity_for(Profile::Operator, nb, far, None), None);
        let late = Timestamp::from_second(1_000_000 + 10 * 365 * 86_400).unwrap();
        assert_eq!(validity_for(Profile::Operator, nb, far, Some(late)), None);
        // The issuer's notAfter still cuts an explicit validity.
        let issuer_end = nb + Duration::from_secs(3_600);
        assert_eq!(
            validity_for(Profile::Operator, nb, issuer_end, Some(until)),
            Some(Duration::from_secs(3_600))
        );
    }
}
