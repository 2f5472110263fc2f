//! Running a request's answer: polled at once, and answered with no Promise when it
//! needs no I/O; otherwise polled again right where one of its futures wakes it.
//!
//! `wasm_bindgen_futures::future_to_promise` queues every wake-up as a microtask
//! (`queueMicrotask` through the glue, a task object, a queue) before it polls: on the
//! request path that was one extra hop per await (the guard, the origin) and one to
//! start. A wake-up here comes from a settled JS promise (`JsFuture`), already on its
//! own microtask, so the future is polled in it directly. A future that wakes itself
//! while it is being polled is polled again when that poll returns, never re-entered.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::JsValue;

type Answer = Pin<Box<dyn Future<Output = JsValue>>>;

/// A request waiting on I/O.
struct Waiting {
    /// Absent while it is being polled.
    future: Option<Answer>,
    /// Its Promise's `resolve`.
    resolve: Option<js_sys::Function>,
    /// Woken while it was being polled: poll it again.
    woken: bool,
    /// Which request holds the slot (a slot is reused once its request is answered).
    serial: u64,
}

thread_local! {
    static WAITING: RefCell<Vec<Option<Waiting>>> = const { RefCell::new(Vec::new()) };
    static SERIAL: Cell<u64> = const { Cell::new(0) };
}

/// What a waker holds: which slot, which request (no JS value: wakers must be `Send`).
struct Wakeup {
    slot: usize,
    serial: u64,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        drive(self.slot, self.serial);
    }
}

/// Answers `answer`: the response itself when it is ready at once, else a Promise of it.
pub(crate) fn run(answer: impl Future<Output = JsValue> + 'static) -> JsValue {
    let serial = SERIAL.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    let slot = WAITING.with(|waiting| {
        let mut waiting = waiting.borrow_mut();
        let entry = Waiting {
            future: None,
            resolve: None,
            woken: false,
            serial,
        };
        match waiting.iter().position(Option::is_none) {
            Some(free) => {
                waiting[free] = Some(entry);
                free
            }
            None => {
                waiting.push(Some(entry));
                waiting.len() - 1
            }
        }
    });
    let mut answer: Answer = Box::pin(answer);
    let waker = Waker::from(Arc::new(Wakeup { slot, serial }));
    if let Poll::Ready(response) = answer.as_mut().poll(&mut Context::from_waker(&waker)) {
        WAITING.with(|waiting| waiting.borrow_mut()[slot] = None);
        return response;
    }
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |done, _| resolve = Some(done));
    let woken = WAITING.with(|waiting| {
        let mut waiting = waiting.borrow_mut();
        let entry = waiting[slot].as_mut().map(|entry| {
            entry.future = Some(answer);
            entry.resolve = resolve;
            std::mem::take(&mut entry.woken)
        });
        entry.unwrap_or(false)
    });
    if woken {
        drive(slot, serial);
    }
    promise.into()
}

/// Polls the request in `slot` (if it is still request `serial`'s) until it is pending
/// with no wake-up outstanding, or answered.
fn drive(slot: usize, serial: u64) {
    loop {
        let taken = WAITING.with(|waiting| {
            let mut waiting = waiting.borrow_mut();
            let entry = waiting.get_mut(slot)?.as_mut()?;
            if entry.serial != serial {
                return None;
            }
            let future = entry.future.take();
            if future.is_none() {
                // Being polled right now (or not stored yet): poll again after.
                entry.woken = true;
            }
            future
        });
        let Some(mut future) = taken else { return };
        let waker = Waker::from(Arc::new(Wakeup { slot, serial }));
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(response) => {
                let entry = WAITING.with(|waiting| waiting.borrow_mut()[slot].take());
                if let Some(resolve) = entry.and_then(|entry| entry.resolve) {
                    // `resolve` does not throw.
                    let _ = resolve.call1(&JsValue::UNDEFINED, &response);
                }
                return;
            }
            Poll::Pending => {
                let again = WAITING.with(|waiting| {
                    let mut waiting = waiting.borrow_mut();
                    waiting[slot].as_mut().is_some_and(|entry| {
                        entry.future = Some(future);
                        std::mem::take(&mut entry.woken)
                    })
                });
                if !again {
                    return;
                }
            }
        }
    }
}
