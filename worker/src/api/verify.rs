//! `POST /v1/auth/verify`: whether a key would be let through, for a service not behind
//! the gateway. The caller (a key that may list the verified key's organization's keys)
//! was admitted and counted by request.rs; here the verified key's own guard decides, in
//! one call, exactly as for a request (a valid key is counted), through the throttle's
//! gate (`throttle::guarded`): a caller's failed verifications count as failed guesses,
//! and past `AUTH_FAILURE_LIMIT` a minute it gets 429 for `AUTH_FAILURE_BLOCK_SECONDS`.
//! The caller's bucket is the caller itself, not its address: a key that may verify
//! cannot spread its guesses over addresses. Rules are core's (`keys::verify`).

use crate::client;
use crate::config::{self, Destination};
use crate::http::{self, or_respond};
use crate::throttle::{self, Verdict};
use scopien_auth::check::protocol::Admitted;
use scopien_auth::keys::admin::Caller;
use scopien_auth::keys::verify::{parse_verify, Verification, Verify, VerifyView, Within};
use scopien_auth::ApiError;
use worker::{Env, Response, Result};

/// Answers one verification for the admitted `caller` (acting as key `key_id`).
pub(crate) async fn handle(
    env: &Env,
    body: &[u8],
    caller: &Admitted,
    key_id: scopien_auth::ids::Approver,
    now_ms: u64,
) -> Result<Response> {
    let request = or_respond!(parse_verify(body));
    // A valid key's answer carries the origin's identity assertion: without a signing
    // key there is none to give, and nothing is counted.
    if config::identity(env)?.is_none() {
        return http::error(&ApiError::service_unavailable(
            "IDENTITY_SIGNING_KEY is not configured: /v1/auth/verify answers a valid key with its identity assertion",
        ));
    }
    let issuer = or_respond!(config::public_url(env));
    // Text that cannot be a key cannot succeed: answered with no I/O and not counted,
    // as a malformed credential is on every path.
    let Some(key) = request.key.as_ref() else {
        return http::json(200, &VerifyView::of(&Verification::not_found(), None));
    };
    let check = request.check(key);
    let hash = check.hash.clone();
    let verify = Verify {
        check,
        within: Within::of(&Caller::of(caller)),
    };
    let bucket = match caller.app {
        Some(app) => format!("verify:{}", app.grant_id),
        None => format!("verify:{key_id}"),
    };
    let id = key.id();
    let asked = throttle::guarded(
        env,
        Some(&bucket),
        id.chars(),
        &hash,
        now_ms,
        client::verify(env, id, verify),
        |answer: &Verification| {
            if answer.code.is_failed_authentication() {
                Verdict::Failed
            } else {
                Verdict::Proved
            }
        },
    );
    let verification = match asked.await? {
        Ok(verification) => verification,
        Err(until) => return http::error(&ApiError::too_many_failures_until(until, now_ms)),
    };
    let identity = match (&verification.admitted, &verification.key) {
        (Some(admitted), Some(verified)) => {
            // The same assertion the origin of the key's type gets; with none configured
            // (its requests are echoed), addressed to the gateway itself.
            let audience = match config::origin(env, verified.key_type) {
                Destination::Origin(origin) => origin.trim_end_matches('/').to_owned(),
                Destination::Echo(_) => issuer.to_string(),
            };
            crate::identity::assertion(
                env,
                scopien_auth::ids::Approver::Key(verified.id),
                admitted,
                &issuer,
                &audience,
                now_ms,
            )
            .await?
        }
        _ => None,
    };
    http::json(200, &VerifyView::of(&verification, identity))
}
