//! `tsca serve --config FILE`: the TOML configuration, with environment overrides.
//!
//! Every key is checked: an unknown key or a bad value is an error naming it. Secrets (the
//! key passphrases, a database password) come from files or the environment and are never
//! printed.
//!
//! Two passphrases, by key purpose (docs/architecture.md, "Keys"): the CA-key passphrase only
//! on nodes that run the registry (the CA roles), the responder-key passphrase on every node
//! that answers OCSP. An OCSP-only node refuses to start with the CA-key passphrase.
//!
//! ```toml
//! [database]
//! url = "postgres://tsca@db.internal:5432/tsca"     # TSCA_DATABASE_URL overrides
//! wait_ms = 2000                  # longest wait for a read connection (503 / tryLater beyond)
//! write_wait_ms = 10000           # longest wait for a write connection (writers queue)
//! statement_timeout_ms = 10000    # PostgreSQL: longest statement
//! idle_transaction_timeout_ms = 30000   # PostgreSQL: longest idle transaction
//!
//! [keys]
//! passphrase_file = "/run/secrets/tsca-key-passphrase"  # CA keys; or TSCA_KEY_PASSPHRASE
//! responder_passphrase_file = "/run/secrets/tsca-responder-key-passphrase"
//!                                 # OCSP responder keys; or TSCA_RESPONDER_KEY_PASSPHRASE
//!
//! [registry]                      # HTTPS API
//! listen = "0.0.0.0:8443"         # TSCA_REGISTRY_LISTEN
//! tls_certificate = "/etc/tsca/tls/cert.pem"
//! tls_private_key = "/etc/tsca/tls/key.pem"
//! plain_http = false              # true only behind a TLS-terminating proxy
//! max_scope_entries = 256         # entries per requested scope (422 beyond)
//! operator_token_days = 365       # operator tokens expire (unset: they live until revoked)
//! max_certificate_bytes = 32768   # largest certificate issued (422 beyond)
//! rate_limit_per_second = 50      # per token (429 beyond; 0: off)
//! anonymous_rate_limit_per_second = 20   # per client address: lookups, trust anchors, OpenAPI
//! trusted_proxies = ["10.0.0.0/8"]       # whose X-Forwarded-For names the client
//!
//! [publication]                   # OCSP, CRLs, chains, CA certificates
//! listen = "0.0.0.0:8080"         # plain HTTP; TSCA_PUBLICATION_LISTEN
//! base_url = "http://pki.example.net"   # written into certificates; TSCA_PUBLIC_BASE_URL
//! tls_listen = "0.0.0.0:8444"     # the same routes over HTTPS, for x5u chain URLs
//! tls_base_url = "https://pki.example.net:8444"   # chain URLs handed out (may be set alone)
//! tls_certificate = "/etc/tsca/tls/pki.pem"
//! tls_private_key = "/etc/tsca/tls/pki-key.pem"
//!
//! [services]
//! run = ["registry", "ocsp"]      # which parts this process serves
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ca_service::EngineConfig;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::CliResult;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Database.
    pub database: DatabaseSection,
    /// Keys.
    #[serde(default)]
    pub keys: KeysSection,
    /// HTTPS registry.
    #[serde(default)]
    pub registry: RegistrySection,
    /// Plain-HTTP publication (OCSP, CRLs, chains).
    #[serde(default)]
    pub publication: PublicationSection,
    /// Which parts run.
    #[serde(default)]
    pub services: ServicesSection,
}

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// URL (postgres:// or sqlite://).
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the URL (so the password stays out of the config).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Longest wait for a read connection, in milliseconds (default 2,000).
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// Longest wait for a write connection, in milliseconds (default 10,000).
    #[serde(default)]
    pub write_wait_ms: Option<u64>,
    /// PostgreSQL statement timeout, in milliseconds (default 10,000).
    #[serde(default)]
    pub statement_timeout_ms: Option<u64>,
    /// PostgreSQL idle-in-transaction timeout, in milliseconds (default 30,000).
    #[serde(default)]
    pub idle_transaction_timeout_ms: Option<u64>,
}

impl DatabaseSection {
    /// The waits and timeouts, defaults where not set.
    pub fn limits(&self) -> CliResult<ca_store::DatabaseLimits> {
        let defaults = ca_store::DatabaseLimits::default();
        let ms = |value: Option<u64>, default: std::time::Duration, key: &str| match value {
            None => Ok(default),
            Some(0) => Err(format!("database.{key} must be above 0")),
            Some(ms) => Ok(std::time::Duration::from_millis(ms)),
        };
        Ok(ca_store::DatabaseLimits {
            wait: ms(self.wait_ms, defaults.wait, "wait_ms")?,
            write_wait: ms(self.write_wait_ms, defaults.write_wait, "write_wait_ms")?,
            statement_timeout: ms(
                self.statement_timeout_ms,
                defaults.statement_timeout,
                "statement_timeout_ms",
            )?,
            idle_transaction_timeout: ms(
                self.idle_transaction_timeout_ms,
                defaults.idle_transaction_timeout,
                "idle_transaction_timeout_ms",
            )?,
        })
    }
}

