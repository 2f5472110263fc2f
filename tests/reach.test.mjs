// What a key may reach: methods forwarded as sent and authorized as themselves,
// method-override headers authorized like the methods they name, no key granting more
// than it holds, refused bodies counting nothing, and the roll rules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createKey, rawRequest, waitFor } from "./harness.mjs";

let gw, origin;
before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url, SANDBOX_ORIGIN_URL: origin.url } });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

const usage = async (id) => (await call(gw.url, `/v1/api-keys/${id}/usage`, { key: gw.rootKey })).json;

test("methods outside read, write and delete need admin and reach the origin exactly as sent", async () => {
  const reader = await createKey(gw, { name: "reader", scopes: ["read", "write", "delete"] });
  for (const method of ["PROPFIND", "MKCOL", "PURGE", "MOVE", "COPY", "LOCK", "SEARCH"]) {
    const res = await rawRequest(gw.url, "/v1/files/a", { method, headers: { authorization: `Bearer ${reader.key}` } });
    assert.equal(res.status, 403, method);
    assert.match(res.json.error.details, /'admin' permission for files/);
  }
  const admin = await createKey(gw, { name: "admin", scopes: ["admin"] });
  const before = origin.received.length;
  const res = await rawRequest(gw.url, "/v1/files/a", {
    method: "PROPFIND",
    headers: { authorization: `Bearer ${admin.key}`, "content-type": "application/xml" },
    bodyChunks: ["<propfind/>"],
  });
  assert.equal(res.status, 200);
  const seen = origin.received.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].method, "PROPFIND", "never turned into GET");
  assert.equal(seen[0].body, "<propfind/>", "the body is forwarded");
  const trace = await rawRequest(gw.url, "/v1/files/a", { method: "TRACE", headers: { authorization: `Bearer ${admin.key}` } });
  assert.equal(trace.status, 405);
  assert.ok(trace.headers.get("allow").includes("DELETE"));
});

test("a method-override header needs the scope of the method it names", async () => {
  const writer = await createKey(gw, { name: "writer", scopes: ["read", "write"] });
  const before = origin.received.length;
  for (const header of ["X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"]) {
    for (const value of ["DELETE", "delete"]) {
      const res = await call(gw.url, "/v1/accounts/acc_1", {
        key: writer.key,
        method: "POST",
        headers: { [header]: value },
      });
      assert.equal(res.status, 403, `${header}: ${value}`);
      assert.match(res.json.error.details, /'delete' permission for accounts/);
    }
  }
  assert.equal(origin.received.length, before, "nothing reached the origin");
  const junk = await call(gw.url, "/v1/accounts/acc_1", {
    key: writer.key,
    method: "POST",
    headers: { "X-HTTP-Method-Override": "DE LETE" },
  });
  assert.equal(junk.status, 400);
  // A key that holds delete may use the override; the origin sees it.
  const deleter = await createKey(gw, { name: "deleter", scopes: ["write", "delete"] });
  const ok = await call(gw.url, "/v1/accounts/acc_1", {
    key: deleter.key,
    method: "POST",
    headers: { "X-HTTP-Method-Override": "DELETE" },
  });
  assert.equal(ok.status, 200);
  assert.equal(origin.received.at(-1).headers["x-http-method-override"], "DELETE");
});

test("no key grants more than it holds, by create, patch or roll", async () => {
  const narrowAdmin = await createKey(gw, { name: "key admin", scopes: { "api-keys": ["admin"] } });
  const escalate = await call(gw.url, "/v1/api-keys", {
    key: narrowAdmin.key,
    method: "POST",
    body: { name: "wide", scopes: ["read", "write", "delete", "admin"] },
  });
  assert.equal(escalate.status, 403);
  assert.equal(escalate.json.error.code, "forbidden");
  assert.match(escalate.json.error.details, /cannot grant 'read' permission for every resource/);
  const self = await call(gw.url, `/v1/api-keys/${narrowAdmin.id}`, {
    key: narrowAdmin.key,
    method: "PATCH",
    body: { scopes: ["admin"] },
  });
  assert.equal(self.status, 403);
  const unchanged = await call(gw.url, `/v1/api-keys/${narrowAdmin.id}`, { key: gw.rootKey });
  assert.deepEqual(unchanged.json.scopes, { "api-keys": ["admin"] });
  // Rolling a stronger key would hand its secret to the caller.
  const strong = await createKey(gw, { name: "strong", scopes: ["read", "write"] });
  const roll = await call(gw.url, `/v1/api-keys/${strong.id}/roll`, { key: narrowAdmin.key, method: "POST" });
  assert.equal(roll.status, 403);
  // Within what it holds, it works.
  const ok = await call(gw.url, "/v1/api-keys", {
    key: narrowAdmin.key,
    method: "POST",
    body: { name: "reads keys", scopes: { "api-keys": ["read"] } },
  });
  assert.equal(ok.status, 201);
  // A test-mode admin still makes no live key.
  const testAdmin = await createKey(gw, { name: "test admin", type: "test", scopes: ["admin"] });
  const live = await call(gw.url, "/v1/api-keys", {
    key: testAdmin.key,
    method: "POST",
    body: { name: "live", type: "live", scopes: ["read"] },
  });
  assert.equal(live.status, 400);
});

