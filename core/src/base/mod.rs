//! Encodings, text checks, time, constant-time comparison and the HTTP request's
//! vocabulary (method, path): what every layer above may use, knowing nothing of keys.

pub(crate) mod base62;
pub mod base64;
pub mod constant_time;
pub mod form;
pub(crate) mod json;
pub mod method;
pub mod network;
pub mod path;
pub(crate) mod text;
pub mod timestamp;
