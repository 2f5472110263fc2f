//! The key guard's protocol on the wire: [`Input`] and [`Answer`] as text, compact for
//! the request path's two messages and JSON for everything else.
//!
//! Every request sends one [`Check`] and gets one [`CheckAnswer`] back; encoding them
//! with serde_json on both sides was a measurable part of a request's work in the
//! gateway. The common shapes have a fixed, hand-written form instead:
//!
//! ```text
//! Check, no root record:          C<hash: 64 hex>[@<client address>;]<requirement>
//!     requirement                 *                     any valid key (the auth test)
//!                                 <scopes: 1 hex><resource>   every scope of the set on resource
//! Admitted (a key's or an         A<actor><org: 16><type: t|l><grants>
//! OAuth grant's)                      <at>,<hour>,<burst>[,<day>];   (a window: limit,remaining,reset)
//!                                     [<n>{/<len>:<resource><scopes: 1 hex>}]  (grants per resource, n of them)
//!     actor                       r (root) | s (secret scanning) | k<key id: 16>
//!                                 | p<app: 24><grant: 16><approving key id: 16> (an OAuth access token)
//!     grants                      <scopes: 1 hex> (the same everywhere) | g (per resource)
//! Refused                         R<kind><at>...;
//!     kind                        i<at>; (invalid) | e<at>; (expired) | t<at>; (token expired)
//!                                 | u<at>; (suspended) | n<at>,<hour>,<burst>[,<day>];[<address>] (address not allowed)
//!                                 | l<at>,<retry after s>,<hour>,<burst>[,<day>];
//!                                 | f<scope: 1 hex><at>,<hour>,<burst>[,<day>];<resource>
//! ```
//!
//! So every answer the request path can get has a compact form, and the worker reads
//! them without a JSON parser ([`decode_check_answer`]). Anything else (management, a
//! root check) is the JSON it
//! always was, which starts with `{`: the forms never mix up, and a guard and a worker
//! of different versions fail closed on what they cannot read.

use crate::check::protocol::AppGrant;
use crate::check::protocol::{Admitted, Check, CheckAnswer};
use crate::credentials::key::{KeyId, KeyType};
use crate::ids::{Actor, Approver, PersonId};
use crate::ids::{ClientId, GrantId, OrgId};
use crate::keys::guard::{Answer, Input};
use crate::keys::record::Refusal;
use crate::policy::ratelimit::{Status, WindowStatus};
use crate::policy::scope::{Grants, MissingScope, Requirement, ScopeSet};

/// Text that is neither form.
#[derive(Debug)]
pub struct WireError(String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable guard message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

const HASH_LEN: usize = 64;
/// Ends an admitted answer: text cut short is refused, never read as smaller numbers.
const END: char = ';';
const ID_LEN: usize = 16;
/// An app id's chars after `app_`.
const CLIENT_ID_LEN: usize = 24;

/// An input as text.
pub fn encode_input(input: &Input) -> Result<String, WireError> {
    if let Input::Check(check) = input {
        if let Some(text) = compact_check(check) {
            return Ok(text);
        }
    }
    json(input)
}

/// An input from text.
pub fn decode_input(text: &str) -> Result<Input, WireError> {
    match text.strip_prefix('C') {
        Some(rest) => read_check(rest)
            .map(Input::Check)
            .ok_or_else(|| WireError("check".into())),
        None => serde_json::from_str(text).map_err(|e| WireError(e.to_string())),
    }
}

/// A check in its compact form; `None` for a root check (JSON, through [`encode_input`]).
pub fn encode_check(check: &Check) -> Option<String> {
    compact_check(check)
}

/// An answer as text.
pub fn encode_answer(answer: &Answer) -> Result<String, WireError> {
    match answer {
        Answer::Check(CheckAnswer::Admitted(admitted)) => {
            if let Some(text) = compact_admitted(admitted) {
                return Ok(text);
            }
        }
        Answer::Check(CheckAnswer::Refused { refusal, at_ms }) => {
            return Ok(compact_refusal(refusal, *at_ms));
        }
        Answer::Manage(_) | Answer::Verify(_) => {}
    }
    json(answer)
}

/// An answer from text.
pub fn decode_answer(text: &str) -> Result<Answer, WireError> {
    if text.starts_with('{') {
        return serde_json::from_str(text).map_err(|e| WireError(e.to_string()));
    }
    decode_check_answer(text).map(Answer::Check)
}

/// A check's answer in its compact form, as the request path reads it (no JSON).
pub fn decode_check_answer(text: &str) -> Result<CheckAnswer, WireError> {
    let (kind, rest) = text
        .split_at_checked(1)
        .ok_or_else(|| WireError("empty".into()))?;
    match kind {
        "A" => read_admitted(rest)
            .map(|admitted| CheckAnswer::Admitted(Box::new(admitted)))
            .ok_or_else(|| WireError("admitted".into())),
        "R" => read_refusal(rest)
            .map(|(refusal, at_ms)| CheckAnswer::Refused { refusal, at_ms })
            .ok_or_else(|| WireError("refusal".into())),
        _ => Err(WireError("not a check's answer".into())),
    }
}

fn json(value: &impl serde::Serialize) -> Result<String, WireError> {
    serde_json::to_string(value).map_err(|e| WireError(e.to_string()))
}

fn hex_digit(bits: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(bits & 0xf)])
}

