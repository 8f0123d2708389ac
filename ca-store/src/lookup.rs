//! "Who may sign for this number?": an in-memory index over the current assignments.
//!
//! Every E.164 assignment is stored under prefix keys. A prefix assignment is one key that
//! covers numbers of any length; a number is a key restricted to its own length; a range
//! (start + count, numbers of the start's length) is decomposed into the few aligned decimal
//! blocks that tile it exactly (e.g. 33612340000+10000 is the single block 3361234·xxxx), each
//! a key restricted to that length. A lookup walks the number's own prefixes from longest to
//! shortest, one hash probe (two with length-restricted keys) each: at most 30 probes for a
//! 15-digit number, whatever the number of assignments.
//!
//! Porting: an assignment ported from operator X is more specific than X's own. The answer
//! lists matches longest first and drops X's less specific matches, because X no longer
//! holds the ported numbers.
//!
//! Keeping it current: the index is built once ([`StoreReader::load_lookup_index`]) and then
//! updated one object at a time ([`LookupIndex::apply`]), never rebuilt. Every change to an
//! assignment or a certificate commits with an audit entry naming it, in one total order
//! (the audit sequence), so [`SharedLookup::catch_up`] reads the audit entries after the last
//! one the index has seen and re-reads just the objects they name. That covers this process's
//! own writes and those of every other instance on the same database alike, at the cost of
//! one indexed query when nothing changed. Time needs no update: validity windows and
//! notAfter are checked at lookup time.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

use ca_core::ident::Fingerprint;
use ca_core::numbering::{E164Number, NumberingResource, PlmnId, ScopeConstraint};
use jiff::Timestamp;

use crate::assignments::{fetch_assignments, Assignment};
use crate::certificates::fetch_indexed_certificates;
use crate::columns::time_to_column;
use crate::database::StoreReader;
use crate::model::{AssignmentId, CertificateId, OperatorId};

/// A certificate as the index needs it.
#[derive(Debug, Clone)]
pub struct IndexedCertificate {
    /// Row id.
    pub certificate_id: CertificateId,
    /// The operator it certifies.
    pub operator_id: OperatorId,
    /// SHA-256 fingerprint: the chain URL is `/chains/{fingerprint}.pem`.
    pub fingerprint: Fingerprint,
    /// notAfter.
    pub not_after: Timestamp,
    /// Its scope.
    pub scope: ScopeConstraint,
}

/// One operator authorised for the number asked about.
#[derive(Debug, Clone)]
pub struct LookupMatch {
    /// The operator.
    pub operator_id: OperatorId,
    /// The assignment that authorises it.
    pub assignment_id: AssignmentId,
    /// The assigned resource that matched.
    pub resource: NumberingResource,
    /// How many leading digits matched (0 for PLMN / MCC matches).
    pub matched_digits: usize,
    /// The operator's valid certificates whose scope covers the number.
    pub certificates: Vec<IndexedCertificate>,
}

/// What changed about one object the index holds, as read back from the database after its
/// audit entry: its current state, or that it no longer belongs in the index.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LookupChange {
    /// The assignment as it is now (created, or changed in any way).
    Assignment(Assignment),
    /// The assignment with this id is withdrawn or over: drop it.
    AssignmentGone(AssignmentId),
    /// A valid operator certificate, as it is now.
    Certificate(IndexedCertificate),
    /// The certificate with this id is not (or no longer) a valid operator certificate.
    CertificateGone(CertificateId),
}

#[derive(Debug, Clone)]
struct Entry {
    assignment_id: AssignmentId,
    operator_id: OperatorId,
    ported_from: Option<OperatorId>,
    resource: NumberingResource,
    valid_from: Timestamp,
    valid_to: Option<Timestamp>,
}

impl Entry {
    fn active_at(&self, at: Timestamp) -> bool {
        self.valid_from <= at && self.valid_to.is_none_or(|to| at < to)
    }
}

/// Key of an E.164 block: its leading digits packed into a u64 (value, plus digit count so
/// that "033" and "33" differ) and the only number length it covers (None: every length).
/// Numeric keys make a probe allocation-free.
type BlockKey = (u64, u8, Option<u8>);

