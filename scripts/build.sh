#!/usr/bin/env bash
# Builds the worker (release wasm + JS shim) into worker/build/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SCOPIEN_SKIP_BUILD:-}" = 1 ] && [ -f worker/build/index.js ]; then
  exit 0
fi
source scripts/tools.sh
ensure_build_tools
cd worker
worker-build --release
