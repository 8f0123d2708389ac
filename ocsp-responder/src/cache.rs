//! The response cache: entries keyed by issuer, hash and serial, the request-bytes cache in
//! front of it, and the signing helpers. The tasks that keep it true are in follow.rs
//! (warm-up, following changes) and refresh.rs (re-signing before half-life).
//!
//! Three writers race for an entry, and the rules below keep a revoked certificate from ever
//! being shown as good again by this instance:
//!
//! 1. The follower replaces both CertID entries of a changed certificate and bumps the cache
//!    *generation*. For a revoked one it takes the stored response only if it was signed at
//!    or after the revocation; an older one (a re-signing that raced the revocation) is
//!    re-signed and stored again.
//! 2. A live answer is inserted only if the generation has not moved since before its
//!    database read (a revocation may have been applied in between, and the live answer may
//!    predate it).
//! 3. The refresher replaces an entry only if it is still the very entry it re-signed
//!    (compare-and-swap on the `Arc`); after storing a re-signed SHA-1 response it re-reads the
//!    certificate, and if a revocation slipped in between it stores and caches the revoked
//!    answer itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use axum::http::HeaderValue;
use bytes::Bytes;
use ca_core::ocsp::{
    join_response, parse_response, split_response, CertIdHash, CertIdKey, CertStatusAnswer,
    IssuerHashes, ParsedResponse, ResponseParts, SingleAnswer, MAX_SERIAL_LEN,
};
use ca_service::DelegatedResponder;
use ca_store::{AuthorityId, CertificateId, OcspResponseRecord, PreSignedResponse};

use crate::OcspError;

/// Unix seconds. The cache keeps times as bare seconds on purpose: two per entry at a
/// million entries, where a `jiff::Timestamp` (seconds and nanoseconds) would cost 16 MB
/// more against the 512 MB budget (docs/benchmarks.md); they enter and leave as
/// `jiff::Timestamp` at this module's edges ([`seconds`], [`timestamp`]).
pub(crate) type Timestamp = i64;

/// The current time in whole seconds. Read once per request on the hot path, so straight
/// from the system clock without building a `jiff::Timestamp` (a clock before 1970 reads 0).
pub(crate) fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A time as the cache keeps it.
pub(crate) fn seconds(t: jiff::Timestamp) -> Timestamp {
    t.as_second()
}

/// A cached time as a `jiff::Timestamp` (clamped to jiff's range, which the cache never
/// leaves: its times come from jiff).
pub(crate) fn timestamp(t: Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t).unwrap_or(if t < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

fn from_timestamp(t: Timestamp) -> SystemTime {
    SystemTime::from(timestamp(t))
}

/// The id of answers that are served once and never cached (row ids start at 1).
pub(crate) const NOT_CACHED: CertificateId = CertificateId(0);

/// 9999-12-31T23:59:59Z, the last instant an HTTP date can name.
const LAST_HTTP_DATE: Timestamp = 253_402_300_799;

/// What the cache is keyed by: the issuer (its authority id), the CertID's hash algorithm and
/// the serial. A CertID's two issuer hashes are the same for every certificate of one issuer,
/// so a request's are matched against the known issuers once (`match_issuer`) and left out of
/// the key: 32 octets instead of [`CertIdKey`]'s 88, some 100 MB less at a million entries
/// (the table has about two slots per entry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct EntryKey {
    pub(crate) issuer_id: AuthorityId,
    hash: CertIdHash,
    serial_len: u8,
    serial: [u8; MAX_SERIAL_LEN],
}

impl EntryKey {
    /// The key of `id`, a CertID naming issuer `issuer_id`.
    pub(crate) fn new(issuer_id: AuthorityId, id: &CertIdKey) -> Self {
        Self::from_serial(issuer_id, id.hash(), id.serial())
            .unwrap_or_else(|| unreachable_serial(issuer_id, id.hash()))
    }

