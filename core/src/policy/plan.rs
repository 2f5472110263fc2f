//! Plans: the defaults and ceilings of every key's limits, chosen per deployment by the
//! `PLAN` var.

use crate::credentials::key::KeyType;
use crate::policy::ratelimit::Policy;
use core::num::NonZeroU32;
use serde::{Deserialize, Serialize};

/// A non-zero constant, checked when the crate compiles (never at run time).
const fn n(value: u32) -> NonZeroU32 {
    match NonZeroU32::new(value) {
        Some(value) => value,
        None => panic!("plan limits are non-zero"),
    }
}

/// A deployment's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 1,000/h, 10,000/day, burst 50.
    Starter,
    /// 5,000/h, 50,000/day, burst 200.
    Professional,
    /// 10,000/h by default, no daily cap, burst 500 by default; up to 1,000,000.
    Enterprise,
}

/// Test keys: 100 requests an hour, burst 10, whatever the plan.
const TEST_HOURLY: NonZeroU32 = n(100);
const TEST_BURST: NonZeroU32 = n(10);

impl Plan {
    /// Parses the `PLAN` var (case-insensitive); `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Plan> {
        match name.trim().to_ascii_lowercase().as_str() {
            "starter" | "" => Some(Plan::Starter),
            "professional" => Some(Plan::Professional),
            "enterprise" => Some(Plan::Enterprise),
            _ => None,
        }
    }

    /// The plan's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The daily cap every key of this plan has.
    pub fn daily(self) -> Option<NonZeroU32> {
        const STARTER: NonZeroU32 = n(10_000);
        const PROFESSIONAL: NonZeroU32 = n(50_000);
        match self {
            Plan::Starter => Some(STARTER),
            Plan::Professional => Some(PROFESSIONAL),
            Plan::Enterprise => None,
        }
    }

    /// Limits a new key gets when the request names none.
    pub fn default_policy(self, key_type: KeyType) -> Policy {
        let (hourly, burst) = match (key_type, self) {
            (KeyType::Test, _) => (TEST_HOURLY, TEST_BURST),
            (KeyType::Live, Plan::Starter) => (const { n(1_000) }, const { n(50) }),
            (KeyType::Live, Plan::Professional) => (const { n(5_000) }, const { n(200) }),
            (KeyType::Live, Plan::Enterprise) => (const { n(10_000) }, const { n(500) }),
        };
        Policy {
            hourly,
            daily: self.daily(),
            burst,
        }
    }

    /// The highest `rateLimit` and `burst` a key of this type may be given.
    pub fn ceilings(self, key_type: KeyType) -> (u32, u32) {
        match (key_type, self) {
            (KeyType::Test, _) => (TEST_HOURLY.get(), TEST_BURST.get()),
            (KeyType::Live, Plan::Starter) => (1_000, 50),
            (KeyType::Live, Plan::Professional) => (5_000, 200),
            (KeyType::Live, Plan::Enterprise) => (1_000_000, 1_000_000),
        }
    }
}

/// The limits a plan allows a key of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanLimitsView {
    /// Requests per hour a new key gets by default.
    pub default_rate_limit: u32,
    /// The highest `rateLimit` a key may be given.
    pub max_rate_limit: u32,
    /// The highest `burst` a key may be given.
    pub max_burst: u32,
    /// Requests per day every key has, if capped.
    pub daily_limit: Option<u32>,
}

/// A plan and its limits per key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    /// Its name.
    pub name: Plan,
    /// Live keys' limits.
    pub live: PlanLimitsView,
    /// Test keys' limits.
    pub test: PlanLimitsView,
}

impl PlanView {
    /// The view of `plan`.
    pub fn of(plan: Plan) -> PlanView {
        let limits = |key_type| {
            let (max_rate_limit, max_burst) = plan.ceilings(key_type);
            PlanLimitsView {
                default_rate_limit: plan.default_policy(key_type).hourly.get(),
                max_rate_limit,
                max_burst,
                daily_limit: plan.daily().map(|n| n.get()),
            }
        };
        PlanView {
            name: plan,
            live: limits(KeyType::Live),
            test: limits(KeyType::Test),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_match_the_published_table() {
        let starter = Plan::Starter.default_policy(KeyType::Live);
        assert_eq!(starter, Policy::new(1000, Some(10_000), 50).expect("valid"));
        let pro = Plan::Professional.default_policy(KeyType::Live);
        assert_eq!(pro, Policy::new(5000, Some(50_000), 200).expect("valid"));
        let ent = Plan::Enterprise.default_policy(KeyType::Live);
        assert_eq!(ent, Policy::new(10_000, None, 500).expect("valid"));
        assert_eq!(
            Plan::Professional
                .default_policy(KeyType::Test)
                .hourly
                .get(),
            100
        );
        assert_eq!(Plan::Enterprise.ceilings(KeyType::Test), (100, 10));
    }

    #[test]
    fn plan_names_parse() {
        assert_eq!(Plan::parse("Professional"), Some(Plan::Professional));
        assert_eq!(Plan::parse(""), Some(Plan::Starter));
        assert_eq!(Plan::parse("gold"), None);
    }
}
