//! The key-management API's request bodies: parsed and validated here, so every
//! refusal names its field and bound, and the worker never sees an invalid change.

use crate::base::network::IpBlock;
use crate::base::text::printable;
use crate::base::timestamp::parse_ms;
use crate::check::protocol::Admitted;
use crate::credentials::key::{ApiKey, KeyType};
use crate::ids::{Actor, OrgId};
use crate::keys::record::{CustomLimits, KeyRecord};
pub use crate::policy::body::MAX_NAME_LEN;
use crate::policy::body::{name, object};
use crate::policy::error::{ApiError, Field};
use crate::policy::plan::Plan;
use crate::policy::ratelimit::Policy;
use crate::policy::scope::{Grants, MissingScope, Scope};
use core::num::NonZeroU32;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Addresses and blocks one key's allow-list may hold.
pub const MAX_ALLOWED_IPS: usize = 32;
/// Longest grace `roll` accepts, in seconds (7 days).
pub const MAX_ROLL_GRACE_S: u64 = 604_800;
/// Grace `roll` gives when the body names none, in seconds (1 day).
pub const DEFAULT_ROLL_GRACE_S: u64 = 86_400;
/// Fresh ids tried when creating a key before giving up (a collision is 2^-95 a pair).
pub const CREATE_ATTEMPTS: usize = 3;
/// Keys a listing page holds by default, and at most.
pub const LIST_DEFAULT_LIMIT: u64 = 20;
/// The largest listing page.
pub const LIST_MAX_LIMIT: u64 = 100;

/// Why a management operation was refused by the key's guard; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManageRefusal {
    /// No key with that id, or one the caller may not see.
    NotFound,
    /// Creating: the id is taken; retry with a fresh one.
    IdTaken,
    /// Changing or rolling a revoked key.
    Revoked,
    /// Rolling an expired key.
    Expired,
    /// A field is out of bounds.
    Invalid {
        /// Names the field and its bound.
        details: String,
        /// The field (the error's `field`).
        #[serde(default)]
        field: Option<Field>,
    },
    /// The caller would hand out a scope it does not hold.
    CannotGrant(MissingScope),
    /// The change's `scopes` hold a scope the caller does not (the error names the field).
    CannotGrantScopes(MissingScope),
}

impl ManageRefusal {
    /// The catalogue's error.
    pub fn error(&self) -> ApiError {
        match self {
            ManageRefusal::NotFound => ApiError::not_found("No API key with that id"),
            ManageRefusal::IdTaken => ApiError::service_unavailable("Could not allocate a key id; retry"),
            ManageRefusal::Revoked => ApiError::conflict(
                "The key is revoked; revoked keys cannot be changed. Create a new key instead",
            ),
            ManageRefusal::Expired => ApiError::conflict(
                "The key has expired; give it a new expiresAt with PATCH first, or create a new key",
            ),
            ManageRefusal::Invalid { details, field } => match field {
                Some(field) => ApiError::invalid_field(*field, details.clone()),
                None => ApiError::invalid_request(details.clone()),
            },
            ManageRefusal::CannotGrant(missing) => ApiError::cannot_grant(missing),
            ManageRefusal::CannotGrantScopes(missing) => {
                ApiError::cannot_grant(missing).with_field(Field::Scopes)
            }
        }
    }
}

/// Who is asking the management API: its key's type and grants (the root key holds
/// every scope). A test-mode caller sees only test keys; no caller grants more than it
/// holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The admin key's type.
    pub key_type: KeyType,
    /// The admin key's grants.
    pub grants: Grants,
    /// The organization it manages; `None` for the root key, which manages them all.
    pub organization: Option<OrgId>,
    /// Who it is, for the audit log.
    pub actor: Actor,
}

impl Caller {
    /// The caller an admitted request is, for the management API.
    pub fn of(admitted: &Admitted) -> Caller {
        Caller {
            key_type: admitted.key_type,
            grants: admitted.grants.clone(),
            organization: match admitted.actor {
                Actor::Key { .. } | Actor::App { .. } | Actor::Person { .. } => {
                    Some(admitted.organization_id)
                }
                Actor::Root | Actor::SecretScanning => None,
            },
            actor: admitted.actor,
        }
    }

