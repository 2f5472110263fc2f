// OAuth consent by a person (issue #22): a member signed in with a passkey approves an
// app; the grant is bounded by their role (a viewer gives `read` only, apps never hold
// `admin`), says who approved it, and follows the member's role and membership.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createOrgWithAdmin, freePort } from "./harness.mjs";
import { Authenticator } from "./authenticator.mjs";
import { registerApp, openConsent, submitConsent, exchange } from "./oauth-flow.mjs";

let gw, upstream, site;
const root = () => ({ key: gw.rootKey });

before(async () => {
  const port = await freePort();
  site = `http://localhost:${port}`;
  upstream = await startOrigin();
  gw = await startGateway({
    port,
    vars: { PASSKEY_ORIGINS: site, PASSKEY_RP_ID: "localhost", ORIGIN_URL: upstream.url },
  });
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

test("a member approves an app as a person: the token works within their role and names them", async () => {
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Consent", plan: "enterprise" });
  const app = await registerApp(gw, admin.key);
  const dev = await member(org, "developer", "dev@example.com");
  const { tokens } = await consentAs(app, dev.cookie, "read write delete");
  assert.ok(tokens, "a developer may give read, write and delete");
  const asApp = { key: tokens.access_token };
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
    body: new URLSearchParams({ token: tokens.access_token }).toString(),
  });
  const view = await seen.json();
  assert.equal(view.active, true, JSON.stringify(view));
  assert.equal(view.approved_by, dev.personId);
  const audit = await call(gw.url, `/v1/audit-log?organizationId=${org.id}&limit=100`, root());
  const created = audit.json.data.find((e) => e.action === "oauth_grant.created");
  assert.equal(created?.actor?.type, "person", audit.text);
  assert.equal(created.actor.personId, dev.personId);
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
