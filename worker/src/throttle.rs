//! Brute-force throttling per client address (`CF-Connecting-IP`), by bucket: an IPv4
//! address, or an IPv6 address's /64 (`throttle::address_bucket`).
//!
//! Every failed authentication of a well-formed key is counted in the bucket's
//! `AddressThrottle` Durable Object, so the count is global. Each isolate also keeps a
//! bounded memory (`throttle::LocalThrottle`, oldest forgotten first) of buckets: the
//! blocks it learnt of, the failures it saw, the guesses in flight and the key ids that
//! worked. With it, a blocked bucket is refused with 429 before any storage call, except
//! for key ids that worked from it before (they go to their guard as usual); and a burst
//! of concurrent guesses is cut at the limit before the guards answer: at most
//! `AUTH_FAILURE_LIMIT + 1` distinct guesses from one bucket reach their guards per
//! window and isolate. Every place a credential is checked goes through the same gate,
//! `guarded` (the request path, the dashboard's sign-in and session cookies, the OAuth
//! app's credentials, codes and tokens, the client_id at /oauth/authorize), so every
//! well-formed guess counts against its address with the same limit and the same block.
//! Malformed credentials are refused with no I/O at all and are not counted: they
//! cannot succeed and cost nothing.

use crate::config;
use scopien_auth::check::protocol::CheckAnswer;
use scopien_auth::check::throttle::{address_bucket, Failures};
use serde::Deserialize;
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result,
    SqlStorageValue, State,
};

/// The isolate's memory of buckets (`LocalThrottle`). It lives in the edge module; the
/// full module reaches the same memory through worker/shim.js, so a bucket blocked on
/// one module's paths is blocked on the other's, and guesses in flight are counted once
/// per isolate whichever module answers them.
#[cfg(not(feature = "full"))]
#[allow(unreachable_pub)] // wasm-bindgen exports only `pub` functions.
mod memory {
    use super::*;
    use scopien_auth::check::throttle::{LocalThrottle, Refusal};
    use wasm_bindgen::prelude::wasm_bindgen;

    /// Buckets remembered per isolate, at most; the oldest is forgotten first.
    const MAX_REMEMBERED: usize = 10_000;

    thread_local! {
        static LOCAL: RefCell<LocalThrottle> = RefCell::new(LocalThrottle::new(MAX_REMEMBERED));
    }

    /// Until when `bucket` is blocked, unless `key` worked from it before the block.
    pub(super) fn blocked_for(bucket: &str, key: Option<&str>, now_ms: u64) -> Option<u64> {
        LOCAL.with(|l| {
            let local = l.borrow();
            let until = local.blocked_until(bucket, now_ms)?;
            let known = key.is_some_and(|k| local.was_admitted(bucket, k));
            (!known).then_some(until)
        })
    }

    pub(super) fn latest_block_until_ms() -> u64 {
        LOCAL.with(|l| l.borrow().latest_block_until_ms())
    }

    /// `blocked_for` for the full module (wasm-bindgen takes no `Option<&str>`).
    #[wasm_bindgen(js_name = throttleBlockedFor)]
    pub fn export_blocked_for(bucket: &str, key: Option<String>, now_ms: u64) -> Option<u64> {
        blocked_for(bucket, key.as_deref(), now_ms)
    }

    // Each of these is also the edge module's export of the same name, for the full
    // module (its `memory`, below).

    /// `LocalThrottle::begin`: until when the guess is refused, if it is.
    #[wasm_bindgen(js_name = throttleBegin)]
    pub fn begin(
        env: &Env,
        bucket: &str,
        key_id: &str,
        fingerprint: u64,
        now_ms: u64,
    ) -> Option<u64> {
        let policy = config::throttle_policy(env);
        LOCAL
            .with(|l| {
                l.borrow_mut()
                    .begin(&policy, bucket, key_id, fingerprint, now_ms)
            })
            .err()
            .map(|refusal| match refusal {
                Refusal::Blocked(until) => until,
                Refusal::Busy(ms) => now_ms.saturating_add(ms),
            })
    }

    #[wasm_bindgen(js_name = throttleAdmitted)]
    pub fn admitted(bucket: &str, key_id: &str) {
        LOCAL.with(|l| l.borrow_mut().admitted(bucket, key_id));
    }

