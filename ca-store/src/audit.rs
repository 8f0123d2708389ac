//! The hash chain of the audit log.
//!
//! Entry `n` stores `prev_hash` = hash of entry `n-1` (32 zero octets for entry 1) and
//! `hash` = SHA-256 of:
//!
//! ```text
//! "tsca-audit-v1" ‖ prev_hash ‖ u64be(seq) ‖ i64be(at) ‖ field(actor) ‖ field(action)
//!                 ‖ field(subject) ‖ field(details)
//! field(s) = u32be(len(s)) ‖ utf8(s)
//! ```
//!
//! Length prefixes make the encoding unambiguous (no two different entries hash the same
//! bytes). Changing any stored field, deleting an entry or reordering entries breaks the
//! chain at that entry, which [`verify_chain`] names.

use jiff::Timestamp;
use ring::digest::{Context, SHA256};
use serde::Serialize;
use sqlx::Row;

use crate::columns::get_time;
use crate::database::StoreReader;
use crate::error::Result;

/// One audit log entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Sequence number, from 1, without gaps.
    pub seq: i64,
    /// When (seconds since the epoch in JSON, as hashed).
    #[serde(serialize_with = "seconds")]
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What ("certificate.revoked", …).
    pub action: String,
    /// On what ("certificate:12").
    pub subject: String,
    /// Details, as a JSON object.
    pub details: String,
    /// Hash of the previous entry (hex in JSON).
    #[serde(serialize_with = "hex_bytes")]
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    #[serde(serialize_with = "hex_bytes")]
    pub hash: Vec<u8>,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn seconds<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(t.as_second())
}

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The hash of an entry with these fields.
pub fn entry_hash(
    prev_hash: &[u8],
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> Vec<u8> {
    let mut ctx = Context::new(&SHA256);
    ctx.update(b"tsca-audit-v1");
    ctx.update(prev_hash);
    ctx.update(&seq.to_be_bytes());
    ctx.update(&at.to_be_bytes());
    for field in [actor, action, subject, details] {
        ctx.update(&(field.len() as u32).to_be_bytes());
        ctx.update(field.as_bytes());
    }
    ctx.finish().as_ref().to_vec()
}

/// The outcome of a chain verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    /// Every entry links to its predecessor and hashes to what it stores.
    Intact {
        /// Entries checked.
        entries: i64,
        /// Hash of the last entry (hex), to compare with a copy kept elsewhere.
        head: String,
    },
    /// The first entry that does not check out.
    Broken {
        /// Its sequence number.
        seq: i64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks a run of entries that continues from `prev` (sequence number and hash of the entry
/// before the first one, `(0, GENESIS_HASH)` at the start of the log). Returns the state to
/// continue from, or the first broken entry.
pub(crate) fn verify_run(
    mut prev: (i64, Vec<u8>),
    entries: &[AuditEntry],
) -> Result<(i64, Vec<u8>), (i64, String)> {
    for entry in entries {
        if entry.seq != prev.0 + 1 {
            return Err((
                prev.0 + 1,
                format!(
                    "entry {} is missing (the next stored entry is {})",
                    prev.0 + 1,
                    entry.seq
                ),
            ));
        }
        if entry.prev_hash != prev.1 {
            return Err((
                entry.seq,
                "prev_hash does not match the previous entry's hash".into(),
            ));
        }
        let expected = entry_hash(
            &entry.prev_hash,
            entry.seq,
            entry.at.as_second(),
            &entry.actor,
            &entry.action,
            &entry.subject,
            &entry.details,
        );
        if expected != entry.hash {
            return Err((
                entry.seq,
                "stored hash does not match the entry's content (the entry was altered)".into(),
            ));
        }
        prev = (entry.seq, entry.hash.clone());
    }
    Ok(prev)
}

impl StoreReader {
    /// Audit entries after `after_seq`, at most `limit`, in order.
    pub async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: get_time(row, "at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    details: row.try_get("details")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }

    /// The sequence number of the newest audit entry (0 for none).
    pub async fn audit_head_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT seq FROM audit_head WHERE id = 1")
                .fetch_optional(self.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// Recomputes the whole audit chain and compares its end with the stored head; names
    /// the first entry that does not check out.
    pub async fn verify_audit_chain(&self) -> Result<ChainVerdict> {
        const PAGE: i64 = 5_000;
        let mut state = (0i64, GENESIS_HASH.to_vec());
        loop {
            let page = self.audit_entries(state.0, PAGE).await?;
            if page.is_empty() {
                break;
            }
            match verify_run(state, &page) {
                Ok(next) => state = next,
                Err((seq, reason)) => return Ok(ChainVerdict::Broken { seq, reason }),
            }
        }
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        let head_seq: i64 = head.try_get("seq")?;
        let head_hash: Vec<u8> = head.try_get("hash")?;
        if head_seq != state.0 {
            return Ok(ChainVerdict::Broken {
                seq: state.0 + 1,
                reason: format!(
                    "the log ends at entry {} but the head records entry {head_seq}: entries were removed",
                    state.0
                ),
            });
        }
        if head_hash != state.1 {
            return Ok(ChainVerdict::Broken {
                seq: state.0,
                reason: "the last entry's hash differs from the recorded head".into(),
            });
        }
        Ok(ChainVerdict::Intact {
            entries: state.0,
            head: hex::encode(state.1),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(prev: &[u8], seq: i64, action: &str) -> AuditEntry {
        let hash = entry_hash(prev, seq, 1_700_000_000, "system", action, "x", "{}");
        AuditEntry {
            seq,
            at: Timestamp::from_second(1_700_000_000).unwrap(),
            actor: "system".into(),
            action: action.into(),
            subject: "x".into(),
            details: "{}".into(),
            prev_hash: prev.to_vec(),
            hash,
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_vec();
        (1..=n)
            .map(|seq| {
                let e = entry(&prev, seq, "a");
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let entries = chain(5);
        let (seq, _) = verify_run((0, GENESIS_HASH.to_vec()), &entries).expect("intact");
        assert_eq!(seq, 5);
    }

    #[test]
    fn altered_entry_is_named() {
        let mut entries = chain(5);
        entries[2].actor = "mallory".into();
        assert_eq!(
            verify_run((0, GENESIS_HASH.to_vec()), &entries).map_err(|e| e.0),
            Err(3)
        );
    }

    #[test]
    fn deleted_entry_is_named() {
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(
            verify_run((0, GENESIS_HASH.to_vec()), &entries).map_err(|e| e.0),
            Err(2)
        );
    }

    #[test]
    fn length_prefix_makes_fields_unambiguous() {
        let a = entry_hash(&GENESIS_HASH, 1, 0, "ab", "c", "", "");
        let b = entry_hash(&GENESIS_HASH, 1, 0, "a", "bc", "", "");
        assert_ne!(a, b);
    }
}
