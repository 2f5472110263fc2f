//! Dashboard sessions, with no I/O: the session token, the cookie that carries it, the
//! idle-expiry decision, the CSRF check and the origin check.
//!
//! ```text
//!  POST /dashboard/session (form "API key")
//!     key checked by its own guard like any request ──► SessionRecord { key id, key hash }
//!     SessionToken::from_random ──► cookie (HttpOnly, SameSite=Strict, __Host- on https)
//!  every dashboard call
//!     cookie ──► SessionToken ──► its hash names the SessionGuard ──► SessionState::step
//!     state-changing: same_origin(Origin) and csrf_matches(X-CSRF-Token)
//!     the bound key is checked again by its own guard: revoked or narrowed keys end or
//!     narrow their sessions at once
//! ```
//!
//! A session holds the key's id and SHA-256 (what the key's guard compares), never the
//! key. The token is stored only as its hash (the name of its guard).

use crate::base::constant_time;
use crate::credentials::key::{hash_hex, KeyId};
pub use crate::http::forwarding::{PLAIN_COOKIE_NAME, SECURE_COOKIE_NAME};
use crate::ids::{OrgId, PersonId};
use serde::{Deserialize, Serialize};

/// A session ends after this long without a request (12 hours).
pub const SESSION_IDLE_MS: u64 = 12 * 60 * 60 * 1000;

/// Random bytes in a session token and in a CSRF token.
pub const RANDOM_BYTES_FOR_SESSION: usize = 32;

/// The header a state-changing dashboard call carries its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// A session token: 64 lower-case hex characters, the cookie's value.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl core::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SessionToken {
    /// A new token from the caller's random bytes.
    pub fn from_random(random: &[u8; RANDOM_BYTES_FOR_SESSION]) -> SessionToken {
        SessionToken(hex(random))
    }

    /// Parses a cookie value; anything but 64 lower-case hex characters is no token.
    pub fn parse(text: &str) -> Option<SessionToken> {
        let valid = text.len() == RANDOM_BYTES_FOR_SESSION * 2
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| SessionToken(text.to_owned()))
    }

    /// The token as the cookie carries it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// SHA-256 hex: the only form stored, and the name of the session's guard.
    pub fn hash_hex(&self) -> String {
        hash_hex(self.0.as_bytes())
    }
}

/// A CSRF token from the caller's random bytes: 64 hex characters.
pub fn csrf_token(random: &[u8; RANDOM_BYTES_FOR_SESSION]) -> String {
    hex(random)
}

/// The session cookie's name: `__Host-` only where the scheme is https.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_COOKIE_NAME
    } else {
        PLAIN_COOKIE_NAME
    }
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Path=/, Secure on https.
/// No `Max-Age`: the browser forgets it when it closes; the server ends it when idle.
pub fn set_cookie(token: &SessionToken, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_name(https),
        token.expose_secret()
    )
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub fn clear_cookie(https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(https)
    )
}

/// The session token in a `Cookie` header, if it holds a well-formed one under the name
/// this scheme uses.
pub fn token_from_cookies(header: Option<&str>, https: bool) -> Option<SessionToken> {
    let name = cookie_name(https);
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .and_then(|(_, value)| SessionToken::parse(value.trim()))
}

/// True when the CSRF token sent equals the session's; compared in constant time.
pub fn csrf_matches(sent: Option<&str>, expected: &str) -> bool {
    sent.is_some_and(|sent| constant_time::eq(sent.as_bytes(), expected.as_bytes()))
}

/// True when a state-changing request comes from the dashboard's own origin: its
/// `Origin` header is exactly `expected` (`scheme://host[:port]`); or the browser sent
/// no origin (Chromium omits it on same-origin calls) or `Origin: null` (a page under
/// `Referrer-Policy: no-referrer`) and vouches with `Sec-Fetch-Site: same-origin`, a
/// header no page can set. A foreign origin, or no evidence at all, is refused.
pub fn same_origin(origin: Option<&str>, fetch_site: Option<&str>, expected: &str) -> bool {
    match origin {
        Some(origin) if origin == expected => true,
        None | Some("null") => fetch_site == Some("same-origin"),
        Some(_) => false,
    }
}

/// The form field the sign-in form sends the key in.
pub const API_KEY_FIELD: &str = "api_key";

