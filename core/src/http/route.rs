//! Which endpoint a request is for, decided before any storage is touched, so a wrong
//! method or an unknown management path never costs the client a counted request.

use crate::base::method::Method;
use crate::base::path::{parse_api_path, PathError};
use crate::credentials::key::KeyId;
use crate::ids::{ClientId, GrantId, InvitationId, OrgId, PersonId, WebhookId};
use crate::policy::error::ApiError;
use crate::policy::scope::{Requirement, KEY_MANAGEMENT_RESOURCE};

/// The door a request comes in by, decided by its path alone before anything else is
/// read: the first step of routing; [`route`] is the second, for [`Door::Api`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// Needs no credential: the index, the JWKS, the OpenAPI document, and secret
    /// scanning (which authenticates its caller itself).
    Public,
    /// `/dashboard` and below: pages and their JSON API, with a session cookie.
    Dashboard,
    /// `/oauth/…` and the RFC 8414 metadata.
    OAuth,
    /// Everything else: a credential in `Authorization`, to the gateway's API or the
    /// origin's.
    Api,
}

/// Secret scanning's endpoint: GitHub posts reports of leaked credentials here.
pub const SECRET_SCANNING_PATH: &str = "/secret-scanning/github";
/// The dashboard's root page.
pub const DASHBOARD_ROOT: &str = "/dashboard";
/// The OAuth authorization server's metadata (RFC 8414).
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The door `path` opens.
pub fn door(path: &str) -> Door {
    match path {
        "/" | "/.well-known/jwks.json" | "/openapi.json" | SECRET_SCANNING_PATH => Door::Public,
        DASHBOARD_ROOT => Door::Dashboard,
        OAUTH_METADATA_PATH => Door::OAuth,
        _ if path.starts_with("/dashboard/") => Door::Dashboard,
        _ if path.starts_with("/oauth/") => Door::OAuth,
        _ => Door::Api,
    }
}

/// An endpoint of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /v1/auth/test`: any valid key, no scope needed.
    AuthTest,
    /// `POST /v1/auth/verify`: another key's verdict, for a key that may list it.
    Verify,
    /// `GET|POST /v1/api-keys`
    Keys,
    /// `GET|PATCH|DELETE /v1/api-keys/{id}`
    Key(KeyId),
    /// `POST /v1/api-keys/{id}/roll`
    RollKey(KeyId),
    /// `GET /v1/api-keys/{id}/usage`
    KeyUsage(KeyId),
    /// `GET|POST /v1/organizations`
    Orgs,
    /// `GET|PATCH /v1/organizations/{id}`
    Org(OrgId),
    /// `GET /v1/audit-log`
    AuditLog,
    /// `GET|POST /v1/organizations/{id}/invitations`
    Invitations(OrgId),
    /// `DELETE /v1/organizations/{id}/invitations/{invId}`
    Invitation(OrgId, InvitationId),
    /// `GET /v1/organizations/{id}/members`
    Members(OrgId),
    /// `PATCH|DELETE /v1/organizations/{id}/members/{personId}`
    Member(OrgId, PersonId),
    /// `POST /v1/organizations/{id}/members/{personId}/recovery`: a recovery link for a
    /// member who lost every passkey.
    MemberRecovery(OrgId, PersonId),
    /// `GET|POST /v1/oauth-clients`
    OAuthClients,
    /// `GET|PATCH|DELETE /v1/oauth-clients/{clientId}`
    OAuthClient(ClientId),
    /// `GET /v1/oauth-authorizations`: the grants the organization gave to apps.
    OAuthAuthorizations,
    /// `DELETE /v1/oauth-authorizations/{grantId}`: revoke one.
    OAuthAuthorization(GrantId),
    /// `GET|POST /v1/auth/webhooks`
    Webhooks,
    /// `GET|PATCH|DELETE /v1/auth/webhooks/{id}`
    Webhook(WebhookId),
    /// `POST /v1/auth/webhooks/{id}/rotate-secret`
    WebhookSecret(WebhookId),
    /// `GET /v1/auth/webhooks/{id}/deliveries`
    WebhookDeliveries(WebhookId),
    /// Anything else under `/v1/`: forwarded to the origin.
    Upstream {
        /// What scopes are checked against.
        resource: &'a str,
    },
}