fn block_key(digits: &[u8], restriction: Option<u8>) -> BlockKey {
    let value = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d.wrapping_sub(b'0')));
    (value, digits.len() as u8, restriction)
}

/// The block keys of an E.164 resource (none for SPC, PLMN and MCC).
fn e164_keys(resource: &NumberingResource) -> Vec<BlockKey> {
    match resource {
        NumberingResource::E164Prefix(p) => vec![block_key(p.as_str().as_bytes(), None)],
        NumberingResource::E164Number(n) => {
            vec![block_key(
                n.as_str().as_bytes(),
                Some(n.as_str().len() as u8),
            )]
        }
        NumberingResource::E164Range(r) => {
            let len = r.start().as_str().len() as u8;
            range_blocks(r.start().as_str(), r.count())
                .iter()
                .map(|block| block_key(block.as_bytes(), Some(len)))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The index. Build it from the database ([`StoreReader::load_lookup_index`]), then keep it
/// current with [`LookupIndex::apply`] (or share it as a [`SharedLookup`], which does that
/// from the audit log).
#[derive(Debug, Default)]
pub struct LookupIndex {
    e164: HashMap<BlockKey, Vec<Entry>>,
    other: HashMap<NumberingResource, Vec<Entry>>,
    /// Every held assignment by id, to find its keys again when it changes or goes.
    assignments: HashMap<AssignmentId, Entry>,
    certificates: HashMap<CertificateId, IndexedCertificate>,
    /// Certificate ids by the E.164 blocks their scopes cover, like assignments, so a lookup
    /// touches only certificates that cover the number (an operator may hold thousands).
    certificates_e164: HashMap<BlockKey, Vec<CertificateId>>,
    /// Certificate ids by their PLMN / MCC entries.
    certificates_other: HashMap<NumberingResource, Vec<CertificateId>>,
    /// The last audit entry whose change the index reflects (0: unknown, built by hand).
    audit_seq: i64,
}

/// The index keys of a certificate's scope: its E.164 blocks and its PLMN / MCC entries.
fn certificate_keys(certificate: &IndexedCertificate) -> (Vec<BlockKey>, Vec<NumberingResource>) {
    let (mut e164, mut other) = (Vec::new(), Vec::new());
    if let ScopeConstraint::Within(scope) = &certificate.scope {
        for entry in scope.entries() {
            e164.extend(e164_keys(entry));
            if matches!(
                entry,
                NumberingResource::Plmn(_) | NumberingResource::Mcc(_)
            ) {
                other.push(entry.clone());
            }
        }
    }
    (e164, other)
}

/// Removes `id` from the list under `key`, and the list when it becomes empty.
fn remove_from<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, Vec<V>>,
    key: &K,
    is_it: impl Fn(&V) -> bool,
) {
    if let Some(list) = map.get_mut(key) {
        list.retain(|v| !is_it(v));
        if list.is_empty() {
            map.remove(key);
        }
    }
}

impl LookupIndex {
    /// Builds the index from assignments and valid certificates, leaving out what is over
    /// at `at` (withdrawn or past its validity; expired certificates). Assignments that
    /// start later are kept and only match from their `valid_from`.
    pub fn build(
        assignments: &[Assignment],
        certificates: Vec<IndexedCertificate>,
        at: Timestamp,
    ) -> Self {
        let mut index = Self::default();
        for assignment in assignments {
            if assignment.withdrawn_at.is_none() && assignment.valid_to.is_none_or(|to| at < to) {
                index.insert_assignment(assignment);
            }
        }
        for certificate in certificates.into_iter().filter(|c| c.not_after > at) {
            index.insert_certificate(certificate);
        }
        index
    }

    /// How many assignments the index holds (active now or starting later).
    pub fn len(&self) -> usize {
        self.assignments.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.assignments.is_empty()
    }

    /// How many certificates the index holds.
    pub fn certificates(&self) -> usize {
        self.certificates.len()
    }

    /// The last audit sequence number whose change the index reflects.
    pub fn audit_seq(&self) -> i64 {
        self.audit_seq
    }

    /// The index as of audit entry `seq` (the head read before its contents were).
    pub(crate) fn with_audit_seq(mut self, seq: i64) -> Self {
        self.audit_seq = seq;
        self
    }

    /// Applies one change: the object's entries are replaced by its current state, or
    /// removed. Idempotent, so a change applied twice (or an old change applied after a
    /// newer state was read) leaves the object as last read.
    pub fn apply(&mut self, change: LookupChange) {
        match change {
            LookupChange::Assignment(assignment) => {
                self.remove_assignment(assignment.id);
                if assignment.withdrawn_at.is_none() {
                    self.insert_assignment(&assignment);
                }
            }
            LookupChange::AssignmentGone(id) => self.remove_assignment(id),
            LookupChange::Certificate(certificate) => {
                self.remove_certificate(certificate.certificate_id);
                self.insert_certificate(certificate);
            }
            LookupChange::CertificateGone(id) => self.remove_certificate(id),
        }
    }

    /// Drops what can never match again: assignments past their `valid_to` and expired
    /// certificates (lookups skip them anyway; this only returns the memory).
    pub fn prune(&mut self, at: Timestamp) {
        let over: Vec<AssignmentId> = self
            .assignments
            .values()
            .filter(|e| e.valid_to.is_some_and(|to| to <= at))
            .map(|e| e.assignment_id)
            .collect();
        for id in over {
            self.remove_assignment(id);
        }
        let expired: Vec<CertificateId> = self
            .certificates
            .values()
            .filter(|c| c.not_after <= at)
            .map(|c| c.certificate_id)
            .collect();
        for id in expired {
            self.remove_certificate(id);
        }
    }

    fn insert_assignment(&mut self, assignment: &Assignment) {
        let entry = Entry {
            assignment_id: assignment.id,
            operator_id: assignment.operator_id,
            ported_from: assignment.ported_from,
            resource: assignment.resource.clone(),
            valid_from: assignment.valid_from,
            valid_to: assignment.valid_to,
        };
        let keys = e164_keys(&assignment.resource);
        if keys.is_empty() {
            self.other
                .entry(assignment.resource.clone())
                .or_default()
                .push(entry.clone());
        } else {
            for key in keys {
                self.e164.entry(key).or_default().push(entry.clone());
            }
        }
        self.assignments.insert(assignment.id, entry);
    }

    fn remove_assignment(&mut self, id: AssignmentId) {
        let Some(entry) = self.assignments.remove(&id) else {
            return;
        };
        let keys = e164_keys(&entry.resource);
        if keys.is_empty() {
            remove_from(&mut self.other, &entry.resource, |e| e.assignment_id == id);
        } else {
            for key in keys {
                remove_from(&mut self.e164, &key, |e| e.assignment_id == id);
            }
        }
    }

    fn insert_certificate(&mut self, certificate: IndexedCertificate) {
        let id = certificate.certificate_id;
        let (e164, other) = certificate_keys(&certificate);
        for key in e164 {
            self.certificates_e164.entry(key).or_default().push(id);
        }
        for key in other {
            self.certificates_other.entry(key).or_default().push(id);
        }
        self.certificates.insert(id, certificate);
    }

    fn remove_certificate(&mut self, id: CertificateId) {
        let Some(certificate) = self.certificates.remove(&id) else {
            return;
        };
        let (e164, other) = certificate_keys(&certificate);
        for key in e164 {
            remove_from(&mut self.certificates_e164, &key, |&c| c == id);
        }
        for key in other {
            remove_from(&mut self.certificates_other, &key, |&c| c == id);
        }
    }

    /// The operators authorised for an E.164 number at `at`, most specific assignment
    /// first, with their certificates covering it that are still valid at `at`.
    pub fn lookup_e164(&self, number: &E164Number, at: Timestamp) -> Vec<LookupMatch> {
        let digits = number.as_str();
        let len = digits.len() as u8;
        let mut found: Vec<(usize, &Entry)> = Vec::new();
        let mut covering: Vec<CertificateId> = Vec::new();
        for k in (1..=digits.len()).rev() {
            let prefix = &digits.as_bytes()[..k];
            for restriction in [Some(len), None] {
                let key = block_key(prefix, restriction);
                if let Some(entries) = self.e164.get(&key) {
                    found.extend(entries.iter().map(|e| (k, e)));
                }
                if let Some(certs) = self.certificates_e164.get(&key) {
                    covering.extend_from_slice(certs);
                }
            }
        }
        self.answer(found, covering, at)
    }

    /// The operators authorised for a PLMN (by its own assignment or its MCC's).
    pub fn lookup_plmn(&self, plmn: &PlmnId, at: Timestamp) -> Vec<LookupMatch> {
        let mut found: Vec<(usize, &Entry)> = Vec::new();
        let mut covering: Vec<CertificateId> = Vec::new();
        for key in [
            NumberingResource::Plmn(plmn.clone()),
            NumberingResource::Mcc(plmn.mcc()),
        ] {
            if let Some(entries) = self.other.get(&key) {
                found.extend(entries.iter().map(|e| (0, e)));
            }
            if let Some(certs) = self.certificates_other.get(&key) {
                covering.extend_from_slice(certs);
            }
        }
        self.answer(found, covering, at)
    }

    /// `covering`: ids of the certificates whose scope covers what was asked.
    fn answer(
        &self,
        found: Vec<(usize, &Entry)>,
        mut covering: Vec<CertificateId>,
        at: Timestamp,
    ) -> Vec<LookupMatch> {
        covering.sort_unstable();
        covering.dedup();
        // Donors lose what was ported away from them: drop a donor's match when a more
        // specific (earlier) match was ported from it.
        let mut answer: Vec<LookupMatch> = Vec::new();
        let mut donors: Vec<OperatorId> = Vec::new();
        for (depth, entry) in found.into_iter().filter(|(_, e)| e.active_at(at)) {
            if donors.contains(&entry.operator_id) {
                continue;
            }
            if let Some(donor) = entry.ported_from {
                donors.push(donor);
            }
            let certificates = covering
                .iter()
                .filter_map(|id| self.certificates.get(id))
                .filter(|c| c.operator_id == entry.operator_id && c.not_after > at)
                .cloned()
                .collect();
            answer.push(LookupMatch {
                operator_id: entry.operator_id,
                assignment_id: entry.assignment_id,
                resource: entry.resource.clone(),
                matched_digits: depth,
                certificates,
            });
        }
        answer
    }
}

/// What a [`SharedLookup::catch_up`] re-read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaughtUp {
    /// Assignments and certificates re-read.
    pub objects: usize,
    /// The certificates among them (issued, revoked, or otherwise changed): for callers
    /// that keep something about certificates themselves (the registry's chain cache).
    pub certificate_ids: Vec<CertificateId>,
}

/// A [`LookupIndex`] shared by request handlers and kept current from the audit log.
///
/// Readers take a read lock for the length of one lookup (microseconds); a catch-up reads
/// the database first and takes the write lock only to apply what it read. Catch-ups are
/// serialised, so two of them never apply the same entries out of order.
#[derive(Debug)]
pub struct SharedLookup {
    index: RwLock<LookupIndex>,
    catching_up: tokio::sync::Mutex<()>,
}

impl SharedLookup {
    /// Builds the index from the database.
    pub async fn load(store: &StoreReader, at: Timestamp) -> crate::Result<SharedLookup> {
        Ok(SharedLookup {
            index: RwLock::new(store.load_lookup_index(at).await?),
            catching_up: tokio::sync::Mutex::new(()),
        })
    }

    /// The index, for one lookup. Hold the guard briefly: writers wait for it.
    pub fn read(&self) -> RwLockReadGuard<'_, LookupIndex> {
        // Every mutation is applied whole under the write lock from data read before it, so
        // a panic cannot leave a half-applied change: a poisoned lock is used as is.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies every assignment and certificate change committed since the index was last
    /// brought up to date (by this process or any other on the same database), and says
    /// what it re-read.
    pub async fn catch_up(&self, store: &StoreReader) -> crate::Result<CaughtUp> {
        let _one_at_a_time = self.catching_up.lock().await;
        let after = self.read().audit_seq;
        let (seq, changes) = store.lookup_changes(after).await?;
        let mut caught = CaughtUp {
            objects: changes.len(),
            certificate_ids: Vec::new(),
        };
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match &change {
                LookupChange::Certificate(c) => caught.certificate_ids.push(c.certificate_id),
                LookupChange::CertificateGone(id) => caught.certificate_ids.push(*id),
                _ => {}
            }
            index.apply(change);
        }
        index.audit_seq = seq;
        Ok(caught)
    }

    /// [`LookupIndex::prune`] under the write lock.
    pub fn prune(&self, at: Timestamp) {
        self.index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .prune(at);
    }
}

