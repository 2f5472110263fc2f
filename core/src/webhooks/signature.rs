//! The Standard Webhooks signature: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
//! keyed with the secret's decoded bytes, and the `whsec_` secret format.

use crate::base::base64::{base64, base64_decode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// The fewest bytes a secret may decode to.
const MIN_SECRET_BYTES: usize = 24;

/// A new secret from the worker's random bytes: `whsec_` + their base64.
pub fn new_secret(random: &[u8; SECRET_BYTES]) -> String {
    format!("{SECRET_PREFIX}{}", base64(random))
}

/// The key a secret signs with (its base64 part decoded); `None` for text that is not a
/// secret of this format.
fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = base64_decode(secret.strip_prefix(SECRET_PREFIX)?)?;
    (key.len() >= MIN_SECRET_BYTES).then_some(key)
}

/// What is signed: `{id}.{timestamp}.{body}`.
pub fn signing_input(id: &str, timestamp_s: u64, body: &str) -> Vec<u8> {
    format!("{id}.{timestamp_s}.{body}").into_bytes()
}

/// One signature, `v1,<base64>`; `None` when `secret` is not a `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp_s: u64, body: &str) -> Option<String> {
    let key = secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(&signing_input(id, timestamp_s, body));
    Some(format!("v1,{}", base64(&mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per secret, space-separated (two
/// while a rotated secret still signs beside its successor).
pub fn signature_header(secrets: &[String], id: &str, timestamp_s: u64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| sign(secret, id, timestamp_s, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (standard-webhooks, "Verifying signatures").
    #[test]
    fn the_standard_webhooks_known_answer() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let signed = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signed.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn every_part_of_the_input_is_signed() {
        let secret = new_secret(&[7; SECRET_BYTES]);
        let base = sign(&secret, "msg_a", 10, "{}");
        assert!(base.is_some());
        assert_ne!(base, sign(&secret, "msg_b", 10, "{}"));
        assert_ne!(base, sign(&secret, "msg_a", 11, "{}"));
        assert_ne!(base, sign(&secret, "msg_a", 10, "{ }"));
        assert_ne!(
            base,
            sign(&new_secret(&[8; SECRET_BYTES]), "msg_a", 10, "{}")
        );
        assert_eq!(signing_input("msg_a", 10, "{}"), b"msg_a.10.{}");
    }

    #[test]
    fn a_secret_is_whsec_and_base64_of_its_random_bytes() {
        let secret = new_secret(&[0xff; SECRET_BYTES]);
        let encoded = secret.strip_prefix("whsec_").expect("prefix");
        assert_eq!(base64_decode(encoded), Some(vec![0xff; SECRET_BYTES]));
        assert_eq!(encoded.len(), 44);
        assert_eq!(sign("whsec_c2hvcnQ=", "m", 1, "{}"), None, "too short");
        assert_eq!(sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "{}"), None);
    }

    #[test]
    fn two_secrets_give_two_signatures_space_separated() {
        let secrets = [
            new_secret(&[1; SECRET_BYTES]),
            new_secret(&[2; SECRET_BYTES]),
        ];
        let header = signature_header(&secrets, "msg_a", 5, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            Some(parts[0].to_owned()),
            sign(&secrets[0], "msg_a", 5, "{}")
        );
        assert_eq!(
            Some(parts[1].to_owned()),
            sign(&secrets[1], "msg_a", 5, "{}")
        );
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
    }
}
