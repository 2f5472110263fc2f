//! HTTP methods as a type: the few the scopes name, and any other token kept exactly as
//! sent, so it is authorized as itself and forwarded as itself (never turned into GET).

use core::fmt;
use serde::{Deserialize, Serialize};

/// Longest method token accepted; real ones are short.
pub const MAX_METHOD_LEN: usize = 32;

/// A request method.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// Any other token (`PROPFIND`, `PURGE`, …), exactly as sent.
    Other(String),
}

/// Why a method was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidMethod;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Method {
    /// Parses a method token (RFC 9110 §9.1: case-sensitive).
    pub fn parse(token: &str) -> Result<Method, InvalidMethod> {
        Ok(match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other
                if !other.is_empty()
                    && other.len() <= MAX_METHOD_LEN
                    && other.bytes().all(is_tchar) =>
            {
                Method::Other(other.to_owned())
            }
            _ => return Err(InvalidMethod),
        })
    }

    /// Parses a method-override header's value as origin frameworks read it: case
    /// folded to upper case (Express, Laravel and Symfony do), several values split on
    /// commas. Every one is returned, so each can be authorized.
    pub fn parse_override(value: &str) -> Result<Vec<Method>, InvalidMethod> {
        value
            .split(',')
            .map(|token| Method::parse(&token.trim().to_ascii_uppercase()))
            .map(|m| {
                m.and_then(|m| {
                    if m.is_never_forwarded() {
                        Err(InvalidMethod)
                    } else {
                        Ok(m)
                    }
                })
            })
            .collect()
    }

    /// The method as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Other(token) => token,
        }
    }

    /// Methods a gateway never forwards: they tunnel or reflect, and `fetch` forbids them.
    pub fn is_never_forwarded(&self) -> bool {
        matches!(self, Method::Other(token) if ["CONNECT", "TRACE", "TRACK"].contains(&token.as_str()))
    }

    /// Whether a request with this method carries a body to forward.
    pub fn has_body(&self) -> bool {
        !matches!(self, Method::Get | Method::Head)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Headers that ask an origin framework to treat a request as another method (Express's
/// method-override, Laravel, Symfony, ASP.NET honour them).
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-method-override",
    "x-http-method",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_and_extension_tokens() {
        assert_eq!(Method::parse("GET"), Ok(Method::Get));
        assert_eq!(Method::parse("DELETE"), Ok(Method::Delete));
        assert_eq!(
            Method::parse("PROPFIND"),
            Ok(Method::Other("PROPFIND".into()))
        );
        // Methods are case-sensitive: `get` is an extension method, not GET.
        assert_eq!(Method::parse("get"), Ok(Method::Other("get".into())));
        assert_eq!(
            Method::parse("PURGE").map(|m| m.to_string()),
            Ok("PURGE".into())
        );
    }

    #[test]
    fn tunnels_are_never_forwarded() {
        for token in ["TRACE", "CONNECT", "TRACK"] {
            assert!(Method::parse(token).expect("a token").is_never_forwarded());
        }
        assert!(!Method::Get.is_never_forwarded());
    }

    #[test]
    fn overrides_are_read_as_frameworks_read_them() {
        assert_eq!(Method::parse_override("delete"), Ok(vec![Method::Delete]));
        assert_eq!(
            Method::parse_override("PUT, delete"),
            Ok(vec![Method::Put, Method::Delete])
        );
        assert_eq!(Method::parse_override(""), Err(InvalidMethod));
        assert_eq!(Method::parse_override("TRACE"), Err(InvalidMethod));
    }

    #[test]
    fn junk_is_refused() {
        for bad in ["", "GE T", "GET\r\n", "Ü", &"A".repeat(33)] {
            assert_eq!(Method::parse(bad), Err(InvalidMethod), "{bad:?}");
        }
    }
}
