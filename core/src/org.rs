//! Organizations: the customers one deployment serves. Each has a name, a plan and a
//! status; every key belongs to exactly one. Also the audit log's types, since its
//! events live with their organization.
//!
//! The `OrgGuard` Durable Object of an organization holds its record, the exact list of
//! its keys (their views) and its audit log. What a request needs of its organization
//! (plan, suspension) is copied into each key's own guard as [`OrgTerms`], so the hot
//! path still makes one Durable Object call.

use crate::audit::{changes, AuditDraft, AuditEvent};
use crate::keys::admin::ListQuery;
use crate::policy::body::{name, object};
use crate::policy::error::{ApiError, Field};
use crate::policy::terms::{KeyPolicy, OrgStatus, OrgTerms, MAX_LIFETIME_DAYS};

use crate::base::timestamp::Timestamp;
use crate::credentials::key::{KeyId, KeyType};
use crate::keys::view::{DirectoryEntry, KeyView, ListPage};
use crate::oauth::protocol::{
    AuthorizationView, ClientId, ClientPatch, ClientRecord, ClientView, GrantId,
};
use crate::policy::plan::Plan;
use core::fmt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::ids::{Actor, OrgId, ORG_ID_LEN, RANDOM_BYTES_FOR_ORG};

/// An organization as its guard stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgRecord {
    /// `org_…`
    pub id: OrgId,
    /// A label for people.
    pub name: String,
    /// Its plan.
    pub plan: Plan,
    /// Active or suspended.
    pub status: OrgStatus,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Counts the changes of its terms' source (every patch that changes anything): the
    /// revision its keys' and grants' copies carry.
    #[serde(default)]
    pub revision: u64,
    /// How long its keys may live.
    #[serde(default)]
    pub key_policy: KeyPolicy,
}

impl OrgRecord {
    /// The default organization as it is before anyone changes it: the `PLAN` var's.
    pub fn default_org(plan: Plan) -> OrgRecord {
        OrgRecord {
            id: OrgId::DEFAULT,
            name: "Default".into(),
            plan,
            status: OrgStatus::Active,
            created_ms: 0,
            revision: 0,
            key_policy: KeyPolicy::default(),
        }
    }

    /// A new, active organization with no key policy.
    pub fn new(id: OrgId, name: String, plan: Plan, now_ms: u64) -> OrgRecord {
        OrgRecord {
            id,
            name,
            plan,
            status: OrgStatus::Active,
            created_ms: now_ms,
            revision: 0,
            key_policy: KeyPolicy::default(),
        }
    }

    /// What its keys' guards must hold.
    pub fn terms(&self) -> OrgTerms {
        OrgTerms {
            plan: self.plan,
            status: self.status,
            key_policy: self.key_policy,
            revision: self.revision,
        }
    }

    /// The API's view.
    pub fn view(&self) -> OrgView {
        OrgView {
            id: self.id,
            name: self.name.clone(),
            plan: self.plan,
            status: self.status,
            key_policy: self.key_policy,
            created_at: Timestamp(self.created_ms),
        }
    }
}

/// An organization as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgView {
    /// `org_…`
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// Its plan.
    pub plan: Plan,
    /// Active or suspended.
    pub status: OrgStatus,
    /// How long its keys may live.
    #[serde(default)]
    pub key_policy: KeyPolicy,
    /// Created at.
    pub created_at: Timestamp,
}

/// A validated `PATCH /v1/organizations/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPatch {
    name: Option<String>,
    plan: Option<Plan>,
    status: Option<OrgStatus>,
    #[serde(default)]
    key_policy: Option<KeyPolicy>,
}

fn key_policy(value: &Value) -> Result<KeyPolicy, ApiError> {
    let invalid = || {
        ApiError::invalid_field(
            Field::KeyPolicy,
            format!("keyPolicy must be {{\"maxLifetimeDays\": 1 to {MAX_LIFETIME_DAYS}, or null}}"),
        )
    };
    let Some(map) = value.as_object() else {
        return Err(invalid());
    };
    if map.keys().any(|k| k != "maxLifetimeDays") {
        return Err(invalid());
    }
    let max_lifetime_days = match map.get("maxLifetimeDays") {
        None | Some(Value::Null) => None,
        Some(days) => Some(
            days.as_u64()
                .and_then(|d| u16::try_from(d).ok())
                .filter(|d| (1..=MAX_LIFETIME_DAYS).contains(d))
                .ok_or_else(invalid)?,
        ),
    };
    Ok(KeyPolicy { max_lifetime_days })
}

