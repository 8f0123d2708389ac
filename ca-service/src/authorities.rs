//! Authorities: registering the offline root, creating sub-CAs, installing the certificate an
//! offline parent signed. Each is one transaction: the key, the authority record, its
//! certificate and their audit entries commit together, so a refused request leaves no ghost
//! authority and no key.

use std::time::SystemTime;

use ca_core::csr::build_csr;
use ca_core::ext::certificate_scope;
use ca_core::numbering::{NumberingScope, ScopeConstraint};
use ca_core::profile::{Profile, SubjectName};
use ca_core::x509::Certificate;
use ca_store::{
    ApprovalPolicy, Authority, AuthorityFamily, AuthorityId, AuthorityStatus, CertifiedSubject,
    KeyPurpose, NewAuthority, Tier, WriteTx,
};
use serde_json::json;

use crate::access::{Principal, TokenSecret};
use crate::error::{Rule, ServiceError, ServiceResult};
use crate::idempotency::{record, Answer, Begun, IdempotencyKey, Produced};
use crate::issuance::CertificateOrder;
use crate::operators::IssuedToken;
use crate::publication::chain_certificates;
use crate::Engine;

/// The subject fields of a CA certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectFields {
    /// CN.
    pub common_name: String,
    /// O.
    pub organization: Option<String>,
    /// C (ISO 3166 alpha-2).
    pub country: Option<String>,
}

/// What [`Engine::create_authority`] is asked.
#[derive(Debug, Clone)]
pub struct AuthorityRequest {
    /// Unique name (a-z, 0-9, '-'; it appears in URLs).
    pub name: String,
    /// Regional or national.
    pub tier: Tier,
    /// The parent authority.
    pub parent_id: AuthorityId,
    /// The numbering scope, inside the parent's (resource texts, e.g. "prefix:33").
    pub scope: Vec<String>,
    /// Its certificate subject.
    pub subject: SubjectFields,
    /// How it decides enrolments.
    pub approval: ApprovalPolicy,
}

/// The outcome of [`Engine::create_authority`].
#[derive(Debug, Clone)]
pub struct CreatedAuthority {
    /// The authority (active, or awaiting its certificate).
    pub authority: Authority,
    /// The CSR (PEM) to take to the offline parent, when the parent's key is not held here.
    pub csr_pem: Option<String>,
}

/// Checks an authority name: 1–63 characters of a-z, 0-9 and '-', not starting with '-'.
fn check_name(name: &str) -> ServiceResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if name == "domain" {
        return Err(ServiceError::invalid(
            "name",
            "\"domain\" is reserved: /crl/domain.crl is the SHAKEN domain CRL, not an authority's",
        ));
    }
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "name",
            format!("{name:?} must be 1–63 characters of a-z, 0-9 and '-' (it appears in URLs)"),
        ))
    }
}

/// Parses a non-empty scope from resource texts; errors name `field`.
pub(crate) fn parse_scope(
    field: &'static str,
    entries: &[String],
    max_entries: usize,
) -> ServiceResult<NumberingScope> {
    if entries.is_empty() {
        return Err(ServiceError::invalid(
            field,
            "the scope must list at least one resource",
        ));
    }
    if entries.len() > max_entries {
        return Err(ServiceError::invalid(
            field,
            format!(
                "the scope lists {} entries; at most {max_entries} are taken (the service's \
                 max_scope_entries): use prefixes or ranges that cover more numbers each",
                entries.len()
            ),
        ));
    }
    NumberingScope::parse(entries.iter().map(String::as_str))
        .map_err(|e| ServiceError::invalid(field, e))
}

/// Refuses a name already taken, pointing at its holder.
async fn check_name_free(tx: &mut WriteTx, name: &str) -> ServiceResult<()> {
    match tx.authority_named(name).await? {
        Some(id) => Err(ServiceError::conflict_with(
            "authority",
            id,
            format!("an authority named {name:?} already exists (authority {id})"),
        )),
        None => Ok(()),
    }
}

impl Engine {
    /// Records a tsca-family root whose key is kept offline (see [`Engine::register_root_in`]).
    pub async fn register_root(
        &self,
        who: &Principal,
        name: &str,
        certificate_der: &[u8],
    ) -> ServiceResult<Authority> {
        self.register_root_in(who, name, certificate_der, AuthorityFamily::Tsca)
            .await
    }

    /// Records a root whose key is kept offline: only its self-signed certificate enters the
    /// database, with the profile family its ceremony chose (every authority below copies
    /// it). The ceremony signs it with the offline key beforehand.
    pub async fn register_root_in(
        &self,
        who: &Principal,
        name: &str,
        certificate_der: &[u8],
        family: AuthorityFamily,
    ) -> ServiceResult<Authority> {
        if !who.is_root() {
            return Err(ServiceError::forbidden(
                "only a root admin registers a root",
            ));
        }
        check_name(name)?;
        check_self_signed(certificate_der)?;
        let mut tx = self.begin_write(self.now()).await?;
        check_name_free(&mut tx, name).await?;
        let root = insert_root(&mut tx, name, certificate_der, family, who).await?;
        tx.commit().await?;
        Ok(root)
    }

