//! An OAuth grant's whole life as one state machine, with no I/O: the consent that
//! begins it, the single-use code, the token pairs and their rotation, revocation, and
//! the check of every request made with its access token.
//!
//! The `GrantGuard` Durable Object (named by the grant id inside every code and token)
//! owns one [`GrantState`], exactly as a `KeyGuard` owns a key's: load, step, store.
//!
//! ```text
//!  Begin (consent approved) ─► pending code (60 s, bound to app, redirect URI, PKCE)
//!  Exchange(code) ─► tokens; a second exchange revokes the grant
//!  Refresh(current) ─► new pair, the old refresh retired; Refresh(retired) revokes all
//!  Check(access hash) ─► same answers as a key: admitted / 401 / 403 / 429
//!  Revoke ─► dead for good (a tombstone if it never began: a late Begin fails)
//! ```

use crate::audit::{AuditDraft, AuditTarget};
use crate::base::constant_time;
use crate::base::timestamp::Timestamp;
use crate::check::admit::Refusal;
use crate::check::protocol::{Admitted, Check, CheckAnswer};
use crate::credentials::key::KeyType;
use crate::credentials::token::{OAuthToken, TokenKind, RANDOM_BYTES_FOR_TOKEN};
use crate::ids::OrgId;
use crate::ids::{Actor, Approver};
use crate::oauth::protocol::{
    pkce_matches, AuthorizationView, ClientId, GrantId, TokenResponse, ACCESS_TTL_MS, CODE_TTL_MS,
    REFRESH_TTL_MS, RETIRED_REFRESH_KEPT,
};
use crate::policy::error::OAuthError;
use crate::policy::ratelimit::Counters;
use crate::policy::scope::Grants;
use crate::policy::terms::ApproverTerms;
use crate::policy::terms::{OrgStatus, OrgTerms};
use crate::scanning::LeakReport;
use serde::{Deserialize, Serialize};

/// The pending authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCode {
    /// SHA-256 hex of the code.
    pub hash: String,
    /// The redirect URI it was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request named the redirect URI.
    pub redirect_uri_sent: bool,
    /// The PKCE S256 challenge.
    pub challenge: String,
    /// Unusable from, ms.
    pub expires_ms: u64,
    /// Exchanged at, ms: a second exchange revokes the grant.
    #[serde(default)]
    pub used_ms: Option<u64>,
}

/// An issued token, as its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    /// SHA-256 hex.
    pub hash: String,
    /// Issued at, ms.
    pub issued_ms: u64,
    /// Unusable from, ms.
    pub expires_ms: u64,
}

/// Everything a grant's guard knows. Never holds a code or token, only their hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantRecord {
    /// `grant_…`
    pub id: GrantId,
    /// The app.
    pub client_id: ClientId,
    /// The app's name at approval.
    pub client_name: String,
    /// The organization that approved, whose plan limits the grant.
    pub organization_id: OrgId,
    /// The approving key's type: where requests go (test or live origin).
    pub key_type: KeyType,
    /// The admin key or the person that approved.
    pub approved_by: Approver,
    /// What was approved.
    pub grants: Grants,
    /// The organization's plan and status.
    pub terms: OrgTerms,
    /// Approved at, ms.
    pub created_ms: u64,
    /// The authorization code.
    pub code: PendingCode,
    /// The current access token, and what it may do (a refresh may narrow it).
    #[serde(default)]
    pub access: Option<IssuedToken>,
    /// The current access token's scopes.
    #[serde(default)]
    pub access_grants: Option<Grants>,
    /// The current refresh token.
    #[serde(default)]
    pub refresh: Option<IssuedToken>,
    /// Hashes of rotated-out refresh tokens, newest last.
    #[serde(default)]
    pub retired_refresh: Vec<String>,
    /// Revoked at, ms.
    #[serde(default)]
    pub revoked_ms: Option<u64>,
    /// What the approving key holds now (pushed by every change of the key): the grant
    /// never does more. `None`: a grant from before approvers were tracked.
    #[serde(default)]
    pub approver: Option<ApproverTerms>,
    /// The terms of the organization that owns the app: a suspended one's app is
    /// suspended everywhere.
    #[serde(default)]
    pub owner: Option<OrgTerms>,
}

/// Copies of the terms a grant derives from (ARCHITECTURE.md, "Derived authority"),
/// pushed to its guard before its consent began: each is listed by its source before
/// it reads the terms, so a change of the source can reach the grant first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarlyTerms {
    /// The approving organization's.
    #[serde(default)]
    pub org: Option<OrgTerms>,
    /// The app's organization's.
    #[serde(default)]
    pub owner: Option<OrgTerms>,
    /// The approving key's.
    #[serde(default)]
    pub approver: Option<ApproverTerms>,
}

impl GrantRecord {
    /// Whether the grant may be used at `now_ms` at all: not revoked, its approver
    /// neither revoked nor expired.
    fn in_force_at(&self, now_ms: u64) -> bool {
        self.revoked_ms.is_none()
            && self
                .approver
                .as_ref()
                .is_none_or(|approver| approver.in_force_at(now_ms))
    }

    /// Whether the approving organization or the app's is suspended.
    fn suspended(&self) -> bool {
        self.terms.status == OrgStatus::Suspended
            || self
                .owner
                .is_some_and(|owner| owner.status == OrgStatus::Suspended)
    }

    /// What `grants` allow of what the approver still holds.
    fn held(&self, grants: &Grants) -> Grants {
        match &self.approver {
            Some(approver) => grants.intersect(&approver.grants),
            None => grants.clone(),
        }
    }

    /// Takes each early copy that is newer than the one the consent read.
    fn take_newer(&mut self, early: &EarlyTerms) {
        if let Some(org) = early.org.filter(|org| org.supersede(Some(&self.terms))) {
            self.terms = org;
        }
        if let Some(owner) = early.owner.filter(|o| o.supersede(self.owner.as_ref())) {
            self.owner = Some(owner);
        }
        if let Some(approver) = &early.approver {
            if approver.supersede(self.approver.as_ref()) {
                self.approver = Some(approver.clone());
            }
        }
    }
    /// Whether an admin limited to organization `org` and to grants of type `only`
    /// (`None`: no limit) may see this grant: another organization's, or a live grant to
    /// a test-mode admin, does not exist to it.
    fn visible_to_admin(&self, (org, only): (Option<OrgId>, Option<KeyType>)) -> bool {
        org.is_none_or(|o| o == self.organization_id) && only.is_none_or(|t| t == self.key_type)
    }