    /// The key of a serial (DER INTEGER content); `None` if longer than a CertID may carry.
    pub(crate) fn from_serial(
        issuer_id: AuthorityId,
        hash: CertIdHash,
        serial: &[u8],
    ) -> Option<Self> {
        let mut bytes = [0u8; MAX_SERIAL_LEN];
        bytes.get_mut(..serial.len())?.copy_from_slice(serial);
        Some(Self {
            issuer_id,
            hash,
            serial_len: serial.len() as u8, // ≤ MAX_SERIAL_LEN
            serial: bytes,
        })
    }

    pub(crate) fn hash(&self) -> CertIdHash {
        self.hash
    }

    pub(crate) fn serial(&self) -> &[u8] {
        &self.serial[..usize::from(self.serial_len)]
    }

    /// The full CertID under the issuer's `hashes`.
    pub(crate) fn cert_id(&self, hashes: &IssuerHashes) -> Option<CertIdKey> {
        cached_key(hashes, self.hash, self.serial())
    }
}

/// A [`CertIdKey`]'s serial has at most [`MAX_SERIAL_LEN`] octets (its constructor checks), so
/// [`EntryKey::from_serial`] cannot refuse it; this keeps that invariant out of the hot path
/// without an `unwrap`.
#[cold]
fn unreachable_serial(issuer_id: AuthorityId, hash: CertIdHash) -> EntryKey {
    EntryKey {
        issuer_id,
        hash,
        serial_len: 0,
        serial: [0; MAX_SERIAL_LEN],
    }
}

/// The `certs` fields (the delegated responder certificates) that cached responses share:
/// each response keeps its own signed part and a reference to one of these (see
/// [`ResponseParts`]). There are a handful, one per CA and responder rotation.
#[derive(Default)]
pub(crate) struct SharedCerts(Mutex<Vec<Arc<[u8]>>>);

impl SharedCerts {
    fn intern(&self, certs: &[u8]) -> Arc<[u8]> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = all.iter().find(|c| c.as_ref() == certs) {
            return found.clone();
        }
        // Forget the ones no cached response uses any more (rotated responders).
        all.retain(|c| Arc::strong_count(c) > 1);
        let new: Arc<[u8]> = Arc::from(certs);
        all.push(new.clone());
        new
    }
}

/// One signed answer, kept small: its signed part, a shared reference to its `certs` field,
/// and what its HTTP headers are made from (formatted when served: a few hundred nanoseconds,
/// against some 150 octets per entry kept).
#[derive(Debug)]
pub(crate) struct Cached {
    signed: Bytes,
    certs: Arc<[u8]>,
    pub(crate) this_update: Timestamp,
    pub(crate) next_update: Timestamp,
    /// The first half of the SHA-256 of the signed part: a signature is unique, so this names
    /// the response.
    etag: [u8; 16],
    /// The certificate it is about (every cached answer is about one we issued;
    /// [`NOT_CACHED`] for an answer served once).
    pub(crate) certificate_id: CertificateId,
}

