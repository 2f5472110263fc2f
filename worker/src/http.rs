//! Turning core's values into HTTP responses.

use futures_util::StreamExt;
use scopien_auth::http::headers::rate_limit_headers;
use scopien_auth::{ApiError, Refusal, Status};
use serde::Serialize;
use wasm_bindgen::JsValue;
use worker::{web_sys, Headers, Request, Response, Result};

/// The request's URL as the runtime gives it, already parsed and serialised (WHATWG): its
/// path and query are read by slicing it, as `url::Url` would return them, without
/// parsing it again (the `url` crate cost ~30 KB of wasm and a parse per request).
pub(crate) struct RequestUrl {
    origin: String,
    path: String,
    query: Option<String>,
}

impl RequestUrl {
    /// The runtime's `request.url` (the entry reads it once, in lib.rs).
    pub(crate) fn parse(url: &str) -> RequestUrl {
        let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let after_host = &rest[host_end..];
        let origin = &url[..url.len() - after_host.len()];
        let path_and_query = after_host.split('#').next().unwrap_or_default();
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (path_and_query, None),
        };
        RequestUrl {
            origin: origin.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
            query,
        }
    }

    /// `scheme://host[:port]`, as the runtime serialised it.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The path, percent-encoded as sent: `/` at least.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// What follows `?`, up to any fragment; `Some("")` for a bare `?`.
    pub(crate) fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The query's `application/x-www-form-urlencoded` pairs, decoded.
    pub(crate) fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query().unwrap_or_default().as_bytes())
    }
}

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

/// A JSON response with `status`: one of core's views.
pub(crate) fn json(status: u16, body: &impl Serialize) -> Result<Response> {
    json_text(status, serde_json::to_string(body)?)
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

/// A response on its way out: one built through workers-rs, or a runtime `Response`
/// made directly (refusals from per-isolate parts, forwarded answers), which the entry
/// hands back as it is instead of rebuilding it through `worker::Response`.
pub(crate) enum Reply {
    /// Built through workers-rs.
    Built(Response),
    /// A runtime `Response` this isolate made, so its headers can still be set.
    Raw(web_sys::Response),
    /// The edge module's answer to a request that is the full module's (lib.rs).
    #[cfg(not(feature = "full"))]
    Elsewhere,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Built(response)
    }
}

/// For the callers that still work on `worker::Response` (management, dashboard).
impl From<Reply> for Response {
    fn from(reply: Reply) -> Response {
        match reply {
            Reply::Built(response) => response,
            Reply::Raw(response) => Response::from(response),
            // Only lib.rs's request path makes it, and never converts it.
            #[cfg(not(feature = "full"))]
            Reply::Elsewhere => Response::from(web_sys::Response::error()),
        }
    }
}

impl Reply {
    /// The runtime's `Response`, or `null` for the full module's requests.
    pub(crate) fn into_js(self) -> JsValue {
        match self {
            Reply::Built(response) => web_sys::Response::from(response).into(),
            Reply::Raw(response) => response.into(),
            #[cfg(not(feature = "full"))]
            Reply::Elsewhere => JsValue::NULL,
        }
    }

