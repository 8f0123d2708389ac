//! The publication point's memory of what it last served (docs/operations.md, "When the
//! database is gone"): CRLs, CA certificates and chains change rarely and relying parties
//! cache them for hours anyway, so when the database cannot answer, the last copy read is a
//! truer answer than a 503.
//!
//! Once a copy is held, the database gets [`LastGood::PATIENCE`] to answer before the copy
//! is served; a request for something never read still waits for the database (and gets its
//! 503 when it is gone). Only an unavailable database falls back: any other answer, a 404
//! included, is the answer. The copies are kept current by the repository's warm-up pass,
//! which reads without that patience, so a slow but healthy database never leaves an old
//! copy in place for more than a pass.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Outcome, ServiceError, ServiceResult};

/// The last good answer per key, at most `capacity` keys (beyond it an arbitrary one makes
/// room: the cache is a fallback, not the fast path).
#[derive(Debug)]
pub(crate) struct LastGood<T> {
    answers: Mutex<HashMap<String, T>>,
    capacity: usize,
}

impl<T: Clone> LastGood<T> {
    /// How long the database may take before a held copy is served instead.
    pub(crate) const PATIENCE: Duration = Duration::from_millis(300);

    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            answers: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn held(&self, key: &str) -> Option<T> {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Keeps `value` as the last good answer for `key`.
    pub(crate) fn keep(&self, key: &str, value: T) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= self.capacity && !answers.contains_key(key) {
            if let Some(evicted) = answers.keys().next().cloned() {
                answers.remove(&evicted);
            }
        }
        answers.insert(key.to_owned(), value);
    }

    /// `read`'s answer, kept; or, when the database is unavailable (or slower than
    /// [`Self::PATIENCE`] while a copy is held), the copy.
    pub(crate) async fn read(
        &self,
        key: &str,
        read: impl Future<Output = ServiceResult<T>>,
    ) -> ServiceResult<T> {
        let held = self.held(key);
        let answer = match held {
            Some(_) => tokio::time::timeout(Self::PATIENCE, read)
                .await
                .unwrap_or_else(|_| {
                    Err(ServiceError::Unavailable {
                        outcome: Outcome::NothingChanged,
                        detail: format!("no answer within {:?}", Self::PATIENCE),
                    })
                }),
            None => read.await,
        };
        match (answer, held) {
            (Ok(value), _) => {
                self.keep(key, value.clone());
                Ok(value)
            }
            (Err(ServiceError::Unavailable { detail, .. }), Some(copy)) => {
                tracing::warn!(%key, %detail, "database unavailable or slow: serving the last copy read");
                Ok(copy)
            }
            (Err(e), _) => Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn gone() -> ServiceResult<u32> {
        Err(ServiceError::Unavailable {
            outcome: Outcome::NothingChanged,
            detail: "test".into(),
        })
    }

    #[tokio::test]
    async fn the_last_copy_stands_in_for_an_unavailable_database_only() {
        let cache = LastGood::new(2);
        // Never read: the database's answer, even unavailable.
        assert!(cache.read("a", async { gone() }).await.is_err());
        assert_eq!(cache.read("a", async { Ok(1) }).await.unwrap(), 1);
        assert_eq!(cache.read("a", async { gone() }).await.unwrap(), 1);
        // A slow database, with a copy held: the copy, without waiting it out.
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(2)
        };
        let started = std::time::Instant::now();
        assert_eq!(cache.read("a", slow).await.unwrap(), 1);
        assert!(started.elapsed() < Duration::from_secs(30));
        // Any other error is the answer.
        let missing = cache
            .read("a", async {
                Err(ServiceError::NotFound {
                    what: "CRL",
                    key: "a".into(),
                })
            })
            .await;
        assert!(matches!(missing, Err(ServiceError::NotFound { .. })));
        // Bounded: a third key pushes one out.
        cache.read("b", async { Ok(3) }).await.unwrap();
        cache.read("c", async { Ok(4) }).await.unwrap();
        assert_eq!(cache.answers.lock().unwrap().len(), 2);
    }
}