fn plan(value: &Value) -> Result<Plan, ApiError> {
    match value.as_str() {
        Some("starter") => Ok(Plan::Starter),
        Some("professional") => Ok(Plan::Professional),
        Some("enterprise") => Ok(Plan::Enterprise),
        _ => Err(ApiError::invalid_field(
            Field::Plan,
            "plan must be 'starter', 'professional' or 'enterprise'",
        )),
    }
}

fn status(value: &Value) -> Result<OrgStatus, ApiError> {
    match value.as_str() {
        Some("active") => Ok(OrgStatus::Active),
        Some("suspended") => Ok(OrgStatus::Suspended),
        _ => Err(ApiError::invalid_field(
            Field::Status,
            "status must be 'active' or 'suspended'",
        )),
    }
}

/// Parses `POST /v1/organizations` into a new record with id `id`, created at `now_ms`.
pub fn parse_org_create(body: &[u8], id: OrgId, now_ms: u64) -> Result<OrgRecord, ApiError> {
    let map = object(body, &["name", "plan"])?;
    let name = name(
        map.get("name")
            .ok_or_else(|| ApiError::invalid_field(Field::Name, "name is required"))?,
    )?;
    let plan = plan(
        map.get("plan")
            .ok_or_else(|| ApiError::invalid_field(Field::Plan, "plan is required"))?,
    )?;
    Ok(OrgRecord::new(id, name, plan, now_ms))
}

/// Parses `PATCH /v1/organizations/{id}`.
pub fn parse_org_patch(body: &[u8]) -> Result<OrgPatch, ApiError> {
    const FIELDS: [&str; 4] = ["name", "plan", "status", "keyPolicy"];
    let map = object(body, &FIELDS)?;
    if map.is_empty() {
        return Err(ApiError::invalid_request(
            "The body must change at least one of name, plan, status, keyPolicy",
        ));
    }
    Ok(OrgPatch {
        name: map.get("name").map(name).transpose()?,
        plan: map.get("plan").map(plan).transpose()?,
        status: map.get("status").map(status).transpose()?,
        key_policy: map.get("keyPolicy").map(key_policy).transpose()?,
    })
}

impl OrgPatch {
    /// Whether it changes only `keyPolicy`: all an organization's own admin may change.
    pub fn only_key_policy(&self) -> bool {
        self.name.is_none() && self.plan.is_none() && self.status.is_none()
    }

    /// Whether it leaves the plan and status alone: what an owner signed in to the
    /// dashboard may change (the name, the key policy); plan and status are the
    /// operator's.
    pub fn leaves_plan_and_status(&self) -> bool {
        self.plan.is_none() && self.status.is_none()
    }

    /// Applies the patch; returns the audit `changes` when anything changed.
    pub fn apply(&self, record: &mut OrgRecord) -> Option<Map<String, Value>> {
        let before = record.view();
        if let Some(name) = &self.name {
            record.name = name.clone();
        }
        if let Some(plan) = self.plan {
            record.plan = plan;
        }
        if let Some(status) = self.status {
            record.status = status;
        }
        if let Some(policy) = self.key_policy {
            record.key_policy = policy;
        }
        let changed = changes(&before, &record.view(), &[]);
        if changed.is_some() {
            record.revision += 1;
        }
        changed
    }
}

