//! A key's whole life as one state machine, with no I/O.
//!
//! The `KeyGuard` Durable Object owns one [`KeyState`]. For every input it loads the
//! state, calls one step here with the time (and, for management, random bytes), stores
//! what [`Writes`] names, and returns the typed answer. Only the worker turns answers
//! into HTTP.
//!
//! ```text
//!  Input::Check  ──► KeyState::check(check, now)            ──► CheckAnswer  + Writes
//!  Input::Manage ──► KeyState::manage(manage, now, random)  ──► ManageAnswer + Writes
//! ```

use crate::audit::{changes, created, AuditDraft, AuditTarget};
use crate::check::protocol::{Admitted, Check, CheckAnswer};
use crate::credentials::key::{ApiKey, KeyId, RANDOM_BYTES_FOR_SECRET};
use crate::ids::{Actor, OrgId};
use crate::keys::admin::{beyond_key_policy, Caller, KeyPatch, ManageRefusal};
use crate::keys::record::{KeyRecord, KeyStatus, Leak, PreviousSecret, Refusal};
use crate::keys::verify::{Verification, VerifiedKey, Verify};
pub use crate::keys::view::DirectoryEntry;
use crate::keys::view::{KeyView, UsageView};
use crate::policy::plan::Plan;
use crate::policy::ratelimit::{self};
use crate::policy::terms::ApproverTerms;
use crate::policy::terms::{OrgStatus, OrgTerms};
pub use crate::policy::usage::Meter;
use crate::policy::usage::Outcome;
use crate::scanning::{LeakAction, LeakReport};
use serde::{Deserialize, Serialize};

/// How often an admitted request hands out a directory entry to copy to KV
/// (`lastUsedAt`), at most: KV allows one write a second per key, and listing does not
/// need it fresher. The key's guard object records it itself, after its answer.
pub const DIRECTORY_SYNC_MS: u64 = 60_000;

/// What one guard holds: the key's record (none for an unknown id, or for the root
/// key, whose record is never stored), its meter, and its organization's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The authoritative record.
    pub record: Option<KeyRecord>,
    /// Counters and usage.
    pub meter: Meter,
    /// Its organization's plan and status (none: a key from before organizations, on
    /// the default organization's terms as the worker passes them).
    pub org: Option<OrgTerms>,
    /// The windows (their `reset_ms`: hourly, daily) whose first refusal was announced
    /// (`rate_limit.exceeded`). In memory only: a guard evicted during a window may
    /// announce it again, never miss it.
    pub limit_announced: [Option<u64>; 2],
}

/// A key's first refusal for its hourly or daily quota in a window: what the webhook
/// `rate_limit.exceeded` says. The guard sends it to its organization after answering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The key's public view.
    pub view: KeyView,
    /// `hour` or `day`.
    pub window: &'static str,
    /// The window's quota.
    pub limit: u32,
    /// When the window resets, ms since the epoch.
    pub reset_ms: u64,
}

/// What a step asks its caller to store; nothing else may change.
#[must_use]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writes {
    /// Store `KeyState::record`.
    pub record: bool,
    /// Store `KeyState::meter`.
    pub meter: bool,
    /// Store `KeyState::org`.
    pub org: bool,
    /// Copy this entry to the KV directory (`lastUsedAt`), at most every
    /// [`DIRECTORY_SYNC_MS`].
    pub directory: Option<DirectoryEntry>,
    /// Announce this to the key's organization (after the answer; never stored here).
    pub limit_exceeded: Option<Box<LimitExceeded>>,
}

/// Everything the worker can ask a guard.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Authenticate, authorize and count one request.
    Check(Check),
    /// The same, made with the root key: its record comes from the worker's secret, not
    /// from storage.
    RootCheck {
        /// The request.
        check: Check,
        /// The root key's record.
        root: KeyRecord,
    },
    /// A key-management operation.
    Manage(Manage),
    /// `POST /v1/auth/verify`: the check of a key another key asks about.
    Verify(Verify),
}

/// Everything a guard answers, one per input.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// To `Input::Check`.
    Check(CheckAnswer),
    /// To `Input::Manage`.
    Manage(ManageAnswer),
    /// To `Input::Verify`.
    Verify(Verification),
}

/// A key-management operation on one key, by `caller`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manage {
    /// Who asks.
    pub caller: Caller,
    /// The default organization's plan (`PLAN`), for a key that holds no terms.
    pub default_plan: Plan,
    /// What to do.
    pub op: Op,
}

/// The operations.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Store a new record (validated by `admin::parse_create`) under its organization's
    /// terms.
    Create {
        /// The record.
        record: KeyRecord,
        /// Its organization's terms.
        org: OrgTerms,
    },
    /// Take the organization's new plan and status (the root key, after changing the
    /// organization). Terms older than those held are ignored; terms for a key not yet
    /// created are held for it, and it starts under them if they are the newer.
    SetOrg(OrgTerms),
    /// What an OAuth grant this key approves may hold now (the root key, for consent).
    Approver,
    /// A secret scanner found a string hashing to `hash` in public (its caller only).
    Leaked {
        /// SHA-256 hex of the reported token.
        hash: String,
        /// Revoke or flag.
        action: LeakAction,
        /// Where it was found.
        report: LeakReport,
    },
    /// Read the view.
    Get,
    /// Read the usage.
    Usage,
    /// Change fields.
    Patch(KeyPatch),
    /// Revoke for good (idempotent).
    Revoke,
    /// A new secret; the old one works for `grace_s` more seconds.
    Roll {
        /// Seconds the old secret keeps working.
        grace_s: u64,
    },
}

/// The answer to a management operation.
// A message on the wire, made and moved once per call: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManageAnswer {
    /// The key's view after the operation.
    Key {
        /// Its directory entry.
        entry: DirectoryEntry,
        /// What changed, for the audit log; `None` when nothing did (the directory need
        /// not be rewritten).
        audit: Option<AuditDraft>,
        /// When the record changed: what the grants it approved may hold from now on.
        #[serde(default)]
        approver: Option<ApproverTerms>,
    },
    /// What a grant the key approves may hold now.
    Approver(ApproverTerms),
    /// The record was stored; the worker, which made the key, shows it once.
    Created {
        /// The directory entry, to write.
        entry: DirectoryEntry,
        /// The audit event.
        audit: AuditDraft,
    },
    /// A new secret, shown once.
    Rolled {
        /// The directory entry, to write.
        entry: DirectoryEntry,
        /// The whole new key.
        key: String,
        /// The audit event.
        audit: AuditDraft,
    },
    /// The key's usage.
    Usage(UsageView),
    /// The label of a reported token, and what its report changed.
    Leak {
        /// Whether it is this key (current or rolled-away secret), whatever its state.
        true_positive: bool,
        /// The changed view and its event, the first time the leak is reported.
        change: Option<(DirectoryEntry, AuditDraft)>,
        /// When the reported key is revoked (by this report or before it): its
        /// organization and its terms, for the grants it approved. Answered again for a
        /// repeated report, so that a push that failed the first time is finished.
        revoked: Option<(OrgId, ApproverTerms)>,
    },
    /// Refused; nothing changed.
    Refused(ManageRefusal),
}

