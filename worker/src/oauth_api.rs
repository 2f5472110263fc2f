//! The OAuth management API: an organization's apps (`/v1/oauth-clients…`) and the
//! grants it gave to apps (`/v1/oauth-authorizations…`, its "Authorized apps"). Apps
//! live in their organization's guard; each grant in its own guard, which decides its
//! revocation; the approving organization's guard lists it and logs the event.

use crate::http::{self, or_respond};
use crate::keys_api::Call;
use crate::{config, guard_client, orgs_api};
use scopien_auth::admin::{Caller, ListQuery};
use scopien_auth::grant::{GrantAnswer, GrantInput};
use scopien_auth::oauth::{
    client_secret, parse_client_create, parse_client_patch, AuthorizationView, ClientId,
    ClientRecord, ClientType, GrantId, RevealedClient, MAX_CLIENTS_PER_ORG,
    RANDOM_BYTES_FOR_CLIENT_ID, RANDOM_BYTES_FOR_CLIENT_SECRET,
};
use scopien_auth::org::{Actor, OrgAnswer, OrgId, OrgInput};
use scopien_auth::record::ApproverTerms;
use scopien_auth::route::Route;
use scopien_auth::{admin, ApiError, KeyId, Method};
use worker::{Env, Response, Result};

fn no_app() -> ApiError {
    ApiError::not_found("No OAuth app with that id")
}

fn unexpected() -> worker::Error {
    crate::guard_client::unexpected_answer("organization guard")
}

/// An app's record, from its organization's guard (the id names the organization).
pub(crate) async fn client(env: &Env, id: ClientId) -> Result<Option<ClientRecord>> {
    match guard_client::org(env, id.organization(), &OrgInput::GetClient(id)).await? {
        OrgAnswer::Client(record) => Ok(Some(record)),
        _ => Ok(None),
    }
}

/// Revokes grant `id` in its guard (`input` says who may), then lists the change and
/// logs the event in the approving organization's guard. `None`: nothing was revoked.
pub(crate) async fn revoke_grant(
    env: &Env,
    id: GrantId,
    input: &GrantInput,
) -> Result<Option<AuthorizationView>> {
    match guard_client::grant(env, id, input).await? {
        GrantAnswer::Revoked(Some((view, event))) => {
            record_authorization(env, view.clone(), event).await;
            Ok(Some(view))
        }
        GrantAnswer::Revoked(None) => Ok(None),
        _ => Err(crate::guard_client::unexpected_answer("grant guard")),
    }
}

/// Revokes every active grant key `key` of `org` approved: a person's approvals end with
/// their key, as their own access does. Faults are logged: the key's own revocation has
/// already happened and is answered.
pub(crate) async fn revoke_grants_approved_by(env: &Env, org: OrgId, key: KeyId, actor: Actor) {
    let grants = match guard_client::org(env, org, &OrgInput::GrantsApprovedBy(key)).await {
        Ok(OrgAnswer::GrantIds(grants)) => grants,
        Ok(_) => return,
        Err(fault) => {
            worker::console_error!("listing the grants of a revoked key failed: {fault}");
            return;
        }
    };
    let input = GrantInput::Revoke {
        client_id: None,
        organization: Some(org),
        actor,
        reason: Some("The key that approved it was revoked".into()),
        only: None,
    };
    if let Err(fault) = revoke_grants(env, grants, &input).await {
        worker::console_error!("revoking the grants of {key} failed: {fault}");
    }
}

/// Revokes each of `grants` ([`revoke_grant`]), a few at a time: an app's deletion walks
/// at most `MAX_ACTIVE_GRANTS_PER_APP` active grants per organization that approved it.
async fn revoke_grants(env: &Env, grants: Vec<GrantId>, input: &GrantInput) -> Result<()> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(grants)
        .map(|grant| revoke_grant(env, grant, input))
        .buffer_unordered(GRANTS_AT_ONCE)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Grants updated at once: enough to be quick, few enough not to flood the runtime.
const GRANTS_AT_ONCE: usize = 16;

/// Sends each grant its input (new terms of what it derives from), a few at a time;
/// the first fault is returned, after every push was tried.
pub(crate) async fn push_to_grants(
    env: &Env,
    pushes: impl IntoIterator<Item = (GrantId, GrantInput)>,
) -> Result<()> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(pushes)
        .map(|(grant, input)| async move { guard_client::grant(env, grant, &input).await })
        .buffer_unordered(GRANTS_AT_ONCE)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Tells every active grant key `key` of `org` approved what the key holds now: each
/// grant holds no more from its next use. A grant being consented to is listed before
/// its consent reads the key, so it is reached too (ARCHITECTURE.md, "Derived
/// authority").
pub(crate) async fn push_approver(
    env: &Env,
    org: OrgId,
    key: KeyId,
    approver: ApproverTerms,
) -> Result<()> {
    let grants = match guard_client::org(env, org, &OrgInput::GrantsApprovedBy(key)).await? {
        OrgAnswer::GrantIds(grants) => grants,
        _ => return Ok(()),
    };
    let pushes = grants
        .into_iter()
        .map(|grant| (grant, GrantInput::SetApprover(approver.clone())));
    push_to_grants(env, pushes).await
}

/// Copies a grant's view and event to the approving organization's guard. A fault is
/// logged: the grant's own guard already decided.
pub(crate) async fn record_authorization(
    env: &Env,
    view: AuthorizationView,
    event: scopien_auth::org::AuditDraft,
) {
    let org = view.organization_id;
    let input = OrgInput::RecordAuthorization { view, event };
    if let Err(fault) = guard_client::org(env, org, &input).await {
        worker::console_error!("authorization record failed for {org}: {fault}");
    }
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
            match guard_client::org(env, org, &OrgInput::ListClients { query, only }).await? {
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
            match guard_client::org(env, id.organization(), &input).await? {
                OrgAnswer::Client(record) => http::json(200, &record.view()),
                _ => http::error(&no_app()),
            }
        }
        (Route::OAuthClient(id), _) => delete(env, *id, caller).await,
        (Route::OAuthAuthorizations, _) => {
            let (org, query) = or_respond!(listed_org(&call));
            let only = caller.only_mode();
            let input = OrgInput::ListAuthorizations { query, only };
            match guard_client::org(env, org, &input).await? {
                OrgAnswer::Authorizations(page) => http::json(200, &page),
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
                Some(view) => http::json(200, &view),
                None => http::error(&ApiError::not_found(
                    "No active grant with that id in this organization",
                )),
            }
        }
        _ => http::error(&ApiError::not_found("No such OAuth endpoint")),
    }
}

async fn create(env: &Env, call: &Call<'_>) -> Result<Response> {
    let new = or_respond!(parse_client_create(call.body));
    let org = or_respond!(call.caller.organization_for_new_key(new.organization_id));
    let default_plan = or_respond!(config::plan(env));
    if orgs_api::get(env, org, default_plan).await?.is_none() {
        return http::error(&ApiError::not_found("No organization with that id"));
    }
    for _ in 0..admin::CREATE_ATTEMPTS {
        let id = ClientId::generate(org, &crate::random_bytes::<RANDOM_BYTES_FOR_CLIENT_ID>()?);
        let secret = match new.client_type {
            ClientType::Confidential => Some(client_secret(&crate::random_bytes::<
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
        match guard_client::org(env, org, &input).await? {
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
    let (record, grants) = match guard_client::org(env, id.organization(), &input).await? {
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
