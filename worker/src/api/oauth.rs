//! The OAuth 2.0 authorization server: the consent flow, the token, revocation and
//! introspection endpoints, and the metadata. Every rule is core's
//! (`scopien_auth::oauth::protocol`, `grant`, `consent`); this file moves bytes between HTTP and
//! the guards.
//!
//! ```text
//!  GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
//!  GET  /oauth/authorize   app + exact redirect URI ─► sign-in (dashboard) ─► consent page
//!  POST /oauth/authorize   Approve ─► grant begun (code) ─► 303 redirect ?code&state&iss
//!  POST /oauth/token       authorization_code | refresh_token ─► the grant's guard
//!  POST /oauth/revoke      RFC 7009            POST /oauth/introspect  RFC 7662
//! ```

use crate::api::dashboard::{
    check_key, live_session, member, too_many_failures_page, Live, Session, Site,
};
use crate::client;
use crate::config;
use crate::http::{self, or_respond, RequestUrl};
use crate::operations::{client, record_authorization, revoke_grant};
use crate::throttle::check_verdict;
use crate::throttle::{self, Verdict};
use scopien_auth::base::network::parse_address;
use scopien_auth::check::protocol::{Check, CheckAnswer};
use scopien_auth::credentials::key::hash_hex;
use scopien_auth::credentials::token::{OAuthToken, TokenKind, RANDOM_BYTES_FOR_TOKEN};
use scopien_auth::http::credential::parse_authorization;
use scopien_auth::http::route::Route;
use scopien_auth::ids::{Actor, Approver, OrgId};
use scopien_auth::keys::admin::Caller;
use scopien_auth::oauth::consent::{
    consent_page, error_page, origin_of, page_headers, sign_in_then, switch_account, Consent,
    PersonApproving,
};
use scopien_auth::oauth::grant::{begin, created_event, GrantAnswer, GrantInput};
use scopien_auth::oauth::protocol::{
    authorize_client_id, metadata, parse_endpoint_request, parse_scope, redirect_to,
    validate_authorize, AuthorizeError, AuthorizeRequest, ClientAuth, ClientId, GrantId, Params,
    RANDOM_BYTES_FOR_GRANT_ID,
};
use scopien_auth::org::{OrgAnswer, OrgInput, MAX_ACTIVE_GRANTS_PER_APP};
use scopien_auth::people::members::{PeopleAnswer, PeopleInput, APPROVALS_PRUNED_ABOVE};
use scopien_auth::people::role::{Operation, Role};
use scopien_auth::policy::error::OAuthError;
use scopien_auth::policy::scope::Grants;
use scopien_auth::session::Subject;
use scopien_auth::session::{clear_cookie, csrf_matches, same_origin, SessionInput};
use scopien_auth::{ApiError, KeyType, Method};
use worker::{Env, Request, Response, Result};

use scopien_auth::http::route::OAUTH_METADATA_PATH as METADATA;
const AUTHORIZE: &str = "/oauth/authorize";
const TOKEN: &str = "/oauth/token";
const REVOKE: &str = "/oauth/revoke";
const INTROSPECT: &str = "/oauth/introspect";

/// Answers an OAuth request.
pub(crate) async fn handle(
    req: &mut Request,
    env: &Env,
    url: &RequestUrl,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    // The issuer is configured, never the request's Host: a client must not choose
    // what the metadata and the redirect's `iss` (RFC 9207) name.
    let issuer = or_respond!(config::public_url(env));
    let issuer = &*issuer;
    let method =
        or_respond!(Method::parse(&req.inner().method()).map_err(|_| ApiError::invalid_method()));
    match (url.path(), &method) {
        (METADATA, Method::Get | Method::Head) => {
            let response = http::json(200, &metadata(issuer))?;
            http::with_headers(response, [("Cache-Control", "public, max-age=300")])
        }
        (AUTHORIZE, Method::Get | Method::Head) => {
            authorize(req, env, url, issuer, address, now_ms).await
        }
        (AUTHORIZE, Method::Post) => decide(req, env, url, issuer, address, now_ms).await,
        (TOKEN | REVOKE | INTROSPECT, Method::Post) => {
            let result = endpoint(req, env, url.path(), address, now_ms).await?;
            match result {
                Ok(response) => Ok(response),
                Err(error) => oauth_error(&error),
            }
        }
        (METADATA, _) => http::error(&ApiError::method_not_allowed(&[Method::Get, Method::Head])),
        (AUTHORIZE, _) => http::error(&ApiError::method_not_allowed(&[Method::Get, Method::Post])),
        (TOKEN | REVOKE | INTROSPECT, _) => {
            http::error(&ApiError::method_not_allowed(&[Method::Post]))
        }
        _ => http::error(&ApiError::not_found("No such OAuth endpoint")),
    }
}

