//! An organization's people: its members (with their roles) and its pending
//! invitations, the state of its `PeopleGuard`. An invitation is a single-use link: its
//! token is shown once, only its SHA-256 is kept, it expires after
//! [`INVITATION_TTL_MS`], and accepting it is one step here, so two people holding one
//! link cannot both join.

use crate::audit::{changes, created, AuditDraft, AuditTarget};
use crate::base::json;
use crate::base::text::check_label;
use crate::base::timestamp::format_ms;
use crate::credentials::key::hash_hex;
use crate::ids::{Actor, GrantId, InvitationId, OrgId, PersonId};
use crate::people::role::{Operation, Role};
use crate::policy::error::{ApiError, Field};
use crate::policy::terms::ApproverTerms;
use serde::{Deserialize, Serialize};

/// An invitation expires this long after it was made (7 days).
pub const INVITATION_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Pending invitations an organization holds at most (expired ones are dropped first).
pub const MAX_PENDING_INVITATIONS: usize = 100;
/// Members an organization holds at most.
pub const MAX_MEMBERS: usize = 1000;
/// Random base62 chars in an invitation token, after its organization's 16.
pub const INVITATION_SECRET_LEN: usize = 32;
/// Random bytes [`InvitationToken::generate`] needs: two per char.
pub const RANDOM_BYTES_FOR_INVITATION: usize = 2 * INVITATION_SECRET_LEN;
/// Longest email and name accepted.
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest name accepted.
pub const MAX_NAME_LEN: usize = 100;

/// The secret of an invitation link: its organization's 16 chars (which name the guard
/// that holds it) and 32 random base62 chars. Shown once, in the link's fragment.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl core::fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InvitationToken(…)")
    }
}

impl InvitationToken {
    /// A new token for an invitation to `org`.
    pub fn generate(org: OrgId, random: &[u8; RANDOM_BYTES_FOR_INVITATION]) -> InvitationToken {
        let mut text = String::with_capacity(16 + INVITATION_SECRET_LEN);
        text.push_str(org.chars());
        for pair in random.chunks_exact(2) {
            text.push(char::from(crate::base::base62::char_from_random(
                pair[0], pair[1],
            )));
        }
        InvitationToken(text)
    }

    /// Parses a token: 48 base62 chars, the first 16 an organization's.
    pub fn parse(text: &str) -> Option<InvitationToken> {
        let valid = text.len() == 16 + INVITATION_SECRET_LEN
            && text.bytes().all(crate::base::base62::is_base62);
        valid.then(|| InvitationToken(text.to_owned()))
    }

    /// The organization it invites to.
    pub fn organization(&self) -> Option<OrgId> {
        OrgId::parse(&format!("org_{}", &self.0[..16]))
    }

    /// The token as the link carries it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// SHA-256 hex: the only form stored.
    pub fn hash_hex(&self) -> String {
        hash_hex(self.0.as_bytes())
    }

    /// The link: `{origin}/dashboard/invite#{token}` (the fragment never reaches a
    /// server, a log or a `Referer`).
    pub fn url(&self, origin: &str) -> String {
        format!("{origin}/dashboard/invite#{}", self.0)
    }
}

/// A pending invitation as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// Its id.
    pub id: InvitationId,
    /// Who it is for (an identifier only: never verified, never matched).
    pub email: String,
    /// The role it gives.
    pub role: Role,
    /// SHA-256 hex of its token.
    pub token_hash: String,
    /// Made at, ms.
    pub created_ms: u64,
    /// Ends at, ms.
    pub expires_ms: u64,
    /// Who made it.
    pub created_by: Actor,
    /// A recovery link: it adds a passkey to this existing member (who lost theirs)
    /// instead of making a new person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovers: Option<PersonId>,
}

impl Invitation {
    /// Pending at `now_ms`: not yet expired (it ends exactly at `expires_ms`).
    pub fn is_pending(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }

    /// Its view; `url` only when it was just made.
    pub fn view(&self, url: Option<String>) -> InvitationView {
        InvitationView {
            id: self.id,
            email: self.email.clone(),
            role: self.role,
            url,
            created_at: format_ms(self.created_ms),
            expires_at: format_ms(self.expires_ms),
            recovers: self.recovers,
        }
    }
}

/// An invitation in the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    /// `inv_…`.
    pub id: InvitationId,
    /// For whom.
    pub email: String,
    /// The role.
    pub role: Role,
    /// The link, shown once (in the creation's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// For a recovery link: the member it adds a passkey to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovers: Option<PersonId>,
}

impl Invitation {
    /// `member.invited` (who invited whom, by email, with which role) or, for a recovery
    /// link, `member.recovery_link_sent` (for which member); never the link.
    pub fn invited_event(&self) -> AuditDraft {
        let action = match self.recovers {
            None => "member.invited",
            Some(_) => "member.recovery_link_sent",
        };
        AuditDraft {
            actor: self.created_by,
            action: action.into(),
            target: AuditTarget {
                kind: "invitation".into(),
                id: self.id.to_string(),
            },
            changes: created(&serde_json::json!({"email": self.email, "role": self.role})),
            report: None,
            reason: None,
        }
    }
}

impl Member {
    /// `member.joined` (by the person, through an invitation's link) and
    /// `passkey.added` (their first passkey, by its credential id).
    pub fn joined_events(&self, credential_id: &str) -> [AuditDraft; 2] {
        let actor = Actor::Person {
            person_id: self.person_id,
        };
        let target = AuditTarget {
            kind: "person".into(),
            id: self.person_id.to_string(),
        };
        [
            AuditDraft {
                actor,
                action: "member.joined".into(),
                target: target.clone(),
                changes: created(
                    &serde_json::json!({"email": self.email, "name": self.name, "role": self.role}),
                ),
                report: None,
                reason: None,
            },
            AuditDraft {
                actor,
                action: "passkey.added".into(),
                target,
                changes: created(&serde_json::json!({"credentialId": credential_id})),
                report: None,
                reason: None,
            },
        ]
    }
}

/// `GET /v1/organizations/{id}/invitations`: the pending ones, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationList {
    /// The invitations (without their links).
    pub data: Vec<InvitationView>,
}

/// What a new invitation's body asks: `{"email", "role"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRequest {
    /// For whom.
    pub email: String,
    /// The role.
    pub role: Role,
}

