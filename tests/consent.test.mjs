// OAuth consent by a person (issue #22): a member signed in with a passkey approves an
// app; the grant is bounded by their role (a viewer gives `read` only, apps never hold
// `admin`), says who approved it, and follows the member's role and membership.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPasskeyGateway, startOrigin, call, createKey, createOrgWithAdmin } from "./harness.mjs";
import { Authenticator } from "./authenticator.mjs";
import { registerApp, openConsent, submitConsent, exchange, tokensFor } from "./oauth-flow.mjs";

let gw, upstream, site;
const root = () => ({ key: gw.rootKey });

before(async () => {
  upstream = await startOrigin();
  ({ gw, site } = await startPasskeyGateway({ ORIGIN_URL: upstream.url }));
});
after(async () => {
  await gw?.stop();
  await upstream?.close();
});

/** A same-origin call of the pages' (what a browser on `site` sends). */
const page = (path, body, cookie) =>
  call(site, path, {
    method: "POST",
    body: body ?? {},
    headers: { origin: site, accept: "application/json", ...(cookie ? { cookie } : {}) },
  });
const cookieOf = (res) => res.headers.get("set-cookie")?.split(";")[0];

/** A member of `org` with `role`, signed in with a new passkey: their cookie and id. */
async function member(org, role, email) {
  const made = await call(gw.url, `/v1/organizations/${org.id}/invitations`, { ...root(), method: "POST", body: { email, role } });
  assert.equal(made.status, 201, made.text);
  const token = new URL(made.json.url).hash.slice(1);
  const options = await page("/dashboard/passkey/register/options", { token });
  assert.equal(options.status, 200, options.text);
  const auth = new Authenticator({ origin: site });
  const joined = await page("/dashboard/passkey/register", auth.create(options.json.publicKey, { token, name: email }));
  assert.equal(joined.status, 204, joined.text);
  const members = await call(gw.url, `/v1/organizations/${org.id}/members`, root());
  const personId = members.json.data.find((m) => m.email === email).personId;
  return { cookie: cookieOf(joined), personId };
}

/** Consent by a signed-in person (`cookie`) for `scope`; the page's answer or the tokens. */
async function consentAs(app, cookie, scope) {
  const opened = await openConsent({ url: site }, app, cookie, { scope });
  const { code, status, text } = await submitConsent({ url: site }, opened);
  if (!code) return { status, text };
  const tokens = await exchange(gw, app, code, opened.verifier);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
  return { tokens: tokens.json };
}

/** An organization, its admin's app, and a developer who approved it for read, write and
 * delete; `asApp` calls with the grant's access token. */
async function developerGrant(orgName, email) {
  const { org, admin } = await createOrgWithAdmin(gw, { name: orgName, plan: "enterprise" });
  const app = await registerApp(gw, admin.key);
  const dev = await member(org, "developer", email);
  const { tokens } = await consentAs(app, dev.cookie, "read write delete");
  assert.ok(tokens, "a developer may give read, write and delete");
  return { org, admin, app, dev, asApp: { key: tokens.access_token } };
}

