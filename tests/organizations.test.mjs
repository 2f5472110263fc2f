// Organizations: isolation between customers, exact listing, plans and suspension that
// reach every key before the change answers, the audit log, and the organization the
// origin is told.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createKey, waitFor } from "./harness.mjs";

let gw, origin, orgA, orgB, adminA, keyB;
const root = () => ({ key: gw.rootKey });

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url, SANDBOX_ORIGIN_URL: origin.url } });
  const make = async (body) => {
    const res = await call(gw.url, "/v1/organizations", { ...root(), method: "POST", body });
    assert.equal(res.status, 201, res.text);
    return res.json;
  };
  orgA = await make({ name: "Acme", plan: "professional" });
  orgB = await make({ name: "Globex", plan: "starter" });
  adminA = await createKey(gw, { name: "acme admin", scopes: ["admin"], organizationId: orgA.id });
  keyB = await createKey(gw, { name: "globex reader", scopes: ["read"], organizationId: orgB.id });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

test("organizations are created by the root key with a plan; bad input names the field", async () => {
  assert.match(orgA.id, /^org_[0-9A-Za-z]{16}$/);
  assert.deepEqual(
    { name: orgA.name, plan: orgA.plan, status: orgA.status },
    { name: "Acme", plan: "professional", status: "active" },
  );
  const bad = await call(gw.url, "/v1/organizations", { ...root(), method: "POST", body: { name: "x", plan: "gold" } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.details, /plan must be/);
  const byAdmin = await call(gw.url, "/v1/organizations", { key: adminA.key, method: "POST", body: { name: "x", plan: "starter" } });
  assert.equal(byAdmin.status, 403);
  const list = await call(gw.url, "/v1/organizations", root());
  assert.equal(list.status, 200);
  assert.ok(list.json.data.some((o) => o.id === orgA.id));
  assert.equal(adminA.organizationId, orgA.id);
  assert.equal(adminA.rateLimit, 5000, "professional defaults");
});

test("a key created without an organization belongs to the default one, on PLAN", async () => {
  const plain = await createKey(gw, { name: "plain", scopes: ["read"] });
  assert.equal(plain.organizationId, "org_000000000default");
  assert.equal(plain.rateLimit, 1000);
  const org = await call(gw.url, `/v1/organizations/${plain.organizationId}`, root());
  assert.equal(org.status, 200);
  assert.equal(org.json.plan, "starter");
});

test("the default organization is listed, with the real time it was first used (#24)", async () => {
  const plain = await createKey(gw, { name: "default's", scopes: ["read"] });
  const after = Date.now();
  assert.equal(plain.organizationId, "org_000000000default");
  const listed = await waitFor(async () => {
    const res = await call(gw.url, "/v1/organizations?limit=100", root());
    return res.json.data.find((o) => o.id === "org_000000000default");
  }, { what: "the default organization in GET /v1/organizations" });
  const created = Date.parse(listed.createdAt);
  // The first use of the default organization in this run: this test's key or an earlier one.
  assert.ok(created > Date.parse("2020-01-01T00:00:00Z") && created <= after, listed.createdAt);
  const read = await call(gw.url, "/v1/organizations/org_000000000default", root());
  assert.equal(read.json.createdAt, listed.createdAt, "one creation time, kept");
  await createKey(gw, { name: "default's second", scopes: ["read"] });
  const again = await call(gw.url, "/v1/organizations/org_000000000default", root());
  assert.equal(again.json.createdAt, listed.createdAt, "it never moves");
});

test("an admin key sees its own organization only: every other id answers 404", async () => {
  const asA = { key: adminA.key };
  const one = `/v1/api-keys/${keyB.id}`;
  const probes = [
    ["GET", one],
    ["PATCH", one, { name: "mine now" }],
    ["DELETE", one],
    ["POST", `${one}/roll`],
    ["GET", `${one}/usage`],
    ["GET", `/v1/organizations/${orgB.id}`],
    ["GET", `/v1/audit-log?organizationId=${orgB.id}`],
    ["GET", `/v1/api-keys?organizationId=${orgB.id}`],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["read"], organizationId: orgB.id }],
  ];
  for (const [method, path, body] of probes) {
    const res = await call(gw.url, path, { ...asA, method, body });
    assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
  }
  // B's key is untouched and still works.
  assert.equal((await call(gw.url, "/v1/accounts", { key: keyB.key })).status, 200);
  const own = await call(gw.url, `/v1/organizations/${orgA.id}`, asA);
  assert.equal(own.status, 200);
  const plan = await call(gw.url, `/v1/organizations/${orgA.id}`, { ...asA, method: "PATCH", body: { plan: "enterprise" } });
  assert.equal(plan.status, 403, "an organization's admin cannot change its plan");
});

