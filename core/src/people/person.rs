//! A person: their name and email, their passkeys, and the organizations they belong to
//! (their roles are each organization's, in its `PeopleGuard`). One `PersonGuard` per
//! person, named by their id's 16 chars, which are also their passkeys' user handle:
//! a discoverable passkey's sign-in names its person, with no lookup.

use crate::audit::{changes, AuditDraft, AuditTarget};
use crate::base::json;
use crate::base::text::check_label;
use crate::base::timestamp::format_ms;
use crate::ids::{Actor, OrgId, PersonId};
use crate::people::webauthn::{counter_advances, PublicKey};
use crate::policy::error::{ApiError, Field};
use serde::{Deserialize, Serialize};

/// A passkey as stored: its credential id, public key and counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Passkey {
    /// Credential id, base64url.
    pub credential_id: String,
    /// ES256 public key.
    pub public_key: PublicKey,
    /// The last counter seen.
    pub sign_count: u32,
    /// Added at, ms.
    pub created_ms: u64,
    /// Last used, ms.
    #[serde(default)]
    pub last_used_ms: Option<u64>,
    /// What its person calls it ("Work laptop"); none until renamed.
    #[serde(default)]
    pub name: Option<String>,
}

/// Passkeys a person holds at most.
pub const MAX_PASSKEYS: usize = 10;

/// Organizations one person may belong to.
pub const MAX_ORGANIZATIONS: usize = 50;
/// Longest passkey name.
pub const MAX_PASSKEY_NAME_LEN: usize = 64;

/// A passkey as its person sees it (never its public key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    /// Credential id, base64url.
    pub credential_id: String,
    /// Its name, or "Passkey" and the first chars of its id.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `null` if never used to sign in.
    pub last_used_at: Option<String>,
    /// Whether this session was signed in with it (removing it signs this session out).
    #[serde(default)]
    pub current: bool,
}

/// `GET /dashboard/api/passkeys`: the signed-in person's passkeys, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyList {
    /// The passkeys.
    pub data: Vec<PasskeyView>,
}

impl Passkey {
    /// Its view.
    pub fn view(&self) -> PasskeyView {
        let short: String = self.credential_id.chars().take(6).collect();
        PasskeyView {
            credential_id: self.credential_id.clone(),
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("Passkey {short}")),
            created_at: format_ms(self.created_ms),
            last_used_at: self.last_used_ms.map(format_ms),
            current: false,
        }
    }

    /// `passkey.added` or `passkey.removed` by its person: which passkey (id, name).
    pub fn event(&self, person_id: PersonId, added: bool) -> AuditDraft {
        let view =
            serde_json::json!({"credentialId": self.credential_id, "name": self.view().name});
        let none = serde_json::json!({"credentialId": null, "name": null});
        let (before, after) = if added {
            (&none, &view)
        } else {
            (&view, &none)
        };
        AuditDraft {
            actor: Actor::Person { person_id },
            action: if added {
                "passkey.added"
            } else {
                "passkey.removed"
            }
            .into(),
            target: AuditTarget {
                kind: "person".into(),
                id: person_id.to_string(),
            },
            changes: changes(before, after, &[]),
            report: None,
            reason: None,
        }
    }
}

/// Parses a passkey's new name (`{"name"}`): trimmed, 1 to 64 characters, nothing hidden.
pub fn parse_passkey_name(body: &[u8]) -> Result<String, ApiError> {
    let value =
        json::parse(body).map_err(|e| ApiError::invalid_request(json::error_details(&e)))?;
    let map = value
        .as_object()
        .ok_or_else(|| ApiError::invalid_request("The body must be a JSON object"))?;
    if let Some(unknown) = map.keys().find(|k| k.as_str() != "name") {
        return Err(ApiError::invalid_request(format!(
            "Unknown member '{}'; allowed is name",
            crate::base::text::printable(unknown)
        )));
    }
    let bad = || {
        ApiError::invalid_field(
            Field::Name,
            format!("name must be 1 to {MAX_PASSKEY_NAME_LEN} characters"),
        )
    };
    let name = map
        .get("name")
        .and_then(|v| v.as_str())
        .ok_or_else(bad)?
        .trim();
    if name.is_empty() || name.chars().count() > MAX_PASSKEY_NAME_LEN {
        return Err(bad());
    }
    check_label("name", name).map_err(|e| ApiError::invalid_field(Field::Name, e))?;
    Ok(name.to_owned())
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
    /// Every organization they belong to, to switch between (this one included).
    pub organizations: Vec<OrganizationChoice>,
}

