//! The request check's protocol, the same for a key's guard and a grant's: one request to
//! decide ([`Check`]) and its decision ([`CheckAnswer`]). An admitted request says who
//! made it and what it holds, which is all the worker needs to answer or forward it.

use crate::check::admit::Refusal;
use crate::credentials::key::KeyType;
use crate::ids::{Actor, ClientId, GrantId, OrgId};
use crate::policy::ratelimit::Status;
use crate::policy::scope::{Grants, Requirement};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One request to decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// SHA-256 hex of the presented key.
    pub hash: String,
    /// What the request needs.
    pub requirement: Requirement,
    /// The client's address (`CF-Connecting-IP`), for a key's allow-list.
    #[serde(default)]
    pub address: Option<IpAddr>,
}

/// The decision for one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckAnswer {
    /// Let through and counted.
    Admitted(Box<Admitted>),
    /// Refused; nothing was counted.
    Refused {
        /// Why.
        refusal: Refusal,
        /// The guard's clock when it decided (for the headers).
        at_ms: u64,
    },
}

/// An admitted request: what the worker needs to answer or forward it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admitted {
    /// Who: the root key or a key.
    pub actor: Actor,
    /// The key's organization.
    pub organization_id: OrgId,
    /// Test or live: where it may be forwarded.
    pub key_type: KeyType,
    /// What the key holds (a management caller's grants).
    pub grants: Grants,
    /// Windows after this request.
    pub status: Status,
    /// The guard's clock when it decided.
    pub at_ms: u64,
    /// For an OAuth access token: the app and grant it speaks for.
    #[serde(default)]
    pub app: Option<AppGrant>,
}

/// Who an admitted access token speaks for: the origin's identity assertion names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppGrant {
    /// The app.
    pub client_id: ClientId,
    /// The grant.
    pub grant_id: GrantId,
    /// The admin key that approved it.
    pub approved_by: crate::ids::Approver,
}