/// An RFC 6749 §5.2 error response.
fn oauth_error(error: &OAuthError) -> Result<Response> {
    let headers = error.headers();
    let response = http::json_text(error.status, error.body())?;
    http::with_headers(response, headers.iter().map(|(n, v)| (*n, v.as_str())))
}

/// An HTML page with the OAuth pages' headers.
fn html(status: u16, body: String, redirect_origin: Option<&str>) -> Result<Response> {
    let headers = page_headers(redirect_origin);
    let response = Response::from_bytes(body.into_bytes())?.with_status(status);
    http::with_headers(response, headers.iter().map(|(n, v)| (*n, v.as_str())))
}

/// Who approves on the consent page, and what they may give.
struct Approving {
    /// The admin key signed in, or the person.
    approver: Approver,
    /// The organization they act for.
    organization_id: OrgId,
    /// The grant's mode: the key's, or for a person the app's.
    key_type: KeyType,
    /// What they may give an app: the key's grants, or the person's role's bound.
    grants: Grants,
    /// Shown as "Signed in with": the key's id, or the person's email.
    shown: String,
    /// The person's role (what bounds their approval); `None` for a key.
    role: Option<Role>,
    /// The operator's root key (no key record to read again).
    root: bool,
}

impl Approving {
    /// What bounds the approval, in the pages' words.
    fn holder(&self) -> &'static str {
        match self.approver {
            Approver::Key(_) => "key",
            Approver::Person(_) => "role",
        }
    }
}

/// Who the signed-in session approves as: an admin key (checked by its guard, of the
/// app's mode), or a person (a member of their organization now, bounded by their
/// role, [`scopien_auth::people::role::Role::app_grants`]).
async fn approving(
    env: &Env,
    site: &Site,
    live: &Live,
    app_mode: KeyType,
    address: Option<&str>,
) -> Result<std::result::Result<Approving, Response>> {
    if let Subject::Person {
        person_id,
        organization_id,
        ..
    } = &live.record.subject
    {
        let (person_id, org) = (*person_id, *organization_id);
        let member = match member(env, site, live, person_id, org).await? {
            Ok(member) => member,
            Err(_) => {
                return Ok(Err(error_html(
                    "You are no longer a member of this organization; sign in again",
                )?))
            }
        };
        return Ok(Ok(Approving {
            approver: Approver::Person(person_id),
            organization_id: org,
            key_type: app_mode,
            grants: member.role.app_grants(),
            shown: member.email,
            role: Some(member.role),
            root: false,
        }));
    }
    let Some(key_id) = live.record.key_id() else {
        return Ok(Err(error_html("Sign in again")?));
    };
    let admitted = match check_key(env, site, live, &Route::Keys, &Method::Get, address).await? {
        Ok(admitted) => admitted,
        Err(response) => return Ok(Err(response)),
    };
    if let Some(message) = other_mode(app_mode, admitted.key_type) {
        return Ok(Err(error_html(message)?));
    }
    Ok(Ok(Approving {
        approver: Approver::Key(key_id),
        organization_id: admitted.organization_id,
        key_type: admitted.key_type,
        grants: admitted.grants,
        shown: key_id.to_string(),
        role: None,
        root: admitted.actor == Actor::Root,
    }))
}

fn error_html(message: &str) -> Result<Response> {
    html(400, error_page(message), None)
}

