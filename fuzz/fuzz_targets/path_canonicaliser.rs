//! The path canonicaliser (`path::parse_api_path`) and the router (`route::route`).
//!
//! Input: `<method>\n<path>` (no newline: the method is `GET`).
//!
//! Properties:
//! - neither ever panics, for any method and path;
//! - an accepted path starts with `/v1/`; its resource is canonical (lower-case letters,
//!   digits and `-`, not starting or ending with `-`, at most 64 chars) and is exactly
//!   the first segment; resource and rest rebuild the path;
//! - an accepted path has no `//`, no `.` or `..` segment, no `%2f`, `%5c`, `%2e` or
//!   `%00` in any case, and no backslash;
//! - nor a segment that is `.`/`..` once `;…` is dropped, nor double-encoded dots,
//!   slashes, backslashes or NUL (`%252e`, `%252f`, `%255c`, `%2500`), nor encoded CR,
//!   LF or tab, nor overlong UTF-8 lead bytes (`%c0`, `%c1`, `%e0%80`), once or twice
//!   encoded;
//! - `route` fails exactly when the path is refused, with 400 (404 when not under
//!   `/v1/`); otherwise it answers 400, 404 or 405 or a route whose resource is the
//!   path's resource (`api-keys` for key management, none for `/v1/auth/test`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopien_auth::base::path::{is_canonical_resource, parse_api_path, PathError, MAX_RESOURCE_LEN};
use scopien_auth::http::route::{route, Route};
use scopien_auth::{Method, Requirement};

fn check_accepted(raw: &str, resource: &str, rest: &[&str]) {
    assert!(raw.starts_with("/v1/"));
    assert!(is_canonical_resource(resource));
    assert!(!resource.is_empty() && resource.len() <= MAX_RESOURCE_LEN);
    assert!(resource
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
    assert!(!resource.starts_with('-') && !resource.ends_with('-'));

    let mut rebuilt = format!("/v1/{resource}");
    for segment in rest {
        rebuilt.push('/');
        rebuilt.push_str(segment);
    }
    assert!(
        raw == rebuilt || raw == format!("{rebuilt}/"),
        "{raw:?} vs {rebuilt:?}"
    );

    assert!(!raw.contains("//"), "accepted '//': {raw:?}");
    assert!(!raw.contains('\\'), "accepted a backslash: {raw:?}");
    let lower = raw.to_ascii_lowercase();
    for bad in ["%2f", "%5c", "%2e", "%00"] {
        assert!(!lower.contains(bad), "accepted {bad}: {raw:?}");
    }
    for segment in raw["/v1/".len()..].split('/') {
        assert!(
            segment != "." && segment != "..",
            "accepted a dot segment: {raw:?}"
        );
        let without_params = segment.split(';').next().unwrap_or_default();
        assert!(
            without_params != "." && without_params != "..",
            "accepted a dot segment with parameters: {raw:?}"
        );
    }
    for bad in [
        "%252e", "%252f", "%255c", "%2500", "%0d", "%0a", "%09", "%250d", "%250a", "%c0",
        "%c1", "%25c0", "%e0%80",
    ] {
        assert!(!lower.contains(bad), "accepted {bad}: {raw:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (method, raw) = text.split_once('\n').unwrap_or(("GET", &text));
    let Ok(method) = Method::parse(method) else {
        return;
    };
    // The same path as a browser or proxy would send it, and with the prefix forced,
    // so most inputs reach the segment checks.
    let forced = format!("/v1/{raw}");
    for raw in [raw, forced.as_str()] {
        let parsed = parse_api_path(raw);
        if let Ok(path) = &parsed {
            check_accepted(raw, path.resource, &path.rest);
        }
        match (route(&method, raw), &parsed) {
            (Err(e), Err(PathError::NotApi)) => assert_eq!(e.status, 404),
            (Err(e), Err(_)) => assert_eq!(e.status, 400),
            (Ok(_), Err(e)) => panic!("routed a refused path ({e:?}): {raw:?}"),
            (Err(e), Ok(_)) => assert!(matches!(e.status, 400 | 404 | 405), "{}", e.status),
            (Ok(r), Ok(path)) => match r {
                Route::AuthTest => {
                    assert_eq!(path.resource, "auth");
                    assert_eq!(r.requirement(&method, &[]), Requirement::AnyValidKey);
                    assert!(matches!(method, Method::Get | Method::Head));
                }
                Route::Upstream { resource } => {
                    assert_eq!(resource, path.resource);
                    assert!(!["auth", "api-keys", "organizations", "audit-log"].contains(&resource));
                    assert!(!method.is_never_forwarded());
                }
                Route::Keys | Route::Key(_) | Route::RollKey(_) | Route::KeyUsage(_) => {
                    assert_eq!(path.resource, "api-keys");
                    assert!(r.is_management());
                }
                Route::Orgs | Route::Org(_) => assert_eq!(path.resource, "organizations"),
                Route::AuditLog => assert_eq!(path.resource, "audit-log"),
            },
        }
    }
});
