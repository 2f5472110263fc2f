//! Calling a key's KeyGuard. The key's id names its Durable Object: no lookup.

use crate::config::KEY_GUARD;
use crate::protocol::{CheckAnswer, CheckRequest, ManageAnswer, ManageRequest};
use futures_util::future::Either;
use scopien_auth::KeyId;
use std::time::Duration;
use worker::{Delay, Env, Method, Request, RequestInit, Response, Result};

/// One call to the key's guard, failing after `GUARD_TIMEOUT_MS`: a guard that does not
/// answer is a fault like one that throws, and the request fails closed.
async fn call(env: &Env, id: KeyId, op: &str, body: String) -> Result<Response> {
    let stub = env
        .durable_object(KEY_GUARD)?
        .id_from_name(id.chars())?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let request = Request::new_with_init(&format!("https://key-guard/{op}"), &init)?;
    let timeout = Duration::from_millis(crate::config::guard_timeout_ms(env));
    let answer = stub.fetch_with_request(request);
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

/// What the guard decided for one request.
pub(crate) enum Checked {
    /// Let through and counted.
    Admitted(CheckAnswer),
    /// Refused (401, 403 or 429): the guard's response, to relay as it is.
    Refused(Response),
}

/// Authenticates, authorizes and counts one request. Any other answer is a fault: the
/// caller fails closed.
pub(crate) async fn call_check(env: &Env, id: KeyId, request: &CheckRequest) -> Result<Checked> {
    let mut response = call(env, id, "check", serde_json::to_string(request)?).await?;
    match response.status_code() {
        200 => Ok(Checked::Admitted(response.json().await?)),
        401 | 403 | 429 => Ok(Checked::Refused(response)),
        status => Err(worker::Error::RustError(format!(
            "key guard answered {status}"
        ))),
    }
}

/// Runs a management operation. Returns the guard's response and, when it succeeded
/// with a record, that record's answer.
pub(crate) async fn call_manage(
    env: &Env,
    id: KeyId,
    request: &ManageRequest,
) -> Result<(Response, Option<ManageAnswer>)> {
    let mut response = call(env, id, "manage", serde_json::to_string(request)?).await?;
    match response.status_code() {
        200 | 201 if !matches!(request.op, crate::protocol::Op::Usage) => {
            let answer = response.json().await?;
            Ok((response, Some(answer)))
        }
        200 | 400 | 404 | 409 => Ok((response, None)),
        status => Err(worker::Error::RustError(format!(
            "key guard answered {status}"
        ))),
    }
}