    /// The root key as a caller.
    pub fn root() -> Caller {
        Caller {
            key_type: KeyType::Live,
            grants: Grants::root(),
            organization: None,
            actor: Actor::Root,
        }
    }

    /// A secret-scanning partner: it may report a leak of any key, and nothing else (it
    /// holds no scope a key could be given).
    pub fn secret_scanner() -> Caller {
        Caller {
            key_type: KeyType::Live,
            grants: Grants::PerResource(
                [(
                    "secret-scanning".to_owned(),
                    [Scope::Read].into_iter().collect(),
                )]
                .into(),
            ),
            organization: None,
            actor: Actor::SecretScanning,
        }
    }

    /// Whether this is the root key.
    pub fn is_root(&self) -> bool {
        self.actor == Actor::Root
    }

    /// Whether this caller may see a key of `key_type` at all: to a test-mode admin a
    /// live key does not exist.
    pub fn sees(&self, key_type: KeyType) -> bool {
        !(self.key_type == KeyType::Test && key_type == KeyType::Live)
    }

    /// The only mode whose objects (keys, apps, grants, audit events) this caller may
    /// see: `Some(Test)` for a test-mode admin, `None` (every mode) otherwise.
    pub fn only_mode(&self) -> Option<KeyType> {
        (self.key_type == KeyType::Test).then_some(KeyType::Test)
    }

    /// Whether this caller may see anything of organization `org`: another
    /// organization's ids do not exist to it.
    pub fn sees_org(&self, org: OrgId) -> bool {
        self.organization.is_none_or(|mine| mine == org)
    }

    /// The organization a new key goes to: the caller's own, or for the root key the one
    /// named (the default when none is). Naming another organization is 404.
    pub fn organization_for_new_key(&self, named: Option<OrgId>) -> Result<OrgId, ApiError> {
        match (self.organization, named) {
            (None, named) => Ok(named.unwrap_or(OrgId::DEFAULT)),
            (Some(mine), None) => Ok(mine),
            (Some(mine), Some(named)) if named == mine => Ok(mine),
            (Some(_), Some(_)) => Err(ApiError::not_found("No organization with that id")),
        }
    }

    /// Refuses grants the caller does not hold itself (403 naming the scope).
    pub fn may_grant(&self, grants: &Grants) -> Result<(), ApiError> {
        self.grants
            .covers(grants)
            .map_err(|missing| ApiError::cannot_grant(&missing).with_field(Field::Scopes))
    }
}

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
    /// Which limits were given rather than defaulted.
    pub custom: CustomLimits,
    /// The addresses it may be used from (empty: any).
    pub allowed_ips: Vec<IpBlock>,
}

/// Reads `organizationId` from a create body (`None` when absent): the root key names the
/// organization a new key goes to.
pub fn organization_named(body: &[u8]) -> Result<Option<OrgId>, ApiError> {
    let Ok(Value::Object(map)) = crate::base::json::parse(body) else {
        return Ok(None);
    };
    match map.get("organizationId") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().and_then(OrgId::parse).map(Some).ok_or_else(|| {
            ApiError::invalid_field(
                Field::OrganizationId,
                "organizationId must have the form org_ followed by 16 letters or digits",
            )
        }),
    }
}

impl NewKey {
    /// The record of a new key: `key` was generated for it at `now_ms`.
    pub fn into_record(self, key: &ApiKey, now_ms: u64) -> KeyRecord {
        KeyRecord {
            id: key.id(),
            key_type: self.key_type,
            name: self.name,
            hash: key.hash_hex(),
            last4: key.last4().to_owned(),
            previous: None,
            grants: self.grants,
            policy: self.policy,
            created_ms: now_ms,
            expires_ms: self.expires_ms,
            revoked_ms: None,
            organization_id: OrgId::DEFAULT,
            custom: self.custom,
            leaked: None,
            revision: 0,
            allowed_ips: self.allowed_ips,
            rotated_ms: None,
            created_by: None,
        }
    }
}