impl KeyState {
    /// Decides one request at `now_ms`.
    /// `root` is the root key's record when the request is made with the root key.
    pub fn check(
        &mut self,
        check: Check,
        root: Option<&KeyRecord>,
        now_ms: u64,
    ) -> (CheckAnswer, Writes) {
        let refused = |refusal| {
            (
                CheckAnswer::Refused {
                    refusal,
                    at_ms: now_ms,
                },
                Writes::default(),
            )
        };
        let is_root = root.is_some();
        let Some(record) = root.or(self.record.as_ref()) else {
            return refused(Refusal::Invalid);
        };
        let suspended = !is_root && self.org.is_some_and(|o| o.status == OrgStatus::Suspended);
        let admission = match record.decide(
            &check.hash,
            &check.requirement,
            &self.meter.counters,
            suspended,
            check.address,
            now_ms,
        ) {
            Ok(admission) => admission,
            // The key proved itself: its usage history counts the refusal; its rate-limit
            // counters do not change.
            Err(
                refusal @ (Refusal::Forbidden { .. }
                | Refusal::AddressNotAllowed { .. }
                | Refusal::Limited { .. }),
            ) => {
                let outcome = match refusal {
                    Refusal::Forbidden { .. } | Refusal::AddressNotAllowed { .. } => {
                        Outcome::Forbidden
                    }
                    _ => Outcome::RateLimited,
                };
                self.meter.history.record(outcome, now_ms);
                // The first refusal of an hourly or daily window (not the burst's) is
                // announced once per window.
                let exceeded = match &refusal {
                    Refusal::Limited { status, .. } if !is_root => {
                        let spent = |w: &crate::policy::ratelimit::WindowStatus| w.remaining == 0;
                        let window = match status.day {
                            Some(day) if spent(&day) => Some((1, "day", day)),
                            _ if spent(&status.hour) => Some((0, "hour", status.hour)),
                            _ => None,
                        };
                        window.and_then(|(slot, name, w)| {
                            (self.limit_announced[slot] != Some(w.reset_ms)).then(|| {
                                self.limit_announced[slot] = Some(w.reset_ms);
                                Box::new(LimitExceeded {
                                    view: KeyView::of(record, now_ms, self.meter.last_used_ms),
                                    window: name,
                                    limit: w.limit,
                                    reset_ms: w.reset_ms,
                                })
                            })
                        })
                    }
                    _ => None,
                };
                let answer = CheckAnswer::Refused {
                    refusal,
                    at_ms: now_ms,
                };
                let writes = Writes {
                    meter: true,
                    limit_exceeded: exceeded,
                    ..Writes::default()
                };
                return (answer, writes);
            }
            Err(refusal) => return refused(refusal),
        };
        let meter = &mut self.meter;
        meter.history.record(Outcome::Admitted, now_ms);
        meter.counters = admission.counters;
        meter.total += 1;
        meter.last_used_ms = Some(now_ms);
        // The root key has no directory entry.
        let sync_due = !is_root
            && meter
                .synced_ms
                .is_none_or(|at| now_ms.saturating_sub(at) >= DIRECTORY_SYNC_MS);
        if sync_due {
            meter.synced_ms = Some(now_ms);
        }
        let admitted = Admitted {
            actor: if is_root {
                Actor::Root
            } else {
                Actor::Key { key_id: record.id }
            },
            organization_id: record.organization_id,
            key_type: record.key_type,
            grants: record.grants.clone(),
            status: admission.status,
            at_ms: now_ms,
            app: None,
        };
        let writes = Writes {
            meter: true,
            directory: sync_due.then(|| DirectoryEntry::of(record, now_ms, Some(now_ms))),
            ..Writes::default()
        };
        (CheckAnswer::Admitted(Box::new(admitted)), writes)
    }

    /// Verifies a key for another key's caller (`POST /v1/auth/verify`): a key the
    /// caller may not list is `NOT_FOUND` as an unknown one is, before anything is read
    /// of it or counted; so is a wrong secret, whatever the key's state (a revoked key is
    /// `REVOKED` only when the whole secret matches). Otherwise exactly [`KeyState::check`]:
    /// the same decision, the same counting, the same writes.
    pub fn verify(&mut self, verify: Verify, now_ms: u64) -> (Verification, Writes) {
        let Some(record) = self.record.as_ref() else {
            return (Verification::not_found(), Writes::default());
        };
        if !verify.within.holds(record.organization_id, record.key_type)
            || !record.holds_secret(&verify.check.hash)
        {
            return (Verification::not_found(), Writes::default());
        }
        let key = VerifiedKey {
            id: record.id,
            organization_id: record.organization_id,
            key_type: record.key_type,
            grants: record.grants.clone(),
        };
        let (policy, counters) = (record.policy, self.meter.counters);
        let (answer, writes) = self.check(verify.check, None, now_ms);
        let status = || ratelimit::status(&policy, &counters, now_ms);
        (Verification::of(key, answer, status), writes)
    }

    /// Runs one management operation at `now_ms`; `random` makes a rolled secret.
    pub fn manage(
        &mut self,
        manage: Manage,
        now_ms: u64,
        random: &[u8; RANDOM_BYTES_FOR_SECRET],
    ) -> (ManageAnswer, Writes) {
        match self.step_manage(manage, now_ms, random) {
            Ok((mut answer, writes)) => {
                // Whether each view keeps to its organization's policy, as it stands here.
                let policy = self.org.map(|o| o.key_policy).unwrap_or_default();
                match &mut answer {
                    ManageAnswer::Key { entry, .. }
                    | ManageAnswer::Created { entry, .. }
                    | ManageAnswer::Rolled { entry, .. }
                    | ManageAnswer::Leak {
                        change: Some((entry, _)),
                        ..
                    } => entry.view.refresh_policy(policy),
                    _ => {}
                }
                if let (true, Some(record)) = (writes.record, self.record.as_mut()) {
                    record.revision += 1;
                    if let ManageAnswer::Key { approver, .. } = &mut answer {
                        *approver = Some(record.approver_terms());
                    }
                }
                if let (
                    ManageAnswer::Leak {
                        true_positive: true,
                        revoked,
                        ..
                    },
                    Some(record),
                ) = (&mut answer, self.record.as_ref())
                {
                    if record.revoked_ms.is_some() {
                        *revoked = Some((record.organization_id, record.approver_terms()));
                    }
                }
                (answer, writes)
            }
            Err(refusal) => (ManageAnswer::Refused(refusal), Writes::default()),
        }
    }

