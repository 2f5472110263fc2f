//! The runtime's WebCrypto (`crypto.subtle`), reached through `js_sys` so the wasm
//! carries no cryptography of its own: Ed25519 signing for the identity assertion,
//! ECDSA P-256 verification for secret-scanning reports.

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Result;

/// A WebCrypto failure as a worker error (its message only; never key material).
pub(crate) fn error(e: JsValue) -> worker::Error {
    worker::Error::RustError(format!(
        "webcrypto: {}",
        e.as_string()
            .or_else(|| Reflect::get(&e, &"message".into()).ok()?.as_string())
            .unwrap_or_default()
    ))
}

/// `crypto.subtle.<method>(...args)`, awaited.
pub(crate) async fn call(method: &str, args: &[JsValue]) -> Result<JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(error)?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(error)?;
    let function: Function = Reflect::get(&subtle, &method.into())
        .map_err(error)?
        .dyn_into()
        .map_err(error)?;
    let promise: Promise = function
        .apply(&subtle, &args.iter().collect::<Array>())
        .map_err(error)?
        .dyn_into()
        .map_err(error)?;
    JsFuture::from(promise).await.map_err(error)
}

/// An algorithm object such as `{name: "ECDSA", namedCurve: "P-256"}`.
pub(crate) fn algorithm(fields: &[(&str, &str)]) -> Result<JsValue> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &(*name).into(), &(*value).into()).map_err(error)?;
    }
    Ok(object.into())
}