    #[wasm_bindgen(js_name = throttleFinish)]
    pub fn finish(bucket: &str, fingerprint: u64) {
        LOCAL.with(|l| l.borrow_mut().finish(bucket, fingerprint));
    }

    #[wasm_bindgen(js_name = throttleFailed)]
    pub fn failed(env: &Env, bucket: &str, now_ms: u64) -> Option<u64> {
        let policy = config::throttle_policy(env);
        LOCAL.with(|l| l.borrow_mut().failed(&policy, bucket, None, now_ms))
    }

    #[wasm_bindgen(js_name = throttleLearnBlock)]
    pub fn learn_block(bucket: &str, until_ms: u64, now_ms: u64) -> Option<u64> {
        LOCAL.with(|l| l.borrow_mut().learn_block(bucket, until_ms, now_ms))
    }
}

/// The full module's way to the edge module's memory (above): the edge module's exports,
/// as worker/shim.js hands them over (`globalThis.scopienEdgeModule`).
#[cfg(feature = "full")]
mod memory {
    use wasm_bindgen::prelude::wasm_bindgen;
    use worker::Env;

    #[wasm_bindgen(js_namespace = scopienEdgeModule)]
    extern "C" {
        #[wasm_bindgen(js_name = throttleBlockedFor)]
        pub(super) fn blocked_for(bucket: &str, key: Option<&str>, now_ms: u64) -> Option<u64>;
        #[wasm_bindgen(js_name = throttleBegin)]
        pub(super) fn begin(
            env: &Env,
            bucket: &str,
            key_id: &str,
            fingerprint: u64,
            now_ms: u64,
        ) -> Option<u64>;
        #[wasm_bindgen(js_name = throttleAdmitted)]
        pub(super) fn admitted(bucket: &str, key_id: &str);
        #[wasm_bindgen(js_name = throttleFinish)]
        pub(super) fn finish(bucket: &str, fingerprint: u64);
        #[wasm_bindgen(js_name = throttleFailed)]
        pub(super) fn failed(env: &Env, bucket: &str, now_ms: u64) -> Option<u64>;
        #[wasm_bindgen(js_name = throttleLearnBlock)]
        pub(super) fn learn_block(bucket: &str, until_ms: u64, now_ms: u64) -> Option<u64>;
    }

    /// The full module sees only well-formed credentials (the edge answers the rest), so
    /// it does not ask: always "a block may be in force".
    pub(super) fn latest_block_until_ms() -> u64 {
        u64::MAX
    }
}

/// Whether some address may be refused now: a block this isolate knows of has not
/// passed. When none may, a request that never reaches a guard (a malformed
/// credential) is answered without reading its address or the clock, each a call out
/// of wasm.
pub(crate) fn any_block_in_force() -> bool {
    let latest = memory::latest_block_until_ms();
    latest > 0 && crate::platform::now_ms() < latest
}

/// When `address` is refused at `now_ms`, until when: its bucket is blocked and `key`
/// (when one parsed) did not work from it before the block.
pub(crate) fn blocked_for(address: Option<&str>, key: Option<&str>, now_ms: u64) -> Option<u64> {
    memory::blocked_for(&address_bucket(address?), key, now_ms)
}

/// What a guard's answer says of the credential it was asked about.
pub(crate) enum Verdict {
    /// It proved itself (even if the request is refused for another reason).
    Proved,
    /// It did not: unknown, wrong secret, revoked, expired. A failed authentication.
    Failed,
    /// The answer says nothing of it (the request was refused before it was checked).
    Neither,
}

