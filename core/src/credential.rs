//! Reading the credential off a request: the `Authorization` header, and refusing keys
//! sent where they would leak (the query string). No storage is touched here.

use crate::error::ApiError;
use crate::key::ApiKey;

/// Longest `Authorization` value looked at; a longer one is refused before hashing.
pub const MAX_AUTHORIZATION_LEN: usize = 512;

/// Query parameters that commonly carry credentials.
const CREDENTIAL_PARAMS: [&str; 3] = ["api_key", "apikey", "access_token"];

/// Parses the `Authorization` header value (`None` when absent). The scheme `Bearer` is
/// case-insensitive (RFC 7235); several headers arrive joined by `,` and are refused.
pub fn parse_authorization(header: Option<&str>) -> Result<ApiKey, ApiError> {
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
    ApiKey::parse(token.trim_start()).map_err(|_| ApiError::invalid_key())
}

/// Whether a raw query string carries something that looks like a credential.
pub fn query_has_credential(query: &str) -> bool {
    query.split('&').any(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.to_ascii_lowercase();
        CREDENTIAL_PARAMS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p))
            || value.contains("sk_live_")
            || value.contains("sk_test_")
            || value.contains("sk_live%5f")
            || value.contains("sk_test%5f")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyType, RANDOM_BYTES_FOR_KEY};

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
        assert!(!query_has_credential("page=2&limit=10"));
        assert!(!query_has_credential(""));
    }
}
