//! The core's share of one request, natively: `cargo bench -p scopien-auth`.
//!
//! Each stage the worker and its KeyGuard run per authenticated request, alone and
//! together, on fixed inputs (no clock, no randomness: `now` and the key are constants).
//! Figures only; nothing here fails on a time. See BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use scopien_auth::credentials::key::RANDOM_BYTES_FOR_KEY;
use scopien_auth::http::credential::parse_authorization;
use scopien_auth::http::headers::rate_limit_headers;
use scopien_auth::http::route::route;
use scopien_auth::keys::guard::Meter;
use scopien_auth::keys::record::Admission;
use scopien_auth::policy::ratelimit::{check, Outcome};
use scopien_auth::policy::usage::Outcome as UsageOutcome;
use scopien_auth::{
    ApiKey, Counters, Grants, KeyRecord, KeyType, Method, Plan, Requirement, Scope,
};
use std::collections::BTreeMap;
use std::hint::black_box;

/// 2026-01-22T10:00:00Z.
const NOW_MS: u64 = 1_769_076_000_000;

fn fixed_key() -> ApiKey {
    let mut random = [0u8; RANDOM_BYTES_FOR_KEY];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(29) ^ 0x5a;
    }
    ApiKey::generate(KeyType::Live, &random)
}

/// A stored record like the README's "Production Key": per-resource grants, a plan's
/// policy (hour, day and burst windows, so every window is checked and formatted).
fn record_for(key: &ApiKey) -> KeyRecord {
    let mut per_resource = BTreeMap::new();
    per_resource.insert(
        "opportunities".to_owned(),
        [Scope::Read].into_iter().collect(),
    );
    per_resource.insert("accounts".to_owned(), [Scope::Read].into_iter().collect());
    KeyRecord {
        id: key.id(),
        key_type: key.key_type(),
        name: "Production Key".into(),
        hash: key.hash_hex(),
        last4: key.last4().into(),
        previous: None,
        grants: Grants::PerResource(per_resource),
        policy: Plan::Starter.default_policy(KeyType::Live),
        created_ms: NOW_MS - 86_400_000,
        expires_ms: None,
        revoked_ms: None,
        organization_id: Default::default(),
        custom: Default::default(),
        leaked: None,
        revision: 0,
        allowed_ips: Vec::new(),
        rotated_ms: None,
        created_by: None,
    }
}

/// Counters of a key in steady use: windows open, some requests spent, bucket part full.
fn counters_in_use(record: &KeyRecord) -> Counters {
    let mut counters = Counters::default();
    for i in 0..20 {
        if let Outcome::Admitted { counters: next, .. } =
            check(&record.policy, &counters, NOW_MS - 60_000 + i * 500)
        {
            counters = next;
        }
    }
    counters
}

fn hot_path(c: &mut Criterion) {
    let key = fixed_key();
    let header = format!("Bearer {}", key.expose_secret());
    let record = record_for(&key);
    let counters = counters_in_use(&record);
    let hash = key.hash_hex();
    let get = Requirement::for_request(&Method::Get, &[], "opportunities");
    let Ok(Admission { status, .. }) = record.decide(&hash, &get, &counters, false, None, NOW_MS)
    else {
        panic!("the fixed request must be admitted");
    };

    let mut group = c.benchmark_group("hot_path");
    group.bench_function("parse_authorization (prefix, length, base62, crc32)", |b| {
        b.iter(|| parse_authorization(black_box(Some(header.as_str()))))
    });
    group.bench_function("sha256_hex", |b| b.iter(|| black_box(&key).hash_hex()));
    group.bench_function("route", |b| {
        b.iter(|| {
            route(
                black_box(&Method::Get),
                black_box("/v1/opportunities/opp_123"),
            )
            .map(|r| r.requirement(&Method::Get, &[]))
        })
    });
    group.bench_function("authorize", |b| {
        b.iter(|| black_box(&record.grants).authorize(black_box(&get)))
    });
    group.bench_function("ratelimit_check_and_commit", |b| {
        b.iter(|| check(&record.policy, black_box(&counters), black_box(NOW_MS)))
    });
    group.bench_function(
        "decide (constant-time hash compare, authorize, rate limit)",
        |b| {
            b.iter(|| {
                record.decide(
                    black_box(&hash),
                    black_box(&get),
                    black_box(&counters),
                    false,
                    None,
                    black_box(NOW_MS),
                )
            })
        },
    );
    group.bench_function("rate_limit_headers", |b| {
        b.iter(|| rate_limit_headers(black_box(&status), black_box(NOW_MS)))
    });
    group.bench_function("all_together", |b| {
        b.iter(|| {
            let key =
                parse_authorization(black_box(Some(header.as_str()))).expect("a valid key parses");
            let route = route(
                black_box(&Method::Get),
                black_box("/v1/opportunities/opp_123"),
            )
            .expect("routes");
            let hash = key.hash_hex();
            let requirement = route.requirement(&Method::Get, &[]);
            match record.decide(
                &hash,
                &requirement,
                black_box(&counters),
                false,
                None,
                NOW_MS,
            ) {
                Ok(Admission { counters, status }) => {
                    (counters, rate_limit_headers(&status, NOW_MS))
                }
                Err(_) => panic!("admitted"),
            }
        })
    });
    // The guard's one write per request, for a key in use around the clock for 90 days
    // (48 hourly and 90 daily buckets): the whole meter as serde_json wrote it before the
    // history was split, and the stored meter now (the open hour and day only).
    let mut meter = Meter::default();
    let mut at = NOW_MS - 90 * 86_400_000;
    while at <= NOW_MS {
        meter.history.record(UsageOutcome::Admitted, at);
        at += 600_000;
    }
    group.bench_function("meter write, 90-day key: whole, serde_json (before)", |b| {
        b.iter(|| serde_json::to_string(black_box(&meter)).expect("serialises"))
    });
    group.bench_function(
        "meter write, 90-day key: open periods, by hand (now)",
        |b| b.iter(|| black_box(&meter).to_stored_json()),
    );
    println!(
        "meter row for a 90-day key: {} bytes whole, {} bytes stored per request now",
        serde_json::to_string(&meter).expect("serialises").len(),
        meter.to_stored_json().len()
    );
    group.bench_function("reject_malformed_key", |b| {
        let mut broken = header.clone();
        broken.pop();
        broken.push('!');
        b.iter(|| parse_authorization(black_box(Some(broken.as_str()))))
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
