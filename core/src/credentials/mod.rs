//! The credential formats: what a presented secret looks like, parsed and checked
//! offline (prefix, length, alphabet, checksum) before any storage is touched.

pub mod key;
pub mod token;