/// Everything the worker can ask an organization's guard.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrgInput {
    /// Store a new organization.
    Create {
        /// Its record.
        record: OrgRecord,
        /// Who creates it.
        actor: Actor,
    },
    /// Its record; `default` stands in for the default organization never written.
    Get {
        /// The default organization's record, when this is it.
        default: Option<OrgRecord>,
    },
    /// Change it (the root key only).
    Patch {
        /// The change.
        patch: OrgPatch,
        /// Who.
        actor: Actor,
        /// The default organization's record, when this is it.
        default: Option<OrgRecord>,
    },
    /// Keys' new views and the events that changed them.
    Record {
        /// Views to store.
        entries: Vec<DirectoryEntry>,
        /// Events to append.
        events: Vec<AuditDraft>,
    },
    /// A key is about to be created in it: remember its id (so a change of terms from
    /// now on reaches it, even before it exists) and answer the terms it starts with.
    /// Refused (`Suspended`) for a suspended organization unless the root key asks.
    JoinKey {
        /// The new key's id.
        key: KeyId,
        /// The root key creates it (keys of a suspended organization are allowed to it).
        by_root: bool,
        /// The default organization's record, when this is it.
        default: Option<OrgRecord>,
    },
    /// Its active keys a person created (at most [`MAX_KEYS_CREATED_BY`]), for the answer
    /// to removing that member: the keys stay, they are the organization's.
    KeysCreatedBy {
        /// Whose.
        person_id: crate::ids::PersonId,
    },
    /// A page of its keys; only test keys for a test-mode caller.
    ListKeys {
        /// Page size and cursor.
        query: ListQuery,
        /// Only keys of this type.
        only: Option<KeyType>,
    },
    /// A page of its audit log, newest first; only test events for a test-mode caller
    /// ([`AuditDraft::mode`]).
    ListAudit {
        /// Page size and cursor.
        query: ListQuery,
        /// Only events of this mode.
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// Register an app (at most [`crate::oauth::protocol::MAX_CLIENTS_PER_ORG`]).
    CreateClient {
        /// Its record.
        record: ClientRecord,
        /// Who.
        actor: Actor,
    },
    /// An app's record.
    GetClient(ClientId),
    /// A page of its apps, by id; only test apps for a test-mode caller.
    ListClients {
        /// Page size and cursor.
        query: ListQuery,
        /// Only apps of this mode.
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// Change an app (not found unless of mode `only`, when named).
    PatchClient {
        /// Which.
        id: ClientId,
        /// The change.
        patch: ClientPatch,
        /// Who.
        actor: Actor,
        /// Only an app of this mode (a test-mode caller's).
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// Delete an app (not found unless of mode `only`, when named); answers the grants
    /// to revoke.
    DeleteClient {
        /// Which.
        id: ClientId,
        /// Who.
        actor: Actor,
        /// Only an app of this mode (a test-mode caller's).
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// Remember a grant of one of its apps (refused when the app is gone, or the
    /// organization suspended), so deleting the app or suspending the organization
    /// reaches it; answers the organization's record, whose terms the grant takes.
    AddClientGrant {
        /// The app.
        client_id: ClientId,
        /// The grant.
        grant_id: GrantId,
        /// The default organization's record, when this is it.
        #[serde(default)]
        default: Option<OrgRecord>,
    },
    /// A grant this organization gave (its "Authorized apps"), and its event.
    RecordAuthorization {
        /// The grant's view.
        view: AuthorizationView,
        /// The event.
        event: AuditDraft,
    },
    /// A grant it is about to give: listed at once (as the approving key's, so that a
    /// change of the key from now on reaches it), answered with the organization's
    /// terms. Refused when it is suspended, or already gives the app
    /// [`MAX_ACTIVE_GRANTS_PER_APP`] active grants.
    JoinAuthorization {
        /// The grant's view.
        view: AuthorizationView,
        /// The event.
        event: AuditDraft,
        /// The default organization's record, when this is it.
        default: Option<OrgRecord>,
    },
    /// A page of its "Authorized apps": active first, newest first; only test grants
    /// for a test-mode caller.
    ListAuthorizations {
        /// Page size and cursor.
        query: ListQuery,
        /// Only grants approved by a key of this type.
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// The active grants a key of this organization approved (to revoke with the key).
    GrantsApprovedBy(KeyId),
    /// Its webhooks (issue #23).
    Webhooks(crate::webhooks::protocol::WebhookInput),
}

/// An organization guard's answers.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrgAnswer {
    /// The record.
    Org(OrgRecord),
    /// Changed: the record, and every key and grant that must learn the new terms.
    Patched {
        /// The record after the change.
        record: OrgRecord,
        /// Its keys.
        keys: Vec<KeyId>,
        /// The grants it gave that are still active.
        #[serde(default)]
        grants: Vec<GrantId>,
        /// The grants its apps were given (by any organization): they learn its status.
        #[serde(default)]
        app_grants: Vec<GrantId>,
    },
    /// An app.
    Client(ClientRecord),
    /// A page of its apps.
    Clients(ListPage<ClientView>),
    /// An app was deleted: its grants are to be revoked.
    ClientDeleted {
        /// The app as it was.
        record: ClientRecord,
        /// Every grant it was given.
        grants: Vec<GrantId>,
    },
    /// A page of its "Authorized apps", active first, newest first.
    Authorizations(ListPage<AuthorizationView>),
    /// Grant ids.
    GrantIds(Vec<GrantId>),
    /// It has [`crate::oauth::protocol::MAX_CLIENTS_PER_ORG`] apps already.
    TooManyClients,
    /// Stored.
    Recorded,
    /// A page of keys.
    Keys(ListPage<KeyView>),
    /// A page of events.
    Audit(ListPage<AuditEvent>),
    /// No such organization.
    NotFound,
    /// The id is taken (creating).
    IdTaken,
    /// The cursor is not one this listing gave out.
    BadCursor,
    /// Refused: the organization is suspended.
    Suspended,
    /// Refused: it already gives the app [`MAX_ACTIVE_GRANTS_PER_APP`] active grants.
    TooManyGrants,
    /// About its webhooks.
    Webhooks(crate::webhooks::protocol::WebhookAnswer),
}

/// The active grants one organization may give one app. It bounds what any
/// organization can add to another's app, and so what an app's deletion or its
/// organization's suspension has to walk: at most this many per organization.
pub const MAX_ACTIVE_GRANTS_PER_APP: usize = 50;

impl ListQuery {
    /// The cursor as the number an audit page gave out (`None`: the newest page).
    pub fn audit_cursor(&self) -> Result<Option<u64>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| c.parse::<u64>().map_err(|_| bad_cursor()))
            .transpose()
    }

    /// The cursor as the key id a keys page ended with.
    pub fn key_cursor(&self) -> Result<Option<KeyId>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| KeyId::parse(c).ok_or_else(bad_cursor))
            .transpose()
    }

    /// The cursor as the app id an apps page ended with.
    pub fn client_cursor(&self) -> Result<Option<ClientId>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| ClientId::parse(c).ok_or_else(bad_cursor))
            .transpose()
    }

    /// The cursor as the grant an "Authorized apps" page ended with.
    pub fn authorization_cursor(&self) -> Result<Option<AuthorizationCursor>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| AuthorizationCursor::parse(c).ok_or_else(bad_cursor))
            .transpose()
    }
}

