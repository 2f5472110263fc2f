//! `OrgGuard`: one Durable Object per organization. It holds the organization's record,
//! the exact list of its keys (their views, so a key created a moment ago is listed at
//! once) and its audit log (the newest `AUDIT_MAX_EVENTS`). Validation, views and
//! changes are core's (`scopien_auth::org`); this file stores and queries.

use crate::objects::outbox;
use scopien_auth::audit::{AuditDraft, AuditEvent, AuditTarget, AUDIT_MAX_EVENTS};
use scopien_auth::ids::Actor;
use scopien_auth::keys::admin::ListQuery;
use scopien_auth::keys::view::{KeyView, ListPage};
use scopien_auth::oauth::protocol::{
    AuthorizationView, ClientId, ClientRecord, GrantId, MAX_CLIENTS_PER_ORG,
};
use scopien_auth::org::{
    AuthorizationCursor, OrgAnswer, OrgInput, OrgRecord, MAX_ACTIVE_GRANTS_PER_APP,
};
use scopien_auth::policy::terms::OrgStatus;
use scopien_auth::webhooks::protocol::{WebhookAnswer, WebhookInput};
use scopien_auth::{KeyId, KeyType};
use serde::Deserialize;
use std::cell::Cell;
use wasm_bindgen::prelude::{wasm_bindgen, JsError};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

#[durable_object]
pub struct OrgGuard {
    state: State,
    /// The tables exist (once per object).
    tables_ready: Cell<bool>,
    /// The OAuth tables exist (once per object; organizations from before OAuth lack them).
    oauth_ready: Cell<bool>,
    /// The table of keys being created exists (once per object).
    joining_ready: Cell<bool>,
    /// The audit table has its `mode` column (once per object; older logs lack it).
    audit_mode_ready: Cell<bool>,
    /// The runtime's own state object: its storage's `setAlarm` is called without an
    /// await from a step (workers-rs's is async), under the same output gate.
    raw: worker::worker_sys::DurableObjectState,
    /// The bindings: the alarm hands messages to the `WEBHOOKS` queue.
    env: Env,
    /// A step changed when a webhook message is next due: the alarm is set after it.
    due_changed: Cell<bool>,
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

impl OrgGuard {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// Whether anything was ever written here; reads of an unknown organization create
    /// nothing.
    fn has_tables(&self) -> Result<bool> {
        if self.tables_ready.get() {
            return Ok(true);
        }
        let found: Vec<serde_json::Value> = self
            .sql()
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'org'",
                None,
            )?
            .to_array()?;
        self.tables_ready.set(!found.is_empty());
        Ok(!found.is_empty())
    }

