//! The operations the API handlers share, beneath all of them: the admitted call, an
//! organization's record, the copies a key's change makes (its organization's listing,
//! the KV directory), and the cascades that keep derived authority in step
//! (ARCHITECTURE.md, "Derived authority"): an organization's terms to its keys, a key's
//! or an organization's change to the grants that derive from it, a revocation to the
//! grant listings. Handlers (`keys_api`, `orgs_api`, `oauth_api`, `oauth`, `dashboard`,
//! `scanning`) call these; these call only the guards and the directory.

use crate::client;
use crate::directory;
use crate::http::RequestUrl;
use scopien_auth::audit::AuditDraft;
use scopien_auth::http::route::Route;
use scopien_auth::ids::{Actor, OrgId, PersonId};
use scopien_auth::keys::admin::{Caller, ListQuery};
use scopien_auth::keys::guard::{DirectoryEntry, Manage, ManageAnswer, Op};
use scopien_auth::oauth::grant::{GrantAnswer, GrantInput};
use scopien_auth::oauth::protocol::{AuthorizationView, ClientId, ClientRecord, GrantId};
use scopien_auth::org::{OrgAnswer, OrgInput, OrgRecord};
use scopien_auth::people::members::{Known, PeopleAnswer, PeopleInput};
use scopien_auth::policy::terms::ApproverTerms;
use scopien_auth::{ApiError, KeyId, Method, Plan};
use worker::{Env, Result};

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

