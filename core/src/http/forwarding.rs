//! What the origin is told about the client: which request headers are never forwarded
//! as the client sent them, and the address headers the gateway writes instead. The
//! forwarding itself (copying headers onto the outgoing request) is the worker's. The
//! gateway's own cookies cross in neither direction: never to an origin or the echo,
//! never set by an origin.

use std::net::IpAddr;

/// The session cookie's name over https (its life is [`crate::session`]): `__Host-` makes the browser insist on `Secure`,
/// `Path=/` and no `Domain`.
pub const SECURE_COOKIE_NAME: &str = "__Host-scopien_session";
/// The cookie's name over plain http (localhost): browsers refuse `__Host-` cookies
/// that are not `Secure`.
pub const PLAIN_COOKIE_NAME: &str = "scopien_session";

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

/// The cookies the gateway sets itself: the dashboard session, in both its spellings
/// (`session::cookie_name`). It is the only `Set-Cookie` the gateway sends.
pub const OWN_COOKIES: [&str; 2] = [SECURE_COOKIE_NAME, PLAIN_COOKIE_NAME];

/// Whether a cookie name is one of the gateway's own. Compared without case (and
/// without surrounding whitespace): a name a browser or an origin's lenient parser may
/// take for it is stripped too.
fn is_own_cookie(name: &str) -> bool {
    let name = name.trim();
    OWN_COOKIES.iter().any(|own| own.eq_ignore_ascii_case(name))
}

/// Whether one `name=value` pair of a `Cookie` header is one of the gateway's cookies.
fn is_own_pair(pair: &str) -> bool {
    pair.split_once('=')
        .is_some_and(|(name, _)| is_own_cookie(name))
}

/// The client's `Cookie` header as the origin (or the echo) gets it: without the
/// gateway's own cookies, the rest as sent (unchanged when none of the gateway's is in
/// it); `None` when nothing is left. Pairs are split at `;`, and also at `,` (how
/// several `Cookie` headers are joined, and a separator old parsers accept), so no
/// spelling carries the session past the gateway.
pub fn forwarded_cookie(header: &str) -> Option<String> {
    if !header.split([';', ',']).any(is_own_pair) {
        return (!header.trim().is_empty()).then(|| header.to_owned());
    }
    let kept: Vec<String> = header
        .split(';')
        .filter_map(|segment| {
            let parts: Vec<&str> = segment
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty() && !is_own_pair(part))
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether an origin's `Set-Cookie` value would set one of the gateway's cookies, and
/// so must not reach the browser (session fixation). The name is read as RFC 6265bis
/// §5.6 does: the text before the first `=` of the part before the first `;`. A cookie
/// with an empty name is sent back as its value alone, so `=scopien_session=…` would
/// come back as the session cookie: its value is read as a pair too.
pub fn sets_own_cookie(set_cookie: &str) -> bool {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    match pair.split_once('=') {
        Some((name, value)) if name.trim().is_empty() => is_own_pair(value),
        Some((name, _)) => is_own_cookie(name),
        None => is_own_cookie(pair),
    }
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

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_gateway_cookies_are_stripped_and_the_others_kept() {
        let strip = |header: &str| forwarded_cookie(header);
        // Nothing of the gateway's: the header as sent, byte for byte.
        assert_eq!(strip("a=1;b=2 ;  c"), Some("a=1;b=2 ;  c".to_owned()));
        assert_eq!(strip("   "), None);
        for own in [
            format!("scopien_session={TOKEN}"),
            format!("__Host-scopien_session={TOKEN}"),
            format!("__HOST-Scopien_Session={TOKEN}"),
            format!(" scopien_session ={TOKEN}"),
            "scopien_session=".to_owned(),
        ] {
            assert_eq!(strip(&own), None, "{own}");
            assert_eq!(
                strip(&format!("theme=dark; {own}; lang=en")),
                Some("theme=dark; lang=en".to_owned()),
                "{own}"
            );
            // Several Cookie headers joined with a comma.
            assert_eq!(
                strip(&format!("theme=dark, {own}")),
                Some("theme=dark".to_owned()),
                "{own}"
            );
        }
        assert_eq!(
            strip(&format!(
                "__Host-scopien_session={TOKEN}; scopien_session={TOKEN}"
            )),
            None
        );
        // Names that merely contain the gateway's, and values that do, are others'.
        let others =
            format!("my_scopien_session=1; scopien_session_x=2; v=scopien_session={TOKEN}");
        assert_eq!(strip(&others), Some(others.clone()));
    }

    #[test]
    fn set_cookies_of_the_gateway_names_are_recognised() {
        for set in [
            format!("scopien_session={TOKEN}; Path=/; HttpOnly"),
            format!("__Host-scopien_session={TOKEN}; Path=/; Secure; HttpOnly"),
            "__host-scopien_session=x; Path=/; Secure".to_owned(),
            " scopien_session = x".to_owned(),
            "scopien_session=; Max-Age=0".to_owned(),
            // Nameless: the browser would send back `scopien_session=x`.
            "=scopien_session=x; Path=/".to_owned(),
            " = __Host-scopien_session=x".to_owned(),
            "scopien_session".to_owned(),
        ] {
            assert!(sets_own_cookie(&set), "{set}");
        }
        for set in [
            "theme=dark; Path=/",
            "sid=abc; Path=/; HttpOnly",
            "scopien_session_x=1",
            "a=scopien_session=x",
            "=plain",
            "x=1; Path=/; Comment=scopien_session=x",
        ] {
            assert!(!sets_own_cookie(set), "{set}");
        }
    }

    #[test]
    fn own_cookies_are_the_session_cookie_in_both_spellings() {
        assert!(OWN_COOKIES.contains(&crate::session::cookie_name(true)));
        assert!(OWN_COOKIES.contains(&crate::session::cookie_name(false)));
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
