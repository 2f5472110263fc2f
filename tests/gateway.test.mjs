// The gateway end to end: authentication, scopes, rate limits, forwarding, key creation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  startGateway,
  startOrigin,
  call,
  createKey,
  makeKey,
  rawRequest,
  storedBytes,
  waitFor,
} from "./harness.mjs";

let gw, origin, sandbox;

before(async () => {
  origin = await startOrigin("live");
  sandbox = await startOrigin("sandbox");
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url, SANDBOX_ORIGIN_URL: sandbox.url } });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
  await sandbox?.close();
});

const INVALID = {
  error: {
    code: "unauthorized",
    message: "Invalid API key",
    details: "The API key provided is invalid or has been revoked",
  },
};

test("a missing key answers 401 'Missing API key' with a bare Bearer challenge", async () => {
  const res = await call(gw.url, "/v1/opportunities");
  assert.equal(res.status, 401);
  assert.equal(res.json.error.code, "unauthorized");
  assert.equal(res.json.error.message, "Missing API key");
  assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="scopien"');
  assert.equal(origin.received.length, 0);
});

test("malformed, unknown and wrong-scheme keys answer the spec's 401", async () => {
  for (const key of ["sk_live_abc123def456ghi789", makeKey("live"), makeKey("test")]) {
    const res = await call(gw.url, "/v1/opportunities", { key });
    assert.equal(res.status, 401, key);
    assert.deepEqual(res.json, INVALID);
    assert.equal(
      res.headers.get("www-authenticate"),
      'Bearer realm="scopien", error="invalid_token"',
    );
  }
  const basic = await call(gw.url, "/v1/opportunities", {
    headers: { authorization: `Basic ${gw.rootKey}` },
  });
  assert.equal(basic.status, 401);
  assert.match(basic.json.error.details, /Bearer <key>/);
  assert.equal(origin.received.length, 0);
});

test("a key in the query string is refused and told to use the header", async () => {
  const res = await call(gw.url, `/v1/opportunities?api_key=${gw.rootKey}`);
  assert.equal(res.status, 401);
  assert.match(res.json.error.details, /Authorization header/);
  assert.ok(!res.text.includes(gw.rootKey));
});

test("the root key creates a key that is shown once and stored only as a hash", async () => {
  const created = await createKey(gw, {
    name: "Production Key",
    scopes: ["read", "write"],
    rateLimit: 1000,
    expiresAt: null,
  });
  assert.match(created.id, /^key_[0-9A-Za-z]{16}$/);
  assert.match(created.key, /^sk_live_[0-9A-Za-z]{54}$/);
  assert.equal(created.key.slice(8, 24), created.id.slice(4));
  assert.equal(created.name, "Production Key");
  assert.deepEqual(created.scopes, ["read", "write"]);
  assert.equal(created.rateLimit, 1000);
  assert.equal(created.type, "live");
  assert.equal(created.expiresAt, null);
  assert.ok(Math.abs(Date.parse(created.createdAt) - Date.now()) < 60_000);

  // Nowhere in storage (KV or Durable Object files) is the raw key's secret; its
  // SHA-256 is there.
  const secret = created.key.slice(24, 56);
  const hash = createHash("sha256").update(created.key).digest("hex");
  const stored = storedBytes(gw);
  assert.ok(stored.includes(hash), "the Durable Object holds the hash");
  assert.ok(!stored.includes(secret), "storage holds no secret");

  const shown = await call(gw.url, `/v1/api-keys/${created.id}`, { key: gw.rootKey });
  assert.equal(shown.status, 200);
  assert.equal(shown.json.key, undefined, "the raw key is shown once");
  assert.ok(!shown.text.includes(secret));
});

