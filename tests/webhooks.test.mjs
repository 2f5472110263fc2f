// Signed webhooks (issue #23, part 1): an organization's endpoints under
// /v1/auth/webhooks, events recorded in its guard's outbox with the change, handed to the
// real queue (Miniflare's broker), posted by the consumer with the Standard Webhooks
// headers. A local receiver checks every delivery's signature with the algorithm as the
// specification writes it (node:crypto, not the gateway's code).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac, timingSafeEqual, generateKeyPairSync, sign } from "node:crypto";
import { startPasskeyGateway, startGateway, call, createKey, createOrgWithAdmin, waitFor, rawRequest } from "./harness.mjs";
import { Authenticator } from "./authenticator.mjs";
import { registerApp, tokensFor } from "./oauth-flow.mjs";

let gw;
const root = () => ({ key: gw.rootKey });
const receivers = [];
// GitHub's secret scanning, pinned to a key of the test's own (api_key.leaked).
const scanner = generateKeyPairSync("ec", { namedCurve: "P-256" });
const SCANNER_KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const scanningKeys = JSON.stringify({
  public_keys: [{ key_identifier: SCANNER_KEY_ID, key: scanner.publicKey.export({ type: "spki", format: "pem" }), is_current: true }],
});

before(async () => {
  gw = await startGateway({ vars: { SECRET_SCANNING_PUBLIC_KEYS: scanningKeys } });
});
after(async () => {
  await gw?.stop();
  for (const r of receivers) await r.close();
});

/** A webhook receiver on loopback. `answer(delivery, n)` gives the status of the n-th
 * request of a message id (1 first); every request is kept in `received`. */
