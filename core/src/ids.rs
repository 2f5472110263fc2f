//! The ids of what the gateway stores, one way each: a prefix and base62 chars, parsed
//! exactly, made from caller-given random bytes, shown and (de)serialised as their text.
//! They sit below every domain, so that naming an organization, an app or a grant never
//! pulls in the code that manages it.

use crate::base::base62;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Length of a key id's (and a grant id's) random part, in base62 chars.
pub const ID_LEN: usize = 16;

/// A key id, `key_` + 16 base62 chars: the public half of a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; ID_LEN]);

impl KeyId {
    /// Parses `key_<16 base62>`.
    pub fn parse(text: &str) -> Option<KeyId> {
        let chars = text.strip_prefix("key_")?.as_bytes();
        if chars.len() != ID_LEN || !chars.iter().all(|&b| base62::is_base62(b)) {
            return None;
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(chars);
        Some(KeyId(id))
    }

    /// The id of a key whose 16 id chars were checked by the caller.
    pub(crate) fn from_bytes(id: [u8; ID_LEN]) -> KeyId {
        KeyId(id)
    }

    /// The 16 id chars, as they stand inside the key.
    pub fn chars(&self) -> &str {
        // Only base62 bytes are ever stored, so this cannot fail.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Length of an organization id's random part, in base62 chars.
pub const ORG_ID_LEN: usize = 16;
/// Random bytes [`OrgId::generate`] needs: two per char.
pub const RANDOM_BYTES_FOR_ORG: usize = 2 * ORG_ID_LEN;

/// `org_` + 16 base62 chars.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId([u8; ORG_ID_LEN]);

impl OrgId {
    /// The organization keys belong to when none is named: a deployment that never
    /// creates an organization works as if it had one customer, on the `PLAN` var.
    pub const DEFAULT: OrgId = OrgId(*b"000000000default");

    /// Parses `org_<16 base62>`.
    pub fn parse(text: &str) -> Option<OrgId> {
        let chars = text.strip_prefix("org_")?.as_bytes();
        if chars.len() != ORG_ID_LEN || !chars.iter().all(|&b| base62::is_base62(b)) {
            return None;
        }
        let mut id = [0u8; ORG_ID_LEN];
        id.copy_from_slice(chars);
        Some(OrgId(id))
    }

    /// A new id from caller-given random bytes.
    pub fn generate(random: &[u8; RANDOM_BYTES_FOR_ORG]) -> OrgId {
        let mut id = [0u8; ORG_ID_LEN];
        for (slot, pair) in id.iter_mut().zip(random.chunks_exact(2)) {
            *slot = base62::char_from_random(pair[0], pair[1]);
        }
        OrgId(id)
    }

    /// The 16 id chars: the name of the organization's Durable Object.
    pub fn chars(&self) -> &str {
        // Only base62 bytes are ever stored, so this cannot fail.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for OrgId {
    fn default() -> OrgId {
        OrgId::DEFAULT
    }
}

/// Random bytes a grant id needs.
pub const RANDOM_BYTES_FOR_GRANT_ID: usize = 2 * ID_LEN;
/// Random chars after the organization in a client id.
const CLIENT_RANDOM_LEN: usize = 8;
/// Random bytes a client id needs.
pub const RANDOM_BYTES_FOR_CLIENT_ID: usize = 2 * CLIENT_RANDOM_LEN;

/// A grant's id, `grant_` + 16 base62 chars: names the grant's Durable Object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId([u8; ID_LEN]);

impl GrantId {
    /// Parses `grant_<16 base62>`.
    pub fn parse(text: &str) -> Option<GrantId> {
        Self::from_chars(text.strip_prefix("grant_")?)
    }

    /// The grant id of a token's 16 id chars.
    pub(crate) fn from_chars(chars: &str) -> Option<GrantId> {
        let chars = chars.as_bytes();
        if chars.len() != ID_LEN || !chars.iter().all(|&b| base62::is_base62(b)) {
            return None;
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(chars);
        Some(GrantId(id))
    }

    /// A new id from the caller's random bytes.
    pub fn generate(random: &[u8; RANDOM_BYTES_FOR_GRANT_ID]) -> GrantId {
        let mut id = [0u8; ID_LEN];
        for (slot, pair) in id.iter_mut().zip(random.chunks_exact(2)) {
            *slot = base62::char_from_random(pair[0], pair[1]);
        }
        GrantId(id)
    }

    /// The 16 chars, as they stand inside a token (and name the Durable Object).
    pub fn chars(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// An app's id: `app_` + its organization's 16 chars + 8 random chars, so the
/// organization that holds the app's record is known without a lookup.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId([u8; ORG_ID_LEN + CLIENT_RANDOM_LEN]);

impl ClientId {
    /// Parses `app_<24 base62>`.
    pub fn parse(text: &str) -> Option<ClientId> {
        let chars = text.strip_prefix("app_")?.as_bytes();
        if chars.len() != ORG_ID_LEN + CLIENT_RANDOM_LEN
            || !chars.iter().all(|&b| base62::is_base62(b))
        {
            return None;
        }
        let mut id = [0u8; ORG_ID_LEN + CLIENT_RANDOM_LEN];
        id.copy_from_slice(chars);
        Some(ClientId(id))
    }

    /// A new id for an app of `org`.
    pub fn generate(org: OrgId, random: &[u8; RANDOM_BYTES_FOR_CLIENT_ID]) -> ClientId {
        let mut id = [0u8; ORG_ID_LEN + CLIENT_RANDOM_LEN];
        id[..ORG_ID_LEN].copy_from_slice(org.chars().as_bytes());
        for (slot, pair) in id[ORG_ID_LEN..].iter_mut().zip(random.chunks_exact(2)) {
            *slot = base62::char_from_random(pair[0], pair[1]);
        }
        ClientId(id)
    }

    /// The 24 chars after `app_`.
    pub fn chars(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The organization that registered the app.
    pub fn organization(&self) -> OrgId {
        let chars = core::str::from_utf8(&self.0[..ORG_ID_LEN]).unwrap_or_default();
        OrgId::parse(&format!("org_{chars}")).unwrap_or(OrgId::DEFAULT)
    }
}

/// Random bytes a person's or an invitation's id needs: two per char.
pub const RANDOM_BYTES_FOR_PEOPLE_ID: usize = 2 * ID_LEN;

/// Ids of the people domain: a prefix and 16 base62 chars, made from random bytes.
macro_rules! random_id {
    ($ty:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty([u8; ID_LEN]);

        impl $ty {
            #[doc = concat!("Parses `", $prefix, "<16 base62>`.")]
            pub fn parse(text: &str) -> Option<$ty> {
                Self::from_chars(text.strip_prefix($prefix)?)
            }

            /// The id of 16 base62 chars (without the prefix).
            pub fn from_chars(chars: &str) -> Option<$ty> {
                let chars = chars.as_bytes();
                if chars.len() != ID_LEN || !chars.iter().all(|&b| base62::is_base62(b)) {
                    return None;
                }
                let mut id = [0u8; ID_LEN];
                id.copy_from_slice(chars);
                Some($ty(id))
            }

            /// A new id from the caller's random bytes.
            pub fn generate(random: &[u8; RANDOM_BYTES_FOR_PEOPLE_ID]) -> $ty {
                let mut id = [0u8; ID_LEN];
                for (slot, pair) in id.iter_mut().zip(random.chunks_exact(2)) {
                    *slot = base62::char_from_random(pair[0], pair[1]);
                }
                $ty(id)
            }

            /// The 16 chars after the prefix (the name of its Durable Object, if any).
            pub fn chars(&self) -> &str {
                core::str::from_utf8(&self.0).unwrap_or_default()
            }
        }
    };
}

random_id!(
    PersonId,
    "person_",
    "A person, `person_` + 16 base62 chars; its 16 chars are also the WebAuthn user handle (random, never the email) and name the person's Durable Object."
);
random_id!(
    InvitationId,
    "inv_",
    "An invitation to an organization, `inv_` + 16 base62 chars."
);

random_id!(
    WebhookId,
    "wh_",
    "A webhook endpoint of an organization, `wh_` + 16 base62 chars."
);
random_id!(
    MessageId,
    "msg_",
    "One webhook message to one endpoint (its `webhook-id`, the same on every retry), `msg_` + 16 base62 chars."
);

/// Display, Debug and serde of an id as its text: `prefix` + its chars.
macro_rules! text_id {
    ($ty:ty, $prefix:literal, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($prefix)?;
                f.write_str(core::str::from_utf8(&self.0).unwrap_or_default())
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$ty>::parse(&text).ok_or_else(|| serde::de::Error::custom($what))
            }
        }
    };
}
text_id!(KeyId, "key_", "not a key id");
text_id!(OrgId, "org_", "not an organization id");
text_id!(GrantId, "grant_", "not a grant id");
text_id!(ClientId, "app_", "not an app id");
text_id!(PersonId, "person_", "not a person id");
text_id!(InvitationId, "inv_", "not an invitation id");
text_id!(WebhookId, "wh_", "not a webhook id");
text_id!(MessageId, "msg_", "not a message id");

/// Who approved an OAuth grant: an admin key, or a person (a member, bounded by their
/// role). Its text is the id itself (`key_…` or `person_…`), wherever it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Approver {
    /// An admin key of the approving organization.
    Key(KeyId),
    /// A member of the approving organization, signed in with a passkey.
    Person(PersonId),
}

impl Approver {
    /// `key_…` or `person_…`.
    pub fn parse(text: &str) -> Option<Approver> {
        KeyId::parse(text)
            .map(Approver::Key)
            .or_else(|| PersonId::parse(text).map(Approver::Person))
    }

    /// Who acted, for the audit log.
    pub fn actor(self) -> Actor {
        match self {
            Approver::Key(key_id) => Actor::Key { key_id },
            Approver::Person(person_id) => Actor::Person { person_id },
        }
    }
}

impl core::fmt::Display for Approver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Approver::Key(id) => id.fmt(f),
            Approver::Person(id) => id.fmt(f),
        }
    }
}

impl Serialize for Approver {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Approver {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Approver::parse(&text).ok_or_else(|| serde::de::Error::custom("not a key or person id"))
    }
}

/// Who did something: the root key, or a key of the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Actor {
    /// The operator's root key.
    Root,
    /// An admin key.
    Key {
        /// Which.
        #[serde(rename = "keyId")]
        key_id: KeyId,
    },
    /// A secret-scanning partner's report (GitHub's).
    #[serde(rename = "secret_scanning")]
    SecretScanning,
    /// A person signed in to the dashboard.
    Person {
        /// Who.
        #[serde(rename = "personId")]
        person_id: PersonId,
    },
    /// An OAuth app, acting through a grant.
    App {
        /// The app.
        #[serde(rename = "clientId")]
        client_id: ClientId,
        /// The grant.
        #[serde(rename = "grantId")]
        grant_id: GrantId,
    },
}
