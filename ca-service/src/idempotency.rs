//! Idempotency by constraint (docs/architecture.md, "Idempotency").
//!
//! Every operation that creates or changes something accepts an [`IdempotencyKey`]. The
//! gateway begins the operation's transaction, which holds the audit head, and looks the key
//! up for the caller's account first:
//!
//! - unused → the operation runs, and its transaction records `(account, key) → what it
//!   produced` together with the effect. The table's primary key makes a second effect for
//!   the same key impossible even for a writer that skipped the lookup.
//! - used for the same request → nothing runs again; the caller gets the first request's
//!   result, rebuilt from the record it points to ([`Produced`]). When that record is still
//!   between two steps (an enrolment whose certificate is being signed) the gateway waits for
//!   it a few seconds, then answers "still running, retry" ([`ServiceError::InProgress`]).
//! - used for a different request → [`ServiceError::IdempotencyKeyReused`].
//!
//! Concurrent requests with one key therefore queue on the audit head: the first commits
//! its effect and its key; each later one reads the key and answers from it. A refused
//! request writes nothing, not even its key, so retrying it runs it again. Keys are kept at
//! least `EngineConfig::idempotency_retention` (24 h by default).

use std::fmt;
use std::str::FromStr;

use ca_store::{
    AssignmentId, AuthorityId, CertificateId, EnrolmentId, IdempotencyRecord, OperatorId, TokenId,
    WriteTx,
};
use jiff::Timestamp;
use serde_json::Value;

use crate::access::Principal;
use crate::engine::Engine;
use crate::error::{ServiceError, ServiceResult};

/// A client's Idempotency-Key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = ServiceError;
    fn from_str(text: &str) -> ServiceResult<Self> {
        if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                "the Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces)",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an operation produced, as recorded against its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    /// An authority was created.
    Authority(AuthorityId),
    /// An operator was registered (with its first token).
    Operator(OperatorId, TokenId),
    /// A token was created or revoked.
    Token(TokenId),
    /// An assignment was created or changed, and these certificates were revoked with it
    /// (so that a replay answers with the same list).
    Assignment(AssignmentId, Vec<CertificateId>),
    /// An enrolment was received or decided.
    Enrolment(EnrolmentId),
    /// A certificate was revoked.
    Certificate(CertificateId),
}

impl Produced {
    fn to_text(&self) -> String {
        match self {
            Self::Authority(id) => format!("authority:{id}"),
            Self::Operator(id, token) => format!("operator:{id}:{token}"),
            Self::Token(id) => format!("token:{id}"),
            Self::Assignment(id, revoked) => {
                let revoked: Vec<String> = revoked.iter().map(ToString::to_string).collect();
                format!("assignment:{id}:{}", revoked.join(","))
            }
            Self::Enrolment(id) => format!("enrolment:{id}"),
            Self::Certificate(id) => format!("certificate:{id}"),
        }
    }

    fn from_text(text: &str) -> ServiceResult<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        let id = |i: usize| -> ServiceResult<i64> {
            parts.get(i).and_then(|p| p.parse().ok()).ok_or_else(|| {
                ServiceError::internal(format!("unreadable idempotency result {text:?}"))
            })
        };
        Ok(match parts.first().copied() {
            Some("authority") => Self::Authority(AuthorityId(id(1)?)),
            Some("operator") => Self::Operator(OperatorId(id(1)?), TokenId(id(2)?)),
            Some("token") => Self::Token(TokenId(id(1)?)),
            Some("assignment") => Self::Assignment(
                AssignmentId(id(1)?),
                // Absent in records written before revocations were kept with the key.
                match parts.get(2).copied() {
                    None | Some("") => Vec::new(),
                    Some(list) => list
                        .split(',')
                        .map(|c| c.parse().map(CertificateId))
                        .collect::<Result<_, _>>()
                        .map_err(|_| {
                            ServiceError::internal(format!(
                                "unreadable idempotency result {text:?}"
                            ))
                        })?,
                },
            ),
            Some("enrolment") => Self::Enrolment(EnrolmentId(id(1)?)),
            Some("certificate") => Self::Certificate(CertificateId(id(1)?)),
            _ => {
                return Err(ServiceError::internal(format!(
                    "unreadable idempotency result {text:?}"
                )))
            }
        })
    }
}

/// The answer of an operation: its value, and whether it replays an earlier request.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    /// What the operation returns.
    pub value: T,
    /// True when an earlier request with the same Idempotency-Key did the work.
    pub replayed: bool,
}

impl<T> Answer<T> {
    pub(crate) fn fresh(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }

    pub(crate) fn replayed(value: T) -> Self {
        Self {
            value,
            replayed: true,
        }
    }

    /// Maps the value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        Answer {
            value: f(self.value),
            replayed: self.replayed,
        }
    }
}

/// A key claimed by a running operation, to record with its effect.
pub(crate) struct Claim {
    record: IdempotencyRecord,
}

impl Claim {
    /// Records what the operation produced, inside its transaction.
    pub(crate) async fn record(self, tx: &mut WriteTx, produced: Produced) -> ServiceResult<()> {
        let record = IdempotencyRecord {
            result: produced.to_text(),
            ..self.record
        };
        tx.record_idempotency(&record).await?;
        Ok(())
    }
}

/// How an operation's transaction began.
pub(crate) enum Begun {
    /// Run the operation; record the claim (if any) before committing. (Boxed: a
    /// transaction is a few hundred octets, a replay a few.)
    Fresh(Box<WriteTx>, Option<Claim>),
    /// The key was used for this very request: answer from what it produced.
    Replay(Produced),
}

/// The SHA-256 of a request as the gateway understood it (canonical JSON of its fields).
pub(crate) fn request_hash(request: &Value) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, request.to_string().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl Engine {
    /// Begins an operation's transaction at `now`, looking its Idempotency-Key up first.
    pub(crate) async fn begin_once(
        &self,
        now: Timestamp,
        who: &Principal,
        key: Option<&IdempotencyKey>,
        operation: &'static str,
        request: &Value,
    ) -> ServiceResult<Begun> {
        let mut tx = Box::new(self.begin_write(now).await?);
        let Some(key) = key else {
            return Ok(Begun::Fresh(tx, None));
        };
        let principal = who.idempotency_scope();
        let hash = request_hash(request);
        if let Some(existing) = tx.idempotency_record(&principal, key.as_str()).await? {
            if existing.operation != operation || existing.request_hash != hash {
                return Err(ServiceError::IdempotencyKeyReused {
                    key: key.to_string(),
                    operation: existing.operation,
                });
            }
            return Ok(Begun::Replay(Produced::from_text(&existing.result)?));
        }
        Ok(Begun::Fresh(
            tx,
            Some(Claim {
                record: IdempotencyRecord {
                    principal,
                    key: key.to_string(),
                    operation: operation.to_owned(),
                    request_hash: hash,
                    result: String::new(),
                    created_at: now,
                },
            }),
        ))
    }
}

/// Records the claim, if there is one.
pub(crate) async fn record(
    claim: Option<Claim>,
    tx: &mut WriteTx,
    produced: Produced,
) -> ServiceResult<()> {
    match claim {
        Some(claim) => claim.record(tx, produced).await,
        None => Ok(()),
    }
}
