//! `tsca quickstart`: a whole PKI on one machine, with no setup and no database server.
//!
//! First run, in the data folder:
//! 1. `secrets/` (owner-only): the passphrases of the service-held CA keys and responder keys,
//!    the root ceremony passphrase, the admin and example-operator tokens (kept so a second
//!    run can print them: a quickstart convenience; production tokens are shown once and
//!    never stored).
//! 2. `offline-root/`: the root key (encrypted), certificate, policy and CRL — kept out of
//!    the database, as on a real offline machine; the root's CRL is installed and served at
//!    `/crl/root.crl`.
//! 3. `tsca.db` (SQLite): the root registered; a regional CA created under it through the
//!    CSR → ceremony → install path; a national CA issued at once by the regional one; an
//!    example operator with assignments and an issued certificate in `example-operator/`.
//!    All of it through the gateway, as an admin and the operator would over the API.
//! 4. `tls/`: a self-signed certificate for 127.0.0.1 / localhost (`registry.pem`), used by
//!    the registry and by the publication point's HTTPS port.
//!
//! Then it serves the registry on https://127.0.0.1:8443, OCSP, CRLs and chains on
//! http://127.0.0.1:8080, and the same publication routes on https://127.0.0.1:8444, whose
//! chain URLs the API hands out (x5u is HTTPS only). A later run finds `quickstart.json` and
//! only serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ca_core::csr::build_csr;
use ca_core::keys::{KeyAlgorithm, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::profile::{Profile, SubjectName};
use ca_service::{
    AssignRequest, AuthorityRequest, Engine, EngineConfig, EnrolRequest, KeyPassphrases,
    OperatorRequest, Principal, SubjectFields, TokenRequest,
};
use ca_store::{ApprovalPolicy, OperatorId, Store, Tier, TokenGrant};
use rand_core::{OsRng, RngCore};
use registry_api::RegistryConfig;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tsca_http::Listener;
use zeroize::Zeroizing;

use crate::ceremony::cli::FamilyName;
use crate::ceremony::{self, RootFolder};
use crate::run::{serve, Node, Plan, Publication};
use crate::{spinner, write_private, CliResult};

/// How the quickstart appears in the audit log.
const QUICKSTART: Principal = Principal::Local {
    command: "quickstart",
};

/// What a second run needs to know.
#[derive(Serialize, Deserialize)]
struct State {
    /// The hierarchy's profile family ("tsca" or "shaken").
    #[serde(default = "tsca_family")]
    profile: String,
    operator_fingerprint: String,
    operator_id: OperatorId,
    national_id: ca_store::AuthorityId,
}

struct Paths {
    root: PathBuf,
}

impl Paths {
    fn db(&self) -> PathBuf {
        self.root.join("tsca.db")
    }
    fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }
    fn secret(&self, name: &str) -> PathBuf {
        self.secrets().join(name)
    }
    fn state(&self) -> PathBuf {
        self.root.join("quickstart.json")
    }
    fn offline_root(&self) -> RootFolder {
        RootFolder(self.root.join("offline-root"))
    }
    fn operator(&self, name: &str) -> PathBuf {
        self.root.join("example-operator").join(name)
    }
    fn tls(&self, name: &str) -> PathBuf {
        self.root.join("tls").join(name)
    }
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn read_secret(path: &Path) -> CliResult<String> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| {
            format!(
                "cannot read {}: {e} (is the data folder complete?)",
                path.display()
            )
        })?
        .trim()
        .to_owned())
}

fn mkdir_private(path: &Path) -> CliResult<()> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    Ok(())
}

fn tsca_family() -> String {
    "tsca".into()
}

/// Where the quickstart listens.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    /// The registry (HTTPS).
    pub registry: SocketAddr,
    /// The publication point over plain HTTP (OCSP, CRLs, chains).
    pub publication: SocketAddr,
    /// The publication point over HTTPS (the chain URLs handed out).
    pub publication_tls: SocketAddr,
}

