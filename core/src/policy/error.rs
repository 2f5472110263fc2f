//! The one error catalogue. Every error the gateway answers is built here, with its
//! status, its body (`{"error":{"code","message","details"}}`, plus `retryAfter` on 429
//! and `field` on an error about one request field) and its headers, so the worker only
//! copies them onto a response.

use crate::base::method::Method;
use crate::policy::scope::MissingScope;

/// The realm in every `WWW-Authenticate` challenge.
pub const REALM: &str = "scopien";

/// An error response, ready to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Short human message.
    pub message: &'static str,
    /// What happened and what to do about it.
    pub details: String,
    /// Seconds to wait, on 429 and 503.
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` challenge, on 401 and 403.
    pub www_authenticate: Option<String>,
    /// The methods for `Allow`, on 405.
    pub allow: Option<&'static [Method]>,
    /// The request field the error is about (the body's `field`), so that a client can
    /// show it beside that field without reading `details`. `None` when it is about no
    /// one field of the API (the body as a whole, an unknown member, the path, a header).
    pub field: Option<Field>,
}

/// A request field an error can be about: a JSON member of a body or a query parameter,
/// named as the client sends it ([`Field::as_str`]). One byte, so `ApiError` stays the
/// size every `Result` carrying it had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Field {
    /// `name` (keys, apps, organizations).
    Name,
    /// `type` (keys, apps).
    Type,
    /// `scopes` (keys, apps).
    Scopes,
    /// `rateLimit` (keys).
    RateLimit,
    /// `burst` (keys).
    Burst,
    /// `expiresAt` (keys).
    ExpiresAt,
    /// `expiresIn` (a key's roll).
    ExpiresIn,
    /// `redirectUris` (apps).
    RedirectUris,
    /// `plan` (organizations).
    Plan,
    /// `status` (organizations).
    Status,
    /// `organizationId` (a body or a listing's query).
    OrganizationId,
    /// `limit` (a listing's query).
    Limit,
    /// `cursor` (a listing's query).
    Cursor,
    /// `allowedIps` (keys).
    AllowedIps,
    /// `key` (the verify endpoint).
    Key,
    /// `method` (the verify endpoint).
    Method,
    /// `path` (the verify endpoint).
    Path,
    /// `ip` (the verify endpoint).
    Ip,
    /// `keyPolicy` (organizations).
    KeyPolicy,
    /// `email` (invitations).
    Email,
    /// `role` (invitations, members).
    Role,
    /// `organizationName` (self-serve sign-up).
    OrganizationName,
    /// `url` (webhooks).
    Url,
    /// `events` (webhooks).
    Events,
    /// `description` (webhooks).
    Description,
}

impl Field {
    /// The name the client sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Type => "type",
            Field::Scopes => "scopes",
            Field::RateLimit => "rateLimit",
            Field::Burst => "burst",
            Field::ExpiresAt => "expiresAt",
            Field::ExpiresIn => "expiresIn",
            Field::AllowedIps => "allowedIps",
            Field::RedirectUris => "redirectUris",
            Field::Plan => "plan",
            Field::Status => "status",
            Field::OrganizationId => "organizationId",
            Field::Limit => "limit",
            Field::Cursor => "cursor",
            Field::Key => "key",
            Field::Method => "method",
            Field::Path => "path",
            Field::Ip => "ip",
            Field::KeyPolicy => "keyPolicy",
            Field::Email => "email",
            Field::Role => "role",
            Field::OrganizationName => "organizationName",
            Field::Url => "url",
            Field::Events => "events",
            Field::Description => "description",
        }
    }
}

const INVALID_KEY_DETAILS: &str = "The API key provided is invalid or has been revoked";

impl ApiError {
    fn new(status: u16, code: &'static str, message: &'static str, details: String) -> ApiError {
        ApiError {
            status,
            code,
            message,
            details,
            retry_after: None,
            www_authenticate: None,
            allow: None,
            field: None,
        }
    }

    /// The same error, about the request field `field`.
    pub fn with_field(self, field: Field) -> ApiError {
        ApiError {
            field: Some(field),
            ..self
        }
    }

    fn unauthorized(message: &'static str, details: &str, credential_sent: bool) -> ApiError {
        let challenge = if credential_sent {
            format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
        } else {
            format!("Bearer realm=\"{REALM}\"")
        };
        ApiError {
            www_authenticate: Some(challenge),
            ..ApiError::new(401, "unauthorized", message, details.to_owned())
        }
    }

    /// 401: no `Authorization` header.
    pub fn missing_key() -> ApiError {
        ApiError::unauthorized(
            "Missing API key",
            "Send your API key in the Authorization header: 'Authorization: Bearer sk_live_…'",
            false,
        )
    }

    /// 401: malformed, unknown or revoked; these are never told apart.
    pub fn invalid_key() -> ApiError {
        ApiError::unauthorized("Invalid API key", INVALID_KEY_DETAILS, true)
    }

    /// 401: a header that is not `Bearer <key>`.
    pub fn wrong_scheme() -> ApiError {
        ApiError::unauthorized(
            "Invalid API key",
            "The Authorization header must have the form 'Bearer <key>'",
            true,
        )
    }

    /// 401: an OAuth access token that is malformed, unknown or revoked (never told
    /// apart, as keys are not): it speaks of an access token, not of an API key.
    pub fn invalid_access_token() -> ApiError {
        ApiError::unauthorized(
            "Invalid access token",
            "The access token provided is invalid or revoked; get a new one with the refresh token at /oauth/token",
            true,
        )
    }

    /// 401: an OAuth access token past its lifetime.
    pub fn expired_token() -> ApiError {
        ApiError::unauthorized(
            "Access token expired",
            "The access token has expired; get a new one with the refresh token at /oauth/token",
            true,
        )
    }

    /// 400 for an OAuth app that cannot be registered as asked.
    pub fn too_many_clients(max: usize) -> ApiError {
        ApiError::conflict(format!(
            "An organization may register at most {max} apps; delete one first"
        ))
    }

    /// 401: the key is past its `expiresAt` (or a rolled-away key past its grace).
    pub fn expired_key() -> ApiError {
        ApiError::unauthorized("Invalid API key", "The API key has expired", true)
    }

    /// 401: a key sent in the query string, where it would end up in logs.
    pub fn key_in_query() -> ApiError {
        ApiError::unauthorized(
            "Invalid API key",
            "API keys in the query string are refused because URLs are logged; send the key in the Authorization header instead",
            true,
        )
    }

    /// 401: a dashboard call without a live session (never signed in, signed out, idle
    /// for 12 hours, or its key stopped working). No `WWW-Authenticate`: a cookie, not a
    /// bearer token, is missing.
    pub fn no_session() -> ApiError {
        ApiError::new(
            401,
            "unauthorized",
            "Not signed in",
            "Sign in to the dashboard with an admin API key; sessions end after 12 idle hours, on sign-out, or when their key is revoked".into(),
        )
    }

    /// 403: a state-changing dashboard call from another origin or without the
    /// session's CSRF token.
    pub fn cross_site_request() -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Cross-site request refused",
            "State-changing dashboard calls must come from the dashboard's own origin and carry the session's X-CSRF-Token".into(),
        )
    }

    /// 403: the key lacks the scope the request needs.
    pub fn forbidden(missing: &MissingScope) -> ApiError {
        let scope = missing.scope.as_str();
        ApiError {
            www_authenticate: Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            ..ApiError::new(
                403,
                "forbidden",
                "Insufficient permissions",
                format!(
                    "This API key does not have '{scope}' permission for {}",
                    missing.resource
                ),
            )
        }
    }

    /// 429: a window is spent; `retry_after_s` says when the next request is admitted.
    pub fn rate_limited(retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_s),
            ..ApiError::new(
                429,
                "rate_limit_exceeded",
                "Rate limit exceeded",
                format!("Rate limit will reset in {}", seconds(retry_after_s)),
            )
        }
    }

    /// 429: this address made too many failed authentications and is refused for now.
    pub fn too_many_failures(retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_s),
            ..ApiError::new(
                429,
                "rate_limit_exceeded",
                "Too many failed authentication attempts",
                format!(
                    "Too many failed authentication attempts from this address; retry in {}",
                    seconds(retry_after_s)
                ),
            )
        }
    }

    /// 429: this address created as many organizations by sign-up as an hour allows.
    pub fn too_many_sign_ups(retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_s),
            ..ApiError::new(
                429,
                "rate_limit_exceeded",
                "Too many sign-ups",
                format!(
                    "Too many sign-ups from this address; retry in {}",
                    seconds(retry_after_s)
                ),
            )
        }
    }

    /// 429 for an address refused until `until_ms`, seen at `now_ms`.
    pub fn too_many_failures_until(until_ms: u64, now_ms: u64) -> ApiError {
        ApiError::too_many_failures(crate::base::timestamp::seconds_until(until_ms, now_ms).max(1))
    }

    /// 401: a secret-scanning report without a valid signature; nothing was read.
    pub fn unsigned_report() -> ApiError {
        ApiError::new(
            401,
            "unauthorized",
            "Invalid signature",
            "The report must be signed: Github-Public-Key-Identifier must name a published key and Github-Public-Key-Signature must verify over the raw body".into(),
        )
    }

    /// 400: a method-override header that names no method.
    pub fn invalid_method_override(header: &str) -> ApiError {
        ApiError::invalid_request(format!(
            "The {header} header must name HTTP methods such as PUT or DELETE"
        ))
    }

    /// 400: the request is malformed, but in no one field of the API (the body as a
    /// whole, an unknown member, the path, a header); `details` say how.
    pub fn invalid_request(details: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", "Invalid request", details.into())
    }

    /// 400: a listing's `cursor` is not one a previous page returned (a pasted `…`,
    /// garbage): never the first page again, which a client would loop on.
    pub fn unknown_cursor() -> ApiError {
        ApiError::invalid_field(Field::Cursor, "cursor is not one a previous page returned")
    }

    /// 400: the request field `field` is missing or invalid; `details` say how, and the
    /// body names the field in `field`.
    pub fn invalid_field(field: Field, details: impl Into<String>) -> ApiError {
        ApiError::invalid_request(details).with_field(field)
    }

    /// 404.
    pub fn not_found(details: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", "Not found", details.into())
    }

    /// 405, with the methods that are allowed.
    pub fn method_not_allowed(allowed: &'static [Method]) -> ApiError {
        ApiError {
            allow: Some(allowed),
            ..ApiError::new(
                405,
                "method_not_allowed",
                "Method not allowed",
                format!("This endpoint accepts {}", allow_header(allowed)),
            )
        }
    }

    /// 403: the key has an allow-list and the request's address is not on it (or the
    /// request has no address).
    pub fn ip_not_allowed(address: Option<std::net::IpAddr>) -> ApiError {
        let from = match address {
            Some(address) => address.to_string(),
            None => "an unknown address".to_owned(),
        };
        ApiError::new(
            403,
            "forbidden",
            "IP address not allowed",
            format!("This API key cannot be used from {from}"),
        )
    }

    /// 403: the key's organization is suspended.
    pub fn organization_suspended() -> ApiError {
        ApiError {
            www_authenticate: Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\""
            )),
            ..ApiError::new(
                403,
                "forbidden",
                "Organization suspended",
                "This API key's organization is suspended; its keys work again when it is reactivated".into(),
            )
        }
    }

    /// 403: only the root key may do this (create or change organizations, change a
    /// plan).
    pub fn root_only(what: &str) -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Insufficient permissions",
            format!("Only the root key may {what}"),
        )
    }

    /// 403: a key may hand out only scopes it holds itself (creating, changing or
    /// rolling a key that would hold more).
    pub fn cannot_grant(missing: &MissingScope) -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Insufficient permissions",
            format!(
                "This API key cannot grant '{}' permission for {}: a key can give only the scopes it holds itself",
                missing.scope.as_str(),
                missing.resource
            ),
        )
    }

    /// 403: members and invitations are the root key's and signed-in people's: an API
    /// key (stolen, perhaps) must not mint a person who outlives its revocation.
    pub fn members_by_people_only() -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Insufficient permissions",
            "Only the root key, or an owner or admin signed in to the dashboard, may invite or change members; other API keys cannot".into(),
        )
    }

    /// 403: the organization's people guard refused a change of members; `details`
    /// says why (people::members).
    pub fn members_forbidden(details: impl Into<String>) -> ApiError {
        ApiError::new(403, "forbidden", "Insufficient permissions", details.into())
    }

    /// 409: the change would leave the organization without an owner.
    pub fn last_owner() -> ApiError {
        ApiError::conflict(
            "This is the organization's last owner: make another member an owner first",
        )
    }

    /// 403: a test-mode key may not do this (webhooks: they carry live events to a real
    /// endpoint).
    pub fn live_only(what: &str) -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Insufficient permissions",
            format!("A test-mode key cannot {what}; use a live admin key"),
        )
    }

    /// 403: a signed-in person's role does not allow this (people::role).
    pub fn role_forbids(role: &str, what: &str) -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Insufficient permissions",
            format!("A member with the role '{role}' cannot {what}"),
        )
    }

    /// 404: an invitation link that names no pending invitation (unknown, already used,
    /// revoked or expired: the same answer for each, so a link tells nothing).
    pub fn invitation_invalid() -> ApiError {
        ApiError::new(
            404,
            "not_found",
            "Invitation not found",
            "This invitation link is unknown, already used, revoked or expired; ask for a new one"
                .into(),
        )
    }

    /// 401: a passkey ceremony was refused (people::webauthn says why).
    pub fn passkey_refused(details: impl Into<String>) -> ApiError {
        ApiError::new(401, "unauthorized", "Passkey refused", details.into())
    }

    /// 400: a signed-in person's new passkey was refused (`details` says why); not 401,
    /// since their session is fine.
    pub fn passkey_not_added(details: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", "Passkey not added", details.into())
    }

    /// 409: a person keeps at least one passkey.
    pub fn last_passkey() -> ApiError {
        ApiError::conflict(
            "This is your last passkey: add another one before removing it, or you could not sign in again",
        )
    }

    /// 400: a request method that is not an HTTP token.
    pub fn invalid_method() -> ApiError {
        ApiError::invalid_request("The request method is not a valid HTTP method token")
    }

    /// 409: the change conflicts with the key's state.
    pub fn conflict(details: impl Into<String>) -> ApiError {
        ApiError::new(409, "conflict", "Conflict", details.into())
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "payload_too_large",
            "Payload too large",
            format!("Request bodies are limited to {limit} bytes"),
        )
    }

    /// 502: the origin could not be reached.
    pub fn bad_gateway() -> ApiError {
        ApiError::new(
            502,
            "bad_gateway",
            "Origin unreachable",
            "The gateway could not reach the API behind it; retry later".into(),
        )
    }

    /// 504: the origin did not answer within `timeout_ms`; the request may or may not
    /// have reached it.
    pub fn gateway_timeout(timeout_ms: u64) -> ApiError {
        ApiError::new(
            504,
            "gateway_timeout",
            "Origin timeout",
            format!(
                "The API behind the gateway did not answer within {timeout_ms} ms; retry later (a write may or may not have been applied)"
            ),
        )
    }

    /// 503: storage failed; the request was not let through.
    pub fn service_unavailable(details: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                503,
                "service_unavailable",
                "Service unavailable",
                details.into(),
            )
        }
    }

    /// 503: a change was stored, but not everything that derives from it (the keys and
    /// grants that hold copies of its terms) could be told, through a storage fault. The
    /// same request again tells them: changes are idempotent, and each one pushes again.
    pub fn change_not_yet_everywhere() -> ApiError {
        ApiError::service_unavailable(
            "The change was saved, but not every key and grant that depends on it has it yet (a storage fault); send the same request again to finish it",
        )
    }

    /// 503: the management API needs a root key and none is configured.
    pub fn root_key_not_configured() -> ApiError {
        ApiError::new(
            503,
            "service_unavailable",
            "Root key not configured",
            "Set the SCOPIEN_ROOT_KEY secret to a valid sk_live_ key: `npx wrangler secret put SCOPIEN_ROOT_KEY` (locally, put SCOPIEN_ROOT_KEY=… in .dev.vars; `npm start` writes one for you)".into(),
        )
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let mut error = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
        });
        if let (Some(seconds), Some(map)) = (self.retry_after, error.as_object_mut()) {
            if self.status == 429 {
                map.insert("retryAfter".into(), seconds.into());
            }
        }
        if let (Some(field), Some(map)) = (self.field, error.as_object_mut()) {
            map.insert("field".into(), field.as_str().into());
        }
        serde_json::json!({ "error": error }).to_string()
    }

    /// The headers this error adds (besides `Content-Type`).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some(challenge) = &self.www_authenticate {
            headers.push(("WWW-Authenticate", challenge.clone()));
        }
        if let Some(seconds) = self.retry_after {
            headers.push(("Retry-After", seconds.to_string()));
        }
        if let Some(allowed) = self.allow {
            headers.push(("Allow", allow_header(allowed)));
        }
        headers
    }
}

pub use crate::base::text::printable;

/// An error of the OAuth endpoints (`/oauth/token`, `/oauth/revoke`,
/// `/oauth/introspect`), in RFC 6749 §5.2's shape, which OAuth client libraries read:
/// `{"error": "invalid_grant", "error_description": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OAuthError {
    /// HTTP status: 400, or 401 for `invalid_client`.
    pub status: u16,
    /// RFC 6749 §5.2 code.
    pub error: String,
    /// What happened and what to do.
    pub description: String,
    /// Seconds until the address may try again (`Retry-After`), on a 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(error: &str, description: &str) -> OAuthError {
        OAuthError {
            status: 400,
            error: error.to_owned(),
            description: description.to_owned(),
            retry_after: None,
        }
    }

    /// 429: the client's address made too many failed authentications and is refused
    /// until `until_ms` (seen at `now_ms`). RFC 6749 has no code for it;
    /// `temporarily_unavailable` says "try again later", and `Retry-After` says when.
    pub fn too_many_failures_until(until_ms: u64, now_ms: u64) -> OAuthError {
        let api = ApiError::too_many_failures_until(until_ms, now_ms);
        OAuthError {
            status: 429,
            retry_after: api.retry_after,
            ..OAuthError::new("temporarily_unavailable", &api.details)
        }
    }

    /// The request is malformed.
    pub fn invalid_request(description: &str) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    /// The app failed to authenticate (401, with a Basic challenge, whichever way it
    /// tried).
    pub fn invalid_client(description: &str) -> OAuthError {
        OAuthError {
            status: 401,
            ..OAuthError::new("invalid_client", description)
        }
    }

    /// The code or refresh token is invalid, expired, used, revoked, or not this app's.
    pub fn invalid_grant(description: &str) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }

    /// Not `authorization_code` or `refresh_token`.
    pub fn unsupported_grant_type(description: &str) -> OAuthError {
        OAuthError::new("unsupported_grant_type", description)
    }

    /// More than the grant holds.
    pub fn invalid_scope(description: &str) -> OAuthError {
        OAuthError::new("invalid_scope", description)
    }

    /// The body.
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self.error, "error_description": self.description })
            .to_string()
    }

    /// The headers besides `Content-Type`: never cached; a challenge on 401.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Cache-Control", "no-store".to_owned()),
            ("Pragma", "no-cache".to_owned()),
        ];
        if self.status == 401 {
            headers.push(("WWW-Authenticate", format!("Basic realm=\"{REALM}\"")));
        }
        if let Some(seconds) = self.retry_after {
            headers.push(("Retry-After", seconds.to_string()));
        }
        headers
    }
}

