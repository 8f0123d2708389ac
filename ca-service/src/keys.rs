//! Keys by reference (docs/architecture.md, "Keys").
//!
//! The engine never holds a key type directly: a record names its key by [`KeyId`], and the
//! [`KeyRing`] turns the reference into a [`KeyHandle`], a signer behind ca-core's one-method
//! [`Signer`] trait. Today every key is software (PKCS#8, PBES2-encrypted in the database);
//! an HSM key is another kind of storage behind the same handle, which is why the handle
//! says whether signing may block: blocking signers run on tokio's blocking pool.
//!
//! Purposes keep roles apart: a key serves one [`KeyPurpose`] for life, [`KeyRing::open`]
//! refuses a key asked for another purpose, and the purpose picks the passphrase. A node
//! given only the responder passphrase (an OCSP-only node) can open responder keys and
//! nothing else.
//!
//! Keys generated for an operation are stored in that operation's transaction
//! ([`GeneratedKey::new_key`]); when the operation is refused the transaction rolls back and
//! the in-memory key is dropped (its PKCS#8 is zeroized): nothing is left to destroy. Keys
//! left by earlier versions, which stored keys first, are found by the maintenance sweep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_store::{KeyId, KeyPurpose, KeyStorage, NewKey, StoreReader};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::error::{ServiceError, ServiceResult};

/// The passphrases a node holds, by key purpose.
#[derive(Clone, Default)]
pub struct KeyPassphrases {
    /// Unlocks CA keys: only on nodes with CA roles.
    pub ca: Option<Zeroizing<Vec<u8>>>,
    /// Unlocks delegated OCSP responder keys.
    pub ocsp_responder: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for KeyPassphrases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPassphrases")
            .field("ca", &self.ca.is_some())
            .field("ocsp_responder", &self.ocsp_responder.is_some())
            .finish()
    }
}

impl KeyPassphrases {
    /// A copy of the passphrase of `purpose`, for a blocking task; refused when this node
    /// holds none.
    fn for_purpose(&self, purpose: KeyPurpose) -> ServiceResult<Zeroizing<Vec<u8>>> {
        match purpose {
            // The domain CRL signer lives where the CA keys do, on CA nodes.
            KeyPurpose::Ca | KeyPurpose::CrlSigner => self.ca.as_ref(),
            KeyPurpose::OcspResponder => self.ocsp_responder.as_ref(),
        }
        .cloned()
        .ok_or(ServiceError::NoPassphrase { purpose })
    }
}

/// A usable key: its signer, its purpose, and whether signing may block.
pub struct KeyHandle {
    id: KeyId,
    purpose: KeyPurpose,
    signer: Arc<dyn Signer>,
    blocking: bool,
}

impl std::fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHandle(key {}, {})", self.id, self.purpose)
    }
}

impl KeyHandle {
    /// The key's row id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The signer, for synchronous callers that accept a possibly blocking call (OCSP live
    /// signing with software keys).
    pub fn signer(&self) -> Arc<dyn Signer> {
        self.signer.clone()
    }

    /// Runs `work` with the signer: inline for software keys (microseconds), on the blocking
    /// pool when the key may block (an HSM round trip).
    pub async fn with_signer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Signer) -> T + Send + 'static,
    ) -> ServiceResult<T> {
        if self.blocking {
            let signer = self.signer.clone();
            Ok(tokio::task::spawn_blocking(move || work(signer.as_ref())).await?)
        } else {
            Ok(work(self.signer.as_ref()))
        }
    }
}

/// A key generated for an operation, not yet stored. Store [`GeneratedKey::new_key`] in the
/// operation's transaction, then [`KeyRing::adopt`] it once that commits; dropped otherwise.
pub struct GeneratedKey {
    key: Arc<SoftwareKey>,
    new: NewKey,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeneratedKey({})", self.new.purpose)
    }
}

impl GeneratedKey {
    /// What to insert.
    pub fn new_key(&self) -> &NewKey {
        &self.new
    }

    /// Its signer (e.g. to build a CSR).
    pub fn signer(&self) -> &SoftwareKey {
        &self.key
    }
}

/// Resolves key references into signers, decrypting each key once.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<KeyRingInner>,
}

