//! # scopien-gate: the Cloudflare Worker
//!
//! A thin shell over `scopien-auth`: it reads the request, asks core what it means, makes
//! the one Durable Object call the key's id points to, and writes the response. Every
//! decision (key format, scopes, limits, errors, headers) is core's.

mod config;
mod forward;
mod guard;
mod guard_client;
mod http;
mod keys_api;
mod protocol;
mod throttle;

pub use guard::KeyGuard;
pub use throttle::AddressThrottle;

use guard_client::{call_check, Checked};
use http::or_respond;
use protocol::CheckRequest;
use scopien_auth::credential::{parse_authorization, query_has_credential};
use scopien_auth::route::{route, Route};
use scopien_auth::{constant_time, ApiError, KeyRecord};
use worker::{event, Context, Env, Request, Response, Result};

/// The API contract, `openapi.yaml` as JSON (see build.rs).
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    match handle(&mut req, &env, &ctx).await {
        Ok(response) => Ok(response),
        Err(fault) => {
            // Fail closed: nothing was forwarded. The fault text carries no key material
            // (the guard is sent only a hash, and errors never echo it).
            worker::console_error!("request failed closed: {fault}");
            http::error(&ApiError::service_unavailable(
                "A storage fault stopped this request before it reached the API; retry shortly",
            ))
        }
    }
}

async fn handle(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response> {
    let url = req.url()?;
    if url.path() == "/openapi.json" {
        let response = http::json_text(200, OPENAPI_JSON.to_owned())?;
        return http::with_headers(response, [("Cache-Control", "public, max-age=300")]);
    }
    if url.path() == "/" {
        return http::json(
            200,
            &serde_json::json!({
                "name": "scopien-gate",
                "version": env!("CARGO_PKG_VERSION"),
                "authTest": "/v1/auth/test",
                "openapi": "/openapi.json",
            }),
        );
    }
    // An address refused for failed authentications gets 429 before any storage call,
    // unless its key worked from there before the block (throttle.rs).
    let address = req.headers().get("CF-Connecting-IP")?;
    let now_ms = worker::Date::now().as_millis();
    let authorization = req.headers().get("Authorization")?;
    let parsed = parse_authorization(authorization.as_deref());
    if let Some(until) = throttle::blocked_for(address.as_deref(), parsed.as_ref().ok(), now_ms) {
        return blocked(until, now_ms);
    }
    if url.query().is_some_and(query_has_credential) {
        return http::error(&ApiError::key_in_query());
    }
    let key = or_respond!(parsed);
    let method = req.method().to_string();
    let route = or_respond!(route(&method, url.path()));
    let managing = route.resource() == Some(scopien_auth::scope::KEY_MANAGEMENT_RESOURCE);
    if let Some(err) = http::declared_too_large(req, config::max_body_bytes(env))? {
        return http::error(&err);
    }

    let root = match config::root_key(env) {
        Ok(root) => root,
        Err(err) if managing => return http::error(&err),
        // A malformed root key must not stop ordinary keys.
        Err(_) => None,
    };
    if managing && root.is_none() {
        return http::error(&ApiError::root_key_not_configured());
    }
    let hash = key.hash_hex();
    let root_record = match root {
        Some(root)
            if root.key.id() == key.id()
                && constant_time::eq(root.hash.as_bytes(), hash.as_bytes()) =>
        {
            Some(KeyRecord::root(&root.key, or_respond!(config::plan(env))))
        }
        _ => None,
    };
    let check = CheckRequest {
        hash,
        method,
        resource: route.resource().map(str::to_owned),
        root: root_record,
    };
    // Throttle gate (throttle.rs): in flight + failed guesses per address stay within the limit.
    let gate = match throttle::Gate::enter(env, address.as_deref(), &key, &check.hash, now_ms) {
        Ok(gate) => gate,
        Err(until) => return blocked(until, now_ms),
    };
    let answer = match call_check(env, key.id(), &check).await? {
        Checked::Refused(response) if response.status_code() == 401 => {
            if let Some(until) = gate.failed(env, now_ms).await {
                return blocked(until, now_ms);
            }
            return Ok(response);
        }
        Checked::Refused(response) => return Ok(response),
        Checked::Admitted(answer) => {
            gate.admitted();
            answer
        }
    };
    if let Some(entry) = answer.directory.clone() {
        let env = env.clone();
        ctx.wait_until(async move { keys_api::write_directory(&env, &entry).await });
    }

    let response = match &route {
        Route::AuthTest => http::json(
            200,
            &serde_json::json!({
                "authenticated": true,
                "keyId": key.id(),
                "type": answer.key_type,
                "scopes": answer.scopes,
                "rateLimit": {
                    "limit": answer.limit,
                    "remaining": answer.remaining,
                    "reset": answer.reset,
                },
            }),
        )?,
        Route::Upstream { .. } => {
            forward::forward(req, &url, env, key.id(), answer.key_type).await?
        }
        _ => keys_api::handle(&route, req, &url, env, answer.key_type, now_ms).await?,
    };
    http::with_headers(
        response,
        answer.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    )
}

/// The 429 for an address refused until `until_ms`.
fn blocked(until_ms: u64, now_ms: u64) -> Result<Response> {
    http::error(&ApiError::too_many_failures(
        until_ms.saturating_sub(now_ms).div_ceil(1000).max(1),
    ))
}
