#!/usr/bin/env bash
# `npm test`: every test layer, in order of cost.
#   1. core, native: unit and property tests (cargo test)
#   2. core on wasm32 under Node: the same vectors (wasm-bindgen-test)
#   3. end to end: the built worker in workerd with real KV and Durable Object storage,
#      including the OpenAPI contract checked by ajv and by schemathesis, the
#      dashboard in headless Chromium (from npm) and Firefox ESR (Debian package), and
#      OAuth through real clients (oauth4webapi from npm, authlib in build/venv)
#   4. the deploy check: `wrangler deploy --dry-run`, upload size against Cloudflare's limits
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_build_tools
ensure_schemathesis
ensure_authlib
ensure_firefox
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

echo "== 1/4 core: native unit and property tests"
cargo test --workspace

echo "== 2/4 core on wasm32 under Node (wasm-bindgen-test)"
# Not `cargo test -q`: wasm-bindgen-test-runner rejects --quiet.
cargo test -p scopien-auth --target wasm32-unknown-unknown --test vectors

echo "== 3/4 end to end: the release worker in workerd"
bash scripts/build.sh
node --test --test-concurrency=1 tests/*.test.mjs

echo "== 4/4 deploy check: wrangler deploy --dry-run, size against Cloudflare's limits"
bash scripts/deploy-check.sh
