#!/usr/bin/env bash
# `npm start`: build the worker and serve it on http://127.0.0.1:8787 with local KV and
# Durable Object storage (under .wrangler/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
if [ ! -f .dev.vars ]; then
  key=$(node scripts/root-key.mjs live)
  umask 077
  printf 'SCOPIEN_ROOT_KEY=%s\n' "$key" > .dev.vars
  echo
  echo "  Wrote .dev.vars with a fresh root key (admin; keep it secret):"
  echo "    export SCOPIEN_ROOT_KEY=$key"
  echo
fi
if ! grep -q '^IDENTITY_SIGNING_KEY=' .dev.vars; then
  umask 077
  printf "IDENTITY_SIGNING_KEY='%s'\n" "$(node scripts/identity-key.mjs)" >> .dev.vars
  echo "  Added IDENTITY_SIGNING_KEY to .dev.vars: origins verify X-Scopien-Identity against"
  echo "  http://127.0.0.1:${PORT:-8787}/.well-known/jwks.json"
  echo
fi
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false SCOPIEN_SKIP_BUILD=1
# The issuer (PUBLIC_URL, wrangler.toml: http://127.0.0.1:8787) follows another PORT, or
# the address PUBLIC_URL names in the environment.
public=()
if [ -n "${PORT:-}${PUBLIC_URL:-}" ]; then
  public=(--var "PUBLIC_URL:${PUBLIC_URL:-http://127.0.0.1:${PORT:-8787}}")
fi
# ORIGIN_URL, SANDBOX_ORIGIN_URL, SIGNUP and WEBHOOK_ALLOW_HTTP_LOOPBACK in the environment
# override wrangler.toml's for this run: `ORIGIN_URL=http://127.0.0.1:8788 npm start` puts
# `npm run example-origin` behind it; `SIGNUP=open npm start` lets anyone sign up;
# `WEBHOOK_ALLOW_HTTP_LOOPBACK=true npm start` lets webhooks go to a receiver on this
# machine (docs/webhooks.md).
for name in ORIGIN_URL SANDBOX_ORIGIN_URL SIGNUP WEBHOOK_ALLOW_HTTP_LOOPBACK; do
  if [ -n "${!name:-}" ]; then
    public+=(--var "$name:${!name}")
  fi
done
exec wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --show-interactive-dev-session=false "${public[@]}"