/// Where an "Authorized apps" page ended, in its order (active first, then newest
/// first, then by grant id): `{1|0}.{created ms}.{grant id}`. A grant only ever moves
/// later in that order (active to revoked), so a walk of the pages misses none that
/// existed when it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorizationCursor {
    /// Whether the last grant listed was active.
    pub active: bool,
    /// When it was created, ms.
    pub created_ms: u64,
    /// Its id.
    pub grant_id: GrantId,
}

impl AuthorizationCursor {
    /// The cursor after `view`.
    pub fn after(view: &AuthorizationView) -> AuthorizationCursor {
        AuthorizationCursor {
            active: view.revoked_at.is_none(),
            created_ms: view.created_at.0,
            grant_id: view.grant_id,
        }
    }

    /// Parses the text [`fmt::Display`] writes.
    pub fn parse(text: &str) -> Option<AuthorizationCursor> {
        let mut parts = text.splitn(3, '.');
        let active = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let created = parts.next()?;
        if created.is_empty() || !created.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let created_ms = created.parse().ok()?;
        let grant_id = GrantId::parse(parts.next()?)?;
        Some(AuthorizationCursor {
            active,
            created_ms,
            grant_id,
        })
    }
}

impl fmt::Display for AuthorizationCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let active = if self.active { 1 } else { 0 };
        write!(f, "{active}.{}.{}", self.created_ms, self.grant_id)
    }
}

/// 400 for a cursor no listing gave out.
/// `DELETE /v1/organizations/{id}/members/{personId}`: who was removed, and the keys
/// they created that still work (they stay: they are the organization's; revoke them if
/// they should stop).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedMember {
    /// The member as they were.
    pub member: crate::people::members::MemberView,
    /// Their active keys, by id (at most [`MAX_KEYS_CREATED_BY`]).
    pub keys_created: Vec<KeyView>,
}

/// Keys a removed member's answer lists at most (the first by id; the API Keys page
/// lists them all).
pub const MAX_KEYS_CREATED_BY: usize = 100;

/// The cursor no page gave out.
pub fn bad_cursor() -> ApiError {
    ApiError::unknown_cursor()
}

/// The webhook events a step that records key changes emits: one per audit event that
/// is one (`EventType::of_audit_action`), with the view of the key it names (a public
/// view: never the secret or its hash).
pub fn key_webhook_events(
    entries: &[DirectoryEntry],
    events: &[AuditDraft],
) -> Vec<(crate::webhooks::event::EventType, Value)> {
    events
        .iter()
        .filter_map(|draft| {
            let event = crate::webhooks::event::EventType::of_audit_action(&draft.action)?;
            let entry = entries.iter().find(|e| {
                draft.target.kind == "api_key" && e.view.id.to_string() == draft.target.id
            })?;
            Some((event, serde_json::to_value(&entry.view).ok()?))
        })
        .collect()
}

