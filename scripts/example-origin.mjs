// `npm run example-origin`: a small origin to put behind the gateway on your machine.
// It verifies the gateway's signed identity (X-Scopien-Identity, an EdDSA JWT) against
// the gateway's JWKS, as your own API would, prints the claims and answers them as JSON.
// It also serves /callback, a page that shows an OAuth authorization code, so a local
// OAuth app has a redirect URI to use. Node's standard library only.
//
//   ORIGIN_PORT   where it listens (default 8788), on 127.0.0.1
//   GATEWAY       where the gateway is reached, for its JWKS (default http://127.0.0.1:8787)
//   ISSUER        the identity's expected `iss`: the gateway's PUBLIC_URL (default: GATEWAY)
//   AUDIENCE      the identity's expected `aud`: the gateway's ORIGIN_URL for this origin
//                 (default http://127.0.0.1:<ORIGIN_PORT>)
//
// Point the gateway at it: `ORIGIN_URL=http://127.0.0.1:8788 npm start`.
import { createServer } from "node:http";
import { createPublicKey, verify } from "node:crypto";
import { fileURLToPath } from "node:url";
import { realpathSync } from "node:fs";

const LEEWAY_SECONDS = 5;

/** Why an identity was refused (a message safe to show the caller). */
export class IdentityError extends Error {}

const decode = (part) => {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new IdentityError("the token is not a JWT");
  }
};

/** The gateway's signing keys, fetched from its JWKS and fetched again when a token names
 * a key id not seen yet (a rotation), at most once per `refetchMs`. */
export function jwksFrom(gateway, { refetchMs = 10_000 } = {}) {
  let keys = new Map();
  let fetchedAt = 0;
  const refresh = async () => {
    const res = await fetch(new URL("/.well-known/jwks.json", gateway));
    if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
    const { keys: published } = await res.json();
    keys = new Map(published.map((jwk) => [jwk.kid, jwk]));
    fetchedAt = Date.now();
  };
  return async (kid) => {
    if (!keys.has(kid) && Date.now() - fetchedAt >= refetchMs) await refresh();
    return keys.get(kid);
  };
}

/** Verifies `token` (the X-Scopien-Identity header's value): EdDSA signature by a key of
 * the JWKS, `iss`, `aud` and the time claims. Returns the claims, or throws IdentityError. */
export async function verifyIdentity(token, { keyFor, issuer, audience, now = Date.now() }) {
  const parts = String(token ?? "").split(".");
  if (parts.length !== 3) throw new IdentityError("no X-Scopien-Identity, or not a JWT");
  const [head, body, signature] = parts;
  const header = decode(head);
  // The gateway signs with Ed25519 only; never let the token choose another algorithm.
  if (header.alg !== "EdDSA") throw new IdentityError(`unexpected alg ${JSON.stringify(header.alg)}`);
  const jwk = await keyFor(header.kid);
  if (!jwk) throw new IdentityError(`unknown kid ${JSON.stringify(header.kid)}`);
  const key = createPublicKey({ key: jwk, format: "jwk" });
  if (!verify(null, Buffer.from(`${head}.${body}`), key, Buffer.from(signature, "base64url"))) {
    throw new IdentityError("bad signature");
  }
  const claims = decode(body);
  const seconds = Math.floor(now / 1000);
  if (claims.iss !== issuer) throw new IdentityError(`iss is ${JSON.stringify(claims.iss)}, expected ${JSON.stringify(issuer)}`);
  if (claims.aud !== audience) throw new IdentityError(`aud is ${JSON.stringify(claims.aud)}, expected ${JSON.stringify(audience)}`);
  if (typeof claims.exp !== "number" || claims.exp + LEEWAY_SECONDS <= seconds) throw new IdentityError("expired");
  if (typeof claims.iat === "number" && claims.iat - LEEWAY_SECONDS > seconds) throw new IdentityError("issued in the future");
  return claims;
}

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function callbackPage(url) {
  const q = url.searchParams;
  const rows = ["code", "state", "iss", "error", "error_description"]
    .filter((name) => q.has(name))
    .map((name) => `<tr><th>${name}</th><td><code>${escape(q.get(name))}</code></td></tr>`)
    .join("\n");
  const next = q.has("code")
    ? `<p>In your terminal, within 60 seconds:</p>\n<pre>CODE=${escape(q.get("code"))}</pre>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OAuth callback</title></head>
<body><h1>OAuth callback</h1>
<p>The gateway redirected here after the consent page.</p>
<table>${rows}</table>
${next}
</body></html>
`;
}

/** Starts the example origin; resolves with its URL and `close`. */
export async function startExampleOrigin({
  port = 8788,
  gateway = "http://127.0.0.1:8787",
  issuer = gateway.replace(/\/$/, ""),
  audience,
  log = console.log,
} = {}) {
  const keyFor = jwksFrom(gateway);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://origin");
    if (url.pathname === "/callback") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(callbackPage(url));
      return;
    }
    const answer = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body) + "\n");
    };
    try {
      const claims = await verifyIdentity(req.headers["x-scopien-identity"], {
        keyFor,
        issuer,
        audience: audience ?? origin.url,
      });
      log(`${req.method} ${req.url}: verified ${JSON.stringify(claims)}`);
      answer(200, { verified: true, method: req.method, path: req.url, identity: claims });
    } catch (error) {
      const reason = error instanceof IdentityError ? error.message : `cannot verify: ${error.message}`;
      log(`${req.method} ${req.url}: refused (${reason})`);
      answer(401, { verified: false, error: reason });
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const origin = {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
  return origin;
}

// Run, not imported (the path may come through a symlink).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const gateway = process.env.GATEWAY || "http://127.0.0.1:8787";
  const origin = await startExampleOrigin({
    port: Number(process.env.ORIGIN_PORT || 8788),
    gateway,
    issuer: process.env.ISSUER || gateway.replace(/\/$/, ""),
    audience: process.env.AUDIENCE || undefined,
  });
  console.log(`Example origin on ${origin.url}: verifies X-Scopien-Identity against ${gateway}/.well-known/jwks.json`);
  console.log(`  run the gateway with ORIGIN_URL=${origin.url}; OAuth redirect URI: ${origin.url}/callback`);
}
