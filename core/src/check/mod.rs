//! The request check: the one admit sequence keys and grants share, and the gate
//! that throttles failed guesses.

pub mod admit;
pub mod protocol;
pub mod throttle;
