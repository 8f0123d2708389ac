//! Reads with their visibility rules: what each principal may see. The registry calls these
//! instead of reading the store, so one tenant's records never leak to another whichever
//! front end asks.

use ca_core::ident::Fingerprint;
use ca_store::{
    Assignment, AuditEntry, Authority, AuthorityId, CertificateFilter, CertificateRecord,
    Enrolment, EnrolmentId, EnrolmentStatus, Operator, OperatorId,
};

use crate::access::{is_in_subtree, Principal};
use crate::error::{ServiceError, ServiceResult};
use crate::Engine;

impl Engine {
    /// Every authority (any authenticated caller: the hierarchy is public).
    pub async fn authorities(&self) -> ServiceResult<Vec<Authority>> {
        Ok(self.reader().authorities().await?)
    }

    /// One authority.
    pub async fn authority(&self, id: AuthorityId) -> ServiceResult<Authority> {
        Ok(self.reader().authority(id).await?)
    }

    /// The operators the principal may see, optionally of one authority.
    pub async fn operators(
        &self,
        who: &Principal,
        authority: Option<AuthorityId>,
    ) -> ServiceResult<Vec<Operator>> {
        let all = self.reader().operators(authority).await?;
        let mut visible = Vec::new();
        for operator in all {
            let allowed = match who {
                Principal::Auditor { .. } => true,
                _ if who.is_root() => true,
                Principal::Operator { operator: mine, .. } => *mine == operator.id,
                Principal::AuthorityAdmin {
                    authority: mine, ..
                } => is_in_subtree(self.reader(), *mine, operator.authority_id).await?,
                _ => false,
            };
            if allowed {
                visible.push(operator);
            }
        }
        Ok(visible)
    }

    /// One operator with all its assignments.
    pub async fn operator(
        &self,
        who: &Principal,
        id: OperatorId,
    ) -> ServiceResult<(Operator, Vec<Assignment>)> {
        self.access().require_operator_read(who, id).await?;
        Ok((
            self.reader().operator(id).await?,
            self.reader().operator_assignments(id).await?,
        ))
    }

    /// An operator's assignments.
    pub async fn assignments(
        &self,
        who: &Principal,
        operator: OperatorId,
    ) -> ServiceResult<Vec<Assignment>> {
        self.access().require_operator_read(who, operator).await?;
        Ok(self.reader().operator_assignments(operator).await?)
    }

    /// One enrolment (its operator, or an admin of its authority).
    pub async fn enrolment(&self, who: &Principal, id: EnrolmentId) -> ServiceResult<Enrolment> {
        let enrolment = self.reader().enrolment(id).await?;
        self.access()
            .require_operator_access(who, enrolment.operator_id)
            .await?;
        Ok(enrolment)
    }

    /// Enrolments in a status, for admins: an authority admin sees its subtree's (its own
    /// authority's unless it names another inside its subtree).
    pub async fn enrolments(
        &self,
        who: &Principal,
        status: EnrolmentStatus,
        authority: Option<AuthorityId>,
    ) -> ServiceResult<Vec<Enrolment>> {
        self.access()
            .require_role(who, &["root-admin", "authority-admin"])?;
        let authority = match who {
            Principal::AuthorityAdmin {
                authority: mine, ..
            } => match authority {
                Some(id) => {
                    self.access().require_admin_of(who, id).await?;
                    Some(id)
                }
                None => Some(*mine),
            },
            _ => authority,
        };
        Ok(self.reader().enrolments(status, authority).await?)
    }

    /// Certificates the principal may list: operators their own; an authority admin those of
    /// its subtree's issuers or operators; root admins and auditors all.
    pub async fn certificates(
        &self,
        who: &Principal,
        mut filter: CertificateFilter,
    ) -> ServiceResult<Vec<CertificateRecord>> {
        match who {
            Principal::Operator { operator, .. } => filter.operator_id = Some(*operator),
            Principal::AuthorityAdmin { authority, .. } => {
                match (filter.issuer_id, filter.operator_id) {
                    (Some(issuer), _) => self.access().require_admin_of(who, issuer).await?,
                    (None, Some(operator)) => {
                        self.access().require_operator_access(who, operator).await?
                    }
                    (None, None) => filter.issuer_id = Some(*authority),
                }
            }
            _ => {}
        }
        Ok(self.reader().certificates(&filter).await?)
    }

    /// One certificate by fingerprint. Other tenants' certificates are answered as not found
    /// (the chain repository is their public view).
    pub async fn certificate(
        &self,
        who: &Principal,
        fingerprint: &Fingerprint,
    ) -> ServiceResult<CertificateRecord> {
        let record = self
            .reader()
            .certificate_by_fingerprint(fingerprint)
            .await?;
        let allowed = match who {
            Principal::Auditor { .. } => true,
            _ if who.is_root() => true,
            Principal::Operator { operator, .. } => record.operator_id() == Some(*operator),
            Principal::AuthorityAdmin { .. } => self
                .access()
                .require_admin_of(who, record.issuer_id)
                .await
                .is_ok(),
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::NotFound {
                what: "certificate",
                key: fingerprint.to_string(),
            });
        }
        Ok(record)
    }

    /// Audit entries after a sequence number (root admins and auditors).
    pub async fn audit(
        &self,
        who: &Principal,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<AuditEntry>> {
        self.access()
            .require_role(who, &["root-admin", "auditor"])?;
        Ok(self
            .reader()
            .audit_entries(after, limit.clamp(1, 5_000))
            .await?)
    }
}
