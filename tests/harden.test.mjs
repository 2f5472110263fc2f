// Issue 9, hardening round 2: no request may make a common origin do what the key may
// not, or cost the isolate its memory. Each test here failed before its fix.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startGateway,
  startOrigin,
  call,
  createKey,
  makeKey,
  rawRequest,
  storedFiles,
  answerToOpenUpload,
  waitFor,
} from "./harness.mjs";

const LIMIT = 5;
let gw, origin;
before(async () => {
  origin = await startOrigin();
  gw = await startGateway({
    vars: { ORIGIN_URL: origin.url, AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_BLOCK_SECONDS: "60" },
  });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

const from = (address, key, headers = {}) => ({
  key,
  headers: { "cf-connecting-ip": address, ...headers },
});

// Each is refused with 400 and never forwarded: an origin would read it as another
// resource or path (Tomcat/Jetty/Spring drop `;…`, some stacks decode twice, overlong
// UTF-8 decodes to `.`/`/` in lenient decoders, CR/LF/NUL split or cut the path).
const HOSTILE_PATHS = [
  "/v1/accounts/..;/opportunities",
  "/v1/accounts/.;/opportunities",
  "/v1/accounts/..;x=1/opportunities",
  "/v1/accounts/..%3b/opportunities",
  "/v1/accounts/%252e%252e/opportunities",
  "/v1/accounts/%252E%252E",
  "/v1/accounts%252Fopportunities",
  "/v1/accounts/x%252fy",
  "/v1/accounts/x%255cy",
  "/v1/accounts/%c0%ae%c0%ae/opportunities",
  "/v1/accounts/%c0%af",
  "/v1/accounts/%e0%80%ae",
  "/v1/accounts/%25c0%25ae",
  "/v1/accounts/x%0d%0aX-Injected:%201",
  "/v1/accounts/x%250d%250a",
  "/v1/accounts/x%2500",
  "/v1/accounts/x%09",
];

test("paths an origin reads as another resource answer 400 and are never forwarded", async () => {
  const accountsOnly = await createKey(gw, { name: "paths2", scopes: { accounts: ["read"] } });
  origin.received.length = 0;
  for (const path of HOSTILE_PATHS) {
    const res = await rawRequest(gw.url, path, {
      headers: { authorization: `Bearer ${accountsOnly.key}` },
    });
    assert.equal(res.status, 400, path);
    assert.equal(res.json.error.code, "invalid_request", path);
  }
  assert.deepEqual(origin.received.map((r) => r.url), []);
  // Ordinary ids with `%` still work: 100%25 is the id "100%".
  const ordinary = ["/v1/accounts/100%25", "/v1/accounts/100%", "/v1/accounts/50%25off", "/v1/accounts/x;v=1"];
  for (const path of ordinary) {
    const res = await rawRequest(gw.url, path, {
      headers: { authorization: `Bearer ${accountsOnly.key}` },
    });
    assert.equal(res.status, 200, path);
  }
  assert.deepEqual(origin.received.map((r) => r.url), ordinary);
});

test("a key in the query string is refused however it is spelled; ordinary queries pass", async () => {
  const key = makeKey("live");
  const tail = key.slice("sk_live_".length);
  origin.received.length = 0;
  for (const query of [
    `?${key}`,
    `?${key}=1`,
    `?key=sk%5Flive%5F${tail}`,
    `?x=%73k_live_${tail}`,
    `?x=%2573k_live_${tail}`,
    `?q=Bearer+${key}`,
    `?API%5FKEY=abc`,
  ]) {
    const res = await rawRequest(gw.url, `/v1/accounts${query}`, {
      headers: { authorization: `Bearer ${gw.rootKey}` },
    });
    assert.equal(res.status, 401, query);
    assert.match(res.json.error.details, /query string/, query);
  }
  assert.equal(origin.received.length, 0);
  const ok = await call(gw.url, "/v1/accounts?key=region&page=2&q=task_live_x", { key: gw.rootKey });
  assert.equal(ok.status, 200);
  assert.equal(origin.received[0].url, "/v1/accounts?key=region&page=2&q=task_live_x");
});

test("the origin gets the address the gateway trusts, never the client's forwarding headers or other credentials", async () => {
  const key = await createKey(gw, { name: "xff", scopes: ["read"] });
  origin.received.length = 0;
  const forged = {
    "x-forwarded-for": "10.0.0.1",
    "x-real-ip": "10.0.0.2",
    forwarded: "for=10.0.0.3;host=admin.internal;proto=https",
    "x-forwarded-host": "admin.internal",
    "x-forwarded-proto": "http",
    "x-forwarded-port": "8443",
    "true-client-ip": "10.0.0.4",
    "x-client-ip": "10.0.0.5",
    "x-original-url": "/v1/api-keys",
    "proxy-authorization": "Basic c2VjcmV0",
    "x-api-key": "sk_live_elsewhere",
    "x-custom": "kept",
  };
  const v4 = await call(gw.url, "/v1/accounts", from("198.51.100.23", key.key, forged));
  assert.equal(v4.status, 200);
  const v6 = await call(gw.url, "/v1/accounts", from("2001:db8::7", key.key, forged));
  assert.equal(v6.status, 200);
  const [a, b] = origin.received.map((r) => r.headers);
  assert.equal(a["x-forwarded-for"], "198.51.100.23");
  assert.equal(a["x-real-ip"], "198.51.100.23");
  assert.equal(a.forwarded, "for=198.51.100.23");
  assert.equal(b["x-forwarded-for"], "2001:db8::7");
  assert.equal(b.forwarded, 'for="[2001:db8::7]"');
  for (const h of [a, b]) {
    for (const name of [
      "x-forwarded-host",
      "x-forwarded-proto",
      "x-forwarded-port",
      "true-client-ip",
      "x-client-ip",
      "x-original-url",
      "proxy-authorization",
      "x-api-key",
      "authorization",
    ]) {
      assert.equal(h[name], undefined, name);
    }
    assert.equal(h["x-custom"], "kept");
    assert.equal(h.host, new URL(origin.url).host, "the origin's own Host");
  }
});

test("an origin that does not answer within ORIGIN_TIMEOUT_MS: 504 gateway_timeout, subrequest abandoned", async () => {
  const hung = await startOrigin("hung", { hold: true });
  const slow = await startGateway({ vars: { ORIGIN_URL: hung.url, ORIGIN_TIMEOUT_MS: "300" } });
  try {
    const started = Date.now();
    const res = await call(slow.url, "/v1/accounts", { key: slow.rootKey });
    assert.equal(res.status, 504);
    assert.deepEqual(Object.keys(res.json.error).sort(), ["code", "details", "message"]);
    assert.equal(res.json.error.code, "gateway_timeout");
    assert.match(res.json.error.details, /300 ms/);
    assert.ok(Date.now() - started < 10_000, "answered by the gateway, not the origin");
    assert.equal(hung.received.length, 1, "the request did reach the origin");
    await waitFor(() => hung.abandoned === 1, { what: "the gateway to close the subrequest" });
  } finally {
    await slow.stop();
    await hung.close();
  }
});

test("a test key never reaches ORIGIN_URL: without a sandbox it gets the echo, saying why", async () => {
  const testKey = await createKey(gw, { name: "sandboxless", type: "test", scopes: ["read"] });
  origin.received.length = 0;
  const res = await call(gw.url, "/v1/accounts", { key: testKey.key });
  assert.equal(res.status, 200);
  assert.equal(res.json.echo, true);
  assert.match(res.json.note, /SANDBOX_ORIGIN_URL/);
  assert.match(res.json.note, /never forwarded to ORIGIN_URL/);
  assert.equal(res.json.headers["x-scopien-key-type"], "test");
  assert.equal(origin.received.length, 0, "nothing reached the production origin");
  const live = await call(gw.url, "/v1/accounts", { key: gw.rootKey });
  assert.equal(live.status, 200);
  assert.equal(origin.received.length, 1);
});

test("the echo shows what would really be forwarded", async () => {
  const alone = await startGateway();
  try {
    const res = await call(alone.url, "/v1/reports/r1?q=a%20b", {
      key: alone.rootKey,
      method: "PATCH",
      body: '{"a":1}',
      headers: {
        "cf-connecting-ip": "203.0.113.50",
        "x-forwarded-for": "10.9.9.9",
        "x-api-key": "nope",
        "x-scopien-key-id": "key_spoofedspoofed00",
        "x-custom": "kept",
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.json.echo, true);
    assert.equal(res.json.origin, null);
    assert.match(res.json.note, /No ORIGIN_URL is configured/);
    assert.equal(res.json.method, "PATCH");
    assert.equal(res.json.path, "/v1/reports/r1?q=a%20b");
    assert.equal(res.json.bodyBytes, 7);
    const h = res.json.headers;
    assert.equal(h["x-forwarded-for"], "203.0.113.50");
    assert.equal(h.forwarded, "for=203.0.113.50");
    assert.equal(h["x-custom"], "kept");
    assert.equal(h["x-scopien-key-type"], "live");
    assert.notEqual(h["x-scopien-key-id"], "key_spoofedspoofed00");
    for (const gone of ["authorization", "x-api-key", "host", "cf-connecting-ip"]) {
      assert.equal(h[gone], undefined, gone);
    }
    for (const removed of ["authorization", "x-api-key", "x-forwarded-for", "x-scopien-key-id", "host"]) {
      assert.ok(res.json.removedHeaders.includes(removed), removed);
    }
  } finally {
    await alone.stop();
  }
});

test("an oversized chunked body is answered 413 while it is still being sent", async () => {
  const writer = await createKey(gw, { name: "stream", scopes: ["read", "write"] });
  origin.received.length = 0;
  // One byte past MAX_BODY_BYTES (64 KiB here), and the body never ends: a gateway that
  // waited for the whole body would never answer. A write (POST) and, with the same key,
  // a read method that carries a body (OPTIONS).
  for (const method of ["POST", "OPTIONS"]) {
    const res = await answerToOpenUpload(gw.url, "/v1/reports", {
      method,
      headers: { authorization: `Bearer ${writer.key}`, "content-type": "application/octet-stream" },
      bodyBytes: 64 * 1024 + 1,
    });
    assert.equal(res.status, 413, method);
    assert.equal(res.json.error.code, "payload_too_large");
  }
  assert.equal(origin.received.length, 0);
});

test("IPv6 addresses are throttled by their /64", async () => {
  const good = await createKey(gw, { name: "v6", scopes: ["read"] });
  for (let i = 1; i <= LIMIT; i++) {
    const res = await call(gw.url, "/v1/accounts", from(`2001:db8:9:1::${i.toString(16)}`, makeKey("live")));
    assert.equal(res.status, 401, `failure ${i}`);
  }
  const past = await call(gw.url, "/v1/accounts", from("2001:db8:9:1:ffff::1", makeKey("live")));
  assert.equal(past.status, 429, "the limit counts the whole /64");
  const same64 = await call(gw.url, "/v1/accounts", from("2001:db8:9:1::abcd", makeKey("live")));
  assert.equal(same64.status, 429, "any address of the /64 is refused");
  const next64 = await call(gw.url, "/v1/accounts", from("2001:db8:9:2::1", good.key));
  assert.equal(next64.status, 200, "the neighbouring /64 is not");
});

test("a burst of concurrent guesses from a fresh address is cut at the limit", async () => {
  // Every guess that reaches its Key Guard opens that guard's SQLite file: new files
  // count the guesses that were checked.
  const guardFiles = () => storedFiles(gw).filter((f) => f.includes("KeyGuard") && f.endsWith(".sqlite"));
  const address = "192.0.2.77";
  const valid = await createKey(gw, { name: "burst-valid", scopes: ["read"] });
  const filesBefore = guardFiles().length;
  const N = 40;
  const answers = await Promise.all(
    Array.from({ length: N }, () => call(gw.url, "/v1/accounts", from(address, makeKey("live")))),
  );
  const statuses = answers.map((r) => r.status);
  const checked = guardFiles().length - filesBefore;
  assert.ok(statuses.every((s) => s === 401 || s === 429), JSON.stringify(statuses));
  assert.ok(statuses.filter((s) => s === 401).length <= LIMIT, JSON.stringify(statuses));
  assert.ok(checked >= 1, "the files do count guards");
  assert.ok(checked <= LIMIT + 1, `${checked} of ${N} concurrent guesses reached a Key Guard`);
  // The block now stands: a valid key never used from this address is refused too.
  const after = await call(gw.url, "/v1/accounts", from(address, valid.key));
  assert.equal(after.status, 429);
});

test("a blocked address keeps serving keys that worked from it before; new guesses stay refused", async () => {
  const office = "203.0.113.99";
  const before = await createKey(gw, { name: "office-before", scopes: ["read"] });
  const never = await createKey(gw, { name: "office-never", scopes: ["read"] });
  assert.equal((await call(gw.url, "/v1/accounts", from(office, before.key))).status, 200);
  let statuses = [];
  for (let i = 0; i <= LIMIT; i++) {
    statuses.push((await call(gw.url, "/v1/accounts", from(office, makeKey("live")))).status);
  }
  assert.deepEqual(statuses, [...Array(LIMIT).fill(401), 429]);
  const blocked = await call(gw.url, "/v1/accounts", from(office, makeKey("live")));
  assert.equal(blocked.status, 429, "a new guess is refused");
  const unused = await call(gw.url, "/v1/accounts", from(office, never.key));
  assert.equal(unused.status, 429, "a key never used from here is a new guess too");
  const kept = await call(gw.url, "/v1/accounts", from(office, before.key));
  assert.equal(kept.status, 200, "the key that worked here before keeps working");
  // The same id with another secret is not that key: it reaches its guard and fails.
  const forged = before.key.slice(0, 24) + makeKey("live").slice(24);
  const wrong = await call(gw.url, "/v1/accounts", from(office, forged));
  assert.ok([401, 429].includes(wrong.status), `${wrong.status}`);
});

test("one second is singular; timestamps have millisecond precision", async () => {
  const key = await createKey(gw, { name: "burst1", scopes: ["read"], burst: 1 });
  assert.match(key.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const rush = await Promise.all([1, 2, 3].map(() => call(gw.url, "/v1/auth/test", { key: key.key })));
  const refused = rush.find((r) => r.status === 429);
  assert.ok(refused, "the burst of 1 refused one");
  assert.equal(refused.json.error.details, "Rate limit will reset in 1 second");
  const usage = await call(gw.url, `/v1/api-keys/${key.id}/usage`, { key: gw.rootKey });
  assert.match(usage.json.lastUsedAt, /\.\d{3}Z$/);
});
