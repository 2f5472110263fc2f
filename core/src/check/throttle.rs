//! Brute-force throttling: failed authentications counted per client address in a fixed
//! window; past the limit the address is refused for a while. Pure, like `ratelimit`.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};

/// The throttle bucket of a client address: an IPv4 address as it is, an IPv6 address
/// by its /64 prefix (one subscriber usually holds a whole /64, so exact IPv6 addresses
/// cost an attacker nothing to vary), an IPv4-mapped IPv6 address as its IPv4 address.
/// Text that is not an address (never from Cloudflare) is its own bucket, at most 64
/// bytes of it.
pub fn address_bucket(address: &str) -> String {
    let trimmed = address.trim();
    match trimmed.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
        Err(_) => trimmed.chars().take(64).collect(),
    }
}

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

/// Key ids remembered per address bucket as having worked from it.
pub const ADMITTED_KEYS_PER_BUCKET: usize = 16;

/// What one isolate knows about one address bucket.
#[derive(Clone, Debug, Default)]
struct Local {
    /// Failures this isolate saw (its own window), and the block it knows of.
    failures: Failures,
    /// Distinct credentials (by fingerprint) being checked right now, with how many
    /// requests carry each: a client sending one key many times at once is one guess.
    in_flight: HashMap<u64, u32>,
    /// Key ids that authenticated from this bucket, newest last.
    admitted: VecDeque<String>,
    /// When this entry was last made new or blocked: its place in the eviction order.
    seq: u64,
}

/// Why a request from a bucket is refused before its guard is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The bucket is blocked until this instant (ms).
    Blocked(u64),
    /// Too many guesses in flight and failed already: retry after this many ms.
    Busy(u64),
}

/// One isolate's memory of address buckets: blocks, failures, guesses in flight and
/// keys that worked. Bounded: past `capacity` buckets the oldest (least recently made
/// or blocked) is forgotten, never a new one refused. Pure: the caller gives the time.
#[derive(Debug)]
pub struct LocalThrottle {
    capacity: usize,
    entries: HashMap<String, Local>,
    /// Buckets in the order they were made or blocked; stale pairs (whose `seq` no
    /// longer matches) are skipped.
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    /// The latest instant any bucket was blocked until (0: none ever was). Lets the
    /// request path skip reading a malformed credential's address while no block can
    /// apply.
    latest_block_until_ms: u64,
}

impl LocalThrottle {
    /// A memory of at most `capacity` buckets (at least 1).
    pub fn new(capacity: usize) -> LocalThrottle {
        LocalThrottle {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            latest_block_until_ms: 0,
        }
    }

    /// Buckets remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The latest instant any bucket was blocked until, forgotten buckets included (0:
    /// none ever was). Before it passes, no address can be refused here: the request
    /// path then need not read a malformed credential's address (or the clock).
    pub fn latest_block_until_ms(&self) -> u64 {
        self.latest_block_until_ms
    }

    /// When `bucket` is known to be blocked at `now_ms`, until when.
    pub fn blocked_until(&self, bucket: &str, now_ms: u64) -> Option<u64> {
        self.entries
            .get(bucket)
            .and_then(|e| e.failures.blocked_until(now_ms))
    }

    /// Whether `key_id` has authenticated from `bucket` (and is still remembered).
    pub fn was_admitted(&self, bucket: &str, key_id: &str) -> bool {
        self.entries
            .get(bucket)
            .is_some_and(|e| e.admitted.iter().any(|k| k == key_id))
    }

    /// Asks to check a well-formed credential (`fingerprint` tells credentials apart,
    /// `key_id` is its id) from `bucket`. A key id that worked from this bucket before
    /// is let through even while it is blocked (it is not a new guess). Otherwise the
    /// request is refused while the bucket is blocked, or when the distinct credentials
    /// in flight plus the failures this isolate saw in the window would exceed the
    /// limit; so at most `max_failures + 1` guesses from one bucket reach their guards
    /// per window and isolate, however many arrive at once. On `Ok`, the credential is
    /// counted in flight until [`LocalThrottle::finish`].
    pub fn begin(
        &mut self,
        policy: &ThrottlePolicy,
        bucket: &str,
        key_id: &str,
        fingerprint: u64,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        if policy.max_failures == 0 {
            return Ok(());
        }
        if self.was_admitted(bucket, key_id) {
            return Ok(());
        }
        if let Some(until) = self.blocked_until(bucket, now_ms) {
            return Err(Refusal::Blocked(until));
        }
        let entry = self.entry(bucket);
        let failures = if now_ms
            >= entry
                .failures
                .window_start_ms
                .saturating_add(policy.window_ms)
        {
            0
        } else {
            entry.failures.count
        };
        let in_flight = u32::try_from(entry.in_flight.len()).unwrap_or(u32::MAX);
        let already = entry.in_flight.contains_key(&fingerprint);
        if !already && in_flight.saturating_add(failures) > policy.max_failures {
            return Err(Refusal::Busy(1000));
        }
        *entry.in_flight.entry(fingerprint).or_insert(0) += 1;
        Ok(())
    }

