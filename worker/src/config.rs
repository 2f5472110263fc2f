//! The deployment's configuration, read from bindings. Binding names match wrangler.toml.

use scopien_auth::{ApiError, ApiKey, Plan};
use std::cell::RefCell;
use worker::Env;

/// KV namespace: the key directory, for listing.
pub(crate) const KEYS: &str = "KEYS";
/// Durable Object namespace: one KeyGuard per key.
pub(crate) const KEY_GUARD: &str = "KEY_GUARD";
/// Durable Object namespace: one AddressThrottle per client address.
pub(crate) const THROTTLE: &str = "THROTTLE";
const AUTH_FAILURE_LIMIT: &str = "AUTH_FAILURE_LIMIT";
const AUTH_FAILURE_BLOCK_SECONDS: &str = "AUTH_FAILURE_BLOCK_SECONDS";
const GUARD_TIMEOUT_MS: &str = "GUARD_TIMEOUT_MS";
const ROOT_KEY: &str = "SCOPIEN_ROOT_KEY";
const PLAN: &str = "PLAN";
const ORIGIN_URL: &str = "ORIGIN_URL";
const SANDBOX_ORIGIN_URL: &str = "SANDBOX_ORIGIN_URL";
/// BENCHMARKS ONLY, never in production: see `bench_skip_counter_write`.
const BENCH_SKIP_COUNTER_WRITE: &str = "SCOPIEN_BENCH_SKIP_COUNTER_WRITE";

fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The plan; an unknown name fails closed with a message saying what to set.
pub(crate) fn plan(env: &Env) -> Result<Plan, ApiError> {
    let name = text(env, PLAN).unwrap_or_default();
    Plan::parse(&name).ok_or_else(|| {
        ApiError::service_unavailable("The PLAN var must be starter, professional or enterprise")
    })
}

/// The root key, parsed and hashed once per isolate.
#[derive(Clone)]
pub(crate) struct RootKey {
    pub(crate) key: ApiKey,
    pub(crate) hash: String,
}

struct RootCache {
    text: String,
    key: Option<RootKey>,
}

thread_local! {
    static ROOT: RefCell<Option<RootCache>> = const { RefCell::new(None) };
}

/// The root key, when one is configured. A malformed one is refused, never used.
pub(crate) fn root_key(env: &Env) -> Result<Option<RootKey>, ApiError> {
    let Some(text) = text(env, ROOT_KEY) else {
        return Ok(None);
    };
    let key = ROOT.with(|cell| {
        let mut cache = cell.borrow_mut();
        match cache.as_ref() {
            Some(c) if c.text == text => c.key.clone(),
            _ => {
                let key = ApiKey::parse(&text)
                    .ok()
                    .filter(|k| k.key_type() == scopien_auth::KeyType::Live)
                    .map(|key| RootKey {
                        hash: key.hash_hex(),
                        key,
                    });
                *cache = Some(RootCache {
                    text,
                    key: key.clone(),
                });
                key
            }
        }
    });
    key.map(Some).ok_or_else(|| {
        ApiError::service_unavailable(
            "SCOPIEN_ROOT_KEY is not a valid sk_live_ key; generate one with `npm run root-key`",
        )
    })
}

/// Where requests of a key type go; `None` means answer with an echo.
pub(crate) fn origin(env: &Env, key_type: scopien_auth::KeyType) -> Option<String> {
    let live = text(env, ORIGIN_URL);
    match key_type {
        scopien_auth::KeyType::Live => live,
        scopien_auth::KeyType::Test => text(env, SANDBOX_ORIGIN_URL).or(live),
    }
}

fn number(env: &Env, name: &str) -> Option<u64> {
    text(env, name).and_then(|t| t.parse().ok())
}

/// The brute-force throttle: `AUTH_FAILURE_LIMIT` failures a minute (default 30; 0 turns
/// it off), then `AUTH_FAILURE_BLOCK_SECONDS` refused (default 300).
pub(crate) fn throttle_policy(env: &Env) -> scopien_auth::throttle::ThrottlePolicy {
    let default = scopien_auth::throttle::ThrottlePolicy::default();
    scopien_auth::throttle::ThrottlePolicy {
        max_failures: number(env, AUTH_FAILURE_LIMIT)
            .map_or(default.max_failures, |n| n.min(u64::from(u32::MAX)) as u32),
        block_ms: number(env, AUTH_FAILURE_BLOCK_SECONDS)
            .map_or(default.block_ms, |s| s.saturating_mul(1000)),
        ..default
    }
}

/// How long a KeyGuard may take before the request fails closed (default 10 s).
pub(crate) fn guard_timeout_ms(env: &Env) -> u64 {
    number(env, GUARD_TIMEOUT_MS).unwrap_or(10_000).max(1)
}

/// BENCHMARKS ONLY. `SCOPIEN_BENCH_SKIP_COUNTER_WRITE = "1"` makes each KeyGuard keep its
/// counters in memory and never write them to storage, so `npm run bench` can measure the
/// admitted path without local SQLite's disk syncs. Counters then reset whenever a guard
/// is evicted: limits stop being exact. It is in no config file, only the exact value
/// `"1"` turns it on, and a guard that sees it logs an error saying so.
pub(crate) fn bench_skip_counter_write(env: &Env) -> bool {
    text(env, BENCH_SKIP_COUNTER_WRITE).as_deref() == Some("1")
}
