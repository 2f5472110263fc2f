//! Quoting what a client sent inside a message, safely; and the characters no name a
//! person reads (a key's, an organization's, an app's on the consent page) may hold.

/// A user-supplied string made safe to quote in a message: control, direction and
/// invisible characters dropped, at most 64 chars.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !is_misleading(*c))
        .take(64)
        .collect()
}

/// Whether `c` would make a name read as something it is not: control characters (C0,
/// DEL, C1), bidirectional marks, embeddings, overrides and isolates (U+202E turns
/// `Acme\u{202E}yaP` into "AcmePay" read backwards), and characters that show nothing
/// (zero-width space and joiners, word joiner and invisible operators, BOM, soft hyphen,
/// Mongolian vowel separator, Hangul fillers, line and paragraph separators, tags).
/// Variation selectors are allowed: emoji need them.
fn is_misleading(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional marks, embeddings, overrides and isolates.
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            // Zero-width and invisible.
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{206A}'..='\u{206F}'
            | '\u{FEFF}' | '\u{00AD}' | '\u{180E}' | '\u{034F}' | '\u{115F}' | '\u{1160}'
            | '\u{3164}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{2028}' | '\u{2029}'
            | '\u{E0000}'..='\u{E007F}'
        )
}

/// Checks a name people read (`field` names it in the error): refused when it holds a
/// control, direction or invisible character; the error names the first one (for a
/// 400, made by the caller: text sits below the error catalogue).
pub(crate) fn check_label(field: &str, text: &str) -> Result<(), String> {
    match text.chars().find(|c| is_misleading(*c)) {
        Some(c) => Err(format!(
            "{field} must not contain control characters, direction marks or invisible \
             characters (it holds U+{:04X}): it must read as what it is",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_hidden_or_reordering_characters_are_refused() {
        for c in [
            '\r',
            '\n',
            '\0',
            '\u{7F}',
            '\u{85}',
            '\u{202E}',
            '\u{202A}',
            '\u{202D}',
            '\u{2066}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{2028}',
            '\u{E0041}',
        ] {
            let err = check_label("name", &format!("Acme{c}Pay")).expect_err("refused");
            assert!(err.starts_with("name must not contain"), "{err}");
            assert!(err.contains(&format!("U+{:04X}", u32::from(c))), "{err}");
        }
        for ok in [
            "Production Key",
            "Café Ünïcode",
            "مفتاح الإنتاج",
            "生产密钥",
            "Deploy 🚀",
            "Ma\u{301}laga",
            "I \u{2764}\u{FE0F} keys",
            "tab-free, spaced  name",
        ] {
            assert_eq!(check_label("name", ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn printable_drops_control_characters() {
        assert_eq!(printable("a\r\nb\u{0}c"), "abc");
        assert_eq!(printable("x\u{202E}y\u{200B}z"), "xyz");
        assert_eq!(printable(&"x".repeat(100)).len(), 64);
    }
}