fn compact_check(check: &Check) -> Option<String> {
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if check.hash.len() != HASH_LEN || !check.hash.bytes().all(hex) {
        return None;
    }
    let mut text = String::with_capacity(1 + HASH_LEN + 1 + 32);
    text.push('C');
    text.push_str(&check.hash);
    if let Some(address) = check.address {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(text, "@{address}{END}");
    }
    match &check.requirement {
        Requirement::AnyValidKey => text.push('*'),
        Requirement::Scopes { needed, resource } => {
            text.push(hex_digit(needed.bits()));
            text.push_str(resource);
        }
    }
    Some(text)
}

fn read_check(rest: &str) -> Option<Check> {
    let hash = rest.get(..HASH_LEN)?;
    let mut requirement = rest.get(HASH_LEN..)?;
    let mut address = None;
    if let Some(tail) = requirement.strip_prefix('@') {
        let (text, tail) = tail.split_once(END)?;
        address = Some(text.parse().ok()?);
        requirement = tail;
    }
    let requirement = match requirement.strip_prefix('*') {
        Some("") => Requirement::AnyValidKey,
        Some(_) => return None,
        None => {
            let (bits, resource) = requirement.split_at_checked(1)?;
            Requirement::Scopes {
                needed: ScopeSet::from_bits(u8::from_str_radix(bits, 16).ok()?)?,
                resource: resource.to_owned(),
            }
        }
    };
    Some(Check {
        hash: hash.to_owned(),
        requirement,
        address,
    })
}

fn push_window(text: &mut String, window: &WindowStatus) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        ",{},{},{}",
        window.limit, window.remaining, window.reset_ms
    );
}

/// `None` for what a request's check never gets (an app's actor without its grant, or
/// the reverse): JSON.
fn compact_admitted(admitted: &Admitted) -> Option<String> {
    let mut text = String::with_capacity(128);
    text.push('A');
    match admitted.actor {
        Actor::Root => text.push('r'),
        Actor::SecretScanning => text.push('s'),
        // A person's calls are answered by the full module, never checked by a guard.
        Actor::Person { .. } => return None,
        Actor::Key { key_id } => {
            text.push('k');
            text.push_str(key_id.chars());
        }
        Actor::App {
            client_id,
            grant_id,
        } => {
            let app = admitted
                .app
                .filter(|a| a.client_id == client_id && a.grant_id == grant_id)?;
            text.push('p');
            text.push_str(client_id.chars());
            text.push_str(grant_id.chars());
            // The approver: `k` and a key's chars, or `h` and a person's.
            match app.approved_by {
                Approver::Key(key) => {
                    text.push('k');
                    text.push_str(key.chars());
                }
                Approver::Person(person) => {
                    text.push('h');
                    text.push_str(person.chars());
                }
            }
        }
    }
    if admitted.app.is_some() && !matches!(admitted.actor, Actor::App { .. }) {
        return None;
    }
    text.push_str(admitted.organization_id.chars());
    text.push(match admitted.key_type {
        KeyType::Test => 't',
        KeyType::Live => 'l',
    });
    text.push(match &admitted.grants {
        Grants::Everywhere(grants) => hex_digit(grants.bits()),
        Grants::PerResource(_) => 'g',
    });
    text.push_str(&admitted.at_ms.to_string());
    push_status(&mut text, &admitted.status);
    text.push(END);
    if let Grants::PerResource(grants) = &admitted.grants {
        text.push_str(&grants.len().to_string());
        for (resource, scopes) in grants {
            text.push('/');
            text.push_str(&resource.len().to_string());
            text.push(':');
            text.push_str(resource);
            text.push(hex_digit(scopes.bits()));
        }
    }
    Some(text)
}

