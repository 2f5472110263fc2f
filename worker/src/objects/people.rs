//! The people's Durable Objects, each a thin host of one core state machine, its whole
//! state one JSON value under one storage key (small and bounded: an organization holds
//! at most 1000 members and 100 pending invitations):
//!
//! - `PeopleGuard`, one per organization (its id's chars): members with their roles and
//!   pending invitations (`people::members::PeopleState`). The one authority on who is a
//!   member and with which role; every call of a signed-in person asks it.
//! - `PersonGuard`, one per person (their id's chars, also their passkeys' user handle):
//!   the person, their passkeys and counters (`people::person::PersonState`).
//! - `CeremonyGuard`, one per passkey challenge (its base64url): single use, deleted by
//!   an alarm when it expires (`people::ceremony::CeremonyState`).
//!
//! Like `SessionGuard`, they answer through `fetch` (async storage); worker/shim.js gives
//! them the `run` face of the other guards.

use scopien_auth::people::ceremony::{CeremonyAnswer, CeremonyInput, CeremonyState};
use scopien_auth::people::members::PeopleState;
use scopien_auth::people::person::PersonState;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const STATE: &str = "state";

/// Loads the state, steps it with the request's input, stores it if it changed, and
/// answers the step's answer, all as JSON.
async fn step_json<S, I, A>(
    state: &State,
    mut req: Request,
    step: impl FnOnce(&mut S, I, u64) -> (A, bool),
) -> Result<Response>
where
    S: Serialize + DeserializeOwned + Default,
    I: DeserializeOwned,
    A: Serialize,
{
    let input: I = serde_json::from_str(&req.text().await?)?;
    let storage = state.storage();
    let stored: Option<S> = storage.get(STATE).await?;
    let mut current = stored.unwrap_or_default();
    let (answer, changed) = step(&mut current, input, crate::platform::now_ms());
    if changed {
        storage.put(STATE, &current).await?;
    }
    Response::from_bytes(serde_json::to_vec(&answer)?)
}

#[durable_object]
pub struct PeopleGuard {
    state: State,
}

impl DurableObject for PeopleGuard {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        step_json(&self.state, req, |s: &mut PeopleState, i, now| {
            s.step(i, now)
        })
        .await
    }
}

#[durable_object]
pub struct PersonGuard {
    state: State,
}

impl DurableObject for PersonGuard {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        step_json(&self.state, req, |s: &mut PersonState, i, now| {
            s.step(i, now)
        })
        .await
    }
}

#[durable_object]
pub struct CeremonyGuard {
    state: State,
}

impl DurableObject for CeremonyGuard {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let mut expires = None;
        let response = step_json(&self.state, req, |s: &mut CeremonyState, i, now| {
            if let CeremonyInput::Open(ceremony) = &i {
                expires = Some(ceremony.expires_ms.saturating_sub(now).max(1));
            }
            let (answer, changed) = s.step(i, now);
            let opened = matches!(answer, CeremonyAnswer::Opened);
            if !opened {
                expires = None;
            }
            (answer, changed)
        })
        .await?;
        if let Some(offset) = expires {
            self.state
                .storage()
                .set_alarm(i64::try_from(offset).unwrap_or(i64::MAX))
                .await?;
        }
        Ok(response)
    }

    /// Expired: forget it (a taken or expired challenge is never accepted anyway; the
    /// `used` mark goes with it, and a challenge is 32 random bytes, never given twice).
    async fn alarm(&self) -> Result<Response> {
        self.state.storage().delete_all().await?;
        Response::ok("")
    }
}
