//! [`RetryPolicy`]: how long a failed message waits before it is redelivered.

use std::time::Duration;

/// Exponential backoff with jitter between redeliveries of a failed message.
///
/// Attempt `n` waits about `min_backoff * 2^(n-1)`, capped at `max_backoff`,
/// spread by ±20% so that messages that failed together do not all come back
/// at the same instant.
///
/// ```
/// use std::time::Duration;
/// use strata_core::pubsub::RetryPolicy;
/// let policy = RetryPolicy { min_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(1) };
/// let third = policy.backoff(3); // about 400 ms
/// assert!(third >= Duration::from_millis(320) && third <= Duration::from_millis(480));
/// assert!(policy.backoff(30) <= Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt (default 1 s).
    pub min_backoff: Duration,
    /// The longest wait (default 60 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// The jitter spreads each wait over `[1 - JITTER, 1 + JITTER]` of the nominal wait.
const JITTER: f64 = 0.2;

impl RetryPolicy {
    /// The wait before redelivering a message whose delivery number `attempt`
    /// (1 = first delivery) failed. Never more than `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let max = self.max_backoff.as_secs_f64();
        // Past 2^62 every realistic base is far beyond any cap.
        let exponent = attempt.saturating_sub(1).min(62);
        let nominal = (self.min_backoff.as_secs_f64() * 2f64.powi(exponent as i32)).min(max);
        let factor = 1.0 - JITTER + 2.0 * JITTER * fastrand::f64();
        let secs = (nominal * factor).min(max);
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_backoff)
    }
}
