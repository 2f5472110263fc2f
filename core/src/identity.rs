//! The identity the gateway asserts to the origin: a JWT (EdDSA over Ed25519, with a
//! `kid`) in `X-Scopien-Identity`, verifiable against `/.well-known/jwks.json`. Core
//! builds the claims, the signing input and the key set; the signature itself is the
//! runtime's (WebCrypto), since core holds no key material and does no I/O.

use crate::base::base64::base64url;
use crate::check::protocol::Admitted;
use crate::credentials::key::hash_hex;
use crate::policy::error::ApiError;
use serde::{Deserialize, Serialize};

/// How long an assertion is valid, in seconds.
pub const IDENTITY_TTL_S: u64 = 300;
/// A cached assertion is reused only while at least this many seconds of it are left,
/// so an origin never receives one about to expire.
pub const IDENTITY_REUSE_MARGIN_S: u64 = 60;
/// The header that carries it.
pub const IDENTITY_HEADER: &str = "X-Scopien-Identity";

/// A public Ed25519 key as a JWK (RFC 8037).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// `OKP`
    pub kty: String,
    /// `Ed25519`
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// Its id.
    pub kid: String,
    /// `EdDSA`
    #[serde(default = "eddsa")]
    pub alg: String,
    /// `sig`
    #[serde(rename = "use", default = "sig")]
    pub use_: String,
}

fn eddsa() -> String {
    "EdDSA".into()
}

fn sig() -> String {
    "sig".into()
}

/// The gateway's signing key, from the `IDENTITY_SIGNING_KEY` secret (a private Ed25519
/// JWK: `{"kty":"OKP","crv":"Ed25519","d":…,"x":…,"kid"?:…}`).
#[derive(Clone, Debug)]
pub struct SigningKey {
    /// The JWK to import into WebCrypto, as JSON text (private: never logged, never
    /// shown).
    pub private_jwk: String,
    /// Its public half, as published.
    pub public: PublicJwk,
}

fn is_base64url(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl SigningKey {
    /// Parses the secret. The `kid` defaults to a digest of the public key, so a rotated
    /// key gets a new one by itself.
    pub fn parse(text: &str) -> Result<SigningKey, ApiError> {
        let jwk: serde_json::Value =
            serde_json::from_str(text.trim()).map_err(|_| invalid_signing_key())?;
        if !jwk.is_object() {
            return Err(invalid_signing_key());
        }
        SigningKey::from_fields(|name| jwk.get(name).and_then(serde_json::Value::as_str))
    }

    /// The key from its JWK's string members, `field(name)` (`None` for a member that is
    /// absent or not a string): the worker reads the JSON with the runtime's parser, so
    /// that its request path carries no JSON parser of its own.
    pub fn from_fields<'a>(
        field: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<SigningKey, ApiError> {
        let invalid = invalid_signing_key;
        // 32-byte keys are 43 base64url chars.
        let (Some("OKP"), Some("Ed25519"), Some(d), Some(x)) =
            (field("kty"), field("crv"), field("d"), field("x"))
        else {
            return Err(invalid());
        };
        if !is_base64url(d, 43) || !is_base64url(x, 43) {
            return Err(invalid());
        }
        let kid = match field("kid") {
            Some(kid) if !kid.is_empty() && kid.len() <= 64 => kid.to_owned(),
            Some(_) => return Err(invalid()),
            None => hash_hex(x.as_bytes())[..16].to_owned(),
        };
        // Base64url only (checked above): nothing to escape.
        let private_jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","x":"{x}"}}"#);
        Ok(SigningKey {
            private_jwk,
            public: PublicJwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: x.to_owned(),
                kid,
                alg: eddsa(),
                use_: sig(),
            },
        })
    }
}

fn invalid_signing_key() -> ApiError {
    ApiError::service_unavailable(
        "IDENTITY_SIGNING_KEY is not a private Ed25519 JWK; generate one with `npm run identity-key`",
    )
}

/// The URL `npm start` serves the gateway on: `PUBLIC_URL` when none is set.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8787";

/// Parses `PUBLIC_URL`, the gateway's own address as its users reach it: the OAuth
/// issuer and the identity assertion's `iss`, which must never follow a request's
/// `Host`. `http` or `https`, a host and an optional port, nothing else (no path, query,
/// fragment or user info); one trailing `/` is dropped.
pub fn parse_public_url(text: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::service_unavailable(
            "PUBLIC_URL must be the gateway's origin, such as https://gateway.example.com (http or https, a host and an optional port, no path)",
        )
    };
    let url = text.trim();
    let url = url.strip_suffix('/').unwrap_or(url);
    let authority = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let host_chars =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']');
    if authority.is_empty() || !authority.bytes().all(host_chars) {
        return Err(invalid());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let host_ok = !host.is_empty() && !host.starts_with(['.', '-', ':']);
    if !port_ok || !host_ok {
        return Err(invalid());
    }
    Ok(url.to_owned())
}

