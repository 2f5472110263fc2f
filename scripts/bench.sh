#!/usr/bin/env bash
# `npm run bench`: the benchmarks (BENCHMARKS.md). Builds the release worker, then in one
# run serves the pass-through and the gateway in workerd and prints the table, the wasm
# size and cold start. The core's own figures: `cargo bench -p scopien-auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_build_tools
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
bash scripts/build.sh
# Node 22 (from npm): miniflare and wrangler need it.
exec node_modules/.bin/node bench/run.mjs
