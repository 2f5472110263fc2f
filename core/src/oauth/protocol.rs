//! OAuth 2.0 for third-party apps, with no I/O: apps (clients) and their registration
//! rules, the token formats, the authorization request, the token request, and the
//! answers' bodies. The grant's own life (codes, tokens, rotation, revocation, the
//! check on every request) is [`crate::oauth::grant`].
//!
//! ```text
//!  GET  /oauth/authorize  client + exact redirect URI ─► consent (dashboard sign-in)
//!        approve ─► GrantGuard(grant id) holds the code ─► redirect ?code&state&iss
//!  POST /oauth/token      code + PKCE verifier ─► sat_ access + srt_ refresh
//!                         refresh ─► rotated pair; a rotated-out refresh revokes all
//!  Authorization: Bearer sat_… ─► the grant's guard, like a key's
//! ```
//!
//! Tokens are split like keys: `sat_`/`srt_`/`sac_` + 16-char grant id (names the
//! grant's Durable Object) + 32-char secret + 6-char CRC-32 checksum; only their SHA-256
//! is stored. Following RFC 9700: PKCE S256 for every client, exact redirect URIs,
//! single-use 60 s codes, refresh rotation with reuse detection, `iss` on the redirect.

use crate::base::base64::{base64_decode, base64url};
use crate::base::constant_time;
use crate::base::timestamp::Timestamp;
use crate::credentials::key::{hash_hex, KeyType};
use crate::ids::OrgId;
use crate::policy::body::{name, object};
use crate::policy::error::{printable, ApiError, Field, OAuthError};
use crate::policy::scope::{Grants, Scope, ScopeSet};
use core::fmt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// An authorization code lives this long (RFC 9700 §4.2: short-lived).
pub const CODE_TTL_MS: u64 = 60_000;
/// An access token lives this long.
pub const ACCESS_TTL_MS: u64 = 60 * 60 * 1000;
/// A refresh token lives this long after it is issued; each rotation starts anew.
pub const REFRESH_TTL_MS: u64 = 30 * 24 * 60 * 60 * 1000;
/// Rotated-out refresh tokens a grant remembers, to recognise a replay.
pub const RETIRED_REFRESH_KEPT: usize = 64;
/// Apps an organization may register.
pub const MAX_CLIENTS_PER_ORG: usize = 100;
/// Redirect URIs an app may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;
pub use crate::ids::{ClientId, GrantId, RANDOM_BYTES_FOR_CLIENT_ID, RANDOM_BYTES_FOR_GRANT_ID};
/// Confidential apps authenticate with a secret; public ones (in a browser or on a
/// device) cannot keep one and rely on PKCE alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// Has a secret.
    Confidential,
    /// Has none.
    Public,
}

/// An app as its organization's guard stores it. Never holds the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRecord {
    /// `app_…`
    pub id: ClientId,
    /// A name people see on the consent page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The most it may ask for.
    pub scopes: Grants,
    /// Confidential or public.
    #[serde(rename = "type")]
    pub client_type: ClientType,
    /// SHA-256 hex of the secret (confidential apps).
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Created, ms.
    pub created_ms: u64,
    /// Test or live: the type of the key that registered it. A test-mode admin sees and
    /// manages only test apps; an app registered before modes is live.
    #[serde(default = "live")]
    pub mode: KeyType,
}

fn live() -> KeyType {
    KeyType::Live
}

/// An app as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    /// `app_…`
    pub client_id: ClientId,
    /// Its name.
    pub name: String,
    /// Its organization.
    pub organization_id: OrgId,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The most it may ask for.
    pub scopes: Grants,
    /// `confidential` or `public`.
    #[serde(rename = "type")]
    pub client_type: ClientType,
    /// `test` or `live`: the type of the key that registered it.
    pub mode: KeyType,
    /// When.
    pub created_at: Timestamp,
}

/// A new app and its secret, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevealedClient {
    /// The app.
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret (confidential apps), never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ClientRecord {
    /// The API's view.
    pub fn view(&self) -> ClientView {
        ClientView {
            client_id: self.id,
            name: self.name.clone(),
            organization_id: self.id.organization(),
            redirect_uris: self.redirect_uris.clone(),
            scopes: self.scopes.clone(),
            client_type: self.client_type,
            mode: self.mode,
            created_at: Timestamp(self.created_ms),
        }
    }

    /// Whether `secret` is this app's (constant time). A public app has none to match.
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash.as_ref().is_some_and(|expected| {
            constant_time::eq(hash_hex(secret.as_bytes()).as_bytes(), expected.as_bytes())
        })
    }

    /// The redirect URI a request may use: one registered, byte for byte; with none
    /// named, the only one registered. One exception, RFC 8252 §7.3's for native apps: a
    /// loopback IP URI registered without a port (`http://127.0.0.1/cb`) accepts the
    /// same URI with any port, since the app listens on whatever port its system gives
    /// it. A URI registered with a port matches only that port.
    pub fn redirect_uri<'a>(&'a self, named: Option<&'a str>) -> Option<&'a str> {
        match named {
            Some(uri) => self
                .redirect_uris
                .iter()
                .find(|r| r.as_str() == uri)
                .map(String::as_str)
                .or_else(|| {
                    let portless = loopback_without_port(uri)?;
                    self.redirect_uris.contains(&portless).then_some(uri)
                }),
            None if self.redirect_uris.len() == 1 => Some(self.redirect_uris[0].as_str()),
            None => None,
        }
    }
}

