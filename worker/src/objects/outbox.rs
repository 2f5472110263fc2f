//! An organization's webhooks in its `OrgGuard`'s database: the endpoints, and the
//! outbox, one row per event and subscribed endpoint (`deliveries`). A row is written in
//! the same synchronous step as the change that causes it (the organization's guard
//! records every key change and its own), so no change is recorded without its event.
//! The guard's alarm hands due rows to the queue (`WEBHOOKS`); the consumer
//! (`delivery.rs`) takes each from here, posts it, and records the answer here, which
//! makes it due again after the backoff, or settles it. What is due is in storage, so it
//! survives a restart; the queue's copy is only the hand-over. Decisions are core's
//! (`scopien_auth::webhooks`).

use scopien_auth::audit::AuditDraft;
use scopien_auth::ids::{MessageId, OrgId, WebhookId, RANDOM_BYTES_FOR_PEOPLE_ID};
use scopien_auth::keys::view::{KeyView, ListPage};
use scopien_auth::webhooks::delivery::{Delivery, HANDED_LEASE_MS};
use scopien_auth::webhooks::endpoint::{EndpointRecord, MAX_ENDPOINTS};
use scopien_auth::webhooks::event::{payload, EventType};
use scopien_auth::webhooks::expiry::{after, due_milestone, next_milestone, Milestone};
use scopien_auth::webhooks::protocol::{
    audit_event, delivery_cursor, endpoint_cursor, Attempt, Handed, WebhookAnswer, WebhookInput,
};
use scopien_auth::{KeyId, KeyStatus};
use serde::Deserialize;
use worker::{Result, SqlStorage};

/// Settled messages kept per organization (the newest); pending ones are all kept.
const SETTLED_KEPT: i64 = 1000;
/// Messages handed to the queue by one run of the alarm (more: it runs again at once).
const HANDED_AT_ONCE: i64 = 50;

#[derive(Deserialize)]
struct Value {
    value: String,
}

/// Whether the tables exist (an organization without webhooks never gets them).
pub(crate) fn exists(sql: &SqlStorage) -> Result<bool> {
    let found: Vec<serde_json::Value> = sql
        .exec(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'",
            None,
        )?
        .to_array()?;
    Ok(!found.is_empty())
}

pub(crate) fn create_tables(sql: &SqlStorage) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, value TEXT NOT NULL)",
        None,
    )?;
    sql.exec("CREATE TABLE IF NOT EXISTS deliveries (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, webhook_id TEXT NOT NULL, org TEXT NOT NULL, next_ms INTEGER, value TEXT NOT NULL, payload TEXT NOT NULL)", None)?;
    sql.exec(
        "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_ms) WHERE next_ms IS NOT NULL",
        None,
    )?;
    sql.exec(
        "CREATE INDEX IF NOT EXISTS deliveries_of ON deliveries (webhook_id, seq)",
        None,
    )?;
    // Each key's next expiry milestone (`webhooks::expiry`), for the alarm.
    sql.exec("CREATE TABLE IF NOT EXISTS expiries (key_id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL, milestone TEXT NOT NULL, next_ms INTEGER NOT NULL)", None)?;
    Ok(())
}

