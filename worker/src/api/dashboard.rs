//! The dashboard (the spec's Settings → API Keys): its pages, its sessions and its JSON
//! API. Pages are static files (Workers Static Assets, `dashboard/`), served here so
//! every one gets the security headers. The JSON API is the management API itself
//! (`/dashboard/api/v1/…` is `/v1/…`), called with the session's key after that key's
//! own guard checked it again, so revoking or narrowing the key ends or narrows its
//! sessions on their next request. Cookies, expiry and CSRF are core's
//! (`scopien_auth::session`).
//!
//! ```text
//!  GET  /dashboard[/…]              the app, or the sign-in page without a session
//!  GET  /dashboard/static/{file}    its scripts and styles
//!  POST /dashboard/session          form "api_key" ─► key's guard ─► session + cookie
//!  GET  /dashboard/api/session      who is signed in, the plan, the CSRF token
//!  DELETE /dashboard/api/session    sign out
//!  *    /dashboard/api/v1/…         the management API, as the session's key
//!  *    /dashboard/api/passkeys…    a signed-in person's own passkeys (api/passkeys.rs)
//! ```

use crate::api::answer;
use crate::api::passkeys::{self, Outcome};
use crate::api::Admitted;
use crate::client;
use crate::config;
use crate::http::{self, or_respond, RequestUrl};
use crate::operations::Call;
use crate::throttle::check_verdict;
use crate::throttle::{self, Verdict};
use scopien_auth::base::network::parse_address;
use scopien_auth::check::protocol::{Check, CheckAnswer};
use scopien_auth::http::headers::DASHBOARD_SECURITY_HEADERS;
use scopien_auth::http::route::{route, Route};
use scopien_auth::ids::{Actor, OrgId, PersonId};
use scopien_auth::keys::admin::Caller;
use scopien_auth::keys::guard::{Manage, ManageAnswer, Op};
use scopien_auth::keys::view::{PlanView, SessionView};
use scopien_auth::oauth::consent::{page_headers, too_many_failures_page as too_many_failures};
use scopien_auth::people::members::InvitationToken;
use scopien_auth::people::members::{Member, PeopleAnswer, PeopleInput};
use scopien_auth::people::person::{
    OrganizationChoice, PersonAnswer, PersonInput, PersonSessionView,
};
use scopien_auth::people::role::Operation;
use scopien_auth::policy::error::Field;
use scopien_auth::session::{
    api_key_from_form, clear_cookie, csrf_matches, csrf_token, same_origin, set_cookie,
    token_from_cookies, SessionAnswer, SessionInput, SessionRecord, SessionToken, Subject,
    CSRF_HEADER, RANDOM_BYTES_FOR_SESSION,
};
use scopien_auth::{ApiError, ApiKey, KeyType, Method};
use worker::{Env, Request, Response, Result};

use scopien_auth::http::route::DASHBOARD_ROOT as ROOT;
const STATIC: &str = "/dashboard/static/";
const SIGN_IN: &str = "/dashboard/session";
const SESSION: &str = "/dashboard/api/session";
const API: &str = "/dashboard/api";
const INVITE: &str = "/dashboard/invite";
/// Self-serve sign-up's page, when `SIGNUP = "open"`; otherwise no such page.
const SIGN_UP: &str = "/dashboard/signup";
const SIGN_UP_CLOSED: &str = "Sign-up is by invitation here; ask an owner of your organization";
const PASSKEY: &str = "/dashboard/passkey/";
const OWN_PASSKEYS: &str = "/dashboard/api/passkeys";
/// A signed-in person accepts an invitation to another organization: `{token}`.
const JOIN: &str = "/dashboard/api/person/join";
/// A signed-in person acts in another of their organizations: `{organizationId}`.
const SWITCH: &str = "/dashboard/api/person/switch";

/// Answers a dashboard request; every response carries the security headers.
pub(crate) async fn handle(
    req: &mut Request,
    env: &Env,
    url: &RequestUrl,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let response = route_dashboard(req, env, url, address, now_ms).await?;
    http::with_headers(response, DASHBOARD_SECURITY_HEADERS)
}

