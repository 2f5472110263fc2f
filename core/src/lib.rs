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

pub mod audit;
pub mod base;
pub mod check;
pub mod credentials;
pub mod http;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod oauth;
pub mod org;
pub mod people;
pub mod policy;
pub mod scanning;
pub mod session;
pub mod webhooks;

pub use base::method::Method;
pub use credentials::key::{ApiKey, KeyError, KeyId, KeyType};
pub use keys::guard::KeyState;
pub use keys::record::{KeyRecord, KeyStatus, Refusal};
pub use policy::error::ApiError;
pub use policy::plan::Plan;
pub use policy::ratelimit::{Counters, Policy, Status};
pub use policy::scope::{Grants, Requirement, Scope};