/// `http://127.0.0.1:PORT/…` or `http://[::1]:PORT/…` with its port removed; `None` for
/// anything else (other hosts, no port, https).
fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = authority.rsplit_once(':')?;
    let loopback = host == "127.0.0.1" || host == "[::1]";
    (loopback && is_port(port)).then(|| format!("http://{host}{path}"))
}

/// A port as one spelling only: 1 to 65535 in decimal, no leading zero. `0`, `99999`
/// or `08080` are refused: URL parsers disagree on them (a leading zero is dropped by
/// some, `0` is "any port" to a socket), so an app could be sent elsewhere than the
/// URI shown.
fn is_port(port: &str) -> bool {
    !port.starts_with('0')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

fn invalid(details: impl Into<String>) -> ApiError {
    ApiError::invalid_request(details)
}

/// Checks a redirect URI for registration: https, or http on a loopback address (RFC
/// 8252 §7.3); no fragment, no wildcard, no user info, nothing a browser would rewrite.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let shown = printable(uri);
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "redirectUris entries must be at most {MAX_REDIRECT_URI_LEN} characters"
        ));
    }
    if uri.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'\\') {
        return Err(format!(
            "redirect URI '{shown}' has spaces, control or non-ASCII characters; percent-encode them"
        ));
    }
    if uri.contains('#') {
        return Err(format!(
            "redirect URI '{shown}' has a fragment; fragments are not allowed"
        ));
    }
    if uri.contains('*') {
        return Err(format!(
            "redirect URI '{shown}' has a wildcard; register each URI exactly"
        ));
    }
    let (https, rest) = if let Some(rest) = uri.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = uri.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("redirect URI '{shown}' must start with https://"));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "redirect URI '{shown}' has user info; it is not allowed"
        ));
    }
    let host_chars =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']');
    if !authority.bytes().all(host_chars) {
        return Err(format!(
            "redirect URI '{shown}' has a host with characters a host name cannot have"
        ));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")),
        None => authority.split(':').next().map(str::to_owned),
    }
    .unwrap_or_default();
    if host.is_empty() {
        return Err(format!("redirect URI '{shown}' has no host"));
    }
    let port_ok = match authority.rsplit_once(':') {
        Some((before, port)) if !before.is_empty() && !port.contains(']') => is_port(port),
        _ => true,
    };
    if !port_ok {
        return Err(format!(
            "redirect URI '{shown}' has an invalid port; use 1 to 65535, without leading zeros"
        ));
    }
    let loopback = matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost");
    if !https && !loopback {
        return Err(format!(
            "redirect URI '{shown}' must use https (http only on 127.0.0.1, [::1] or localhost)"
        ));
    }
    Ok(())
}

/// The scopes an app may ask for: the key's vocabulary without `admin` (the management
/// API stays with keys).
fn check_app_scopes(grants: &Grants) -> Result<(), String> {
    let has_admin = match grants {
        Grants::Everywhere(set) => set.allows(Scope::Admin),
        Grants::PerResource(map) => map.values().any(|s| s.allows(Scope::Admin)),
    };
    if has_admin {
        return Err("apps cannot be given admin; use read, write and delete".into());
    }
    Ok(())
}

/// A validated `POST /v1/oauth-clients` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewClient {
    /// Its name.
    pub name: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The most it may ask for.
    pub scopes: Grants,
    /// Confidential or public.
    pub client_type: ClientType,
    /// The organization named in the body (the root key's choice).
    pub organization_id: Option<OrgId>,
}

fn field_redirect_uris(value: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = |details: String| ApiError::invalid_field(Field::RedirectUris, details);
    let items = value
        .as_array()
        .ok_or_else(|| invalid("redirectUris must be a list of URIs".into()))?;
    if items.is_empty() || items.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!(
            "redirectUris must list 1 to {MAX_REDIRECT_URIS} URIs"
        )));
    }
    let mut uris: Vec<String> = Vec::new();
    for item in items {
        let uri = item
            .as_str()
            .ok_or_else(|| invalid("redirectUris must contain only strings".into()))?;
        check_redirect_uri(uri).map_err(invalid)?;
        if !uris.iter().any(|u| u == uri) {
            uris.push(uri.to_owned());
        }
    }
    Ok(uris)
}

fn field_scopes(value: &Value) -> Result<Grants, ApiError> {
    let invalid = |details: String| ApiError::invalid_field(Field::Scopes, details);
    let grants = Grants::from_json(value).map_err(invalid)?;
    check_app_scopes(&grants).map_err(invalid)?;
    Ok(grants)
}

