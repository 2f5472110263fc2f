#!/usr/bin/env bash
# `npm run fuzz`: a short, bounded cargo-fuzz run of every target (or of the targets
# named as arguments: `npm run fuzz -- key_parser`). Each target stops by itself after
# FUZZ_SECONDS (default 30). Needs the nightly toolchain (rustup); installs cargo-fuzz
# at a pinned version if it is missing. Not part of `npm test` or CI: it is too slow.
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
#   cd fuzz && cargo +nightly fuzz run <target> artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
TARGETS=(key_parser path_canonicaliser scope_map admin_bodies)
if [ $# -gt 0 ]; then TARGETS=("$@"); fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "» installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "» installing cargo-fuzz $CARGO_FUZZ_VERSION (a few minutes, once per machine)"
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --force --quiet
fi

cd fuzz
failed=()
for target in "${TARGETS[@]}"; do
  echo "== fuzzing $target for ${SECONDS_PER_TARGET}s"
  mkdir -p "corpus/$target"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true; fi
  if ! cargo +nightly fuzz run "$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found failures in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: no crash in ${TARGETS[*]}"
