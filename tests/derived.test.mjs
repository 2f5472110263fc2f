// Derived authority kept in step (ARCHITECTURE.md, "Derived authority"): whatever races
// with a change of an organization or of an approving key, once the change has answered
// nothing derived from it is outside it. Races are run as races: concurrent requests,
// several trials, each on fresh objects.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createKey, createOrgWithAdmin, waitFor } from "./harness.mjs";
import { registerApp, signIn, openConsent, submitConsent, exchange, tokenRequest, tokensFor } from "./oauth-flow.mjs";

const TRIALS = 4;
// An approver that may sign in to the dashboard (admin of key management) and holds
// every method on one resource; narrowed, it keeps only reading.
const WIDE = { "api-keys": ["admin"], accounts: ["read", "write", "delete"] };
const NARROW = { "api-keys": ["admin"], accounts: ["read"] };
const ASKED = "accounts:read accounts:write accounts:delete";
const CREATORS = 8;
let gw, origin;
const root = () => ({ key: gw.rootKey });

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url } });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

/** Creates keys with `admin` from `CREATORS` clients at once, each creating keys one after
 * another until `stop()` is true; resolves with every key that was created (201). */
async function createWhile(admin, orgId, stop, spec) {
  const made = [];
  const creator = async (n) => {
    for (let i = 0; !stop() || i === 0; i++) {
      const body = { name: `racer ${n}.${i}`, organizationId: orgId, ...spec(n) };
      const res = await call(gw.url, "/v1/api-keys", { key: admin.key, method: "POST", body });
      if (res.status === 201) made.push(res.json);
      // Refused once the change is in: suspended (403), or asking above the new ceiling (400).
      else if (res.status !== 403 && !(res.status === 400 && /ceiling/.test(res.text))) {
        assert.fail(`create answered ${res.status} ${res.text}`);
      }
      if (i > 40) break;
    }
  };
  await Promise.all(Array.from({ length: CREATORS }, (_, n) => creator(n)));
  return made;
}

test("a suspension that has answered leaves no key of its organization working, whatever was created during it", async () => {
  for (let trial = 0; trial < TRIALS; trial++) {
    const { org, admin } = await createOrgWithAdmin(gw, { name: `Suspended ${trial}` });
    let answered = false;
    // Plain and admin keys, created while the suspension runs.
    const creating = createWhile(admin, org.id, () => answered, (n) => ({ scopes: n % 2 ? ["admin"] : ["read"] }));
    // Let the creators start before the suspension, so that creates straddle it.
    await waitFor(async () => (await call(gw.url, `/v1/api-keys?organizationId=${org.id}`, root())).json.data.length > 2, {
      what: "the first creates",
    });
    const off = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { status: "suspended" } });
    assert.equal(off.status, 200, off.text);
    answered = true;
    const made = await creating;
    assert.ok(made.length > 0, "keys were created during the race");
    const all = [admin, ...made];
    const answers = await Promise.all(all.map((k) => call(gw.url, "/v1/opportunities", { key: k.key })));
    answers.forEach((res, i) => assert.equal(res.status, 403, `trial ${trial}: key ${all[i].name} answered ${res.status} after the suspension`));
    // An admin survivor could also list and create: neither works.
    const asAdmins = made.filter((k) => k.scopes.includes("admin"));
    for (const k of asAdmins.slice(0, 3)) {
      const list = await call(gw.url, "/v1/api-keys", { key: k.key });
      assert.equal(list.status, 403, `trial ${trial}: ${k.name} listed keys`);
    }
  }
});

test("a plan downgrade that has answered leaves no key above the new ceiling, shown or enforced", async () => {
  for (let trial = 0; trial < TRIALS; trial++) {
    const { org, admin } = await createOrgWithAdmin(gw, { name: `Downgraded ${trial}`, plan: "professional" });
    let answered = false;
    const creating = createWhile(admin, org.id, () => answered, () => ({ scopes: ["read"], rateLimit: 4000, burst: 150 }));
    await waitFor(async () => (await call(gw.url, `/v1/api-keys?organizationId=${org.id}`, root())).json.data.length > 2, {
      what: "the first creates",
    });
    const down = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { plan: "starter" } });
    assert.equal(down.status, 200, down.text);
    answered = true;
    const made = await creating;
    assert.ok(made.length > 0);
    for (const k of made) {
      const shown = await call(gw.url, `/v1/api-keys/${k.id}`, root());
      assert.ok(shown.json.rateLimit <= 1000, `trial ${trial}: ${k.name} shows rateLimit ${shown.json.rateLimit}`);
      const used = await call(gw.url, "/v1/opportunities", { key: k.key });
      assert.equal(used.status, 200);
      assert.ok(Number(used.headers.get("x-ratelimit-limit")) <= 1000, `trial ${trial}: ${k.name} enforces ${used.headers.get("x-ratelimit-limit")}`);
    }
  }
});