    /// Its entry in the approving organization's "Authorized apps".
    pub fn authorization_view(&self) -> AuthorizationView {
        AuthorizationView {
            grant_id: self.id,
            client_id: self.client_id,
            client_name: self.client_name.clone(),
            organization_id: self.organization_id,
            scopes: self.grants.clone(),
            key_type: self.key_type,
            approved_by: self.approved_by,
            created_at: Timestamp(self.created_ms),
            status: if self.revoked_ms.is_some() {
                "revoked".into()
            } else {
                "active".into()
            },
            revoked_at: self.revoked_ms.map(Timestamp),
        }
    }

    /// The audit event of `action`: on creation, the app and the scope it was given; on
    /// revocation, the status it left (`changes` holds before/after pairs, as for keys).
    fn event(&self, action: &str, actor: Actor) -> AuditDraft {
        let change = |before: serde_json::Value, after: serde_json::Value| serde_json::json!({ "before": before, "after": after });
        let changes: serde_json::Map<String, serde_json::Value> = if self.revoked_ms.is_some() {
            [(
                "status".to_owned(),
                change("active".into(), "revoked".into()),
            )]
            .into_iter()
            .collect()
        } else {
            // The app and its scope as the OAuth string first (what a person reads),
            // then every other field of the new grant's view, as other creations.
            let mut fields = serde_json::Map::new();
            fields.insert(
                "clientId".to_owned(),
                change(serde_json::Value::Null, self.client_id.to_string().into()),
            );
            fields.insert(
                "scope".to_owned(),
                change(serde_json::Value::Null, self.grants.scope_string().into()),
            );
            let view = crate::audit::created(&self.authorization_view()).unwrap_or_default();
            for (field, value) in view {
                fields.entry(field).or_insert(value);
            }
            fields
        };
        AuditDraft {
            actor,
            action: action.into(),
            target: AuditTarget {
                kind: "oauth_grant".into(),
                id: self.id.to_string(),
            },
            changes: Some(changes),
            report: None,
            reason: None,
        }
    }
}

/// What one grant's guard holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantState {
    /// The grant (none before consent, or for an unknown id).
    pub record: Option<GrantRecord>,
    /// Revoked before it began (its app was deleted in between): it never will.
    pub tombstone_ms: Option<u64>,
    /// Terms pushed before it began.
    pub early: EarlyTerms,
    /// Rate-limit windows.
    pub counters: Counters,
}

/// What a step asks its caller to store.
#[must_use]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantWrites {
    /// Store the record (or the tombstone).
    pub record: bool,
    /// Store the counters.
    pub counters: bool,
    /// Store `GrantState::early`.
    pub early: bool,
}

/// Everything the worker can ask a grant's guard.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantInput {
    /// Consent was given: hold the code.
    Begin(GrantRecord),
    /// `grant_type=authorization_code`.
    Exchange {
        /// SHA-256 hex of the code.
        code_hash: String,
        /// The authenticated app.
        client_id: ClientId,
        /// The token request's `redirect_uri`.
        redirect_uri: Option<String>,
        /// The PKCE verifier.
        verifier: Option<String>,
    },
    /// `grant_type=refresh_token`.
    Refresh {
        /// SHA-256 hex of the refresh token.
        token_hash: String,
        /// The authenticated app.
        client_id: ClientId,
        /// A narrower scope, if asked.
        scope: Option<Grants>,
    },
    /// A request made with an access token.
    Check(Check),
    /// Revoke the grant. `client_id`: only if it is this app's (RFC 7009); `None`: by an
    /// admin of the approving organization, or the app's deletion.
    Revoke {
        /// The app revoking its own token.
        client_id: Option<ClientId>,
        /// The approving organization's admin.
        organization: Option<OrgId>,
        /// Who, for the audit log.
        actor: Actor,
        /// Why, when the gateway revokes on its own (the approving key was revoked).
        #[serde(default)]
        reason: Option<String>,
        /// Only a grant approved by a key of this type (a test-mode admin's: a live grant
        /// does not exist to it).
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// RFC 7662: what a token is, to its app or an admin of the approving organization.
    Introspect {
        /// SHA-256 hex of the token.
        token_hash: String,
        /// Its kind.
        kind: TokenKind,
        /// The app asking (only its own tokens are shown).
        client_id: Option<ClientId>,
        /// The admin's organization (only its grants are shown).
        organization: Option<OrgId>,
        /// Only a grant approved by a key of this type (a test-mode admin's).
        #[serde(default)]
        only: Option<KeyType>,
    },
    /// The approving organization's new plan or status (older revisions are ignored).
    SetOrg(OrgTerms),
    /// The app's organization's new status (older revisions are ignored).
    SetOwner(OrgTerms),
    /// The approving key changed: what it holds now (older revisions are ignored).
    SetApprover(ApproverTerms),
    /// A secret scanner found a code or token hashing to `hash` in public: if it is
    /// this grant's (current or rotated-out), the grant is revoked.
    Leaked {
        /// SHA-256 hex of the reported string.
        hash: String,
        /// Where it was found.
        report: LeakReport,
    },
}

/// A grant guard's answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantAnswer {
    /// Begun.
    Begun,
    /// A token pair.
    Tokens(TokenResponse),
    /// Refused at the token endpoint; `revoked`: the grant was revoked by this request
    /// (code or refresh reuse), with its view and event for the organization's guard.
    OAuthRefused {
        /// The error.
        error: OAuthError,
        /// The revocation this request caused.
        revoked: Option<(AuthorizationView, AuditDraft)>,
    },
    /// The decision for a request.
    Check(CheckAnswer),
    /// Revoked by this input (`None`: nothing to revoke, or not the caller's).
    Revoked(Option<(AuthorizationView, AuditDraft)>),
    /// RFC 7662's answer.
    Introspection(Introspection),
    /// Stored (or already held).
    Done,
    /// Taken, but the grant has ended for good: revoked, or with no code, access or
    /// refresh token it could still use or be given (a source may stop listing it).
    Ended,
    /// The id is taken or was revoked before it began.
    Conflict,
    /// The label of a reported token, and the revocation it caused.
    Leak {
        /// Whether it is (or was) this grant's.
        true_positive: bool,
        /// The revocation, the first time.
        revoked: Option<(AuthorizationView, AuditDraft)>,
    },
}

