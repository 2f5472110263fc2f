//! The key-management API's request bodies: parsed and validated here, so every
//! refusal names its field and bound, and the worker never sees an invalid change.

use crate::error::{printable, ApiError};
use crate::key::KeyType;
use crate::plan::Plan;
use crate::ratelimit::Policy;
use crate::record::{KeyRecord, PreviousSecret};
use crate::scope::Grants;
use crate::timestamp::parse_ms;
use serde_json::{Map, Value};

/// Longest key name accepted, in chars.
pub const MAX_NAME_LEN: usize = 128;
/// Longest grace `roll` accepts, in seconds (7 days).
pub const MAX_ROLL_GRACE_S: u64 = 604_800;
/// Grace `roll` gives when the body names none, in seconds (1 day).
pub const DEFAULT_ROLL_GRACE_S: u64 = 86_400;

/// A validated `POST /v1/api-keys` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    /// Label.
    pub name: String,
    /// Test or live.
    pub key_type: KeyType,
    /// What it may do.
    pub grants: Grants,
    /// Its limits.
    pub policy: Policy,
    /// When it stops working.
    pub expires_ms: Option<u64>,
}

/// A validated `PATCH /v1/api-keys/{id}` body; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPatch {
    name: Option<String>,
    grants: Option<Grants>,
    rate_limit: Option<u32>,
    burst: Option<u32>,
    expires_ms: Option<Option<u64>>,
}

fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid_request(format!("The body is not valid JSON: {e}")))?
    };
    let Value::Object(map) = value else {
        return Err(ApiError::invalid_request("The body must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid_request(format!(
            "Unknown field '{}'; allowed fields are {}",
            printable(unknown),
            allowed.join(", ")
        )));
    }
    Ok(map)
}

fn name(value: &Value) -> Result<String, ApiError> {
    let name = value
        .as_str()
        .ok_or_else(|| ApiError::invalid_request("name must be a string"))?;
    let len = name.chars().count();
    if name.trim().is_empty() || len > MAX_NAME_LEN {
        return Err(ApiError::invalid_request(format!(
            "name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid_request(
            "name must not contain control characters (such as CR or LF)",
        ));
    }
    Ok(name.to_owned())
}

fn grants(value: &Value) -> Result<Grants, ApiError> {
    Grants::from_json(value).map_err(ApiError::invalid_request)
}

fn limit(value: &Value, field: &str, ceiling: u32, why: &str) -> Result<u32, ApiError> {
    let n = value.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
        ApiError::invalid_request(format!("{field} must be a whole number of at least 1"))
    })?;
    if n > u64::from(ceiling) {
        return Err(ApiError::invalid_request(format!(
            "{field} must be at most {ceiling} ({why})"
        )));
    }
    Ok(n as u32)
}

fn ceiling_reason(plan: Plan, key_type: KeyType) -> String {
    match key_type {
        KeyType::Test => "the limit for test keys".into(),
        KeyType::Live => format!("the {} plan's ceiling", plan.as_str()),
    }
}

fn expires(value: &Value, now_ms: u64) -> Result<Option<u64>, ApiError> {
    if value.is_null() {
        return Ok(None);
    }
    let at = value.as_str().and_then(parse_ms).ok_or_else(|| {
        ApiError::invalid_request(
            "expiresAt must be an RFC 3339 timestamp such as 2027-01-01T00:00:00Z, or null",
        )
    })?;
    if at <= now_ms {
        return Err(ApiError::invalid_request("expiresAt must be in the future"));
    }
    Ok(Some(at))
}