    /// `tsca bootstrap`: registers the root and creates the first root-admin token, in one
    /// transaction. Refused when the database already has an authority of that name.
    pub async fn bootstrap(
        &self,
        who: &Principal,
        name: &str,
        certificate_der: &[u8],
        family: AuthorityFamily,
    ) -> ServiceResult<(Authority, IssuedToken)> {
        if !matches!(who, Principal::Local { .. }) {
            return Err(ServiceError::forbidden(
                "bootstrap is run at the command line of a CA node",
            ));
        }
        check_name(name)?;
        check_self_signed(certificate_der)?;
        let mut tx = self.begin_write(self.now()).await?;
        check_name_free(&mut tx, name).await?;
        let root = insert_root(&mut tx, name, certificate_der, family, who).await?;
        let secret = TokenSecret::generate(self.entropy());
        let token = tx
            .insert_token(
                &ca_store::NewApiToken {
                    hash: secret.hash(),
                    grant: ca_store::TokenGrant::RootAdmin,
                    label: "first root admin (bootstrap)".into(),
                    expires_at: None,
                },
                &who.actor(),
            )
            .await?;
        tx.commit().await?;
        Ok((
            root,
            IssuedToken {
                token,
                secret: Some(secret),
            },
        ))
    }

    /// Creates a regional or national CA under `parent_id`, with a key generated here. When
    /// the parent's key is held here the certificate is issued in the same transaction;
    /// otherwise the answer carries the CSR to take to the parent's ceremony.
    pub async fn create_authority(
        &self,
        who: &Principal,
        request: AuthorityRequest,
        key: Option<&IdempotencyKey>,
    ) -> ServiceResult<Answer<CreatedAuthority>> {
        self.access()
            .require_admin_of(who, request.parent_id)
            .await?;
        check_name(&request.name)?;
        if request.tier == Tier::Root {
            return Err(ServiceError::invalid(
                "tier",
                "a root is registered from its ceremony (tsca bootstrap), not created here",
            ));
        }
        let scope = parse_scope("scope", &request.scope, self.config().max_scope_entries)?;
        let subject = SubjectName::new(
            &request.subject.common_name,
            request.subject.organization.as_deref(),
            request.subject.country.as_deref(),
        )
        .map_err(|e| ServiceError::invalid("subject", e))?;
        let parent = self.reader().authority(request.parent_id).await?;
        // A SHAKEN CA names itself in the registry (serialNumber = its name).
        let subject = match parent.family {
            AuthorityFamily::Tsca => subject,
            AuthorityFamily::Shaken { .. } => subject
                .with_serial_number(&request.name)
                .map_err(|e| ServiceError::invalid("name", e))?,
        };
        self.check_parent(&parent, &scope)?;
        let profile = match request.tier {
            Tier::National => Profile::NationalCa,
            _ => Profile::RegionalCa,
        };
        let canonical = json!({"name": request.name, "tier": request.tier, "parent_id": request.parent_id,
            "scope": scope.to_string(), "subject": [request.subject.common_name, request.subject.organization,
            request.subject.country], "approval": request.approval});
        self.dry_run(&parent, profile, &subject, &scope)?;
        // Key generation is slow (PBKDF2): before the transaction, which holds the audit head.
        let generated = self
            .keys()
            .generate(
                crate::issuance::profile_key(profile, &parent.family),
                KeyPurpose::Ca,
            )
            .await?;
        let parent_online = parent.is_online() && parent.status == AuthorityStatus::Active;
        // The parent's responder pre-signs the new CA certificate's first response; it may
        // have to be issued first, which is a transaction of its own (never inside ours).
        let parent_responder = if parent_online {
            self.ensure_responder(parent.id)
                .await
                .map_err(|e| tracing::warn!(parent = %parent.name, error = %e, "no responder for the parent"))
                .ok()
        } else {
            None
        };
        let csr = if parent_online {
            None
        } else {
            Some(build_csr(&subject, generated.signer()).map_err(ServiceError::internal)?)
        };
        if parent_online {
            self.warm_issuer_key(parent.id).await;
        }
        let now = self.now();
        let (mut tx, claim) = match self
            .begin_once(now, who, key, "authority.create", &canonical)
            .await?
        {
            Begun::Replay(produced) => {
                return self.replay_authority(produced).await.map(Answer::replayed)
            }
            Begun::Fresh(tx, claim) => (tx, claim),
        };
        check_name_free(&mut tx, &request.name).await?;
        let actor = who.actor();
        let key_id = tx.insert_key(generated.new_key(), &actor).await?;
        let mut authority = tx
            .insert_authority(
                &NewAuthority {
                    name: request.name.clone(),
                    tier: request.tier,
                    parent_id: Some(parent.id),
                    scope: ScopeConstraint::Within(scope.clone()),
                    status: AuthorityStatus::AwaitingCertificate,
                    approval: request.approval,
                    key_id: Some(key_id),
                    csr_der: csr.clone(),
                    certificate_der: None,
                    family: parent.family.clone(),
                },
                &actor,
            )
            .await?;
        if parent_online {
            // One transaction for key, record and certificate: the reservation, the signature
            // and the completion below commit together or not at all, and the certificate
            // leaves this process only after the commit (docs/architecture.md).
            let reserved = self
                .reserve_in(
                    &mut tx,
                    &parent,
                    CertificateOrder {
                        profile,
                        subject: subject.clone(),
                        public_key: ca_core::keys::Signer::public_key(generated.signer()).clone(),
                        scope: Some(scope.clone()),
                        certified: CertifiedSubject::Authority(authority.id),
                        enrolment: None,
                        valid_before: None,
                    },
                    &actor,
                )
                .await?;
            let record = self
                .sign_in(&mut tx, reserved, parent_responder.as_deref(), &actor)
                .await?;
            let der = record
                .issued
                .as_ref()
                .ok_or_else(|| ServiceError::internal("a completed CA certificate has no DER"))?;
            authority = tx
                .install_authority_certificate(authority.id, &der.der, &actor)
                .await?;
        }
        record(claim, &mut tx, Produced::Authority(authority.id)).await?;
        tx.commit().await?;
        self.keys().adopt(key_id, generated);
        if authority.status == AuthorityStatus::Active {
            self.prepare_new_authority(authority.id).await;
        }
        Ok(Answer::fresh(CreatedAuthority {
            csr_pem: csr_pem(&authority)?,
            authority,
        }))
    }