/// RFC 7662 §2.2's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token works now.
    pub active: bool,
    /// Its scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer` for access tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expires at, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issued at, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Who the token is: its grant (as the identity assertion's `sub`), never the
    /// approving key, which a resource server authorising by `sub` would take it for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The admin key that approved the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The approving organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

const RECORD: GrantWrites = GrantWrites {
    record: true,
    counters: false,
    early: false,
};
const EARLY: GrantWrites = GrantWrites {
    record: false,
    counters: false,
    early: true,
};

fn hash_eq(a: &str, b: &str) -> bool {
    constant_time::eq(a.as_bytes(), b.as_bytes())
}

impl GrantState {
    /// One step at `now_ms`; `random` makes an access and a refresh token's secrets.
    pub fn step(
        &mut self,
        input: GrantInput,
        now_ms: u64,
        random: &[u8; 2 * RANDOM_BYTES_FOR_TOKEN],
    ) -> (GrantAnswer, GrantWrites) {
        match input {
            GrantInput::Begin(record) => {
                if self.record.is_some() || self.tombstone_ms.is_some() {
                    return (GrantAnswer::Conflict, GrantWrites::default());
                }
                let mut record = record;
                record.take_newer(&self.early);
                self.record = Some(record);
                (GrantAnswer::Begun, RECORD)
            }
            GrantInput::Exchange {
                code_hash,
                client_id,
                redirect_uri,
                verifier,
            } => self.exchange(
                &code_hash,
                client_id,
                redirect_uri,
                verifier,
                now_ms,
                random,
            ),
            GrantInput::Refresh {
                token_hash,
                client_id,
                scope,
            } => self.refresh(&token_hash, client_id, scope, now_ms, random),
            GrantInput::Check(check) => {
                let (answer, writes) = self.check(check, now_ms);
                (GrantAnswer::Check(answer), writes)
            }
            GrantInput::Revoke {
                client_id,
                organization,
                actor,
                reason,
                only,
            } => self.revoke(client_id, (organization, only), actor, reason, now_ms),
            GrantInput::Introspect {
                token_hash,
                kind,
                client_id,
                organization,
                only,
            } => (
                GrantAnswer::Introspection(self.introspect(
                    &token_hash,
                    kind,
                    client_id,
                    (organization, only),
                    now_ms,
                )),
                GrantWrites::default(),
            ),
            GrantInput::Leaked { hash, report } => self.leaked(&hash, report, now_ms),
            GrantInput::SetOrg(terms) => self.take(
                EarlyTerms {
                    org: Some(terms),
                    ..EarlyTerms::default()
                },
                now_ms,
            ),
            GrantInput::SetOwner(terms) => self.take(
                EarlyTerms {
                    owner: Some(terms),
                    ..EarlyTerms::default()
                },
                now_ms,
            ),
            GrantInput::SetApprover(terms) => self.take(
                EarlyTerms {
                    approver: Some(terms),
                    ..EarlyTerms::default()
                },
                now_ms,
            ),
        }
    }

    /// Whether the grant has ended for good at `now_ms`: revoked (or before it began),
    /// or holding no code, access token or refresh token that is still usable, so that
    /// nothing can ever be issued from it again. A grant not yet begun has not ended:
    /// its consent may be in flight.
    pub fn ended(&self, now_ms: u64) -> bool {
        if self.tombstone_ms.is_some() {
            return true;
        }
        let Some(record) = &self.record else {
            return false;
        };
        let live =
            |token: &Option<IssuedToken>| token.as_ref().is_some_and(|t| now_ms < t.expires_ms);
        let code_live = record.code.used_ms.is_none() && now_ms < record.code.expires_ms;
        record.revoked_ms.is_some() || !(code_live || live(&record.access) || live(&record.refresh))
    }

    /// Takes pushed terms: into the record when they are newer, or, before consent
    /// began, kept for it.
    /// Answers [`GrantAnswer::Ended`] when the grant has ended, so that the source
    /// pushing may stop listing it.
    fn take(&mut self, pushed: EarlyTerms, now_ms: u64) -> (GrantAnswer, GrantWrites) {
        let ended = self.ended(now_ms);
        match self.record.as_mut() {
            Some(record) => {
                let before = record.clone();
                record.take_newer(&pushed);
                let writes = if *record == before {
                    GrantWrites::default()
                } else {
                    RECORD
                };
                let answer = if ended {
                    GrantAnswer::Ended
                } else {
                    GrantAnswer::Done
                };
                (answer, writes)
            }
            None if ended => (GrantAnswer::Ended, GrantWrites::default()),
            None => {
                let mut early = self.early.clone();
                if let Some(org) = pushed.org.filter(|o| o.supersede(early.org.as_ref())) {
                    early.org = Some(org);
                }
                if let Some(owner) = pushed.owner.filter(|o| o.supersede(early.owner.as_ref())) {
                    early.owner = Some(owner);
                }
                if let Some(approver) = pushed.approver {
                    if approver.supersede(early.approver.as_ref()) {
                        early.approver = Some(approver);
                    }
                }
                if early == self.early {
                    return (GrantAnswer::Done, GrantWrites::default());
                }
                self.early = early;
                (GrantAnswer::Done, EARLY)
            }
        }
    }

    fn issue(
        record: &mut GrantRecord,
        scope: Grants,
        now_ms: u64,
        random: &[u8; 2 * RANDOM_BYTES_FOR_TOKEN],
    ) -> TokenResponse {
        let (access_random, refresh_random) = random.split_at(RANDOM_BYTES_FOR_TOKEN);
        let mut bytes = [0u8; RANDOM_BYTES_FOR_TOKEN];
        bytes.copy_from_slice(access_random);
        let access = OAuthToken::generate(TokenKind::Access, record.id, &bytes);
        bytes.copy_from_slice(refresh_random);
        let refresh = OAuthToken::generate(TokenKind::Refresh, record.id, &bytes);
        if let Some(old) = record.refresh.take() {
            record.retired_refresh.push(old.hash);
            let excess = record
                .retired_refresh
                .len()
                .saturating_sub(RETIRED_REFRESH_KEPT);
            record.retired_refresh.drain(..excess);
        }
        record.access = Some(IssuedToken {
            hash: access.hash_hex(),
            issued_ms: now_ms,
            expires_ms: now_ms + ACCESS_TTL_MS,
        });
        record.refresh = Some(IssuedToken {
            hash: refresh.hash_hex(),
            issued_ms: now_ms,
            expires_ms: now_ms + REFRESH_TTL_MS,
        });
        let response = TokenResponse {
            access_token: access.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL_MS / 1000,
            refresh_token: refresh.expose_secret().to_owned(),
            scope: scope.scope_string(),
        };
        record.access_grants = Some(scope);
        response
    }

