//! The key format: `sk_<test|live>_<16 id><32 secret><6 checksum>`, all base62.
//!
//! The id chars name the key's Durable Object (`key_<id>`), so no lookup is needed to
//! find its state; the secret makes it unguessable (32 base62 chars ≈ 190 bits); the
//! checksum (CRC-32 of everything before it) lets a malformed or mistyped key be refused,
//! and a leaked one be recognised by a scanner, without any storage read.

use crate::base::base62;
pub use crate::ids::{KeyId, ID_LEN};
use core::fmt;
use sha2::{Digest, Sha256};

/// Length of the secret part, in base62 chars.
pub const SECRET_LEN: usize = 32;
/// Length of the checksum part, in base62 chars.
pub const CHECKSUM_LEN: usize = 6;
/// Length of a whole key: `sk_live_` (8) + 16 + 32 + 6.
pub const KEY_LEN: usize = 8 + ID_LEN + SECRET_LEN + CHECKSUM_LEN;
/// Random bytes `ApiKey::generate` needs: two per id and secret char.
pub const RANDOM_BYTES_FOR_KEY: usize = 2 * (ID_LEN + SECRET_LEN);
/// Random bytes `ApiKey::with_new_secret` needs: two per secret char.
pub const RANDOM_BYTES_FOR_SECRET: usize = 2 * SECRET_LEN;
/// The regex secret scanners use; the checksum is then verified offline.
pub const SCANNER_REGEX: &str = "sk_(test|live)_[0-9A-Za-z]{54}";

/// Test keys reach the sandbox origin with test data; live keys reach production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// `sk_test_…`
    Test,
    /// `sk_live_…`
    Live,
}

impl KeyType {
    /// `"test"` or `"live"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Test => "test",
            KeyType::Live => "live",
        }
    }

    /// The prefix of this type's entries in the KV directory (`test:key_…`), so a
    /// test-mode admin lists only test keys.
    pub fn directory_prefix(self) -> &'static str {
        match self {
            KeyType::Test => "test:",
            KeyType::Live => "live:",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            KeyType::Test => "sk_test_",
            KeyType::Live => "sk_live_",
        }
    }
}

/// Why a string is not a key. Never carries any part of the string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not `sk_test_` or `sk_live_`.
    Prefix,
    /// Not 62 chars long.
    Length,
    /// A char outside base62.
    Alphabet,
    /// The last 6 chars are not the CRC-32 of the rest.
    Checksum,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Prefix => "key prefix is not sk_test_ or sk_live_",
            KeyError::Length => "key length is not 62 characters",
            KeyError::Alphabet => "key contains a character outside [0-9A-Za-z]",
            KeyError::Checksum => "key checksum does not match",
        })
    }
}

/// A well-formed key: prefix, length, alphabet and checksum all checked. It may still be
/// unknown or revoked; only its Durable Object can say.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: String,
    key_type: KeyType,
    id: KeyId,
}

impl ApiKey {
    /// Parses a key strictly. Looks at nothing but the string.
    pub fn parse(text: &str) -> Result<ApiKey, KeyError> {
        let key_type = if text.starts_with(KeyType::Live.prefix()) {
            KeyType::Live
        } else if text.starts_with(KeyType::Test.prefix()) {
            KeyType::Test
        } else {
            return Err(KeyError::Prefix);
        };
        if text.len() != KEY_LEN {
            return Err(KeyError::Length);
        }
        let body = &text.as_bytes()[8..];
        if !body.iter().all(|&b| base62::is_base62(b)) {
            return Err(KeyError::Alphabet);
        }
        let (signed, checksum) = text.as_bytes().split_at(KEY_LEN - CHECKSUM_LEN);
        if checksum != checksum_of(signed) {
            return Err(KeyError::Checksum);
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&body[..ID_LEN]);
        Ok(ApiKey {
            text: text.to_owned(),
            key_type,
            id: KeyId::from_bytes(id),
        })
    }

