//! A key's usage history: requests per hour for the last 48 hours and per day for the
//! last 90 days, admitted, forbidden (403) and rate-limited (429) apart. Pure and
//! bounded: the guard records each decided request at `now_ms` and stores the history in
//! the same write as the counters.
//!
//! Buckets are kept sparse (only periods that saw a request), newest last, each as
//! `[period, admitted, forbidden, rateLimited]` where `period` is `now_ms / period_ms`
//! (hours and UTC days since the epoch). A bucket older than the window is dropped when
//! the next request is recorded, so neither list ever holds more than its window.
//!
//! Stored in two parts: the open periods (the newest hour and day, which every request
//! changes) beside the counters, and the closed ones (which change only when a new hour
//! or day begins) apart, so that a request writes a few bytes, not up to 138 buckets.

use crate::base::timestamp::Timestamp;
use crate::policy::ratelimit::{push_decimal, push_optional, Counters, DAY_MS, HOUR_MS};
use serde::{Deserialize, Serialize};

/// Hours kept.
pub const HOURS_KEPT: u64 = 48;
/// Days kept.
pub const DAYS_KEPT: u64 = 90;

/// How a request was decided, for the history. Requests refused before the key proved
/// itself (401) are not a key's usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Let through.
    Admitted,
    /// 403: a scope is missing.
    Forbidden,
    /// 429: a window is spent.
    RateLimited,
}

/// One period's counts: `[period, admitted, forbidden, rateLimited]` on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket(u64, u32, u32, u32);

impl Bucket {
    fn add(&mut self, outcome: Outcome) {
        let count = match outcome {
            Outcome::Admitted => &mut self.1,
            Outcome::Forbidden => &mut self.2,
            Outcome::RateLimited => &mut self.3,
        };
        *count = count.saturating_add(1);
    }
}

/// The hourly and daily series of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageHistory {
    /// Per hour, newest last; at most [`HOURS_KEPT`].
    #[serde(default)]
    hourly: Vec<Bucket>,
    /// Per UTC day, newest last; at most [`DAYS_KEPT`].
    #[serde(default)]
    daily: Vec<Bucket>,
}

/// One period as `GET /v1/api-keys/{id}/usage` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageBucketView {
    /// The period's start.
    pub start: Timestamp,
    /// Requests let through.
    pub admitted: u32,
    /// Requests refused with 403.
    pub forbidden: u32,
    /// Requests refused with 429.
    pub rate_limited: u32,
}

fn record(buckets: &mut Vec<Bucket>, period_ms: u64, kept: u64, outcome: Outcome, now_ms: u64) {
    let period = now_ms / period_ms;
    buckets.retain(|b| b.0 + kept > period);
    match buckets.last_mut() {
        // A clock that stepped back counts into the newest period: never out of order.
        Some(last) if last.0 >= period => last.add(outcome),
        _ => {
            let mut bucket = Bucket(period, 0, 0, 0);
            bucket.add(outcome);
            buckets.push(bucket);
        }
    }
}

/// `[]` or `[[period,admitted,forbidden,rateLimited]]` for the newest bucket.
fn push_last(out: &mut String, buckets: &[Bucket]) {
    out.push('[');
    if let Some(Bucket(period, admitted, forbidden, limited)) = buckets.last() {
        out.push('[');
        push_decimal(out, *period);
        for count in [admitted, forbidden, limited] {
            out.push(',');
            push_decimal(out, u64::from(*count));
        }
        out.push(']');
    }
    out.push(']');
}

/// Every period of the window ending with the one holding `now_ms`, oldest first,
/// empty ones as zeros.
fn dense(buckets: &[Bucket], period_ms: u64, kept: u64, now_ms: u64) -> Vec<UsageBucketView> {
    let newest = now_ms / period_ms;
    let oldest = (newest + 1).saturating_sub(kept);
    (oldest..=newest)
        .map(|period| {
            let b = buckets
                .iter()
                .find(|b| b.0 == period)
                .copied()
                .unwrap_or_default();
            UsageBucketView {
                start: Timestamp(period * period_ms),
                admitted: b.1,
                forbidden: b.2,
                rate_limited: b.3,
            }
        })
        .collect()
}

