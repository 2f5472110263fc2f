//! Scopes and the authorization decision: which scope a request needs, and whether a
//! key's grants hold it. Deny by default.

use std::collections::BTreeMap;

/// One permission. `admin` implies every other and alone opens `/v1/api-keys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// GET, HEAD, OPTIONS
    Read,
    /// POST, PUT, PATCH
    Write,
    /// DELETE
    Delete,
    /// Everything, including key management.
    Admin,
}

impl Scope {
    /// All scopes, in their canonical order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Delete, Scope::Admin];

    /// The scope's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Delete => "delete",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope name; exact, lower case.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope an HTTP method needs, or `None` for a method the gateway does not pass.
    pub fn for_method(method: &str) -> Option<Scope> {
        match method {
            "GET" | "HEAD" | "OPTIONS" => Some(Scope::Read),
            "POST" | "PUT" | "PATCH" => Some(Scope::Write),
            "DELETE" => Some(Scope::Delete),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// Whether `scope` is granted, directly or through `admin`.
    pub fn allows(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    /// Adds a scope.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// Whether the set holds nothing.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |s| self.0 & s.bit() != 0)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::default();
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

/// What a key may do: the same scopes everywhere, or scopes per resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grants {
    /// `["read","write"]`: for every resource.
    Everywhere(ScopeSet),
    /// `{"opportunities":["read","write"]}`: a resource not named is denied.
    PerResource(BTreeMap<String, ScopeSet>),
}

/// The refusal: which scope was missing, for which resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingScope {
    /// The scope the request needed.
    pub scope: Scope,
    /// The resource it was for.
    pub resource: String,
}

/// The resource name of the key-management API, which needs `admin`.
pub const KEY_MANAGEMENT_RESOURCE: &str = "api-keys";

impl Grants {
    /// Grants every scope everywhere: the root key's.
    pub fn root() -> Grants {
        Grants::Everywhere(Scope::ALL.into_iter().collect())
    }

    /// Decides whether these grants let `method` act on `resource`.
    pub fn authorize(&self, method: &str, resource: &str) -> Result<(), MissingScope> {
        let needed = if resource == KEY_MANAGEMENT_RESOURCE {
            Scope::Admin
        } else {
            // A method with no scope (TRACE, CONNECT, …) needs admin: deny by default.
            Scope::for_method(method).unwrap_or(Scope::Admin)
        };
        let held = match self {
            Grants::Everywhere(set) => *set,
            Grants::PerResource(map) => map.get(resource).copied().unwrap_or_default(),
        };
        if held.allows(needed) {
            Ok(())
        } else {
            Err(MissingScope {
                scope: needed,
                resource: resource.to_owned(),
            })
        }
    }

    /// Whether these grants hold `admin` for key management.
    pub fn is_admin(&self) -> bool {
        self.authorize("GET", KEY_MANAGEMENT_RESOURCE).is_ok()
    }

    /// The grants as the API shows them: a list or a map of lists.
    pub fn to_json(&self) -> serde_json::Value {
        fn list(set: ScopeSet) -> serde_json::Value {
            set.iter().map(|s| s.as_str()).collect::<Vec<_>>().into()
        }
        match self {
            Grants::Everywhere(set) => list(*set),
            Grants::PerResource(map) => map
                .iter()
                .map(|(resource, set)| (resource.clone(), list(*set)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// Parses the API's `scopes` value. The error says what is wrong, for a 400.
    pub fn from_json(value: &serde_json::Value) -> Result<Grants, String> {
        fn parse_list(value: &serde_json::Value, at: &str) -> Result<ScopeSet, String> {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{at} must be a list of scopes"))?;
            if items.is_empty() {
                return Err(format!("{at} must name at least one scope"));
            }
            let mut set = ScopeSet::default();
            for item in items {
                let name = item
                    .as_str()
                    .ok_or_else(|| format!("{at} must contain only strings"))?;
                let scope = Scope::parse(name).ok_or_else(|| {
                    format!(
                        "{at} contains unknown scope '{}'; use read, write, delete or admin",
                        crate::error::printable(name)
                    )
                })?;
                set.insert(scope);
            }
            Ok(set)
        }
        match value {
            serde_json::Value::Array(_) => parse_list(value, "scopes").map(Grants::Everywhere),
            serde_json::Value::Object(map) => {
                if map.is_empty() {
                    return Err("scopes must name at least one resource".into());
                }
                if map.len() > 64 {
                    return Err("scopes may name at most 64 resources".into());
                }
                let mut grants = BTreeMap::new();
                for (resource, list) in map {
                    if !crate::path::is_canonical_resource(resource) {
                        return Err(format!(
                            "scopes has invalid resource name '{}'; use lower-case letters, digits and '-'",
                            crate::error::printable(resource)
                        ));
                    }
                    let at = format!("scopes.{resource}");
                    grants.insert(resource.clone(), parse_list(list, &at)?);
                }
                Ok(Grants::PerResource(grants))
            }
            _ => Err("scopes must be a list of scopes or a map of resource to scopes".into()),
        }
    }
}

impl serde::Serialize for Grants {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Grants {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Grants::from_json(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(scopes: serde_json::Value, method: &str, resource: &str, expected: Option<Scope>) {
        let grants = Grants::from_json(&scopes).expect("valid scopes");
        let result = grants.authorize(method, resource);
        match expected {
            None => assert_eq!(result, Ok(()), "{scopes} {method} {resource}"),
            Some(scope) => assert_eq!(
                result,
                Err(MissingScope {
                    scope,
                    resource: resource.into()
                }),
                "{scopes} {method} {resource}"
            ),
        }
    }

    #[test]
    fn methods_map_to_scopes() {
        check(json!(["read"]), "GET", "accounts", None);
        check(json!(["read"]), "HEAD", "accounts", None);
        check(json!(["read"]), "OPTIONS", "accounts", None);
        check(json!(["read"]), "POST", "accounts", Some(Scope::Write));
        check(json!(["write"]), "PUT", "accounts", None);
        check(json!(["write"]), "PATCH", "accounts", None);
        check(json!(["write"]), "GET", "accounts", Some(Scope::Read));
        check(
            json!(["read", "write"]),
            "DELETE",
            "accounts",
            Some(Scope::Delete),
        );
        check(json!(["delete"]), "DELETE", "accounts", None);
        check(json!(["admin"]), "DELETE", "accounts", None);
        check(
            json!(["read", "write", "delete"]),
            "TRACE",
            "accounts",
            Some(Scope::Admin),
        );
    }

    #[test]
    fn per_resource_map_denies_what_it_does_not_name() {
        let spec = json!({"opportunities": ["read", "write"], "accounts": ["read"]});
        check(spec.clone(), "POST", "opportunities", None);
        check(spec.clone(), "GET", "accounts", None);
        check(spec.clone(), "POST", "accounts", Some(Scope::Write));
        check(spec, "GET", "contacts", Some(Scope::Read));
    }

    #[test]
    fn key_management_needs_admin() {
        check(
            json!(["read", "write", "delete"]),
            "GET",
            "api-keys",
            Some(Scope::Admin),
        );
        check(json!(["admin"]), "POST", "api-keys", None);
        check(
            json!({"api-keys": ["read"]}),
            "GET",
            "api-keys",
            Some(Scope::Admin),
        );
        check(json!({"api-keys": ["admin"]}), "GET", "api-keys", None);
    }

    #[test]
    fn bad_scopes_are_refused_with_a_reason() {
        for (value, needle) in [
            (json!([]), "at least one"),
            (json!(["read", "fly"]), "unknown scope 'fly'"),
            (json!(["READ"]), "unknown scope"),
            (json!([1]), "only strings"),
            (json!({}), "at least one resource"),
            (json!({"Accounts": ["read"]}), "invalid resource"),
            (
                json!({"accounts": "read"}),
                "scopes.accounts must be a list",
            ),
            (json!("read"), "list of scopes or a map"),
        ] {
            let err = Grants::from_json(&value).expect_err("refused");
            assert!(err.contains(needle), "{value}: {err}");
        }
    }

    #[test]
    fn json_round_trips_in_canonical_order() {
        let grants = Grants::from_json(&json!(["write", "read", "read"])).expect("valid");
        assert_eq!(grants.to_json(), json!(["read", "write"]));
        let map = json!({"accounts": ["read"], "opportunities": ["read", "write"]});
        assert_eq!(Grants::from_json(&map).expect("valid").to_json(), map);
    }
}
