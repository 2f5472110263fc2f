//! OAuth 2.0: apps and the protocol's requests and answers, the grant's state
//! machine, and the consent page's text.

pub mod consent;
pub mod grant;
pub mod protocol;
