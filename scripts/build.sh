#!/usr/bin/env bash
# Builds the worker (release wasm + entry module) into worker/build/.
#
# The steps worker-build 0.8.7 runs for its default (module) target, with our own entry
# module (worker/shim.js) in place of its generated one, whose per-request Proxies cost
# ~13% of a refused request (BENCHMARKS.md). worker-build's CUSTOM_SHIM switch would do
# this too, but it falls back to wasm-bindgen's bundler target, which has no
# `__wbg_reset_state`: the crash recovery below needs it.
#   1. cargo: the cdylib for wasm32-unknown-unknown (release profile, Cargo.toml);
#   2. wasm-bindgen --target module, with the reset-state function and abort handler that
#      let the entry re-instantiate the module after a panic (as worker-build passes);
#   3. wasm-opt -O without --debuginfo: the names section (~120 KB raw) is dropped
#      (kept with SCOPIEN_WASM_NAMES=1, for traces and bench/profile.mjs);
#   4. the glue's string decoding gets an ASCII fast path (scripts/glue-ascii.mjs);
#   5. esbuild bundles worker/shim.js with the glue; the wasm stays a separate module.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SCOPIEN_SKIP_BUILD:-}" = 1 ] && [ -f worker/build/index.js ]; then
  exit 0
fi
source scripts/tools.sh
ensure_build_tools

stage=build/worker-stage
out=worker/build
rm -rf "$stage"
mkdir -p "$stage"

cargo build -p scopien-gate --lib --release --target wasm32-unknown-unknown
"$WASM_BINDGEN_BIN" target/wasm32-unknown-unknown/release/scopien_gate.wasm \
  --out-dir "$stage" --out-name index --target module --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler
# The wasm features workerd runs (as worker-build lists them), so that wasm-opt never
# emits an encoding the runtime lacks.
# SCOPIEN_WASM_NAMES=1 keeps the names: the wasm's names section (~120 KB more raw) and
# the entry unminified, for traces and profiles (bench/profile.mjs).
names=()
minify=(--minify)
if [ "${SCOPIEN_WASM_NAMES:-}" = 1 ]; then
  names=(--debuginfo)
  minify=()
fi
"$WASM_OPT_BIN" -O "${names[@]}" \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types \
  --enable-exception-handling \
  "$stage/index_bg.wasm" -o "$stage/index_bg.wasm"
# workerd imports a wasm module with a plain `import` (the glue uses a source-phase one).
sed -i 's/import source /import /' "$stage/index.js"
# Strings from wasm: an ASCII fast path in JS before the runtime's TextDecoder, whose
# call (and the subarray view made for it) cost more than the decoding of the short
# strings the request path passes (names, ids, the guard's messages): ~3% of a forwarded
# request in a profile. Same result: ASCII is its own UTF-8. The build fails if the glue
# no longer has the function as expected.
node scripts/glue-ascii.mjs "$stage/index.js"
cp worker/shim.js "$stage/shim.js"
(cd "$stage" && "$ESBUILD_BIN" shim.js --bundle --format=esm "${minify[@]}" \
  --external:./index_bg.wasm '--external:cloudflare:*' --outfile=entry.js --log-level=warning)

rm -rf "$out"
mkdir -p "$out"
cp "$stage/entry.js" "$out/index.js"
cp "$stage/index_bg.wasm" "$out/index_bg.wasm"
echo "built $out/index.js ($(wc -c <"$out/index.js") B), $out/index_bg.wasm ($(wc -c <"$out/index_bg.wasm") B raw, $(gzip -9c "$out/index_bg.wasm" | wc -c) B gzip -9)"