impl Cached {
    /// The entry for a complete DER response.
    pub(crate) fn new(
        shared: &SharedCerts,
        der: &[u8],
        this_update: Timestamp,
        next_update: Timestamp,
        certificate_id: CertificateId,
    ) -> Result<Self, OcspError> {
        let parts = split_response(der)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, parts.signed);
        let mut etag = [0u8; 16];
        etag.copy_from_slice(&digest.as_ref()[..16]);
        Ok(Self {
            signed: Bytes::copy_from_slice(parts.signed),
            certs: shared.intern(parts.certs),
            this_update,
            next_update,
            etag,
            certificate_id,
        })
    }

    pub(crate) fn from_record(
        shared: &SharedCerts,
        record: &OcspResponseRecord,
    ) -> Result<Self, OcspError> {
        Self::new(
            shared,
            &record.der,
            seconds(record.this_update),
            seconds(record.next_update),
            record.certificate_id,
        )
    }

    /// The complete DER response, as signed.
    pub(crate) fn der(&self) -> Bytes {
        Bytes::from(join_response(ResponseParts {
            signed: &self.signed,
            certs: &self.certs,
        }))
    }

    /// The status this response gives (a cached response answers one CertID), read back
    /// from its signed part: a few microseconds, against a database round trip; kept out of
    /// the entry itself, where it would cost 16 MB per million.
    pub(crate) fn status(&self) -> Option<CertStatusAnswer> {
        let bare = join_response(ResponseParts {
            signed: &self.signed,
            certs: &[],
        });
        match parse_response(&bare).ok()? {
            ParsedResponse::Successful(basic) => basic.responses.first().map(|r| r.status),
            _ => None,
        }
    }

    /// The `ETag` header: a strong validator, quoted hex.
    pub(crate) fn etag(&self) -> HeaderValue {
        let mut text = [0u8; 34];
        text[0] = b'"';
        text[33] = b'"';
        // Lower-case hex is always a valid header value.
        let _ = hex::encode_to_slice(self.etag, &mut text[1..33]);
        HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }

    /// `Last-Modified`: thisUpdate as an HTTP date.
    pub(crate) fn last_modified(&self) -> HeaderValue {
        http_date(self.this_update)
    }

    /// `Expires`: nextUpdate as an HTTP date.
    pub(crate) fn expires(&self) -> HeaderValue {
        http_date(self.next_update)
    }

    /// Whether it may still be served at `now` (strictly before nextUpdate).
    pub(crate) fn is_fresh(&self, now: Timestamp) -> bool {
        now < self.next_update
    }

    /// Whether it has passed half its validity and should be re-signed.
    pub(crate) fn is_due(&self, now: Timestamp) -> bool {
        now >= self.this_update + (self.next_update - self.this_update) / 2
    }
}

