//! The scope-map parser (`Grants::from_json`) and the authorization decision.
//!
//! Input: arbitrary bytes; those that are JSON are parsed as a `scopes` value.
//!
//! Properties:
//! - `Grants::from_json` never panics on any JSON value;
//! - a parsed `Grants` round-trips: `from_json(to_json(g)) == g`, and `to_json` is
//!   canonical (a second round trip gives the same JSON);
//! - serde's `Deserialize` for `Grants` agrees with `from_json`;
//! - every resource named in a map is canonical; `authorize` never panics and is deny
//!   by default: a resource not named in a map is refused, `api-keys` needs `admin`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopien_auth::base::path::is_canonical_resource;
use scopien_auth::policy::scope::{Grants, Requirement, Scope};
use scopien_auth::Method;
use serde_json::Value;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "get",
];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let parsed = Grants::from_json(&value);
    let via_serde = serde_json::from_value::<Grants>(value.clone());
    assert_eq!(
        parsed.is_ok(),
        via_serde.is_ok(),
        "serde and from_json disagree"
    );
    let Ok(grants) = parsed else {
        return;
    };
    assert_eq!(via_serde.ok().as_ref(), Some(&grants));

    let json = grants.to_json();
    let again = Grants::from_json(&json).expect("to_json output parses");
    assert_eq!(again, grants, "round trip changed the grants");
    assert_eq!(again.to_json(), json, "to_json is not canonical");
    let text = serde_json::to_string(&grants).expect("serialises");
    assert_eq!(
        serde_json::from_str::<Grants>(&text).ok().as_ref(),
        Some(&grants)
    );

    let named: Vec<String> = match &grants {
        Grants::Everywhere(set) => {
            assert!(!set.is_empty());
            Vec::new()
        }
        Grants::PerResource(map) => {
            assert!(!map.is_empty() && map.len() <= 64);
            for (resource, set) in map {
                assert!(is_canonical_resource(resource), "{resource:?}");
                assert!(!set.is_empty());
            }
            map.keys().cloned().collect()
        }
    };
    let mut resources = named;
    resources.extend(["api-keys", "not-named-anywhere-0", ""].map(String::from));
    for resource in &resources {
        for token in METHODS {
            let Ok(method) = Method::parse(token) else {
                continue;
            };
            let result = grants.authorize(&Requirement::for_request(&method, &[], resource));
            let needed = if resource == "api-keys" {
                Scope::Admin
            } else {
                Scope::for_method(&method)
            };
            let held: Vec<Scope> = match &grants {
                Grants::Everywhere(set) => set.iter().collect(),
                Grants::PerResource(map) => map
                    .get(resource)
                    .map(|s| s.iter().collect())
                    .unwrap_or_default(),
            };
            let allowed = held.contains(&needed) || held.contains(&Scope::Admin);
            assert_eq!(result.is_ok(), allowed, "{token} {resource} {json}");
            if let Err(missing) = result {
                assert_eq!(
                    (missing.scope, missing.resource.as_str()),
                    (needed, resource.as_str())
                );
            }
        }
    }
});