test("/v1/auth/test answers the spec's body and counts against the limit", async () => {
  const created = await createKey(gw, { name: "t", scopes: ["read"] });
  const before = Math.floor(Date.now() / 1000);
  const res = await call(gw.url, "/v1/auth/test", { key: created.key });
  assert.equal(res.status, 200);
  assert.equal(res.json.authenticated, true);
  assert.equal(res.json.keyId, created.id);
  assert.equal(res.json.type, "live");
  assert.deepEqual(res.json.scopes, ["read"]);
  assert.equal(res.json.rateLimit.limit, 1000);
  assert.equal(res.json.rateLimit.remaining, 999);
  assert.ok(Math.abs(res.json.rateLimit.reset - (before + 3600)) <= 2);
  assert.equal(res.headers.get("x-ratelimit-limit"), "1000");
  assert.equal(res.headers.get("x-ratelimit-remaining"), "999");
  assert.equal(res.headers.get("x-ratelimit-reset"), String(res.json.rateLimit.reset));
  assert.equal(
    res.headers.get("ratelimit-policy"),
    '"hour";q=1000;w=3600, "day";q=10000;w=86400, "burst";q=50;w=1',
  );
  assert.match(res.headers.get("ratelimit"), /^"hour";r=999;t=3600, "day";r=9999;t=86400, "burst";r=49;t=1$/);
  const again = await call(gw.url, "/v1/auth/test", { key: created.key });
  assert.equal(again.json.rateLimit.remaining, 998);
});

test("the Bearer scheme is case-insensitive", async () => {
  const res = await call(gw.url, "/v1/auth/test", {
    headers: { authorization: `bearer ${gw.rootKey}` },
  });
  assert.equal(res.status, 200);
});

test("a missing scope answers the spec's 403, names scope and resource, and is not counted", async () => {
  const created = await createKey(gw, {
    name: "readonly",
    scopes: { opportunities: ["read"], accounts: ["read"] },
  });
  const res = await call(gw.url, "/v1/opportunities", { key: created.key, method: "POST", body: {} });
  assert.equal(res.status, 403);
  assert.deepEqual(res.json, {
    error: {
      code: "forbidden",
      message: "Insufficient permissions",
      details: "This API key does not have 'write' permission for opportunities",
    },
  });
  assert.equal(
    res.headers.get("www-authenticate"),
    'Bearer realm="scopien", error="insufficient_scope", scope="write"',
  );
  assert.equal(res.headers.get("x-ratelimit-remaining"), "1000", "403 is not counted");
  const contacts = await call(gw.url, "/v1/contacts", { key: created.key });
  assert.equal(contacts.status, 403, "a resource missing from the map is denied");
  const del = await call(gw.url, "/v1/accounts/1", { key: created.key, method: "DELETE" });
  assert.equal(del.json.error.details, "This API key does not have 'delete' permission for accounts");
  const mgmt = await call(gw.url, "/v1/api-keys", { key: created.key });
  assert.equal(mgmt.status, 403);
  assert.match(mgmt.json.error.details, /'admin' permission for api-keys/);
  const ok = await call(gw.url, "/v1/accounts", { key: created.key });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("x-ratelimit-remaining"), "999");
});

test("past the limit: the spec's 429 with Retry-After, and refused requests are not counted", async () => {
  const created = await createKey(gw, { name: "tiny", scopes: ["read"], rateLimit: 3 });
  for (let i = 0; i < 3; i++) {
    assert.equal((await call(gw.url, "/v1/auth/test", { key: created.key })).status, 200);
  }
  const res = await call(gw.url, "/v1/auth/test", { key: created.key });
  assert.equal(res.status, 429);
  assert.equal(res.json.error.code, "rate_limit_exceeded");
  assert.equal(res.json.error.message, "Rate limit exceeded");
  const wait = res.json.error.retryAfter;
  assert.ok(wait > 3500 && wait <= 3600, `retryAfter ${wait}`);
  assert.equal(res.json.error.details, `Rate limit will reset in ${wait} seconds`);
  assert.equal(res.headers.get("retry-after"), String(wait));
  assert.equal(res.headers.get("x-ratelimit-remaining"), "0");
  const usage = await call(gw.url, `/v1/api-keys/${created.id}/usage`, { key: gw.rootKey });
  assert.equal(usage.status, 200);
  assert.equal(usage.json.hour.used, 3, "429s consumed nothing");
  assert.equal(usage.json.total, 3);
});