/// A key's expiry later than its organization's `keyPolicy` allows: 400 naming
/// `expiresAt`.
pub fn beyond_key_policy(latest_ms: u64, days: Option<u16>) -> ManageRefusal {
    ManageRefusal::Invalid {
        details: format!(
            "expiresAt must be no later than {}: the organization's keyPolicy lets a key live at most {} days",
            crate::base::timestamp::format_ms(latest_ms),
            days.unwrap_or_default()
        ),
        field: Some(Field::ExpiresAt),
    }
}

/// A validated `PATCH /v1/api-keys/{id}` body; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPatch {
    name: Option<String>,
    grants: Option<Grants>,
    rate_limit: Option<NonZeroU32>,
    burst: Option<NonZeroU32>,
    /// `Some(None)`: `"expiresAt": null`, which must survive the trip to the key's guard
    /// (plain serde reads a `null` back as `None`, leaving the expiry as it was).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    expires_ms: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<Vec<IpBlock>>,
}

/// A member that is there, `null` or not: `Some` (its absence is the `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

fn grants(value: &Value) -> Result<Grants, ApiError> {
    Grants::from_json(value).map_err(|e| ApiError::invalid_field(Field::Scopes, e))
}

fn limit(value: &Value, field: Field, ceiling: u32, why: &str) -> Result<NonZeroU32, ApiError> {
    let n = value
        .as_u64()
        .and_then(|n| u32::try_from(n.min(u64::from(u32::MAX))).ok())
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            ApiError::invalid_field(
                field,
                format!("{} must be a whole number of at least 1", field.as_str()),
            )
        })?;
    within(n, field, ceiling, why)
}

fn within(n: NonZeroU32, field: Field, ceiling: u32, why: &str) -> Result<NonZeroU32, ApiError> {
    if n.get() > ceiling {
        return Err(ApiError::invalid_field(
            field,
            format!("{} must be at most {ceiling} ({why})", field.as_str()),
        ));
    }
    Ok(n)
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
        ApiError::invalid_field(
            Field::ExpiresAt,
            "expiresAt must be an RFC 3339 timestamp such as 2027-01-01T00:00:00Z, or null",
        )
    })?;
    if at <= now_ms {
        return Err(ApiError::invalid_field(
            Field::ExpiresAt,
            "expiresAt must be in the future",
        ));
    }
    Ok(Some(at))
}

/// Parses a create body. A test-mode admin creates only test keys, a key's type
/// defaults to the caller's, and its scopes must be ones the caller holds.
pub fn parse_create(
    body: &[u8],
    plan: Plan,
    caller: &Caller,
    now_ms: u64,
) -> Result<NewKey, ApiError> {
    let map = object(
        body,
        &[
            "name",
            "type",
            "scopes",
            "rateLimit",
            "burst",
            "expiresAt",
            "organizationId",
            "allowedIps",
        ],
    )?;
    let name = name(
        map.get("name")
            .ok_or_else(|| ApiError::invalid_field(Field::Name, "name is required"))?,
    )?;
    let key_type = match map.get("type") {
        None | Some(Value::Null) => caller.key_type,
        Some(Value::String(t)) if t == "test" => KeyType::Test,
        Some(Value::String(t)) if t == "live" => KeyType::Live,
        Some(_) => {
            return Err(ApiError::invalid_field(
                Field::Type,
                "type must be 'test' or 'live'",
            ))
        }
    };
    if !caller.sees(key_type) {
        return Err(ApiError::invalid_field(
            Field::Type,
            "type: a test-mode admin key can create only test keys; use a live admin key",
        ));
    }
    let grants = grants(
        map.get("scopes")
            .ok_or_else(|| ApiError::invalid_field(Field::Scopes, "scopes is required"))?,
    )?;
    caller.may_grant(&grants)?;
    let defaults = plan.default_policy(key_type);
    let (max_rate, max_burst) = plan.ceilings(key_type);
    let why = ceiling_reason(plan, key_type);
    let hourly = match map.get("rateLimit") {
        None | Some(Value::Null) => defaults.hourly,
        Some(v) => limit(v, Field::RateLimit, max_rate, &why)?,
    };
    let burst = match map.get("burst") {
        None | Some(Value::Null) => defaults.burst.min(hourly),
        Some(v) => limit(v, Field::Burst, max_burst, &why)?,
    };
    let expires_ms = match map.get("expiresAt") {
        None => None,
        Some(v) => expires(v, now_ms)?,
    };
    let given = |field: &str| map.get(field).is_some_and(|v| !v.is_null());
    let custom = CustomLimits {
        hourly: given("rateLimit"),
        burst: given("burst"),
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
        custom,
        allowed_ips: match map.get("allowedIps") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => allowed_ips(v)?,
        },
    })
}