/// The resource of the auth test endpoint.
const AUTH_RESOURCE: &str = "auth";
/// The organizations endpoints' resource.
pub const ORGS_RESOURCE: &str = "organizations";
/// The audit log's resource.
pub const AUDIT_RESOURCE: &str = "audit-log";
/// The OAuth apps' resource.
pub const OAUTH_CLIENTS_RESOURCE: &str = "oauth-clients";
/// The resource of the grants an organization gave to apps.
pub const OAUTH_AUTHORIZATIONS_RESOURCE: &str = "oauth-authorizations";

impl Route<'_> {
    /// Whether this is the management API (which needs the root key configured, and
    /// `admin`, checked on key management's resource).
    pub fn is_management(&self) -> bool {
        !matches!(
            self,
            Route::AuthTest | Route::Verify | Route::Upstream { .. }
        )
    }

    /// What the request needs of its key. `overrides` are the methods named by
    /// method-override headers; they matter only where the request is forwarded.
    pub fn requirement(&self, method: &Method, overrides: &[Method]) -> Requirement {
        match self {
            Route::AuthTest => Requirement::AnyValidKey,
            Route::Upstream { resource } => Requirement::for_request(method, overrides, resource),
            // What listing the keys needs: a caller learns no more of a key than that.
            Route::Verify => Requirement::for_request(&Method::Get, &[], KEY_MANAGEMENT_RESOURCE),
            _ => Requirement::for_request(method, &[], KEY_MANAGEMENT_RESOURCE),
        }
    }
}

fn allow(method: &Method, allowed: &'static [Method]) -> Result<(), ApiError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(allowed))
    }
}

fn org_id(text: &str) -> Result<OrgId, ApiError> {
    OrgId::parse(text).ok_or_else(|| {
        ApiError::invalid_request(
            "The organization id in the path must have the form org_ followed by 16 letters or digits",
        )
    })
}

fn person_id(text: &str) -> Result<PersonId, ApiError> {
    PersonId::parse(text).ok_or_else(|| {
        ApiError::invalid_request(
            "The person id in the path must have the form person_ followed by 16 letters or digits",
        )
    })
}

fn webhook_id(text: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(text).ok_or_else(|| {
        ApiError::invalid_request(
            "The webhook id in the path must have the form wh_ followed by 16 letters or digits",
        )
    })
}

fn key_id(text: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(text).ok_or_else(|| {
        ApiError::invalid_request(
            "The key id in the path must have the form key_ followed by 16 letters or digits",
        )
    })
}