/// Parses a create body. `caller` is the admin key's type: a test-mode admin creates
/// only test keys, and a key's type defaults to the caller's.
pub fn parse_create(
    body: &[u8],
    plan: Plan,
    caller: KeyType,
    now_ms: u64,
) -> Result<NewKey, ApiError> {
    let map = object(
        body,
        &["name", "type", "scopes", "rateLimit", "burst", "expiresAt"],
    )?;
    let name = name(
        map.get("name")
            .ok_or_else(|| ApiError::invalid_request("name is required"))?,
    )?;
    let key_type = match map.get("type") {
        None | Some(Value::Null) => caller,
        Some(Value::String(t)) if t == "test" => KeyType::Test,
        Some(Value::String(t)) if t == "live" => KeyType::Live,
        Some(_) => return Err(ApiError::invalid_request("type must be 'test' or 'live'")),
    };
    if caller == KeyType::Test && key_type == KeyType::Live {
        return Err(ApiError::invalid_request(
            "type: a test-mode admin key can create only test keys; use a live admin key",
        ));
    }
    let grants = grants(
        map.get("scopes")
            .ok_or_else(|| ApiError::invalid_request("scopes is required"))?,
    )?;
    let defaults = plan.default_policy(key_type);
    let (max_rate, max_burst) = plan.ceilings(key_type);
    let why = ceiling_reason(plan, key_type);
    let hourly = match map.get("rateLimit") {
        None | Some(Value::Null) => defaults.hourly,
        Some(v) => limit(v, "rateLimit", max_rate, &why)?,
    };
    let burst = match map.get("burst") {
        None | Some(Value::Null) => defaults.burst.min(hourly),
        Some(v) => limit(v, "burst", max_burst, &why)?,
    };
    let expires_ms = match map.get("expiresAt") {
        None => None,
        Some(v) => expires(v, now_ms)?,
    };
    Ok(NewKey {
        name,
        key_type,
        grants,
        policy: Policy {
            hourly,
            daily: defaults.daily,
            burst,
        },
        expires_ms,
    })
}

/// Parses a patch body. Limits are checked against the key's type in `apply`.
pub fn parse_patch(body: &[u8], now_ms: u64) -> Result<KeyPatch, ApiError> {
    const FIELDS: [&str; 5] = ["name", "scopes", "rateLimit", "burst", "expiresAt"];
    let map = object(body, &FIELDS)?;
    if map.is_empty() {
        return Err(ApiError::invalid_request(format!(
            "The body must change at least one of {}",
            FIELDS.join(", ")
        )));
    }
    let positive = |field: &str| -> Result<Option<u32>, ApiError> {
        map.get(field)
            .map(|v| limit(v, field, u32::MAX, "the largest number accepted"))
            .transpose()
    };
    Ok(KeyPatch {
        name: map.get("name").map(name).transpose()?,
        grants: map.get("scopes").map(grants).transpose()?,
        rate_limit: positive("rateLimit")?,
        burst: positive("burst")?,
        expires_ms: map
            .get("expiresAt")
            .map(|v| expires(v, now_ms))
            .transpose()?,
    })
}

impl KeyPatch {
    /// Applies the patch to a record, checking limits against the plan for its type.
    pub fn apply(&self, record: &mut KeyRecord, plan: Plan) -> Result<(), ApiError> {
        let (max_rate, max_burst) = plan.ceilings(record.key_type);
        let why = ceiling_reason(plan, record.key_type);
        if let Some(n) = self.rate_limit {
            limit(&Value::from(n), "rateLimit", max_rate, &why)?;
        }
        if let Some(n) = self.burst {
            limit(&Value::from(n), "burst", max_burst, &why)?;
        }
        if let Some(name) = &self.name {
            record.name = name.clone();
        }
        if let Some(grants) = &self.grants {
            record.grants = grants.clone();
        }
        if let Some(n) = self.rate_limit {
            record.policy.hourly = n;
        }
        if let Some(n) = self.burst {
            record.policy.burst = n;
        }
        if let Some(expires_ms) = self.expires_ms {
            record.expires_ms = expires_ms;
        }
        Ok(())
    }
}

/// Parses a roll body (`{"expiresIn": seconds}`) into the old secret's grace, in seconds.
pub fn parse_roll(body: &[u8]) -> Result<u64, ApiError> {
    let map = object(body, &["expiresIn"])?;
    match map.get("expiresIn") {
        None | Some(Value::Null) => Ok(DEFAULT_ROLL_GRACE_S),
        Some(v) => v
            .as_u64()
            .filter(|s| *s <= MAX_ROLL_GRACE_S)
            .ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "expiresIn must be a whole number of seconds from 0 to {MAX_ROLL_GRACE_S}"
                ))
            }),
    }
}