async function startReceiver(answer = () => 200) {
  const received = [];
  const seen = new Map();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const id = req.headers["webhook-id"];
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      const delivery = { method: req.method, path: req.url, headers: req.headers, body, json: JSON.parse(body), at: Date.now() };
      const status = answer(delivery, n);
      delivery.status = status;
      received.push(delivery);
      res.writeHead(status, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const receiver = {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    received,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
  receivers.push(receiver);
  return receiver;
}

/** The Standard Webhooks verification, written from the specification: which of the
 * header's `v1,` signatures is the HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with
 * the secret's base64-decoded bytes (after `whsec_`). */
function validSignatures(secret, delivery) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const id = delivery.headers["webhook-id"];
  const timestamp = delivery.headers["webhook-timestamp"];
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${delivery.body}`).digest();
  return delivery.headers["webhook-signature"]
    .split(" ")
    .filter((part) => {
      const [version, signature] = part.split(",");
      const given = Buffer.from(signature ?? "", "base64");
      return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

function assertSigned(secret, delivery) {
  assert.equal(validSignatures(secret, delivery).length, 1, `signature does not verify: ${JSON.stringify(delivery.headers)}`);
  const age = Math.abs(Date.now() / 1000 - Number(delivery.headers["webhook-timestamp"]));
  assert.ok(age < 60, `webhook-timestamp is ${age} s off`);
  assert.match(delivery.headers["webhook-id"], /^msg_[0-9A-Za-z]{16}$/);
  assert.equal(delivery.headers["content-type"], "application/json");
  assert.equal(delivery.method, "POST");
}

async function createWebhook(key, body) {
  const res = await call(gw.url, "/v1/auth/webhooks", { key, method: "POST", body });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

function deliveriesOf(key, id, query = "") {
  return call(gw.url, `/v1/auth/webhooks/${id}/deliveries${query}`, { key });
}

test("a created key is delivered to its endpoint, signed, with its public view", async () => {
  const receiver = await startReceiver();
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Hooked" });
  const hook = await createWebhook(admin.key, {
    url: receiver.url,
    events: ["api_key.created", "api_key.revoked"],
    description: "CRM sync",
  });
  assert.match(hook.id, /^wh_[0-9A-Za-z]{16}$/);
  assert.match(hook.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  assert.ok(Buffer.from(hook.secret.slice(6), "base64").length >= 24);
  assert.deepEqual(hook.events, ["api_key.created", "api_key.revoked"]);
  assert.equal(hook.description, "CRM sync");
  assert.ok(hook.createdAt);

  // Shown once: never again in a listing or a read.
  const listed = await call(gw.url, "/v1/auth/webhooks", { key: admin.key });
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.data.map((w) => w.id), [hook.id]);
  assert.equal(listed.json.hasMore, false);
  const one = await call(gw.url, `/v1/auth/webhooks/${hook.id}`, { key: admin.key });
  assert.equal(one.status, 200);
  for (const body of [listed.text, one.text]) assert.ok(!body.includes("whsec_"), body);

  const key = await createKey(gw, { name: "reader", scopes: ["read"] }, admin.key);
  const delivery = await waitFor(
    () => receiver.received.find((d) => d.json.type === "api_key.created" && d.json.data.id === key.id),
    { what: "api_key.created delivered" },
  );
  assertSigned(hook.secret, delivery);
  assert.equal(delivery.path, "/hook");
  assert.deepEqual(Object.keys(delivery.json), ["type", "timestamp", "data"]);
  assert.match(delivery.json.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(delivery.json.data.organizationId, org.id);
  assert.equal(delivery.json.data.name, "reader");
  assert.ok(!delivery.body.includes(key.key), "the key's secret is never in an event");
  assert.ok(!/hash/i.test(Object.keys(delivery.json.data).join(",")));

  // The deliveries API: delivered at the first attempt.
  const page = await waitFor(async () => {
    const res = await deliveriesOf(admin.key, hook.id);
    return res.json?.data?.[0]?.status === "delivered" && res;
  }, { what: "the delivery recorded" });
  const [recorded] = page.json.data;
  assert.equal(recorded.id, delivery.headers["webhook-id"]);
  assert.equal(recorded.event, "api_key.created");
  assert.equal(recorded.attempts, 1);
  assert.equal(recorded.lastStatusCode, 200);
  assert.ok(recorded.lastAttemptAt);

  // An event the endpoint did not subscribe to is not sent; one it did, is.
  const patched = await call(gw.url, `/v1/api-keys/${key.id}`, { key: admin.key, method: "PATCH", body: { name: "renamed" } });
  assert.equal(patched.status, 200);
  const revoked = await call(gw.url, `/v1/api-keys/${key.id}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200, revoked.text);
  const gone = await waitFor(() => receiver.received.find((d) => d.json.type === "api_key.revoked"), { what: "api_key.revoked" });
  assertSigned(hook.secret, gone);
  assert.equal(gone.json.data.status, "revoked");
  assert.ok(!receiver.received.some((d) => d.json.type === "api_key.updated"), "not subscribed");

  // Newest first, paginated.
  const first = await deliveriesOf(admin.key, hook.id, "?limit=1");
  assert.equal(first.json.data.length, 1);
  assert.equal(first.json.data[0].event, "api_key.revoked");
  assert.equal(first.json.hasMore, true);
  const second = await deliveriesOf(admin.key, hook.id, `?limit=1&cursor=${encodeURIComponent(first.json.nextCursor)}`);
  assert.equal(second.json.data[0].event, "api_key.created");
  assert.equal((await deliveriesOf(admin.key, hook.id, "?cursor=zzz")).status, 400);
});

