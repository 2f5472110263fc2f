//! A person: their name and email, their passkeys, and the organizations they belong to
//! (their roles are each organization's, in its `PeopleGuard`). One `PersonGuard` per
//! person, named by their id's 16 chars, which are also their passkeys' user handle:
//! a discoverable passkey's sign-in names its person, with no lookup.

use crate::base::timestamp::format_ms;
use crate::ids::{OrgId, PersonId};
use crate::people::webauthn::{counter_advances, Es256Key};
use serde::{Deserialize, Serialize};

/// A passkey as stored: its credential id, public key and counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Passkey {
    /// Credential id, base64url.
    pub credential_id: String,
    /// ES256 public key.
    pub public_key: Es256Key,
    /// The last counter seen.
    pub sign_count: u32,
    /// Added at, ms.
    pub created_ms: u64,
    /// Last used, ms.
    #[serde(default)]
    pub last_used_ms: Option<u64>,
}

/// A person as their guard holds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRecord {
    /// `person_…`.
    pub id: PersonId,
    /// As given in the invitation (never verified).
    pub email: String,
    /// As they typed it.
    pub name: String,
    /// Created at, ms.
    pub created_ms: u64,
    /// One or more.
    pub passkeys: Vec<Passkey>,
    /// Organizations joined, first joined first (roles are each organization's).
    pub organizations: Vec<OrgId>,
}

/// What the dashboard shows of who is signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    /// `person_…`.
    pub person_id: PersonId,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl PersonRecord {
    /// Their view.
    pub fn view(&self) -> PersonView {
        PersonView {
            person_id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            created_at: format_ms(self.created_ms),
        }
    }
}

/// `GET /dashboard/api/session` for a person: who, where, with which role, and what
/// that role may do (the dashboard offers only that).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonSessionView {
    /// `person_…`.
    pub person_id: PersonId,
    /// Their email.
    pub email: String,
    /// Their name.
    pub name: String,
    /// The organization they act in.
    pub organization_id: OrgId,
    /// Their role there.
    pub role: crate::people::role::Role,
    /// What the role may do (`Operation::as_str`).
    pub permissions: Vec<&'static str>,
    /// The organization's plan and its limits.
    pub plan: crate::policy::plan::PlanView,
    /// Send as `X-CSRF-Token`.
    pub csrf_token: String,
}

/// What the worker asks a person's guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonInput {
    /// Create the person (refused if the id is taken).
    Create(PersonRecord),
    /// The person.
    Get,
    /// A sign-in's signature verified with this passkey: store its new counter
    /// (refused if it went back since it was read).
    Used {
        /// Credential id, base64url.
        credential_id: String,
        /// The new counter.
        sign_count: u32,
    },
}

/// A person guard's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonAnswer {
    /// The person.
    Person(PersonRecord),
    /// No such person.
    Missing,
    /// The id is taken.
    IdTaken,
    /// No such passkey, or its counter went back.
    Refused,
}

/// What one person's guard holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonState {
    /// The person, once created.
    pub record: Option<PersonRecord>,
}

impl PersonState {
    /// One input at `now_ms`; the bool says whether to store the record.
    pub fn step(&mut self, input: PersonInput, now_ms: u64) -> (PersonAnswer, bool) {
        match (input, &mut self.record) {
            (PersonInput::Create(_), Some(_)) => (PersonAnswer::IdTaken, false),
            (PersonInput::Create(record), None) => {
                self.record = Some(record.clone());
                (PersonAnswer::Person(record), true)
            }
            (_, None) => (PersonAnswer::Missing, false),
            (PersonInput::Get, Some(record)) => (PersonAnswer::Person(record.clone()), false),
            (
                PersonInput::Used {
                    credential_id,
                    sign_count,
                },
                Some(record),
            ) => {
                let Some(passkey) = record
                    .passkeys
                    .iter_mut()
                    .find(|p| p.credential_id == credential_id)
                else {
                    return (PersonAnswer::Refused, false);
                };
                if !counter_advances(passkey.sign_count, sign_count) {
                    return (PersonAnswer::Refused, false);
                }
                passkey.sign_count = sign_count;
                passkey.last_used_ms = Some(now_ms);
                (PersonAnswer::Person(record.clone()), true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> PersonRecord {
        PersonRecord {
            id: PersonId::generate(&[3; 32]),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            created_ms: 1,
            passkeys: vec![Passkey {
                credential_id: "AQID".into(),
                public_key: Es256Key {
                    x: "x".into(),
                    y: "y".into(),
                },
                sign_count: 4,
                created_ms: 1,
                last_used_ms: None,
            }],
            organizations: vec![OrgId::DEFAULT],
        }
    }

    #[test]
    fn a_sign_in_moves_the_counter_forward_only_for_a_known_passkey() {
        let mut state = PersonState::default();
        assert_eq!(state.step(PersonInput::Get, 1).0, PersonAnswer::Missing);
        assert!(matches!(
            state.step(PersonInput::Create(record()), 1),
            (PersonAnswer::Person(_), true)
        ));
        assert_eq!(
            state.step(PersonInput::Create(record()), 1).0,
            PersonAnswer::IdTaken
        );
        let used = |id: &str, n| PersonInput::Used {
            credential_id: id.into(),
            sign_count: n,
        };
        assert_eq!(state.step(used("AQID", 4), 2).0, PersonAnswer::Refused);
        assert_eq!(state.step(used("other", 9), 2).0, PersonAnswer::Refused);
        let (answer, changed) = state.step(used("AQID", 5), 2);
        assert!(changed);
        assert!(
            matches!(answer, PersonAnswer::Person(r) if r.passkeys[0].sign_count == 5 && r.passkeys[0].last_used_ms == Some(2))
        );
    }
}
