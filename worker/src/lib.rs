//! # scopien-gate: the Cloudflare Worker
//!
//! A thin shell over `scopien-auth`: it reads the request, asks core what it means, makes
//! the one Durable Object call the key's id points to, and writes core's answer as HTTP.
//! Every decision (key format, scopes, limits, lifecycle, errors, headers, bodies) is
//! core's.
//!
//! Files, one job each: `lib.rs` the entry and the request's path through the gateway;
//! `guard.rs` the `KeyGuard` object (load, step, store); `guard_client.rs` calling it;
//! `keys_api.rs` the key-management endpoints; `org_guard.rs` the `OrgGuard` object;
//! `orgs_api.rs` the organizations and audit-log endpoints; `dashboard.rs` the
//! dashboard (pages, sessions, its JSON API); `session_guard.rs` the `SessionGuard`
//! object; `directory.rs` the KV directory;
//! `forward.rs` the origin; `throttle.rs` the brute-force throttle; `config.rs` the
//! bindings; `http.rs` core values as responses.
//!
//! Two builds of this crate make the worker (scripts/build.sh): the **edge** module
//! (without the `full` feature) answers the request path alone, with no JSON parser and
//! no Durable Object in it; the **full** module (the default) answers everything, and
//! worker/shim.js loads it on the first request the edge hands over (`Reply::Elsewhere`)
//! and wherever a Durable Object runs. Code only the full module reaches is dead in the
//! edge build, and left out of its wasm. (A key's `lastUsedAt` is recorded by its guard,
//! guard.rs, so the request path never needs the full module.)

// The edge build leaves most of the crate unreachable: that is its point.
#![cfg_attr(
    not(feature = "full"),
    allow(dead_code, unused_imports, unused_variables, unreachable_code)
)]

/// Items of the full module only (the Durable Objects and what only they use).
macro_rules! full_module_items {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "full")]
            $item
        )*
    };
}

mod config;
mod dashboard;
mod directory;
mod executor;
mod forward;
mod guard_client;
mod http;
mod identity;
mod keys_api;
mod oauth;
mod oauth_api;
mod operations;
mod orgs_api;
mod scanning;
mod throttle;
mod webcrypto;

full_module_items! {
    mod flush;
    mod grant_guard;
    mod guard;
    mod org_guard;
    mod rows;
    mod session_guard;

    pub use grant_guard::GrantGuard;
    pub use guard::KeyGuard;
    pub use org_guard::OrgGuard;
    pub use session_guard::SessionGuard;
    pub use throttle::AddressThrottle;
}

use http::{or_respond, Reply};
use scopien_auth::base::method::METHOD_OVERRIDE_HEADERS;
use scopien_auth::check::protocol::{Check, CheckAnswer};
use scopien_auth::http::credential::{parse_credential, query_has_credential, Credential};
use scopien_auth::http::route::{route, Route};
use scopien_auth::keys::admin::Caller;
use scopien_auth::keys::view::AuthTestView;
use scopien_auth::{ApiError, Method};
use wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{web_sys, Env, Request, Response, Result};

/// The API contract, `openapi.yaml` as JSON (see build.rs).
#[cfg(feature = "full")]
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The entry (worker/shim.js calls it): answers at once, with no Promise, when the
/// request needs no I/O (a refusal, a public path), else with a Promise (executor.rs).
/// From the edge module, `null` (always at once) means the request is the full module's.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env) -> JsValue {
    executor::run(respond(req, env))
}

async fn respond(req: web_sys::Request, env: Env) -> JsValue {
    let mut req = Request::from(req);
    let response: Result<Reply> = match handle(&mut req, &env).await {
        Ok(response) => Ok(response),
        Err(fault) => {
            // Fail closed: nothing was forwarded. The fault text carries no key material
            // (the guard is sent only a hash, and errors never echo it).
            worker::console_error!("request failed closed: {fault}");
            http::error(&ApiError::service_unavailable(
                "A storage fault stopped this request before it reached the API; retry shortly",
            ))
        }
    };
    match response {
        Ok(response) => response.into_js(),
        Err(fault) => {
            worker::console_error!("response failed: {fault}");
            web_sys::Response::error().into()
        }
    }
}

const SECRET_SCANNING_PATH: &str = "/secret-scanning/github";

/// The paths that need no key (and secret scanning, which authenticates its caller).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/.well-known/jwks.json" | "/openapi.json" | "/" | SECRET_SCANNING_PATH
    )
}

