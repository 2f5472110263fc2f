// The identity the gateway asserts to the origin: an EdDSA JWT in X-Scopien-Identity,
// verified here with node's own crypto against the gateway's JWKS, as an origin would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { startGateway, startOrigin, call, createKey, makeIdentityKey, rawRequest } from "./harness.mjs";

let gw, origin;
const previous = JSON.parse(makeIdentityKey());
const previousPublic = { kty: previous.kty, crv: previous.crv, x: previous.x, kid: previous.kid };

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({
    vars: { ORIGIN_URL: origin.url, SANDBOX_ORIGIN_URL: origin.url, IDENTITY_PREVIOUS_KEYS: JSON.stringify([previousPublic]) },
  });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

const part = (text) => JSON.parse(Buffer.from(text, "base64url").toString("utf8"));

/** Verifies `token` against the gateway's published keys; returns its claims. */
async function verifyWithJwks(token) {
  const jwks = await call(gw.url, "/.well-known/jwks.json");
  assert.equal(jwks.status, 200);
  const [header, payload, signature] = token.split(".");
  const { alg, kid, typ } = part(header);
  assert.deepEqual({ alg, typ }, { alg: "EdDSA", typ: "JWT" });
  const jwk = jwks.json.keys.find((k) => k.kid === kid);
  assert.ok(jwk, "the token's kid is published");
  const key = createPublicKey({ key: jwk, format: "jwk" });
  const ok = verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, "base64url"));
  assert.ok(ok, "the signature verifies");
  return part(payload);
}

test("every forwarded request carries an assertion an origin verifies against the JWKS", async () => {
  const key = await createKey(gw, {
    name: "identity",
    scopes: { accounts: ["read"], opportunities: ["read", "write"] },
  });
  const before = Math.floor(Date.now() / 1000);
  const res = await call(gw.url, "/v1/accounts/acc_1", {
    key: key.key,
    headers: { "X-Scopien-Identity": "forged.by.client" },
  });
  assert.equal(res.status, 200);
  const token = origin.received.at(-1).headers["x-scopien-identity"];
  assert.notEqual(token, "forged.by.client", "a client's own assertion never reaches the origin");
  const claims = await verifyWithJwks(token);
  // Exactly these claims, each the key's own: no other member, none missing.
  assert.match(key.id, /^key_/);
  assert.match(key.organizationId, /^org_/);
  const { iat, exp, ...rest } = claims;
  assert.deepEqual(rest, {
    iss: gw.url,
    aud: origin.url,
    sub: key.id,
    org_id: key.organizationId,
    key_type: "live",
    scope: "accounts:read opportunities:read opportunities:write",
  });
  assert.ok(iat >= before - 1 && iat <= before + 5);
  assert.equal(exp - iat, 300);
  // The signature is over exactly this header and payload: the same signature with a
  // changed payload, or with one bit of it flipped, does not verify against the key the
  // token names (which verifies the untouched token: the refusals are the signature's).
  const [h, p, sig] = token.split(".");
  const jwks = (await call(gw.url, "/.well-known/jwks.json")).json;
  const pub = createPublicKey({ key: jwks.keys.find((k) => k.kid === part(h).kid), format: "jwk" });
  const signature = Buffer.from(sig, "base64url");
  assert.equal(signature.length, 64, "an Ed25519 signature");
  assert.ok(verify(null, Buffer.from(`${h}.${p}`), pub, signature), "the untouched token verifies");
  const forged = Buffer.from(JSON.stringify({ ...claims, scope: "admin" })).toString("base64url");
  assert.ok(!verify(null, Buffer.from(`${h}.${forged}`), pub, signature), "a changed payload does not verify");
  const flipped = Buffer.from(signature);
  flipped[10] ^= 1;
  assert.ok(!verify(null, Buffer.from(`${h}.${p}`), pub, flipped), "a changed signature does not verify");
  // Nor does the same token checked against the previous key in the JWKS.
  const other = createPublicKey({ key: jwks.keys.find((k) => k.kid !== part(h).kid), format: "jwk" });
  assert.ok(!verify(null, Buffer.from(`${h}.${p}`), other, signature), "another published key does not verify it");
  // The same key with the same claims gets the same assertion while it is valid.
  await call(gw.url, "/v1/accounts/acc_2", { key: key.key });
  assert.equal(origin.received.at(-1).headers["x-scopien-identity"], token);
});

test("the JWKS publishes the current key and the previous ones, never a private part", async () => {
  const jwks = await call(gw.url, "/.well-known/jwks.json");
  assert.equal(jwks.status, 200);
  assert.equal(jwks.json.keys.length, 2);
  assert.equal(jwks.json.keys[1].kid, previous.kid);
  for (const k of jwks.json.keys) {
    assert.equal(k.d, undefined);
    assert.deepEqual([k.kty, k.crv, k.alg, k.use], ["OKP", "Ed25519", "EdDSA", "sig"]);
  }
  const current = JSON.parse(gw.identityKey);
  assert.equal(jwks.json.keys[0].x, current.x);
  assert.ok(!jwks.text.includes(current.d));
});

