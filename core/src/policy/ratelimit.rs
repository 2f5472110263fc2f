//! Rate-limit math: pure functions of (policy, stored counters, now).
//!
//! Three windows guard every key: an hourly and a daily fixed window, each starting at
//! the first request after the previous one ended (GitHub's model), and a burst token
//! bucket holding `burst` tokens refilled at `burst` per second. A request is admitted
//! only if every window admits it; then all are committed together. A refused request
//! changes nothing.

use core::num::NonZeroU32;
use serde::{Deserialize, Serialize};

/// One hour, in ms.
pub const HOUR_MS: u64 = 3_600_000;
/// One day, in ms.
pub const DAY_MS: u64 = 86_400_000;
const MILLI: u64 = 1000;

/// A key's limits. None can be zero: a policy that admits nothing cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Requests per hour.
    pub hourly: NonZeroU32,
    /// Requests per day, or none.
    pub daily: Option<NonZeroU32>,
    /// Bucket capacity; the bucket refills at this many tokens per second.
    pub burst: NonZeroU32,
}

impl Policy {
    /// A policy from plain numbers; `None` when any of them is zero.
    pub const fn new(hourly: u32, daily: Option<u32>, burst: u32) -> Option<Policy> {
        let (Some(hourly), Some(burst)) = (NonZeroU32::new(hourly), NonZeroU32::new(burst)) else {
            return None;
        };
        let daily = match daily {
            None => None,
            Some(n) => match NonZeroU32::new(n) {
                Some(n) => Some(n),
                None => return None,
            },
        };
        Some(Policy {
            hourly,
            daily,
            burst,
        })
    }
}

/// A fixed window as stored: when it started and how many requests it admitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, ms since the epoch; `None` before the first request.
    pub start_ms: Option<u64>,
    /// Requests admitted in it.
    pub used: u32,
}

/// The burst bucket as stored, in thousandths of a token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Tokens × 1000 at `at_ms`; `None` means full (never used).
    pub milli_tokens: Option<u64>,
    /// When `milli_tokens` was measured.
    pub at_ms: u64,
}

/// Everything stored about a key's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// The hourly window.
    pub hour: Window,
    /// The daily window.
    pub day: Window,
    /// The burst bucket.
    pub bucket: Bucket,
}

/// One window's state as a client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStatus {
    /// The quota.
    pub limit: u32,
    /// Requests left in it.
    pub remaining: u32,
    /// When it resets (the burst bucket: when it is full again), ms since the epoch.
    pub reset_ms: u64,
}

/// Every window's state, for the headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Hourly window.
    pub hour: WindowStatus,
    /// Daily window, when the policy has one.
    pub day: Option<WindowStatus>,
    /// Burst bucket.
    pub burst: WindowStatus,
}

/// Which window refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// The hourly quota is spent.
    Hour,
    /// The daily quota is spent.
    Day,
    /// Too many requests in too short a time.
    Burst,
}

/// The decision for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Admitted: store `counters`; `status` is after counting this request.
    Admitted {
        /// The counters to store.
        counters: Counters,
        /// Window states after this request.
        status: Status,
    },
    /// Refused: store nothing.
    Limited {
        /// Window states (unchanged).
        status: Status,
        /// Whole seconds until every window admits a request again (at least 1).
        retry_after_s: u64,
        /// The window that blocks longest.
        blocker: Blocker,
    },
}

struct WindowView {
    start_ms: u64,
    used: u32,
}

fn view(window: Window, len_ms: u64, now_ms: u64) -> WindowView {
    match window.start_ms {
        Some(start) if now_ms < start.saturating_add(len_ms) => WindowView {
            start_ms: start,
            used: window.used,
        },
        // Expired or never used: a new window would start with this request.
        _ => WindowView {
            start_ms: now_ms,
            used: 0,
        },
    }
}

fn window_status(limit: u32, used: u32, start_ms: u64, len_ms: u64) -> WindowStatus {
    WindowStatus {
        limit,
        remaining: limit.saturating_sub(used),
        reset_ms: start_ms.saturating_add(len_ms),
    }
}