test("a member approves an app as a person: the token works within their role and names them", async () => {
  const { org, admin, app, dev, asApp } = await developerGrant("Consent", "dev@example.com");
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200);
  assert.equal((await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" })).status, 200);
  const who = await call(gw.url, "/v1/auth/test", asApp);
  assert.equal(who.status, 200, who.text);
  assert.equal(who.json.keyId, dev.personId, "the approver is the person");
  // Authorized apps and introspection name the person; the audit's actor is the person.
  const listed = await call(gw.url, `/v1/oauth-authorizations?organizationId=${org.id}`, { key: admin.key });
  assert.equal(listed.status, 200, listed.text);
  assert.ok(listed.json.data.some((a) => a.approvedBy === dev.personId), listed.text);
  const seen = await fetch(gw.url + "/oauth/introspect", {
    method: "POST",
    headers: { authorization: `Bearer ${admin.key}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: asApp.key }).toString(),
  });
  const view = await seen.json();
  assert.equal(view.active, true, JSON.stringify(view));
  assert.equal(view.approved_by, dev.personId);
  const audit = await call(gw.url, `/v1/audit-log?organizationId=${org.id}&limit=100`, root());
  const created = audit.json.data.find((e) => e.action === "oauth_grant.created");
  assert.equal(created?.actor?.type, "person", audit.text);
  assert.equal(created.actor.personId, dev.personId);
  // Revoked under Authorized apps: the answer names the person as the list does.
  const grant = listed.json.data.find((a) => a.approvedBy === dev.personId);
  const revoked = await call(gw.url, `/v1/oauth-authorizations/${grant.grantId}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200, revoked.text);
  assert.deepEqual(
    [revoked.json.status, revoked.json.approverEmail, revoked.json.approverName],
    ["revoked", "dev@example.com", "dev@example.com"],
  );
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 401, "a revoked grant's token is refused");
});

test("a viewer can approve read only: a wider request offers only Deny, a read one gives a read-only token", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Viewing", plan: "enterprise" });
  const app = await registerApp(gw, admin.key);
  const viewer = await member(org, "viewer", "viewer@example.com");
  const opened = await fetch(`${site}/oauth/authorize?${new URLSearchParams({
    response_type: "code", client_id: app.clientId, redirect_uri: "https://app.example.com/callback",
    state: "st", scope: "read write", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
  })}`, { headers: { cookie: viewer.cookie }, redirect: "manual" });
  const html = await opened.text();
  assert.equal(opened.status, 200, html);
  assert.match(html, /Your role cannot grant (&#39;|')write(&#39;|')/);
  assert.doesNotMatch(html, /id="approve"/);
  // Approving anyway (a forged form) is refused.
  const forced = await consentAs(app, viewer.cookie, "read write");
  assert.equal(forced.status, 400);
  assert.match(forced.text, /Your role cannot grant (&#39;|')write(&#39;|')/);
  const { tokens } = await consentAs(app, viewer.cookie, "read");
  const asApp = { key: tokens.access_token };
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200);
  assert.equal((await call(gw.url, "/v1/accounts", { ...asApp, method: "POST", body: {} })).status, 403);
});

test("the grant follows its approver's membership: a demotion narrows it at the next call, a removal ends it", async () => {
  const { org, dev, asApp } = await developerGrant("Following", "follow@example.com");
  assert.equal((await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" })).status, 200);
  const demoted = await call(gw.url, `/v1/organizations/${org.id}/members/${dev.personId}`, { ...root(), method: "PATCH", body: { role: "viewer" } });
  assert.equal(demoted.status, 200, demoted.text);
  assert.equal((await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" })).status, 403, "a viewer's grant reads only");
  assert.equal((await call(gw.url, "/v1/accounts", { ...asApp, method: "POST", body: {} })).status, 403);
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200, "what the role still allows works");
  const removed = await call(gw.url, `/v1/organizations/${org.id}/members/${dev.personId}`, { ...root(), method: "DELETE" });
  assert.equal(removed.status, 200, removed.text);
  const after = await call(gw.url, "/v1/accounts/1", asApp);
  assert.ok([401, 403].includes(after.status), `a removed member's grant ends: ${after.status}`);
});

test("race: consents by a person while they are demoted or removed; once the change is answered no grant holds more than the role allows", async () => {
  const CONSENTS = 6;
  let codes = 0;
  for (const [trial, change] of ["demote", "remove", "demote", "remove"].entries()) {
    const { org, admin } = await createOrgWithAdmin(gw, { name: `Race ${trial}`, plan: "enterprise" });
    const app = await registerApp(gw, admin.key);
    const person = await member(org, "admin", `race-${trial}@example.com`);
    const opened = await Promise.all(Array.from({ length: CONSENTS }, () => openConsent({ url: site }, app, person.cookie, { scope: "read write delete" })));
    const submitted = opened.map((o) => submitConsent({ url: site }, o));
    // The change starts once the first consent has answered, while the others are
    // still in flight: grants both before and during the change.
    await Promise.race(submitted);
    const path = `/v1/organizations/${org.id}/members/${person.personId}`;
    const answered =
      change === "demote"
        ? await call(gw.url, path, { ...root(), method: "PATCH", body: { role: "viewer" } })
        : await call(gw.url, path, { ...root(), method: "DELETE" });
    assert.equal(answered.status, 200, answered.text);
    const decided = await Promise.all(submitted);
    for (const [i, d] of decided.entries()) {
      if (!d.code) continue; // refused: the consent read the changed membership
      codes++;
      const tokens = await exchange(gw, app, d.code, opened[i].verifier);
      if (tokens.status !== 200) {
        assert.equal(change, "remove", `trial ${trial}: ${JSON.stringify(tokens.json)}`);
        continue; // a removed member's grant gives no token
      }
      const asApp = { key: tokens.json.access_token };
      const del = await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" });
      assert.ok([401, 403].includes(del.status), `trial ${trial} (${change}): a token deleted after the change answered (${del.status})`);
      const read = await call(gw.url, "/v1/accounts/1", asApp);
      if (change === "demote") assert.equal(read.status, 200, "a viewer's grant still reads");
      else assert.ok([401, 403].includes(read.status), `trial ${trial}: a removed member's grant read (${read.status})`);
    }
  }
  assert.ok(codes > 0, "some consents finished before the change");
});

test("race: a person's ended grants are unlisted when they consent again, while other consents are listed; every live grant still follows their role", async () => {
  for (const trial of [1, 2, 3]) await pruneTrial(trial);
});

async function pruneTrial(trial) {
  const { org, admin } = await createOrgWithAdmin(gw, { name: `Pruning ${trial}`, plan: "enterprise" });
  const app = await registerApp(gw, admin.key);
  const person = await member(org, "developer", `prune-${trial}@example.com`);
  // More grants than the people guard keeps before it prunes (APPROVALS_PRUNED_ABOVE),
  // each consented and then revoked under Authorized apps: ended for good.
  const ENDED = 33;
  for (let i = 0; i < ENDED; i++) {
    const { code } = await submitConsent({ url: site }, await openConsent({ url: site }, app, person.cookie, { scope: "read" }));
    assert.ok(code, `trial ${trial}: consent ${i}`);
  }
  const listed = await call(gw.url, `/v1/oauth-authorizations?organizationId=${org.id}&limit=100`, { key: admin.key });
  assert.equal(listed.status, 200, listed.text);
  const active = listed.json.data.filter((a) => a.approvedBy === person.personId && a.status === "active");
  assert.equal(active.length, ENDED, listed.text);
  for (const { grantId } of active) {
    const revoked = await call(gw.url, `/v1/oauth-authorizations/${grantId}`, { key: admin.key, method: "DELETE" });
    assert.equal(revoked.status, 200, revoked.text);
  }
  // Consents at once: each finds more than the bound listed and prunes, while the
  // others are being listed.
  const LIVE = 4;
  const opened = await Promise.all(Array.from({ length: LIVE }, () => openConsent({ url: site }, app, person.cookie, { scope: "read write delete" })));
  const decided = await Promise.all(opened.map((o) => submitConsent({ url: site }, o)));
  const tokens = [];
  for (const [i, d] of decided.entries()) {
    assert.ok(d.code, `live consent ${i}: ${d.status} ${d.text?.slice(0, 200)}`);
    const issued = await exchange(gw, app, d.code, opened[i].verifier);
    assert.equal(issued.status, 200, JSON.stringify(issued.json));
    tokens.push(issued.json.access_token);
  }
  // What the organization's people guard lists under the person: the live grants only.
  const guards = await gw.mf.getDurableObjectNamespace("PEOPLE_GUARD");
  const asked = await guards.getByName(org.id.replace(/^org_/, "")).run(JSON.stringify({ ApprovedBy: person.personId }));
  const { grants } = JSON.parse(asked).Approvals;
  const live = (await call(gw.url, `/v1/oauth-authorizations?organizationId=${org.id}&limit=100`, { key: admin.key })).json.data
    .filter((a) => a.approvedBy === person.personId && a.status === "active")
    .map((a) => a.grantId);
  assert.equal(live.length, LIVE);
  assert.deepEqual([...grants].sort(), [...live].sort(), `trial ${trial}: ended grants unlisted, every live one kept`);
  // A demotion still reaches every live grant.
  const demoted = await call(gw.url, `/v1/organizations/${org.id}/members/${person.personId}`, { ...root(), method: "PATCH", body: { role: "viewer" } });
  assert.equal(demoted.status, 200, demoted.text);
  for (const token of tokens) {
    assert.equal((await call(gw.url, "/v1/accounts/1", { key: token, method: "DELETE" })).status, 403, "a viewer's grant does not delete");
  }
}

/** Serves the same storage again, with grant guards that fail every call (`faulty`) or
 * healthy ones; `gw` is the new gateway. */
async function restart({ faulty }) {
  const again = { site, state: gw.state, rootKey: gw.rootKey, identityKey: gw.identityKey };
  await gw.stop({ keep: true });
  gw = undefined; // stopped: nothing for `after` to stop should the restart fail
  const fault = faulty ? { guard: "throwing", guardBinding: "GRANT_GUARD" } : {};
  ({ gw } = await startPasskeyGateway({ ORIGIN_URL: upstream.url }, { ...again, ...fault }));
}

test("a key's revocation whose push to its grants fails says it was saved; revoking it again finishes it and its app's token stops", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Faulty revocation", plan: "enterprise" });
  const app = await registerApp(gw, admin.key);
  const approving = await createKey(gw, { name: "approver", scopes: ["read", "write", "delete", "admin"], organizationId: org.id });
  const tokens = await tokensFor(gw, app, approving.key, { scope: "read" });
  const asApp = { key: tokens.access_token };
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200);
  await restart({ faulty: true });
  const revoke = () => call(gw.url, `/v1/api-keys/${approving.id}`, { key: admin.key, method: "DELETE" });
  const failed = await revoke();
  assert.equal(failed.status, 503, failed.text);
  assert.match(failed.json.error.details, /The change was saved.*send the same request again/);
  assert.equal((await call(gw.url, "/v1/accounts/1", { key: approving.key })).status, 401, "the key itself is revoked");
  await restart({ faulty: false });
  const repeated = await revoke();
  assert.equal(repeated.status, 200, repeated.text);
  assert.equal(repeated.json.status, "revoked");
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 401, "the grant it approved ends");
});

test("a role change whose push to the grants fails says it was saved and to send it again; sent again, the grants follow", async () => {
  const { org, dev, asApp } = await developerGrant("Faulty push", "faulty@example.com");
  // The same storage, served again with grant guards that fail every call.
  await restart({ faulty: true });
  const path = `/v1/organizations/${org.id}/members/${dev.personId}`;
  const demote = () => call(gw.url, path, { ...root(), method: "PATCH", body: { role: "viewer" } });
  const failed = await demote();
  assert.equal(failed.status, 503, failed.text);
  assert.equal(failed.json.error.code, "service_unavailable");
  assert.match(failed.json.error.details, /The change was saved.*send the same request again/);
  assert.ok(failed.headers.get("retry-after"), "a 503 says when to retry");
  const members = await call(gw.url, `/v1/organizations/${org.id}/members`, root());
  assert.equal(members.json.data.find((m) => m.personId === dev.personId).role, "viewer", "the change was saved");
  // Healthy again: the same request finishes it.
  await restart({ faulty: false });
  const repeated = await demote();
  assert.equal(repeated.status, 200, repeated.text);
  assert.equal((await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" })).status, 403, "the grant holds a viewer's terms");
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200);
});
