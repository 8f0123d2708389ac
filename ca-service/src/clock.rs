//! Time and randomness, injected: the engine never reads the wall clock or the operating
//! system's random source itself, so tests drive time (an assignment that expires, a lease
//! that runs out) and can force what randomness decides (a serial collision).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rand_core::{CryptoRng, RngCore};

/// Where the engine reads "now". tsca's instants are whole seconds, as X.509, OCSP and the
/// schema record them.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in whole seconds.
    fn now(&self) -> Timestamp;
}

/// The system's clock, truncated to whole seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        Timestamp::from_second(now.as_second()).unwrap_or(now)
    }
}

/// A clock that only moves when told to (tests). Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start` (whole seconds).
    pub fn at(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.as_second())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, to: Timestamp) {
        self.0.store(to.as_second(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let secs = self.0.load(Ordering::SeqCst);
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Where the engine draws serial numbers and token secrets from. Implementations must be
/// cryptographically secure in production; tests may repeat themselves on purpose.
pub trait Entropy: Send + Sync + 'static {
    /// Fills `dest` with random octets.
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, dest: &mut [u8]) {
        rand_core::OsRng.fill_bytes(dest);
    }
}

/// An [`Entropy`] as the `CryptoRngCore` that ca-core's issuance takes. The marker is
/// honest as long as the [`Entropy`] is (the trait's contract).
pub(crate) struct EntropyRng<'a>(pub(crate) &'a dyn Entropy);

impl RngCore for EntropyRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for EntropyRng<'_> {}

/// `t + d`, saturating at the end of jiff's range.
pub(crate) fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// `t - d`, saturating at the start of jiff's range.
pub(crate) fn before(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_sub(d).unwrap_or(Timestamp::MIN)
}

/// The seconds from `from` to `to` (negative when `to` is earlier).
pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second() - from.as_second()
}
