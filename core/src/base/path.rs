//! Path canonicalisation: a request is authorized for exactly the resource the origin
//! will see. Anything that could be read as another resource is refused, never
//! "normalised" into one.

use crate::base::form;

/// The longest resource name accepted.
pub const MAX_RESOURCE_LEN: usize = 64;

/// A `/v1/…` path that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath<'a> {
    /// The first segment after `/v1/`: what scopes are granted on.
    pub resource: &'a str,
    /// The segments after the resource (empty for the collection itself).
    pub rest: Vec<&'a str>,
}

/// Why a path was refused. The message is safe to show: it never echoes the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not under `/v1/<resource>`.
    NotApi,
    /// `//` inside the path.
    EmptySegment,
    /// A `.` or `..` segment, also once `;…` (matrix parameters) is removed or after
    /// one or two percent-decodings (`..;`, `.;x`, `..%3b`).
    DotSegment,
    /// `%2F`, `%5C`, `%2E`, `%00`, also double-encoded (`%252e`), or a backslash; or, after one or two
    /// percent-decodings, a `/`, `\`, control character or invalid (e.g. overlong)
    /// UTF-8.
    EncodedSeparator,
    /// The resource is not lower-case letters, digits and `-`.
    ResourceName,
}

impl PathError {
    /// A sentence for the error body.
    pub fn reason(self) -> &'static str {
        match self {
            PathError::NotApi => "API paths have the form /v1/{resource}",
            PathError::EmptySegment => "the path has an empty segment ('//')",
            PathError::DotSegment => {
                "the path has a '.' or '..' segment (also with ';' parameters or percent-encoded)"
            }
            PathError::EncodedSeparator => {
                "the path has an encoded '/', '\\', '.', control character or invalid UTF-8 (also double-encoded), or a backslash"
            }
            PathError::ResourceName => {
                "the resource name must be lower-case letters, digits and '-'"
            }
        }
    }
}

/// Whether `name` is a resource name as it must appear in a path and in scope maps.
pub fn is_canonical_resource(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_RESOURCE_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

/// Checks a raw (still percent-encoded) URL path and splits out its resource.
/// A single trailing `/` is allowed; it changes nothing about the resource.
pub fn parse_api_path(raw: &str) -> Result<ApiPath<'_>, PathError> {
    let after = raw.strip_prefix("/v1/").ok_or(PathError::NotApi)?;
    let after = after.strip_suffix('/').unwrap_or(after);
    let mut segments = after.split('/');
    let resource = segments.next().unwrap_or_default();
    let rest: Vec<&str> = segments.collect();
    for segment in core::iter::once(resource).chain(rest.iter().copied()) {
        check_segment(segment)?;
    }
    if !is_canonical_resource(resource) {
        return Err(PathError::ResourceName);
    }
    Ok(ApiPath { resource, rest })
}

