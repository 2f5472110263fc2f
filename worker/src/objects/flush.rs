//! `METER_FLUSH_MS` for a guard's counters (the KeyGuard's meter, the GrantGuard's
//! counters): by default they are stored with the step that changed them, before its
//! answer; with the setting, a step whose only write is the counters leaves them unsaved
//! and the entry module (worker/shim.js) calls the guard's `flush` at most that long
//! after. Any other write takes unsaved counters with it.

use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::JsError;
use worker::{Env, Result};

pub(crate) struct DeferredCounters {
    /// 0: store with every step.
    ms: u64,
    /// The counters in memory are ahead of the stored ones.
    unsaved: Cell<bool>,
    /// A flush is scheduled.
    scheduled: Cell<bool>,
}

impl DeferredCounters {
    pub(crate) fn new(env: &Env) -> Self {
        Self {
            ms: crate::config::meter_flush_ms(env),
            unsaved: Cell::new(false),
            scheduled: Cell::new(false),
        }
    }

    /// Whether a step stores the counters now: `changed` when they changed, `alone` when
    /// they are the step's only write.
    pub(crate) fn store_now(&self, changed: bool, alone: bool) -> bool {
        if self.ms > 0 && changed && alone {
            self.unsaved.set(true);
            return false;
        }
        changed || self.unsaved.get()
    }

    /// The counters were stored.
    pub(crate) fn stored(&self) {
        self.unsaved.set(false);
    }

    /// After a step: how long until `flush` should run; 0 when nothing is unsaved or a
    /// flush is already scheduled.
    pub(crate) fn flush_after_ms(&self) -> f64 {
        if !self.unsaved.get() || self.scheduled.get() {
            return 0.0;
        }
        self.scheduled.set(true);
        self.ms as f64
    }

    /// The flush: `store` the loaded state's counters if they are unsaved. A failed write
    /// leaves them unsaved, and the next step that changes them schedules another flush.
    pub(crate) fn flush<S>(
        &self,
        loaded: &RefCell<Option<S>>,
        store: impl FnOnce(&S) -> Result<()>,
    ) -> std::result::Result<(), JsError> {
        self.scheduled.set(false);
        if !self.unsaved.get() {
            return Ok(());
        }
        if let Some(state) = loaded.borrow().as_ref() {
            store(state).map_err(|fault| JsError::new(&fault.to_string()))?;
            self.unsaved.set(false);
        }
        Ok(())
    }
}
