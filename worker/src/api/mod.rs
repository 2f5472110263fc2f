//! The gateway's own endpoints, one file per resource: each reads its request, asks core
//! what it means, and calls the Durable Objects through `operations.rs` and
//! `objects::client`.

pub(crate) mod dashboard;
pub(crate) mod keys;
pub(crate) mod oauth;
pub(crate) mod oauth_apps;
pub(crate) mod orgs;
pub(crate) mod passkeys;
pub(crate) mod people;
pub(crate) mod scanning;
pub(crate) mod verify;
pub(crate) mod webhooks;

use crate::forward;
use crate::http::{self, Reply};
use scopien_auth::http::route::Route;
use scopien_auth::keys::admin::Caller;
use scopien_auth::keys::view::AuthTestView;
use scopien_auth::Method;
use worker::{Env, Request, Result};

/// A request its key's guard admitted (and counted), its body already read.
pub(crate) struct Admitted<'a> {
    pub(crate) url: &'a http::RequestUrl,
    pub(crate) route: &'a Route<'a>,
    pub(crate) method: &'a Method,
    pub(crate) body: Vec<u8>,
    /// Whose authority acts: the key, or for an access token its grant's approver (a
    /// key or a person).
    pub(crate) approver_id: scopien_auth::ids::Approver,
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
        approver_id,
        now_ms,
    } = call;
    let response = match route {
        #[cfg(feature = "full")]
        Route::AuthTest => http::json(200, &AuthTestView::of(admitted, approver_id))?,
        #[cfg(feature = "full")]
        Route::Verify => verify::handle(env, &body, admitted, approver_id, now_ms).await?,
        Route::Upstream { .. } => {
            let request = forward::Forwarded {
                url,
                method,
                body,
                id: approver_id,
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
        Route::Keys
        | Route::Key(_)
        | Route::RollKey(_)
        | Route::KeyUsage(_)
        | Route::Orgs
        | Route::Org(_)
        | Route::AuditLog
        | Route::Invitations(_)
        | Route::Invitation(..)
        | Route::Members(_)
        | Route::Member(..)
        | Route::MemberRecovery(..)
        | Route::OAuthClients
        | Route::OAuthClient(_)
        | Route::OAuthAuthorizations
        | Route::OAuthAuthorization(_)
        | Route::Webhooks
        | Route::Webhook(_)
        | Route::WebhookSecret(_)
        | Route::WebhookDeliveries(_) => {
            let call = crate::operations::Call {
                route,
                method,
                url,
                body: &body,
                caller: Caller::of(admitted),
                now_ms,
            };
            manage(env, call).await?
        }
    };
    http::with_rate_limit(response, &admitted.status, admitted.at_ms).map(Reply::from)
}

/// Answers a management API call (the caller admitted: by its key's guard, or a
/// signed-in person whose role allows it).
pub(crate) async fn manage(
    env: &Env,
    call: crate::operations::Call<'_>,
) -> Result<worker::Response> {
    match call.route {
        Route::Orgs | Route::Org(_) | Route::AuditLog => orgs::handle(env, call).await,
        Route::Invitations(_)
        | Route::Invitation(..)
        | Route::Members(_)
        | Route::Member(..)
        | Route::MemberRecovery(..) => people::handle(env, call).await,
        Route::OAuthClients
        | Route::OAuthClient(_)
        | Route::OAuthAuthorizations
        | Route::OAuthAuthorization(_) => oauth_apps::handle(env, call).await,
        Route::Keys | Route::Key(_) | Route::RollKey(_) | Route::KeyUsage(_) => {
            keys::handle(env, call).await
        }
        Route::Webhooks
        | Route::Webhook(_)
        | Route::WebhookSecret(_)
        | Route::WebhookDeliveries(_) => webhooks::handle(env, call).await,
        Route::AuthTest | Route::Verify | Route::Upstream { .. } => http::error(
            &scopien_auth::ApiError::not_found("No such management endpoint"),
        ),
    }
}
