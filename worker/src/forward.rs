//! Forwarding an admitted request to the origin, or echoing it when none is set.

use crate::config::{self, Destination};
use crate::http;
use futures_util::future::Either;
use scopien_auth::forwarding::{client_address_headers, is_dropped};
use scopien_auth::{ApiError, KeyId, KeyType};
use std::time::Duration;
use worker::{
    AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, Result, Url,
};

/// The headers the origin gets, and the names of the client's headers that were
/// removed (lower-case, sorted): `forwarding::DROPPED_REQUEST_HEADERS` and `X-Scopien-*`
/// go; the client address the gateway trusts (`CF-Connecting-IP`) and the key's id and
/// type are added.
fn forwarded_headers(
    req: &Request,
    id: KeyId,
    key_type: KeyType,
) -> Result<(Headers, Vec<String>)> {
    // Copy in one JS call, then drop what must not reach the origin (names come back
    // lower-cased from the Headers API).
    let address = req.headers().get("CF-Connecting-IP")?;
    let headers = req.headers().clone();
    let mut removed: Vec<String> = headers.keys().filter(|name| is_dropped(name)).collect();
    removed.sort();
    removed.dedup();
    for name in &removed {
        headers.delete(name)?;
    }
    for (name, value) in client_address_headers(address.as_deref()) {
        headers.set(name, &value)?;
    }
    headers.set("X-Scopien-Key-Id", &id.to_string())?;
    headers.set("X-Scopien-Key-Type", key_type.as_str())?;
    Ok((headers, removed))
}

/// Forwards `req` to the key type's origin with its method, path, query and body
/// unchanged. The body, at most `MAX_BODY_BYTES`, is read first so an oversized one is
/// refused, not streamed. An origin that has not answered within `ORIGIN_TIMEOUT_MS`
/// is abandoned (the subrequest aborted) with 504.
pub(crate) async fn forward(
    req: &mut Request,
    url: &Url,
    env: &Env,
    id: KeyId,
    key_type: KeyType,
) -> Result<Response> {
    let (headers, removed) = forwarded_headers(req, id, key_type)?;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let has_body = !matches!(req.method(), Method::Get | Method::Head);
    let body = if has_body {
        match http::read_body(req, config::max_body_bytes(env)).await? {
            Ok(bytes) => Some(bytes),
            Err(err) => return http::error(&err),
        }
    } else {
        None
    };
    let origin = match config::origin(env, key_type) {
        Destination::Origin(origin) => origin,
        Destination::Echo(why) => {
            return echo(
                req,
                why,
                &path_and_query,
                &headers,
                &removed,
                body.as_deref(),
            )
        }
    };
    let target = format!("{}{}", origin.trim_end_matches('/'), path_and_query);
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(bytes) = body {
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    let outgoing = Request::new_with_init(&target, &init)?;
    let timeout_ms = config::origin_timeout_ms(env);
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(outgoing);
    let answer = fetch.send_with_signal(&signal);
    let delay = Delay::from(Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(answer, delay);
    match futures_util::future::select(answer, delay).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(fault), _)) => {
            worker::console_error!("origin fetch failed: {fault}");
            http::error(&ApiError::bad_gateway())
        }
        Either::Right(((), _)) => {
            controller.abort();
            worker::console_error!("origin did not answer within {timeout_ms} ms");
            http::error(&ApiError::gateway_timeout(timeout_ms))
        }
    }
}

/// With no origin for this key, answer what would have been forwarded, and why it was
/// not: the method as sent, path and query, the headers the origin would get (its
/// `Host` would be the origin's), the client headers removed, and the body's size.
fn echo(
    req: &Request,
    why: &str,
    path_and_query: &str,
    headers: &Headers,
    removed: &[String],
    body: Option<&[u8]>,
) -> Result<Response> {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .entries()
        .map(|(n, v)| (n, serde_json::Value::from(v)))
        .collect();
    http::json(
        200,
        &serde_json::json!({
            "echo": true,
            "note": format!("{why}; this is what the gateway would forward"),
            "origin": null,
            "method": req.inner().method(),
            "path": path_and_query,
            "headers": headers,
            "removedHeaders": removed,
            "bodyBytes": body.map_or(0, <[u8]>::len),
        }),
    )
}
