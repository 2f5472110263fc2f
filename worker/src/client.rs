//! Calling the guards: a key's KeyGuard (the key's id names its Durable Object: no
//! lookup), an organization's OrgGuard and a dashboard session's SessionGuard. Inputs
//! and answers are core's types; anything else that comes back is a fault.

use crate::config::{
    CEREMONY_GUARD, GRANT_GUARD, KEY_GUARD, ORG_GUARD, PEOPLE_GUARD, PERSON_GUARD, SESSION_GUARD,
};
use scopien_auth::check::protocol::{Check, CheckAnswer};
use scopien_auth::http::credential::Credential;
use scopien_auth::ids::{OrgId, PersonId};
use scopien_auth::keys::guard::{Answer, Input, Manage, ManageAnswer};
use scopien_auth::keys::verify::{Verification, Verify};
use scopien_auth::keys::wire;
use scopien_auth::oauth::grant::{GrantAnswer, GrantInput};
use scopien_auth::oauth::protocol::GrantId;
use scopien_auth::org::{OrgAnswer, OrgInput};
use scopien_auth::people::ceremony::{CeremonyAnswer, CeremonyInput};
use scopien_auth::people::members::{PeopleAnswer, PeopleInput};
use scopien_auth::people::person::{PersonAnswer, PersonInput};
use scopien_auth::session::{SessionAnswer, SessionInput};
use scopien_auth::KeyId;
use scopien_auth::KeyRecord;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Result};

// The transport: one JS RPC call to the guard's `run` (guard.rs), raced with one timer.
// Written in JS so that the whole call is one crossing from wasm and one promise. The
// timer is not cleared when the guard answers first: it then resolves a settled promise,
// which does nothing, and it ends with the request at the latest (clearTimeout, through
// the Node-compatible timers, cost ~14 µs a request in a profile).
#[wasm_bindgen(inline_js = r#"
export function callGuard(env, binding, name, input, timeoutMs) {
  const stub = env[binding].getByName(name);
  return new Promise((resolve, reject) => {
    setTimeout(() => resolve(undefined), timeoutMs);
    stub.run(input).then(resolve, reject);
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

/// One call to the guard named `name` in `binding`, text in and text out, failing
/// after `GUARD_TIMEOUT_MS`: a guard that does not answer is a fault like one that
/// throws, and the request fails closed.
async fn call_text(env: &Env, binding: &str, name: &str, input: &str) -> Result<String> {
    let timeout_ms = crate::config::guard_timeout_ms(env);
    let promise = call_guard(env, binding, name, input, timeout_ms as f64)?;
    let answer = JsFuture::from(promise).await?;
    answer.as_string().ok_or_else(|| {
        worker::Error::RustError(format!("{binding} did not answer within {timeout_ms} ms"))
    })
}

/// One call with core's input and answer as JSON (the organization and session guards).
async fn call<A: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    input: &impl Serialize,
) -> Result<A> {
    let text = call_text(env, binding, name, &serde_json::to_string(input)?).await?;
    Ok(serde_json::from_str(&text)?)
}

/// One call to a key's guard, in its wire form (`scopien_auth::keys::wire`: compact for the
/// request path's check).
async fn call_key(env: &Env, id: KeyId, input: &Input) -> Result<Answer> {
    let input = wire::encode_input(input).map_err(wire_fault)?;
    let text = call_text(env, KEY_GUARD, id.chars(), &input).await?;
    wire::decode_answer(&text).map_err(wire_fault)
}

pub(crate) fn wire_fault(fault: wire::WireError) -> worker::Error {
    worker::Error::RustError(fault.to_string())
}

/// A guard answered with another kind of answer than its input asks for: a fault.
pub(crate) fn unexpected_answer(guard: &str) -> worker::Error {
    worker::Error::RustError(format!("{guard} answered another input"))
}

fn unexpected() -> worker::Error {
    unexpected_answer("key guard")
}

/// Authenticates, authorizes and counts one request; `root` is the root key's record
/// when it is made with the root key.
pub(crate) async fn check(
    env: &Env,
    id: KeyId,
    check: Check,
    root: Option<KeyRecord>,
) -> Result<CheckAnswer> {
    let input = match root {
        Some(root) => Input::RootCheck { check, root },
        None => Input::Check(check),
    };
    match call_key(env, id, &input).await? {
        Answer::Check(answer) => Ok(answer),
        Answer::Manage(_) | Answer::Verify(_) => Err(unexpected()),
    }
}

/// Runs one management operation.
pub(crate) async fn manage(env: &Env, id: KeyId, manage: Manage) -> Result<ManageAnswer> {
    match call_key(env, id, &Input::Manage(manage)).await? {
        Answer::Manage(answer) => Ok(answer),
        Answer::Check(_) | Answer::Verify(_) => Err(unexpected()),
    }
}

/// Verifies a key for `POST /v1/auth/verify`: one call to the verified key's guard,
/// which decides and counts as for a request.
pub(crate) async fn verify(env: &Env, id: KeyId, verify: Verify) -> Result<Verification> {
    match call_key(env, id, &Input::Verify(verify)).await? {
        Answer::Verify(answer) => Ok(answer),
        Answer::Check(_) | Answer::Manage(_) => Err(unexpected()),
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

/// One call to an organization's people guard (members and invitations).
pub(crate) async fn people(env: &Env, org: OrgId, input: &PeopleInput) -> Result<PeopleAnswer> {
    call(env, PEOPLE_GUARD, org.chars(), input).await
}

/// One call to a person's guard (their id names it: it is also their user handle).
pub(crate) async fn person(env: &Env, id: PersonId, input: &PersonInput) -> Result<PersonAnswer> {
    call(env, PERSON_GUARD, id.chars(), input).await
}

/// One call to a passkey challenge's guard, named by the challenge (base64url).
pub(crate) async fn ceremony(
    env: &Env,
    challenge: &str,
    input: &CeremonyInput,
) -> Result<CeremonyAnswer> {
    call(env, CEREMONY_GUARD, challenge, input).await
}

/// One call to an OAuth grant's guard (the grant id names it: no lookup).
pub(crate) async fn grant(env: &Env, id: GrantId, input: &GrantInput) -> Result<GrantAnswer> {
    call(env, GRANT_GUARD, id.chars(), input).await
}

/// Authenticates, authorizes and counts one request of the request path, made with a
/// key or an access token, in the compact wire form both ways (`scopien_auth::keys::wire`).
pub(crate) async fn request_check(
    env: &Env,
    credential: &Credential,
    check: Check,
    root: Option<KeyRecord>,
) -> Result<CheckAnswer> {
    let input = match (root, wire::encode_check(&check)) {
        (None, Some(input)) => input,
        // A root check (JSON): the full module's only (lib.rs hands it over).
        #[cfg(feature = "full")]
        (Some(root), _) => {
            wire::encode_input(&Input::RootCheck { check, root }).map_err(wire_fault)?
        }
        #[cfg(feature = "full")]
        (None, None) => wire::encode_input(&Input::Check(check)).map_err(wire_fault)?,
        #[cfg(not(feature = "full"))]
        _ => {
            return Err(worker::Error::RustError(
                "the edge module sends no root check".into(),
            ))
        }
    };
    let text = match credential {
        Credential::Key(key) => call_text(env, KEY_GUARD, key.id().chars(), &input).await?,
        Credential::AccessToken(token) => {
            call_text(env, GRANT_GUARD, token.grant().chars(), &input).await?
        }
    };
    wire::decode_check_answer(&text).map_err(wire_fault)
}