    fn step_manage(
        &mut self,
        Manage {
            caller,
            default_plan,
            op,
        }: Manage,
        now_ms: u64,
        random: &[u8; RANDOM_BYTES_FOR_SECRET],
    ) -> Result<(ManageAnswer, Writes), ManageRefusal> {
        const RECORD: Writes = Writes {
            record: true,
            meter: false,
            org: false,
            directory: None,
            limit_exceeded: None,
        };
        let event = |action: &str, id: KeyId, changes| AuditDraft {
            actor: caller.actor,
            action: action.into(),
            target: AuditTarget::key(id),
            changes,
            report: None,
            reason: None,
        };
        if let Op::Create { mut record, org } = op {
            if self.record.is_some() {
                return Err(ManageRefusal::IdTaken);
            }
            // Terms that reached the key before it was created (its organization
            // changed while it was being made) win when they are the newer.
            let org = match self.org {
                Some(held) if !org.supersede(Some(&held)) => {
                    record.apply_plan(held.plan);
                    held
                }
                _ => org,
            };
            // Under the terms it starts with: no expiry asked for is the latest allowed;
            // a later one is refused.
            let policy = org.key_policy;
            record.expires_ms = policy
                .expiry(record.created_ms, record.expires_ms)
                .map_err(|latest| beyond_key_policy(latest, policy.max_lifetime_days))?;
            let entry = DirectoryEntry::of(&record, now_ms, None);
            let audit = event("api_key.created", record.id, created(&entry.view));
            self.record = Some(record);
            self.org = Some(org);
            let writes = Writes {
                org: true,
                ..RECORD
            };
            return Ok((ManageAnswer::Created { entry, audit }, writes));
        }
        if let Op::SetOrg(terms) = op {
            if !caller.is_root() {
                return Err(ManageRefusal::NotFound);
            }
            if !terms.supersede(self.org.as_ref()) {
                return match &self.record {
                    Some(record) => Ok((
                        ManageAnswer::Key {
                            entry: DirectoryEntry::of(record, now_ms, self.meter.last_used_ms),
                            audit: None,
                            approver: None,
                        },
                        Writes::default(),
                    )),
                    None => Err(ManageRefusal::NotFound),
                };
            }
            self.org = Some(terms);
            let org_only = Writes {
                org: true,
                ..Writes::default()
            };
            let Some(record) = self.record.as_mut() else {
                // Held for a key being created (its organization listed it first).
                return Ok((ManageAnswer::Refused(ManageRefusal::NotFound), org_only));
            };
            let before = KeyView::of(record, now_ms, self.meter.last_used_ms);
            let policy = record.policy;
            record.apply_plan(terms.plan);
            let entry = DirectoryEntry::of(record, now_ms, self.meter.last_used_ms);
            if record.policy == policy {
                let answer = ManageAnswer::Key {
                    entry,
                    audit: None,
                    approver: None,
                };
                return Ok((answer, org_only));
            }
            let diff = changes(&before, &entry.view, &["lastUsedAt", "status"]);
            let answer = ManageAnswer::Key {
                audit: Some(event("api_key.updated", record.id, diff)),
                entry,
                approver: None,
            };
            return Ok((
                answer,
                Writes {
                    record: true,
                    ..org_only
                },
            ));
        }
        let last_used_ms = self.meter.last_used_ms;
        let plan = self.org.map_or(default_plan, |o| o.plan);
        let key_policy = self.org.map(|o| o.key_policy).unwrap_or_default();
        let record = self
            .record
            .as_mut()
            .filter(|record| {
                caller.sees(record.key_type) && caller.sees_org(record.organization_id)
            })
            .ok_or(ManageRefusal::NotFound)?;
        let before = KeyView::of(record, now_ms, last_used_ms);
        let unchanged = |record: &KeyRecord| ManageAnswer::Key {
            entry: DirectoryEntry::of(record, now_ms, last_used_ms),
            audit: None,
            approver: None,
        };
        let changed = |record: &KeyRecord, action: &str| {
            let entry = DirectoryEntry::of(record, now_ms, last_used_ms);
            let diff = changes(&before, &entry.view, &["lastUsedAt", "status"]);
            ManageAnswer::Key {
                audit: Some(event(action, record.id, diff)),
                entry,
                approver: None,
            }
        };
        let status = record.status_at(now_ms);
        match op {
            Op::Create { .. } => Err(ManageRefusal::IdTaken),
            Op::Leaked { .. } if caller.actor != Actor::SecretScanning => {
                Err(ManageRefusal::NotFound)
            }
            Op::Leaked { hash, .. } if !record.holds_secret(&hash) => Ok((
                ManageAnswer::Leak {
                    true_positive: false,
                    change: None,
                    revoked: None,
                },
                Writes::default(),
            )),
            Op::Leaked { action, report, .. } => {
                // Reported again, or already dead: a true positive that changes nothing.
                let done = status == KeyStatus::Revoked
                    || (action == LeakAction::Flag && record.leaked.is_some());
                if done {
                    let answer = ManageAnswer::Leak {
                        true_positive: true,
                        change: None,
                        revoked: None,
                    };
                    return Ok((answer, Writes::default()));
                }
                record.leaked = Some(Leak {
                    at_ms: now_ms,
                    report: report.clone(),
                });
                if action == LeakAction::Revoke {
                    // Expired keys too: a leaked key must never work again, whatever a
                    // later PATCH of its expiry says.
                    record.revoked_ms = Some(now_ms);
                    record.previous = None;
                }
                let entry = DirectoryEntry::of(record, now_ms, last_used_ms);
                let diff = changes(&before, &entry.view, &["lastUsedAt", "status"]);
                let audit = AuditDraft {
                    report: Some(report),
                    ..event("api_key.leaked", record.id, diff)
                };
                let answer = ManageAnswer::Leak {
                    true_positive: true,
                    change: Some((entry, audit)),
                    revoked: None,
                };
                Ok((answer, RECORD))
            }
            // Decided above, before the record is looked up.
            Op::SetOrg(_) => Err(ManageRefusal::NotFound),
            Op::Approver if !caller.is_root() => Err(ManageRefusal::NotFound),
            Op::Approver => Ok((
                ManageAnswer::Approver(record.approver_terms()),
                Writes::default(),
            )),
            Op::Get => Ok((unchanged(record), Writes::default())),
            Op::Usage => {
                let windows = ratelimit::status(&record.policy, &self.meter.counters, now_ms);
                let usage = UsageView::new(record.id, &windows, &self.meter, now_ms);
                Ok((ManageAnswer::Usage(usage), Writes::default()))
            }
            // Revoking twice answers the same record and the same `revokedAt`.
            // Revoked already: nothing is stored, but its terms are answered again, so the
            // same request finishes a revocation whose push to its grants failed.
            Op::Revoke if status == KeyStatus::Revoked => Ok((
                ManageAnswer::Key {
                    entry: DirectoryEntry::of(record, now_ms, last_used_ms),
                    audit: None,
                    approver: Some(record.approver_terms()),
                },
                Writes::default(),
            )),
            Op::Revoke => {
                holds_as_much(&caller, record)?;
                record.revoked_ms = Some(now_ms);
                record.previous = None;
                Ok((changed(record, "api_key.revoked"), RECORD))
            }
            Op::Patch(_) | Op::Roll { .. } if status == KeyStatus::Revoked => {
                Err(ManageRefusal::Revoked)
            }
            Op::Patch(patch) => {
                holds_as_much(&caller, record)?;
                let mut patched = record.clone();
                patch.apply(&mut patched, plan, &caller)?;
                // A new expiry keeps to the policy, from when the secret was issued; a
                // key from before the policy keeps its dates until one is set.
                if patch.sets_expiry()
                    && !key_policy.allows(patched.issued_ms(), patched.expires_ms)
                {
                    let latest = key_policy.latest_expiry(patched.issued_ms()).unwrap_or(0);
                    return Err(beyond_key_policy(latest, key_policy.max_lifetime_days));
                }
                *record = patched;
                Ok((changed(record, "api_key.updated"), RECORD))
            }
            // A new secret for an expired key would be born expired.
            Op::Roll { .. } if status == KeyStatus::Expired => Err(ManageRefusal::Expired),
            Op::Roll { grace_s } => {
                // Rolling hands out the key's secret: only a caller holding its scopes.
                holds_as_much(&caller, record)?;
                let key = ApiKey::with_new_secret(record.key_type, record.id, random);
                let old_hash = core::mem::replace(&mut record.hash, key.hash_hex());
                record.last4 = key.last4().to_owned();
                // A new secret's life starts now: no longer than the policy allows from now
                // (a key from before the policy is brought into it).
                record.rotated_ms = Some(now_ms);
                record.expires_ms = key_policy
                    .expiry(now_ms, record.expires_ms)
                    .unwrap_or_else(Some);
                // Kept even with no grace, so the old key answers "expired", not
                // "invalid"; a key two rolls back is forgotten.
                record.previous = Some(PreviousSecret {
                    hash: old_hash,
                    expires_ms: now_ms.saturating_add(grace_s.saturating_mul(1000)),
                });
                let entry = DirectoryEntry::of(record, now_ms, last_used_ms);
                let diff = changes(&before, &entry.view, &["lastUsedAt", "status"]);
                let answer = ManageAnswer::Rolled {
                    audit: event("api_key.rolled", record.id, diff),
                    entry,
                    key: key.expose_secret().to_owned(),
                };
                Ok((answer, RECORD))
            }
        }
    }
}