/// The value of [`API_KEY_FIELD`] in an `application/x-www-form-urlencoded` body.
pub fn api_key_from_form(body: &[u8]) -> Option<String> {
    crate::base::form::pairs(body)?
        .into_iter()
        .find(|(name, _)| name == API_KEY_FIELD)
        .map(|(_, value)| value)
}

/// Who a session is: an admin key (an operator's sign-in), or a person signed in with
/// a passkey, in one of their organizations.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Subject {
    /// An admin key: its id and SHA-256 hex (what the key's guard compares).
    #[serde(rename_all = "camelCase")]
    Key {
        /// The key signed in with.
        key_id: KeyId,
        /// Its SHA-256 hex.
        key_hash: String,
    },
    /// A person: their role is asked of the organization's people guard on every call.
    #[serde(rename_all = "camelCase")]
    Person {
        /// Who.
        person_id: PersonId,
        /// The organization they act in.
        organization_id: OrgId,
        /// The passkey they signed in with (base64url credential id): removing it ends
        /// the session at its next call. `None` in sessions from before this was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential_id: Option<String>,
    },
}

/// A session as stored in its guard.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    /// Who: a key or a person.
    #[serde(flatten)]
    pub subject: Subject,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Opened at, ms.
    pub created_ms: u64,
    /// The last request, ms.
    pub last_seen_ms: u64,
}

impl core::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let who = match &self.subject {
            Subject::Key { key_id, .. } => key_id.to_string(),
            Subject::Person { person_id, .. } => person_id.to_string(),
        };
        f.debug_struct("SessionRecord")
            .field("subject", &who)
            .field("created_ms", &self.created_ms)
            .field("last_seen_ms", &self.last_seen_ms)
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// The key signed in with, for a key's session.
    pub fn key_id(&self) -> Option<KeyId> {
        match &self.subject {
            Subject::Key { key_id, .. } => Some(*key_id),
            Subject::Person { .. } => None,
        }
    }

    /// True while the session has been used within [`SESSION_IDLE_MS`]: it ends exactly
    /// `SESSION_IDLE_MS` after its last request.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms()
    }

    /// When it ends unless it is used before: [`SESSION_IDLE_MS`] after its last request.
    pub fn expires_ms(&self) -> u64 {
        self.last_seen_ms.saturating_add(SESSION_IDLE_MS)
    }
}

/// What the worker asks a session's guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionInput {
    /// Store a new session.
    Open(SessionRecord),
    /// Look it up and mark it used now.
    Touch,
    /// End it (sign out, or its key stopped working).
    End,
    /// The guard's alarm: delete it if it has expired, without marking it used.
    Sweep,
}

/// A session guard's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionAnswer {
    /// The live session.
    Live(SessionRecord),
    /// No session (never opened, ended, or idle too long).
    Missing,
}

/// What one session's guard holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionState {
    /// The session, if there is one.
    pub record: Option<SessionRecord>,
}

/// What a step asks its caller to do with storage.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionWrite {
    /// Nothing changed.
    None,
    /// Store the record.
    Store,
    /// Delete it.
    Delete,
}

