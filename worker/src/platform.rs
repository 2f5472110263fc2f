//! The runtime's clock and randomness: core takes both as arguments, so these are the
//! only places the worker reads them.

use worker::Result;

/// `N` bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| worker::Error::RustError(format!("getrandom: {e}")))?;
    Ok(bytes)
}

/// The wall clock, ms since the epoch (`Date.now()`: no `Date` object made).
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
