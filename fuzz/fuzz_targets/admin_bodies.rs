//! The key-management body parsers (`admin::parse_create`, `parse_patch`, `parse_roll`).
//!
//! Input: first byte picks plan and caller type; the rest is the request body.
//!
//! Properties:
//! - none ever panics, whatever the bytes; every refusal is a 400;
//! - an accepted create has a 1..=128-char name with no control chars, non-empty
//!   grants that round-trip through JSON, limits between 1 and the plan's ceilings for
//!   its type, a type a test-mode caller may create, and an expiry in the future;
//! - an accepted patch applies to a record, or is refused with a 400, without panicking;
//! - an accepted roll grace is at most 7 days.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopien_auth::keys::admin::{
    parse_create, parse_patch, parse_roll, Caller, MAX_NAME_LEN, MAX_ROLL_GRACE_S,
};
use scopien_auth::credentials::key::{ApiKey, KeyType, RANDOM_BYTES_FOR_KEY};
use scopien_auth::{Grants, KeyRecord, Plan};

const NOW: u64 = 1_769_076_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let plan = [Plan::Starter, Plan::Professional, Plan::Enterprise][usize::from(selector % 3)];
    let caller = Caller {
        key_type: if selector & 4 == 0 {
            KeyType::Live
        } else {
            KeyType::Test
        },
        // Half the inputs come from an admin of key management only: it may grant
        // nothing outside `api-keys`.
        grants: if selector & 16 == 0 {
            Grants::root()
        } else {
            Grants::from_json(&serde_json::json!({"api-keys": ["admin"]})).expect("valid")
        },
        ..Caller::root()
    };

    match parse_create(body, plan, &caller, NOW) {
        Ok(key) => {
            let len = key.name.chars().count();
            assert!((1..=MAX_NAME_LEN).contains(&len));
            assert!(!key.name.trim().is_empty());
            assert!(!key.name.chars().any(char::is_control));
            assert!(caller.sees(key.key_type));
            assert_eq!(caller.grants.covers(&key.grants), Ok(()), "granted more than held");
            assert_eq!(
                Grants::from_json(&key.grants.to_json()).as_ref(),
                Ok(&key.grants)
            );
            let (max_rate, max_burst) = plan.ceilings(key.key_type);
            assert!(
                (1..=max_rate).contains(&key.policy.hourly.get()),
                "{:?}",
                key.policy
            );
            assert!(
                (1..=max_burst).contains(&key.policy.burst.get()),
                "{:?}",
                key.policy
            );
            if let Some(at) = key.expires_ms {
                assert!(at > NOW);
            }
        }
        Err(e) => assert!(matches!(e.status, 400 | 403), "{e:?}"),
    }

    match parse_patch(body, NOW) {
        Ok(patch) => {
            let key_type = if selector & 8 == 0 {
                KeyType::Live
            } else {
                KeyType::Test
            };
            let key = ApiKey::generate(key_type, &[selector; RANDOM_BYTES_FOR_KEY]);
            let mut record = KeyRecord::root(&key, plan);
            let before = record.clone();
            match patch.apply(&mut record, plan, &caller) {
                Ok(()) => {
                    let (max_rate, max_burst) = plan.ceilings(key_type);
                    let hourly = record.policy.hourly.get();
                    let burst = record.policy.burst.get();
                    assert!(hourly <= max_rate.max(before.policy.hourly.get()));
                    assert!(burst <= max_burst.max(before.policy.burst.get()));
                    if record.grants != before.grants {
                        assert_eq!(caller.grants.covers(&record.grants), Ok(()));
                    }
                }
                Err(e) => {
                    assert!(matches!(e.error().status, 400 | 403), "{e:?}");
                    assert_eq!(record, before, "a refused patch changed the record");
                }
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{e:?}"),
    }

    match parse_roll(body) {
        Ok(grace) => assert!(grace <= MAX_ROLL_GRACE_S),
        Err(e) => assert_eq!(e.status, 400, "{e:?}"),
    }
});