    /// Revokes the live grant because a code or refresh token was replayed.
    fn revoke_for_replay(&mut self, why: &str, now_ms: u64) -> (GrantAnswer, GrantWrites) {
        let Some(record) = self.record.as_mut() else {
            return refused(why);
        };
        record.revoked_ms = Some(now_ms);
        let mut event = record.event(
            "oauth_grant.revoked",
            Actor::App {
                client_id: record.client_id,
                grant_id: record.id,
            },
        );
        event.reason = Some(why.to_owned());
        let answer = GrantAnswer::OAuthRefused {
            error: OAuthError::invalid_grant(why),
            revoked: Some((record.authorization_view(), event)),
        };
        (answer, RECORD)
    }

    fn exchange(
        &mut self,
        code_hash: &str,
        client_id: ClientId,
        redirect_uri: Option<String>,
        verifier: Option<String>,
        now_ms: u64,
        random: &[u8; 2 * RANDOM_BYTES_FOR_TOKEN],
    ) -> (GrantAnswer, GrantWrites) {
        const INVALID: &str = "The authorization code is invalid, expired, already used or revoked";
        let Some(record) = self.record.as_mut() else {
            return refused(INVALID);
        };
        if !record.in_force_at(now_ms)
            || !hash_eq(code_hash, &record.code.hash)
            || record.client_id != client_id
        {
            return refused(INVALID);
        }
        if record.code.used_ms.is_some() {
            // RFC 9700 §4.2.4: a replayed code revokes what its first use issued.
            return self.revoke_for_replay(
                "The authorization code was already used; the tokens issued with it are revoked",
                now_ms,
            );
        }
        if now_ms >= record.code.expires_ms {
            return refused(INVALID);
        }
        let redirect_ok = match &redirect_uri {
            Some(sent) => sent == &record.code.redirect_uri,
            None => !record.code.redirect_uri_sent,
        };
        if !redirect_ok {
            return refused("redirect_uri must be the one sent to /oauth/authorize");
        }
        let Some(verifier) = verifier else {
            return refused("code_verifier is required (PKCE)");
        };
        if !pkce_matches(&verifier, &record.code.challenge) {
            return refused("code_verifier does not match the code_challenge");
        }
        if record.suspended() {
            return refused(SUSPENDED);
        }
        let scope = record.held(&record.grants);
        if scope.is_empty() {
            return refused(NOTHING_HELD);
        }
        record.code.used_ms = Some(now_ms);
        let tokens = Self::issue(record, scope, now_ms, random);
        (GrantAnswer::Tokens(tokens), RECORD)
    }

    fn refresh(
        &mut self,
        token_hash: &str,
        client_id: ClientId,
        scope: Option<Grants>,
        now_ms: u64,
        random: &[u8; 2 * RANDOM_BYTES_FOR_TOKEN],
    ) -> (GrantAnswer, GrantWrites) {
        const INVALID: &str = "The refresh token is invalid, expired or revoked";
        let Some(record) = self.record.as_mut() else {
            return refused(INVALID);
        };
        if !record.in_force_at(now_ms) || record.client_id != client_id {
            return refused(INVALID);
        }
        let current = record
            .refresh
            .as_ref()
            .filter(|r| hash_eq(token_hash, &r.hash));
        let Some(current) = current else {
            let retired = record
                .retired_refresh
                .iter()
                .fold(false, |seen, old| seen | hash_eq(token_hash, old));
            if retired {
                // RFC 9700 §4.14.2: a rotated-out refresh token means it was copied.
                return self.revoke_for_replay(
                    "The refresh token was already used; the grant is revoked, ask the user again",
                    now_ms,
                );
            }
            return refused(INVALID);
        };
        if now_ms >= current.expires_ms {
            return refused(INVALID);
        }
        if record.suspended() {
            return refused(SUSPENDED);
        }
        let scope = match scope {
            None => record.grants.clone(),
            Some(asked) => match record.grants.covers(&asked) {
                Ok(()) => asked,
                Err(missing) => {
                    let error = OAuthError::invalid_scope(&format!(
                        "The grant does not hold '{}' on {}",
                        missing.scope.as_str(),
                        missing.resource
                    ));
                    let answer = GrantAnswer::OAuthRefused {
                        error,
                        revoked: None,
                    };
                    return (answer, GrantWrites::default());
                }
            },
        };
        // Never more than the approving key holds now.
        let scope = record.held(&scope);
        if scope.is_empty() {
            return refused(NOTHING_HELD);
        }
        let tokens = Self::issue(record, scope, now_ms, random);
        (GrantAnswer::Tokens(tokens), RECORD)
    }

    /// Decides one request made with an access token, with the same answers as a key's.
    pub fn check(&mut self, check: Check, now_ms: u64) -> (CheckAnswer, GrantWrites) {
        let refused = |refusal| {
            (
                CheckAnswer::Refused {
                    refusal,
                    at_ms: now_ms,
                },
                GrantWrites::default(),
            )
        };
        let Some(record) = self.record.as_ref().filter(|r| r.in_force_at(now_ms)) else {
            return refused(Refusal::Invalid);
        };
        let Some(access) = record
            .access
            .as_ref()
            .filter(|a| hash_eq(&check.hash, &a.hash))
        else {
            return refused(Refusal::Invalid);
        };
        if now_ms >= access.expires_ms {
            return refused(Refusal::TokenExpired);
        }
        let grants = &record.held(record.access_grants.as_ref().unwrap_or(&record.grants));
        let policy = record.terms.plan.default_policy(record.key_type);
        // An allow-list is a key's: an app calls from its own servers, never the key's.
        let admitted = crate::check::admit::admit(
            record.suspended(),
            crate::check::admit::Place::Allowed,
            grants,
            &check.requirement,
            &policy,
            &self.counters,
            now_ms,
        );
        match admitted {
            Err(refusal) => refused(refusal),
            Ok(crate::check::admit::Admission { counters, status }) => {
                self.counters = counters;
                let admitted = Admitted {
                    actor: Actor::App {
                        client_id: record.client_id,
                        grant_id: record.id,
                    },
                    organization_id: record.organization_id,
                    key_type: record.key_type,
                    grants: grants.clone(),
                    status,
                    at_ms: now_ms,
                    app: Some(crate::check::protocol::AppGrant {
                        client_id: record.client_id,
                        grant_id: record.id,
                        approved_by: record.approved_by,
                    }),
                };
                let writes = GrantWrites {
                    counters: true,
                    ..GrantWrites::default()
                };
                (CheckAnswer::Admitted(Box::new(admitted)), writes)
            }
        }
    }