test("a 500 is retried with the same webhook-id and a new timestamp and signature", async () => {
  const receiver = await startReceiver((_, n) => (n === 1 ? 500 : 204));
  const { admin } = await createOrgWithAdmin(gw, { name: "Flaky" });
  const hook = await createWebhook(admin.key, { url: receiver.url, events: ["api_key.created"] });
  const key = await createKey(gw, { name: "retried", scopes: ["read"] }, admin.key);
  const [failed, delivered] = await waitFor(() => {
    const mine = receiver.received.filter((d) => d.json.data.id === key.id);
    return mine.length >= 2 && mine;
  }, { timeoutMs: 30_000, what: "a retry after the 500" });
  assert.equal(failed.status, 500);
  assert.equal(delivered.status, 204);
  assert.equal(failed.headers["webhook-id"], delivered.headers["webhook-id"], "the same message");
  assert.equal(failed.body, delivered.body, "the same body");
  assert.ok(delivered.at - failed.at >= 4_000, `retried after ${delivered.at - failed.at} ms: the backoff starts at 5 s`);
  assert.notEqual(failed.headers["webhook-timestamp"], delivered.headers["webhook-timestamp"]);
  assert.notEqual(failed.headers["webhook-signature"], delivered.headers["webhook-signature"]);
  assertSigned(hook.secret, failed);
  assertSigned(hook.secret, delivered);
  const recorded = await waitFor(async () => {
    const res = await deliveriesOf(admin.key, hook.id);
    return res.json.data[0]?.status === "delivered" && res.json.data[0];
  }, { what: "delivered after a retry" });
  assert.equal(recorded.attempts, 2);
  assert.equal(recorded.lastStatusCode, 204);
  // Settled: no third attempt comes.
  assert.equal(receiver.received.filter((d) => d.json.data.id === key.id).length, 2);
});

test("URLs and events are validated (400s name the field); at most 16 endpoints, listed in pages", async () => {
  const { admin } = await createOrgWithAdmin(gw, { name: "Strict" });
  const refused = [
    "http://hooks.example.com/in",
    "ftp://hooks.example.com/in",
    "https://user:secret@hooks.example.com/in",
    "https://10.0.0.8/in",
    "https://192.168.1.1/in",
    "https://169.254.169.254/latest/meta-data",
    "https://[fd00::1]/in",
    "https://2130706433/in",
    "http://10.0.0.1/in",
    "not a url",
  ];
  for (const url of refused) {
    const res = await call(gw.url, "/v1/auth/webhooks", { key: admin.key, method: "POST", body: { url, events: ["api_key.created"] } });
    assert.equal(res.status, 400, `${url}: ${res.text}`);
    assert.equal(res.json.error.field, "url", url);
  }
  for (const events of [[], ["api_key.deleted"], "api_key.created"]) {
    const res = await call(gw.url, "/v1/auth/webhooks", { key: admin.key, method: "POST", body: { url: "https://hooks.example.com/in", events } });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.field, "events");
  }
  const ok = await createWebhook(admin.key, { url: "https://hooks.example.com/in", events: ["organization.updated"] });
  const bad = await call(gw.url, `/v1/auth/webhooks/${ok.id}`, { key: admin.key, method: "PATCH", body: { url: "https://10.1.1.1/x" } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, "url");

  // At most 16 endpoints an organization: the 17th is a 409 until one is deleted.
  for (let i = 1; i < 16; i++) await createWebhook(admin.key, { url: `https://hooks.example.com/${i}`, events: ["api_key.created"] });
  const full = await call(gw.url, "/v1/auth/webhooks", { key: admin.key, method: "POST", body: { url: "https://hooks.example.com/17", events: ["api_key.created"] } });
  assert.equal(full.status, 409, full.text);
  assert.equal((await call(gw.url, `/v1/auth/webhooks/${ok.id}`, { key: admin.key, method: "DELETE" })).status, 204);
  await createWebhook(admin.key, { url: "https://hooks.example.com/17", events: ["api_key.created"] });
  const page = await call(gw.url, "/v1/auth/webhooks?limit=10", { key: admin.key });
  assert.equal(page.json.data.length, 10);
  assert.equal(page.json.hasMore, true);
  const rest = await call(gw.url, `/v1/auth/webhooks?limit=10&cursor=${page.json.nextCursor}`, { key: admin.key });
  assert.equal(rest.json.data.length, 6);
  assert.equal(rest.json.hasMore, false);
  assert.equal(new Set([...page.json.data, ...rest.json.data].map((w) => w.id)).size, 16);

  // Loopback only when WEBHOOK_ALLOW_HTTP_LOOPBACK is "true".
  const closed = await startGateway({ vars: { WEBHOOK_ALLOW_HTTP_LOOPBACK: "false" } });
  try {
    for (const url of ["http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/x"]) {
      const res = await call(closed.url, "/v1/auth/webhooks", { key: closed.rootKey, method: "POST", body: { url, events: ["api_key.created"] } });
      assert.equal(res.status, 400, `${url}: ${res.text}`);
      assert.equal(res.json.error.field, "url");
    }
  } finally {
    await closed.stop();
  }
});

