//! TLS certificates that change without a restart (docs/operations.md, "TLS certificates"):
//! the server configuration asks [`ReloadingCertificate`] for the certificate at every
//! handshake, and [`ReloadingCertificate::reload`] swaps in the files' current pair when they
//! changed. Connections already open keep the session they have, so nothing is dropped; a
//! pair that does not load (a half-written file, a key that does not match) is refused and
//! the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::TlsConfigError;

/// The certificate and key files of one listener, and the pair last loaded from them.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when `current` was loaded.
    loaded: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a certificate chain and its key.
fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsConfigError> {
    let fail = |what: String| TlsConfigError(what);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| {
            fail(format!(
                "cannot read TLS certificate {}: {e}",
                cert.display()
            ))
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            fail(format!(
                "cannot parse TLS certificate {}: {e}",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(fail(format!("{} holds no certificate", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        fail(format!(
            "cannot read TLS private key {}: {e}",
            key.display()
        ))
    })?;
    CertifiedKey::from_der(certs, key_der, &provider()).map_err(|e| {
        fail(format!(
            "TLS certificate {} and key {} do not form a usable pair: {e}",
            cert.display(),
            key.display()
        ))
    })
}

impl ReloadingCertificate {
    /// Loads the pair (an error names the file at fault).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsConfigError> {
        let stamps = (modified(cert), modified(key));
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(pair)),
            loaded: Mutex::new(stamps),
        }))
    }

    /// A server configuration answering with this certificate, whatever it is at each
    /// handshake; HTTP/1.1 by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"))
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Loads the files again if either changed since the last load (`force`: in any case).
    /// `Ok(true)`: a new pair is in use; `Ok(false)`: nothing changed; an error leaves the
    /// pair in use as it was.
    pub fn reload(&self, force: bool) -> Result<bool, TlsConfigError> {
        let stamps = (modified(&self.cert), modified(&self.key));
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if !force && *loaded == stamps {
            return Ok(false);
        }
        let pair = load_pair(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pair);
        *loaded = stamps;
        Ok(true)
    }

    /// The certificate chain in use (DER, leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .cert
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Writes a fresh self-signed pair for `name` to `cert` and `key`, stamped `at`.
    fn write_pair(cert: &Path, key: &Path, name: &str, at: SystemTime) -> Vec<u8> {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        std::fs::write(cert, generated.cert.pem()).unwrap();
        std::fs::write(key, generated.key_pair.serialize_pem()).unwrap();
        for path in [cert, key] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        generated.cert.der().to_vec()
    }

    #[test]
    fn a_changed_pair_is_taken_and_a_broken_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let first = write_pair(&cert, &key, "one.example", t0);
        let reloading = ReloadingCertificate::load(&cert, &key).unwrap();
        let _config = reloading.server_config();
        assert_eq!(reloading.chain()[0].as_ref(), first.as_slice());
        // Unchanged files: nothing to do.
        assert!(!reloading.reload(false).unwrap());
        // New files: taken.
        let second = write_pair(
            &cert,
            &key,
            "two.example",
            t0 + std::time::Duration::from_secs(60),
        );
        assert!(reloading.reload(false).unwrap());
        assert_eq!(reloading.chain()[0].as_ref(), second.as_slice());
        // A key that does not match (half a rotation): refused, the pair in use stays.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key, other.serialize_pem()).unwrap();
        let err = reloading.reload(true).unwrap_err();
        assert!(
            err.to_string().contains("do not form a usable pair"),
            "{err}"
        );
        assert_eq!(reloading.chain()[0].as_ref(), second.as_slice());
    }
}