/// Parses `POST /v1/organizations/{id}/invitations`.
pub fn parse_invitation(body: &[u8]) -> Result<InvitationRequest, ApiError> {
    let value =
        json::parse(body).map_err(|e| ApiError::invalid_request(json::error_details(&e)))?;
    let map = value
        .as_object()
        .ok_or_else(|| ApiError::invalid_request("The body must be a JSON object"))?;
    if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "email" | "role")) {
        return Err(ApiError::invalid_request(format!(
            "Unknown member '{}'; allowed are email, role",
            crate::base::text::printable(unknown)
        )));
    }
    let email = map
        .get("email")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::invalid_field(Field::Email, "email is required, a string"))?;
    let email = parse_email(email)?;
    let role = map
        .get("role")
        .and_then(|v| v.as_str())
        .and_then(Role::parse)
        .ok_or_else(|| {
            ApiError::invalid_field(
                Field::Role,
                "role is required: one of owner, admin, developer, viewer",
            )
        })?;
    Ok(InvitationRequest { email, role })
}

/// An email as an identifier: trimmed, one `@` with text on both sides, no spaces or
/// hidden characters, at most [`MAX_EMAIL_LEN`] bytes. Nobody verifies it.
pub fn parse_email(text: &str) -> Result<String, ApiError> {
    let email = text.trim();
    let bad = |why: &str| ApiError::invalid_field(Field::Email, why.to_owned());
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(bad("email must be 1 to 254 characters"));
    }
    check_label("email", email).map_err(|e| bad(&e))?;
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace) =>
        {
            Ok(email.to_owned())
        }
        _ => Err(bad("email must look like name@example.com")),
    }
}

/// A person's name: trimmed, 1 to [`MAX_NAME_LEN`] characters, nothing hidden.
pub fn parse_person_name(text: &str) -> Result<String, ApiError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid_field(
            Field::Name,
            "Name must be 1 to 100 characters",
        ));
    }
    check_label("Name", name).map_err(|e| ApiError::invalid_field(Field::Name, e))?;
    Ok(name.to_owned())
}

/// A member of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Who.
    pub person_id: PersonId,
    /// Their email (as given).
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their role here.
    pub role: Role,
    /// Joined at, ms.
    pub joined_ms: u64,
    /// Their last sign-in, ms.
    #[serde(default)]
    pub last_sign_in_ms: Option<u64>,
}

/// A member in the API (`GET /v1/organizations/{id}/members`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// `person_…`.
    pub person_id: PersonId,
    /// Their email (as given; never verified).
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their role here.
    pub role: Role,
    /// RFC 3339.
    pub joined_at: String,
    /// RFC 3339; `null` before their first sign-in.
    pub last_sign_in_at: Option<String>,
}

impl Member {
    /// Its view.
    pub fn view(&self) -> MemberView {
        MemberView {
            person_id: self.person_id,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            joined_at: format_ms(self.joined_ms),
            last_sign_in_at: self.last_sign_in_ms.map(format_ms),
        }
    }

    fn target(&self) -> AuditTarget {
        AuditTarget {
            kind: "person".into(),
            id: self.person_id.to_string(),
        }
    }

    /// `member.role_changed`: who changed whose role, from what to what.
    pub fn role_changed_event(by: Actor, before: &Member, after: &Member) -> AuditDraft {
        AuditDraft {
            actor: by,
            action: "member.role_changed".into(),
            target: after.target(),
            changes: changes(
                &serde_json::json!({"role": before.role}),
                &serde_json::json!({"role": after.role}),
                &[],
            ),
            report: None,
            reason: None,
        }
    }

    /// `member.removed`: who removed whom (their email and the role they had).
    pub fn removed_event(&self, by: Actor) -> AuditDraft {
        AuditDraft {
            actor: by,
            action: "member.removed".into(),
            target: self.target(),
            changes: changes(
                &serde_json::json!({"email": self.email, "role": self.role}),
                &serde_json::json!({"email": null, "role": null}),
                &[],
            ),
            report: None,
            reason: None,
        }
    }
}

/// Where a page of members ends: the last one's join time and id (`{ms}.{person_…}`),
/// so the next page resumes exactly, even if members joined or left in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberCursor {
    /// The last member's join time, ms.
    pub joined_ms: u64,
    /// And id.
    pub person_id: PersonId,
}

impl MemberCursor {
    /// The cursor after `member`.
    pub fn after(member: &Member) -> MemberCursor {
        MemberCursor {
            joined_ms: member.joined_ms,
            person_id: member.person_id,
        }
    }

    /// Parses a cursor a page gave out; 400 naming `cursor` for anything else.
    pub fn parse(text: &str) -> Result<MemberCursor, ApiError> {
        text.split_once('.')
            .and_then(|(ms, id)| {
                Some(MemberCursor {
                    joined_ms: ms.parse().ok()?,
                    person_id: PersonId::parse(id)?,
                })
            })
            .ok_or_else(ApiError::unknown_cursor)
    }

    /// Its text.
    pub fn text(&self) -> String {
        format!("{}.{}", self.joined_ms, self.person_id)
    }

    /// Whether `member` joined no later than the member the page ended with (a tie of
    /// join times goes by id).
    fn is_at_or_after(&self, member: &Member) -> bool {
        (member.joined_ms, member.person_id.to_string())
            <= (self.joined_ms, self.person_id.to_string())
    }
}

/// Parses `PATCH /v1/organizations/{id}/members/{personId}`: `{"role"}`.
pub fn parse_role_change(body: &[u8]) -> Result<Role, ApiError> {
    let value =
        json::parse(body).map_err(|e| ApiError::invalid_request(json::error_details(&e)))?;
    let map = value
        .as_object()
        .ok_or_else(|| ApiError::invalid_request("The body must be a JSON object"))?;
    if let Some(unknown) = map.keys().find(|k| k.as_str() != "role") {
        return Err(ApiError::invalid_request(format!(
            "Unknown member '{}'; allowed is role",
            crate::base::text::printable(unknown)
        )));
    }
    map.get("role")
        .and_then(|v| v.as_str())
        .and_then(Role::parse)
        .ok_or_else(|| {
            ApiError::invalid_field(
                Field::Role,
                "role is required: one of owner, admin, developer, viewer",
            )
        })
}