/// 303 to `location`, never cached.
fn see_other(location: &str) -> Result<Response> {
    let response = Response::empty()?.with_status(303);
    http::with_headers(
        response,
        [("Location", location), ("Cache-Control", "no-store")],
    )
}

/// The request's parameters checked against its app (with the app's name and mode):
/// `Ok(Err(response))` when it ends here (an error page, or an error sent back to the
/// app).
async fn validated(
    env: &Env,
    params: &Params,
    issuer: &str,
    address: Option<&str>,
    now_ms: u64,
) -> Result<std::result::Result<(AuthorizeRequest, String, KeyType), Response>> {
    let answer = |error: AuthorizeError| match error.redirect_url(issuer) {
        Some(url) => see_other(&url),
        None => match error {
            AuthorizeError::Page(message) => error_html(&message),
            AuthorizeError::Redirect { .. } => error_html("The request cannot be completed"),
        },
    };
    let id = match authorize_client_id(params) {
        Ok(id) => id,
        Err(error) => return Ok(Err(answer(error)?)),
    };
    // An unknown app is a failed guess of the address, like a wrong key.
    let id_text = id.to_string();
    let asked = throttle::guarded(
        env,
        address,
        &id_text,
        &hash_hex(id_text.as_bytes()),
        now_ms,
        client(env, id),
        |app| match app {
            Some(_) => Verdict::Proved,
            None => Verdict::Failed,
        },
    )
    .await?;
    let app = match asked {
        Ok(app) => app,
        Err(until) => return Ok(Err(too_many_failures_page(until, now_ms)?)),
    };
    match validate_authorize(params, app.as_ref()) {
        Ok(request) => {
            let (name, mode) = app.map_or((String::new(), KeyType::Live), |a| (a.name, a.mode));
            Ok(Ok((request, name, mode)))
        }
        Err(error) => Ok(Err(answer(error)?)),
    }
}

/// Why a key of `key_type` may not approve an app of `app_mode`: a grant takes its
/// approving key's mode, and a test app (which test-mode admins manage) must never hold
/// a live grant, nor a test key give one to a live app.
fn other_mode(app_mode: KeyType, key_type: KeyType) -> Option<&'static str> {
    match (app_mode, key_type) {
        (KeyType::Test, KeyType::Live) => {
            Some("This is a test app: approve it with a test key (sign in with an sk_test_ key)")
        }
        (KeyType::Live, KeyType::Test) => {
            Some("This is a live app: approve it with a live key (sign in with an sk_live_ key)")
        }
        _ => None,
    }
}

fn params_of(text: &[u8]) -> std::result::Result<Params, String> {
    let pairs = scopien_auth::base::form::pairs(text)
        .ok_or_else(|| "The request is not valid form encoding (UTF-8, %XX escapes)".to_owned())?;
    Params::from_pairs(pairs).map_err(|name| {
        format!(
            "The parameter '{}' is sent more than once",
            scopien_auth::policy::error::printable(&name)
        )
    })
}

/// `GET /oauth/authorize`: the consent page for a signed-in person; without a session,
/// the dashboard's sign-in, which comes back here.
async fn authorize(
    req: &Request,
    env: &Env,
    url: &RequestUrl,
    issuer: &str,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let params = match params_of(url.query().unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(message) => return error_html(&message),
    };
    let (request, app_name, app_mode) =
        match validated(env, &params, issuer, address, now_ms).await? {
            Ok(valid) => valid,
            Err(response) => return Ok(response),
        };
    let site = Site::of(url);
    let live = match live_session(req, env, &site, address, now_ms).await? {
        Session::Live(live) => live,
        Session::Refused(until) => return too_many_failures_page(until, now_ms),
        Session::Missing | Session::Unknown => {
            let back = format!("{}?{}", url.path(), url.query().unwrap_or_default());
            return see_other(&sign_in_then(&back));
        }
    };
    let approving = match approving(env, &site, &live, app_mode, address).await? {
        Ok(approving) => approving,
        Err(response) => return Ok(response),
    };
    let default_plan = or_respond!(config::plan(env));
    let org = approving.organization_id;
    let org_name = crate::operations::org_record(env, org, default_plan)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let consent = Consent {
        request: &request,
        app_name: &app_name,
        org_name: &org_name,
        org_id: org.to_string(),
        key_id: approving.shown.clone(),
        person: approving.role.map(|role| PersonApproving {
            role: role.as_str(),
            may_give: role.app_grants(),
            may_revoke: role.may(Operation::WriteApps),
        }),
        csrf_token: &live.record.csrf_token,
        missing: approving.grants.covers(&request.scopes).err(),
    };
    html(
        200,
        consent_page(&consent),
        Some(origin_of(&request.redirect_uri)),
    )
}

