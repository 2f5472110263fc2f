//! The key parser (`ApiKey::parse`) and the `Authorization` header reader.
//!
//! Properties:
//! - neither ever panics, whatever the bytes;
//! - a key that parses re-serialises to exactly its text, its id is chars 8..24 and
//!   its type is its prefix;
//! - a 56-char `sk_live_`/`sk_test_` + base62 body with a checksum computed here,
//!   independently of the core (CRC-32 → 6 base62 digits), always parses;
//! - changing any one char of a parsed key makes it fail to parse;
//! - `Authorization: Bearer <key>` yields that key; header errors are 400 or 401.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopien_auth::http::credential::parse_authorization;
use scopien_auth::credentials::key::{ApiKey, KeyType, KEY_LEN};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The published checksum, computed without the core's code.
fn checksum(signed: &str) -> String {
    let mut v = u64::from(crc32fast::hash(signed.as_bytes()));
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

fn check_parsed(text: &str, key: &ApiKey, noise: &[u8]) {
    assert_eq!(key.expose_secret(), text, "re-serialises to its text");
    assert_eq!(text.len(), KEY_LEN);
    assert_eq!(key.id().chars(), &text[8..24], "id is chars 8..24");
    assert_eq!(key.id().to_string(), format!("key_{}", &text[8..24]));
    let expected_type = match &text[..8] {
        "sk_live_" => KeyType::Live,
        "sk_test_" => KeyType::Test,
        other => panic!("parsed with prefix {other:?}"),
    };
    assert_eq!(key.key_type(), expected_type);
    assert_eq!(key.last4(), &text[KEY_LEN - 4..]);
    assert!(text[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(ApiKey::parse(key.expose_secret()).as_ref(), Ok(key));

    // Every one-char change is refused: another base62 char, a non-base62 ASCII char
    // and a multi-byte char, at every position.
    let chars: Vec<char> = text.chars().collect();
    for (i, &orig) in chars.iter().enumerate() {
        let pick = noise.get(i % noise.len().max(1)).copied().unwrap_or(0) as usize;
        let orig_idx = ALPHABET
            .iter()
            .position(|&a| a as char == orig)
            .unwrap_or(0);
        let other = ALPHABET[(orig_idx + 1 + pick % 61) % 62] as char;
        let odd = b"-_ \0%/"[pick % 6] as char;
        for replacement in [other, odd, 'é'] {
            if replacement == orig {
                continue;
            }
            let mut changed = chars.clone();
            changed[i] = replacement;
            let changed: String = changed.into_iter().collect();
            assert!(
                ApiKey::parse(&changed).is_err(),
                "one-char change at {i} to {replacement:?} still parses"
            );
        }
    }

    // The header reader accepts the key behind Bearer, any case of the scheme.
    for header in [format!("Bearer {text}"), format!("bEaReR  {text} ")] {
        assert_eq!(parse_authorization(Some(&header)).as_ref(), Ok(key));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        // Lossy form still must not panic anything.
        let lossy = String::from_utf8_lossy(data);
        let _ = ApiKey::parse(&lossy);
        let _ = parse_authorization(Some(&lossy));
        return;
    };

    // 1. The raw string, as a key and as a header value.
    if let Ok(key) = ApiKey::parse(text) {
        check_parsed(text, &key, data);
    }
    for header in [text.to_owned(), format!("Bearer {text}")] {
        match parse_authorization(Some(&header)) {
            Ok(key) => {
                let token = header.trim().split_once(' ').map(|(_, t)| t.trim_start());
                assert_eq!(Some(key.expose_secret()), token);
                check_parsed(key.expose_secret(), &key, data);
            }
            Err(e) => assert!(matches!(e.status, 400 | 401), "status {}", e.status),
        }
    }

    // 2. The first 56 bytes with a correct checksum appended: reaches the success path.
    if let Some(signed) = text.get(..KEY_LEN - 6) {
        let candidate = format!("{signed}{}", checksum(signed));
        let well_formed = (signed.starts_with("sk_live_") || signed.starts_with("sk_test_"))
            && signed[8..].bytes().all(|b| b.is_ascii_alphanumeric());
        match ApiKey::parse(&candidate) {
            Ok(key) => {
                assert!(well_formed, "parsed a malformed key");
                check_parsed(&candidate, &key, &data[KEY_LEN - 6..]);
            }
            Err(e) => assert!(!well_formed, "refused a well-formed key: {e:?}"),
        }
    }
});
