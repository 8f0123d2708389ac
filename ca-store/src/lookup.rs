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

use std::collections::HashMap;

use ca_core::numbering::{E164Number, NumberingResource, PlmnId, ScopeConstraint};

use crate::model::{Assignment, Timestamp};

/// A certificate as the index needs it.
#[derive(Debug, Clone)]
pub struct IndexedCertificate {
    /// Row id.
    pub certificate_id: i64,
    /// The operator it certifies.
    pub operator_id: i64,
    /// SHA-256 fingerprint (hex): the chain URL is `/chains/{fingerprint}.pem`.
    pub fingerprint: String,
    /// notAfter.
    pub not_after: Timestamp,
    /// Its scope.
    pub scope: ScopeConstraint,
}

/// One operator authorised for the number asked about.
#[derive(Debug, Clone)]
pub struct LookupMatch {
    /// The operator.
    pub operator_id: i64,
    /// The assignment that authorises it.
    pub assignment_id: i64,
    /// The assigned resource that matched.
    pub resource: NumberingResource,
    /// How many leading digits matched (0 for PLMN / MCC matches).
    pub matched_digits: usize,
    /// The operator's valid certificates whose scope covers the number.
    pub certificates: Vec<IndexedCertificate>,
}

#[derive(Debug, Clone)]
struct Entry {
    assignment_id: i64,
    operator_id: i64,
    ported_from: Option<i64>,
    resource: NumberingResource,
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

/// The index. Build it from the database ([`crate::Store::load_lookup_index`]) and rebuild
/// it after assignment or certificate changes.
#[derive(Debug, Default)]
pub struct LookupIndex {
    e164: HashMap<BlockKey, Vec<Entry>>,
    other: HashMap<NumberingResource, Vec<Entry>>,
    certificates: Vec<IndexedCertificate>,
    /// Certificates by the E.164 blocks their scopes cover, like assignments, so a lookup
    /// touches only certificates that cover the number (an operator may hold thousands).
    certificates_e164: HashMap<BlockKey, Vec<u32>>,
    /// Certificates by their PLMN / MCC entries.
    certificates_other: HashMap<NumberingResource, Vec<u32>>,
    assignments: usize,
}

impl LookupIndex {
    /// Builds the index from the assignments active at `at` and the valid certificates.
    pub fn build(
        assignments: &[Assignment],
        certificates: Vec<IndexedCertificate>,
        at: Timestamp,
    ) -> Self {
        let mut index = Self::default();
        for assignment in assignments.iter().filter(|a| a.is_active_at(at)) {
            index.assignments += 1;
            let entry = Entry {
                assignment_id: assignment.id,
                operator_id: assignment.operator_id,
                ported_from: assignment.ported_from,
                resource: assignment.resource.clone(),
            };
            let keys = e164_keys(&assignment.resource);
            if keys.is_empty() {
                index
                    .other
                    .entry(assignment.resource.clone())
                    .or_default()
                    .push(entry);
            } else {
                for key in keys {
                    index.e164.entry(key).or_default().push(entry.clone());
                }
            }
        }
        for certificate in certificates.into_iter().filter(|c| c.not_after > at) {
            let position = index.certificates.len() as u32;
            if let ScopeConstraint::Within(scope) = &certificate.scope {
                for entry in scope.entries() {
                    for key in e164_keys(entry) {
                        index
                            .certificates_e164
                            .entry(key)
                            .or_default()
                            .push(position);
                    }
                    if matches!(
                        entry,
                        NumberingResource::Plmn(_) | NumberingResource::Mcc(_)
                    ) {
                        index
                            .certificates_other
                            .entry(entry.clone())
                            .or_default()
                            .push(position);
                    }
                }
            }
            index.certificates.push(certificate);
        }
        index
    }

    /// How many active assignments the index holds.
    pub fn len(&self) -> usize {
        self.assignments
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.assignments == 0
    }

    /// The operators authorised for an E.164 number, most specific assignment first, with
    /// their certificates covering it that are still valid at `at`.
    pub fn lookup_e164(&self, number: &E164Number, at: Timestamp) -> Vec<LookupMatch> {
        let digits = number.as_str();
        let len = digits.len() as u8;
        let mut found: Vec<(usize, &Entry)> = Vec::new();
        let mut covering: Vec<u32> = Vec::new();
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
        let mut covering: Vec<u32> = Vec::new();
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

    /// `covering`: positions of the certificates whose scope covers what was asked.
    fn answer(
        &self,
        found: Vec<(usize, &Entry)>,
        mut covering: Vec<u32>,
        at: Timestamp,
    ) -> Vec<LookupMatch> {
        covering.sort_unstable();
        covering.dedup();
        // Donors lose what was ported away from them: drop a donor's match when a more
        // specific (earlier) match was ported from it.
        let mut answer: Vec<LookupMatch> = Vec::new();
        let mut donors: Vec<i64> = Vec::new();
        for (depth, entry) in found {
            if donors.contains(&entry.operator_id) {
                continue;
            }
            if let Some(donor) = entry.ported_from {
                donors.push(donor);
            }
            let certificates = covering
                .iter()
                .map(|&i| &self.certificates[i as usize])
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
    use super::*;
    use ca_core::numbering::NumberingScope;

    fn assignment(id: i64, operator: i64, resource: &str, ported_from: Option<i64>) -> Assignment {
        Assignment {
            id,
            authority_id: 1,
            operator_id: operator,
            resource: resource.parse().expect(resource),
            valid_from: 0,
            valid_to: None,
            ported_from,
            withdrawn_at: None,
            created_at: 0,
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
            100,
        );
        let ops = |n: &str| -> Vec<i64> {
            index
                .lookup_e164(&number(n), 100)
                .iter()
                .map(|m| m.operator_id)
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
            100,
        );
        let m = index.lookup_e164(&number("33612345678"), 100);
        assert_eq!(
            m.iter().map(|m| m.operator_id).collect::<Vec<_>>(),
            vec![20]
        );
        let m = index.lookup_e164(&number("33699999999"), 100);
        assert_eq!(
            m.iter().map(|m| m.operator_id).collect::<Vec<_>>(),
            vec![10]
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
            100,
        );
        let plmn = |t: &str| PlmnId::parse(t).expect(t);
        assert_eq!(index.lookup_plmn(&plmn("20801"), 100).len(), 1);
        assert_eq!(index.lookup_plmn(&plmn("23415"), 100)[0].operator_id, 20);
        assert!(index.lookup_plmn(&plmn("20802"), 100).is_empty());
    }

    #[test]
    fn only_covering_unexpired_certificates_are_listed() {
        let scope = |t: &str| ScopeConstraint::Within(NumberingScope::parse([t]).expect(t));
        let cert = |id, scope, not_after| IndexedCertificate {
            certificate_id: id,
            operator_id: 10,
            fingerprint: format!("{id:064x}"),
            not_after,
            scope,
        };
        let index = LookupIndex::build(
            &[assignment(1, 10, "prefix:336", None)],
            vec![
                cert(1, scope("prefix:336"), 1_000),
                cert(2, scope("prefix:3369"), 1_000),
                cert(3, scope("prefix:336"), 50),
            ],
            40,
        );
        let m = index.lookup_e164(&number("33612345678"), 60);
        let ids: Vec<i64> = m[0].certificates.iter().map(|c| c.certificate_id).collect();
        assert_eq!(ids, vec![1]);
    }
}
