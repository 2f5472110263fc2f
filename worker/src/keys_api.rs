//! The key-management API, `/v1/api-keys…`: parse with core, run the operation in the
//! key's guard (authoritative), then copy the change to the KV directory. Every rule
//! (visibility, conflicts, ceilings, what a caller may grant) is core's.

use crate::http::RequestUrl;
use crate::http::{self, or_respond};
use crate::{config, directory, guard_client};
use scopien_auth::admin::{self, parse_create, parse_patch, parse_roll, Caller, ListQuery};
use scopien_auth::guard::{Manage, ManageAnswer, Op};
use scopien_auth::key::RANDOM_BYTES_FOR_KEY;
use scopien_auth::route::Route;
use scopien_auth::view::RevealedKey;
use scopien_auth::{ApiError, ApiKey, KeyId, Method};
use worker::{Env, Response, Result};

/// An admitted management request, its body already read.
pub(crate) struct Call<'a> {
    pub(crate) route: &'a Route<'a>,
    pub(crate) method: &'a Method,
    pub(crate) url: &'a RequestUrl,
    pub(crate) body: &'a [u8],
    pub(crate) caller: Caller,
    pub(crate) now_ms: u64,
}

/// Answers a management request.
pub(crate) async fn handle(env: &Env, call: Call<'_>) -> Result<Response> {
    let plan = or_respond!(config::plan(env));
    let op = match (call.route, call.method) {
        (Route::Keys, Method::Get) => return list(env, &call).await,
        (Route::Keys, _) => return create(env, &call, plan).await,
        (Route::Key(id), Method::Get) => (*id, Op::Get),
        (Route::Key(id), Method::Delete) => (*id, Op::Revoke),
        (Route::Key(id), _) => (
            *id,
            Op::Patch(or_respond!(parse_patch(call.body, call.now_ms))),
        ),
        (Route::RollKey(id), _) => {
            let grace_s = or_respond!(parse_roll(call.body));
            (*id, Op::Roll { grace_s })
        }
        (Route::KeyUsage(id), _) => (*id, Op::Usage),
        _ => return http::error(&ApiError::not_found("No such key-management endpoint")),
    };
    let (id, op) = op;
    run(
        env,
        id,
        Manage {
            caller: call.caller,
            plan,
            op,
        },
    )
    .await
}

async fn run(env: &Env, id: KeyId, manage: Manage) -> Result<Response> {
    match guard_client::manage(env, id, manage).await? {
        ManageAnswer::Key { entry, changed } => {
            if changed {
                directory::write(env, &entry).await;
            }
            http::json(200, &entry.view)
        }
        ManageAnswer::Rolled { entry, key } => {
            directory::write(env, &entry).await;
            http::json(
                200,
                &RevealedKey {
                    view: entry.view,
                    key,
                },
            )
        }
        ManageAnswer::Usage(usage) => http::json(200, &usage),
        ManageAnswer::Refused(refusal) => http::error(&refusal.error()),
        ManageAnswer::Created { .. } => Err(worker::Error::RustError(
            "key guard answered Created to another operation".into(),
        )),
    }
}

async fn create(env: &Env, call: &Call<'_>, plan: scopien_auth::Plan) -> Result<Response> {
    let new = or_respond!(parse_create(call.body, plan, &call.caller, call.now_ms));
    for _ in 0..admin::CREATE_ATTEMPTS {
        let mut random = [0u8; RANDOM_BYTES_FOR_KEY];
        getrandom::fill(&mut random)
            .map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
        let key = ApiKey::generate(new.key_type, &random);
        let manage = Manage {
            caller: call.caller.clone(),
            plan,
            op: Op::Create(new.clone().into_record(&key, call.now_ms)),
        };
        match guard_client::manage(env, key.id(), manage).await? {
            ManageAnswer::Created { entry } => {
                directory::write(env, &entry).await;
                let revealed = RevealedKey {
                    view: entry.view,
                    key: key.expose_secret().to_owned(),
                };
                return http::json(201, &revealed);
            }
            ManageAnswer::Refused(admin::ManageRefusal::IdTaken) => continue,
            ManageAnswer::Refused(refusal) => return http::error(&refusal.error()),
            _ => {
                return Err(worker::Error::RustError(
                    "key guard answered another operation to Create".into(),
                ))
            }
        }
    }
    http::error(&admin::ManageRefusal::IdTaken.error())
}

async fn list(env: &Env, call: &Call<'_>) -> Result<Response> {
    let pairs: Vec<(String, String)> = call.url.query_pairs().into_owned().collect();
    let query = or_respond!(ListQuery::parse(
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    ));
    let page = directory::list(env, query, call.caller.key_type, call.now_ms).await?;
    http::json(200, &page)
}