struct KeyRingInner {
    reader: StoreReader,
    passphrases: KeyPassphrases,
    kdf_iterations: u32,
    open: Mutex<HashMap<KeyId, Arc<KeyHandle>>>,
}

impl KeyRing {
    /// A key ring over the stored keys, with the passphrases this node holds.
    pub fn new(reader: StoreReader, passphrases: KeyPassphrases, kdf_iterations: u32) -> Self {
        Self {
            inner: Arc::new(KeyRingInner {
                reader,
                passphrases,
                kdf_iterations,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn cached(&self, id: KeyId) -> Option<Arc<KeyHandle>> {
        self.inner
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn remember(&self, handle: Arc<KeyHandle>) {
        self.inner
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(handle.id, handle);
    }

    /// The key `id`, which must serve `purpose`.
    pub async fn open(&self, id: KeyId, purpose: KeyPurpose) -> ServiceResult<Arc<KeyHandle>> {
        if let Some(handle) = self.cached(id) {
            return check_purpose(handle, purpose);
        }
        let stored = self.inner.reader.key(id).await?;
        if stored.purpose != purpose {
            return Err(wrong_purpose(id, stored.purpose, purpose));
        }
        let passphrase = self.inner.passphrases.for_purpose(purpose)?;
        let pem = match stored.storage {
            KeyStorage::Pkcs8Encrypted(pem) => pem,
            KeyStorage::Hsm(_) => {
                return Err(ServiceError::KeyUnavailable {
                    key: id,
                    reason: "HSM keys are not supported by this build".into(),
                })
            }
        };
        // PBKDF2 with hundreds of thousands of iterations: seconds of CPU, off the runtime.
        let key =
            tokio::task::spawn_blocking(move || SoftwareKey::from_encrypted_pem(&pem, &passphrase))
                .await?
                .map_err(|e| ServiceError::KeyUnavailable {
                    key: id,
                    reason: format!("{e} (is the {purpose} key passphrase right?)"),
                })?;
        let handle = Arc::new(KeyHandle {
            id,
            purpose,
            signer: Arc::new(key),
            blocking: false,
        });
        self.remember(handle.clone());
        Ok(handle)
    }

    /// Generates a key for `purpose` and encrypts it under that purpose's passphrase.
    pub async fn generate(
        &self,
        algorithm: KeyAlgorithm,
        purpose: KeyPurpose,
    ) -> ServiceResult<GeneratedKey> {
        let passphrase = self.inner.passphrases.for_purpose(purpose)?;
        let iterations = self.inner.kdf_iterations;
        let (key, pem) = tokio::task::spawn_blocking(move || -> ServiceResult<_> {
            let key = SoftwareKey::generate(algorithm)?;
            let pem = key.to_encrypted_pem_with_iterations(&passphrase, &mut OsRng, iterations)?;
            Ok((key, pem))
        })
        .await??;
        Ok(GeneratedKey {
            key: Arc::new(key),
            new: NewKey {
                algorithm,
                purpose,
                storage: KeyStorage::Pkcs8Encrypted(pem),
            },
        })
    }

    /// Keeps a generated key under the id its committed row got.
    pub fn adopt(&self, id: KeyId, generated: GeneratedKey) -> Arc<KeyHandle> {
        let handle = Arc::new(KeyHandle {
            id,
            purpose: generated.new.purpose,
            signer: generated.key,
            blocking: false,
        });
        self.remember(handle.clone());
        handle
    }

    /// Forgets a key (after it is destroyed).
    pub fn forget(&self, id: KeyId) {
        self.inner
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

fn check_purpose(handle: Arc<KeyHandle>, purpose: KeyPurpose) -> ServiceResult<Arc<KeyHandle>> {
    if handle.purpose == purpose {
        Ok(handle)
    } else {
        Err(wrong_purpose(handle.id, handle.purpose, purpose))
    }
}

fn wrong_purpose(id: KeyId, is: KeyPurpose, asked: KeyPurpose) -> ServiceError {
    // A key is never used outside its role: this is a bug or a tampered row.
    ServiceError::internal(format!(
        "key {id} is a {is} key and cannot be used as a {asked} key"
    ))
}
