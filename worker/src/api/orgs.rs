//! The organizations API (`/v1/organizations…`, the root key's, with read access for an
//! organization's own admins) and the audit log (`/v1/audit-log`). Each organization's
//! guard holds its record, keys and events; KV lists organizations for the operator.

use crate::client;
use crate::config;
use crate::directory;
use crate::http::{self, or_respond};
use crate::operations::{list_query as query, org_record as get, Call};
use scopien_auth::audit::AuditEvent;
use scopien_auth::http::route::Route;
use scopien_auth::ids::{Actor, OrgId, RANDOM_BYTES_FOR_ORG};
use scopien_auth::keys::admin;
use scopien_auth::keys::view::ListPage;
use scopien_auth::oauth::grant::GrantInput;
use scopien_auth::org::{parse_org_create, parse_org_patch, OrgAnswer, OrgInput, OrgRecord};
use scopien_auth::policy::error::Field;
use scopien_auth::{ApiError, Method};
use worker::{Env, Response, Result};

fn not_found() -> ApiError {
    ApiError::not_found("No organization with that id")
}

/// Answers `/v1/organizations…` and `/v1/audit-log`.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    let default_plan = or_respond!(config::plan(env));
    let caller = &call.caller;
    match (call.route, call.method) {
        (Route::AuditLog, _) => {
            let (query, named) = or_respond!(query(call.url));
            let org = match (caller.organization, named) {
                (Some(mine), Some(named)) if mine != named => return http::error(&not_found()),
                (Some(mine), _) => mine,
                (None, Some(named)) => named,
                (None, None) => {
                    return http::error(&ApiError::invalid_field(
                        Field::OrganizationId,
                        "organizationId is required: the root key reads one organization's audit log at a time",
                    ))
                }
            };
            // A test-mode admin reads only the test mode's events.
            let only = caller.only_mode();
            match client::org(env, org, &OrgInput::ListAudit { query, only }).await? {
                OrgAnswer::Audit(page) => http::json(200, &with_emails(env, org, page).await?),
                OrgAnswer::BadCursor => http::error(&scopien_auth::org::bad_cursor()),
                _ => http::error(&not_found()),
            }
        }
        (Route::Orgs, _) if !caller.is_root() => {
            http::error(&ApiError::root_only("create or list organizations"))
        }
        (Route::Orgs, Method::Get) => {
            let (query, named) = or_respond!(query(call.url));
            if named.is_some() {
                return http::error(&ApiError::invalid_field(
                    Field::OrganizationId,
                    "Unknown query parameter 'organizationId'; allowed are limit and cursor",
                ));
            }
            let cursor = or_respond!(query.directory_cursor());
            http::json(200, &directory::list_orgs(env, query, cursor).await?)
        }
        (Route::Orgs, _) => create(env, &call).await,
        (Route::Org(id), _) if !caller.sees_org(*id) => http::error(&not_found()),
        (Route::Org(id), Method::Get) => match get(env, *id, default_plan).await? {
            Some(record) => http::json(200, &record.view()),
            None => http::error(&not_found()),
        },
        (Route::Org(id), _) => {
            let patch = or_respond!(parse_org_patch(call.body));
            // An organization's own live admin key may set its key policy, and nothing
            // else there; an owner signed in to the dashboard (Role::may decided it) its
            // name and key policy; plan and status stay the root key's.
            let allowed = match caller.actor {
                Actor::Root => true,
                Actor::Person { .. } => patch.leaves_plan_and_status(),
                _ => patch.only_key_policy() && caller.only_mode().is_none(),
            };
            if !allowed {
                return http::error(&ApiError::root_only(
                    "change an organization's plan or status (an owner may change its name and keyPolicy, its live admin keys keyPolicy)",
                ));
            }
            let default = (*id == OrgId::DEFAULT).then(|| OrgRecord::default_org(default_plan));
            let input = OrgInput::Patch {
                patch,
                actor: caller.actor,
                default,
            };
            let (record, keys, grants, app_grants) = match client::org(env, *id, &input).await? {
                OrgAnswer::Patched {
                    record,
                    keys,
                    grants,
                    app_grants,
                } => (record, keys, grants, app_grants),
                _ => return http::error(&not_found()),
            };
            // Every key and grant holds its organization's terms (with their revision),
            // and every grant its apps were given holds their owner's: all of them learn
            // the change before this answers, keys still being created included.
            let told = crate::operations::set_terms(env, keys, record.terms(), default_plan);
            if let Err(fault) = told.await {
                return crate::operations::not_yet_everywhere(fault);
            }
            let terms = record.terms();
            let pushes = grants
                .into_iter()
                .map(|grant| (grant, GrantInput::SetOrg(terms)))
                .chain(
                    app_grants
                        .into_iter()
                        .map(|grant| (grant, GrantInput::SetOwner(terms))),
                );
            // Ended grants stay listed here: Authorized apps shows them as revoked.
            if let Err(fault) = crate::operations::push_to_grants(env, pushes).await {
                return crate::operations::not_yet_everywhere(fault);
            }
            directory::write_org(env, &record.view()).await;
            http::json(200, &record.view())
        }
        _ => http::error(&ApiError::not_found("No such organizations endpoint")),
    }
}

async fn create(env: &Env, call: &Call<'_>) -> Result<Response> {
    for _ in 0..admin::CREATE_ATTEMPTS {
        let random = crate::platform::random_bytes::<RANDOM_BYTES_FOR_ORG>()?;
        let record = or_respond!(parse_org_create(
            call.body,
            OrgId::generate(&random),
            call.now_ms
        ));
        let input = OrgInput::Create {
            actor: call.caller.actor,
            record: record.clone(),
        };
        match client::org(env, record.id, &input).await? {
            OrgAnswer::Org(record) => {
                directory::write_org(env, &record.view()).await;
                return http::json(201, &record.view());
            }
            OrgAnswer::IdTaken => continue,
            _ => return Err(crate::client::unexpected_answer("organization guard")),
        }
    }
    http::error(&ApiError::service_unavailable(
        "Could not allocate an organization id; retry",
    ))
}

/// The audit page as JSON, each person's actor with their email
/// (`{"type": "person", "personId", "email"}`), asked of the organization's people guard
/// once a page; it keeps the emails of members it removed.
async fn with_emails(
    env: &Env,
    org: OrgId,
    page: ListPage<AuditEvent>,
) -> Result<serde_json::Value> {
    let people = page
        .data
        .iter()
        .filter_map(|event| match event.draft.actor {
            Actor::Person { person_id } => Some(person_id),
            _ => None,
        });
    let emails = crate::operations::known_people(env, org, people).await?;
    let mut json =
        serde_json::to_value(&page).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let events = json.get_mut("data").and_then(|d| d.as_array_mut());
    for actor in events
        .into_iter()
        .flatten()
        .filter_map(|e| e.get_mut("actor"))
    {
        let id = actor
            .get("personId")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        if let (Some(id), Some(fields)) = (id, actor.as_object_mut()) {
            if let Some(known) = emails.iter().find(|k| k.person_id.to_string() == id) {
                fields.insert("email".into(), known.email.clone().into());
            }
        }
    }
    Ok(json)
}