/// `POST /oauth/authorize`: the person's decision, from the consent page (same origin,
/// the session's CSRF token). Approve begins the grant and sends the code to the app.
async fn decide(
    req: &mut Request,
    env: &Env,
    url: &RequestUrl,
    issuer: &str,
    address: Option<&str>,
    now_ms: u64,
) -> Result<Response> {
    let site = Site::of(url);
    let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
    let params = match params_of(&body) {
        Ok(params) => params,
        Err(message) => return error_html(&message),
    };
    let live = match live_session(req, env, &site, address, now_ms).await? {
        Session::Live(live) => live,
        Session::Refused(until) => return too_many_failures_page(until, now_ms),
        Session::Missing | Session::Unknown => {
            return error_html("Your dashboard session has ended; start again from the app")
        }
    };
    let origin = req.headers().get("Origin")?;
    let fetch_site = req.headers().get("Sec-Fetch-Site")?;
    let from_here = same_origin(origin.as_deref(), fetch_site.as_deref(), &site.origin)
        && csrf_matches(params.get("csrf_token"), &live.record.csrf_token);
    if !from_here {
        return html(
            403,
            error_page(
                "This decision did not come from the consent page; start again from the app",
            ),
            None,
        );
    }
    let (request, app_name, app_mode) =
        match validated(env, &params, issuer, address, now_ms).await? {
            Ok(valid) => valid,
            Err(response) => return Ok(response),
        };
    let with_state = |mut pairs: Vec<(&'static str, String)>| {
        if let Some(state) = &request.state {
            pairs.push(("state", state.clone()));
        }
        pairs.push(("iss", issuer.to_owned()));
        pairs
    };
    let send = |pairs: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        see_other(&redirect_to(&request.redirect_uri, &pairs))
    };
    // "Not you? Sign out": the session ends, and the same request goes back through the
    // sign-in, for whoever signs in next.
    if params.get("decision") == Some("switch") {
        let _ = client::session(env, &live.token_hash, &SessionInput::End).await?;
        return http::with_headers(
            see_other(&switch_account(&params))?,
            [("Set-Cookie", clear_cookie(site.https).as_str())],
        );
    }
    if params.get("decision") != Some("approve") {
        return send(with_state(vec![
            ("error", "access_denied".into()),
            ("error_description", "The user denied the request".into()),
        ]));
    }
    let approving = match approving(env, &site, &live, app_mode, address).await? {
        Ok(approving) => approving,
        Err(response) => return Ok(response),
    };
    if let Err(missing) = approving.grants.covers(&request.scopes) {
        return error_html(&format!(
            "Your {} cannot grant '{}' on {}",
            approving.holder(),
            missing.scope.as_str(),
            missing.resource
        ));
    }
    let default_plan = or_respond!(config::plan(env));
    let approving_org = approving.organization_id;
    let grant = GrantId::generate(&crate::platform::random_bytes::<RANDOM_BYTES_FOR_GRANT_ID>()?);
    let code = OAuthToken::generate(
        TokenKind::Code,
        grant,
        &crate::platform::random_bytes::<RANDOM_BYTES_FOR_TOKEN>()?,
    );
    // A grant derives from three things; it is listed by each before it reads its terms
    // (ARCHITECTURE.md, "Derived authority"), so a change of any of them that is not in
    // what it reads reaches it by a push, even before it begins.
    // 1. The app's organization: deleting the app or suspending its organization from
    //    then on reaches the grant; an app already gone or suspended gets none.
    let owner_org = request.client_id.organization();
    let remember = OrgInput::AddClientGrant {
        client_id: request.client_id,
        grant_id: grant,
        default: crate::operations::default_record(owner_org, default_plan),
    };
    let owner = match client::org(env, owner_org, &remember).await? {
        OrgAnswer::Org(owner) => owner.terms(),
        OrgAnswer::Suspended => return error_html("This app is suspended"),
        _ => return error_html("This app no longer exists"),
    };
    // 2. The approving organization: listed in its Authorized apps (as the approving
    //    key's) before the key is read again.
    let mut record = begin(
        &request,
        grant,
        &code,
        &app_name,
        approving_org,
        approving.key_type,
        approving.approver,
        scopien_auth::org::OrgRecord::default_org(default_plan).terms(),
        now_ms,
    );
    let join = OrgInput::JoinAuthorization {
        view: record.authorization_view(),
        event: created_event(&record),
        default: crate::operations::default_record(approving_org, default_plan),
    };
    record.terms = match client::org(env, approving_org, &join).await? {
        OrgAnswer::Org(org) => org.terms(),
        OrgAnswer::Suspended => return error_html("Your organization is suspended"),
        OrgAnswer::TooManyGrants => {
            return error_html(&format!(
                "Your organization has authorized this app {MAX_ACTIVE_GRANTS_PER_APP} times; revoke an authorization under Authorized apps first"
            ))
        }
        _ => return error_html("Your organization no longer exists"),
    };
    record.owner = Some(owner);
    // 3. The approver, read after the listing: a change of the key (or of the person's
    //    membership) before this read is in it, one after it is pushed to the grant. A
    //    person's people guard lists the grant under them and reads their terms in one
    //    step.
    let mut prune_approvals_of = None;
    let approver = match approving.approver {
        Approver::Key(_) if approving.root => None,
        Approver::Key(key_id) => Some(crate::operations::approver_terms(env, key_id).await?),
        Approver::Person(person_id) => {
            let approve = PeopleInput::Approve {
                person_id,
                grant_id: grant,
            };
            Some(match client::people(env, approving_org, &approve).await? {
                PeopleAnswer::Approver { terms, listed } => {
                    if listed > APPROVALS_PRUNED_ABOVE {
                        prune_approvals_of = Some(person_id);
                    }
                    Some(terms)
                }
                _ => None,
            })
        }
    };
    if let Some(approver) = approver {
        let holds = approver
            .as_ref()
            .is_some_and(|a| a.in_force_at(now_ms) && a.grants.covers(&request.scopes).is_ok());
        if !holds {
            let (view, actor) = (record.authorization_view(), created_event(&record).actor);
            let reason = "Its approving key no longer held what it granted";
            end_listing(env, view, actor, reason, now_ms).await;
            return error_html(&format!(
                "Your {} can no longer grant this; start again from the app",
                approving.holder()
            ));
        }
        record.approver = approver;
    }
    let (view, record_actor) = (record.authorization_view(), created_event(&record).actor);
    match client::grant(env, grant, &GrantInput::Begin(record)).await? {
        GrantAnswer::Begun => {}
        _ => {
            let reason = "Its app was deleted while consent was given";
            end_listing(env, view, record_actor, reason, now_ms).await;
            return error_html("This app no longer exists");
        }
    }
    if let Some(person_id) = prune_approvals_of {
        crate::operations::prune_person_approvals(env, approving_org, person_id).await;
    }
    send(with_state(vec![("code", code.expose_secret().to_owned())]))
}

