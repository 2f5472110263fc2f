//! Quoting what a client sent inside a message, safely.

/// A user-supplied string made safe to quote in a message: control characters dropped,
/// at most 64 chars.
pub fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_drops_control_characters() {
        assert_eq!(printable("a\r\nb\u{0}c"), "abc");
        assert_eq!(printable(&"x".repeat(100)).len(), 64);
    }
}