test("another organization's webhook is 404, a test-mode key is refused, the root key names the organization", async () => {
  const a = await createOrgWithAdmin(gw, { name: "Owner A" });
  const b = await createOrgWithAdmin(gw, { name: "Other B" });
  const hook = await createWebhook(a.admin.key, { url: "https://hooks.example.com/a", events: ["api_key.created"] });
  for (const [method, path, body] of [
    ["GET", `/v1/auth/webhooks/${hook.id}`],
    ["PATCH", `/v1/auth/webhooks/${hook.id}`, { description: "mine now" }],
    ["DELETE", `/v1/auth/webhooks/${hook.id}`],
    ["POST", `/v1/auth/webhooks/${hook.id}/rotate-secret`],
    ["GET", `/v1/auth/webhooks/${hook.id}/deliveries`],
    ["GET", `/v1/auth/webhooks/${hook.id}?organizationId=${a.org.id}`],
  ]) {
    const res = await call(gw.url, path, { key: b.admin.key, method, body });
    assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
  }
  const theirs = await call(gw.url, "/v1/auth/webhooks", { key: b.admin.key });
  assert.deepEqual(theirs.json.data, []);

  const testAdmin = await createKey(gw, { name: "test admin", type: "test", scopes: ["admin"], organizationId: a.org.id });
  for (const [method, path, body] of [
    ["GET", "/v1/auth/webhooks"],
    ["POST", "/v1/auth/webhooks", { url: "https://hooks.example.com/t", events: ["api_key.created"] }],
    ["GET", `/v1/auth/webhooks/${hook.id}`],
  ]) {
    const res = await call(gw.url, path, { key: testAdmin.key, method, body });
    assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
  }
  const reader = await createKey(gw, { name: "reader", scopes: ["read"], organizationId: a.org.id });
  assert.equal((await call(gw.url, "/v1/auth/webhooks", { key: reader.key })).status, 403);

  const byRoot = await call(gw.url, `/v1/auth/webhooks/${hook.id}?organizationId=${a.org.id}`, root());
  assert.equal(byRoot.status, 200, byRoot.text);
  assert.equal((await call(gw.url, `/v1/auth/webhooks/${hook.id}`, root())).status, 404, "the default organization's");
  const nowhere = await call(gw.url, "/v1/auth/webhooks", {
    ...root(),
    method: "POST",
    body: { url: "https://hooks.example.com/x", events: ["api_key.created"], organizationId: "org_000000000nowhere" },
  });
  assert.equal(nowhere.status, 404);
  const inDefault = await createWebhook(gw.rootKey, { url: "https://hooks.example.com/d", events: ["api_key.created"] });
  const listed = await call(gw.url, "/v1/auth/webhooks", root());
  assert.ok(listed.json.data.some((w) => w.id === inDefault.id));
  const deleted = await call(gw.url, `/v1/auth/webhooks/${inDefault.id}`, { ...root(), method: "DELETE" });
  assert.equal(deleted.status, 204);
  assert.equal((await call(gw.url, `/v1/auth/webhooks/${inDefault.id}`, root())).status, 404);
});

