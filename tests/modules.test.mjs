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

// A stand-in for the full module (the exports worker/shim.js uses): it answers whatever
// it is handed with what it received, the body read here, so the answer says that the
// edge module handed the request over (`null`), untouched, instead of answering or
// crashing (a crash is a 500 and never this answer).
const STAND_IN = `
export function __worker_init_state() { return { criticalError: false, instanceId: 0 }; }
export function __wbg_reset_state() {}
export async function fetch(request) {
  const url = new URL(request.url);
  return Response.json({
    standIn: "full module",
    method: request.method,
    path: url.pathname + url.search,
    authorization: request.headers.get("authorization"),
    body: await request.text(),
  });
}
`;

test("what is not the request path is handed to the full module untouched, body unread; the request path never is", async () => {
  const standIn = await startGateway({ vars: { ORIGIN_URL: origin.url }, edgeOnly: true, fullStandIn: STAND_IN });
  try {
    const key = await createKey({ url: standIn.fullUrl, rootKey: standIn.rootKey }, { name: "handed", scopes: ["read"] });
    const root = `Bearer ${standIn.rootKey}`;
    const form = "grant_type=refresh_token&refresh_token=srt_x";
    // Each kind of hand-over (`full_module_only!` in lib.rs and request.rs): a public
    // path, the dashboard, OAuth, a route that is not forwarded (the auth test), and a
    // root key's request.
    const handed = [
      ["GET", "/", null, ""],
      ["GET", "/.well-known/jwks.json?x=1", null, ""],
      ["GET", "/dashboard/api/session", null, ""],
      ["POST", "/oauth/token", null, form],
      ["GET", "/v1/auth/test", `Bearer ${key.key}`, ""],
      ["POST", "/v1/api-keys", root, JSON.stringify({ name: "never created", scopes: ["read"] })],
    ];
    for (const [method, path, authorization, body] of handed) {
      const headers = { ...(authorization && { authorization }), "content-type": "text/plain" };
      const res = await fetch(standIn.url + path, { method, headers, body: method === "GET" ? undefined : body });
      const text = await res.text();
      assert.equal(res.status, 200, `${method} ${path}: ${text}`);
      assert.deepEqual(JSON.parse(text), { standIn: "full module", method, path, authorization, body }, `${method} ${path}`);
    }
    // The request path is the edge module's own: forwarded, or refused from its own
    // catalogue; the stand-in never sees it.
    const forwarded = await call(standIn.url, "/v1/accounts/9", { key: key.key });
    assert.equal(forwarded.status, 200, forwarded.text);
    assert.equal(forwarded.json?.standIn, undefined);
    assert.equal(origin.received.at(-1).url, "/v1/accounts/9");
    const refused = await call(standIn.url, "/v1/accounts", { key: makeKey("live") });
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.error.code, "unauthorized");
  } finally {
    await standIn.stop();
  }
});

test("the same hand-over with the real full module: its own answers, which the edge module has none of", async () => {
  // gw.fullUrl serves the whole build (edge module first, as deployed).
  const index = await call(gw.fullUrl, "/");
  assert.equal(index.status, 200, index.text);
  assert.equal(index.json.name, "scopien-gate");
  assert.equal(index.json.authTest, "/v1/auth/test");
  const authTest = await call(gw.fullUrl, "/v1/auth/test", { key: gw.rootKey });
  assert.equal(authTest.status, 200, authTest.text);
  const listed = await call(gw.fullUrl, "/v1/api-keys", { key: gw.rootKey });
  assert.equal(listed.status, 200, listed.text);
  assert.ok(Array.isArray(listed.json.data));
  // Without a full module (the gateway here), those same requests fail where the entry
  // imports full.js, which it does only for what the edge module handed over (Miniflare
  // answers the uncaught error with its text; a crash in the edge module would say
  // something else: a panic, an unreachable).
  for (const path of ["/v1/api-keys", "/v1/auth/test", "/"]) {
    const res = await call(gw.url, path, { key: gw.rootKey });
    assert.equal(res.status, 500, path);
    assert.match(res.text, /^Error: No such module "full\.js"/, path);
  }
});