/// The request as the dashboard sees it: its scheme decides the cookie's name.
pub(crate) struct Site {
    pub(crate) https: bool,
    pub(crate) origin: String,
}

impl Site {
    pub(crate) fn of(url: &RequestUrl) -> Site {
        Site {
            https: url.origin().starts_with("https://"),
            origin: url.origin().to_owned(),
        }
    }
}

async fn route_dashboard(
    req: &mut Request,
    env: &Env,
    url: &RequestUrl,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let site = Site::of(url);
    let method =
        or_respond!(Method::parse(&req.inner().method()).map_err(|_| ApiError::invalid_method()));
    let path = url.path();
    match (path, &method) {
        (p, Method::Get | Method::Head) if p.starts_with(STATIC) => {
            asset(env, url, &p[STATIC.len()..]).await
        }
        (SIGN_IN, Method::Post) => sign_in(req, env, &site, address, now_ms).await,
        (INVITE, Method::Get | Method::Head) => {
            let response = asset(env, url, "invite.html").await?;
            http::with_headers(response, [("Cache-Control", "no-store")])
        }
        (SIGN_UP, Method::Get | Method::Head) if config::sign_up_open(env) => {
            let response = asset(env, url, "signup.html").await?;
            http::with_headers(response, [("Cache-Control", "no-store")])
        }
        (SIGN_UP, _) => http::error(&ApiError::not_found(SIGN_UP_CLOSED)),
        (p, Method::Post) if p.starts_with(PASSKEY) => {
            passkey(req, env, &site, &p[PASSKEY.len()..], address, now_ms).await
        }
        (SESSION, Method::Get) => session_view(req, env, &site, address, now_ms).await,
        (SESSION, Method::Delete) => sign_out(req, env, &site, address, now_ms).await,
        (p, _) if p.starts_with("/dashboard/api/v1/") => {
            api(req, env, url, &site, &method, address, now_ms).await
        }
        (JOIN, Method::Post) => join(req, env, &site, address, now_ms).await,
        (SWITCH, Method::Post) => switch(req, env, &site, address, now_ms).await,
        (p, _) if p == OWN_PASSKEYS || p.starts_with(&format!("{OWN_PASSKEYS}/")) => {
            let rest = p[OWN_PASSKEYS.len()..].trim_start_matches('/').to_owned();
            own_passkeys(req, env, &site, &method, &rest, address, now_ms).await
        }
        (SIGN_IN | SESSION, _) => http::error(&ApiError::method_not_allowed(&[
            Method::Get,
            Method::Post,
            Method::Delete,
        ])),
        (p, Method::Get | Method::Head) if !p.starts_with("/dashboard/api") => {
            page(req, env, url, &site, address, now_ms).await
        }
        _ => http::error(&ApiError::not_found("No such dashboard page")),
    }
}

/// A static file from `dashboard/`, by name.
async fn asset(env: &Env, url: &RequestUrl, name: &str) -> Result<Response> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !name.starts_with('.');
    if !valid {
        return http::error(&ApiError::not_found("No such dashboard file"));
    }
    let target = format!("{}/{name}", url.origin());
    let response = env.assets(config::ASSETS)?.fetch(target, None).await?;
    if response.status_code() != 200 {
        return http::error(&ApiError::not_found("No such dashboard file"));
    }
    // Revalidated on every load (ETag), so a deployment is seen at once.
    http::with_headers(response, [("Cache-Control", "no-cache")])
}

/// The app for a live session, else the sign-in page (the address stays; a cookie that
/// names no session is forgotten, so the browser does not send it again).
async fn page(
    req: &Request,
    env: &Env,
    url: &RequestUrl,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let (file, forget) = match live_session(req, env, site, address, now_ms).await? {
        Session::Live(_) => ("app.html", false),
        Session::Missing => ("signin.html", false),
        Session::Unknown => ("signin.html", true),
        Session::Refused(until) => return too_many_failures_page(until, now_ms),
    };
    let response = asset(env, url, file).await?;
    let response = http::with_headers(response, [("Cache-Control", "no-store")])?;
    if forget {
        return http::with_headers(
            response,
            [("Set-Cookie", clear_cookie(site.https).as_str())],
        );
    }
    Ok(response)
}

