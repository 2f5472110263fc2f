//! What the API sends: every JSON body other than errors, as typed values serialised in
//! one place. The worker writes them; it never builds JSON by hand.

use crate::base::network::IpBlock;
use crate::base::timestamp::unix_seconds;
use crate::check::protocol::Admitted;
use crate::credentials::key::{KeyId, KeyType};
use crate::http::headers::shown_window;
use crate::ids::{ClientId, GrantId, OrgId};
use crate::keys::record::{KeyRecord, KeyStatus};
use crate::policy::ratelimit::{Status, WindowStatus};
use crate::policy::scope::Grants;
use crate::policy::terms::KeyPolicy;
pub use crate::policy::usage::UsageBucketView;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::base::timestamp::Timestamp;

impl Serialize for KeyStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "active" => Ok(KeyStatus::Active),
            "expired" => Ok(KeyStatus::Expired),
            "revoked" => Ok(KeyStatus::Revoked),
            _ => Err(serde::de::Error::custom("unknown key status")),
        }
    }
}

/// A key as the management API shows it: never its hash or secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// `key_…`
    pub id: KeyId,
    /// Its label.
    pub name: String,
    /// Test or live.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// The organization it belongs to.
    pub organization_id: OrgId,
    /// Its grants, as a list or a map.
    pub scopes: Grants,
    /// Requests per hour.
    pub rate_limit: u32,
    /// Burst bucket size.
    pub burst: u32,
    /// Requests per day, if capped.
    pub daily_limit: Option<u32>,
    /// Created at.
    pub created_at: Timestamp,
    /// Stops working at.
    pub expires_at: Option<Timestamp>,
    /// Last admitted request.
    pub last_used_at: Option<Timestamp>,
    /// Lifecycle state when the view was made (listing recomputes it).
    pub status: KeyStatus,
    /// Revoked at.
    pub revoked_at: Option<Timestamp>,
    /// `sk_live_<id>…<last 4>`.
    pub display: String,
    /// When a secret scanner reported it leaked.
    pub leaked_at: Option<Timestamp>,
    /// The addresses it may be used from; empty: any.
    #[serde(default)]
    pub allowed_ips: Vec<IpBlock>,
    /// When its current secret was issued: created, or last rolled (views stored before
    /// this field: none, read as `createdAt`).
    #[serde(default)]
    pub rotated_at: Option<Timestamp>,
    /// Its life is longer than its organization's `keyPolicy` allows (a key from before
    /// the policy, which keeps its dates); set by whoever shows it, from the policy.
    #[serde(default)]
    pub out_of_policy: bool,
    /// Who created it (`{"type": "person", "personId"}`, a key, the root key); absent for
    /// keys created before this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<crate::ids::Actor>,
}

impl KeyView {
    /// The view of `record` at `now_ms`.
    pub fn of(record: &KeyRecord, now_ms: u64, last_used_ms: Option<u64>) -> KeyView {
        KeyView {
            id: record.id,
            name: record.name.clone(),
            key_type: record.key_type,
            organization_id: record.organization_id,
            scopes: record.grants.clone(),
            rate_limit: record.policy.hourly.get(),
            burst: record.policy.burst.get(),
            daily_limit: record.policy.daily.map(|n| n.get()),
            created_at: Timestamp(record.created_ms),
            expires_at: record.expires_ms.map(Timestamp),
            last_used_at: last_used_ms.map(Timestamp),
            status: record.status_at(now_ms),
            revoked_at: record.revoked_ms.map(Timestamp),
            display: record.display(),
            leaked_at: record.leaked.as_ref().map(|l| Timestamp(l.at_ms)),
            allowed_ips: record.allowed_ips.clone(),
            rotated_at: Some(Timestamp(record.issued_ms())),
            out_of_policy: false,
            created_by: record.created_by,
        }
    }

    /// Recomputes `outOfPolicy` under `policy` (a revoked key is never out of it).
    pub fn refresh_policy(&mut self, policy: KeyPolicy) {
        let issued = self.rotated_at.get_or_insert(self.created_at).0;
        self.out_of_policy =
            self.revoked_at.is_none() && !policy.allows(issued, self.expires_at.map(|at| at.0));
    }

