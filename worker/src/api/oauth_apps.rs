//! The OAuth management API: an organization's apps (`/v1/oauth-clients…`) and the
//! grants it gave to apps (`/v1/oauth-authorizations…`, its "Authorized apps"). Apps
//! live in their organization's guard; each grant in its own guard, which decides its
//! revocation; the approving organization's guard lists it and logs the event.

use crate::client;
use crate::config;
use crate::http::{self, or_respond};
use crate::operations::{client, revoke_grant, revoke_grants, Call};
use scopien_auth::credentials::token::{client_secret, RANDOM_BYTES_FOR_CLIENT_SECRET};
use scopien_auth::http::route::Route;
use scopien_auth::ids::{Approver, OrgId};
use scopien_auth::keys::admin;
use scopien_auth::keys::admin::{Caller, ListQuery};
use scopien_auth::keys::view::ListPage;
use scopien_auth::oauth::grant::GrantInput;
use scopien_auth::oauth::protocol::{
    parse_client_create, parse_client_patch, AuthorizationView, ClientId, ClientType,
    RevealedClient, MAX_CLIENTS_PER_ORG, RANDOM_BYTES_FOR_CLIENT_ID,
};
use scopien_auth::org::{OrgAnswer, OrgInput};
use scopien_auth::{ApiError, Method};
use worker::{Env, Response, Result};

fn no_app() -> ApiError {
    ApiError::not_found("No OAuth app with that id")
}

fn unexpected() -> worker::Error {
    crate::client::unexpected_answer("organization guard")
}

/// The organization a listing is for (the caller's, or the root key's `organizationId`:
/// the default organization when none is named), and its page (`limit`, `cursor`).
fn listed_org(call: &Call<'_>) -> std::result::Result<(OrgId, ListQuery), ApiError> {
    let pairs: Vec<(String, String)> = call.url.query_pairs().into_owned().collect();
    let (query, named) =
        ListQuery::parse_scoped(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    let org = match (call.caller.organization, named) {
        (Some(mine), Some(named)) if mine != named => {
            return Err(ApiError::not_found("No organization with that id"))
        }
        (Some(mine), _) => mine,
        (None, named) => named.unwrap_or(OrgId::DEFAULT),
    };
    Ok((org, query))
}

/// Answers `/v1/oauth-clients…` and `/v1/oauth-authorizations…`.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    let caller = &call.caller;
    match (call.route, call.method) {
        (Route::OAuthClients, Method::Get) => {
            let (org, query) = or_respond!(listed_org(&call));
            let only = caller.only_mode();
            match client::org(env, org, &OrgInput::ListClients { query, only }).await? {
                OrgAnswer::Clients(page) => http::json(200, &page),
                OrgAnswer::BadCursor => http::error(&scopien_auth::org::bad_cursor()),
                _ => Err(unexpected()),
            }
        }
        (Route::OAuthClients, _) => create(env, &call).await,
        (Route::OAuthClient(id), _) if !caller.sees_org(id.organization()) => {
            http::error(&no_app())
        }
        // A live app does not exist to a test-mode admin.
        (Route::OAuthClient(id), Method::Get) => match client(env, *id).await? {
            Some(record) if caller.sees(record.mode) => http::json(200, &record.view()),
            _ => http::error(&no_app()),
        },
        (Route::OAuthClient(id), Method::Patch) => {
            let patch = or_respond!(parse_client_patch(call.body));
            let input = OrgInput::PatchClient {
                id: *id,
                patch,
                actor: caller.actor,
                only: caller.only_mode(),
            };
            match client::org(env, id.organization(), &input).await? {
                OrgAnswer::Client(record) => http::json(200, &record.view()),
                _ => http::error(&no_app()),
            }
        }
        (Route::OAuthClient(id), _) => delete(env, *id, caller).await,
        (Route::OAuthAuthorizations, _) => {
            let (org, query) = or_respond!(listed_org(&call));
            let only = caller.only_mode();
            let input = OrgInput::ListAuthorizations { query, only };
            match client::org(env, org, &input).await? {
                OrgAnswer::Authorizations(page) => {
                    let ListPage {
                        data,
                        has_more,
                        next_cursor,
                    } = page;
                    let data = with_approvers(env, org, data).await?;
                    http::json(
                        200,
                        &ListPage {
                            data,
                            has_more,
                            next_cursor,
                        },
                    )
                }
                OrgAnswer::BadCursor => http::error(&scopien_auth::org::bad_cursor()),
                _ => Err(unexpected()),
            }
        }
        (Route::OAuthAuthorization(id), _) => {
            let input = GrantInput::Revoke {
                client_id: None,
                organization: caller.organization,
                actor: caller.actor,
                reason: None,
                only: caller.only_mode(),
            };
            match revoke_grant(env, *id, &input).await? {
                Some(view) => {
                    let org = view.organization_id;
                    let [named] = <[_; 1]>::try_from(with_approvers(env, org, vec![view]).await?)
                        .map_err(|_| unexpected())?;
                    http::json(200, &named)
                }
                None => http::error(&ApiError::not_found(
                    "No active grant with that id in this organization",
                )),
            }
        }
        _ => http::error(&ApiError::not_found("No such OAuth endpoint")),
    }
}

