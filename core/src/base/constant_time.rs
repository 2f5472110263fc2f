//! Comparison of secrets whose running time does not depend on where they differ.

/// True when `a` and `b` are equal. Time depends only on the lengths, which are public
/// (both sides are SHA-256 hex digests in practice).
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_only_when_every_byte_matches() {
        assert!(super::eq(b"abc", b"abc"));
        assert!(!super::eq(b"abc", b"abd"));
        assert!(!super::eq(b"abc", b"xbc"));
        assert!(!super::eq(b"abc", b"abcd"));
        assert!(super::eq(b"", b""));
    }
}
