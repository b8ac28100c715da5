//! Down detection: after a connectivity failure Redis is skipped for `retry_after`, then one
//! request probes it; success brings it back for everyone.
//!
//! While Redis is down, at most one request per `retry_after` pays the cost of trying (at
//! most `op_timeout`); every other request is an immediate miss or no-op.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a request may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Talk to Redis.
    Proceed,
    /// Redis is considered down: do not touch it.
    Skip,
}

#[derive(Debug)]
pub(crate) struct Health {
    available: AtomicBool,
    /// When Redis may be probed again; meaningful only while unavailable.
    retry_at: Mutex<Instant>,
    retry_after: Duration,
}

impl Health {
    pub(crate) fn new(retry_after: Duration) -> Self {
        Health {
            available: AtomicBool::new(true),
            retry_at: Mutex::new(Instant::now()),
            retry_after,
        }
    }

    pub(crate) fn is_available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// Decides whether a request may use Redis. While down, the first request after the
    /// back-off claims the probe (pushing the next one another `retry_after` away), so
    /// concurrent requests do not all pile onto a dead server.
    pub(crate) fn admit(&self) -> Admit {
        if self.is_available() {
            return Admit::Proceed;
        }
        let now = Instant::now();
        let mut retry_at = self.retry_at.lock().unwrap_or_else(|e| e.into_inner());
        if now < *retry_at {
            return Admit::Skip;
        }
        *retry_at = now + self.retry_after;
        Admit::Proceed
    }

    /// Records a successful round trip; logs the recovery once.
    pub(crate) fn success(&self) {
        if !self.available.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis available again");
        }
    }

    /// Records a connectivity failure; logs the transition to down once.
    pub(crate) fn failure(&self, error: &dyn std::fmt::Display) {
        {
            let mut retry_at = self.retry_at.lock().unwrap_or_else(|e| e.into_inner());
            *retry_at = Instant::now() + self.retry_after;
        }
        if self.available.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                retry_after = ?self.retry_after,
                "Redis unavailable: {error}; serving without cache"
            );
        }
    }
}

/// Lets one warning through per `interval` and counts the ones held back, so a flood of
/// identical failures (a corrupt entry read in a loop) cannot flood the log.
#[derive(Debug)]
pub(crate) struct WarnLimiter {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl WarnLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        WarnLimiter {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(number of warnings suppressed since the last one)` when this one may be logged.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < self.interval => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_skips_until_the_backoff_then_probes_once() {
        let health = Health::new(Duration::from_millis(50));
        assert!(health.is_available());
        assert_eq!(health.admit(), Admit::Proceed);

        health.failure(&"connection refused");
        assert!(!health.is_available());
        assert_eq!(health.admit(), Admit::Skip);

        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(health.admit(), Admit::Proceed, "the probe");
        assert_eq!(health.admit(), Admit::Skip, "only one probe per back-off");

        health.success();
        assert!(health.is_available());
        assert_eq!(health.admit(), Admit::Proceed);
    }

    #[test]
    fn limiter_lets_one_through_per_interval() {
        let limiter = WarnLimiter::new(Duration::from_millis(50));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(limiter.allow(), Some(2));
    }
}