    fn check_parent(&self, parent: &Authority, scope: &NumberingScope) -> ServiceResult<()> {
        if parent.status != AuthorityStatus::Active {
            return Err(ServiceError::refused_field(
                Rule::ParentNotActive,
                "parent_id",
                format!(
                    "authority {} is {}: a CA is created under an active parent",
                    parent.name, parent.status
                ),
            ));
        }
        // Refused here, before anything is written: issuance would refuse it later
        // (pathLenConstraint 0).
        if parent.tier == Tier::National {
            return Err(ServiceError::refused_field(
                Rule::NationalCaIssuesNoCas,
                "parent_id",
                format!(
                    "authority {} is a national CA (pathLenConstraint 0): it may issue operator and \
                     responder certificates, not CAs",
                    parent.name
                ),
            ));
        }
        let outside = parent.scope.not_covering(scope);
        if !outside.is_empty() {
            return Err(ServiceError::OutOfScope {
                field: "scope",
                entries: outside,
                what: "the parent's scope",
                allowed: parent.scope.to_string(),
            });
        }
        Ok(())
    }

    /// A new active CA gets its delegated responder and its first CRL. Failures are logged:
    /// the maintenance pass retries both.
    async fn prepare_new_authority(&self, id: AuthorityId) {
        if let Err(e) = self.ensure_responder(id).await {
            tracing::warn!(authority = %id, error = %e, "no responder yet for the new CA; maintenance retries");
        }
        if self.signs_own_crl(id).await {
            if let Err(e) = self.publish_crl(id).await {
                tracing::warn!(authority = %id, error = %e, "no CRL yet for the new CA; maintenance retries");
            }
        }
    }

    async fn replay_authority(&self, produced: Produced) -> ServiceResult<CreatedAuthority> {
        let Produced::Authority(id) = produced else {
            return Err(ServiceError::internal(format!(
                "authority key recorded {produced:?}"
            )));
        };
        let authority = self.reader().authority(id).await?;
        Ok(CreatedAuthority {
            csr_pem: csr_pem(&authority)?,
            authority,
        })
    }

