#!/usr/bin/env bash
# `npm test`: every test layer, in order of cost.
#   1. core, native: unit and property tests (cargo test)
#   2. core on wasm32 under Node: the same vectors (wasm-bindgen-test)
#   3. end to end: the built worker in workerd with real KV and Durable Object storage,
#      including the OpenAPI contract checked by ajv and by schemathesis
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_build_tools
ensure_schemathesis
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

echo "== 1/3 core: native unit and property tests"
cargo test --workspace

echo "== 2/3 core on wasm32 under Node (wasm-bindgen-test)"
# Not `cargo test -q`: wasm-bindgen-test-runner rejects --quiet.
cargo test -p scopien-auth --target wasm32-unknown-unknown --test vectors

echo "== 3/3 end to end: the release worker in workerd"
bash scripts/build.sh
node --test --test-concurrency=1 tests/*.test.mjs
