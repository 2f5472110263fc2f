//! Calling the guards: a key's KeyGuard (the key's id names its Durable Object: no
//! lookup), an organization's OrgGuard and a dashboard session's SessionGuard. Inputs
//! and answers are core's types; anything else that comes back is a fault.

use crate::config::{KEY_GUARD, ORG_GUARD, SESSION_GUARD};
use futures_util::future::Either;
use scopien_auth::guard::{Answer, Check, CheckAnswer, Input, Manage, ManageAnswer};
use scopien_auth::org::{OrgAnswer, OrgId, OrgInput};
use scopien_auth::session::{SessionAnswer, SessionInput};
use scopien_auth::KeyId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use worker::{Delay, Env, Method, Request, RequestInit, Result};

/// One call to the guard named `name` in `namespace`, failing after `GUARD_TIMEOUT_MS`:
/// a guard that does not answer is a fault like one that throws, and the request fails
/// closed.
async fn call<A: DeserializeOwned>(
    env: &Env,
    namespace: &str,
    name: &str,
    input: &impl Serialize,
) -> Result<A> {
    let stub = env
        .durable_object(namespace)?
        .id_from_name(name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(input)?.into()));
    let request = Request::new_with_init("https://key-guard/", &init)?;
    let timeout = Duration::from_millis(crate::config::guard_timeout_ms(env));
    let answer = async { stub.fetch_with_request(request).await?.json::<A>().await };
    let delay = Delay::from(timeout);
    futures_util::pin_mut!(answer, delay);
    match futures_util::future::select(answer, delay).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(worker::Error::RustError(format!(
            "{namespace} did not answer within {} ms",
            timeout.as_millis()
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