    /// Recomputes `status` at `now_ms`: a key expires without any write.
    pub fn refresh_status(&mut self, now_ms: u64) {
        // A copy from before `rotatedAt`: the secret is the one it was created with.
        self.rotated_at.get_or_insert(self.created_at);
        self.status = if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| now_ms >= at.0) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        };
    }
}

/// A key's view with its raw secret: the answer to create and roll, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedKey {
    /// The key's view.
    #[serde(flatten)]
    pub view: KeyView,
    /// The whole key. Nothing stores it.
    pub key: String,
}

/// One window in the usage answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowUsage {
    /// Requests counted in the window.
    pub used: u32,
    /// Its quota.
    pub limit: u32,
    /// When it resets, unix seconds.
    pub reset: u64,
}

impl From<WindowStatus> for WindowUsage {
    fn from(w: WindowStatus) -> WindowUsage {
        WindowUsage {
            used: w.limit - w.remaining,
            limit: w.limit,
            reset: unix_seconds(w.reset_ms),
        }
    }
}

/// `GET /v1/api-keys/{id}/usage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    /// The key.
    pub id: KeyId,
    /// The hourly window.
    pub hour: WindowUsage,
    /// The daily window, if capped.
    pub day: Option<WindowUsage>,
    /// Every admitted request since creation.
    pub total: u64,
    /// The last admitted request.
    pub last_used_at: Option<Timestamp>,
    /// The last 48 hours, oldest first: admitted, forbidden (403), rate limited (429).
    pub hourly: Vec<UsageBucketView>,
    /// The last 90 UTC days, oldest first.
    pub daily: Vec<UsageBucketView>,
}

impl UsageView {
    /// The usage of key `id` whose windows are `status` and whose meter is `meter`, at
    /// `now_ms`.
    pub fn new(
        id: KeyId,
        status: &Status,
        meter: &crate::policy::usage::Meter,
        now_ms: u64,
    ) -> UsageView {
        UsageView {
            id,
            hour: status.hour.into(),
            day: status.day.map(WindowUsage::from),
            total: meter.total,
            last_used_at: meter.last_used_ms.map(Timestamp),
            hourly: meter.history.hourly(now_ms),
            daily: meter.history.daily(now_ms),
        }
    }
}

/// The spec's `rateLimit` object: the window `X-RateLimit-*` describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitView {
    /// The quota.
    pub limit: u32,
    /// Requests left.
    pub remaining: u32,
    /// Reset, unix seconds.
    pub reset: u64,
}

impl From<&WindowStatus> for RateLimitView {
    fn from(w: &WindowStatus) -> RateLimitView {
        RateLimitView {
            limit: w.limit,
            remaining: w.remaining,
            reset: unix_seconds(w.reset_ms),
        }
    }
}

/// `GET /v1/auth/test`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthTestView {
    /// Always true: a refused key gets an error instead.
    pub authenticated: bool,
    /// The key (for an access token: the key or person that approved its grant).
    pub key_id: crate::ids::Approver,
    /// Test or live.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Its grants.
    pub scopes: Grants,
    /// Its shown window after this request.
    pub rate_limit: RateLimitView,
    /// For an OAuth access token: the app acting (`keyId` is then the key that approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// For an OAuth access token: its grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<GrantId>,
}

impl AuthTestView {
    /// The auth test's answer to an admitted request made with key `id`.
    pub fn of(admitted: &Admitted, id: crate::ids::Approver) -> AuthTestView {
        AuthTestView {
            authenticated: true,
            key_id: id,
            key_type: admitted.key_type,
            scopes: admitted.grants.clone(),
            rate_limit: RateLimitView::from(shown_window(&admitted.status)),
            client_id: admitted.app.map(|a| a.client_id),
            grant_id: admitted.app.map(|a| a.grant_id),
        }
    }
}

/// A page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<T> {
    /// The items.
    pub data: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Where it starts, when it exists.
    pub next_cursor: Option<String>,
}

impl<T> ListPage<T> {
    /// A page; the cursor is dropped on the last page.
    pub fn new(data: Vec<T>, cursor: Option<String>, complete: bool) -> ListPage<T> {
        ListPage {
            data,
            has_more: !complete,
            next_cursor: if complete { None } else { cursor },
        }
    }
}

pub use crate::policy::plan::{PlanLimitsView, PlanView};