    fn revoke(
        &mut self,
        client_id: Option<ClientId>,
        admin: (Option<OrgId>, Option<KeyType>),
        actor: Actor,
        reason: Option<String>,
        now_ms: u64,
    ) -> (GrantAnswer, GrantWrites) {
        let Some(record) = self.record.as_mut() else {
            // Only an unconditional revocation (the app's deletion) leaves a tombstone.
            if client_id.is_none() && admin == (None, None) && self.tombstone_ms.is_none() {
                self.tombstone_ms = Some(now_ms);
                return (GrantAnswer::Revoked(None), RECORD);
            }
            return (GrantAnswer::Revoked(None), GrantWrites::default());
        };
        let allowed =
            client_id.is_none_or(|c| c == record.client_id) && record.visible_to_admin(admin);
        if !allowed || record.revoked_ms.is_some() {
            return (GrantAnswer::Revoked(None), GrantWrites::default());
        }
        record.revoked_ms = Some(now_ms);
        let mut event = record.event("oauth_grant.revoked", actor);
        event.reason = reason;
        (
            GrantAnswer::Revoked(Some((record.authorization_view(), event))),
            RECORD,
        )
    }

    fn leaked(
        &mut self,
        hash: &str,
        report: LeakReport,
        now_ms: u64,
    ) -> (GrantAnswer, GrantWrites) {
        let Some(record) = self.record.as_mut() else {
            return (
                GrantAnswer::Leak {
                    true_positive: false,
                    revoked: None,
                },
                GrantWrites::default(),
            );
        };
        let issued = [record.access.as_ref(), record.refresh.as_ref()]
            .into_iter()
            .flatten()
            .map(|t| t.hash.as_str())
            .chain(record.retired_refresh.iter().map(String::as_str))
            .chain(core::iter::once(record.code.hash.as_str()));
        let true_positive = issued.fold(false, |seen, known| seen | hash_eq(hash, known));
        if !true_positive || record.revoked_ms.is_some() {
            let answer = GrantAnswer::Leak {
                true_positive,
                revoked: None,
            };
            return (answer, GrantWrites::default());
        }
        // Whatever LEAKED_KEY_ACTION says for keys: a grant costs a person one approval
        // to give again, and a leaked token is someone else's way into the organization.
        record.revoked_ms = Some(now_ms);
        let mut event = record.event("oauth_grant.revoked", Actor::SecretScanning);
        event.report = Some(report);
        event.reason = Some("A token of this grant was found in public".into());
        let answer = GrantAnswer::Leak {
            true_positive,
            revoked: Some((record.authorization_view(), event)),
        };
        (answer, RECORD)
    }

    fn introspect(
        &self,
        token_hash: &str,
        kind: TokenKind,
        client_id: Option<ClientId>,
        admin: (Option<OrgId>, Option<KeyType>),
        now_ms: u64,
    ) -> Introspection {
        let Some(record) = self.record.as_ref() else {
            return Introspection::default();
        };
        let visible =
            client_id.is_none_or(|c| c == record.client_id) && record.visible_to_admin(admin);
        let token = match kind {
            TokenKind::Access => record.access.as_ref(),
            TokenKind::Refresh => record.refresh.as_ref(),
            TokenKind::Code => None,
        }
        .filter(|t| hash_eq(token_hash, &t.hash));
        let live = record.in_force_at(now_ms) && !record.suspended();
        match token {
            Some(token) if visible && live && now_ms < token.expires_ms => {
                let grants = &record.held(match kind {
                    TokenKind::Access => record.access_grants.as_ref().unwrap_or(&record.grants),
                    _ => &record.grants,
                });
                Introspection {
                    active: true,
                    scope: Some(grants.scope_string()),
                    client_id: Some(record.client_id.to_string()),
                    token_type: Some(match kind {
                        TokenKind::Access => "Bearer".into(),
                        _ => kind.hint().into(),
                    }),
                    exp: Some(token.expires_ms / 1000),
                    iat: Some(token.issued_ms / 1000),
                    sub: Some(record.id.to_string()),
                    approved_by: Some(record.approved_by.to_string()),
                    org_id: Some(record.organization_id.to_string()),
                    grant_id: Some(record.id.to_string()),
                }
            }
            _ => Introspection::default(),
        }
    }
}

/// A token request for a grant whose organization, or its app's, is suspended.
const SUSPENDED: &str = "The organization is suspended";
/// A token request for a grant whose approving key no longer holds any of its scopes.
const NOTHING_HELD: &str = "The key that approved this grant no longer holds any of its scopes";

fn refused(why: &str) -> (GrantAnswer, GrantWrites) {
    let answer = GrantAnswer::OAuthRefused {
        error: OAuthError::invalid_grant(why),
        revoked: None,
    };
    (answer, GrantWrites::default())
}

