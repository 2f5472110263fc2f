//! The root key: the operator's key, a Worker secret with every scope and no record.

use crate::base::constant_time;
use crate::credentials::key::{ApiKey, KeyId, KeyType};
use crate::keys::record::KeyRecord;
use crate::policy::error::ApiError;
use crate::policy::plan::Plan;

/// The configured root key, parsed and hashed once.
#[derive(Clone, Debug)]
pub struct RootKey {
    key: ApiKey,
    hash: String,
}

impl RootKey {
    /// Parses the `SCOPIEN_ROOT_KEY` secret; it must be a valid live key.
    pub fn parse(text: &str) -> Result<RootKey, ApiError> {
        ApiKey::parse(text.trim())
            .ok()
            .filter(|key| key.key_type() == KeyType::Live)
            .map(|key| RootKey {
                hash: key.hash_hex(),
                key,
            })
            .ok_or_else(|| {
                ApiError::service_unavailable(
                    "SCOPIEN_ROOT_KEY is not a valid sk_live_ key; generate one with `npm run root-key`",
                )
            })
    }

    /// The root key's record when `presented` (hashing to `presented_hash`) is the root
    /// key; compared in constant time. Never stored: its guard keeps only counters.
    pub fn recognise(
        &self,
        presented: &ApiKey,
        presented_hash: &str,
        plan: Plan,
    ) -> Option<KeyRecord> {
        self.recognise_hash(presented.id(), presented_hash, plan)
    }

    /// [`RootKey::recognise`] for a key known only by its id and hash (a dashboard
    /// session's).
    pub fn recognise_hash(&self, id: KeyId, hash: &str, plan: Plan) -> Option<KeyRecord> {
        (id == self.key.id() && constant_time::eq(hash.as_bytes(), self.hash.as_bytes()))
            .then(|| KeyRecord::root(&self.key, plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::key::RANDOM_BYTES_FOR_KEY;

    #[test]
    fn only_the_exact_root_key_is_recognised() {
        let key = ApiKey::generate(KeyType::Live, &[3u8; RANDOM_BYTES_FOR_KEY]);
        let root = RootKey::parse(key.expose_secret()).expect("valid root key");
        let record = root
            .recognise(&key, &key.hash_hex(), Plan::Starter)
            .expect("recognised");
        assert_eq!(record.id, key.id());
        // Same id, another secret: not the root key.
        let other = ApiKey::with_new_secret(KeyType::Live, key.id(), &[4u8; 64]);
        assert!(root
            .recognise(&other, &other.hash_hex(), Plan::Starter)
            .is_none());
        let test_key = ApiKey::generate(KeyType::Test, &[3u8; RANDOM_BYTES_FOR_KEY]);
        assert_eq!(
            RootKey::parse(test_key.expose_secret())
                .map_err(|e| e.status)
                .err(),
            Some(503)
        );
        assert!(RootKey::parse("sk_live_nope").is_err());
    }
}