    /// A new key from caller-given random bytes (the core has no randomness of its own).
    pub fn generate(key_type: KeyType, random: &[u8; RANDOM_BYTES_FOR_KEY]) -> ApiKey {
        let mut id = [0u8; ID_LEN];
        for (slot, pair) in id.iter_mut().zip(random.chunks_exact(2)) {
            *slot = base62::char_from_random(pair[0], pair[1]);
        }
        let mut secret_random = [0u8; RANDOM_BYTES_FOR_SECRET];
        secret_random.copy_from_slice(&random[2 * ID_LEN..]);
        Self::with_new_secret(key_type, KeyId::from_bytes(id), &secret_random)
    }

    /// A key with the given id and a new secret: what rolling a key produces.
    pub fn with_new_secret(
        key_type: KeyType,
        id: KeyId,
        random: &[u8; RANDOM_BYTES_FOR_SECRET],
    ) -> ApiKey {
        let mut text = String::with_capacity(KEY_LEN);
        text.push_str(key_type.prefix());
        text.push_str(id.chars());
        for pair in random.chunks_exact(2) {
            text.push(base62::char_from_random(pair[0], pair[1]) as char);
        }
        let checksum = checksum_of(text.as_bytes());
        text.extend(checksum.iter().map(|&b| b as char));
        ApiKey { text, key_type, id }
    }

    /// Test or live.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key's id, which names its Durable Object.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The id's 16 chars, which name the key's guard.
    pub fn id_chars(&self) -> &str {
        &self.text[8..8 + ID_LEN]
    }

    /// The raw key. Only the create and roll responses ever show it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the whole key, lower-case hex: the only form that is stored.
    pub fn hash_hex(&self) -> String {
        hash_hex(self.text.as_bytes())
    }

    /// `sk_live_<id>…<last 4>`: enough to recognise a key, useless to an attacker.
    pub fn display(&self) -> String {
        display_form(self.key_type, self.id, &self.text[KEY_LEN - 4..])
    }

    /// The last four chars, kept beside the hash so the display form can be rebuilt.
    pub fn last4(&self) -> &str {
        &self.text[KEY_LEN - 4..]
    }
}

impl fmt::Debug for ApiKey {
    // Never print the secret, even in a debug log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.display())
    }
}

/// The display form from its stored parts.
pub fn display_form(key_type: KeyType, id: KeyId, last4: &str) -> String {
    format!("{}{}…{}", key_type.prefix(), id.chars(), last4)
}

/// SHA-256, lower-case hex.
pub fn hash_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
    out
}