/// The webhook event of a grant's audit event (`oauth_grant.created` when consent is
/// given, `oauth_grant.revoked`), with the grant's public view (as "Authorized apps"
/// lists it: never a token or its hash).
pub fn grant_webhook_event(
    view: &AuthorizationView,
    event: &AuditDraft,
) -> Option<(crate::webhooks::event::EventType, Value)> {
    use crate::webhooks::event::EventType;
    let kind = match event.action.as_str() {
        "oauth_grant.created" => EventType::OAuthGrantCreated,
        "oauth_grant.revoked" => EventType::OAuthGrantRevoked,
        _ => return None,
    };
    Some((kind, serde_json::to_value(view).ok()?))
}

/// The webhook event of a change to the organization's record, with its view.
pub fn org_webhook_event(record: &OrgRecord) -> (crate::webhooks::event::EventType, Value) {
    (
        crate::webhooks::event::EventType::OrganizationUpdated,
        serde_json::to_value(record.view()).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{created, AuditTarget};

    const NOW: u64 = 1_769_076_000_000;

    #[test]
    fn ids_parse_and_generate() {
        let id = OrgId::generate(&[7; RANDOM_BYTES_FOR_ORG]);
        assert_eq!(OrgId::parse(&id.to_string()), Some(id));
        assert_eq!(OrgId::parse("org_000000000default"), Some(OrgId::DEFAULT));
        assert_eq!(OrgId::parse("org_short"), None);
        assert_eq!(OrgId::parse("key_000000000default"), None);
        assert_eq!(OrgId::parse("org_00000000000000-0"), None);
    }

    #[test]
    fn create_and_patch_bodies_name_their_fields() {
        let id = OrgId::generate(&[1; RANDOM_BYTES_FOR_ORG]);
        let org =
            parse_org_create(br#"{"name":"Acme","plan":"professional"}"#, id, NOW).expect("valid");
        assert_eq!(
            (org.plan, org.status),
            (Plan::Professional, OrgStatus::Active)
        );
        for (body, needle, field) in [
            (r#"{"name":"Acme","plan":"gold"}"#, "plan must be", "plan"),
            (r#"{"name":"Acme"}"#, "plan is required", "plan"),
            (r#"{"plan":"starter"}"#, "name is required", "name"),
            (
                r#"{"name":"","plan":"starter"}"#,
                "name must be 1 to",
                "name",
            ),
        ] {
            let err = parse_org_create(body.as_bytes(), id, NOW).expect_err(body);
            assert_eq!(err.status, 400);
            assert!(err.details.contains(needle), "{body}: {}", err.details);
            assert_eq!(err.field.map(Field::as_str), Some(field), "{body}");
            assert!(
                err.body().contains(&format!(r#""field":"{field}""#)),
                "{body}"
            );
        }
        let status = parse_org_patch(br#"{"status":"gone"}"#).expect_err("bad status");
        assert_eq!(status.field, Some(Field::Status));
        assert_eq!(bad_cursor().field, Some(Field::Cursor));
        let unknown = parse_org_create(br#"{"name":"a","plan":"starter","x":1}"#, id, NOW);
        assert_eq!(unknown.expect_err("unknown").field, None);
        let mut record = org.clone();
        let patch = parse_org_patch(br#"{"plan":"starter","status":"suspended"}"#).expect("valid");
        let changed = patch.apply(&mut record).expect("changed");
        assert_eq!(record.terms().status, OrgStatus::Suspended);
        assert_eq!(
            changed["plan"],
            serde_json::json!({"before": "professional", "after": "starter"})
        );
        assert!(!changed.contains_key("name"));
        assert!(parse_org_patch(b"{}").is_err());
        assert!(parse_org_patch(br#"{"status":"gone"}"#).is_err());
    }

    #[test]
    fn actors_and_events_have_the_documented_shape() {
        let key = KeyId::parse("key_0123456789abcdef").expect("id");
        let draft = AuditDraft {
            actor: Actor::Key { key_id: key },
            action: "api_key.revoked".into(),
            target: AuditTarget::key(key),
            changes: None,
            report: None,
            reason: None,
        };
        let event = serde_json::to_value(AuditEvent::new(draft, 7, NOW)).expect("json");
        assert_eq!(
            event,
            serde_json::json!({
                "id": "evt_0000000000000007",
                "at": "2026-01-22T10:00:00.000Z",
                "actor": {"type": "key", "keyId": "key_0123456789abcdef"},
                "action": "api_key.revoked",
                "target": {"type": "api_key", "id": "key_0123456789abcdef"},
            })
        );
        assert_eq!(
            serde_json::to_value(Actor::Root).expect("json"),
            serde_json::json!({"type": "root"})
        );
    }

    #[test]
    fn a_test_event_is_about_a_test_object_done_by_a_test_actor() {
        let test_key = KeyId::parse("key_000000000000test").expect("id");
        let live_key = KeyId::parse("key_000000000000live").expect("id");
        let mode_of = |kind: &str, id: &str| match (kind, id) {
            ("api_key", "key_000000000000test") => Some(KeyType::Test),
            ("api_key", "key_000000000000live") => Some(KeyType::Live),
            _ => None,
        };
        let event = |actor, target| AuditDraft {
            actor,
            action: "api_key.updated".into(),
            target: AuditTarget::key(target),
            changes: None,
            report: None,
            reason: None,
        };
        let by_test = Actor::Key { key_id: test_key };
        let by_live = Actor::Key { key_id: live_key };
        assert_eq!(event(by_test, test_key).mode(mode_of), KeyType::Test);
        assert_eq!(
            event(Actor::SecretScanning, test_key).mode(mode_of),
            KeyType::Test
        );
        assert_eq!(event(by_live, test_key).mode(mode_of), KeyType::Live);
        assert_eq!(event(Actor::Root, test_key).mode(mode_of), KeyType::Live);
        assert_eq!(event(by_test, live_key).mode(mode_of), KeyType::Live);
        let unknown = KeyId::parse("key_0000000000000000").expect("id");
        assert_eq!(event(by_test, unknown).mode(mode_of), KeyType::Live);
        let org = AuditDraft {
            target: AuditTarget::org(OrgId::DEFAULT),
            ..event(by_test, test_key)
        };
        assert_eq!(org.mode(mode_of), KeyType::Live);
    }

    #[test]
    fn creation_lists_every_field_of_the_view_from_null() {
        let record = OrgRecord::default_org(Plan::Enterprise);
        let c = created(&record.view()).expect("an object");
        assert_eq!(
            c["name"],
            serde_json::json!({"before": null, "after": "Default"})
        );
        assert_eq!(
            c["plan"],
            serde_json::json!({"before": null, "after": "enterprise"})
        );
        let view = serde_json::to_value(record.view()).expect("json");
        assert_eq!(c.len(), view.as_object().expect("object").len());
    }

    #[test]
    fn changes_list_only_what_differs() {
        let a = serde_json::json!({"name": "a", "rateLimit": 5, "lastUsedAt": null});
        let b = serde_json::json!({"name": "b", "rateLimit": 5, "lastUsedAt": "x"});
        let c = changes(&a, &b, &["lastUsedAt"]).expect("changed");
        assert_eq!(c.len(), 1);
        assert_eq!(c["name"], serde_json::json!({"before": "a", "after": "b"}));
        assert_eq!(changes(&a, &a, &[]), None);
    }

    #[test]
    fn cursors_are_checked() {
        let q = |c: &str| ListQuery {
            limit: 10,
            cursor: Some(c.into()),
        };
        assert_eq!(q("12").audit_cursor(), Ok(Some(12)));
        assert!(q("x").audit_cursor().is_err());
        assert!(q("key_0123456789abcdef").key_cursor().is_ok());
        assert!(q("nope").key_cursor().is_err());
        assert!(q("app_0123456789abcdef01234567").client_cursor().is_ok());
        assert!(q("key_0123456789abcdef").client_cursor().is_err());
        let cursor = AuthorizationCursor {
            active: true,
            created_ms: 1_733_532_000_123,
            grant_id: GrantId::parse("grant_0123456789abcdef").unwrap_or_else(|| unreachable!()),
        };
        assert_eq!(cursor.to_string(), "1.1733532000123.grant_0123456789abcdef");
        assert_eq!(
            q(&cursor.to_string()).authorization_cursor(),
            Ok(Some(cursor))
        );
        for bad in [
            "",
            "1",
            "2.5.grant_0123456789abcdef",
            "1.+5.grant_0123456789abcdef",
            "1.5.grant_x",
            "1.99999999999999999999999.grant_0123456789abcdef",
            "0.5.grant_0123456789abcdef.x",
        ] {
            assert!(q(bad).authorization_cursor().is_err(), "{bad}");
        }
    }
}
