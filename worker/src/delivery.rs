//! The webhook consumer: the queue (`WEBHOOKS`) hands it messages the organizations'
//! guards recorded (their outbox, `objects/outbox.rs`). For each, it asks the guard what
//! to send, signs it (Standard Webhooks, core's `webhooks::signature`) with a fresh
//! timestamp, posts it without following redirects and with a 10 s limit, and records
//! the answer in the guard, which decides the retry. Every message is acknowledged: a
//! retry is the guard's (its alarm hands the message again when due), so a retry
//! survives a restart of the runtime, which the queue's copy would not.

use crate::client;
use crate::config;
use futures_util::stream::{self, StreamExt};
use scopien_auth::org::{OrgAnswer, OrgInput};
use scopien_auth::webhooks::delivery::ATTEMPT_TIMEOUT_MS;
use scopien_auth::webhooks::endpoint::check_url;
use scopien_auth::webhooks::protocol::{Attempt, Handed, WebhookAnswer, WebhookInput};
use scopien_auth::webhooks::signature::signature_header;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, MessageBatch, Result};

// One attempt's POST: resolves to the status code, or 0 when there was no answer in time
// or no connection. Redirects are answers (3xx), never followed.
#[wasm_bindgen(inline_js = r#"
export async function postWebhook(url, id, timestamp, signature, body, timeoutMs) {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
        "user-agent": "Scopien-Gate-Webhooks",
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = postWebhook)]
    fn post_webhook(
        url: &str,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &str,
        timeout_ms: f64,
    ) -> js_sys::Promise;
}

/// Messages attempted at once from one batch.
const AT_ONCE: usize = 8;

/// Attempts every message of `batch`, then acknowledges them all.
pub(crate) async fn consume(batch: MessageBatch<Handed>, env: &Env) -> Result<()> {
    let handed: Vec<Handed> = batch
        .messages()?
        .into_iter()
        .map(|m| m.into_body())
        .collect();
    stream::iter(handed)
        .for_each_concurrent(AT_ONCE, |message| async move {
            if let Err(fault) = deliver(env, &message).await {
                // The outbox still holds it: the guard's alarm hands it again.
                worker::console_error!("webhook message {} not attempted: {fault}", message.id);
            }
        })
        .await;
    batch.ack_all();
    Ok(())
}

async fn ask(env: &Env, handed: &Handed, input: WebhookInput) -> Result<WebhookAnswer> {
    match client::org(env, handed.org, &OrgInput::Webhooks(input)).await? {
        OrgAnswer::Webhooks(answer) => Ok(answer),
        _ => Err(client::unexpected_answer("organization guard")),
    }
}

async fn deliver(env: &Env, handed: &Handed) -> Result<()> {
    let WebhookAnswer::Send(attempt) = ask(env, handed, WebhookInput::Take(handed.id)).await?
    else {
        // Delivered, failed or deleted meanwhile: nothing to send.
        return Ok(());
    };
    let status_code = post(env, &attempt).await;
    let recorded = WebhookInput::Attempted {
        id: attempt.id,
        attempt: attempt.attempt,
        status_code,
    };
    ask(env, handed, recorded).await.map(drop)
}

/// Posts one attempt; its status code, or `None` for no answer.
async fn post(env: &Env, attempt: &Attempt) -> Option<u16> {
    // The URL was checked when it was set; checked again under the configuration as it is
    // now (loopback may have been closed since).
    if let Err(refused) = check_url(&attempt.url, config::webhook_allow_loopback(env)) {
        worker::console_error!("webhook {} not sent: {refused}", attempt.id);
        return None;
    }
    // Each attempt its own timestamp (Unix seconds) and signature.
    let timestamp_s = crate::platform::now_ms() / 1000;
    let timestamp = timestamp_s.to_string();
    let id = attempt.id.to_string();
    let signature = signature_header(&attempt.secrets, &id, timestamp_s, &attempt.payload);
    let promise = post_webhook(
        &attempt.url,
        &id,
        &timestamp,
        &signature,
        &attempt.payload,
        ATTEMPT_TIMEOUT_MS as f64,
    );
    let status = JsFuture::from(promise).await.ok()?.as_f64()?;
    (status >= 1.0).then_some(status as u16)
}
