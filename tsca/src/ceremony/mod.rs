//! Key ceremonies on the offline root's machine (docs/operations.md §1): create the root, sign
//! sub-CA CSRs, revoke what the root signed and sign the root's CRL.
//!
//! The root folder holds `root-key.pem` (PKCS#8, PBES2-encrypted with the ceremony
//! passphrase), `root.pem` (the self-signed certificate, public), `root-policy.json` (which
//! numbering resources the root may delegate, and where its CRL is published), and the CRL
//! files of [`root_crl`]. Nothing here touches a database: the signed certificates and CRLs
//! are installed through the registry (`PUT /v1/authorities/{id}/certificate`, `PUT
//! /v1/authorities/{id}/crl`).

pub mod cli;
pub mod family;
pub mod root_crl;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ca_core::csr::CheckedCsr;
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::numbering::ScopeConstraint;
use ca_core::profile::{Profile, ProfileFamily, Publication, SubjectName};
use ca_core::x509::Certificate;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::{spinner, write_private, CliResult};
use family::FamilyPolicy;
use root_crl::{Ledger, SignedCrl};

/// What the root may delegate, and where its CRL is published.
#[derive(Debug, Serialize, Deserialize)]
pub struct RootPolicy {
    /// Sub-CA scopes must be inside this.
    pub allowed_scope: Vec<String>,
    /// The publication point's base URL (`http://host:port`): the CRL distribution point of
    /// every sub-CA the root signs is `{base}/crl/{registry_name}.crl`. Absent in folders made
    /// before root CRLs; `sign-subca --publication-base-url` supplies it then.
    #[serde(default)]
    pub publication_base_url: Option<String>,
    /// The root's name in the registry (`tsca bootstrap --root-name`), which names its CRL.
    #[serde(default = "default_registry_name")]
    pub registry_name: String,
    /// How long each root CRL is valid, in days (at most a year: the ceremony re-signs it).
    #[serde(default = "default_crl_days")]
    pub crl_validity_days: u32,
    /// The profile family of the hierarchy (tsca for folders made before it was chosen).
    #[serde(default)]
    pub profile: FamilyPolicy,
}

fn default_registry_name() -> String {
    "root".into()
}

/// A root CRL is valid 365 days unless the policy says otherwise.
pub const DEFAULT_CRL_DAYS: u32 = 365;

fn default_crl_days() -> u32 {
    DEFAULT_CRL_DAYS
}

impl RootPolicy {
    /// The root CRL's URL, from `base` if given (it wins over the policy's), else the policy's.
    pub fn crl_url(&self, base: Option<&str>) -> CliResult<String> {
        let base = base
            .or(self.publication_base_url.as_deref())
            .ok_or("the root policy names no publication base URL: give --publication-base-url")?;
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "publication base URL {base:?}: use http://host[:port] (relying parties fetch \
                 CRLs over plain HTTP, RFC 5280 §4.2.1.13)"
            )
            .into());
        }
        Ok(format!("{base}/crl/{}.crl", self.registry_name))
    }

    /// The publication base URL, from `base` if given, else the policy's.
    fn base_url<'a>(&'a self, base: Option<&'a str>) -> CliResult<&'a str> {
        self.crl_url(base)?;
        Ok(base
            .or(self.publication_base_url.as_deref())
            .unwrap_or_default()
            .trim_end_matches('/'))
    }

    /// The root as an issuer of its family, publishing at `base` (or the policy's URL).
    fn issuing_root(&self, root: &Certificate, base: Option<&str>) -> CliResult<IssuingAuthority> {
        Ok(match self.profile.profile_family(self.base_url(base)?)? {
            ProfileFamily::Tsca => IssuingAuthority::new(
                root.clone(),
                Publication {
                    crl_url: Some(self.crl_url(base)?),
                    ocsp_url: None,
                    ca_issuers_url: None,
                },
            )?,
            ProfileFamily::Shaken(domain) => {
                IssuingAuthority::in_domain(root.clone(), domain, ScopeConstraint::Unconstrained)?
            }
        })
    }
}

/// Paths inside a root folder.
pub struct RootFolder(pub PathBuf);

