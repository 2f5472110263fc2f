//! `GrantGuard`: one Durable Object per OAuth grant, named by the grant id inside its
//! code and tokens. Like the `KeyGuard`: load the grant's state, hand it with the input,
//! the time and random bytes to core's state machine (`scopien_auth::oauth::grant`), store what
//! the step says, answer. SQLite's synchronous API keeps each step free of awaits, so
//! two refreshes with one token are decided one after the other and only one wins.

use crate::objects::flush::{Counted, DeferredCounters};
use crate::objects::rows::NamedRows;
use scopien_auth::check::protocol::CheckAnswer;
use scopien_auth::credentials::token::RANDOM_BYTES_FOR_TOKEN;
use scopien_auth::keys::guard::{Answer, Input};
use scopien_auth::keys::wire;
use scopien_auth::oauth::grant::{GrantAnswer, GrantInput, GrantState, GrantWrites};
use serde::Serialize;
use std::cell::RefCell;
use wasm_bindgen::prelude::{wasm_bindgen, JsError};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const RECORD: &str = "record";
const TOMBSTONE: &str = "tombstone";
const COUNTERS: &str = "counters";
/// Terms pushed before consent began (`GrantState::early`).
const EARLY: &str = "early";

#[durable_object]
pub struct GrantGuard {
    state: State,
    /// The grant's state, loaded once per object lifetime.
    loaded: RefCell<Option<GrantState>>,
    /// Its state's rows (table `grant_state`).
    rows: NamedRows,
    /// When the counters are stored (`METER_FLUSH_MS`).
    counters: DeferredCounters,
}

impl GrantGuard {
    const COUNTERS_ONLY: GrantWrites = GrantWrites {
        counters: true,
        record: false,
        early: false,
    };

    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// Reads the stored state (none for an unknown grant).
    fn read(&self) -> Result<GrantState> {
        let mut state = GrantState::default();
        for (name, value) in self.rows.read(&self.sql())? {
            match name.as_str() {
                RECORD => state.record = Some(serde_json::from_str(&value)?),
                TOMBSTONE => state.tombstone_ms = Some(serde_json::from_str(&value)?),
                COUNTERS => state.counters = serde_json::from_str(&value)?,
                EARLY => state.early = serde_json::from_str(&value)?,
                _ => {}
            }
        }
        Ok(state)
    }

    fn put(&self, name: &str, value: &impl Serialize) -> Result<()> {
        self.rows.put(&self.sql(), name, value)
    }

    fn store(&self, state: &GrantState, writes: GrantWrites) -> Result<()> {
        if writes.record {
            match (&state.record, state.tombstone_ms) {
                (Some(record), _) => self.put(RECORD, record)?,
                (None, Some(at)) => self.put(TOMBSTONE, &at)?,
                (None, None) => {}
            }
        }
        if writes.early {
            self.put(EARLY, &state.early)?;
        }
        if writes.counters {
            self.rows
                .put_json(&self.sql(), COUNTERS, state.counters.to_json())?;
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
        let now = crate::platform::now_ms();
        // Random bytes only for the steps that issue tokens.
        let random = if matches!(
            input,
            GrantInput::Exchange { .. } | GrantInput::Refresh { .. }
        ) {
            crate::platform::random_bytes::<{ 2 * RANDOM_BYTES_FOR_TOKEN }>()?
        } else {
            [0u8; 2 * RANDOM_BYTES_FOR_TOKEN]
        };
        let (answer, mut writes) = state.step(input, now, &random);
        // Only a refusal's count: it waits for a write that happens anyway (flush.rs).
        let counted = match &answer {
            GrantAnswer::Check(CheckAnswer::Refused { .. }) => Counted::Refused,
            _ => Counted::Admitted,
        };
        writes.counters = self
            .counters
            .store_now(writes.counters, !writes.record, counted);
        self.store(&state, writes)?;
        if writes.counters {
            self.counters.stored();
        }
        *slot = Some(state);
        Ok(answer)
    }
}

#[wasm_bindgen]
impl GrantGuard {
    /// One input, by RPC (guard_client.rs): a request's check in the key guard's compact
    /// wire form (`scopien_auth::keys::wire`), answered in it; anything else core's
    /// `GrantInput` as JSON, its `GrantAnswer` as JSON.
    pub fn run(&self, input: &str) -> std::result::Result<String, JsError> {
        if input.starts_with('C') {
            let answer = wire::decode_input(input)
                .map_err(crate::client::wire_fault)
                .and_then(|input| match input {
                    Input::Check(check) => self.step(GrantInput::Check(check)),
                    Input::RootCheck { .. } | Input::Manage(_) | Input::Verify(_) => {
                        Err(worker::Error::RustError("not a grant's check".into()))
                    }
                })
                .and_then(|answer| match answer {
                    GrantAnswer::Check(answer) => wire::encode_answer(&Answer::Check(answer))
                        .map_err(crate::client::wire_fault),
                    _ => Err(worker::Error::RustError(
                        "grant guard: not a check answer".into(),
                    )),
                });
            return answer.map_err(|fault| JsError::new(&fault.to_string()));
        }
        crate::objects::key_guard::rpc(input, |input| self.step(input))
    }

    /// After a batch of `run`s, before the entry module awaits its commit: stores the
    /// counters if they hold an admitted request storage does not, and answers how long
    /// until the entry module should call `flush` (0: none). An error fails the batch.
    pub fn end_batch(&self) -> std::result::Result<f64, JsError> {
        self.counters
            .end_batch(&self.loaded, |state| self.store(state, Self::COUNTERS_ONLY))
    }

    /// Whether this object wrote to storage since the last call (after `end_batch`: a
    /// batch that wrote nothing, only refusals, has no commit to wait for).
    pub fn wrote(&self) -> bool {
        self.rows.take_written()
    }

    /// Stores the counters if they are ahead of storage (METER_FLUSH_MS).
    pub fn flush(&self) -> std::result::Result<(), JsError> {
        let flushed = self
            .counters
            .flush(&self.loaded, |state| self.store(state, Self::COUNTERS_ONLY));
        // Outside any batch: no answer waits for this write.
        self.rows.take_written();
        flushed
    }
}

impl DurableObject for GrantGuard {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            loaded: RefCell::new(None),
            rows: NamedRows::new("grant_state"),
            counters: DeferredCounters::new(&env),
        }
    }

    /// The guard answers RPC only (`run`).
    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("the grant guard is called by RPC", 404)
    }
}