test("an organization's listing includes a key created a moment before, and only its keys", async () => {
  const made = await call(gw.url, "/v1/api-keys", {
    key: adminA.key,
    method: "POST",
    body: { name: "fresh", scopes: ["read"] },
  });
  assert.equal(made.status, 201);
  assert.equal(made.json.organizationId, orgA.id);
  const ids = [];
  let cursor = "";
  for (let page = 0; page < 10; page++) {
    const res = await call(gw.url, `/v1/api-keys?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { key: adminA.key });
    assert.equal(res.status, 200);
    ids.push(...res.json.data.map((k) => k.id));
    for (const k of res.json.data) assert.equal(k.organizationId, orgA.id);
    if (!res.json.hasMore) break;
    cursor = res.json.nextCursor;
  }
  assert.ok(ids.includes(made.json.id), "listed at once");
  assert.ok(ids.includes(adminA.id));
  assert.ok(!ids.includes(keyB.id));
  const bad = await call(gw.url, "/v1/api-keys?cursor=nonsense", { key: adminA.key });
  assert.equal(bad.status, 400);
});

test("the organization's listing learns when a key was last used", async () => {
  const used = await call(gw.url, "/v1/api-keys", {
    key: adminA.key,
    method: "POST",
    body: { name: "used", scopes: ["read"] },
  });
  assert.equal((await call(gw.url, "/v1/accounts", { key: used.json.key })).status, 200);
  // Copied after the answer (at most once a minute per key): poll, bounded.
  await waitFor(
    async () => {
      const page = await call(gw.url, "/v1/api-keys?limit=100", { key: adminA.key });
      return page.json.data.find((k) => k.id === used.json.id)?.lastUsedAt;
    },
    { what: "lastUsedAt in the organization's listing" },
  );
});

test("a plan change reaches every key of the organization before the PATCH answers", async () => {
  const org = (await call(gw.url, "/v1/organizations", { ...root(), method: "POST", body: { name: "Initech", plan: "professional" } })).json;
  const defaults = await createKey(gw, { name: "defaults", scopes: ["read"], organizationId: org.id });
  const custom = await createKey(gw, { name: "custom", scopes: ["read"], rateLimit: 4000, organizationId: org.id });
  assert.equal((await call(gw.url, "/v1/accounts", { key: defaults.key })).headers.get("x-ratelimit-limit"), "5000");
  const patched = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { plan: "starter" } });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.plan, "starter");
  const next = await call(gw.url, "/v1/accounts", { key: defaults.key });
  assert.equal(next.headers.get("x-ratelimit-limit"), "1000", "defaults follow the plan");
  const capped = await call(gw.url, "/v1/accounts", { key: custom.key });
  assert.equal(capped.headers.get("x-ratelimit-limit"), "1000", "custom limits are lowered to the ceiling");
  const view = await call(gw.url, `/v1/api-keys/${custom.id}`, root());
  assert.equal(view.json.rateLimit, 1000);
  const over = await call(gw.url, `/v1/api-keys/${custom.id}`, { ...root(), method: "PATCH", body: { rateLimit: 4000 } });
  assert.equal(over.status, 400, "the new ceiling applies to changes too");
});

test("suspension refuses every key of the organization on its next request; reactivation restores", async () => {
  const org = (await call(gw.url, "/v1/organizations", { ...root(), method: "POST", body: { name: "Hooli", plan: "starter" } })).json;
  const admin = await createKey(gw, { name: "hooli admin", scopes: ["admin"], organizationId: org.id });
  const reader = await createKey(gw, { name: "hooli reader", scopes: ["read"], organizationId: org.id });
  assert.equal((await call(gw.url, "/v1/accounts", { key: reader.key })).status, 200);
  const off = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { status: "suspended" } });
  assert.equal(off.status, 200);
  for (const key of [reader.key, admin.key]) {
    const res = await call(gw.url, "/v1/accounts", { key });
    assert.equal(res.status, 403);
    assert.match(res.json.error.details, /organization is suspended/);
  }
  assert.equal((await call(gw.url, "/v1/api-keys", { key: admin.key })).status, 403, "admin keys too");
  assert.equal((await call(gw.url, "/v1/accounts", { key: keyB.key })).status, 200, "other organizations unaffected");
  await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { status: "active" } });
  assert.equal((await call(gw.url, "/v1/accounts", { key: reader.key })).status, 200);
});

test("the origin is told the key's organization, and a client cannot forge it", async () => {
  const res = await call(gw.url, "/v1/accounts", {
    key: keyB.key,
    headers: { "X-Scopien-Org-Id": orgA.id },
  });
  assert.equal(res.status, 200);
  assert.equal(origin.received.at(-1).headers["x-scopien-org-id"], orgB.id);
});

test("the audit log records who changed what, newest first, never a secret", async () => {
  const made = await call(gw.url, "/v1/api-keys", {
    key: adminA.key,
    method: "POST",
    body: { name: "audited", scopes: ["read"] },
  });
  const id = made.json.id;
  await call(gw.url, `/v1/api-keys/${id}`, { key: adminA.key, method: "PATCH", body: { name: "renamed", rateLimit: 10 } });
  await call(gw.url, `/v1/api-keys/${id}/roll`, { key: adminA.key, method: "POST", body: { expiresIn: 0 } });
  await call(gw.url, `/v1/api-keys/${id}`, { ...root(), method: "DELETE" });
  const log = await call(gw.url, "/v1/audit-log?limit=4", { key: adminA.key });
  assert.equal(log.status, 200);
  const [revoked, rolled, updated, created] = log.json.data;
  assert.deepEqual(
    [revoked.action, rolled.action, updated.action, created.action],
    ["api_key.revoked", "api_key.rolled", "api_key.updated", "api_key.created"],
  );
  assert.deepEqual(revoked.actor, { type: "root" });
  assert.deepEqual(created.actor, { type: "key", keyId: adminA.id });
  assert.deepEqual(updated.target, { type: "api_key", id });
  assert.deepEqual(updated.changes.name, { before: "audited", after: "renamed" });
  assert.deepEqual(updated.changes.rateLimit, { before: 5000, after: 10 });
  assert.ok(log.json.hasMore);
  const older = await call(gw.url, `/v1/audit-log?limit=100&cursor=${log.json.nextCursor}`, { key: adminA.key });
  const actions = older.json.data.map((e) => e.action);
  assert.ok(actions.includes("organization.created"));
  const text = JSON.stringify([...log.json.data, ...older.json.data]);
  assert.ok(!/sk_(live|test)_[0-9A-Za-z]{54}/.test(text), "no secret in the audit log");
  assert.ok(!/[0-9a-f]{64}/.test(text), "no hash in the audit log");
  // The root key reads it by naming the organization.
  const byRoot = await call(gw.url, `/v1/audit-log?organizationId=${orgA.id}&limit=1`, root());
  assert.equal(byRoot.json.data[0].id, revoked.id);
  assert.equal((await call(gw.url, "/v1/audit-log", root())).status, 400);
});
