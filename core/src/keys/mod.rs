//! API keys: their stored record, their guard's state machine, the management API's
//! bodies and views, the root key, and the guard's wire codec.

pub mod admin;
pub mod guard;
pub mod record;
pub mod root;
pub mod verify;
pub mod view;
pub mod wire;