fn push_status(text: &mut String, status: &Status) {
    push_window(text, &status.hour);
    push_window(text, &status.burst);
    if let Some(day) = &status.day {
        push_window(text, day);
    }
}

fn compact_refusal(refusal: &Refusal, at_ms: u64) -> String {
    let mut text = String::with_capacity(64);
    text.push('R');
    let status = match refusal {
        Refusal::Invalid => {
            text.push('i');
            None
        }
        Refusal::Expired => {
            text.push('e');
            None
        }
        Refusal::TokenExpired => {
            text.push('t');
            None
        }
        Refusal::Suspended => {
            text.push('u');
            None
        }
        Refusal::Limited {
            status,
            retry_after_s,
        } => {
            text.push('l');
            text.push_str(&at_ms.to_string());
            text.push(',');
            text.push_str(&retry_after_s.to_string());
            Some(status)
        }
        Refusal::AddressNotAllowed { status, .. } => {
            text.push('n');
            text.push_str(&at_ms.to_string());
            Some(status)
        }
        Refusal::Forbidden { missing, status } => {
            text.push('f');
            let scope: ScopeSet = std::iter::once(missing.scope).collect();
            text.push(hex_digit(scope.bits()));
            text.push_str(&at_ms.to_string());
            Some(status)
        }
    };
    match status {
        Some(status) => push_status(&mut text, status),
        None => text.push_str(&at_ms.to_string()),
    }
    text.push(END);
    match refusal {
        Refusal::Forbidden { missing, .. } => text.push_str(&missing.resource),
        Refusal::AddressNotAllowed {
            address: Some(address),
            ..
        } => text.push_str(&address.to_string()),
        _ => {}
    }
    text
}

/// The numbers of an answer, comma-separated, up to [`END`].
struct Numbers<'a>(std::str::Split<'a, char>);

impl Numbers<'_> {
    fn next(&mut self) -> Option<u64> {
        self.0.next()?.parse::<u64>().ok()
    }

    fn window(&mut self) -> Option<WindowStatus> {
        Some(WindowStatus {
            limit: u32::try_from(self.next()?).ok()?,
            remaining: u32::try_from(self.next()?).ok()?,
            reset_ms: self.next()?,
        })
    }

    /// The windows, which end the numbers.
    fn status(mut self) -> Option<Status> {
        let hour = self.window()?;
        let burst = self.window()?;
        let day = self.window();
        self.0
            .next()
            .is_none()
            .then_some(Status { hour, day, burst })
    }
}

fn read_refusal(rest: &str) -> Option<(Refusal, u64)> {
    let (kind, rest) = rest.split_at_checked(1)?;
    if kind == "n" {
        let (numbers, address) = rest.split_once(END)?;
        let mut numbers = Numbers(numbers.split(','));
        let at_ms = numbers.next()?;
        let address = match address {
            "" => None,
            text => Some(text.parse().ok()?),
        };
        let status = numbers.status()?;
        return Some((Refusal::AddressNotAllowed { address, status }, at_ms));
    }
    if kind == "f" {
        let (bits, rest) = rest.split_at_checked(1)?;
        let mut scopes = ScopeSet::from_bits(u8::from_str_radix(bits, 16).ok()?)?.iter();
        let (Some(scope), None) = (scopes.next(), scopes.next()) else {
            return None;
        };
        let (numbers, resource) = rest.split_once(END)?;
        let mut numbers = Numbers(numbers.split(','));
        let at_ms = numbers.next()?;
        let missing = MissingScope {
            scope,
            resource: resource.to_owned(),
        };
        let status = numbers.status()?;
        return Some((Refusal::Forbidden { missing, status }, at_ms));
    }
    let mut numbers = Numbers(rest.strip_suffix(END)?.split(','));
    let at_ms = numbers.next()?;
    let refusal = match kind {
        "l" => {
            let retry_after_s = numbers.next()?;
            let status = numbers.status()?;
            return Some((
                Refusal::Limited {
                    status,
                    retry_after_s,
                },
                at_ms,
            ));
        }
        "i" => Refusal::Invalid,
        "e" => Refusal::Expired,
        "t" => Refusal::TokenExpired,
        "u" => Refusal::Suspended,
        _ => return None,
    };
    numbers.0.next().is_none().then_some((refusal, at_ms))
}

