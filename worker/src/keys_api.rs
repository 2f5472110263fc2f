//! The key-management API: `/v1/api-keys…`. Validation is core's; each change goes to
//! the key's Durable Object first (authoritative), then to the KV directory.

use crate::config::{self, KEYS};
use crate::guard_client::call_manage;
use crate::http::{self, or_respond};
use crate::protocol::{Directory, ManageAnswer, ManageRequest, Op};
use scopien_auth::admin::{parse_create, parse_roll};
use scopien_auth::key::RANDOM_BYTES_FOR_KEY;
use scopien_auth::record::refresh_view_status;
use scopien_auth::route::Route;
use scopien_auth::{ApiError, ApiKey, KeyId, KeyRecord, KeyType};
use worker::{Env, Request, Response, Result, Url};

/// Handles an admitted management request.
pub(crate) async fn handle(
    route: &Route<'_>,
    req: &mut Request,
    url: &Url,
    env: &Env,
    caller: KeyType,
    now_ms: u64,
) -> Result<Response> {
    match (route, req.method()) {
        (Route::Keys, worker::Method::Get) => list(env, url, caller, now_ms).await,
        (Route::Keys, _) => {
            let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
            create(env, &body, caller, now_ms).await
        }
        (Route::Key(id), worker::Method::Get) => change(env, *id, caller, Op::Get, 200).await,
        (Route::Key(id), worker::Method::Delete) => change(env, *id, caller, Op::Revoke, 200).await,
        (Route::Key(id), _) => {
            let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
            let body = or_respond!(String::from_utf8(body)
                .map_err(|_| ApiError::invalid_request("The body must be UTF-8 JSON")));
            change(env, *id, caller, Op::Patch { body }, 200).await
        }
        (Route::RollKey(id), _) => {
            let body = or_respond!(http::read_body(req, config::max_body_bytes(env)).await?);
            let grace_s = or_respond!(parse_roll(&body));
            change(
                env,
                *id,
                caller,
                Op::Roll {
                    grace_s: Some(grace_s),
                },
                200,
            )
            .await
        }
        (Route::KeyUsage(id), _) => {
            let (response, _) = call_manage(
                env,
                *id,
                &ManageRequest {
                    caller,
                    op: Op::Usage,
                },
            )
            .await?;
            Ok(response)
        }
        _ => http::error(&ApiError::not_found("No such key-management endpoint")),
    }
}

/// Writes a key's directory entry. A failure is logged, not returned: the Durable
/// Object already holds the change, and the entry is rewritten on the key's next use.
pub(crate) async fn write_directory(env: &Env, entry: &Directory) {
    let result = async {
        let kv = env.kv(KEYS)?;
        let text = entry.view.to_string();
        // KV metadata holds up to 1024 bytes: listing reads it instead of every value.
        let metadata = if text.len() <= 1000 {
            entry.view.clone()
        } else {
            serde_json::json!({ "id": entry.view["id"], "large": true })
        };
        kv.put(&entry.name, text)?
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

async fn change(env: &Env, id: KeyId, caller: KeyType, op: Op, status: u16) -> Result<Response> {
    let writes = !matches!(op, Op::Get);
    let (response, answer) = call_manage(env, id, &ManageRequest { caller, op }).await?;
    let Some(answer) = answer else {
        return Ok(response);
    };
    if writes {
        write_directory(env, &answer.directory).await;
    }
    http::json(status, &view_with_key(answer))
}

fn view_with_key(answer: ManageAnswer) -> serde_json::Value {
    let mut view = answer.directory.view;
    if let (Some(key), Some(map)) = (answer.key, view.as_object_mut()) {
        map.insert("key".into(), key.into());
    }
    view
}

async fn create(env: &Env, body: &[u8], caller: KeyType, now_ms: u64) -> Result<Response> {
    let plan = or_respond!(config::plan(env));
    let new = or_respond!(parse_create(body, plan, caller, now_ms));
    // An id collision (2^-95 per pair) is answered 409 by the guard: try a fresh id.
    for _ in 0..3 {
        let mut random = [0u8; RANDOM_BYTES_FOR_KEY];
        getrandom::fill(&mut random)
            .map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
        let key = ApiKey::generate(new.key_type, &random);
        let record = KeyRecord {
            id: key.id(),
            key_type: new.key_type,
            name: new.name.clone(),
            hash: key.hash_hex(),
            last4: key.last4().to_owned(),
            previous: None,
            grants: new.grants.clone(),
            policy: new.policy,
            created_ms: now_ms,
            expires_ms: new.expires_ms,
            revoked_ms: None,
        };
        let request = ManageRequest {
            caller,
            op: Op::Create { record },
        };
        let (response, answer) = call_manage(env, key.id(), &request).await?;
        if response.status_code() == 409 {
            continue;
        }
        let Some(mut answer) = answer else {
            return Ok(response);
        };
        write_directory(env, &answer.directory).await;
        answer.key = Some(key.expose_secret().to_owned());
        return http::json(201, &view_with_key(answer));
    }
    http::error(&ApiError::service_unavailable(
        "Could not allocate a key id; retry",
    ))
}

fn list_params(url: &Url) -> std::result::Result<(u64, Option<String>), ApiError> {
    let mut limit = 20;
    let mut cursor = None;
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "limit" => {
                limit = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid_request("limit must be a whole number from 1 to 100")
                    })?;
            }
            "cursor" if !value.is_empty() => cursor = Some(value.into_owned()),
            "cursor" => {}
            other => {
                return Err(ApiError::invalid_request(format!(
                    "Unknown query parameter '{}'; allowed are limit and cursor",
                    scopien_auth::error::printable(other)
                )))
            }
        }
    }
    Ok((limit, cursor))
}

async fn list(env: &Env, url: &Url, caller: KeyType, now_ms: u64) -> Result<Response> {
    let (limit, cursor) = or_respond!(list_params(url));
    let kv = env.kv(KEYS)?;
    let mut query = kv.list().limit(limit);
    if caller == KeyType::Test {
        query = query.prefix("test:".into());
    }
    if let Some(cursor) = cursor {
        query = query.cursor(cursor);
    }
    let page = query.execute().await?;
    let mut data = Vec::with_capacity(page.keys.len());
    for entry in page.keys {
        let mut view = match entry.metadata {
            Some(meta) if meta.get("large").is_none() && meta.get("id").is_some() => meta,
            _ => match kv.get(&entry.name).json::<serde_json::Value>().await? {
                Some(view) => view,
                None => continue,
            },
        };
        refresh_view_status(&mut view, now_ms);
        data.push(view);
    }
    let has_more = !page.list_complete;
    http::json(
        200,
        &serde_json::json!({
            "data": data,
            "hasMore": has_more,
            "nextCursor": if has_more { page.cursor } else { None },
        }),
    )
}