/// Marks a grant listed for a consent that did not finish as revoked, so that it is
/// neither shown nor counted as active.
async fn end_listing(
    env: &Env,
    view: scopien_auth::oauth::protocol::AuthorizationView,
    actor: Actor,
    reason: &str,
    now_ms: u64,
) {
    let (view, event) = scopien_auth::oauth::grant::unfinished(view, actor, reason, now_ms);
    record_authorization(env, view, event).await;
}

/// The token, revocation and introspection endpoints: parse, authenticate the app (or,
/// for introspection, an admin key), then the grant's guard.
async fn endpoint(
    req: &mut Request,
    env: &Env,
    path: &str,
    address: Option<&str>,
    now_ms: u64,
) -> Result<std::result::Result<Response, OAuthError>> {
    let body = match http::read_body(req, config::max_body_bytes(env)).await? {
        Ok(body) => body,
        Err(error) => return Ok(Err(OAuthError::invalid_request(&error.details))),
    };
    let content_type = req.headers().get("Content-Type")?;
    let authorization = req.headers().get("Authorization")?;
    let bearer = authorization.as_deref().is_some_and(|a| {
        a.trim_start()
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
    });
    let basic = if bearer {
        None
    } else {
        authorization.as_deref()
    };
    let (params, auth) = match parse_endpoint_request(content_type.as_deref(), &body, basic) {
        Ok(parsed) => parsed,
        Err(error) => return Ok(Err(error)),
    };
    if path == INTROSPECT && bearer {
        let at = Attempt { address, now_ms };
        return introspect_as_admin(env, &params, authorization.as_deref(), at).await;
    }
    let client_id = match authenticate(env, auth, Attempt { address, now_ms }).await? {
        Ok(id) => id,
        Err(error) => return Ok(Err(error)),
    };
    let at = Attempt { address, now_ms };
    match path {
        TOKEN => token(env, &params, client_id, at).await,
        REVOKE => {
            if let Some(token) = params.get("token").and_then(OAuthToken::parse) {
                let input = GrantInput::Revoke {
                    client_id: Some(client_id),
                    organization: None,
                    actor: Actor::App {
                        client_id,
                        grant_id: token.grant(),
                    },
                    reason: None,
                    only: None,
                };
                // A token that revokes nothing (unknown, not this app's, revoked
                // already) is a failed guess; RFC 7009 §2.2 still answers it 200.
                let revoked = at
                    .guarded(
                        env,
                        &token,
                        revoke_grant(env, token.grant(), &input),
                        |revoked| match revoked {
                            Some(_) => Verdict::Proved,
                            None => Verdict::Failed,
                        },
                    )
                    .await?;
                if let Err(refused) = revoked {
                    return Ok(Err(refused));
                }
            } else if params.get("token").is_none() {
                return Ok(Err(OAuthError::invalid_request("token is required")));
            }
            // RFC 7009 §2.2: an unknown or already invalid token is answered 200 too.
            let response = Response::empty()?.with_status(200);
            Ok(Ok(http::with_headers(
                response,
                [("Cache-Control", "no-store")],
            )?))
        }
        _ => introspect(env, &params, Some(client_id), (None, None), at).await,
    }
}