/// No key changes, revokes or rolls a key that holds more than it (403 naming the scope
/// it lacks): a narrower admin could otherwise cut a stronger key's limits, revoke it, or
/// take its secret. A key always holds as much as itself.
fn holds_as_much(caller: &Caller, record: &KeyRecord) -> Result<(), ManageRefusal> {
    caller
        .grants
        .covers(&record.grants)
        .map_err(ManageRefusal::CannotGrant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::protocol::Check;
    use crate::check::protocol::CheckAnswer;
    use crate::org::OrgId;
    use crate::Grants;
    use crate::KeyType;
    use crate::Requirement;

    use crate::base::method::Method;
    use crate::credentials::key::RANDOM_BYTES_FOR_KEY;
    use crate::keys::admin::{parse_create, parse_patch, ManageRefusal};
    use serde_json::json;

    const T0: u64 = 1_769_076_000_000;
    const RANDOM: [u8; RANDOM_BYTES_FOR_SECRET] = [7; RANDOM_BYTES_FOR_SECRET];

    fn root(key_type: KeyType) -> Caller {
        Caller {
            key_type,
            ..Caller::root()
        }
    }

    const TERMS: OrgTerms = OrgTerms {
        key_policy: crate::policy::terms::KeyPolicy {
            max_lifetime_days: None,
        },
        plan: Plan::Starter,
        status: OrgStatus::Active,
        revision: 0,
    };

    /// A guard holding a new key created from `body` at T0, and that key.
    fn created(body: serde_json::Value) -> (KeyState, ApiKey) {
        let caller = root(KeyType::Live);
        let new = parse_create(body.to_string().as_bytes(), Plan::Starter, &caller, T0)
            .expect("valid body");
        let key = ApiKey::generate(new.key_type, &[5; RANDOM_BYTES_FOR_KEY]);
        let mut state = KeyState::default();
        let create = Op::Create {
            record: new.into_record(&key, T0),
            org: TERMS,
        };
        let (answer, writes) = state.manage(manage(create), T0, &RANDOM);
        assert!(matches!(answer, ManageAnswer::Created { .. }));
        assert!(writes.record);
        (state, key)
    }

    fn manage(op: Op) -> Manage {
        Manage {
            caller: root(KeyType::Live),
            default_plan: Plan::Starter,
            op,
        }
    }

    fn get(state: &mut KeyState, key: &ApiKey, now: u64) -> CheckAnswer {
        let check = Check {
            hash: key.hash_hex(),
            requirement: Requirement::for_request(&Method::Get, &[], "accounts"),
            address: None,
        };
        state.check(check, None, now).0
    }

    fn refusal(answer: CheckAnswer) -> Option<Refusal> {
        match answer {
            CheckAnswer::Refused { refusal, .. } => Some(refusal),
            CheckAnswer::Admitted(_) => None,
        }
    }

    #[test]
    fn an_unknown_key_is_invalid_and_writes_nothing() {
        let mut state = KeyState::default();
        let key = ApiKey::generate(KeyType::Live, &[1; RANDOM_BYTES_FOR_KEY]);
        let check = Check {
            hash: key.hash_hex(),
            requirement: Requirement::AnyValidKey,
            address: None,
        };
        let (answer, writes) = state.check(check, None, T0);
        assert_eq!(refusal(answer), Some(Refusal::Invalid));
        assert_eq!(writes, Writes::default());
        assert_eq!(state, KeyState::default());
    }

    #[test]
    fn verify_is_the_check_behind_what_the_caller_may_list() {
        use crate::keys::verify::{VerifyCode, Within};
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let org = state
            .record
            .as_ref()
            .map(|r| r.organization_id)
            .expect("record");
        let other = OrgId::parse("org_fedcba9876543210").expect("id");
        let ask = |hash: String, organization| Verify {
            check: Check {
                hash,
                requirement: Requirement::AnyValidKey,
                address: None,
            },
            within: Within {
                organization,
                only: None,
            },
        };
        // Another organization's caller: not found, nothing read into the answer, nothing
        // counted, whatever the secret.
        let before = state.clone();
        let (answer, writes) = state.verify(ask(key.hash_hex(), Some(other)), T0);
        assert_eq!(answer, Verification::not_found());
        assert_eq!(writes, Writes::default());
        assert_eq!(state, before);
        // Its own: valid, counted as a request is.
        let (answer, writes) = state.verify(ask(key.hash_hex(), Some(org)), T0);
        assert_eq!(answer.code, VerifyCode::Valid);
        assert!(answer.admitted.is_some() && answer.status.is_some());
        assert!(writes.meter);
        assert_eq!(state.meter.total, 1);
        // A wrong secret is not found, revoked or not; the right one, once revoked, is
        // revoked to its own organization only.
        let wrong = ApiKey::generate(KeyType::Live, &[9; RANDOM_BYTES_FOR_KEY]).hash_hex();
        assert_eq!(
            state.verify(ask(wrong.clone(), Some(org)), T0).0.code,
            VerifyCode::NotFound
        );
        let _ = state.manage(manage(Op::Revoke), T0 + 1, &RANDOM);
        assert_eq!(
            state.verify(ask(wrong, Some(org)), T0 + 2).0.code,
            VerifyCode::NotFound
        );
        let revoked = state.verify(ask(key.hash_hex(), Some(org)), T0 + 2).0;
        assert_eq!(revoked.code, VerifyCode::Revoked);
        assert!(revoked.status.is_none() && revoked.admitted.is_none());
        assert_eq!(
            state
                .verify(ask(key.hash_hex(), Some(other)), T0 + 2)
                .0
                .code,
            VerifyCode::NotFound
        );
        assert_eq!(state.meter.total, 1);
    }

    #[test]
    fn the_creation_event_says_what_was_created_never_the_secret() {
        let caller = root(KeyType::Live);
        let body = json!({"name": "minted", "scopes": ["read", "admin"]}).to_string();
        let new = parse_create(body.as_bytes(), Plan::Starter, &caller, T0).expect("valid");
        let key = ApiKey::generate(new.key_type, &[5; RANDOM_BYTES_FOR_KEY]);
        let create = Op::Create {
            record: new.into_record(&key, T0),
            org: TERMS,
        };
        let (answer, _) = KeyState::default().manage(manage(create), T0, &RANDOM);
        let ManageAnswer::Created { entry, audit } = answer else {
            panic!("created");
        };
        let changes = audit.changes.expect("changes");
        assert_eq!(
            changes["scopes"],
            json!({"before": null, "after": ["read", "admin"]})
        );
        assert_eq!(changes["name"], json!({"before": null, "after": "minted"}));
        let view = serde_json::to_value(&entry.view).expect("json");
        assert_eq!(changes.len(), view.as_object().expect("object").len());
        let text = serde_json::to_string(&changes).expect("json");
        assert!(!text.contains(key.expose_secret()) && !text.contains(&key.hash_hex()));
    }

    #[test]
    fn admitted_requests_are_counted_and_synced_once_a_minute() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let mut synced = |now| {
            let check = Check {
                hash: key.hash_hex(),
                requirement: Requirement::for_request(&Method::Get, &[], "accounts"),
                address: None,
            };
            let (answer, writes) = state.check(check, None, now);
            assert!(matches!(answer, CheckAnswer::Admitted(_)), "admitted");
            writes.directory
        };
        assert!(synced(T0).is_some(), "the first use is synced");
        assert!(synced(T0 + DIRECTORY_SYNC_MS - 1).is_none());
        assert_eq!(
            synced(T0 + DIRECTORY_SYNC_MS).map(|d| d.view.last_used_at),
            Some(Some(crate::base::timestamp::Timestamp(
                T0 + DIRECTORY_SYNC_MS
            )))
        );
        assert_eq!(state.meter.total, 3);
    }

    #[test]
    fn a_revoked_key_is_invalid_on_the_very_next_request() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        assert!(refusal(get(&mut state, &key, T0)).is_none());
        let (answer, writes) = state.manage(manage(Op::Revoke), T0 + 1, &RANDOM);
        let ManageAnswer::Key {
            audit: Some(audit), ..
        } = answer
        else {
            panic!("a change");
        };
        assert_eq!(audit.action, "api_key.revoked");
        assert_eq!(audit.actor, Actor::Root);
        assert!(audit.changes.is_some_and(|c| c.contains_key("revokedAt")));
        assert!(writes.record);
        let before = state.meter.clone();
        assert_eq!(
            refusal(get(&mut state, &key, T0 + 2)),
            Some(Refusal::Invalid)
        );
        assert_eq!(state.meter, before, "a refusal counts nothing");
        // Revoking again changes nothing, not even revokedAt.
        let (again, writes) = state.manage(manage(Op::Revoke), T0 + 5, &RANDOM);
        let ManageAnswer::Key { entry, audit, .. } = again else {
            panic!("view");
        };
        assert!(audit.is_none() && !writes.record);
        assert_eq!(
            entry.view.revoked_at,
            Some(crate::base::timestamp::Timestamp(T0 + 1))
        );
        // A revoked key cannot be changed or rolled.
        let patch = parse_patch(br#"{"name":"x"}"#, T0).expect("patch");
        for op in [Op::Patch(patch), Op::Roll { grace_s: 60 }] {
            let (answer, writes) = state.manage(manage(op), T0 + 6, &RANDOM);
            assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::Revoked));
            assert_eq!(writes, Writes::default());
        }
    }

    #[test]
    fn expiry_is_exact_and_an_expired_key_cannot_be_rolled() {
        let (mut state, key) = created(json!({
            "name": "k", "scopes": ["read"], "expiresAt": "2026-01-22T10:00:10Z"
        }));
        let at = T0 + 10_000;
        assert!(refusal(get(&mut state, &key, at - 1)).is_none());
        assert_eq!(refusal(get(&mut state, &key, at)), Some(Refusal::Expired));
        let (answer, _) = state.manage(manage(Op::Roll { grace_s: 60 }), at, &RANDOM);
        assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::Expired));
    }

    #[test]
    fn roll_keeps_the_old_secret_through_its_grace_then_says_expired() {
        let (mut state, old) = created(json!({"name": "k", "scopes": ["read"]}));
        let (answer, _) = state.manage(manage(Op::Roll { grace_s: 3 }), T0, &RANDOM);
        let ManageAnswer::Rolled { key, .. } = answer else {
            panic!("rolled");
        };
        let new = ApiKey::parse(&key).expect("a valid key");
        assert_eq!(new.id(), old.id());
        assert!(refusal(get(&mut state, &old, T0 + 2_999)).is_none());
        assert!(refusal(get(&mut state, &new, T0 + 2_999)).is_none());
        assert_eq!(state.meter.total, 2, "both keys share one set of counters");
        assert_eq!(
            refusal(get(&mut state, &old, T0 + 3_000)),
            Some(Refusal::Expired)
        );
        // With no grace the old key is expired at once, and says so.
        let (_, _) = state.manage(manage(Op::Roll { grace_s: 0 }), T0 + 4_000, &[9; 64]);
        assert_eq!(
            refusal(get(&mut state, &new, T0 + 4_000)),
            Some(Refusal::Expired)
        );
        // Two rolls back: forgotten.
        assert_eq!(
            refusal(get(&mut state, &old, T0 + 4_000)),
            Some(Refusal::Invalid)
        );
    }

    #[test]
    fn a_test_admin_sees_no_live_key() {
        let (mut state, _) = created(json!({"name": "k", "scopes": ["read"]}));
        for op in [Op::Get, Op::Usage, Op::Revoke] {
            let test_admin = Manage {
                caller: root(KeyType::Test),
                default_plan: Plan::Starter,
                op,
            };
            let (answer, writes) = state.manage(test_admin, T0, &RANDOM);
            assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::NotFound));
            assert_eq!(writes, Writes::default());
        }
    }

    #[test]
    fn an_id_already_held_is_reported_for_a_retry() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let before = state.clone();
        let other = parse_create(
            br#"{"name":"x","scopes":["read"]}"#,
            Plan::Starter,
            &root(KeyType::Live),
            T0,
        )
        .expect("valid")
        .into_record(&key, T0);
        let create = Op::Create {
            record: other,
            org: TERMS,
        };
        let (answer, writes) = state.manage(manage(create), T0, &RANDOM);
        assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::IdTaken));
        assert_eq!((writes, state), (Writes::default(), before));
    }

    #[test]
    fn a_caller_cannot_change_revoke_or_roll_a_key_stronger_than_itself() {
        let (mut state, _) = created(json!({"name": "k", "scopes": ["read", "write"]}));
        let before = state.clone();
        let narrow = |op| Manage {
            caller: Caller {
                grants: Grants::from_json(&json!({"api-keys": ["admin"]})).expect("valid"),
                ..Caller::root()
            },
            default_plan: Plan::Starter,
            op,
        };
        let patch = crate::keys::admin::parse_patch(br#"{"rateLimit":1}"#, T0).expect("valid");
        for op in [Op::Roll { grace_s: 0 }, Op::Revoke, Op::Patch(patch)] {
            let (answer, writes) = state.manage(narrow(op.clone()), T0, &RANDOM);
            assert!(
                matches!(answer, ManageAnswer::Refused(ManageRefusal::CannotGrant(_))),
                "{op:?}: {answer:?}"
            );
            assert_eq!((writes, &state), (Writes::default(), &before), "{op:?}");
        }
        // Reads stay open.
        for op in [Op::Get, Op::Usage] {
            let (answer, _) = state.manage(narrow(op), T0, &RANDOM);
            assert!(!matches!(answer, ManageAnswer::Refused(_)));
        }
    }

    #[test]
    fn a_key_revokes_itself() {
        let (mut state, key) = created(json!({"name": "k", "scopes": {"api-keys": ["admin"]}}));
        let itself = Manage {
            caller: Caller {
                grants: Grants::from_json(&json!({"api-keys": ["admin"]})).expect("valid"),
                actor: Actor::Key { key_id: key.id() },
                ..Caller::root()
            },
            default_plan: Plan::Starter,
            op: Op::Revoke,
        };
        let (answer, writes) = state.manage(itself, T0, &RANDOM);
        assert!(matches!(answer, ManageAnswer::Key { .. }), "{answer:?}");
        assert!(writes.record);
    }

    #[test]
    fn usage_counts_admitted_requests_only() {
        let (mut state, key) = created(json!({"name": "k", "scopes": {"accounts": ["read"]}}));
        assert!(refusal(get(&mut state, &key, T0)).is_none());
        let post = Check {
            hash: key.hash_hex(),
            requirement: Requirement::for_request(&Method::Post, &[], "accounts"),
            address: None,
        };
        let counters = state.meter.counters;
        let (answer, writes) = state.check(post, None, T0 + 1);
        assert!(matches!(refusal(answer), Some(Refusal::Forbidden { .. })));
        // A 403 is in the history, in the same write, but uses no quota.
        assert_eq!(
            writes,
            Writes {
                meter: true,
                ..Writes::default()
            }
        );
        assert_eq!(state.meter.counters, counters);
        let (answer, _) = state.manage(manage(Op::Usage), T0 + 2, &RANDOM);
        let ManageAnswer::Usage(usage) = answer else {
            panic!("usage");
        };
        assert_eq!(
            (usage.total, usage.hour.used, usage.hour.limit),
            (1, 1, 1000)
        );
        let now = usage.hourly[47];
        assert_eq!((now.admitted, now.forbidden, now.rate_limited), (1, 1, 0));
        assert_eq!(usage.hourly.len(), 48);
        assert_eq!(usage.daily.len(), 90);
    }

    #[test]
    fn a_windows_first_refusal_is_announced_once() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"], "rateLimit": 1}));
        assert!(refusal(get(&mut state, &key, T0)).is_none());
        let check = || Check {
            hash: key.hash_hex(),
            requirement: Requirement::for_request(&Method::Get, &[], "accounts"),
            address: None,
        };
        let (answer, writes) = state.check(check(), None, T0 + 1);
        assert!(matches!(refusal(answer), Some(Refusal::Limited { .. })));
        let exceeded = writes
            .limit_exceeded
            .expect("the first refusal is announced");
        assert_eq!((exceeded.window, exceeded.limit), ("hour", 1));
        assert_eq!(exceeded.view.id, key.id());
        assert!(exceeded.reset_ms > T0);
        let (_, again) = state.check(check(), None, T0 + 2);
        assert_eq!(again.limit_exceeded, None, "once per window");
        // The next hour's window is announced again.
        let next_hour = exceeded.reset_ms + 1;
        assert!(refusal(get(&mut state, &key, next_hour)).is_none());
        let (_, next) = state.check(check(), None, next_hour + 1);
        assert!(next.limit_exceeded.is_some());
    }

    #[test]
    fn a_rate_limited_request_is_in_the_history_but_not_in_the_counters() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"], "rateLimit": 1}));
        assert!(refusal(get(&mut state, &key, T0)).is_none());
        let counters = state.meter.counters;
        let check = Check {
            hash: key.hash_hex(),
            requirement: Requirement::for_request(&Method::Get, &[], "accounts"),
            address: None,
        };
        let (answer, writes) = state.check(check, None, T0 + 1);
        assert!(matches!(refusal(answer), Some(Refusal::Limited { .. })));
        assert!(writes.meter && !writes.record);
        assert_eq!(state.meter.counters, counters);
        assert_eq!(state.meter.total, 1);
        let hour = state.meter.history.hourly(T0 + 1)[47];
        assert_eq!((hour.admitted, hour.rate_limited), (1, 1));
        // A wrong secret is nobody's usage: nothing written.
        let wrong = Check {
            hash: "0".repeat(64),
            requirement: Requirement::AnyValidKey,
            address: None,
        };
        let before = state.clone();
        let (_, writes) = state.check(wrong, None, T0 + 2);
        assert_eq!(writes, Writes::default());
        assert_eq!(state, before);
    }

    fn org_admin(org: OrgId) -> Caller {
        Caller {
            organization: Some(org),
            actor: Actor::Key {
                key_id: KeyId::parse("key_0123456789abcdef").expect("id"),
            },
            ..Caller::root()
        }
    }

    #[test]
    fn another_organizations_key_does_not_exist() {
        let (mut state, _) = created(json!({"name": "k", "scopes": ["read"]}));
        let other = OrgId::generate(&[3; crate::org::RANDOM_BYTES_FOR_ORG]);
        for op in [
            Op::Get,
            Op::Usage,
            Op::Revoke,
            Op::Roll { grace_s: 0 },
            Op::SetOrg(TERMS),
        ] {
            let call = Manage {
                caller: org_admin(other),
                default_plan: Plan::Starter,
                op,
            };
            let (answer, writes) = state.manage(call, T0, &RANDOM);
            assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::NotFound));
            assert_eq!(writes, Writes::default());
        }
        // Its own organization's admin sees it, and the audit names it.
        let own = Manage {
            caller: org_admin(OrgId::DEFAULT),
            default_plan: Plan::Starter,
            op: Op::Revoke,
        };
        let (answer, _) = state.manage(own, T0, &RANDOM);
        let ManageAnswer::Key {
            audit: Some(audit), ..
        } = answer
        else {
            panic!("revoked");
        };
        assert!(matches!(audit.actor, Actor::Key { .. }));
    }

    #[test]
    fn suspension_refuses_at_once_and_reactivation_restores() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let suspended = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            status: OrgStatus::Suspended,
            revision: 1,
            ..TERMS
        };
        let (_, writes) = state.manage(manage(Op::SetOrg(suspended)), T0, &RANDOM);
        assert!(writes.org);
        assert_eq!(
            refusal(get(&mut state, &key, T0 + 1)),
            Some(Refusal::Suspended)
        );
        // A wrong secret is still just invalid: suspension is no oracle.
        let wrong = ApiKey::with_new_secret(KeyType::Live, key.id(), &[1; 64]);
        assert_eq!(
            refusal(get(&mut state, &wrong, T0 + 1)),
            Some(Refusal::Invalid)
        );
        let reactivated = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            revision: 2,
            ..TERMS
        };
        let _ = state.manage(manage(Op::SetOrg(reactivated)), T0 + 2, &RANDOM);
        assert!(refusal(get(&mut state, &key, T0 + 3)).is_none());
    }

    #[test]
    fn older_terms_never_replace_newer_ones_whatever_order_they_arrive_in() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let suspended = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            status: OrgStatus::Suspended,
            revision: 2,
            ..TERMS
        };
        let stale = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            revision: 1,
            ..TERMS
        };
        let _ = state.manage(manage(Op::SetOrg(suspended)), T0, &RANDOM);
        let (_, writes) = state.manage(manage(Op::SetOrg(stale)), T0, &RANDOM);
        assert_eq!(writes, Writes::default());
        assert_eq!(
            refusal(get(&mut state, &key, T0 + 1)),
            Some(Refusal::Suspended)
        );
    }

    #[test]
    fn terms_that_reach_a_key_before_it_exists_are_the_ones_it_starts_under() {
        let key = ApiKey::generate(KeyType::Live, &[5; RANDOM_BYTES_FOR_KEY]);
        let mut state = KeyState::default();
        // The organization listed the key, then was suspended and downgraded, before the
        // create reached the key's guard with the terms it had read.
        let newer = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            plan: Plan::Starter,
            status: OrgStatus::Suspended,
            revision: 3,
        };
        let (answer, writes) = state.manage(manage(Op::SetOrg(newer)), T0, &RANDOM);
        assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::NotFound));
        assert!(writes.org && !writes.record);
        let read_before = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            plan: Plan::Professional,
            status: OrgStatus::Active,
            revision: 2,
        };
        let body = json!({"name": "k", "scopes": ["admin"], "rateLimit": 5000}).to_string();
        let new = parse_create(
            body.as_bytes(),
            Plan::Professional,
            &root(KeyType::Live),
            T0,
        )
        .expect("valid");
        let create = Op::Create {
            record: new.into_record(&key, T0),
            org: read_before,
        };
        let (answer, _) = state.manage(manage(create), T0, &RANDOM);
        let ManageAnswer::Created { entry, .. } = answer else {
            panic!("created");
        };
        assert_eq!(entry.view.rate_limit, 1000, "shown under the newer plan");
        assert_eq!(state.org, Some(newer));
        assert_eq!(
            refusal(get(&mut state, &key, T0 + 1)),
            Some(Refusal::Suspended)
        );
    }

    #[test]
    fn revoking_a_revoked_key_answers_its_terms_again_and_stores_nothing() {
        let (mut state, _) = created(json!({"name": "k", "scopes": ["admin"]}));
        let (first, writes) = state.manage(manage(Op::Revoke), T0, &RANDOM);
        assert!(writes.record);
        let ManageAnswer::Key {
            approver: Some(revoked),
            audit: Some(_),
            ..
        } = first
        else {
            panic!("the revocation: {first:?}");
        };
        assert!(revoked.revoked);
        let (again, writes) = state.manage(manage(Op::Revoke), T0 + 1, &RANDOM);
        assert_eq!(writes, Writes::default());
        let ManageAnswer::Key {
            approver: Some(terms),
            audit: None,
            ..
        } = again
        else {
            panic!("the repeated revocation: {again:?}");
        };
        assert_eq!(
            terms, revoked,
            "the same terms, for a push that failed the first time"
        );
    }

    #[test]
    fn every_stored_change_raises_the_revision_its_grants_are_told() {
        let (mut state, _) = created(json!({"name": "k", "scopes": ["admin"]}));
        let ManageAnswer::Approver(before) = state.manage(manage(Op::Approver), T0, &RANDOM).0
        else {
            panic!("the approver's terms");
        };
        let patch = parse_patch(br#"{"scopes":["read"]}"#, T0).expect("valid");
        let (answer, _) = state.manage(manage(Op::Patch(patch)), T0, &RANDOM);
        let ManageAnswer::Key {
            approver: Some(terms),
            ..
        } = answer
        else {
            panic!("the narrowed terms");
        };
        assert_eq!(terms.revision, before.revision + 1);
        assert_eq!(terms.grants.scope_string(), "read");
        let (answer, _) = state.manage(manage(Op::Approver), T0, &RANDOM);
        assert_eq!(answer, ManageAnswer::Approver(terms));
    }

    #[test]
    fn a_plan_change_reaches_the_keys_limits() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let pro = OrgTerms {
            key_policy: crate::policy::terms::KeyPolicy {
                max_lifetime_days: None,
            },
            plan: Plan::Professional,
            revision: 1,
            ..TERMS
        };
        let (answer, writes) = state.manage(manage(Op::SetOrg(pro)), T0, &RANDOM);
        assert!(writes.record && writes.org);
        let ManageAnswer::Key { entry, .. } = answer else {
            panic!("view");
        };
        assert_eq!(entry.view.rate_limit, 5000);
        let CheckAnswer::Admitted(admitted) = get(&mut state, &key, T0 + 1) else {
            panic!("admitted");
        };
        assert_eq!(admitted.status.hour.limit, 5000);
    }

    fn leak(hash: String, action: LeakAction) -> Manage {
        Manage {
            caller: Caller::secret_scanner(),
            default_plan: Plan::Starter,
            op: Op::Leaked {
                hash,
                action,
                report: LeakReport {
                    url: "https://github.com/o/r/blob/x".into(),
                    source: "content".into(),
                },
            },
        }
    }

    #[test]
    fn a_reported_leak_revokes_once_and_is_idempotent() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let (answer, writes) = state.manage(leak(key.hash_hex(), LeakAction::Revoke), T0, &RANDOM);
        let ManageAnswer::Leak {
            true_positive: true,
            change: Some((entry, audit)),
            revoked: Some(revoked),
        } = answer
        else {
            panic!("revoked");
        };
        // What its grants are told: revoked, in a newer revision than before.
        assert!(revoked.1.revoked && revoked.1.revision > 0);
        assert!(writes.record);
        assert_eq!(audit.action, "api_key.leaked");
        assert_eq!(audit.actor, Actor::SecretScanning);
        assert!(audit.report.is_some());
        assert_eq!(entry.view.status, KeyStatus::Revoked);
        assert_eq!(
            refusal(get(&mut state, &key, T0 + 1)),
            Some(Refusal::Invalid)
        );
        let before = state.clone();
        let (again, writes) =
            state.manage(leak(key.hash_hex(), LeakAction::Revoke), T0 + 2, &RANDOM);
        assert_eq!(
            again,
            ManageAnswer::Leak {
                true_positive: true,
                change: None,
                // Told again, so a push that failed the first time is finished.
                revoked: Some(revoked),
            }
        );
        assert_eq!((writes, state), (Writes::default(), before));
    }

    #[test]
    fn a_flagged_leak_keeps_the_key_working_and_a_wrong_secret_is_false() {
        let (mut state, key) = created(json!({"name": "k", "scopes": ["read"]}));
        let wrong = ApiKey::with_new_secret(KeyType::Live, key.id(), &[2; 64]);
        let (answer, _) = state.manage(leak(wrong.hash_hex(), LeakAction::Flag), T0, &RANDOM);
        assert_eq!(
            answer,
            ManageAnswer::Leak {
                true_positive: false,
                change: None,
                revoked: None,
            }
        );
        let (answer, _) = state.manage(leak(key.hash_hex(), LeakAction::Flag), T0, &RANDOM);
        let ManageAnswer::Leak {
            change: Some((entry, _)),
            ..
        } = answer
        else {
            panic!("flagged");
        };
        assert_eq!(
            entry.view.leaked_at,
            Some(crate::base::timestamp::Timestamp(T0))
        );
        assert!(
            refusal(get(&mut state, &key, T0 + 1)).is_none(),
            "still works"
        );
        // Only the scanner may report; to anyone else the operation does not exist.
        let (answer, _) = state.manage(
            Manage {
                op: Op::Leaked {
                    hash: key.hash_hex(),
                    action: LeakAction::Revoke,
                    report: LeakReport {
                        url: String::new(),
                        source: String::new(),
                    },
                },
                ..manage(Op::Get)
            },
            T0,
            &RANDOM,
        );
        assert_eq!(answer, ManageAnswer::Refused(ManageRefusal::NotFound));
    }

    #[test]
    fn patch_refusals_change_nothing() {
        let (mut state, _) = created(json!({"name": "k", "scopes": ["read"]}));
        let before = state.clone();
        let over = parse_patch(br#"{"name":"renamed","rateLimit":5000}"#, T0).expect("parses");
        let (answer, writes) = state.manage(manage(Op::Patch(over)), T0, &RANDOM);
        let ManageAnswer::Refused(ManageRefusal::Invalid { details, .. }) = answer else {
            panic!("refused");
        };
        assert!(details.contains("at most 1000"));
        assert_eq!((writes, &state), (Writes::default(), &before));
    }
}
