//! When a guard's counters (the KeyGuard's meter, the GrantGuard's counters) are stored.
//!
//! A step whose only write is the counters leaves them unsaved in memory; the entry module
//! (worker/shim.js, `groupCommit`) calls the guard's `end_batch` once it has decided a
//! batch of inputs, before it awaits that batch's commit:
//! - counters that hold an **admitted** request are stored there and then, once for the
//!   whole batch, in the commit its answers wait for (the output gate holds them until it
//!   is durable), so an admitted count is never lost. With `METER_FLUSH_MS` they are
//!   stored by a timer at most that long after instead (the opt-in trade).
//! - counters changed only by **refusals** (a 403 or 429 counted in the usage history,
//!   never in a rate-limit counter) are not worth a write of their own: the next write
//!   that happens anyway takes them (an admitted request's, a management change's), and
//!   a timer stores them at most `REFUSALS_FLUSH_MS` (or `METER_FLUSH_MS`, if longer)
//!   after otherwise. A crash loses at most that stretch of one key's refusal counts;
//!   a pending timer keeps the object from being evicted. A flooding key's refused
//!   requests then make no write and no commit of their own.
//!
//! Any other write of the guard takes unsaved counters with it.

use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::JsError;
use worker::{Env, Result};

/// The longest a refusal's count stays in memory only (unless `METER_FLUSH_MS` is longer).
pub(crate) const REFUSALS_FLUSH_MS: u64 = 1000;

pub(crate) struct DeferredCounters {
    /// `METER_FLUSH_MS`; 0: admitted counts are stored at the end of their batch.
    ms: u64,
    /// The counters in memory hold an admitted request storage does not.
    admitted: Cell<bool>,
    /// The counters in memory hold refusals storage does not.
    refused: Cell<bool>,
    /// A flush is scheduled within `ms` (covers both kinds).
    short: Cell<bool>,
    /// A flush is scheduled within the refusals' delay.
    long: Cell<bool>,
}

/// What changed the counters in a step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// An admitted request (or anything else that is not only a refusal).
    Admitted,
    /// Only a refused request's count in the usage history.
    Refused,
}

impl DeferredCounters {
    pub(crate) fn new(env: &Env) -> Self {
        Self {
            ms: crate::config::meter_flush_ms(env),
            admitted: Cell::new(false),
            refused: Cell::new(false),
            short: Cell::new(false),
            long: Cell::new(false),
        }
    }

    /// Whether a step stores the counters now: `changed` when they changed, by `counted`;
    /// `alone` when they are the step's only write (else they go with the others).
    pub(crate) fn store_now(&self, changed: bool, alone: bool, counted: Counted) -> bool {
        if changed && alone {
            match counted {
                Counted::Admitted => self.admitted.set(true),
                Counted::Refused => self.refused.set(true),
            }
            return false;
        }
        changed || self.admitted.get() || self.refused.get()
    }

    /// The counters were stored.
    pub(crate) fn stored(&self) {
        self.admitted.set(false);
        self.refused.set(false);
    }

    /// At the end of a batch, before its commit: `store`s the loaded state's counters if
    /// an admitted count is unsaved (and `METER_FLUSH_MS` is not set), and answers how
    /// long until `flush` should run (0: none to schedule). A failed write unloads the
    /// state (the next input rereads what storage holds) and fails the whole batch: none
    /// of its answers may leave.
    pub(crate) fn end_batch<S>(
        &self,
        loaded: &RefCell<Option<S>>,
        store: impl FnOnce(&S) -> Result<()>,
    ) -> std::result::Result<f64, JsError> {
        if self.ms == 0 && self.admitted.get() {
            let mut slot = loaded.borrow_mut();
            // Unloaded: a write of this batch failed, and the counts went with the state.
            let stored = match slot.as_ref() {
                Some(state) => store(state).map_err(|fault| fault.to_string()),
                None => Err("a write of this batch failed".to_owned()),
            };
            self.stored();
            if let Err(fault) = stored {
                *slot = None;
                return Err(JsError::new(&fault));
            }
        }
        Ok(self.flush_after_ms())
    }

    /// How long until `flush` should run; 0 when nothing unsaved needs a timer, or one is
    /// already scheduled soon enough.
    fn flush_after_ms(&self) -> f64 {
        if self.admitted.get() && self.ms > 0 && !self.short.get() {
            self.short.set(true);
            return self.ms as f64;
        }
        if self.refused.get() && !self.short.get() && !self.long.get() {
            self.long.set(true);
            return self.ms.max(REFUSALS_FLUSH_MS) as f64;
        }
        0.0
    }

    /// The flush: `store` the loaded state's counters if they are unsaved. A failed write
    /// leaves them unsaved, and the next batch that changes them schedules another flush.
    /// (A timer cannot tell which flush it was: both are rescheduled when needed, and an
    /// extra flush finds nothing to store.)
    pub(crate) fn flush<S>(
        &self,
        loaded: &RefCell<Option<S>>,
        store: impl FnOnce(&S) -> Result<()>,
    ) -> std::result::Result<(), JsError> {
        self.short.set(false);
        self.long.set(false);
        if !self.admitted.get() && !self.refused.get() {
            return Ok(());
        }
        if let Some(state) = loaded.borrow().as_ref() {
            store(state).map_err(|fault| JsError::new(&fault.to_string()))?;
            self.stored();
        }
        Ok(())
    }
}
