// The worker is two wasm modules (ARCHITECTURE.md, "Two wasm modules"): the edge module
// answers the request path alone, and hands everything else to the full module. Here
// the gateway worker has no full module at all; its Durable Objects run in a second
// worker that has the whole build (harness `edgeOnly`), so whatever the request path
// needed of the full module would fail.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createKey, makeKey, rawRequest, waitFor } from "./harness.mjs";

let gw, origin;
before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url }, edgeOnly: true });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

test("without the full module, a key's requests are forwarded with their limits, and refused as usual", async () => {
  const full = { url: gw.fullUrl, rootKey: gw.rootKey };
  const key = await createKey(full, { name: "edge", scopes: { accounts: ["read"] }, burst: 2 });
  origin.received.length = 0;

  const first = await call(gw.url, "/v1/accounts/7", { key: key.key });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("x-ratelimit-remaining"), "999");
  assert.equal(origin.received.length, 1);
  assert.equal(origin.received[0].url, "/v1/accounts/7");
  assert.equal(origin.received[0].headers["x-scopien-key-id"], key.id);

  // Every refusal of the request path, each from the edge module's own catalogue.
  const refusals = [
    [await call(gw.url, "/v1/accounts", { key: makeKey("live") }), 401, "unauthorized"],
    [await call(gw.url, "/v1/accounts", { key: "sk_live_nope" }), 401, "unauthorized"],
    [await call(gw.url, "/v1/opportunities", { key: key.key }), 403, "forbidden"],
    [await call(gw.url, "/v1/accounts", { key: key.key, method: "POST", body: {} }), 403, "forbidden"],
    [await rawRequest(gw.url, "/v1/accounts/..;/x", { headers: { authorization: `Bearer ${key.key}` } }), 400, "invalid_request"],
  ];
  for (const [res, status, code] of refusals) {
    assert.equal(res.status, status, res.text);
    assert.equal(res.json.error.code, code, res.text);
  }
  const second = await call(gw.url, "/v1/accounts", { key: key.key });
  assert.equal(second.status, 200);
  const limited = await call(gw.url, "/v1/accounts", { key: key.key });
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, "rate_limit_exceeded");
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  assert.equal(origin.received.length, 2, "only the admitted requests reached the origin");

  // The same key's usage, read through the worker that has the full module: counted once.
  const usage = await call(gw.fullUrl, `/v1/api-keys/${key.id}/usage`, { key: gw.rootKey });
  assert.equal(usage.status, 200);
  assert.equal(usage.json.total, 2);
  // Its lastUsedAt reaches the listing: recorded by its guard, not by the request path.
  await waitFor(
    async () => {
      const listed = await call(gw.fullUrl, "/v1/api-keys?limit=100", { key: gw.rootKey });
      return listed.json.data.find((k) => k.id === key.id)?.lastUsedAt;
    },
    { what: "lastUsedAt in the listing" },
  );
});

test("what is not the request path is handed to the full module: here, which has none, it fails", async () => {
  // A server error proves the hand-over; with the full module (every other test file)
  // these are answered.
  for (const path of ["/v1/api-keys", "/v1/auth/test", "/"]) {
    const res = await call(gw.url, path, { key: gw.rootKey });
    assert.equal(res.status, 500, path);
  }
  const withFull = await call(gw.fullUrl, "/v1/auth/test", { key: gw.rootKey });
  assert.equal(withFull.status, 200);
});