/// The one gate every credential check goes through, wherever it is made (the request
/// path, the dashboard's sign-in and sessions, the OAuth endpoints): `ask` (the one
/// call that asks a Durable Object about the credential) runs only when the client's
/// address may make a guess now, and `verdict` reads its answer. `id` names the
/// credential (what the throttle remembers when it works from this address), `hash_hex`
/// tells credentials apart (one sent many times at once is one guess). `Ok(Err(until))`:
/// refused until then, before `ask` ran (the address is blocked, or its guesses in
/// flight and failed would pass the limit), or because this failure blocked it.
pub(crate) async fn guarded<T>(
    env: &Env,
    address: Option<&str>,
    id: &str,
    hash_hex: &str,
    now_ms: u64,
    ask: impl std::future::Future<Output = Result<T>>,
    verdict: impl FnOnce(&T) -> Verdict,
) -> Result<std::result::Result<T, u64>> {
    let gate = match Gate::enter(env, address, id, hash_hex, now_ms) {
        Ok(gate) => gate,
        Err(until) => return Ok(Err(until)),
    };
    let answer = ask.await?;
    match verdict(&answer) {
        Verdict::Proved => gate.admitted(),
        Verdict::Failed => {
            if let Some(until) = gate.failed(env, now_ms).await {
                return Ok(Err(until));
            }
        }
        Verdict::Neither => drop(gate),
    }
    Ok(Ok(answer))
}

/// A well-formed credential from one bucket, counted in flight while its guard is
/// asked. Dropping it ends the count.
struct Gate {
    bucket: Option<String>,
    key_id: String,
    fingerprint: u64,
}

impl Gate {
    /// Lets the request ask its guard, or says until when it is refused (blocked, or
    /// too many guesses from its bucket in flight and failed already).
    fn enter(
        env: &Env,
        address: Option<&str>,
        guard_name: &str,
        hash_hex: &str,
        now_ms: u64,
    ) -> std::result::Result<Gate, u64> {
        let key_id = guard_name.to_owned();
        // The credential's hash tells credentials apart: one sent many times at once is
        // one guess. Nothing of it is kept past the request.
        let fingerprint = hash_hex
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or_default();
        let Some(bucket) = address.map(address_bucket) else {
            return Ok(Gate {
                bucket: None,
                key_id,
                fingerprint,
            });
        };
        if let Some(until) = memory::begin(env, &bucket, &key_id, fingerprint, now_ms) {
            return Err(until);
        }
        Ok(Gate {
            bucket: Some(bucket),
            key_id,
            fingerprint,
        })
    }

    /// The credential worked: remember that its id works from this bucket.
    fn admitted(self) {
        if let Some(bucket) = &self.bucket {
            memory::admitted(bucket, &self.key_id);
        }
    }

    /// The credential failed: count it here and globally; returns until when the
    /// bucket is now refused, if it is. A fault of the global count is logged and
    /// ignored: the request is being refused anyway, and this isolate's own count still
    /// applies. Counted here before the global call, so no guess slips between the two.
    async fn failed(mut self, env: &Env, now_ms: u64) -> Option<u64> {
        let bucket = self.bucket.take()?;
        memory::finish(&bucket, self.fingerprint);
        let local = memory::failed(env, &bucket, now_ms);
        match record_failure(env, &bucket).await {
            Some(until) => memory::learn_block(&bucket, until, now_ms),
            None => local,
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(bucket) = &self.bucket {
            // `failed` takes `bucket` and finishes itself, so this runs once a request.
            memory::finish(bucket, self.fingerprint);
        }
    }
}

/// Counts a failed authentication from `bucket` in its Durable Object; returns until
/// when it is refused, if it is. `None` on a fault (logged).
/// The throttle's answer to a failure, as text: when the bucket is blocked until (ms),
/// or nothing (the edge module reads it, with no JSON parser).
fn fail_answer(blocked_until_ms: Option<u64>) -> String {
    blocked_until_ms.map_or_else(String::new, |ms| ms.to_string())
}

fn read_fail_answer(text: &str) -> Result<Option<u64>> {
    match text {
        "" => Ok(None),
        ms => ms
            .parse()
            .map(Some)
            .map_err(|_| worker::Error::RustError(format!("throttle answered '{ms}'"))),
    }
}

async fn record_failure(env: &Env, bucket: &str) -> Option<u64> {
    let result = async {
        let stub = env
            .durable_object(config::THROTTLE)?
            .id_from_name(bucket)?
            .get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post);
        let request = Request::new_with_init("https://throttle/fail", &init)?;
        let mut response = stub.fetch_with_request(request).await?;
        read_fail_answer(&response.text().await?)
    }
    .await;
    match result {
        Ok(blocked_until_ms) => blocked_until_ms,
        Err(fault) => {
            worker::console_error!("throttle fault: {fault}");
            None
        }
    }
}

