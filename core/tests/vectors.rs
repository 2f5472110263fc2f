//! Test vectors that run both natively (`cargo test`) and on wasm32 under Node
//! (`cargo test --target wasm32-unknown-unknown`): the worker runs the core as wasm, so
//! the same answers must come out there.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use scopien_auth::base::path::parse_api_path;
use scopien_auth::credentials::key::{hash_hex, RANDOM_BYTES_FOR_KEY};
use scopien_auth::http::headers::rate_limit_headers;
use scopien_auth::policy::ratelimit::{check, Outcome};
use scopien_auth::{ApiKey, Counters, Grants, KeyError, KeyType, Method, Policy, Requirement};

const PINNED_KEY: &str = "sk_live_DzlXJ5rdPBnZL7tfRDzlN9vhTF1nZLxjVH3pbN9nXJ5rdPBx3v043a";
const PINNED_KEY_SHA256: &str = "83a9fcd62d0dc37c8e71d414c9ed2c8d3b384aae124e11f3325eb835dd64c531";

fn key(seed: u8) -> ApiKey {
    let mut random = [0u8; RANDOM_BYTES_FOR_KEY];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13) ^ seed;
    }
    ApiKey::generate(KeyType::Live, &random)
}

#[test]
fn key_vectors() {
    // Fixed bytes give this exact key, pinned as a literal: native and wasm32 must both
    // produce it, so drift between targets fails here.
    let k = key(0);
    assert_eq!(k.expose_secret(), PINNED_KEY);
    assert_eq!(ApiKey::parse(PINNED_KEY), Ok(k.clone()));
    assert_eq!(k.hash_hex(), PINNED_KEY_SHA256);
    assert_eq!(k.expose_secret().len(), 62);
    let mut broken = k.expose_secret().to_owned();
    let last = broken.pop().map(|c| if c == 'a' { 'b' } else { 'a' });
    broken.extend(last);
    assert_eq!(ApiKey::parse(&broken), Err(KeyError::Checksum));
}

#[test]
fn hash_vector() {
    assert_eq!(
        hash_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn scope_vectors() {
    let grants = Grants::from_json(&serde_json::json!({"opportunities": ["read", "write"]}))
        .expect("valid scopes");
    let needs = |method, resource| Requirement::for_request(&method, &[], resource);
    assert!(grants
        .authorize(&needs(Method::Post, "opportunities"))
        .is_ok());
    assert!(grants
        .authorize(&needs(Method::Delete, "opportunities"))
        .is_err());
    assert!(grants.authorize(&needs(Method::Get, "accounts")).is_err());
}

#[test]
fn path_vectors() {
    assert_eq!(
        parse_api_path("/v1/accounts/1").map(|p| p.resource),
        Ok("accounts")
    );
    assert!(parse_api_path("/v1/accounts/../opportunities").is_err());
    assert!(parse_api_path("/v1/accounts%2Fx").is_err());
}

#[test]
fn rate_limit_vectors() {
    let policy = Policy::new(2, Some(10), 5).expect("non-zero");
    let now = 1_674_385_800_000;
    let Outcome::Admitted { counters, status } = check(&policy, &Counters::default(), now) else {
        panic!("first admitted");
    };
    let headers = rate_limit_headers(&status, now);
    assert_eq!(headers[1], ("X-RateLimit-Remaining", "1".to_owned()));
    assert_eq!(headers[2], ("X-RateLimit-Reset", "1674389400".to_owned()));
    let Outcome::Admitted { counters, .. } = check(&policy, &counters, now) else {
        panic!("second admitted");
    };
    assert!(matches!(
        check(&policy, &counters, now),
        Outcome::Limited {
            retry_after_s: 3600,
            ..
        }
    ));
}

#[test]
fn credential_vectors() {
    use scopien_auth::http::credential::{parse_authorization, query_has_credential};
    let k = key(7);
    let header = format!("bearer {}", k.expose_secret());
    assert_eq!(parse_authorization(Some(&header)), Ok(k));
    assert_eq!(parse_authorization(None).map_err(|e| e.status), Err(401));
    assert_eq!(
        parse_authorization(Some("Bearer a, Bearer b")).map_err(|e| e.status),
        Err(400)
    );
    assert!(query_has_credential("api_key=x"));
}

#[test]
fn management_body_vectors() {
    use scopien_auth::keys::admin::{parse_create, Caller};
    use scopien_auth::Plan;
    let now = 1_769_076_000_000;
    let root = Caller::root();
    let created = parse_create(
        br#"{"name":"Production Key","scopes":["read","write"],"rateLimit":1000,"expiresAt":"2027-01-01T00:00:00+01:00"}"#,
        Plan::Starter,
        &root,
        now,
    )
    .expect("the spec's example is valid");
    assert_eq!(created.policy.hourly.get(), 1000);
    assert_eq!(created.expires_ms, Some(1_798_758_000_000));
    let refused = parse_create(br#"{"name":"a","scopes":["x"]}"#, Plan::Starter, &root, now)
        .expect_err("unknown scope");
    assert_eq!(refused.status, 400);
    assert!(refused.details.contains("unknown scope 'x'"));
}

#[test]
fn throttle_vectors() {
    use scopien_auth::check::throttle::{Failures, ThrottlePolicy};
    let policy = ThrottlePolicy {
        max_failures: 2,
        window_ms: 60_000,
        block_ms: 1_000,
    };
    let now = 1_700_000_000_000;
    let f = Failures::default()
        .record(&policy, now)
        .record(&policy, now);
    assert_eq!(f.blocked_until(now), None);
    let f = f.record(&policy, now + 1);
    assert_eq!(f.blocked_until(now + 1), Some(now + 1_001));
}
