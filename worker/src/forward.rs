//! Forwarding an admitted request to the origin, or echoing it when none is set.

use crate::config::{self, Destination};
use crate::http::{self, Reply, RequestUrl};
use scopien_auth::check::protocol::Admitted;
use scopien_auth::http::forwarding::{
    client_address_headers, forwarded_cookie, is_dropped, sets_own_cookie, DROPPED_REQUEST_HEADERS,
    OWN_HEADER_PREFIX,
};
use scopien_auth::http::headers::rate_limit_headers;
use scopien_auth::identity::IDENTITY_HEADER;
use scopien_auth::{ApiError, Method};
use wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Headers, Request, Response, Result};

// The forwarding itself, in one crossing from wasm: copy the client's headers, drop
// those core's rule drops (`forwarding::is_dropped`: its list and prefix, handed over
// once per isolate as `rules`), put back `Cookie` as core rewrote it (without the
// gateway's own cookies; `undefined`: none left), set what the gateway adds, fetch with
// a timeout, and answer the origin's response (status, status text, headers, streamed
// body) with the rate-limit headers added. Resolves to `null` when the origin did not
// answer in time (the subrequest aborted). Names and values travel as one string,
// `\n`-separated: neither can hold a newline. Header names come from the Headers API
// lower-cased. The origin's `Set-Cookie` headers, one per cookie, are read and
// rewritten by `setCookies` and `keepSetCookies`.
#[wasm_bindgen(inline_js = r#"
function setPairs(headers, text) {
  if (text === "") return;
  const parts = text.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) headers.set(parts[i], parts[i + 1]);
}
export function headerNames(request) {
  return Array.from(request.headers.keys()).join("\n");
}
export function dropRules(names, prefix) {
  return { names: new Set(names.split("\n")), prefix };
}
export async function forwardRequest(request, target, method, body, rules, cookie, set, answer, timeoutMs) {
  const headers = new Headers(request.headers);
  for (const name of request.headers.keys()) {
    if (rules.names.has(name) || name.startsWith(rules.prefix)) headers.delete(name);
  }
  headers.delete("cookie");
  if (cookie !== undefined) headers.set("cookie", cookie);
  setPairs(headers, set);
  const signal = AbortSignal.timeout(timeoutMs);
  let upstream;
  try {
    upstream = await fetch(target, { method, headers, body, redirect: "manual", signal });
  } catch (fault) {
    if (signal.aborted) return null;
    throw fault;
  }
  const response = new Response(upstream.body, upstream);
  setPairs(response.headers, answer);
  return response;
}
export function setCookies(response) {
  return response.headers.getSetCookie().join("\n");
}
export function keepSetCookies(response, kept) {
  response.headers.delete("set-cookie");
  if (kept !== "") for (const value of kept.split("\n")) response.headers.append("set-cookie", value);
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = headerNames)]
    fn header_names(request: &web_sys::Request) -> String;
    #[wasm_bindgen(js_name = dropRules)]
    fn drop_rules(names: &str, prefix: &str) -> JsValue;
    #[wasm_bindgen(js_name = forwardRequest)]
    #[allow(clippy::too_many_arguments)]
    fn forward_request(
        request: &web_sys::Request,
        target: &str,
        method: &str,
        body: Option<js_sys::Uint8Array>,
        rules: &JsValue,
        cookie: Option<String>,
        set: &str,
        answer: &str,
        timeout_ms: f64,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = setCookies)]
    fn set_cookies(response: &web_sys::Response) -> String;
    #[wasm_bindgen(js_name = keepSetCookies)]
    fn keep_set_cookies(response: &web_sys::Response, kept: &str);
}

thread_local! {
    /// `forwarding::is_dropped`'s list and prefix as `forwardRequest` reads them.
    static DROP_RULES: JsValue =
        drop_rules(&DROPPED_REQUEST_HEADERS.join("\n"), OWN_HEADER_PREFIX);
}

/// The names of the client's headers that must not reach the origin (lower-case, sorted):
/// `forwarding::DROPPED_REQUEST_HEADERS` and `X-Scopien-*` (for the echo).
fn removed_headers(req: &Request) -> Vec<String> {
    // Names come back lower-cased from the Headers API, in one string.
    let names = header_names(req.inner());
    let mut removed: Vec<String> = names
        .split('\n')
        .filter(|name| !name.is_empty() && is_dropped(name))
        .map(str::to_owned)
        .collect();
    removed.sort();
    removed.dedup();
    removed
}

/// The headers the gateway adds: the client address it trusts (`CF-Connecting-IP`), who
/// acts (a key's id; for an OAuth access token its app's client and grant ids, and the
/// approving key under a name of its own, never as `X-Scopien-Key-Id`, which would make
/// the app that admin to an origin), its type and its organization.
fn added_headers(
    req: &Request,
    id: scopien_auth::ids::Approver,
    admitted: &Admitted,
) -> Result<Vec<(&'static str, String)>> {
    let address = req.headers().get("CF-Connecting-IP")?;
    let mut added = client_address_headers(address.as_deref());
    match &admitted.app {
        None => added.push(("X-Scopien-Key-Id", id.to_string())),
        Some(app) => {
            added.push(("X-Scopien-Client-Id", app.client_id.to_string()));
            added.push(("X-Scopien-Grant-Id", app.grant_id.to_string()));
            added.push(("X-Scopien-Approved-By", app.approved_by.to_string()));
        }
    }
    added.push(("X-Scopien-Key-Type", admitted.key_type.as_str().to_owned()));
    added.push(("X-Scopien-Org-Id", admitted.organization_id.to_string()));
    Ok(added)
}