/// Authorizations of `org` as JSON (a page of Authorized apps, or the one a revocation
/// answers), each grant a person approved with who they are: `approverEmail`, and
/// `approverName` while they are a member (the people guard keeps a removed member's
/// email, as for the audit log's actors); asked once, and only when a person is among
/// them. A key's grant is as before.
async fn with_approvers(
    env: &Env,
    org: OrgId,
    views: Vec<AuthorizationView>,
) -> Result<Vec<serde_json::Value>> {
    let people = views.iter().filter_map(|view| match view.approved_by {
        Approver::Person(id) => Some(id),
        Approver::Key(_) => None,
    });
    let known = crate::operations::known_people(env, org, people).await?;
    views
        .into_iter()
        .map(|view| {
            let person = match view.approved_by {
                Approver::Person(id) => known.iter().find(|k| k.person_id == id),
                Approver::Key(_) => None,
            };
            let mut json =
                serde_json::to_value(&view).map_err(|e| worker::Error::RustError(e.to_string()))?;
            if let (Some(person), Some(fields)) = (person, json.as_object_mut()) {
                fields.insert("approverEmail".into(), person.email.clone().into());
                if let Some(name) = &person.name {
                    fields.insert("approverName".into(), name.clone().into());
                }
            }
            Ok(json)
        })
        .collect()
}

async fn create(env: &Env, call: &Call<'_>) -> Result<Response> {
    let new = or_respond!(parse_client_create(call.body));
    let org = or_respond!(call.caller.organization_for_new_key(new.organization_id));
    let default_plan = or_respond!(config::plan(env));
    if crate::operations::org_record(env, org, default_plan)
        .await?
        .is_none()
    {
        return http::error(&ApiError::not_found("No organization with that id"));
    }
    for _ in 0..admin::CREATE_ATTEMPTS {
        let id = ClientId::generate(
            org,
            &crate::platform::random_bytes::<RANDOM_BYTES_FOR_CLIENT_ID>()?,
        );
        let secret = match new.client_type {
            ClientType::Confidential => Some(client_secret(&crate::platform::random_bytes::<
                RANDOM_BYTES_FOR_CLIENT_SECRET,
            >()?)),
            ClientType::Public => None,
        };
        // The app's mode is its registering key's: a test-mode admin's apps are test apps.
        let mode = call.caller.key_type;
        let record = new
            .clone()
            .into_record(id, mode, secret.as_deref(), call.now_ms);
        let input = OrgInput::CreateClient {
            record,
            actor: call.caller.actor,
        };
        match client::org(env, org, &input).await? {
            OrgAnswer::Client(record) => {
                let revealed = RevealedClient {
                    client: record.view(),
                    client_secret: secret,
                };
                let response = http::json(201, &revealed)?;
                return http::with_headers(response, [("Cache-Control", "no-store")]);
            }
            OrgAnswer::IdTaken => continue,
            OrgAnswer::TooManyClients => {
                return http::error(&ApiError::too_many_clients(MAX_CLIENTS_PER_ORG))
            }
            _ => return Err(unexpected()),
        }
    }
    http::error(&ApiError::service_unavailable(
        "Could not allocate an app id; retry",
    ))
}

/// Deletes an app and revokes every grant it was given, before answering.
async fn delete(env: &Env, id: ClientId, caller: &Caller) -> Result<Response> {
    let actor = caller.actor;
    let input = OrgInput::DeleteClient {
        id,
        actor,
        only: caller.only_mode(),
    };
    let (record, grants) = match client::org(env, id.organization(), &input).await? {
        OrgAnswer::ClientDeleted { record, grants } => (record, grants),
        _ => return http::error(&no_app()),
    };
    let revoke = GrantInput::Revoke {
        client_id: None,
        organization: None,
        actor,
        reason: None,
        only: None,
    };
    revoke_grants(env, grants, &revoke).await?;
    http::json(200, &record.view())
}
