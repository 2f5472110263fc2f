// Hostile input and faults: brute-force throttling, storage faults failing closed, and
// input that must be refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startGateway,
  startOrigin,
  call,
  createKey,
  makeKey,
  rawRequest,
  postLarge,
} from "./harness.mjs";

let gw, origin;
before(async () => {
  origin = await startOrigin();
  gw = await startGateway({
    vars: { ORIGIN_URL: origin.url, AUTH_FAILURE_LIMIT: "5", AUTH_FAILURE_BLOCK_SECONDS: "60" },
  });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

const from = (address, key) => ({ key, headers: { "cf-connecting-ip": address } });

test("an address past the failure limit gets 429; other addresses are unaffected", async () => {
  const good = await createKey(gw, { name: "good", scopes: ["read"] });
  const attacker = "203.0.113.7";
  for (let i = 0; i < 5; i++) {
    const res = await call(gw.url, "/v1/accounts", from(attacker, makeKey("live")));
    assert.equal(res.status, 401, `failure ${i + 1}`);
  }
  const blocked = await call(gw.url, "/v1/accounts", from(attacker, makeKey("live")));
  assert.equal(blocked.status, 429);
  assert.equal(blocked.json.error.code, "rate_limit_exceeded");
  assert.match(blocked.json.error.details, /failed authentication attempts/);
  const wait = Number(blocked.headers.get("retry-after"));
  assert.ok(wait >= 55 && wait <= 61, `Retry-After ${wait}`);
  // Refused with no storage call, even with a valid key: no oracle for guesses.
  const validFromAttacker = await call(gw.url, "/v1/accounts", from(attacker, good.key));
  assert.equal(validFromAttacker.status, 429);
  const malformed = await call(gw.url, "/v1/accounts", from(attacker, "sk_live_nope"));
  assert.equal(malformed.status, 429);
  const other = await call(gw.url, "/v1/accounts", from("198.51.100.9", good.key));
  assert.equal(other.status, 200);
  const usage = await call(gw.url, `/v1/api-keys/${good.id}/usage`, { key: gw.rootKey });
  assert.equal(usage.json.total, 1, "the refused request was not counted");
});

test("failures on the management API block the request path too: the isolate keeps one throttle memory", async () => {
  // The management API is the full module's and the request path the edge module's
  // (worker/src/lib.rs); both count in the edge module's memory. A key that never
  // worked from the address is refused there before its guard is asked: with a memory
  // per module, the request path would not know of the block and would admit it.
  const good = await createKey(gw, { name: "good-shared", scopes: ["read"] });
  const attacker = "203.0.113.21";
  for (let i = 0; i < 5; i++) {
    const res = await call(gw.url, "/v1/api-keys", from(attacker, makeKey("live")));
    assert.equal(res.status, 401, `failure ${i + 1}`);
  }
  const blocked = await call(gw.url, "/v1/api-keys", from(attacker, makeKey("live")));
  assert.equal(blocked.status, 429);
  const validFromAttacker = await call(gw.url, "/v1/accounts", from(attacker, good.key));
  assert.equal(validFromAttacker.status, 429);
  assert.match(validFromAttacker.json.error.details, /failed authentication attempts/);
  const usage = await call(gw.url, `/v1/api-keys/${good.id}/usage`, { key: gw.rootKey });
  assert.equal(usage.json.total, 0, "refused before its guard counted it");
});

test("malformed keys are not counted: they are refused with no storage call", async () => {
  const address = "203.0.113.8";
  for (let i = 0; i < 12; i++) {
    const res = await call(gw.url, "/v1/accounts", from(address, `sk_live_${"x".repeat(54)}`));
    assert.equal(res.status, 401);
  }
  const good = await createKey(gw, { name: "good2", scopes: ["read"] });
  assert.equal((await call(gw.url, "/v1/accounts", from(address, good.key))).status, 200);
});

test("several Authorization headers answer 400", async () => {
  const res = await rawRequest(gw.url, "/v1/accounts", {
    headers: { authorization: [`Bearer ${gw.rootKey}`, `Bearer ${makeKey("live")}`] },
  });
  assert.equal(res.status, 400);
  assert.match(res.json.error.details, /exactly one Authorization header/);
});

test("an Authorization header over 512 bytes answers 401", async () => {
  const res = await call(gw.url, "/v1/accounts", {
    headers: { authorization: `Bearer ${gw.rootKey}${"A".repeat(600)}` },
  });
  assert.equal(res.status, 401);
  assert.equal(res.json.error.message, "Invalid API key");
});

test("non-ASCII in a key answers 401, never 500", async () => {
  const key = gw.rootKey.slice(0, 40) + "ü" + gw.rootKey.slice(41);
  const res = await rawRequest(gw.url, "/v1/accounts", {
    headers: { authorization: Buffer.from(`Bearer ${key}`, "utf8").toString("latin1") },
  });
  assert.equal(res.status, 401);
});

test("CR/LF in a key name is refused", async () => {
  const res = await call(gw.url, "/v1/api-keys", {
    key: gw.rootKey,
    method: "POST",
    body: { name: "evil\r\nX-Injected: 1", scopes: ["read"] },
  });
  assert.equal(res.status, 400);
  assert.match(res.json.error.details, /control characters/);
});

test("wrong JSON types name the field", async () => {
  for (const [body, field] of [
    [{ name: 5, scopes: ["read"] }, /name must be a string/],
    [{ name: "a", scopes: [5] }, /scopes must contain only strings/],
    [{ name: "a", scopes: ["read"], burst: true }, /burst must be a whole number/],
    [{ name: "a", scopes: ["read"], expiresAt: 12 }, /expiresAt must be an RFC 3339/],
  ]) {
    const res = await call(gw.url, "/v1/api-keys", { key: gw.rootKey, method: "POST", body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.json.error.details, field);
  }
});

test("a Key Guard that throws fails closed: 503 with Retry-After, nothing forwarded, no key in logs", async () => {
  const faulty = await startGateway({ guard: "throwing", vars: { ORIGIN_URL: origin.url } });
  try {
    origin.received.length = 0;
    const key = makeKey("live");
    const res = await call(faulty.url, "/v1/accounts", { key });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, "service_unavailable");
    assert.equal(res.headers.get("retry-after"), "1");
    const root = await call(faulty.url, "/v1/accounts", { key: faulty.rootKey });
    assert.equal(root.status, 503, "the root key fails closed too");
    assert.equal(origin.received.length, 0, "nothing was forwarded");
    const logged = faulty.logs.join("\n");
    assert.match(logged, /failed closed/);
    assert.ok(!logged.includes(key.slice(24)), "no key material in logs");
    assert.ok(!logged.includes(faulty.rootKey.slice(24)), "no root key material in logs");
  } finally {
    await faulty.stop();
  }
});

test("a Key Guard that does not answer in time fails closed", async () => {
  const slow = await startGateway({ guard: "slow", vars: { ORIGIN_URL: origin.url, GUARD_TIMEOUT_MS: "200" } });
  try {
    origin.received.length = 0;
    const started = Date.now();
    const res = await call(slow.url, "/v1/accounts", { key: slow.rootKey });
    assert.equal(res.status, 503);
    assert.ok(Date.now() - started < 2900, "answered before the guard did");
    assert.equal(origin.received.length, 0);
  } finally {
    await slow.stop();
  }
});

test("a KV fault answers 503 for listing", async () => {
  const broken = await startGateway({ brokenKv: true });
  try {
    const res = await call(broken.url, "/v1/api-keys", { key: broken.rootKey });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, "service_unavailable");
    // Authentication never reads KV: keys keep working.
    assert.equal((await call(broken.url, "/v1/auth/test", { key: broken.rootKey })).status, 200);
  } finally {
    await broken.stop();
  }
});

// What workerd does to each confusing path before the worker sees it, and what the
// gateway then does: refuse it (400), or authorize and forward exactly the normalised
// path. SECURITY.md reproduces this table.
const PATH_TABLE = [
  ["/v1/accounts/../opportunities", "/v1/opportunities"],
  ["/v1/accounts/%2e%2e/opportunities", "/v1/opportunities"],
  ["/v1/accounts/.%2E/opportunities", "/v1/opportunities"],
  ["/v1/accounts/./x", "/v1/accounts/x"],
  ["/v1/accounts\\opportunities", "/v1/accounts/opportunities"],
  ["/v1/accounts%2Fopportunities", 400],
  ["/v1//accounts", 400],
  ["/v1/accounts//x", 400],
  ["/v1/accounts%5Cx", 400],
  ["/v1/Accounts", 400],
  ["/v1/accounts.", 400],
  ["/v1/%61ccounts", 400],
  ["/v1/accounts;x=1", 400],
  ["/v1/accounts/x%2e%2e", 400],
  ["/v1/accounts/", "/v1/accounts/"],
];

test("confusing paths: refused, or authorized and forwarded as exactly one path", async () => {
  const accountsOnly = await createKey(gw, { name: "paths", scopes: { accounts: ["read"] } });
  for (const [path, expected] of PATH_TABLE) {
    origin.received.length = 0;
    const res = await rawRequest(gw.url, path, {
      headers: { authorization: `Bearer ${accountsOnly.key}` },
    });
    if (expected === 400) {
      assert.equal(res.status, 400, path);
      assert.equal(origin.received.length, 0, path);
      continue;
    }
    const resource = expected.split("/")[2];
    if (resource === "accounts") {
      assert.equal(res.status, 200, path);
      assert.deepEqual(origin.received.map((r) => r.url), [expected], path);
    } else {
      assert.equal(res.status, 403, path);
      assert.match(res.json.error.details, new RegExp(`for ${resource}$`), path);
      assert.equal(origin.received.length, 0, path);
    }
  }
});

test("bodies over 64 KiB answer 413 and are never forwarded; smaller ones arrive intact", async () => {
  const key = await createKey(gw, { name: "bodies", scopes: ["write"] });
  origin.received.length = 0;
  const big = "x".repeat(64 * 1024 + 1);
  const declared = await postLarge(gw.url, "/v1/reports", key.key, big);
  assert.equal(declared.status, 413);
  assert.equal(declared.json.error.code, "payload_too_large");
  const chunked = await rawRequest(gw.url, "/v1/reports", {
    method: "POST",
    headers: { authorization: `Bearer ${key.key}` },
    bodyChunks: [big.slice(0, 40_000), big.slice(40_000)],
  });
  assert.equal(chunked.status, 413, "measured while read when no Content-Length is sent");
  assert.equal(origin.received.length, 0);
  const fits = "y".repeat(64 * 1024);
  const ok = await call(gw.url, "/v1/reports", { key: key.key, method: "POST", body: fits });
  assert.equal(ok.status, 200);
  assert.equal(origin.received.length, 1);
  assert.equal(origin.received[0].body, fits);
});
