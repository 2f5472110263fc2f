//! Members and invitations (`/v1/organizations/{id}/members…`, `…/invitations…`, issue
//! #22), by the root key or a signed-in owner or admin (the dashboard, its session's CSRF
//! checked there). Every change is decided by the organization's `PeopleGuard` in one
//! step with the asking person's role as it is then (an admin never touches an owner;
//! the last owner stays), so two concurrent demotions cannot leave no owner. An
//! invitation's link is shown once, in the answer to its creation; the guard keeps
//! only the token's SHA-256.

use crate::client;
use crate::config;
use crate::http::{self, or_respond};
use crate::operations::{org_record, Call};
use scopien_auth::http::route::Route;
use scopien_auth::ids::{Actor, InvitationId, OrgId, PersonId, RANDOM_BYTES_FOR_PEOPLE_ID};
use scopien_auth::keys::admin::ListQuery;
use scopien_auth::keys::view::ListPage;
use scopien_auth::org::{OrgAnswer, OrgInput, RemovedMember};
use scopien_auth::people::members::{
    parse_invitation, parse_role_change, Invitation, InvitationList, InvitationRequest,
    InvitationToken, Member, MemberCursor, MemberView, PeopleAnswer, PeopleInput,
    INVITATION_TTL_MS, RANDOM_BYTES_FOR_INVITATION,
};
use scopien_auth::people::role::Role;
use scopien_auth::{ApiError, Method};
use worker::{Env, Response, Result};

fn no_org() -> ApiError {
    ApiError::not_found("No organization with that id")
}

fn no_member() -> ApiError {
    ApiError::not_found("No member with that id in this organization")
}

/// The guard's refusals, as the API says them.
fn refused(answer: PeopleAnswer) -> Result<Response> {
    match answer {
        PeopleAnswer::Forbidden(why) => http::error(&ApiError::members_forbidden(why)),
        PeopleAnswer::LastOwner => http::error(&ApiError::last_owner()),
        PeopleAnswer::NotMember => http::error(&no_member()),
        _ => Err(client::unexpected_answer("people guard")),
    }
}

/// Answers `/v1/organizations/{id}/invitations…` and `/v1/organizations/{id}/members…`.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    let org = match call.route {
        Route::Invitations(org) | Route::Invitation(org, _) => *org,
        Route::Members(org) | Route::Member(org, _) | Route::MemberRecovery(org, _) => *org,
        _ => return http::error(&ApiError::not_found("No such people endpoint")),
    };
    if !call.caller.sees_org(org) {
        return http::error(&no_org());
    }
    // A stolen API key must not mint a person who outlives its revocation, nor change
    // members. A person's role is checked by the people guard, in the step that acts.
    if !matches!(call.caller.actor, Actor::Root | Actor::Person { .. }) {
        return http::error(&ApiError::members_by_people_only());
    }
    let plan = or_respond!(config::plan(env));
    if org_record(env, org, plan).await?.is_none() {
        return http::error(&no_org());
    }
    let by = call.caller.actor;
    match (call.route, call.method) {
        (Route::Invitations(_), Method::Post) => {
            let request = or_respond!(parse_invitation(call.body));
            invite(env, &call, org, Draft::Invitation(request)).await
        }
        (Route::Invitations(_), _) => {
            match client::people(env, org, &PeopleInput::ListInvitations).await? {
                PeopleAnswer::Invitations(list) => http::json(
                    200,
                    &InvitationList {
                        data: list.iter().map(|i| i.view(None)).collect(),
                    },
                ),
                _ => Err(client::unexpected_answer("people guard")),
            }
        }
        (Route::Invitation(_, id), _) => revoke(env, org, *id, by).await,
        (Route::Members(_), _) => list_members(env, &call, org).await,
        (Route::Member(_, person_id), Method::Patch) => {
            let role = or_respond!(parse_role_change(call.body));
            let input = PeopleInput::ChangeRole {
                by,
                person_id: *person_id,
                role,
            };
            match client::people(env, org, &input).await? {
                PeopleAnswer::RoleChanged { before, after } => {
                    // Before the answer: the grants they approved hold no more than the
                    // new role allows once the change is answered. Also when the role
                    // was already this one: a retry after a failed push delivers it.
                    let pushed = crate::operations::push_person_approver(env, org, *person_id);
                    if let Err(fault) = pushed.await {
                        return crate::operations::not_yet_everywhere(fault);
                    }
                    if before.role != after.role {
                        let event = Member::role_changed_event(by, &before, &after);
                        crate::operations::record_events(env, org, vec![event]).await;
                    }
                    http::json(200, &after.view())
                }
                other => refused(other),
            }
        }
        (Route::Member(_, person_id), _) => remove(env, org, *person_id, by).await,
        (Route::MemberRecovery(_, person_id), _) => {
            invite(env, &call, org, Draft::Recovery(*person_id)).await
        }
        _ => http::error(&ApiError::not_found("No such people endpoint")),
    }
}