fn bucket_now(policy: &Policy, bucket: Bucket, now_ms: u64) -> u64 {
    let capacity = u64::from(policy.burst.get()) * MILLI;
    match bucket.milli_tokens {
        None => capacity,
        Some(tokens) => {
            let elapsed = now_ms.saturating_sub(bucket.at_ms);
            // Refill: `burst` tokens per second = `burst` milli-tokens per ms.
            tokens
                .saturating_add(elapsed.saturating_mul(u64::from(policy.burst.get())))
                .min(capacity)
        }
    }
}

fn burst_status(policy: &Policy, milli_tokens: u64, now_ms: u64) -> WindowStatus {
    let capacity = u64::from(policy.burst.get()) * MILLI;
    let missing = capacity - milli_tokens.min(capacity);
    WindowStatus {
        limit: policy.burst.get(),
        remaining: (milli_tokens / MILLI) as u32,
        reset_ms: now_ms + ms_to_refill(policy, missing),
    }
}

fn ms_to_refill(policy: &Policy, missing_milli: u64) -> u64 {
    missing_milli.div_ceil(u64::from(policy.burst.get()))
}

fn ceil_seconds(ms: u64) -> u64 {
    ms.div_ceil(MILLI).max(1)
}

/// What the windows look like now, without counting a request (for the usage API and
/// for responses that did not reach the counting step).
pub fn status(policy: &Policy, counters: &Counters, now_ms: u64) -> Status {
    let hour = view(counters.hour, HOUR_MS, now_ms);
    let day = view(counters.day, DAY_MS, now_ms);
    Status {
        hour: window_status(policy.hourly.get(), hour.used, hour.start_ms, HOUR_MS),
        day: policy
            .daily
            .map(|limit| window_status(limit.get(), day.used, day.start_ms, DAY_MS)),
        burst: burst_status(policy, bucket_now(policy, counters.bucket, now_ms), now_ms),
    }
}

/// Decides one request: every window is checked, then all are committed together.
pub fn check(policy: &Policy, counters: &Counters, now_ms: u64) -> Outcome {
    let hour = view(counters.hour, HOUR_MS, now_ms);
    let day = view(counters.day, DAY_MS, now_ms);
    let tokens = bucket_now(policy, counters.bucket, now_ms);

    let mut waits: Vec<(u64, Blocker)> = Vec::new();
    if hour.used >= policy.hourly.get() {
        waits.push((hour.start_ms + HOUR_MS - now_ms, Blocker::Hour));
    }
    if let Some(daily) = policy.daily {
        if day.used >= daily.get() {
            waits.push((day.start_ms + DAY_MS - now_ms, Blocker::Day));
        }
    }
    if tokens < MILLI {
        waits.push((ms_to_refill(policy, MILLI - tokens), Blocker::Burst));
    }
    if let Some(&(wait_ms, blocker)) = waits.iter().max_by_key(|(wait, _)| *wait) {
        return Outcome::Limited {
            status: status(policy, counters, now_ms),
            retry_after_s: ceil_seconds(wait_ms),
            blocker,
        };
    }

    let counters = Counters {
        hour: Window {
            start_ms: Some(hour.start_ms),
            used: hour.used + 1,
        },
        day: Window {
            start_ms: Some(day.start_ms),
            used: day.used + 1,
        },
        bucket: Bucket {
            milli_tokens: Some(tokens - MILLI),
            at_ms: now_ms,
        },
    };
    Outcome::Admitted {
        status: status(policy, &counters, now_ms),
        counters,
    }
}

impl Counters {
    /// The stored form, exactly as `serde_json` writes it (so either reads the other),
    /// written without serde or `fmt`: a guard writes it on every admitted request.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(112);
        self.push_json(&mut out);
        out
    }

    pub(crate) fn push_json(&self, out: &mut String) {
        out.push_str("{\"hour\":");
        self.hour.push_json(out);
        out.push_str(",\"day\":");
        self.day.push_json(out);
        out.push_str(",\"bucket\":{\"milli_tokens\":");
        push_optional(out, self.bucket.milli_tokens);
        out.push_str(",\"at_ms\":");
        push_decimal(out, self.bucket.at_ms);
        out.push_str("}}");
    }
}

impl Window {
    fn push_json(&self, out: &mut String) {
        out.push_str("{\"start_ms\":");
        push_optional(out, self.start_ms);
        out.push_str(",\"used\":");
        push_decimal(out, u64::from(self.used));
        out.push('}');
    }
}

