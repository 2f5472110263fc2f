//! `KeyGuard`: one Durable Object per key, holding its authoritative record, counters and
//! usage. Every decision is core's (`KeyRecord::decide`); this file only loads and
//! stores. Storage is the object's SQLite database through its synchronous API, so a
//! read-modify-write has no await in it: concurrent requests are decided one at a time
//! and counted exactly.

use crate::http;
use crate::protocol::{CheckAnswer, CheckRequest, Directory, ManageAnswer, ManageRequest, Op};
use scopien_auth::admin::{parse_patch, roll, DEFAULT_ROLL_GRACE_S};
use scopien_auth::headers::{rate_limit_headers, shown_window};
use scopien_auth::key::RANDOM_BYTES_FOR_SECRET;
use scopien_auth::ratelimit::{self, Counters};
use scopien_auth::{ApiError, ApiKey, KeyRecord, KeyType, Verdict};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell, RefMut};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorageValue, State,
};

/// How often `lastUsedAt` is copied to the KV directory, at most (KV allows one write
/// per second per key; listing does not need it fresher).
const DIRECTORY_SYNC_MS: u64 = 60_000;

/// Usage kept beside the counters, written in the same row.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Meter {
    pub(crate) counters: Counters,
    pub(crate) total: u64,
    pub(crate) last_used_ms: Option<u64>,
    pub(crate) synced_ms: Option<u64>,
}

#[derive(Default)]
struct Loaded {
    record: Option<KeyRecord>,
    meter: Meter,
}

#[durable_object]
pub struct KeyGuard {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
    /// The `guard` table exists: `put` need not create it (once per object, not per write).
    table_ready: Cell<bool>,
    /// Benchmarks only (`config::bench_skip_counter_write`): counters stay in memory.
    bench_skip_counter_write: bool,
}

const RECORD: &str = "record";
const METER: &str = "meter";

