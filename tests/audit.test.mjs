// Creation events say what was created: minting an admin key must read as one in the
// audit log. `changes` carries each field of the new object's public view as
// {"before": null, "after": value}, as updates carry theirs, and never a secret or hash.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createKey, createOrgWithAdmin } from "./harness.mjs";
import { registerApp, tokensFor } from "./oauth-flow.mjs";

let gw, org, admin;
before(async () => {
  gw = await startGateway();
  ({ org, admin } = await createOrgWithAdmin(gw, { name: "Audited", plan: "professional" }));
});
after(async () => {
  await gw?.stop();
});

/** The organization's events, newest first. */
async function events() {
  const res = await call(gw.url, `/v1/audit-log?organizationId=${org.id}&limit=100`, { key: gw.rootKey });
  assert.equal(res.status, 200, res.text);
  return res.json.data;
}

/** Asserts `changes` is exactly the public view `shown`, each field from null. */
function describesCreation(event, shown, withheld) {
  assert.deepEqual(event.target, { type: event.target.type, id: event.target.id }, "target holds only type and id");
  assert.ok(event.changes, `${event.action} carries changes`);
  for (const [field, value] of Object.entries(shown)) {
    if (withheld.includes(field)) continue;
    assert.deepEqual(event.changes[field], { before: null, after: value }, `${event.action}: ${field}`);
  }
  for (const field of withheld) assert.equal(event.changes[field], undefined, `${event.action}: no ${field}`);
  assert.deepEqual(Object.keys(event.changes).sort(), Object.keys(shown).filter((f) => !withheld.includes(f)).sort());
  const text = JSON.stringify(event);
  assert.ok(!/sk_(live|test)_[0-9A-Za-z]{54}/.test(text), "no key secret");
  assert.ok(!/scs_[0-9A-Za-z]{43}/.test(text), "no client secret");
  assert.ok(!/[0-9a-f]{64}/.test(text), "no hash");
}

test("api_key.created says what was created: an admin key reads as one", async () => {
  const minted = await createKey(gw, { name: "minted", scopes: ["read", "admin"], rateLimit: 100 }, admin.key);
  const event = (await events()).find((e) => e.action === "api_key.created" && e.target.id === minted.id);
  assert.ok(event);
  assert.deepEqual(event.actor, { type: "key", keyId: admin.id });
  const { key: secret, ...shown } = minted;
  describesCreation(event, shown, []);
  assert.deepEqual(event.changes.scopes, { before: null, after: ["read", "admin"] });
  assert.ok(!JSON.stringify(event).includes(secret));
});

test("oauth_client.created and organization.created say what was created, never the secret", async () => {
  const app = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "Reporting app", redirectUris: ["https://app.example/cb"], scopes: ["read"], type: "confidential" },
  });
  assert.equal(app.status, 201, app.text);
  const event = (await events()).find((e) => e.action === "oauth_client.created" && e.target.id === app.json.clientId);
  assert.ok(event);
  describesCreation(event, app.json, ["clientSecret"]);
  assert.ok(!JSON.stringify(event).includes(app.json.clientSecret));
  // The organization's own creation (by the root key, in before()).
  const created = (await events()).find((e) => e.action === "organization.created");
  assert.ok(created);
  assert.deepEqual(created.actor, { type: "root" });
  describesCreation(created, org, []);
  assert.deepEqual(created.changes.plan, { before: null, after: "professional" });
});

test("oauth_grant.created says what was granted: every field of the grant's listing, and its scope", async () => {
  const app = await registerApp(gw, admin.key, { scopes: ["read", "write"] });
  await tokensFor(gw, app, admin.key, { scope: "read" });
  const listed = await call(gw.url, "/v1/oauth-authorizations", { key: admin.key });
  const grant = listed.json.data.find((g) => g.clientId === app.clientId);
  const event = (await events()).find((e) => e.action === "oauth_grant.created" && e.target.id === grant.grantId);
  assert.ok(event);
  const { scope, ...fields } = event.changes;
  assert.deepEqual(scope, { before: null, after: "read" });
  describesCreation({ ...event, changes: fields }, grant, []);
});
