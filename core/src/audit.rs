//! The audit log's events: who did what to which object, and what changed. An
//! organization's guard keeps them ([`crate::org`]); every domain drafts them.

use crate::base::timestamp::Timestamp;
use crate::credentials::key::KeyType;
use crate::ids::{Actor, ClientId, KeyId, OrgId};
use crate::scanning::LeakReport;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Events an organization's audit log keeps: the newest ones; older ones are dropped.
pub const AUDIT_MAX_EVENTS: u64 = 10_000;

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTarget {
    /// `api_key` or `organization`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
}

impl AuditTarget {
    /// A key.
    pub fn key(id: KeyId) -> AuditTarget {
        AuditTarget {
            kind: "api_key".into(),
            id: id.to_string(),
        }
    }

    /// An OAuth app.
    pub fn client(id: ClientId) -> AuditTarget {
        AuditTarget {
            kind: "oauth_client".into(),
            id: id.to_string(),
        }
    }

    /// An organization.
    pub fn org(id: OrgId) -> AuditTarget {
        AuditTarget {
            kind: "organization".into(),
            id: id.to_string(),
        }
    }

    /// A webhook endpoint.
    pub fn webhook(id: crate::ids::WebhookId) -> AuditTarget {
        AuditTarget {
            kind: "webhook".into(),
            id: id.to_string(),
        }
    }
}

/// An event before its guard gives it an id and a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Who.
    pub actor: Actor,
    /// `api_key.created`, `api_key.updated`, `api_key.revoked`, `api_key.rolled`,
    /// `organization.created`, `organization.updated`.
    pub action: String,
    /// On what.
    pub target: AuditTarget,
    /// Before and after of each changed field; never a secret or a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    /// For `api_key.leaked`: where the key was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<LeakReport>,
    /// Why, when the gateway itself acted (`oauth_grant.revoked` on a replayed code or
    /// refresh token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditDraft {
    /// Who may see the event: `Test` when it is about a test object (a test key, app or
    /// grant) done by a test actor (a test key, or an app through a test grant; a secret
    /// scanner acts for no mode and leaves the choice to its target), so a test-mode
    /// admin sees only the test mode's own history; `Live` for everything else, which
    /// only live admins and the root key see. `mode_of(kind, id)` is the mode of the
    /// object (`api_key`, `oauth_client`, `oauth_grant`); one it does not know counts as
    /// live, as do organizations and the root key.
    pub fn mode(&self, mut mode_of: impl FnMut(&str, &str) -> Option<KeyType>) -> KeyType {
        let mut is_test = |kind: &str, id: &str| mode_of(kind, id) == Some(KeyType::Test);
        let actor_is_test = match self.actor {
            Actor::Root => false,
            Actor::SecretScanning => true,
            Actor::Key { key_id } => is_test("api_key", &key_id.to_string()),
            Actor::App { grant_id, .. } => is_test("oauth_grant", &grant_id.to_string()),
            // A person acts for their organization, in both modes.
            Actor::Person { .. } => false,
        };
        if actor_is_test && is_test(&self.target.kind, &self.target.id) {
            KeyType::Test
        } else {
            KeyType::Live
        }
    }
}

/// An event of the audit log, as the API shows it: a draft with its id and time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// `evt_…`, increasing within an organization.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// Who, what, on what, and what changed.
    #[serde(flatten)]
    pub draft: AuditDraft,
}

impl AuditEvent {
    /// The event numbered `seq` in its organization, recorded at `at_ms`.
    pub fn new(draft: AuditDraft, seq: u64, at_ms: u64) -> AuditEvent {
        AuditEvent {
            id: format!("evt_{seq:016}"),
            at: Timestamp(at_ms),
            draft,
        }
    }
}

/// `{"field": {"before": …, "after": …}}` for every top-level field that differs
/// between two views, skipping `skip`; `None` when nothing did.
pub fn changes(
    before: &impl Serialize,
    after: &impl Serialize,
    skip: &[&str],
) -> Option<Map<String, Value>> {
    let (Ok(Value::Object(before)), Ok(Value::Object(after))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return None;
    };
    let mut changed = Map::new();
    for (field, new) in &after {
        if skip.contains(&field.as_str()) {
            continue;
        }
        let old = before.get(field).cloned().unwrap_or(Value::Null);
        if &old != new {
            changed.insert(
                field.clone(),
                serde_json::json!({ "before": old, "after": new }),
            );
        }
    }
    (!changed.is_empty()).then_some(changed)
}

/// The `changes` of a creation event: every field of the new object's public view as
/// `{"before": null, "after": …}`, so the log says what was created (an admin key reads
/// as one). Only the public view goes in, never the record: no secret, no hash.
pub fn created(view: &impl Serialize) -> Option<Map<String, Value>> {
    let Ok(Value::Object(fields)) = serde_json::to_value(view) else {
        return None;
    };
    Some(
        fields
            .into_iter()
            .map(|(field, value)| (field, serde_json::json!({ "before": null, "after": value })))
            .collect(),
    )
}
