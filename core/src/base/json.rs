//! Reading a request's JSON body with every member name given once, at any depth.
//!
//! `serde_json::Value` keeps the last of two members with one name
//! (`{"scopes":["read"],"scopes":["admin"]}` reads as admin), while another parser, a
//! log or a person reading the body may take the first. Every body the API reads goes
//! through [`parse`], which refuses such a body naming the member.

use crate::base::text::printable;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `body` as JSON, refusing any object that names a member twice. A duplicate is
/// a data error ([`serde_json::Error::is_data`]) whose message names the member.
pub(crate) fn parse(body: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = Strict.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// The message of a parse error: a duplicate's names the member (`Member 'scopes' is
/// given more than once`), a syntax error says the body is not JSON.
pub(crate) fn error_details(error: &serde_json::Error) -> String {
    if error.is_data() {
        error.to_string()
    } else {
        format!("The body is not valid JSON: {error}")
    }
}

/// A `Value`, built as serde_json builds one, but refusing duplicate member names.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "Member '{}' is given more than once; send each member once",
                    printable(&name)
                )));
            }
            let value = map.next_value_seed(Strict)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(text: &str, member: &str) {
        let error = parse(text.as_bytes()).expect_err(text);
        assert!(error.is_data(), "{text}: {error}");
        let details = error_details(&error);
        assert!(
            details.contains(&format!("'{member}'")),
            "{text}: {details}"
        );
    }

    #[test]
    fn a_member_given_twice_is_refused_at_any_depth() {
        refused(r#"{"scopes":["read"],"scopes":["admin"]}"#, "scopes");
        refused(
            r#"{"scopes":{"accounts":["read"],"accounts":["admin"]}}"#,
            "accounts",
        );
        refused(r#"[{"a":1},{"b":{"c":[{"d":1,"d":1}]}}]"#, "d");
        // Escapes spell the same name.
        refused(r#"{"name":"a","n\u0061me":"b"}"#, "name");
        refused(r#"{"":1,"":2}"#, "");
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        for text in [
            r#"{"name":"k","scopes":{"accounts":["read"],"orders":["read"]}}"#,
            r#"[1,-2,3.5,true,null,"x",{"a":{"a":{"a":1}}}]"#,
            r#"{"a":1,"A":2}"#,
            " 18446744073709551615 ",
            "{}",
        ] {
            let expected: Value = serde_json::from_str(text).expect(text);
            assert_eq!(parse(text.as_bytes()).expect(text), expected, "{text}");
        }
        assert_eq!(
            parse(br#"{"n":1e3}"#).expect("number"),
            json!({"n": 1000.0})
        );
    }

    #[test]
    fn bad_json_is_a_syntax_error() {
        for text in ["", "{", r#"{"a":1} x"#, r#"{"a":1,}"#, "nul"] {
            let error = parse(text.as_bytes()).expect_err(text);
            assert!(!error.is_data(), "{text}");
            assert!(error_details(&error).starts_with("The body is not valid JSON"));
        }
        // Nesting past serde_json's limit is refused, not a stack overflow.
        let deep = "[".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
