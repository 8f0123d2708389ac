//! `tsca ceremony …`: the arguments of each ceremony and what it prints.

use std::path::{Path, PathBuf};

use ca_core::numbering::NumberingScope;
use ca_core::profile::{Profile, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_core::x509::Certificate;
use clap::Subcommand;

use super::family::FamilyPolicy;
use super::root_crl::{self, Ledger, RevocationTarget, SignedCrl};
use super::{RootFolder, RootPolicy, SubCaOrder, DEFAULT_CRL_DAYS};
use crate::{CliResult, SubjectArgs};

/// The ceremonies.
#[derive(Subcommand)]
pub enum CeremonyCommand {
    /// Creates the root key (encrypted), its self-signed certificate and its first CRL.
    InitRoot {
        /// Folder for root-key.pem, root.pem, root-policy.json, root-crl.json and root.crl.
        #[arg(long)]
        out: PathBuf,
        /// Root certificate common name.
        #[arg(long)]
        common_name: String,
        /// Organization.
        #[arg(long)]
        organization: String,
        /// Country (ISO 3166 alpha-2).
        #[arg(long)]
        country: String,
        /// Numbering resources the root may delegate (repeat), e.g. prefix:3 mcc:208 spc:*.
        #[arg(long = "allow", required = true)]
        allow: Vec<String>,
        /// The publication point's base URL (http://host:port): sub-CAs' CRL distribution
        /// points name {base}/crl/{registry name}.crl. Kept in root-policy.json.
        #[arg(long)]
        publication_base_url: String,
        /// The root's name in the registry (tsca bootstrap --root-name), which names its CRL.
        #[arg(long, default_value = "root")]
        registry_name: String,
        /// How long each root CRL is valid, in days (1 to 366); kept in root-policy.json.
        #[arg(long, default_value_t = DEFAULT_CRL_DAYS)]
        crl_days: u32,
        /// The hierarchy's profile family (docs/profiles.md): tsca, or shaken for an STI-CA
        /// whose certificates SHAKEN verifiers accept (P-256, a domain CRL signer).
        #[arg(long, value_enum, default_value_t = FamilyName::Tsca)]
        profile: FamilyName,
        /// The SHAKEN certificate policy OID (with --profile shaken): CP v1.4 by default;
        /// 2.16.840.1.114569.1.1.3 for v1.3.
        #[arg(long, default_value = ca_core::shaken::SHAKEN_CP_V1_4)]
        shaken_policy: String,
        /// File holding the passphrase (else TSCA_CEREMONY_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Signs a sub-CA CSR with the root key, within the root policy.
    SignSubca {
        /// The root folder.
        #[arg(long)]
        root: PathBuf,
        /// The CSR (PEM) from `POST /v1/authorities`.
        #[arg(long)]
        csr: PathBuf,
        /// regional or national.
        #[arg(long)]
        tier: String,
        /// The sub-CA's scope (repeat); must match what the authority was created with.
        #[arg(long = "scope", required = true)]
        scope: Vec<String>,
        #[command(flatten)]
        subject: SubjectArgs,
        /// The publication point's base URL, if not the one in root-policy.json.
        #[arg(long)]
        publication_base_url: Option<String>,
        /// The sub-CA's registry identifier (its name), written as the subject's
        /// serialNumber; required in a SHAKEN hierarchy.
        #[arg(long)]
        serial_number: Option<String>,
        /// Where to write the certificate (PEM); install it with PUT /v1/authorities/{id}/certificate.
        #[arg(long)]
        out: PathBuf,
        /// File holding the passphrase (else TSCA_CEREMONY_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Certifies a SHAKEN hierarchy's domain CRL signer from its CSR (the service holds the key).
    SignCrlSigner {
        /// The root folder.
        #[arg(long)]
        root: PathBuf,
        /// The signer's CSR (PEM).
        #[arg(long)]
        csr: PathBuf,
        /// The publication point's base URL, if not the one in root-policy.json.
        #[arg(long)]
        publication_base_url: Option<String>,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
        /// File holding the passphrase (else TSCA_CEREMONY_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Revokes a certificate the root signed and signs the root's next CRL (root.crl).
    Revoke {
        /// The root folder.
        #[arg(long)]
        root: PathBuf,
        /// The certificate's serial (hex), as root-crl.json lists it.
        #[arg(
            long,
            conflicts_with = "certificate",
            required_unless_present = "certificate"
        )]
        serial: Option<String>,
        /// The certificate itself (PEM or DER), e.g. from /ca/{name}.der.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, privilegeWithdrawn or unspecified.
        #[arg(long)]
        reason: String,
        /// File holding the passphrase (else TSCA_CEREMONY_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Signs the root's next CRL (root.crl), e.g. before the current one's nextUpdate.
    SignCrl {
        /// The root folder.
        #[arg(long)]
        root: PathBuf,
        /// Validity in days, if not the one in root-policy.json (1 to 366).
        #[arg(long)]
        crl_days: Option<u32>,
        /// File holding the passphrase (else TSCA_CEREMONY_PASSPHRASE).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

/// The profile families, as `--profile` names them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FamilyName {
    /// tsca's own profiles.
    Tsca,
    /// The SHAKEN profiles.
    Shaken,
}

fn passphrase(file: Option<&Path>) -> CliResult<zeroize::Zeroizing<Vec<u8>>> {
    let text = match file {
        Some(f) => {
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?
        }
        None => std::env::var("TSCA_CEREMONY_PASSPHRASE")
            .map_err(|_| "give --passphrase-file or set TSCA_CEREMONY_PASSPHRASE")?,
    };
    let text = text.trim_end_matches(['\r', '\n']);
    if text.chars().count() < 12 {
        return Err("the ceremony passphrase must be at least 12 characters".into());
    }
    Ok(zeroize::Zeroizing::new(text.as_bytes().to_vec()))
}

fn read(path: &Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

fn print_crl(folder: &RootFolder, crl: &SignedCrl) {
    println!(
        "root CRL number {} signed: {} ({} revoked, valid until {})\ninstall it: tsca admin install-crl --authority ID {}",
        crl.number,
        folder.crl().display(),
        crl.entries,
        crl.next_update,
        folder.crl().display()
    );
}

/// Runs a ceremony.
pub fn run(command: CeremonyCommand) -> CliResult<()> {
    match command {
        CeremonyCommand::InitRoot {
            out,
            common_name,
            organization,
            country,
            allow,
            publication_base_url,
            registry_name,
            crl_days,
            profile,
            shaken_policy,
            passphrase_file,
        } => {
            let passphrase = passphrase(passphrase_file.as_deref())?;
            let subject = SubjectName::new(&common_name, Some(&organization), Some(&country))?;
            let profile = match profile {
                FamilyName::Tsca => FamilyPolicy::Tsca,
                FamilyName::Shaken => {
                    FamilyPolicy::shaken(&shaken_policy, &organization, &country)?
                }
            };
            let allowed = NumberingScope::parse(allow.iter().map(String::as_str))?;
            let policy = RootPolicy {
                allowed_scope: allowed.entries().map(ToString::to_string).collect(),
                publication_base_url: Some(publication_base_url),
                registry_name,
                crl_validity_days: crl_days,
                profile,
            };
            let folder = RootFolder(out);
            let (_, cert, crl) = super::init_root(&folder, &subject, &policy, &passphrase)?;
            let fingerprint =
                hex::encode(ring::digest::digest(&ring::digest::SHA256, &cert.to_der()?));
            println!("root created in {} (profile family {})\n  certificate {}\n  SHA-256 {fingerprint}\nKeep the folder offline; publish root.pem and its fingerprint.", folder.0.display(), policy.profile.name(), folder.certificate().display());
            print_crl(&folder, &crl);
            Ok(())
        }
        CeremonyCommand::SignSubca {
            root,
            csr,
            tier,
            scope,
            subject,
            publication_base_url,
            serial_number,
            out,
            passphrase_file,
        } => {
            let passphrase = passphrase(passphrase_file.as_deref())?;
            let profile = match tier.as_str() {
                "regional" => Profile::RegionalCa,
                "national" => Profile::NationalCa,
                other => return Err(format!("--tier {other:?}: use regional or national").into()),
            };
            let folder = RootFolder(root);
            let (key, cert, policy) = super::open_root(&folder, &passphrase)?;
            let csr = read(&csr)?;
            let subject = SubjectName::new(
                &subject.common_name,
                subject.organization.as_deref(),
                subject.country.as_deref(),
            )?;
            let scope = NumberingScope::parse(scope.iter().map(String::as_str))?;
            let pem = super::sign_subca(
                &folder,
                &key,
                &cert,
                &policy,
                &SubCaOrder {
                    csr_pem: &csr,
                    profile,
                    subject: &subject,
                    scope: &scope,
                    publication_base_url: publication_base_url.as_deref(),
                    serial_number: serial_number.as_deref(),
                },
            )?;
            std::fs::write(&out, pem)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!(
                "signed: {}\ninstall it: tsca admin install-certificate --authority ID {}",
                out.display(),
                out.display()
            );
            Ok(())
        }
        CeremonyCommand::SignCrlSigner {
            root,
            csr,
            publication_base_url,
            out,
            passphrase_file,
        } => {
            let passphrase = passphrase(passphrase_file.as_deref())?;
            let folder = RootFolder(root);
            let (key, cert, policy) = super::open_root(&folder, &passphrase)?;
            let csr = read(&csr)?;
            let pem = super::sign_crl_signer(
                &folder,
                &key,
                &cert,
                &policy,
                &csr,
                publication_base_url.as_deref(),
            )?;
            std::fs::write(&out, pem)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!(
                "signed the domain CRL signer: {}\ninstall it: tsca admin install-crl-signer --authority ID {}",
                out.display(),
                out.display()
            );
            Ok(())
        }
        CeremonyCommand::Revoke {
            root,
            serial,
            certificate,
            reason,
            passphrase_file,
        } => {
            let reason: RevocationReason = reason.parse()?;
            let target = match (serial, certificate) {
                (Some(serial), _) => RevocationTarget::Serial(serial),
                (None, Some(path)) => {
                    let bytes = read(&path)?;
                    let cert = if bytes.starts_with(b"-----BEGIN") {
                        Certificate::from_pem(&bytes)?
                    } else {
                        Certificate::from_der(&bytes)?
                    };
                    RevocationTarget::Certificate(Box::new(cert))
                }
                (None, None) => return Err("give --serial or --certificate".into()),
            };
            let passphrase = passphrase(passphrase_file.as_deref())?;
            let folder = RootFolder(root);
            let (key, cert, policy) = super::open_root(&folder, &passphrase)?;
            let validity = root_crl::crl_validity(policy.crl_validity_days)?;
            let mut ledger = Ledger::load(&folder)?;
            let revoked = ledger.revoke(&folder, &cert, &target, reason)?;
            println!(
                "revoked {} (serial {}, {})",
                revoked.subject, revoked.serial, revoked.reason
            );
            let crl = ledger.sign(&folder, &key, &cert, validity)?;
            print_crl(&folder, &crl);
            Ok(())
        }
        CeremonyCommand::SignCrl {
            root,
            crl_days,
            passphrase_file,
        } => {
            let passphrase = passphrase(passphrase_file.as_deref())?;
            let folder = RootFolder(root);
            let (key, cert, policy) = super::open_root(&folder, &passphrase)?;
            let validity = root_crl::crl_validity(crl_days.unwrap_or(policy.crl_validity_days))?;
            let crl = Ledger::load(&folder)?.sign(&folder, &key, &cert, validity)?;
            print_crl(&folder, &crl);
            Ok(())
        }
    }
}
