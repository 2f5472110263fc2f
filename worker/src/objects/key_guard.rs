//! `KeyGuard`: one Durable Object per key. It loads the key's state, hands it with the
//! input, the time and (for management) random bytes to core's state machine
//! (`scopien_auth::keys::guard`), stores what the step says to store, and answers the step's
//! typed answer. Storage is the object's SQLite database through its synchronous API, so
//! a step has no await in it: concurrent requests are decided one at a time and counted
//! exactly.
//!
//! Transport: the worker calls `run` by JS RPC (the entry module, worker/shim.js, derives
//! the class from `DurableObject`), core's `Input` in and its `Answer` out as text in
//! their wire form (`scopien_auth::keys::wire`: compact for a request's check, JSON otherwise):
//! no Request or Response on either side, and no await in the object.

use crate::objects::flush::{Counted, DeferredCounters};
use crate::objects::rows::NamedRows;
use scopien_auth::check::protocol::CheckAnswer;
use scopien_auth::credentials::key::RANDOM_BYTES_FOR_SECRET;
use scopien_auth::keys::guard::{Answer, DirectoryEntry, Input, KeyState, LimitExceeded, Writes};
use scopien_auth::keys::wire;
use scopien_auth::policy::usage::UsageHistory;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::{wasm_bindgen, JsError};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const RECORD: &str = "record";
const METER: &str = "meter";
/// The usage history's closed periods, stored apart from the meter (`core::usage`).
const HISTORY: &str = "history";
/// Its organization's terms (plan, status, revision): a suspension must outlive the
/// object's eviction or a restart, as the record does.
const ORG: &str = "org";

#[durable_object]
pub struct KeyGuard {
    state: State,
    env: Env,
    /// The key's state, loaded once per object lifetime.
    loaded: RefCell<Option<KeyState>>,
    /// Its state's rows (table `guard`).
    rows: NamedRows,
    /// The newest periods of the history whose closed part is stored; `None` when it
    /// must be stored with the next meter.
    history_stored_at: Cell<Option<(Option<u64>, Option<u64>)>>,
    /// When the meter is stored (`METER_FLUSH_MS`).
    meter: DeferredCounters,
}

impl KeyGuard {
    const METER_ONLY: Writes = Writes {
        meter: true,
        record: false,
        org: false,
        directory: None,
        limit_exceeded: None,
    };

    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// Reads the stored state (none for an unknown key).
    fn read(&self) -> Result<KeyState> {
        let mut state = KeyState::default();
        let mut closed = None;
        for (name, value) in self.rows.read(&self.sql())? {
            match name.as_str() {
                RECORD => state.record = Some(serde_json::from_str(&value)?),
                METER => state.meter = serde_json::from_str(&value)?,
                HISTORY => closed = Some(serde_json::from_str(&value)?),
                ORG => state.org = Some(serde_json::from_str(&value)?),
                _ => {}
            }
        }
        // A meter stored before the split holds its whole history, and no closed part.
        let stored = closed.is_some();
        let open = std::mem::take(&mut state.meter.history);
        state.meter.history = UsageHistory::joined(open, closed.unwrap_or_default());
        self.history_stored_at
            .set(stored.then(|| state.meter.history.newest_periods()));
        Ok(state)
    }

    fn put(&self, name: &str, value: &impl Serialize) -> Result<()> {
        self.rows.put(&self.sql(), name, value)
    }

    fn store(&self, state: &KeyState, writes: &Writes) -> Result<()> {
        if writes.record {
            if let Some(record) = &state.record {
                self.put(RECORD, record)?;
            }
        }
        if writes.org {
            if let Some(org) = &state.org {
                self.put(ORG, org)?;
            }
        }
        if writes.meter {
            let history = &state.meter.history;
            let periods = Some(history.newest_periods());
            if self.history_stored_at.get() != periods {
                self.put(HISTORY, &history.closed())?;
                self.history_stored_at.set(periods);
            }
            self.rows
                .put_json(&self.sql(), METER, state.meter.to_stored_json())?;
        }
        Ok(())
    }