/// Runs the quickstart.
pub async fn run(data_dir: &Path, addresses: Addresses, profile: FamilyName) -> CliResult<()> {
    let Addresses {
        registry,
        publication,
        publication_tls,
    } = addresses;
    let paths = Paths {
        root: data_dir.to_path_buf(),
    };
    let first_run = !paths.state().exists();
    if first_run && paths.db().exists() {
        return Err(format!(
            "{} exists but {} does not: an earlier quickstart stopped half-way. Remove the folder and run again",
            paths.db().display(),
            paths.state().display()
        )
        .into());
    }
    // Bind first: a port in use should fail before any work.
    let registry_tcp = TcpListener::bind(registry).await.map_err(|e| {
        format!("cannot listen on {registry}: {e} (is another tsca running? use --registry-addr)")
    })?;
    let publication_tcp = TcpListener::bind(publication).await.map_err(|e| {
        format!(
            "cannot listen on {publication}: {e} (is another tsca running? use --publication-addr)"
        )
    })?;
    let publication_tls_tcp = TcpListener::bind(publication_tls).await.map_err(|e| {
        format!(
            "cannot listen on {publication_tls}: {e} (is another tsca running? use --publication-tls-addr)"
        )
    })?;
    if first_run {
        mkdir_private(&paths.root)?;
        mkdir_private(&paths.secrets())?;
        write_private(&paths.secret("key-passphrase"), random_secret().as_bytes())?;
        write_private(
            &paths.secret("root-ceremony-passphrase"),
            random_secret().as_bytes(),
        )?;
    }
    // Data folders made before responder keys had a passphrase of their own get one now;
    // the first maintenance pass then gives each CA a responder under it.
    if !paths.secret("responder-key-passphrase").exists() {
        write_private(
            &paths.secret("responder-key-passphrase"),
            random_secret().as_bytes(),
        )?;
    }
    let ca_passphrase = read_secret(&paths.secret("key-passphrase"))?;
    let responder_passphrase = read_secret(&paths.secret("responder-key-passphrase"))?;
    let store = Store::open(&format!("sqlite://{}", paths.db().display())).await?;
    let engine = Engine::new(
        store,
        KeyPassphrases {
            ca: Some(Zeroizing::new(ca_passphrase.into_bytes())),
            ocsp_responder: Some(Zeroizing::new(responder_passphrase.into_bytes())),
        },
        EngineConfig::new(format!("http://{publication}")),
    );
    let state = if first_run {
        let state = build(&paths, &engine, publication, profile).await?;
        std::fs::write(paths.state(), serde_json::to_string_pretty(&state)?)?;
        state
    } else {
        serde_json::from_slice(&std::fs::read(paths.state())?)?
    };
    let tls = tsca_http::tls_config_from_pem_files(
        &paths.tls("registry.pem"),
        &paths.tls("registry-key.pem"),
    )?;
    print_welcome(&paths, &state, addresses)?;
    let plan = Plan {
        registry: Some(Listener::Tls(registry_tcp, tls.clone())),
        publication: Some(Publication {
            plain: publication_tcp,
            tls: Some((publication_tls_tcp, tls)),
        }),
        registry_config: RegistryConfig {
            chain_url_base: Some(format!("https://{publication_tls}")),
            ..RegistryConfig::default()
        },
    };
    serve(Node::Ca(engine), plan).await
}

