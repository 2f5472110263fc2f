//! `/v1/auth/webhooks…`: an organization's webhook endpoints and their deliveries. The
//! caller is an organization's live admin (a key, or an owner or admin signed in), or the
//! root key for the organization it names (`organizationId`; the default organization
//! without it). Endpoints live in the organization's guard (`objects/outbox.rs`); rules
//! are core's (`scopien_auth::webhooks`).

use crate::client;
use crate::config;
use crate::http::{self, or_respond};
use crate::operations::{list_query, org_record, Call};
use scopien_auth::http::route::Route;
use scopien_auth::ids::{OrgId, WebhookId, RANDOM_BYTES_FOR_PEOPLE_ID};
use scopien_auth::keys::admin;
use scopien_auth::org::{OrgAnswer, OrgInput};
use scopien_auth::webhooks::endpoint::{parse_create, parse_patch, EndpointRecord, MAX_ENDPOINTS};
use scopien_auth::webhooks::protocol::{not_found, WebhookAnswer, WebhookInput};
use scopien_auth::webhooks::signature::{new_secret, SECRET_BYTES};
use scopien_auth::{ApiError, KeyType, Method};
use worker::{Env, Response, Result};

/// The organization a call is about: the caller's own, or the one the root key names
/// (the default without one); another organization's is 404, as its keys are.
fn organization(call: &Call<'_>, named: Option<OrgId>) -> std::result::Result<OrgId, ApiError> {
    call.caller.organization_for_new_key(named)
}

async fn ask(env: &Env, org: OrgId, input: WebhookInput) -> Result<WebhookAnswer> {
    match client::org(env, org, &OrgInput::Webhooks(input)).await? {
        OrgAnswer::Webhooks(answer) => Ok(answer),
        _ => Err(client::unexpected_answer("organization guard")),
    }
}

fn secret() -> Result<String> {
    Ok(new_secret(&crate::platform::random_bytes::<SECRET_BYTES>()?))
}

/// Writes the guard's answer as HTTP: `status` for what succeeded.
fn respond(answer: WebhookAnswer, status: u16) -> Result<Response> {
    match answer {
        WebhookAnswer::Created(created) => http::json(status, &created),
        WebhookAnswer::Endpoint(view) => http::json(status, &view),
        WebhookAnswer::Endpoints(page) => http::json(status, &page),
        WebhookAnswer::Deliveries(page) => http::json(status, &page),
        WebhookAnswer::Done => Ok(Response::empty()?.with_status(204)),
        WebhookAnswer::NotFound => http::error(&not_found()),
        WebhookAnswer::BadCursor => http::error(&ApiError::unknown_cursor()),
        WebhookAnswer::TooMany => http::error(&ApiError::conflict(format!(
            "An organization has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        ))),
        WebhookAnswer::Send(_) | WebhookAnswer::IdTaken => {
            Err(client::unexpected_answer("organization guard"))
        }
    }
}

/// Answers `/v1/auth/webhooks…`.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    if call.caller.key_type == KeyType::Test {
        return http::error(&ApiError::live_only("manage webhooks"));
    }
    if let (Route::Webhooks, Method::Post) = (call.route, call.method) {
        return create(env, &call).await;
    }
    let (query, named) = or_respond!(list_query(call.url));
    let org = or_respond!(organization(&call, named));
    let allow_loopback = config::webhook_allow_loopback(env);
    let (input, status) = match (call.route, call.method) {
        (Route::Webhooks, _) => (WebhookInput::List(query), 200),
        (Route::Webhook(id), Method::Get) => (WebhookInput::Get(*id), 200),
        (Route::Webhook(id), Method::Patch) => {
            let patch = or_respond!(parse_patch(call.body, allow_loopback));
            let actor = call.caller.actor;
            (
                WebhookInput::Patch {
                    id: *id,
                    patch,
                    actor,
                },
                200,
            )
        }
        (Route::Webhook(id), _) => (
            WebhookInput::Delete {
                id: *id,
                actor: call.caller.actor,
            },
            204,
        ),
        (Route::WebhookSecret(id), _) => (
            WebhookInput::Rotate {
                id: *id,
                secret: secret()?,
                actor: call.caller.actor,
            },
            200,
        ),
        (Route::WebhookDeliveries(id), _) => (WebhookInput::Deliveries { id: *id, query }, 200),
        _ => return http::error(&ApiError::not_found("No such webhooks endpoint")),
    };
    respond(ask(env, org, input).await?, status)
}

async fn create(env: &Env, call: &Call<'_>) -> Result<Response> {
    let new = or_respond!(parse_create(call.body, config::webhook_allow_loopback(env)));
    let org = or_respond!(organization(call, new.organization_id));
    // The root key may name any organization: it must exist.
    let default_plan = or_respond!(config::plan(env));
    if org_record(env, org, default_plan).await?.is_none() {
        return http::error(&ApiError::not_found("No organization with that id"));
    }
    for _ in 0..admin::CREATE_ATTEMPTS {
        let random = crate::platform::random_bytes::<RANDOM_BYTES_FOR_PEOPLE_ID>()?;
        let record = EndpointRecord::new(
            WebhookId::generate(&random),
            new.clone(),
            secret()?,
            call.now_ms,
        );
        let input = WebhookInput::Create {
            record,
            actor: call.caller.actor,
        };
        match ask(env, org, input).await? {
            WebhookAnswer::IdTaken => continue,
            answer => return respond(answer, 201),
        }
    }
    http::error(&ApiError::service_unavailable(
        "Could not allocate a webhook id; retry",
    ))
}