/// What the worker asks an organization's `PeopleGuard`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeopleInput {
    /// Add a pending invitation.
    Invite(Invitation),
    /// The pending invitations.
    ListInvitations,
    /// Revoke a pending one, by the root key or a person who may invite its role.
    Revoke {
        /// Which.
        id: InvitationId,
        /// Who asks.
        by: Actor,
    },
    /// The pending invitation with this token hash (the invitation page), unchanged.
    Peek {
        /// SHA-256 hex of the token.
        token_hash: String,
    },
    /// Accept the invitation with this token hash: it is used up, and the person joins
    /// with its role (or keeps the role they have, if already a member).
    Accept {
        /// SHA-256 hex of the token.
        token_hash: String,
        /// Who joins.
        person_id: PersonId,
        /// Their name.
        name: String,
    },
    /// A member's record (every call of a signed-in person asks: a removed member or a
    /// changed role takes effect at once), marking a sign-in when `signed_in`.
    Member {
        /// Who.
        person_id: PersonId,
        /// True on a sign-in: `lastSignInAt` becomes now.
        signed_in: bool,
    },
    /// Who these people are (members, or members once), for the audit log's actors and
    /// the approvers of Authorized apps; read-only.
    Emails(Vec<PersonId>),
    /// A page of members, in the order they joined.
    ListMembers {
        /// At most this many.
        limit: usize,
        /// After this member (the previous page's last, [`MemberCursor`]).
        after: Option<MemberCursor>,
    },
    /// Change a member's role, by the root key or an owner or admin (whose own role is
    /// read in this same step); the last owner stays an owner.
    ChangeRole {
        /// Who asks.
        by: Actor,
        /// Whose role.
        person_id: PersonId,
        /// The new role.
        role: Role,
    },
    /// Remove a member, by the same rules; the last owner stays.
    Remove {
        /// Who asks.
        by: Actor,
        /// Who goes.
        person_id: PersonId,
    },
    /// A recovery link for a member who lost every passkey, by the root key or an owner:
    /// the invitation is made here from the member (their email and role).
    Recover {
        /// The link's id, token hash and times; its email, role and `recovers` are
        /// the member's.
        link: Invitation,
        /// Whom it recovers.
        person_id: PersonId,
    },
    /// The first member of a new organization, its owner (self-serve sign-up); refused
    /// (`Full`) once the organization has any member.
    Found {
        /// Who.
        person_id: PersonId,
        /// Their email.
        email: String,
        /// Their name.
        name: String,
    },
    /// Consent to an OAuth app by a member: the grant is listed under them and their
    /// terms as its approver are read in this same step, so a later change of their
    /// membership finds the grant and pushes it the new terms (ARCHITECTURE.md,
    /// "Derived authority"). Answers [`PeopleAnswer::Approver`].
    Approve {
        /// Who approves.
        person_id: PersonId,
        /// The grant they approve.
        grant_id: GrantId,
    },
    /// The grants a person approved and their terms now (after a change of their
    /// membership, to push to those grants). Answers [`PeopleAnswer::Approvals`].
    ApprovedBy(PersonId),
    /// Grants under a person that have ended for good (their guards said so): no change
    /// of the person can matter to them, so they are no longer listed. Answers
    /// [`PeopleAnswer::Unlisted`].
    Unlist {
        /// Whose.
        person_id: PersonId,
        /// The ended grants.
        grants: Vec<GrantId>,
    },
}

/// Above this many grants listed under one person, their consent asks the listed grants
/// which have ended and unlists those: what one person's consents add stays bounded by
/// the grants still live (themselves bounded per app and organization).
pub const APPROVALS_PRUNED_ABOVE: usize = 32;

/// A `PeopleGuard`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeopleAnswer {
    /// The invitation made, pending, or peeked.
    Invitation(Invitation),
    /// The pending invitations, oldest first.
    Invitations(Vec<Invitation>),
    /// Revoked.
    Revoked,
    /// No such pending invitation (unknown, used, revoked or expired).
    NoInvitation,
    /// Too many pending invitations or members.
    Full,
    /// The member (joined, or asked for).
    Member(Member),
    /// Not a member.
    NotMember,
    /// A page of members, by join time; `complete` when no member follows.
    Members {
        /// The page.
        members: Vec<Member>,
        /// Whether it is the last page.
        complete: bool,
    },
    /// A role changed (or stayed, when asked for the role the member has).
    RoleChanged {
        /// The member before.
        before: Member,
        /// And after.
        after: Member,
    },
    /// The member is no longer one.
    Removed(Member),
    /// The one asking may not do this; why, in words for the 403.
    Forbidden(String),
    /// It would leave the organization without an owner.
    LastOwner,
    /// What is known of the people asked for (some may be missing).
    Emails(Vec<Known>),
    /// A person's terms as an approver of OAuth grants (revoked: not a member), and how
    /// many grants are now listed under them.
    Approver {
        /// Their terms.
        terms: ApproverTerms,
        /// Grants listed under them, this one included.
        listed: usize,
    },
    /// Ended grants no longer listed.
    Unlisted,
    /// The grants a person approved, and their terms now.
    Approvals {
        /// Their terms.
        terms: ApproverTerms,
        /// Every grant listed under them.
        grants: Vec<GrantId>,
    },
}

/// A person as the organization knows them: a member's email and name, or a former
/// member's email alone (their name is not kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// Who.
    pub person_id: PersonId,
    /// Their email (as given).
    pub email: String,
    /// Their name, while they are a member.
    pub name: Option<String>,
}

/// What one organization's `PeopleGuard` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleState {
    /// Members, by join time.
    pub members: Vec<Member>,
    /// Invitations not yet used or revoked (expired ones go at the next change).
    pub invitations: Vec<Invitation>,
    /// The emails of removed members, newest last (at most [`MAX_FORMER_MEMBERS`]), so
    /// that the audit log still says who acted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former: Vec<(PersonId, String)>,
    /// Bumped by every change of a member's role and every removal: the revision of the
    /// approver terms it gives, so a newer copy always wins at a grant.
    #[serde(default)]
    pub revision: u64,
    /// The OAuth grants each person approved (consent by a person), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<(PersonId, GrantId)>,
}

/// How many removed members' emails an organization keeps for its audit log.
pub const MAX_FORMER_MEMBERS: usize = 1000;

impl PeopleState {
    /// What `person_id` may give an OAuth app now, as an approver: their role's bound
    /// ([`Role::app_grants`]); revoked once they are not a member (then nothing is
    /// allowed; the grants named are the narrowest role's, as terms never hold none).
    pub fn approver_terms(&self, person_id: PersonId) -> ApproverTerms {
        let role = self
            .members
            .iter()
            .find(|m| m.person_id == person_id)
            .map(|m| m.role);
        ApproverTerms {
            grants: role.unwrap_or(Role::Viewer).app_grants(),
            expires_ms: None,
            revoked: role.is_none(),
            revision: self.revision,
        }
    }

