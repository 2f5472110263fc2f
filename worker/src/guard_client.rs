//! Calling a key's KeyGuard. The key's id names its Durable Object: no lookup. Inputs
//! and answers are core's types; anything else that comes back is a fault.

use crate::config::KEY_GUARD;
use futures_util::future::Either;
use scopien_auth::guard::{Answer, Check, CheckAnswer, Input, Manage, ManageAnswer};
use scopien_auth::KeyId;
use std::time::Duration;
use worker::{Delay, Env, Method, Request, RequestInit, Result};

/// One call to the key's guard, failing after `GUARD_TIMEOUT_MS`: a guard that does not
/// answer is a fault like one that throws, and the request fails closed.
async fn call(env: &Env, id: KeyId, input: &Input) -> Result<Answer> {
    let stub = env
        .durable_object(KEY_GUARD)?
        .id_from_name(id.chars())?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(input)?.into()));
    let request = Request::new_with_init("https://key-guard/", &init)?;
    let timeout = Duration::from_millis(crate::config::guard_timeout_ms(env));
    let answer = async {
        stub.fetch_with_request(request)
            .await?
            .json::<Answer>()
            .await
    };
    let delay = Delay::from(timeout);
    futures_util::pin_mut!(answer, delay);
    match futures_util::future::select(answer, delay).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(worker::Error::RustError(format!(
            "key guard did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

fn unexpected() -> worker::Error {
    worker::Error::RustError("key guard answered another input".into())
}

/// Authenticates, authorizes and counts one request.
pub(crate) async fn check(env: &Env, id: KeyId, check: Check) -> Result<CheckAnswer> {
    match call(env, id, &Input::Check(check)).await? {
        Answer::Check(answer) => Ok(answer),
        Answer::Manage(_) => Err(unexpected()),
    }
}

/// Runs one management operation.
pub(crate) async fn manage(env: &Env, id: KeyId, manage: Manage) -> Result<ManageAnswer> {
    match call(env, id, &Input::Manage(manage)).await? {
        Answer::Manage(answer) => Ok(answer),
        Answer::Check(_) => Err(unexpected()),
    }
}
