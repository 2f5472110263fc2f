//! Calling the guards: a key's KeyGuard (the key's id names its Durable Object: no
//! lookup), an organization's OrgGuard and a dashboard session's SessionGuard. Inputs
//! and answers are core's types; anything else that comes back is a fault.

use crate::config::{GRANT_GUARD, KEY_GUARD, ORG_GUARD, SESSION_GUARD};
use scopien_auth::grant::{GrantAnswer, GrantInput};
use scopien_auth::guard::{Answer, Check, CheckAnswer, Input, Manage, ManageAnswer};
use scopien_auth::oauth::GrantId;
use scopien_auth::org::{OrgAnswer, OrgId, OrgInput};
use scopien_auth::session::{SessionAnswer, SessionInput};
use scopien_auth::KeyId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Result};

// The transport: one JS RPC call to the guard's `run` (guard.rs), raced with one timer.
// Written in JS so that the whole call is one crossing from wasm and one promise.
#[wasm_bindgen(inline_js = r#"
export function callGuard(env, binding, name, input, timeoutMs) {
  const stub = env[binding].getByName(name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    stub.run(input).then(
      (answer) => { clearTimeout(timer); resolve(answer); },
      (fault) => { clearTimeout(timer); reject(fault); },
    );
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = callGuard, catch)]
    fn call_guard(
        env: &JsValue,
        binding: &str,
        name: &str,
        input: &str,
        timeout_ms: f64,
    ) -> std::result::Result<js_sys::Promise, JsValue>;
}

/// One call to the guard named `name` in `binding`, failing after `GUARD_TIMEOUT_MS`: a
/// guard that does not answer is a fault like one that throws, and the request fails
/// closed.
async fn call<A: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    input: &impl Serialize,
) -> Result<A> {
    let timeout_ms = crate::config::guard_timeout_ms(env);
    let input = serde_json::to_string(input)?;
    let promise = call_guard(env, binding, name, &input, timeout_ms as f64)?;
    let answer = JsFuture::from(promise).await?;
    match answer.as_string() {
        Some(text) => Ok(serde_json::from_str(&text)?),
        None => Err(worker::Error::RustError(format!(
            "{binding} did not answer within {timeout_ms} ms"
        ))),
    }
}

fn unexpected() -> worker::Error {
    worker::Error::RustError("key guard answered another input".into())
}

/// Authenticates, authorizes and counts one request.
pub(crate) async fn check(env: &Env, id: KeyId, check: Check) -> Result<CheckAnswer> {
    match call(env, KEY_GUARD, id.chars(), &Input::Check(check)).await? {
        Answer::Check(answer) => Ok(answer),
        Answer::Manage(_) => Err(unexpected()),
    }
}

/// Runs one management operation.
pub(crate) async fn manage(env: &Env, id: KeyId, manage: Manage) -> Result<ManageAnswer> {
    match call(env, KEY_GUARD, id.chars(), &Input::Manage(manage)).await? {
        Answer::Manage(answer) => Ok(answer),
        Answer::Check(_) => Err(unexpected()),
    }
}

/// One call to an organization's guard.
pub(crate) async fn org(env: &Env, id: OrgId, input: &OrgInput) -> Result<OrgAnswer> {
    call(env, ORG_GUARD, id.chars(), input).await
}

/// One call to a dashboard session's guard, named by the SHA-256 of its token.
pub(crate) async fn session(
    env: &Env,
    token_hash: &str,
    input: &SessionInput,
) -> Result<SessionAnswer> {
    call(env, SESSION_GUARD, token_hash, input).await
}

/// One call to an OAuth grant's guard (the grant id names it: no lookup).
pub(crate) async fn grant(env: &Env, id: GrantId, input: &GrantInput) -> Result<GrantAnswer> {
    call(env, GRANT_GUARD, id.chars(), input).await
}

/// Authenticates, authorizes and counts one request made with an access token.
pub(crate) async fn grant_check(env: &Env, id: GrantId, check: Check) -> Result<CheckAnswer> {
    match grant(env, id, &GrantInput::Check(check)).await? {
        GrantAnswer::Check(answer) => Ok(answer),
        _ => Err(unexpected()),
    }
}
