// POST /v1/auth/verify (#23, part 4): a service not behind the gateway asks whether a
// key would be let through. Every code, the counting (a valid key spends its limit, as a
// request does, races included), another organization's key as NOT_FOUND, and the
// throttle's 429 for a caller whose verifications keep failing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify as verifySignature } from "node:crypto";
import { startGateway, call, createKey, createOrgWithAdmin, makeKey } from "./harness.mjs";

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

const verify = (caller, body, url = gw.url) => call(url, "/v1/auth/verify", { key: caller, method: "POST", body });

/** An organization with its admin key, and a key of it made by that admin. */
async function orgWithKey(name, spec = {}) {
  const { org, admin } = await createOrgWithAdmin(gw, { name });
  const key = await createKey(gw, { name: `${name} key`, scopes: ["read", "write"], ...spec }, admin.key);
  return { org, admin, key };
}

/** The JWT's payload, after checking its signature against the gateway's JWKS. */
async function identityClaims(token) {
  const [header, payload, signature] = token.split(".");
  const { kid } = JSON.parse(Buffer.from(header, "base64url"));
  const jwks = (await call(gw.url, "/.well-known/jwks.json")).json;
  const jwk = jwks.keys.find((k) => k.kid === kid);
  assert.ok(jwk, "the assertion's kid is in the JWKS");
  const ok = verifySignature(
    null,
    Buffer.from(`${header}.${payload}`),
    createPublicKey({ key: jwk, format: "jwk" }),
    Buffer.from(signature, "base64url"),
  );
  assert.ok(ok, "the assertion's signature verifies");
  return JSON.parse(Buffer.from(payload, "base64url"));
}

test("VALID: who the key is, its window after this verification, and the origin's identity assertion", async () => {
  const { org, admin, key } = await orgWithKey("Valid", { rateLimit: 100 });
  const res = await verify(admin.key, { key: key.key, method: "POST", path: "/v1/opportunities" });
  assert.equal(res.status, 200, res.text);
  const v = res.json;
  assert.equal(v.valid, true);
  assert.equal(v.code, "VALID");
  assert.equal(v.keyId, key.id);
  assert.equal(v.organizationId, org.id);
  assert.equal(v.type, "live");
  assert.deepEqual(v.scopes, ["read", "write"]);
  assert.equal(v.rateLimit.limit, 100);
  assert.equal(v.rateLimit.remaining, 99, "this verification was counted");
  assert.ok(v.rateLimit.reset > Date.now() / 1000 - 1);
  const claims = await identityClaims(v.identity);
  assert.equal(claims.sub, key.id);
  assert.equal(claims.org_id, org.id);
  assert.equal(claims.key_type, "live");
  assert.equal(claims.iss, gw.url);
  // No ORIGIN_URL here: addressed to the gateway itself.
  assert.equal(claims.aud, gw.url);
  // The caller's own request is counted against the caller, with its headers.
  assert.ok(res.headers.get("x-ratelimit-remaining"));
});