impl StoreReader {
    /// Builds the number lookup index from the current assignments and certificates. The
    /// index remembers the audit head read first, so that [`StoreReader::lookup_changes`]
    /// from there catches up whatever committed while it was being read (applied twice at
    /// worst, which is harmless: a change re-reads the object's current state).
    pub async fn load_lookup_index(&self, at: Timestamp) -> crate::Result<LookupIndex> {
        let seq = self.audit_head_seq().await?;
        let assignments = fetch_assignments(
            self.pool(),
            "withdrawn_at IS NULL AND (valid_to IS NULL OR valid_to > $1)",
            time_to_column(at),
        )
        .await?;
        let certificates = self.indexed_certificates(at).await?;
        Ok(LookupIndex::build(&assignments, certificates, at).with_audit_seq(seq))
    }

    /// What the lookup index must change after audit entry `after_seq`: the current state of
    /// every assignment and certificate named by a later audit entry (every change to one
    /// commits with such an entry), and the newest sequence number read. Each object is read
    /// once, however many entries name it.
    pub async fn lookup_changes(&self, after_seq: i64) -> crate::Result<(i64, Vec<LookupChange>)> {
        let crate::Changes {
            through_seq: seq,
            assignments,
            certificates,
            ..
        } = self.changes_after(after_seq).await?;
        let mut changes = Vec::with_capacity(assignments.len() + certificates.len());
        for id in assignments {
            let current = fetch_assignments(self.pool(), "id = $1", id.0).await?.pop();
            changes.push(match current {
                Some(a) if a.withdrawn_at.is_none() => LookupChange::Assignment(a),
                _ => LookupChange::AssignmentGone(id),
            });
        }
        for id in certificates {
            let current = fetch_indexed_certificates(self.pool(), "id = $1", id.0)
                .await?
                .pop();
            changes.push(match current {
                Some(c) => LookupChange::Certificate(c),
                None => LookupChange::CertificateGone(id),
            });
        }
        Ok((seq, changes))
    }
}