/// 429 as a page, for an address refused for failed authentications until `until_ms`.
pub(crate) fn too_many_failures_page(until_ms: u64, now_ms: u64) -> Result<Response> {
    let seconds = ApiError::too_many_failures_until(until_ms, now_ms)
        .retry_after
        .unwrap_or(1);
    let response = Response::from_bytes(too_many_failures(seconds).into_bytes())?.with_status(429);
    let retry_after = seconds.to_string();
    let mut headers = page_headers(None);
    headers.push(("Retry-After", retry_after));
    http::with_headers(response, headers.iter().map(|(n, v)| (*n, v.as_str())))
}

/// What a request's session cookie names.
pub(crate) enum Session {
    /// A live session (now marked used).
    Live(Live),
    /// No session cookie.
    Missing,
    /// A cookie that names no live session: a failed authentication of the address.
    Unknown,
    /// The address is refused until then (throttle.rs): blocked before the cookie was
    /// looked up, or by this cookie's failure.
    Refused(u64),
}

/// The session the request's cookie names. The cookie is a credential like a key:
/// looked up only through the throttle's gate, and one that names no session counts as
/// a failed authentication of the client's address.
pub(crate) async fn live_session(
    req: &Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Session> {
    let cookies = req.headers().get("Cookie")?;
    let Some(token) = token_from_cookies(cookies.as_deref(), site.https) else {
        return Ok(Session::Missing);
    };
    let token_hash = token.hash_hex();
    let asked = throttle::guarded(
        env,
        address,
        &token_hash,
        &token_hash,
        now_ms,
        client::session(env, &token_hash, &SessionInput::Touch),
        |answer| match answer {
            SessionAnswer::Live(_) => Verdict::Proved,
            SessionAnswer::Missing => Verdict::Failed,
        },
    )
    .await?;
    Ok(match asked {
        Ok(SessionAnswer::Live(record)) => Session::Live(Live { token_hash, record }),
        Ok(SessionAnswer::Missing) => Session::Unknown,
        Err(until) => Session::Refused(until),
    })
}

/// The session of a dashboard API call: `Err(response)` without a live one (401, or 429
/// for a refused address).
async fn api_session(
    req: &Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<std::result::Result<Live, Response>> {
    Ok(match live_session(req, env, site, address, now_ms).await? {
        Session::Live(live) => Ok(live),
        Session::Missing | Session::Unknown => Err(no_session(site)?),
        Session::Refused(until) => Err(http::error(&ApiError::too_many_failures_until(
            until, now_ms,
        ))?),
    })
}

pub(crate) struct Live {
    pub(crate) token_hash: String,
    pub(crate) record: SessionRecord,
}

/// 401 for a call without a live session; the browser forgets its cookie.
fn no_session(site: &Site) -> Result<Response> {
    let response = http::error(&ApiError::no_session())?;
    http::with_headers(
        response,
        [("Set-Cookie", clear_cookie(site.https).as_str())],
    )
}

/// A state-changing call must come from this origin and carry the session's CSRF token.
fn cross_site(req: &Request, site: &Site, csrf: Option<&str>) -> Result<bool> {
    let origin = req.headers().get("Origin")?;
    let fetch_site = req.headers().get("Sec-Fetch-Site")?;
    let sent = req.headers().get(CSRF_HEADER)?;
    let csrf_ok = csrf.is_none_or(|expected| csrf_matches(sent.as_deref(), expected));
    let origin_ok = same_origin(origin.as_deref(), fetch_site.as_deref(), &site.origin);
    Ok(!(origin_ok && csrf_ok))
}

/// Checks the session's key with its own guard, exactly as a request with that key
/// would be: `Err(response)` when it no longer authenticates (the session ends) or is
/// refused.
pub(crate) async fn check_key(
    env: &Env,
    site: &Site,
    live: &Live,
    route: &Route<'_>,
    method: &Method,
    address: Option<&str>,
) -> Result<std::result::Result<Box<scopien_auth::check::protocol::Admitted>, Response>> {
    let (key_id, key_hash) = match &live.record.subject {
        Subject::Key { key_id, key_hash } => (*key_id, key_hash),
        Subject::Person { .. } => {
            return Ok(Err(http::error(&ApiError::invalid_request(
                "This page needs a session signed in with an admin API key",
            ))?))
        }
    };
    let root = match config::root_key(env) {
        Ok(Some(root)) => match config::plan(env) {
            Ok(plan) => root.recognise_hash(key_id, key_hash, plan),
            Err(err) => return Ok(Err(http::error(&err)?)),
        },
        _ => None,
    };
    let check = Check {
        hash: key_hash.clone(),
        requirement: route.requirement(method, &[]),
        address: address.and_then(parse_address),
    };
    match client::check(env, key_id, check, root).await? {
        CheckAnswer::Admitted(admitted) => Ok(Ok(admitted)),
        CheckAnswer::Refused { refusal, .. } if refusal.is_failed_authentication() => {
            let _ = client::session(env, &live.token_hash, &SessionInput::End).await?;
            Ok(Err(no_session(site)?))
        }
        CheckAnswer::Refused { refusal, at_ms } => Ok(Err(http::refusal(&refusal, at_ms)?)),
    }
}

/// Exchanges an admin key (form field `api_key`) for a session cookie. The key is
/// checked by its guard like a request to list keys, and a wrong one counts as a
/// failed authentication of the client's address.
async fn sign_in(
    req: &mut Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    if cross_site(req, site, None)? {
        return http::error(&ApiError::cross_site_request());
    }
    let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
    let text = api_key_from_form(&body).unwrap_or_default();
    let Ok(key) = ApiKey::parse(text.trim()) else {
        // Malformed: it cannot work and asks no guard, so it is not counted (as on the
        // request path); a blocked address is still refused.
        if let Some(until) = throttle::blocked_for(address, None, now_ms) {
            return http::error(&ApiError::too_many_failures_until(until, now_ms));
        }
        return http::refusal(&scopien_auth::Refusal::Invalid, now_ms);
    };
    let hash = key.hash_hex();
    let root = match config::root_key(env) {
        Ok(Some(root)) => root.recognise(&key, &hash, or_respond!(config::plan(env))),
        _ => None,
    };
    let check = Check {
        hash: hash.clone(),
        requirement: Route::Keys.requirement(&Method::Get, &[]),
        address: address.and_then(parse_address),
    };
    // The sign-in is a use of the key: its guard records its lastUsedAt (guard.rs). A
    // guess like any other: through the throttle's gate.
    let asked = throttle::guarded(
        env,
        address,
        key.id_chars(),
        &hash,
        now_ms,
        client::check(env, key.id(), check, root),
        check_verdict,
    )
    .await?;
    match asked {
        Ok(CheckAnswer::Admitted(_)) => {}
        Ok(CheckAnswer::Refused { refusal, at_ms }) => return http::refusal(&refusal, at_ms),
        Err(until) => return http::error(&ApiError::too_many_failures_until(until, now_ms)),
    }
    let subject = Subject::Key {
        key_id: key.id(),
        key_hash: hash,
    };
    let wants_json = req
        .headers()
        .get("Accept")?
        .is_some_and(|a| a.contains("application/json"));
    open_session(env, site, subject, now_ms, wants_json).await
}

/// Opens a session for `subject` and sets its cookie: 204 for a script, else 303 to the
/// dashboard.
async fn open_session(
    env: &Env,
    site: &Site,
    subject: Subject,
    now_ms: u64,
    wants_json: bool,
) -> Result<Response> {
    let token =
        SessionToken::from_random(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_SESSION>()?);
    let record = SessionRecord {
        subject,
        csrf_token: csrf_token(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_SESSION>()?),
        created_ms: now_ms,
        last_seen_ms: now_ms,
    };
    client::session(env, &token.hash_hex(), &SessionInput::Open(record)).await?;
    let response = if wants_json {
        Response::empty()?.with_status(204)
    } else {
        Response::empty()?.with_status(303)
    };
    let cookie = set_cookie(&token, site.https);
    let mut headers = vec![
        ("Set-Cookie", cookie.as_str()),
        ("Cache-Control", "no-store"),
    ];
    if !wants_json {
        headers.push(("Location", ROOT));
    }
    http::with_headers(response, headers)
}

/// Who is signed in, the organization's plan, and the CSRF token.
async fn session_view(
    req: &Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let live = match api_session(req, env, site, address, now_ms).await? {
        Ok(live) => live,
        Err(response) => return Ok(response),
    };
    if let Subject::Person {
        person_id,
        organization_id,
        ..
    } = &live.record.subject
    {
        let member = match member(env, site, &live, *person_id, *organization_id).await? {
            Ok(member) => member,
            Err(response) => return Ok(response),
        };
        let default_plan = or_respond!(config::plan(env));
        let plan = crate::operations::org_record(env, *organization_id, default_plan)
            .await?
            .map_or(default_plan, |o| o.plan);
        let organizations = organizations_of(env, *person_id, default_plan).await?;
        let view = PersonSessionView {
            organizations,
            person_id: *person_id,
            email: member.email,
            name: member.name,
            organization_id: *organization_id,
            role: member.role,
            permissions: member.role.permissions(),
            plan: PlanView::of(plan),
            csrf_token: live.record.csrf_token.clone(),
        };
        return http::json(200, &view);
    }
    let admitted = match check_key(env, site, &live, &Route::Keys, &Method::Get, address).await? {
        Ok(admitted) => admitted,
        Err(response) => return Ok(response),
    };
    let Some(key_id) = live.record.key_id() else {
        return no_session(site);
    };
    let default_plan = or_respond!(config::plan(env));
    let caller = Caller::of(&admitted);
    let plan = match caller.organization {
        Some(org) => crate::operations::org_record(env, org, default_plan)
            .await?
            .map_or(default_plan, |o| o.plan),
        None => default_plan,
    };
    // Its name, as its own guard has it now (a rename shows on the next page). The root
    // key has no guard: it is the operator's.
    let key_name = match caller.organization {
        None => None,
        Some(_) => {
            let get = Manage {
                caller: caller.clone(),
                default_plan,
                op: Op::Get,
            };
            match client::manage(env, key_id, get).await? {
                ManageAnswer::Key { entry, .. } => Some(entry.view.name),
                ManageAnswer::Refused(refusal) => return http::error(&refusal.error()),
                _ => return Err(client::unexpected_answer("key guard")),
            }
        }
    };
    let view = SessionView {
        key_id,
        key_name,
        key_type: admitted.key_type,
        organization_id: caller.organization,
        scopes: admitted.grants.clone(),
        plan: PlanView::of(plan),
        csrf_token: live.record.csrf_token.clone(),
    };
    http::json(200, &view)
}

/// Ends the session; the browser forgets its cookie.
async fn sign_out(
    req: &Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let live = match api_session(req, env, site, address, now_ms).await? {
        Ok(live) => live,
        Err(response) => return Ok(response),
    };
    if cross_site(req, site, Some(&live.record.csrf_token))? {
        return http::error(&ApiError::cross_site_request());
    }
    let _ = client::session(env, &live.token_hash, &SessionInput::End).await?;
    let response = Response::empty()?.with_status(204);
    http::with_headers(
        response,
        [("Set-Cookie", clear_cookie(site.https).as_str())],
    )
}

/// The live session of a dashboard API call, with its CSRF token and origin checked when
/// `method` changes state; otherwise the answer that refuses the call.
async fn checked_session(
    req: &Request,
    env: &Env,
    site: &Site,
    method: &Method,
    address: Option<&str>,
    now_ms: u64,
) -> Result<std::result::Result<Live, Response>> {
    let live = match api_session(req, env, site, address, now_ms).await? {
        Ok(live) => live,
        Err(response) => return Ok(Err(response)),
    };
    let changes_state = !matches!(method, Method::Get | Method::Head);
    if changes_state && cross_site(req, site, Some(&live.record.csrf_token))? {
        return Ok(Err(http::error(&ApiError::cross_site_request())?));
    }
    Ok(Ok(live))
}

/// `/dashboard/api/v1/…`: the management API (and the auth test) as the session's key.
/// Nothing is forwarded to the origin from here.
async fn api(
    req: &mut Request,
    env: &Env,
    url: &RequestUrl,
    site: &Site,
    method: &Method,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let live = match checked_session(req, env, site, method, address, now_ms).await? {
        Ok(live) => live,
        Err(response) => return Ok(response),
    };
    let route = or_respond!(route(method, &url.path()[API.len()..]));
    if matches!(route, Route::Upstream { .. }) {
        return http::error(&ApiError::not_found("No such dashboard endpoint"));
    }
    let body = if method.has_body() {
        or_respond!(http::read_body(req, config::max_body_bytes(env)).await?)
    } else {
        Vec::new()
    };
    let key_id = match &live.record.subject {
        Subject::Key { key_id, .. } => scopien_auth::ids::Approver::Key(*key_id),
        Subject::Person {
            person_id,
            organization_id,
            ..
        } => {
            let (person_id, org) = (*person_id, *organization_id);
            let member = match member(env, site, &live, person_id, org).await? {
                Ok(member) => member,
                Err(response) => return Ok(response),
            };
            let allowed = Operation::of(&route, method).filter(|op| member.role.may(*op));
            if allowed.is_none() {
                return http::error(&ApiError::role_forbids(
                    member.role.as_str(),
                    "do this in the organization",
                ));
            }
            let call = Call {
                route: &route,
                method,
                url,
                body: &body,
                caller: Caller {
                    key_type: KeyType::Live,
                    grants: member.role.grants(),
                    organization: Some(org),
                    actor: Actor::Person { person_id },
                },
                now_ms,
            };
            return crate::api::manage(env, call).await;
        }
    };
    let admitted = match check_key(env, site, &live, &route, method, address).await? {
        Ok(admitted) => admitted,
        Err(response) => return Ok(response),
    };
    let call = Admitted {
        url,
        route: &route,
        method,
        body,
        approver_id: key_id,
        now_ms,
    };
    answer(req, env, call, &admitted).await.map(Response::from)
}

/// A person's membership, asked of their organization's people guard on every call, and
/// the passkey they signed in with, asked of their own guard at the same time: a removed
/// member's session, or one whose passkey was removed, ends at once (401); a changed
/// role applies at once.
pub(crate) async fn member(
    env: &Env,
    site: &Site,
    live: &Live,
    person_id: PersonId,
    org: OrgId,
) -> Result<std::result::Result<Member, Response>> {
    let asked = PeopleInput::Member {
        person_id,
        signed_in: false,
    };
    let credential = match &live.record.subject {
        Subject::Person { credential_id, .. } => credential_id.as_deref(),
        Subject::Key { .. } => None,
    };
    let passkey_kept = async {
        let Some(credential) = credential else {
            return Ok(true);
        };
        Ok::<_, worker::Error>(
            match client::person(env, person_id, &PersonInput::Get).await? {
                PersonAnswer::Person(record) => record
                    .passkeys
                    .iter()
                    .any(|p| p.credential_id == credential),
                _ => false,
            },
        )
    };
    let (membership, kept) =
        futures_util::future::join(client::people(env, org, &asked), passkey_kept).await;
    match (membership?, kept?) {
        (PeopleAnswer::Member(member), true) => Ok(Ok(member)),
        _ => {
            let _ = client::session(env, &live.token_hash, &SessionInput::End).await?;
            Ok(Err(no_session(site)?))
        }
    }
}

/// The organizations a person belongs to now, with their names and roles: the ones their
/// record lists and whose people guard still counts them as members.
async fn organizations_of(
    env: &Env,
    person_id: PersonId,
    default_plan: scopien_auth::Plan,
) -> Result<Vec<OrganizationChoice>> {
    let PersonAnswer::Person(record) = client::person(env, person_id, &PersonInput::Get).await?
    else {
        return Ok(Vec::new());
    };
    let mut choices = Vec::new();
    for org in record.organizations {
        let asked = PeopleInput::Member {
            person_id,
            signed_in: false,
        };
        if let PeopleAnswer::Member(member) = client::people(env, org, &asked).await? {
            let name = crate::operations::org_record(env, org, default_plan)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
            choices.push(OrganizationChoice {
                id: org,
                name,
                role: member.role,
            });
        }
    }
    Ok(choices)
}

/// The signed-in person of a dashboard call that changes state (its CSRF token
/// checked), or the answer that refuses it.
async fn person_call(
    req: &Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<std::result::Result<(Live, PersonId), Response>> {
    let live = match checked_session(req, env, site, &Method::Post, address, now_ms).await? {
        Ok(live) => live,
        Err(response) => return Ok(Err(response)),
    };
    match live.record.subject {
        Subject::Person { person_id, .. } => Ok(Ok((live, person_id))),
        Subject::Key { .. } => Ok(Err(http::error(&ApiError::invalid_request(
            "Only a person signed in with a passkey belongs to organizations; this session is an API key's",
        ))?)),
    }
}

/// Moves a person's session to `org`: a new session (a new cookie and CSRF token, as
/// on any change of what a session may do), the old one ended.
async fn move_session(
    env: &Env,
    site: &Site,
    live: &Live,
    person_id: PersonId,
    org: OrgId,
    now_ms: u64,
) -> Result<Response> {
    // The passkey it was signed in with goes along: removing it still ends the session.
    let credential_id = match &live.record.subject {
        Subject::Person { credential_id, .. } => credential_id.clone(),
        Subject::Key { .. } => None,
    };
    let subject = Subject::Person {
        person_id,
        organization_id: org,
        credential_id,
    };
    let response = open_session(env, site, subject, now_ms, true).await?;
    client::session(env, &live.token_hash, &SessionInput::End).await?;
    Ok(response)
}

/// `POST /dashboard/api/person/join` `{token}`: a signed-in person accepts an
/// invitation (the link is used up, as when a new person accepts it) and acts in that
/// organization from then on.
async fn join(
    req: &mut Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let (live, person_id) = match person_call(req, env, site, address, now_ms).await? {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
    let Some((org, token_hash)) = join_token(&body) else {
        return http::error(&ApiError::invitation_invalid());
    };
    let PersonAnswer::Person(person) = client::person(env, person_id, &PersonInput::Get).await?
    else {
        return no_session(site);
    };
    if let Err(refusal) =
        passkeys::accept_invitation(env, person_id, person.name, org, token_hash).await?
    {
        return Ok(refusal);
    }
    move_session(env, site, &live, person_id, org, now_ms).await
}

/// An invitation token's organization and hash, from a join's body.
fn join_token(body: &[u8]) -> Option<(OrgId, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let token = InvitationToken::parse(value.get("token")?.as_str()?)?;
    Some((token.organization()?, token.hash_hex()))
}

/// `POST /dashboard/api/person/switch` `{organizationId}`: the signed-in person acts in
/// another organization they belong to (asked of its people guard now).
async fn switch(
    req: &mut Request,
    env: &Env,
    site: &Site,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let (live, person_id) = match person_call(req, env, site, address, now_ms).await? {
        Ok(found) => found,
        Err(response) => return Ok(response),
    };
    let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
    let org = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("organizationId")?.as_str().and_then(OrgId::parse));
    let Some(org) = org else {
        return http::error(&ApiError::invalid_field(
            Field::OrganizationId,
            "organizationId must be one of your organizations' ids",
        ));
    };
    let PersonAnswer::Person(person) = client::person(env, person_id, &PersonInput::Get).await?
    else {
        return no_session(site);
    };
    let asked = PeopleInput::Member {
        person_id,
        signed_in: false,
    };
    let is_member = person.organizations.contains(&org)
        && matches!(
            client::people(env, org, &asked).await?,
            PeopleAnswer::Member(_)
        );
    if !is_member {
        return http::error(&ApiError::not_found(
            "You are not a member of that organization",
        ));
    }
    move_session(env, site, &live, person_id, org, now_ms).await
}

/// `/dashboard/api/passkeys…`: the signed-in person's own passkeys, with the session's
/// CSRF token for every change; a person no longer a member is signed out as on any call.
async fn own_passkeys(
    req: &mut Request,
    env: &Env,
    site: &Site,
    method: &Method,
    rest: &str,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let live = match checked_session(req, env, site, method, address, now_ms).await? {
        Ok(live) => live,
        Err(response) => return Ok(response),
    };
    let Subject::Person {
        person_id,
        organization_id,
        ref credential_id,
    } = live.record.subject
    else {
        return http::error(&ApiError::invalid_request(
            "Passkeys belong to people: this session is signed in with an API key",
        ));
    };
    if let Err(response) = member(env, site, &live, person_id, organization_id).await? {
        return Ok(response);
    }
    let body = if method.has_body() {
        or_respond!(http::read_body(req, config::max_body_bytes(env)).await?)
    } else {
        Vec::new()
    };
    match (rest, method) {
        ("", Method::Get | Method::Head) => {
            passkeys::list_own(env, person_id, credential_id.as_deref()).await
        }
        ("", Method::Post) => {
            passkeys::add_own(env, person_id, organization_id, &body, now_ms).await
        }
        ("options", Method::Post) => passkeys::add_options(env, person_id, now_ms).await,
        ("" | "options", _) => {
            http::error(&ApiError::method_not_allowed(&[Method::Get, Method::Post]))
        }
        (id, Method::Patch) if !id.contains('/') => {
            passkeys::rename_own(env, person_id, id, &body).await
        }
        (id, Method::Delete) if !id.contains('/') => {
            passkeys::remove_own(env, person_id, organization_id, id).await
        }
        (id, _) if !id.contains('/') => http::error(&ApiError::method_not_allowed(&[
            Method::Patch,
            Method::Delete,
        ])),
        _ => http::error(&ApiError::not_found("No such passkeys endpoint")),
    }
}

/// `/dashboard/passkey/…`: the ceremonies (api/passkeys.rs), same-origin only; one that
/// signs a person in opens their session.
async fn passkey(
    req: &mut Request,
    env: &Env,
    site: &Site,
    step: &str,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    if cross_site(req, site, None)? {
        return http::error(&ApiError::cross_site_request());
    }
    let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
    let outcome = match step {
        "invitation" => return passkeys::invitation(env, &body).await,
        "register/options" => return passkeys::register_options(env, &body, now_ms).await,
        "signin/options" => return passkeys::signin_options(env, now_ms).await,
        "register" => passkeys::register(env, &body, now_ms).await?,
        "signin" => passkeys::signin(env, &body, address, now_ms).await?,
        "join" => passkeys::join(env, &body, address, now_ms).await?,
        "signup/options" | "signup" if !config::sign_up_open(env) => {
            return http::error(&ApiError::not_found(SIGN_UP_CLOSED))
        }
        "signup/options" => return passkeys::signup_options(env, &body, now_ms).await,
        "signup" => passkeys::signup(env, &body, address, now_ms).await?,
        _ => return http::error(&ApiError::not_found("No such passkey endpoint")),
    };
    match outcome {
        Outcome::Answer(response) => Ok(response),
        Outcome::SignedIn {
            person_id,
            organization_id,
            credential_id,
        } => {
            let subject = Subject::Person {
                person_id,
                organization_id,
                credential_id: Some(credential_id),
            };
            open_session(env, site, subject, now_ms, true).await
        }
    }
}