/// An `allowedIps` list: 1 to [`MAX_ALLOWED_IPS`] addresses or CIDR blocks (`[]` or
/// `null`: any address), duplicates dropped.
fn allowed_ips(value: &Value) -> Result<Vec<IpBlock>, ApiError> {
    let invalid = |details: String| {
        ApiError::invalid_field(Field::AllowedIps, format!("allowedIps: {details}"))
    };
    let Some(items) = value.as_array() else {
        return Err(invalid(
            "must be a list of IP addresses or CIDR blocks".into(),
        ));
    };
    if items.len() > MAX_ALLOWED_IPS {
        return Err(invalid(format!(
            "at most {MAX_ALLOWED_IPS} addresses or blocks"
        )));
    }
    let mut blocks: Vec<IpBlock> = Vec::with_capacity(items.len());
    for item in items {
        let Some(text) = item.as_str() else {
            return Err(invalid("must contain only strings".into()));
        };
        let block = IpBlock::parse(&printable(text)).map_err(invalid)?;
        if !blocks.contains(&block) {
            blocks.push(block);
        }
    }
    Ok(blocks)
}

/// Parses a patch body. Limits are checked against the key's type in `apply`.
pub fn parse_patch(body: &[u8], now_ms: u64) -> Result<KeyPatch, ApiError> {
    const FIELDS: [&str; 6] = [
        "name",
        "scopes",
        "rateLimit",
        "burst",
        "expiresAt",
        "allowedIps",
    ];
    let map = object(body, &FIELDS)?;
    if map.is_empty() {
        return Err(ApiError::invalid_request(format!(
            "The body must change at least one of {}",
            FIELDS.join(", ")
        )));
    }
    let positive = |field: Field| -> Result<Option<NonZeroU32>, ApiError> {
        map.get(field.as_str())
            .map(|v| limit(v, field, u32::MAX, "the largest number accepted"))
            .transpose()
    };
    Ok(KeyPatch {
        name: map.get("name").map(name).transpose()?,
        grants: map.get("scopes").map(grants).transpose()?,
        rate_limit: positive(Field::RateLimit)?,
        burst: positive(Field::Burst)?,
        expires_ms: map
            .get("expiresAt")
            .map(|v| expires(v, now_ms))
            .transpose()?,
        allowed_ips: match map.get("allowedIps") {
            None => None,
            Some(Value::Null) => Some(Vec::new()),
            Some(v) => Some(allowed_ips(v)?),
        },
    })
}

impl KeyPatch {
    /// Whether it sets `expiresAt` (to a date or to none).
    pub fn sets_expiry(&self) -> bool {
        self.expires_ms.is_some()
    }

