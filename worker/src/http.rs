//! Turning core's values into HTTP responses.

use scopien_auth::ApiError;
use worker::{Headers, Response, Result};

/// Writes `headers` onto a response. Responses from `fetch` and from Durable Objects
/// have immutable headers, so they are copied into a fresh set first.
pub(crate) fn with_headers<'a>(
    response: Response,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Response> {
    // One JS call copies them all (Headers' copy constructor).
    let target = response.headers().clone();
    for (name, value) in headers {
        target.set(name, value)?;
    }
    Ok(response.with_headers(target))
}

/// A JSON response with `status`.
pub(crate) fn json(status: u16, body: &serde_json::Value) -> Result<Response> {
    json_text(status, body.to_string())
}

/// A JSON response whose body is already serialised.
pub(crate) fn json_text(status: u16, body: String) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::from_bytes(body.into_bytes())?
        .with_status(status)
        .with_headers(headers))
}

/// The error response, body and headers, exactly as core's catalogue gives it.
pub(crate) fn error(err: &ApiError) -> Result<Response> {
    let response = json_text(err.status, err.body())?;
    let headers = err.headers();
    with_headers(response, headers.iter().map(|(n, v)| (*n, v.as_str())))
}

/// Unwraps a `Result<_, ApiError>`, or returns the error's response from the function.
macro_rules! or_respond {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(err) => return $crate::http::error(&err),
        }
    };
}
pub(crate) use or_respond;
