//! Scopes and the authorization decision: which scope a request needs, and whether a
//! key's grants hold it. Deny by default.

use crate::base::method::Method;
use crate::base::text::printable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One permission. `admin` implies every other and alone opens `/v1/api-keys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// The scope a method needs. A method outside read, write and delete (WebDAV's,
    /// `PURGE`, …) needs `admin`: deny by default.
    pub fn for_method(method: &Method) -> Scope {
        match method {
            Method::Get | Method::Head | Method::Options => Scope::Read,
            Method::Post | Method::Put | Method::Patch => Scope::Write,
            Method::Delete => Scope::Delete,
            Method::Other(_) => Scope::Admin,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// The set as bits (read 1, write 2, delete 4, admin 8), for the guard's wire form.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set of `bits`; `None` when a bit names no scope.
    pub fn from_bits(bits: u8) -> Option<ScopeSet> {
        (bits < 1 << Scope::ALL.len()).then_some(ScopeSet(bits))
    }

    /// What both sets allow, `admin` counting as every scope it implies.
    pub fn intersect(self, other: ScopeSet) -> ScopeSet {
        let implied = |set: ScopeSet| {
            if set.0 & Scope::Admin.bit() != 0 {
                Scope::ALL
                    .into_iter()
                    .map(Scope::bit)
                    .fold(0, |all, bit| all | bit)
            } else {
                set.0
            }
        };
        ScopeSet(implied(self) & implied(other))
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

/// What a request needs of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requirement {
    /// Only a valid key: the auth test.
    AnyValidKey,
    /// Every one of `needed` on `resource`.
    Scopes {
        /// At least one scope.
        needed: ScopeSet,
        /// The first path segment after `/v1/`.
        resource: String,
    },
}

impl Requirement {
    /// What a request with `method` on `resource` needs. Each method in `overrides`
    /// (`X-HTTP-Method-Override` and its kin, which origin frameworks honour) is needed
    /// too, so a key without `delete` cannot delete by asking the origin to pretend.
    pub fn for_request(method: &Method, overrides: &[Method], resource: &str) -> Requirement {
        let needed = if resource == KEY_MANAGEMENT_RESOURCE {
            core::iter::once(Scope::Admin).collect()
        } else {
            core::iter::once(method)
                .chain(overrides)
                .map(Scope::for_method)
                .collect()
        };
        Requirement::Scopes {
            needed,
            resource: resource.to_owned(),
        }
    }
}

/// The refusal: which scope was missing, for which resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingScope {
    /// The scope the request needed.
    pub scope: Scope,
    /// The resource it was for.
    pub resource: String,
}

/// The resource name of the key-management API, which needs `admin`.
pub const KEY_MANAGEMENT_RESOURCE: &str = "api-keys";
/// How a refusal names "all resources", for grants that are not per resource.
pub const EVERY_RESOURCE: &str = "every resource";

impl Grants {
    /// Grants every scope everywhere: the root key's.
    pub fn root() -> Grants {
        Grants::Everywhere(Scope::ALL.into_iter().collect())
    }

    /// What these grants hold on `resource`.
    fn held_on(&self, resource: &str) -> ScopeSet {
        match self {
            Grants::Everywhere(set) => *set,
            Grants::PerResource(map) => map.get(resource).copied().unwrap_or_default(),
        }
    }

    /// Decides whether these grants meet `requirement`; the first missing scope, in
    /// canonical order, is the refusal.
    pub fn authorize(&self, requirement: &Requirement) -> Result<(), MissingScope> {
        let Requirement::Scopes { needed, resource } = requirement else {
            return Ok(());
        };
        let held = self.held_on(resource);
        match needed.iter().find(|scope| !held.allows(*scope)) {
            None => Ok(()),
            Some(scope) => Err(MissingScope {
                scope,
                resource: resource.clone(),
            }),
        }
    }

    /// Whether these grants hold everything `other` grants, so a holder of these may
    /// hand out `other` (no key grants more than it holds). The refusal names a scope
    /// and where: a resource, or [`EVERY_RESOURCE`].
    pub fn covers(&self, other: &Grants) -> Result<(), MissingScope> {
        let missing = |scope, resource: &str| MissingScope {
            scope,
            resource: resource.to_owned(),
        };
        match (self, other) {
            (Grants::Everywhere(mine), Grants::Everywhere(theirs)) => theirs
                .iter()
                .find(|s| !mine.allows(*s))
                .map_or(Ok(()), |s| Err(missing(s, EVERY_RESOURCE))),
            // Per-resource grants never cover "every resource", unless they are empty.
            (Grants::PerResource(_), Grants::Everywhere(theirs)) => theirs
                .iter()
                .next()
                .map_or(Ok(()), |s| Err(missing(s, EVERY_RESOURCE))),
            (_, Grants::PerResource(theirs)) => {
                for (resource, wanted) in theirs {
                    let held = self.held_on(resource);
                    if let Some(s) = wanted.iter().find(|s| !held.allows(*s)) {
                        return Err(missing(s, resource));
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether the grants allow nothing anywhere.
    pub fn is_empty(&self) -> bool {
        match self {
            Grants::Everywhere(set) => set.is_empty(),
            Grants::PerResource(map) => map.values().all(|set| set.is_empty()),
        }
    }

    /// What both grants allow: what a grant holds once its approver has been narrowed.
    /// Resources left with no scope are dropped.
    pub fn intersect(&self, other: &Grants) -> Grants {
        let narrowed = |map: &BTreeMap<String, ScopeSet>, on: &dyn Fn(&str) -> ScopeSet| {
            map.iter()
                .map(|(resource, set)| (resource.clone(), set.intersect(on(resource))))
                .filter(|(_, set)| !set.is_empty())
                .collect()
        };
        match (self, other) {
            (Grants::Everywhere(a), Grants::Everywhere(b)) => Grants::Everywhere(a.intersect(*b)),
            (Grants::PerResource(map), held) | (held, Grants::PerResource(map)) => {
                Grants::PerResource(narrowed(map, &|resource| held.held_on(resource)))
            }
        }
    }

    /// The grants as a space-separated scope string (OAuth's `scope`, the identity's
    /// `scope` claim): `read write`, or `accounts:read opportunities:write`.
    pub fn scope_string(&self) -> String {
        match self {
            Grants::Everywhere(set) => set.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            Grants::PerResource(map) => map
                .iter()
                .flat_map(|(resource, set)| {
                    set.iter()
                        .map(move |s| format!("{resource}:{}", s.as_str()))
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
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
                        printable(name)
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
                    if !crate::base::path::is_canonical_resource(resource) {
                        return Err(format!(
                            "scopes has invalid resource name '{}'; use lower-case letters, digits and '-'",
                            printable(resource)
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

    #[test]
    fn the_intersection_allows_exactly_what_both_allow() {
        let grants = |v: serde_json::Value| Grants::from_json(&v).expect("valid");
        let cases = [
            (
                json!(["read", "write"]),
                json!(["write", "delete"]),
                json!(["write"]),
            ),
            (json!(["admin"]), json!(["read"]), json!(["read"])),
            (
                json!({"a": ["read", "write"], "b": ["read"]}),
                json!(["write"]),
                json!({"a": ["write"]}),
            ),
            (
                json!(["read"]),
                json!({"a": ["read", "delete"]}),
                json!({"a": ["read"]}),
            ),
            (
                json!({"a": ["read"], "b": ["write"]}),
                json!({"b": ["write", "read"], "c": ["read"]}),
                json!({"b": ["write"]}),
            ),
        ];
        for (a, b, both) in cases {
            assert_eq!(
                grants(a.clone()).intersect(&grants(b.clone())),
                grants(both.clone()),
                "{a} {b}"
            );
            assert_eq!(
                grants(b.clone()).intersect(&grants(a.clone())),
                grants(both),
                "{b} {a}"
            );
        }
        let nothing = grants(json!(["read"])).intersect(&grants(json!(["write"])));
        assert!(nothing.is_empty());
    }

    fn check(scopes: serde_json::Value, method: &str, resource: &str, expected: Option<Scope>) {
        let grants = Grants::from_json(&scopes).expect("valid scopes");
        let method = Method::parse(method).expect("method");
        let result = grants.authorize(&Requirement::for_request(&method, &[], resource));
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
            "PROPFIND",
            "accounts",
            Some(Scope::Admin),
        );
        check(json!(["admin"]), "PURGE", "accounts", None);
    }

    #[test]
    fn method_overrides_need_their_own_scope() {
        let grants = Grants::from_json(&json!(["read", "write"])).expect("valid");
        let needs = |overrides: &[Method]| {
            grants.authorize(&Requirement::for_request(
                &Method::Post,
                overrides,
                "accounts",
            ))
        };
        assert_eq!(needs(&[]), Ok(()));
        assert_eq!(needs(&[Method::Put]), Ok(()));
        assert_eq!(
            needs(&[Method::Delete]).map_err(|m| m.scope),
            Err(Scope::Delete)
        );
    }

    #[test]
    fn any_valid_key_needs_nothing() {
        let grants = Grants::from_json(&json!({"accounts": ["read"]})).expect("valid");
        assert_eq!(grants.authorize(&Requirement::AnyValidKey), Ok(()));
    }

    #[test]
    fn a_holder_covers_only_what_it_holds() {
        let g = |v| Grants::from_json(&v).expect("valid");
        let covers = |mine, theirs| {
            g(mine)
                .covers(&g(theirs))
                .map_err(|m| (m.scope, m.resource))
        };
        assert_eq!(covers(json!(["admin"]), json!(["read", "delete"])), Ok(()));
        assert_eq!(covers(json!(["read", "write"]), json!(["read"])), Ok(()));
        assert_eq!(
            covers(json!(["read"]), json!(["read", "write"])),
            Err((Scope::Write, EVERY_RESOURCE.into()))
        );
        // The escalation: admin on api-keys alone is not admin everywhere.
        assert_eq!(
            covers(
                json!({"api-keys": ["admin"]}),
                json!(["read", "write", "delete", "admin"])
            ),
            Err((Scope::Read, EVERY_RESOURCE.into()))
        );
        assert_eq!(
            covers(
                json!({"api-keys": ["admin"]}),
                json!({"api-keys": ["read"]})
            ),
            Ok(())
        );
        assert_eq!(
            covers(
                json!({"accounts": ["read"]}),
                json!({"accounts": ["read"], "contacts": ["read"]})
            ),
            Err((Scope::Read, "contacts".into()))
        );
        assert_eq!(
            covers(json!(["write"]), json!({"accounts": ["write"]})),
            Ok(())
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
