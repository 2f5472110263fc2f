//! WebAuthn (Level 2/3) for passkeys, with no I/O: what a browser's authenticator sends
//! at registration (`clientDataJSON`, `attestationObject`) and at sign-in
//! (`clientDataJSON`, `authenticatorData`, `signature`) is parsed and checked here:
//! the ceremony's type, its challenge, an allowed origin, the RP id's SHA-256, user
//! presence and user verification, attestation `none`, an ES256 (COSE EC2 P-256, alg
//! -7) public key, and the signature counter. The signature itself is verified by the
//! worker with WebCrypto (ECDSA P-256 SHA-256) over [`AssertionCheck::signed_data`],
//! with the DER signature turned into the raw `r‖s` WebCrypto wants
//! ([`signature_der_to_raw`], the converter secret scanning uses). CBOR is read with `ciborium`.

use crate::base::base64::base64url;
use crate::policy::error::ApiError;
use ciborium::value::{Integer, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A ceremony's challenge: random bytes.
pub const CHALLENGE_BYTES: usize = 32;
/// A ceremony's challenge is accepted this long after it was given (5 minutes).
pub const CEREMONY_TTL_MS: u64 = 5 * 60 * 1000;
/// COSE algorithm ES256 (ECDSA P-256, SHA-256).
pub const COSE_ES256: i64 = -7;
/// COSE algorithm EdDSA (Ed25519).
pub const COSE_EDDSA: i64 = -8;
/// COSE algorithm RS256 (RSASSA-PKCS1-v1_5, SHA-256), Windows Hello's.
pub const COSE_RS256: i64 = -257;

/// Flags of authenticator data.
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// Why a ceremony was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebAuthnError {
    /// Bytes that are not what they should be (which, said).
    Malformed(&'static str),
    /// `webauthn.create` where `webauthn.get` was due, or the reverse.
    WrongType,
    /// Not the challenge this ceremony gave (or one already used, or expired).
    WrongChallenge,
    /// An origin not in `PASSKEY_ORIGINS`.
    WrongOrigin,
    /// The RP id hash is not SHA-256 of `PASSKEY_RP_ID`.
    WrongRpId,
    /// The user was not present.
    NoUserPresence,
    /// The user was not verified (PIN, biometrics).
    NoUserVerification,
    /// An attestation format other than `none`.
    UnsupportedAttestation,
    /// A public key other than ES256, EdDSA (Ed25519) or RS256.
    UnsupportedAlgorithm,
    /// The signature counter went back: a cloned authenticator.
    CounterRegressed,
    /// No passkey with this credential id.
    UnknownCredential,
    /// The signature does not verify.
    BadSignature,
}

impl WebAuthnError {
    /// What the person is told.
    pub fn message(self) -> String {
        match self {
            WebAuthnError::Malformed(what) => format!("The passkey's answer is malformed: {what}"),
            WebAuthnError::WrongType => "The passkey answered another ceremony".into(),
            WebAuthnError::WrongChallenge => {
                "The passkey's challenge is unknown, used or expired; try again".into()
            }
            WebAuthnError::WrongOrigin => {
                "The passkey was used from an origin this gateway does not serve (PASSKEY_ORIGINS)"
                    .into()
            }
            WebAuthnError::WrongRpId => "The passkey is for another site (PASSKEY_RP_ID)".into(),
            WebAuthnError::NoUserPresence => "The passkey did not confirm your presence".into(),
            WebAuthnError::NoUserVerification => {
                "The passkey did not verify you (PIN or biometrics are required)".into()
            }
            WebAuthnError::UnsupportedAttestation => "Only attestation 'none' is accepted".into(),
            WebAuthnError::UnsupportedAlgorithm => {
                "Only ES256 (P-256), EdDSA (Ed25519) and RS256 passkeys are accepted".into()
            }
            WebAuthnError::CounterRegressed => {
                "The passkey's signature counter went back: it may have been cloned".into()
            }
            WebAuthnError::UnknownCredential => "This passkey is not known here".into(),
            WebAuthnError::BadSignature => "The passkey's signature does not verify".into(),
        }
    }

    /// The API's answer (401).
    pub fn api_error(self) -> ApiError {
        ApiError::passkey_refused(self.message())
    }
}

type Result<T> = core::result::Result<T, WebAuthnError>;

/// The relying party: the RP id (configuration, never the `Host` header) and the
/// origins a ceremony may come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    /// `PASSKEY_RP_ID`, e.g. `localhost` or `gateway.example.com`.
    pub id: String,
    /// `PASSKEY_ORIGINS`, e.g. `http://localhost:8787`.
    pub origins: Vec<String>,
}