/// Where and when a credential is tried at the token, revocation or introspection
/// endpoint: what the throttle's gate needs.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    address: Option<&'a str>,
    now_ms: u64,
}

impl Attempt<'_> {
    /// `ask` about `token` through the throttle's gate; a refused address is answered
    /// 429 in RFC 6749's shape.
    async fn guarded<T>(
        self,
        env: &Env,
        token: &OAuthToken,
        ask: impl std::future::Future<Output = Result<T>>,
        verdict: impl FnOnce(&T) -> Verdict,
    ) -> Result<std::result::Result<T, OAuthError>> {
        let hash = token.hash_hex();
        let asked = throttle::guarded(
            env,
            self.address,
            token.grant_chars(),
            &hash,
            self.now_ms,
            ask,
            verdict,
        )
        .await?;
        Ok(asked.map_err(|until| self.refused(until)))
    }

    fn refused(self, until_ms: u64) -> OAuthError {
        OAuthError::too_many_failures_until(until_ms, self.now_ms)
    }
}

/// The app's id after checking its credentials, through the throttle's gate: an
/// unknown app or a wrong secret is a failed authentication of the client's address,
/// like a wrong key.
async fn authenticate(
    env: &Env,
    auth: Option<ClientAuth>,
    at: Attempt<'_>,
) -> Result<std::result::Result<ClientId, OAuthError>> {
    let Some(auth) = auth else {
        return Ok(Err(OAuthError::invalid_client("Authenticate the app: HTTP Basic, client_id and client_secret in the body, or client_id alone for a public app")));
    };
    let Some(id) = auth.client_id() else {
        // Malformed: no app has it and no guard is asked, so it is not counted.
        if let Some(until) = throttle::blocked_for(at.address, None, at.now_ms) {
            return Ok(Err(at.refused(until)));
        }
        return Ok(auth.verify(None));
    };
    let id_text = id.to_string();
    // The id and the secret tell guesses apart; nothing of it is kept.
    let fingerprint = match &auth {
        ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => {
            hash_hex(format!("{id_text}:{secret}").as_bytes())
        }
        ClientAuth::None { .. } => hash_hex(id_text.as_bytes()),
    };
    let verified = async { Ok(auth.verify(client(env, id).await?.as_ref())) };
    let asked = throttle::guarded(
        env,
        at.address,
        &id_text,
        &fingerprint,
        at.now_ms,
        verified,
        |verified| match verified {
            Ok(_) => Verdict::Proved,
            Err(_) => Verdict::Failed,
        },
    )
    .await?;
    Ok(asked.unwrap_or_else(|until| Err(at.refused(until))))
}

