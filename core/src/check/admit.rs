//! The one admit sequence, for every credential: once a key or an access token has
//! proved itself (its own guard decides that: hash, revocation, expiry), a request is
//! admitted only if its organization is not suspended, it comes from an address its
//! allow-list names (keys only), its scopes allow it, and its limits have room, in that
//! order. Keys (`record::KeyRecord::decide`) and OAuth grants
//! (`grant::GrantState::check`) both end in [`admit`], so the rule is written once.

use crate::policy::error::ApiError;
use crate::policy::ratelimit::{self, Counters, Outcome, Policy, Status};
use crate::policy::scope::MissingScope;
use crate::policy::scope::{Grants, Requirement};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Why a request with a key was refused. This is what crosses from the key's guard to
/// the worker, which turns it into the catalogue's error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Unknown id, wrong secret or revoked: never told apart.
    Invalid,
    /// Past `expiresAt`, or a rolled-away secret past its grace.
    Expired,
    /// An OAuth access token past its lifetime.
    TokenExpired,
    /// Authenticated, but a scope is missing. Not counted.
    Forbidden {
        /// What was missing.
        missing: MissingScope,
        /// Windows as they stand.
        status: Status,
    },
    /// The key's organization is suspended. Not counted.
    Suspended,
    /// The key has an allow-list, and the request's address is not on it. Not counted
    /// against the limit.
    AddressNotAllowed {
        /// The request's address, when it had one.
        address: Option<IpAddr>,
        /// Windows as they stand.
        status: Status,
    },
    /// Authenticated and authorized, but a window is spent. Not counted.
    Limited {
        /// Windows as they stand.
        status: Status,
        /// Whole seconds to wait.
        retry_after_s: u64,
    },
}

impl Refusal {
    /// Whether this refusal is a failed authentication, which the brute-force throttle
    /// counts against the client's address (a 403 or 429 proves the key was right).
    pub fn is_failed_authentication(&self) -> bool {
        matches!(
            self,
            Refusal::Invalid | Refusal::Expired | Refusal::TokenExpired
        )
    }

    /// The catalogue's error for this refusal.
    pub fn error(&self) -> ApiError {
        match self {
            Refusal::Invalid => ApiError::invalid_key(),
            Refusal::Expired => ApiError::expired_key(),
            Refusal::TokenExpired => ApiError::expired_token(),
            Refusal::Suspended => ApiError::organization_suspended(),
            Refusal::AddressNotAllowed { address, .. } => ApiError::ip_not_allowed(*address),
            Refusal::Forbidden { missing, .. } => ApiError::forbidden(missing),
            Refusal::Limited { retry_after_s, .. } => ApiError::rate_limited(*retry_after_s),
        }
    }

    /// The windows to show in the rate-limit headers, when the key was authenticated.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Refusal::Forbidden { status, .. }
            | Refusal::Limited { status, .. }
            | Refusal::AddressNotAllowed { status, .. } => Some(status),
            Refusal::Invalid | Refusal::Expired | Refusal::TokenExpired | Refusal::Suspended => {
                None
            }
        }
    }
}

/// An admitted request: the counters to store and the windows after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Counters to store.
    pub counters: Counters,
    /// Windows after this request.
    pub status: Status,
}

/// Where a request comes from, held against its credential's allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// On the list, or the credential has none.
    Allowed,
    /// Not on the list: the request's address, when it had one.
    NotAllowed(Option<IpAddr>),
}

/// Admits a request of a credential that proved itself, or says why not: `Suspended`,
/// then `AddressNotAllowed`, then `Forbidden` (each with the windows as they stand), then
/// `Limited`. Nothing is counted on a refusal; an admission carries the counters to
/// store.
pub fn admit(
    suspended: bool,
    place: Place,
    grants: &Grants,
    requirement: &Requirement,
    policy: &Policy,
    counters: &Counters,
    now_ms: u64,
) -> Result<Admission, Refusal> {
    if suspended {
        return Err(Refusal::Suspended);
    }
    if let Place::NotAllowed(address) = place {
        return Err(Refusal::AddressNotAllowed {
            address,
            status: ratelimit::status(policy, counters, now_ms),
        });
    }
    if let Err(missing) = grants.authorize(requirement) {
        return Err(Refusal::Forbidden {
            missing,
            status: ratelimit::status(policy, counters, now_ms),
        });
    }
    match ratelimit::check(policy, counters, now_ms) {
        Outcome::Admitted { counters, status } => Ok(Admission { counters, status }),
        Outcome::Limited {
            status,
            retry_after_s,
            ..
        } => Err(Refusal::Limited {
            status,
            retry_after_s,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::method::Method;
    use crate::policy::scope::ScopeSet;

    #[test]
    fn suspension_comes_before_scope_and_scope_before_the_limit() {
        let grants = Grants::Everywhere(ScopeSet::default());
        let write = Requirement::for_request(&Method::Post, &[], "accounts");
        let policy = Policy::new(1, None, 1).expect("valid");
        let spent = match admit(
            false,
            Place::Allowed,
            &Grants::root(),
            &write,
            &policy,
            &Counters::default(),
            0,
        ) {
            Ok(admission) => admission.counters,
            Err(refusal) => panic!("{refusal:?}"),
        };
        let at = |suspended, grants: &Grants| {
            admit(
                suspended,
                Place::Allowed,
                grants,
                &write,
                &policy,
                &spent,
                1,
            )
        };
        assert_eq!(at(true, &grants), Err(Refusal::Suspended));
        assert!(matches!(at(false, &grants), Err(Refusal::Forbidden { .. })));
        assert!(matches!(
            at(false, &Grants::root()),
            Err(Refusal::Limited { .. })
        ));
    }
}