/// `GET /dashboard/api/session`: who is signed in, the plan, and the CSRF token the
/// page sends back on state-changing calls. Never the key or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The key signed in with.
    pub key_id: KeyId,
    /// Its name, for the page's header (none: the operator's root key).
    pub key_name: Option<String>,
    /// Its type.
    pub key_type: KeyType,
    /// Its organization (none: the operator's root key).
    pub organization_id: Option<OrgId>,
    /// What it holds now.
    pub scopes: Grants,
    /// The organization's plan.
    pub plan: PlanView,
    /// Send as `X-CSRF-Token`.
    pub csrf_token: String,
}

/// A key's entry in the KV directory (for listing): its name there and its view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// `live:key_…` or `test:key_…`.
    pub name: String,
    /// The public view.
    pub view: KeyView,
}

impl DirectoryEntry {
    pub(crate) fn of(record: &KeyRecord, now_ms: u64, last_used_ms: Option<u64>) -> DirectoryEntry {
        DirectoryEntry {
            name: record.directory_name(),
            view: KeyView::of(record, now_ms, last_used_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::key::{ApiKey, RANDOM_BYTES_FOR_KEY};
    use crate::policy::plan::Plan;
    use serde_json::json;

    const NOW: u64 = 1_769_076_000_000;

    fn record() -> (ApiKey, KeyRecord) {
        let key = ApiKey::generate(KeyType::Live, &[42u8; RANDOM_BYTES_FOR_KEY]);
        let mut rec = KeyRecord::root(&key, Plan::Starter);
        rec.name = "k".into();
        rec.grants = Grants::from_json(&json!(["read"])).expect("scopes");
        rec.created_ms = NOW;
        (key, rec)
    }

    #[test]
    fn view_never_shows_the_hash_and_keeps_the_api_field_order() {
        let (key, rec) = record();
        let text = serde_json::to_string(&KeyView::of(&rec, NOW, None)).expect("json");
        assert!(!text.contains(&key.hash_hex()));
        assert!(!text.contains(key.expose_secret()));
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        let fields: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            [
                "id",
                "name",
                "type",
                "organizationId",
                "scopes",
                "rateLimit",
                "burst",
                "dailyLimit",
                "createdAt",
                "expiresAt",
                "lastUsedAt",
                "status",
                "revokedAt",
                "display",
                "leakedAt",
                "allowedIps",
                "rotatedAt",
                "outOfPolicy"
            ]
        );
        assert_eq!(value["status"], "active");
        assert_eq!(value["rateLimit"], 1000);
    }

    #[test]
    fn stored_view_round_trips_and_its_status_follows_the_clock() {
        let (_, mut rec) = record();
        rec.expires_ms = Some(NOW + 1000);
        let text = serde_json::to_string(&KeyView::of(&rec, NOW, Some(NOW))).expect("json");
        let mut view: KeyView = serde_json::from_str(&text).expect("parses back");
        assert_eq!(view, KeyView::of(&rec, NOW, Some(NOW)));
        view.refresh_status(NOW + 999);
        assert_eq!(view.status, KeyStatus::Active);
        view.refresh_status(NOW + 1000);
        assert_eq!(view.status, KeyStatus::Expired);
        rec.revoked_ms = Some(NOW);
        let mut view = KeyView::of(&rec, NOW, None);
        view.refresh_status(NOW);
        assert_eq!(view.status, KeyStatus::Revoked);
    }

    #[test]
    fn revealed_key_appends_the_secret() {
        let (key, rec) = record();
        let revealed = RevealedKey {
            view: KeyView::of(&rec, NOW, None),
            key: key.expose_secret().to_owned(),
        };
        let value = serde_json::to_value(&revealed).expect("json");
        assert_eq!(value["key"], key.expose_secret());
        assert_eq!(value["id"], rec.id.to_string());
    }

    #[test]
    fn last_page_has_no_cursor() {
        let page = ListPage::<u8>::new(vec![], Some("c".into()), true);
        assert_eq!(
            serde_json::to_value(&page).expect("json"),
            json!({"data": [], "hasMore": false, "nextCursor": null})
        );
        let page = ListPage::new(vec![1u8], Some("c".into()), false);
        assert_eq!(page.next_cursor.as_deref(), Some("c"));
    }
}
