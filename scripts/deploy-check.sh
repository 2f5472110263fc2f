#!/usr/bin/env bash
# A release that would not deploy fails here, before a user finds out: `wrangler deploy
# --dry-run` bundles the built worker as Cloudflare would receive it (into build/deploy,
# no account, no network), and its compressed upload size is held to Cloudflare's Worker
# size limits: 3 MiB on the free plan, 10 MiB on paid plans (gzip). Over 3 MiB fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
# wrangler.toml's build command is scripts/build.sh: the worker is built already.
export SCOPIEN_SKIP_BUILD=1
rm -rf build/deploy
out=$(wrangler deploy --dry-run --outdir build/deploy 2>&1) || { echo "$out" >&2; exit 1; }
line=$(grep -o 'Total Upload: .*' <<<"$out" || true)
if [ -z "$line" ]; then
  echo "$out" >&2
  echo "deploy check: wrangler printed no upload size" >&2
  exit 1
fi
node -e '
const [, n, unit] = /gzip: ([\d.]+) (B|KiB|MiB)/.exec(process.argv[1]) ?? [];
const kib = Number(n) * ({ B: 1 / 1024, KiB: 1, MiB: 1024 }[unit] ?? NaN);
const free = 3 * 1024, paid = 10 * 1024;
const pct = (limit) => ((kib / limit) * 100).toFixed(1);
console.log(`deploy check (wrangler deploy --dry-run): ${process.argv[1]}; ` +
  `gzip ${kib.toFixed(2)} KiB is ${pct(free)}% of the free plan limit (3 MiB), ${pct(paid)}% of the paid one (10 MiB)`);
if (!(kib > 0) || kib > free) { console.error("deploy check: over the free plan limit"); process.exit(1); }
' "$line"
# The edge module (the request path, worker/src/lib.rs) is held to its own budget, #10's
# 150 KB gzip: a JSON parser or a management path that reaches it fails the build here.
node -e '
const { readFileSync } = require("node:fs");
const { gzipSync } = require("node:zlib");
const budget = 150000;
const size = (name) => gzipSync(readFileSync(`worker/build/${name}`), { level: 9 }).length;
const edge = size("index_bg.wasm"), full = size("full_bg.wasm");
console.log(`wasm, gzip -9: edge module ${edge} B (budget ${budget} B), full module ${full} B`);
if (edge > budget) { console.error("deploy check: the edge module is over its budget"); process.exit(1); }
'