/// Their answers.
#[cfg(feature = "full")]
async fn public(req: &mut Request, env: &Env, path: &str) -> Result<Response> {
    match path {
        SECRET_SCANNING_PATH => scanning::handle(req, env, now_ms()).await,
        "/.well-known/jwks.json" => match config::jwks(env) {
            Ok(jwks) => http::json(200, &jwks)
                .and_then(|r| http::with_headers(r, [("Cache-Control", "public, max-age=300")])),
            Err(err) => http::error(&err),
        },
        "/openapi.json" => http::json_text(200, OPENAPI_JSON.to_owned())
            .and_then(|r| http::with_headers(r, [("Cache-Control", "public, max-age=300")])),
        _ => http::json(
            200,
            &serde_json::json!({
                "name": "scopien-gate",
                "version": env!("CARGO_PKG_VERSION"),
                "authTest": "/v1/auth/test",
                "openapi": "/openapi.json",
                "jwks": "/.well-known/jwks.json",
                "oauth": "/.well-known/oauth-authorization-server",
            }),
        ),
    }
}

/// In the edge module, hands the request to the full module (`null` to worker/shim.js),
/// before anything of its body is read or anything is stored; in the full module, runs
/// the statements given (left out of the edge's wasm).
macro_rules! full_module_only {
    ($($full:tt)*) => {
        #[cfg(not(feature = "full"))]
        return Ok(Reply::Elsewhere);
        #[cfg(feature = "full")]
        {
            $($full)*
        }
    };
}

/// The methods that method-override headers ask the origin to use instead.
fn method_overrides(req: &Request) -> Result<std::result::Result<Vec<Method>, ApiError>> {
    let mut overrides = Vec::new();
    for name in METHOD_OVERRIDE_HEADERS {
        if let Some(value) = req.headers().get(name)? {
            match Method::parse_override(&value) {
                Ok(methods) => overrides.extend(methods),
                Err(_) => return Ok(Err(ApiError::invalid_method_override(name))),
            }
        }
    }
    Ok(Ok(overrides))
}

async fn handle(req: &mut Request, env: &Env) -> Result<Reply> {
    let url = http::RequestUrl::of(req);
    if is_public(url.path()) {
        full_module_only!(return public(req, env, url.path()).await.map(Reply::from));
    }
    let now_ms = now_ms();
    let address = req.headers().get("CF-Connecting-IP")?;
    // The dashboard and OAuth put each credential they check through the throttle's
    // gate themselves, and answer a blocked address in their own shape.
    if dashboard::is_dashboard(url.path()) {
        full_module_only!(
            return dashboard::handle(req, env, &url, address.as_deref(), now_ms)
                .await
                .map(Reply::from);
        );
    }
    if oauth::is_oauth(url.path()) {
        full_module_only!(
            return oauth::handle(req, env, &url, address.as_deref(), now_ms)
                .await
                .map(Reply::from);
        );
    }
    // An address refused for failed authentications gets 429 before any storage call,
    // unless its credential worked from there before the block (throttle.rs).
    let authorization = req.headers().get("Authorization")?;
    let parsed = parse_credential(authorization.as_deref());
    let guard_name = parsed.as_ref().ok().map(Credential::guard_name);
    if let Some(until) = throttle::blocked_for(address.as_deref(), guard_name, now_ms) {
        return http::error(&ApiError::too_many_failures_until(until, now_ms));
    }
    if url.query().is_some_and(query_has_credential) {
        return http::error(&ApiError::key_in_query());
    }
    let credential = or_respond!(parsed);
    // The method as sent (`worker::Method` would turn unknown ones into GET).
    let method =
        or_respond!(Method::parse(&req.inner().method()).map_err(|_| ApiError::invalid_method()));
    let route = or_respond!(route(&method, url.path()));
    if !matches!(route, Route::Upstream { .. }) {
        full_module_only!();
    }
    let overrides = or_respond!(method_overrides(req)?);
    let hash = credential.hash_hex();
    let root = match &credential {
        Credential::Key(key) => {
            let root = match config::root_key(env) {
                Ok(root) => root,
                Err(err) if route.is_management() => return http::error(&err),
                // A malformed root key must not stop ordinary keys.
                Err(_) => None,
            };
            if route.is_management() && root.is_none() {
                return http::error(&ApiError::root_key_not_configured());
            }
            match &root {
                Some(root) => root.recognise(key, &hash, or_respond!(config::plan(env))),
                None => None,
            }
        }
        // An access token never holds admin: its grant refuses the management API.
        Credential::AccessToken(_) => None,
    };
    if root.is_some() {
        full_module_only!();
    }
    // The body is read, bounded, before the guard is asked: a refused body counts nothing.
    let body = if method.has_body() {
        or_respond!(http::read_body(req, config::max_body_bytes(env)).await?)
    } else {
        Vec::new()
    };
    let check = Check {
        hash,
        requirement: route.requirement(&method, &overrides),
    };
    // The throttle's gate (throttle.rs): in flight + failed guesses per address stay
    // within the limit.
    let hash = check.hash.clone();
    let asked = throttle::guarded(
        env,
        address.as_deref(),
        credential.guard_name(),
        &hash,
        now_ms,
        guard_client::request_check(env, &credential, check, root),
        check_verdict,
    );
    let admitted = match asked.await? {
        Ok(CheckAnswer::Admitted(admitted)) => admitted,
        Ok(CheckAnswer::Refused { refusal, at_ms }) => return http::refusal(&refusal, at_ms),
        Err(until) => return http::error(&ApiError::too_many_failures_until(until, now_ms)),
    };
    // An access token acts with the authority of the admin key that approved its grant.
    let key_id = match (&credential, admitted.app) {
        (_, Some(app)) => app.approved_by,
        (Credential::Key(key), None) => key.id(),
        (Credential::AccessToken(_), None) => return http::error(&ApiError::invalid_key()),
    };
    let call = Admitted {
        url: &url,
        route: &route,
        method: &method,
        body,
        key_id,
        now_ms,
    };
    answer(req, env, call, &admitted).await
}

