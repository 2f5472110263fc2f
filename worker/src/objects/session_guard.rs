//! `SessionGuard`: one Durable Object per dashboard session, named by the SHA-256 of its
//! token (the token itself is stored nowhere). It holds the session's record (the key's
//! id and hash, the CSRF token, times) and steps core's `session::SessionState`. An
//! alarm at the session's idle expiry deletes a session nobody ended.

use scopien_auth::session::SessionAnswer;
use scopien_auth::session::{SessionInput, SessionRecord, SessionState, SessionWrite};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const RECORD: &str = "session";

#[durable_object]
pub struct SessionGuard {
    state: State,
}

impl SessionGuard {
    async fn step(&self, input: SessionInput) -> Result<SessionAnswer> {
        let storage = self.state.storage();
        let record: Option<SessionRecord> = storage.get(RECORD).await?;
        let mut state = SessionState { record };
        let now = crate::platform::now_ms();
        let opened = matches!(input, SessionInput::Open(_));
        let (answer, write) = state.step(input, now);
        match (write, &state.record) {
            (SessionWrite::Store, Some(record)) => {
                storage.put(RECORD, record).await?;
                if opened {
                    arm(&storage, record, now).await?;
                }
            }
            (SessionWrite::Delete, _) => storage.delete_all().await?,
            _ => {}
        }
        Ok(answer)
    }
}

/// Wakes the guard when `record` would expire (a use since then re-arms it then).
async fn arm(storage: &worker::Storage, record: &SessionRecord, now: u64) -> Result<()> {
    let offset = record.expires_ms().saturating_sub(now).max(1);
    storage
        .set_alarm(i64::try_from(offset).unwrap_or(i64::MAX))
        .await
}

impl DurableObject for SessionGuard {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let input: SessionInput = serde_json::from_str(&req.text().await?)?;
        let answer = self.step(input).await?;
        Response::from_bytes(serde_json::to_vec(&answer)?)
    }

    async fn alarm(&self) -> Result<Response> {
        if let SessionAnswer::Live(record) = self.step(SessionInput::Sweep).await? {
            let now = crate::platform::now_ms();
            arm(&self.state.storage(), &record, now).await?;
        }
        Response::ok("")
    }
}