impl UsageHistory {
    /// Counts one request decided at `now_ms`.
    pub fn record(&mut self, outcome: Outcome, now_ms: u64) {
        record(&mut self.hourly, HOUR_MS, HOURS_KEPT, outcome, now_ms);
        record(&mut self.daily, DAY_MS, DAYS_KEPT, outcome, now_ms);
    }

    /// The newest hour's and day's periods: while they stay the same, only the open
    /// periods change and the closed part need not be stored again.
    pub fn newest_periods(&self) -> (Option<u64>, Option<u64>) {
        (
            self.hourly.last().map(|b| b.0),
            self.daily.last().map(|b| b.0),
        )
    }

    /// The closed periods: every one but the newest hour and the newest day.
    pub fn closed(&self) -> UsageHistory {
        let all_but_last = |b: &[Bucket]| b[..b.len().saturating_sub(1)].to_vec();
        UsageHistory {
            hourly: all_but_last(&self.hourly),
            daily: all_but_last(&self.daily),
        }
    }

    /// The open periods stored beside the counters, joined with the `closed` ones stored
    /// apart. Open periods that hold every period (as meters stored before the split
    /// did) join as they are.
    pub fn joined(open: UsageHistory, closed: UsageHistory) -> UsageHistory {
        fn join(closed: Vec<Bucket>, open: Vec<Bucket>) -> Vec<Bucket> {
            let first_open = open.first().map_or(u64::MAX, |b| b.0);
            let mut all: Vec<Bucket> = closed.into_iter().filter(|b| b.0 < first_open).collect();
            all.extend(open);
            all
        }
        UsageHistory {
            hourly: join(closed.hourly, open.hourly),
            daily: join(closed.daily, open.daily),
        }
    }

    /// The open periods alone.
    #[cfg(test)]
    pub(crate) fn open(&self) -> UsageHistory {
        let last = |b: &[Bucket]| b.last().copied().into_iter().collect();
        UsageHistory {
            hourly: last(&self.hourly),
            daily: last(&self.daily),
        }
    }

    /// The open periods as `serde_json` writes a history holding only them.
    pub(crate) fn push_open_json(&self, out: &mut String) {
        out.push_str("{\"hourly\":");
        push_last(out, &self.hourly);
        out.push_str(",\"daily\":");
        push_last(out, &self.daily);
        out.push('}');
    }

    /// The last [`HOURS_KEPT`] hours at `now_ms`, oldest first.
    pub fn hourly(&self, now_ms: u64) -> Vec<UsageBucketView> {
        dense(&self.hourly, HOUR_MS, HOURS_KEPT, now_ms)
    }

    /// The last [`DAYS_KEPT`] UTC days at `now_ms`, oldest first.
    pub fn daily(&self, now_ms: u64) -> Vec<UsageBucketView> {
        dense(&self.daily, DAY_MS, DAYS_KEPT, now_ms)
    }
}

/// Usage kept beside the counters, stored in the same write.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meter {
    /// The rate-limit windows.
    pub counters: Counters,
    /// Every admitted request.
    pub total: u64,
    /// The last admitted request, ms.
    pub last_used_ms: Option<u64>,
    /// When a directory entry was last handed out, ms.
    pub synced_ms: Option<u64>,
    /// Requests per hour (48 h) and per day (90 days), admitted and refused apart.
    #[serde(default)]
    pub history: UsageHistory,
}

