//! Brute-force throttling: failed authentications counted per client address in a fixed
//! window; past the limit the address is refused for a while. Pure, like `ratelimit`.

use serde::{Deserialize, Serialize};

/// How many failures an address may make, in what window, and how long it is then
/// refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed per window; 0 turns throttling off.
    pub max_failures: u32,
    /// Window length, ms.
    pub window_ms: u64,
    /// How long an address is refused once past the limit, ms.
    pub block_ms: u64,
}

impl Default for ThrottlePolicy {
    /// 30 failures a minute, then 5 minutes refused.
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 30,
            window_ms: 60_000,
            block_ms: 300_000,
        }
    }
}

/// What is stored per address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failures {
    /// Start of the current window, ms.
    pub window_start_ms: u64,
    /// Failures in it.
    pub count: u32,
    /// Refused until, ms (0: not refused).
    pub blocked_until_ms: u64,
}

impl Failures {
    /// When the address is refused at `now_ms`, until when.
    pub fn blocked_until(&self, now_ms: u64) -> Option<u64> {
        (now_ms < self.blocked_until_ms).then_some(self.blocked_until_ms)
    }

    /// Counts one failure; the address is refused once it has made more than
    /// `max_failures` in one window.
    pub fn record(&self, policy: &ThrottlePolicy, now_ms: u64) -> Failures {
        if policy.max_failures == 0 {
            return *self;
        }
        let mut next = *self;
        if now_ms >= self.window_start_ms.saturating_add(policy.window_ms) || self.count == 0 {
            next.window_start_ms = now_ms;
            next.count = 0;
        }
        next.count = next.count.saturating_add(1);
        if next.count > policy.max_failures && next.blocked_until(now_ms).is_none() {
            next.blocked_until_ms = now_ms.saturating_add(policy.block_ms);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn the_failure_past_the_limit_blocks() {
        let policy = ThrottlePolicy {
            max_failures: 3,
            window_ms: 60_000,
            block_ms: 300_000,
        };
        let mut f = Failures::default();
        for i in 0..3 {
            f = f.record(&policy, T0 + i);
            assert_eq!(f.blocked_until(T0 + i), None, "failure {}", i + 1);
        }
        f = f.record(&policy, T0 + 10);
        assert_eq!(f.blocked_until(T0 + 10), Some(T0 + 10 + 300_000));
        assert_eq!(f.blocked_until(T0 + 10 + 299_999), Some(T0 + 300_010));
        assert_eq!(f.blocked_until(T0 + 10 + 300_000), None);
    }

    #[test]
    fn failures_in_separate_windows_do_not_add_up() {
        let policy = ThrottlePolicy {
            max_failures: 2,
            window_ms: 1000,
            block_ms: 5000,
        };
        let mut f = Failures::default();
        for i in 0..10 {
            f = f.record(&policy, T0 + i * 600);
            assert_eq!(f.blocked_until(T0 + i * 600), None);
        }
    }

    #[test]
    fn zero_turns_throttling_off() {
        let policy = ThrottlePolicy {
            max_failures: 0,
            ..ThrottlePolicy::default()
        };
        let mut f = Failures::default();
        for i in 0..100 {
            f = f.record(&policy, T0 + i);
        }
        assert_eq!(f.blocked_until(T0 + 100), None);
    }
}