    fn ensure_tables(&self) -> Result<()> {
        if self.has_tables()? {
            return Ok(());
        }
        let sql = self.sql();
        sql.exec("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, key_type TEXT NOT NULL, value TEXT NOT NULL)", None)?;
        sql.exec("CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, value TEXT NOT NULL, mode TEXT NOT NULL DEFAULT 'live')", None)?;
        // Last: its presence says the others exist.
        sql.exec(
            "CREATE TABLE IF NOT EXISTS org (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        self.tables_ready.set(true);
        Ok(())
    }

    fn record(&self) -> Result<Option<OrgRecord>> {
        if !self.has_tables()? {
            return Ok(None);
        }
        let rows: Vec<Value> = self
            .sql()
            .exec("SELECT value FROM org WHERE id = 1", None)?
            .to_array()?;
        rows.first()
            .map(|row| serde_json::from_str(&row.value).map_err(worker::Error::from))
            .transpose()
    }

    /// The stored record, or `default` standing in for the default organization never
    /// written (on the `PLAN` var until someone changes it), created when it was first
    /// used: that time is kept, so its `createdAt` is real and never moves.
    fn record_or(&self, default: Option<OrgRecord>, now: u64) -> Result<Option<OrgRecord>> {
        if let Some(record) = self.record()? {
            return Ok(Some(record));
        }
        let Some(mut record) = default else {
            return Ok(None);
        };
        self.ensure_tables()?;
        // Row 2 of `org`: the default organization's first use, in ms.
        self.sql().exec(
            "INSERT OR IGNORE INTO org (id, value) VALUES (2, ?)",
            vec![SqlStorageValue::from(now.to_string())],
        )?;
        let rows: Vec<Value> = self
            .sql()
            .exec("SELECT value FROM org WHERE id = 2", None)?
            .to_array()?;
        record.created_ms = rows
            .first()
            .and_then(|row| row.value.parse().ok())
            .unwrap_or(now);
        Ok(Some(record))
    }

    fn put_record(&self, record: &OrgRecord) -> Result<()> {
        self.ensure_tables()?;
        self.sql().exec(
            "INSERT OR REPLACE INTO org (id, value) VALUES (1, ?)",
            vec![SqlStorageValue::from(serde_json::to_string(record)?)],
        )?;
        Ok(())
    }

    /// Gives an audit log from before modes its `mode` column: its events count as live,
    /// so a test-mode admin sees none of them.
    fn audit_mode_column(&self) -> Result<()> {
        if self.audit_mode_ready.get() {
            return Ok(());
        }
        let sql = self.sql();
        if sql.exec("SELECT mode FROM audit LIMIT 0", None).is_err() {
            sql.exec(
                "ALTER TABLE audit ADD COLUMN mode TEXT NOT NULL DEFAULT 'live'",
                None,
            )?;
        }
        self.audit_mode_ready.set(true);
        Ok(())
    }

    /// The mode of an object this organization holds (`api_key`, `oauth_client`,
    /// `oauth_grant`), for [`AuditDraft::mode`]; `None` for one it does not know.
    fn mode_of(&self, kind: &str, id: &str) -> Result<Option<KeyType>> {
        #[derive(Deserialize)]
        struct Mode {
            mode: Option<String>,
        }
        let query = match kind {
            "api_key" => "SELECT key_type AS mode FROM keys WHERE id = ?",
            "oauth_client" => {
                "SELECT COALESCE(json_extract(value, '$.mode'), 'live') AS mode FROM clients WHERE id = ?"
            }
            "oauth_grant" => {
                "SELECT json_extract(value, '$.keyType') AS mode FROM authorizations WHERE grant_id = ?"
            }
            _ => return Ok(None),
        };
        if kind != "api_key" {
            self.oauth_tables()?;
        }
        let rows: Vec<Mode> = self.sql().exec(query, vec![id.into()])?.to_array()?;
        Ok(rows.first().and_then(|row| match row.mode.as_deref() {
            Some("test") => Some(KeyType::Test),
            Some("live") => Some(KeyType::Live),
            _ => None,
        }))
    }

    fn append(&self, events: Vec<AuditDraft>, now_ms: u64) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.ensure_tables()?;
        self.audit_mode_column()?;
        let sql = self.sql();
        #[derive(Deserialize)]
        struct Next {
            next: i64,
        }
        for draft in events {
            // Who may see it, from the modes of what it names (a lookup that fails
            // counts as live: hidden from test-mode admins).
            let mode = draft.mode(|kind, id| self.mode_of(kind, id).ok().flatten());
            let rows: Vec<Next> = sql
                .exec("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM audit", None)?
                .to_array()?;
            let seq = rows.first().map_or(1, |r| r.next);
            let event = AuditEvent::new(draft, u64::try_from(seq).unwrap_or(0), now_ms);
            sql.exec(
                "INSERT INTO audit (seq, value, mode) VALUES (?, ?, ?)",
                vec![
                    SqlStorageValue::from(seq),
                    SqlStorageValue::from(serde_json::to_string(&event)?),
                    SqlStorageValue::from(mode.as_str()),
                ],
            )?;
        }
        // Bounded: the newest AUDIT_MAX_EVENTS stay.
        sql.exec(
            "DELETE FROM audit WHERE seq <= (SELECT MAX(seq) FROM audit) - ?",
            vec![SqlStorageValue::from(AUDIT_MAX_EVENTS as i64)],
        )?;
        Ok(())
    }

    /// The table of keys listed by `JoinKey` and not yet recorded (created organizations
    /// from before it lack it).
    fn joining_table(&self) -> Result<()> {
        if self.joining_ready.get() {
            return Ok(());
        }
        self.ensure_tables()?;
        self.sql().exec(
            "CREATE TABLE IF NOT EXISTS joining (id TEXT PRIMARY KEY)",
            None,
        )?;
        self.joining_ready.set(true);
        Ok(())
    }

    /// Every key that must learn a change of terms: those recorded, and those being
    /// created (listed by `JoinKey` before they took the terms).
    fn all_keys(&self) -> Result<Vec<KeyId>> {
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        if !self.has_tables()? {
            return Ok(Vec::new());
        }
        self.joining_table()?;
        let rows: Vec<Id> = self
            .sql()
            .exec("SELECT id FROM keys UNION SELECT id FROM joining", None)?
            .to_array()?;
        Ok(rows.iter().filter_map(|r| KeyId::parse(&r.id)).collect())
    }

