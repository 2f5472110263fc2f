//! The gateway's HTTP surface: routes, the credential a request presents, the
//! rate-limit headers it answers with, and what is forwarded to the origin.

pub mod credential;
pub mod forwarding;
pub mod headers;
pub mod route;
