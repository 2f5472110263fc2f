//! The KV directory: one entry per key, for listing. Written after the key's guard,
//! never read to authenticate.

use crate::config::KEYS;
use scopien_auth::admin::ListQuery;
use scopien_auth::guard::DirectoryEntry;
use scopien_auth::view::{KeyView, ListPage};
use scopien_auth::KeyType;
use serde::{Deserialize, Serialize};
use worker::{Env, Result};

/// KV metadata holds up to 1024 bytes: listing reads it instead of every value, and a
/// larger view leaves a marker saying to read the value.
const METADATA_MAX: usize = 1000;

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Metadata {
    View(KeyView),
    Large { large: bool },
}

/// Writes a key's directory entry. A failure is logged, not returned: the guard already
/// holds the change, and the entry is rewritten on the key's next use.
pub(crate) async fn write(env: &Env, entry: &DirectoryEntry) {
    let result = async {
        let text = serde_json::to_string(&entry.view)?;
        let metadata = if text.len() <= METADATA_MAX {
            Metadata::View(entry.view.clone())
        } else {
            Metadata::Large { large: true }
        };
        env.kv(KEYS)?
            .put(&entry.name, text)?
            .metadata(metadata)?
            .execute()
            .await?;
        Ok::<(), worker::Error>(())
    }
    .await;
    if let Err(fault) = result {
        worker::console_error!("directory write failed for {}: {fault}", entry.name);
    }
}

/// One page of the keys `caller_type` may see, with each status recomputed at `now_ms`.
pub(crate) async fn list(
    env: &Env,
    query: ListQuery,
    caller_type: KeyType,
    now_ms: u64,
) -> Result<ListPage<KeyView>> {
    let kv = env.kv(KEYS)?;
    let mut request = kv.list().limit(query.limit);
    // A test-mode admin lists only test keys; a live admin lists both.
    if caller_type == KeyType::Test {
        request = request.prefix(KeyType::Test.directory_prefix().into());
    }
    if let Some(cursor) = query.cursor {
        request = request.cursor(cursor);
    }
    let page = request.execute().await?;
    let mut data = Vec::with_capacity(page.keys.len());
    for entry in page.keys {
        let from_metadata = entry
            .metadata
            .and_then(|m| serde_json::from_value::<Metadata>(m).ok());
        let mut view = match from_metadata {
            Some(Metadata::View(view)) => view,
            _ => match kv.get(&entry.name).json::<KeyView>().await? {
                Some(view) => view,
                None => continue,
            },
        };
        view.refresh_status(now_ms);
        data.push(view);
    }
    Ok(ListPage::new(data, page.cursor, page.list_complete))
}