test("NOT_FOUND: unknown, malformed, the root key, and a key of another organization, valid or revoked", async () => {
  const { admin } = await orgWithKey("Mine");
  const theirs = await orgWithKey("Theirs", { rateLimit: 10 });
  const unknown = await verify(admin.key, { key: makeKey("live") });
  assert.deepEqual(unknown.json, { valid: false, code: "NOT_FOUND" });
  const garbage = await verify(admin.key, { key: "not a key" });
  assert.deepEqual(garbage.json, { valid: false, code: "NOT_FOUND" });
  const rootKey = await verify(admin.key, { key: gw.rootKey });
  assert.deepEqual(rootKey.json, { valid: false, code: "NOT_FOUND" });
  const other = await verify(admin.key, { key: theirs.key.key });
  assert.equal(other.status, 200);
  assert.deepEqual(other.json, { valid: false, code: "NOT_FOUND" }, "nothing of another organization's key");
  // Nothing of it was counted: its owner still sees its whole limit but this request.
  const own = await call(gw.url, "/v1/auth/test", { key: theirs.key.key });
  assert.equal(own.json.rateLimit.remaining, 9);
  const revoked = await call(gw.url, `/v1/api-keys/${theirs.key.id}`, { key: theirs.admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200);
  const revokedOther = await verify(admin.key, { key: theirs.key.key });
  assert.deepEqual(revokedOther.json, { valid: false, code: "NOT_FOUND" });
});

test("REVOKED and EXPIRED to the key's own organization, only with the whole secret", async () => {
  const { org, admin, key } = await orgWithKey("Lifecycle");
  const del = await call(gw.url, `/v1/api-keys/${key.id}`, { key: admin.key, method: "DELETE" });
  assert.equal(del.status, 200);
  const revoked = await verify(admin.key, { key: key.key });
  assert.equal(revoked.json.code, "REVOKED");
  assert.equal(revoked.json.valid, false);
  assert.equal(revoked.json.keyId, key.id);
  assert.equal(revoked.json.organizationId, org.id);
  assert.equal(revoked.json.rateLimit, undefined);
  assert.equal(revoked.json.identity, undefined);
  // The same id with another secret is not this key.
  const forged = `${key.key.slice(0, 24)}${makeKey("live").slice(24)}`;
  const wrong = await verify(admin.key, { key: forged });
  assert.deepEqual(wrong.json, { valid: false, code: "NOT_FOUND" });
  // A secret rolled away with no grace is expired.
  const second = await createKey(gw, { name: "rolled", scopes: ["read"] }, admin.key);
  const rolled = await call(gw.url, `/v1/api-keys/${second.id}/roll`, { key: admin.key, method: "POST", body: { expiresIn: 0 } });
  assert.equal(rolled.status, 200);
  const expired = await verify(admin.key, { key: second.key });
  assert.equal(expired.json.code, "EXPIRED");
  assert.equal(expired.json.keyId, second.id);
  const fresh = await verify(admin.key, { key: rolled.json.key });
  assert.equal(fresh.json.code, "VALID");
});

test("FORBIDDEN by method and path; the path's query is ignored; no path needs any valid key", async () => {
  const { admin, key } = await orgWithKey("Scopes", { scopes: { reports: ["read"] } });
  const read = await verify(admin.key, { key: key.key, path: "/v1/reports/1?full=1" });
  assert.equal(read.json.code, "VALID");
  const write = await verify(admin.key, { key: key.key, method: "POST", path: "/v1/reports" });
  assert.equal(write.json.code, "FORBIDDEN");
  assert.equal(write.json.valid, false);
  assert.equal(typeof write.json.rateLimit.remaining, "number");
  assert.equal(write.json.identity, undefined);
  const elsewhere = await verify(admin.key, { key: key.key, path: "/v1/accounts" });
  assert.equal(elsewhere.json.code, "FORBIDDEN");
  const anything = await verify(admin.key, { key: key.key });
  assert.equal(anything.json.code, "VALID");
});

test("IP_NOT_ALLOWED: judged by the ip given, never by the verifying service's address", async () => {
  const { admin, key } = await orgWithKey("Addresses", { allowedIps: ["203.0.113.0/24", "2001:db8::/32"] });
  const from = (ip, headers = {}) =>
    call(gw.url, "/v1/auth/verify", { key: admin.key, method: "POST", body: ip === undefined ? { key: key.key } : { key: key.key, ip }, headers });
  assert.equal((await from("203.0.113.9")).json.code, "VALID");
  assert.equal((await from("::ffff:203.0.113.9")).json.code, "VALID");
  assert.equal((await from("2001:db8::1")).json.code, "VALID");
  assert.equal((await from("198.51.100.1")).json.code, "IP_NOT_ALLOWED");
  // No ip: refused, even when the verifying service calls from an allowed address.
  const none = await from(undefined, { "CF-Connecting-IP": "203.0.113.9" });
  assert.equal(none.json.code, "IP_NOT_ALLOWED");
  assert.equal(none.json.keyId, key.id);
});

test("SUSPENDED while its organization is suspended, as the root key sees it", async () => {
  const { org, key } = await orgWithKey("Paused");
  const off = await call(gw.url, `/v1/organizations/${org.id}`, { key: gw.rootKey, method: "PATCH", body: { status: "suspended" } });
  assert.equal(off.status, 200, off.text);
  // The root key may verify any organization's keys.
  const res = await verify(gw.rootKey, { key: key.key });
  assert.equal(res.json.code, "SUSPENDED");
  assert.equal(res.json.organizationId, org.id);
});

test("a verified valid key spends its limit, then RATE_LIMITED; requests and verifications share it", async () => {
  const { admin, key } = await orgWithKey("Counted", { rateLimit: 3, burst: 3 });
  const first = await verify(admin.key, { key: key.key });
  assert.equal(first.json.rateLimit.remaining, 2);
  assert.equal((await call(gw.url, "/v1/auth/test", { key: key.key })).status, 200);
  const third = await verify(admin.key, { key: key.key });
  assert.equal(third.json.rateLimit.remaining, 0);
  const spent = await verify(admin.key, { key: key.key });
  assert.equal(spent.json.code, "RATE_LIMITED");
  assert.equal(spent.json.rateLimit.remaining, 0);
  assert.equal((await call(gw.url, "/v1/auth/test", { key: key.key })).status, 429);
});

test("concurrent verifications of one key: exactly its limit are VALID", async () => {
  const { admin, key } = await orgWithKey("Race", { rateLimit: 5, burst: 5 });
  const answers = await Promise.all(Array.from({ length: 12 }, () => verify(admin.key, { key: key.key })));
  const codes = answers.map((r) => r.json?.code);
  assert.equal(codes.filter((c) => c === "VALID").length, 5, JSON.stringify(codes));
  assert.equal(codes.filter((c) => c === "RATE_LIMITED").length, 7, JSON.stringify(codes));
  const usage = await call(gw.url, `/v1/api-keys/${key.id}/usage`, { key: admin.key });
  assert.equal(usage.status, 200);
  assert.equal(usage.json.total, 5, usage.text);
});

test("the caller: a key that may list keys; a test-mode caller verifies test keys only", async () => {
  const { org, admin, key } = await orgWithKey("Callers");
  const reader = await createKey(gw, { name: "reader", scopes: ["read"] }, admin.key);
  const refused = await verify(reader.key, { key: key.key });
  assert.equal(refused.status, 403);
  const testAdmin = await createKey(gw, { name: "test admin", type: "test", scopes: ["admin"], organizationId: org.id });
  const testKey = await createKey(gw, { name: "test key", type: "test", scopes: ["read"] }, admin.key);
  assert.deepEqual((await verify(testAdmin.key, { key: key.key })).json, { valid: false, code: "NOT_FOUND" });
  assert.equal((await verify(testAdmin.key, { key: testKey.key })).json.code, "VALID");
  assert.equal((await call(gw.url, "/v1/auth/verify", { key: admin.key })).status, 405);
});

test("bodies: each bad member is a 400 naming it", async () => {
  const { admin } = await orgWithKey("Bodies");
  const field = async (body) => {
    const res = await verify(admin.key, body);
    assert.equal(res.status, 400, res.text);
    return res.json.error.field;
  };
  assert.equal(await field({}), "key");
  assert.equal(await field({ key: 7 }), "key");
  assert.equal(await field({ key: "x", ip: "10.0.0.0/8" }), "ip");
  assert.equal(await field({ key: "x", path: "/v2/elsewhere" }), "path");
  assert.equal(await field({ key: "x", method: "BAD METHOD" }), "method");
  assert.equal(await field({ key: "x", method: "DELETE", path: "/v1/api-keys" }), "method");
  assert.equal(await field({ key: "x", extra: true }), undefined);
});

test("a caller whose verifications keep failing gets 429 from verify alone, for the block's length", async () => {
  const LIMIT = 3;
  const strict = await startGateway({ vars: { AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_BLOCK_SECONDS: "60" } });
  try {
    const made = await call(strict.url, "/v1/organizations", { key: strict.rootKey, method: "POST", body: { name: "Guess", plan: "starter" } });
    const admin = await createKey(strict, { name: "admin", scopes: ["admin"], organizationId: made.json.id });
    const good = await createKey(strict, { name: "good", scopes: ["read"] }, admin.key);
    assert.equal((await verify(admin.key, { key: good.key }, strict.url)).json.code, "VALID");
    const statuses = [];
    for (let i = 0; i < LIMIT + 3; i++) {
      statuses.push((await verify(admin.key, { key: makeKey("live") }, strict.url)).status);
    }
    assert.deepEqual(statuses.slice(0, LIMIT), Array(LIMIT).fill(200), JSON.stringify(statuses));
    assert.ok(statuses.slice(LIMIT).every((s) => s === 429), JSON.stringify(statuses));
    const blocked = await verify(admin.key, { key: makeKey("live") }, strict.url);
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json.error.code, "rate_limit_exceeded");
    const retry = Number(blocked.headers.get("retry-after"));
    assert.ok(retry > 1 && retry <= 60, `Retry-After ${retry}`);
    // The caller's own requests are not blocked, and a key it verified before still is.
    assert.equal((await call(strict.url, "/v1/auth/test", { key: admin.key })).status, 200);
    assert.equal((await verify(admin.key, { key: good.key }, strict.url)).json.code, "VALID");
    // Another caller of the same organization is its own bucket.
    const other = await createKey(strict, { name: "admin 2", scopes: ["admin"] }, admin.key);
    assert.equal((await verify(other.key, { key: makeKey("live") }, strict.url)).status, 200);
  } finally {
    await strict.stop();
  }
});