/// `clientDataJSON`, the parts checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientData {
    /// `webauthn.create` or `webauthn.get`.
    pub kind: String,
    /// The challenge, decoded.
    pub challenge: Vec<u8>,
    /// The page's origin.
    pub origin: String,
}

#[derive(Deserialize)]
struct RawClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: bool,
}

/// Parses `clientDataJSON`.
pub fn parse_client_data(json: &[u8]) -> Result<ClientData> {
    let raw: RawClientData =
        serde_json::from_slice(json).map_err(|_| WebAuthnError::Malformed("clientDataJSON"))?;
    if raw.cross_origin {
        return Err(WebAuthnError::WrongOrigin);
    }
    let challenge =
        base64url_decode(&raw.challenge).ok_or(WebAuthnError::Malformed("challenge"))?;
    Ok(ClientData {
        kind: raw.kind,
        challenge,
        origin: raw.origin,
    })
}

/// An ES256 public key: the P-256 point's coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es256Key {
    /// x, base64url.
    pub x: String,
    /// y, base64url.
    pub y: String,
}

impl Es256Key {
    /// The uncompressed SEC1 point (`04‖x‖y`), WebCrypto's `raw` import.
    pub fn sec1(&self) -> Option<Vec<u8>> {
        let (x, y) = (base64url_decode(&self.x)?, base64url_decode(&self.y)?);
        (x.len() == 32 && y.len() == 32).then(|| [&[4u8][..], &x, &y].concat())
    }
}

/// An Ed25519 public key (COSE OKP, crv 6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ed25519Key {
    /// The 32-byte public key, base64url.
    pub ed25519: String,
}

/// An RSA public key for RS256 (COSE RSA).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rs256Key {
    /// The modulus, base64url (big-endian, as a JWK's `n`).
    pub n: String,
    /// The public exponent, base64url (a JWK's `e`).
    pub e: String,
}

/// A passkey's public key, in the algorithm it signs with. Stored untagged: the
/// members tell them apart, so records from before EdDSA and RS256 (`{x, y}`) read as
/// ES256 keys unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PublicKey {
    /// ECDSA P-256 with SHA-256.
    Es256(Es256Key),
    /// Ed25519.
    EdDsa(Ed25519Key),
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(Rs256Key),
}

impl PublicKey {
    /// Its COSE algorithm.
    pub fn algorithm(&self) -> i64 {
        match self {
            PublicKey::Es256(_) => COSE_ES256,
            PublicKey::EdDsa(_) => COSE_EDDSA,
            PublicKey::Rs256(_) => COSE_RS256,
        }
    }
}

impl From<Es256Key> for PublicKey {
    fn from(key: Es256Key) -> PublicKey {
        PublicKey::Es256(key)
    }
}

/// A credential in authenticator data (registration only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedCredential {
    /// The credential id.
    pub id: Vec<u8>,
    /// Its public key.
    pub public_key: PublicKey,
}

/// `authenticatorData`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP id the authenticator used.
    pub rp_id_hash: [u8; 32],
    /// UP, UV, BE, BS, AT, ED.
    pub flags: u8,
    /// The signature counter (0 for authenticators without one, e.g. synced passkeys).
    pub sign_count: u32,
    /// The attested credential (registration).
    pub credential: Option<AttestedCredential>,
}