async fn revoke(env: &Env, org: OrgId, id: InvitationId, by: Actor) -> Result<Response> {
    match client::people(env, org, &PeopleInput::Revoke { id, by }).await? {
        PeopleAnswer::Revoked => Ok(Response::empty()?.with_status(204)),
        PeopleAnswer::Forbidden(why) => http::error(&ApiError::members_forbidden(why)),
        _ => http::error(&ApiError::not_found("No pending invitation with that id")),
    }
}

/// Removes a member: their session ends on its next call (it asks the guard, which no
/// longer knows them). Their keys stay: they belong to the organization; the answer
/// lists the active ones they created, so whoever removed them can revoke them.
async fn remove(env: &Env, org: OrgId, person_id: PersonId, by: Actor) -> Result<Response> {
    match client::people(env, org, &PeopleInput::Remove { by, person_id }).await? {
        PeopleAnswer::Removed(member) => {
            // Before the answer: the grants they approved end with their membership.
            let grants = match crate::operations::push_person_approver(env, org, person_id).await {
                Ok(grants) => grants,
                Err(fault) => return crate::operations::not_yet_everywhere(fault),
            };
            crate::operations::record_events(env, org, vec![member.removed_event(by)]).await;
            crate::operations::revoke_grants_of_removed(env, org, grants, by).await;
            let keys_created =
                match client::org(env, org, &OrgInput::KeysCreatedBy { person_id }).await? {
                    OrgAnswer::Keys(page) => page.data,
                    _ => return Err(client::unexpected_answer("organization guard")),
                };
            http::json(
                200,
                &RemovedMember {
                    member: member.view(),
                    keys_created,
                },
            )
        }
        PeopleAnswer::NotMember => {
            // Removed already (perhaps by a call whose push failed): push again, so a
            // retry still ends their grants.
            let grants = match crate::operations::push_person_approver(env, org, person_id).await {
                Ok(grants) => grants,
                Err(fault) => return crate::operations::not_yet_everywhere(fault),
            };
            crate::operations::revoke_grants_of_removed(env, org, grants, by).await;
            refused(PeopleAnswer::NotMember)
        }
        other => refused(other),
    }
}

/// A page of members, in the order they joined (`limit`, `cursor`).
async fn list_members(env: &Env, call: &Call<'_>, org: OrgId) -> Result<Response> {
    let pairs: Vec<(String, String)> = call.url.query_pairs().into_owned().collect();
    let query = or_respond!(ListQuery::parse(
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    ));
    let after = match query.cursor.as_deref().map(MemberCursor::parse).transpose() {
        Ok(after) => after,
        Err(e) => return http::error(&e),
    };
    let input = PeopleInput::ListMembers {
        limit: usize::try_from(query.limit).unwrap_or(usize::MAX),
        after,
    };
    match client::people(env, org, &input).await? {
        PeopleAnswer::Members { members, complete } => {
            let cursor = members.last().map(|m| MemberCursor::after(m).text());
            let views: Vec<MemberView> = members.iter().map(Member::view).collect();
            http::json(200, &ListPage::new(views, cursor, complete))
        }
        _ => Err(client::unexpected_answer("people guard")),
    }
}

/// What a new link is for.
enum Draft {
    /// A new member, by email and role.
    Invitation(InvitationRequest),
    /// Another passkey for this member, who lost theirs (their email and role).
    Recovery(PersonId),
}

/// Makes a single-use link (an invitation, or a member's recovery link), shown once.
async fn invite(env: &Env, call: &Call<'_>, org: OrgId, draft: Draft) -> Result<Response> {
    let token = InvitationToken::generate(
        org,
        &crate::platform::random_bytes::<RANDOM_BYTES_FOR_INVITATION>()?,
    );
    let rp = config::passkey_relying_party(env);
    let Some(origin) = rp.origins.first() else {
        return http::error(&ApiError::service_unavailable(
            "PASSKEY_ORIGINS names no origin: invitation links are made on its first",
        ));
    };
    let url = token.url(origin);
    let (email, role) = match &draft {
        Draft::Invitation(request) => (request.email.clone(), request.role),
        // The people guard fills in the member's own.
        Draft::Recovery(_) => (String::new(), Role::Viewer),
    };
    let invitation = Invitation {
        id: InvitationId::generate(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_PEOPLE_ID>()?),
        email,
        role,
        token_hash: token.hash_hex(),
        created_ms: call.now_ms,
        expires_ms: call.now_ms.saturating_add(INVITATION_TTL_MS),
        created_by: call.caller.actor,
        recovers: None,
    };
    let input = match draft {
        Draft::Invitation(_) => PeopleInput::Invite(invitation),
        Draft::Recovery(person_id) => PeopleInput::Recover {
            link: invitation,
            person_id,
        },
    };
    match client::people(env, org, &input).await? {
        PeopleAnswer::Invitation(made) => {
            crate::operations::record_events(env, org, vec![made.invited_event()]).await;
            http::json(201, &made.view(Some(url)))
        }
        PeopleAnswer::Full => http::error(&ApiError::conflict(
            "This organization has 100 pending invitations; revoke some first",
        )),
        PeopleAnswer::Forbidden(why) => http::error(&ApiError::members_forbidden(why)),
        PeopleAnswer::NotMember => http::error(&ApiError::not_found("No such member here")),
        _ => Err(client::unexpected_answer("people guard")),
    }
}
