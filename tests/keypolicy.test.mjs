// A key-lifetime policy per organization (#23, part 2): PATCH /v1/organizations/{id}
// {"keyPolicy": {"maxLifetimeDays"}} by the root key or the organization's own admin;
// new and rolled keys get at most that life, a later expiresAt is a 400 naming it, on
// create and on a key's PATCH; keys from before keep their dates and are listed as out of
// policy. The policy travels with the organization's terms, pushed to every key's guard
// before the PATCH answers, so a key created during the change is covered (a race).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createKey, createOrgWithAdmin } from "./harness.mjs";

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

const DAY = 86_400_000;
const ms = (timestamp) => Date.parse(timestamp);
const setPolicy = (org, days, key = gw.rootKey) =>
  call(gw.url, `/v1/organizations/${org.id}`, { key, method: "PATCH", body: { keyPolicy: { maxLifetimeDays: days } } });
const create = (admin, body) => call(gw.url, "/v1/api-keys", { key: admin.key, method: "POST", body: { name: "k", scopes: ["read"], ...body } });
const listed = async (admin) => {
  const res = await call(gw.url, "/v1/api-keys?limit=100", { key: admin.key });
  assert.equal(res.status, 200, res.text);
  return new Map(res.json.data.map((k) => [k.id, k]));
};