async fn build(
    paths: &Paths,
    engine: &Engine,
    publication: SocketAddr,
    profile: FamilyName,
) -> CliResult<State> {
    let shaken = matches!(profile, FamilyName::Shaken);
    // SHAKEN names carry "SHAKEN" (the root's also "ROOT"): docs/profiles.md.
    let family_word = if shaken { " SHAKEN" } else { "" };
    // 2. The offline root.
    eprintln!(
        "[1/6] root ceremony (offline key in {})",
        paths.offline_root().0.display()
    );
    let ceremony_passphrase = read_secret(&paths.secret("root-ceremony-passphrase"))?;
    let regional_scope = NumberingScope::parse([
        "prefix:33",
        "prefix:44",
        "prefix:49",
        "mcc:208",
        "mcc:234",
        "mcc:262",
        "spc:*",
    ])?;
    let policy = ceremony::RootPolicy {
        allowed_scope: regional_scope.entries().map(ToString::to_string).collect(),
        publication_base_url: Some(format!("http://{publication}")),
        registry_name: "root".into(),
        crl_validity_days: ceremony::DEFAULT_CRL_DAYS,
        profile: if shaken {
            ceremony::family::FamilyPolicy::shaken(
                ca_core::shaken::SHAKEN_CP_V1_4,
                "tsca Quickstart SDO",
                "CH",
            )?
        } else {
            ceremony::family::FamilyPolicy::Tsca
        },
    };
    let (root_key, root_cert, _) = ceremony::init_root(
        &paths.offline_root(),
        &SubjectName::new(
            if shaken {
                "tsca Quickstart SHAKEN ROOT"
            } else {
                "tsca Quickstart Root"
            },
            Some("tsca Quickstart SDO"),
            Some("CH"),
        )?,
        &policy,
        ceremony_passphrase.as_bytes(),
    )?;
    let root = engine
        .register_root_in(
            &QUICKSTART,
            "root",
            &root_cert.to_der()?,
            policy.profile.authority_family()?,
        )
        .await?;
    // The root's first CRL, signed in the ceremony, served at /crl/root.crl.
    let root_crl = std::fs::read(paths.offline_root().crl())?;
    engine
        .install_offline_crl(&QUICKSTART, root.id, &root_crl)
        .await?;
    let admin = engine
        .create_token(
            &QUICKSTART,
            TokenRequest {
                grant: TokenGrant::RootAdmin,
                label: Some("quickstart root admin".into()),
                lifetime: None,
            },
            None,
        )
        .await?
        .value;
    let admin_secret = admin.secret.ok_or("a new token has its secret")?;
    write_private(
        &paths.secret("admin-token"),
        admin_secret.expose().as_bytes(),
    )?;

    // 3. Regional CA: CSR, signed by the offline root, installed.
    eprintln!("[2/6] regional CA 'europe' (CSR signed by the offline root)");
    let progress = spinner("generating and encrypting the regional CA key");
    let regional_subject = SubjectFields {
        common_name: format!("tsca Quickstart{family_word} Regional CA Europe"),
        organization: Some("tsca Quickstart Region".into()),
        country: Some("BE".into()),
    };
    let regional = engine
        .create_authority(
            &QUICKSTART,
            AuthorityRequest {
                name: "europe".into(),
                tier: Tier::Regional,
                parent_id: root.id,
                scope: regional_scope.entries().map(ToString::to_string).collect(),
                subject: regional_subject.clone(),
                approval: ApprovalPolicy::Manual,
            },
            None,
        )
        .await?
        .value;
    progress.finish_and_clear();
    let csr = regional
        .csr_pem
        .ok_or("the regional CA should wait for the offline root")?;
    let signed = ceremony::sign_subca(
        &paths.offline_root(),
        &root_key,
        &root_cert,
        &policy,
        &ceremony::SubCaOrder {
            csr_pem: csr.as_bytes(),
            profile: Profile::RegionalCa,
            subject: &SubjectName::new(
                &regional_subject.common_name,
                regional_subject.organization.as_deref(),
                regional_subject.country.as_deref(),
            )?,
            scope: &regional_scope,
            publication_base_url: None,
            serial_number: shaken.then_some("europe"),
        },
    )?;
    let signed_der = ca_core::x509::Certificate::from_pem(signed.as_bytes())?.to_der()?;
    engine
        .install_authority_certificate(&QUICKSTART, regional.authority.id, &signed_der)
        .await?;
    if shaken {
        // The domain CRL signer: its key here, its certificate from the root's ceremony;
        // installing it publishes /crl/domain.crl.
        let signer = engine.request_crl_signer(&QUICKSTART, root.id).await?;
        let csr = ca_core::x509::pem_encode("CERTIFICATE REQUEST", &signer.csr_der)?;
        let certificate = ceremony::sign_crl_signer(
            &paths.offline_root(),
            &root_key,
            &root_cert,
            &policy,
            csr.as_bytes(),
            None,
        )?;
        let der = ca_core::x509::Certificate::from_pem(certificate.as_bytes())?.to_der()?;
        engine
            .install_crl_signer(&QUICKSTART, root.id, &der)
            .await?
            .crl
            .ok_or("the first domain CRL was not signed (see the log above)")?;
    }
    drop(root_key);

    // National CA, issued at once by the regional one.
    eprintln!("[3/6] national CA 'france' (issued by the regional CA)");
    let progress = spinner("generating the national CA key and its OCSP responder");
    let national = engine
        .create_authority(
            &QUICKSTART,
            AuthorityRequest {
                name: "france".into(),
                tier: Tier::National,
                parent_id: regional.authority.id,
                scope: vec!["prefix:33".into(), "mcc:208".into(), "spc:*".into()],
                subject: SubjectFields {
                    common_name: format!("tsca Quickstart{family_word} National CA France"),
                    organization: Some("tsca Quickstart Regulator".into()),
                    country: Some("FR".into()),
                },
                approval: ApprovalPolicy::WithinAssignments,
            },
            None,
        )
        .await?
        .value
        .authority;
    progress.finish_and_clear();

    // The example operator: registered with its first token, then its assignments.
    eprintln!("[4/6] example operator with assignments");
    let operator = engine
        .create_operator(
            &QUICKSTART,
            OperatorRequest {
                authority_id: national.id,
                name: "Example Telecom".into(),
                country: "FR".into(),
            },
            None,
        )
        .await?
        .value;
    let operator_secret = operator.token.secret.ok_or("a new token has its secret")?;
    write_private(
        &paths.secret("operator-token"),
        operator_secret.expose().as_bytes(),
    )?;
    let operator = operator.operator;
    for resource in ["range:33612340000+10000", "spc:F0042", "plmn:208-01"] {
        engine
            .assign(
                &QUICKSTART,
                AssignRequest {
                    operator_id: operator.id,
                    resource: resource.into(),
                    valid_from: None,
                    valid_to: None,
                    ported_from: None,
                },
                None,
            )
            .await?;
    }

    // The operator enrols with its own key, as it would over the API.
    eprintln!("[5/6] enrolment of the example operator's certificate");
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
    let csr = build_csr(&SubjectName::new("Example Telecom", None, None)?, &key)?;
    let as_operator = engine
        .authenticate(operator_secret.expose())
        .await?
        .ok_or("the operator's token does not authenticate")?;
    let enrolled = engine
        .enrol(
            &as_operator,
            EnrolRequest {
                csr_pem: ca_core::x509::pem_encode("CERTIFICATE REQUEST", &csr)?,
                // A SHAKEN certificate names one SPC and nothing else.
                scope: if shaken {
                    vec!["spc:F0042".into()]
                } else {
                    vec!["range:33612340000+10000".into(), "spc:F0042".into()]
                },
                profile: Some(Profile::Operator.name().into()),
            },
            None,
        )
        .await?
        .value;
    let certificate = enrolled
        .certificate
        .ok_or("the national CA approves within assignments: a certificate was expected")?;
    let issued = certificate
        .issued
        .as_ref()
        .ok_or("the certificate is not signed")?;
    let fingerprint = issued.fingerprint.to_string();
    std::fs::create_dir_all(paths.operator(""))?;
    write_private(&paths.operator("key.pem"), key.to_pkcs8_pem()?.as_bytes())?;
    std::fs::write(
        paths.operator("certificate.pem"),
        ca_core::x509::pem_encode("CERTIFICATE", &issued.der)?,
    )?;
    let (_, chain) = ca_service::Repository::new(engine.reader().clone())
        .chain(&issued.fingerprint)
        .await?;
    std::fs::write(paths.operator("chain.pem"), chain)?;
    std::fs::write(
        paths.operator("issuer.pem"),
        ca_core::x509::pem_encode(
            "CERTIFICATE",
            national
                .certificate_der
                .as_deref()
                .ok_or("the national CA has no certificate")?,
        )?,
    )?;

    // TLS for the registry.
    eprintln!("[6/6] TLS certificate for 127.0.0.1 and localhost");
    std::fs::create_dir_all(paths.tls(""))?;
    let (cert, key) = quickstart_tls()?;
    std::fs::write(paths.tls("registry.pem"), cert)?;
    write_private(&paths.tls("registry-key.pem"), key.as_bytes())?;

    Ok(State {
        profile: if shaken { "shaken" } else { "tsca" }.into(),
        operator_fingerprint: fingerprint,
        operator_id: operator.id,
        national_id: national.id,
    })
}