impl SessionState {
    /// One input at `now_ms`. An idle session is deleted when it is next asked for.
    pub fn step(&mut self, input: SessionInput, now_ms: u64) -> (SessionAnswer, SessionWrite) {
        match input {
            SessionInput::Open(record) => {
                self.record = Some(record.clone());
                (SessionAnswer::Live(record), SessionWrite::Store)
            }
            SessionInput::End => {
                let had = self.record.take().is_some();
                let write = if had {
                    SessionWrite::Delete
                } else {
                    SessionWrite::None
                };
                (SessionAnswer::Missing, write)
            }
            SessionInput::Sweep => match &self.record {
                Some(record) if record.is_live(now_ms) => {
                    (SessionAnswer::Live(record.clone()), SessionWrite::None)
                }
                Some(_) => {
                    self.record = None;
                    (SessionAnswer::Missing, SessionWrite::Delete)
                }
                None => (SessionAnswer::Missing, SessionWrite::None),
            },
            SessionInput::Touch => match &mut self.record {
                None => (SessionAnswer::Missing, SessionWrite::None),
                Some(record) if !record.is_live(now_ms) => {
                    self.record = None;
                    (SessionAnswer::Missing, SessionWrite::Delete)
                }
                Some(record) => {
                    record.last_seen_ms = now_ms;
                    (SessionAnswer::Live(record.clone()), SessionWrite::Store)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::key::{ApiKey, KeyType, RANDOM_BYTES_FOR_KEY};

    const T0: u64 = 1_769_076_000_000;

    fn record(now: u64) -> SessionRecord {
        let key = ApiKey::generate(KeyType::Live, &[9; RANDOM_BYTES_FOR_KEY]);
        SessionRecord {
            subject: Subject::Key {
                key_id: key.id(),
                key_hash: key.hash_hex(),
            },
            csrf_token: csrf_token(&[2; RANDOM_BYTES_FOR_SESSION]),
            created_ms: now,
            last_seen_ms: now,
        }
    }

    #[test]
    fn tokens_parse_only_in_their_own_form() {
        let token = SessionToken::from_random(&[0xab; RANDOM_BYTES_FOR_SESSION]);
        assert_eq!(token.expose_secret().len(), 64);
        assert_eq!(
            SessionToken::parse(token.expose_secret()),
            Some(token.clone())
        );
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(SessionToken::parse(bad), None, "{bad:?}");
        }
        assert_ne!(token.hash_hex(), token.expose_secret());
        assert_eq!(format!("{token:?}"), "SessionToken(…)");
    }

    #[test]
    fn cookies_are_strict_and_host_prefixed_only_on_https() {
        let token = SessionToken::from_random(&[1; RANDOM_BYTES_FOR_SESSION]);
        let secret = token.expose_secret();
        assert_eq!(
            set_cookie(&token, true),
            format!("__Host-scopien_session={secret}; Path=/; HttpOnly; SameSite=Strict; Secure")
        );
        assert_eq!(
            set_cookie(&token, false),
            format!("scopien_session={secret}; Path=/; HttpOnly; SameSite=Strict")
        );
        assert!(clear_cookie(true).contains("Max-Age=0"));
        assert!(clear_cookie(true).starts_with("__Host-scopien_session=;"));
    }

    #[test]
    fn the_token_is_found_only_under_the_schemes_name() {
        let token = SessionToken::from_random(&[1; RANDOM_BYTES_FOR_SESSION]);
        let secret = token.expose_secret();
        let check = |header: &str, https: bool| token_from_cookies(Some(header), https);
        assert_eq!(
            check(&format!("a=b; scopien_session={secret}"), false),
            Some(token.clone())
        );
        assert_eq!(
            check(&format!("__Host-scopien_session={secret}"), true),
            Some(token.clone())
        );
        // The plain name is not accepted over https (it could be planted by a subdomain).
        assert_eq!(check(&format!("scopien_session={secret}"), true), None);
        assert_eq!(check("scopien_session=nothex", false), None);
        assert_eq!(token_from_cookies(None, false), None);
    }

    #[test]
    fn csrf_and_origin_must_match_exactly() {
        let expected = csrf_token(&[3; RANDOM_BYTES_FOR_SESSION]);
        assert!(csrf_matches(Some(&expected), &expected));
        assert!(!csrf_matches(None, &expected));
        assert!(!csrf_matches(Some(""), &expected));
        assert!(!csrf_matches(Some(&expected[1..]), &expected));
        let origin = "https://gate.example";
        let check = |sent: Option<&str>, site: Option<&str>| same_origin(sent, site, origin);
        assert!(check(Some(origin), None));
        assert!(check(Some(origin), Some("same-origin")));
        assert!(check(Some("null"), Some("same-origin")));
        assert!(check(None, Some("same-origin")));
        assert!(!check(None, None));
        assert!(!check(None, Some("cross-site")));
        assert!(!check(Some("null"), None));
        assert!(!check(Some("null"), Some("cross-site")));
        assert!(!check(Some("null"), Some("same-site")));
        assert!(!check(
            Some("https://gate.example.evil"),
            Some("same-origin")
        ));
    }

    #[test]
    fn a_session_ends_exactly_twelve_idle_hours_after_its_last_request() {
        let mut state = SessionState::default();
        let (answer, write) = state.step(SessionInput::Open(record(T0)), T0);
        assert!(matches!(answer, SessionAnswer::Live(_)));
        assert_eq!(write, SessionWrite::Store);
        // Used 1 ms before the end: alive, and the idle clock restarts.
        let t1 = T0 + SESSION_IDLE_MS - 1;
        let (answer, write) = state.step(SessionInput::Touch, t1);
        assert!(matches!(answer, SessionAnswer::Live(r) if r.last_seen_ms == t1));
        assert_eq!(write, SessionWrite::Store);
        // Exactly 12 h after that: gone, and deleted.
        let (answer, write) = state.step(SessionInput::Touch, t1 + SESSION_IDLE_MS);
        assert_eq!(answer, SessionAnswer::Missing);
        assert_eq!(write, SessionWrite::Delete);
        assert_eq!(state, SessionState::default());
    }

    #[test]
    fn the_alarm_deletes_an_expired_session_and_keeps_a_live_one_untouched() {
        let mut state = SessionState::default();
        let _ = state.step(SessionInput::Open(record(T0)), T0);
        let end = T0 + SESSION_IDLE_MS;
        assert_eq!(
            state.record.as_ref().map(SessionRecord::expires_ms),
            Some(end)
        );
        let (answer, write) = state.step(SessionInput::Sweep, end - 1);
        assert!(matches!(answer, SessionAnswer::Live(r) if r.last_seen_ms == T0));
        assert_eq!(write, SessionWrite::None);
        let (answer, write) = state.step(SessionInput::Sweep, end);
        assert_eq!(
            (answer, write),
            (SessionAnswer::Missing, SessionWrite::Delete)
        );
        assert_eq!(state, SessionState::default());
    }

    #[test]
    fn signing_out_ends_the_session_for_good() {
        let mut state = SessionState::default();
        let _ = state.step(SessionInput::Open(record(T0)), T0);
        assert_eq!(
            state.step(SessionInput::End, T0),
            (SessionAnswer::Missing, SessionWrite::Delete)
        );
        assert_eq!(
            state.step(SessionInput::Touch, T0),
            (SessionAnswer::Missing, SessionWrite::None)
        );
        assert_eq!(
            state.step(SessionInput::End, T0),
            (SessionAnswer::Missing, SessionWrite::None)
        );
    }

    #[test]
    fn the_key_is_read_from_the_form() {
        let check = |body: &str, expected: Option<&str>| {
            assert_eq!(
                api_key_from_form(body.as_bytes()).as_deref(),
                expected,
                "{body}"
            )
        };
        check("api_key=sk_live_abc", Some("sk_live_abc"));
        check("x=1&api_key=+sk_live_abc%20", Some(" sk_live_abc "));
        check("api_key=%E2%9C%93", Some("\u{2713}"));
        check("api_key=%zz", None);
        check("api_key=%4", None);
        check("apikey=sk_live_abc", None);
        check("", None);
    }

    #[test]
    fn records_read_as_stored_before_people_and_a_persons_session_round_trips() {
        let key = ApiKey::generate(KeyType::Live, &[9; RANDOM_BYTES_FOR_KEY]);
        let old = format!(
            r#"{{"keyId":"{}","keyHash":"{}","csrfToken":"c","createdMs":1,"lastSeenMs":2}}"#,
            key.id(),
            key.hash_hex()
        );
        let read: SessionRecord = serde_json::from_str(&old).expect("old record");
        assert_eq!(read.key_id(), Some(key.id()));
        let person = SessionRecord {
            subject: Subject::Person {
                person_id: PersonId::generate(&[1; 32]),
                organization_id: OrgId::DEFAULT,
                credential_id: Some("AQID".into()),
            },
            ..read
        };
        let text = serde_json::to_string(&person).expect("json");
        assert!(text.contains("personId") && !text.contains("keyId"));
        let back: SessionRecord = serde_json::from_str(&text).expect("back");
        assert_eq!(back, person);
        assert_eq!(back.key_id(), None);
    }

    #[test]
    fn a_record_never_prints_its_secrets() {
        let record = record(T0);
        let printed = format!("{record:?}");
        let Subject::Key { key_hash, .. } = &record.subject else {
            panic!("a key's session")
        };
        assert!(!printed.contains(key_hash));
        assert!(!printed.contains(&record.csrf_token));
    }
}