    /// Applies the patch to a record, checking limits against the plan for its type and
    /// new scopes against what `caller` holds.
    pub fn apply(
        &self,
        record: &mut KeyRecord,
        plan: Plan,
        caller: &Caller,
    ) -> Result<(), ManageRefusal> {
        let (max_rate, max_burst) = plan.ceilings(record.key_type);
        let why = ceiling_reason(plan, record.key_type);
        let invalid = |e: ApiError| ManageRefusal::Invalid {
            field: e.field,
            details: e.details,
        };
        if let Some(n) = self.rate_limit {
            within(n, Field::RateLimit, max_rate, &why).map_err(invalid)?;
        }
        if let Some(n) = self.burst {
            within(n, Field::Burst, max_burst, &why).map_err(invalid)?;
        }
        if let Some(grants) = &self.grants {
            caller
                .grants
                .covers(grants)
                .map_err(ManageRefusal::CannotGrantScopes)?;
        }
        if let Some(list) = &self.allowed_ips {
            // A caller short of full admin may only narrow a list: every new block inside
            // one it replaces, and never none (which is any address).
            let narrows = !record.allowed_ips.is_empty()
                && !list.is_empty()
                && list
                    .iter()
                    .all(|new| record.allowed_ips.iter().any(|old| old.covers(new)));
            let full_admin = caller.grants.covers(&Grants::root()).is_ok();
            if !full_admin && !record.allowed_ips.is_empty() && !narrows {
                return Err(ManageRefusal::Invalid {
                    details: "allowedIps: a key without full admin may only narrow an allow-list"
                        .into(),
                    field: Some(Field::AllowedIps),
                });
            }
        }
        if let Some(name) = &self.name {
            record.name = name.clone();
        }
        if let Some(grants) = &self.grants {
            record.grants = grants.clone();
        }
        if let Some(n) = self.rate_limit {
            record.policy.hourly = n;
            record.custom.hourly = true;
        }
        if let Some(n) = self.burst {
            record.policy.burst = n;
            record.custom.burst = true;
        }
        if let Some(expires_ms) = self.expires_ms {
            record.expires_ms = expires_ms;
        }
        if let Some(list) = &self.allowed_ips {
            record.allowed_ips = list.clone();
        }
        Ok(())
    }
}

/// A listing request: page size and where to continue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Keys on the page, 1 to [`LIST_MAX_LIMIT`].
    pub limit: u64,
    /// The previous page's `nextCursor`.
    pub cursor: Option<String>,
}

/// A directory (KV) listing's cursor as the API hands it out: KV's own cursor behind a
/// checksum, so that a cursor no page gave out is refused instead of read as a new
/// listing's start (KV answers an unknown cursor with an empty or a first page).
pub fn seal_directory_cursor(kv_cursor: &str) -> String {
    let checksum = crate::base::base62::checksum(kv_cursor.as_bytes());
    let mut sealed = String::with_capacity(checksum.len() + kv_cursor.len());
    sealed.extend(checksum.iter().map(|&b| char::from(b)));
    sealed.push_str(kv_cursor);
    sealed
}

impl ListQuery {
    /// The KV cursor inside a sealed directory cursor ([`seal_directory_cursor`]); 400
    /// naming `cursor` for one no page gave out.
    pub fn directory_cursor(&self) -> Result<Option<String>, ApiError> {
        let Some(sealed) = &self.cursor else {
            return Ok(None);
        };
        let (checksum, kv_cursor) = sealed
            .split_at_checked(6)
            .ok_or_else(ApiError::unknown_cursor)?;
        let expected = crate::base::base62::checksum(kv_cursor.as_bytes());
        if kv_cursor.is_empty() || checksum.as_bytes() != expected {
            return Err(ApiError::unknown_cursor());
        }
        Ok(Some(kv_cursor.to_owned()))
    }

    /// Parses decoded query pairs that may also name an organization
    /// (`organizationId`, for the root key's listings).
    pub fn parse_scoped<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(ListQuery, Option<OrgId>), ApiError> {
        let mut organization = None;
        let mut rest = Vec::new();
        for (name, value) in pairs {
            if name == "organizationId" {
                organization = Some(OrgId::parse(value).ok_or_else(|| {
                    ApiError::invalid_field(
                        Field::OrganizationId,
                        "organizationId must have the form org_ followed by 16 letters or digits",
                    )
                })?);
            } else {
                rest.push((name, value));
            }
        }
        Ok((ListQuery::parse(rest)?, organization))
    }