impl RootFolder {
    fn key(&self) -> PathBuf {
        self.0.join("root-key.pem")
    }
    /// The root certificate (public).
    pub fn certificate(&self) -> PathBuf {
        self.0.join("root.pem")
    }
    fn policy(&self) -> PathBuf {
        self.0.join("root-policy.json")
    }
    /// The CRL ledger (see [`root_crl`]).
    fn ledger(&self) -> PathBuf {
        self.0.join("root-crl.json")
    }
    /// The latest signed root CRL (DER).
    pub fn crl(&self) -> PathBuf {
        self.0.join("root.crl")
    }
}

/// `tsca ceremony init-root`: a P-384 root key, encrypted at rest, its self-signed
/// certificate, its policy, and its first (empty) CRL.
pub fn init_root(
    folder: &RootFolder,
    subject: &SubjectName,
    policy: &RootPolicy,
    passphrase: &[u8],
) -> CliResult<(SoftwareKey, Certificate, SignedCrl)> {
    if folder.key().exists() {
        return Err(format!(
            "{} already exists: a root folder holds one root; choose another --out",
            folder.key().display()
        )
        .into());
    }
    // Checked before any key exists.
    NumberingScope::parse(policy.allowed_scope.iter().map(String::as_str))?;
    policy.crl_url(None)?;
    let crl_validity = root_crl::crl_validity(policy.crl_validity_days)?;
    let family = policy.profile.profile_family(policy.base_url(None)?)?;
    // SHAKEN roots are P-256 and name themselves in the registry (serialNumber).
    let (algorithm, subject) = match &family {
        ProfileFamily::Tsca => (KeyAlgorithm::EcdsaP384, subject.clone()),
        ProfileFamily::Shaken(_) => (
            KeyAlgorithm::EcdsaP256,
            subject.clone().with_serial_number(&policy.registry_name)?,
        ),
    };
    std::fs::create_dir_all(&folder.0)
        .map_err(|e| format!("cannot create {}: {e}", folder.0.display()))?;
    let key = SoftwareKey::generate(algorithm)?;
    let certificate = issue(
        &CertificateRequest {
            profile: Profile::Root,
            family,
            subject,
            public_key: key.public_key().clone(),
            scope: None,
            not_before: SystemTime::now() - Duration::from_secs(60),
            validity: None,
        },
        Issuer::SelfSigned,
        &key,
        &mut OsRng,
    )?;
    let progress = spinner("encrypting the root key (PBKDF2, 600,000 rounds)");
    let encrypted = key.to_encrypted_pem(passphrase, &mut OsRng)?;
    progress.finish_and_clear();
    write_private(&folder.key(), encrypted.as_bytes())?;
    std::fs::write(folder.certificate(), certificate.to_pem()?)
        .map_err(|e| format!("cannot write {}: {e}", folder.certificate().display()))?;
    std::fs::write(folder.policy(), serde_json::to_string_pretty(policy)?)
        .map_err(|e| format!("cannot write {}: {e}", folder.policy().display()))?;
    let root = certificate.certificate().clone();
    let crl = Ledger::default().sign(folder, &key, &root, crl_validity)?;
    Ok((key, root, crl))
}

/// Opens a root folder with the ceremony passphrase.
pub fn open_root(
    folder: &RootFolder,
    passphrase: &[u8],
) -> CliResult<(SoftwareKey, Certificate, RootPolicy)> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let key_pem =
        String::from_utf8(read(&folder.key())?).map_err(|_| "root key is not PEM text")?;
    let progress = spinner("unlocking the root key");
    let key = SoftwareKey::from_encrypted_pem(&key_pem, passphrase).map_err(|e| {
        format!(
            "cannot unlock {}: {e} (wrong passphrase?)",
            folder.key().display()
        )
    })?;
    progress.finish_and_clear();
    let certificate = Certificate::from_pem(&read(&folder.certificate())?)?;
    let policy: RootPolicy = serde_json::from_slice(&read(&folder.policy())?)?;
    Ok((key, certificate, policy))
}

