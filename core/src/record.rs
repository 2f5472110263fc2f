//! A key's authoritative record, as its Durable Object keeps it, and the one decision
//! made for every request: authenticate, authorize, rate-limit.

use crate::constant_time;
use crate::key::{display_form, ApiKey, KeyId, KeyType};
use crate::plan::Plan;
use crate::ratelimit::{self, Counters, Outcome, Policy, Status};
use crate::scope::{Grants, MissingScope};
use crate::timestamp::format_ms;
use serde::{Deserialize, Serialize};

/// The secret a key was rolled away from, still accepted until `expires_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousSecret {
    /// SHA-256 hex of the old key.
    pub hash: String,
    /// When the old key stops working, ms since the epoch.
    pub expires_ms: u64,
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
}

/// Recomputes `status` of a stored view at `now_ms` (a key expires without any write).
pub fn refresh_view_status(view: &mut serde_json::Value, now_ms: u64) {
    let revoked = !view["revokedAt"].is_null();
    let expired = view["expiresAt"]
        .as_str()
        .and_then(crate::timestamp::parse_ms)
        .is_some_and(|at| now_ms >= at);
    let status = if revoked {
        KeyStatus::Revoked
    } else if expired {
        KeyStatus::Expired
    } else {
        KeyStatus::Active
    };
    if let Some(map) = view.as_object_mut() {
        map.insert("status".into(), status.as_str().into());
    }
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

/// What the key's Durable Object answers for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Unknown id, wrong secret or revoked: never told apart.
    Invalid,
    /// Past `expiresAt`, or a rolled-away secret past its grace.
    Expired,
    /// Authenticated, but the scope is missing. Not counted.
    Forbidden {
        /// What was missing.
        missing: MissingScope,
        /// Windows as they stand.
        status: Status,
    },
    /// Authenticated and authorized, but a window is spent. Not counted.
    Limited {
        /// Windows as they stand.
        status: Status,
        /// Whole seconds to wait.
        retry_after_s: u64,
    },
    /// Let through and counted: store `counters`.
    Admitted {
        /// Counters to store.
        counters: Counters,
        /// Windows after this request.
        status: Status,
    },
}

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
        }
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

    /// The one decision for a request that presents a key hashing to `presented_hash`.
    pub fn decide(
        &self,
        presented_hash: &str,
        method: &str,
        resource: Option<&str>,
        counters: &Counters,
        now_ms: u64,
    ) -> Verdict {
        let current = constant_time::eq(presented_hash.as_bytes(), self.hash.as_bytes());
        let previous = self
            .previous
            .as_ref()
            .filter(|p| constant_time::eq(presented_hash.as_bytes(), p.hash.as_bytes()));
        if !current && previous.is_none() {
            return Verdict::Invalid;
        }
        match self.status_at(now_ms) {
            KeyStatus::Revoked => return Verdict::Invalid,
            KeyStatus::Expired => return Verdict::Expired,
            KeyStatus::Active => {}
        }
        if previous.is_some_and(|p| now_ms >= p.expires_ms) {
            return Verdict::Expired;
        }
        // `None`: an endpoint any valid key may call (the auth test).
        if let Err(missing) = resource.map_or(Ok(()), |r| self.grants.authorize(method, r)) {
            return Verdict::Forbidden {
                missing,
                status: ratelimit::status(&self.policy, counters, now_ms),
            };
        }
        match ratelimit::check(&self.policy, counters, now_ms) {
            Outcome::Admitted { counters, status } => Verdict::Admitted { counters, status },
            Outcome::Limited {
                status,
                retry_after_s,
                ..
            } => Verdict::Limited {
                status,
                retry_after_s,
            },
        }
    }

    /// The directory name of this key in KV: `live:key_…` or `test:key_…`, so a test-mode
    /// admin lists by prefix.
    pub fn directory_name(&self) -> String {
        format!("{}:{}", self.key_type.as_str(), self.id)
    }

    /// The record as the management API shows it (never the hash).
    pub fn to_view(&self, now_ms: u64, last_used_ms: Option<u64>) -> serde_json::Value {
        let ts = |ms: Option<u64>| ms.map(format_ms);
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "type": self.key_type,
            "scopes": self.grants.to_json(),
            "rateLimit": self.policy.hourly,
            "burst": self.policy.burst,
            "dailyLimit": self.policy.daily,
            "createdAt": format_ms(self.created_ms),
            "expiresAt": ts(self.expires_ms),
            "lastUsedAt": ts(last_used_ms),
            "status": self.status_at(now_ms).as_str(),
            "revokedAt": ts(self.revoked_ms),
            "display": self.display(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::RANDOM_BYTES_FOR_KEY;
    use serde_json::json;

    const NOW: u64 = 1_769_076_000_000;

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
            rec.decide(&"0".repeat(64), "GET", Some("accounts"), &c, NOW),
            Verdict::Invalid
        );
        rec.revoked_ms = Some(NOW);
        assert_eq!(
            rec.decide(&key.hash_hex(), "GET", Some("accounts"), &c, NOW),
            Verdict::Invalid
        );
    }

    #[test]
    fn expiry_is_exact_to_the_ms() {
        let (key, mut rec) = record(json!(["read"]));
        rec.expires_ms = Some(NOW + 10);
        let c = Counters::default();
        assert!(matches!(
            rec.decide(&key.hash_hex(), "GET", Some("accounts"), &c, NOW + 9),
            Verdict::Admitted { .. }
        ));
        assert_eq!(
            rec.decide(&key.hash_hex(), "GET", Some("accounts"), &c, NOW + 10),
            Verdict::Expired
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
        assert!(matches!(
            rec.decide(&old.hash_hex(), "GET", Some("a"), &c, NOW + 999),
            Verdict::Admitted { .. }
        ));
        assert_eq!(
            rec.decide(&old.hash_hex(), "GET", Some("a"), &c, NOW + 1000),
            Verdict::Expired
        );
        assert!(matches!(
            rec.decide(&new.hash_hex(), "GET", Some("a"), &c, NOW + 1000),
            Verdict::Admitted { .. }
        ));
    }

    #[test]
    fn forbidden_is_not_counted() {
        let (key, rec) = record(json!({"accounts": ["read"]}));
        let c = Counters::default();
        let Verdict::Forbidden { missing, status } =
            rec.decide(&key.hash_hex(), "POST", Some("accounts"), &c, NOW)
        else {
            panic!("forbidden");
        };
        assert_eq!(missing.scope.as_str(), "write");
        assert_eq!(status.hour.remaining, 1000);
    }

    #[test]
    fn view_never_shows_the_hash() {
        let (key, rec) = record(json!(["read"]));
        let view = rec.to_view(NOW, None).to_string();
        assert!(!view.contains(&key.hash_hex()));
        assert!(!view.contains(key.expose_secret()));
        assert!(view.contains("\"status\":\"active\""));
    }

    #[test]
    fn stored_view_status_follows_the_clock() {
        let (_, mut rec) = record(json!(["read"]));
        rec.expires_ms = Some(NOW + 1000);
        let mut view = rec.to_view(NOW, None);
        refresh_view_status(&mut view, NOW + 1000);
        assert_eq!(view["status"], "expired");
        rec.revoked_ms = Some(NOW);
        let mut view = rec.to_view(NOW, None);
        refresh_view_status(&mut view, NOW);
        assert_eq!(view["status"], "revoked");
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
