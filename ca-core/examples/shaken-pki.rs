//! Writes a sample PKI of the SHAKEN profile family (docs/profiles.md): the fixture generator
//! for the SHAKEN interop checks (scripts/interop.sh) and a quick way to see what a tsca
//! STI-CA issues.
//!
//! ```text
//! cargo run -p ca-core --example shaken-pki -- OUTDIR
//! ```
//!
//! Root "… SHAKEN ROOT" (P-256) → regional CA → national CA → end entity "Example Telecom
//! SHAKEN F0042" (TNAuthList: SPC F0042), a second end entity that is revoked, the domain CRL
//! signer (issued by the root, cRLSign only) and the domain's indirect CRL (`domain.crl`)
//! listing the revoked one with its issuer in certificateIssuer, and the root's own CRL
//! (`root.crl`), which covers the signer. Every certificate below the root but the signer
//! points at `http://127.0.0.1:8080/crl/domain.crl` with the signer as cRLIssuer.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use ca_core::crl::RevokedEntry;
use ca_core::indirect_crl::{sign_indirect_crl, IndirectEntry};
use ca_core::issue::{issue, CertificateRequest, IssuedCertificate, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::{NumberingScope, ScopeConstraint};
use ca_core::profile::{Profile, ProfileFamily, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_core::shaken::{ShakenDomain, SHAKEN_CP_V1_4};
use ca_core::time::days;
use rand_core::OsRng;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const CRL_URL: &str = "http://127.0.0.1:8080/crl/domain.crl";

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run -p ca-core --example shaken-pki -- OUTDIR");
        return ExitCode::from(2);
    };
    match run(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shaken-pki: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A SHAKEN subject: C, O, CN and the registry identifier as serialNumber.
fn subject(cn: &str, org: &str, country: &str, registry_id: &str) -> Result<SubjectName> {
    Ok(SubjectName::new(cn, Some(org), Some(country))?.with_serial_number(registry_id)?)
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> Result<()> {
    let path = dir.join(name);
    fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

struct Ca {
    key: SoftwareKey,
    cert: IssuedCertificate,
    issuing: IssuingAuthority,
}

fn certify(
    request: &CertificateRequest,
    issuer: Option<&Ca>,
    own_key: &SoftwareKey,
) -> Result<IssuedCertificate> {
    Ok(match issuer {
        None => issue(request, Issuer::SelfSigned, own_key, &mut OsRng)?,
        Some(ca) => issue(request, Issuer::Authority(&ca.issuing), &ca.key, &mut OsRng)?,
    })
}

fn run(out: &Path) -> Result<()> {
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let now = SystemTime::now() - Duration::from_secs(60);
    let signer_subject = subject(
        "tsca Sample SHAKEN CRL Signer",
        "tsca Sample STI-PA",
        "US",
        "tsca-crl-signer",
    )?;
    let domain = ShakenDomain::new(SHAKEN_CP_V1_4, CRL_URL, signer_subject.to_name()?)?;
    let family = ProfileFamily::Shaken(domain.clone());
    let request = |profile,
                   subject: SubjectName,
                   key: &SoftwareKey,
                   scope: &[&str]|
     -> Result<CertificateRequest> {
        Ok(CertificateRequest {
            profile,
            family: family.clone(),
            subject,
            public_key: key.public_key().clone(),
            scope: (!scope.is_empty())
                .then(|| NumberingScope::parse(scope.iter().copied()))
                .transpose()?,
            not_before: now,
            validity: None,
        })
    };
    let ca = |profile, subject, parent: Option<&Ca>, scope: &[&str]| -> Result<Ca> {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
        let cert = certify(&request(profile, subject, &key, scope)?, parent, &key)?;
        let constraint = if scope.is_empty() {
            ScopeConstraint::Unconstrained
        } else {
            ScopeConstraint::Within(NumberingScope::parse(scope.iter().copied())?)
        };
        let issuing =
            IssuingAuthority::in_domain(cert.certificate().clone(), domain.clone(), constraint)?;
        Ok(Ca { key, cert, issuing })
    };

    let root = ca(
        Profile::Root,
        subject(
            "tsca Sample SHAKEN ROOT",
            "tsca Sample STI-PA",
            "US",
            "tsca-root",
        )?,
        None,
        &[],
    )?;
    let regional = ca(
        Profile::RegionalCa,
        subject(
            "tsca Sample SHAKEN Regional CA",
            "tsca Sample Region",
            "US",
            "tsca-authority-2",
        )?,
        Some(&root),
        &["prefix:1", "spc:*"],
    )?;
    let national = ca(
        Profile::NationalCa,
        subject(
            "tsca Sample SHAKEN National CA",
            "tsca Sample Regulator",
            "US",
            "tsca-authority-3",
        )?,
        Some(&regional),
        &["prefix:1", "spc:*"],
    )?;
    let end_entity =
        |name: &str, spc: &str, id: &str| -> Result<(SoftwareKey, IssuedCertificate)> {
            let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
            let cn = format!("{name} SHAKEN {spc}");
            let cert = certify(
                &request(
                    Profile::Operator,
                    subject(&cn, name, "US", id)?,
                    &key,
                    &[&format!("spc:{spc}")],
                )?,
                Some(&national),
                &key,
            )?;
            Ok((key, cert))
        };
    let (operator_key, operator) = end_entity("Example Telecom", "F0042", "tsca-operator-1")?;
    let (_, revoked) = end_entity("Other Telecom", "F0043", "tsca-operator-2")?;
    let signer_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
    let signer = certify(
        &request(Profile::CrlSigner, signer_subject, &signer_key, &[])?,
        Some(&root),
        &signer_key,
    )?;

    let entry = IndirectEntry {
        issuer: national.cert.certificate().tbs_certificate.subject.clone(),
        entry: RevokedEntry::new(
            revoked.certificate().tbs_certificate.serial_number.clone(),
            now,
            Some(RevocationReason::KeyCompromise),
        ),
    };
    let crl = sign_indirect_crl(
        signer.certificate(),
        &signer_key,
        1,
        now,
        now + days(1),
        CRL_URL,
        [entry],
    )?;

    write(out, "root.pem", root.cert.to_pem()?)?;
    write(out, "regional.pem", regional.cert.to_pem()?)?;
    write(out, "national.pem", national.cert.to_pem()?)?;
    write(out, "operator.pem", operator.to_pem()?)?;
    write(out, "operator-key.pem", operator_key.to_pkcs8_pem()?)?;
    write(out, "revoked.pem", revoked.to_pem()?)?;
    write(out, "crl-signer.pem", signer.to_pem()?)?;
    write(out, "domain.crl", &crl)?;
    // The root's own CRL (its ceremony signs it): what covers the domain CRL signer.
    let arl = ca_core::crl::sign_crl(
        root.cert.certificate(),
        &root.key,
        1,
        now,
        now + days(1),
        Vec::<RevokedEntry>::new(),
    )?;
    write(out, "root.crl", &arl)?;
    Ok(())
}
