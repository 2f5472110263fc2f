//! Forwarding an admitted request to the origin, or echoing it when none is set.

use crate::config::{self, Destination};
use crate::http::{self, RequestUrl};
use scopien_auth::forwarding::{client_address_headers, is_dropped};
use scopien_auth::guard::Admitted;
use scopien_auth::identity::IDENTITY_HEADER;
use scopien_auth::{ApiError, KeyId, Method};
use worker::{Env, Fetch, Headers, Request, RequestInit, RequestRedirect, Response, Result};

/// The headers the origin gets, and the names of the client's headers that were
/// removed (lower-case, sorted): `forwarding::DROPPED_REQUEST_HEADERS` and `X-Scopien-*`
/// go; the client address the gateway trusts (`CF-Connecting-IP`), the key's id, type
/// and organization are added.
fn forwarded_headers(
    req: &Request,
    id: KeyId,
    admitted: &Admitted,
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
    headers.set("X-Scopien-Key-Type", admitted.key_type.as_str())?;
    headers.set("X-Scopien-Org-Id", &admitted.organization_id.to_string())?;
    // An OAuth app acting through a grant: the key id is the approving admin's.
    if let Some(app) = &admitted.app {
        headers.set("X-Scopien-Client-Id", &app.client_id.to_string())?;
        headers.set("X-Scopien-Grant-Id", &app.grant_id.to_string())?;
    }
    Ok((headers, removed))
}

/// An admitted request to forward.
pub(crate) struct Forwarded<'a> {
    pub(crate) url: &'a RequestUrl,
    pub(crate) method: &'a Method,
    /// Already read, bounded.
    pub(crate) body: Vec<u8>,
    pub(crate) id: KeyId,
    pub(crate) admitted: &'a Admitted,
    pub(crate) now_ms: u64,
}

/// Forwards `req` to its key type's origin with its method (exactly as sent), path,
/// query and body unchanged, and the signed identity of its key. An origin that has not
/// answered within `ORIGIN_TIMEOUT_MS` is abandoned (the subrequest aborted) with 504.
pub(crate) async fn forward(
    req: &Request,
    env: &Env,
    Forwarded {
        url,
        method,
        body,
        id,
        admitted,
        now_ms,
    }: Forwarded<'_>,
) -> Result<Response> {
    let (headers, removed) = forwarded_headers(req, id, admitted)?;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let body = method.has_body().then_some(body);
    let origin = match config::origin(env, admitted.key_type) {
        Destination::Origin(origin) => origin,
        Destination::Echo(why) => {
            let echo = Echo {
                why,
                method,
                path_and_query: &path_and_query,
                headers: &headers,
                removed: &removed,
                body: body.as_deref(),
            };
            return echo.respond();
        }
    };
    let issuer = url.origin();
    let audience = origin.trim_end_matches('/');
    if let Some(token) =
        crate::identity::assertion(env, id, admitted, issuer, audience, now_ms).await?
    {
        headers.set(IDENTITY_HEADER, &token)?;
    }
    let target = format!("{audience}{path_and_query}");
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
    let timeout_ms = config::origin_timeout_ms(env);
    let signal = http::timeout_signal(timeout_ms)?;
    match Fetch::Request(outgoing).send_with_signal(&signal).await {
        Ok(response) => Ok(response),
        Err(_) if signal.aborted() => {
            worker::console_error!("origin did not answer within {timeout_ms} ms");
            http::error(&ApiError::gateway_timeout(timeout_ms))
        }
        Err(fault) => {
            worker::console_error!("origin fetch failed: {fault}");
            http::error(&ApiError::bad_gateway())
        }
    }
}

/// With no origin for this key, what would have been forwarded, and why it was not: the
/// method as sent, path and query, the headers the origin would get (its `Host` would
/// be the origin's), the client headers removed, and the body's size.
struct Echo<'a> {
    why: &'a str,
    method: &'a Method,
    path_and_query: &'a str,
    headers: &'a Headers,
    removed: &'a [String],
    body: Option<&'a [u8]>,
}

impl Echo<'_> {
    fn respond(self) -> Result<Response> {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .entries()
            .map(|(n, v)| (n, serde_json::Value::from(v)))
            .collect();
        http::json(
            200,
            &serde_json::json!({
                "echo": true,
                "note": format!("{}; this is what the gateway would forward", self.why),
                "origin": null,
                "method": self.method.as_str(),
                "path": self.path_and_query,
                "headers": headers,
                "removedHeaders": self.removed,
                "bodyBytes": self.body.map_or(0, <[u8]>::len),
            }),
        )
    }
}