/// `[keys]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// File holding the passphrase of the CA keys (registry nodes only).
    pub passphrase_file: Option<PathBuf>,
    /// File holding the passphrase of the delegated OCSP responder keys.
    pub responder_passphrase_file: Option<PathBuf>,
}

/// `[registry]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// Address.
    #[serde(default = "default_registry_listen")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM).
    pub tls_certificate: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_private_key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS.
    #[serde(default)]
    pub plain_http: bool,
    /// Largest request body.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Requests per second per token (0: off).
    #[serde(default = "default_rate")]
    pub rate_limit_per_second: f64,
    /// Requests per second per client address on the anonymous registry endpoints (0: off).
    #[serde(default = "default_anonymous_rate")]
    pub anonymous_rate_limit_per_second: f64,
    /// Proxies (addresses or networks) whose X-Forwarded-For names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Entries per requested scope (enrolments, authorities).
    #[serde(default = "default_max_scope_entries")]
    pub max_scope_entries: usize,
    /// Days an operator token lives when its request names none (unset: until revoked).
    #[serde(default)]
    pub operator_token_days: Option<u32>,
    /// Largest certificate issued, in bytes of DER.
    #[serde(default = "default_max_certificate_bytes")]
    pub max_certificate_bytes: usize,
}

impl RegistrySection {
    /// `operator_token_days` as a lifetime, checked (1 to 3650 days).
    pub fn operator_token_lifetime(&self) -> CliResult<Option<std::time::Duration>> {
        match self.operator_token_days {
            None => Ok(None),
            Some(days @ 1..=3650) => Ok(Some(std::time::Duration::from_secs(
                u64::from(days) * 86_400,
            ))),
            Some(days) => Err(format!(
                "registry.operator_token_days = {days}: give 1 to 3650 days, or leave it out for \
                 tokens that live until revoked"
            )
            .into()),
        }
    }
}

fn default_max_scope_entries() -> usize {
    EngineConfig::new("").max_scope_entries
}

fn default_max_certificate_bytes() -> usize {
    EngineConfig::new("").max_certificate_bytes
}

impl Default for RegistrySection {
    fn default() -> Self {
        Self {
            listen: default_registry_listen(),
            tls_certificate: None,
            tls_private_key: None,
            plain_http: false,
            max_body_bytes: default_body_limit(),
            rate_limit_per_second: default_rate(),
            anonymous_rate_limit_per_second: default_anonymous_rate(),
            trusted_proxies: Vec::new(),
            max_scope_entries: default_max_scope_entries(),
            operator_token_days: None,
            max_certificate_bytes: default_max_certificate_bytes(),
        }
    }
}

/// `[publication]`: one server, on a plain-HTTP port and optionally an HTTPS one. OCSP and
/// CRL URLs stay plain HTTP, as RFC 5280 and RFC 6960 clients expect (fetching a status over
/// TLS would itself need a status check); `x5u` chain URLs must be HTTPS (RFC 8224 §4.1,
/// ATIS-1000074), so chains are served on both and the HTTPS URL is the one handed out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationSection {
    /// Plain-HTTP address.
    #[serde(default = "default_publication_listen")]
    pub listen: SocketAddr,
    /// Base URL written into certificates (CRL DP, AIA OCSP and caIssuers).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// HTTPS address of the same routes, if any.
    #[serde(default)]
    pub tls_listen: Option<SocketAddr>,
    /// Base URL of the HTTPS port as verifiers reach it: chain URLs handed out are
    /// `{tls_base_url}/chains/…`. May be set alone on a node that does not serve them.
    #[serde(default)]
    pub tls_base_url: Option<String>,
    /// TLS certificate chain (PEM) of the HTTPS port.
    #[serde(default)]
    pub tls_certificate: Option<PathBuf>,
    /// TLS private key (PEM) of the HTTPS port.
    #[serde(default)]
    pub tls_private_key: Option<PathBuf>,
}

impl Default for PublicationSection {
    fn default() -> Self {
        Self {
            listen: default_publication_listen(),
            base_url: default_base_url(),
            tls_listen: None,
            tls_base_url: None,
            tls_certificate: None,
            tls_private_key: None,
        }
    }
}