/// Parses authenticator data (WebAuthn §6.1): 32 bytes RP id hash, 1 flags, 4 counter,
/// then with AT the AAGUID (16), the id's length (2), the id, the COSE key; with ED,
/// extensions (a CBOR map); nothing after.
pub fn parse_authenticator_data(bytes: &[u8]) -> Result<AuthenticatorData> {
    let bad = WebAuthnError::Malformed("authenticatorData");
    if bytes.len() < 37 {
        return Err(bad);
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&bytes[..32]);
    let flags = bytes[32];
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    let mut rest = &bytes[37..];
    let credential = if flags & FLAG_AT != 0 {
        if rest.len() < 18 {
            return Err(bad);
        }
        let length = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        if length == 0 || length > 1023 || rest.len() < length {
            return Err(bad);
        }
        let id = rest[..length].to_vec();
        rest = &rest[length..];
        let key: Value = ciborium::from_reader(&mut rest).map_err(|_| bad)?;
        Some(AttestedCredential {
            id,
            public_key: cose_public_key(&key)?,
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        let extensions: Value = ciborium::from_reader(&mut rest).map_err(|_| bad)?;
        if !extensions.is_map() {
            return Err(bad);
        }
    }
    if !rest.is_empty() {
        return Err(bad);
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags,
        sign_count,
        credential,
    })
}

/// A COSE_Key (RFC 9053, RFC 8230) of one of the three algorithms offered: EC2 (kty 2)
/// ES256 (alg -7) on P-256 (crv 1) with 32-byte x and y; OKP (kty 1) EdDSA (alg -8) on
/// Ed25519 (crv 6) with a 32-byte x; RSA (kty 3) RS256 (alg -257) with a modulus of
/// 2048 to 4096 bits and a public exponent of at most 4 bytes.
fn cose_public_key(key: &Value) -> Result<PublicKey> {
    let map = key.as_map().ok_or(WebAuthnError::Malformed("COSE key"))?;
    let get = |label: i64| {
        map.iter()
            .find(|(k, _)| k.as_integer() == Some(Integer::from(label)))
            .map(|(_, v)| v)
    };
    let int = |label| get(label).and_then(Value::as_integer).map(i128::from);
    let bytes = |label, ok: &dyn Fn(usize) -> bool| {
        get(label)
            .and_then(Value::as_bytes)
            .filter(|b| ok(b.len()))
            .map(|b| base64url(b))
            .ok_or(WebAuthnError::Malformed("COSE key parameters"))
    };
    let alg = int(3).ok_or(WebAuthnError::UnsupportedAlgorithm)?;
    match (alg, int(1)) {
        (a, Some(2)) if a == i128::from(COSE_ES256) && int(-1) == Some(1) => {
            Ok(PublicKey::Es256(Es256Key {
                x: bytes(-2, &|n| n == 32)?,
                y: bytes(-3, &|n| n == 32)?,
            }))
        }
        (a, Some(1)) if a == i128::from(COSE_EDDSA) && int(-1) == Some(6) => {
            Ok(PublicKey::EdDsa(Ed25519Key {
                ed25519: bytes(-2, &|n| n == 32)?,
            }))
        }
        (a, Some(3)) if a == i128::from(COSE_RS256) => Ok(PublicKey::Rs256(Rs256Key {
            n: bytes(-1, &|n| (256..=512).contains(&n))?,
            e: bytes(-2, &|n| (1..=4).contains(&n))?,
        })),
        _ => Err(WebAuthnError::UnsupportedAlgorithm),
    }
}

/// A registration's new passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPasskey {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its public key.
    pub public_key: PublicKey,
    /// Its counter at registration.
    pub sign_count: u32,
}

/// What the worker verifies with WebCrypto after [`RelyingParty::verify_assertion`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionCheck {
    /// `authenticatorData ‖ SHA-256(clientDataJSON)`: what was signed.
    pub signed_data: Vec<u8>,
    /// The signature as WebCrypto verifies it: raw `r‖s` for ES256 (authenticators
    /// sign in DER), as sent for EdDSA (64 bytes) and RS256.
    pub signature: Vec<u8>,
    /// The new counter, to store once the signature verified.
    pub sign_count: u32,
}