/// `GET, HEAD`: an `Allow` header's value.
fn allow_header(allowed: &[Method]) -> String {
    allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 second`, `2 seconds`.
fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".to_owned()
    } else {
        format!("{n} seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::scope::Scope;
    use serde_json::{json, Value};

    fn body(e: &ApiError) -> Value {
        serde_json::from_str(&e.body()).expect("json")
    }

    #[test]
    fn spec_bodies_are_exact() {
        assert_eq!(
            body(&ApiError::invalid_key()),
            json!({"error": {"code": "unauthorized", "message": "Invalid API key",
                "details": "The API key provided is invalid or has been revoked"}})
        );
        let missing = MissingScope {
            scope: Scope::Write,
            resource: "opportunities".into(),
        };
        assert_eq!(
            body(&ApiError::forbidden(&missing)),
            json!({"error": {"code": "forbidden", "message": "Insufficient permissions",
                "details": "This API key does not have 'write' permission for opportunities"}})
        );
        assert_eq!(
            body(&ApiError::rate_limited(1847)),
            json!({"error": {"code": "rate_limit_exceeded", "message": "Rate limit exceeded",
                "details": "Rate limit will reset in 1847 seconds", "retryAfter": 1847}})
        );
    }

    #[test]
    fn an_expired_access_token_is_401_with_its_own_body() {
        // What a guard's `TokenExpired` refusal answers, byte for byte: the body the
        // worker writes, its challenge, and that it counts as a failed authentication.
        let refusal = crate::Refusal::TokenExpired;
        let err = refusal.error();
        assert_eq!(err, ApiError::expired_token());
        assert_eq!(err.status, 401);
        assert_eq!(
            err.body(),
            r#"{"error":{"code":"unauthorized","message":"Access token expired","details":"The access token has expired; get a new one with the refresh token at /oauth/token"}}"#
        );
        assert_eq!(
            err.headers(),
            vec![(
                "WWW-Authenticate",
                "Bearer realm=\"scopien\", error=\"invalid_token\"".to_owned()
            )]
        );
        assert!(refusal.is_failed_authentication());
        assert_eq!(refusal.status(), None, "no rate-limit headers on a 401");
    }

    #[test]
    fn a_field_error_names_the_field_beside_the_specs_three_members() {
        let err = ApiError::invalid_field(Field::RateLimit, "rateLimit must be at most 1000");
        assert_eq!(err.status, 400);
        assert_eq!(
            body(&err),
            json!({"error": {"code": "invalid_request", "message": "Invalid request",
                "details": "rateLimit must be at most 1000", "field": "rateLimit"}})
        );
        // About no one field: the spec's three members only.
        assert_eq!(
            body(&ApiError::invalid_request("The body must be a JSON object")),
            json!({"error": {"code": "invalid_request", "message": "Invalid request",
                "details": "The body must be a JSON object"}})
        );
        let missing = MissingScope {
            scope: Scope::Admin,
            resource: "every resource".into(),
        };
        assert_eq!(
            body(&ApiError::cannot_grant(&missing).with_field(Field::Scopes))["error"]["field"],
            "scopes"
        );
    }

    #[test]
    fn one_second_is_singular() {
        assert_eq!(
            ApiError::rate_limited(1).details,
            "Rate limit will reset in 1 second"
        );
        assert_eq!(
            ApiError::rate_limited(2).details,
            "Rate limit will reset in 2 seconds"
        );
        assert!(ApiError::too_many_failures(1)
            .details
            .ends_with("retry in 1 second"));
        assert!(ApiError::too_many_failures(300)
            .details
            .ends_with("retry in 300 seconds"));
    }

    #[test]
    fn gateway_timeout_has_the_spec_shape() {
        let err = ApiError::gateway_timeout(250);
        assert_eq!(err.status, 504);
        let b = body(&err);
        assert_eq!(b["error"]["code"], "gateway_timeout");
        assert_eq!(b["error"]["message"], "Origin timeout");
        assert!(b["error"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("250 ms")));
        assert!(err.headers().is_empty());
    }

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(
            ApiError::missing_key().headers(),
            vec![("WWW-Authenticate", "Bearer realm=\"scopien\"".to_owned())]
        );
        assert_eq!(
            ApiError::invalid_key().headers(),
            vec![(
                "WWW-Authenticate",
                "Bearer realm=\"scopien\", error=\"invalid_token\"".to_owned()
            )]
        );
        let missing = MissingScope {
            scope: Scope::Delete,
            resource: "accounts".into(),
        };
        assert!(ApiError::forbidden(&missing).headers()[0]
            .1
            .ends_with("error=\"insufficient_scope\", scope=\"delete\""));
        assert_eq!(
            ApiError::rate_limited(5).headers(),
            vec![("Retry-After", "5".to_owned())]
        );
    }

    #[test]
    fn a_refused_address_gets_oauth_429_with_retry_after() {
        let err = OAuthError::too_many_failures_until(10_500, 1_000);
        assert_eq!(err.status, 429);
        assert_eq!(err.retry_after, Some(10));
        assert!(err.headers().contains(&("Retry-After", "10".to_owned())));
        let body: Value = serde_json::from_str(&err.body()).unwrap_or_default();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("failed authentication attempts")));
        // A guard's OAuthError from before the field reads as no Retry-After.
        let old: OAuthError =
            serde_json::from_str(r#"{"status":400,"error":"invalid_grant","description":"x"}"#)
                .unwrap_or_else(|_| OAuthError::invalid_request("unreadable"));
        assert_eq!(old, OAuthError::invalid_grant("x"));
    }
}
