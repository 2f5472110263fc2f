//! The key-management API, `/v1/api-keys…`: parse with core, run the operation in the
//! key's guard (authoritative), then copy the change to its organization's guard (the
//! exact listing and the audit log) and to the KV directory. Every rule (visibility,
//! organizations, conflicts, ceilings, what a caller may grant) is core's.

use crate::http::RequestUrl;
use crate::http::{self, or_respond};
use crate::{config, directory, guard_client, orgs_api};
use scopien_auth::admin::{
    self, organization_named, parse_create, parse_patch, parse_roll, Caller, ListQuery,
    ManageRefusal,
};
use scopien_auth::guard::{DirectoryEntry, Manage, ManageAnswer, Op};
use scopien_auth::key::RANDOM_BYTES_FOR_KEY;
use scopien_auth::org::{AuditDraft, OrgAnswer, OrgInput};
use scopien_auth::record::ApproverTerms;
use scopien_auth::route::Route;
use scopien_auth::view::RevealedKey;
use scopien_auth::{ApiError, ApiKey, KeyId, KeyType, Method, Plan};
use worker::{Env, Response, Result};

/// An admitted management request (keys, organizations, audit log), its body already
/// read.
pub(crate) struct Call<'a> {
    pub(crate) route: &'a Route<'a>,
    pub(crate) method: &'a Method,
    pub(crate) url: &'a RequestUrl,
    pub(crate) body: &'a [u8],
    pub(crate) caller: Caller,
    pub(crate) now_ms: u64,
}

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
    let manage = Manage {
        caller: call.caller,
        default_plan,
        op,
    };
    match guard_client::manage(env, id, manage).await? {
        ManageAnswer::Key {
            entry,
            audit,
            approver,
        } => {
            let (org, key) = (entry.view.organization_id, entry.view.id);
            if let Some(audit) = audit {
                let revoked = audit.action == "api_key.revoked";
                let actor = audit.actor;
                record(env, &entry, audit).await;
                // The grants this key approved hold no more than it does, from before
                // this answers (a fault answers 503: retrying the change pushes again).
                if let Some(approver) = approver {
                    crate::oauth_api::push_approver(env, org, key, approver).await?;
                }
                if revoked {
                    crate::oauth_api::revoke_grants_approved_by(env, org, key, actor).await;
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
            Err(crate::guard_client::unexpected_answer("key guard"))
        }
    }
}

/// What a grant key `id` approves may hold now (`None`: no such key).
pub(crate) async fn approver_terms(env: &Env, id: KeyId) -> Result<Option<ApproverTerms>> {
    let manage = Manage {
        caller: Caller::root(),
        default_plan: Plan::Starter,
        op: Op::Approver,
    };
    match guard_client::manage(env, id, manage).await? {
        ManageAnswer::Approver(terms) => Ok(Some(terms)),
        _ => Ok(None),
    }
}

/// Copies a change the key's guard made to its organization's guard and to the KV
/// directory. Failures are logged, not returned: the key's guard already holds the
/// change (the directory heals on the key's next use).
pub(crate) async fn record(env: &Env, entry: &DirectoryEntry, audit: AuditDraft) {
    record_all(env, vec![entry.clone()], vec![audit]).await;
}

/// [`record`] for several keys of one organization.
pub(crate) async fn record_all(env: &Env, entries: Vec<DirectoryEntry>, events: Vec<AuditDraft>) {
    let Some(org) = entries.first().map(|e| e.view.organization_id) else {
        return;
    };
    for entry in &entries {
        directory::write(env, entry).await;
    }
    let input = OrgInput::Record { entries, events };
    if let Err(fault) = guard_client::org(env, org, &input).await {
        worker::console_error!("organization record failed for {org}: {fault}");
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
    let Some(org_record) = orgs_api::get(env, org, default_plan).await? else {
        return http::error(&ApiError::not_found("No organization with that id"));
    };
    let new = or_respond!(parse_create(
        call.body,
        org_record.plan,
        &call.caller,
        call.now_ms
    ));
    for _ in 0..admin::CREATE_ATTEMPTS {
        let random = crate::random_bytes::<RANDOM_BYTES_FOR_KEY>()?;
        let key = ApiKey::generate(new.key_type, &random);
        let join = OrgInput::JoinKey {
            key: key.id(),
            by_root: call.caller.is_root(),
            default: orgs_api::default_record(org, default_plan),
        };
        let org_record = match guard_client::org(env, org, &join).await? {
            OrgAnswer::Org(record) => record,
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
        let manage = Manage {
            caller: call.caller.clone(),
            default_plan,
            op: Op::Create {
                record,
                org: org_record.terms(),
            },
        };
        match guard_client::manage(env, key.id(), manage).await? {
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
            _ => return Err(crate::guard_client::unexpected_answer("key guard")),
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
    guard_client::org(env, org, &input).await?;
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
            let page = directory::list(env, query, call.caller.key_type, call.now_ms).await?;
            return http::json(200, &page);
        }
    };
    let only = (call.caller.key_type == KeyType::Test).then_some(KeyType::Test);
    match guard_client::org(env, org, &OrgInput::ListKeys { query, only }).await? {
        OrgAnswer::Keys(page) => http::json(200, &page),
        OrgAnswer::BadCursor => http::error(&scopien_auth::org::bad_cursor()),
        _ => http::error(&ApiError::not_found("No organization with that id")),
    }
}

/// Takes an organization's new terms to each of its keys, a few at a time, and records
/// what changed.
pub(crate) async fn set_terms(
    env: &Env,
    keys: Vec<KeyId>,
    terms: scopien_auth::org::OrgTerms,
    default_plan: Plan,
) -> Result<()> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    /// Keys updated at once: enough to be quick, few enough not to flood the runtime.
    const AT_ONCE: usize = 16;
    let answers: Vec<ManageAnswer> = stream::iter(keys)
        .map(|id| {
            let manage = Manage {
                caller: Caller::root(),
                default_plan,
                op: Op::SetOrg(terms),
            };
            guard_client::manage(env, id, manage)
        })
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await?;
    let mut entries = Vec::new();
    let mut events = Vec::new();
    for answer in answers {
        if let ManageAnswer::Key {
            entry,
            audit: Some(audit),
            ..
        } = answer
        {
            entries.push(entry);
            events.push(audit);
        }
    }
    record_all(env, entries, events).await;
    Ok(())
}