/// Keeps the next expiry milestone of each key in `views` (as recorded after a change):
/// a key with a new `expiresAt` starts from the first milestone still ahead; a revoked
/// key, or one that no longer expires, has none. An unchanged `expiresAt` keeps its
/// milestone (one due and not yet announced stays due).
pub(crate) fn track_keys(sql: &SqlStorage, views: &[KeyView], now_ms: u64) -> Result<bool> {
    #[derive(Deserialize)]
    struct Row {
        expires_ms: i64,
    }
    if views.is_empty() || !exists(sql)? {
        return Ok(false);
    }
    let mut changed = false;
    for view in views {
        let id = view.id.to_string();
        let expires = view
            .expires_at
            .filter(|_| view.status != KeyStatus::Revoked)
            .map(|t| t.0);
        let Some(expires_ms) = expires else {
            sql.exec("DELETE FROM expiries WHERE key_id = ?", vec![id.into()])?;
            continue;
        };
        let rows: Vec<Row> = sql
            .exec(
                "SELECT expires_ms FROM expiries WHERE key_id = ?",
                vec![id.clone().into()],
            )?
            .to_array()?;
        if rows.first().map(|r| r.expires_ms) == i64::try_from(expires_ms).ok() {
            continue;
        }
        match next_milestone(expires_ms, now_ms) {
            Some((milestone, at)) => {
                sql.exec(
                    "INSERT OR REPLACE INTO expiries (key_id, expires_ms, milestone, next_ms) VALUES (?, ?, ?, ?)",
                    vec![
                        id.into(),
                        i64::try_from(expires_ms).unwrap_or(i64::MAX).into(),
                        milestone.as_str().into(),
                        i64::try_from(at).unwrap_or(i64::MAX).into(),
                    ],
                )?;
                changed = true;
            }
            None => {
                sql.exec("DELETE FROM expiries WHERE key_id = ?", vec![id.into()])?;
            }
        }
    }
    Ok(changed)
}