pub(crate) fn push_optional(out: &mut String, value: Option<u64>) {
    match value {
        Some(n) => push_decimal(out, n),
        None => out.push_str("null"),
    }
}

pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_window() -> impl Strategy<Value = Window> {
        (proptest::option::of(any::<u64>()), any::<u32>())
            .prop_map(|(start_ms, used)| Window { start_ms, used })
    }

    proptest! {
        #[test]
        fn counters_json_is_serde_json_to_the_byte(
            hour in any_window(),
            day in any_window(),
            milli_tokens in proptest::option::of(any::<u64>()),
            at_ms in any::<u64>(),
        ) {
            let counters = Counters { hour, day, bucket: Bucket { milli_tokens, at_ms } };
            let json = counters.to_json();
            prop_assert_eq!(&json, &serde_json::to_string(&counters).expect("serialises"));
            prop_assert_eq!(serde_json::from_str::<Counters>(&json).expect("reads back"), counters);
        }
    }

    #[test]
    fn counters_json_edges() {
        let counters = Counters {
            hour: Window {
                start_ms: Some(0),
                used: u32::MAX,
            },
            day: Window::default(),
            bucket: Bucket {
                milli_tokens: Some(u64::MAX),
                at_ms: 10,
            },
        };
        assert_eq!(
            counters.to_json(),
            r#"{"hour":{"start_ms":0,"used":4294967295},"day":{"start_ms":null,"used":0},"bucket":{"milli_tokens":18446744073709551615,"at_ms":10}}"#
        );
    }

    const T0: u64 = 1_700_000_000_000;

    fn policy(hourly: u32, daily: Option<u32>, burst: u32) -> Policy {
        Policy::new(hourly, daily, burst).expect("non-zero limits")
    }

    /// Runs `n` requests at `now`, returning the counters and how many were admitted.
    fn run(p: &Policy, mut c: Counters, now: u64, n: u32) -> (Counters, u32) {
        let mut admitted = 0;
        for _ in 0..n {
            if let Outcome::Admitted { counters, .. } = check(p, &c, now) {
                c = counters;
                admitted += 1;
            }
        }
        (c, admitted)
    }

    #[test]
    fn first_request_leaves_limit_minus_one() {
        let p = policy(1000, Some(10_000), 50);
        let Outcome::Admitted { status, .. } = check(&p, &Counters::default(), T0) else {
            panic!("first request must be admitted");
        };
        assert_eq!(status.hour.remaining, 999);
        assert_eq!(status.hour.reset_ms, T0 + HOUR_MS);
        assert_eq!(status.day.map(|d| d.remaining), Some(9_999));
        assert_eq!(status.burst.remaining, 49);
    }

    #[test]
    fn hourly_limit_edges() {
        let p = policy(5, None, 1000);
        let (c, admitted) = run(&p, Counters::default(), T0, 4);
        assert_eq!(admitted, 4);
        // limit − 1 used: one more is admitted; at the limit: refused.
        let Outcome::Admitted { counters, status } = check(&p, &c, T0 + 1) else {
            panic!("request at limit − 1 must pass");
        };
        assert_eq!(status.hour.remaining, 0);
        let refused = check(&p, &counters, T0 + 2);
        assert_eq!(
            refused,
            Outcome::Limited {
                status: status_of(&p, &counters, T0 + 2),
                retry_after_s: 3600,
                blocker: Blocker::Hour,
            }
        );
        // Window end − 1 ms: still refused, 1 s to wait; at the window end: a new window.
        let Outcome::Limited { retry_after_s, .. } = check(&p, &counters, T0 + HOUR_MS - 1) else {
            panic!("refused until the window ends");
        };
        assert_eq!(retry_after_s, 1);
        let Outcome::Admitted { status, .. } = check(&p, &counters, T0 + HOUR_MS) else {
            panic!("a new window starts at the old one's end");
        };
        assert_eq!(status.hour.remaining, 4);
        assert_eq!(status.hour.reset_ms, T0 + 2 * HOUR_MS);
    }

    fn status_of(p: &Policy, c: &Counters, now: u64) -> Status {
        status(p, c, now)
    }

    #[test]
    fn window_starts_at_first_request_after_the_previous_ended() {
        let p = policy(10, None, 100);
        let (c, _) = run(&p, Counters::default(), T0, 1);
        let later = T0 + HOUR_MS + 5 * 60_000;
        let Outcome::Admitted { counters, .. } = check(&p, &c, later) else {
            panic!("admitted");
        };
        assert_eq!(counters.hour.start_ms, Some(later));
        assert_eq!(counters.hour.used, 1);
    }

    #[test]
    fn daily_limit_blocks_across_hours() {
        let p = policy(10, Some(15), 100);
        let (c, a1) = run(&p, Counters::default(), T0, 10);
        let (c, a2) = run(&p, c, T0 + HOUR_MS, 10);
        assert_eq!((a1, a2), (10, 5));
        let Outcome::Limited {
            blocker,
            retry_after_s,
            ..
        } = check(&p, &c, T0 + HOUR_MS + 1)
        else {
            panic!("day spent");
        };
        assert_eq!(blocker, Blocker::Day);
        assert_eq!(retry_after_s, (DAY_MS - HOUR_MS - 1).div_ceil(1000));
    }

    #[test]
    fn burst_bucket_refills_at_burst_per_second() {
        let p = policy(1000, None, 10);
        let (c, admitted) = run(&p, Counters::default(), T0, 15);
        assert_eq!(admitted, 10);
        let Outcome::Limited {
            blocker,
            retry_after_s,
            ..
        } = check(&p, &c, T0)
        else {
            panic!("bucket empty");
        };
        assert_eq!((blocker, retry_after_s), (Blocker::Burst, 1));
        // One token takes 100 ms at 10/s: refused at 99 ms, admitted at 100 ms.
        assert!(matches!(check(&p, &c, T0 + 99), Outcome::Limited { .. }));
        assert!(matches!(check(&p, &c, T0 + 100), Outcome::Admitted { .. }));
        let (_, later) = run(&p, c, T0 + 1000, 15);
        assert_eq!(later, 10);
    }

    #[test]
    fn a_zero_limit_cannot_be_built() {
        assert_eq!(Policy::new(0, None, 1), None);
        assert_eq!(Policy::new(1, Some(0), 1), None);
        assert_eq!(Policy::new(1, None, 0), None);
        assert!(serde_json::from_str::<Policy>(r#"{"hourly":0,"daily":null,"burst":1}"#).is_err());
        let one = policy(1, Some(1), 1);
        assert!(matches!(
            check(&one, &Counters::default(), T0),
            Outcome::Admitted { .. }
        ));
    }

    proptest! {
        #[test]
        fn never_more_than_the_limit_in_a_window(
            hourly in 1u32..50, burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..120_000, 1..400),
        ) {
            let p = policy(hourly, None, burst);
            let mut c = Counters::default();
            let mut now = T0;
            let mut admitted_at: Vec<u64> = Vec::new();
            for gap in gaps {
                now += gap;
                if let Outcome::Admitted { counters, .. } = check(&p, &c, now) {
                    c = counters;
                    admitted_at.push(now);
                }
            }
            // Each window holds at most `hourly` admissions.
            let mut start = None;
            let mut count = 0u32;
            for &t in &admitted_at {
                match start {
                    Some(s) if t < s + HOUR_MS => count += 1,
                    _ => { start = Some(t); count = 1; }
                }
                prop_assert!(count <= hourly);
            }
        }

        #[test]
        fn a_refused_request_changes_nothing(
            hourly in 1u32..5, burst in 1u32..5, n in 0u32..10, dt in 0u64..2000,
        ) {
            let p = policy(hourly, Some(hourly + 1), burst);
            let (c, _) = run(&p, Counters::default(), T0, n);
            if let Outcome::Limited { retry_after_s, status, .. } = check(&p, &c, T0 + dt) {
                // Nothing was spent: the windows shown are those of the stored counters,
                // and no counters come back to be stored.
                prop_assert_eq!(status, super::status(&p, &c, T0 + dt));
                prop_assert!(retry_after_s >= 1);
                // After waiting the advertised time, the request is admitted.
                let wait = T0 + dt + retry_after_s * 1000;
                let admitted = matches!(check(&p, &c, wait), Outcome::Admitted { .. });
                prop_assert!(admitted);
            }
        }
    }
}
