//! The KV directory: one entry per key, for listing. Written after the key's guard,
//! never read to authenticate.

use crate::config::KEYS;
use scopien_auth::keys::admin::{seal_directory_cursor, ListQuery};
use scopien_auth::keys::guard::DirectoryEntry;
use scopien_auth::keys::view::{KeyView, ListPage};
use scopien_auth::org::OrgView;
use scopien_auth::KeyType;
use serde::{Deserialize, Serialize};
use worker::{Env, Result};

/// Organizations' entries sort after every key's (`~` is after all letters), so a
/// listing of keys stops where they begin.
const ORG_PREFIX: &str = "~org:";

/// KV metadata holds up to 1024 bytes: listing reads it instead of every value, and a
/// larger view leaves a marker saying to read the value.
const METADATA_MAX: usize = 1000;

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Metadata {
    View(Box<KeyView>),
    Large { large: bool },
}

/// Writes a key's directory entry. A failure is logged, not returned: the guard already
/// holds the change, and the entry is rewritten on the key's next use.
pub(crate) async fn write(env: &Env, entry: &DirectoryEntry) {
    let result = async {
        let text = serde_json::to_string(&entry.view)?;
        let metadata = if text.len() <= METADATA_MAX {
            Metadata::View(Box::new(entry.view.clone()))
        } else {
            Metadata::Large { large: true }
        };
        env.kv(KEYS)?
            .put_bytes(&entry.name, text.as_bytes())?
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
/// `cursor` is KV's own, unsealed by the caller (`ListQuery::directory_cursor`).
pub(crate) async fn list(
    env: &Env,
    query: ListQuery,
    cursor: Option<String>,
    caller_type: KeyType,
    now_ms: u64,
) -> Result<ListPage<KeyView>> {
    let kv = env.kv(KEYS)?;
    let mut request = kv.list().limit(query.limit);
    // A test-mode admin lists only test keys; a live admin lists both.
    if caller_type == KeyType::Test {
        request = request.prefix(KeyType::Test.directory_prefix().into());
    }
    if let Some(cursor) = cursor {
        request = request.cursor(cursor);
    }
    let page = request.execute().await?;
    let mut data = Vec::with_capacity(page.keys.len());
    let mut complete = page.list_complete;
    for entry in page.keys {
        if entry.name.starts_with(ORG_PREFIX) {
            complete = true;
            break;
        }
        let from_metadata = entry
            .metadata
            .and_then(|m| serde_json::from_value::<Metadata>(m).ok());
        let mut view = match from_metadata {
            Some(Metadata::View(view)) => *view,
            _ => match kv.get(&entry.name).json::<KeyView>().await? {
                Some(view) => view,
                None => continue,
            },
        };
        view.refresh_status(now_ms);
        data.push(view);
    }
    Ok(ListPage::new(
        data,
        page.cursor.as_deref().map(seal_directory_cursor),
        complete,
    ))
}

/// Writes an organization's entry (logged, not returned, when it fails: its guard is
/// the authority).
pub(crate) async fn write_org(env: &Env, view: &OrgView) {
    let name = format!("{ORG_PREFIX}{}", view.id);
    let result = async {
        env.kv(KEYS)?
            .put_bytes(&name, serde_json::to_string(view)?.as_bytes())?
            .metadata(view)?
            .execute()
            .await?;
        Ok::<(), worker::Error>(())
    }
    .await;
    if let Err(fault) = result {
        worker::console_error!("directory write failed for {name}: {fault}");
    }
}

/// One page of organizations, for the operator (eventually consistent, like KV).
pub(crate) async fn list_orgs(
    env: &Env,
    query: ListQuery,
    cursor: Option<String>,
) -> Result<ListPage<OrgView>> {
    let kv = env.kv(KEYS)?;
    let mut request = kv.list().limit(query.limit).prefix(ORG_PREFIX.into());
    if let Some(cursor) = cursor {
        request = request.cursor(cursor);
    }
    let page = request.execute().await?;
    let mut data = Vec::with_capacity(page.keys.len());
    for entry in page.keys {
        let from_metadata = entry
            .metadata
            .and_then(|m| serde_json::from_value::<OrgView>(m).ok());
        match from_metadata {
            Some(view) => data.push(view),
            None => data.extend(kv.get(&entry.name).json::<OrgView>().await?),
        }
    }
    Ok(ListPage::new(
        data,
        page.cursor.as_deref().map(seal_directory_cursor),
        page.list_complete,
    ))
}
