//! Passkey ceremonies' challenges: single-use and short-lived. Each challenge names a
//! `CeremonyGuard` (its base64url), which holds what the ceremony is for until it is
//! taken once, or [`CEREMONY_TTL_MS`] has passed.

use crate::ids::{OrgId, PersonId};
pub use crate::people::webauthn::CEREMONY_TTL_MS;
use serde::{Deserialize, Serialize};

/// What a challenge was given for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// Creating a passkey through an invitation: the new person, and the link's
    /// organization and token hash.
    Register {
        /// The organization invited to.
        org: OrgId,
        /// SHA-256 hex of the invitation token.
        token_hash: String,
        /// The person being created (their id is the user handle), or, through a
        /// recovery link, the member who gets another passkey.
        person_id: PersonId,
        /// A recovery link's: the person exists and gets this passkey added.
        #[serde(default)]
        recovery: bool,
    },
    /// Signing in with a discoverable passkey.
    SignIn,
    /// Creating a passkey for a self-serve sign-up: the new person and what they asked.
    SignUp {
        /// The person being created (their id is the user handle).
        person_id: PersonId,
        /// Their email.
        email: String,
        /// Their name.
        name: String,
        /// Their new organization's name.
        organization_name: String,
    },
    /// A signed-in person adding another passkey.
    AddPasskey {
        /// Who (their id is the user handle).
        person_id: PersonId,
    },
}

/// A ceremony as its guard holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    /// For what.
    pub purpose: Purpose,
    /// Accepted until, ms.
    pub expires_ms: u64,
}

/// What the worker asks a ceremony's guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CeremonyInput {
    /// Remember a new challenge (refused if one is already there).
    Open(Ceremony),
    /// Take it: once only, and only before it expires.
    Take,
}

/// A ceremony guard's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CeremonyAnswer {
    /// Opened.
    Opened,
    /// Taken now; it is gone.
    Taken(Ceremony),
    /// No such challenge (never given, taken, expired, or already open).
    Missing,
}

/// What one ceremony's guard holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CeremonyState {
    /// The ceremony, until taken.
    pub ceremony: Option<Ceremony>,
    /// Whether it was ever opened: a challenge is never opened twice.
    pub used: bool,
}

impl CeremonyState {
    /// One input at `now_ms`; the bool says whether to store the state.
    pub fn step(&mut self, input: CeremonyInput, now_ms: u64) -> (CeremonyAnswer, bool) {
        match input {
            CeremonyInput::Open(_) if self.used => (CeremonyAnswer::Missing, false),
            CeremonyInput::Open(ceremony) => {
                self.ceremony = Some(ceremony);
                self.used = true;
                (CeremonyAnswer::Opened, true)
            }
            CeremonyInput::Take => match self.ceremony.take() {
                Some(c) if now_ms < c.expires_ms => (CeremonyAnswer::Taken(c), true),
                Some(_) => (CeremonyAnswer::Missing, true),
                None => (CeremonyAnswer::Missing, false),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_taken_once_and_only_before_it_expires() {
        let ceremony = Ceremony {
            purpose: Purpose::SignIn,
            expires_ms: 1000 + CEREMONY_TTL_MS,
        };
        let mut state = CeremonyState::default();
        assert_eq!(
            state.step(CeremonyInput::Open(ceremony.clone()), 1000).0,
            CeremonyAnswer::Opened
        );
        assert_eq!(
            state.step(CeremonyInput::Open(ceremony.clone()), 1000).0,
            CeremonyAnswer::Missing
        );
        assert_eq!(
            state.step(CeremonyInput::Take, 1001).0,
            CeremonyAnswer::Taken(ceremony.clone())
        );
        // Replayed: gone.
        assert_eq!(
            state.step(CeremonyInput::Take, 1002).0,
            CeremonyAnswer::Missing
        );
        let mut late = CeremonyState::default();
        let _ = late.step(CeremonyInput::Open(ceremony.clone()), 1000);
        assert_eq!(
            late.step(CeremonyInput::Take, ceremony.expires_ms).0,
            CeremonyAnswer::Missing
        );
        assert_eq!(late.step(CeremonyInput::Take, 0).0, CeremonyAnswer::Missing);
    }
}