impl RelyingParty {
    fn check_client_data(&self, data: &ClientData, kind: &str, challenge: &[u8]) -> Result<()> {
        if data.kind != kind {
            return Err(WebAuthnError::WrongType);
        }
        if !crate::base::constant_time::eq(&data.challenge, challenge) {
            return Err(WebAuthnError::WrongChallenge);
        }
        if !self.origins.contains(&data.origin) {
            return Err(WebAuthnError::WrongOrigin);
        }
        Ok(())
    }

    fn check_authenticator_data(&self, data: &AuthenticatorData) -> Result<()> {
        let expected: [u8; 32] = Sha256::digest(self.id.as_bytes()).into();
        if data.rp_id_hash != expected {
            return Err(WebAuthnError::WrongRpId);
        }
        if data.flags & FLAG_UP == 0 {
            return Err(WebAuthnError::NoUserPresence);
        }
        if data.flags & FLAG_UV == 0 {
            return Err(WebAuthnError::NoUserVerification);
        }
        Ok(())
    }

    /// Verifies a registration (`navigator.credentials.create`) against the
    /// `challenge` this ceremony gave: attestation `none` only, an ES256 key.
    pub fn verify_registration(
        &self,
        client_data_json: &[u8],
        attestation_object: &[u8],
        challenge: &[u8],
    ) -> Result<NewPasskey> {
        let client = parse_client_data(client_data_json)?;
        self.check_client_data(&client, "webauthn.create", challenge)?;
        let bad = WebAuthnError::Malformed("attestationObject");
        let mut rest = attestation_object;
        let object: Value = ciborium::from_reader(&mut rest).map_err(|_| bad)?;
        if !rest.is_empty() {
            return Err(bad);
        }
        let map = object.as_map().ok_or(bad)?;
        let field = |name: &str| {
            map.iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .map(|(_, v)| v)
        };
        if field("fmt").and_then(Value::as_text) != Some("none") {
            return Err(WebAuthnError::UnsupportedAttestation);
        }
        if !field("attStmt")
            .and_then(Value::as_map)
            .is_some_and(Vec::is_empty)
        {
            return Err(WebAuthnError::UnsupportedAttestation);
        }
        let auth_data = field("authData").and_then(Value::as_bytes).ok_or(bad)?;
        let data = parse_authenticator_data(auth_data)?;
        self.check_authenticator_data(&data)?;
        let credential = data
            .credential
            .ok_or(WebAuthnError::Malformed("no attested credential"))?;
        Ok(NewPasskey {
            credential_id: base64url(&credential.id),
            public_key: credential.public_key,
            sign_count: data.sign_count,
        })
    }

    /// Checks a sign-in (`navigator.credentials.get`) against the `challenge` this
    /// ceremony gave and the passkey's stored counter; what is left is the signature,
    /// for WebCrypto.
    pub fn verify_assertion(
        &self,
        client_data_json: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
        challenge: &[u8],
        key: &PublicKey,
        stored_count: u32,
    ) -> Result<AssertionCheck> {
        let client = parse_client_data(client_data_json)?;
        self.check_client_data(&client, "webauthn.get", challenge)?;
        let data = parse_authenticator_data(authenticator_data)?;
        self.check_authenticator_data(&data)?;
        if !counter_advances(stored_count, data.sign_count) {
            return Err(WebAuthnError::CounterRegressed);
        }
        let malformed = WebAuthnError::Malformed("signature");
        let signature = match key {
            PublicKey::Es256(_) => signature_der_to_raw(signature).ok_or(malformed)?.to_vec(),
            PublicKey::EdDsa(_) if signature.len() == 64 => signature.to_vec(),
            PublicKey::Rs256(rsa) => {
                // As long as the modulus, or it cannot be one of its signatures.
                let modulus = base64url_decode(&rsa.n).map_or(0, |n| n.len());
                if signature.len() != modulus {
                    return Err(malformed);
                }
                signature.to_vec()
            }
            PublicKey::EdDsa(_) => return Err(malformed),
        };
        let client_hash: [u8; 32] = Sha256::digest(client_data_json).into();
        Ok(AssertionCheck {
            signed_data: [authenticator_data, &client_hash].concat(),
            signature,
            sign_count: data.sign_count,
        })
    }
}