const CLIENT_FIELDS: [&str; 5] = ["name", "redirectUris", "scopes", "type", "organizationId"];

/// Parses `POST /v1/oauth-clients`.
pub fn parse_client_create(body: &[u8]) -> Result<NewClient, ApiError> {
    let map = object(body, &CLIENT_FIELDS)?;
    let required = |field: Field| {
        map.get(field.as_str()).ok_or_else(|| {
            ApiError::invalid_field(field, format!("{} is required", field.as_str()))
        })
    };
    let client_type = match required(Field::Type)?.as_str() {
        Some("confidential") => ClientType::Confidential,
        Some("public") => ClientType::Public,
        _ => {
            return Err(ApiError::invalid_field(
                Field::Type,
                "type must be 'confidential' or 'public'",
            ))
        }
    };
    let organization_id = match map.get("organizationId") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_str().and_then(OrgId::parse).ok_or_else(|| {
            ApiError::invalid_field(
                Field::OrganizationId,
                "organizationId must be an organization id (org_…)",
            )
        })?),
    };
    Ok(NewClient {
        name: name(required(Field::Name)?)?,
        redirect_uris: field_redirect_uris(required(Field::RedirectUris)?)?,
        scopes: field_scopes(required(Field::Scopes)?)?,
        client_type,
        organization_id,
    })
}

impl NewClient {
    /// The record to store, with `id`, the registering key's type as its `mode` and, for
    /// a confidential app, its secret's hash.
    pub fn into_record(
        self,
        id: ClientId,
        mode: KeyType,
        secret: Option<&str>,
        now_ms: u64,
    ) -> ClientRecord {
        ClientRecord {
            mode,
            id,
            name: self.name,
            redirect_uris: self.redirect_uris,
            scopes: self.scopes,
            client_type: self.client_type,
            secret_hash: secret.map(|s| hash_hex(s.as_bytes())),
            created_ms: now_ms,
        }
    }
}

/// A validated `PATCH /v1/oauth-clients/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPatch {
    /// New name.
    pub name: Option<String>,
    /// New redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// New scope ceiling (grants already given keep their scopes).
    pub scopes: Option<Grants>,
}

/// Parses `PATCH /v1/oauth-clients/{id}`.
pub fn parse_client_patch(body: &[u8]) -> Result<ClientPatch, ApiError> {
    let map = object(body, &["name", "redirectUris", "scopes"])?;
    let patch = ClientPatch {
        name: map.get("name").map(name).transpose()?,
        redirect_uris: map
            .get("redirectUris")
            .map(field_redirect_uris)
            .transpose()?,
        scopes: map.get("scopes").map(field_scopes).transpose()?,
    };
    if patch == ClientPatch::default() {
        return Err(invalid(
            "Nothing to change; send name, redirectUris or scopes",
        ));
    }
    Ok(patch)
}

impl ClientPatch {
    /// Applies the patch.
    pub fn apply(self, record: &mut ClientRecord) {
        if let Some(name) = self.name {
            record.name = name;
        }
        if let Some(uris) = self.redirect_uris {
            record.redirect_uris = uris;
        }
        if let Some(scopes) = self.scopes {
            record.scopes = scopes;
        }
    }
}

/// Parses an OAuth `scope` value (space-separated, RFC 6749 §3.3) in the key's
/// vocabulary: `read write` for every resource, or `opportunities:read accounts:write`
/// per resource. The two forms are not mixed.
pub fn parse_scope(text: &str) -> Result<Grants, String> {
    let mut everywhere = ScopeSet::default();
    let mut per_resource: BTreeMap<String, ScopeSet> = BTreeMap::new();
    let mut any = false;
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        any = true;
        let (resource, name) = match token.split_once(':') {
            Some((resource, name)) => (Some(resource), name),
            None => (None, token),
        };
        let scope = Scope::parse(name)
            .filter(|s| *s != Scope::Admin)
            .ok_or_else(|| {
                format!(
                    "unknown scope '{}'; use read, write, delete, or resource:scope",
                    printable(token)
                )
            })?;
        match resource {
            None => everywhere.insert(scope),
            Some(resource) if crate::base::path::is_canonical_resource(resource) => per_resource
                .entry(resource.to_owned())
                .or_default()
                .insert(scope),
            Some(_) => {
                return Err(format!(
                    "scope '{}' names an invalid resource",
                    printable(token)
                ))
            }
        }
    }
    match (any, everywhere.is_empty(), per_resource.is_empty()) {
        (false, _, _) => Err("scope is empty".into()),
        (true, false, true) => Ok(Grants::Everywhere(everywhere)),
        (true, true, false) => Ok(Grants::PerResource(per_resource)),
        _ => Err("scope mixes scopes for every resource with per-resource ones".into()),
    }
}

