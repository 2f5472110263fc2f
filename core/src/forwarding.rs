//! What the origin is told about the client: which request headers are never forwarded
//! as the client sent them, and the address headers the gateway writes instead. The
//! forwarding itself (copying headers onto the outgoing request) is the worker's.

use std::net::IpAddr;

/// Request headers never forwarded as sent (lower-case). Credentials the origin must
/// not see, and headers an origin trusts for the client's address, host, scheme or
/// path, which a client can forge. The gateway then writes `X-Forwarded-For`,
/// `X-Real-IP` and `Forwarded` itself from the address it trusts.
pub const DROPPED_REQUEST_HEADERS: &[&str] = &[
    // Credentials: the key, and any other a client might add.
    "authorization",
    "proxy-authorization",
    "x-api-key",
    // The client's address, as other proxies spell it.
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "fastly-client-ip",
    // The host, scheme, port and prefix the client reached.
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-scheme",
    "x-forwarded-server",
    "x-forwarded-prefix",
    "x-forwarded-ssl",
    "front-end-https",
    "x-url-scheme",
    // Path overrides (IIS, Symfony, Zend read them instead of the request line).
    "x-original-url",
    "x-rewrite-url",
    // The gateway's own host: the outgoing request gets the origin's.
    "host",
];

/// Headers the gateway sets itself; a client's are dropped (`X-Scopien-Key-Id`, …).
pub const OWN_HEADER_PREFIX: &str = "x-scopien-";

/// Whether a request header (any case) must not be forwarded as the client sent it.
pub fn is_dropped(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with(OWN_HEADER_PREFIX) || DROPPED_REQUEST_HEADERS.contains(&lower.as_str())
}

/// The address headers for the origin, from the client address the gateway trusts
/// (`CF-Connecting-IP`): `X-Forwarded-For`, `X-Real-IP` and `Forwarded` (RFC 7239:
/// IPv6 in brackets and quotes). An address that is not an IP (never from Cloudflare)
/// is sent as the `unknown` token, never as text a client chose.
pub fn client_address_headers(address: Option<&str>) -> Vec<(&'static str, String)> {
    let ip = address.and_then(|a| a.trim().parse::<IpAddr>().ok());
    let Some(ip) = ip else {
        return vec![("Forwarded", "for=unknown".to_owned())];
    };
    let forwarded = match ip {
        IpAddr::V4(v4) => format!("for={v4}"),
        IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
    };
    vec![
        ("X-Forwarded-For", ip.to_string()),
        ("X-Real-IP", ip.to_string()),
        ("Forwarded", forwarded),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgeable_and_credential_headers_are_dropped() {
        for name in [
            "Authorization",
            "Proxy-Authorization",
            "X-Api-Key",
            "X-Forwarded-For",
            "x-real-ip",
            "Forwarded",
            "X-Forwarded-Host",
            "X-Forwarded-Proto",
            "X-Forwarded-Port",
            "True-Client-IP",
            "X-Client-IP",
            "X-Original-URL",
            "X-Scopien-Key-Id",
            "x-scopien-anything",
            "Host",
        ] {
            assert!(is_dropped(name), "{name}");
        }
        for name in [
            "content-type",
            "x-custom",
            "accept",
            "x-request-id",
            "user-agent",
        ] {
            assert!(!is_dropped(name), "{name}");
        }
        assert!(DROPPED_REQUEST_HEADERS
            .iter()
            .all(|n| n.bytes().all(|b| !b.is_ascii_uppercase())));
    }

    #[test]
    fn address_headers_follow_rfc7239() {
        assert_eq!(
            client_address_headers(Some("203.0.113.7")),
            vec![
                ("X-Forwarded-For", "203.0.113.7".to_owned()),
                ("X-Real-IP", "203.0.113.7".to_owned()),
                ("Forwarded", "for=203.0.113.7".to_owned()),
            ]
        );
        assert_eq!(
            client_address_headers(Some("2001:DB8::1")),
            vec![
                ("X-Forwarded-For", "2001:db8::1".to_owned()),
                ("X-Real-IP", "2001:db8::1".to_owned()),
                ("Forwarded", "for=\"[2001:db8::1]\"".to_owned()),
            ]
        );
        for junk in [None, Some(""), Some("1.2.3.4, 5.6.7.8"), Some("evil\r\nx")] {
            assert_eq!(
                client_address_headers(junk),
                vec![("Forwarded", "for=unknown".to_owned())],
                "{junk:?}"
            );
        }
    }
}