test("an organization's admin sets its key policy, and nothing else there; bad values name keyPolicy", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Rules" });
  const set = await setPolicy(org, 30, admin.key);
  assert.equal(set.status, 200, set.text);
  assert.deepEqual(set.json.keyPolicy, { maxLifetimeDays: 30 });
  assert.deepEqual((await call(gw.url, `/v1/organizations/${org.id}`, { key: admin.key })).json.keyPolicy, { maxLifetimeDays: 30 });
  for (const body of [{ plan: "enterprise" }, { status: "suspended" }, { name: "Mine now" }, { keyPolicy: { maxLifetimeDays: 7 }, plan: "enterprise" }]) {
    const res = await call(gw.url, `/v1/organizations/${org.id}`, { key: admin.key, method: "PATCH", body });
    assert.equal(res.status, 403, `${JSON.stringify(body)}: ${res.text}`);
  }
  assert.equal((await call(gw.url, `/v1/organizations/${org.id}`, { key: admin.key })).json.plan, "starter");
  const testAdmin = await createKey(gw, { name: "test admin", type: "test", scopes: ["admin"], organizationId: org.id });
  assert.equal((await setPolicy(org, 7, testAdmin.key)).status, 403, "a test-mode admin changes no live rule");
  const other = await createOrgWithAdmin(gw, { name: "Elsewhere" });
  assert.equal((await setPolicy(org, 7, other.admin.key)).status, 404);
  for (const bad of [0, 3651, 1.5, "30", { maxLifetimeDays: 30 }]) {
    const res = await setPolicy(org, bad, admin.key);
    assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.text}`);
    assert.equal(res.json.error.field, "keyPolicy");
  }
  const extra = await call(gw.url, `/v1/organizations/${org.id}`, { key: admin.key, method: "PATCH", body: { keyPolicy: { maxLifetimeDays: 5, other: 1 } } });
  assert.equal(extra.json.error.field, "keyPolicy");
  assert.deepEqual((await setPolicy(org, 3650, admin.key)).json.keyPolicy, { maxLifetimeDays: 3650 });
  assert.deepEqual((await setPolicy(org, null, admin.key)).json.keyPolicy, { maxLifetimeDays: null });
  // The change is in the audit log.
  const audit = await call(gw.url, "/v1/audit-log", { key: admin.key });
  assert.ok(audit.json.data.some((e) => e.action === "organization.updated" && JSON.stringify(e.changes ?? {}).includes("keyPolicy")), audit.text);
});

test("create: no expiresAt gets now + the maximum; a later one is 400 naming expiresAt; an earlier one is kept", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Create" });
  assert.equal((await setPolicy(org, 30)).status, 200);
  const plain = await create(admin, {});
  assert.equal(plain.status, 201, plain.text);
  assert.equal(ms(plain.json.expiresAt), ms(plain.json.createdAt) + 30 * DAY);
  assert.equal(plain.json.outOfPolicy, false);
  const late = await create(admin, { expiresAt: new Date(Date.now() + 31 * DAY).toISOString() });
  assert.equal(late.status, 400, late.text);
  assert.equal(late.json.error.field, "expiresAt");
  assert.match(late.json.error.details, /30 days/);
  const early = new Date(Date.now() + 10 * DAY).toISOString();
  const kept = await create(admin, { expiresAt: early });
  assert.equal(kept.status, 201);
  assert.equal(ms(kept.json.expiresAt), ms(early));
  // The key really stops then: its guard holds the date.
  const own = await call(gw.url, `/v1/api-keys/${plain.json.id}`, { key: admin.key });
  assert.equal(own.json.expiresAt, plain.json.expiresAt);
  // With the policy lifted, keys may live for ever again.
  assert.equal((await setPolicy(org, null)).status, 200);
  assert.equal((await create(admin, {})).json.expiresAt, null);
});

test("keys from before the policy keep their dates and are out of policy until rolled", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Before" });
  const forever = await createKey(gw, { name: "forever", scopes: ["read"] }, admin.key);
  const long = await createKey(gw, { name: "long", scopes: ["read"], expiresAt: new Date(Date.now() + 400 * DAY).toISOString() }, admin.key);
  const short = await createKey(gw, { name: "short", scopes: ["read"], expiresAt: new Date(Date.now() + 5 * DAY).toISOString() }, admin.key);
  const revoked = await createKey(gw, { name: "revoked", scopes: ["read"] }, admin.key);
  await call(gw.url, `/v1/api-keys/${revoked.id}`, { key: admin.key, method: "DELETE" });
  let keys = await listed(admin);
  assert.equal(keys.get(forever.id).outOfPolicy, false, "no policy yet");
  assert.equal((await setPolicy(org, 90)).status, 200);
  keys = await listed(admin);
  assert.equal(keys.get(forever.id).outOfPolicy, true);
  assert.equal(keys.get(forever.id).expiresAt, null, "it keeps its dates");
  assert.equal(keys.get(long.id).outOfPolicy, true);
  assert.equal(keys.get(long.id).expiresAt, long.expiresAt);
  assert.equal(keys.get(short.id).outOfPolicy, false);
  assert.equal(keys.get(revoked.id).outOfPolicy, false, "a revoked key needs no rotation");
  assert.equal(keys.get(admin.id).outOfPolicy, true, "the admin key too");
  // Its own view says the same, and it still works.
  assert.equal((await call(gw.url, `/v1/api-keys/${forever.id}`, { key: admin.key })).json.outOfPolicy, true);
  assert.equal((await call(gw.url, "/v1/auth/test", { key: forever.key })).status, 200);
  // A roll issues a new secret under the policy: now + the maximum at the latest.
  const before = Date.now();
  const rolled = await call(gw.url, `/v1/api-keys/${forever.id}/roll`, { key: admin.key, method: "POST", body: { expiresIn: 0 } });
  assert.equal(rolled.status, 200, rolled.text);
  assert.equal(rolled.json.outOfPolicy, false);
  assert.ok(ms(rolled.json.rotatedAt) >= before - 1000);
  assert.equal(ms(rolled.json.expiresAt), ms(rolled.json.rotatedAt) + 90 * DAY);
  assert.equal(rolled.json.createdAt, forever.createdAt);
  assert.equal((await listed(admin)).get(forever.id).outOfPolicy, false);
  // A roll keeps an expiry that is already within the policy.
  const rolledShort = await call(gw.url, `/v1/api-keys/${short.id}/roll`, { key: admin.key, method: "POST", body: {} });
  assert.equal(rolledShort.json.expiresAt, short.expiresAt);
});

test("a key's PATCH of expiresAt obeys the policy, counted from when its secret was issued", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Patch" });
  const old = await createKey(gw, { name: "old", scopes: ["read"] }, admin.key);
  assert.equal((await setPolicy(org, 30)).status, 200);
  const patch = (id, expiresAt) => call(gw.url, `/v1/api-keys/${id}`, { key: admin.key, method: "PATCH", body: { expiresAt } });
  const createdAt = ms(old.createdAt);
  const late = await patch(old.id, new Date(createdAt + 31 * DAY).toISOString());
  assert.equal(late.status, 400, late.text);
  assert.equal(late.json.error.field, "expiresAt");
  const never = await patch(old.id, null);
  assert.equal(never.status, 400, never.text);
  assert.equal(never.json.error.field, "expiresAt");
  // Other changes leave an old key's dates alone.
  const renamed = await call(gw.url, `/v1/api-keys/${old.id}`, { key: admin.key, method: "PATCH", body: { name: "renamed" } });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.json.expiresAt, null);
  assert.equal(renamed.json.outOfPolicy, true);
  const within = new Date(createdAt + 29 * DAY).toISOString();
  const ok = await patch(old.id, within);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ms(ok.json.expiresAt), ms(within));
  assert.equal(ok.json.outOfPolicy, false);
  // A tighter policy later: the key keeps its date and is out of policy again.
  assert.equal((await setPolicy(org, 7)).status, 200);
  assert.equal((await listed(admin)).get(old.id).outOfPolicy, true);
  assert.equal((await call(gw.url, `/v1/api-keys/${old.id}`, { key: admin.key })).json.outOfPolicy, true);
});

test("keys created while the policy is set: every one is within it or listed out of it, and those after it answered are within", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Race" });
  const racing = Array.from({ length: 8 }, (_, i) => create(admin, { name: `racer ${i}` }));
  const policy = setPolicy(org, 10);
  const [set, ...made] = await Promise.all([policy, ...racing]);
  assert.equal(set.status, 200, set.text);
  const after = await Promise.all(Array.from({ length: 3 }, (_, i) => create(admin, { name: `after ${i}` })));
  const keys = await listed(admin);
  for (const res of [...made, ...after]) {
    assert.equal(res.status, 201, res.text);
    const key = keys.get(res.json.id);
    assert.ok(key, `${res.json.id} is listed`);
    const within = key.expiresAt !== null && ms(key.expiresAt) <= ms(key.createdAt) + 10 * DAY;
    assert.equal(key.outOfPolicy, !within, JSON.stringify(key));
    // The key's own guard agrees with the listing.
    const own = await call(gw.url, `/v1/api-keys/${key.id}`, { key: admin.key });
    assert.equal(own.json.outOfPolicy, key.outOfPolicy, JSON.stringify(own.json));
  }
  for (const res of after) {
    assert.equal(ms(res.json.expiresAt), ms(res.json.createdAt) + 10 * DAY);
  }
});
