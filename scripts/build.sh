#!/usr/bin/env bash
# Builds the worker (release wasm + entry module) into worker/build/.
#
# The steps worker-build 0.8.7 runs for its default (module) target, with our own entry
# module (worker/shim.js) in place of its generated one, whose per-request Proxies cost
# ~13% of a refused request (BENCHMARKS.md). worker-build's CUSTOM_SHIM switch would do
# this too, but it falls back to wasm-bindgen's bundler target, which has no
# `__wbg_reset_state`: the crash recovery below needs it.
#   1. cargo: the cdylib for wasm32-unknown-unknown (release profile, Cargo.toml),
#      twice: the edge module (index_bg.wasm) and the full module (full_bg.wasm);
#   2. wasm-bindgen --target module, with the reset-state function and abort handler that
#      let the entry re-instantiate the module after a panic (as worker-build passes);
#   3. wasm-opt -O without --debuginfo: the names section (~120 KB raw) is dropped
#      (kept with SCOPIEN_WASM_NAMES=1, for traces and bench/profile.mjs);
#   4. the glue's string decoding gets an ASCII fast path (scripts/glue-ascii.mjs);
#   5. esbuild bundles worker/shim.js with the edge glue, and the full glue apart (the
#      entry imports it on first use); each wasm stays a separate module.
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

# Two builds of the crate (worker/src/lib.rs): the edge module (the request path, no
# `full` feature) as index_bg.wasm with its glue index.js, and the full module as
# full_bg.wasm with full.js, which the entry imports on first use.
# Each module in a folder of its own: wasm-bindgen numbers its JS snippets per run.
build_module() { # name, cargo feature flags...
  local name=$1
  local dir="$stage/$1"
  shift
  cargo build -p scopien-gate --lib --release --target wasm32-unknown-unknown "$@"
  "$WASM_BINDGEN_BIN" "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/scopien_gate.wasm" \
    --out-dir "$dir" --out-name "$name" --target module --no-typescript \
    --experimental-reset-state-function --force-enable-abort-handler
  # The wasm features workerd runs (as worker-build lists them), so that wasm-opt never
  # emits an encoding the runtime lacks.
  "$WASM_OPT_BIN" -O "${names[@]}" \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types \
    --enable-exception-handling \
    "$dir/${name}_bg.wasm" -o "$dir/${name}_bg.wasm"
  # workerd imports a wasm module with a plain `import` (the glue uses a source-phase one).
  sed -i 's/import source /import /' "$dir/$name.js"
  # Strings from wasm: an ASCII fast path in JS before the runtime's TextDecoder, whose
  # call (and the subarray view made for it) cost more than the decoding of the short
  # strings the request path passes (names, ids, the guard's messages): ~3% of a
  # forwarded request in a profile. Same result: ASCII is its own UTF-8. The build fails
  # if the glue no longer has the function as expected.
  node scripts/glue-ascii.mjs "$dir/$name.js"
}

# SCOPIEN_WASM_NAMES=1 keeps the names: the wasm's names section (~120 KB more raw) and
# the entry unminified, for traces and profiles (bench/profile.mjs).
names=()
minify=(--minify)
if [ "${SCOPIEN_WASM_NAMES:-}" = 1 ]; then
  names=(--debuginfo)
  minify=()
fi
build_module index --no-default-features
build_module full
cp worker/shim.js "$stage/index/shim.js"
(cd "$stage/index" && "$ESBUILD_BIN" shim.js --bundle --format=esm "${minify[@]}" \
  --external:./index_bg.wasm --external:./full.js '--external:cloudflare:*' \
  --outfile=entry.js --log-level=warning)
(cd "$stage/full" && "$ESBUILD_BIN" full.js --bundle --format=esm "${minify[@]}" \
  --external:./full_bg.wasm --outfile=full-bundle.js --log-level=warning)

rm -rf "$out"
mkdir -p "$out"
cp "$stage/index/entry.js" "$out/index.js"
cp "$stage/full/full-bundle.js" "$out/full.js"
cp "$stage/index/index_bg.wasm" "$stage/full/full_bg.wasm" "$out/"
for wasm in index_bg full_bg; do
  echo "built $out/$wasm.wasm ($(wc -c <"$out/$wasm.wasm") B raw, $(gzip -9c "$out/$wasm.wasm" | wc -c) B gzip -9)"
done