/// One per client address: its failed authentications.
#[cfg(feature = "full")]
#[durable_object]
pub struct AddressThrottle {
    state: State,
    env: Env,
    failures: RefCell<Option<Failures>>,
}

#[cfg(feature = "full")]
impl AddressThrottle {
    fn load(&self) -> Result<Failures> {
        if let Some(f) = *self.failures.borrow() {
            return Ok(f);
        }
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS failures (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = sql
            .exec("SELECT value FROM failures WHERE id = 1", None)?
            .to_array()?;
        Ok(match rows.first() {
            Some(row) => serde_json::from_str(&row.value)?,
            None => Failures::default(),
        })
    }
}

#[cfg(feature = "full")]
impl DurableObject for AddressThrottle {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            failures: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let now = crate::platform::now_ms();
        let path = req.path();
        if let Some(limit) = path.strip_prefix("/signup/") {
            return self.sign_up(limit, now);
        }
        // Only a failure is counted as one: a call this object does not know is a fault.
        if path != "/fail" {
            return Response::error(format!("AddressThrottle: no such call {path}"), 404);
        }
        let policy = config::throttle_policy(&self.env);
        let next = self.load()?.record(&policy, now);
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO failures (id, value) VALUES (1, ?)",
            vec![SqlStorageValue::from(serde_json::to_string(&next)?)],
        )?;
        *self.failures.borrow_mut() = Some(next);
        Response::ok(fail_answer(next.blocked_until(now)))
    }
}

#[cfg(feature = "full")]
impl AddressThrottle {
    /// Counts one sign-up in this address's hour if `limit` (`/signup/{limit}`) allows
    /// it: answers "" when counted, else the seconds until the hour ends. (The path, not
    /// a query: parsing a URL here would bring the `url` crate into the module.)
    fn sign_up(&self, limit: &str, now: u64) -> Result<Response> {
        use scopien_auth::people::signup::SignUpWindow;
        let limit = limit
            .parse()
            .unwrap_or(scopien_auth::people::signup::DEFAULT_SIGN_UPS_PER_HOUR);
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS sign_ups (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = sql
            .exec("SELECT value FROM sign_ups WHERE id = 1", None)?
            .to_array()?;
        let mut window: SignUpWindow = match rows.first() {
            Some(row) => serde_json::from_str(&row.value)?,
            None => SignUpWindow::default(),
        };
        match window.admit(limit, now) {
            Ok(()) => {
                sql.exec(
                    "INSERT OR REPLACE INTO sign_ups (id, value) VALUES (1, ?)",
                    vec![SqlStorageValue::from(serde_json::to_string(&window)?)],
                )?;
                Response::ok("")
            }
            Err(retry_after_s) => Response::ok(retry_after_s.to_string()),
        }
    }
}

/// Counts a completed sign-up from `address` against the hour's limit, globally (the
/// address's throttle object). `Ok(Err(seconds))`: refused, retry then. A request with
/// no client address is counted in one shared bucket. A fault is an `Err`: the sign-up
/// is refused (fail closed).
pub(crate) async fn count_sign_up(
    env: &Env,
    address: Option<&str>,
) -> Result<std::result::Result<(), u64>> {
    let bucket = address.map_or_else(|| "no-address".to_owned(), address_bucket);
    let stub = env
        .durable_object(config::THROTTLE)?
        .id_from_name(&bucket)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let url = format!("https://throttle/signup/{}", config::sign_up_limit(env));
    let mut response = stub
        .fetch_with_request(Request::new_with_init(&url, &init)?)
        .await?;
    match response.text().await?.as_str() {
        "" => Ok(Ok(())),
        seconds => seconds
            .parse()
            .map(Err)
            .map_err(|_| worker::Error::RustError(format!("throttle answered '{seconds}'"))),
    }
}

/// What a key's (or a grant's) answer to a check says of the credential: a refusal
/// for another reason than authentication (scope, rate limit) means it proved itself.
pub(crate) fn check_verdict(answer: &CheckAnswer) -> Verdict {
    match answer {
        CheckAnswer::Refused { refusal, .. } if refusal.is_failed_authentication() => {
            Verdict::Failed
        }
        _ => Verdict::Proved,
    }
}