/// The keys whose expiry milestone is due at `now_ms` (a bounded batch): the milestone
/// to announce for each (the latest passed), each moved on to its next one (or dropped).
pub(crate) fn due_expiries(sql: &SqlStorage, now_ms: u64) -> Result<Vec<(KeyId, Milestone)>> {
    #[derive(Deserialize)]
    struct Row {
        key_id: String,
        expires_ms: i64,
        milestone: String,
    }
    if !exists(sql)? {
        return Ok(Vec::new());
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let rows: Vec<Row> = sql
        .exec(
            "SELECT key_id, expires_ms, milestone FROM expiries WHERE next_ms <= ? ORDER BY next_ms LIMIT ?",
            vec![now.into(), HANDED_AT_ONCE.into()],
        )?
        .to_array()?;
    let mut due = Vec::with_capacity(rows.len());
    for row in rows {
        let expires_ms = u64::try_from(row.expires_ms).unwrap_or_default();
        let scheduled = Milestone::parse(&row.milestone).unwrap_or(Milestone::Expired);
        let reached = due_milestone(scheduled, expires_ms, now_ms);
        match after(reached, expires_ms, now_ms) {
            Some((next, at)) => sql.exec(
                "UPDATE expiries SET milestone = ?, next_ms = ? WHERE key_id = ?",
                vec![
                    next.as_str().into(),
                    i64::try_from(at).unwrap_or(i64::MAX).into(),
                    row.key_id.clone().into(),
                ],
            )?,
            None => sql.exec(
                "DELETE FROM expiries WHERE key_id = ?",
                vec![row.key_id.clone().into()],
            )?,
        };
        if let Some(id) = KeyId::parse(&row.key_id) {
            due.push((id, reached));
        }
    }
    Ok(due)
}

fn endpoints(sql: &SqlStorage) -> Result<Vec<EndpointRecord>> {
    let rows: Vec<Value> = sql
        .exec("SELECT value FROM webhooks ORDER BY id", None)?
        .to_array()?;
    rows.iter()
        .map(|r| serde_json::from_str(&r.value).map_err(worker::Error::from))
        .collect()
}

fn endpoint(sql: &SqlStorage, id: WebhookId) -> Result<Option<EndpointRecord>> {
    let rows: Vec<Value> = sql
        .exec(
            "SELECT value FROM webhooks WHERE id = ?",
            vec![id.to_string().into()],
        )?
        .to_array()?;
    rows.first()
        .map(|r| serde_json::from_str(&r.value).map_err(worker::Error::from))
        .transpose()
}

fn put_endpoint(sql: &SqlStorage, record: &EndpointRecord) -> Result<()> {
    sql.exec(
        "INSERT OR REPLACE INTO webhooks (id, value) VALUES (?, ?)",
        vec![
            record.id.to_string().into(),
            serde_json::to_string(record)?.into(),
        ],
    )?;
    Ok(())
}

fn delivery(sql: &SqlStorage, id: MessageId) -> Result<Option<(Delivery, String)>> {
    #[derive(Deserialize)]
    struct Row {
        value: String,
        payload: String,
    }
    let rows: Vec<Row> = sql
        .exec(
            "SELECT value, payload FROM deliveries WHERE id = ?",
            vec![id.to_string().into()],
        )?
        .to_array()?;
    rows.first()
        .map(|r| Ok((serde_json::from_str(&r.value)?, r.payload.clone())))
        .transpose()
}

fn next_column(delivery: &Delivery) -> worker::SqlStorageValue {
    match delivery.next_ms {
        Some(ms) => i64::try_from(ms).unwrap_or(i64::MAX).into(),
        None => worker::SqlStorageValue::Null,
    }
}

fn put_delivery(sql: &SqlStorage, delivery: &Delivery) -> Result<()> {
    sql.exec(
        "UPDATE deliveries SET next_ms = ?, value = ? WHERE id = ?",
        vec![
            next_column(delivery),
            serde_json::to_string(delivery)?.into(),
            delivery.id.to_string().into(),
        ],
    )?;
    Ok(())
}

/// Records the outbox rows of `events` (each with the public view it is about): one per
/// endpoint subscribed to it. Called inside the step that records the change, before it
/// returns; the caller then sets the alarm to [`next_due`].
pub(crate) fn record_events(
    sql: &SqlStorage,
    org: OrgId,
    events: &[(EventType, serde_json::Value)],
    now_ms: u64,
) -> Result<bool> {
    if events.is_empty() || !exists(sql)? {
        return Ok(false);
    }
    let endpoints = endpoints(sql)?;
    let mut recorded = false;
    for (event, data) in events {
        let body = payload(*event, now_ms, data);
        for endpoint in endpoints.iter().filter(|e| e.wants(*event)) {
            let random = crate::platform::random_bytes::<RANDOM_BYTES_FOR_PEOPLE_ID>()?;
            let delivery = Delivery::new(MessageId::generate(&random), endpoint.id, *event, now_ms);
            sql.exec(
                "INSERT INTO deliveries (id, webhook_id, org, next_ms, value, payload) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    delivery.id.to_string().into(),
                    endpoint.id.to_string().into(),
                    org.to_string().into(),
                    next_column(&delivery),
                    serde_json::to_string(&delivery)?.into(),
                    body.clone().into(),
                ],
            )?;
            recorded = true;
        }
    }
    if recorded {
        sql.exec(
            "DELETE FROM deliveries WHERE next_ms IS NULL AND seq <= (SELECT MAX(seq) FROM deliveries) - ?",
            vec![SETTLED_KEPT.into()],
        )?;
    }
    Ok(recorded)
}

/// When the alarm must next run: the earliest due message (`None`: nothing pending).
pub(crate) fn next_due(sql: &SqlStorage) -> Result<Option<u64>> {
    #[derive(Deserialize)]
    struct Next {
        next: Option<i64>,
    }
    if !exists(sql)? {
        return Ok(None);
    }
    let rows: Vec<Next> = sql
        .exec(
            "SELECT MIN(next) AS next FROM (SELECT MIN(next_ms) AS next FROM deliveries WHERE next_ms IS NOT NULL UNION ALL SELECT MIN(next_ms) FROM expiries)",
            None,
        )?
        .to_array()?;
    Ok(rows
        .first()
        .and_then(|r| r.next)
        .and_then(|n| u64::try_from(n).ok()))
}