/// The aligned decimal blocks that tile `count` numbers from `start` (all of `start`'s
/// length), as the leading digits of each block. 33612340000+10000 → ["3361234"];
/// 33612340005+10 → ["33612340005".."33612340009", "3361234001"].
pub fn range_blocks(start: &str, count: u64) -> Vec<String> {
    let len = start.len();
    let mut first: u64 = start.parse().unwrap_or(0);
    let last = first + count.saturating_sub(1);
    let mut blocks = Vec::new();
    while first <= last {
        // The largest block 10^k aligned at `first` that fits before `last`.
        let mut k = 0u32;
        while (k as usize) < len {
            let size = 10u64.pow(k + 1);
            if first % size != 0 || first + size - 1 > last {
                break;
            }
            k += 1;
        }
        let size = 10u64.pow(k);
        let full = format!("{first:0len$}");
        blocks.push(full[..len - k as usize].to_owned());
        first += size;
    }
    blocks
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::AuthorityId;
    use ca_core::numbering::NumberingScope;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn assignment(id: i64, operator: i64, resource: &str, ported_from: Option<i64>) -> Assignment {
        Assignment {
            id: AssignmentId(id),
            authority_id: AuthorityId(1),
            operator_id: OperatorId(operator),
            resource: resource.parse().expect(resource),
            valid_from: t(0),
            valid_to: None,
            ported_from: ported_from.map(OperatorId),
            withdrawn_at: None,
            created_at: t(0),
            expiry_handled_at: None,
        }
    }

    fn number(n: &str) -> E164Number {
        E164Number::parse(n).expect(n)
    }

    #[test]
    fn range_blocks_tile_exactly() {
        assert_eq!(range_blocks("33612340000", 10000), vec!["3361234"]);
        // 05..09 and 10..14: no aligned block of ten fits, so ten single numbers.
        assert_eq!(range_blocks("33612340005", 10).len(), 10);
        assert_eq!(
            range_blocks("33612340000", 25),
            vec![
                "3361234000",
                "3361234001",
                "33612340020",
                "33612340021",
                "33612340022",
                "33612340023",
                "33612340024"
            ]
        );
        for (start, count) in [("100", 250u64), ("0999", 3), ("1234567", 98765), ("5", 5)] {
            let blocks = range_blocks(start, count);
            let covered: u64 = blocks
                .iter()
                .map(|b| 10u64.pow((start.len() - b.len()) as u32))
                .sum();
            assert_eq!(covered, count, "{start}+{count}");
        }
    }

    #[test]
    fn longest_prefix_first_and_length_aware_ranges() {
        let index = LookupIndex::build(
            &[
                assignment(1, 10, "prefix:336", None),
                assignment(2, 20, "range:33712340000+10000", None),
                assignment(3, 30, "number:33612345678", None),
            ],
            Vec::new(),
            t(100),
        );
        let ops = |n: &str| -> Vec<i64> {
            index
                .lookup_e164(&number(n), t(100))
                .iter()
                .map(|m| m.operator_id.0)
                .collect()
        };
        assert_eq!(ops("33612345678"), vec![30, 10]);
        assert_eq!(ops("33612345679"), vec![10]);
        assert_eq!(ops("33712345678"), vec![20]);
        // Same leading digits, wrong length: outside the range.
        assert!(ops("3371234567").is_empty());
        assert!(ops("4420").is_empty());
    }

    #[test]
    fn ported_block_hides_the_donor() {
        let index = LookupIndex::build(
            &[
                assignment(1, 10, "prefix:336", None),
                assignment(2, 20, "prefix:3361234", Some(10)),
            ],
            Vec::new(),
            t(100),
        );
        let m = index.lookup_e164(&number("33612345678"), t(100));
        assert_eq!(
            m.iter().map(|m| m.operator_id.0).collect::<Vec<_>>(),
            vec![20]
        );
        let m = index.lookup_e164(&number("33699999999"), t(100));
        assert_eq!(
            m.iter().map(|m| m.operator_id.0).collect::<Vec<_>>(),
            vec![10]
        );
    }

    /// Applying changes one by one gives the same answers as building from scratch, and
    /// removing everything leaves no empty lists behind.
    #[test]
    fn changes_apply_incrementally_and_remove_cleanly() {
        let scope = |t: &str| ScopeConstraint::Within(NumberingScope::parse([t]).expect(t));
        let cert = |id: i64, operator_id: i64, s: &str| IndexedCertificate {
            certificate_id: CertificateId(id),
            operator_id: OperatorId(operator_id),
            fingerprint: Fingerprint::of_der(&id.to_be_bytes()),
            not_after: t(1_000),
            scope: scope(s),
        };
        let mut index = LookupIndex::default();
        index.apply(LookupChange::Assignment(assignment(
            1,
            10,
            "prefix:336",
            None,
        )));
        index.apply(LookupChange::Assignment(assignment(
            2,
            20,
            "range:33612340000+10000",
            Some(10),
        )));
        index.apply(LookupChange::Assignment(assignment(
            3,
            30,
            "plmn:208-01",
            None,
        )));
        index.apply(LookupChange::Certificate(cert(
            7,
            20,
            "range:33612340000+10000",
        )));
        index.apply(LookupChange::Certificate(cert(8, 30, "plmn:208-01")));
        // Applying the same state again changes nothing.
        index.apply(LookupChange::Certificate(cert(
            7,
            20,
            "range:33612340000+10000",
        )));
        let ops = |index: &LookupIndex, n: &str| -> Vec<(i64, usize)> {
            index
                .lookup_e164(&number(n), t(100))
                .iter()
                .map(|m| (m.operator_id.0, m.certificates.len()))
                .collect()
        };
        assert_eq!(ops(&index, "33612345678"), vec![(20, 1)]);
        assert_eq!(ops(&index, "33699999999"), vec![(10, 0)]);
        let plmn = PlmnId::parse("20801").expect("20801");
        assert_eq!(index.lookup_plmn(&plmn, t(100))[0].certificates.len(), 1);

        // The port ends: the donor is back; its certificate goes with the withdrawal.
        index.apply(LookupChange::AssignmentGone(AssignmentId(2)));
        assert_eq!(ops(&index, "33612345678"), vec![(10, 0)]);
        index.apply(LookupChange::CertificateGone(CertificateId(7)));
        index.apply(LookupChange::CertificateGone(CertificateId(8)));
        index.apply(LookupChange::AssignmentGone(AssignmentId(3)));
        // A withdrawn assignment read back as such is dropped too.
        let mut withdrawn = assignment(1, 10, "prefix:336", None);
        withdrawn.withdrawn_at = Some(t(50));
        index.apply(LookupChange::Assignment(withdrawn));
        assert!(index.is_empty());
        assert_eq!(index.certificates(), 0);
        assert!(index.e164.is_empty() && index.other.is_empty());
        assert!(index.certificates_e164.is_empty() && index.certificates_other.is_empty());
    }

    #[test]
    fn validity_windows_are_checked_at_lookup_time_and_pruned() {
        let mut later = assignment(1, 10, "prefix:336", None);
        later.valid_from = t(200);
        later.valid_to = Some(t(300));
        let index_at = |at| LookupIndex::build(std::slice::from_ref(&later), Vec::new(), t(at));
        let mut index = index_at(100);
        assert_eq!(index.len(), 1, "a future assignment is kept");
        assert!(index.lookup_e164(&number("33612345678"), t(150)).is_empty());
        assert_eq!(index.lookup_e164(&number("33612345678"), t(250)).len(), 1);
        assert!(index.lookup_e164(&number("33612345678"), t(300)).is_empty());
        index.prune(t(299));
        assert_eq!(index.len(), 1);
        index.prune(t(300));
        assert!(index.is_empty());
        assert!(
            index_at(300).is_empty(),
            "an assignment already over is left out"
        );
    }

    #[test]
    fn plmn_matches_plmn_and_mcc() {
        let index = LookupIndex::build(
            &[
                assignment(1, 10, "plmn:208-01", None),
                assignment(2, 20, "mcc:234", None),
            ],
            Vec::new(),
            t(100),
        );
        let plmn = |t: &str| PlmnId::parse(t).expect(t);
        assert_eq!(index.lookup_plmn(&plmn("20801"), t(100)).len(), 1);
        assert_eq!(
            index.lookup_plmn(&plmn("23415"), t(100))[0].operator_id,
            OperatorId(20)
        );
        assert!(index.lookup_plmn(&plmn("20802"), t(100)).is_empty());
    }

    #[test]
    fn only_covering_unexpired_certificates_are_listed() {
        let scope = |t: &str| ScopeConstraint::Within(NumberingScope::parse([t]).expect(t));
        let cert = |id: i64, scope, not_after: i64| IndexedCertificate {
            certificate_id: CertificateId(id),
            operator_id: OperatorId(10),
            fingerprint: Fingerprint::of_der(&id.to_be_bytes()),
            not_after: t(not_after),
            scope,
        };
        let index = LookupIndex::build(
            &[assignment(1, 10, "prefix:336", None)],
            vec![
                cert(1, scope("prefix:336"), 1_000),
                cert(2, scope("prefix:3369"), 1_000),
                cert(3, scope("prefix:336"), 50),
            ],
            t(40),
        );
        let m = index.lookup_e164(&number("33612345678"), t(60));
        let ids: Vec<i64> = m[0]
            .certificates
            .iter()
            .map(|c| c.certificate_id.0)
            .collect();
        assert_eq!(ids, vec![1]);
    }
}