/// `%2F`, `%5C`, `%2E` or `%00`, in any case.
fn has_encoded_separator(form: &[u8]) -> bool {
    form.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f' | b'e') | (b'5', b'c') | (b'0', b'0')
            )
    })
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment.contains('\\') {
        return Err(PathError::EncodedSeparator);
    }
    if has_encoded_separator(segment.as_bytes()) {
        return Err(PathError::EncodedSeparator);
    }
    // The segment as the origin may read it: as sent, decoded once (every server), and
    // decoded twice (a proxy or framework that decodes again). Each must be neither a
    // dot segment, with or without `;` matrix parameters (Tomcat, Jetty and Spring drop
    // them), nor hold a separator, a control character or invalid UTF-8 (overlong
    // encodings of `.` and `/` such as `%c0%ae` are invalid UTF-8).
    let once = form::percent_decode(segment.as_bytes(), false);
    if has_encoded_separator(&once) {
        return Err(PathError::EncodedSeparator);
    }
    let twice = form::percent_decode(&once, false);
    for form in [segment.as_bytes(), &once, &twice] {
        let without_params = form.split(|&b| b == b';').next().unwrap_or_default();
        if without_params == b"." || without_params == b".." {
            return Err(PathError::DotSegment);
        }
        if form
            .iter()
            .any(|&b| b == b'/' || b == b'\\' || b.is_ascii_control())
            || core::str::from_utf8(form).is_err()
        {
            return Err(PathError::EncodedSeparator);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<(&str, &[&str]), PathError>) {
        let got = parse_api_path(raw).map(|p| (p.resource, p.rest));
        let want = expected.map(|(r, rest)| (r, rest.to_vec()));
        assert_eq!(got, want, "{raw}");
    }

    #[test]
    fn canonical_paths_split_into_resource_and_rest() {
        check("/v1/opportunities", Ok(("opportunities", &[])));
        check("/v1/opportunities/", Ok(("opportunities", &[])));
        check(
            "/v1/accounts/acc_1/notes",
            Ok(("accounts", &["acc_1", "notes"])),
        );
        check(
            "/v1/api-keys/key_x/roll",
            Ok(("api-keys", &["key_x", "roll"])),
        );
        check("/v1/accounts/a%20b", Ok(("accounts", &["a%20b"])));
    }

    #[test]
    fn confusing_paths_are_refused() {
        check("/v1/accounts/../opportunities", Err(PathError::DotSegment));
        check("/v1/./accounts", Err(PathError::DotSegment));
        check(
            "/v1/accounts/%2e%2e/opportunities",
            Err(PathError::EncodedSeparator),
        );
        check("/v1/accounts/.%2E", Err(PathError::EncodedSeparator));
        check(
            "/v1/accounts%2Fopportunities",
            Err(PathError::EncodedSeparator),
        );
        check("/v1/accounts%2fx", Err(PathError::EncodedSeparator));
        check(
            "/v1/accounts\\opportunities",
            Err(PathError::EncodedSeparator),
        );
        check("/v1/accounts%5Cx", Err(PathError::EncodedSeparator));
        check("/v1//accounts", Err(PathError::EmptySegment));
        check("/v1/accounts//x", Err(PathError::EmptySegment));
        check("/v1/Accounts", Err(PathError::ResourceName));
        check("/v1/accounts.", Err(PathError::ResourceName));
        check("/v1/accounts%00", Err(PathError::EncodedSeparator));
        check("/v1/", Err(PathError::EmptySegment));
        check("/v1", Err(PathError::NotApi));
        check("/v2/accounts", Err(PathError::NotApi));
        check("/V1/accounts", Err(PathError::NotApi));
    }

    #[test]
    fn paths_an_origin_reads_as_another_resource_are_refused() {
        use PathError::{DotSegment as Dot, EncodedSeparator as Enc};
        let cases: &[(&str, PathError)] = &[
            // Matrix parameters: Tomcat, Jetty and Spring strip `;…`.
            ("/v1/accounts/..;/opportunities", Dot),
            ("/v1/accounts/.;/x", Dot),
            ("/v1/accounts/..;x=1/opportunities", Dot),
            ("/v1/accounts/.;jsessionid=1", Dot),
            ("/v1/accounts/..%3b/opportunities", Dot),
            // Double-encoded dots, slashes, backslashes and NUL (an encoded dot is
            // refused wherever it is, as `%2e` is).
            ("/v1/accounts/%252e%252e/opportunities", Enc),
            ("/v1/accounts/%252E%252E", Enc),
            ("/v1/accounts/%252e", Enc),
            ("/v1/accounts/.%252e", Enc),
            ("/v1/accounts/%252e%252e;x", Enc),
            ("/v1/accounts%252Fopportunities", Enc),
            ("/v1/accounts/x%252fy", Enc),
            ("/v1/accounts/x%255cy", Enc),
            ("/v1/accounts/x%2500", Enc),
            ("/v1/accounts/x%252ey", Enc),
            ("/v1/accounts/x%252E", Enc),
            // Control characters, once or twice encoded.
            ("/v1/accounts/x%0d%0aSet-Cookie:a", Enc),
            ("/v1/accounts/x%0A", Enc),
            ("/v1/accounts/x%09", Enc),
            ("/v1/accounts/x%7f", Enc),
            ("/v1/accounts/x%250d%250a", Enc),
            // Overlong UTF-8 for `.` and `/`, once or twice encoded; invalid UTF-8.
            ("/v1/accounts/%c0%ae%c0%ae/opportunities", Enc),
            ("/v1/accounts/%C0%AE", Enc),
            ("/v1/accounts/x%c0%afy", Enc),
            ("/v1/accounts/%e0%80%ae", Enc),
            ("/v1/accounts/%f0%80%80%ae", Enc),
            ("/v1/accounts/%25c0%25ae", Enc),
            ("/v1/accounts/x%ff", Enc),
        ];
        for &(raw, err) in cases {
            check(raw, Err(err));
        }
    }

    #[test]
    fn ordinary_ids_with_percent_are_kept() {
        check("/v1/accounts/100%25", Ok(("accounts", &["100%25"])));
        check("/v1/accounts/100%", Ok(("accounts", &["100%"])));
        check("/v1/accounts/50%25off", Ok(("accounts", &["50%25off"])));
        check("/v1/accounts/a%2Bb", Ok(("accounts", &["a%2Bb"])));
        check("/v1/accounts/%e4%bd%a0", Ok(("accounts", &["%e4%bd%a0"])));
        check("/v1/accounts/x;v=1", Ok(("accounts", &["x;v=1"])));
        check("/v1/accounts/...", Ok(("accounts", &["..."])));
        check("/v1/accounts/.x", Ok(("accounts", &[".x"])));
        check("/v1/accounts/x..", Ok(("accounts", &["x.."])));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(form::percent_decode(b"a%2Fb%2fc", false), b"a/b/c");
        assert_eq!(form::percent_decode(b"100%", false), b"100%");
        assert_eq!(form::percent_decode(b"%zz%4", false), b"%zz%4");
        assert_eq!(form::percent_decode(b"%252e", false), b"%2e");
        assert_eq!(form::percent_decode(b"a+b", false), b"a+b");
        assert_eq!(form::percent_decode(b"a+b", true), b"a b");
    }

    #[test]
    fn resource_names() {
        assert!(is_canonical_resource("api-keys"));
        assert!(is_canonical_resource("v2"));
        assert!(!is_canonical_resource("-x"));
        assert!(!is_canonical_resource("x-"));
        assert!(!is_canonical_resource("a_b"));
        assert!(!is_canonical_resource(&"a".repeat(65)));
    }
}
