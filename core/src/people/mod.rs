//! People (issue #22): persons who sign in with passkeys, their roles in an
//! organization, and the invitations that make them members. No I/O: the worker's
//! `PeopleGuard` steps [`members::PeopleState`], its `PersonGuard` steps
//! [`person::PersonState`], its `CeremonyGuard` steps [`ceremony::CeremonyState`], and
//! [`webauthn`] checks what a browser's authenticator sent (the signature itself is
//! verified with the runtime's WebCrypto, over the bytes and the raw `r‖s` core gives).
//!
//! A domain like keys and oauth: it imports neither of them, nor sessions.

pub mod ceremony;
pub mod members;
pub mod person;
pub mod role;
pub mod signup;
pub mod webauthn;
