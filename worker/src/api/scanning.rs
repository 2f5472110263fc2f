//! `POST /secret-scanning/github`: GitHub's secret-scanning partner endpoint. The
//! signature is verified over the raw body before anything is parsed; each well-formed
//! key goes to its guard (a few at a time, no KV read), which labels it and revokes or
//! flags a real one at once. Parsing and labels are core's (`scopien_auth::scanning`).

use crate::client;
use crate::config;
use crate::http::{self, or_respond};
use crate::webcrypto::{self, algorithm};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use js_sys::{Array, Uint8Array};
use scopien_auth::credentials::token::OAuthToken;
use scopien_auth::keys::admin::Caller;
use scopien_auth::keys::guard::{Manage, ManageAnswer, Op};
use scopien_auth::oauth::grant::{GrantAnswer, GrantInput};
use scopien_auth::scanning::{
    bad_signature, der_signature_to_raw, parse_report, Feedback, KeyDocument, Label, Sorted,
    KEY_ID_HEADER, MAX_REPORT_BYTES, SIGNATURE_HEADER,
};
use scopien_auth::ApiError;
use std::cell::RefCell;
use wasm_bindgen::JsValue;
use worker::{Env, Fetch, Request, Response, Result};

/// Guards asked at once: quick for a few hundred tokens, gentle on the runtime.
const AT_ONCE: usize = 16;
/// How long a fetched key document is used before it is fetched again.
const KEY_DOCUMENT_TTL_MS: u64 = 3_600_000;
/// Where GitHub publishes the keys it signs reports with.
const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";
/// How long fetching the key document may take.
const KEY_FETCH_TIMEOUT_MS: u64 = 5_000;
/// After a failed fetch, how long before the next try (reports meanwhile are refused
/// quickly, or verified against a stale copy).
const KEY_FETCH_RETRY_MS: u64 = 60_000;

thread_local! {
    /// The fetched document and when; kept when a later fetch fails.
    static FETCHED: RefCell<Option<(KeyDocument, u64)>> = const { RefCell::new(None) };
    /// When the last fetch failed.
    static FAILED_AT: RefCell<Option<u64>> = const { RefCell::new(None) };
}

/// The key document: pinned in `SECRET_SCANNING_PUBLIC_KEYS`, or fetched from GitHub
/// and cached for an hour (a stale copy is used when a fetch fails).
async fn key_document(env: &Env, now_ms: u64) -> Result<Option<KeyDocument>> {
    if let Some(pinned) = config::secret_scanning_keys(env) {
        return Ok(Some(pinned));
    }
    let cached = FETCHED.with(|f| f.borrow().clone());
    if let Some((doc, at)) = &cached {
        if now_ms.saturating_sub(*at) < KEY_DOCUMENT_TTL_MS {
            return Ok(Some(doc.clone()));
        }
    }
    let recently_failed = FAILED_AT.with(|f| {
        f.borrow()
            .is_some_and(|at| now_ms.saturating_sub(at) < KEY_FETCH_RETRY_MS)
    });
    if recently_failed {
        return Ok(cached.map(|(doc, _)| doc));
    }
    let mut init = worker::RequestInit::new();
    let headers = worker::Headers::new();
    headers.set("User-Agent", "scopien-gate")?;
    headers.set("Accept", "application/json")?;
    init.with_headers(headers);
    let fetched = async {
        let request = Request::new_with_init(GITHUB_KEYS_URL, &init)?;
        let signal = http::timeout_signal(KEY_FETCH_TIMEOUT_MS)?;
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        response.text().await
    }
    .await;
    match fetched.ok().as_deref().and_then(KeyDocument::parse) {
        Some(doc) => {
            FETCHED.with(|f| *f.borrow_mut() = Some((doc.clone(), now_ms)));
            Ok(Some(doc))
        }
        None => {
            FAILED_AT.with(|f| *f.borrow_mut() = Some(now_ms));
            worker::console_error!("secret scanning: fetching GitHub's public keys failed");
            Ok(cached.map(|(doc, _)| doc))
        }
    }
}

