//! Base62 in the alphabet DESIGN.md fixes: digits, then upper case, then lower case.

pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub(crate) fn is_base62(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

/// Maps two random bytes to one base62 character. The bias is 2 in 65,536 per
/// character (65,536 mod 62 = 2), far below anything an attacker could use.
pub(crate) fn char_from_random(high: u8, low: u8) -> u8 {
    let value = u16::from_be_bytes([high, low]) as usize;
    ALPHABET[value % 62]
}

/// `value` in base62, most significant digit first, left-padded with `0` to `WIDTH`.
pub(crate) fn encode_fixed<const WIDTH: usize>(mut value: u64) -> [u8; WIDTH] {
    let mut out = [b'0'; WIDTH];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// The CRC-32 of `signed` as 6 base62 chars: the checksum that ends keys and tokens.
pub(crate) fn checksum(signed: &[u8]) -> [u8; 6] {
    encode_fixed::<6>(crc32fast::hash(signed) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_most_significant_digit_first() {
        assert_eq!(&encode_fixed::<6>(0), b"000000");
        assert_eq!(&encode_fixed::<6>(61), b"00000z");
        assert_eq!(&encode_fixed::<6>(62), b"000010");
        assert_eq!(&encode_fixed::<6>(u32::MAX as u64), b"4gfFC3");
    }

    #[test]
    fn random_pairs_cover_the_alphabet() {
        let seen: std::collections::BTreeSet<u8> =
            (0..=255u8).map(|b| char_from_random(0, b)).collect();
        assert_eq!(seen.len(), 62);
    }
}
