//! The terms a credential's guard holds of the objects its authority derives from: its
//! organization's plan and status, and (for an OAuth grant) the approving key's scopes
//! and life. Each carries its source's revision, so a copy never replaces a newer one
//! (ARCHITECTURE.md, "Derived authority").

use crate::policy::plan::Plan;
use crate::policy::scope::Grants;
use serde::{Deserialize, Serialize};

/// Whether an organization's keys work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgStatus {
    /// Its keys work.
    #[default]
    Active,
    /// Every key of it is refused, admin keys included.
    Suspended,
}

/// What a key's guard keeps of its organization: all a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgTerms {
    /// Defaults and ceilings of the organization's keys.
    pub plan: Plan,
    /// Suspended organizations' keys are refused.
    pub status: OrgStatus,
    /// The organization record's revision when these terms were taken: a copy never
    /// replaces a newer one, whatever order copies arrive in.
    #[serde(default)]
    pub revision: u64,
}

impl OrgTerms {
    /// Whether these terms replace `held` (none held, or an older revision).
    pub fn supersede(&self, held: Option<&OrgTerms>) -> bool {
        held.is_none_or(|held| self.revision > held.revision)
    }
}

/// What an OAuth grant holds of the key that approved it: the grant never does more
/// than this, now. Taken from the key's guard when the grant begins, and pushed to the
/// grant again by every change of the key (ARCHITECTURE.md, "Derived authority").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproverTerms {
    /// The key's scopes.
    pub grants: Grants,
    /// The key's expiry, ms.
    pub expires_ms: Option<u64>,
    /// The key was revoked.
    pub revoked: bool,
    /// The key record's revision: the higher one wins.
    pub revision: u64,
}

impl ApproverTerms {
    /// Whether the approver still holds anything at `now_ms`.
    pub fn in_force_at(&self, now_ms: u64) -> bool {
        !self.revoked && self.expires_ms.is_none_or(|at| now_ms < at)
    }

    /// Whether these terms replace `held` (none held, or an older revision).
    pub fn supersede(&self, held: Option<&ApproverTerms>) -> bool {
        held.is_none_or(|held| self.revision > held.revision)
    }
}