    /// A window's first refusal to the organization's webhooks, after the answer and
    /// without awaiting it: a refusal is no stored change, so it is not in the outbox,
    /// and a failed hand-over is logged and lost (docs/webhooks.md).
    fn announce_limit(&self, exceeded: Box<LimitExceeded>) {
        use scopien_auth::org::OrgInput;
        use scopien_auth::webhooks::event::{rate_limit_data, EventType};
        use scopien_auth::webhooks::protocol::WebhookInput;
        let env = self.env.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            let organization = exceeded.view.organization_id;
            let input = OrgInput::Webhooks(WebhookInput::Notify {
                organization,
                event: EventType::RateLimitExceeded,
                data: rate_limit_data(&exceeded),
            });
            if let Err(fault) = crate::client::org(&env, organization, &input).await {
                worker::console_error!(
                    "rate_limit.exceeded not recorded for {organization}: {fault}"
                );
            }
        });
    }

    /// What a request's step asks of others, after its answer: `lastUsedAt` to the
    /// directory, a window's first refusal to the organization's webhooks.
    fn after_check(&self, writes: &mut Writes) {
        if let Some(entry) = writes.directory.take() {
            self.record_directory(entry);
        }
        if let Some(exceeded) = writes.limit_exceeded.take() {
            self.announce_limit(exceeded);
        }
    }

    /// A key's `lastUsedAt` (at most once a minute, core decides) to the KV directory
    /// and the organization's listing, after the answer: the guard records it, so that
    /// the request path never needs the full module for it (lib.rs).
    fn record_directory(&self, entry: DirectoryEntry) {
        let env = self.env.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            crate::operations::record_all(&env, vec![entry], Vec::new()).await;
        });
    }

    /// Load, step, store: the whole of a guard's work for one input. A step whose
    /// writes fail leaves the in-memory state unloaded, so the next input rereads what
    /// storage really holds.
    fn step(&self, input: Input) -> Result<Answer> {
        let mut slot = self.loaded.borrow_mut();
        let mut state = match slot.take() {
            Some(state) => state,
            None => self.read()?,
        };
        let now = crate::platform::now_ms();
        let (answer, mut writes) = match input {
            Input::Check(check) => {
                let (answer, mut writes) = state.check(check, None, now);
                self.after_check(&mut writes);
                (Answer::Check(answer), writes)
            }
            Input::RootCheck { check, root } => {
                let (answer, mut writes) = state.check(check, Some(&root), now);
                self.after_check(&mut writes);
                (Answer::Check(answer), writes)
            }
            Input::Verify(verify) => {
                let (answer, mut writes) = state.verify(verify, now);
                self.after_check(&mut writes);
                (Answer::Verify(answer), writes)
            }
            Input::Manage(manage) => {
                let random = crate::platform::random_bytes::<RANDOM_BYTES_FOR_SECRET>()?;
                let (answer, writes) = state.manage(manage, now, &random);
                (Answer::Manage(answer), writes)
            }
        };
        // Only a refusal's count: it waits for a write that happens anyway (flush.rs).
        let counted = match &answer {
            Answer::Check(CheckAnswer::Refused { .. }) => Counted::Refused,
            _ => Counted::Admitted,
        };
        writes.meter = self
            .meter
            .store_now(writes.meter, !writes.record && !writes.org, counted);
        self.store(&state, &writes)?;
        if writes.meter {
            self.meter.stored();
        }
        *slot = Some(state);
        Ok(answer)
    }
}

#[wasm_bindgen]
impl KeyGuard {
    /// One input, by RPC (guard_client.rs): core's `Input` in, its `Answer` out, in their
    /// wire form (`scopien_auth::keys::wire`). An error (unreadable input, a storage fault)
    /// rejects the caller's promise.
    pub fn run(&self, input: &str) -> std::result::Result<String, JsError> {
        wire::decode_input(input)
            .map_err(crate::client::wire_fault)
            .and_then(|input| self.step(input))
            .and_then(|answer| wire::encode_answer(&answer).map_err(crate::client::wire_fault))
            .map_err(|fault| JsError::new(&fault.to_string()))
    }

    /// After a batch of `run`s, before the entry module awaits its commit: stores the
    /// meter if it holds an admitted request storage does not (once per batch, in the
    /// commit the batch's answers wait for), and answers how long until the entry module
    /// should call `flush` (0: none to schedule). An error fails the whole batch.
    pub fn end_batch(&self) -> std::result::Result<f64, JsError> {
        self.meter
            .end_batch(&self.loaded, |state| self.store(state, &Self::METER_ONLY))
    }

    /// Whether this object wrote to storage since the last call (after `end_batch`: a
    /// batch that wrote nothing, only refusals, has no commit to wait for).
    pub fn wrote(&self) -> bool {
        self.rows.take_written()
    }

    /// Stores the meter if it is ahead of storage (METER_FLUSH_MS).
    pub fn flush(&self) -> std::result::Result<(), JsError> {
        let flushed = self
            .meter
            .flush(&self.loaded, |state| self.store(state, &Self::METER_ONLY));
        // Outside any batch: no answer waits for this write.
        self.rows.take_written();
        flushed
    }
}

/// One RPC call to a guard: JSON text in, `step` it, JSON text out. An error (unreadable
/// input, a storage fault) rejects the caller's promise with its message.
pub(crate) fn rpc<I: DeserializeOwned, A: Serialize>(
    input: &str,
    step: impl FnOnce(I) -> Result<A>,
) -> std::result::Result<String, JsError> {
    serde_json::from_str(input)
        .map_err(worker::Error::from)
        .and_then(step)
        .and_then(|answer| serde_json::to_string(&answer).map_err(worker::Error::from))
        .map_err(|fault| JsError::new(&fault.to_string()))
}

impl DurableObject for KeyGuard {
    fn new(state: State, env: Env) -> Self {
        Self {
            meter: DeferredCounters::new(&env),
            state,
            env,
            loaded: RefCell::new(None),
            rows: NamedRows::new("guard"),
            history_stored_at: Cell::new(None),
        }
    }

    /// The guard answers RPC only (`run`).
    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("the key guard is called by RPC", 404)
    }
}
