# Sourced by the npm scripts: installs, at pinned versions, every tool the build needs
# that npm does not bring. Idempotent: a second run checks versions and does nothing.
set -euo pipefail

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate in Cargo.lock
SCHEMATHESIS_VERSION=4.32.5
AUTHLIB_VERSION=1.9.6
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
# npm's pinned Node 22, wrangler and esbuild first, also when a script is run by hand.
export PATH="$PWD/node_modules/.bin:$PATH"

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "» adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# ensure_cargo_tool CRATE VERSION BINARY
ensure_cargo_tool() {
  local crate=$1 version=$2 bin=$3
  if "$CARGO_BIN/$bin" --version 2>/dev/null | grep -Eq "(^| )$version\$"; then
    return
  fi
  echo "» installing $crate $version (a few minutes, once per machine)"
  # No --locked: wasm-bindgen-cli's lock pins a crate version the registry lacks.
  cargo install "$crate" --version "=$version" --force --quiet
}

ensure_build_tools() {
  ensure_wasm_target
  ensure_cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
  # scripts/build.sh runs these (wasm-bindgen from cargo, esbuild and wasm-opt from npm).
  export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
  export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
  export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
  export PATH="$CARGO_BIN:$PATH"
}

# schemathesis, for the contract test, in a virtualenv under build/ (ignored by git).
ensure_schemathesis() {
  local venv="$PWD/build/venv"
  if "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    return
  fi
  echo "» installing schemathesis $SCHEMATHESIS_VERSION into build/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

# authlib, the Python OAuth client of tests/oauth-clients.test.mjs (tests/oauth_authlib.py),
# in the same virtualenv. Its dependencies are pinned too; requests (OAuth2Session's
# transport) at the version schemathesis already brings, so neither moves the other.
ensure_authlib() {
  local venv="$PWD/build/venv"
  if [ "$("$venv/bin/python" -c 'import authlib; print(authlib.__version__)' 2>/dev/null)" = "$AUTHLIB_VERSION" ]; then
    return
  fi
  echo "» installing authlib $AUTHLIB_VERSION into build/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "authlib==$AUTHLIB_VERSION" "joserfc==1.8.0" "cryptography==50.0.2" "cffi==2.1.1" \
    "pycparser==3.12" "requests==2.34.2"
}

# Firefox ESR from Debian's packages, for the dashboard's Firefox test (Chromium comes
# from npm). Pinned; if Debian has replaced that version (a security update), the
# current one is installed instead and said so. Needs root for apt-get (CI and these
# machines run as root); without it the Firefox test is skipped and says why.
FIREFOX_ESR_VERSION=153.8.0esr-1~deb12u1
ensure_firefox() {
  if [ -x /usr/bin/firefox-esr ]; then
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "» no Firefox and no root apt-get: the dashboard's Firefox test will be skipped"
    return
  fi
  echo "» installing firefox-esr $FIREFOX_ESR_VERSION (Debian package, once per machine)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  if ! apt-get install -y -qq "firefox-esr=$FIREFOX_ESR_VERSION" >/dev/null; then
    echo "» firefox-esr $FIREFOX_ESR_VERSION is gone from Debian; installing the current one"
    apt-get install -y -qq firefox-esr >/dev/null
  fi
}
