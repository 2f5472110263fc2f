//! Secret scanning: GitHub's partner protocol. GitHub finds `sk_(test|live)_…` in public
//! code and posts the matches, signed with ECDSA P-256 / SHA-256; the gateway labels
//! each and revokes (or flags) every real key at once. Core parses the signed report,
//! the key document and the DER signature, and labels what needs no storage; the
//! signature check itself is the runtime's (WebCrypto), given the bytes core prepares.

use crate::base::base64::base64_decode;
use crate::base::text::printable;
use crate::credentials::key::{hash_hex, ApiKey};
use crate::credentials::token::OAuthToken;
use crate::policy::error::ApiError;
use serde::{Deserialize, Serialize};

/// Largest report accepted, in bytes (GitHub batches matches; 1 MiB holds thousands).
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;
/// Most tokens one report may carry.
pub const MAX_REPORT_TOKENS: usize = 1000;
/// The header naming the key that signed the report.
pub const KEY_ID_HEADER: &str = "Github-Public-Key-Identifier";
/// The header carrying the signature (base64 DER).
pub const SIGNATURE_HEADER: &str = "Github-Public-Key-Signature";

/// One match GitHub reports.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Match {
    /// The string found.
    pub token: String,
    /// GitHub's name for the pattern.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: String,
    /// `content`, `commit`, …
    #[serde(default)]
    pub source: String,
}

/// How a reported token is labelled in the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A real key (active, expired or revoked).
    TruePositive,
    /// Not a key of ours.
    FalsePositive,
}

/// One entry of the answer GitHub reads: a hash, never the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// SHA-256 hex of the reported token.
    pub token_hash: String,
    /// The type GitHub sent.
    pub token_type: String,
    /// The label.
    pub label: Label,
}

/// What to do with a real key that leaked (`LEAKED_KEY_ACTION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// Revoke it at once.
    #[default]
    Revoke,
    /// Mark it leaked (visible in its views) and leave it working.
    Flag,
}

impl LeakAction {
    /// Parses the var; empty is the default.
    pub fn parse(text: &str) -> Option<LeakAction> {
        match text.trim() {
            "" | "revoke" => Some(LeakAction::Revoke),
            "flag" => Some(LeakAction::Flag),
            _ => None,
        }
    }
}

/// Where a leak was found, as the report said (kept in the key's record and the audit
/// log; never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakReport {
    /// Where.
    pub url: String,
    /// What kind of place.
    pub source: String,
}

/// A reported token, sorted: a string that is not one of our keys is labelled at once;
/// a well-formed key needs its guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sorted {
    /// Fails prefix, length, alphabet or checksum: no storage read.
    FalsePositive(Feedback),
    /// A well-formed key: its guard decides.
    Candidate {
        /// The parsed key (its id names the guard).
        key: ApiKey,
        /// The report's details.
        report: LeakReport,
        /// The token's hash and type, for the answer.
        token_type: String,
    },
    /// A well-formed OAuth token or code: its grant's guard decides.
    OAuthCandidate {
        /// The parsed token (its grant id names the guard).
        token: OAuthToken,
        /// The report's details.
        report: LeakReport,
        /// The token's type, for the answer.
        token_type: String,
    },
}

/// Parses a verified report's bytes and sorts each match.
pub fn parse_report(body: &[u8]) -> Result<Vec<Sorted>, ApiError> {
    let shape = |e: serde_json::Error| {
        ApiError::invalid_request(format!(
            "The body must be a JSON array of {{token, type, url, source}}: {e}"
        ))
    };
    let value = crate::base::json::parse(body).map_err(shape)?;
    let matches: Vec<Match> = serde_json::from_value(value).map_err(shape)?;
    if matches.len() > MAX_REPORT_TOKENS {
        return Err(ApiError::invalid_request(format!(
            "A report may carry at most {MAX_REPORT_TOKENS} tokens"
        )));
    }
    Ok(matches
        .into_iter()
        .map(|m| {
            let report = LeakReport {
                url: printable_long(&m.url),
                source: printable(&m.source),
            };
            if let Ok(key) = ApiKey::parse(&m.token) {
                return Sorted::Candidate {
                    key,
                    report,
                    token_type: m.token_type,
                };
            }
            match OAuthToken::parse(&m.token) {
                Some(token) => Sorted::OAuthCandidate {
                    token,
                    report,
                    token_type: m.token_type,
                },
                None => Sorted::FalsePositive(Feedback {
                    token_hash: hash_hex(m.token.as_bytes()),
                    token_type: m.token_type,
                    label: Label::FalsePositive,
                }),
            }
        })
        .collect())
}

fn printable_long(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(2048)
        .collect()
}

/// GitHub's key document (`/meta/public_keys/secret_scanning`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct KeyDocument {
    /// The keys.
    pub public_keys: Vec<PublishedKey>,
}

/// One key of the document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PublishedKey {
    /// What `Github-Public-Key-Identifier` names.
    pub key_identifier: String,
    /// PEM, `-----BEGIN PUBLIC KEY-----` (SPKI).
    pub key: String,
    /// Whether GitHub signs with it now.
    #[serde(default)]
    pub is_current: bool,
}

impl KeyDocument {
    /// Parses the document.
    pub fn parse(text: &str) -> Option<KeyDocument> {
        serde_json::from_str(text).ok()
    }

    /// The SPKI DER of the key `identifier` names, if the document has it.
    pub fn spki_of(&self, identifier: &str) -> Option<Vec<u8>> {
        self.public_keys
            .iter()
            .find(|k| k.key_identifier == identifier)
            .and_then(|k| pem_to_der(&k.key))
    }
}

/// The DER inside a PEM block.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64_decode(&body)
}

