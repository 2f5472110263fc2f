//! Reading the credential off a request: the `Authorization` header, and refusing keys
//! sent where they would leak (the query string). No storage is touched here.

use crate::base::form::percent_decode;
use crate::credentials::key::ApiKey;
use crate::credentials::token::{OAuthToken, TokenKind};
use crate::policy::error::ApiError;

/// Longest `Authorization` value looked at; a longer one is refused before hashing.
pub const MAX_AUTHORIZATION_LEN: usize = 512;

/// Query parameters that commonly carry credentials.
const CREDENTIAL_PARAMS: [&str; 3] = ["api_key", "apikey", "access_token"];

/// Parses the `Authorization` header value (`None` when absent). The scheme `Bearer` is
/// case-insensitive (RFC 7235); several headers arrive joined by `,` and are refused.
pub fn parse_authorization(header: Option<&str>) -> Result<ApiKey, ApiError> {
    let token = bearer_token(header)?;
    ApiKey::parse(token).map_err(|_| ApiError::invalid_key())
}

/// What a request authenticates with: an API key, or an OAuth access token (`sat_…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `sk_test_…` / `sk_live_…`: its key's guard decides.
    Key(ApiKey),
    /// `sat_…`: its grant's guard decides.
    AccessToken(OAuthToken),
}

impl Credential {
    /// The id chars that name its guard (the throttle remembers which worked).
    pub fn guard_name(&self) -> &str {
        match self {
            Credential::Key(key) => key.id_chars(),
            Credential::AccessToken(token) => token.grant_chars(),
        }
    }

    /// SHA-256 hex of the whole credential: what its guard compares.
    pub fn hash_hex(&self) -> String {
        match self {
            Credential::Key(key) => key.hash_hex(),
            Credential::AccessToken(token) => token.hash_hex(),
        }
    }
}

/// Parses the `Authorization` header into a key or an access token, with the same
/// errors as [`parse_authorization`].
pub fn parse_credential(header: Option<&str>) -> Result<Credential, ApiError> {
    let token = bearer_token(header)?;
    if token.starts_with("sat_") {
        return OAuthToken::parse_kind(token, TokenKind::Access)
            .map(Credential::AccessToken)
            .ok_or_else(ApiError::invalid_access_token);
    }
    ApiKey::parse(token)
        .map(Credential::Key)
        .map_err(|_| ApiError::invalid_key())
}

/// The token of a `Bearer` header, checked for length and repetition.
fn bearer_token(header: Option<&str>) -> Result<&str, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::missing_key());
    };
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(ApiError::invalid_key());
    }
    if value.contains(',') {
        return Err(ApiError::invalid_request(
            "Send exactly one Authorization header with one key",
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::missing_key());
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::wrong_scheme());
    }
    Ok(token.trim_start())
}

/// Whether a raw query string carries something that looks like a credential: a
/// parameter named like one, or an `sk_live_`/`sk_test_` key anywhere in a name or a
/// value (a bare `?sk_live_…` too). The query is looked at as sent and after one and
/// two decodings (`%XX`, `+` as space), so `sk%5Flive%5F…`, `%73k_live_…` and
/// `%2573k_live_…` are all seen.
pub fn query_has_credential(query: &str) -> bool {
    let once = percent_decode(query.as_bytes(), true);
    let twice = percent_decode(&once, true);
    let forms: [&[u8]; 3] = [query.as_bytes(), &once, &twice];
    forms
        .iter()
        .any(|form| form_has_credential(form) || names_a_credential(form))
}

/// A key prefix that starts a word (so `task_live_x` is not a key).
fn form_has_credential(form: &[u8]) -> bool {
    let lower = form.to_ascii_lowercase();
    lower.windows(KEY_MARK_LEN).enumerate().any(|(i, w)| {
        // An OAuth token: its prefix then 54 base62 chars (so `sat_urday` is not one).
        let token = (w.starts_with(b"sat_") || w.starts_with(b"srt_"))
            && lower
                .get(i + 4..i + 4 + 54)
                .is_some_and(|rest| rest.iter().all(u8::is_ascii_alphanumeric));
        (w == b"sk_live_" || w == b"sk_test_" || token)
            && (i == 0 || !lower[i - 1].is_ascii_alphanumeric())
    })
}