/// An organization a signed-in person may switch to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationChoice {
    /// `org_…`.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// Their role there.
    pub role: crate::people::role::Role,
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
    /// Add another passkey (at most [`MAX_PASSKEYS`]; a credential id only once).
    AddPasskey(Passkey),
    /// Name a passkey.
    RenamePasskey {
        /// Which.
        credential_id: String,
        /// Its new name.
        name: String,
    },
    /// Remove a passkey, never the last.
    RemovePasskey {
        /// Which.
        credential_id: String,
    },
    /// They joined another organization (through its invitation, signed in): it is
    /// listed among theirs, once, at most [`MAX_ORGANIZATIONS`].
    Joined(OrgId),
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
    /// No such passkey, or its counter went back (or, added, one already there).
    Refused,
    /// A passkey was removed: which; the person as they are now.
    Removed {
        /// The passkey that went.
        passkey: Passkey,
        /// The person without it.
        record: PersonRecord,
    },
    /// It is the person's last passkey: it stays.
    LastPasskey,
    /// They hold [`MAX_PASSKEYS`] already.
    TooManyPasskeys,
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
            (PersonInput::AddPasskey(passkey), Some(record)) => {
                if record
                    .passkeys
                    .iter()
                    .any(|p| p.credential_id == passkey.credential_id)
                {
                    return (PersonAnswer::Refused, false);
                }
                if record.passkeys.len() >= MAX_PASSKEYS {
                    return (PersonAnswer::TooManyPasskeys, false);
                }
                record.passkeys.push(passkey);
                (PersonAnswer::Person(record.clone()), true)
            }
            (
                PersonInput::RenamePasskey {
                    credential_id,
                    name,
                },
                Some(record),
            ) => match record
                .passkeys
                .iter_mut()
                .find(|p| p.credential_id == credential_id)
            {
                Some(passkey) => {
                    passkey.name = Some(name);
                    (PersonAnswer::Person(record.clone()), true)
                }
                None => (PersonAnswer::Refused, false),
            },
            (PersonInput::RemovePasskey { credential_id }, Some(record)) => {
                let Some(at) = record
                    .passkeys
                    .iter()
                    .position(|p| p.credential_id == credential_id)
                else {
                    return (PersonAnswer::Refused, false);
                };
                // Never the last: a person without a passkey could not sign in again.
                if record.passkeys.len() == 1 {
                    return (PersonAnswer::LastPasskey, false);
                }
                let passkey = record.passkeys.remove(at);
                let record = record.clone();
                (PersonAnswer::Removed { passkey, record }, true)
            }
            (PersonInput::Joined(org), Some(record)) => {
                if record.organizations.contains(&org) {
                    return (PersonAnswer::Person(record.clone()), false);
                }
                if record.organizations.len() >= MAX_ORGANIZATIONS {
                    return (PersonAnswer::Refused, false);
                }
                record.organizations.push(org);
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
                public_key: crate::people::webauthn::Es256Key {
                    x: "x".into(),
                    y: "y".into(),
                }
                .into(),
                sign_count: 4,
                created_ms: 1,
                last_used_ms: None,
                name: None,
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

    #[test]
    fn another_organization_is_listed_once_and_within_bounds() {
        let mut state = PersonState::default();
        state.step(PersonInput::Create(record()), 1);
        let org = OrgId::generate(&[9; crate::ids::RANDOM_BYTES_FOR_ORG]);
        let (answer, changed) = state.step(PersonInput::Joined(org), 2);
        assert!(changed);
        assert!(
            matches!(answer, PersonAnswer::Person(r) if r.organizations == vec![OrgId::DEFAULT, org])
        );
        assert!(!state.step(PersonInput::Joined(org), 3).1, "listed once");
        for n in 0..MAX_ORGANIZATIONS {
            let more = OrgId::generate(&[n as u8; crate::ids::RANDOM_BYTES_FOR_ORG]);
            state.step(PersonInput::Joined(more), 4);
        }
        let one_more = OrgId::generate(&[0xee; crate::ids::RANDOM_BYTES_FOR_ORG]);
        assert_eq!(
            state.step(PersonInput::Joined(one_more), 5),
            (PersonAnswer::Refused, false)
        );
    }

    #[test]
    fn passkeys_are_added_renamed_and_removed_never_the_last() {
        let mut state = PersonState::default();
        let _ = state.step(PersonInput::Create(record()), 1);
        let first = record().passkeys[0].clone();
        let second = Passkey {
            credential_id: "BAUG".into(),
            ..first.clone()
        };
        assert_eq!(
            state.step(PersonInput::AddPasskey(first.clone()), 2).0,
            PersonAnswer::Refused,
            "a credential id only once"
        );
        assert!(matches!(
            state.step(PersonInput::AddPasskey(second), 2),
            (PersonAnswer::Person(r), true) if r.passkeys.len() == 2
        ));
        let rename = PersonInput::RenamePasskey {
            credential_id: "BAUG".into(),
            name: "Work laptop".into(),
        };
        assert!(matches!(
            state.step(rename, 3).0,
            PersonAnswer::Person(r) if r.passkeys[1].view().name == "Work laptop"
        ));
        assert_eq!(first.view().name, "Passkey AQID");
        let remove = |id: &str| PersonInput::RemovePasskey {
            credential_id: id.into(),
        };
        assert_eq!(state.step(remove("nope"), 4).0, PersonAnswer::Refused);
        let PersonAnswer::Removed { passkey, record } = state.step(remove("AQID"), 4).0 else {
            panic!("removed")
        };
        assert_eq!(passkey.credential_id, "AQID");
        assert_eq!(record.passkeys.len(), 1);
        assert_eq!(state.step(remove("BAUG"), 5).0, PersonAnswer::LastPasskey);
        let person = record.id;
        let event = passkey.event(person, false);
        assert_eq!(event.action, "passkey.removed");
        assert_eq!(
            serde_json::to_value(&event.changes).expect("json")["name"],
            serde_json::json!({"before": "Passkey AQID", "after": null})
        );
        for _ in 0..MAX_PASSKEYS {
            let n = state.record.as_ref().map_or(0, |r| r.passkeys.len());
            let more = Passkey {
                credential_id: format!("id{n}"),
                ..first.clone()
            };
            let _ = state.step(PersonInput::AddPasskey(more), 6);
        }
        let extra = Passkey {
            credential_id: "extra".into(),
            ..first
        };
        assert_eq!(
            state.step(PersonInput::AddPasskey(extra), 7).0,
            PersonAnswer::TooManyPasskeys
        );
        assert_eq!(
            parse_passkey_name(br#"{"name":" Phone "}"#),
            Ok("Phone".into())
        );
        assert_eq!(
            parse_passkey_name(br#"{"name":""}"#).map_err(|e| e.field),
            Err(Some(Field::Name))
        );
        assert!(parse_passkey_name(br#"{"name":"a\u202e"}"#).is_err());
    }
}