/// Routes a request by method and raw (percent-encoded) path.
pub fn route<'a>(method: &Method, raw_path: &'a str) -> Result<Route<'a>, ApiError> {
    use Method::{Delete, Get, Head, Patch, Post};
    const AUTH_TEST: &[Method] = &[Get, Head];
    const KEYS: &[Method] = &[Get, Post];
    const KEY: &[Method] = &[Get, Patch, Delete];
    const ROLL: &[Method] = &[Post];
    const USAGE: &[Method] = &[Get];
    const ORG: &[Method] = &[Get, Patch];
    /// What `Allow` lists for forwarded resources: any method but the tunnelling ones
    /// is forwarded; these are the ones scopes name.
    const FORWARDED: &[Method] = &[Get, Head, Method::Options, Post, Method::Put, Patch, Delete];
    let path = parse_api_path(raw_path).map_err(|e| match e {
        PathError::NotApi => ApiError::not_found("No such endpoint; API paths start with /v1/"),
        other => ApiError::invalid_request(format!("Path refused: {}", other.reason())),
    })?;
    let rest = path.rest.as_slice();
    match path.resource {
        AUTH_RESOURCE => match rest {
            ["test"] => allow(method, AUTH_TEST).map(|()| Route::AuthTest),
            ["verify"] => allow(method, ROLL).map(|()| Route::Verify),
            ["webhooks"] => allow(method, KEYS).map(|()| Route::Webhooks),
            ["webhooks", id] => {
                allow(method, KEY)?;
                webhook_id(id).map(Route::Webhook)
            }
            ["webhooks", id, "rotate-secret"] => {
                allow(method, ROLL)?;
                webhook_id(id).map(Route::WebhookSecret)
            }
            ["webhooks", id, "deliveries"] => {
                allow(method, USAGE)?;
                webhook_id(id).map(Route::WebhookDeliveries)
            }
            _ => Err(ApiError::not_found(
                "No such endpoint under /v1/auth; try /v1/auth/test, /v1/auth/verify or /v1/auth/webhooks",
            )),
        },
        KEY_MANAGEMENT_RESOURCE => match rest {
            [] => allow(method, KEYS).map(|()| Route::Keys),
            [id] => {
                allow(method, KEY)?;
                key_id(id).map(Route::Key)
            }
            [id, "roll"] => {
                allow(method, ROLL)?;
                key_id(id).map(Route::RollKey)
            }
            [id, "usage"] => {
                allow(method, USAGE)?;
                key_id(id).map(Route::KeyUsage)
            }
            _ => Err(ApiError::not_found("No such key-management endpoint")),
        },
        ORGS_RESOURCE => match rest {
            [] => allow(method, KEYS).map(|()| Route::Orgs),
            [id] => {
                allow(method, ORG)?;
                org_id(id).map(Route::Org)
            }
            [id, "invitations"] => {
                allow(method, KEYS)?;
                org_id(id).map(Route::Invitations)
            }
            [id, "invitations", inv] => {
                allow(method, &[Delete])?;
                let org = org_id(id)?;
                InvitationId::parse(inv)
                    .map(|inv| Route::Invitation(org, inv))
                    .ok_or_else(|| {
                        ApiError::invalid_request(
                            "The invitation id in the path must have the form inv_ followed by 16 letters or digits",
                        )
                    })
            }
            [id, "members"] => {
                allow(method, USAGE)?;
                org_id(id).map(Route::Members)
            }
            [id, "members", person] => {
                allow(method, &[Patch, Delete])?;
                let org = org_id(id)?;
                person_id(person).map(|person| Route::Member(org, person))
            }
            [id, "members", person, "recovery"] => {
                allow(method, &[Post])?;
                let org = org_id(id)?;
                person_id(person).map(|person| Route::MemberRecovery(org, person))
            }
            _ => Err(ApiError::not_found("No such organizations endpoint")),
        },
        AUDIT_RESOURCE => match rest {
            [] => allow(method, USAGE).map(|()| Route::AuditLog),
            _ => Err(ApiError::not_found("No such audit-log endpoint")),
        },
        OAUTH_CLIENTS_RESOURCE => match rest {
            [] => allow(method, KEYS).map(|()| Route::OAuthClients),
            [id] => {
                allow(method, KEY)?;
                ClientId::parse(id).map(Route::OAuthClient).ok_or_else(|| {
                    ApiError::invalid_request(
                        "The app id in the path must have the form app_ followed by 24 letters or digits",
                    )
                })
            }
            _ => Err(ApiError::not_found("No such OAuth apps endpoint")),
        },
        OAUTH_AUTHORIZATIONS_RESOURCE => match rest {
            [] => allow(method, USAGE).map(|()| Route::OAuthAuthorizations),
            [id] => {
                allow(method, &[Delete])?;
                GrantId::parse(id).map(Route::OAuthAuthorization).ok_or_else(|| {
                    ApiError::invalid_request(
                        "The grant id in the path must have the form grant_ followed by 16 letters or digits",
                    )
                })
            }
            _ => Err(ApiError::not_found("No such OAuth authorizations endpoint")),
        },
        _ if method.is_never_forwarded() => Err(ApiError::method_not_allowed(FORWARDED)),
        resource => Ok(Route::Upstream { resource }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_opens_one_door() {
        assert_eq!(door("/"), Door::Public);
        assert_eq!(door("/openapi.json"), Door::Public);
        assert_eq!(door("/.well-known/jwks.json"), Door::Public);
        assert_eq!(door(SECRET_SCANNING_PATH), Door::Public);
        assert_eq!(door("/dashboard"), Door::Dashboard);
        assert_eq!(door("/dashboard/keys"), Door::Dashboard);
        assert_eq!(door("/dashboardx"), Door::Api);
        assert_eq!(door("/oauth/token"), Door::OAuth);
        assert_eq!(door(OAUTH_METADATA_PATH), Door::OAuth);
        assert_eq!(door("/oauth"), Door::Api);
        assert_eq!(door("/v1/api-keys"), Door::Api);
        assert_eq!(door("/openapi.json/"), Door::Api);
    }

    const ID: &str = "key_0123456789abcdef";

    fn m(token: &str) -> Method {
        Method::parse(token).expect("method")
    }

    #[test]
    fn management_routes() {
        let id = KeyId::parse(ID).expect("id");
        assert_eq!(route(&m("GET"), "/v1/api-keys"), Ok(Route::Keys));
        assert_eq!(route(&m("POST"), "/v1/api-keys/"), Ok(Route::Keys));
        assert_eq!(
            route(&m("PATCH"), &format!("/v1/api-keys/{ID}")),
            Ok(Route::Key(id))
        );
        assert_eq!(
            route(&m("POST"), &format!("/v1/api-keys/{ID}/roll")),
            Ok(Route::RollKey(id))
        );
        assert_eq!(
            route(&m("GET"), &format!("/v1/api-keys/{ID}/usage")),
            Ok(Route::KeyUsage(id))
        );
    }

    #[test]
    fn members_routes() {
        let org = "org_0123456789abcdef";
        let person = PersonId::parse("person_0123456789abcdef").expect("id");
        let members = format!("/v1/organizations/{org}/members");
        let one = format!("{members}/{person}");
        let org = OrgId::parse(org).expect("org");
        assert_eq!(route(&m("GET"), &members), Ok(Route::Members(org)));
        assert_eq!(route(&m("PATCH"), &one), Ok(Route::Member(org, person)));
        assert_eq!(route(&m("DELETE"), &one), Ok(Route::Member(org, person)));
        assert_eq!(
            route(&m("POST"), &format!("{one}/recovery")),
            Ok(Route::MemberRecovery(org, person))
        );
        assert_eq!(route(&m("POST"), &members).map_err(|e| e.status), Err(405));
        assert_eq!(route(&m("GET"), &one).map_err(|e| e.status), Err(405));
        assert_eq!(
            route(&m("PATCH"), &format!("{members}/person_x")).map_err(|e| e.status),
            Err(400)
        );
    }

    #[test]
    fn wrong_methods_and_ids() {
        let e = route(&m("PUT"), "/v1/api-keys").expect_err("405");
        assert_eq!(e.status, 405);
        assert_eq!(e.headers(), vec![("Allow", "GET, POST".to_owned())]);
        assert_eq!(
            route(&m("GET"), &format!("/v1/api-keys/{ID}/roll")).map_err(|e| e.status),
            Err(405)
        );
        assert_eq!(
            route(&m("GET"), "/v1/api-keys/nope").map_err(|e| e.status),
            Err(400)
        );
        assert_eq!(
            route(&m("GET"), &format!("/v1/api-keys/{ID}/x")).map_err(|e| e.status),
            Err(404)
        );
        assert_eq!(
            route(&m("POST"), "/v1/auth/test").map_err(|e| e.status),
            Err(405)
        );
        assert_eq!(
            route(&m("GET"), "/v1/auth/other").map_err(|e| e.status),
            Err(404)
        );
        assert_eq!(route(&m("GET"), "/v2/x").map_err(|e| e.status), Err(404));
        assert_eq!(
            route(&m("GET"), "/v1/auth/verify").map_err(|e| e.status),
            Err(405)
        );
        let verify = route(&m("POST"), "/v1/auth/verify").expect("route");
        assert_eq!(verify, Route::Verify);
        let id = WebhookId::parse("wh_0123456789abcdef").expect("id");
        assert_eq!(route(&m("POST"), "/v1/auth/webhooks"), Ok(Route::Webhooks));
        assert_eq!(
            route(&m("PATCH"), "/v1/auth/webhooks/wh_0123456789abcdef"),
            Ok(Route::Webhook(id))
        );
        assert_eq!(
            route(
                &m("POST"),
                "/v1/auth/webhooks/wh_0123456789abcdef/rotate-secret"
            ),
            Ok(Route::WebhookSecret(id))
        );
        assert_eq!(
            route(
                &m("GET"),
                "/v1/auth/webhooks/wh_0123456789abcdef/deliveries"
            ),
            Ok(Route::WebhookDeliveries(id))
        );
        assert_eq!(
            route(&m("GET"), "/v1/auth/webhooks/wh_x").map_err(|e| e.status),
            Err(400)
        );
        assert_eq!(
            route(
                &m("GET"),
                "/v1/auth/webhooks/wh_0123456789abcdef/rotate-secret"
            )
            .map_err(|e| e.status),
            Err(405)
        );
        assert!(Route::Webhooks.is_management());
        assert!(!verify.is_management());
        assert_eq!(
            verify.requirement(&Method::Post, &[Method::Delete]),
            Requirement::for_request(&Method::Get, &[], KEY_MANAGEMENT_RESOURCE)
        );
        assert_eq!(
            route(&m("GET"), "/v1/a/../b").map_err(|e| e.status),
            Err(400)
        );
    }

    #[test]
    fn tunnelling_methods_are_never_forwarded() {
        let e = route(&m("TRACE"), "/v1/accounts").expect_err("405");
        assert_eq!(e.status, 405);
        assert_eq!(
            route(&m("PROPFIND"), "/v1/accounts"),
            Ok(Route::Upstream {
                resource: "accounts"
            })
        );
        assert_eq!(
            route(&m("TRACE"), "/v1/api-keys").map_err(|e| e.status),
            Err(405)
        );
    }

    #[test]
    fn everything_else_goes_upstream() {
        assert_eq!(
            route(&m("DELETE"), "/v1/opportunities/opp_1"),
            Ok(Route::Upstream {
                resource: "opportunities"
            })
        );
        assert_eq!(
            route(&m("GET"), "/v1/auth/test").map(|r| r.requirement(&Method::Get, &[])),
            Ok(Requirement::AnyValidKey)
        );
        // An override names a method the management API does not forward: ignored there.
        let keys = route(&m("POST"), "/v1/api-keys").expect("route");
        assert_eq!(
            keys.requirement(&Method::Post, &[Method::Delete]),
            Requirement::for_request(&Method::Get, &[], KEY_MANAGEMENT_RESOURCE)
        );
        assert!(keys.is_management());
        let org = "org_0123456789abcdef";
        assert_eq!(
            route(&m("PATCH"), &format!("/v1/organizations/{org}")),
            Ok(Route::Org(OrgId::parse(org).expect("id")))
        );
        assert_eq!(route(&m("POST"), "/v1/organizations"), Ok(Route::Orgs));
        assert_eq!(route(&m("GET"), "/v1/audit-log"), Ok(Route::AuditLog));
        assert_eq!(
            route(&m("DELETE"), &format!("/v1/organizations/{org}")).map_err(|e| e.status),
            Err(405)
        );
        assert_eq!(
            route(&m("GET"), "/v1/organizations/acme").map_err(|e| e.status),
            Err(400)
        );
    }
}
