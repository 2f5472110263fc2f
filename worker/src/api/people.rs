//! Invitations (`/v1/organizations/{id}/invitations…`, issue #22): made, listed and
//! revoked by the root key. An invitation's link is shown once, in the answer to its
//! creation; its organization's `PeopleGuard` keeps only the token's SHA-256.
//! (Invitations by a signed-in owner or admin come with the Members page.)

use crate::client;
use crate::config;
use crate::http::{self, or_respond};
use crate::operations::{org_record, Call};
use scopien_auth::http::route::Route;
use scopien_auth::ids::{InvitationId, OrgId, RANDOM_BYTES_FOR_PEOPLE_ID};
use scopien_auth::people::members::{
    parse_invitation, Invitation, InvitationList, InvitationToken, PeopleAnswer, PeopleInput,
    INVITATION_TTL_MS, RANDOM_BYTES_FOR_INVITATION,
};
use scopien_auth::{ApiError, Method};
use worker::{Env, Response, Result};

fn no_org() -> ApiError {
    ApiError::not_found("No organization with that id")
}

/// Answers `/v1/organizations/{id}/invitations…`.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    let (org, invitation) = match call.route {
        Route::Invitations(org) => (*org, None),
        Route::Invitation(org, inv) => (*org, Some(*inv)),
        _ => return http::error(&ApiError::not_found("No such invitations endpoint")),
    };
    if !call.caller.sees_org(org) {
        return http::error(&no_org());
    }
    // A stolen API key must not mint a person who outlives its revocation.
    if !call.caller.is_root() {
        return http::error(&ApiError::root_only("invite members"));
    }
    let plan = or_respond!(config::plan(env));
    if org_record(env, org, plan).await?.is_none() {
        return http::error(&no_org());
    }
    match (invitation, call.method) {
        (None, Method::Post) => create(env, &call, org).await,
        (None, _) => match client::people(env, org, &PeopleInput::ListInvitations).await? {
            PeopleAnswer::Invitations(list) => http::json(
                200,
                &InvitationList {
                    data: list.iter().map(|i| i.view(None)).collect(),
                },
            ),
            _ => Err(client::unexpected_answer("people guard")),
        },
        (Some(id), _) => match client::people(env, org, &PeopleInput::Revoke(id)).await? {
            PeopleAnswer::Revoked => Ok(Response::empty()?.with_status(204)),
            _ => http::error(&ApiError::not_found("No pending invitation with that id")),
        },
    }
}

async fn create(env: &Env, call: &Call<'_>, org: OrgId) -> Result<Response> {
    let request = or_respond!(parse_invitation(call.body));
    let token = InvitationToken::generate(
        org,
        &crate::platform::random_bytes::<RANDOM_BYTES_FOR_INVITATION>()?,
    );
    let invitation = Invitation {
        id: InvitationId::generate(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_PEOPLE_ID>()?),
        email: request.email,
        role: request.role,
        token_hash: token.hash_hex(),
        created_ms: call.now_ms,
        expires_ms: call.now_ms.saturating_add(INVITATION_TTL_MS),
        created_by: call.caller.actor,
    };
    let rp = config::passkey_relying_party(env);
    let Some(origin) = rp.origins.first() else {
        return http::error(&ApiError::service_unavailable(
            "PASSKEY_ORIGINS names no origin: invitation links are made on its first",
        ));
    };
    let url = token.url(origin);
    match client::people(env, org, &PeopleInput::Invite(invitation)).await? {
        PeopleAnswer::Invitation(made) => {
            crate::operations::record_events(env, org, vec![made.invited_event()]).await;
            http::json(201, &made.view(Some(url)))
        }
        PeopleAnswer::Full => http::error(&ApiError::conflict(
            "This organization has 100 pending invitations; revoke some first",
        )),
        _ => Err(client::unexpected_answer("people guard")),
    }
}