/// What a grant key `id` approves may hold now (`None`: no such key).
pub(crate) async fn approver_terms(env: &Env, id: KeyId) -> Result<Option<ApproverTerms>> {
    let manage = Manage {
        caller: Caller::root(),
        default_plan: Plan::Starter,
        op: Op::Approver,
    };
    match client::manage(env, id, manage).await? {
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
    if let Err(fault) = client::org(env, org, &input).await {
        worker::console_error!("organization record failed for {org}: {fault}");
    }
}

/// Takes an organization's new terms to each of its keys, a few at a time, and records
/// what changed.
pub(crate) async fn set_terms(
    env: &Env,
    keys: Vec<KeyId>,
    terms: scopien_auth::policy::terms::OrgTerms,
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
            client::manage(env, id, manage)
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

/// The default organization's record as it is before anyone writes it, when `id` is it.
pub(crate) fn default_record(id: OrgId, default_plan: Plan) -> Option<OrgRecord> {
    (id == OrgId::DEFAULT).then(|| OrgRecord::default_org(default_plan))
}

/// The record of organization `id` (the default one, on `PLAN`, until someone changes
/// it), or `None` when there is no such organization.
pub(crate) async fn org_record(
    env: &Env,
    id: OrgId,
    default_plan: Plan,
) -> Result<Option<OrgRecord>> {
    let default = (id == OrgId::DEFAULT).then(|| OrgRecord::default_org(default_plan));
    match client::org(env, id, &OrgInput::Get { default }).await? {
        OrgAnswer::Org(record) => Ok(Some(record)),
        _ => Ok(None),
    }
}

pub(crate) fn list_query(
    url: &RequestUrl,
) -> std::result::Result<(ListQuery, Option<OrgId>), ApiError> {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    ListQuery::parse_scoped(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// An app's record, from its organization's guard (the id names the organization).
pub(crate) async fn client(env: &Env, id: ClientId) -> Result<Option<ClientRecord>> {
    match client::org(env, id.organization(), &OrgInput::GetClient(id)).await? {
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
    match client::grant(env, id, input).await? {
        GrantAnswer::Revoked(Some((view, event))) => {
            record_authorization(env, view.clone(), event).await;
            Ok(Some(view))
        }
        GrantAnswer::Revoked(None) => Ok(None),
        _ => Err(crate::client::unexpected_answer("grant guard")),
    }
}

/// Revokes every active grant key `key` of `org` approved: a person's approvals end with
/// their key, as their own access does. Faults are logged: the key's own revocation has
/// already happened and is answered.
pub(crate) async fn revoke_grants_approved_by(env: &Env, org: OrgId, key: KeyId, actor: Actor) {
    let grants = match client::org(env, org, &OrgInput::GrantsApprovedBy(key)).await {
        Ok(OrgAnswer::GrantIds(grants)) => grants,
        Ok(_) => return,
        Err(fault) => {
            worker::console_error!("listing the grants of a revoked key failed: {fault}");
            return;
        }
    };
    let reason = "The key that approved it was revoked";
    if let Err(fault) = revoke_for_approver(env, org, grants, actor, reason).await {
        worker::console_error!("revoking the grants of {key} failed: {fault}");
    }
}

/// Revokes `grants` of `org` because what approved them ended (`reason`, in the log).
async fn revoke_for_approver(
    env: &Env,
    org: OrgId,
    grants: Vec<GrantId>,
    actor: Actor,
    reason: &str,
) -> Result<()> {
    let input = GrantInput::Revoke {
        client_id: None,
        organization: Some(org),
        actor,
        reason: Some(reason.into()),
        only: None,
    };
    revoke_grants(env, grants, &input).await
}

/// Revokes each of `grants` ([`revoke_grant`]), a few at a time: an app's deletion walks
/// at most `MAX_ACTIVE_GRANTS_PER_APP` active grants per organization that approved it.
pub(crate) async fn revoke_grants(
    env: &Env,
    grants: Vec<GrantId>,
    input: &GrantInput,
) -> Result<()> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(grants)
        .map(|grant| revoke_grant(env, grant, input))
        .buffer_unordered(GRANTS_AT_ONCE)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// The answer when a change was stored but a push of it (to keys or grants) failed: a
/// 503 that says the change was saved and that repeating the request finishes it (each
/// change pushes again), rather than the generic fault's "stopped before it reached
/// the API", which would be untrue here. The fault is logged.
pub(crate) fn not_yet_everywhere<R: From<crate::http::Reply>>(fault: worker::Error) -> Result<R> {
    worker::console_error!("a change was stored but not pushed everywhere: {fault}");
    crate::http::error(&ApiError::change_not_yet_everywhere())
}

/// Grants updated at once: enough to be quick, few enough not to flood the runtime.
const GRANTS_AT_ONCE: usize = 16;

/// Sends each grant its input (new terms of what it derives from), a few at a time;
/// answers the grants that said they have ended for good (`GrantAnswer::Ended`), or the
/// first fault.
pub(crate) async fn push_to_grants(
    env: &Env,
    pushes: impl IntoIterator<Item = (GrantId, GrantInput)>,
) -> Result<Vec<GrantId>> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(pushes)
        .map(|(grant, input)| async move {
            let answer = client::grant(env, grant, &input).await?;
            Ok((answer == GrantAnswer::Ended).then_some(grant))
        })
        .buffer_unordered(GRANTS_AT_ONCE)
        .try_filter_map(|ended| async move { Ok(ended) })
        .try_collect()
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
    let grants = match client::org(env, org, &OrgInput::GrantsApprovedBy(key)).await? {
        OrgAnswer::GrantIds(grants) => grants,
        _ => return Ok(()),
    };
    let pushes = grants
        .into_iter()
        .map(|grant| (grant, GrantInput::SetApprover(approver.clone())));
    push_to_grants(env, pushes).await.map(drop)
}

/// Tells every grant person `person_id` approved in `org` what their membership allows
/// now (after a change of their role, or their removal): each grant holds no more from
/// its next use. A consent lists its grant under the person in the same step that reads
/// their terms, so a grant being consented to is reached too. The grants that answer
/// they have ended for good are no longer listed under the person. Answers the grants
/// pushed.
pub(crate) async fn push_person_approver(
    env: &Env,
    org: OrgId,
    person_id: PersonId,
) -> Result<Vec<GrantId>> {
    let asked = PeopleInput::ApprovedBy(person_id);
    let PeopleAnswer::Approvals { terms, grants } = client::people(env, org, &asked).await? else {
        return Err(client::unexpected_answer("people guard"));
    };
    let pushes = grants
        .iter()
        .map(|grant| (*grant, GrantInput::SetApprover(terms.clone())));
    let ended = push_to_grants(env, pushes).await?;
    if !ended.is_empty() {
        let unlist = PeopleInput::Unlist {
            person_id,
            grants: ended,
        };
        client::people(env, org, &unlist).await?;
    }
    Ok(grants)
}

/// After a person's consent, when more grants are listed under them than
/// `APPROVALS_PRUNED_ABOVE`: the ones that have ended are unlisted (the push of their
/// current terms changes nothing for the live ones), so that repeated consents and
/// revocations cannot grow the organization's people guard without bound. A fault is
/// logged: the consent has happened.
pub(crate) async fn prune_person_approvals(env: &Env, org: OrgId, person_id: PersonId) {
    if let Err(fault) = push_person_approver(env, org, person_id).await {
        worker::console_error!("pruning a person's ended grants failed: {fault}");
    }
}

/// Revokes `grants`, the ones a removed member approved in `org`: the terms pushed at
/// their removal already refuse every use; revoking lists them as revoked (Authorized
/// apps) and logs `oauth_grant.revoked`, as when an approving key is revoked. Faults
/// are logged: the removal has already happened and is answered.
pub(crate) async fn revoke_grants_of_removed(
    env: &Env,
    org: OrgId,
    grants: Vec<GrantId>,
    actor: Actor,
) {
    let reason = "The member who approved it was removed";
    if let Err(fault) = revoke_for_approver(env, org, grants, actor, reason).await {
        worker::console_error!("revoking the grants of a removed member failed: {fault}");
    }
}

/// Who `people` of `org` are (email, and name while a member; the people guard keeps
/// removed members' emails), asked once for the distinct ones; none asked, no call. For
/// pages that show people by who they are (the audit log's actors, Authorized apps).
pub(crate) async fn known_people(
    env: &Env,
    org: OrgId,
    people: impl IntoIterator<Item = PersonId>,
) -> Result<Vec<Known>> {
    let mut distinct: Vec<PersonId> = Vec::new();
    for id in people {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    if distinct.is_empty() {
        return Ok(Vec::new());
    }
    match client::people(env, org, &PeopleInput::Emails(distinct)).await? {
        PeopleAnswer::Emails(known) => Ok(known),
        _ => Err(client::unexpected_answer("people guard")),
    }
}

/// Copies a grant's view and event to the approving organization's guard. A fault is
/// logged: the grant's own guard already decided.
pub(crate) async fn record_authorization(
    env: &Env,
    view: AuthorizationView,
    event: scopien_auth::audit::AuditDraft,
) {
    let org = view.organization_id;
    let input = OrgInput::RecordAuthorization { view, event };
    if let Err(fault) = client::org(env, org, &input).await {
        worker::console_error!("authorization record failed for {org}: {fault}");
    }
}

/// Appends audit events to an organization's log, best effort (logged when it fails):
/// what they record has already happened.
pub(crate) async fn record_events(env: &Env, org: OrgId, events: Vec<AuditDraft>) {
    let input = OrgInput::Record {
        entries: Vec::new(),
        events,
    };
    if let Err(fault) = client::org(env, org, &input).await {
        worker::console_error!("audit record failed for {org}: {fault}");
    }
}