test("a grant holds no more than its approving key holds now: narrowing, expiry, revocation", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Narrowed" });
  const app = await registerApp(gw, admin.key);
  const approver = await createKey(gw, { name: "approver", scopes: WIDE, organizationId: org.id });
  const tokens = await tokensFor(gw, app, approver.key, { scope: ASKED });
  const asApp = { key: tokens.access_token };
  assert.equal((await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" })).status, 200);
  const narrowed = await call(gw.url, `/v1/api-keys/${approver.id}`, { ...root(), method: "PATCH", body: { scopes: NARROW } });
  assert.equal(narrowed.status, 200, narrowed.text);
  assert.equal((await call(gw.url, "/v1/accounts/1", { key: approver.key, method: "DELETE" })).status, 403);
  assert.equal((await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" })).status, 403, "the token follows its approver");
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200, "what the approver still holds works");
  const refreshed = await tokenRequest(gw, app, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.json.scope, "accounts:read", "a refresh answers what the approver holds");

  // Expiry of the approving key ends its grants.
  const soon = new Date(Date.now() + 3000).toISOString();
  const expiring = await call(gw.url, `/v1/api-keys/${approver.id}`, { ...root(), method: "PATCH", body: { expiresAt: soon } });
  assert.equal(expiring.status, 200, expiring.text);
  const latest = { key: refreshed.json.access_token };
  assert.equal((await call(gw.url, "/v1/accounts/1", latest)).status, 200);
  await waitFor(async () => (await call(gw.url, "/v1/accounts/1", latest)).status === 401, { what: "the approver's expiry" });
  const late = await tokenRequest(gw, app, { grant_type: "refresh_token", refresh_token: refreshed.json.refresh_token });
  assert.equal(late.status, 400);
  assert.equal(late.json.error, "invalid_grant");
});

test("a narrowing that races with consents still bounds every grant they produced", async () => {
  let codes = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const { org, admin } = await createOrgWithAdmin(gw, { name: `Consent race ${trial}` });
    const app = await registerApp(gw, admin.key);
    const approver = await createKey(gw, { name: "approver", scopes: WIDE, organizationId: org.id });
    const cookie = await signIn(gw, approver.key);
    const consents = await Promise.all(Array.from({ length: 6 }, () => openConsent(gw, app, cookie, { scope: ASKED })));
    const submitted = consents.map((c) => submitConsent(gw, c));
    // The narrowing starts once the first consent has answered, while the others are
    // still in flight: grants both before and during the change.
    await Promise.race(submitted);
    const narrowed = await call(gw.url, `/v1/api-keys/${approver.id}`, { ...root(), method: "PATCH", body: { scopes: NARROW } });
    assert.equal(narrowed.status, 200, narrowed.text);
    const decided = await Promise.all(submitted);
    for (const [i, d] of decided.entries()) {
      if (!d.code) continue; // refused: the consent read the narrowed key
      codes++;
      const res = await exchange(gw, app, d.code, consents[i].verifier);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.scope, "accounts:read", `trial ${trial}: a grant took ${res.json.scope}`);
      const del = await call(gw.url, "/v1/accounts/1", { key: res.json.access_token, method: "DELETE" });
      assert.equal(del.status, 403, `trial ${trial}: a token deleted after the narrowing answered`);
    }
  }
  assert.ok(codes > 0, "some consents finished before the narrowing");
});

