//! The Durable Objects, each a thin host of one core state machine (load, step, store).
//! The rest of the worker calls them through `client.rs`, never by importing them. The
//! full module's only: lib.rs marks the whole folder `#[cfg(feature = "full")]`.

pub(crate) mod flush;
pub(crate) mod grant_guard;
pub(crate) mod key_guard;
pub(crate) mod org_guard;
pub(crate) mod outbox;
pub(crate) mod people;
pub(crate) mod rows;
pub(crate) mod session_guard;