/// The grant record consent creates, with its code. `code` is the new code.
#[allow(clippy::too_many_arguments)]
pub fn begin(
    request: &crate::oauth::protocol::AuthorizeRequest,
    grant: GrantId,
    code: &OAuthToken,
    client_name: &str,
    organization_id: OrgId,
    key_type: KeyType,
    approved_by: Approver,
    terms: OrgTerms,
    now_ms: u64,
) -> GrantRecord {
    GrantRecord {
        id: grant,
        client_id: request.client_id,
        client_name: client_name.to_owned(),
        organization_id,
        key_type,
        approved_by,
        grants: request.scopes.clone(),
        terms,
        created_ms: now_ms,
        code: PendingCode {
            hash: code.hash_hex(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            challenge: request.code_challenge.clone(),
            expires_ms: now_ms + CODE_TTL_MS,
            used_ms: None,
        },
        access: None,
        access_grants: None,
        refresh: None,
        retired_refresh: Vec::new(),
        revoked_ms: None,
        approver: None,
        owner: None,
    }
}

/// A grant listed for a consent that did not finish (its app was deleted, its key no
/// longer held the scopes): its listing as revoked, and the event.
pub fn unfinished(
    mut view: AuthorizationView,
    actor: Actor,
    reason: &str,
    now_ms: u64,
) -> (AuthorizationView, AuditDraft) {
    view.status = "revoked".into();
    view.revoked_at = Some(Timestamp(now_ms));
    let event = AuditDraft {
        actor,
        action: "oauth_grant.revoked".into(),
        target: AuditTarget {
            kind: "oauth_grant".into(),
            id: view.grant_id.to_string(),
        },
        changes: None,
        report: None,
        reason: Some(reason.to_owned()),
    };
    (view, event)
}

/// The audit event of consent given.
pub fn created_event(record: &GrantRecord) -> AuditDraft {
    record.event("oauth_grant.created", record.approved_by.actor())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::method::Method;
    use crate::oauth::protocol::{
        parse_scope, AuthorizeRequest, ClientId, RANDOM_BYTES_FOR_CLIENT_ID,
        RANDOM_BYTES_FOR_GRANT_ID,
    };
    use crate::policy::plan::Plan;
    use crate::policy::scope::Requirement;

    const NOW: u64 = 1_769_076_000_000;
    const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9ZdxqUZfqnUzOPMd48Ae3HKpQ";
    // base64url(sha256(VERIFIER)), computed with Python's hashlib.
    const CHALLENGE: &str = "rAaeg0y8J1OnJgd90LECN2tgcr8J6aed9OHBuZrzCLU";
    const R: [u8; 2 * RANDOM_BYTES_FOR_TOKEN] = [11; 2 * RANDOM_BYTES_FOR_TOKEN];

    fn app() -> ClientId {
        ClientId::generate(OrgId::DEFAULT, &[2; RANDOM_BYTES_FOR_CLIENT_ID])
    }

    fn begun() -> (GrantState, OAuthToken) {
        let grant = GrantId::generate(&[4; RANDOM_BYTES_FOR_GRANT_ID]);
        let code = OAuthToken::generate(TokenKind::Code, grant, &[5; RANDOM_BYTES_FOR_TOKEN]);
        let request = AuthorizeRequest {
            client_id: app(),
            redirect_uri: "https://a.example/cb".into(),
            redirect_uri_sent: true,
            scopes: parse_scope("read write").expect("scope"),
            state: None,
            code_challenge: CHALLENGE.into(),
        };
        let terms = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            plan: Plan::Starter,
            status: OrgStatus::Active,
            revision: 0,
        };
        let record = begin(
            &request,
            grant,
            &code,
            "App",
            OrgId::DEFAULT,
            KeyType::Live,
            Approver::Key(
                crate::credentials::key::KeyId::parse("key_0123456789abcdef").expect("id"),
            ),
            terms,
            NOW,
        );
        let mut state = GrantState::default();
        let (answer, writes) = state.step(GrantInput::Begin(record), NOW, &R);
        assert_eq!(answer, GrantAnswer::Begun);
        assert!(writes.record);
        (state, code)
    }

    fn exchange(state: &mut GrantState, code: &OAuthToken, verifier: &str, at: u64) -> GrantAnswer {
        let input = GrantInput::Exchange {
            code_hash: code.hash_hex(),
            client_id: app(),
            redirect_uri: Some("https://a.example/cb".into()),
            verifier: Some(verifier.into()),
        };
        state.step(input, at, &R).0
    }

    fn error(answer: &GrantAnswer) -> (&str, bool) {
        match answer {
            GrantAnswer::OAuthRefused { error, revoked } => {
                (error.error.as_str(), revoked.is_some())
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    fn get(state: &mut GrantState, token: &str, at: u64) -> CheckAnswer {
        let token = OAuthToken::parse(token).expect("token");
        let check = Check {
            hash: token.hash_hex(),
            requirement: Requirement::for_request(&Method::Get, &[], "opportunities"),
            address: None,
        };
        state.check(check, at).0
    }

    fn approver(scope: &str, revision: u64, expires_ms: Option<u64>) -> ApproverTerms {
        ApproverTerms {
            grants: parse_scope(scope).expect("scope"),
            expires_ms,
            revoked: false,
            revision,
        }
    }

    fn refresh_with(state: &mut GrantState, token: &str, at: u64) -> GrantAnswer {
        let input = GrantInput::Refresh {
            token_hash: OAuthToken::parse(token).expect("token").hash_hex(),
            client_id: app(),
            scope: None,
        };
        state.step(input, at, &[13; 2 * RANDOM_BYTES_FOR_TOKEN]).0
    }

    #[test]
    fn a_grant_never_does_more_than_its_approver_holds_now() {
        let (mut state, code) = begun();
        let _ = state.step(
            GrantInput::SetApprover(approver("read write", 1, None)),
            NOW,
            &R,
        );
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        assert_eq!(tokens.scope, "read write");
        // The key is narrowed to write only: reading stops, and a refresh says so.
        let (_, writes) = state.step(GrantInput::SetApprover(approver("write", 2, None)), NOW, &R);
        assert!(writes.record);
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 1),
            CheckAnswer::Refused {
                refusal: Refusal::Forbidden { .. },
                ..
            }
        ));
        let GrantAnswer::Tokens(refreshed) =
            refresh_with(&mut state, &tokens.refresh_token, NOW + 2)
        else {
            panic!("refreshed");
        };
        assert_eq!(refreshed.scope, "write");
        // A stale copy of the key (revision 1) arriving late changes nothing.
        let (_, writes) = state.step(
            GrantInput::SetApprover(approver("read write", 1, None)),
            NOW,
            &R,
        );
        assert_eq!(writes, GrantWrites::default());
        // Widened again, the grant gets back what it was approved, and no more.
        let _ = state.step(
            GrantInput::SetApprover(approver("read write delete", 3, None)),
            NOW,
            &R,
        );
        assert!(
            matches!(
                get(&mut state, &refreshed.access_token, NOW + 3),
                CheckAnswer::Refused {
                    refusal: Refusal::Forbidden { .. },
                    ..
                }
            ),
            "the refreshed token holds write only"
        );
    }

    #[test]
    fn the_approvers_expiry_or_revocation_ends_the_grant() {
        let (mut state, code) = begun();
        let until = NOW + 1_000;
        let _ = state.step(
            GrantInput::SetApprover(approver("read write", 1, Some(until))),
            NOW,
            &R,
        );
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 1),
            CheckAnswer::Admitted(_)
        ));
        assert!(matches!(
            get(&mut state, &tokens.access_token, until),
            CheckAnswer::Refused {
                refusal: Refusal::Invalid,
                ..
            }
        ));
        assert_eq!(
            error(&refresh_with(&mut state, &tokens.refresh_token, until)).0,
            "invalid_grant"
        );
        let (mut state, code) = begun();
        let revoked = ApproverTerms {
            revoked: true,
            ..approver("read", 1, None)
        };
        let _ = state.step(GrantInput::SetApprover(revoked), NOW, &R);
        assert_eq!(
            error(&exchange(&mut state, &code, VERIFIER, NOW)).0,
            "invalid_grant"
        );
    }

    #[test]
    fn a_push_says_when_the_grant_has_ended_for_good() {
        let push = |state: &mut GrantState, revision, at| {
            state
                .step(
                    GrantInput::SetApprover(approver("read", revision, None)),
                    at,
                    &R,
                )
                .0
        };
        // Not begun: its consent may be in flight, so it has not ended.
        assert_eq!(push(&mut GrantState::default(), 1, NOW), GrantAnswer::Done);
        // Begun, its code unused: live; once the code expired unused, ended.
        let (mut state, code) = begun();
        assert_eq!(push(&mut state, 1, NOW), GrantAnswer::Done);
        let code_expiry = state.record.as_ref().expect("record").code.expires_ms;
        assert_eq!(push(&mut state.clone(), 2, code_expiry), GrantAnswer::Ended);
        // Exchanged: live while its access or refresh token is; ended after both.
        let GrantAnswer::Tokens(_) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        let refresh_expiry = NOW + REFRESH_TTL_MS;
        assert_eq!(push(&mut state, 2, refresh_expiry - 1), GrantAnswer::Done);
        assert_eq!(
            push(&mut state.clone(), 3, refresh_expiry),
            GrantAnswer::Ended
        );
        // Revoked: ended at once, and a push still changes nothing that matters.
        let revoke = GrantInput::Revoke {
            client_id: None,
            organization: None,
            actor: Actor::Root,
            reason: None,
            only: None,
        };
        let _ = state.step(revoke, NOW + 1, &R);
        assert_eq!(push(&mut state, 3, NOW + 2), GrantAnswer::Ended);
    }

    #[test]
    fn terms_pushed_before_consent_began_win_when_newer() {
        let (_, code) = begun();
        let mut state = GrantState::default();
        let suspended = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            plan: Plan::Starter,
            status: OrgStatus::Suspended,
            revision: 4,
        };
        let (_, writes) = state.step(GrantInput::SetOwner(suspended), NOW, &R);
        assert!(writes.early);
        let (_, writes) = state.step(GrantInput::SetApprover(approver("read", 7, None)), NOW, &R);
        assert!(writes.early);
        let (mut begun_state, _) = begun();
        let mut record = begun_state.record.take().expect("record");
        record.owner = Some(OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            status: OrgStatus::Active,
            revision: 3,
            ..suspended
        });
        record.approver = Some(approver("read write", 6, None));
        let _ = state.step(GrantInput::Begin(record), NOW, &R);
        let record = state.record.as_ref().expect("begun");
        assert_eq!(record.owner, Some(suspended));
        assert_eq!(record.approver, Some(approver("read", 7, None)));
        assert_eq!(
            error(&exchange(&mut state, &code, VERIFIER, NOW)).0,
            "invalid_grant"
        );
    }

    #[test]
    fn suspending_the_apps_organization_stops_its_grants_everywhere() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        let owner = |status, revision| OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            plan: Plan::Starter,
            status,
            revision,
        };
        let _ = state.step(
            GrantInput::SetOwner(owner(OrgStatus::Suspended, 1)),
            NOW,
            &R,
        );
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 1),
            CheckAnswer::Refused {
                refusal: Refusal::Suspended,
                ..
            }
        ));
        assert_eq!(
            error(&refresh_with(&mut state, &tokens.refresh_token, NOW + 1)).0,
            "invalid_grant"
        );
        let _ = state.step(GrantInput::SetOwner(owner(OrgStatus::Active, 2)), NOW, &R);
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 2),
            CheckAnswer::Admitted(_)
        ));
    }

    #[test]
    fn a_code_works_once_and_its_replay_revokes_the_grant() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW + 1) else {
            panic!("tokens");
        };
        assert_eq!(tokens.scope, "read write");
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 2),
            CheckAnswer::Admitted(_)
        ));
        let replay = exchange(&mut state, &code, VERIFIER, NOW + 3);
        assert_eq!(error(&replay), ("invalid_grant", true));
        let GrantAnswer::OAuthRefused {
            revoked: Some((_, event)),
            ..
        } = replay
        else {
            panic!("the replay's revocation");
        };
        assert!(event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("already used")));
        let changes = event.changes.expect("changes");
        assert!(
            changes
                .values()
                .all(|c| c.get("before").is_some() && c.get("after").is_some()),
            "changes are before/after pairs: {changes:?}"
        );
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 4),
            CheckAnswer::Refused {
                refusal: Refusal::Invalid,
                ..
            }
        ));
    }

    #[test]
    fn codes_expire_after_sixty_seconds_and_need_the_verifier() {
        let (mut state, code) = begun();
        assert_eq!(
            error(&exchange(&mut state, &code, "x".repeat(43).as_str(), NOW)),
            ("invalid_grant", false)
        );
        assert_eq!(
            error(&exchange(&mut state, &code, VERIFIER, NOW + CODE_TTL_MS)),
            ("invalid_grant", false)
        );
        let (mut state, code) = begun();
        assert!(matches!(
            exchange(&mut state, &code, VERIFIER, NOW + CODE_TTL_MS - 1),
            GrantAnswer::Tokens(_)
        ));
    }

    #[test]
    fn refresh_rotates_and_a_replayed_refresh_revokes_everything() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(first) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        let refresh = |state: &mut GrantState, token: &str, scope: Option<&str>| {
            let input = GrantInput::Refresh {
                token_hash: OAuthToken::parse(token).expect("token").hash_hex(),
                client_id: app(),
                scope: scope.map(|s| parse_scope(s).expect("scope")),
            };
            state
                .step(input, NOW + 10, &[12; 2 * RANDOM_BYTES_FOR_TOKEN])
                .0
        };
        assert_eq!(
            error(&refresh(&mut state, &first.refresh_token, Some("delete"))),
            ("invalid_scope", false)
        );
        let GrantAnswer::Tokens(second) = refresh(&mut state, &first.refresh_token, Some("read"))
        else {
            panic!("rotated");
        };
        assert_eq!(second.scope, "read");
        assert_ne!(second.refresh_token, first.refresh_token);
        assert!(
            matches!(
                get(&mut state, &first.access_token, NOW + 11),
                CheckAnswer::Refused {
                    refusal: Refusal::Invalid,
                    ..
                }
            ),
            "the old access token is replaced"
        );
        assert_eq!(
            error(&refresh(&mut state, &first.refresh_token, None)),
            ("invalid_grant", true)
        );
        assert_eq!(
            error(&refresh(&mut state, &second.refresh_token, None)),
            ("invalid_grant", false)
        );
    }

    #[test]
    fn access_tokens_expire_with_their_own_refusal() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + ACCESS_TTL_MS),
            CheckAnswer::Refused {
                refusal: Refusal::TokenExpired,
                ..
            }
        ));
    }

    #[test]
    fn a_revocation_before_consent_finishes_wins() {
        let mut state = GrantState::default();
        let (answer, writes) = state.step(
            GrantInput::Revoke {
                client_id: None,
                organization: None,
                actor: Actor::Root,
                reason: None,
                only: None,
            },
            NOW,
            &R,
        );
        assert_eq!(answer, GrantAnswer::Revoked(None));
        assert!(writes.record);
        let (fresh, _) = begun();
        let record = fresh.record.expect("record");
        assert_eq!(
            state.step(GrantInput::Begin(record), NOW, &R).0,
            GrantAnswer::Conflict
        );
    }

    #[test]
    fn apps_revoke_and_introspect_only_their_own_grants() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        let other = ClientId::generate(OrgId::DEFAULT, &[3; RANDOM_BYTES_FOR_CLIENT_ID]);
        let hash = OAuthToken::parse(&tokens.access_token)
            .expect("t")
            .hash_hex();
        let introspect = |state: &mut GrantState, client| {
            let input = GrantInput::Introspect {
                token_hash: hash.clone(),
                kind: TokenKind::Access,
                client_id: Some(client),
                organization: None,
                only: None,
            };
            match state.step(input, NOW + 1, &R).0 {
                GrantAnswer::Introspection(i) => i,
                other => panic!("{other:?}"),
            }
        };
        assert!(!introspect(&mut state, other).active);
        let mine = introspect(&mut state, app());
        assert!(mine.active);
        assert_eq!(mine.scope.as_deref(), Some("read write"));
        let revoke = |client| GrantInput::Revoke {
            client_id: Some(client),
            organization: None,
            actor: Actor::Root,
            reason: None,
            only: None,
        };
        assert_eq!(
            state.step(revoke(other), NOW + 2, &R).0,
            GrantAnswer::Revoked(None)
        );
        assert!(matches!(
            state.step(revoke(app()), NOW + 2, &R).0,
            GrantAnswer::Revoked(Some(_))
        ));
        assert!(!introspect(&mut state, app()).active);
    }

    #[test]
    fn a_live_grant_does_not_exist_to_a_test_mode_admin() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        let hash = OAuthToken::parse(&tokens.access_token)
            .expect("t")
            .hash_hex();
        let introspect = |state: &mut GrantState, only| {
            let input = GrantInput::Introspect {
                token_hash: hash.clone(),
                kind: TokenKind::Access,
                client_id: None,
                organization: Some(OrgId::DEFAULT),
                only,
            };
            match state.step(input, NOW + 1, &R).0 {
                GrantAnswer::Introspection(i) => i.active,
                other => panic!("{other:?}"),
            }
        };
        let revoke = |only| GrantInput::Revoke {
            client_id: None,
            organization: Some(OrgId::DEFAULT),
            actor: Actor::Root,
            reason: None,
            only,
        };
        assert!(!introspect(&mut state, Some(KeyType::Test)));
        assert!(introspect(&mut state, Some(KeyType::Live)));
        let (answer, writes) = state.step(revoke(Some(KeyType::Test)), NOW + 2, &R);
        assert_eq!(
            (answer, writes),
            (GrantAnswer::Revoked(None), GrantWrites::default())
        );
        assert!(introspect(&mut state, None), "still active");
        assert!(matches!(
            state.step(revoke(Some(KeyType::Live)), NOW + 2, &R).0,
            GrantAnswer::Revoked(Some(_))
        ));
    }

    #[test]
    fn a_leaked_token_revokes_its_grant_and_a_stranger_is_a_false_positive() {
        let (mut state, code) = begun();
        let GrantAnswer::Tokens(tokens) = exchange(&mut state, &code, VERIFIER, NOW) else {
            panic!("tokens");
        };
        let report = LeakReport {
            url: "https://github.com/o/r/blob/main/.env".into(),
            source: "content".into(),
        };
        let leak = |state: &mut GrantState, hash: String| {
            let input = GrantInput::Leaked {
                hash,
                report: report.clone(),
            };
            state.step(input, NOW + 5, &R).0
        };
        let stranger = leak(&mut state, "0".repeat(64));
        assert_eq!(
            stranger,
            GrantAnswer::Leak {
                true_positive: false,
                revoked: None
            }
        );
        let refresh_hash = OAuthToken::parse(&tokens.refresh_token)
            .expect("t")
            .hash_hex();
        let GrantAnswer::Leak {
            true_positive: true,
            revoked: Some((view, event)),
        } = leak(&mut state, refresh_hash.clone())
        else {
            panic!("revoked");
        };
        assert_eq!(view.status, "revoked");
        assert_eq!(event.actor, Actor::SecretScanning);
        assert!(event.report.is_some());
        assert_eq!(
            leak(&mut state, refresh_hash),
            GrantAnswer::Leak {
                true_positive: true,
                revoked: None
            },
            "reported again: a true positive that changes nothing"
        );
        assert!(matches!(
            get(&mut state, &tokens.access_token, NOW + 6),
            CheckAnswer::Refused {
                refusal: Refusal::Invalid,
                ..
            }
        ));
    }
}