/// Parses `IDENTITY_PREVIOUS_KEYS`: a JSON array of public JWKs still published during a
/// rotation, so origins holding tokens signed by them can verify until those expire.
pub fn parse_previous_keys(text: &str) -> Result<Vec<PublicJwk>, ApiError> {
    serde_json::from_str::<Vec<PublicJwk>>(text)
        .ok()
        .filter(|keys| {
            keys.iter()
                .all(|k| k.kty == "OKP" && k.crv == "Ed25519" && is_base64url(&k.x, 43))
        })
        .ok_or_else(|| {
            ApiError::service_unavailable(
                "IDENTITY_PREVIOUS_KEYS must be a JSON array of public Ed25519 JWKs",
            )
        })
}

/// `GET /.well-known/jwks.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The current key first, then any previous ones.
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    /// The published set.
    pub fn new(current: Option<&SigningKey>, previous: &[PublicJwk]) -> Jwks {
        Jwks {
            keys: current
                .map(|k| k.public.clone())
                .into_iter()
                .chain(previous.iter().cloned())
                .collect(),
        }
    }
}

/// What the gateway asserts about an admitted request's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The gateway.
    pub iss: String,
    /// The origin the request is sent to.
    pub aud: String,
    /// Who acts: the key's id (`key_…`), or for an OAuth access token its grant's id
    /// (`grant_…`), never the approving key's: an origin authorising by `sub` must not
    /// take an app for the admin who approved it.
    pub sub: String,
    /// Its organization.
    pub org_id: String,
    /// `test` or `live`.
    pub key_type: String,
    /// Space-separated: `read write`, or `accounts:read opportunities:write`.
    pub scope: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds (`iat` + [`IDENTITY_TTL_S`]).
    pub exp: u64,
    /// The OAuth app acting, when the request came with an access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Its grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The admin key that approved the grant (an access token only): who to ask, not who
    /// acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

impl Claims {
    /// The claims for key `id`, admitted as `admitted`, sent to `aud` by `iss` at
    /// `now_ms`. For an access token the subject is its grant.
    pub fn new(
        id: crate::ids::Approver,
        admitted: &Admitted,
        iss: &str,
        aud: &str,
        now_ms: u64,
    ) -> Claims {
        let iat = now_ms / 1000;
        Claims {
            iss: iss.to_owned(),
            aud: aud.to_owned(),
            sub: admitted
                .app
                .map_or_else(|| id.to_string(), |app| app.grant_id.to_string()),
            org_id: admitted.organization_id.to_string(),
            key_type: admitted.key_type.as_str().to_owned(),
            scope: admitted.grants.scope_string(),
            iat,
            exp: iat + IDENTITY_TTL_S,
            client_id: admitted.app.map(|a| a.client_id.to_string()),
            grant_id: admitted.app.map(|a| a.grant_id.to_string()),
            approved_by: admitted.app.map(|a| a.approved_by.to_string()),
        }
    }

    /// What must be equal for a cached assertion to be reused: everything but the times.
    pub fn reuse_key(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.iss,
            self.aud,
            self.sub,
            self.org_id,
            self.key_type,
            self.scope,
            self.client_id.as_deref().unwrap_or_default(),
            self.grant_id.as_deref().unwrap_or_default(),
            self.approved_by.as_deref().unwrap_or_default()
        )
    }
}

/// Whether an assertion expiring at `exp` (unix seconds) may still be sent at `now_ms`.
pub fn reusable(exp: u64, now_ms: u64) -> bool {
    exp.saturating_sub(now_ms / 1000) >= IDENTITY_REUSE_MARGIN_S
}

/// `base64url(header) "." base64url(claims)`: the bytes to sign.
pub fn signing_input(kid: &str, claims: &Claims) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(&claims)
    )
}