test("suspending the organization that owns an app stops the app in every organization", async () => {
  const owner = await createOrgWithAdmin(gw, { name: "App maker" });
  const customer = await createOrgWithAdmin(gw, { name: "Customer" });
  const app = await registerApp(gw, owner.admin.key);
  const tokens = await tokensFor(gw, app, customer.admin.key, { scope: "read" });
  assert.equal((await call(gw.url, "/v1/accounts", { key: tokens.access_token })).status, 200);
  // A consent opened before the suspension, submitted after it.
  const cookie = await signIn(gw, customer.admin.key);
  const pending = await openConsent(gw, app, cookie, { scope: "read" });
  const off = await call(gw.url, `/v1/organizations/${owner.org.id}`, { ...root(), method: "PATCH", body: { status: "suspended" } });
  assert.equal(off.status, 200, off.text);
  assert.equal((await call(gw.url, "/v1/accounts", { key: tokens.access_token })).status, 403, "its tokens stop");
  const refresh = await tokenRequest(gw, app, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
  assert.notEqual(refresh.status, 200, "refresh stops");
  const late = await submitConsent(gw, pending);
  assert.equal(late.code, null, "no new grant");
  const on = await call(gw.url, `/v1/organizations/${owner.org.id}`, { ...root(), method: "PATCH", body: { status: "active" } });
  assert.equal(on.status, 200);
  assert.equal((await call(gw.url, "/v1/accounts", { key: tokens.access_token })).status, 200, "reactivation restores it");
});

test("a suspension of the app's organization that races with consents leaves no working grant", async () => {
  for (let trial = 0; trial < TRIALS; trial++) {
    const owner = await createOrgWithAdmin(gw, { name: `Maker ${trial}` });
    const customer = await createOrgWithAdmin(gw, { name: `Buyer ${trial}` });
    const app = await registerApp(gw, owner.admin.key);
    const cookie = await signIn(gw, customer.admin.key);
    const consents = await Promise.all(Array.from({ length: 4 }, () => openConsent(gw, app, cookie, { scope: "read" })));
    const [off, ...decided] = await Promise.all([
      call(gw.url, `/v1/organizations/${owner.org.id}`, { ...root(), method: "PATCH", body: { status: "suspended" } }),
      ...consents.map((c) => submitConsent(gw, c)),
    ]);
    assert.equal(off.status, 200, off.text);
    for (const [i, d] of decided.entries()) {
      if (!d.code) continue;
      const res = await exchange(gw, app, d.code, consents[i].verifier);
      assert.notEqual(res.status, 200, `trial ${trial}: a code issued tokens after the suspension answered`);
    }
  }
});

test("one organization gives one app at most 50 active grants; revoking one makes room", async () => {
  const owner = await createOrgWithAdmin(gw, { name: "Popular app" });
  // A hundred consents in a second or so: the enterprise burst keeps the rate limit
  // out of a test about the grant cap.
  const customer = await createOrgWithAdmin(gw, { name: "Eager customer", plan: "enterprise" });
  const app = await registerApp(gw, owner.admin.key);
  const cookie = await signIn(gw, customer.admin.key);
  const approveOnce = async () => submitConsent(gw, await openConsent(gw, app, cookie, { scope: "read" }));
  for (let i = 0; i < 50; i++) {
    const { code, text } = await approveOnce();
    assert.ok(code, `grant ${i + 1}: ${text}`);
  }
  const over = await approveOnce();
  assert.equal(over.code, null, "the 51st active grant is refused");
  assert.match(over.text, /revoke an authorization/);
  const listed = await call(gw.url, "/v1/oauth-authorizations", { key: customer.admin.key });
  const one = listed.json.data.find((a) => a.status === "active");
  const revoked = await call(gw.url, `/v1/oauth-authorizations/${one.grantId}`, { key: customer.admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200, revoked.text);
  assert.ok((await approveOnce()).code, "room again after a revocation");
});

test("a suspension and a downgrade outlive a restart of the keys' guards", async () => {
  const state = gw.state;
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Restarted", plan: "professional" });
  const reader = await createKey(gw, { name: "reader", scopes: ["read"], organizationId: org.id });
  const patched = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { status: "suspended", plan: "starter" } });
  assert.equal(patched.status, 200, patched.text);
  assert.equal((await call(gw.url, "/v1/accounts", { key: reader.key })).status, 403);
  // Every object starts again from storage alone, as after an eviction or a deploy.
  await gw.stop({ keep: true });
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url }, state, rootKey: gw.rootKey, identityKey: gw.identityKey });
  for (const key of [reader, admin]) {
    const res = await call(gw.url, "/v1/accounts", { key: key.key });
    assert.equal(res.status, 403, `${key.name} works again after a restart: ${res.text}`);
  }
  const on = await call(gw.url, `/v1/organizations/${org.id}`, { ...root(), method: "PATCH", body: { status: "active" } });
  assert.equal(on.status, 200);
  await gw.stop({ keep: true });
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url }, state, rootKey: gw.rootKey, identityKey: gw.identityKey });
  const res = await call(gw.url, "/v1/accounts", { key: reader.key });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-ratelimit-limit"), "1000", "the starter plan, after a restart");
});
