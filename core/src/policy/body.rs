//! Reading a JSON request body, one way for every resource: an object with only the
//! fields its endpoint names (a blank body is `{}`), and a name for people. Keys, apps and
//! organizations all read theirs here, so their limits and wording agree.

use crate::base::text::printable;
use crate::policy::error::{ApiError, Field};
use serde_json::{Map, Value};

/// Longest name accepted (a key, an app, an organization), in chars.
pub const MAX_NAME_LEN: usize = 128;

/// A JSON object body with only `allowed` fields (blank: `{}`); the error names the field.
pub fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        crate::base::json::parse(body)
            .map_err(|e| ApiError::invalid_request(crate::base::json::error_details(&e)))?
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

/// A name for people: 1 to [`MAX_NAME_LEN`] chars, nothing that would make it read as
/// another (`text::check_label`).
pub fn name(value: &Value) -> Result<String, ApiError> {
    let name = value
        .as_str()
        .ok_or_else(|| ApiError::invalid_field(Field::Name, "name must be a string"))?;
    let len = name.chars().count();
    if name.trim().is_empty() || len > MAX_NAME_LEN {
        return Err(ApiError::invalid_field(
            Field::Name,
            format!("name must be 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    crate::base::text::check_label("name", name)
        .map_err(|e| ApiError::invalid_field(Field::Name, e))?;
    Ok(name.to_owned())
}
