//! What the worker and a KeyGuard say to each other. Internal: both sides are this
//! crate, built together, so the wire can change freely.

use scopien_auth::{KeyRecord, KeyType};
use serde::{Deserialize, Serialize};

/// One request to authenticate, authorize and count.
#[derive(Serialize, Deserialize)]
pub(crate) struct CheckRequest {
    /// SHA-256 hex of the presented key.
    pub(crate) hash: String,
    pub(crate) method: String,
    /// `None` for an endpoint any valid key may call.
    pub(crate) resource: Option<String>,
    /// The root key's record, when the presented key is the root key.
    pub(crate) root: Option<KeyRecord>,
}

/// An admitted request: what the worker needs to answer it.
#[derive(Serialize, Deserialize)]
pub(crate) struct CheckAnswer {
    pub(crate) key_type: KeyType,
    pub(crate) scopes: serde_json::Value,
    /// The window the spec's `rateLimit` object describes.
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Unix seconds.
    pub(crate) reset: u64,
    /// Rate-limit headers to put on the response.
    pub(crate) headers: Vec<(String, String)>,
    /// A directory entry to copy to KV (`lastUsedAt`), at most once a minute.
    pub(crate) directory: Option<Directory>,
}

/// A key-management operation on one key.
#[derive(Serialize, Deserialize)]
pub(crate) struct ManageRequest {
    /// The admin key's type: a test-mode admin sees only test keys.
    pub(crate) caller: KeyType,
    pub(crate) op: Op,
}

#[derive(Serialize, Deserialize)]
pub(crate) enum Op {
    Create { record: KeyRecord },
    Get,
    Usage,
    Patch { body: String },
    Revoke,
    Roll { grace_s: Option<u64> },
}

/// The answer to a management operation that changed or read a record.
#[derive(Serialize, Deserialize)]
pub(crate) struct ManageAnswer {
    pub(crate) directory: Directory,
    /// The new raw key, after a roll: shown once.
    pub(crate) key: Option<String>,
}

/// A key's entry in the KV directory: its name there and its public view.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Directory {
    pub(crate) name: String,
    pub(crate) view: serde_json::Value,
}

impl Directory {
    pub(crate) fn of(record: &KeyRecord, now_ms: u64, last_used_ms: Option<u64>) -> Directory {
        Directory {
            name: record.directory_name(),
            view: record.to_view(now_ms, last_used_ms),
        }
    }
}
