//! Signed webhooks (issue #23): an organization's endpoints, the events they subscribe
//! to, the Standard Webhooks signature, and each message's delivery state with its retry
//! schedule. Pure: the worker gives the clock, the random bytes (ids, secrets) and the
//! HTTP; the organization's guard stores endpoints and deliveries (its outbox), and
//! decides each step here.

pub mod delivery;
pub mod endpoint;
pub mod event;
pub mod expiry;
pub mod protocol;
pub mod signature;