fn checksum_of(signed: &[u8]) -> [u8; CHECKSUM_LEN] {
    base62::checksum(signed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_from_seed(seed: u8, key_type: KeyType) -> ApiKey {
        let mut random = [0u8; RANDOM_BYTES_FOR_KEY];
        for (i, b) in random.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
        ApiKey::generate(key_type, &random)
    }

    #[test]
    fn generated_key_has_the_published_shape() {
        let key = key_from_seed(7, KeyType::Live);
        let text = key.expose_secret();
        assert_eq!(text.len(), 62);
        assert!(text.starts_with("sk_live_"));
        assert!(text[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(key.id().to_string(), format!("key_{}", &text[8..24]));
        assert_eq!(ApiKey::parse(text), Ok(key.clone()));
    }

    #[test]
    fn checksum_is_crc32_in_base62() {
        // Independent computation of the vector: zlib's crc32 of the first 56 bytes.
        let key = key_from_seed(1, KeyType::Test);
        let text = key.expose_secret();
        let crc = crc32fast::hash(&text.as_bytes()[..56]) as u64;
        let mut expected = String::new();
        let mut v = crc;
        for _ in 0..6 {
            expected.insert(0, base62::ALPHABET[(v % 62) as usize] as char);
            v /= 62;
        }
        assert_eq!(&text[56..], expected);
    }

    #[test]
    fn parse_refuses_each_kind_of_malformed_key() {
        let key = key_from_seed(3, KeyType::Live);
        let good = key.expose_secret();
        assert_eq!(ApiKey::parse(""), Err(KeyError::Prefix));
        assert_eq!(
            ApiKey::parse(&good.replace("sk_live_", "sk_prod_")),
            Err(KeyError::Prefix)
        );
        assert_eq!(
            ApiKey::parse(&good.replace("sk_live_", "SK_LIVE_")),
            Err(KeyError::Prefix)
        );
        assert_eq!(ApiKey::parse(&good[..61]), Err(KeyError::Length));
        assert_eq!(ApiKey::parse(&format!("{good}0")), Err(KeyError::Length));
        let mut bad_char = good.to_owned();
        bad_char.replace_range(20..21, "-");
        assert_eq!(ApiKey::parse(&bad_char), Err(KeyError::Alphabet));
        let mut non_ascii = good[..60].to_owned();
        non_ascii.push('é');
        assert_eq!(ApiKey::parse(&non_ascii), Err(KeyError::Alphabet));
    }

    #[test]
    fn known_vector_parses() {
        // Built by hand from the published rules (see README): id 0123456789abcdef,
        // secret 32 × 'A'.
        let signed = "sk_test_0123456789abcdefAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let crc = crc32fast::hash(signed.as_bytes()) as u64;
        let key = format!(
            "{signed}{}",
            String::from_utf8_lossy(&base62::encode_fixed::<6>(crc))
        );
        let parsed = ApiKey::parse(&key).expect("vector parses");
        assert_eq!(parsed.key_type(), KeyType::Test);
        assert_eq!(parsed.id().to_string(), "key_0123456789abcdef");
        assert_eq!(
            parsed.display(),
            format!("sk_test_0123456789abcdef…{}", &key[58..])
        );
    }

    #[test]
    fn rolled_key_keeps_id_and_type() {
        let key = key_from_seed(9, KeyType::Test);
        let rolled = ApiKey::with_new_secret(key.key_type(), key.id(), &[5u8; 64]);
        assert_eq!(rolled.id(), key.id());
        assert_ne!(rolled.expose_secret(), key.expose_secret());
        assert!(ApiKey::parse(rolled.expose_secret()).is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = key_from_seed(11, KeyType::Live);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose_secret()[24..56]));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_id_parse_is_strict() {
        assert!(KeyId::parse("key_0123456789abcdef").is_some());
        assert!(KeyId::parse("key_0123456789abcde").is_none());
        assert!(KeyId::parse("key_0123456789abcde-").is_none());
        assert!(KeyId::parse("kex_0123456789abcdef").is_none());
        assert!(KeyId::parse("key_0123456789abcdef0").is_none());
    }

    proptest! {
        #[test]
        fn every_generated_key_parses(random in proptest::collection::vec(any::<u8>(), RANDOM_BYTES_FOR_KEY), live in any::<bool>()) {
            let mut bytes = [0u8; RANDOM_BYTES_FOR_KEY];
            bytes.copy_from_slice(&random);
            let key_type = if live { KeyType::Live } else { KeyType::Test };
            let key = ApiKey::generate(key_type, &bytes);
            prop_assert_eq!(ApiKey::parse(key.expose_secret()), Ok(key));
        }

        #[test]
        fn every_single_char_change_is_refused(
            random in proptest::collection::vec(any::<u8>(), RANDOM_BYTES_FOR_KEY),
            position in 8usize..KEY_LEN,
            replacement in 0usize..62,
        ) {
            let mut bytes = [0u8; RANDOM_BYTES_FOR_KEY];
            bytes.copy_from_slice(&random);
            let key = ApiKey::generate(KeyType::Live, &bytes);
            let mut changed = key.expose_secret().as_bytes().to_vec();
            let new_char = base62::ALPHABET[replacement];
            prop_assume!(changed[position] != new_char);
            changed[position] = new_char;
            let text = String::from_utf8(changed).expect("ascii");
            prop_assert_eq!(ApiKey::parse(&text), Err(KeyError::Checksum));
        }
    }
}