    /// The active keys `person_id` created, by id (the copies' `createdBy`).
    fn keys_created_by(
        &self,
        person_id: scopien_auth::ids::PersonId,
        now_ms: u64,
    ) -> Result<OrgAnswer> {
        if !self.has_tables()? {
            return Ok(OrgAnswer::Keys(ListPage::new(Vec::new(), None, true)));
        }
        let rows: Vec<Value> = self
            .sql()
            .exec(
                "SELECT value FROM keys WHERE json_extract(value, '$.createdBy.personId') = ? ORDER BY id",
                vec![person_id.to_string().into()],
            )?
            .to_array()?;
        let mut views = Vec::new();
        for row in &rows {
            let mut view: KeyView = serde_json::from_str(&row.value)?;
            view.refresh_status(now_ms);
            if view.status == scopien_auth::keys::record::KeyStatus::Active {
                views.push(view);
            }
        }
        let complete = views.len() <= scopien_auth::org::MAX_KEYS_CREATED_BY;
        views.truncate(scopien_auth::org::MAX_KEYS_CREATED_BY);
        Ok(OrgAnswer::Keys(ListPage::new(views, None, complete)))
    }

    fn list_keys(
        &self,
        query: &ListQuery,
        only: Option<KeyType>,
        now_ms: u64,
    ) -> Result<OrgAnswer> {
        let Ok(after) = query.key_cursor() else {
            return Ok(OrgAnswer::BadCursor);
        };
        if !self.has_tables()? {
            return Ok(OrgAnswer::Keys(ListPage::new(Vec::new(), None, true)));
        }
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let limit = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
        let rows: Vec<Value> = match only {
            Some(key_type) => self.sql().exec(
                "SELECT value FROM keys WHERE id > ? AND key_type = ? ORDER BY id LIMIT ?",
                vec![after.into(), key_type.as_str().into(), limit.into()],
            )?,
            None => self.sql().exec(
                "SELECT value FROM keys WHERE id > ? ORDER BY id LIMIT ?",
                vec![after.into(), limit.into()],
            )?,
        }
        .to_array()?;
        // The policy as it stands now, whatever it was when each copy was made.
        let policy = self.record()?.map(|r| r.key_policy).unwrap_or_default();
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut view: KeyView = serde_json::from_str(&row.value)?;
            view.refresh_status(now_ms);
            view.refresh_policy(policy);
            views.push(view);
        }
        let complete = views.len() as u64 <= query.limit;
        views.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let cursor = views.last().map(|v| v.id.to_string());
        Ok(OrgAnswer::Keys(ListPage::new(views, cursor, complete)))
    }

    fn list_audit(&self, query: &ListQuery, only: Option<KeyType>) -> Result<OrgAnswer> {
        let Ok(before) = query.audit_cursor() else {
            return Ok(OrgAnswer::BadCursor);
        };
        if !self.has_tables()? {
            return Ok(OrgAnswer::Audit(ListPage::new(Vec::new(), None, true)));
        }
        self.audit_mode_column()?;
        let before = before.map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX));
        let limit = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
        #[derive(Deserialize)]
        struct Row {
            seq: i64,
            value: String,
        }
        let rows: Vec<Row> = match only {
            Some(mode) => self.sql().exec(
                "SELECT seq, value FROM audit WHERE seq < ? AND mode = ? ORDER BY seq DESC LIMIT ?",
                vec![before.into(), mode.as_str().into(), limit.into()],
            )?,
            None => self.sql().exec(
                "SELECT seq, value FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                vec![before.into(), limit.into()],
            )?,
        }
        .to_array()?;
        let complete = rows.len() as u64 <= query.limit;
        let page: Vec<&Row> = rows
            .iter()
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
            .collect();
        let cursor = page.last().map(|r| r.seq.to_string());
        let events = page
            .iter()
            .map(|r| serde_json::from_str(&r.value))
            .collect::<std::result::Result<Vec<AuditEvent>, _>>()?;
        Ok(OrgAnswer::Audit(ListPage::new(events, cursor, complete)))
    }

    /// A page of its apps, by id: `limit` + 1 rows read, so `hasMore` is exact.
    fn list_clients(&self, query: &ListQuery, only: Option<KeyType>) -> Result<OrgAnswer> {
        let Ok(after) = query.client_cursor() else {
            return Ok(OrgAnswer::BadCursor);
        };
        if !self.has_tables()? {
            return Ok(OrgAnswer::Clients(ListPage::new(Vec::new(), None, true)));
        }
        self.oauth_tables()?;
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        // An app from before modes is live.
        let rows: Vec<Value> = match only {
            None => self.sql().exec(
                "SELECT value FROM clients WHERE id > ? ORDER BY id LIMIT ?",
                vec![after.into(), page_rows(query).into()],
            )?,
            Some(mode) => self.sql().exec(
                "SELECT value FROM clients WHERE id > ? AND COALESCE(json_extract(value, '$.mode'), 'live') = ? ORDER BY id LIMIT ?",
                vec![after.into(), mode.as_str().into(), page_rows(query).into()],
            )?,
        }
        .to_array()?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(serde_json::from_str::<ClientRecord>(&row.value)?.view());
        }
        let complete = views.len() as u64 <= query.limit;
        views.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let cursor = views.last().map(|v| v.client_id.to_string());
        Ok(OrgAnswer::Clients(ListPage::new(views, cursor, complete)))
    }

    /// A page of its "Authorized apps", active first, newest first (then by grant id,
    /// so the order is total and a cursor resumes exactly).
    fn list_authorizations(&self, query: &ListQuery, only: Option<KeyType>) -> Result<OrgAnswer> {
        let Ok(after) = query.authorization_cursor() else {
            return Ok(OrgAnswer::BadCursor);
        };
        if !self.has_tables()? {
            return Ok(OrgAnswer::Authorizations(ListPage::new(
                Vec::new(),
                None,
                true,
            )));
        }
        self.oauth_tables()?;
        let limit = page_rows(query);
        // A test-mode caller sees only grants its mode's keys approved.
        let mode = only.map(|mode| mode.as_str()).unwrap_or("any");
        let (active, created, grant_id) = match &after {
            Some(after) => (
                i64::from(after.active),
                i64::try_from(after.created_ms).unwrap_or(i64::MAX),
                after.grant_id.to_string(),
            ),
            None => (i64::MAX, i64::MAX, String::new()),
        };
        let rows: Vec<Value> = self
            .sql()
            .exec(
                "SELECT value FROM authorizations WHERE (? = 'any' OR json_extract(value, '$.keyType') = ?) AND (? = 0 OR (active, created, grant_id) < (?, ?, ?)) ORDER BY active DESC, created DESC, grant_id DESC LIMIT ?",
                vec![
                    mode.into(),
                    mode.into(),
                    i64::from(after.is_some()).into(),
                    active.into(),
                    created.into(),
                    grant_id.into(),
                    limit.into(),
                ],
            )?
            .to_array()?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(serde_json::from_str::<AuthorizationView>(&row.value)?);
        }
        let complete = views.len() as u64 <= query.limit;
        views.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let cursor = views
            .last()
            .map(|v| AuthorizationCursor::after(v).to_string());
        Ok(OrgAnswer::Authorizations(ListPage::new(
            views, cursor, complete,
        )))
    }

    /// Creates the OAuth tables (apps, their grants, the grants this organization gave)
    /// the first time they are needed.
    /// The JSON `value` column of every row `query` selects from the OAuth tables; none
    /// for an organization never written.
    fn oauth_values<T: serde::de::DeserializeOwned>(&self, query: &str) -> Result<Vec<T>> {
        if !self.has_tables()? {
            return Ok(Vec::new());
        }
        self.oauth_tables()?;
        let rows: Vec<Value> = self.sql().exec(query, None)?.to_array()?;
        rows.iter()
            .map(|r| serde_json::from_str(&r.value).map_err(worker::Error::from))
            .collect()
    }

    fn oauth_tables(&self) -> Result<()> {
        if self.oauth_ready.get() {
            return Ok(());
        }
        self.ensure_tables()?;
        let sql = self.sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS clients (id TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        sql.exec("CREATE TABLE IF NOT EXISTS client_grants (client_id TEXT NOT NULL, grant_id TEXT NOT NULL, PRIMARY KEY (client_id, grant_id))", None)?;
        sql.exec("CREATE TABLE IF NOT EXISTS authorizations (grant_id TEXT PRIMARY KEY, created INTEGER NOT NULL, active INTEGER NOT NULL, value TEXT NOT NULL)", None)?;
        self.oauth_ready.set(true);
        Ok(())
    }

    fn client(&self, id: ClientId) -> Result<Option<ClientRecord>> {
        if !self.has_tables()? {
            return Ok(None);
        }
        self.oauth_tables()?;
        let rows: Vec<Value> = self
            .sql()
            .exec(
                "SELECT value FROM clients WHERE id = ?",
                vec![id.to_string().into()],
            )?
            .to_array()?;
        rows.first()
            .map(|row| serde_json::from_str(&row.value).map_err(worker::Error::from))
            .transpose()
    }

    /// An app's record, when it is of mode `only` (any, when `None`): a live app does not
    /// exist to a test-mode admin.
    fn client_of_mode(&self, id: ClientId, only: Option<KeyType>) -> Result<Option<ClientRecord>> {
        Ok(self
            .client(id)?
            .filter(|record| only.is_none_or(|mode| mode == record.mode)))
    }

    /// The grants approved by keys of type `mode`, as "Authorized apps" lists them.
    fn put_client(&self, record: &ClientRecord) -> Result<()> {
        self.oauth_tables()?;
        self.sql().exec(
            "INSERT OR REPLACE INTO clients (id, value) VALUES (?, ?)",
            vec![
                record.id.to_string().into(),
                serde_json::to_string(record)?.into(),
            ],
        )?;
        Ok(())
    }

    fn client_event(
        &self,
        action: &str,
        id: ClientId,
        actor: Actor,
        changes: Option<serde_json::Map<String, serde_json::Value>>,
        now: u64,
    ) -> Result<()> {
        let event = AuditDraft {
            actor,
            action: action.into(),
            target: AuditTarget::client(id),
            changes,
            report: None,
            reason: None,
        };
        self.append(vec![event], now)
    }

    fn oauth_step(&self, input: OrgInput, now: u64) -> Result<OrgAnswer> {
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        #[derive(Deserialize)]
        struct Grant {
            grant_id: String,
        }
        Ok(match input {
            OrgInput::CreateClient { record, actor } => {
                self.oauth_tables()?;
                let rows: Vec<Count> = self
                    .sql()
                    .exec("SELECT COUNT(*) AS n FROM clients", None)?
                    .to_array()?;
                if rows.first().map_or(0, |r| r.n) >= MAX_CLIENTS_PER_ORG as i64 {
                    return Ok(OrgAnswer::TooManyClients);
                }
                if self.client(record.id)?.is_some() {
                    return Ok(OrgAnswer::IdTaken);
                }
                self.put_client(&record)?;
                let changes = scopien_auth::audit::created(&record.view());
                self.client_event("oauth_client.created", record.id, actor, changes, now)?;
                OrgAnswer::Client(record)
            }
            OrgInput::GetClient(id) => match self.client(id)? {
                Some(record) => OrgAnswer::Client(record),
                None => OrgAnswer::NotFound,
            },
            OrgInput::ListClients { query, only } => self.list_clients(&query, only)?,
            OrgInput::PatchClient {
                id,
                patch,
                actor,
                only,
            } => {
                let Some(mut record) = self.client_of_mode(id, only)? else {
                    return Ok(OrgAnswer::NotFound);
                };
                let before = record.view();
                patch.apply(&mut record);
                self.put_client(&record)?;
                let event = AuditDraft {
                    actor,
                    action: "oauth_client.updated".into(),
                    target: AuditTarget::client(id),
                    changes: scopien_auth::audit::changes(&before, &record.view(), &[]),
                    report: None,
                    reason: None,
                };
                if event.changes.is_some() {
                    self.append(vec![event], now)?;
                }
                OrgAnswer::Client(record)
            }
            OrgInput::DeleteClient { id, actor, only } => {
                let Some(record) = self.client_of_mode(id, only)? else {
                    return Ok(OrgAnswer::NotFound);
                };
                // Logged while the app is still there to tell the event's mode.
                self.client_event("oauth_client.deleted", id, actor, None, now)?;
                let sql = self.sql();
                let rows: Vec<Grant> = sql
                    .exec(
                        "SELECT grant_id FROM client_grants WHERE client_id = ?",
                        vec![id.to_string().into()],
                    )?
                    .to_array()?;
                sql.exec(
                    "DELETE FROM clients WHERE id = ?",
                    vec![id.to_string().into()],
                )?;
                sql.exec(
                    "DELETE FROM client_grants WHERE client_id = ?",
                    vec![id.to_string().into()],
                )?;
                let grants = rows
                    .iter()
                    .filter_map(|r| GrantId::parse(&r.grant_id))
                    .collect();
                OrgAnswer::ClientDeleted { record, grants }
            }
            OrgInput::AddClientGrant {
                client_id,
                grant_id,
                default,
            } => {
                if self.client(client_id)?.is_none() {
                    return Ok(OrgAnswer::NotFound);
                }
                let Some(owner) = self.record_or(default, now)? else {
                    return Ok(OrgAnswer::NotFound);
                };
                if owner.status == OrgStatus::Suspended {
                    return Ok(OrgAnswer::Suspended);
                }
                self.sql().exec(
                    "INSERT OR IGNORE INTO client_grants (client_id, grant_id) VALUES (?, ?)",
                    vec![client_id.to_string().into(), grant_id.to_string().into()],
                )?;
                OrgAnswer::Org(owner)
            }
            OrgInput::RecordAuthorization { view, event } => {
                self.put_authorization(&view)?;
                let webhook = scopien_auth::org::grant_webhook_event(&view, &event);
                self.append(vec![event], now)?;
                self.record_events(view.organization_id, webhook.as_slice(), now)?;
                OrgAnswer::Recorded
            }
            OrgInput::JoinAuthorization {
                view,
                event,
                default,
            } => {
                let Some(record) = self.record_or(default, now)? else {
                    return Ok(OrgAnswer::NotFound);
                };
                if record.status == OrgStatus::Suspended {
                    return Ok(OrgAnswer::Suspended);
                }
                self.oauth_tables()?;
                let rows: Vec<Count> = self
                    .sql()
                    .exec(
                        "SELECT COUNT(*) AS n FROM authorizations WHERE active = 1 AND json_extract(value, '$.clientId') = ?",
                        vec![view.client_id.to_string().into()],
                    )?
                    .to_array()?;
                if rows.first().map_or(0, |r| r.n) >= MAX_ACTIVE_GRANTS_PER_APP as i64 {
                    return Ok(OrgAnswer::TooManyGrants);
                }
                self.put_authorization(&view)?;
                let webhook = scopien_auth::org::grant_webhook_event(&view, &event);
                self.append(vec![event], now)?;
                self.record_events(view.organization_id, webhook.as_slice(), now)?;
                OrgAnswer::Org(record)
            }
            OrgInput::ListAuthorizations { query, only } => {
                self.list_authorizations(&query, only)?
            }
            OrgInput::GrantsApprovedBy(key) => OrgAnswer::GrantIds(
                self.oauth_values::<AuthorizationView>(
                    "SELECT value FROM authorizations WHERE active = 1",
                )?
                .into_iter()
                .filter(|view| view.approved_by == scopien_auth::ids::Approver::Key(key))
                .map(|view| view.grant_id)
                .collect(),
            ),
            _ => OrgAnswer::NotFound,
        })
    }

    fn put_authorization(&self, view: &AuthorizationView) -> Result<()> {
        self.oauth_tables()?;
        self.sql().exec(
            "INSERT OR REPLACE INTO authorizations (grant_id, created, active, value) VALUES (?, ?, ?, ?)",
            vec![
                view.grant_id.to_string().into(),
                (view.created_at.0 as i64).into(),
                i64::from(view.revoked_at.is_none()).into(),
                serde_json::to_string(view)?.into(),
            ],
        )?;
        Ok(())
    }

    /// Every grant any organization gave this one's apps (to learn its status). Bounded:
    /// at most `MAX_ACTIVE_GRANTS_PER_APP` active ones per app and approving organization.
    fn app_grants(&self) -> Result<Vec<GrantId>> {
        self.grant_ids("SELECT grant_id FROM client_grants")
    }

    /// The grants this organization gave that are still active (to learn new terms).
    fn active_grants(&self) -> Result<Vec<GrantId>> {
        self.grant_ids("SELECT grant_id FROM authorizations WHERE active = 1")
    }

    /// The `grant_id` column of every row `query` selects from the OAuth tables; none
    /// for an organization never written.
    fn grant_ids(&self, query: &str) -> Result<Vec<GrantId>> {
        #[derive(Deserialize)]
        struct Grant {
            grant_id: String,
        }
        if !self.has_tables()? {
            return Ok(Vec::new());
        }
        self.oauth_tables()?;
        let rows: Vec<Grant> = self.sql().exec(query, None)?.to_array()?;
        Ok(rows
            .iter()
            .filter_map(|r| GrantId::parse(&r.grant_id))
            .collect())
    }

    fn record_events(
        &self,
        org: scopien_auth::ids::OrgId,
        events: &[(scopien_auth::webhooks::event::EventType, serde_json::Value)],
        now: u64,
    ) -> Result<()> {
        if outbox::record_events(&self.sql(), org, events, now)? {
            self.due_changed.set(true);
        }
        Ok(())
    }

    /// Sets the alarm to when the next webhook message is due, if a step changed it.
    /// Not awaited: the runtime applies it in order with the step's writes, and holds the
    /// step's answer until both are durable.
    fn schedule_alarm(&self) -> Result<()> {
        if !self.due_changed.replace(false) {
            return Ok(());
        }
        let Some(due) = outbox::next_due(&self.sql())? else {
            return Ok(());
        };
        let storage = self.raw.storage().map_err(worker::Error::from)?;
        let at = js_sys::Date::new(&(due as f64).into());
        let _ = storage
            .set_alarm(at, js_sys::Object::new())
            .map_err(worker::Error::from)?;
        Ok(())
    }

    /// Every key this organization lists, as recorded.
    fn key_views(&self) -> Result<Vec<KeyView>> {
        let rows: Vec<Value> = self
            .sql()
            .exec("SELECT value FROM keys", None)?
            .to_array()?;
        rows.iter()
            .map(|r| serde_json::from_str(&r.value).map_err(worker::Error::from))
            .collect()
    }

    /// Records `api_key.expiring` and `api_key.expired` for the keys whose milestone is
    /// due (`webhooks::expiry`), with each key's view as of now.
    fn announce_expiries(&self, now: u64) -> Result<()> {
        for (id, milestone) in outbox::due_expiries(&self.sql(), now)? {
            let rows: Vec<Value> = self
                .sql()
                .exec(
                    "SELECT value FROM keys WHERE id = ?",
                    vec![id.to_string().into()],
                )?
                .to_array()?;
            let Some(row) = rows.first() else {
                continue;
            };
            let mut view: KeyView = serde_json::from_str(&row.value)?;
            view.refresh_status(now);
            let data = serde_json::to_value(&view)?;
            self.record_events(view.organization_id, &[(milestone.event(), data)], now)?;
        }
        Ok(())
    }

    /// Hands the due webhook messages to the queue; the next alarm is set for the next
    /// due one (a message handed and not attempted within its lease included).
    async fn hand_due(&self) -> Result<()> {
        // Without the binding nothing is marked handed: the alarm fails, and the runtime
        // retries it.
        let queue = self.env.queue(crate::config::WEBHOOKS)?;
        let now = crate::platform::now_ms();
        self.announce_expiries(now)?;
        let due = outbox::take_due(&self.sql(), now)?;
        if !due.is_empty() {
            let sent = queue
                .send_batch(
                    worker::BatchMessageBuilder::new()
                        .messages(due.clone())
                        .build(),
                )
                .await;
            if let Err(fault) = sent {
                worker::console_error!("webhook messages not handed to the queue: {fault}");
                outbox::not_handed(&self.sql(), &due, now + outbox::HAND_AGAIN_MS)?;
            }
        }
        self.due_changed.set(true);
        self.schedule_alarm()
    }

    fn step(&self, input: OrgInput) -> Result<OrgAnswer> {
        let now = crate::platform::now_ms();
        Ok(match input {
            OrgInput::Create { record, actor } => {
                if self.record()?.is_some() {
                    return Ok(OrgAnswer::IdTaken);
                }
                self.put_record(&record)?;
                let event = scopien_auth::audit::AuditDraft {
                    actor,
                    action: "organization.created".into(),
                    target: scopien_auth::audit::AuditTarget::org(record.id),
                    changes: scopien_auth::audit::created(&record.view()),
                    report: None,
                    reason: None,
                };
                self.append(vec![event], now)?;
                OrgAnswer::Org(record)
            }
            OrgInput::Get { default } => match self.record_or(default, now)? {
                Some(record) => OrgAnswer::Org(record),
                None => OrgAnswer::NotFound,
            },
            OrgInput::Patch {
                patch,
                actor,
                default,
            } => {
                let Some(mut record) = self.record_or(default, now)? else {
                    return Ok(OrgAnswer::NotFound);
                };
                if let Some(changes) = patch.apply(&mut record) {
                    self.put_record(&record)?;
                    let event = scopien_auth::audit::AuditDraft {
                        actor,
                        action: "organization.updated".into(),
                        target: scopien_auth::audit::AuditTarget::org(record.id),
                        changes: Some(changes),
                        report: None,
                        reason: None,
                    };
                    self.append(vec![event], now)?;
                    // The outbox row, in the same step as the change.
                    let events = [scopien_auth::org::org_webhook_event(&record)];
                    self.record_events(record.id, &events, now)?;
                }
                OrgAnswer::Patched {
                    keys: self.all_keys()?,
                    grants: self.active_grants()?,
                    app_grants: self.app_grants()?,
                    record,
                }
            }
            OrgInput::JoinKey {
                key,
                by_root,
                default,
            } => {
                let Some(record) = self.record_or(default, now)? else {
                    return Ok(OrgAnswer::NotFound);
                };
                if record.status == OrgStatus::Suspended && !by_root {
                    return Ok(OrgAnswer::Suspended);
                }
                self.joining_table()?;
                self.sql().exec(
                    "INSERT OR IGNORE INTO joining (id) VALUES (?)",
                    vec![key.to_string().into()],
                )?;
                OrgAnswer::Org(record)
            }
            OrgInput::Record { entries, events } => {
                self.ensure_tables()?;
                self.joining_table()?;
                // The outbox rows, in the same step as the keys' listing and audit.
                let webhook_events = scopien_auth::org::key_webhook_events(&entries, &events);
                if let Some(org) = entries.first().map(|e| e.view.organization_id) {
                    self.record_events(org, &webhook_events, now)?;
                }
                let views: Vec<KeyView> = entries.iter().map(|e| e.view.clone()).collect();
                if outbox::track_keys(&self.sql(), &views, now)? {
                    self.due_changed.set(true);
                }
                for entry in entries {
                    self.sql().exec(
                        "DELETE FROM joining WHERE id = ?",
                        vec![entry.view.id.to_string().into()],
                    )?;
                    self.sql().exec(
                        "INSERT OR REPLACE INTO keys (id, key_type, value) VALUES (?, ?, ?)",
                        vec![
                            entry.view.id.to_string().into(),
                            entry.view.key_type.as_str().into(),
                            serde_json::to_string(&entry.view)?.into(),
                        ],
                    )?;
                }
                self.append(events, now)?;
                OrgAnswer::Recorded
            }
            OrgInput::ListKeys { query, only } => self.list_keys(&query, only, now)?,
            OrgInput::KeysCreatedBy { person_id } => self.keys_created_by(person_id, now)?,
            OrgInput::ListAudit { query, only } => self.list_audit(&query, only)?,
            OrgInput::Webhooks(input) => {
                self.due_changed.set(true);
                let creates = matches!(input, WebhookInput::Create { .. });
                let (answer, audit) = outbox::step(&self.sql(), input, now)?;
                // A change to an endpoint is in the audit log, in the same step.
                if let Some(event) = audit {
                    self.append(vec![event], now)?;
                }
                // Keys made before the first endpoint get their expiry milestones now.
                if creates && matches!(answer, WebhookAnswer::Created(_)) && self.has_tables()? {
                    let views = self.key_views()?;
                    outbox::track_keys(&self.sql(), &views, now)?;
                }
                OrgAnswer::Webhooks(answer)
            }
            oauth => self.oauth_step(oauth, now)?,
        })
    }
}