test("an owner or admin signed in manages webhooks; a developer may not", async () => {
  const { gw: people, site: origin } = await startPasskeyGateway();
  try {
    const made = await call(people.url, "/v1/organizations", { key: people.rootKey, method: "POST", body: { name: "People", plan: "starter" } });
    assert.equal(made.status, 201, made.text);
    const org = made.json;
    const page = (path, body, cookie) =>
      call(origin, path, { method: "POST", body: body ?? {}, headers: { origin, accept: "application/json", ...(cookie ? { cookie } : {}) } });
    const member = async (role) => {
      const invited = await call(people.url, `/v1/organizations/${org.id}/invitations`, {
        key: people.rootKey,
        method: "POST",
        body: { email: `${role}@example.com`, role },
      });
      assert.equal(invited.status, 201, invited.text);
      const token = new URL(invited.json.url).hash.slice(1);
      const auth = new Authenticator({ origin });
      const options = await page("/dashboard/passkey/register/options", { token });
      const joined = await page("/dashboard/passkey/register", auth.create(options.json.publicKey, { token, name: role }));
      assert.equal(joined.status, 204, joined.text);
      const cookie = joined.headers.get("set-cookie").split(";")[0];
      const session = await call(origin, "/dashboard/api/session", { headers: { cookie } });
      return (method, path, body) =>
        call(origin, `/dashboard/api${path}`, { method, body, headers: { cookie, origin, "x-csrf-token": session.json.csrfToken } });
    };
    const admin = await member("admin");
    const developer = await member("developer");
    const body = { url: "https://hooks.example.com/people", events: ["api_key.created"] };
    const created = await admin("POST", "/v1/auth/webhooks", body);
    assert.equal(created.status, 201, created.text);
    assert.match(created.json.secret, /^whsec_/);
    const listed = await admin("GET", "/v1/auth/webhooks");
    assert.deepEqual(listed.json.data.map((w) => w.id), [created.json.id]);
    for (const [method, path] of [["POST", "/v1/auth/webhooks"], ["GET", "/v1/auth/webhooks"], ["GET", `/v1/auth/webhooks/${created.json.id}/deliveries`]]) {
      const res = await developer(method, path, method === "POST" ? body : undefined);
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
    }
    const byRoot = await call(people.url, `/v1/auth/webhooks?organizationId=${org.id}`, { key: people.rootKey });
    assert.deepEqual(byRoot.json.data.map((w) => w.id), [created.json.id]);
  } finally {
    await people.stop();
  }
});

