//! The deployment's configuration, read from bindings. Binding names match wrangler.toml.

use scopien_auth::check::throttle::ThrottlePolicy;
use scopien_auth::identity::{
    parse_previous_keys, parse_public_url, SigningKey, DEFAULT_PUBLIC_URL,
};
use scopien_auth::keys::root::RootKey;
use scopien_auth::scanning::{KeyDocument, LeakAction};
use scopien_auth::{ApiError, KeyType, Plan};
use std::cell::OnceCell;
use std::rc::Rc;
use worker::Env;

/// KV namespace: the key directory, for listing.
pub(crate) const KEYS: &str = "KEYS";
/// Durable Object namespace: one KeyGuard per key.
pub(crate) const KEY_GUARD: &str = "KEY_GUARD";
/// Durable Object namespace: one OrgGuard per organization.
pub(crate) const ORG_GUARD: &str = "ORG_GUARD";
/// Durable Object namespace: one SessionGuard per dashboard session.
pub(crate) const SESSION_GUARD: &str = "SESSION_GUARD";
/// The OAuth grants' Durable Object binding.
pub(crate) const GRANT_GUARD: &str = "GRANT_GUARD";
/// Workers Static Assets: the dashboard's pages, scripts and styles.
pub(crate) const ASSETS: &str = "ASSETS";
/// One PeopleGuard per organization: its members and pending invitations.
pub(crate) const PEOPLE_GUARD: &str = "PEOPLE_GUARD";
/// One PersonGuard per person: their record and passkeys.
pub(crate) const PERSON_GUARD: &str = "PERSON_GUARD";
/// One CeremonyGuard per passkey challenge: single-use, short-lived.
pub(crate) const CEREMONY_GUARD: &str = "CEREMONY_GUARD";
/// Queue: webhook messages, from the organizations' guards to the consumer (`delivery.rs`).
pub(crate) const WEBHOOKS: &str = "WEBHOOKS";
/// Durable Object namespace: one AddressThrottle per client address.
pub(crate) const THROTTLE: &str = "THROTTLE";
const AUTH_FAILURE_LIMIT: &str = "AUTH_FAILURE_LIMIT";
const AUTH_FAILURE_BLOCK_SECONDS: &str = "AUTH_FAILURE_BLOCK_SECONDS";
const GUARD_TIMEOUT_MS: &str = "GUARD_TIMEOUT_MS";
const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
const ORIGIN_TIMEOUT_MS: &str = "ORIGIN_TIMEOUT_MS";
const METER_FLUSH_MS: &str = "METER_FLUSH_MS";
const ROOT_KEY: &str = "SCOPIEN_ROOT_KEY";
const IDENTITY_SIGNING_KEY: &str = "IDENTITY_SIGNING_KEY";
const IDENTITY_PREVIOUS_KEYS: &str = "IDENTITY_PREVIOUS_KEYS";
const SECRET_SCANNING_PUBLIC_KEYS: &str = "SECRET_SCANNING_PUBLIC_KEYS";
const LEAKED_KEY_ACTION: &str = "LEAKED_KEY_ACTION";
const PLAN: &str = "PLAN";
const ORIGIN_URL: &str = "ORIGIN_URL";
const SANDBOX_ORIGIN_URL: &str = "SANDBOX_ORIGIN_URL";
const PUBLIC_URL: &str = "PUBLIC_URL";
const PASSKEY_RP_ID: &str = "PASSKEY_RP_ID";
const PASSKEY_ORIGINS: &str = "PASSKEY_ORIGINS";
const SIGNUP: &str = "SIGNUP";
const SIGNUP_LIMIT_PER_HOUR: &str = "SIGNUP_LIMIT_PER_HOUR";
const WEBHOOK_ALLOW_HTTP_LOOPBACK: &str = "WEBHOOK_ALLOW_HTTP_LOOPBACK";

fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|s| s.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Everything read from vars and secrets, once per isolate: bindings do not change
/// while an isolate lives (a new deployment gets new isolates), and reading them costs
/// several JS calls per request.
struct Settings {
    plan: Result<Plan, ApiError>,
    root: Result<Option<RootKey>, ApiError>,
    identity: Result<Option<Rc<SigningKey>>, ApiError>,
    origin: Option<String>,
    sandbox_origin: Option<String>,
    public_url: Result<Rc<str>, ApiError>,
    throttle: ThrottlePolicy,
    guard_timeout_ms: u64,
    max_body_bytes: usize,
    origin_timeout_ms: u64,
    meter_flush_ms: u64,
}

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

fn settings(env: &Env) -> Rc<Settings> {
    SETTINGS.with(|cell| cell.get_or_init(|| Rc::new(Settings::read(env))).clone())
}