/// Whether `signature` (base64 DER) by the key `identifier` names verifies over `body`.
async fn verified(
    env: &Env,
    identifier: &str,
    signature: &str,
    body: &[u8],
    now_ms: u64,
) -> Result<bool> {
    let Some(doc) = key_document(env, now_ms).await? else {
        return Ok(false);
    };
    let (Some(spki), Some(raw)) = (
        doc.spki_of(identifier),
        scopien_auth::base::base64::base64_decode(signature.trim())
            .as_deref()
            .and_then(der_signature_to_raw),
    ) else {
        return Ok(false);
    };
    let usages: Array = std::iter::once(JsValue::from("verify")).collect();
    let key = webcrypto::call(
        "importKey",
        &[
            "spki".into(),
            Uint8Array::from(spki.as_slice()).into(),
            algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")])?,
            false.into(),
            usages.into(),
        ],
    )
    .await;
    // A document key WebCrypto refuses is a key that verifies nothing.
    let Ok(key) = key else {
        return Ok(false);
    };
    let ok = webcrypto::call(
        "verify",
        &[
            algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")])?,
            key,
            Uint8Array::from(raw.as_slice()).into(),
            Uint8Array::from(body).into(),
        ],
    )
    .await?;
    Ok(ok.as_bool() == Some(true))
}

/// Answers a report.
pub(crate) async fn handle(req: &mut Request, env: &Env, now_ms: u64) -> Result<Response> {
    if req.inner().method() != "POST" {
        return http::error(&ApiError::method_not_allowed(&[scopien_auth::Method::Post]));
    }
    let body = or_respond!(http::read_body(req, MAX_REPORT_BYTES).await?);
    let identifier = req.headers().get(KEY_ID_HEADER)?;
    let signature = req.headers().get(SIGNATURE_HEADER)?;
    let (Some(identifier), Some(signature)) = (identifier, signature) else {
        return http::error(&bad_signature());
    };
    if !verified(env, &identifier, &signature, &body, now_ms).await? {
        return http::error(&bad_signature());
    }
    let sorted = or_respond!(parse_report(&body));
    let action = or_respond!(config::leaked_key_action(env));
    let feedback: Vec<Feedback> = stream::iter(sorted)
        .map(|entry| async move {
            let (key, report, token_type) = match entry {
                Sorted::FalsePositive(feedback) => return Ok(feedback),
                Sorted::OAuthCandidate {
                    token,
                    report,
                    token_type,
                } => return oauth_leak(env, &token, report, token_type).await,
                Sorted::Candidate {
                    key,
                    report,
                    token_type,
                } => (key, report, token_type),
            };
            let hash = key.hash_hex();
            let manage = Manage {
                caller: Caller::secret_scanner(),
                default_plan: scopien_auth::Plan::Starter,
                op: Op::Leaked {
                    hash: hash.clone(),
                    action,
                    report,
                },
            };
            let label = match client::manage(env, key.id(), manage).await? {
                ManageAnswer::Leak {
                    true_positive,
                    change,
                    revoked,
                } => {
                    if let Some((entry, audit)) = change {
                        crate::operations::record(env, &entry, audit).await;
                    }
                    // Revoked by this report or before it: its grants are told (also one
                    // whose consent is under way). A fault answers 503, and the scanner's
                    // report again pushes again.
                    if let Some((org, approver)) = revoked {
                        let key = key.id();
                        crate::operations::push_approver(env, org, key, approver).await?;
                        let actor = scopien_auth::ids::Actor::SecretScanning;
                        crate::operations::revoke_grants_approved_by(env, org, key, actor).await;
                    }
                    if true_positive {
                        Label::TruePositive
                    } else {
                        Label::FalsePositive
                    }
                }
                _ => Label::FalsePositive,
            };
            Ok::<Feedback, worker::Error>(Feedback {
                token_hash: hash,
                token_type,
                label,
            })
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    http::json(200, &feedback)
}

/// A reported OAuth code or token: its grant's guard says whether it is real, and
/// revokes the grant if it is.
async fn oauth_leak(
    env: &Env,
    token: &OAuthToken,
    report: scopien_auth::scanning::LeakReport,
    token_type: String,
) -> Result<Feedback> {
    let hash = token.hash_hex();
    let input = GrantInput::Leaked {
        hash: hash.clone(),
        report,
    };
    let label = match client::grant(env, token.grant(), &input).await? {
        GrantAnswer::Leak {
            true_positive,
            revoked,
        } => {
            if let Some((view, event)) = revoked {
                crate::operations::record_authorization(env, view, event).await;
            }
            if true_positive {
                Label::TruePositive
            } else {
                Label::FalsePositive
            }
        }
        _ => Label::FalsePositive,
    };
    Ok(Feedback {
        token_hash: hash,
        token_type,
        label,
    })
}