test("after rotate-secret both secrets' signatures verify; the organization's changes are events too", async () => {
  const receiver = await startReceiver();
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Rotating" });
  const hook = await createWebhook(admin.key, { url: receiver.url, events: ["api_key.updated", "organization.updated"] });
  const rotated = await call(gw.url, `/v1/auth/webhooks/${hook.id}/rotate-secret`, { key: admin.key, method: "POST" });
  assert.equal(rotated.status, 200, rotated.text);
  assert.match(rotated.json.secret, /^whsec_/);
  assert.notEqual(rotated.json.secret, hook.secret);
  assert.equal(rotated.json.id, hook.id);

  const patched = await call(gw.url, `/v1/api-keys/${admin.id}`, { key: admin.key, method: "PATCH", body: { name: "renamed admin" } });
  assert.equal(patched.status, 200, patched.text);
  const updated = await waitFor(() => receiver.received.find((d) => d.json.type === "api_key.updated"), { what: "api_key.updated" });
  assert.equal(updated.json.data.name, "renamed admin");
  assert.equal(updated.headers["webhook-signature"].split(" ").length, 2, "two signatures during the overlap");
  assert.equal(validSignatures(rotated.json.secret, updated).length, 1, "the new secret's");
  assert.equal(validSignatures(hook.secret, updated).length, 1, "the old secret's");

  const renamed = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { name: "Rotating Ltd" } });
  assert.equal(renamed.status, 200, renamed.text);
  const orgEvent = await waitFor(() => receiver.received.find((d) => d.json.type === "organization.updated"), { what: "organization.updated" });
  assert.equal(orgEvent.json.data.id, org.id);
  assert.equal(orgEvent.json.data.name, "Rotating Ltd");

  // PATCH the subscription: a later key change is no longer sent.
  const narrowed = await call(gw.url, `/v1/auth/webhooks/${hook.id}`, { key: admin.key, method: "PATCH", body: { events: ["organization.updated"], description: null } });
  assert.equal(narrowed.status, 200, narrowed.text);
  assert.deepEqual(narrowed.json.events, ["organization.updated"]);
  const count = receiver.received.filter((d) => d.json.type === "api_key.updated").length;
  await call(gw.url, `/v1/api-keys/${admin.id}`, { key: admin.key, method: "PATCH", body: { name: "again" } });
  await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { name: "Rotating Again" } });
  await waitFor(() => receiver.received.some((d) => d.json.data.name === "Rotating Again"), { what: "the later organization event" });
  assert.equal(receiver.received.filter((d) => d.json.type === "api_key.updated").length, count);

  // Every change to the endpoint is in the audit log, by its actor, never with a secret.
  const log = await call(gw.url, "/v1/audit-log?limit=100", { key: admin.key });
  assert.equal(log.status, 200, log.text);
  const mine = log.json.data.filter((e) => e.target.type === "webhook" && e.target.id === hook.id);
  assert.deepEqual(mine.map((e) => e.action).reverse(), ["webhook.created", "webhook.secret_rotated", "webhook.updated"]);
  assert.ok(mine.every((e) => e.actor.type === "key" && e.actor.keyId === admin.id));
  assert.equal(mine.at(-1).changes.url.after, receiver.url);
  assert.deepEqual(mine[0].changes.events, { before: ["api_key.updated", "organization.updated"], after: ["organization.updated"] });
  assert.ok(!log.text.includes("whsec_"), "no secret in the audit log");
  const deleted = await call(gw.url, `/v1/auth/webhooks/${hook.id}`, { key: admin.key, method: "DELETE" });
  assert.equal(deleted.status, 204);
  const after = await call(gw.url, "/v1/audit-log?limit=1", { key: admin.key });
  assert.equal(after.json.data[0].action, "webhook.deleted");
});

