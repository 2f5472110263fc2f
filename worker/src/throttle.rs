//! Brute-force throttling per client address (`CF-Connecting-IP`).
//!
//! Every failed authentication of a well-formed key is counted in the address's
//! `AddressThrottle` Durable Object, so the count is global. Once an address is past the
//! limit, each isolate that sees it fail remembers the block in memory and refuses that
//! address with 429 before any storage call, for the rest of the block. Malformed keys are
//! refused with no I/O at all and are not counted: they cannot succeed and cost nothing.

use crate::config;
use scopien_auth::throttle::Failures;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result,
    SqlStorageValue, State,
};

/// Addresses remembered per isolate, at most; expired entries go first.
const MAX_REMEMBERED: usize = 10_000;

thread_local! {
    static BLOCKED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

/// When this isolate knows `address` is refused at `now_ms`, until when.
pub(crate) fn blocked_until(address: &str, now_ms: u64) -> Option<u64> {
    BLOCKED.with(|b| {
        b.borrow()
            .get(address)
            .copied()
            .filter(|until| now_ms < *until)
    })
}

fn remember(address: &str, until_ms: u64, now_ms: u64) {
    BLOCKED.with(|b| {
        let mut blocked = b.borrow_mut();
        if blocked.len() >= MAX_REMEMBERED {
            blocked.retain(|_, until| *until > now_ms);
        }
        if blocked.len() < MAX_REMEMBERED {
            blocked.insert(address.to_owned(), until_ms);
        }
    });
}

#[derive(Serialize, Deserialize)]
struct FailAnswer {
    blocked_until_ms: Option<u64>,
}

/// Counts a failed authentication from `address`; returns when it is now refused until.
/// A fault here is logged and ignored: the request is being refused anyway.
pub(crate) async fn record_failure(env: &Env, address: &str, now_ms: u64) -> Option<u64> {
    let result = async {
        let stub = env
            .durable_object(config::THROTTLE)?
            .id_from_name(address)?
            .get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post);
        let request = Request::new_with_init("https://throttle/fail", &init)?;
        let mut response = stub.fetch_with_request(request).await?;
        response.json::<FailAnswer>().await
    }
    .await;
    match result {
        Ok(answer) => {
            if let Some(until) = answer.blocked_until_ms {
                remember(address, until, now_ms);
            }
            answer.blocked_until_ms
        }
        Err(fault) => {
            worker::console_error!("throttle fault: {fault}");
            None
        }
    }
}

/// One per client address: its failed authentications.
#[durable_object]
pub struct AddressThrottle {
    state: State,
    env: Env,
    failures: RefCell<Option<Failures>>,
}

impl AddressThrottle {
    fn load(&self) -> Result<Failures> {
        if let Some(f) = *self.failures.borrow() {
            return Ok(f);
        }
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS failures (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = sql
            .exec("SELECT value FROM failures WHERE id = 1", None)?
            .to_array()?;
        Ok(match rows.first() {
            Some(row) => serde_json::from_str(&row.value)?,
            None => Failures::default(),
        })
    }
}

impl DurableObject for AddressThrottle {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            failures: RefCell::new(None),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        let now = worker::Date::now().as_millis();
        let policy = config::throttle_policy(&self.env);
        let next = self.load()?.record(&policy, now);
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO failures (id, value) VALUES (1, ?)",
            vec![SqlStorageValue::from(serde_json::to_string(&next)?)],
        )?;
        *self.failures.borrow_mut() = Some(next);
        Response::from_json(&FailAnswer {
            blocked_until_ms: next.blocked_until(now),
        })
    }
}
