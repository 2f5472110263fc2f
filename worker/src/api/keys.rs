//! The key-management API, `/v1/api-keys…`: parse with core, run the operation in the
//! key's guard (authoritative), then copy the change to its organization's guard (the
//! exact listing and the audit log) and to the KV directory. Every rule (visibility,
//! organizations, conflicts, ceilings, what a caller may grant) is core's.

use crate::client;
use crate::config;
use crate::directory;
use crate::http::{self, or_respond};
use crate::operations::{record, Call};
use scopien_auth::audit::AuditDraft;
use scopien_auth::credentials::key::RANDOM_BYTES_FOR_KEY;
use scopien_auth::http::route::Route;
use scopien_auth::keys::admin::{
    self, organization_named, parse_create, parse_patch, parse_roll, ListQuery, ManageRefusal,
};
use scopien_auth::keys::guard::{DirectoryEntry, Manage, ManageAnswer, Op};
use scopien_auth::keys::view::RevealedKey;
use scopien_auth::org::{OrgAnswer, OrgInput};
use scopien_auth::{ApiError, ApiKey, KeyType, Method, Plan};
use worker::{Env, Response, Result};

/// Answers a key-management request.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    let default_plan = or_respond!(config::plan(env));
    let (id, op) = match (call.route, call.method) {
        (Route::Keys, Method::Get) => return list(env, &call).await,
        (Route::Keys, _) => return create(env, &call, default_plan).await,
        (Route::Key(id), Method::Get) => (*id, Op::Get),
        (Route::Key(id), Method::Delete) => (*id, Op::Revoke),
        (Route::Key(id), _) => (
            *id,
            Op::Patch(or_respond!(parse_patch(call.body, call.now_ms))),
        ),
        (Route::RollKey(id), _) => (
            *id,
            Op::Roll {
                grace_s: or_respond!(parse_roll(call.body)),
            },
        ),
        (Route::KeyUsage(id), _) => (*id, Op::Usage),
        _ => return http::error(&ApiError::not_found("No such key-management endpoint")),
    };
    let asking = call.caller.actor;
    let manage = Manage {
        caller: call.caller,
        default_plan,
        op,
    };
    match client::manage(env, id, manage).await? {
        ManageAnswer::Key {
            entry,
            audit,
            approver,
        } => {
            let (org, key) = (entry.view.organization_id, entry.view.id);
            let actor = audit.as_ref().map_or(asking, |a| a.actor);
            if let Some(audit) = audit {
                record(env, &entry, audit).await;
            }
            // The grants this key approved hold no more than it does, from before this
            // answers. Every change answers the key's terms, and so does revoking a key
            // revoked already: a fault answers 503, and the same request again pushes.
            if let Some(approver) = approver {
                let revoked = approver.revoked;
                let pushed = crate::operations::push_approver(env, org, key, approver).await;
                if let Err(fault) = pushed {
                    return crate::operations::not_yet_everywhere(fault);
                }
                if revoked {
                    crate::operations::revoke_grants_approved_by(env, org, key, actor).await;
                }
            }
            http::json(200, &entry.view)
        }
        ManageAnswer::Rolled { entry, key, audit } => {
            record(env, &entry, audit).await;
            http::json(
                200,
                &RevealedKey {
                    view: entry.view,
                    key,
                },
            )
        }
        ManageAnswer::Usage(usage) => http::json(200, &usage),
        ManageAnswer::Refused(refusal) => http::error(&refusal.error()),
        ManageAnswer::Created { .. } | ManageAnswer::Leak { .. } | ManageAnswer::Approver(_) => {
            Err(crate::client::unexpected_answer("key guard"))
        }
    }
}