/// What `tsca ceremony sign-subca` signs.
pub struct SubCaOrder<'a> {
    /// The sub-CA's CSR (PEM).
    pub csr_pem: &'a [u8],
    /// Regional or national.
    pub profile: Profile,
    /// Its subject.
    pub subject: &'a SubjectName,
    /// Its numbering scope.
    pub scope: &'a NumberingScope,
    /// Overrides the policy's publication base URL.
    pub publication_base_url: Option<&'a str>,
    /// The sub-CA's registry identifier, as its subject's serialNumber (SHAKEN family).
    pub serial_number: Option<&'a str>,
}

/// `tsca ceremony sign-subca`: signs a sub-CA's CSR with the root key, refusing a scope the
/// root policy does not allow, with a CRL distribution point for the root's CRL, and records
/// it in the CRL ledger. Returns the certificate PEM.
pub fn sign_subca(
    folder: &RootFolder,
    root_key: &SoftwareKey,
    root_certificate: &Certificate,
    policy: &RootPolicy,
    order: &SubCaOrder<'_>,
) -> CliResult<String> {
    let allowed = NumberingScope::parse(policy.allowed_scope.iter().map(String::as_str))?;
    let outside = order.scope.not_covered_by(&allowed);
    if !outside.is_empty() {
        return Err(format!(
            "the root policy does not allow {}: it allows {allowed}",
            outside
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    if !matches!(order.profile, Profile::RegionalCa | Profile::NationalCa) {
        return Err("the root signs regional or national CAs only".into());
    }
    let root = policy.issuing_root(root_certificate, order.publication_base_url)?;
    let subject = match (root.family(), order.serial_number) {
        (ProfileFamily::Tsca, _) => order.subject.clone(),
        (ProfileFamily::Shaken(_), Some(serial)) => {
            order.subject.clone().with_serial_number(serial)?
        }
        (ProfileFamily::Shaken(_), None) => {
            return Err(
                "a SHAKEN sub-CA names its registry identifier in its subject: give \
                        --serial-number (e.g. the authority's name)"
                    .into(),
            )
        }
    };
    sign_below_root(
        folder,
        root_key,
        &root,
        order.csr_pem,
        (order.profile, subject, Some(order.scope.clone())),
    )
}

/// Certifies the key of `csr_pem` under the root as `profile` with `subject` and `scope`,
/// records it in the CRL ledger and returns its PEM.
fn sign_below_root(
    folder: &RootFolder,
    root_key: &SoftwareKey,
    root: &IssuingAuthority,
    csr_pem: &[u8],
    (profile, subject, scope): (Profile, SubjectName, Option<NumberingScope>),
) -> CliResult<String> {
    let mut ledger = Ledger::load(folder)?;
    let csr = CheckedCsr::from_pem(csr_pem)?;
    let certificate = issue(
        &CertificateRequest {
            profile,
            family: root.family().clone(),
            subject,
            public_key: csr.public_key().clone(),
            scope,
            not_before: SystemTime::now() - Duration::from_secs(60),
            validity: None,
        },
        Issuer::Authority(root),
        root_key,
        &mut OsRng,
    )?;
    ledger.record_issued(folder, certificate.certificate())?;
    Ok(certificate.to_pem()?)
}

/// `tsca ceremony sign-crl-signer`: certifies the key of a SHAKEN hierarchy's domain CRL
/// signer (its CSR comes from the service that will hold the key), with the subject fixed at
/// init-root, and records it in the CRL ledger. Returns the certificate PEM.
pub fn sign_crl_signer(
    folder: &RootFolder,
    root_key: &SoftwareKey,
    root_certificate: &Certificate,
    policy: &RootPolicy,
    csr_pem: &[u8],
    publication_base_url: Option<&str>,
) -> CliResult<String> {
    let FamilyPolicy::Shaken { crl_signer, .. } = &policy.profile else {
        return Err(
            "only a SHAKEN hierarchy has a domain CRL signer: a tsca-family CA signs \
                    its own CRLs"
                .into(),
        );
    };
    let root = policy.issuing_root(root_certificate, publication_base_url)?;
    sign_below_root(
        folder,
        root_key,
        &root,
        csr_pem,
        (Profile::CrlSigner, crl_signer.subject()?, None),
    )
}
