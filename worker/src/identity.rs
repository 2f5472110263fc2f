//! Signing the identity assertion for the origin with WebCrypto (Ed25519), and serving
//! the key set. Claims and encoding are core's (`scopien_auth::identity`); the key is
//! imported once per isolate, and an assertion is reused for a key while it is valid
//! and its claims are the same, so most requests sign nothing.

use crate::config;
use crate::webcrypto::{self, algorithm};
use js_sys::{Array, Uint8Array};
use scopien_auth::check::protocol::Admitted;
use scopien_auth::identity::{finish, reusable, signing_input, Claims};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::JsValue;
use worker::{Env, Result};

/// Assertions remembered per isolate, at most; the cache is emptied when full.
const MAX_CACHED: usize = 10_000;

thread_local! {
    static CRYPTO_KEY: RefCell<Option<JsValue>> = const { RefCell::new(None) };
    static CACHE: RefCell<HashMap<String, (String, u64)>> = RefCell::new(HashMap::new());
}

async fn crypto_key(private_jwk: &str) -> Result<JsValue> {
    if let Some(key) = CRYPTO_KEY.with(|k| k.borrow().clone()) {
        return Ok(key);
    }
    let jwk = js_sys::JSON::parse(private_jwk).map_err(webcrypto::error)?;
    let usages: Array = std::iter::once(JsValue::from("sign")).collect();
    let key = webcrypto::call(
        "importKey",
        &[
            "jwk".into(),
            jwk,
            algorithm(&[("name", "Ed25519")])?,
            false.into(),
            usages.into(),
        ],
    )
    .await?;
    CRYPTO_KEY.with(|k| *k.borrow_mut() = Some(key.clone()));
    Ok(key)
}

/// The assertion for key `id`, admitted as `admitted`, sent by `iss` to `aud`; `None`
/// when no signing key is configured.
pub(crate) async fn assertion(
    env: &Env,
    id: scopien_auth::ids::Approver,
    admitted: &Admitted,
    iss: &str,
    aud: &str,
    now_ms: u64,
) -> Result<Option<String>> {
    let Some(signing) = config::identity(env)? else {
        return Ok(None);
    };
    let claims = Claims::new(id, admitted, iss, aud, now_ms);
    let reuse_key = claims.reuse_key();
    let cached = CACHE.with(|c| {
        c.borrow()
            .get(&reuse_key)
            .filter(|(_, exp)| reusable(*exp, now_ms))
            .map(|(token, _)| token.clone())
    });
    if let Some(token) = cached {
        return Ok(Some(token));
    }
    let input = signing_input(&signing.public.kid, &claims);
    let key = crypto_key(&signing.private_jwk).await?;
    let data = Uint8Array::from(input.as_bytes());
    let signature = webcrypto::call(
        "sign",
        &[algorithm(&[("name", "Ed25519")])?, key, data.into()],
    )
    .await?;
    let token = finish(&input, &Uint8Array::new(&signature).to_vec());
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(reuse_key, (token.clone(), claims.exp));
    });
    Ok(Some(token))
}