const KEY_MARK_LEN: usize = "sk_live_".len();

fn names_a_credential(form: &[u8]) -> bool {
    form.split(|&b| b == b'&' || b == b';').any(|pair| {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        let name = name.trim_ascii();
        CREDENTIAL_PARAMS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::key::{KeyType, RANDOM_BYTES_FOR_KEY};

    fn key() -> ApiKey {
        ApiKey::generate(KeyType::Test, &[9u8; RANDOM_BYTES_FOR_KEY])
    }

    #[test]
    fn bearer_is_case_insensitive() {
        let k = key();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let header = format!("{scheme} {}", k.expose_secret());
            assert_eq!(parse_authorization(Some(&header)), Ok(k.clone()));
        }
    }

    #[test]
    fn each_bad_header_gets_its_error() {
        let k = key();
        let missing = parse_authorization(None).expect_err("missing");
        assert_eq!(missing.message, "Missing API key");
        assert_eq!(
            parse_authorization(Some("Bearer nope")),
            Err(ApiError::invalid_key())
        );
        assert_eq!(
            parse_authorization(Some(&format!("Basic {}", k.expose_secret()))),
            Err(ApiError::wrong_scheme())
        );
        assert_eq!(
            parse_authorization(Some(k.expose_secret())),
            Err(ApiError::wrong_scheme())
        );
        let long = format!("Bearer {}", "a".repeat(600));
        assert_eq!(
            parse_authorization(Some(&long)),
            Err(ApiError::invalid_key())
        );
        let two = format!("Bearer {0}, Bearer {0}", k.expose_secret());
        assert_eq!(
            parse_authorization(Some(&two)).map_err(|e| e.status),
            Err(400)
        );
    }

    #[test]
    fn keys_in_the_query_are_noticed() {
        assert!(query_has_credential("api_key=abc"));
        assert!(query_has_credential("x=1&q=sk_live_abc"));
        assert!(query_has_credential("ACCESS_TOKEN=1"));
        assert!(!query_has_credential("key=region"));
        assert!(query_has_credential(&format!("t=sat_{}", "a".repeat(54))));
        assert!(query_has_credential(&format!("t=srt%5F{}", "B".repeat(54))));
        assert!(!query_has_credential("day=sat_urday"));
        assert!(!query_has_credential("page=2&limit=10"));
        assert!(!query_has_credential(""));
    }

    #[test]
    fn keys_in_the_query_are_noticed_however_spelled() {
        let k = key();
        let raw = k.expose_secret();
        let live = raw.replacen("sk_test_", "sk_live_", 1);
        let tail = &live["sk_live_".len()..];
        for query in [
            live.clone(),                        // a bare name
            format!("{live}=1"),                 // a name with a value
            format!("a=1&{raw}"),                // a bare test key after others
            format!("key=sk%5Flive%5F{tail}"),   // encoded underscores
            format!("key=sk%5flive%5f{tail}"),   // lower-case escapes
            format!("x=%73k_live_{tail}"),       // an encoded letter
            format!("x=%2573k_live_{tail}"),     // encoded twice
            format!("x=%25%37%33k_live_{tail}"), // escapes of an escape
            format!("q=Bearer+{live}"),          // after a `+` space
            format!("%73k_live_{tail}=1"),       // an encoded name
            "API%5FKEY=abc".to_owned(),          // an encoded parameter name
            "token=1;access_token=2".to_owned(), // `;` as a separator
            "SK_LIVE_abc".to_owned(),            // any case
        ] {
            assert!(query_has_credential(&query), "{query}");
        }
    }

    #[test]
    fn ordinary_queries_pass() {
        for query in [
            "key=region",
            "page=2",
            "q=task_live_updates",
            "q=ask_test_",
            "sort=-createdAt&limit=100",
            "q=100%25",
            "q=%",
            "name=sk",
        ] {
            assert!(!query_has_credential(query), "{query}");
        }
    }
}