async fn token(
    env: &Env,
    params: &Params,
    client_id: ClientId,
    at: Attempt<'_>,
) -> Result<std::result::Result<Response, OAuthError>> {
    let (token, input) = match params.get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = params
                .get("code")
                .and_then(|c| OAuthToken::parse_kind(c, TokenKind::Code))
            else {
                return Ok(Err(OAuthError::invalid_grant(
                    "The authorization code is invalid, expired, already used or revoked",
                )));
            };
            let input = GrantInput::Exchange {
                code_hash: code.hash_hex(),
                client_id,
                redirect_uri: params.get("redirect_uri").map(str::to_owned),
                verifier: params.get("code_verifier").map(str::to_owned),
            };
            (code, input)
        }
        Some("refresh_token") => {
            let Some(token) = params
                .get("refresh_token")
                .and_then(|t| OAuthToken::parse_kind(t, TokenKind::Refresh))
            else {
                return Ok(Err(OAuthError::invalid_grant(
                    "The refresh token is invalid, expired or revoked",
                )));
            };
            let scope = match params.get("scope").map(parse_scope).transpose() {
                Ok(scope) => scope,
                Err(why) => return Ok(Err(OAuthError::invalid_scope(&why))),
            };
            let input = GrantInput::Refresh {
                token_hash: token.hash_hex(),
                client_id,
                scope,
            };
            (token, input)
        }
        Some(_) => {
            return Ok(Err(OAuthError::unsupported_grant_type(
                "grant_type must be authorization_code or refresh_token",
            )))
        }
        None => return Ok(Err(OAuthError::invalid_request("grant_type is required"))),
    };
    // A code or refresh token that does not work (unknown, used, wrong verifier) is a
    // failed guess. A revocation the request caused is listed whatever the throttle says.
    let asked = async {
        let answer = client::grant(env, token.grant(), &input).await?;
        if let GrantAnswer::OAuthRefused {
            revoked: Some((view, event)),
            ..
        } = &answer
        {
            record_authorization(env, view.clone(), event.clone()).await;
        }
        Ok(answer)
    };
    let answer = at
        .guarded(env, &token, asked, |answer| match answer {
            GrantAnswer::Tokens(_) => Verdict::Proved,
            GrantAnswer::OAuthRefused { error, .. } if error.error == "invalid_grant" => {
                Verdict::Failed
            }
            _ => Verdict::Neither,
        })
        .await?;
    let answer = match answer {
        Ok(answer) => answer,
        Err(refused) => return Ok(Err(refused)),
    };
    match answer {
        GrantAnswer::Tokens(tokens) => {
            let response = http::json(200, &tokens)?;
            Ok(Ok(http::with_headers(
                response,
                [("Cache-Control", "no-store"), ("Pragma", "no-cache")],
            )?))
        }
        GrantAnswer::OAuthRefused { error, .. } => Ok(Err(error)),
        _ => Err(crate::client::unexpected_answer("grant guard")),
    }
}