impl Settings {
    fn read(env: &Env) -> Settings {
        let number = |name: &str| text(env, name).and_then(|t| t.parse::<u64>().ok());
        let default = ThrottlePolicy::default();
        Settings {
            plan: Plan::parse(&text(env, PLAN).unwrap_or_default()).ok_or_else(|| {
                ApiError::service_unavailable(
                    "The PLAN var must be starter, professional or enterprise",
                )
            }),
            root: text(env, ROOT_KEY).map(|t| RootKey::parse(&t)).transpose(),
            identity: text(env, IDENTITY_SIGNING_KEY)
                .map(|t| signing_key(&t).map(Rc::new))
                .transpose(),
            origin: text(env, ORIGIN_URL),
            sandbox_origin: text(env, SANDBOX_ORIGIN_URL),
            public_url: parse_public_url(
                &text(env, PUBLIC_URL).unwrap_or_else(|| DEFAULT_PUBLIC_URL.to_owned()),
            )
            .map(Rc::from),
            throttle: ThrottlePolicy {
                max_failures: number(AUTH_FAILURE_LIMIT)
                    .map_or(default.max_failures, |n| n.min(u64::from(u32::MAX)) as u32),
                block_ms: number(AUTH_FAILURE_BLOCK_SECONDS)
                    .map_or(default.block_ms, |s| s.saturating_mul(1000)),
                ..default
            },
            guard_timeout_ms: number(GUARD_TIMEOUT_MS).unwrap_or(10_000).max(1),
            max_body_bytes: number(MAX_BODY_BYTES)
                .map_or(64 * 1024, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            origin_timeout_ms: number(ORIGIN_TIMEOUT_MS).unwrap_or(30_000).max(1),
            meter_flush_ms: number(METER_FLUSH_MS).unwrap_or(0).min(MAX_METER_FLUSH_MS),
        }
    }
}

/// The plan; an unknown name fails closed with a message saying what to set.
/// `IDENTITY_SIGNING_KEY`, read with the runtime's JSON parser (the edge module has
/// none of its own); core checks its members.
fn signing_key(text: &str) -> Result<SigningKey, ApiError> {
    let jwk = js_sys::JSON::parse(text).ok();
    // Reflect.get throws on what is not an object: that member is then absent.
    let members: Vec<(&str, Option<String>)> = ["kty", "crv", "d", "x", "kid"]
        .into_iter()
        .map(|name| {
            let value = jwk
                .as_ref()
                .and_then(|jwk| js_sys::Reflect::get(jwk, &name.into()).ok());
            (name, value.and_then(|v| v.as_string()))
        })
        .collect();
    SigningKey::from_fields(|name| members.iter().find(|(n, _)| *n == name)?.1.as_deref())
}

pub(crate) fn plan(env: &Env) -> Result<Plan, ApiError> {
    settings(env).plan.clone()
}

/// The gateway's own URL (`PUBLIC_URL`, default `http://127.0.0.1:8787`): the OAuth
/// issuer and the identity assertion's `iss`, never taken from a request's `Host`. A
/// malformed one fails closed (503) wherever it is needed.
pub(crate) fn public_url(env: &Env) -> Result<Rc<str>, ApiError> {
    settings(env).public_url.clone()
}

/// The root key, when one is configured. A malformed one is refused, never used.
pub(crate) fn root_key(env: &Env) -> Result<Option<RootKey>, ApiError> {
    settings(env).root.clone()
}

/// The key that signs the identity assertion, when one is configured. A malformed one
/// is a fault: nothing is forwarded without the assertion an origin may rely on. Shared,
/// not copied: it is asked for on every forwarded request.
pub(crate) fn identity(env: &Env) -> worker::Result<Option<Rc<SigningKey>>> {
    settings(env)
        .identity
        .clone()
        .map_err(|e| worker::Error::RustError(e.details))
}

/// The published key set: the signing key's public half and any previous ones.
pub(crate) fn jwks(env: &Env) -> Result<scopien_auth::identity::Jwks, ApiError> {
    let settings = settings(env);
    let current = settings.identity.as_ref().map_err(Clone::clone)?.as_deref();
    // Read when asked, as the two below: only the full module answers these.
    let previous =
        text(env, IDENTITY_PREVIOUS_KEYS).map_or(Ok(Vec::new()), |t| parse_previous_keys(&t))?;
    Ok(scopien_auth::identity::Jwks::new(current, &previous))
}

/// GitHub's secret-scanning key document, when pinned in `SECRET_SCANNING_PUBLIC_KEYS`.
pub(crate) fn secret_scanning_keys(env: &Env) -> Option<KeyDocument> {
    text(env, SECRET_SCANNING_PUBLIC_KEYS).and_then(|t| KeyDocument::parse(&t))
}

/// Whether webhooks may go to http(s)://127.0.0.1, localhost and [::1]
/// (`WEBHOOK_ALLOW_HTTP_LOOPBACK = "true"`: local development and tests only).
pub(crate) fn webhook_allow_loopback(env: &Env) -> bool {
    text(env, WEBHOOK_ALLOW_HTTP_LOOPBACK).as_deref() == Some("true")
}

/// What a reported real key gets: revoked (default) or flagged.
pub(crate) fn leaked_key_action(env: &Env) -> Result<LeakAction, ApiError> {
    LeakAction::parse(&text(env, LEAKED_KEY_ACTION).unwrap_or_default())
        .ok_or_else(|| ApiError::service_unavailable("LEAKED_KEY_ACTION must be revoke or flag"))
}

/// Where an admitted request goes.
pub(crate) enum Destination {
    /// Forward it to this origin.
    Origin(String),
    /// Answer an echo of what would be forwarded; the text says why.
    Echo(&'static str),
}

/// Live keys go to `ORIGIN_URL`, test keys to `SANDBOX_ORIGIN_URL` only: a test key is
/// never forwarded to the production origin. Without the origin of its type, a request
/// is echoed.
pub(crate) fn origin(env: &Env, key_type: KeyType) -> Destination {
    let settings = settings(env);
    match key_type {
        KeyType::Live => settings.origin.clone().map_or(
            Destination::Echo("No ORIGIN_URL is configured"),
            Destination::Origin,
        ),
        KeyType::Test => settings.sandbox_origin.clone().map_or(
            Destination::Echo(
                "No SANDBOX_ORIGIN_URL is configured, and test keys are never forwarded to ORIGIN_URL",
            ),
            Destination::Origin,
        ),
    }
}

/// How long the origin may take to answer before the request answers 504
/// (`ORIGIN_TIMEOUT_MS`, default 30 s).
pub(crate) fn origin_timeout_ms(env: &Env) -> u64 {
    settings(env).origin_timeout_ms
}

/// The brute-force throttle: `AUTH_FAILURE_LIMIT` failures a minute (default 30; 0 turns
/// it off), then `AUTH_FAILURE_BLOCK_SECONDS` refused (default 300).
pub(crate) fn throttle_policy(env: &Env) -> ThrottlePolicy {
    settings(env).throttle
}

/// How long a KeyGuard may take before the request fails closed (default 10 s).
pub(crate) fn guard_timeout_ms(env: &Env) -> u64 {
    settings(env).guard_timeout_ms
}

/// The longest `METER_FLUSH_MS` accepted: what a guard's crash can lose stays small.
const MAX_METER_FLUSH_MS: u64 = 1_000;

/// `METER_FLUSH_MS`: how long a KeyGuard may hold a decided request's meter in memory
/// before storing it (default 0: stored before the request is answered; at most 1 s).
/// Counting stays exact while the guard lives; a crash loses at most this long of one
/// key's requests, and never more than its burst bucket admits in that time.
pub(crate) fn meter_flush_ms(env: &Env) -> u64 {
    settings(env).meter_flush_ms
}

/// The largest request body accepted, forwarded or read (`MAX_BODY_BYTES`, default 64 KiB).
pub(crate) fn max_body_bytes(env: &Env) -> usize {
    settings(env).max_body_bytes
}

/// The passkeys' relying party: `PASSKEY_RP_ID` (default `localhost`) and
/// `PASSKEY_ORIGINS` (comma- or space-separated, default `http://localhost:8787`), from
/// configuration, never from a request's `Host`. Read when asked (the full module's).
pub(crate) fn passkey_relying_party(env: &Env) -> scopien_auth::people::webauthn::RelyingParty {
    let id = text(env, PASSKEY_RP_ID).unwrap_or_else(|| "localhost".to_owned());
    let origins = text(env, PASSKEY_ORIGINS)
        .unwrap_or_else(|| "http://localhost:8787".to_owned())
        .split([',', ' '])
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    scopien_auth::people::webauthn::RelyingParty { id, origins }
}

/// Whether anyone may sign up (`SIGNUP = "open"`); any other value, or none, keeps
/// people to invitations (`"invite"`, the default): closed unless opened on purpose.
pub(crate) fn sign_up_open(env: &Env) -> bool {
    text(env, SIGNUP).is_some_and(|v| v.eq_ignore_ascii_case("open"))
}

/// Sign-ups one address may complete per hour (`SIGNUP_LIMIT_PER_HOUR`, default 3; a
/// value that is not a whole number from 1 keeps the default).
pub(crate) fn sign_up_limit(env: &Env) -> u32 {
    text(env, SIGNUP_LIMIT_PER_HOUR)
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(scopien_auth::people::signup::DEFAULT_SIGN_UPS_PER_HOUR)
}
