//! `GrantGuard`: one Durable Object per OAuth grant, named by the grant id inside its
//! code and tokens. Like the `KeyGuard`: load the grant's state, hand it with the input,
//! the time and random bytes to core's state machine (`scopien_auth::grant`), store what
//! the step says, answer. SQLite's synchronous API keeps each step free of awaits, so
//! two refreshes with one token are decided one after the other and only one wins.

use scopien_auth::grant::{GrantAnswer, GrantInput, GrantState, GrantWrites};
use scopien_auth::oauth::RANDOM_BYTES_FOR_TOKEN;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::{wasm_bindgen, JsError};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorageValue, State,
};

const RECORD: &str = "record";
const TOMBSTONE: &str = "tombstone";
const COUNTERS: &str = "counters";

#[durable_object]
pub struct GrantGuard {
    state: State,
    /// The grant's state, loaded once per object lifetime.
    loaded: RefCell<Option<GrantState>>,
    /// The `grant` table exists (once per object).
    table_ready: Cell<bool>,
}

impl GrantGuard {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// Reads the stored state; an unknown grant creates nothing.
    fn read(&self) -> Result<GrantState> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
            value: String,
        }
        let sql = self.sql();
        let tables: Vec<serde_json::Value> = sql
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'grant_state'",
                None,
            )?
            .to_array()?;
        let mut state = GrantState::default();
        if tables.is_empty() {
            return Ok(state);
        }
        self.table_ready.set(true);
        let rows: Vec<Row> = sql
            .exec("SELECT name, value FROM grant_state", None)?
            .to_array()?;
        for row in rows {
            match row.name.as_str() {
                RECORD => state.record = Some(serde_json::from_str(&row.value)?),
                TOMBSTONE => state.tombstone_ms = Some(serde_json::from_str(&row.value)?),
                COUNTERS => state.counters = serde_json::from_str(&row.value)?,
                _ => {}
            }
        }
        Ok(state)
    }

    fn put(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let sql = self.sql();
        if !self.table_ready.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS grant_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                None,
            )?;
            self.table_ready.set(true);
        }
        sql.exec(
            "INSERT OR REPLACE INTO grant_state (name, value) VALUES (?, ?)",
            vec![
                SqlStorageValue::from(name),
                SqlStorageValue::from(serde_json::to_string(value)?),
            ],
        )?;
        Ok(())
    }

    fn store(&self, state: &GrantState, writes: GrantWrites) -> Result<()> {
        if writes.record {
            match (&state.record, state.tombstone_ms) {
                (Some(record), _) => self.put(RECORD, record)?,
                (None, Some(at)) => self.put(TOMBSTONE, &at)?,
                (None, None) => {}
            }
        }
        if writes.counters {
            self.put(COUNTERS, &state.counters)?;
        }
        Ok(())
    }

    /// Load, step, store. A failed write leaves the state unloaded, so the next input
    /// rereads what storage holds.
    fn step(&self, input: GrantInput) -> Result<GrantAnswer> {
        let mut slot = self.loaded.borrow_mut();
        let mut state = match slot.take() {
            Some(state) => state,
            None => self.read()?,
        };
        let now = worker::Date::now().as_millis();
        let mut random = [0u8; 2 * RANDOM_BYTES_FOR_TOKEN];
        if matches!(
            input,
            GrantInput::Exchange { .. } | GrantInput::Refresh { .. }
        ) {
            getrandom::fill(&mut random)
                .map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
        }
        let (answer, writes) = state.step(input, now, &random);
        self.store(&state, writes)?;
        *slot = Some(state);
        Ok(answer)
    }
}

#[wasm_bindgen]
impl GrantGuard {
    /// One input, by RPC (guard_client.rs): core's `GrantInput` as JSON, its
    /// `GrantAnswer` as JSON.
    pub fn run(&self, input: &str) -> std::result::Result<String, JsError> {
        crate::guard::rpc(input, |input| self.step(input))
    }
}

impl DurableObject for GrantGuard {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            loaded: RefCell::new(None),
            table_ready: Cell::new(false),
        }
    }

    /// The guard answers RPC only (`run`).
    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("the grant guard is called by RPC", 404)
    }
}