/// The HTTPS listener of the publication point, all of its settings present.
#[derive(Debug, Clone)]
pub struct PublicationTls {
    /// Address.
    pub listen: SocketAddr,
    /// Certificate chain (PEM).
    pub certificate: PathBuf,
    /// Private key (PEM).
    pub private_key: PathBuf,
}

impl PublicationSection {
    /// The HTTPS listener, when configured; an error names what is missing when it is
    /// configured only in part (`tls_listen` needs `tls_certificate`, `tls_private_key` and
    /// `tls_base_url`).
    pub fn tls_listener(&self) -> CliResult<Option<PublicationTls>> {
        let base_url = self.chain_url_base()?;
        match (self.tls_listen, &self.tls_certificate, &self.tls_private_key, base_url) {
            (None, None, None, _) => Ok(None),
            (Some(listen), Some(certificate), Some(private_key), Some(_)) => {
                Ok(Some(PublicationTls {
                    listen,
                    certificate: certificate.clone(),
                    private_key: private_key.clone(),
                }))
            }
            _ => Err("publication.tls_listen, tls_certificate, tls_private_key and tls_base_url go together: set all four to serve chains over HTTPS here, or only tls_base_url when another node or a proxy serves them".into()),
        }
    }

    /// `tls_base_url`, checked: the base of the chain URLs the API hands out. It may be set
    /// alone, on a registry-only node whose chains another node (or a proxy) serves.
    pub fn chain_url_base(&self) -> CliResult<Option<String>> {
        match &self.tls_base_url {
            None => Ok(None),
            Some(url) if url.starts_with("https://") => {
                Ok(Some(url.trim_end_matches('/').to_owned()))
            }
            Some(url) => Err(format!(
                "publication.tls_base_url {url:?} must be an https:// URL (x5u chain URLs are HTTPS only, RFC 8224 §4.1)"
            )
            .into()),
        }
    }
}

/// A part of tsca a process can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The HTTPS registry API.
    Registry,
    /// The OCSP responder (and the publication point).
    Ocsp,
}

/// `[services]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSection {
    /// Parts to run.
    #[serde(default = "default_parts")]
    pub run: Vec<Part>,
}

impl Default for ServicesSection {
    fn default() -> Self {
        Self {
            run: default_parts(),
        }
    }
}

