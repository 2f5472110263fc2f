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

// What only the full module has is marked one way, `#[cfg(feature = "full")]` (the
// Durable Objects are a whole module of it); where the request path meets such a thing,
// `full_module_only!` hands the request over.

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

mod api;
mod client;
mod config;
#[cfg(feature = "full")]
mod delivery;
mod directory;
mod executor;
mod forward;
mod http;
mod identity;
#[cfg(feature = "full")]
mod objects;
mod operations;
mod platform;
mod request;
mod throttle;
mod webcrypto;

#[cfg(feature = "full")]
pub use objects::{
    grant_guard::GrantGuard,
    key_guard::KeyGuard,
    org_guard::OrgGuard,
    people::{CeremonyGuard, PeopleGuard, PersonGuard},
    session_guard::SessionGuard,
};
#[cfg(feature = "full")]
pub use throttle::AddressThrottle;

use http::Reply;
use platform::now_ms;
use scopien_auth::http::route::{door, Door, SECRET_SCANNING_PATH};
use scopien_auth::ApiError;
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

/// The queue consumer (worker/shim.js calls it, from the full module): webhook
/// messages, attempted by `delivery.rs`.
#[cfg(feature = "full")]
#[wasm_bindgen]
pub fn queue(batch: worker::worker_sys::MessageBatch, env: Env) -> js_sys::Promise {
    worker::wasm_bindgen_futures::future_to_promise(async move {
        delivery::consume(worker::MessageBatch::from(batch), &env)
            .await
            .map(|()| JsValue::UNDEFINED)
            .map_err(JsValue::from)
    })
}

async fn respond(req: web_sys::Request, env: Env) -> JsValue {
    let response: Result<Reply> = match handle(req, &env).await {
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

/// Their answers.
#[cfg(feature = "full")]
async fn public(req: &mut Request, env: &Env, path: &str) -> Result<Response> {
    match path {
        SECRET_SCANNING_PATH => api::scanning::handle(req, env, now_ms()).await,
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

async fn handle(raw: web_sys::Request, env: &Env) -> Result<Reply> {
    // The edge reads only what it needs from the runtime's request (each read is a call
    // out of wasm): `worker::Request` reads the method, URL, headers and `cf` at once,
    // so it is made only past the point where a malformed credential is answered.
    let url = http::RequestUrl::parse(&raw.url());
    let door = door(url.path());
    if door == Door::Public {
        full_module_only!(
            let mut req = Request::from(raw);
            return public(&mut req, env, url.path()).await.map(Reply::from);
        );
    }
    let headers = raw.headers();
    // The dashboard and OAuth put each credential they check through the throttle's
    // gate themselves, and answer a blocked address in their own shape.
    match door {
        Door::Dashboard => {
            full_module_only!(
                let (address, now_ms) = (headers.get("CF-Connecting-IP")?, now_ms());
                let address = address.as_deref();
                let mut req = Request::from(raw);
                return api::dashboard::handle(&mut req, env, &url, address, now_ms)
                    .await
                    .map(Reply::from);
            );
        }
        Door::OAuth => {
            full_module_only!(
                let (address, now_ms) = (headers.get("CF-Connecting-IP")?, now_ms());
                let address = address.as_deref();
                let mut req = Request::from(raw);
                return api::oauth::handle(&mut req, env, &url, address, now_ms)
                    .await
                    .map(Reply::from);
            );
        }
        Door::Public | Door::Api => request::handle(raw, &headers, env, &url).await,
    }
}