/// Each scope of some grants, for the consent page: `("read", "every resource")`.
pub fn scope_lines(grants: &Grants) -> Vec<(String, String)> {
    match grants {
        Grants::Everywhere(set) => set
            .iter()
            .map(|s| (s.as_str().to_owned(), "every resource".to_owned()))
            .collect(),
        Grants::PerResource(map) => map
            .iter()
            .flat_map(|(resource, set)| {
                set.iter()
                    .map(move |s| (s.as_str().to_owned(), resource.clone()))
            })
            .collect(),
    }
}

/// Parameters by name; a repeated one is an error (RFC 6749 §3.1).
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// From pairs; `Err(name)` for the first repeated name.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, String> {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if map.insert(name.clone(), value).is_some() {
                return Err(name);
            }
        }
        Ok(Params(map))
    }

    /// A parameter, `None` when absent or empty (RFC 6749 §3.1: empty is omitted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// `redirect_uri` + `?`/`&` + the parameters, form-encoded.
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = redirect_uri.to_owned();
    let mut separator = if redirect_uri.contains('?') {
        if redirect_uri.ends_with('?') || redirect_uri.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (name, value) in params {
        url.push_str(separator);
        url.push_str(name);
        url.push('=');
        url.push_str(&crate::base::form::encode(value));
        separator = "&";
    }
    url
}

/// Whether `text` is a PKCE code verifier or S256 challenge: 43 to 128 unreserved
/// characters (RFC 7636 §4.1).
fn is_pkce_text(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` answers the S256 `challenge` (constant time).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_text(verifier) {
        return false;
    }
    let computed = base64url(&Sha256::digest(verifier.as_bytes()));
    constant_time::eq(computed.as_bytes(), challenge.as_bytes())
}

/// A validated authorization request, ready for consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// The app.
    pub client_id: ClientId,
    /// The registered URI the answer goes to.
    pub redirect_uri: String,
    /// Whether the request named it (then the token request must name it too).
    pub redirect_uri_sent: bool,
    /// What it asks for.
    pub scopes: Grants,
    /// The app's `state`, returned as is.
    pub state: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
}

/// Why an authorization request cannot go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the person, never redirected: the app or its redirect URI cannot be
    /// trusted (RFC 6749 §4.1.2.1).
    Page(String),
    /// Sent back to the app's redirect URI as `error` + `error_description`.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// The app's state.
        state: Option<String>,
        /// RFC 6749 §4.1.2.1 error code.
        error: &'static str,
        /// What to fix.
        description: String,
    },
}

impl AuthorizeError {
    /// The redirect URL for a `Redirect` error (with `iss`).
    pub fn redirect_url(&self, issuer: &str) -> Option<String> {
        let AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } = self
        else {
            return None;
        };
        let mut params = vec![
            ("error", *error),
            ("error_description", description.as_str()),
        ];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        Some(redirect_to(redirect_uri, &params))
    }
}

/// The client id an authorization request names, before its app is looked up.
pub fn authorize_client_id(params: &Params) -> Result<ClientId, AuthorizeError> {
    let text = params
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("The request names no app (client_id)".into()))?;
    ClientId::parse(text).ok_or_else(|| AuthorizeError::Page("No app has this client_id".into()))
}

/// Validates an authorization request against its app (`None`: no such app).
pub fn validate_authorize(
    params: &Params,
    client: Option<&ClientRecord>,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let client = client.ok_or_else(|| AuthorizeError::Page("No app has this client_id".into()))?;
    let named = params.get("redirect_uri");
    let redirect_uri = client
        .redirect_uri(named)
        .ok_or_else(|| {
            AuthorizeError::Page(match named {
                Some(_) => {
                    "The redirect_uri is not one this app registered; nothing was sent back to it"
                        .into()
                }
                None => "The request names no redirect_uri, and the app registered several".into(),
            })
        })?
        .to_owned();
    let state = params.get("state").map(str::to_owned);
    let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description: description.to_owned(),
    };
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Only response_type=code is supported",
            ))
        }
        None => return Err(refuse("invalid_request", "response_type=code is required")),
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) => {
            return Err(refuse(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ))
        }
        (Some(_), Some("S256")) => params.get("code_challenge").unwrap_or_default(),
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ))
        }
    };
    if !is_pkce_text(code_challenge) || code_challenge.len() != 43 {
        return Err(refuse(
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the code verifier",
        ));
    }
    let scopes = match params.get("scope") {
        None => client.scopes.clone(),
        Some(text) => parse_scope(text).map_err(|why| refuse("invalid_scope", &why))?,
    };
    if let Err(missing) = client.scopes.covers(&scopes) {
        return Err(refuse(
            "invalid_scope",
            &format!(
                "This app may not ask for '{}' on {}",
                missing.scope.as_str(),
                missing.resource
            ),
        ));
    }
    Ok(AuthorizeRequest {
        client_id: client.id,
        redirect_uri,
        redirect_uri_sent: named.is_some(),
        scopes,
        state,
        code_challenge: code_challenge.to_owned(),
    })
}

/// How an app authenticated at the token, revocation or introspection endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` (client_secret_basic).
    Basic {
        /// Its id.
        id: String,
        /// Its secret.
        secret: String,
    },
    /// `client_id` + `client_secret` in the body (client_secret_post).
    Post {
        /// Its id.
        id: String,
        /// Its secret.
        secret: String,
    },
    /// `client_id` only: a public app.
    None {
        /// Its id.
        id: String,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::Basic { .. } => "ClientAuth::Basic(…)",
            ClientAuth::Post { .. } => "ClientAuth::Post(…)",
            ClientAuth::None { .. } => "ClientAuth::None(…)",
        })
    }
}

