//! Which profile family a root's hierarchy follows (docs/profiles.md), chosen at `init-root`
//! and kept in root-policy.json: tsca's own, or SHAKEN (an STI-CA whose certificates SHAKEN
//! verifiers accept unchanged).
//!
//! A SHAKEN hierarchy has one domain CRL signer, certified by the root in its ceremony
//! (`tsca ceremony sign-crl-signer`); every certificate the root signs below it points at the
//! domain CRL with the signer's name as cRLIssuer, so that name is fixed here, at init-root.

use ca_core::profile::{ProfileFamily, SubjectName};
use ca_core::shaken::ShakenDomain;
use serde::{Deserialize, Serialize};

use crate::CliResult;

/// The family of a root's hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum FamilyPolicy {
    /// tsca's own profiles (root folders made before families were chosen are this).
    #[default]
    Tsca,
    /// The SHAKEN profiles.
    Shaken {
        /// The SHAKEN certificate policy OID written below the root.
        certificate_policy: String,
        /// The domain CRL signer's subject.
        crl_signer: SignerName,
    },
}

/// The domain CRL signer's subject, fixed at init-root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerName {
    /// CN.
    pub common_name: String,
    /// O.
    pub organization: String,
    /// C.
    pub country: String,
    /// serialNumber: its registry identifier.
    pub serial_number: String,
}

impl SignerName {
    /// As a subject.
    pub fn subject(&self) -> CliResult<SubjectName> {
        Ok(SubjectName::new(
            &self.common_name,
            Some(&self.organization),
            Some(&self.country),
        )?
        .with_serial_number(&self.serial_number)?)
    }
}

impl FamilyPolicy {
    /// The SHAKEN family with `policy`, whose domain CRL signer is named after the root's
    /// organization and country.
    pub fn shaken(policy: &str, organization: &str, country: &str) -> CliResult<Self> {
        let signer = SignerName {
            common_name: format!("{organization} SHAKEN CRL Signer")
                .chars()
                .take(64)
                .collect(),
            organization: organization.to_owned(),
            country: country.to_owned(),
            serial_number: "domain-crl-signer".into(),
        };
        // Checked now, not at the first signature.
        ShakenDomain::new(
            policy,
            "http://checked.invalid/crl/domain.crl",
            signer.subject()?.to_name()?,
        )?;
        Ok(Self::Shaken {
            certificate_policy: policy.to_owned(),
            crl_signer: signer,
        })
    }

    /// The family of the certificates the root signs, publishing at `base` (the publication
    /// point's base URL).
    pub fn profile_family(&self, base: &str) -> CliResult<ProfileFamily> {
        match self {
            Self::Tsca => Ok(ProfileFamily::Tsca),
            Self::Shaken {
                certificate_policy,
                crl_signer,
            } => {
                let url = format!("{}/crl/domain.crl", base.trim_end_matches('/'));
                Ok(ProfileFamily::Shaken(ShakenDomain::new(
                    certificate_policy,
                    &url,
                    crl_signer.subject()?.to_name()?,
                )?))
            }
        }
    }

    /// The family as the registry records it on the root (`tsca bootstrap --root-policy`).
    pub fn authority_family(&self) -> CliResult<ca_store::AuthorityFamily> {
        Ok(match self {
            Self::Tsca => ca_store::AuthorityFamily::Tsca,
            Self::Shaken {
                certificate_policy,
                crl_signer,
            } => ca_store::AuthorityFamily::Shaken {
                policy: certificate_policy.clone(),
                crl_issuer_der: der::Encode::to_der(&crl_signer.subject()?.to_name()?)?,
            },
        })
    }

    /// The family's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tsca => "tsca",
            Self::Shaken { .. } => "shaken",
        }
    }
}
