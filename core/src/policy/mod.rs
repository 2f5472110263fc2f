//! What a credential may do: scopes, rate-limit arithmetic, plans, usage counts and
//! the one error catalogue every refusal is written in.

pub mod body;
pub mod error;
pub mod plan;
pub mod ratelimit;
pub mod scope;
pub mod terms;
pub mod usage;
