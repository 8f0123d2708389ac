//! Key ceremonies on the offline root's machine: create the root, sign sub-CA CSRs.
//!
//! The root folder holds `root-key.pem` (PKCS#8, PBES2-encrypted with the ceremony
//! passphrase), `root.pem` (the self-signed certificate, public) and `root-policy.json`
//! (which numbering resources the root may delegate). Nothing here touches a database: the
//! signed certificate is installed through the registry (`PUT
//! /v1/authorities/{id}/certificate`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ca_core::csr::CheckedCsr;
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_core::x509::Certificate;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::{spinner, write_private, CliResult};

/// What the root may delegate.
#[derive(Debug, Serialize, Deserialize)]
pub struct RootPolicy {
    /// Sub-CA scopes must be inside this.
    pub allowed_scope: Vec<String>,
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
}

/// `tsca ceremony init-root`: a P-384 root key, encrypted at rest, and its self-signed
/// certificate.
pub fn init_root(
    folder: &RootFolder,
    subject: &SubjectName,
    allowed_scope: &NumberingScope,
    passphrase: &[u8],
) -> CliResult<(SoftwareKey, Certificate)> {
    if folder.key().exists() {
        return Err(format!(
            "{} already exists: a root folder holds one root; choose another --out",
            folder.key().display()
        )
        .into());
    }
    std::fs::create_dir_all(&folder.0)
        .map_err(|e| format!("cannot create {}: {e}", folder.0.display()))?;
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384)?;
    let certificate = issue(
        &CertificateRequest {
            profile: Profile::Root,
            subject: subject.clone(),
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
    let policy = RootPolicy {
        allowed_scope: allowed_scope.entries().map(ToString::to_string).collect(),
    };
    std::fs::write(folder.policy(), serde_json::to_string_pretty(&policy)?)
        .map_err(|e| format!("cannot write {}: {e}", folder.policy().display()))?;
    Ok((key, certificate.certificate().clone()))
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

/// `tsca ceremony sign-subca`: signs a sub-CA's CSR with the root key, refusing a scope the
/// root policy does not allow. Returns the certificate PEM.
pub fn sign_subca(
    root_key: &SoftwareKey,
    root_certificate: &Certificate,
    policy: &RootPolicy,
    csr_pem: &[u8],
    profile: Profile,
    subject: &SubjectName,
    scope: &NumberingScope,
) -> CliResult<String> {
    let allowed = NumberingScope::parse(policy.allowed_scope.iter().map(String::as_str))?;
    let outside = scope.not_covered_by(&allowed);
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
    if !matches!(profile, Profile::RegionalCa | Profile::NationalCa) {
        return Err("the root signs regional or national CAs only".into());
    }
    let csr = CheckedCsr::from_pem(csr_pem)?;
    let root = IssuingAuthority::new(
        root_certificate.clone(),
        Publication {
            crl_url: None,
            ocsp_url: None,
            ca_issuers_url: None,
        },
    )?;
    let certificate = issue(
        &CertificateRequest {
            profile,
            subject: subject.clone(),
            public_key: csr.public_key().clone(),
            scope: Some(scope.clone()),
            not_before: SystemTime::now() - Duration::from_secs(60),
            validity: None,
        },
        Issuer::Authority(&root),
        root_key,
        &mut OsRng,
    )?;
    Ok(certificate.to_pem()?)
}