/// The quickstart's self-signed TLS certificate: named for the host it serves (127.0.0.1 and
/// localhost), valid from yesterday for two years. Returns the certificate and key PEMs.
fn quickstart_tls() -> CliResult<(String, String)> {
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tsca quickstart 127.0.0.1");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "tsca quickstart");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let yesterday = today.yesterday()?;
    let (year, month, day) = (
        i32::from(yesterday.year()),
        yesterday.month(),
        yesterday.day(),
    );
    let as_u8 = |v: i8| u8::try_from(v).map_err(|_| "a date out of range");
    params.not_before = rcgen::date_time_ymd(year, as_u8(month)?, as_u8(day)?);
    params.not_after = rcgen::date_time_ymd(year + 2, as_u8(month)?, as_u8(day)?.min(28));
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn print_welcome(paths: &Paths, state: &State, addresses: Addresses) -> CliResult<()> {
    let Addresses {
        registry,
        publication,
        publication_tls,
    } = addresses;
    let admin = read_secret(&paths.secret("admin-token"))?;
    let operator = read_secret(&paths.secret("operator-token"))?;
    let d = paths.root.display();
    let fp = &state.operator_fingerprint;
    let crl_check = if state.profile == "shaken" {
        // SHAKEN CAs sign no CRLs: the domain's indirect CRL, signed by the domain CRL signer
        // (/ca/domain.der), lists the whole hierarchy; the root's CRL covers the signer.
        format!(
            "  for crl in domain root; do curl -s http://{publication}/crl/$crl.crl | openssl crl -inform DER; done > crls.pem\n  curl -s http://{publication}/ca/domain.der | openssl x509 -inform DER | cat - {d}/example-operator/chain.pem > untrusted.pem\n  openssl verify -crl_check_all -extended_crl -CAfile {d}/offline-root/root.pem -untrusted untrusted.pem -CRLfile crls.pem {d}/example-operator/certificate.pem\n"
        )
    } else {
        format!(
            "  for ca in root europe france; do curl -s http://{publication}/crl/$ca.crl | openssl crl -inform DER; done > crls.pem\n  openssl verify -crl_check_all -CAfile {d}/offline-root/root.pem -untrusted {d}/example-operator/chain.pem -CRLfile crls.pem {d}/example-operator/certificate.pem\n"
        )
    };
    println!(
        r#"
tsca is running.
  registry (HTTPS)        https://{registry}       TLS certificate: {d}/tls/registry.pem
  OCSP, CRLs, chains      http://{publication}
  chains (x5u), CRLs      https://{publication_tls}   same TLS certificate
  database                {d}/tsca.db
  offline root            {d}/offline-root/   (in production: a machine that is never online)

Root admin token:        {admin}
Example operator token:  {operator}

Try it (paste as is):
  curl --cacert {d}/tls/registry.pem -H 'Authorization: Bearer {admin}' https://{registry}/v1/authorities
  curl --cacert {d}/tls/registry.pem https://{registry}/v1/lookup/e164/33612345678
  curl -s --cacert {d}/tls/registry.pem https://{publication_tls}/chains/{fp}.pem -o chain.pem
  openssl verify -CAfile {d}/offline-root/root.pem -untrusted {d}/example-operator/chain.pem {d}/example-operator/certificate.pem
{crl_check}  openssl ocsp -issuer {d}/example-operator/issuer.pem -cert {d}/example-operator/certificate.pem -url http://{publication}/ocsp -CAfile {d}/offline-root/root.pem -verify_other {d}/example-operator/chain.pem

Last, and irreversible: revoke the example certificate (the commands above then answer
"revoked"; remove {d} and run again for a fresh example):
  curl --cacert {d}/tls/registry.pem -H 'Authorization: Bearer {operator}' -H 'Content-Type: application/json' -d '{{"reason":"keyCompromise"}}' https://{registry}/v1/certificates/{fp}/revoke

Ctrl-C stops it; run the same command again to continue with the same data.
"#
    );
    Ok(())
}
