//! The events an endpoint may subscribe to, and the body every delivery carries.

use crate::base::timestamp::format_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An event's type, as `type` in the body and `events` in an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A key was created.
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    /// A key's name, scopes, limits or expiry changed.
    #[serde(rename = "api_key.updated")]
    ApiKeyUpdated,
    /// A key was revoked.
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    /// A key's secret was rolled.
    #[serde(rename = "api_key.rolled")]
    ApiKeyRolled,
    /// A key was reported leaked (secret scanning).
    #[serde(rename = "api_key.leaked")]
    ApiKeyLeaked,
    /// A key expires within 7 days, or within 1 day.
    #[serde(rename = "api_key.expiring")]
    ApiKeyExpiring,
    /// A key expired.
    #[serde(rename = "api_key.expired")]
    ApiKeyExpired,
    /// A key's first refusal for its limit in an hour or day window.
    #[serde(rename = "rate_limit.exceeded")]
    RateLimitExceeded,
    /// The organization's record changed.
    #[serde(rename = "organization.updated")]
    OrganizationUpdated,
    /// The organization authorized an app.
    #[serde(rename = "oauth_grant.created")]
    OAuthGrantCreated,
    /// An authorization of an app was revoked.
    #[serde(rename = "oauth_grant.revoked")]
    OAuthGrantRevoked,
}

impl EventType {
    /// Every event, in the order the documentation lists them.
    pub const ALL: [EventType; 11] = [
        EventType::ApiKeyCreated,
        EventType::ApiKeyUpdated,
        EventType::ApiKeyRevoked,
        EventType::ApiKeyRolled,
        EventType::ApiKeyLeaked,
        EventType::ApiKeyExpiring,
        EventType::ApiKeyExpired,
        EventType::RateLimitExceeded,
        EventType::OrganizationUpdated,
        EventType::OAuthGrantCreated,
        EventType::OAuthGrantRevoked,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ApiKeyCreated => "api_key.created",
            EventType::ApiKeyUpdated => "api_key.updated",
            EventType::ApiKeyRevoked => "api_key.revoked",
            EventType::ApiKeyRolled => "api_key.rolled",
            EventType::ApiKeyLeaked => "api_key.leaked",
            EventType::ApiKeyExpiring => "api_key.expiring",
            EventType::ApiKeyExpired => "api_key.expired",
            EventType::RateLimitExceeded => "rate_limit.exceeded",
            EventType::OrganizationUpdated => "organization.updated",
            EventType::OAuthGrantCreated => "oauth_grant.created",
            EventType::OAuthGrantRevoked => "oauth_grant.revoked",
        }
    }

    /// The event named `name`.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The event a key's or the organization's audit action is (created, updated,
    /// revoked, rolled, leaked; the organization's record); grants' are
    /// `org::grant_webhook_event`'s. Others (members, apps) emit none.
    pub fn of_audit_action(action: &str) -> Option<EventType> {
        Some(match action {
            "api_key.created" => EventType::ApiKeyCreated,
            "api_key.updated" => EventType::ApiKeyUpdated,
            "api_key.revoked" => EventType::ApiKeyRevoked,
            "api_key.rolled" => EventType::ApiKeyRolled,
            "api_key.leaked" => EventType::ApiKeyLeaked,
            "organization.updated" => EventType::OrganizationUpdated,
            _ => return None,
        })
    }
}

/// A delivery's body: `{"type", "timestamp", "data"}`, `data` the public view of what
/// changed (never a secret or a hash: the caller passes a view).
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    event: &'static str,
    timestamp: String,
    data: &'a Value,
}

/// The body of `event` at `now_ms` about `data`, as sent (the same bytes on every
/// attempt: they are signed).
pub fn payload(event: EventType, now_ms: u64, data: &Value) -> String {
    serde_json::to_string(&Payload {
        event: event.as_str(),
        timestamp: format_ms(now_ms),
        data,
    })
    .unwrap_or_default()
}

/// `rate_limit.exceeded`'s `data`: the key's view, the window (`hour` or `day`), its
/// quota and when it resets.
pub fn rate_limit_data(exceeded: &crate::keys::guard::LimitExceeded) -> Value {
    serde_json::json!({
        "key": exceeded.view,
        "window": exceeded.window,
        "limit": exceeded.limit,
        "resetAt": format_ms(exceeded.reset_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            let json = serde_json::to_string(&event).expect("json");
            assert_eq!(json, format!("\"{}\"", event.as_str()));
        }
        assert_eq!(EventType::parse("api_key.deleted"), None);
        assert_eq!(EventType::parse("API_KEY.CREATED"), None);
    }

    #[test]
    fn audit_actions_of_keys_and_the_organization_emit_events() {
        assert_eq!(
            EventType::of_audit_action("api_key.rolled"),
            Some(EventType::ApiKeyRolled)
        );
        assert_eq!(
            EventType::of_audit_action("organization.updated"),
            Some(EventType::OrganizationUpdated)
        );
        assert_eq!(EventType::of_audit_action("member.joined"), None);
        assert_eq!(EventType::of_audit_action("organization.created"), None);
    }

    #[test]
    fn the_payload_has_type_timestamp_and_data() {
        let body = payload(
            EventType::ApiKeyCreated,
            1_700_000_000_000,
            &serde_json::json!({"id": "key_x"}),
        );
        assert_eq!(
            body,
            r#"{"type":"api_key.created","timestamp":"2023-11-14T22:13:20.000Z","data":{"id":"key_x"}}"#
        );
    }
}
