//! Forwarding an admitted request to the origin, or echoing it when none is set.

use crate::http;
use crate::http::RequestUrl;
use scopien_auth::{ApiError, KeyId, KeyType, Method};
use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response, Result};

/// Headers a client may not set: the gateway owns them.
const OWN_HEADER_PREFIX: &str = "x-scopien-";

fn forwarded_headers(req: &Request, id: KeyId, key_type: KeyType) -> Result<Headers> {
    // Copy in one JS call, then drop what must not reach the origin (names come back
    // lower-cased from the Headers API).
    let headers = req.headers().clone();
    let dropped: Vec<String> = headers
        .keys()
        .filter(|name| name == "authorization" || name.starts_with(OWN_HEADER_PREFIX))
        .collect();
    for name in dropped {
        headers.delete(&name)?;
    }
    headers.set("X-Scopien-Key-Id", &id.to_string())?;
    headers.set("X-Scopien-Key-Type", key_type.as_str())?;
    Ok(headers)
}

/// Forwards `req` to `origin` with its method (exactly as sent), path, query and body
/// (already read, bounded) unchanged.
pub(crate) async fn forward(
    req: &Request,
    url: &RequestUrl,
    method: &Method,
    body: Vec<u8>,
    origin: Option<String>,
    id: KeyId,
    key_type: KeyType,
) -> Result<Response> {
    let headers = forwarded_headers(req, id, key_type)?;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let body = method.has_body().then_some(body);
    let Some(origin) = origin else {
        return echo(method, &path_and_query, &headers, body.as_deref());
    };
    let target = format!("{}{}", origin.trim_end_matches('/'), path_and_query);
    let mut init = RequestInit::new();
    init.with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(bytes) = body {
        init.with_body(Some(js_sys::Uint8Array::from(bytes.as_slice()).into()));
    }
    // worker's `Method` has no extension methods: set the token on the JS init itself.
    let init = worker::web_sys::RequestInit::from(&init);
    init.set_method(method.as_str());
    let outgoing = worker::web_sys::Request::new_with_str_and_init(&target, &init)
        .map(Request::from)
        .map_err(worker::Error::from)?;
    match Fetch::Request(outgoing).send().await {
        Ok(response) => Ok(response),
        Err(fault) => {
            worker::console_error!("origin fetch failed: {fault}");
            http::error(&ApiError::bad_gateway())
        }
    }
}

/// With no origin configured, answer what would have been forwarded, so the gateway can
/// be tried alone.
fn echo(
    method: &Method,
    path_and_query: &str,
    headers: &Headers,
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
            "note": "No ORIGIN_URL is configured; this is what the gateway would forward",
            "method": method.as_str(),
            "path": path_and_query,
            "headers": headers,
            "bodyBytes": body.map_or(0, <[u8]>::len),
        }),
    )
}
