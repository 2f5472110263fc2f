//! `POST /v1/auth/verify`: a service not behind the gateway asks whether a key would be
//! let through, with the key's own guard deciding exactly as for a request (and counting
//! it as one when it is valid).
//!
//! What a caller learns is bounded by what it may list: a key of another organization
//! (or a live key, to a test-mode caller) is `NOT_FOUND`, as an unknown one is, before
//! anything of it is read or counted. A revoked key is `REVOKED` only to its own
//! organization, and only when the whole secret matches (SECURITY.md, "verify oracle").

use crate::base::method::Method;
use crate::base::network::parse_address;
use crate::check::admit::Refusal;
use crate::check::protocol::{Admitted, Check, CheckAnswer};
use crate::credentials::key::{ApiKey, KeyId, KeyType};
use crate::http::route::route;
use crate::ids::OrgId;
use crate::keys::admin::Caller;
use crate::keys::view::RateLimitView;
use crate::policy::body::object;
use crate::policy::error::{ApiError, Field};
use crate::policy::ratelimit::Status;
use crate::policy::scope::{Grants, Requirement};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// A verify request's body, read.
#[derive(Debug)]
pub struct VerifyRequest {
    /// The key to verify; `None` when the text cannot be a key (it is `NOT_FOUND`
    /// without asking anyone, and, like any malformed credential, costs nothing).
    pub key: Option<ApiKey>,
    /// What the request described by `method` and `path` would need (any valid key
    /// when no path is given).
    pub requirement: Requirement,
    /// The address the key is said to be used from (`ip`); none: a key with an
    /// allow-list is not allowed.
    pub address: Option<IpAddr>,
}

impl VerifyRequest {
    /// The check its key's guard decides.
    pub fn check(&self, key: &ApiKey) -> Check {
        Check {
            hash: key.hash_hex(),
            requirement: self.requirement.clone(),
            address: self.address,
        }
    }
}

fn text(value: &Value, field: Field) -> Result<&str, ApiError> {
    value.as_str().ok_or_else(|| {
        ApiError::invalid_field(field, format!("{} must be a string", field.as_str()))
    })
}

/// Reads `{"key", "method"?, "path"?, "ip"?}`.
pub fn parse_verify(body: &[u8]) -> Result<VerifyRequest, ApiError> {
    let map = object(body, &["key", "method", "path", "ip"])?;
    let key = match map.get("key") {
        Some(value) => ApiKey::parse(text(value, Field::Key)?).ok(),
        None => return Err(ApiError::invalid_field(Field::Key, "key is required")),
    };
    let method = match map.get("method") {
        Some(value) => Method::parse(text(value, Field::Method)?).map_err(|_| {
            ApiError::invalid_field(Field::Method, "method must be an HTTP method token")
        })?,
        None => Method::Get,
    };
    let requirement = match map.get("path") {
        None => Requirement::AnyValidKey,
        Some(value) => {
            let path = text(value, Field::Path)?;
            // The query says nothing of what a request needs.
            let path = path.split('?').next().unwrap_or_default();
            let field = |e: ApiError| {
                let field = if e.status == 405 {
                    Field::Method
                } else {
                    Field::Path
                };
                ApiError::invalid_field(field, format!("{}: {}", field.as_str(), e.details))
            };
            route(&method, path)
                .map_err(field)?
                .requirement(&method, &[])
        }
    };
    let address = match map.get("ip") {
        None => None,
        Some(value) => Some(parse_address(text(value, Field::Ip)?).ok_or_else(|| {
            ApiError::invalid_field(Field::Ip, "ip must be one IPv4 or IPv6 address")
        })?),
    };
    Ok(VerifyRequest {
        key,
        requirement,
        address,
    })
}

/// The keys a caller may verify: those it may list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Within {
    /// Only keys of this organization (`None`: the root key, any).
    pub organization: Option<OrgId>,
    /// Only keys of this type (a test-mode caller's: test keys).
    pub only: Option<KeyType>,
}

impl Within {
    /// What `caller` may list.
    pub fn of(caller: &Caller) -> Within {
        Within {
            organization: caller.organization,
            only: (caller.key_type == KeyType::Test).then_some(KeyType::Test),
        }
    }

    /// Whether a key of `organization` and `key_type` is visible.
    pub fn holds(&self, organization: OrgId, key_type: KeyType) -> bool {
        self.organization.is_none_or(|o| o == organization)
            && self.only.is_none_or(|t| t == key_type)
    }
}

/// One key to verify, for its guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify {
    /// The request the key is said to make.
    pub check: Check,
    /// Whose keys the caller may see.
    pub within: Within,
}

/// The verdict, as the API spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    /// It would be let through (and was counted).
    Valid,
    /// Unknown, of another organization, or not a key.
    NotFound,
    /// Revoked (told only to its own organization).
    Revoked,
    /// Past `expiresAt`, or a rolled-away secret past its grace.
    Expired,
    /// A scope is missing for `method` and `path`.
    Forbidden,
    /// A window is spent.
    RateLimited,
    /// Not from an address its allow-list names (or no `ip` given).
    IpNotAllowed,
    /// Its organization is suspended.
    Suspended,
}

impl VerifyCode {
    /// Whether the throttle counts it as a failed guess: the key did not prove itself.
    pub fn is_failed_authentication(self) -> bool {
        matches!(
            self,
            VerifyCode::NotFound | VerifyCode::Revoked | VerifyCode::Expired
        )
    }
}

/// Who a verified key is, when the caller may be told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedKey {
    /// The key.
    pub id: KeyId,
    /// Its organization.
    pub organization_id: OrgId,
    /// Test or live.
    pub key_type: KeyType,
    /// Its grants.
    pub grants: Grants,
}