/// Rolls a record to a new secret: the old one works until `grace_s` has passed.
pub fn roll(
    record: &mut KeyRecord,
    new_hash: String,
    new_last4: String,
    grace_s: u64,
    now_ms: u64,
) {
    let old_hash = core::mem::replace(&mut record.hash, new_hash);
    record.last4 = new_last4;
    record.previous = (grace_s > 0).then(|| PreviousSecret {
        hash: old_hash,
        expires_ms: now_ms + grace_s * 1000,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_769_076_000_000;

    fn create(body: &str) -> Result<NewKey, ApiError> {
        parse_create(body.as_bytes(), Plan::Starter, KeyType::Live, NOW)
    }

    fn refused(body: &str, needle: &str) {
        let err = create(body).expect_err(body);
        assert_eq!(err.status, 400, "{body}");
        assert!(err.details.contains(needle), "{body}: {}", err.details);
    }

    #[test]
    fn spec_example_creates_a_live_key_with_plan_defaults() {
        let key = create(r#"{"name":"Production Key","scopes":["read","write"],"rateLimit":1000,"expiresAt":null}"#)
            .expect("valid");
        assert_eq!(key.key_type, KeyType::Live);
        assert_eq!(
            key.policy,
            Policy {
                hourly: 1000,
                daily: Some(10_000),
                burst: 50
            }
        );
        assert_eq!(key.expires_ms, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        refused(r#"{"scopes":["read"]}"#, "name is required");
        refused(r#"{"name":"","scopes":["read"]}"#, "name must be 1 to 128");
        refused(
            &format!(r#"{{"name":"{}","scopes":["read"]}}"#, "x".repeat(129)),
            "name must be 1 to 128",
        );
        refused(
            r#"{"name":"a\r\nb","scopes":["read"]}"#,
            "control characters",
        );
        refused(r#"{"name":"a"}"#, "scopes is required");
        refused(r#"{"name":"a","scopes":["root"]}"#, "unknown scope 'root'");
        refused(
            r#"{"name":"a","scopes":["read"],"rateLimit":1001}"#,
            "rateLimit must be at most 1000 (the starter plan's ceiling)",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"rateLimit":0}"#,
            "rateLimit must be a whole number",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"rateLimit":"10"}"#,
            "rateLimit must be a whole number",
        );
        refused(
            r#"{"name":"a","type":"test","scopes":["read"],"rateLimit":101}"#,
            "at most 100 (the limit for test keys)",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"burst":51}"#,
            "burst must be at most 50",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"expiresAt":"2020-01-01T00:00:00Z"}"#,
            "expiresAt must be in the future",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"expiresAt":"soon"}"#,
            "expiresAt must be an RFC 3339",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"owner":"me"}"#,
            "Unknown field 'owner'",
        );
        refused(
            r#"{"name":"a","scopes":["read"],"type":"prod"}"#,
            "type must be",
        );
        refused(r#"["name"]"#, "JSON object");
        refused(r#"{"name":"#, "not valid JSON");
    }

    #[test]
    fn test_admin_creates_only_test_keys() {
        let key = parse_create(
            br#"{"name":"a","scopes":["read"]}"#,
            Plan::Starter,
            KeyType::Test,
            NOW,
        )
        .expect("valid");
        assert_eq!(key.key_type, KeyType::Test);
        assert_eq!(key.policy.hourly, 100);
        let err = parse_create(
            br#"{"name":"a","type":"live","scopes":["read"]}"#,
            Plan::Starter,
            KeyType::Test,
            NOW,
        )
        .expect_err("refused");
        assert!(err.details.starts_with("type:"));
    }

    #[test]
    fn patch_checks_ceilings_for_the_keys_type() {
        let patch = parse_patch(br#"{"rateLimit":500}"#, NOW).expect("parses");
        let key = crate::key::ApiKey::generate(KeyType::Test, &[1u8; 96]);
        let mut rec = KeyRecord::root(&key, Plan::Starter);
        let err = patch
            .apply(&mut rec, Plan::Starter)
            .expect_err("over test ceiling");
        assert!(err.details.contains("at most 100"));
        let narrow = parse_patch(br#"{"scopes":["read"]}"#, NOW).expect("parses");
        narrow.apply(&mut rec, Plan::Starter).expect("applies");
        assert_eq!(rec.grants.to_json(), serde_json::json!(["read"]));
        assert!(parse_patch(b"{}", NOW).is_err());
    }

    #[test]
    fn roll_grace_bounds() {
        assert_eq!(parse_roll(b""), Ok(DEFAULT_ROLL_GRACE_S));
        assert_eq!(parse_roll(br#"{"expiresIn":0}"#), Ok(0));
        assert_eq!(parse_roll(br#"{"expiresIn":604800}"#), Ok(604_800));
        assert!(parse_roll(br#"{"expiresIn":604801}"#).is_err());
        assert!(parse_roll(br#"{"expiresIn":-1}"#).is_err());
    }
}