impl KeyGuard {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// Loads the state once per object lifetime. A guard that was never written has no
    /// table, and reading does not create one: an unknown key writes nothing.
    fn load(&self) -> Result<()> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        #[derive(Deserialize)]
        struct Row {
            name: String,
            value: String,
        }
        let sql = self.sql();
        let exists: Vec<serde_json::Value> = sql
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'guard'",
                None,
            )?
            .to_array()?;
        let mut loaded = Loaded::default();
        if !exists.is_empty() {
            self.table_ready.set(true);
            let rows: Vec<Row> = sql
                .exec("SELECT name, value FROM guard", None)?
                .to_array()?;
            for row in rows {
                match row.name.as_str() {
                    RECORD => loaded.record = Some(serde_json::from_str(&row.value)?),
                    METER => loaded.meter = serde_json::from_str(&row.value)?,
                    _ => {}
                }
            }
        }
        *self.loaded.borrow_mut() = Some(loaded);
        Ok(())
    }

    fn put(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let sql = self.sql();
        if !self.table_ready.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS guard (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                None,
            )?;
            self.table_ready.set(true);
        }
        sql.exec(
            "INSERT OR REPLACE INTO guard (name, value) VALUES (?, ?)",
            vec![
                SqlStorageValue::from(name),
                SqlStorageValue::from(serde_json::to_string(value)?),
            ],
        )?;
        Ok(())
    }

    /// The loaded state, borrowed for one synchronous decision.
    fn state(&self) -> Result<RefMut<'_, Loaded>> {
        self.load()?;
        RefMut::filter_map(self.loaded.borrow_mut(), Option::as_mut)
            .map_err(|_| worker::Error::RustError("key state did not load".into()))
    }

    fn now_ms() -> u64 {
        worker::Date::now().as_millis()
    }

    fn check(&self, request: CheckRequest) -> Result<Response> {
        let mut state = self.state()?;
        let loaded = &mut *state;
        let now = Self::now_ms();
        let Loaded {
            record: stored,
            meter,
        } = loaded;
        // The root key's record comes from the worker's secret and is never stored.
        let record = match (&request.root, stored.as_ref()) {
            (Some(root), _) => root,
            (None, Some(record)) => record,
            (None, None) => return http::error(&ApiError::invalid_key()),
        };
        let verdict = record.decide(
            &request.hash,
            &request.method,
            request.resource.as_deref(),
            &meter.counters,
            now,
        );
        let refusal = |err: ApiError, status: &scopien_auth::Status| {
            let response = http::error(&err)?;
            let headers = rate_limit_headers(status, now);
            http::with_headers(response, headers.iter().map(|(n, v)| (*n, v.as_str())))
        };
        match verdict {
            Verdict::Invalid => http::error(&ApiError::invalid_key()),
            Verdict::Expired => http::error(&ApiError::expired_key()),
            Verdict::Forbidden { missing, status } => {
                refusal(ApiError::forbidden(&missing), &status)
            }
            Verdict::Limited {
                status,
                retry_after_s,
            } => refusal(ApiError::rate_limited(retry_after_s), &status),
            Verdict::Admitted { counters, status } => {
                meter.counters = counters;
                meter.total += 1;
                meter.last_used_ms = Some(now);
                let sync_due = request.root.is_none()
                    && meter
                        .synced_ms
                        .is_none_or(|at| now.saturating_sub(at) >= DIRECTORY_SYNC_MS);
                if sync_due {
                    meter.synced_ms = Some(now);
                }
                let meter = *meter;
                if !self.bench_skip_counter_write {
                    self.put(METER, &meter)?;
                }
                let window = shown_window(&status);
                let answer = CheckAnswer {
                    key_type: record.key_type,
                    scopes: record.grants.to_json(),
                    limit: window.limit,
                    remaining: window.remaining,
                    reset: window.reset_ms.div_ceil(1000),
                    headers: rate_limit_headers(&status, now)
                        .into_iter()
                        .map(|(n, v)| (n.to_owned(), v))
                        .collect(),
                    directory: sync_due.then(|| Directory::of(record, now, meter.last_used_ms)),
                };
                http::json_text(200, serde_json::to_string(&answer)?)
            }
        }
    }

    fn manage(&self, request: ManageRequest) -> Result<Response> {
        let mut state = self.state()?;
        let loaded = &mut *state;
        let now = Self::now_ms();
        let not_found = || http::error(&ApiError::not_found("No API key with that id"));
        if let Op::Create { record } = request.op {
            if loaded.record.is_some() {
                return http::error(&ApiError::conflict("A key with that id exists"));
            }
            self.put(RECORD, &record)?;
            loaded.record = Some(record);
            return self.answer(loaded, now, None, 201);
        }
        let Some(mut record) = loaded.record.clone() else {
            return not_found();
        };
        // A test-mode admin sees only test keys; to it a live key does not exist.
        if request.caller == KeyType::Test && record.key_type == KeyType::Live {
            return not_found();
        }
        let revoked = record.revoked_ms.is_some();
        let conflict = || {
            http::error(&ApiError::conflict(
                "The key is revoked; revoked keys cannot be changed. Create a new key instead",
            ))
        };
        if matches!(request.op, Op::Usage) {
            let status = ratelimit::status(&record.policy, &loaded.meter.counters, now);
            let window = |w: scopien_auth::ratelimit::WindowStatus| {
                serde_json::json!({
                    "used": w.limit - w.remaining,
                    "limit": w.limit,
                    "reset": w.reset_ms.div_ceil(1000),
                })
            };
            return http::json(
                200,
                &serde_json::json!({
                    "id": record.id,
                    "hour": window(status.hour),
                    "day": status.day.map(window),
                    "total": loaded.meter.total,
                    "lastUsedAt": loaded.meter.last_used_ms.map(scopien_auth::timestamp::format_ms),
                }),
            );
        }
        match request.op {
            Op::Get | Op::Usage => {}
            Op::Create { .. } => return not_found(),
            Op::Revoke => {
                if !revoked {
                    record.revoked_ms = Some(now);
                    record.previous = None;
                    self.put(RECORD, &record)?;
                    loaded.record = Some(record);
                }
            }
            Op::Patch { body } => {
                if revoked {
                    return conflict();
                }
                let plan = match crate::config::plan(&self.env) {
                    Ok(plan) => plan,
                    Err(e) => return http::error(&e),
                };
                let patched = parse_patch(body.as_bytes(), now)
                    .and_then(|patch| patch.apply(&mut record, plan));
                if let Err(e) = patched {
                    return http::error(&e);
                }
                self.put(RECORD, &record)?;
                loaded.record = Some(record);
            }
            Op::Roll { grace_s } => {
                if revoked {
                    return conflict();
                }
                let mut random = [0u8; RANDOM_BYTES_FOR_SECRET];
                getrandom::fill(&mut random)
                    .map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
                let key = ApiKey::with_new_secret(record.key_type, record.id, &random);
                roll(
                    &mut record,
                    key.hash_hex(),
                    key.last4().to_owned(),
                    grace_s.unwrap_or(DEFAULT_ROLL_GRACE_S),
                    now,
                );
                self.put(RECORD, &record)?;
                loaded.record = Some(record);
                return self.answer(loaded, now, Some(key.expose_secret().to_owned()), 200);
            }
        }
        self.answer(loaded, now, None, 200)
    }

    fn answer(
        &self,
        loaded: &Loaded,
        now: u64,
        key: Option<String>,
        status: u16,
    ) -> Result<Response> {
        let Some(record) = &loaded.record else {
            return http::error(&ApiError::not_found("No API key with that id"));
        };
        let answer = ManageAnswer {
            directory: Directory::of(record, now, loaded.meter.last_used_ms),
            key,
        };
        http::json_text(status, serde_json::to_string(&answer)?)
    }
}

impl DurableObject for KeyGuard {
    fn new(state: State, env: Env) -> Self {
        let bench_skip_counter_write = crate::config::bench_skip_counter_write(&env);
        if bench_skip_counter_write {
            worker::console_error!(
                "SCOPIEN_BENCH_SKIP_COUNTER_WRITE is set: counters are not stored (benchmarks only)"
            );
        }
        Self {
            state,
            env,
            loaded: RefCell::new(None),
            table_ready: Cell::new(false),
            bench_skip_counter_write,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let body = req.text().await?;
        match path.as_str() {
            "/check" => self.check(serde_json::from_str(&body)?),
            "/manage" => self.manage(serde_json::from_str(&body)?),
            _ => http::error(&ApiError::not_found("unknown guard operation")),
        }
    }
}