fn default_registry_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn default_publication_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_base_url() -> String {
    "http://127.0.0.1:8080".into()
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_anonymous_rate() -> f64 {
    registry_api::RegistryConfig::default().anonymous_rate_limit_per_second
}

fn default_rate() -> f64 {
    50.0
}
fn default_parts() -> Vec<Part> {
    vec![Part::Registry, Part::Ocsp]
}

/// A configuration with its secrets resolved.
pub struct Resolved {
    /// The file's settings (after overrides).
    pub config: Config,
    /// Database URL (may hold a password: never print).
    pub database_url: Zeroizing<String>,
    /// The CA-key passphrase (nodes that run the registry).
    pub ca_passphrase: Option<Zeroizing<Vec<u8>>>,
    /// The responder-key passphrase.
    pub responder_passphrase: Zeroizing<Vec<u8>>,
}

/// A passphrase from its environment variable or its file; `None` when neither is given.
fn passphrase(
    env_name: &str,
    file: Option<&Path>,
    file_key: &str,
) -> CliResult<Option<Zeroizing<Vec<u8>>>> {
    let value = match (std::env::var(env_name).ok().filter(|v| !v.is_empty()), file) {
        (Some(v), _) => v.into_bytes(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| format!("keys.{file_key} {}: {e}", file.display()))?
            .trim_end_matches(['\r', '\n'])
            .as_bytes()
            .to_vec(),
        (None, None) => return Ok(None),
    };
    if value.is_empty() {
        return Err(format!("the passphrase of {env_name} / keys.{file_key} is empty").into());
    }
    Ok(Some(Zeroizing::new(value)))
}

impl Config {
    /// Parses TOML text; errors name the key.
    pub fn parse(text: &str, origin: &Path) -> CliResult<Self> {
        toml::from_str(text).map_err(|e| format!("{}: {e}", origin.display()).into())
    }

    /// Reads the file, applies environment overrides and reads the secrets.
    pub fn load(path: &Path) -> CliResult<Resolved> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let mut config = Self::parse(&text, path)?;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = env("TSCA_REGISTRY_LISTEN") {
            config.registry.listen = v
                .parse()
                .map_err(|e| format!("TSCA_REGISTRY_LISTEN={v:?}: {e}"))?;
        }
        if let Some(v) = env("TSCA_PUBLICATION_LISTEN") {
            config.publication.listen = v
                .parse()
                .map_err(|e| format!("TSCA_PUBLICATION_LISTEN={v:?}: {e}"))?;
        }
        if let Some(v) = env("TSCA_PUBLIC_BASE_URL") {
            config.publication.base_url = v;
        }
        if let Some(v) = env("TSCA_PUBLICATION_TLS_LISTEN") {
            config.publication.tls_listen = Some(
                v.parse()
                    .map_err(|e| format!("TSCA_PUBLICATION_TLS_LISTEN={v:?}: {e}"))?,
            );
        }
        if let Some(v) = env("TSCA_PUBLIC_TLS_BASE_URL") {
            config.publication.tls_base_url = Some(v);
        }
        config.publication.tls_listener()?;
        if !config.publication.base_url.starts_with("http://") {
            return Err(format!(
                "publication.base_url {:?} must be an http:// URL (CRL and OCSP URLs are plain HTTP, RFC 5280 / RFC 9919)",
                config.publication.base_url
            )
            .into());
        }
        let database_url = match (
            env("TSCA_DATABASE_URL"),
            &config.database.url,
            &config.database.url_file,
        ) {
            (Some(v), _, _) => v,
            (None, Some(v), _) => v.clone(),
            (None, None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| format!("database.url_file {}: {e}", file.display()))?
                .trim()
                .to_owned(),
            (None, None, None) => {
                return Err(
                    "database.url (or database.url_file, or TSCA_DATABASE_URL) is required".into(),
                )
            }
        };
        let runs_registry = config.services.run.contains(&Part::Registry);
        let ca_passphrase = passphrase(
            "TSCA_KEY_PASSPHRASE",
            config.keys.passphrase_file.as_deref(),
            "passphrase_file",
        )?;
        let responder_passphrase = passphrase(
            "TSCA_RESPONDER_KEY_PASSPHRASE",
            config.keys.responder_passphrase_file.as_deref(),
            "responder_passphrase_file",
        )?
        .ok_or("keys.responder_passphrase_file (or TSCA_RESPONDER_KEY_PASSPHRASE) is required: it unlocks the delegated OCSP responder keys")?;
        match (runs_registry, &ca_passphrase) {
            (true, None) => {
                return Err("keys.passphrase_file (or TSCA_KEY_PASSPHRASE) is required: a node that runs the registry holds the CA keys".into())
            }
            (false, Some(_)) => {
                return Err("this node runs only the OCSP responder and must not hold the CA-key passphrase: remove keys.passphrase_file and TSCA_KEY_PASSPHRASE (it needs only keys.responder_passphrase_file)".into())
            }
            _ => {}
        }
        if config.services.run.contains(&Part::Registry)
            && !config.registry.plain_http
            && (config.registry.tls_certificate.is_none()
                || config.registry.tls_private_key.is_none())
        {
            return Err("registry.tls_certificate and registry.tls_private_key are required (or set registry.plain_http = true behind a TLS proxy)".into());
        }
        Ok(Resolved {
            config,
            database_url: Zeroizing::new(database_url),
            ca_passphrase,
            responder_passphrase,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = Config::parse("[database]\nurl = \"x\"\nport = 5\n", Path::new("t.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("port"), "{err}");
        let err = Config::parse(
            "[database]\nurl = \"x\"\n[registry]\nlisten = \"nowhere\"\n",
            Path::new("t.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("listen"), "{err}");
        let err = Config::parse(
            "[database]\nurl = \"x\"\n[services]\nrun = [\"web\"]\n",
            Path::new("t.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("web"), "{err}");
    }

    #[test]
    fn token_and_database_limits_are_checked() {
        let parse = |text: &str| Config::parse(text, Path::new("t.toml")).unwrap();
        let config = parse("[database]\nurl = \"x\"\n[registry]\noperator_token_days = 0\n");
        let err = config.registry.operator_token_lifetime().unwrap_err();
        assert!(err.to_string().contains("operator_token_days = 0"), "{err}");
        let config = parse("[database]\nurl = \"x\"\n[registry]\noperator_token_days = 90\n");
        assert_eq!(
            config.registry.operator_token_lifetime().unwrap(),
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        let config = parse("[database]\nurl = \"x\"\nwait_ms = 0\n");
        let err = config.database.limits().unwrap_err();
        assert!(err.to_string().contains("database.wait_ms"), "{err}");
    }

    #[test]
    fn every_example_config_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if let Err(e) = Config::parse(&text, &path) {
                    panic!("{e}");
                }
                seen += 1;
            }
        }
        assert!(seen > 0, "no example configs in {}", dir.display());
    }
}
