//! A key's authoritative record, as its Durable Object keeps it, and the one decision
//! made for every request: authenticate, authorize, rate-limit.

use crate::base::constant_time;
use crate::base::network::{self, IpBlock};
use crate::check::admit::Place;
use crate::credentials::key::{display_form, ApiKey, KeyId, KeyType};
use crate::ids::{Actor, OrgId};
use crate::policy::plan::Plan;
use crate::policy::ratelimit::{Counters, Policy};
use crate::policy::scope::{Grants, Requirement};
use crate::policy::terms::ApproverTerms;
use crate::scanning::LeakReport;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The secret a key was rolled away from, still accepted until `expires_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    /// SHA-256 hex of the old key.
    pub hash: String,
    /// When the old key stops working, ms since the epoch.
    pub expires_ms: u64,
}

/// Which of a key's limits were set by hand; the others follow its plan's defaults
/// (a plan change moves them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomLimits {
    /// `rateLimit` was given.
    pub hourly: bool,
    /// `burst` was given.
    pub burst: bool,
}

/// Everything the gateway knows about one key. Never holds the raw key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// `key_…`
    pub id: KeyId,
    /// Test or live.
    pub key_type: KeyType,
    /// A label for people.
    pub name: String,
    /// SHA-256 hex of the current key.
    pub hash: String,
    /// Last four chars of the current key, for its display form.
    pub last4: String,
    /// The secret before the last roll, while its grace lasts.
    #[serde(default)]
    pub previous: Option<PreviousSecret>,
    /// What the key may do.
    pub grants: Grants,
    /// Its limits.
    pub policy: Policy,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Stops working at, ms since the epoch.
    #[serde(default)]
    pub expires_ms: Option<u64>,
    /// Revoked at, ms since the epoch.
    #[serde(default)]
    pub revoked_ms: Option<u64>,
    /// The organization it belongs to (records from before organizations: the default).
    #[serde(default)]
    pub organization_id: OrgId,
    /// Which limits were set by hand.
    #[serde(default)]
    pub custom: CustomLimits,
    /// When a secret scanner reported it leaked, and where.
    #[serde(default)]
    pub leaked: Option<Leak>,
    /// Counts the changes of the record (its guard's steps that store it), so that what
    /// is derived from it (an OAuth grant's [`ApproverTerms`]) keeps the newest copy
    /// whatever order copies arrive in.
    #[serde(default)]
    pub revision: u64,
    /// The addresses it may be used from (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<IpBlock>,
    /// When the current secret was issued by a roll (none: at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_ms: Option<u64>,
    /// Who created it (the root key, an admin key, a person); `None` for keys created
    /// before this was recorded. A person's keys are the organization's: they outlive
    /// the person's membership, and removing a member lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Actor>,
}

/// A reported leak of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leak {
    /// Reported at, ms since the epoch.
    pub at_ms: u64,
    /// Where it was found.
    pub report: LeakReport,
}

/// A key's lifecycle state at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Past `expiresAt`.
    Expired,
    /// Revoked by an admin.
    Revoked,
}

impl KeyStatus {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

pub use crate::check::admit::{Admission, Refusal};

impl KeyRecord {
    /// The root key's record: admin everywhere, the plan's limits. Never stored in KV.
    pub fn root(key: &ApiKey, plan: Plan) -> KeyRecord {
        KeyRecord {
            id: key.id(),
            key_type: key.key_type(),
            name: "root".into(),
            hash: key.hash_hex(),
            last4: key.last4().into(),
            previous: None,
            grants: Grants::root(),
            policy: plan.default_policy(key.key_type()),
            created_ms: 0,
            expires_ms: None,
            revoked_ms: None,
            organization_id: OrgId::DEFAULT,
            custom: CustomLimits::default(),
            leaked: None,
            revision: 0,
            allowed_ips: Vec::new(),
            rotated_ms: None,
            created_by: None,
        }
    }

    /// When the current secret was issued: the last roll, or the creation.
    pub fn issued_ms(&self) -> u64 {
        self.rotated_ms.unwrap_or(self.created_ms)
    }

    /// What a grant this key approves may hold, now.
    pub fn approver_terms(&self) -> ApproverTerms {
        ApproverTerms {
            grants: self.grants.clone(),
            expires_ms: self.expires_ms,
            revoked: self.revoked_ms.is_some(),
            revision: self.revision,
        }
    }

    /// Whether `presented_hash` is this key's current or rolled-away secret (constant
    /// time, both compared).
    pub fn holds_secret(&self, presented_hash: &str) -> bool {
        let current = constant_time::eq(presented_hash.as_bytes(), self.hash.as_bytes());
        let previous = self
            .previous
            .as_ref()
            .is_some_and(|p| constant_time::eq(presented_hash.as_bytes(), p.hash.as_bytes()));
        current | previous
    }

    /// Moves the limits to `plan`: limits that follow the plan take its defaults, limits
    /// set by hand are lowered to its ceilings when above them.
    pub fn apply_plan(&mut self, plan: Plan) {
        let defaults = plan.default_policy(self.key_type);
        let (max_rate, max_burst) = plan.ceilings(self.key_type);
        let capped = |n: core::num::NonZeroU32, max: u32| {
            core::num::NonZeroU32::new(n.get().min(max)).unwrap_or(n)
        };
        self.policy.hourly = if self.custom.hourly {
            capped(self.policy.hourly, max_rate)
        } else {
            defaults.hourly
        };
        self.policy.burst = if self.custom.burst {
            capped(self.policy.burst, max_burst)
        } else {
            defaults.burst.min(self.policy.hourly)
        };
        self.policy.daily = defaults.daily;
    }

    /// Lifecycle state at `now_ms`.
    pub fn status_at(&self, now_ms: u64) -> KeyStatus {
        if self.revoked_ms.is_some() {
            KeyStatus::Revoked
        } else if self.expires_ms.is_some_and(|at| now_ms >= at) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// `sk_live_<id>…<last 4>`.
    pub fn display(&self) -> String {
        display_form(self.key_type, self.id, &self.last4)
    }

    /// The one decision for a request that presents a key hashing to `presented_hash`
    /// and needs `requirement`.
    pub fn decide(
        &self,
        presented_hash: &str,
        requirement: &Requirement,
        counters: &Counters,
        suspended: bool,
        address: Option<IpAddr>,
        now_ms: u64,
    ) -> Result<Admission, Refusal> {
        let current = constant_time::eq(presented_hash.as_bytes(), self.hash.as_bytes());
        let previous = self
            .previous
            .as_ref()
            .filter(|p| constant_time::eq(presented_hash.as_bytes(), p.hash.as_bytes()));
        if !current && previous.is_none() {
            return Err(Refusal::Invalid);
        }
        match self.status_at(now_ms) {
            KeyStatus::Revoked => return Err(Refusal::Invalid),
            KeyStatus::Expired => return Err(Refusal::Expired),
            KeyStatus::Active => {}
        }
        if !current && previous.is_some_and(|p| now_ms >= p.expires_ms) {
            return Err(Refusal::Expired);
        }
        let place = if network::allows(&self.allowed_ips, address) {
            Place::Allowed
        } else {
            Place::NotAllowed(address)
        };
        crate::check::admit::admit(
            suspended,
            place,
            &self.grants,
            requirement,
            &self.policy,
            counters,
            now_ms,
        )
    }

    /// The directory name of this key in KV: `live:key_…` or `test:key_…`, so a test-mode
    /// admin lists by prefix.
    pub fn directory_name(&self) -> String {
        format!("{}{}", self.key_type.directory_prefix(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::method::Method;
    use crate::credentials::key::RANDOM_BYTES_FOR_KEY;
    use crate::policy::scope::Scope;
    use serde_json::json;

    const NOW: u64 = 1_769_076_000_000;

    fn get(resource: &str) -> Requirement {
        Requirement::for_request(&Method::Get, &[], resource)
    }

    fn record(scopes: serde_json::Value) -> (ApiKey, KeyRecord) {
        let key = ApiKey::generate(KeyType::Live, &[42u8; RANDOM_BYTES_FOR_KEY]);
        let mut rec = KeyRecord::root(&key, Plan::Starter);
        rec.name = "k".into();
        rec.grants = Grants::from_json(&scopes).expect("scopes");
        rec.created_ms = NOW;
        (key, rec)
    }

    #[test]
    fn wrong_secret_and_revoked_look_the_same() {
        let (key, mut rec) = record(json!(["read"]));
        let c = Counters::default();
        assert_eq!(
            rec.decide(&"0".repeat(64), &get("accounts"), &c, false, None, NOW),
            Err(Refusal::Invalid)
        );
        rec.revoked_ms = Some(NOW);
        assert_eq!(
            rec.decide(&key.hash_hex(), &get("accounts"), &c, false, None, NOW),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn expiry_is_exact_to_the_ms() {
        let (key, mut rec) = record(json!(["read"]));
        rec.expires_ms = Some(NOW + 10);
        let c = Counters::default();
        assert!(rec
            .decide(&key.hash_hex(), &get("accounts"), &c, false, None, NOW + 9)
            .is_ok());
        assert_eq!(
            rec.decide(&key.hash_hex(), &get("accounts"), &c, false, None, NOW + 10),
            Err(Refusal::Expired)
        );
        assert_eq!(rec.status_at(NOW + 10), KeyStatus::Expired);
    }

    #[test]
    fn previous_secret_works_until_its_grace_ends() {
        let (old, mut rec) = record(json!(["read"]));
        let new = ApiKey::with_new_secret(KeyType::Live, old.id(), &[7u8; 64]);
        rec.previous = Some(PreviousSecret {
            hash: old.hash_hex(),
            expires_ms: NOW + 1000,
        });
        rec.hash = new.hash_hex();
        let c = Counters::default();
        assert!(rec
            .decide(&old.hash_hex(), &get("a"), &c, false, None, NOW + 999)
            .is_ok());
        assert_eq!(
            rec.decide(&old.hash_hex(), &get("a"), &c, false, None, NOW + 1000),
            Err(Refusal::Expired)
        );
        assert!(rec
            .decide(&new.hash_hex(), &get("a"), &c, false, None, NOW + 1000)
            .is_ok());
    }

    #[test]
    fn forbidden_is_not_counted() {
        let (key, rec) = record(json!({"accounts": ["read"]}));
        let c = Counters::default();
        let post = Requirement::for_request(&Method::Post, &[], "accounts");
        let Err(Refusal::Forbidden { missing, status }) =
            rec.decide(&key.hash_hex(), &post, &c, false, None, NOW)
        else {
            panic!("forbidden");
        };
        assert_eq!(missing.scope, Scope::Write);
        assert_eq!(status.hour.remaining, 1000);
    }

    #[test]
    fn a_plan_change_moves_default_limits_and_caps_custom_ones() {
        let (_, mut rec) = record(json!(["read"]));
        rec.apply_plan(Plan::Professional);
        assert_eq!(rec.policy, Plan::Professional.default_policy(KeyType::Live));
        rec.policy.hourly = core::num::NonZeroU32::new(4000).expect("non-zero");
        rec.custom.hourly = true;
        rec.apply_plan(Plan::Enterprise);
        assert_eq!(
            rec.policy.hourly.get(),
            4000,
            "a custom limit under the ceiling stays"
        );
        assert_eq!(rec.policy.daily, None);
        rec.apply_plan(Plan::Starter);
        assert_eq!(rec.policy.hourly.get(), 1000, "lowered to the new ceiling");
        assert_eq!(rec.policy.burst.get(), 50);
        assert_eq!(rec.policy.daily.map(|d| d.get()), Some(10_000));
    }

    #[test]
    fn records_from_before_organizations_belong_to_the_default() {
        let (_, rec) = record(json!(["read"]));
        let mut value = serde_json::to_value(&rec).expect("json");
        let map = value.as_object_mut().expect("object");
        map.remove("organizationId");
        map.remove("custom");
        map.remove("leaked");
        let old: KeyRecord = serde_json::from_value(value).expect("old records still load");
        assert_eq!(old.organization_id, OrgId::DEFAULT);
    }

    #[test]
    fn record_round_trips_through_json() {
        let (_, rec) = record(json!({"accounts": ["read", "write"]}));
        let text = serde_json::to_string(&rec).expect("serialize");
        assert_eq!(
            serde_json::from_str::<KeyRecord>(&text).expect("parse"),
            rec
        );
    }
}