    /// One input at `now_ms`; the bool says whether the state changed (store it).
    pub fn step(&mut self, input: PeopleInput, now_ms: u64) -> (PeopleAnswer, bool) {
        match input {
            PeopleInput::Approve {
                person_id,
                grant_id,
            } => {
                if !self.members.iter().any(|m| m.person_id == person_id) {
                    return (PeopleAnswer::NotMember, false);
                }
                if !self.approvals.contains(&(person_id, grant_id)) {
                    self.approvals.push((person_id, grant_id));
                }
                let terms = self.approver_terms(person_id);
                let listed = self
                    .approvals
                    .iter()
                    .filter(|(who, _)| *who == person_id)
                    .count();
                (PeopleAnswer::Approver { terms, listed }, true)
            }
            PeopleInput::Unlist { person_id, grants } => {
                let before = self.approvals.len();
                self.approvals
                    .retain(|(who, grant)| *who != person_id || !grants.contains(grant));
                (PeopleAnswer::Unlisted, self.approvals.len() != before)
            }
            PeopleInput::ApprovedBy(person_id) => {
                let grants = self
                    .approvals
                    .iter()
                    .filter(|(who, _)| *who == person_id)
                    .map(|(_, grant)| *grant)
                    .collect();
                let terms = self.approver_terms(person_id);
                (PeopleAnswer::Approvals { terms, grants }, false)
            }
            PeopleInput::Invite(invitation) => {
                if let Err(why) =
                    self.may_assign(&invitation.created_by, invitation.role, "invite an owner")
                {
                    return (PeopleAnswer::Forbidden(why), false);
                }
                self.invitations.retain(|i| i.is_pending(now_ms));
                if self.invitations.len() >= MAX_PENDING_INVITATIONS {
                    return (PeopleAnswer::Full, true);
                }
                self.invitations.push(invitation.clone());
                (PeopleAnswer::Invitation(invitation), true)
            }
            PeopleInput::ListInvitations => {
                let pending = self.pending(now_ms).cloned().collect();
                (PeopleAnswer::Invitations(pending), false)
            }
            PeopleInput::Revoke { id, by } => {
                let Some(role) = self.pending(now_ms).find(|i| i.id == id).map(|i| i.role) else {
                    return (PeopleAnswer::NoInvitation, false);
                };
                if let Err(why) = self.may_assign(&by, role, "revoke an owner's invitation") {
                    return (PeopleAnswer::Forbidden(why), false);
                }
                self.invitations.retain(|i| i.id != id);
                (PeopleAnswer::Revoked, true)
            }
            PeopleInput::Peek { token_hash } => match self.find(&token_hash, now_ms) {
                Some(i) => (PeopleAnswer::Invitation(i.clone()), false),
                None => (PeopleAnswer::NoInvitation, false),
            },
            PeopleInput::Accept {
                token_hash,
                person_id,
                name,
            } => {
                let Some(invitation) = self.find(&token_hash, now_ms).cloned() else {
                    return (PeopleAnswer::NoInvitation, false);
                };
                // A recovery link serves its member only, and only while they are one.
                if invitation.recovers.is_some_and(|p| p != person_id)
                    || (invitation.recovers.is_some()
                        && !self.members.iter().any(|m| m.person_id == person_id))
                {
                    return (PeopleAnswer::NoInvitation, false);
                }
                if let Some(member) = self.members.iter().find(|m| m.person_id == person_id) {
                    // Already a member: the link is used up, the role stays.
                    let member = member.clone();
                    self.invitations.retain(|i| i.id != invitation.id);
                    return (PeopleAnswer::Member(member), true);
                }
                if self.members.len() >= MAX_MEMBERS {
                    return (PeopleAnswer::Full, false);
                }
                self.invitations.retain(|i| i.id != invitation.id);
                let member = Member {
                    person_id,
                    email: invitation.email,
                    name,
                    role: invitation.role,
                    joined_ms: now_ms,
                    last_sign_in_ms: Some(now_ms),
                };
                self.members.push(member.clone());
                (PeopleAnswer::Member(member), true)
            }
            PeopleInput::Member {
                person_id,
                signed_in,
            } => match self.members.iter_mut().find(|m| m.person_id == person_id) {
                Some(member) => {
                    if signed_in {
                        member.last_sign_in_ms = Some(now_ms);
                    }
                    (PeopleAnswer::Member(member.clone()), signed_in)
                }
                None => (PeopleAnswer::NotMember, false),
            },
            PeopleInput::Emails(people) => {
                let known = self
                    .members
                    .iter()
                    .map(|m| (m.person_id, &m.email, Some(&m.name)))
                    .chain(self.former.iter().map(|(id, email)| (*id, email, None)));
                let mut emails: Vec<Known> = Vec::new();
                for (id, email, name) in known {
                    if people.contains(&id) && !emails.iter().any(|seen| seen.person_id == id) {
                        emails.push(Known {
                            person_id: id,
                            email: email.clone(),
                            name: name.cloned(),
                        });
                    }
                }
                (PeopleAnswer::Emails(emails), false)
            }
            PeopleInput::ListMembers { limit, after } => {
                let start = after.map_or(0, |cursor| {
                    match self
                        .members
                        .iter()
                        .position(|m| MemberCursor::after(m) == cursor)
                    {
                        Some(at) => at + 1,
                        // That member left: resume after everyone who joined up to then.
                        None => self
                            .members
                            .iter()
                            .filter(|m| cursor.is_at_or_after(m))
                            .count(),
                    }
                });
                let rest = self.members.get(start..).unwrap_or_default();
                let members: Vec<Member> = rest.iter().take(limit).cloned().collect();
                let complete = rest.len() <= limit;
                (PeopleAnswer::Members { members, complete }, false)
            }
            PeopleInput::ChangeRole {
                by,
                person_id,
                role,
            } => {
                let Some(index) = self.members.iter().position(|m| m.person_id == person_id) else {
                    return (PeopleAnswer::NotMember, false);
                };
                let before = self.members[index].clone();
                let checks = self
                    .may_assign(&by, before.role, "change an owner's role")
                    .and_then(|()| self.may_assign(&by, role, "make someone an owner"));
                if let Err(why) = checks {
                    return (PeopleAnswer::Forbidden(why), false);
                }
                if before.role == Role::Owner && role != Role::Owner && self.owners() == 1 {
                    return (PeopleAnswer::LastOwner, false);
                }
                self.members[index].role = role;
                let after = self.members[index].clone();
                let changed = before.role != role;
                if changed {
                    self.revision += 1;
                }
                (PeopleAnswer::RoleChanged { before, after }, changed)
            }
            PeopleInput::Remove { by, person_id } => {
                let Some(index) = self.members.iter().position(|m| m.person_id == person_id) else {
                    return (PeopleAnswer::NotMember, false);
                };
                let role = self.members[index].role;
                if let Err(why) = self.may_assign(&by, role, "remove an owner") {
                    return (PeopleAnswer::Forbidden(why), false);
                }
                if role == Role::Owner && self.owners() == 1 {
                    return (PeopleAnswer::LastOwner, false);
                }
                let removed = self.members.remove(index);
                self.revision += 1;
                self.former.retain(|(id, _)| *id != person_id);
                self.former.push((person_id, removed.email.clone()));
                if self.former.len() > MAX_FORMER_MEMBERS {
                    self.former.remove(0);
                }
                (PeopleAnswer::Removed(removed), true)
            }
            PeopleInput::Recover { link, person_id } => {
                let Some(member) = self.members.iter().find(|m| m.person_id == person_id) else {
                    return (PeopleAnswer::NotMember, false);
                };
                // Only the root key or an owner: a recovery link is the member's account.
                if let Err(why) =
                    self.may_assign(&link.created_by, Role::Owner, "send a recovery link")
                {
                    return (PeopleAnswer::Forbidden(why), false);
                }
                let invitation = Invitation {
                    email: member.email.clone(),
                    role: member.role,
                    recovers: Some(person_id),
                    ..link
                };
                self.step(PeopleInput::Invite(invitation), now_ms)
            }
            PeopleInput::Found {
                person_id,
                email,
                name,
            } => {
                if !self.members.is_empty() {
                    return (PeopleAnswer::Full, false);
                }
                let owner = Member {
                    person_id,
                    email,
                    name,
                    role: Role::Owner,
                    joined_ms: now_ms,
                    last_sign_in_ms: Some(now_ms),
                };
                self.members.push(owner.clone());
                (PeopleAnswer::Member(owner), true)
            }
        }
    }