/// An ECDSA P-256 signature in DER (`SEQUENCE { INTEGER r, INTEGER s }`) as the 64
/// bytes `r || s` WebCrypto verifies. Strict: one length form, no trailing bytes,
/// integers of at most 32 significant bytes.
pub fn der_signature_to_raw(der: &[u8]) -> Option<[u8; 64]> {
    fn length(bytes: &[u8]) -> Option<(usize, &[u8])> {
        let (&first, rest) = bytes.split_first()?;
        match first {
            0..=0x7f => Some((usize::from(first), rest)),
            0x81 => {
                let (&n, rest) = rest.split_first()?;
                (n >= 0x80).then_some((usize::from(n), rest))
            }
            _ => None,
        }
    }
    fn integer(bytes: &[u8]) -> Option<([u8; 32], &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        if tag != 0x02 {
            return None;
        }
        let (len, rest) = length(rest)?;
        if len == 0 || rest.len() < len {
            return None;
        }
        let (value, rest) = rest.split_at(len);
        // A leading zero only where the next byte's high bit is set (DER's minimal form).
        let value = match value {
            [0, next, ..] if *next >= 0x80 => &value[1..],
            [0, _, ..] => return None,
            [first, ..] if *first >= 0x80 => return None,
            _ => value,
        };
        if value.len() > 32 {
            return None;
        }
        let mut out = [0u8; 32];
        out[32 - value.len()..].copy_from_slice(value);
        Some((out, rest))
    }
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (len, rest) = length(rest)?;
    if rest.len() != len {
        return None;
    }
    let (r, rest) = integer(rest)?;
    let (s, rest) = integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut raw = [0u8; 64];
    raw[..32].copy_from_slice(&r);
    raw[32..].copy_from_slice(&s);
    Some(raw)
}

/// The 401 for a report whose signature is missing, unknown or wrong: nothing is read.
pub fn bad_signature() -> ApiError {
    ApiError::unsigned_report()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::key::{KeyType, RANDOM_BYTES_FOR_KEY};

    #[test]
    fn der_signatures_become_r_and_s() {
        // r = 1, s = 0x80 (needs a leading zero in DER).
        let der = [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80];
        let raw = der_signature_to_raw(&der).expect("valid");
        assert_eq!(raw[31], 1);
        assert_eq!(raw[63], 0x80);
        assert!(raw[..31].iter().all(|&b| b == 0));
        // 33-byte integers (leading zero + 32 bytes) are the common case.
        let mut full = vec![0x30, 0x44, 0x02, 0x20];
        full.extend([0x11; 32]);
        full.extend([0x02, 0x20]);
        full.extend([0x22; 32]);
        let raw = der_signature_to_raw(&full).expect("valid");
        assert_eq!((raw[0], raw[32]), (0x11, 0x22));
    }

    #[test]
    fn malformed_der_is_refused() {
        for bad in [
            &[][..],
            &[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            &[0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
            &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01],
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01],
            &[0x30, 0x06, 0x02, 0x00, 0x02, 0x02, 0x01, 0x01],
        ] {
            assert_eq!(der_signature_to_raw(bad), None, "{bad:?}");
        }
        let mut long = vec![0x30, 0x25, 0x02, 0x21];
        long.extend([0x7f; 33]);
        long.extend([0x02, 0x01, 0x01]);
        assert_eq!(der_signature_to_raw(&long), None, "33 significant bytes");
    }

    #[test]
    fn base64_and_pem() {
        assert_eq!(base64_decode("Zm9vYmFy"), Some(b"foobar".to_vec()));
        assert_eq!(base64_decode("Zm9vYg=="), Some(b"foob".to_vec()));
        assert_eq!(base64_decode("Zm9vY"), None);
        assert_eq!(base64_decode("Zm9v!"), None);
        let pem = "-----BEGIN PUBLIC KEY-----\nZm9v\nYmFy\n-----END PUBLIC KEY-----\n";
        assert_eq!(pem_to_der(pem), Some(b"foobar".to_vec()));
        let doc = KeyDocument::parse(&format!(
            r#"{{"public_keys":[{{"key_identifier":"abc","key":{},"is_current":true}}]}}"#,
            serde_json::to_string(pem).expect("json")
        ))
        .expect("parses");
        assert_eq!(doc.spki_of("abc"), Some(b"foobar".to_vec()));
        assert_eq!(doc.spki_of("other"), None);
    }

    #[test]
    fn only_well_formed_keys_need_their_guard() {
        let key = ApiKey::generate(KeyType::Live, &[4; RANDOM_BYTES_FOR_KEY]);
        let mut broken = key.expose_secret().to_owned();
        broken.pop();
        broken.push(if key.expose_secret().ends_with('a') {
            'b'
        } else {
            'a'
        });
        let body = serde_json::json!([
            {"token": key.expose_secret(), "type": "scopien_live_key", "url": "https://x/y", "source": "content"},
            {"token": broken, "type": "scopien_live_key", "url": "https://x/z", "source": "commit"},
        ]);
        let sorted = parse_report(body.to_string().as_bytes()).expect("valid");
        assert!(matches!(&sorted[0], Sorted::Candidate { key: k, .. } if k == &key));
        let Sorted::FalsePositive(feedback) = &sorted[1] else {
            panic!("a bad checksum is labelled without storage");
        };
        assert_eq!(feedback.token_hash, hash_hex(broken.as_bytes()));
        assert_eq!(feedback.label, Label::FalsePositive);
        assert!(parse_report(b"{}").is_err());
        assert_eq!(
            serde_json::to_value(feedback).expect("json")["label"],
            "false_positive"
        );
    }
}
