//! The terms a credential's guard holds of the objects its authority derives from: its
//! organization's plan and status, and (for an OAuth grant) the approving key's scopes
//! and life. Each carries its source's revision, so a copy never replaces a newer one
//! (ARCHITECTURE.md, "Derived authority").

use crate::policy::plan::Plan;
use crate::policy::scope::Grants;
use serde::{Deserialize, Serialize};

/// Whether an organization's keys work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgStatus {
    /// Its keys work.
    #[default]
    Active,
    /// Every key of it is refused, admin keys included.
    Suspended,
}

/// How long an organization's keys may live: each secret (a new key's, or a rolled one)
/// expires at most `maxLifetimeDays` after it was issued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPolicy {
    /// 1 to [`MAX_LIFETIME_DAYS`]; none: keys may live for ever.
    pub max_lifetime_days: Option<u16>,
}

/// The longest `maxLifetimeDays` (ten years).
pub const MAX_LIFETIME_DAYS: u16 = 3650;
const DAY_MS: u64 = 86_400_000;

impl KeyPolicy {
    /// The latest expiry a secret issued at `issued_ms` may have, if any is imposed.
    pub fn latest_expiry(&self, issued_ms: u64) -> Option<u64> {
        self.max_lifetime_days
            .map(|days| issued_ms.saturating_add(u64::from(days) * DAY_MS))
    }

    /// Whether a secret issued at `issued_ms` and expiring at `expires_ms` (none: never)
    /// keeps to the policy.
    pub fn allows(&self, issued_ms: u64, expires_ms: Option<u64>) -> bool {
        match (self.latest_expiry(issued_ms), expires_ms) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(latest), Some(at)) => at <= latest,
        }
    }

    /// The expiry a secret issued at `issued_ms` gets when `requested` is asked for: the
    /// latest allowed when none is, `requested` when it is no later; `Err(latest)` when it
    /// is later.
    pub fn expiry(&self, issued_ms: u64, requested: Option<u64>) -> Result<Option<u64>, u64> {
        match (self.latest_expiry(issued_ms), requested) {
            (None, requested) => Ok(requested),
            (Some(latest), None) => Ok(Some(latest)),
            (Some(latest), Some(at)) if at <= latest => Ok(Some(at)),
            (Some(latest), Some(_)) => Err(latest),
        }
    }
}

/// What a key's guard keeps of its organization: all a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgTerms {
    /// Defaults and ceilings of the organization's keys.
    pub plan: Plan,
    /// Suspended organizations' keys are refused.
    pub status: OrgStatus,
    /// How long its keys may live (creation, roll and patch obey it).
    #[serde(default)]
    pub key_policy: KeyPolicy,
    /// The organization record's revision when these terms were taken: a copy never
    /// replaces a newer one, whatever order copies arrive in.
    #[serde(default)]
    pub revision: u64,
}

impl OrgTerms {
    /// Whether these terms replace `held` (none held, or an older revision).
    pub fn supersede(&self, held: Option<&OrgTerms>) -> bool {
        held.is_none_or(|held| self.revision > held.revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_policy_bounds_each_secret_from_its_issue() {
        let none = KeyPolicy::default();
        assert!(none.allows(0, None));
        assert_eq!(none.expiry(5, Some(7)), Ok(Some(7)));
        let ninety = KeyPolicy {
            max_lifetime_days: Some(90),
        };
        let latest = 90 * DAY_MS + 1_000;
        assert_eq!(ninety.latest_expiry(1_000), Some(latest));
        assert_eq!(ninety.expiry(1_000, None), Ok(Some(latest)));
        assert_eq!(ninety.expiry(1_000, Some(latest)), Ok(Some(latest)));
        assert_eq!(ninety.expiry(1_000, Some(latest + 1)), Err(latest));
        assert!(!ninety.allows(1_000, None));
        assert!(ninety.allows(1_000, Some(latest)));
        assert!(!ninety.allows(1_000, Some(latest + 1)));
    }
}

/// What an OAuth grant holds of the key that approved it: the grant never does more
/// than this, now. Taken from the key's guard when the grant begins, and pushed to the
/// grant again by every change of the key (ARCHITECTURE.md, "Derived authority").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproverTerms {
    /// The key's scopes.
    pub grants: Grants,
    /// The key's expiry, ms.
    pub expires_ms: Option<u64>,
    /// The key was revoked.
    pub revoked: bool,
    /// The key record's revision: the higher one wins.
    pub revision: u64,
}

impl ApproverTerms {
    /// Whether the approver still holds anything at `now_ms`.
    pub fn in_force_at(&self, now_ms: u64) -> bool {
        !self.revoked && self.expires_ms.is_none_or(|at| now_ms < at)
    }

    /// Whether these terms replace `held` (none held, or an older revision).
    pub fn supersede(&self, held: Option<&ApproverTerms>) -> bool {
        held.is_none_or(|held| self.revision > held.revision)
    }
}