impl Meter {
    /// The meter as stored on every decided request: as `serde_json` writes it, with
    /// only the history's open periods (the closed ones, `UsageHistory::closed`, are
    /// stored apart when they change), and without serde: it is the request path's one
    /// write.
    pub fn to_stored_json(&self) -> String {
        let mut out = String::with_capacity(200);
        out.push_str("{\"counters\":");
        self.counters.push_json(&mut out);
        out.push_str(",\"total\":");
        push_decimal(&mut out, self.total);
        out.push_str(",\"lastUsedMs\":");
        push_optional(&mut out, self.last_used_ms);
        out.push_str(",\"syncedMs\":");
        push_optional(&mut out, self.synced_ms);
        out.push_str(",\"history\":");
        self.history.push_open_json(&mut out);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod stored_meter {
        use super::*;
        use proptest::prelude::*;

        /// A meter after `steps` requests, each `(ms after the last, outcome)`.
        fn meter_after(steps: &[(u64, u8)], total: u64, synced: Option<u64>) -> Meter {
            let mut meter = Meter {
                total,
                synced_ms: synced,
                ..Meter::default()
            };
            let mut now = 1_769_076_000_000;
            for (gap, outcome) in steps {
                now += gap;
                let outcome = match outcome % 3 {
                    0 => Outcome::Admitted,
                    1 => Outcome::Forbidden,
                    _ => Outcome::RateLimited,
                };
                meter.history.record(outcome, now);
                meter.counters.hour.used = meter.counters.hour.used.wrapping_add(1);
                meter.counters.hour.start_ms.get_or_insert(now);
                meter.last_used_ms = Some(now);
            }
            meter
        }

        proptest! {
            #[test]
            fn the_stored_meter_is_serde_json_of_its_open_periods_and_joins_back_whole(
                steps in proptest::collection::vec((0u64..30 * 3_600_000, any::<u8>()), 0..120),
                total in any::<u64>(),
                synced in proptest::option::of(any::<u64>()),
            ) {
                let meter = meter_after(&steps, total, synced);
                let stored = meter.to_stored_json();
                let open = Meter { history: meter.history.open(), ..meter.clone() };
                prop_assert_eq!(&stored, &serde_json::to_string(&open).expect("serialises"));
                let mut read: Meter = serde_json::from_str(&stored).expect("reads back");
                read.history = UsageHistory::joined(read.history, meter.history.closed());
                prop_assert_eq!(read, meter);
            }
        }

        #[test]
        fn a_meter_stored_whole_before_the_split_reads_whole() {
            let steps: Vec<(u64, u8)> = (0..300).map(|i| (3_600_000 / 3, i as u8)).collect();
            let meter = meter_after(&steps, 300, None);
            assert!(meter.history.closed().newest_periods() != (None, None));
            let old_row = serde_json::to_string(&meter).expect("serialises");
            let mut read: Meter = serde_json::from_str(&old_row).expect("reads back");
            read.history = UsageHistory::joined(read.history, UsageHistory::default());
            assert_eq!(read, meter);
        }

        #[test]
        fn the_closed_part_changes_only_when_a_new_hour_or_day_begins() {
            let mut history = UsageHistory::default();
            let t0 = 1_769_076_000_000;
            history.record(Outcome::Admitted, t0);
            let (periods, closed) = (history.newest_periods(), history.closed());
            history.record(Outcome::Forbidden, t0 + 3_599_999);
            assert_eq!(history.newest_periods(), periods);
            assert_eq!(history.closed(), closed);
            history.record(Outcome::Admitted, t0 + 3_600_000);
            assert_ne!(history.newest_periods(), periods);
            assert_ne!(history.closed(), closed);
        }
    }

    /// 2026-01-22T10:00:00Z: the start of an hour.
    const T0: u64 = 1_769_076_000_000;

    fn totals(buckets: &[UsageBucketView]) -> (u32, u32, u32) {
        buckets.iter().fold((0, 0, 0), |(a, f, r), b| {
            (a + b.admitted, f + b.forbidden, r + b.rate_limited)
        })
    }

    #[test]
    fn outcomes_are_counted_apart_in_the_current_hour_and_day() {
        let mut history = UsageHistory::default();
        history.record(Outcome::Admitted, T0);
        history.record(Outcome::Admitted, T0 + 1);
        history.record(Outcome::Forbidden, T0 + 2);
        history.record(Outcome::RateLimited, T0 + 3);
        let hourly = history.hourly(T0 + 4);
        assert_eq!(hourly.len(), 48);
        let last = hourly[47];
        assert_eq!(last.start, Timestamp(T0));
        assert_eq!(
            (last.admitted, last.forbidden, last.rate_limited),
            (2, 1, 1)
        );
        assert_eq!(totals(&hourly[..47]), (0, 0, 0));
        let daily = history.daily(T0 + 4);
        assert_eq!(daily.len(), 90);
        assert_eq!(daily[89].start, Timestamp(T0 / DAY_MS * DAY_MS));
        assert_eq!(totals(&daily), (2, 1, 1));
    }

    #[test]
    fn an_hour_starts_exactly_at_its_boundary() {
        let mut history = UsageHistory::default();
        history.record(Outcome::Admitted, T0 + HOUR_MS - 1);
        history.record(Outcome::Admitted, T0 + HOUR_MS);
        let hourly = history.hourly(T0 + HOUR_MS);
        assert_eq!((hourly[46].start, hourly[46].admitted), (Timestamp(T0), 1));
        assert_eq!(
            (hourly[47].start, hourly[47].admitted),
            (Timestamp(T0 + HOUR_MS), 1)
        );
    }

    #[test]
    fn a_period_leaves_the_window_exactly_when_it_is_48_hours_or_90_days_old() {
        let mut history = UsageHistory::default();
        history.record(Outcome::Admitted, T0);
        // 1 ms before the 48th hour after T0's ends: T0's hour is the oldest shown.
        let edge = T0 + HOURS_KEPT * HOUR_MS - 1;
        assert_eq!(history.hourly(edge)[0].admitted, 1);
        assert_eq!(totals(&history.hourly(edge + 1)), (0, 0, 0));
        let day_start = T0 / DAY_MS * DAY_MS;
        let day_edge = day_start + DAYS_KEPT * DAY_MS - 1;
        assert_eq!(history.daily(day_edge)[0].admitted, 1);
        assert_eq!(totals(&history.daily(day_edge + 1)), (0, 0, 0));
    }

    #[test]
    fn the_history_stays_bounded_whatever_the_traffic() {
        let mut history = UsageHistory::default();
        // A request every 7 minutes for 200 days, stepped by hand.
        let step = 7 * 60_000;
        let mut now = T0;
        while now < T0 + 200 * DAY_MS {
            history.record(Outcome::Admitted, now);
            now += step;
        }
        assert!(history.hourly.len() as u64 <= HOURS_KEPT);
        assert!(history.daily.len() as u64 <= DAYS_KEPT);
        assert_eq!(history.hourly.len() as u64, HOURS_KEPT);
        // Every shown hour is full and every shown day too (but the current ones).
        let hourly = history.hourly(now);
        assert!(hourly[..47].iter().all(|b| b.admitted >= 8));
        assert!(history.daily(now)[..89].iter().all(|b| b.admitted >= 205));
    }

    #[test]
    fn a_clock_that_steps_back_counts_into_the_newest_period() {
        let mut history = UsageHistory::default();
        history.record(Outcome::Admitted, T0 + HOUR_MS);
        history.record(Outcome::Forbidden, T0);
        assert_eq!(history.hourly.len(), 1);
        let last = history.hourly(T0 + HOUR_MS)[47];
        assert_eq!((last.admitted, last.forbidden), (1, 1));
    }

    #[test]
    fn stored_form_is_compact_and_reads_back() {
        let mut history = UsageHistory::default();
        history.record(Outcome::RateLimited, T0);
        let text = serde_json::to_string(&history).expect("serialise");
        let hour = T0 / HOUR_MS;
        let day = T0 / DAY_MS;
        assert_eq!(
            text,
            format!(r#"{{"hourly":[[{hour},0,0,1]],"daily":[[{day},0,0,1]]}}"#)
        );
        let back: UsageHistory = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, history);
        let empty: UsageHistory = serde_json::from_str("{}").expect("older meters have none");
        assert_eq!(empty, UsageHistory::default());
    }
}
