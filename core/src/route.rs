//! Which endpoint a request is for, decided before any storage is touched, so a wrong
//! method or an unknown management path never costs the client a counted request.

use crate::error::ApiError;
use crate::key::KeyId;
use crate::path::{parse_api_path, PathError};
use crate::scope::KEY_MANAGEMENT_RESOURCE;

/// An endpoint of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /v1/auth/test`: any valid key, no scope needed.
    AuthTest,
    /// `GET|POST /v1/api-keys`
    Keys,
    /// `GET|PATCH|DELETE /v1/api-keys/{id}`
    Key(KeyId),
    /// `POST /v1/api-keys/{id}/roll`
    RollKey(KeyId),
    /// `GET /v1/api-keys/{id}/usage`
    KeyUsage(KeyId),
    /// Anything else under `/v1/`: forwarded to the origin.
    Upstream {
        /// What scopes are checked against.
        resource: &'a str,
    },
}

/// The resource of the auth test endpoint.
const AUTH_RESOURCE: &str = "auth";

impl Route<'_> {
    /// The resource scopes are checked against; `None` when no scope is needed.
    pub fn resource(&self) -> Option<&str> {
        match self {
            Route::AuthTest => None,
            Route::Keys | Route::Key(_) | Route::RollKey(_) | Route::KeyUsage(_) => {
                Some(KEY_MANAGEMENT_RESOURCE)
            }
            Route::Upstream { resource } => Some(resource),
        }
    }
}

fn allow(method: &str, allowed: &'static str) -> Result<(), ApiError> {
    if allowed.split(", ").any(|m| m == method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(allowed))
    }
}

fn key_id(text: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(text).ok_or_else(|| {
        ApiError::invalid_request(
            "The key id in the path must have the form key_ followed by 16 letters or digits",
        )
    })
}

/// Routes a request by method and raw (percent-encoded) path.
pub fn route<'a>(method: &str, raw_path: &'a str) -> Result<Route<'a>, ApiError> {
    let path = parse_api_path(raw_path).map_err(|e| match e {
        PathError::NotApi => ApiError::not_found("No such endpoint; API paths start with /v1/"),
        other => ApiError::invalid_request(format!("Path refused: {}", other.reason())),
    })?;
    let rest = path.rest.as_slice();
    match path.resource {
        AUTH_RESOURCE => match rest {
            ["test"] => allow(method, "GET, HEAD").map(|()| Route::AuthTest),
            _ => Err(ApiError::not_found(
                "No such endpoint under /v1/auth; try /v1/auth/test",
            )),
        },
        KEY_MANAGEMENT_RESOURCE => match rest {
            [] => allow(method, "GET, POST").map(|()| Route::Keys),
            [id] => {
                allow(method, "GET, PATCH, DELETE")?;
                key_id(id).map(Route::Key)
            }
            [id, "roll"] => {
                allow(method, "POST")?;
                key_id(id).map(Route::RollKey)
            }
            [id, "usage"] => {
                allow(method, "GET")?;
                key_id(id).map(Route::KeyUsage)
            }
            _ => Err(ApiError::not_found("No such key-management endpoint")),
        },
        resource => Ok(Route::Upstream { resource }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "key_0123456789abcdef";

    #[test]
    fn management_routes() {
        let id = KeyId::parse(ID).expect("id");
        assert_eq!(route("GET", "/v1/api-keys"), Ok(Route::Keys));
        assert_eq!(route("POST", "/v1/api-keys/"), Ok(Route::Keys));
        assert_eq!(
            route("PATCH", &format!("/v1/api-keys/{ID}")),
            Ok(Route::Key(id))
        );
        assert_eq!(
            route("POST", &format!("/v1/api-keys/{ID}/roll")),
            Ok(Route::RollKey(id))
        );
        assert_eq!(
            route("GET", &format!("/v1/api-keys/{ID}/usage")),
            Ok(Route::KeyUsage(id))
        );
    }

    #[test]
    fn wrong_methods_and_ids() {
        let e = route("PUT", "/v1/api-keys").expect_err("405");
        assert_eq!((e.status, e.allow), (405, Some("GET, POST")));
        assert_eq!(
            route("GET", &format!("/v1/api-keys/{ID}/roll")).map_err(|e| e.status),
            Err(405)
        );
        assert_eq!(
            route("GET", "/v1/api-keys/nope").map_err(|e| e.status),
            Err(400)
        );
        assert_eq!(
            route("GET", &format!("/v1/api-keys/{ID}/x")).map_err(|e| e.status),
            Err(404)
        );
        assert_eq!(
            route("POST", "/v1/auth/test").map_err(|e| e.status),
            Err(405)
        );
        assert_eq!(
            route("GET", "/v1/auth/other").map_err(|e| e.status),
            Err(404)
        );
        assert_eq!(route("GET", "/v2/x").map_err(|e| e.status), Err(404));
        assert_eq!(route("GET", "/v1/a/../b").map_err(|e| e.status), Err(400));
    }

    #[test]
    fn everything_else_goes_upstream() {
        assert_eq!(
            route("DELETE", "/v1/opportunities/opp_1"),
            Ok(Route::Upstream {
                resource: "opportunities"
            })
        );
        assert_eq!(
            route("GET", "/v1/auth/test").map(|r| r.resource().map(str::to_owned)),
            Ok(None)
        );
    }
}