/// The page's request to create a passkey through an invitation (after
/// `navigator.credentials.create`), its binary members base64url.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The invitation link's token.
    pub token: String,
    /// "Name".
    pub name: String,
    /// `response.clientDataJSON`.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `response.attestationObject`.
    pub attestation_object: String,
}

/// The page's sign-in (after `navigator.credentials.get`), its binary members base64url.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssertionRequest {
    /// `rawId`.
    pub credential_id: String,
    /// `response.clientDataJSON`.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// `response.authenticatorData`.
    pub authenticator_data: String,
    /// `response.signature` (DER).
    pub signature: String,
    /// `response.userHandle`: the person's id chars.
    pub user_handle: String,
}

impl RelyingParty {
    /// `PublicKeyCredentialCreationOptions` (as JSON, binary members base64url) for a
    /// new person: a discoverable, user-verified ES256 passkey, attestation `none`;
    /// the user handle is the person id's random chars, never the email.
    /// `exclude` lists credential ids (base64url) the person already has.
    pub fn creation_options(
        &self,
        challenge: &[u8],
        user_handle: &str,
        email: &str,
        exclude: &[String],
    ) -> serde_json::Value {
        serde_json::json!({
            "challenge": base64url(challenge),
            "rp": {"id": self.id, "name": "Scopien Gate"},
            "user": {"id": base64url(user_handle.as_bytes()), "name": email, "displayName": email},
            "pubKeyCredParams": [
                {"type": "public-key", "alg": COSE_ES256},
                {"type": "public-key", "alg": COSE_EDDSA},
                {"type": "public-key", "alg": COSE_RS256}
            ],
            "authenticatorSelection": {
                "residentKey": "required",
                "requireResidentKey": true,
                "userVerification": "required"
            },
            "attestation": "none",
            "timeout": CEREMONY_TTL_MS,
            "excludeCredentials": exclude.iter().map(|id| serde_json::json!({"type": "public-key", "id": id})).collect::<Vec<_>>(),
        })
    }

    /// `PublicKeyCredentialRequestOptions` (as JSON) for a sign-in with a
    /// discoverable passkey: no credential list, user verification required.
    pub fn request_options(&self, challenge: &[u8]) -> serde_json::Value {
        serde_json::json!({
            "challenge": base64url(challenge),
            "rpId": self.id,
            "userVerification": "required",
            "timeout": CEREMONY_TTL_MS,
            "allowCredentials": [],
        })
    }
}

/// Whether a counter may follow the stored one: it must grow, except that both 0 (an
/// authenticator without a counter, as synced passkeys report) is no regression.
pub fn counter_advances(stored: u32, new: u32) -> bool {
    (stored == 0 && new == 0) || new > stored
}

/// A DER ECDSA signature as WebCrypto's raw `r‖s`: the one converter, secret
/// scanning's (WebAuthn authenticators sign in DER too).
pub use crate::scanning::der_signature_to_raw as signature_der_to_raw;

/// Base64url without padding, as WebAuthn's JSON uses; `None` for anything else.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.contains(['+', '/', '=']) {
        return None;
    }
    crate::base::base64::base64_decode(&text.replace('-', "+").replace('_', "/"))
}

#[cfg(test)]
mod tests {
    //! Vectors are built here: authenticator data byte by byte, CBOR with `ciborium`'s
    //! encoder, as a ctap2 authenticator makes them. The DER signature below was made
    //! with Node's crypto (see `DER`); the browser test
    //! (tests/people.test.mjs) runs the whole ceremony with Chromium's virtual
    //! authenticator and WebCrypto.
    use super::*;

    const ORIGIN: &str = "http://localhost:8787";
    const CHALLENGE: [u8; 32] = [7; 32];

    fn rp() -> RelyingParty {
        RelyingParty {
            id: "localhost".into(),
            origins: vec![ORIGIN.into()],
        }
    }

    fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        format!(
            r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
            base64url(challenge)
        )
        .into_bytes()
    }

    fn cose_key(alg: i64) -> Value {
        Value::Map(vec![
            (Value::from(1), Value::from(2)),
            (Value::from(3), Value::from(alg)),
            (Value::from(-1), Value::from(1)),
            (Value::from(-2), Value::Bytes(vec![0x11; 32])),
            (Value::from(-3), Value::Bytes(vec![0x22; 32])),
        ])
    }

    fn auth_data(rp_id: &str, flags: u8, count: u32, key: Option<Value>) -> Vec<u8> {
        let mut out: Vec<u8> = Sha256::digest(rp_id.as_bytes()).to_vec();
        out.push(flags | if key.is_some() { FLAG_AT } else { 0 });
        out.extend_from_slice(&count.to_be_bytes());
        if let Some(key) = key {
            out.extend_from_slice(&[0; 16]);
            out.extend_from_slice(&4u16.to_be_bytes());
            out.extend_from_slice(&[0xc1, 0xc2, 0xc3, 0xc4]);
            ciborium::into_writer(&key, &mut out).expect("cbor");
        }
        out
    }

    fn attestation(fmt: &str, auth: Vec<u8>) -> Vec<u8> {
        let object = Value::Map(vec![
            (Value::from("fmt"), Value::from(fmt)),
            (Value::from("attStmt"), Value::Map(vec![])),
            (Value::from("authData"), Value::Bytes(auth)),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&object, &mut out).expect("cbor");
        out
    }

    fn register(client: Vec<u8>, auth: Vec<u8>) -> Result<NewPasskey> {
        rp().verify_registration(&client, &attestation("none", auth), &CHALLENGE)
    }

    const UP_UV: u8 = FLAG_UP | FLAG_UV;

    #[test]
    fn a_registration_gives_the_credential_and_its_key() {
        let passkey = register(
            client_data("webauthn.create", &CHALLENGE, ORIGIN),
            auth_data("localhost", UP_UV, 0, Some(cose_key(-7))),
        )
        .expect("registered");
        assert_eq!(passkey.credential_id, base64url(&[0xc1, 0xc2, 0xc3, 0xc4]));
        assert_eq!(passkey.sign_count, 0);
        let PublicKey::Es256(key) = &passkey.public_key else {
            panic!("an ES256 key: {:?}", passkey.public_key)
        };
        let sec1 = key.sec1().expect("point");
        assert_eq!(
            (sec1.len(), sec1[0], sec1[1], sec1[64]),
            (65, 4, 0x11, 0x22)
        );
    }

    #[test]
    fn registrations_are_refused_for_each_broken_part() {
        let ok_client = || client_data("webauthn.create", &CHALLENGE, ORIGIN);
        let ok_auth = || auth_data("localhost", UP_UV, 0, Some(cose_key(-7)));
        let cases: Vec<(Vec<u8>, Vec<u8>, WebAuthnError)> = vec![
            (
                client_data("webauthn.get", &CHALLENGE, ORIGIN),
                ok_auth(),
                WebAuthnError::WrongType,
            ),
            (
                client_data("webauthn.create", &[8; 32], ORIGIN),
                ok_auth(),
                WebAuthnError::WrongChallenge,
            ),
            (
                client_data("webauthn.create", &CHALLENGE, "http://localhost:9999"),
                ok_auth(),
                WebAuthnError::WrongOrigin,
            ),
            (
                client_data("webauthn.create", &CHALLENGE, "http://evil.example"),
                ok_auth(),
                WebAuthnError::WrongOrigin,
            ),
            (
                ok_client(),
                auth_data("example.com", UP_UV, 0, Some(cose_key(-7))),
                WebAuthnError::WrongRpId,
            ),
            (
                ok_client(),
                auth_data("localhost", FLAG_UP, 0, Some(cose_key(-7))),
                WebAuthnError::NoUserVerification,
            ),
            (
                ok_client(),
                auth_data("localhost", FLAG_UV, 0, Some(cose_key(-7))),
                WebAuthnError::NoUserPresence,
            ),
            (
                ok_client(),
                auth_data("localhost", UP_UV, 0, Some(cose_key(-257))),
                WebAuthnError::UnsupportedAlgorithm,
            ),
            (
                ok_client(),
                auth_data("localhost", UP_UV, 0, None),
                WebAuthnError::Malformed("no attested credential"),
            ),
            (
                b"not json".to_vec(),
                ok_auth(),
                WebAuthnError::Malformed("clientDataJSON"),
            ),
        ];
        for (client, auth, expected) in cases {
            assert_eq!(register(client, auth), Err(expected));
        }
        let packed = attestation("packed", ok_auth());
        assert_eq!(
            rp().verify_registration(&ok_client(), &packed, &CHALLENGE),
            Err(WebAuthnError::UnsupportedAttestation)
        );
        let mut trailing = ok_auth();
        trailing.push(0);
        assert_eq!(
            register(ok_client(), trailing),
            Err(WebAuthnError::Malformed("authenticatorData"))
        );
        let cross = br#"{"type":"webauthn.create","challenge":"BwcH","origin":"http://localhost:8787","crossOrigin":true}"#;
        assert_eq!(
            register(cross.to_vec(), ok_auth()),
            Err(WebAuthnError::WrongOrigin)
        );
    }

    // From Node (a fresh P-256 key; signed until r needed its 0x00 pad):
    //   const der = crypto.sign("sha256", data, {key: privateKey, dsaEncoding: "der"});
    // and its raw r‖s, checked with
    //   crypto.verify("sha256", data, {key: publicKey, dsaEncoding: "ieee-p1363"}, raw) === true
    const DER: &str = "3045022100d38bca3d504191d1c55673c8d5004e9fb2868ea52a0c97ad215b0bce1752d1250220115b573e6db4f68230452dab56d6d13443bbf4e385be22f264441cba6a93bf1a";

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn es256() -> PublicKey {
        PublicKey::Es256(Es256Key {
            x: base64url(&[0x11; 32]),
            y: base64url(&[0x22; 32]),
        })
    }

    #[test]
    fn ed25519_and_rsa_keys_register_and_their_signatures_pass_as_sent() {
        let okp = Value::Map(vec![
            (Value::from(1), Value::from(1)),
            (Value::from(3), Value::from(COSE_EDDSA)),
            (Value::from(-1), Value::from(6)),
            (Value::from(-2), Value::Bytes(vec![0x33; 32])),
        ]);
        let passkey = register(
            client_data("webauthn.create", &CHALLENGE, ORIGIN),
            auth_data("localhost", UP_UV, 0, Some(okp)),
        )
        .expect("an Ed25519 passkey");
        let ed = passkey.public_key;
        assert_eq!(ed.algorithm(), COSE_EDDSA);
        let rsa = Value::Map(vec![
            (Value::from(1), Value::from(3)),
            (Value::from(3), Value::from(COSE_RS256)),
            (Value::from(-1), Value::Bytes(vec![0xc5; 256])),
            (Value::from(-2), Value::Bytes(vec![1, 0, 1])),
        ]);
        let rs = register(
            client_data("webauthn.create", &CHALLENGE, ORIGIN),
            auth_data("localhost", UP_UV, 0, Some(rsa)),
        )
        .expect("an RS256 passkey")
        .public_key;
        assert_eq!(rs.algorithm(), COSE_RS256);
        // Stored and read back as the same key; an old `{x, y}` record is ES256.
        for key in [&ed, &rs, &es256()] {
            let stored = serde_json::to_string(key).expect("json");
            assert_eq!(
                &serde_json::from_str::<PublicKey>(&stored).expect("read"),
                key
            );
        }
        let old: PublicKey = serde_json::from_str(r#"{"x":"AA","y":"BB"}"#).expect("old");
        assert_eq!(old.algorithm(), COSE_ES256);
        // Signatures: EdDSA's 64 bytes and RSA's modulus length as sent; others refused.
        let client = client_data("webauthn.get", &CHALLENGE, ORIGIN);
        let auth = auth_data("localhost", UP_UV, 1, None);
        let check = |sig: &[u8], key: &PublicKey| {
            rp().verify_assertion(&client, &auth, sig, &CHALLENGE, key, 0)
                .map(|c| c.signature)
        };
        assert_eq!(check(&[7; 64], &ed), Ok(vec![7; 64]));
        assert!(check(&[7; 63], &ed).is_err());
        assert!(check(&unhex(DER), &ed).is_err());
        assert_eq!(check(&[9; 256], &rs), Ok(vec![9; 256]));
        assert!(check(&[9; 255], &rs).is_err());
    }

    #[test]
    fn an_assertion_leaves_the_signature_for_webcrypto() {
        let client = client_data("webauthn.get", &CHALLENGE, ORIGIN);
        let auth = auth_data("localhost", UP_UV, 5, None);
        let check = rp()
            .verify_assertion(&client, &auth, &unhex(DER), &CHALLENGE, &es256(), 4)
            .expect("checked");
        assert_eq!(check.sign_count, 5);
        assert_eq!(&check.signed_data[..auth.len()], &auth[..]);
        let hash: [u8; 32] = Sha256::digest(&client).into();
        assert_eq!(&check.signed_data[auth.len()..], &hash);
        assert_eq!(check.signature[0], 0xd3);
        assert_eq!(check.signature[32], 0x11);
    }

    #[test]
    fn assertions_are_refused_for_each_broken_part() {
        let der = unhex(DER);
        let verify = |client: Vec<u8>, auth: Vec<u8>, stored| {
            rp().verify_assertion(&client, &auth, &der, &CHALLENGE, &es256(), stored)
        };
        let good = || client_data("webauthn.get", &CHALLENGE, ORIGIN);
        // A replayed challenge is one the ceremony store no longer gives: another one.
        assert_eq!(
            verify(
                client_data("webauthn.get", &[1; 32], ORIGIN),
                auth_data("localhost", UP_UV, 1, None),
                0
            ),
            Err(WebAuthnError::WrongChallenge)
        );
        assert_eq!(
            verify(
                client_data("webauthn.create", &CHALLENGE, ORIGIN),
                auth_data("localhost", UP_UV, 1, None),
                0
            ),
            Err(WebAuthnError::WrongType)
        );
        assert_eq!(
            verify(
                client_data("webauthn.get", &CHALLENGE, "https://evil.example"),
                auth_data("localhost", UP_UV, 1, None),
                0
            ),
            Err(WebAuthnError::WrongOrigin)
        );
        assert_eq!(
            verify(good(), auth_data("evil.example", UP_UV, 1, None), 0),
            Err(WebAuthnError::WrongRpId)
        );
        assert_eq!(
            verify(good(), auth_data("localhost", FLAG_UP, 1, None), 0),
            Err(WebAuthnError::NoUserVerification)
        );
        assert_eq!(
            verify(good(), auth_data("localhost", UP_UV, 3, None), 3),
            Err(WebAuthnError::CounterRegressed)
        );
        assert_eq!(
            verify(good(), auth_data("localhost", UP_UV, 2, None), 3),
            Err(WebAuthnError::CounterRegressed)
        );
        assert!(
            verify(good(), auth_data("localhost", UP_UV, 0, None), 0).is_ok(),
            "both 0 is no regression"
        );
        assert_eq!(
            verify(good(), auth_data("localhost", UP_UV, 0, None), 3),
            Err(WebAuthnError::CounterRegressed)
        );
    }

    #[test]
    fn der_signatures_become_raw_and_strictly() {
        let raw = signature_der_to_raw(&unhex(DER)).expect("raw");
        assert_eq!(&raw[..], &unhex("d38bca3d504191d1c55673c8d5004e9fb2868ea52a0c97ad215b0bce1752d125115b573e6db4f68230452dab56d6d13443bbf4e385be22f264441cba6a93bf1a")[..]);
        // Short integers are left-padded.
        let short = unhex("3006020101020102");
        let raw = signature_der_to_raw(&short).expect("raw");
        assert_eq!((raw[31], raw[63], raw[0]), (1, 2, 0));
        for bad in [
            "3007020101020102",   // wrong length
            "3006020181020102",   // negative
            "300702020001020102", // non-minimal
            "30060201010201020000",
            "",
        ] {
            assert_eq!(signature_der_to_raw(&unhex(bad)), None, "{bad}");
        }
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(base64url_decode("BwcH"), Some(vec![7, 7, 7]));
        assert_eq!(base64url_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(base64url_decode("Bw=="), None);
        assert_eq!(base64url_decode("a+b/"), None);
    }
}