/// `name\nvalue\n…`, as `forwardRequest` reads pairs.
fn joined<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    for (name, value) in pairs {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(name);
        text.push('\n');
        text.push_str(value);
    }
    text
}

/// An admitted request to forward.
pub(crate) struct Forwarded<'a> {
    pub(crate) url: &'a RequestUrl,
    pub(crate) method: &'a Method,
    /// Already read, bounded.
    pub(crate) body: Vec<u8>,
    pub(crate) id: scopien_auth::ids::Approver,
    pub(crate) admitted: &'a Admitted,
    pub(crate) now_ms: u64,
}

/// Forwards `req` to its key type's origin with its method (exactly as sent), path,
/// query and body unchanged, and the signed identity of its key, and answers the
/// origin's response with the key's rate-limit headers. An origin that has not answered
/// within `ORIGIN_TIMEOUT_MS` is abandoned (the subrequest aborted) with 504.
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
) -> Result<Reply> {
    let mut added = added_headers(req, id, admitted)?;
    // The gateway's own cookies (the dashboard session) never leave it.
    let sent = req.headers().get("Cookie")?;
    let sent_cookie = sent.is_some();
    let cookie = sent.as_deref().and_then(forwarded_cookie);
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let body = method.has_body().then_some(body);
    let rate_limit = rate_limit_headers(&admitted.status, admitted.at_ms);
    let origin = match config::origin(env, admitted.key_type) {
        Destination::Origin(origin) => origin,
        Destination::Echo(why) => {
            let mut removed = removed_headers(req);
            let headers = req.headers().clone();
            for name in &removed {
                headers.delete(name)?;
            }
            headers.delete("Cookie")?;
            match &cookie {
                Some(kept) => headers.set("Cookie", kept)?,
                // Every cookie sent was the gateway's.
                None if sent_cookie => removed.push("cookie".to_owned()),
                None => {}
            }
            for (name, value) in &added {
                headers.set(name, value)?;
            }
            // What an origin would verify, addressed to the gateway itself: with no
            // origin there is no other audience to name.
            let issuer = match config::public_url(env) {
                Ok(issuer) => issuer,
                Err(error) => return http::error(&error),
            };
            if let Some(token) =
                crate::identity::assertion(env, id, admitted, &issuer, &issuer, now_ms).await?
            {
                headers.set(IDENTITY_HEADER, &token)?;
            }
            let echo = Echo {
                why,
                method,
                path_and_query: &path_and_query,
                headers: &headers,
                removed: &removed,
                body: body.as_deref(),
            };
            return http::with_rate_limit(echo.respond()?, &admitted.status, admitted.at_ms)
                .map(Reply::from);
        }
    };
    // The configured URL, never the request's Host: the origin trusts `iss`.
    let issuer = match config::public_url(env) {
        Ok(issuer) => issuer,
        Err(error) => return http::error(&error),
    };
    let audience = origin.trim_end_matches('/');
    if let Some(token) =
        crate::identity::assertion(env, id, admitted, &issuer, audience, now_ms).await?
    {
        added.push((IDENTITY_HEADER, token));
    }
    let target = format!("{audience}{path_and_query}");
    let timeout_ms = config::origin_timeout_ms(env);
    let promise = DROP_RULES.with(|rules| {
        forward_request(
            req.inner(),
            &target,
            method.as_str(),
            body.map(|bytes| js_sys::Uint8Array::from(bytes.as_slice())),
            rules,
            cookie,
            &joined(added.iter().map(|(n, v)| (*n, v.as_str()))),
            &joined(rate_limit.iter().map(|(n, v)| (*n, v.as_str()))),
            timeout_ms as f64,
        )
    });
    match JsFuture::from(promise).await {
        Ok(response) if response.is_null() => {
            worker::console_error!("origin did not answer within {timeout_ms} ms");
            http::error(&ApiError::gateway_timeout(timeout_ms))
        }
        Ok(response) => {
            let response: web_sys::Response = response.unchecked_into();
            drop_own_set_cookies(&response);
            Ok(Reply::Raw(response))
        }
        Err(fault) => {
            worker::console_error!("origin fetch failed: {}", worker::Error::from(fault));
            http::error(&ApiError::bad_gateway())
        }
    }
}

/// Drops the origin's `Set-Cookie` headers that would set one of the gateway's own
/// cookies (session fixation); the others stay, in their order.
fn drop_own_set_cookies(response: &web_sys::Response) {
    let set = set_cookies(response);
    if set.is_empty() {
        return;
    }
    let values: Vec<&str> = set.split('\n').collect();
    if values.iter().any(|value| sets_own_cookie(value)) {
        let kept: Vec<&str> = values
            .into_iter()
            .filter(|value| !sets_own_cookie(value))
            .collect();
        keep_set_cookies(response, &kept.join("\n"));
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