impl ClientAuth {
    /// The client id it names.
    pub fn client_id(&self) -> Option<ClientId> {
        match self {
            ClientAuth::Basic { id, .. }
            | ClientAuth::Post { id, .. }
            | ClientAuth::None { id } => ClientId::parse(id),
        }
    }

    /// Checks it against the app's record (`None`: no such app): a confidential app
    /// must prove its secret, a public one must not pretend to have one.
    pub fn verify(&self, client: Option<&ClientRecord>) -> Result<ClientId, OAuthError> {
        let fail = OAuthError::invalid_client;
        let client = client.ok_or_else(|| fail("Unknown client or wrong secret"))?;
        match (self, client.client_type) {
            (ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. }, ClientType::Confidential) => {
                if client.secret_matches(secret) {
                    Ok(client.id)
                } else {
                    Err(fail("Unknown client or wrong secret"))
                }
            }
            (ClientAuth::None { .. }, ClientType::Public) => Ok(client.id),
            (ClientAuth::None { .. }, ClientType::Confidential) => Err(fail(
                "This app is confidential: authenticate with client_secret_basic or client_secret_post",
            )),
            (_, ClientType::Public) => Err(fail("This app is public: it has no secret to send")),
        }
    }
}

/// The parameters of a token, revocation or introspection request, and how its app
/// authenticated (`None`: not at all). Bodies are form-encoded (RFC 6749) or JSON (the
/// spec's example); `Authorization: Basic` carries `client_id:client_secret`, each
/// form-encoded (RFC 6749 §2.3.1).
pub fn parse_endpoint_request(
    content_type: Option<&str>,
    body: &[u8],
    authorization: Option<&str>,
) -> Result<(Params, Option<ClientAuth>), OAuthError> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    let pairs =
        match media.as_deref() {
            Some("application/x-www-form-urlencoded") => crate::base::form::pairs(body)
                .ok_or_else(|| OAuthError::invalid_request("The form body is not valid UTF-8"))?,
            Some("application/json") => match crate::base::json::parse(body) {
                Ok(Value::Object(map)) => map
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, s)),
                        Value::Number(n) => Ok((k, n.to_string())),
                        _ => Err(OAuthError::invalid_request(&format!(
                            "{} must be a string",
                            printable(&k)
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Err(e) if e.is_data() => {
                    return Err(OAuthError::invalid_request(
                        &crate::base::json::error_details(&e),
                    ))
                }
                _ => return Err(OAuthError::invalid_request("The body is not a JSON object")),
            },
            _ => return Err(OAuthError::invalid_request(
                "Send the parameters as application/x-www-form-urlencoded (or application/json)",
            )),
        };
    let params = Params::from_pairs(pairs).map_err(|name| {
        OAuthError::invalid_request(&format!("{} is sent more than once", printable(&name)))
    })?;
    let basic = match authorization.map(str::trim) {
        Some(value)
            if value
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("basic ")) =>
        {
            let decoded = base64_decode(value[6..].trim())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials"))?;
            let decode = crate::base::form::decode;
            match (decode(id), decode(secret)) {
                (Some(id), Some(secret)) => Some(ClientAuth::Basic { id, secret }),
                _ => return Err(OAuthError::invalid_client("Malformed Basic credentials")),
            }
        }
        _ => None,
    };
    let auth = match (basic, params.get("client_id"), params.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Use one way to authenticate the app: Basic or client_secret, not both",
            ))
        }
        (Some(ClientAuth::Basic { id, secret }), Some(body_id), None) if body_id != id => {
            let _ = secret;
            return Err(OAuthError::invalid_client(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        (Some(basic), _, None) => Some(basic),
        (None, Some(id), Some(secret)) => Some(ClientAuth::Post {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        (None, Some(id), None) => Some(ClientAuth::None { id: id.to_owned() }),
        (None, None, _) => None,
    };
    Ok((params, auth))
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `sat_…`
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// `srt_…`
    pub refresh_token: String,
    /// What the access token may do.
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenResponse(scope: {})", self.scope)
    }
}

/// RFC 8414 metadata for the gateway at `issuer` (its origin).
pub fn metadata(issuer: &str) -> Value {
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "bearer"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["read", "write", "delete"],
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{issuer}/openapi.json"),
    })
}