/// Creates a key. Its organization lists the new id first and answers its terms in the
/// same step (`JoinKey`): a suspension or plan change is ordered against that step, and
/// reaches the key whichever way the race goes (ARCHITECTURE.md, "Derived authority").
async fn create(env: &Env, call: &Call<'_>, default_plan: Plan) -> Result<Response> {
    let named = or_respond!(organization_named(call.body));
    let org = or_respond!(call.caller.organization_for_new_key(named));
    // The body is checked before anything is listed; the limits again under the terms
    // the organization answers when the key joins it.
    let Some(org_record) = crate::operations::org_record(env, org, default_plan).await? else {
        return http::error(&ApiError::not_found("No organization with that id"));
    };
    let new = or_respond!(parse_create(
        call.body,
        org_record.plan,
        &call.caller,
        call.now_ms
    ));
    // Refused before anything is listed; the key's guard applies the policy again under
    // the terms the key starts with.
    let policy = org_record.key_policy;
    if let Err(latest) = policy.expiry(call.now_ms, new.expires_ms) {
        return http::error(&admin::beyond_key_policy(latest, policy.max_lifetime_days).error());
    }
    for _ in 0..admin::CREATE_ATTEMPTS {
        let random = crate::platform::random_bytes::<RANDOM_BYTES_FOR_KEY>()?;
        let key = ApiKey::generate(new.key_type, &random);
        let join = OrgInput::JoinKey {
            key: key.id(),
            by_root: call.caller.is_root(),
            default: crate::operations::default_record(org, default_plan),
        };
        let org_record = match client::org(env, org, &join).await? {
            OrgAnswer::Org(record) => {
                // The default organization is in the operator's listing from its first key.
                if org == scopien_auth::ids::OrgId::DEFAULT {
                    directory::write_org(env, &record.view()).await;
                }
                record
            }
            OrgAnswer::Suspended => return http::error(&ApiError::organization_suspended()),
            _ => return http::error(&ApiError::not_found("No organization with that id")),
        };
        let new = or_respond!(parse_create(
            call.body,
            org_record.plan,
            &call.caller,
            call.now_ms
        ));
        let mut record = new.into_record(&key, call.now_ms);
        record.organization_id = org;
        record.created_by = Some(call.caller.actor);
        let manage = Manage {
            caller: call.caller.clone(),
            default_plan,
            op: Op::Create {
                record,
                org: org_record.terms(),
            },
        };
        match client::manage(env, key.id(), manage).await? {
            ManageAnswer::Created { entry, audit } => {
                record_created(env, &entry, audit).await?;
                let revealed = RevealedKey {
                    view: entry.view,
                    key: key.expose_secret().to_owned(),
                };
                return http::json(201, &revealed);
            }
            ManageAnswer::Refused(ManageRefusal::IdTaken) => continue,
            ManageAnswer::Refused(refusal) => return http::error(&refusal.error()),
            _ => return Err(crate::client::unexpected_answer("key guard")),
        }
    }
    http::error(&ManageRefusal::IdTaken.error())
}

/// A new key must be in its organization's listing before the create answers: that
/// write is not best-effort.
async fn record_created(env: &Env, entry: &DirectoryEntry, audit: AuditDraft) -> Result<()> {
    let org = entry.view.organization_id;
    let input = OrgInput::Record {
        entries: vec![entry.clone()],
        events: vec![audit],
    };
    client::org(env, org, &input).await?;
    directory::write(env, entry).await;
    Ok(())
}

async fn list(env: &Env, call: &Call<'_>) -> Result<Response> {
    let pairs: Vec<(String, String)> = call.url.query_pairs().into_owned().collect();
    let (query, named) = or_respond!(ListQuery::parse_scoped(
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    ));
    // An organization's admin lists its organization exactly; the root key lists the
    // operator's global directory unless it names an organization.
    let org = match (call.caller.organization, named) {
        (Some(mine), Some(named)) if mine != named => {
            return http::error(&ApiError::not_found("No organization with that id"))
        }
        (Some(mine), _) => mine,
        (None, Some(named)) => named,
        (None, None) => {
            let cursor = or_respond!(query.directory_cursor());
            let page =
                directory::list(env, query, cursor, call.caller.key_type, call.now_ms).await?;
            return http::json(200, &page);
        }
    };
    let only = (call.caller.key_type == KeyType::Test).then_some(KeyType::Test);
    match client::org(env, org, &OrgInput::ListKeys { query, only }).await? {
        OrgAnswer::Keys(page) => http::json(200, &page),
        OrgAnswer::BadCursor => http::error(&scopien_auth::org::bad_cursor()),
        _ => http::error(&ApiError::not_found("No organization with that id")),
    }
}