    /// The check that [`LocalThrottle::begin`] let through has answered.
    pub fn finish(&mut self, bucket: &str, fingerprint: u64) {
        if let Some(entry) = self.entries.get_mut(bucket) {
            if let Some(n) = entry.in_flight.get_mut(&fingerprint) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    entry.in_flight.remove(&fingerprint);
                }
            }
        }
    }

    /// `key_id` authenticated from `bucket`: remember it (at most
    /// [`ADMITTED_KEYS_PER_BUCKET`] per bucket, the oldest forgotten first).
    pub fn admitted(&mut self, bucket: &str, key_id: &str) {
        if self.was_admitted(bucket, key_id) {
            return;
        }
        let entry = self.entry(bucket);
        if entry.admitted.len() >= ADMITTED_KEYS_PER_BUCKET {
            entry.admitted.pop_front();
        }
        entry.admitted.push_back(key_id.to_owned());
    }

    /// A failure from `bucket`, counted here; `global_blocked_until_ms` is what the
    /// global count (the bucket's Durable Object) answered, when it is known. Returns
    /// when the bucket is now blocked until, if it is.
    pub fn failed(
        &mut self,
        policy: &ThrottlePolicy,
        bucket: &str,
        global_blocked_until_ms: Option<u64>,
        now_ms: u64,
    ) -> Option<u64> {
        let entry = self.entry(bucket);
        let next = entry.failures.record(policy, now_ms);
        let newly_blocked =
            next.blocked_until(now_ms).is_some() && entry.failures.blocked_until(now_ms).is_none();
        entry.failures = next;
        self.latest_block_until_ms = self.latest_block_until_ms.max(next.blocked_until_ms);
        if newly_blocked {
            // A new block is the newest thing remembered: it is evicted last.
            self.touch(bucket);
        }
        match global_blocked_until_ms {
            Some(until) => self.learn_block(bucket, until, now_ms),
            None => self.blocked_until(bucket, now_ms),
        }
    }

    /// The global count says `bucket` is blocked until `until_ms`. Returns until when it
    /// is now blocked, if it is.
    pub fn learn_block(&mut self, bucket: &str, until_ms: u64, now_ms: u64) -> Option<u64> {
        self.latest_block_until_ms = self.latest_block_until_ms.max(until_ms);
        let entry = self.entry(bucket);
        let was_blocked = entry.failures.blocked_until(now_ms).is_some();
        entry.failures.blocked_until_ms = entry.failures.blocked_until_ms.max(until_ms);
        if !was_blocked && entry.failures.blocked_until(now_ms).is_some() {
            self.touch(bucket);
        }
        self.blocked_until(bucket, now_ms)
    }

    fn touch(&mut self, bucket: &str) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(entry) = self.entries.get_mut(bucket) {
            entry.seq = seq;
            self.order.push_back((seq, bucket.to_owned()));
        }
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order
                .retain(|(seq, b)| entries.get(b).is_some_and(|e| e.seq == *seq));
        }
    }

    fn entry(&mut self, bucket: &str) -> &mut Local {
        if !self.entries.contains_key(bucket) {
            while self.entries.len() >= self.capacity {
                let Some((seq, oldest)) = self.order.pop_front() else {
                    break;
                };
                if self.entries.get(&oldest).is_some_and(|e| e.seq == seq) {
                    self.entries.remove(&oldest);
                }
            }
            self.entries.insert(bucket.to_owned(), Local::default());
            self.touch(bucket);
        }
        self.entries.entry(bucket.to_owned()).or_default()
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
    fn ipv6_is_throttled_by_its_64_prefix_and_ipv4_exactly() {
        for (address, bucket) in [
            ("203.0.113.7", "203.0.113.7"),
            (" 203.0.113.7 ", "203.0.113.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:db8:1:2::", "2001:db8:1:2::/64"),
            (
                "2001:0db8:0001:0002:0000:0000:0000:0001",
                "2001:db8:1:2::/64",
            ),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::1", "::/64"),
            ("::ffff:198.51.100.9", "198.51.100.9"),
            ("not an address", "not an address"),
        ] {
            assert_eq!(address_bucket(address), bucket, "{address}");
        }
        assert_eq!(address_bucket(&"x".repeat(500)).len(), 64);
    }

    const P: ThrottlePolicy = ThrottlePolicy {
        max_failures: 3,
        window_ms: 60_000,
        block_ms: 300_000,
    };

    #[test]
    fn concurrent_guesses_stop_at_the_limit() {
        let mut local = LocalThrottle::new(100);
        // 20 distinct guesses at once: only max_failures + 1 get through.
        let admitted: Vec<u64> = (0..20)
            .filter(|&g| local.begin(&P, "b", &format!("k{g}"), g, T0).is_ok())
            .collect();
        assert_eq!(admitted, vec![0, 1, 2, 3]);
        assert_eq!(
            local.begin(&P, "b", "k99", 99, T0),
            Err(Refusal::Busy(1000))
        );
        // The same credential many times at once is one guess.
        for _ in 0..5 {
            assert!(local.begin(&P, "b", "k0", 0, T0).is_ok());
        }
        // They fail: the bucket is blocked, for every new guess.
        for g in admitted {
            local.finish("b", g);
            local.failed(&P, "b", None, T0 + 1);
        }
        assert_eq!(local.blocked_until("b", T0 + 2), Some(T0 + 1 + 300_000));
        assert_eq!(
            local.begin(&P, "b", "k5", 5, T0 + 2),
            Err(Refusal::Blocked(T0 + 1 + 300_000))
        );
        // Other buckets are unaffected.
        assert!(local.begin(&P, "other", "k5", 5, T0 + 2).is_ok());
    }

    #[test]
    fn the_latest_block_is_remembered_past_its_bucket() {
        let policy = ThrottlePolicy {
            max_failures: 2,
            window_ms: 1000,
            block_ms: 5000,
        };
        let mut local = LocalThrottle::new(1);
        assert_eq!(local.latest_block_until_ms(), 0);
        for _ in 0..3 {
            local.failed(&policy, "a", None, T0);
        }
        let until = local.blocked_until("a", T0).expect("blocked");
        assert_eq!(local.latest_block_until_ms(), until);
        local.learn_block("b", until + 5, T0); // "a" is forgotten (capacity 1)
        assert_eq!(local.blocked_until("a", T0), None);
        assert_eq!(local.latest_block_until_ms(), until + 5);
    }

    #[test]
    fn failures_counted_elsewhere_also_block_here() {
        let mut local = LocalThrottle::new(100);
        assert!(local.begin(&P, "b", "k", 1, T0).is_ok());
        local.finish("b", 1);
        assert_eq!(
            local.failed(&P, "b", Some(T0 + 5_000), T0),
            Some(T0 + 5_000)
        );
        assert_eq!(
            local.begin(&P, "b", "k2", 2, T0 + 1),
            Err(Refusal::Blocked(T0 + 5_000))
        );
        assert!(local.begin(&P, "b", "k2", 2, T0 + 5_000).is_ok());
    }

    #[test]
    fn keys_that_worked_before_the_block_keep_working() {
        let mut local = LocalThrottle::new(100);
        assert!(local.begin(&P, "office", "good", 1, T0).is_ok());
        local.finish("office", 1);
        local.admitted("office", "good");
        for g in 10..14 {
            assert!(local.begin(&P, "office", "guess", g, T0).is_ok());
            local.finish("office", g);
            local.failed(&P, "office", None, T0);
        }
        assert!(local.blocked_until("office", T0).is_some());
        assert!(local.begin(&P, "office", "good", 1, T0).is_ok());
        assert!(local.begin(&P, "office", "new", 20, T0).is_err());
        // Only for the bucket it worked from.
        local.failed(&P, "elsewhere", Some(T0 + 1000), T0);
        assert!(local.begin(&P, "elsewhere", "good", 1, T0).is_err());
        // At most ADMITTED_KEYS_PER_BUCKET ids per bucket, the oldest forgotten first.
        for i in 0..ADMITTED_KEYS_PER_BUCKET {
            local.admitted("office", &format!("k{i}"));
        }
        assert!(!local.was_admitted("office", "good"));
        assert!(local.was_admitted("office", "k0"));
    }

    #[test]
    fn a_full_memory_forgets_the_oldest_never_the_newest() {
        let mut local = LocalThrottle::new(3);
        for b in ["a", "b", "c", "d", "e"] {
            local.failed(&P, b, Some(T0 + 1000), T0);
            assert_eq!(local.blocked_until(b, T0), Some(T0 + 1000), "{b}");
            assert!(local.len() <= 3);
        }
        assert_eq!(local.blocked_until("a", T0), None);
        assert_eq!(local.blocked_until("b", T0), None);
        assert_eq!(local.blocked_until("e", T0), Some(T0 + 1000));
        // A new block refreshes a bucket's place: "c" was blocked again, so "d" goes next.
        if let Some(c) = local.entries.get_mut("c") {
            c.failures = Failures::default();
        }
        local.failed(&P, "c", Some(T0 + 2000), T0);
        local.failed(&P, "f", Some(T0 + 1000), T0);
        assert!(local.blocked_until("c", T0).is_some());
        assert_eq!(local.blocked_until("d", T0), None);
        assert!(local.blocked_until("f", T0).is_some());
        // The order queue stays bounded however often buckets are touched.
        for i in 0..1000 {
            local.admitted(&format!("x{}", i % 7), "k");
        }
        assert!(local.order.len() <= 2 * 3 + 1);
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