test("concurrent failed verifications: past the limit they are 429, never all answered", async () => {
  const LIMIT = 3;
  const strict = await startGateway({ vars: { AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_BLOCK_SECONDS: "60" } });
  try {
    const made = await call(strict.url, "/v1/organizations", { key: strict.rootKey, method: "POST", body: { name: "Burst", plan: "starter" } });
    const admin = await createKey(strict, { name: "admin", scopes: ["admin"], organizationId: made.json.id });
    const answers = await Promise.all(Array.from({ length: 20 }, () => verify(admin.key, { key: makeKey("live") }, strict.url)));
    const statuses = answers.map((r) => r.status);
    const reached = statuses.filter((s) => s === 200).length;
    assert.ok(reached <= LIMIT + 1, `at most LIMIT + 1 guesses reach their guards: ${JSON.stringify(statuses)}`);
    assert.ok(statuses.every((s) => s === 200 || s === 429), JSON.stringify(statuses));
  } finally {
    await strict.stop();
  }
});

test("without an identity signing key, verify answers 503 and counts nothing", async () => {
  const bare = await startGateway({ identityKey: null });
  try {
    const made = await call(bare.url, "/v1/organizations", { key: bare.rootKey, method: "POST", body: { name: "Bare", plan: "starter" } });
    const admin = await createKey(bare, { name: "admin", scopes: ["admin"], organizationId: made.json.id });
    const key = await createKey(bare, { name: "k", scopes: ["read"], rateLimit: 10 }, admin.key);
    const res = await verify(admin.key, { key: key.key }, bare.url);
    assert.equal(res.status, 503);
    assert.match(res.json.error.details, /IDENTITY_SIGNING_KEY/);
    const own = await call(bare.url, "/v1/auth/test", { key: key.key });
    assert.equal(own.json.rateLimit.remaining, 9);
  } finally {
    await bare.stop();
  }
});