    /// Installs the certificate an offline parent signed for an authority awaiting it. It
    /// must certify the key of the authority's CSR, chain to the parent, and carry exactly
    /// the authority's scope. Installing the same certificate again changes nothing.
    pub async fn install_authority_certificate(
        &self,
        who: &Principal,
        authority_id: AuthorityId,
        certificate_der: &[u8],
    ) -> ServiceResult<Authority> {
        let authority = self.reader().authority(authority_id).await?;
        let parent = authority.parent_id.ok_or_else(|| {
            ServiceError::invalid(
                "id",
                "a root's certificate is installed by the root ceremony",
            )
        })?;
        self.access().require_admin_of(who, parent).await?;
        if authority.certificate_der.as_deref() == Some(certificate_der) {
            return Ok(authority);
        }
        if authority.status != AuthorityStatus::AwaitingCertificate {
            return Err(ServiceError::conflict(format!(
                "authority {} is {}, not awaiting a certificate",
                authority.name, authority.status
            )));
        }
        let cert =
            Certificate::from_der(certificate_der).map_err(|e| ServiceError::invalid("body", e))?;
        let key_id = authority.key_id.ok_or_else(|| {
            ServiceError::internal(format!(
                "authority {} awaits a certificate but has no key",
                authority.name
            ))
        })?;
        let key = self.keys().open(key_id, KeyPurpose::Ca).await?;
        if &cert.tbs_certificate.subject_public_key_info != key.signer().public_key() {
            return Err(ServiceError::refused_field(
                Rule::CertificateDoesNotMatch,
                "body",
                "the certificate does not certify this authority's key (the one in its CSR)",
            ));
        }
        let chain = chain_certificates(self.reader(), Some(parent)).await?;
        let mut path = vec![cert.clone()];
        path.extend(chain.iter().cloned());
        let anchor = path.last().cloned().into_iter().collect::<Vec<_>>();
        ca_core::path::verify_path(&path, &anchor, SystemTime::from(self.now()))
            .map_err(|e| ServiceError::refused_field(Rule::CertificateDoesNotMatch, "body", e))?;
        let cert_scope = certificate_scope(&cert)
            .map_err(|e| ServiceError::invalid("body", e))?
            .unwrap_or_default();
        // A SHAKEN CA certificate carries no numbering extension: its scope is the registry's.
        let scope_in_certificate = authority.family == AuthorityFamily::Tsca;
        if scope_in_certificate && ScopeConstraint::Within(cert_scope.clone()) != authority.scope {
            return Err(ServiceError::refused_field(
                Rule::CertificateDoesNotMatch,
                "body",
                format!(
                    "the certificate's numbering scope ({cert_scope}) differs from the authority's ({})",
                    authority.scope
                ),
            ));
        }
        let mut tx = self.begin_write(self.now()).await?;
        let installed = tx
            .install_authority_certificate(authority_id, certificate_der, &who.actor())
            .await?;
        tx.commit().await?;
        self.prepare_new_authority(authority_id).await;
        Ok(installed)
    }
}

fn check_self_signed(der: &[u8]) -> ServiceResult<()> {
    let cert =
        Certificate::from_der(der).map_err(|e| ServiceError::invalid("root_certificate", e))?;
    if cert.tbs_certificate.issuer != cert.tbs_certificate.subject {
        return Err(ServiceError::invalid(
            "root_certificate",
            "a root certificate must be self-issued",
        ));
    }
    let tbs_der = der::Encode::to_der(&cert.tbs_certificate)
        .map_err(|e| ServiceError::invalid("root_certificate", e))?;
    let signature = cert
        .signature
        .as_bytes()
        .ok_or_else(|| ServiceError::invalid("root_certificate", "the signature is malformed"))?;
    ca_core::verify::verify_signature(
        &cert.signature_algorithm,
        &cert.tbs_certificate.subject_public_key_info,
        &tbs_der,
        signature,
        "the root certificate's self-signature does not verify",
    )
    .map_err(|e| ServiceError::invalid("root_certificate", e))
}

async fn insert_root(
    tx: &mut WriteTx,
    name: &str,
    der: &[u8],
    family: AuthorityFamily,
    who: &Principal,
) -> ServiceResult<Authority> {
    if matches!(family, AuthorityFamily::Shaken { .. }) {
        if let Some(existing) = tx.shaken_root().await? {
            // Every SHAKEN certificate names one URL, /crl/domain.crl, for its domain's CRL.
            return Err(ServiceError::conflict_with(
                "authority",
                existing,
                format!(
                    "this registry already holds a SHAKEN root (authority {existing}); it serves \
                     one SHAKEN domain, whose CRL is /crl/domain.crl: run another registry for \
                     another SHAKEN domain"
                ),
            ));
        }
    }
    Ok(tx
        .insert_authority(
            &NewAuthority {
                name: name.to_owned(),
                tier: Tier::Root,
                parent_id: None,
                scope: ScopeConstraint::Unconstrained,
                status: AuthorityStatus::Active,
                approval: ApprovalPolicy::Manual,
                key_id: None,
                csr_der: None,
                certificate_der: Some(der.to_vec()),
                family,
            },
            &who.actor(),
        )
        .await?)
}

fn csr_pem(authority: &Authority) -> ServiceResult<Option<String>> {
    match (&authority.status, &authority.csr_der) {
        (AuthorityStatus::AwaitingCertificate, Some(csr)) => Ok(Some(
            ca_core::x509::pem_encode("CERTIFICATE REQUEST", csr)
                .map_err(ServiceError::internal)?,
        )),
        _ => Ok(None),
    }
}