test("without a signing key nothing is asserted and the JWKS is empty", async () => {
  const bare = await startGateway({ vars: { ORIGIN_URL: origin.url }, identityKey: null });
  try {
    const key = await createKey(bare, { name: "bare", scopes: ["read"] });
    assert.equal((await call(bare.url, "/v1/accounts", { key: key.key })).status, 200);
    assert.equal(origin.received.at(-1).headers["x-scopien-identity"], undefined);
    assert.deepEqual((await call(bare.url, "/.well-known/jwks.json")).json, { keys: [] });
  } finally {
    await bare.stop();
  }
});

test("the issuer is PUBLIC_URL, never the Host a client sends: metadata, the identity's iss, the redirect's iss", async () => {
  const PUBLIC = "https://gateway.example.com";
  const pinned = await startGateway({ vars: { ORIGIN_URL: origin.url, PUBLIC_URL: PUBLIC } });
  try {
    const evil = { host: "evil.example" };
    const meta = await rawRequest(pinned.url, "/.well-known/oauth-authorization-server", { headers: evil });
    assert.equal(meta.status, 200, meta.text);
    assert.equal(meta.json.issuer, PUBLIC);
    assert.equal(meta.json.token_endpoint, `${PUBLIC}/oauth/token`);
    const key = await createKey(pinned, { name: "iss", scopes: ["read"] });
    const forwarded = await rawRequest(pinned.url, "/v1/accounts", { headers: { ...evil, authorization: `Bearer ${key.key}` } });
    assert.equal(forwarded.status, 200, forwarded.text);
    const claims = part(origin.received.at(-1).headers["x-scopien-identity"].split(".")[1]);
    assert.equal(claims.iss, PUBLIC);
    const app = await call(pinned.url, "/v1/oauth-clients", {
      key: pinned.rootKey,
      method: "POST",
      body: { name: "App", redirectUris: ["https://app.example.com/cb"], scopes: ["read"], type: "public" },
    });
    assert.equal(app.status, 201, app.text);
    // Without PKCE the request is sent back to the app, with iss (RFC 9207).
    const q = new URLSearchParams({ response_type: "code", client_id: app.json.clientId, redirect_uri: "https://app.example.com/cb" });
    const back = await rawRequest(pinned.url, `/oauth/authorize?${q}`, { headers: evil });
    assert.equal(back.status, 303, back.text);
    assert.equal(new URL(back.headers.get("location")).searchParams.get("iss"), PUBLIC);
  } finally {
    await pinned.stop();
  }
});

test("a malformed PUBLIC_URL fails closed with 503 naming the var; nothing is forwarded", async () => {
  for (const bad of ["gateway.example.com", "ftp://gateway.example.com", "https://gateway.example.com/path?x", "https://user@gateway.example.com", "https://"]) {
    const broken = await startGateway({ vars: { ORIGIN_URL: origin.url, PUBLIC_URL: bad } });
    try {
      const meta = await call(broken.url, "/.well-known/oauth-authorization-server");
      assert.equal(meta.status, 503, `${bad}: ${meta.text}`);
      assert.equal(meta.json.error.code, "service_unavailable");
      assert.match(meta.json.error.details, /PUBLIC_URL/);
      const key = await createKey(broken, { name: "bad", scopes: ["read"] });
      const before = origin.received.length;
      const res = await call(broken.url, "/v1/accounts", { key: key.key });
      assert.equal(res.status, 503, bad);
      assert.match(res.json.error.details, /PUBLIC_URL/);
      assert.equal(origin.received.length, before, "nothing reached the origin");
    } finally {
      await broken.stop();
    }
  }
});

test("with no origin, the echo shows the identity an origin would get, addressed to the gateway itself", async () => {
  const echoing = await startGateway({});
  try {
    const key = await createKey(echoing, { name: "echoed", scopes: ["read"] });
    const res = await call(echoing.url, "/v1/accounts", { key: key.key });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.echo, true);
    const token = res.json.headers["x-scopien-identity"];
    assert.equal(typeof token, "string", `the echo shows the identity: ${res.text}`);
    const [header, payload, signature] = token.split(".");
    const jwks = (await call(echoing.url, "/.well-known/jwks.json")).json;
    const jwk = jwks.keys.find((k) => k.kid === part(header).kid);
    assert.ok(jwk, "signed by a published key");
    const key32 = createPublicKey({ key: jwk, format: "jwk" });
    assert.ok(verify(null, Buffer.from(`${header}.${payload}`), key32, Buffer.from(signature, "base64url")));
    const claims = part(payload);
    assert.equal(claims.iss, echoing.url);
    assert.equal(claims.aud, echoing.url, "no origin to name: the audience is the gateway's own URL");
    assert.equal(claims.sub, key.id);
  } finally {
    await echoing.stop();
  }
});