/// An organization's grant to an app, as its "Authorized apps" list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationView {
    /// `grant_…`
    pub grant_id: GrantId,
    /// The app.
    pub client_id: ClientId,
    /// Its name when approved.
    pub client_name: String,
    /// The organization that approved.
    pub organization_id: OrgId,
    /// What it may do.
    pub scopes: Grants,
    /// Test or live.
    pub key_type: KeyType,
    /// The admin key that approved.
    pub approved_by: crate::ids::Approver,
    /// When.
    pub created_at: Timestamp,
    /// `active` or `revoked`.
    pub status: String,
    /// When revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::token::{OAuthToken, TokenKind, RANDOM_BYTES_FOR_TOKEN, TOKEN_LEN};
    use crate::policy::scope::Scope;

    #[test]
    fn app_body_errors_name_their_field_in_the_body() {
        let field = |err: ApiError| -> Option<String> {
            let body: Value = serde_json::from_str(&err.body()).expect("json");
            body["error"]["field"].as_str().map(str::to_owned)
        };
        let ok = r#""name":"CRM","redirectUris":["https://crm.example.com/cb"],"scopes":["read"],"type":"public""#;
        assert!(parse_client_create(format!("{{{ok}}}").as_bytes()).is_ok());
        for (body, expected) in [
            (
                r#"{"redirectUris":["https://a.example/cb"],"scopes":["read"],"type":"public"}"#,
                "name",
            ),
            (
                r#"{"name":"","redirectUris":["https://a.example/cb"],"scopes":["read"],"type":"public"}"#,
                "name",
            ),
            (
                r#"{"name":"CRM","redirectUris":["http://a.example/cb"],"scopes":["read"],"type":"public"}"#,
                "redirectUris",
            ),
            (
                r#"{"name":"CRM","redirectUris":[],"scopes":["read"],"type":"public"}"#,
                "redirectUris",
            ),
            (
                r#"{"name":"CRM","redirectUris":["https://a.example/cb"],"scopes":["admin"],"type":"public"}"#,
                "scopes",
            ),
            (
                r#"{"name":"CRM","redirectUris":["https://a.example/cb"],"scopes":["read"],"type":"spa"}"#,
                "type",
            ),
            (
                r#"{"name":"CRM","redirectUris":["https://a.example/cb"],"scopes":["read"],"type":"public","organizationId":"acme"}"#,
                "organizationId",
            ),
        ] {
            let err = parse_client_create(body.as_bytes()).expect_err(body);
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(field(err).as_deref(), Some(expected), "{body}");
        }
        assert_eq!(field(parse_client_create(b"[]").expect_err("array")), None);
        // A member the API does not have is no field of it.
        let unknown = parse_client_create(format!(r#"{{{ok},"logo":"x"}}"#).as_bytes());
        assert_eq!(field(unknown.expect_err("unknown")), None);
        let patch = parse_client_patch(br#"{"redirectUris":["https://a.example/cb#x"]}"#);
        assert_eq!(
            field(patch.expect_err("fragment")).as_deref(),
            Some("redirectUris")
        );
        assert_eq!(field(parse_client_patch(b"{}").expect_err("empty")), None);
    }

    fn client(uris: &[&str], scopes: &str, client_type: ClientType) -> ClientRecord {
        ClientRecord {
            id: ClientId::generate(OrgId::DEFAULT, &[7; RANDOM_BYTES_FOR_CLIENT_ID]),
            name: "App".into(),
            redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
            scopes: parse_scope(scopes).expect("scopes"),
            client_type,
            secret_hash: (client_type == ClientType::Confidential).then(|| hash_hex(b"scs_secret")),
            created_ms: 0,
            mode: KeyType::Live,
        }
    }

    #[test]
    fn an_app_registered_before_modes_is_live() {
        let stored = serde_json::json!({
            "id": "app_000000000default00000000", "name": "Old", "redirectUris": ["https://a.example/cb"],
            "scopes": ["read"], "type": "public", "createdMs": 0
        });
        let record: ClientRecord = serde_json::from_value(stored).expect("reads");
        assert_eq!(record.mode, KeyType::Live);
        let test = NewClient {
            name: "New".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            scopes: parse_scope("read").expect("scope"),
            client_type: ClientType::Public,
            organization_id: None,
        }
        .into_record(record.id, KeyType::Test, None, 0);
        assert_eq!(
            serde_json::to_value(test.view()).expect("json")["mode"],
            "test"
        );
    }

    fn params(query: &str) -> Params {
        Params::from_pairs(crate::base::form::pairs(query.as_bytes()).expect("utf-8"))
            .expect("no repeats")
    }

    // base64url(sha256(VERIFIER)), computed with Python's hashlib.
    const CHALLENGE: &str = "rAaeg0y8J1OnJgd90LECN2tgcr8J6aed9OHBuZrzCLU";
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9ZdxqUZfqnUzOPMd48Ae3HKpQ";

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let grant = GrantId::generate(&[3; RANDOM_BYTES_FOR_GRANT_ID]);
        let token = OAuthToken::generate(TokenKind::Access, grant, &[9; RANDOM_BYTES_FOR_TOKEN]);
        let text = token.expose_secret().to_owned();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(text.starts_with("sat_"));
        let parsed = OAuthToken::parse(&text).expect("parses");
        assert_eq!(parsed.grant(), grant);
        assert_eq!(parsed.kind(), TokenKind::Access);
        assert!(OAuthToken::parse_kind(&text, TokenKind::Refresh).is_none());
        let mut tampered = text.clone().into_bytes();
        tampered[30] = if tampered[30] == b'a' { b'b' } else { b'a' };
        assert!(OAuthToken::parse(&String::from_utf8(tampered).expect("ascii")).is_none());
        assert!(OAuthToken::parse(&text[..TOKEN_LEN - 1]).is_none());
        let header = format!("Bearer {text}");
        assert!(matches!(
            crate::http::credential::parse_credential(Some(&header)),
            Ok(crate::http::credential::Credential::AccessToken(_))
        ));
        assert!(!matches!(
            crate::http::credential::parse_credential(Some("Bearer sk_live_x")),
            Ok(crate::http::credential::Credential::AccessToken(_))
        ));
        let regex_body = &text[4..];
        assert_eq!(regex_body.len(), 54, "the scanner pattern's length");
    }

    #[test]
    fn client_ids_carry_their_organization() {
        let org = OrgId::generate(&[5; crate::org::RANDOM_BYTES_FOR_ORG]);
        let id = ClientId::generate(org, &[1; RANDOM_BYTES_FOR_CLIENT_ID]);
        assert_eq!(id.organization(), org);
        assert_eq!(ClientId::parse(&id.to_string()), Some(id));
        assert!(ClientId::parse("app_short").is_none());
    }

    #[test]
    fn redirect_uris_follow_rfc_8252_and_9700() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:5555/callback",
            "http://[::1]:80/cb",
            "http://localhost/cb",
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:65535/cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://user@app.example.com/cb",
            "javascript:alert(1)",
            "https:///cb",
            "https://app.example.com/c b",
            "https://app.example.com:99999/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:08080/cb",
            "http://[::1]:00080/cb",
            "https://app.example.com:0443/cb",
            "http://localhost:/cb",
            "https://a;b.example/cb",
            "http://127.0.0.1.evil.com/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_strings_use_the_key_vocabulary() {
        assert_eq!(
            parse_scope("read write"),
            Ok(Grants::Everywhere(
                [Scope::Read, Scope::Write].into_iter().collect()
            ))
        );
        let per = parse_scope("opportunities:read accounts:write").expect("per resource");
        assert_eq!(per.scope_string(), "accounts:write opportunities:read");
        assert!(parse_scope("admin").is_err());
        assert!(parse_scope("read opportunities:write").is_err());
        assert!(parse_scope("").is_err());
        assert!(parse_scope("Opp:read").is_err());
    }

    #[test]
    fn authorize_errors_never_redirect_to_an_unregistered_uri() {
        let app = client(&["https://a.example/cb"], "read write", ClientType::Public);
        let q = |extra: &str| {
            params(&format!(
                "response_type=code&client_id={}&code_challenge={CHALLENGE}&code_challenge_method=S256&state=s1{extra}",
                app.id
            ))
        };
        assert!(matches!(
            validate_authorize(
                &q("&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"),
                Some(&app)
            ),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            validate_authorize(&q(""), None),
            Err(AuthorizeError::Page(_))
        ));
        let ok = validate_authorize(
            &q("&redirect_uri=https%3A%2F%2Fa.example%2Fcb&scope=read"),
            Some(&app),
        )
        .expect("valid");
        assert_eq!(ok.scopes, parse_scope("read").expect("read"));
        assert!(ok.redirect_uri_sent);
        let escalate = validate_authorize(&q("&scope=delete"), Some(&app)).expect_err("escalation");
        let url = escalate
            .redirect_url("https://gw.example")
            .expect("redirected");
        assert!(url.starts_with("https://a.example/cb?error=invalid_scope&"));
        assert!(url.contains("&state=s1&iss=https%3A%2F%2Fgw.example"));
        let plain = params(&format!(
            "response_type=code&client_id={}&code_challenge={CHALLENGE}&code_challenge_method=plain",
            app.id
        ));
        let Err(AuthorizeError::Redirect { error, .. }) = validate_authorize(&plain, Some(&app))
        else {
            panic!("plain refused by redirect");
        };
        assert_eq!(error, "invalid_request");
        let none = params(&format!("response_type=code&client_id={}", app.id));
        assert!(matches!(
            validate_authorize(&none, Some(&app)),
            Err(AuthorizeError::Redirect {
                error: "invalid_request",
                ..
            })
        ));
        assert!(Params::from_pairs(crate::base::form::pairs(b"a=1&a=2").expect("utf-8")).is_err());
    }

    #[test]
    fn loopback_uris_registered_without_a_port_accept_any_port() {
        let app = client(
            &[
                "http://127.0.0.1/cb",
                "http://[::1]:8000/cb",
                "https://a.example/cb",
            ],
            "read",
            ClientType::Public,
        );
        assert_eq!(
            app.redirect_uri(Some("http://127.0.0.1:53127/cb")),
            Some("http://127.0.0.1:53127/cb")
        );
        assert_eq!(
            app.redirect_uri(Some("http://127.0.0.1/cb")),
            Some("http://127.0.0.1/cb")
        );
        assert_eq!(app.redirect_uri(Some("http://127.0.0.1:53127/other")), None);
        assert_eq!(
            app.redirect_uri(Some("http://[::1]:8000/cb")),
            Some("http://[::1]:8000/cb")
        );
        assert_eq!(
            app.redirect_uri(Some("http://[::1]:8001/cb")),
            None,
            "registered with a port: that port only"
        );
        assert_eq!(app.redirect_uri(Some("http://localhost:5000/cb")), None);
        // Any valid port, and only a valid one.
        for port in ["1", "65535"] {
            let uri = format!("http://127.0.0.1:{port}/cb");
            assert_eq!(app.redirect_uri(Some(&uri)), Some(uri.as_str()));
        }
        for port in ["0", "00", "65536", "99999", "08080", "", "+80", "80 "] {
            let uri = format!("http://127.0.0.1:{port}/cb");
            assert_eq!(app.redirect_uri(Some(&uri)), None, "{uri}");
        }
        assert_eq!(app.redirect_uri(Some("https://a.example:444/cb")), None);
    }

    #[test]
    fn pkce_s256_matches_python_hashlib() {
        assert!(pkce_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!pkce_matches("short", CHALLENGE));
    }

    #[test]
    fn client_authentication_methods() {
        let app = client(&["https://a.example/cb"], "read", ClientType::Confidential);
        let basic = format!(
            "Basic {}",
            base64url(format!("{}:scs_secret", app.id).as_bytes())
        );
        let form = "application/x-www-form-urlencoded";
        let (_, auth) =
            parse_endpoint_request(Some(form), b"grant_type=x", Some(&basic)).expect("ok");
        assert_eq!(auth.expect("basic").verify(Some(&app)), Ok(app.id));
        let body = format!("client_id={}&client_secret=wrong", app.id);
        let (_, auth) = parse_endpoint_request(Some(form), body.as_bytes(), None).expect("ok");
        let err = auth
            .expect("post")
            .verify(Some(&app))
            .expect_err("wrong secret");
        assert_eq!(err.error, "invalid_client");
        let json = format!(
            r#"{{"client_id":"{}","client_secret":"scs_secret"}}"#,
            app.id
        );
        let (_, auth) =
            parse_endpoint_request(Some("application/json"), json.as_bytes(), None).expect("ok");
        assert_eq!(auth.expect("post").verify(Some(&app)), Ok(app.id));
        let (_, auth) =
            parse_endpoint_request(Some(form), format!("client_id={}", app.id).as_bytes(), None)
                .expect("ok");
        assert!(
            auth.expect("none").verify(Some(&app)).is_err(),
            "confidential needs its secret"
        );
        assert!(parse_endpoint_request(Some("text/plain"), b"", None).is_err());
        let twice = br#"{"grant_type":"authorization_code","grant_type":"refresh_token"}"#;
        let err = parse_endpoint_request(Some("application/json"), twice, None)
            .err()
            .expect("a member given twice");
        assert_eq!(err.error, "invalid_request");
        assert!(err.description.contains("'grant_type'"));
    }

    #[test]
    fn redirects_keep_existing_queries() {
        assert_eq!(
            redirect_to(
                "https://a.example/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "https://a.example/cb?x=1&code=a%20b&state=s%26t"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in ".{0,160}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..160)) {
            let _ = OAuthToken::parse(&text);
            let _ = crate::base::form::pairs(&bytes);
            let _ = parse_scope(&text);
            let _ = check_redirect_uri(&text);
            let _ = parse_endpoint_request(Some("application/x-www-form-urlencoded"), &bytes, Some(&text));
            let _ = parse_endpoint_request(Some("application/json"), &bytes, None);
        }

        #[test]
        fn every_generated_token_parses_back(grant in proptest::array::uniform32(proptest::num::u8::ANY), secret in proptest::collection::vec(proptest::num::u8::ANY, RANDOM_BYTES_FOR_TOKEN)) {
            let grant = GrantId::generate(&grant);
            let mut random = [0u8; RANDOM_BYTES_FOR_TOKEN];
            random.copy_from_slice(&secret);
            for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::Code] {
                let token = OAuthToken::generate(kind, grant, &random);
                let parsed = OAuthToken::parse(token.expose_secret()).expect("parses");
                proptest::prop_assert_eq!(parsed.grant(), grant);
                proptest::prop_assert_eq!(parsed.kind(), kind);
            }
        }
    }
}
