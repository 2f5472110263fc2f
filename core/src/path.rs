//! Path canonicalisation: a request is authorized for exactly the resource the origin
//! will see. Anything that could be read as another resource is refused, never
//! "normalised" into one.

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
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2F`, `%5C`, `%2E`, `%00` or a backslash.
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
            PathError::DotSegment => "the path has a '.' or '..' segment",
            PathError::EncodedSeparator => {
                "the path has an encoded '/', '\\', '.' or NUL, or a backslash"
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

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment);
    }
    if segment.contains('\\') {
        return Err(PathError::EncodedSeparator);
    }
    let lower = segment.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return Err(PathError::EncodedSeparator);
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
    fn resource_names() {
        assert!(is_canonical_resource("api-keys"));
        assert!(is_canonical_resource("v2"));
        assert!(!is_canonical_resource("-x"));
        assert!(!is_canonical_resource("x-"));
        assert!(!is_canonical_resource("a_b"));
        assert!(!is_canonical_resource(&"a".repeat(65)));
    }
}