/// An HTTP date; httpdate panics past the year 9999, so clamp (a response can only claim such
/// a date through a misconfigured validity, which must not take the responder down).
fn http_date(t: Timestamp) -> HeaderValue {
    let t = t.clamp(0, LAST_HTTP_DATE);
    HeaderValue::from_str(&httpdate::fmt_http_date(from_timestamp(t)))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

pub(crate) type Map = HashMap<EntryKey, Arc<Cached>>;

/// A bounded map from CertID to answer.
///
/// When full, an arbitrary entry makes room for a pre-signed (stored) answer; a live answer
/// is only added while there is room. The cache is sized to hold every certificate, so
/// eviction only bounds memory; and live answers (which an attacker can cause) never push
/// pre-signed ones out.
pub(crate) struct Cache {
    map: RwLock<Map>,
    capacity: usize,
    generation: AtomicU64,
    /// The `certs` fields the entries share.
    pub(crate) certs: SharedCerts,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
            generation: AtomicU64::new(0),
            certs: SharedCerts::default(),
        }
    }

    // A panic while holding the lock leaves the map consistent (every mutation is a single
    // HashMap call), so a poisoned lock is used as is rather than taking the responder down.
    fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }

    /// The answer for `key` if it may still be served at `now`.
    pub(crate) fn get(&self, key: &EntryKey, now: Timestamp) -> Option<Arc<Cached>> {
        self.read().get(key).filter(|c| c.is_fresh(now)).cloned()
    }

    /// The generation: moves whenever revocations are applied or everything is reloaded.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn insert_evicting(map: &mut Map, capacity: usize, key: EntryKey, value: Arc<Cached>) {
        if map.len() >= capacity && !map.contains_key(&key) {
            if let Some(victim) = map.keys().next().copied() {
                map.remove(&victim);
            }
        }
        map.insert(key, value);
    }

    /// Inserts or replaces a pre-signed answer, evicting an arbitrary entry when full.
    #[cfg(test)]
    pub(crate) fn insert(&self, key: EntryKey, value: Arc<Cached>) {
        Self::insert_evicting(&mut self.write(), self.capacity, key, value);
    }

    /// Inserts a live answer read at `generation`, unless revocations were applied since or
    /// the cache is full. Returns whether it was inserted.
    pub(crate) fn insert_live(&self, key: EntryKey, value: Arc<Cached>, generation: u64) -> bool {
        let mut map = self.write();
        // Checked under the write lock: apply_revocation bumps the generation under it too.
        if self.generation() != generation
            || (map.len() >= self.capacity && !map.contains_key(&key))
        {
            return false;
        }
        map.insert(key, value);
        true
    }

    /// Replaces `key`'s entry with `new` only if it still is `old`.
    pub(crate) fn replace_if_same(
        &self,
        key: EntryKey,
        old: &Arc<Cached>,
        new: Arc<Cached>,
    ) -> bool {
        let mut map = self.write();
        match map.get_mut(&key) {
            Some(current) if Arc::ptr_eq(current, old) => {
                *current = new;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn remove_if_same(&self, key: &EntryKey, old: &Arc<Cached>) {
        let mut map = self.write();
        if map
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, old))
        {
            map.remove(key);
        }
    }

    pub(crate) fn contains(&self, key: &EntryKey) -> bool {
        self.read().contains_key(key)
    }

    /// Applies a change: each key gets its new answer, or loses its entry.
    pub(crate) fn apply(&self, updates: &[(EntryKey, Option<Arc<Cached>>)]) {
        let mut map = self.write();
        for (key, value) in updates {
            match value {
                Some(value) => Self::insert_evicting(&mut map, self.capacity, *key, value.clone()),
                None => {
                    map.remove(key);
                }
            }
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Replaces everything (the warm-up).
    pub(crate) fn replace_all(&self, fresh: Map) {
        let mut map = self.write();
        *map = fresh;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Entries past half their validity (expired ones included).
    pub(crate) fn due(&self, now: Timestamp) -> Vec<(EntryKey, Arc<Cached>)> {
        self.read()
            .iter()
            .filter(|(_, c)| c.is_due(now))
            .map(|(k, c)| (*k, c.clone()))
            .collect()
    }
}

/// How a request arrived: its bytes mean different things in a GET path and a POST body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RequestForm {
    /// The raw `GET /ocsp/{…}` path after `/ocsp/`, percent-encoding and all.
    Get,
    /// A POST body: the DER OCSPRequest.
    Post,
}

/// A served answer ready to go out again: the complete DER and its validator headers.
pub(crate) struct Ready {
    pub(crate) key: EntryKey,
    /// The cache entry it was made from; it is served only while that is still the entry.
    pub(crate) cached: Arc<Cached>,
    pub(crate) der: Bytes,
    pub(crate) etag: HeaderValue,
    pub(crate) last_modified: HeaderValue,
    pub(crate) expires: HeaderValue,
}

impl Ready {
    pub(crate) fn new(key: EntryKey, cached: Arc<Cached>) -> Self {
        Self {
            key,
            der: cached.der(),
            etag: cached.etag(),
            last_modified: cached.last_modified(),
            expires: cached.expires(),
            cached,
        }
    }
}

/// The hot path in front of [`Cache`]: the exact bytes of a request already answered from
/// the cache (a GET path as sent, or a POST body) → the answer, complete with headers.
///
/// A signing node asks about the same few hundred peer certificates again and again, each
/// time with the same bytes. Recognising them skips the percent and base64 decoding, the DER
/// parse, the issuer match, re-assembling the response and formatting its headers.
///
/// It decides nothing on its own: an answer is served only while the [`Cache`] still holds
/// the very entry it was made from (`Arc::ptr_eq`), so every rule that keeps the cache true
/// (revocations, re-signing, expiry) holds here too. The mapping from bytes to CertID is a
/// pure function of the bytes, so it never goes stale. Bounded: when full it starts over,
/// which only costs the next requests the ordinary path; entries are only added after a
/// request was answered from the cache, so garbage cannot fill it.
/// Request bytes → ready answer.
type ReadyMap = HashMap<Box<[u8]>, Arc<Ready>>;

pub(crate) struct RequestCache {
    /// One map per [`RequestForm`], so a lookup borrows the request bytes as they are.
    maps: [RwLock<ReadyMap>; 2],
    /// Entries per map at most.
    capacity: usize,
}

impl RequestCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            maps: [RwLock::new(HashMap::new()), RwLock::new(HashMap::new())],
            capacity,
        }
    }

    fn map(&self, form: RequestForm) -> &RwLock<ReadyMap> {
        match form {
            RequestForm::Get => &self.maps[0],
            RequestForm::Post => &self.maps[1],
        }
    }

    /// The ready answer to these request bytes, if the cache still holds its entry and it
    /// is fresh at `now`. One made from an older entry is rebuilt from the current one.
    pub(crate) fn get(
        &self,
        cache: &Cache,
        form: RequestForm,
        bytes: &[u8],
        now: Timestamp,
    ) -> Option<Arc<Ready>> {
        if self.capacity == 0 {
            return None;
        }
        let ready = self
            .map(form)
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(bytes)
            .cloned()?;
        let current = cache.get(&ready.key, now)?;
        if Arc::ptr_eq(&current, &ready.cached) {
            return Some(ready);
        }
        // Re-signed or revoked since: the same bytes now get the new entry.
        let fresh = Arc::new(Ready::new(ready.key, current));
        self.insert(form, bytes, fresh.clone());
        Some(fresh)
    }

    /// Remembers that these request bytes are answered by `ready`.
    pub(crate) fn insert(&self, form: RequestForm, bytes: &[u8], ready: Arc<Ready>) {
        if self.capacity == 0 {
            return;
        }
        let mut map = self.map(form).write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity && !map.contains_key(bytes) {
            map.clear();
        }
        map.insert(Box::from(bytes), ready);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.maps
            .iter()
            .map(|m| m.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// Splits stored CertID key bytes (issuerNameHash ‖ issuerKeyHash ‖ serial, as
/// `ca_service::cert_id_key_bytes` writes them) into a key.
pub(crate) fn key_from_stored(hash: CertIdHash, bytes: &[u8]) -> Option<CertIdKey> {
    let n = hash.output_len();
    if bytes.len() <= 2 * n {
        return None;
    }
    CertIdKey::new(hash, &bytes[..n], &bytes[n..2 * n], &bytes[2 * n..]).ok()
}

/// Signs one answer for `key` (any hash algorithm) with `responder`, valid for the
/// responders' validity from now.
pub(crate) fn sign_one(
    validity: Duration,
    certs: &SharedCerts,
    responder: &DelegatedResponder,
    key: CertIdKey,
    status: CertStatusAnswer,
    certificate_id: CertificateId,
) -> Result<Cached, OcspError> {
    let (der, this_update, next_update) =
        sign_answers(validity, responder, &[(key, status)], None)?;
    Cached::new(certs, &der, this_update, next_update, certificate_id)
}

/// Signs a response with one SingleResponse per `(key, status)`, thisUpdate now, nextUpdate
/// after `validity`; returns it with its thisUpdate and nextUpdate.
pub(crate) fn sign_answers(
    validity: Duration,
    responder: &DelegatedResponder,
    answers: &[(CertIdKey, CertStatusAnswer)],
    nonce: Option<&[u8]>,
) -> Result<(Bytes, Timestamp, Timestamp), OcspError> {
    // Whole seconds, as on the wire, so that the headers match the response exactly.
    let this_update = from_timestamp(now());
    let next_update = this_update + validity;
    let singles: Vec<SingleAnswer> = answers
        .iter()
        .map(|(cert_id, status)| SingleAnswer {
            cert_id: *cert_id,
            status: *status,
            this_update,
            next_update,
        })
        .collect();
    let der = responder
        .responder
        .sign_response(&singles, this_update, nonce)?;
    Ok((
        Bytes::from(der),
        to_seconds(this_update),
        to_seconds(next_update),
    ))
}

fn to_seconds(t: SystemTime) -> Timestamp {
    jiff::Timestamp::try_from(t).map_or(0, seconds)
}

/// The cache entry of a pre-signed response.
pub(crate) fn cached_from(
    certs: &SharedCerts,
    response: &PreSignedResponse,
    id: CertificateId,
) -> Result<Cached, OcspError> {
    Cached::new(
        certs,
        &response.der,
        seconds(response.this_update),
        seconds(response.next_update),
        id,
    )
}

/// The CertID key of `serial` under an issuer; `None` when the serial is not a valid one.
fn cached_key(hashes: &IssuerHashes, hash: CertIdHash, serial: &[u8]) -> Option<CertIdKey> {
    CertIdKey::new(hash, hashes.name_hash(hash), hashes.key_hash(hash), serial).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(serial: u8) -> EntryKey {
        EntryKey::from_serial(AuthorityId(1), CertIdHash::Sha1, &[serial]).unwrap()
    }

    /// A response-shaped stand-in: empty tbsResponseData, algorithm and signature.
    fn der(certs: &[u8]) -> Vec<u8> {
        join_response(ResponseParts {
            signed: &[0x30, 0x00, 0x30, 0x00, 0x03, 0x01, 0x00],
            certs,
        })
    }

    fn entry(this_update: Timestamp, next_update: Timestamp) -> Arc<Cached> {
        let certs = SharedCerts::default();
        Arc::new(
            Cached::new(
                &certs,
                &der(&[]),
                this_update,
                next_update,
                CertificateId(1),
            )
            .unwrap(),
        )
    }

    #[test]
    fn entries_keep_one_copy_of_each_certs_field_and_serve_the_whole_response() {
        let shared = SharedCerts::default();
        let certs = [0xa0, 0x02, 0x30, 0x00];
        let a = Cached::new(&shared, &der(&certs), 0, 10, CertificateId(1)).unwrap();
        let b = Cached::new(&shared, &der(&certs), 0, 10, CertificateId(2)).unwrap();
        assert!(Arc::ptr_eq(&a.certs, &b.certs));
        assert_eq!(a.der().as_ref(), der(&certs).as_slice());
        assert_eq!(a.etag().len(), 34);
        // A rotated responder's certs field is forgotten once no entry uses it.
        drop((a, b));
        let _c = Cached::new(&shared, &der(&[0xa0, 0x00]), 0, 10, CertificateId(3)).unwrap();
        assert_eq!(shared.0.lock().unwrap().len(), 1);
        assert!(Cached::new(&shared, b"not a response", 0, 10, CertificateId(4)).is_err());
    }

    #[test]
    fn entry_keys_leave_out_the_issuer_hashes_but_keep_hash_and_serial() {
        assert!(std::mem::size_of::<EntryKey>() <= 32);
        let id = |hash, serial: &[u8]| {
            let n = hash_len(hash);
            CertIdKey::new(hash, &vec![1; n], &vec![2; n], serial).unwrap()
        };
        let (seven, eight) = (AuthorityId(7), AuthorityId(8));
        let sha1 = EntryKey::new(seven, &id(CertIdHash::Sha1, &[5]));
        assert_eq!(
            sha1,
            EntryKey::from_serial(seven, CertIdHash::Sha1, &[5]).unwrap()
        );
        assert_ne!(sha1, EntryKey::new(seven, &id(CertIdHash::Sha256, &[5])));
        assert_ne!(sha1, EntryKey::new(eight, &id(CertIdHash::Sha1, &[5])));
        assert_ne!(sha1, EntryKey::new(seven, &id(CertIdHash::Sha1, &[5, 0])));
        assert!(EntryKey::from_serial(seven, CertIdHash::Sha1, &[1; MAX_SERIAL_LEN + 1]).is_none());
    }

    fn hash_len(hash: CertIdHash) -> usize {
        hash.output_len()
    }

    /// The request cache serves only what the cache still holds: a replaced entry (a
    /// revocation, a re-signing) is picked up for the same bytes, a removed one is not
    /// served, and a full map starts over.
    #[test]
    fn request_bytes_follow_the_cache_entry() {
        let cache = Cache::new(10);
        let requests = RequestCache::new(2);
        let good = entry(0, 100);
        cache.insert(key(1), good.clone());
        requests.insert(
            RequestForm::Get,
            b"abc",
            Arc::new(Ready::new(key(1), good.clone())),
        );
        let hit = requests.get(&cache, RequestForm::Get, b"abc", 10).unwrap();
        assert!(Arc::ptr_eq(&hit.cached, &good));
        assert!(
            requests
                .get(&cache, RequestForm::Post, b"abc", 10)
                .is_none(),
            "the same bytes as a POST body are another request"
        );
        assert!(
            requests
                .get(&cache, RequestForm::Get, b"abc", 100)
                .is_none(),
            "expired"
        );

        let revoked = entry(5, 105);
        cache.apply(&[(key(1), Some(revoked.clone()))]);
        let hit = requests.get(&cache, RequestForm::Get, b"abc", 10).unwrap();
        assert!(
            Arc::ptr_eq(&hit.cached, &revoked),
            "served the replaced entry"
        );

        cache.apply(&[(key(1), None)]);
        assert!(requests.get(&cache, RequestForm::Get, b"abc", 10).is_none());

        for bytes in [&b"x"[..], b"y", b"z"] {
            requests.insert(
                RequestForm::Post,
                bytes,
                Arc::new(Ready::new(key(1), good.clone())),
            );
        }
        assert!(requests.len() <= 3, "bounded per form");
        assert!(RequestCache::new(0)
            .get(&cache, RequestForm::Get, b"abc", 10)
            .is_none());
    }

    #[test]
    fn entries_stop_being_served_at_next_update() {
        let cache = Cache::new(10);
        cache.insert(key(1), entry(100, 200));
        assert!(cache.get(&key(1), 199).is_some());
        assert!(cache.get(&key(1), 200).is_none(), "served at nextUpdate");
        assert!(cache.get(&key(1), 300).is_none(), "served past nextUpdate");
    }

    #[test]
    fn due_after_half_validity() {
        let cache = Cache::new(10);
        cache.insert(key(1), entry(100, 200));
        assert!(cache.due(149).is_empty());
        assert_eq!(cache.due(150).len(), 1);
    }

    #[test]
    fn bounded_and_live_answers_never_evict() {
        let cache = Cache::new(2);
        cache.insert(key(1), entry(0, i64::MAX));
        cache.insert(key(2), entry(0, i64::MAX));
        cache.insert(key(3), entry(0, i64::MAX));
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&key(3), 1).is_some(),
            "the newest stored answer is kept"
        );
        let generation = cache.generation();
        assert!(!cache.insert_live(key(4), entry(0, i64::MAX), generation));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn live_answers_older_than_a_revocation_are_not_cached() {
        let cache = Cache::new(10);
        let before = cache.generation();
        cache.apply(&[(key(1), None)]);
        assert!(!cache.insert_live(key(1), entry(0, i64::MAX), before));
        assert!(cache.insert_live(key(1), entry(0, i64::MAX), cache.generation()));
    }

    #[test]
    fn refresher_does_not_overwrite_a_newer_entry() {
        let cache = Cache::new(10);
        let old = entry(0, 100);
        cache.insert(key(1), old.clone());
        let revoked = entry(10, 110);
        cache.apply(&[(key(1), Some(revoked.clone()))]);
        assert!(!cache.replace_if_same(key(1), &old, entry(20, 120)));
        assert!(Arc::ptr_eq(&cache.get(&key(1), 50).unwrap(), &revoked));
    }

    #[test]
    fn stored_key_bytes_split() {
        let bytes = [[1u8; 20].as_slice(), &[2; 20], &[0x05, 0x39]].concat();
        let k = key_from_stored(CertIdHash::Sha1, &bytes).unwrap();
        assert_eq!(k.serial(), &[0x05, 0x39]);
        assert!(key_from_stored(CertIdHash::Sha1, &bytes[..40]).is_none());
        assert!(key_from_stored(CertIdHash::Sha256, &bytes).is_none());
    }
}
