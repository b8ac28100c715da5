//! Failed-login rate limiting, per user and per client address, as Argo CD's session manager
//! does per user (`ARGOCD_SESSION_MAX_FAIL_COUNT`, `ARGOCD_SESSION_FAILURE_WINDOW_SECONDS`):
//! after `max_failures` failed attempts within `window`, further attempts for that user — or
//! from that address, with a larger allowance since many users can share one address — are
//! refused without checking the password until the oldest failure leaves the window. A
//! success clears the user's failures.
//!
//! The state is in memory and bounded: with more than `max_entries` keys the oldest are
//! dropped, so a flood of made-up user names cannot exhaust memory. Time is passed in.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Limits and sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Failures per user within the window before refusing.
    pub max_failures: u32,
    /// Failures per client address within the window before refusing.
    pub max_failures_per_address: u32,
    /// The window.
    pub window: Duration,
    /// Most keys remembered.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_failures: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(300),
            max_entries: 10_000,
        }
    }
}

/// A refusal: retry after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// Until the oldest counted failure leaves the window.
    pub retry_after: Duration,
    /// Whether the address (not the user) is the reason.
    pub by_address: bool,
}

/// The limiter.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: Limits,
    failures: HashMap<Key, VecDeque<u64>>,
    order: VecDeque<Key>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(String),
}

impl FailureLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            failures: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether an attempt for `user` from `address` may proceed at `now_ms`.
    pub fn check(&mut self, user: &str, address: &str, now_ms: u64) -> Result<(), Limited> {
        let user_key = Key::User(user.to_owned());
        let addr_key = Key::Address(address.to_owned());
        if let Some(retry_after) = self.over(&user_key, self.limits.max_failures, now_ms) {
            return Err(Limited {
                retry_after,
                by_address: false,
            });
        }
        if !address.is_empty()
            && let Some(retry_after) =
                self.over(&addr_key, self.limits.max_failures_per_address, now_ms)
        {
            return Err(Limited {
                retry_after,
                by_address: true,
            });
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn failed(&mut self, user: &str, address: &str, now_ms: u64) {
        self.push(Key::User(user.to_owned()), now_ms);
        if !address.is_empty() {
            self.push(Key::Address(address.to_owned()), now_ms);
        }
    }

    /// Records a success: the user's failures are forgotten (the address's stay, so one
    /// valid account does not launder guesses at others).
    pub fn succeeded(&mut self, user: &str) {
        self.failures.remove(&Key::User(user.to_owned()));
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.limits.window.as_millis()).unwrap_or(u64::MAX)
    }

    fn over(&mut self, key: &Key, max: u32, now_ms: u64) -> Option<Duration> {
        let window = self.window_ms();
        let list = self.failures.get_mut(key)?;
        while list
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
        {
            list.pop_front();
        }
        if list.len() < max as usize {
            return None;
        }
        let oldest = *list.front()?;
        Some(Duration::from_millis(
            (oldest + window).saturating_sub(now_ms).max(1),
        ))
    }

    fn push(&mut self, key: Key, now_ms: u64) {
        let window = self.window_ms();
        let list = self.failures.entry(key.clone()).or_default();
        if list.is_empty() {
            self.order.push_back(key);
        }
        list.push_back(now_ms);
        while list
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window)
        {
            list.pop_front();
        }
        // No key needs more entries than the larger limit.
        let cap = self
            .limits
            .max_failures
            .max(self.limits.max_failures_per_address) as usize;
        while list.len() > cap {
            list.pop_front();
        }
        while self.failures.len() > self.limits.max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.failures.remove(&oldest);
        }
        // Forgotten keys leave stale names in `order`; compact when it grows past twice the
        // live set.
        if self.order.len() > 2 * self.limits.max_entries.max(16) {
            let live = &self.failures;
            self.order.retain(|k| live.contains_key(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> FailureLimiter {
        FailureLimiter::new(Limits {
            max_failures: 5,
            max_failures_per_address: 8,
            window: Duration::from_secs(300),
            max_entries: 100,
        })
    }

    #[test]
    fn five_failures_lock_the_user_for_the_rest_of_the_window() {
        let mut l = limiter();
        for i in 0..5 {
            assert_eq!(
                l.check("admin", "10.0.0.1", i * 1000),
                Ok(()),
                "attempt {i}"
            );
            l.failed("admin", "10.0.0.1", i * 1000);
        }
        let limited = l.check("admin", "10.0.0.9", 10_000).unwrap_err();
        assert!(!limited.by_address);
        assert_eq!(limited.retry_after, Duration::from_secs(290));
        // Another user from the same address is not locked by the user limit.
        assert_eq!(l.check("alice", "10.0.0.1", 10_000), Ok(()));
        // Once the first failure is out of the window, one more try is allowed.
        assert_eq!(l.check("admin", "10.0.0.1", 300_000), Ok(()));
    }

    #[test]
    fn success_clears_the_user_but_not_the_address() {
        let mut l = limiter();
        for i in 0..4 {
            l.failed("admin", "10.0.0.1", i);
        }
        l.succeeded("admin");
        assert_eq!(l.check("admin", "10.0.0.2", 10), Ok(()));
        for (i, user) in ["a", "b", "c", "d"].iter().enumerate() {
            l.failed(user, "10.0.0.1", 10 + i as u64);
        }
        let limited = l.check("e", "10.0.0.1", 20).unwrap_err();
        assert!(limited.by_address, "8 failures from one address");
        assert_eq!(l.check("e", "10.0.0.2", 20), Ok(()));
    }

    #[test]
    fn memory_is_bounded() {
        let mut l = limiter();
        for i in 0..1000 {
            l.failed(&format!("user-{i}"), "", i);
        }
        assert!(l.failures.len() <= 100, "{}", l.failures.len());
        assert!(l.order.len() <= 232, "{}", l.order.len());
    }
}