test("concurrent changes are each delivered once; a roll and an app's authorization and revocation are events", async () => {
  const receiver = await startReceiver();
  const { admin } = await createOrgWithAdmin(gw, { name: "Busy", plan: "enterprise" });
  const hook = await createWebhook(admin.key, {
    url: receiver.url,
    events: ["api_key.created", "api_key.rolled", "oauth_grant.created", "oauth_grant.revoked"],
  });
  const made = await Promise.all(
    Array.from({ length: 12 }, (_, i) => createKey(gw, { name: `racer ${i}`, scopes: ["read"] }, admin.key)),
  );
  const ids = new Set(made.map((k) => k.id));
  const created = await waitFor(() => {
    const mine = receiver.received.filter((d) => d.json.type === "api_key.created" && ids.has(d.json.data.id));
    return new Set(mine.map((d) => d.json.data.id)).size === ids.size && mine;
  }, { timeoutMs: 30_000, what: "every creation delivered" });
  assert.equal(created.length, ids.size, "each once");
  assert.equal(new Set(created.map((d) => d.headers["webhook-id"])).size, ids.size, "a message id each");
  for (const d of created) assertSigned(hook.secret, d);

  const rolled = await call(gw.url, `/v1/api-keys/${made[0].id}/roll`, { key: admin.key, method: "POST", body: { expiresIn: 0 } });
  assert.equal(rolled.status, 200, rolled.text);
  const roll = await waitFor(() => receiver.received.find((d) => d.json.type === "api_key.rolled"), { what: "api_key.rolled" });
  assert.equal(roll.json.data.id, made[0].id);
  assert.ok(!roll.body.includes(rolled.json.key), "never the new secret");
  assertSigned(hook.secret, roll);

  const app = await registerApp(gw, admin.key);
  await tokensFor(gw, app, admin.key);
  const granted = await waitFor(() => receiver.received.find((d) => d.json.type === "oauth_grant.created"), { what: "oauth_grant.created" });
  assertSigned(hook.secret, granted);
  assert.equal(granted.json.data.clientId, app.clientId);
  assert.equal(granted.json.data.approvedBy, admin.id);
  const grantId = granted.json.data.grantId;
  assert.match(grantId, /^grant_/);
  const revoked = await call(gw.url, `/v1/oauth-authorizations/${grantId}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200, revoked.text);
  const gone = await waitFor(() => receiver.received.find((d) => d.json.type === "oauth_grant.revoked"), { what: "oauth_grant.revoked" });
  assert.equal(gone.json.data.grantId, grantId);
  assert.equal(gone.json.data.status, "revoked");
  assert.ok(!/sat_|srt_|sac_/.test(granted.body + gone.body), "never a token");
});

test("a key reported leaked by secret scanning is an event", async () => {
  const receiver = await startReceiver();
  const { admin } = await createOrgWithAdmin(gw, { name: "Leaky" });
  const hook = await createWebhook(admin.key, { url: receiver.url, events: ["api_key.leaked"] });
  const leaky = await createKey(gw, { name: "leaky", scopes: ["read"] }, admin.key);
  const body = JSON.stringify([{ token: leaky.key, type: "scopien_api_key", url: "https://github.com/octo/app/blob/main/.env", source: "content" }]);
  const reported = await rawRequest(gw.url, "/secret-scanning/github", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": SCANNER_KEY_ID,
      "github-public-key-signature": sign("sha256", Buffer.from(body), scanner.privateKey).toString("base64"),
    },
    bodyChunks: [body],
  });
  assert.equal(reported.status, 200);
  const leaked = await waitFor(() => receiver.received.find((d) => d.json.type === "api_key.leaked"), { what: "api_key.leaked" });
  assertSigned(hook.secret, leaked);
  assert.equal(leaked.json.data.id, leaky.id);
  assert.ok(leaked.json.data.leakedAt);
  assert.equal(leaked.json.data.status, "revoked", "LEAKED_KEY_ACTION revoke, the default");
  assert.ok(!leaked.body.includes(leaky.key), "never the leaked secret itself");
});

test("a key's first refusal for its hourly quota is announced once a window (rate_limit.exceeded)", async () => {
  const receiver = await startReceiver();
  const { admin } = await createOrgWithAdmin(gw, { name: "Limited" });
  const hook = await createWebhook(admin.key, { url: receiver.url, events: ["rate_limit.exceeded", "api_key.created"] });
  const key = await createKey(gw, { name: "one an hour", scopes: ["read"], rateLimit: 1 }, admin.key);
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await call(gw.url, "/v1/accounts", { key: key.key })).status);
  assert.deepEqual(statuses, [200, 429, 429, 429]);
  const exceeded = await waitFor(() => receiver.received.find((d) => d.json.type === "rate_limit.exceeded"), { what: "rate_limit.exceeded" });
  assertSigned(hook.secret, exceeded);
  assert.equal(exceeded.json.data.key.id, key.id);
  assert.equal(exceeded.json.data.window, "hour");
  assert.equal(exceeded.json.data.limit, 1);
  assert.ok(Date.parse(exceeded.json.data.resetAt) > Date.now());
  assert.ok(!exceeded.body.includes(key.key));
  // A later event arrives after any second announcement would have: there is none.
  const later = await createKey(gw, { name: "later", scopes: ["read"] }, admin.key);
  await waitFor(() => receiver.received.some((d) => d.json.type === "api_key.created" && d.json.data.id === later.id), { what: "the later event" });
  assert.equal(receiver.received.filter((d) => d.json.type === "rate_limit.exceeded").length, 1);
});

test("a key's expiry is announced: expiring a day before, expired at its expiresAt, each once", async () => {
  const receiver = await startReceiver();
  const { admin } = await createOrgWithAdmin(gw, { name: "Expiring" });
  const inSeconds = (s) => new Date(Date.now() + s * 1000).toISOString();
  // Made before the endpoint exists: its milestones are picked up when it is added.
  const early = await createKey(gw, { name: "early", scopes: ["read"], expiresAt: inSeconds(5) }, admin.key);
  const hook = await createWebhook(admin.key, { url: receiver.url, events: ["api_key.expiring", "api_key.expired"] });
  const soon = await createKey(gw, { name: "soon", scopes: ["read"], expiresAt: inSeconds(4) }, admin.key);
  const tomorrow = await createKey(gw, { name: "tomorrow", scopes: ["read"], expiresAt: inSeconds(86_400 + 4) }, admin.key);
  const about = (key, type) => receiver.received.filter((d) => d.json.data.id === key.id && d.json.type === type);

  const [expiring] = await waitFor(() => about(tomorrow, "api_key.expiring").length && about(tomorrow, "api_key.expiring"), { timeoutMs: 30_000, what: "api_key.expiring" });
  assert.ok(expiring.at >= Date.parse(tomorrow.expiresAt) - 86_400_000, "not before the day-before mark");
  assert.equal(expiring.json.data.status, "active");
  assert.equal(expiring.json.data.expiresAt, tomorrow.expiresAt);
  assertSigned(hook.secret, expiring);
  for (const key of [soon, early]) {
    const [expired] = await waitFor(() => about(key, "api_key.expired").length && about(key, "api_key.expired"), { timeoutMs: 30_000, what: `api_key.expired of ${key.name}` });
    assert.ok(expired.at >= Date.parse(key.expiresAt), "not before expiresAt");
    assert.equal(expired.json.data.status, "expired");
    assertSigned(hook.secret, expired);
    // A key made to expire within a day is told once, when it expires: no "expiring".
    assert.equal(about(key, "api_key.expiring").length, 0);
  }
  assert.equal(about(tomorrow, "api_key.expired").length, 0);
  assert.equal(about(tomorrow, "api_key.expiring").length, 1, "once");
});

test("a message being retried outlives a restart of workerd", async () => {
  let healed = false;
  const receiver = await startReceiver(() => (healed ? 200 : 503));
  let restarted = await startGateway();
  const { rootKey, identityKey, state } = restarted;
  try {
    const made = await call(restarted.url, "/v1/organizations", { key: rootKey, method: "POST", body: { name: "Restarted" } });
    const admin = await createKey(restarted, { name: "admin", scopes: ["admin"], organizationId: made.json.id });
    const res = await call(restarted.url, "/v1/auth/webhooks", { key: admin.key, method: "POST", body: { url: receiver.url, events: ["api_key.created"] } });
    assert.equal(res.status, 201, res.text);
    const hook = res.json;
    const key = await createKey(restarted, { name: "survivor", scopes: ["read"] }, admin.key);
    const mine = () => receiver.received.filter((d) => d.json.data.id === key.id);
    await waitFor(() => mine().length >= 1, { what: "the first attempt" });
    // The failure is recorded (due again in 5 s) before the runtime goes away.
    await waitFor(async () => {
      const page = await call(restarted.url, `/v1/auth/webhooks/${hook.id}/deliveries`, { key: admin.key });
      return page.json.data[0]?.attempts === 1;
    }, { what: "the failed attempt recorded" });
    await restarted.stop({ keep: true });
    healed = true;
    restarted = await startGateway({ state, rootKey, identityKey });
    // Nothing touches the organization's guard: its alarm alone brings the retry.
    const [first, second] = await waitFor(() => mine().length >= 2 && mine(), { timeoutMs: 30_000, what: "the retry after the restart" });
    assert.equal(first.status, 503);
    assert.equal(second.status, 200);
    assert.equal(second.headers["webhook-id"], first.headers["webhook-id"]);
    assertSigned(hook.secret, second);
    const page = await waitFor(async () => {
      const r = await call(restarted.url, `/v1/auth/webhooks/${hook.id}/deliveries`, { key: admin.key });
      return r.json.data[0]?.status === "delivered" && r.json.data[0];
    }, { what: "delivered after the restart" });
    assert.equal(page.attempts, 2);
  } finally {
    await restarted.stop();
  }
});