    /// Writes `headers` onto the response (copied first when workers-rs built it).
    pub(crate) fn with_headers<'a>(
        self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Reply> {
        match self {
            Reply::Built(response) => Ok(Reply::Built(with_headers(response, headers)?)),
            Reply::Raw(response) => {
                let target = response.headers();
                for (name, value) in headers {
                    target.set(name, value).map_err(worker::Error::from)?;
                }
                Ok(Reply::Raw(response))
            }
            #[cfg(not(feature = "full"))]
            Reply::Elsewhere => Ok(Reply::Elsewhere),
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function newResponse(body, init) { return new Response(body, init); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = newResponse)]
    fn new_response(body: &JsValue, init: &web_sys::ResponseInit) -> web_sys::Response;
}

/// Error responses built per isolate: most refusals are one of a few, so their body and
/// init (status and header set) are made once, as runtime values, and each response
/// costs one `new Response`.
const PREBUILT_MAX: usize = 64;

/// An error by status, code and details.
type ErrorKey = (u16, &'static str, String);
/// Its body (a JS string) and its `ResponseInit`.
type Prebuilt = (JsValue, web_sys::ResponseInit);

thread_local! {
    static PREBUILT: std::cell::RefCell<std::collections::HashMap<ErrorKey, Prebuilt>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The error response, body and headers, exactly as core's catalogue gives it.
pub(crate) fn error<R: From<Reply>>(err: &ApiError) -> Result<R> {
    let key = (err.status, err.code, err.details.clone());
    let cached = PREBUILT.with(|p| p.borrow().get(&key).cloned());
    let (body, init) = match cached {
        Some(prebuilt) => prebuilt,
        None => {
            let headers = Headers::new();
            headers.set("Content-Type", "application/json")?;
            headers.set("Cache-Control", "no-store")?;
            for (name, value) in err.headers() {
                headers.set(name, &value)?;
            }
            let init = web_sys::ResponseInit::new();
            init.set_status(err.status);
            init.set_headers(&headers.0);
            let prebuilt = (JsValue::from_str(&err.body()), init);
            PREBUILT.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() >= PREBUILT_MAX {
                    p.clear();
                }
                p.insert(key, prebuilt.clone());
            });
            prebuilt
        }
    };
    // The shared init is never changed: a Response copies its init's headers.
    Ok(R::from(Reply::Raw(new_response(&body, &init))))
}

/// The rate-limit headers of `status` as seen at `at_ms` added to `response`.
pub(crate) fn with_rate_limit(response: Response, status: &Status, at_ms: u64) -> Result<Response> {
    let headers = rate_limit_headers(status, at_ms);
    with_headers(response, headers.iter().map(|(n, v)| (*n, v.as_str())))
}

/// A key's refusal: the catalogue's error, and the rate-limit headers when the key was
/// authenticated.
pub(crate) fn refusal<R: From<Reply>>(refusal: &Refusal, at_ms: u64) -> Result<R> {
    let response: Reply = error(&refusal.error())?;
    let response = match refusal.status() {
        Some(status) => {
            let headers = rate_limit_headers(status, at_ms);
            response.with_headers(headers.iter().map(|(n, v)| (*n, v.as_str())))?
        }
        None => response,
    };
    Ok(R::from(response))
}

/// `AbortSignal.timeout(ms)`: the runtime aborts the fetch it is given after `ms`, with
/// its own timer (no Rust future needs polling for it).
pub(crate) fn timeout_signal(ms: u64) -> Result<worker::AbortSignal> {
    use wasm_bindgen::JsCast;
    let js = |e: wasm_bindgen::JsValue| worker::Error::from(e);
    let class = js_sys::Reflect::get(&js_sys::global(), &"AbortSignal".into()).map_err(js)?;
    let timeout: js_sys::Function = js_sys::Reflect::get(&class, &"timeout".into())
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let signal = timeout
        .call1(&class, &(ms as f64).into())
        .map_err(js)?
        .dyn_into::<worker::web_sys::AbortSignal>()
        .map_err(js)?;
    Ok(worker::AbortSignal::from(signal))
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

/// The body's declared length when it is over `limit`: refused before any storage call.
pub(crate) fn declared_too_large(req: &Request, limit: usize) -> Result<Option<ApiError>> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.trim().parse::<u64>().ok());
    Ok(declared
        .filter(|n| *n > limit as u64)
        .map(|_| ApiError::payload_too_large(limit)))
}

/// Reads a body of at most `limit` bytes; `Err(413)` past that. A body sent without
/// `Content-Length` (chunked) is read as a stream and measured as it arrives: at the
/// first chunk past `limit` the stream is cancelled (dropping it cancels it) and 413
/// answered at once, so at most `limit` + one chunk is ever held in memory.
pub(crate) async fn read_body(
    req: &mut Request,
    limit: usize,
) -> Result<std::result::Result<Vec<u8>, ApiError>> {
    if let Some(err) = declared_too_large(req, limit)? {
        return Ok(Err(err));
    }
    if req.inner().body().is_none() {
        return Ok(Ok(Vec::new()));
    }
    let mut stream = req.stream()?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len().saturating_add(chunk.len()) > limit {
            drop(stream);
            return Ok(Err(ApiError::payload_too_large(limit)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}

#[cfg(test)]
mod tests {
    use super::RequestUrl;

    #[test]
    fn path_and_query_as_url_reads_them() {
        for (url, path, query) in [
            ("https://example.com", "/", None),
            ("https://example.com/", "/", None),
            ("https://example.com?x=1", "/", Some("x=1")),
            (
                "https://example.com:8787/v1/keys?a=1&b=/x",
                "/v1/keys",
                Some("a=1&b=/x"),
            ),
            (
                "https://example.com/a%3F%23%2Fb?c#frag?d",
                "/a%3F%23%2Fb",
                Some("c"),
            ),
            ("https://example.com/p?", "/p", Some("")),
            ("http://[::1]:80/p", "/p", None),
        ] {
            let parsed = RequestUrl::parse(url);
            assert_eq!((parsed.path(), parsed.query()), (path, query), "{url}");
        }
    }

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        for (url, origin) in [
            ("https://example.com", "https://example.com"),
            (
                "https://example.com:8787/v1/keys?a=1",
                "https://example.com:8787",
            ),
            ("http://[::1]:80/p", "http://[::1]:80"),
            ("http://127.0.0.1:8787?x", "http://127.0.0.1:8787"),
        ] {
            assert_eq!(RequestUrl::parse(url).origin(), origin, "{url}");
        }
    }
}