/// What a key's (or a grant's) answer to a check says of the credential: a refusal
/// for another reason than authentication (scope, rate limit) means it proved itself.
pub(crate) fn check_verdict(answer: &CheckAnswer) -> throttle::Verdict {
    match answer {
        CheckAnswer::Refused { refusal, .. } if refusal.is_failed_authentication() => {
            throttle::Verdict::Failed
        }
        _ => throttle::Verdict::Proved,
    }
}

/// A request its key's guard admitted (and counted), its body already read.
pub(crate) struct Admitted<'a> {
    pub(crate) url: &'a http::RequestUrl,
    pub(crate) route: &'a Route<'a>,
    pub(crate) method: &'a Method,
    pub(crate) body: Vec<u8>,
    pub(crate) key_id: scopien_auth::KeyId,
    pub(crate) now_ms: u64,
}

/// Answers an admitted request: forwarded to the origin, or answered by the gateway
/// (the auth test, the management API). A dashboard call comes here too, with its
/// session's key, so every rule is the API's.
pub(crate) async fn answer(
    req: &mut Request,
    env: &Env,
    call: Admitted<'_>,
    admitted: &scopien_auth::check::protocol::Admitted,
) -> Result<Reply> {
    let Admitted {
        url,
        route,
        method,
        body,
        key_id,
        now_ms,
    } = call;
    let response = match route {
        #[cfg(feature = "full")]
        Route::AuthTest => http::json(200, &AuthTestView::of(admitted, key_id))?,
        Route::Upstream { .. } => {
            let request = forward::Forwarded {
                url,
                method,
                body,
                id: key_id,
                admitted,
                now_ms,
            };
            // With the rate-limit headers already on it.
            return forward::forward(req, env, request).await;
        }
        // handle() handed these to the full module.
        #[cfg(not(feature = "full"))]
        _ => return Ok(Reply::Elsewhere),
        #[cfg(feature = "full")]
        _ => {
            let call = crate::operations::Call {
                route,
                method,
                url,
                body: &body,
                caller: Caller::of(admitted),
                now_ms,
            };
            match route {
                Route::Orgs | Route::Org(_) | Route::AuditLog => {
                    orgs_api::handle(env, call).await?
                }
                Route::OAuthClients
                | Route::OAuthClient(_)
                | Route::OAuthAuthorizations
                | Route::OAuthAuthorization(_) => oauth_api::handle(env, call).await?,
                _ => keys_api::handle(env, call).await?,
            }
        }
    };
    http::with_rate_limit(response, &admitted.status, admitted.at_ms).map(Reply::from)
}

/// `N` bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
    Ok(bytes)
}

/// The wall clock, ms since the epoch (`Date.now()`: no `Date` object made).
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
