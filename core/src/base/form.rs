//! `application/x-www-form-urlencoded` (the sign-in form, OAuth's query strings and
//! bodies, redirect parameters): strict decoding, and encoding; and the one percent
//! decoder, which paths and query strings use as leniently as origin frameworks do.

/// Decodes `%XX` escapes once; a `%` not followed by two hex digits stays as it is
/// (`100%` is the text `100%`), as origin frameworks read it. With `plus_as_space`, `+`
/// becomes a space (query strings, `application/x-www-form-urlencoded`).
pub fn percent_decode(input: &[u8], plus_as_space: bool) -> Vec<u8> {
    if plus_as_space && input.contains(&b'+') {
        let spaced: Vec<u8> = input
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        return percent_encoding::percent_decode(&spaced).collect();
    }
    percent_encoding::percent_decode(input).collect()
}

/// Decodes one component: `+` is a space, `%XX` a byte; `None` when an escape is
/// malformed or the result is not UTF-8.
pub fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    String::from_utf8(percent_decode(bytes, true)).ok()
}

/// Every `name=value` pair of a form, decoded; `None` when the text is not UTF-8 or any
/// name or value does not decode.
pub fn pairs(text: &[u8]) -> Option<Vec<(String, String)>> {
    core::str::from_utf8(text)
        .ok()?
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Encodes one component, keeping only RFC 3986's unreserved characters as they are.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_strictly_and_round_trip() {
        assert_eq!(
            pairs(b"a=1&b=x+y%26z&&c"),
            Some(vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y&z".into()),
                ("c".into(), String::new())
            ])
        );
        assert_eq!(pairs(b"a=%zz"), None);
        assert_eq!(pairs(b"a=%4"), None);
        assert_eq!(pairs(b""), Some(Vec::new()));
        let text = "https://a.example/cb?x=1 & ✓";
        assert_eq!(decode(&encode(text)).as_deref(), Some(text));
    }
}
