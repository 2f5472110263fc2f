//! `application/x-www-form-urlencoded` (the sign-in form, OAuth's query strings and
//! bodies, redirect parameters): strict decoding, and encoding.

/// Decodes one component: `+` is a space, `%XX` a byte; `None` when an escape is
/// malformed or the result is not UTF-8.
pub fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = core::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
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