/// The messages due at `now_ms` (a bounded batch), marked handed: due again only if no
/// attempt is recorded within the lease.
pub(crate) fn take_due(sql: &SqlStorage, now_ms: u64) -> Result<Vec<Handed>> {
    if !exists(sql)? {
        return Ok(Vec::new());
    }
    #[derive(Deserialize)]
    struct Row {
        org: String,
        value: String,
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let rows: Vec<Row> = sql
        .exec(
            "SELECT org, value FROM deliveries WHERE next_ms IS NOT NULL AND next_ms <= ? ORDER BY next_ms LIMIT ?",
            vec![now.into(), HANDED_AT_ONCE.into()],
        )?
        .to_array()?;
    let mut handed = Vec::with_capacity(rows.len());
    for row in rows {
        let mut delivery: Delivery = serde_json::from_str(&row.value)?;
        delivery.handed(now_ms);
        put_delivery(sql, &delivery)?;
        if let Some(org) = OrgId::parse(&row.org) {
            handed.push(Handed {
                org,
                id: delivery.id,
            });
        }
    }
    Ok(handed)
}

/// Makes messages the queue refused due again soon (the alarm retries them).
pub(crate) fn not_handed(sql: &SqlStorage, handed: &[Handed], again_ms: u64) -> Result<()> {
    for message in handed {
        if let Some((mut delivery, _)) = delivery(sql, message.id)? {
            if delivery.next_ms.is_some() {
                delivery.next_ms = Some(again_ms);
                put_delivery(sql, &delivery)?;
            }
        }
    }
    Ok(())
}

/// One step of the webhook API or the consumer; with the audit event of a change to an
/// endpoint, which the caller appends in the same step.
pub(crate) fn step(
    sql: &SqlStorage,
    input: WebhookInput,
    now_ms: u64,
) -> Result<(WebhookAnswer, Option<AuditDraft>)> {
    if !exists(sql)? {
        match input {
            WebhookInput::Create { .. } => create_tables(sql)?,
            WebhookInput::List(_) => {
                let empty = ListPage::new(Vec::new(), None, true);
                return Ok((WebhookAnswer::Endpoints(empty), None));
            }
            _ => return Ok((WebhookAnswer::NotFound, None)),
        }
    }
    let mut audit = None;
    let answer = match input {
        WebhookInput::Create { record, actor } => {
            if endpoint(sql, record.id)?.is_some() {
                return Ok((WebhookAnswer::IdTaken, None));
            }
            if endpoints(sql)?.len() >= MAX_ENDPOINTS {
                return Ok((WebhookAnswer::TooMany, None));
            }
            put_endpoint(sql, &record)?;
            let changes = scopien_auth::audit::created(&record.view());
            audit = Some(audit_event("webhook.created", record.id, actor, changes));
            WebhookAnswer::Created(record.created_view())
        }
        WebhookInput::List(query) => {
            let after = match endpoint_cursor(&query) {
                Some(Ok(id)) => id.to_string(),
                Some(Err(())) => return Ok((WebhookAnswer::BadCursor, None)),
                None => String::new(),
            };
            let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
            let mut views: Vec<_> = endpoints(sql)?
                .into_iter()
                .filter(|e| e.id.to_string() > after)
                .map(|e| e.view())
                .collect();
            let complete = views.len() <= limit;
            views.truncate(limit);
            let cursor = views.last().map(|v| v.id.to_string());
            WebhookAnswer::Endpoints(ListPage::new(views, cursor, complete))
        }
        WebhookInput::Get(id) => match endpoint(sql, id)? {
            Some(record) => WebhookAnswer::Endpoint(record.view()),
            None => WebhookAnswer::NotFound,
        },
        WebhookInput::Patch { id, patch, actor } => {
            let Some(mut record) = endpoint(sql, id)? else {
                return Ok((WebhookAnswer::NotFound, None));
            };
            let before = record.view();
            patch.apply(&mut record);
            put_endpoint(sql, &record)?;
            let changes = scopien_auth::audit::changes(&before, &record.view(), &[]);
            if changes.is_some() {
                audit = Some(audit_event("webhook.updated", id, actor, changes));
            }
            WebhookAnswer::Endpoint(record.view())
        }
        WebhookInput::Delete { id, actor } => {
            if endpoint(sql, id)?.is_none() {
                return Ok((WebhookAnswer::NotFound, None));
            }
            audit = Some(audit_event("webhook.deleted", id, actor, None));
            sql.exec(
                "DELETE FROM webhooks WHERE id = ?",
                vec![id.to_string().into()],
            )?;
            sql.exec(
                "DELETE FROM deliveries WHERE webhook_id = ?",
                vec![id.to_string().into()],
            )?;
            WebhookAnswer::Done
        }
        WebhookInput::Rotate { id, secret, actor } => {
            let Some(mut record) = endpoint(sql, id)? else {
                return Ok((WebhookAnswer::NotFound, None));
            };
            record.rotate(secret, now_ms);
            put_endpoint(sql, &record)?;
            audit = Some(audit_event("webhook.secret_rotated", id, actor, None));
            WebhookAnswer::Created(record.created_view())
        }
        WebhookInput::Deliveries { id, query } => {
            if endpoint(sql, id)?.is_none() {
                return Ok((WebhookAnswer::NotFound, None));
            }
            let before = match delivery_cursor(&query) {
                Some(Ok(seq)) => i64::try_from(seq).unwrap_or(i64::MAX),
                Some(Err(())) => return Ok((WebhookAnswer::BadCursor, None)),
                None => i64::MAX,
            };
            #[derive(Deserialize)]
            struct Row {
                seq: i64,
                value: String,
            }
            let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
            let rows: Vec<Row> = sql
                .exec(
                    "SELECT seq, value FROM deliveries WHERE webhook_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                    vec![id.to_string().into(), before.into(), limit.into()],
                )?
                .to_array()?;
            let complete = rows.len() as u64 <= query.limit;
            let shown = usize::try_from(query.limit).unwrap_or(usize::MAX);
            let cursor = rows[..rows.len().min(shown)]
                .last()
                .map(|r| r.seq.to_string());
            let views = rows
                .iter()
                .take(shown)
                .map(|r| serde_json::from_str::<Delivery>(&r.value).map(|d| d.view()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            WebhookAnswer::Deliveries(ListPage::new(views, cursor, complete))
        }
        WebhookInput::Notify {
            organization,
            event,
            data,
        } => {
            record_events(sql, organization, &[(event, data)], now_ms)?;
            WebhookAnswer::Done
        }
        WebhookInput::Take(id) => {
            let Some((mut delivery, payload)) = delivery(sql, id)? else {
                return Ok((WebhookAnswer::Done, None));
            };
            let Some(attempt) = delivery.next_attempt() else {
                return Ok((WebhookAnswer::Done, None));
            };
            let Some(endpoint) = endpoint(sql, delivery.webhook_id)? else {
                return Ok((WebhookAnswer::Done, None));
            };
            // The consumer holds it now: the lease starts again.
            delivery.handed(now_ms);
            put_delivery(sql, &delivery)?;
            WebhookAnswer::Send(Attempt {
                id,
                attempt,
                url: endpoint.url.clone(),
                secrets: endpoint.signing_secrets(now_ms),
                payload,
            })
        }
        WebhookInput::Attempted {
            id,
            attempt,
            status_code,
        } => {
            if let Some((mut delivery, _)) = delivery(sql, id)? {
                if delivery.attempted(attempt, status_code, now_ms) {
                    put_delivery(sql, &delivery)?;
                }
            }
            WebhookAnswer::Done
        }
    };
    Ok((answer, audit))
}

/// How long after a refused hand-over the alarm tries again.
pub(crate) const HAND_AGAIN_MS: u64 = HANDED_LEASE_MS / 6;