/// A key's guard's answer to [`Verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The verdict.
    pub code: VerifyCode,
    /// Who it is (every code but `NotFound`).
    pub key: Option<VerifiedKey>,
    /// Its windows (after this request, when valid), once it proved itself and is live.
    pub status: Option<Status>,
    /// On `Valid`: the admission, which the identity assertion is made of.
    pub admitted: Option<Box<Admitted>>,
}

impl Verification {
    /// Unknown, or not the caller's to know.
    pub fn not_found() -> Verification {
        Verification {
            code: VerifyCode::NotFound,
            key: None,
            status: None,
            admitted: None,
        }
    }

    /// The verdict of the key's check, for `key`.
    pub fn of(key: VerifiedKey, answer: CheckAnswer, status: impl FnOnce() -> Status) -> Self {
        let (code, status, admitted) = match answer {
            CheckAnswer::Admitted(admitted) => {
                (VerifyCode::Valid, Some(admitted.status), Some(admitted))
            }
            CheckAnswer::Refused { refusal, .. } => match refusal {
                // The secret matched (the guard looked first): revoked.
                Refusal::Invalid => (VerifyCode::Revoked, None, None),
                Refusal::Expired | Refusal::TokenExpired => (VerifyCode::Expired, None, None),
                Refusal::Suspended => (VerifyCode::Suspended, Some(status()), None),
                Refusal::Forbidden { status, .. } => (VerifyCode::Forbidden, Some(status), None),
                Refusal::AddressNotAllowed { status, .. } => {
                    (VerifyCode::IpNotAllowed, Some(status), None)
                }
                Refusal::Limited { status, .. } => (VerifyCode::RateLimited, Some(status), None),
            },
        };
        Verification {
            code,
            key: Some(key),
            status,
            admitted,
        }
    }
}

/// `POST /v1/auth/verify`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView {
    /// `code == VALID`.
    pub valid: bool,
    /// The verdict.
    pub code: VerifyCode,
    /// The key (every code but `NOT_FOUND`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    /// Its organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<OrgId>,
    /// Test or live.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// Its grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Grants>,
    /// Its shown window (after this request, when valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitView>,
    /// On `VALID`: the identity assertion the origin would get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

impl VerifyView {
    /// The answer for `verification`, with the identity assertion made for it.
    pub fn of(verification: &Verification, identity: Option<String>) -> VerifyView {
        let key = verification.key.as_ref();
        VerifyView {
            valid: verification.code == VerifyCode::Valid,
            code: verification.code,
            key_id: key.map(|k| k.id),
            organization_id: key.map(|k| k.organization_id),
            key_type: key.map(|k| k.key_type),
            scopes: key.map(|k| k.grants.clone()),
            rate_limit: verification
                .status
                .as_ref()
                .map(|s| RateLimitView::from(crate::http::headers::shown_window(s))),
            identity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::scope::KEY_MANAGEMENT_RESOURCE;

    #[test]
    fn bodies() {
        let live = ApiKey::generate(
            KeyType::Live,
            &[7; crate::credentials::key::RANDOM_BYTES_FOR_KEY],
        );
        let body = format!(
            r#"{{"key":"{}","method":"POST","path":"/v1/accounts?x=1","ip":"::ffff:203.0.113.7"}}"#,
            live.expose_secret()
        );
        let read = parse_verify(body.as_bytes()).expect("valid");
        assert_eq!(read.key.map(|k| k.id()), Some(live.id()));
        assert_eq!(
            read.requirement,
            Requirement::for_request(&Method::Post, &[], "accounts")
        );
        assert_eq!(read.address, Some("203.0.113.7".parse().expect("ip")));
        let bare = parse_verify(br#"{"key":"nope"}"#).expect("valid");
        assert!(bare.key.is_none());
        assert_eq!(bare.requirement, Requirement::AnyValidKey);
        let admin = parse_verify(br#"{"key":"x","method":"DELETE","path":"/v1/api-keys"}"#);
        assert_eq!(admin.err().map(|e| e.status), Some(400));
        let keys = parse_verify(br#"{"key":"x","path":"/v1/api-keys"}"#).expect("valid");
        assert_eq!(
            keys.requirement,
            Requirement::for_request(&Method::Get, &[], KEY_MANAGEMENT_RESOURCE)
        );
        let field = |body: &[u8]| parse_verify(body).err().and_then(|e| e.field);
        assert_eq!(field(b"{}"), Some(Field::Key));
        assert_eq!(field(br#"{"key":1}"#), Some(Field::Key));
        assert_eq!(field(br#"{"key":"x","ip":"10.0.0.0/8"}"#), Some(Field::Ip));
        assert_eq!(field(br#"{"key":"x","path":"/v2/x"}"#), Some(Field::Path));
        assert_eq!(field(br#"{"key":"x","method":"G T"}"#), Some(Field::Method));
        assert_eq!(
            field(br#"{"key":"x","method":"DELETE","path":"/v1/api-keys"}"#),
            Some(Field::Method)
        );
        assert_eq!(field(br#"{"key":"x","other":1}"#), None);
    }

    #[test]
    fn what_a_caller_may_see() {
        let org = OrgId::parse("org_0123456789abcdef").expect("id");
        let other = OrgId::parse("org_fedcba9876543210").expect("id");
        let mine = Within {
            organization: Some(org),
            only: None,
        };
        assert!(mine.holds(org, KeyType::Live));
        assert!(!mine.holds(other, KeyType::Live));
        let test_mode = Within {
            organization: Some(org),
            only: Some(KeyType::Test),
        };
        assert!(!test_mode.holds(org, KeyType::Live));
        let root = Within {
            organization: None,
            only: None,
        };
        assert!(root.holds(other, KeyType::Test));
    }
}