/// The whole JWT: the signing input and its signature.
pub fn finish(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", base64url(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::scope::Grants;

    const JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn the_signing_key_parses_and_publishes_only_its_public_half() {
        let key = SigningKey::parse(JWK).expect("valid");
        assert_eq!(key.public.x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        let private: serde_json::Value = serde_json::from_str(&key.private_jwk).expect("JSON");
        assert_eq!(
            private,
            serde_json::from_str::<serde_json::Value>(JWK).expect("JSON")
        );
        assert_eq!(key.public.kid.len(), 16);
        let jwks = serde_json::to_string(&Jwks::new(Some(&key), &[])).expect("json");
        assert!(
            !jwks.contains("nWGxne"),
            "the private part is never published"
        );
        assert!(jwks.contains(r#""use":"sig""#) && jwks.contains(r#""alg":"EdDSA""#));
        for bad in ["", "{}", r#"{"kty":"RSA"}"#, &JWK.replace("OKP", "EC")] {
            assert!(SigningKey::parse(bad).is_err(), "{bad}");
        }
        let err = SigningKey::parse("{}").expect_err("invalid");
        assert!(!err.details.contains("nWGxne"));
    }

    #[test]
    fn claims_name_the_key_its_organization_and_scopes() {
        let grants = Grants::from_json(
            &serde_json::json!({"opportunities": ["write"], "accounts": ["read"]}),
        )
        .expect("valid");
        assert_eq!(grants.scope_string(), "accounts:read opportunities:write");
        let list = Grants::from_json(&serde_json::json!(["write", "read"])).expect("valid");
        assert_eq!(list.scope_string(), "read write");
    }

    #[test]
    fn the_public_url_is_an_origin_and_nothing_else() {
        for (text, parsed) in [
            ("https://gateway.example.com", "https://gateway.example.com"),
            (
                "https://gateway.example.com/",
                "https://gateway.example.com",
            ),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
            ("http://[::1]:8787", "http://[::1]:8787"),
            (" http://localhost ", "http://localhost"),
        ] {
            assert_eq!(parse_public_url(text).as_deref(), Ok(parsed), "{text}");
        }
        for bad in [
            "",
            "gateway.example.com",
            "ftp://gateway.example.com",
            "https://",
            "https://gateway.example.com/path",
            "https://gateway.example.com?x",
            "https://gateway.example.com#x",
            "https://user@gateway.example.com",
            "https://gateway.example.com:0",
            "https://gateway.example.com:99999",
            "https://gateway.example.com:",
            "https://:8787",
            "https://gate way.example.com",
        ] {
            let err = parse_public_url(bad).expect_err(bad);
            assert_eq!(err.status, 503, "{bad}");
            assert!(err.details.contains("PUBLIC_URL"));
        }
        assert_eq!(
            parse_public_url(DEFAULT_PUBLIC_URL).as_deref(),
            Ok(DEFAULT_PUBLIC_URL)
        );
    }

    #[test]
    fn an_app_is_its_grant_never_the_key_that_approved_it() {
        use crate::check::protocol::Admitted;
        use crate::check::protocol::AppGrant;
        use crate::credentials::key::KeyType;
        use crate::ids::{Actor, OrgId};
        use crate::oauth::protocol::{ClientId, GrantId};
        use crate::policy::ratelimit::{Status, WindowStatus};
        let approver = crate::credentials::key::KeyId::parse("key_0123456789abcdef").expect("id");
        let app = AppGrant {
            client_id: ClientId::generate(OrgId::DEFAULT, &[3; 16]),
            grant_id: GrantId::generate(&[4; 32]),
            approved_by: crate::ids::Approver::Key(approver),
        };
        let window = WindowStatus {
            limit: 1,
            remaining: 1,
            reset_ms: 0,
        };
        let mut admitted = Admitted {
            actor: Actor::Key { key_id: approver },
            organization_id: OrgId::DEFAULT,
            key_type: KeyType::Live,
            grants: Grants::from_json(&serde_json::json!(["read"])).expect("valid"),
            status: Status {
                hour: window,
                day: None,
                burst: window,
            },
            at_ms: 0,
            app: None,
        };
        let key = Claims::new(
            crate::ids::Approver::Key(approver),
            &admitted,
            "https://gw",
            "https://api",
            0,
        );
        assert_eq!(key.sub, "key_0123456789abcdef");
        assert_eq!(key.approved_by, None);
        admitted.app = Some(app);
        let token = Claims::new(
            crate::ids::Approver::Key(approver),
            &admitted,
            "https://gw",
            "https://api",
            0,
        );
        assert_eq!(token.sub, app.grant_id.to_string());
        assert_eq!(token.client_id, Some(app.client_id.to_string()));
        assert_eq!(token.approved_by.as_deref(), Some("key_0123456789abcdef"));
        assert_ne!(token.reuse_key(), key.reuse_key());
    }

    #[test]
    fn reuse_stops_a_minute_before_expiry() {
        assert!(reusable(1_000_300, 1_000_000_000));
        assert!(reusable(1_000_060, 1_000_000_999));
        assert!(!reusable(1_000_059, 1_000_000_000));
    }

    #[test]
    fn the_token_has_three_parts_and_the_kid() {
        let claims = Claims {
            iss: "https://gw".into(),
            aud: "https://api".into(),
            sub: "key_0123456789abcdef".into(),
            org_id: "org_000000000default".into(),
            key_type: "live".into(),
            scope: "read".into(),
            iat: 10,
            exp: 310,
            client_id: None,
            grant_id: None,
            approved_by: None,
        };
        let input = signing_input("k1", &claims);
        let token = finish(&input, &[1, 2, 3]);
        assert_eq!(token.split('.').count(), 3);
        assert!(input.starts_with(&base64url(br#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#)));
    }
}
