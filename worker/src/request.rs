//! The request path: a request with a credential (a key or an access token) to the API
//! behind the gateway, or to the gateway's own API. Throttle, parse, route, check with
//! the credential's guard, then forward or answer.

use crate::api;
use crate::client;
use crate::config;
use crate::http;
use crate::http::{or_respond, Reply};
use crate::platform::now_ms;
use crate::throttle;
use scopien_auth::base::method::METHOD_OVERRIDE_HEADERS;
use scopien_auth::base::network::parse_address;
use scopien_auth::check::protocol::{Check, CheckAnswer};
use scopien_auth::http::credential::{parse_credential, query_has_credential, Credential};
use scopien_auth::http::route::{route, Route};
use scopien_auth::{ApiError, Method, Refusal};
use worker::{web_sys, Env, Request, Result};

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

/// A request with a credential, once the entry (lib.rs) has ruled out the public paths,
/// the dashboard and OAuth.
pub(crate) async fn handle(
    raw: web_sys::Request,
    headers: &web_sys::Headers,
    env: &Env,
    url: &http::RequestUrl,
) -> Result<Reply> {
    let authorization = headers.get("Authorization")?;
    let parsed = parse_credential(authorization.as_deref());
    // The address and the clock are read when they can matter: for a well-formed
    // credential, or while a block is in force. A malformed one never reaches a guard.
    let (address, now_ms) = if parsed.is_ok() || throttle::any_block_in_force() {
        (headers.get("CF-Connecting-IP")?, now_ms())
    } else {
        (None, 0)
    };
    let address = address.as_deref();
    // An address refused for failed authentications gets 429 before any storage call,
    // unless its credential worked from there before the block (throttle.rs).
    let guard_name = parsed.as_ref().ok().map(Credential::guard_name);
    if let Some(until) = throttle::blocked_for(address, guard_name, now_ms) {
        return http::error(&ApiError::too_many_failures_until(until, now_ms));
    }
    if url.query().is_some_and(query_has_credential) {
        return http::error(&ApiError::key_in_query());
    }
    let credential = or_respond!(parsed);
    let mut req = Request::from(raw);
    let req = &mut req;
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
        address: address.and_then(parse_address),
    };
    // The throttle's gate (throttle.rs): in flight + failed guesses per address stay
    // within the limit.
    let hash = check.hash.clone();
    let asked = throttle::guarded(
        env,
        address,
        credential.guard_name(),
        &hash,
        now_ms,
        client::request_check(env, &credential, check, root),
        throttle::check_verdict,
    );
    let admitted = match asked.await? {
        Ok(CheckAnswer::Admitted(admitted)) => admitted,
        // An unknown or revoked access token is refused in its own words.
        Ok(CheckAnswer::Refused {
            refusal: Refusal::Invalid,
            ..
        }) if matches!(credential, Credential::AccessToken(_)) => {
            return http::error(&ApiError::invalid_access_token())
        }
        Ok(CheckAnswer::Refused { refusal, at_ms }) => return http::refusal(&refusal, at_ms),
        Err(until) => return http::error(&ApiError::too_many_failures_until(until, now_ms)),
    };
    // An access token acts with the authority of the key or person that approved its grant.
    let approver_id = match (&credential, admitted.app) {
        (_, Some(app)) => app.approved_by,
        (Credential::Key(key), None) => scopien_auth::ids::Approver::Key(key.id()),
        (Credential::AccessToken(_), None) => return http::error(&ApiError::invalid_key()),
    };
    let call = api::Admitted {
        url,
        route: &route,
        method: &method,
        body,
        approver_id,
        now_ms,
    };
    api::answer(req, env, call, &admitted).await
}
