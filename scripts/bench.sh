#!/usr/bin/env bash
# `npm run bench`: the benchmarks (BENCHMARKS.md). Builds the release worker, then runs
# the side-by-side bench of ../shared/bench (pass-through, the JavaScript gateway of the
# same design, ours: each in its own workerd, same load, one run; wrk as load generator
# when installed) against this repository, then bench/run.mjs (wasm size, cold start,
# the load generator's ceiling), then the hot-key scenario (bench/ab.mjs at 64
# connections) and the malformed key against a constant-401 worker. Arguments go to
# the side-by-side bench (`--quick`, `--aa`, `--rounds N`, ...). The core's own figures: `cargo bench -p scopien-auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_build_tools
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
shared=${SHARED_BENCH:-../shared/bench}
if [ ! -f "$shared/bench.mjs" ]; then
  echo "no side-by-side bench at $shared (set SHARED_BENCH=/path/to/shared/bench)" >&2
  exit 1
fi
bash scripts/build.sh
# The shared folder is read-only to us: run a copy under build/ (its npm ci is kept).
work=build/bench
mkdir -p "$work"
cp -a "$shared/." "$work/"
# rateLimit and burst at the enterprise ceiling (never hit in a run).
key_body='{"name":"bench","scopes":["read"],"rateLimit":1000000,"burst":1000000}'
(cd "$work" && node bench.mjs --gateway-dir "$OLDPWD" --gateway-key-body "$key_body" \
  --json results.json "$@")
echo
node bench/run.mjs "$work/results.json"
echo
# The hot key (#21): one key at 64 connections, ours against the JavaScript gateway,
# alternating rounds; req/s, p50/p99, and the commits our key's guard made per request
# (counted by worker/shim.js, read over RPC). Needs wrk.
if command -v wrk >/dev/null; then
  echo "== hot key: one key, 64 connections (A = JS gateway, B = ours)"
  node bench/ab.mjs "$work/js-gateway" worker/build --connections 64 --rounds 6 --seconds 4
  # The malformed-key path against the platform's ceiling: a constant-401 JS worker
  # (bench/constant.mjs), alternating rounds in the same run.
  echo
  echo "== malformed key: a constant-401 worker (A) against ours (B), 16 connections"
  node bench/ab.mjs constant worker/build --malformed --rounds 6 --seconds 4
else
  echo "== hot key and malformed vs constant: skipped (needs wrk: apt-get install -y wrk)"
fi