    fn owners(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count()
    }

    /// Whether `by` may invite someone as `role`, or change or remove a member who has
    /// it (or give it): the root key always; a person only as a member now, whose role
    /// may manage members and assign `role` (an owner any, an admin those below owner);
    /// nobody else (deny by default: an API key other than root never reaches here, and
    /// would be refused if it did).
    fn may_assign(&self, by: &Actor, role: Role, what: &str) -> Result<(), String> {
        let person_id = match by {
            Actor::Root => return Ok(()),
            Actor::Person { person_id } => person_id,
            _ => {
                return Err(
                    "Only the root key or a signed-in owner or admin may manage members".into(),
                )
            }
        };
        let Some(me) = self.members.iter().find(|m| m.person_id == *person_id) else {
            return Err("You are no longer a member of this organization".into());
        };
        if !me.role.may(Operation::ManageMembers) {
            return Err(format!(
                "A member with the role '{}' cannot manage members",
                me.role.as_str()
            ));
        }
        if !me.role.may_assign(role) {
            return Err(format!(
                "A member with the role '{}' cannot {what}; ask an owner",
                me.role.as_str()
            ));
        }
        Ok(())
    }

    fn pending(&self, now_ms: u64) -> impl Iterator<Item = &Invitation> {
        self.invitations
            .iter()
            .filter(move |i| i.is_pending(now_ms))
    }