/// RFC 7662 for the app itself (`client_id`) or an admin of an organization, limited to
/// grants of one type for a test-mode admin (`admin`: its organization and that type).
async fn introspect(
    env: &Env,
    params: &Params,
    client_id: Option<ClientId>,
    (organization, only): (
        Option<scopien_auth::ids::OrgId>,
        Option<scopien_auth::KeyType>,
    ),
    at: Attempt<'_>,
) -> Result<std::result::Result<Response, OAuthError>> {
    let Some(text) = params.get("token") else {
        return Ok(Err(OAuthError::invalid_request("token is required")));
    };
    let answer = match OAuthToken::parse(text).filter(|t| t.kind() != TokenKind::Code) {
        Some(token) => {
            let input = GrantInput::Introspect {
                token_hash: token.hash_hex(),
                kind: token.kind(),
                client_id,
                organization,
                only,
            };
            // A token that is not active (unknown, expired, revoked, not the caller's)
            // is a failed guess.
            let asked = at
                .guarded(
                    env,
                    &token,
                    client::grant(env, token.grant(), &input),
                    |answer| match answer {
                        GrantAnswer::Introspection(found) if found.active => Verdict::Proved,
                        GrantAnswer::Introspection(_) => Verdict::Failed,
                        _ => Verdict::Neither,
                    },
                )
                .await?;
            match asked {
                Ok(GrantAnswer::Introspection(found)) => found,
                Ok(_) => return Err(crate::client::unexpected_answer("grant guard")),
                Err(refused) => return Ok(Err(refused)),
            }
        }
        None => Default::default(),
    };
    let response = http::json(200, &answer)?;
    Ok(Ok(http::with_headers(
        response,
        [("Cache-Control", "no-store")],
    )?))
}

/// Introspection with an admin key (`Authorization: Bearer sk_…`): tokens of grants its
/// organization gave (any, for the root key).
async fn introspect_as_admin(
    env: &Env,
    params: &Params,
    authorization: Option<&str>,
    at: Attempt<'_>,
) -> Result<std::result::Result<Response, OAuthError>> {
    let unauthorized = || OAuthError::invalid_client("The admin key is invalid");
    let Ok(key) = parse_authorization(authorization) else {
        // Malformed: no guard is asked, so it is not counted.
        if let Some(until) = throttle::blocked_for(at.address, None, at.now_ms) {
            return Ok(Err(at.refused(until)));
        }
        return Ok(Err(unauthorized()));
    };
    let hash = key.hash_hex();
    let root = match (config::root_key(env), config::plan(env)) {
        (Ok(Some(root)), Ok(plan)) => root.recognise(&key, &hash, plan),
        _ => None,
    };
    let check = Check {
        hash: hash.clone(),
        requirement: Route::Keys.requirement(&Method::Get, &[]),
        address: at.address.and_then(parse_address),
    };
    let asked = throttle::guarded(
        env,
        at.address,
        key.id_chars(),
        &hash,
        at.now_ms,
        client::check(env, key.id(), check, root),
        check_verdict,
    )
    .await?;
    match asked {
        Ok(CheckAnswer::Admitted(admitted)) => {
            let caller = Caller::of(&admitted);
            // A test-mode admin's introspection of a live token: `active: false`.
            let limits = (caller.organization, caller.only_mode());
            introspect(env, params, None, limits, at).await
        }
        Ok(CheckAnswer::Refused { refusal, .. }) => {
            if refusal.is_failed_authentication() {
                return Ok(Err(unauthorized()));
            }
            Ok(Err(OAuthError {
                status: 403,
                ..OAuthError::invalid_request(&refusal.error().details)
            }))
        }
        Err(until) => Ok(Err(at.refused(until))),
    }
}