test("2N simultaneous requests against a limit of N: exactly N pass", async () => {
  const N = 25;
  const created = await createKey(gw, { name: "race", scopes: ["read"], rateLimit: N, burst: 50 });
  const results = await Promise.all(
    Array.from({ length: 2 * N }, () => call(gw.url, "/v1/auth/test", { key: created.key })),
  );
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, N);
  assert.equal(statuses.filter((s) => s === 429).length, N);
  const usage = await call(gw.url, `/v1/api-keys/${created.id}/usage`, { key: gw.rootKey });
  assert.equal(usage.json.hour.used, N);
  assert.equal(usage.json.hour.limit, N);
});

test("requests are forwarded unchanged, without Authorization, with the key's id and type", async () => {
  const live = await createKey(gw, { name: "fw", scopes: ["read", "write"] });
  const test_ = await createKey(gw, { name: "fw-test", type: "test", scopes: ["write"] });
  origin.received.length = 0;
  sandbox.received.length = 0;
  const res = await call(gw.url, "/v1/opportunities/opp_1?expand=owner&x=%20y", {
    key: live.key,
    method: "PATCH",
    body: '{"stage":"won"}',
    headers: {
      "content-type": "application/json",
      "x-custom": "kept",
      "x-scopien-key-id": "key_spoofedspoofed00",
    },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-origin"), "live");
  assert.equal(res.headers.get("x-ratelimit-remaining"), "999");
  assert.equal(origin.received.length, 1);
  const got = origin.received[0];
  assert.equal(got.method, "PATCH");
  assert.equal(got.url, "/v1/opportunities/opp_1?expand=owner&x=%20y");
  assert.equal(got.body, '{"stage":"won"}');
  assert.equal(got.headers.authorization, undefined);
  assert.equal(got.headers["x-custom"], "kept");
  assert.equal(got.headers["x-scopien-key-id"], live.id);
  assert.equal(got.headers["x-scopien-key-type"], "live");

  const sb = await call(gw.url, "/v1/contacts", { key: test_.key, method: "POST", body: { a: 1 } });
  assert.equal(sb.status, 200);
  assert.equal(sb.headers.get("x-origin"), "sandbox");
  assert.equal(sandbox.received.length, 1);
  assert.equal(sandbox.received[0].headers["x-scopien-key-type"], "test");
  assert.equal(origin.received.length, 1, "test keys never reach the live origin");
});

test("confusing paths answer 400 and are never forwarded", async () => {
  origin.received.length = 0;
  for (const path of [
    "/v1/accounts%2Fopportunities",
    "/v1//accounts",
    "/v1/Accounts",
    "/v1/accounts./x",
    "/v1/accounts/%5Cx",
    "/v1/accounts/x%2e%2e",
  ]) {
    const res = await rawRequest(gw.url, path, {
      headers: { authorization: `Bearer ${gw.rootKey}` },
    });
    assert.equal(res.status, 400, path);
    assert.equal(res.json.error.code, "invalid_request", path);
  }
  assert.equal(origin.received.length, 0);
});

test("a path workerd normalises is authorized as exactly the path it forwards", async () => {
  // workerd resolves `..` and `%2e%2e` before the worker sees the URL: the request is
  // then for /v1/opportunities, and is authorized and forwarded as that, never as accounts.
  const accountsOnly = await createKey(gw, { name: "acc", scopes: { accounts: ["read"] } });
  origin.received.length = 0;
  for (const path of ["/v1/accounts/../opportunities", "/v1/accounts/%2e%2e/opportunities"]) {
    const denied = await rawRequest(gw.url, path, {
      headers: { authorization: `Bearer ${accountsOnly.key}` },
    });
    assert.equal(denied.status, 403, path);
    assert.match(denied.json.error.details, /for opportunities$/);
    const allowed = await rawRequest(gw.url, path, {
      headers: { authorization: `Bearer ${gw.rootKey}` },
    });
    assert.equal(allowed.status, 200, path);
  }
  assert.deepEqual(
    origin.received.map((r) => r.url),
    ["/v1/opportunities", "/v1/opportunities"],
  );
});

test("creation refuses bad input with a 400 that names the field", async () => {
  const cases = [
    [{ scopes: ["read"] }, /name is required/],
    [{ name: "x".repeat(129), scopes: ["read"] }, /name must be 1 to 128/],
    [{ name: "a", scopes: ["fly"] }, /unknown scope 'fly'/],
    [{ name: "a", scopes: ["read"], rateLimit: 5000 }, /rateLimit must be at most 1000/],
    [{ name: "a", type: "test", scopes: ["read"], rateLimit: 101 }, /rateLimit must be at most 100/],
    [{ name: "a", scopes: ["read"], expiresAt: "2001-01-01T00:00:00Z" }, /expiresAt must be in the future/],
    [{ name: "a", scopes: ["read"], color: "red" }, /Unknown field 'color'/],
  ];
  for (const [body, pattern] of cases) {
    const res = await call(gw.url, "/v1/api-keys", { key: gw.rootKey, method: "POST", body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.error.code, "invalid_request");
    assert.match(res.json.error.details, pattern);
  }
  const junk = await call(gw.url, "/v1/api-keys", { key: gw.rootKey, method: "POST", body: "{nope" });
  assert.equal(junk.status, 400);
  assert.match(junk.json.error.details, /not valid JSON/);
});

test("no input, however odd, yields a 500", async () => {
  const odd = [
    ["GET", "/v1/auth/test", { authorization: "Bearer " }],
    ["GET", "/v1/auth/test", { authorization: "Bearer " + "x".repeat(600) }],
    ["GET", "/v1/auth/test", { authorization: "Bearer sk_live_" + "é".repeat(30) }],
    ["PROPFIND", "/v1/accounts", { authorization: `Bearer ${gw.rootKey}` }],
    ["GET", "/", {}],
    ["GET", "/nowhere", { authorization: `Bearer ${gw.rootKey}` }],
    ["DELETE", "/v1/api-keys/not-an-id", { authorization: `Bearer ${gw.rootKey}` }],
    ["PUT", "/v1/api-keys", { authorization: `Bearer ${gw.rootKey}` }],
  ];
  for (const [method, path, headers] of odd) {
    const res = await fetch(gw.url + path, { method, headers });
    assert.ok(res.status < 500, `${method} ${path} -> ${res.status}`);
  }
});

test("with no origin configured, the gateway echoes what it would forward", async () => {
  const alone = await startGateway();
  try {
    const res = await call(alone.url, "/v1/reports?q=1", { key: alone.rootKey });
    assert.equal(res.status, 200);
    assert.equal(res.json.echo, true);
    assert.equal(res.json.method, "GET");
    assert.equal(res.json.path, "/v1/reports?q=1");
    assert.equal(res.json.headers.authorization, undefined);
    assert.equal(res.json.headers["x-scopien-key-type"], "live");
  } finally {
    await alone.stop();
  }
});

test("without a root key, the management API says how to set one", async () => {
  const bare = await startGateway({ rootKey: null });
  try {
    const res = await call(bare.url, "/v1/api-keys", { key: makeKey("live") });
    assert.equal(res.status, 503);
    assert.match(res.json.error.details, /SCOPIEN_ROOT_KEY/);
    assert.match(res.json.error.details, /wrangler secret put/);
  } finally {
    await bare.stop();
  }
});

test("the burst bucket refuses a rush, says when to retry, and refills at burst per second", async () => {
  const created = await createKey(gw, { name: "bursty", scopes: ["read"], rateLimit: 100, burst: 2 });
  const rush = await Promise.all([1, 2, 3].map(() => call(gw.url, "/v1/auth/test", { key: created.key })));
  const refused = rush.filter((r) => r.status === 429);
  assert.equal(rush.filter((r) => r.status === 200).length, 2);
  assert.equal(refused.length, 1);
  assert.equal(refused[0].headers.get("retry-after"), "1");
  assert.match(refused[0].headers.get("ratelimit"), /"burst";r=0;t=1$/);
  assert.equal(refused[0].headers.get("x-ratelimit-remaining"), "98", "the hourly window shows, not the bucket");
  // One token comes back after 1/burst s = 500 ms.
  const admitted = await waitFor(async () => {
    const r = await call(gw.url, "/v1/auth/test", { key: created.key });
    return r.status === 200 ? r : null;
  }, { timeoutMs: 5000, intervalMs: 100, what: "a token to refill" });
  assert.equal(admitted.json.rateLimit.remaining, 97);
});