/// Grants per resource: `<n>{/<len>:<resource><scopes: 1 hex>}`, exactly.
fn read_grants_per_resource(text: &str) -> Option<Grants> {
    let count_len = text.find('/').unwrap_or(text.len());
    let count: usize = text[..count_len].parse().ok()?;
    let mut rest = &text[count_len..];
    let mut grants = std::collections::BTreeMap::new();
    for _ in 0..count {
        let (len, tail) = rest.strip_prefix('/')?.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let resource = tail.get(..len)?;
        let (bits, tail) = tail.get(len..)?.split_at_checked(1)?;
        let scopes = ScopeSet::from_bits(u8::from_str_radix(bits, 16).ok()?)?;
        grants.insert(resource.to_owned(), scopes);
        rest = tail;
    }
    (rest.is_empty() && grants.len() == count).then_some(Grants::PerResource(grants))
}

fn read_admitted(rest: &str) -> Option<Admitted> {
    let mut app = None;
    let (actor, rest) = match rest.split_at_checked(1)? {
        ("r", rest) => (Actor::Root, rest),
        ("s", rest) => (Actor::SecretScanning, rest),
        ("k", rest) => {
            let (id, rest) = rest.split_at_checked(ID_LEN)?;
            let key_id = KeyId::parse(&format!("key_{id}"))?;
            (Actor::Key { key_id }, rest)
        }
        ("p", rest) => {
            let (client, rest) = rest.split_at_checked(CLIENT_ID_LEN)?;
            let (grant, rest) = rest.split_at_checked(ID_LEN)?;
            let (kind, rest) = rest.split_at_checked(1)?;
            let (approver, rest) = rest.split_at_checked(ID_LEN)?;
            let client_id = ClientId::parse(&format!("app_{client}"))?;
            let grant_id = GrantId::parse(&format!("grant_{grant}"))?;
            let approved_by = match kind {
                "k" => Approver::Key(KeyId::parse(&format!("key_{approver}"))?),
                "h" => Approver::Person(PersonId::parse(&format!("person_{approver}"))?),
                _ => return None,
            };
            app = Some(AppGrant {
                client_id,
                grant_id,
                approved_by,
            });
            (
                Actor::App {
                    client_id,
                    grant_id,
                },
                rest,
            )
        }
        _ => return None,
    };
    let (org, rest) = rest.split_at_checked(ID_LEN)?;
    let organization_id = OrgId::parse(&format!("org_{org}"))?;
    let (key_type, rest) = match rest.split_at_checked(1)? {
        ("t", rest) => (KeyType::Test, rest),
        ("l", rest) => (KeyType::Live, rest),
        _ => return None,
    };
    let (grants, rest) = rest.split_at_checked(1)?;
    let (numbers, per_resource) = rest.split_once(END)?;
    let grants = match grants {
        "g" => read_grants_per_resource(per_resource)?,
        bits if per_resource.is_empty() => {
            Grants::Everywhere(ScopeSet::from_bits(u8::from_str_radix(bits, 16).ok()?)?)
        }
        _ => return None,
    };
    let mut numbers = Numbers(numbers.split(','));
    let at_ms = numbers.next()?;
    let status = numbers.status()?;
    Some(Admitted {
        actor,
        organization_id,
        key_type,
        grants,
        status,
        at_ms,
        app,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::key::{ApiKey, RANDOM_BYTES_FOR_KEY, RANDOM_BYTES_FOR_SECRET};
    use crate::keys::admin::{parse_create, Caller};
    use crate::keys::guard::{KeyState, Manage, ManageAnswer, Op};
    use crate::keys::record::Refusal;
    use crate::policy::plan::Plan;
    use crate::policy::scope::Scope;
    use crate::policy::terms::{OrgStatus, OrgTerms};

    const T0: u64 = 1_769_076_000_000;

    /// The answer to a new key's first request, as its guard gives it.
    fn first_check() -> CheckAnswer {
        let caller = Caller::root();
        let body = br#"{"name":"wire","scopes":["read"]}"#;
        let new = parse_create(body, Plan::Starter, &caller, T0).expect("valid body");
        let key = ApiKey::generate(new.key_type, &[5; RANDOM_BYTES_FOR_KEY]);
        let mut state = KeyState::default();
        let create = Op::Create {
            record: new.into_record(&key, T0),
            org: OrgTerms {
                key_policy: crate::policy::terms::KeyPolicy {
                    max_lifetime_days: None,
                },
                plan: Plan::Starter,
                status: OrgStatus::Active,
                revision: 0,
            },
        };
        let manage = Manage {
            caller,
            default_plan: Plan::Starter,
            op: create,
        };
        let _ = state.manage(manage, T0, &[7; RANDOM_BYTES_FOR_SECRET]);
        let check = Check {
            hash: key.hash_hex(),
            requirement: Requirement::AnyValidKey,
            address: None,
        };
        state.check(check, None, T0).0
    }

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn id() -> KeyId {
        KeyId::parse("key_AbCdEfGh12345678").expect("id")
    }

    fn org() -> OrgId {
        OrgId::parse("org_0123456789abcdef").expect("org")
    }

    fn window(limit: u32, remaining: u32, reset_ms: u64) -> WindowStatus {
        WindowStatus {
            limit,
            remaining,
            reset_ms,
        }
    }

    fn admitted(day: Option<WindowStatus>) -> Admitted {
        Admitted {
            actor: Actor::Key { key_id: id() },
            organization_id: org(),
            key_type: KeyType::Live,
            grants: Grants::Everywhere([Scope::Read, Scope::Write].into_iter().collect()),
            status: Status {
                hour: window(1000, 999, 1_769_079_600_000),
                day,
                burst: window(50, 49, 1_769_076_000_020),
            },
            at_ms: 1_769_076_000_000,
            app: None,
        }
    }

    fn input_round_trip(input: Input, compact: bool) {
        let text = encode_input(&input).expect("encode");
        assert_eq!(text.starts_with('C'), compact, "{text}");
        assert_eq!(decode_input(&text).expect("decode"), input, "{text}");
    }

    fn answer_round_trip(answer: Answer, compact: bool) {
        let text = encode_answer(&answer).expect("encode");
        assert_eq!(!text.starts_with('{'), compact, "{text}");
        assert_eq!(decode_answer(&text).expect("decode"), answer, "{text}");
        if let (Answer::Check(check), true) = (&answer, compact) {
            // What the request path reads.
            assert_eq!(
                &decode_check_answer(&text).expect("compact"),
                check,
                "{text}"
            );
        }
    }

    fn refused(refusal: Refusal, at_ms: u64) -> Answer {
        Answer::Check(CheckAnswer::Refused { refusal, at_ms })
    }

    fn every_refusal() -> Vec<Refusal> {
        let status = |day| Status {
            hour: window(1000, 0, 1_769_079_600_000),
            day,
            burst: window(50, 0, 1_769_076_000_020),
        };
        let mut all = vec![
            Refusal::Invalid,
            Refusal::Expired,
            Refusal::TokenExpired,
            Refusal::Suspended,
        ];
        for day in [None, Some(window(10_000, 3, u64::MAX))] {
            all.push(Refusal::Limited {
                status: status(day),
                retry_after_s: 3599,
            });
            for scope in Scope::ALL {
                for resource in ["opportunities", crate::policy::scope::EVERY_RESOURCE, ""] {
                    all.push(Refusal::Forbidden {
                        missing: MissingScope {
                            scope,
                            resource: resource.into(),
                        },
                        status: status(day),
                    });
                }
            }
        }
        all
    }

    #[test]
    fn the_request_path_checks_are_compact_and_read_back() {
        let check = |requirement| {
            Input::Check(Check {
                hash: HASH.into(),
                requirement,
                address: None,
            })
        };
        input_round_trip(check(Requirement::AnyValidKey), true);
        for address in ["203.0.113.7", "2001:db8::1"] {
            let with_address = Input::Check(Check {
                hash: HASH.into(),
                requirement: Requirement::for_request(
                    &crate::base::method::Method::Get,
                    &[],
                    "accounts",
                ),
                address: Some(address.parse().expect("address")),
            });
            input_round_trip(with_address, true);
        }
        for needed in 1..16u8 {
            let needed = ScopeSet::from_bits(needed).expect("bits");
            for resource in ["opportunities", "api-keys", "a", "x_y-z9"] {
                let requirement = Requirement::Scopes {
                    needed,
                    resource: resource.into(),
                };
                input_round_trip(check(requirement), true);
            }
        }
        let text = encode_input(&check(Requirement::AnyValidKey)).expect("encode");
        assert_eq!(text, format!("C{HASH}*"));
    }

    #[test]
    fn other_inputs_stay_json() {
        let odd_hash = Input::Check(Check {
            hash: "not a hash".into(),
            requirement: Requirement::AnyValidKey,
            address: None,
        });
        input_round_trip(odd_hash, false);
        let manage = Input::Manage(Manage {
            caller: crate::keys::admin::Caller {
                key_type: KeyType::Live,
                grants: Grants::root(),
                organization: None,
                actor: Actor::Root,
            },
            default_plan: Plan::Starter,
            op: Op::Get,
        });
        input_round_trip(manage, false);
    }

    #[test]
    fn admitted_answers_are_compact_and_read_back() {
        answer_round_trip(
            Answer::Check(CheckAnswer::Admitted(Box::new(admitted(None)))),
            true,
        );
        let day = Some(window(10_000, 0, 1_769_126_400_000));
        answer_round_trip(
            Answer::Check(CheckAnswer::Admitted(Box::new(admitted(day)))),
            true,
        );
        for actor in [Actor::Root, Actor::SecretScanning] {
            for key_type in [KeyType::Test, KeyType::Live] {
                let mut a = admitted(None);
                a.actor = actor;
                a.key_type = key_type;
                a.grants = Grants::Everywhere(ScopeSet::default());
                answer_round_trip(Answer::Check(CheckAnswer::Admitted(Box::new(a))), true);
            }
        }
        // An OAuth app's request, through its grant.
        let app = crate::check::protocol::AppGrant {
            client_id: ClientId::parse("app_0123456789abcdefABCDEFGH").expect("client"),
            grant_id: GrantId::parse("grant_0123456789ABCDEF").expect("grant"),
            approved_by: Approver::Key(id()),
        };
        let mut through_app = admitted(None);
        through_app.actor = Actor::App {
            client_id: app.client_id,
            grant_id: app.grant_id,
        };
        through_app.app = Some(app);
        answer_round_trip(
            Answer::Check(CheckAnswer::Admitted(Box::new(through_app.clone()))),
            true,
        );
        // The same, approved by a person.
        let mut by_person = through_app.clone();
        by_person.app = Some(crate::check::protocol::AppGrant {
            approved_by: Approver::Person(PersonId::generate(&[7; 32])),
            ..app
        });
        answer_round_trip(
            Answer::Check(CheckAnswer::Admitted(Box::new(by_person))),
            true,
        );
        // An app's actor without its grant's details, or details without the actor, is
        // not a shape the compact form has: JSON.
        let mut half = through_app.clone();
        half.app = None;
        answer_round_trip(Answer::Check(CheckAnswer::Admitted(Box::new(half))), false);
        let mut other_half = through_app;
        other_half.actor = Actor::Root;
        answer_round_trip(
            Answer::Check(CheckAnswer::Admitted(Box::new(other_half))),
            false,
        );
        let mut extremes = admitted(Some(window(u32::MAX, u32::MAX, u64::MAX)));
        extremes.at_ms = u64::MAX;
        answer_round_trip(
            Answer::Check(CheckAnswer::Admitted(Box::new(extremes))),
            true,
        );
    }

    #[test]
    fn every_answer_of_the_request_path_is_compact() {
        for grants in [
            serde_json::json!({"opportunities": ["read"]}),
            serde_json::json!({"a": ["read", "write"], "b-2": ["delete"], "opportunities": ["admin"]}),
        ] {
            let mut per_resource = admitted(Some(window(10, 9, 8)));
            per_resource.grants = Grants::from_json(&grants).expect("grants");
            answer_round_trip(
                Answer::Check(CheckAnswer::Admitted(Box::new(per_resource))),
                true,
            );
        }
        for refusal in every_refusal() {
            answer_round_trip(refused(refusal.clone(), 5), true);
            answer_round_trip(refused(refusal, u64::MAX), true);
        }
        assert_eq!(
            encode_answer(&refused(Refusal::Invalid, 5)).expect("encode"),
            "Ri5;"
        );
    }

    #[test]
    fn management_answers_stay_json_and_admitted_ones_compact() {
        // A key's first admitted request is compact too: its directory entry goes to its
        // guard's writes (worker/src/guard.rs), never onto the wire.
        let first = first_check();
        assert!(matches!(&first, CheckAnswer::Admitted(_)));
        let text = encode_answer(&Answer::Check(first.clone())).expect("encode");
        assert_eq!(decode_check_answer(&text).expect("compact"), first);
        answer_round_trip(
            Answer::Manage(ManageAnswer::Refused(
                crate::keys::admin::ManageRefusal::IdTaken,
            )),
            false,
        );
    }

    #[test]
    fn damaged_compact_text_is_refused_not_misread() {
        let good = encode_answer(&Answer::Check(CheckAnswer::Admitted(Box::new(admitted(
            None,
        )))))
        .expect("encode");
        for cut in 1..good.len() {
            assert!(decode_answer(&good[..cut]).is_err(), "{}", &good[..cut]);
        }
        let mut per_resource = admitted(None);
        per_resource.grants =
            Grants::from_json(&serde_json::json!({"ab": ["read"], "cd": ["write"]}))
                .expect("grants");
        let per_resource = encode_answer(&Answer::Check(CheckAnswer::Admitted(Box::new(
            per_resource,
        ))))
        .expect("encode");
        let mut compact = vec![per_resource.clone()];
        compact.extend(
            every_refusal()
                .into_iter()
                .map(|r| encode_answer(&refused(r, 77)).expect("encode")),
        );
        for good in compact {
            for cut in 1..good.len() {
                let cut = &good[..cut];
                // A Forbidden's resource is the text's end: cut there, it is another name.
                if !(good.starts_with("Rf") && cut.contains(END)) {
                    assert!(decode_answer(cut).is_err(), "{cut}");
                }
            }
            assert!(decode_answer(&format!("{good}x")).is_err() || good.starts_with("Rf"));
        }
        for bad in [
            per_resource.replacen(";2/", ";3/", 1),
            per_resource.replacen(";2/", ";1/", 1),
            per_resource.replacen("2:ab", "3:ab", 1),
            "Rx5;".to_owned(),
            "Ri5;x".to_owned(),
            "Ri5,1;".to_owned(),
            "Rf35,1,1,1,1,1,1;r".to_owned(),
            "Rf05,1,1,1,1,1,1;r".to_owned(),
        ] {
            assert!(decode_answer(&bad).is_err(), "{bad}");
        }
        for bad in [
            format!("{good},1"),
            good.replacen("Ak", "Ax", 1),
            good.replacen(",", ",-", 1),
        ] {
            assert!(decode_answer(&bad).is_err(), "{bad}");
        }
        for bad in [
            "C".to_owned(),
            format!("C{}", &HASH[..63]),
            format!("C{HASH}"),
            format!("C{HASH}*x"),
            format!("C{HASH}g/x"),
        ] {
            assert!(decode_input(&bad).is_err(), "{bad}");
        }
    }
}