    /// Parses decoded query pairs; unknown parameters are refused by name.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListQuery, ApiError> {
        let mut query = ListQuery {
            limit: LIST_DEFAULT_LIMIT,
            cursor: None,
        };
        for (name, value) in pairs {
            match name {
                "limit" => {
                    query.limit = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=LIST_MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid_field(
                                Field::Limit,
                                format!("limit must be a whole number from 1 to {LIST_MAX_LIMIT}"),
                            )
                        })?;
                }
                "cursor" => query.cursor = (!value.is_empty()).then(|| value.to_owned()),
                other => {
                    return Err(ApiError::invalid_request(format!(
                        "Unknown query parameter '{}'; allowed are limit and cursor",
                        printable(other)
                    )))
                }
            }
        }
        Ok(query)
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
                ApiError::invalid_field(
                    Field::ExpiresIn,
                    format!(
                        "expiresIn must be a whole number of seconds from 0 to {MAX_ROLL_GRACE_S}"
                    ),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_769_076_000_000;

    fn root(key_type: KeyType) -> Caller {
        Caller {
            key_type,
            ..Caller::root()
        }
    }

    fn create(body: &str) -> Result<NewKey, ApiError> {
        parse_create(body.as_bytes(), Plan::Starter, &root(KeyType::Live), NOW)
    }

    fn refused(body: &str, needle: &str) {
        let err = create(body).expect_err(body);
        assert_eq!(err.status, 400, "{body}");
        assert!(err.details.contains(needle), "{body}: {}", err.details);
    }

    #[test]
    fn directory_cursors_are_read_back_and_anything_else_is_refused() {
        let query = |cursor: &str| ListQuery {
            limit: 10,
            cursor: Some(cursor.to_owned()),
        };
        let sealed = seal_directory_cursor("AAAAAN9kcm9wc3RhcnQ");
        assert_eq!(
            query(&sealed).directory_cursor(),
            Ok(Some("AAAAAN9kcm9wc3RhcnQ".to_owned()))
        );
        for bad in [
            "garbage",
            "…",
            "",
            "abc",
            &sealed[..sealed.len() - 1],
            &format!("x{}", &sealed[1..]),
        ] {
            let err = query(bad).directory_cursor().expect_err(bad);
            assert_eq!(err.status, 400);
            assert_eq!(err.field, Some(Field::Cursor), "{bad}");
        }
        let first = ListQuery {
            limit: 10,
            cursor: None,
        };
        assert_eq!(first.directory_cursor(), Ok(None));
    }

    #[test]
    fn a_patch_clearing_the_expiry_survives_the_trip_to_the_guard() {
        let round_trip = |body: &str| {
            let patch = parse_patch(body.as_bytes(), NOW).expect("valid");
            let text = serde_json::to_string(&patch).expect("json");
            let back: KeyPatch = serde_json::from_str(&text).expect("json");
            assert_eq!(back, patch, "{text}");
            back
        };
        assert_eq!(round_trip(r#"{"expiresAt":null}"#).expires_ms, Some(None));
        assert!(round_trip(r#"{"expiresAt":null}"#).sets_expiry());
        assert!(!round_trip(r#"{"name":"x"}"#).sets_expiry());
        assert_eq!(
            round_trip(r#"{"expiresAt":"2099-01-01T00:00:00Z"}"#).expires_ms,
            Some(parse_ms("2099-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn spec_example_creates_a_live_key_with_plan_defaults() {
        let key = create(r#"{"name":"Production Key","scopes":["read","write"],"rateLimit":1000,"expiresAt":null}"#)
            .expect("valid");
        assert_eq!(key.key_type, KeyType::Live);
        assert_eq!(
            key.policy,
            Policy::new(1000, Some(10_000), 50).expect("valid")
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
        // The last of two members would win: refused, naming it, at any depth.
        refused(
            r#"{"name":"a","scopes":["read"],"scopes":["admin"]}"#,
            "Member 'scopes' is given more than once",
        );
        refused(
            r#"{"name":"a","scopes":{"x":["read"],"x":["admin"]}}"#,
            "Member 'x' is given more than once",
        );
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

    /// The `field` member of an error's JSON body.
    fn field_of(err: &ApiError) -> Option<String> {
        let body: Value = serde_json::from_str(&err.body()).expect("json");
        body["error"]["field"].as_str().map(str::to_owned)
    }

    #[test]
    fn every_field_error_names_its_field_in_the_body() {
        for (body, field) in [
            (r#"{"scopes":["read"]}"#, "name"),
            (r#"{"name":"","scopes":["read"]}"#, "name"),
            (r#"{"name":7,"scopes":["read"]}"#, "name"),
            (r#"{"name":"a\u202eb","scopes":["read"]}"#, "name"),
            (r#"{"name":"a"}"#, "scopes"),
            (r#"{"name":"a","scopes":["root"]}"#, "scopes"),
            (r#"{"name":"a","scopes":{"x":"read"}}"#, "scopes"),
            (
                r#"{"name":"a","scopes":["read"],"rateLimit":1001}"#,
                "rateLimit",
            ),
            (
                r#"{"name":"a","scopes":["read"],"rateLimit":"10"}"#,
                "rateLimit",
            ),
            (r#"{"name":"a","scopes":["read"],"burst":51}"#, "burst"),
            (
                r#"{"name":"a","scopes":["read"],"expiresAt":"soon"}"#,
                "expiresAt",
            ),
            (
                r#"{"name":"a","scopes":["read"],"expiresAt":"2020-01-01T00:00:00Z"}"#,
                "expiresAt",
            ),
            (r#"{"name":"a","scopes":["read"],"type":"prod"}"#, "type"),
        ] {
            let err = create(body).expect_err(body);
            assert_eq!(err.status, 400, "{body}");
            assert_eq!(
                field_of(&err).as_deref(),
                Some(field),
                "{body}: {}",
                err.body()
            );
        }
        // Errors about the body as a whole, or a member the API does not have, name no
        // field: `field` names only the API's own.
        for body in [
            r#"["name"]"#,
            r#"{"name":"#,
            r#"{"name":"a","scopes":["read"],"owner":"me"}"#,
        ] {
            assert_eq!(field_of(&create(body).expect_err(body)), None, "{body}");
        }
        let test_admin = parse_create(
            br#"{"name":"a","type":"live","scopes":["read"]}"#,
            Plan::Starter,
            &root(KeyType::Test),
            NOW,
        )
        .expect_err("refused");
        assert_eq!(field_of(&test_admin).as_deref(), Some("type"));
        // A scope the caller does not hold: 403, at the scopes it asked for.
        let narrow = Caller {
            grants: Grants::from_json(&serde_json::json!({"api-keys": ["admin"]})).expect("valid"),
            ..Caller::root()
        };
        let err = parse_create(
            br#"{"name":"a","scopes":["read"]}"#,
            Plan::Starter,
            &narrow,
            NOW,
        )
        .expect_err("cannot grant");
        assert_eq!(
            (err.status, field_of(&err).as_deref()),
            (403, Some("scopes"))
        );
        assert_eq!(
            field_of(&parse_patch(br#"{"expiresAt":"soon"}"#, NOW).expect_err("bad")).as_deref(),
            Some("expiresAt")
        );
        assert_eq!(field_of(&parse_patch(b"{}", NOW).expect_err("empty")), None);
        assert_eq!(
            field_of(&parse_roll(br#"{"expiresIn":-1}"#).expect_err("bad")).as_deref(),
            Some("expiresIn")
        );
        let q = |pairs: &[(&'static str, &'static str)]| {
            ListQuery::parse_scoped(pairs.iter().copied()).expect_err("bad")
        };
        assert_eq!(field_of(&q(&[("limit", "0")])).as_deref(), Some("limit"));
        assert_eq!(field_of(&q(&[("page", "2")])), None);
        assert_eq!(
            field_of(&q(&[("organizationId", "acme")])).as_deref(),
            Some("organizationId")
        );
    }

    #[test]
    fn a_patch_refused_by_the_guard_names_its_field() {
        let key = ApiKey::generate(KeyType::Test, &[1u8; 96]);
        let mut rec = KeyRecord::root(&key, Plan::Starter);
        let over = parse_patch(br#"{"rateLimit":500}"#, NOW).expect("parses");
        let refusal = over
            .apply(&mut rec, Plan::Starter, &root(KeyType::Live))
            .expect_err("over the test ceiling");
        // As it crosses from the key's guard to the worker.
        let refusal: ManageRefusal =
            serde_json::from_str(&serde_json::to_string(&refusal).expect("json")).expect("json");
        let err = refusal.error();
        assert_eq!(
            (err.status, field_of(&err).as_deref()),
            (400, Some("rateLimit"))
        );
        let narrow = Caller {
            grants: Grants::from_json(
                &serde_json::json!({"api-keys": ["admin"], "accounts": ["read"]}),
            )
            .expect("valid"),
            ..Caller::root()
        };
        let wider = parse_patch(br#"{"scopes":{"accounts":["write"]}}"#, NOW).expect("parses");
        let err = wider
            .apply(&mut rec, Plan::Starter, &narrow)
            .expect_err("cannot grant")
            .error();
        assert_eq!(
            (err.status, field_of(&err).as_deref()),
            (403, Some("scopes"))
        );
        // A refusal from before the field reads as one about no field.
        let old: ManageRefusal =
            serde_json::from_str(r#"{"Invalid":{"details":"x"}}"#).expect("json");
        assert_eq!(field_of(&old.error()), None);
    }

    #[test]
    fn test_admin_creates_only_test_keys() {
        let key = parse_create(
            br#"{"name":"a","scopes":["read"]}"#,
            Plan::Starter,
            &root(KeyType::Test),
            NOW,
        )
        .expect("valid");
        assert_eq!(key.key_type, KeyType::Test);
        assert_eq!(key.policy.hourly.get(), 100);
        let err = parse_create(
            br#"{"name":"a","type":"live","scopes":["read"]}"#,
            Plan::Starter,
            &root(KeyType::Test),
            NOW,
        )
        .expect_err("refused");
        assert!(err.details.starts_with("type:"));
    }

    #[test]
    fn patch_checks_ceilings_for_the_keys_type() {
        let patch = parse_patch(br#"{"rateLimit":500}"#, NOW).expect("parses");
        let key = crate::credentials::key::ApiKey::generate(KeyType::Test, &[1u8; 96]);
        let mut rec = KeyRecord::root(&key, Plan::Starter);
        let caller = root(KeyType::Live);
        let err = patch
            .apply(&mut rec, Plan::Starter, &caller)
            .expect_err("over test ceiling");
        assert!(err.error().details.contains("at most 100"));
        let narrow = parse_patch(br#"{"scopes":["read"]}"#, NOW).expect("parses");
        narrow
            .apply(&mut rec, Plan::Starter, &caller)
            .expect("applies");
        assert_eq!(rec.grants.to_json(), serde_json::json!(["read"]));
        assert!(parse_patch(b"{}", NOW).is_err());
    }

    #[test]
    fn no_caller_grants_more_than_it_holds() {
        let narrow = Caller {
            grants: Grants::from_json(&serde_json::json!({"api-keys": ["admin"]})).expect("valid"),
            ..Caller::root()
        };
        let err = parse_create(
            br#"{"name":"a","scopes":["read","write","delete","admin"]}"#,
            Plan::Starter,
            &narrow,
            NOW,
        )
        .expect_err("escalation");
        assert_eq!(err.status, 403);
        assert!(
            err.details.contains("cannot grant 'read'"),
            "{}",
            err.details
        );
        assert!(parse_create(
            br#"{"name":"a","scopes":{"api-keys":["read"]}}"#,
            Plan::Starter,
            &narrow,
            NOW
        )
        .is_ok());
        let key = crate::credentials::key::ApiKey::generate(KeyType::Live, &[1u8; 96]);
        let mut rec = KeyRecord::root(&key, Plan::Starter);
        rec.grants = narrow.grants.clone();
        let widen = parse_patch(br#"{"scopes":["admin"]}"#, NOW).expect("parses");
        let err = widen
            .apply(&mut rec, Plan::Starter, &narrow)
            .expect_err("escalation");
        assert_eq!(err.error().status, 403);
        assert_eq!(rec.grants, narrow.grants, "a refused patch changes nothing");
    }

    #[test]
    fn list_query() {
        let q = |pairs: &[(&'static str, &'static str)]| ListQuery::parse(pairs.iter().copied());
        assert_eq!(
            q(&[]),
            Ok(ListQuery {
                limit: 20,
                cursor: None
            })
        );
        assert_eq!(
            q(&[("limit", "100"), ("cursor", "abc")]),
            Ok(ListQuery {
                limit: 100,
                cursor: Some("abc".into())
            })
        );
        assert_eq!(q(&[("limit", "0")]).map_err(|e| e.status), Err(400));
        assert_eq!(q(&[("limit", "101")]).map_err(|e| e.status), Err(400));
        assert!(q(&[("sort", "x")])
            .expect_err("unknown")
            .details
            .contains("'sort'"));
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