    /// The pending invitation whose token hash is `token_hash` (compared in constant
    /// time, each one).
    fn find(&self, token_hash: &str, now_ms: u64) -> Option<&Invitation> {
        self.pending(now_ms).find(|i| {
            crate::base::constant_time::eq(i.token_hash.as_bytes(), token_hash.as_bytes())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_780_000_000_000;

    fn invitation(n: u8, role: Role) -> (Invitation, InvitationToken) {
        let org = OrgId::parse("org_0123456789abcdef").expect("org");
        let token = InvitationToken::generate(org, &[n; RANDOM_BYTES_FOR_INVITATION]);
        let invitation = Invitation {
            id: InvitationId::generate(&[n; 32]),
            email: "ada@example.com".into(),
            role,
            token_hash: token.hash_hex(),
            created_ms: T0,
            expires_ms: T0 + INVITATION_TTL_MS,
            created_by: Actor::Root,
            recovers: None,
        };
        (invitation, token)
    }

    fn person(n: u8) -> PersonId {
        PersonId::generate(&[n; 32])
    }

    fn accept(
        state: &mut PeopleState,
        token: &InvitationToken,
        who: PersonId,
        at: u64,
    ) -> PeopleAnswer {
        let input = PeopleInput::Accept {
            token_hash: token.hash_hex(),
            person_id: who,
            name: "Ada".into(),
        };
        state.step(input, at).0
    }

    #[test]
    fn a_new_organization_gets_one_founding_owner_only() {
        let mut state = PeopleState::default();
        let found = |id: u8| PeopleInput::Found {
            person_id: person(id),
            email: "ada@example.com".into(),
            name: "Ada".into(),
        };
        match state.step(found(1), 5).0 {
            PeopleAnswer::Member(m) => assert_eq!(m.role, Role::Owner),
            other => panic!("{other:?}"),
        }
        assert_eq!(state.step(found(2), 6), (PeopleAnswer::Full, false));
        assert_eq!(state.members.len(), 1);
    }

    #[test]
    fn an_invitation_is_single_use() {
        let mut state = PeopleState::default();
        let (inv, token) = invitation(1, Role::Developer);
        let event = inv.invited_event();
        assert_eq!(
            (event.action.as_str(), event.target.kind.as_str()),
            ("member.invited", "invitation")
        );
        assert!(!serde_json::to_string(&event)
            .expect("json")
            .contains(&inv.token_hash));
        let _ = state.step(PeopleInput::Invite(inv), T0);
        let joined = accept(&mut state, &token, person(1), T0 + 1);
        let PeopleAnswer::Member(member) = joined else {
            panic!("joined")
        };
        assert_eq!(
            (member.role, member.person_id),
            (Role::Developer, person(1))
        );
        let [joined, passkey] = member.joined_events("AQID");
        assert_eq!(
            (joined.action.as_str(), passkey.action.as_str()),
            ("member.joined", "passkey.added")
        );
        assert_eq!(
            joined.actor,
            Actor::Person {
                person_id: person(1)
            }
        );
        assert_eq!(
            accept(&mut state, &token, person(2), T0 + 2),
            PeopleAnswer::NoInvitation
        );
        assert_eq!(state.members.len(), 1);
        assert!(state.invitations.is_empty());
    }

    #[test]
    fn an_invitation_expires_exactly_seven_days_after_it_was_made() {
        let mut state = PeopleState::default();
        let (inv, token) = invitation(1, Role::Viewer);
        let _ = state.step(PeopleInput::Invite(inv), T0);
        let end = T0 + INVITATION_TTL_MS;
        let peek = |s: &mut PeopleState, at| {
            s.step(
                PeopleInput::Peek {
                    token_hash: token.hash_hex(),
                },
                at,
            )
            .0
        };
        assert!(matches!(
            peek(&mut state, end - 1),
            PeopleAnswer::Invitation(_)
        ));
        assert_eq!(peek(&mut state, end), PeopleAnswer::NoInvitation);
        assert_eq!(
            accept(&mut state, &token, person(1), end),
            PeopleAnswer::NoInvitation
        );
        assert_eq!(
            state.step(PeopleInput::ListInvitations, end).0,
            PeopleAnswer::Invitations(vec![])
        );
        assert!(state.members.is_empty());
    }

    #[test]
    fn a_revoked_invitation_cannot_be_accepted() {
        let mut state = PeopleState::default();
        let (inv, token) = invitation(1, Role::Admin);
        let id = inv.id;
        let _ = state.step(PeopleInput::Invite(inv), T0);
        assert_eq!(
            state
                .step(
                    PeopleInput::Revoke {
                        id,
                        by: Actor::Root
                    },
                    T0
                )
                .0,
            PeopleAnswer::Revoked
        );
        assert_eq!(
            state
                .step(
                    PeopleInput::Revoke {
                        id,
                        by: Actor::Root
                    },
                    T0
                )
                .0,
            PeopleAnswer::NoInvitation
        );
        assert_eq!(
            accept(&mut state, &token, person(1), T0),
            PeopleAnswer::NoInvitation
        );
    }

    #[test]
    fn a_member_keeps_their_role_and_their_sign_in_is_recorded() {
        let mut state = PeopleState::default();
        let (a, ta) = invitation(1, Role::Owner);
        let (b, tb) = invitation(2, Role::Viewer);
        let _ = state.step(PeopleInput::Invite(a), T0);
        let _ = state.step(PeopleInput::Invite(b), T0);
        let _ = accept(&mut state, &ta, person(1), T0);
        // The second link, by the same person: used up, the role stays owner.
        assert!(
            matches!(accept(&mut state, &tb, person(1), T0), PeopleAnswer::Member(m) if m.role == Role::Owner)
        );
        assert!(state.invitations.is_empty());
        let asked = PeopleInput::Member {
            person_id: person(1),
            signed_in: true,
        };
        let (answer, changed) = state.step(asked, T0 + 5);
        assert!(changed);
        assert!(matches!(answer, PeopleAnswer::Member(m) if m.last_sign_in_ms == Some(T0 + 5)));
        let other = PeopleInput::Member {
            person_id: person(9),
            signed_in: false,
        };
        assert_eq!(state.step(other, T0).0, PeopleAnswer::NotMember);
    }

    #[test]
    fn a_persons_approvals_are_bounded_by_their_role_and_end_when_they_leave() {
        let mut state = PeopleState::default();
        let (a, ta) = invitation(1, Role::Owner);
        let (b, tb) = invitation(2, Role::Viewer);
        let _ = state.step(PeopleInput::Invite(a), T0);
        let _ = state.step(PeopleInput::Invite(b), T0);
        let _ = accept(&mut state, &ta, person(1), T0);
        let _ = accept(&mut state, &tb, person(2), T0);
        let grant = |n: u8| GrantId::parse(&format!("grant_{:0>16}", n)).expect("grant");
        // A viewer approves: listed, and read only.
        let approve = |who, n| PeopleInput::Approve {
            person_id: who,
            grant_id: grant(n),
        };
        let (answer, changed) = state.step(approve(person(2), 1), T0);
        assert!(changed);
        let PeopleAnswer::Approver {
            terms: viewer,
            listed: 1,
        } = answer
        else {
            panic!("{answer:?}")
        };
        assert_eq!(viewer.grants, Role::Viewer.app_grants());
        assert!(viewer.in_force_at(T0));
        // Promoted: the listed grant is found with the newer, wider terms.
        let promote = PeopleInput::ChangeRole {
            by: Actor::Root,
            person_id: person(2),
            role: Role::Developer,
        };
        let _ = state.step(promote, T0);
        let (answer, _) = state.step(PeopleInput::ApprovedBy(person(2)), T0);
        let PeopleAnswer::Approvals { terms, grants } = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(grants, vec![grant(1)]);
        assert_eq!(terms.grants, Role::Developer.app_grants());
        assert!(terms.supersede(Some(&viewer)));
        // Removed: revoked, newer again; and no further approval.
        let remove = PeopleInput::Remove {
            by: Actor::Root,
            person_id: person(2),
        };
        let _ = state.step(remove, T0);
        let gone = state.approver_terms(person(2));
        assert!(!gone.in_force_at(T0) && gone.supersede(Some(&terms)));
        // The answer carrying them crosses to the worker and back.
        let (answer, _) = state.step(PeopleInput::ApprovedBy(person(2)), T0);
        let text = serde_json::to_string(&answer).expect("json");
        assert_eq!(
            serde_json::from_str::<PeopleAnswer>(&text).ok(),
            Some(answer)
        );
        assert_eq!(
            state.step(approve(person(2), 2), T0).0,
            PeopleAnswer::NotMember
        );
    }

    #[test]
    fn ended_grants_are_unlisted_and_only_the_persons_own() {
        let mut state = PeopleState::default();
        for n in [1, 2] {
            let (invite, token) = invitation(n, Role::Owner);
            let _ = state.step(PeopleInput::Invite(invite), T0);
            let _ = accept(&mut state, &token, person(n), T0);
        }
        let grant = |n: u8| GrantId::parse(&format!("grant_{:0>16}", n)).expect("grant");
        let approve = |who, n| PeopleInput::Approve {
            person_id: who,
            grant_id: grant(n),
        };
        for n in 1..=3 {
            let (answer, _) = state.step(approve(person(1), n), T0);
            assert!(
                matches!(answer, PeopleAnswer::Approver { listed, .. } if listed == usize::from(n))
            );
        }
        let _ = state.step(approve(person(2), 4), T0);
        // Person 1's grants 1 and 3 ended; grant 4 is named too, but is person 2's.
        let unlist = PeopleInput::Unlist {
            person_id: person(1),
            grants: vec![grant(1), grant(3), grant(4)],
        };
        assert_eq!(
            state.step(unlist.clone(), T0),
            (PeopleAnswer::Unlisted, true)
        );
        assert_eq!(state.step(unlist, T0), (PeopleAnswer::Unlisted, false));
        let listed =
            |state: &mut PeopleState, who| match state.step(PeopleInput::ApprovedBy(who), T0).0 {
                PeopleAnswer::Approvals { grants, .. } => grants,
                other => panic!("{other:?}"),
            };
        assert_eq!(listed(&mut state, person(1)), vec![grant(2)]);
        assert_eq!(listed(&mut state, person(2)), vec![grant(4)]);
        // The next consent counts what is still listed.
        let (answer, _) = state.step(approve(person(1), 5), T0);
        assert!(matches!(answer, PeopleAnswer::Approver { listed: 2, .. }));
    }

    #[test]
    fn tokens_bodies_and_names() {
        let (_, token) = invitation(7, Role::Viewer);
        assert_eq!(
            InvitationToken::parse(token.expose_secret()),
            Some(token.clone())
        );
        assert_eq!(
            token.organization().map(|o| o.to_string()).as_deref(),
            Some("org_0123456789abcdef")
        );
        assert!(token
            .url("http://localhost:8787")
            .starts_with("http://localhost:8787/dashboard/invite#0123456789abcdef"));
        assert_eq!(InvitationToken::parse("short"), None);
        assert_eq!(format!("{token:?}"), "InvitationToken(…)");
        let ok =
            parse_invitation(br#"{"email":" ada@example.com ","role":"developer"}"#).expect("ok");
        assert_eq!(
            (ok.email.as_str(), ok.role),
            ("ada@example.com", Role::Developer)
        );
        for (body, field) in [
            (
                &br#"{"email":"ada","role":"developer"}"#[..],
                Some(Field::Email),
            ),
            (br#"{"email":"a@b","role":"root"}"#, Some(Field::Role)),
            (br#"{"role":"viewer"}"#, Some(Field::Email)),
            (br#"{"email":"a@b","role":"viewer","x":1}"#, None),
            (br#"{"email":"a@b","email":"c@d","role":"viewer"}"#, None),
        ] {
            let err = parse_invitation(body).expect_err("refused");
            assert_eq!(
                (err.status, err.field),
                (400, field),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_person_name("  Ada Lovelace ").is_ok_and(|n| n == "Ada Lovelace"));
        assert!(parse_person_name("").is_err());
        assert!(parse_person_name("Ada\u{202E}").is_err());
    }

    fn joined(state: &mut PeopleState, n: u8, role: Role) -> PersonId {
        let (inv, token) = invitation(n, role);
        let _ = state.step(PeopleInput::Invite(inv), T0);
        let _ = accept(state, &token, person(n), T0 + u64::from(n));
        person(n)
    }

    fn as_person(id: PersonId) -> Actor {
        Actor::Person { person_id: id }
    }

    fn change(state: &mut PeopleState, by: Actor, who: PersonId, role: Role) -> PeopleAnswer {
        let input = PeopleInput::ChangeRole {
            by,
            person_id: who,
            role,
        };
        state.step(input, T0).0
    }

    fn remove(state: &mut PeopleState, by: Actor, who: PersonId) -> PeopleAnswer {
        state.step(PeopleInput::Remove { by, person_id: who }, T0).0
    }

    #[test]
    fn the_last_owner_can_be_neither_demoted_nor_removed() {
        let mut state = PeopleState::default();
        let a = joined(&mut state, 1, Role::Owner);
        let b = joined(&mut state, 2, Role::Owner);
        assert!(matches!(
            change(&mut state, Actor::Root, a, Role::Admin),
            PeopleAnswer::RoleChanged { ref before, ref after }
                if before.role == Role::Owner && after.role == Role::Admin
        ));
        // b is the last owner now: not by the root key, not by themselves.
        assert_eq!(
            change(&mut state, Actor::Root, b, Role::Viewer),
            PeopleAnswer::LastOwner
        );
        assert_eq!(
            change(&mut state, as_person(b), b, Role::Admin),
            PeopleAnswer::LastOwner
        );
        assert_eq!(remove(&mut state, Actor::Root, b), PeopleAnswer::LastOwner);
        assert_eq!(remove(&mut state, as_person(b), b), PeopleAnswer::LastOwner);
        // Owner to owner is no demotion.
        assert!(matches!(
            change(&mut state, Actor::Root, b, Role::Owner),
            PeopleAnswer::RoleChanged { .. }
        ));
        assert_eq!(state.owners(), 1);
        // The other owner may go once there is no doubt about who owns it.
        assert!(matches!(
            remove(&mut state, as_person(b), a),
            PeopleAnswer::Removed(m) if m.person_id == a
        ));
        assert!(matches!(
            remove(&mut state, Actor::Root, a),
            PeopleAnswer::NotMember
        ));
    }

    #[test]
    fn a_recovery_link_serves_its_member_only_and_only_an_owner_or_root_sends_one() {
        let mut state = PeopleState::default();
        let owner = joined(&mut state, 1, Role::Owner);
        let admin = joined(&mut state, 2, Role::Admin);
        let dev = joined(&mut state, 3, Role::Developer);
        let recover = |state: &mut PeopleState, by: Actor, who: PersonId, n: u8| {
            let (link, token) = invitation(n, Role::Viewer);
            let link = Invitation {
                created_by: by,
                email: String::new(),
                ..link
            };
            (
                state
                    .step(
                        PeopleInput::Recover {
                            link,
                            person_id: who,
                        },
                        T0 + 10,
                    )
                    .0,
                token,
            )
        };
        let (made, token) = recover(&mut state, Actor::Root, dev, 20);
        let PeopleAnswer::Invitation(link) = made else {
            panic!("{made:?}")
        };
        // The member's own email and role, whatever the link was drafted with.
        assert_eq!((link.role, link.recovers), (Role::Developer, Some(dev)));
        assert_eq!(link.email, "ada@example.com");
        assert_eq!(
            accept(&mut state, &token, person(9), T0 + 11),
            PeopleAnswer::NoInvitation
        );
        assert!(matches!(
            accept(&mut state, &token, dev, T0 + 12),
            PeopleAnswer::Member(m) if m.person_id == dev && m.role == Role::Developer
        ));
        assert_eq!(
            accept(&mut state, &token, dev, T0 + 13),
            PeopleAnswer::NoInvitation,
            "used up"
        );
        // An admin cannot send one (it is a member's account); an owner can.
        assert!(matches!(
            recover(&mut state, as_person(admin), dev, 21).0,
            PeopleAnswer::Forbidden(_)
        ));
        assert!(matches!(
            recover(&mut state, as_person(owner), dev, 22).0,
            PeopleAnswer::Invitation(_)
        ));
        assert_eq!(
            recover(&mut state, Actor::Root, person(8), 23).0,
            PeopleAnswer::NotMember
        );
        // A link for a member who has since left serves nobody.
        let (_, token) = recover(&mut state, Actor::Root, admin, 24);
        state.step(
            PeopleInput::Remove {
                by: Actor::Root,
                person_id: admin,
            },
            T0 + 14,
        );
        assert_eq!(
            accept(&mut state, &token, admin, T0 + 15),
            PeopleAnswer::NoInvitation
        );
    }

    #[test]
    fn an_admin_manages_roles_below_owner_and_others_nothing() {
        let mut state = PeopleState::default();
        let owner = joined(&mut state, 1, Role::Owner);
        let admin = joined(&mut state, 2, Role::Admin);
        let dev = joined(&mut state, 3, Role::Developer);
        let viewer = joined(&mut state, 4, Role::Viewer);
        let forbidden = |a: PeopleAnswer| matches!(a, PeopleAnswer::Forbidden(_));
        // An admin can't make or touch an owner.
        assert!(forbidden(change(
            &mut state,
            as_person(admin),
            dev,
            Role::Owner
        )));
        assert!(forbidden(change(
            &mut state,
            as_person(admin),
            owner,
            Role::Viewer
        )));
        assert!(forbidden(remove(&mut state, as_person(admin), owner)));
        let (owner_invite, _) = invitation(9, Role::Owner);
        let by_admin = Invitation {
            created_by: as_person(admin),
            recovers: None,
            ..owner_invite
        };
        assert!(forbidden(
            state.step(PeopleInput::Invite(by_admin.clone()), T0).0
        ));
        // ...but may below it.
        assert!(matches!(
            change(&mut state, as_person(admin), dev, Role::Viewer),
            PeopleAnswer::RoleChanged { .. }
        ));
        let admin_invites_dev = Invitation {
            role: Role::Developer,
            ..by_admin
        };
        assert!(matches!(
            state.step(PeopleInput::Invite(admin_invites_dev), T0).0,
            PeopleAnswer::Invitation(_)
        ));
        // Developers, viewers, API keys and former members change nothing.
        assert!(forbidden(change(
            &mut state,
            as_person(viewer),
            dev,
            Role::Viewer
        )));
        let key = Actor::Key {
            key_id: crate::ids::KeyId::parse("key_0123456789abcdef").expect("id"),
        };
        assert!(forbidden(remove(&mut state, key, viewer)));
        assert!(matches!(
            remove(&mut state, as_person(owner), admin),
            PeopleAnswer::Removed(_)
        ));
        assert!(matches!(
            remove(&mut state, as_person(admin), viewer),
            PeopleAnswer::Forbidden(why) if why.contains("no longer a member")
        ));
        assert_eq!(state.members.len(), 3);
    }

    #[test]
    fn events_say_who_changed_whom_and_how() {
        let mut state = PeopleState::default();
        let a = joined(&mut state, 1, Role::Owner);
        let b = joined(&mut state, 2, Role::Viewer);
        let PeopleAnswer::RoleChanged { before, after } =
            change(&mut state, Actor::Root, b, Role::Admin)
        else {
            panic!("changed")
        };
        let event = Member::role_changed_event(as_person(a), &before, &after);
        assert_eq!(event.action, "member.role_changed");
        assert_eq!(
            serde_json::to_value(&event.changes).expect("json"),
            serde_json::json!({"role": {"before": "viewer", "after": "admin"}})
        );
        let removed = after.removed_event(Actor::Root);
        assert_eq!(
            (removed.action.as_str(), removed.target.id.clone()),
            ("member.removed", after.person_id.to_string())
        );
        let view = serde_json::to_value(after.view()).expect("json");
        assert_eq!(view["role"], "admin");
        assert!(view["joinedAt"].is_string() && view["lastSignInAt"].is_string());
        assert_eq!(parse_role_change(br#"{"role":"viewer"}"#), Ok(Role::Viewer));
        let bad = parse_role_change(br#"{"role":"root"}"#).expect_err("400");
        assert_eq!((bad.status, bad.field), (400, Some(Field::Role)));
        assert_eq!(
            parse_role_change(br#"{"role":"viewer","x":1}"#).map_err(|e| e.status),
            Err(400)
        );
    }

    #[test]
    fn the_audit_log_can_name_members_and_members_once_but_nobody_else() {
        let mut state = PeopleState::default();
        let owner = joined(&mut state, 1, Role::Owner);
        let gone = joined(&mut state, 2, Role::Viewer);
        assert!(matches!(
            remove(&mut state, Actor::Root, gone),
            PeopleAnswer::Removed(_)
        ));
        let (answer, changed) = state.step(PeopleInput::Emails(vec![gone, person(9), owner]), T0);
        assert!(!changed, "a read");
        let PeopleAnswer::Emails(emails) = answer else {
            panic!("{answer:?}")
        };
        let mut named: Vec<PersonId> = emails.iter().map(|known| known.person_id).collect();
        named.sort();
        let mut expected = vec![owner, gone];
        expected.sort();
        assert_eq!(named, expected, "a stranger is not named");
        assert!(emails.iter().all(|known| known.email.contains('@')));
        let name_of = |id| {
            emails
                .iter()
                .find(|k| k.person_id == id)
                .map(|k| k.name.is_some())
        };
        assert_eq!(name_of(owner), Some(true), "a member's name");
        assert_eq!(name_of(gone), Some(false), "a former member's email alone");
    }

    #[test]
    fn pages_of_members_resume_exactly_even_when_one_left() {
        let mut state = PeopleState::default();
        let ids: Vec<PersonId> = (1..=5)
            .map(|n| joined(&mut state, n, Role::Owner))
            .collect();
        let page = |s: &mut PeopleState, after| match s
            .step(PeopleInput::ListMembers { limit: 2, after }, T0)
            .0
        {
            PeopleAnswer::Members { members, complete } => (members, complete),
            other => panic!("{other:?}"),
        };
        let (first, complete) = page(&mut state, None);
        assert_eq!(
            first.iter().map(|m| m.person_id).collect::<Vec<_>>(),
            ids[..2]
        );
        assert!(!complete);
        let cursor = MemberCursor::after(&first[1]);
        assert_eq!(MemberCursor::parse(&cursor.text()), Ok(cursor));
        assert!(MemberCursor::parse("nope").is_err());
        // The page's last member leaves before the next page is asked for.
        assert!(matches!(
            remove(&mut state, Actor::Root, ids[1]),
            PeopleAnswer::Removed(_)
        ));
        let (second, complete) = page(&mut state, Some(cursor));
        assert_eq!(
            second.iter().map(|m| m.person_id).collect::<Vec<_>>(),
            ids[2..4]
        );
        assert!(!complete);
        let (third, complete) = page(&mut state, Some(MemberCursor::after(&second[1])));
        assert_eq!(
            third.iter().map(|m| m.person_id).collect::<Vec<_>>(),
            ids[4..]
        );
        assert!(complete);
    }
}