test("no key changes or revokes a key that holds more than it; reads and its own revocation stay", async () => {
  const narrowAdmin = await createKey(gw, { name: "key admin", scopes: { "api-keys": ["admin"] } });
  const full = await createKey(gw, { name: "full admin", scopes: ["read", "write", "delete", "admin"] });
  const before = (await call(gw.url, `/v1/api-keys/${full.id}`, { key: gw.rootKey })).json;
  for (const body of [{ rateLimit: 1 }, { name: "renamed" }, { expiresAt: new Date(Date.now() + 60_000).toISOString() }]) {
    const patch = await call(gw.url, `/v1/api-keys/${full.id}`, { key: narrowAdmin.key, method: "PATCH", body });
    assert.equal(patch.status, 403, JSON.stringify(body));
    assert.equal(patch.json.error.code, "forbidden");
    assert.match(patch.json.error.details, /'read' permission for every resource/);
  }
  const revoke = await call(gw.url, `/v1/api-keys/${full.id}`, { key: narrowAdmin.key, method: "DELETE" });
  assert.equal(revoke.status, 403);
  assert.match(revoke.json.error.details, /'read' permission for every resource/);
  const after = (await call(gw.url, `/v1/api-keys/${full.id}`, { key: gw.rootKey })).json;
  assert.deepEqual(after, { ...before, lastUsedAt: after.lastUsedAt }, "nothing changed");
  assert.equal((await call(gw.url, "/v1/auth/test", { key: full.key })).status, 200, "the stronger key still works");
  // Reads stay open to it.
  assert.equal((await call(gw.url, `/v1/api-keys/${full.id}`, { key: narrowAdmin.key })).status, 200);
  assert.equal((await call(gw.url, `/v1/api-keys/${full.id}/usage`, { key: narrowAdmin.key })).status, 200);
  // A key it covers: changed and revoked as before; and a key revokes itself.
  const weaker = await createKey(gw, { name: "reads keys", scopes: { "api-keys": ["read"] } });
  assert.equal((await call(gw.url, `/v1/api-keys/${weaker.id}`, { key: narrowAdmin.key, method: "PATCH", body: { rateLimit: 5 } })).status, 200);
  assert.equal((await call(gw.url, `/v1/api-keys/${weaker.id}`, { key: narrowAdmin.key, method: "DELETE" })).status, 200);
  const self = await call(gw.url, `/v1/api-keys/${narrowAdmin.id}`, { key: narrowAdmin.key, method: "DELETE" });
  assert.equal(self.status, 200);
  assert.equal(self.json.status, "revoked");
});

test("a body refused for its size consumes no rate limit, declared or measured", async () => {
  const key = await createKey(gw, { name: "uploader", scopes: ["read", "write"] });
  const big = "x".repeat(70_000);
  const chunked = await rawRequest(gw.url, "/v1/reports", {
    method: "POST",
    headers: { authorization: `Bearer ${key.key}` },
    bodyChunks: [big.slice(0, 35_000), big.slice(35_000)],
  });
  assert.equal(chunked.status, 413);
  const declared = await rawRequest(gw.url, "/v1/reports", {
    method: "POST",
    headers: { authorization: `Bearer ${key.key}`, "content-length": String(big.length) },
    bodyChunks: [big],
  });
  assert.equal(declared.status, 413);
  assert.equal((await usage(key.id)).total, 0);
});

test("rolling an expired key is refused; after a roll the old key says it expired", async () => {
  const soon = new Date(Date.now() + 1500).toISOString();
  const key = await createKey(gw, { name: "short", scopes: ["read"], expiresAt: soon });
  await waitFor(async () => (await call(gw.url, "/v1/accounts", { key: key.key })).status === 401, {
    what: "the key to expire",
  });
  const roll = await call(gw.url, `/v1/api-keys/${key.id}/roll`, { key: gw.rootKey, method: "POST" });
  assert.equal(roll.status, 409);
  assert.match(roll.json.error.details, /expired/);

  const other = await createKey(gw, { name: "rolled", scopes: ["read"] });
  const rolled = await call(gw.url, `/v1/api-keys/${other.id}/roll`, {
    key: gw.rootKey,
    method: "POST",
    body: { expiresIn: 0 },
  });
  assert.equal(rolled.status, 200);
  const old = await call(gw.url, "/v1/accounts", { key: other.key });
  assert.equal(old.status, 401);
  assert.equal(old.json.error.details, "The API key has expired");
  assert.equal((await call(gw.url, "/v1/accounts", { key: rolled.json.key })).status, 200);
});
