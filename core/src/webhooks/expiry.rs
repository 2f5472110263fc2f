//! When a key's expiry is announced: `api_key.expiring` 7 days and 1 day before its
//! `expiresAt`, `api_key.expired` at it. Each milestone is announced when it is crossed
//! after the key's last change, never for one already behind it then (a key made to
//! expire in three days is announced one day before and at expiry, not at once as
//! "seven days"). The organization's guard keeps each key's next milestone and its
//! alarm wakes for it.

use crate::webhooks::event::EventType;
use serde::{Deserialize, Serialize};

/// A day, in ms.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Which milestone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Milestone {
    /// 7 days before expiry.
    SevenDays,
    /// 1 day before expiry.
    OneDay,
    /// At expiry.
    Expired,
}

impl Milestone {
    const ALL: [Milestone; 3] = [Milestone::SevenDays, Milestone::OneDay, Milestone::Expired];

    /// When it is, for a key expiring at `expires_ms`.
    pub fn at(self, expires_ms: u64) -> u64 {
        match self {
            Milestone::SevenDays => expires_ms.saturating_sub(7 * DAY_MS),
            Milestone::OneDay => expires_ms.saturating_sub(DAY_MS),
            Milestone::Expired => expires_ms,
        }
    }

    /// The event it sends.
    pub fn event(self) -> EventType {
        match self {
            Milestone::SevenDays | Milestone::OneDay => EventType::ApiKeyExpiring,
            Milestone::Expired => EventType::ApiKeyExpired,
        }
    }

    /// Its name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::SevenDays => "sevenDays",
            Milestone::OneDay => "oneDay",
            Milestone::Expired => "expired",
        }
    }

    /// The milestone named `name`.
    pub fn parse(name: &str) -> Option<Milestone> {
        Milestone::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// The first milestone strictly after `now_ms` of a key expiring at `expires_ms`, and
/// when it is; `None` once it has expired.
pub fn next_milestone(expires_ms: u64, now_ms: u64) -> Option<(Milestone, u64)> {
    Milestone::ALL
        .into_iter()
        .map(|m| (m, m.at(expires_ms)))
        .find(|&(_, at)| at > now_ms)
}

/// After `reached` was announced: the next milestone still ahead at `now_ms`. An alarm
/// that ran late announces only the latest milestone it passed (see
/// [`due_milestone`]), so a key is never told "7 days" after it expired.
pub fn after(reached: Milestone, expires_ms: u64, now_ms: u64) -> Option<(Milestone, u64)> {
    next_milestone(expires_ms, now_ms).filter(|&(m, _)| m.at(expires_ms) > reached.at(expires_ms))
}

/// The milestone to announce when the alarm finds `scheduled` due at `now_ms`: the
/// latest one passed by then (an alarm late past the expiry says expired, not expiring).
pub fn due_milestone(scheduled: Milestone, expires_ms: u64, now_ms: u64) -> Milestone {
    Milestone::ALL
        .into_iter()
        .rev()
        .find(|m| m.at(expires_ms) <= now_ms && m.at(expires_ms) >= scheduled.at(expires_ms))
        .unwrap_or(scheduled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: u64 = 100 * DAY_MS;

    #[test]
    fn milestones_are_seven_days_one_day_and_expiry() {
        assert_eq!(
            next_milestone(E, 0),
            Some((Milestone::SevenDays, E - 7 * DAY_MS))
        );
        assert_eq!(
            next_milestone(E, E - 3 * DAY_MS),
            Some((Milestone::OneDay, E - DAY_MS))
        );
        assert_eq!(next_milestone(E, E - 1), Some((Milestone::Expired, E)));
        assert_eq!(next_milestone(E, E), None);
        assert_eq!(Milestone::OneDay.event(), EventType::ApiKeyExpiring);
        assert_eq!(Milestone::Expired.event(), EventType::ApiKeyExpired);
        for m in Milestone::ALL {
            assert_eq!(Milestone::parse(m.as_str()), Some(m));
        }
    }

    #[test]
    fn each_is_announced_once_in_order() {
        let seven = E - 7 * DAY_MS;
        assert_eq!(
            after(Milestone::SevenDays, E, seven),
            Some((Milestone::OneDay, E - DAY_MS))
        );
        assert_eq!(
            after(Milestone::OneDay, E, E - DAY_MS),
            Some((Milestone::Expired, E))
        );
        assert_eq!(after(Milestone::Expired, E, E), None);
    }

    #[test]
    fn a_late_alarm_announces_only_the_latest_milestone_passed() {
        assert_eq!(
            due_milestone(Milestone::SevenDays, E, E - 7 * DAY_MS),
            Milestone::SevenDays
        );
        assert_eq!(
            due_milestone(Milestone::SevenDays, E, E - DAY_MS + 5),
            Milestone::OneDay
        );
        assert_eq!(
            due_milestone(Milestone::SevenDays, E, E + 5),
            Milestone::Expired
        );
        assert_eq!(after(Milestone::Expired, E, E + 5), None);
        assert_eq!(
            after(Milestone::OneDay, E, E - DAY_MS + 5),
            Some((Milestone::Expired, E))
        );
    }
}