/// Rows a page reads: one more than it shows, to know whether more exist.
fn page_rows(query: &ListQuery) -> i64 {
    i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX)
}

#[wasm_bindgen]
impl OrgGuard {
    /// One input, by RPC (guard_client.rs): core's `OrgInput` as JSON, its `OrgAnswer` as
    /// JSON. An error (unreadable input, a storage fault) rejects the caller's promise.
    pub fn run(&self, input: &str) -> std::result::Result<String, JsError> {
        crate::objects::key_guard::rpc(input, |input| {
            let answer = self.step(input)?;
            self.schedule_alarm()?;
            Ok(answer)
        })
    }
}

impl DurableObject for OrgGuard {
    fn new(state: State, env: Env) -> Self {
        let raw = state._inner();
        let copy: worker::worker_sys::DurableObjectState =
            wasm_bindgen::JsCast::unchecked_into(js_sys::Object::clone(&raw));
        Self {
            state: State::from(copy),
            raw,
            env,
            due_changed: Cell::new(false),
            tables_ready: Cell::new(false),
            oauth_ready: Cell::new(false),
            joining_ready: Cell::new(false),
            audit_mode_ready: Cell::new(false),
        }
    }

    /// The guard answers RPC only (`run`).
    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("the organization guard is called by RPC", 404)
    }

    /// Webhook messages are due: hand them to the queue.
    async fn alarm(&self) -> Result<Response> {
        self.hand_due().await?;
        Response::empty()
    }
}
