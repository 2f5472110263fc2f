//! # scopien-auth: the decisions of an API-key gateway, with no I/O
//!
//! Every request through Scopien Gate is decided here; the worker crate only moves
//! bytes between HTTP, KV and Durable Objects.
//!
//! ```text
//!  Authorization ──► key::ApiKey::parse ──► malformed? 401, no storage touched
//!                          │ id names the key's Durable Object
//!                          ▼
//!  KeyGuard DO ──► record::KeyRecord::decide(hash, method, resource, counters, now)
//!                     ├─ unknown / wrong secret / revoked ─► 401 invalid
//!                     ├─ expired / rolled-away secret ─────► 401 expired
//!                     ├─ scope::Grants::authorize ─────────► 403 (not counted)
//!                     ├─ ratelimit::check ──────────────────► 429 (not counted)
//!                     └─ admitted: store the new counters
//!                          ▼
//!  headers::rate_limit_headers, error::ApiError ──► the response
//! ```
//!
//! Invariants: no clock (every function takes `now_ms`), no randomness (key generation
//! takes the caller's random bytes), no I/O, no async.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod admit;
mod base62;
pub mod base64;
pub mod consent;
pub mod constant_time;
pub mod credential;
pub mod error;
pub mod form;
pub mod forwarding;
pub mod grant;
pub mod guard;
pub mod headers;
pub mod identity;
pub mod ids;
mod json;
pub mod key;
pub mod method;
pub mod oauth;
pub mod org;
pub mod path;
pub mod plan;
pub mod ratelimit;
pub mod record;
pub mod root;
pub mod route;
pub mod scanning;
pub mod scope;
pub mod session;
mod text;
pub mod throttle;
pub mod timestamp;
pub mod usage;
pub mod view;
pub mod wire;

pub use error::ApiError;
pub use guard::KeyState;
pub use key::{ApiKey, KeyError, KeyId, KeyType};
pub use method::Method;
pub use plan::Plan;
pub use ratelimit::{Counters, Policy, Status};
pub use record::{KeyRecord, KeyStatus, Refusal};
pub use scope::{Grants, Requirement, Scope};
