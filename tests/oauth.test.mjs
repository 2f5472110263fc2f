// OAuth 2.0 over raw HTTP, for what a client library will not do: apps registered and
// refused, the consent form (session cookie, CSRF), redirect URI mismatch (no redirect),
// PKCE missing / plain / wrong, code reuse, wrong client secret, scope escalation,
// refresh rotation and reuse, JSON and form bodies, revocation, introspection, the app's
// deletion, and access tokens on the hot path (scopes, identity headers, audit log).
// The libraries' own flows (oauth4webapi, authlib, a real browser) are oauth-clients.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { startGateway, startOrigin, call, createKey, createOrgWithAdmin, rawRequest, pkce, storedFiles } from "./harness.mjs";
import { crc32, base62 } from "../scripts/root-key.mjs";
import { DatabaseSync } from "node:sqlite";
import { signIn as signInWith, registerApp as registerAppWith, tokensFor as tokensForWith, tokenRequest as tokenRequestWith } from "./oauth-flow.mjs";

let gw, origin, org, admin, readOnlyAdmin, otherOrg, otherAdmin;
const REDIRECT = "https://app.example.com/callback";
// A secret-scanning partner's signing key, published to the gateway (tests/scanning.test.mjs
// covers the protocol; here it reports OAuth tokens).
const scanner = generateKeyPairSync("ec", { namedCurve: "P-256" });
const SCANNER_KEY_ID = "0a".repeat(32);
const SCANNER_KEYS = JSON.stringify({
  public_keys: [{ key_identifier: SCANNER_KEY_ID, key: scanner.publicKey.export({ type: "spki", format: "pem" }), is_current: true }],
});

before(async () => {
  origin = await startOrigin("live");
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url, SECRET_SCANNING_PUBLIC_KEYS: SCANNER_KEYS } });
  ({ org, admin } = await createOrgWithAdmin(gw));
  // Admin of key management only, and read on opportunities: it may sign in, but
  // cannot hand an app write.
  readOnlyAdmin = await createKey(gw, {
    name: "acme reader",
    scopes: { "api-keys": ["admin"], opportunities: ["read"] },
    organizationId: org.id,
  });
  const other = await call(gw.url, "/v1/organizations", {
    key: gw.rootKey,
    method: "POST",
    body: { name: "Globex", plan: "starter" },
  });
  otherOrg = other.json;
  otherAdmin = await createKey(gw, { name: "globex admin", scopes: ["read", "admin"], organizationId: otherOrg.id });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

async function registerApp(spec = {}, key = admin.key) {
  const res = await call(gw.url, "/v1/oauth-clients", {
    key,
    method: "POST",
    body: { name: "Pipeline CRM", redirectUris: [REDIRECT], scopes: ["read", "write"], type: "confidential", ...spec },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

/** Signs in to the dashboard; returns the session cookie. */
function signIn(key) {
  return signInWith(gw, key);
}

function authorizeUrl(app, params = {}) {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: app.clientId,
    redirect_uri: REDIRECT,
    state: "st-" + Math.random(),
    ...params,
  });
  for (const [k, v] of Object.entries(params)) if (v === undefined) q.delete(k);
  return `/oauth/authorize?${q}`;
}

async function getAuthorize(path, cookie) {
  const res = await fetch(gw.url + path, { headers: cookie ? { cookie } : {}, redirect: "manual" });
  return { status: res.status, location: res.headers.get("location"), headers: res.headers, text: await res.text() };
}

/** The consent page's hidden fields. */
function formFields(html) {
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]] = m[2].replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  }
  return fields;
}

async function decide(cookie, fields, decision, { originHeader = gw.url } = {}) {
  const headers = { cookie, "content-type": "application/x-www-form-urlencoded" };
  if (originHeader) headers.origin = originHeader;
  const res = await fetch(gw.url + "/oauth/authorize", {
    method: "POST",
    headers,
    body: new URLSearchParams({ ...fields, decision }).toString(),
    redirect: "manual",
  });
  return { status: res.status, location: res.headers.get("location"), setCookie: res.headers.get("set-cookie"), text: await res.text() };
}

/** Consent by `key` for `app`; returns the code (and the redirect's params). */
async function approve(app, { key = admin.key, params = {}, challenge } = {}) {
  const cookie = await signIn(key);
  const page = await getAuthorize(authorizeUrl(app, { code_challenge: challenge, code_challenge_method: "S256", ...params }), cookie);
  assert.equal(page.status, 200, page.text);
  const answer = await decide(cookie, formFields(page.text), "approve");
  assert.equal(answer.status, 303, answer.text);
  const back = new URL(answer.location);
  return back.searchParams;
}

function basic(app) {
  return "Basic " + Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret)}`).toString("base64");
}

async function tokenRequest(body, { app, json = false, auth } = {}) {
  const headers = { "content-type": json ? "application/json" : "application/x-www-form-urlencoded" };
  if (auth ?? (app && basic(app))) headers.authorization = auth ?? basic(app);
  const res = await fetch(gw.url + "/oauth/token", {
    method: "POST",
    headers,
    body: json ? JSON.stringify(body) : new URLSearchParams(body).toString(),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Consent by `key` (the organization's admin by default), then the code exchanged. */
async function tokensFor(app, { scope, key } = {}) {
  const { verifier, challenge } = pkce();
  const params = await approve(app, { key, challenge, params: scope ? { scope } : {} });
  const res = await tokenRequest(
    { grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT, code_verifier: verifier },
    { app },
  );
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json;
}

test("metadata names every endpoint, S256 only, and iss in the authorization response", async () => {
  const res = await call(gw.url, "/.well-known/oauth-authorization-server");
  assert.equal(res.status, 200);
  const m = res.json;
  assert.equal(m.issuer, gw.url);
  for (const name of ["authorization", "token", "revocation", "introspection"]) {
    assert.ok(m[`${name}_endpoint`].startsWith(gw.url + "/oauth/"), name);
  }
  assert.deepEqual(m.code_challenge_methods_supported, ["S256"]);
  assert.equal(m.authorization_response_iss_parameter_supported, true);
  assert.deepEqual(m.grant_types_supported, ["authorization_code", "refresh_token"]);
});

test("apps: registered by an admin, secret shown once, redirect URIs and scopes checked", async () => {
  const app = await registerApp();
  assert.match(app.clientId, /^app_[0-9A-Za-z]{24}$/);
  assert.match(app.clientSecret, /^scs_[0-9A-Za-z]{43}$/);
  assert.equal(app.organizationId, org.id);
  const got = await call(gw.url, `/v1/oauth-clients/${app.clientId}`, { key: admin.key });
  assert.equal(got.status, 200);
  assert.equal(got.json.clientSecret, undefined, "the secret is never shown again");
  const pub = await registerApp({ type: "public", redirectUris: ["http://127.0.0.1:4567/cb"] });
  assert.equal(pub.clientSecret, undefined);
  for (const [redirectUris, why] of [
    [["http://app.example.com/cb"], /https/],
    [["https://app.example.com/cb#x"], /fragment/],
    [["https://*.example.com/cb"], /wildcard/],
    [[], /1 to 10/],
  ]) {
    const res = await call(gw.url, "/v1/oauth-clients", {
      key: admin.key,
      method: "POST",
      body: { name: "x", redirectUris, scopes: ["read"], type: "public" },
    });
    assert.equal(res.status, 400, JSON.stringify(redirectUris));
    assert.match(res.json.error.details, why);
  }
  const adminScope = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "x", redirectUris: [REDIRECT], scopes: ["admin"], type: "public" },
  });
  assert.equal(adminScope.status, 400);
  const list = await call(gw.url, "/v1/oauth-clients", { key: admin.key });
  assert.ok(list.json.data.some((c) => c.clientId === app.clientId));
  assert.equal((await call(gw.url, `/v1/oauth-clients/${app.clientId}`, { key: otherAdmin.key })).status, 404, "another organization's app does not exist to it");
  const patched = await call(gw.url, `/v1/oauth-clients/${app.clientId}`, {
    key: admin.key,
    method: "PATCH",
    body: { name: "Pipeline CRM 2" },
  });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.name, "Pipeline CRM 2");
  const audit = await call(gw.url, "/v1/audit-log", { key: admin.key });
  const actions = audit.json.data.map((e) => e.action);
  assert.ok(actions.includes("oauth_client.created"));
  assert.ok(actions.includes("oauth_client.updated"));
  const noKey = await call(gw.url, "/v1/oauth-clients", { key: (await createKey(gw, { name: "r", scopes: ["read"], organizationId: org.id })).key });
  assert.equal(noKey.status, 403, "registering apps needs admin");
});

test("the whole flow: consent, code, tokens, the API with the token, refresh, revoke", async () => {
  const app = await registerApp({ scopes: { opportunities: ["read", "write"] } });
  const { verifier, challenge } = pkce();
  const signInFirst = await getAuthorize(authorizeUrl(app, { code_challenge: challenge, code_challenge_method: "S256", scope: "opportunities:read" }));
  assert.equal(signInFirst.status, 303, "not signed in: sent to the sign-in");
  assert.match(signInFirst.location, /^\/dashboard\/signin\?next=%2Foauth%2Fauthorize%3F/);

  const cookie = await signIn(admin.key);
  const page = await getAuthorize(authorizeUrl(app, { code_challenge: challenge, code_challenge_method: "S256", scope: "opportunities:read", state: "xyz" }), cookie);
  assert.equal(page.status, 200);
  assert.match(page.text, /Pipeline CRM/);
  assert.match(page.text, /Acme/);
  assert.match(page.text, /<code>read<\/code> on opportunities/);
  assert.match(page.headers.get("content-security-policy"), /form-action 'self' https:\/\/app\.example\.com/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");

  const fields = formFields(page.text);
  const forged = await decide(cookie, { ...fields, csrf_token: "0".repeat(64) }, "approve");
  assert.equal(forged.status, 403, "a decision without the session's CSRF token is refused");
  const crossSite = await decide(cookie, fields, "approve", { originHeader: "https://evil.example" });
  assert.equal(crossSite.status, 403);

  const approved = await decide(cookie, fields, "approve");
  assert.equal(approved.status, 303);
  const back = new URL(approved.location);
  assert.equal(back.origin + back.pathname, REDIRECT);
  assert.equal(back.searchParams.get("state"), "xyz");
  assert.equal(back.searchParams.get("iss"), gw.url);
  const code = back.searchParams.get("code");
  assert.match(code, /^sac_/);

  const tokens = await tokenRequest(
    { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier },
    { app },
  );
  assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
  assert.equal(tokens.headers.get("cache-control"), "no-store");
  assert.equal(tokens.json.token_type, "Bearer");
  assert.equal(tokens.json.expires_in, 3600);
  assert.equal(tokens.json.scope, "opportunities:read");
  assert.match(tokens.json.access_token, /^sat_[0-9A-Za-z]{54}$/);
  assert.match(tokens.json.refresh_token, /^srt_[0-9A-Za-z]{54}$/);

  // The token on the hot path: its scopes, the plan's limits, the identity headers.
  const before = origin.received.length;
  const read = await call(gw.url, "/v1/opportunities", { key: tokens.json.access_token });
  assert.equal(read.status, 200, read.text);
  assert.equal(read.headers.get("x-ratelimit-limit"), "1000", "the organization's starter plan");
  const seen = origin.received[before];
  assert.equal(seen.headers["x-scopien-client-id"], app.clientId);
  assert.match(seen.headers["x-scopien-grant-id"], /^grant_/);
  // The app is its own subject: never the approving admin's key id, which an origin
  // authorising by key id or `sub` would take for the admin itself.
  assert.equal(seen.headers["x-scopien-key-id"], undefined, "an app is not the key that approved it");
  assert.equal(seen.headers["x-scopien-approved-by"], admin.id, "the approving key, under its own name");
  assert.equal(seen.headers["x-scopien-org-id"], org.id);
  assert.equal(seen.headers.authorization, undefined, "the token never reaches the origin");
  const [, payload] = seen.headers["x-scopien-identity"].split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url"));
  assert.equal(claims.sub, seen.headers["x-scopien-grant-id"], "the subject is the grant");
  assert.notEqual(claims.sub, admin.id);
  assert.equal(claims.client_id, app.clientId);
  assert.equal(claims.grant_id, seen.headers["x-scopien-grant-id"]);
  assert.equal(claims.approved_by, admin.id);
  const write = await call(gw.url, "/v1/opportunities", { key: tokens.json.access_token, method: "POST", body: {} });
  assert.equal(write.status, 403, "approved read only");
  assert.match(write.json.error.details, /'write' permission for opportunities/);
  const keys = await call(gw.url, "/v1/api-keys", { key: tokens.json.access_token });
  assert.equal(keys.status, 403, "an app never reaches the management API");

  // Refresh: rotated; the old refresh token replayed revokes the whole grant.
  const refreshed = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.json.refresh_token }, { app });
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.json));
  assert.notEqual(refreshed.json.refresh_token, tokens.json.refresh_token);
  assert.equal((await call(gw.url, "/v1/opportunities", { key: refreshed.json.access_token })).status, 200);
  const replay = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.json.refresh_token }, { app });
  assert.equal(replay.status, 400);
  assert.equal(replay.json.error, "invalid_grant");
  const after = await call(gw.url, "/v1/opportunities", { key: refreshed.json.access_token });
  assert.equal(after.status, 401, "a replayed refresh token revokes the grant at once");
  assert.match(after.headers.get("www-authenticate"), /invalid_token/);

  const audit = await call(gw.url, "/v1/audit-log", { key: admin.key });
  const grantEvents = audit.json.data.filter((e) => e.target.type === "oauth_grant").map((e) => e.action);
  assert.deepEqual(grantEvents.slice(0, 2), ["oauth_grant.revoked", "oauth_grant.created"]);
  const [revokedEvent, createdEvent] = audit.json.data.filter((e) => e.target.type === "oauth_grant");
  assert.match(revokedEvent.reason, /already used/, "why the gateway revoked it");
  assert.deepEqual(revokedEvent.changes, { status: { before: "active", after: "revoked" } });
  assert.deepEqual(createdEvent.changes.scope, { before: null, after: "opportunities:read" });
});

test("redirect URI not registered exactly, or an unknown app: an error page, never a redirect", async () => {
  const app = await registerApp();
  const cookie = await signIn(admin.key);
  const { challenge } = pkce();
  for (const path of [
    authorizeUrl(app, { redirect_uri: "https://app.example.com/callback/", code_challenge: challenge, code_challenge_method: "S256" }),
    authorizeUrl(app, { redirect_uri: "https://evil.example/callback", code_challenge: challenge, code_challenge_method: "S256" }),
    authorizeUrl({ clientId: "app_" + "x".repeat(24) }, { code_challenge: challenge, code_challenge_method: "S256" }),
    authorizeUrl({ clientId: "nonsense" }),
  ]) {
    const res = await getAuthorize(path, cookie);
    assert.equal(res.status, 400, path);
    assert.equal(res.location, null, "no redirect");
    assert.match(res.headers.get("content-type"), /text\/html/);
    assert.match(res.text, /cannot be completed/);
  }
});

test("PKCE: required, S256 only, and the verifier must match", async () => {
  const app = await registerApp();
  const cookie = await signIn(admin.key);
  const missing = await getAuthorize(authorizeUrl(app), cookie);
  assert.equal(missing.status, 303);
  const m = new URL(missing.location);
  assert.equal(m.searchParams.get("error"), "invalid_request");
  assert.match(m.searchParams.get("error_description"), /PKCE/);
  assert.equal(m.searchParams.get("iss"), gw.url);
  const plain = await getAuthorize(authorizeUrl(app, { code_challenge: "a".repeat(43), code_challenge_method: "plain" }), cookie);
  assert.equal(new URL(plain.location).searchParams.get("error"), "invalid_request");

  const { challenge } = pkce();
  const params = await approve(app, { challenge });
  const wrong = await tokenRequest(
    { grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT, code_verifier: pkce().verifier },
    { app },
  );
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error, "invalid_grant");
  const none = await tokenRequest({ grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT }, { app });
  assert.equal(none.json.error, "invalid_grant");
});

test("a code works once; its second use fails and revokes what the first issued", async () => {
  const app = await registerApp();
  const { verifier, challenge } = pkce();
  const params = await approve(app, { challenge });
  const body = { grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT, code_verifier: verifier };
  const first = await tokenRequest(body, { app });
  assert.equal(first.status, 200);
  assert.equal((await call(gw.url, "/v1/things", { key: first.json.access_token })).status, 200);
  const second = await tokenRequest(body, { app });
  assert.equal(second.status, 400);
  assert.equal(second.json.error, "invalid_grant");
  assert.equal((await call(gw.url, "/v1/things", { key: first.json.access_token })).status, 401);
  const refresh = await tokenRequest({ grant_type: "refresh_token", refresh_token: first.json.refresh_token }, { app });
  assert.equal(refresh.json.error, "invalid_grant");
});

test("client authentication: Basic, post, JSON body, public apps; a wrong secret is invalid_client", async () => {
  const app = await registerApp();
  const { verifier, challenge } = pkce();
  const params = await approve(app, { challenge });
  const body = { grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT, code_verifier: verifier };
  const wrong = await tokenRequest(body, { auth: "Basic " + Buffer.from(`${app.clientId}:scs_wrong`).toString("base64") });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, "invalid_client");
  assert.match(wrong.headers.get("www-authenticate"), /^Basic realm="scopien"/);
  const noAuth = await tokenRequest(body, { auth: "" });
  assert.equal(noAuth.status, 401);
  // The spec's example body: JSON, secret in the body (client_secret_post).
  const json = await tokenRequest({ ...body, client_id: app.clientId, client_secret: app.clientSecret }, { json: true, auth: "" });
  assert.equal(json.status, 200, JSON.stringify(json.json));
  assert.ok(json.json.access_token);

  const pub = await registerApp({ type: "public" });
  const p = pkce();
  const pubParams = await approve(pub, { challenge: p.challenge });
  const pubTokens = await tokenRequest(
    { grant_type: "authorization_code", code: pubParams.get("code"), redirect_uri: REDIRECT, code_verifier: p.verifier, client_id: pub.clientId },
    { auth: "" },
  );
  assert.equal(pubTokens.status, 200, JSON.stringify(pubTokens.json));
  const other = await tokenRequest(
    { grant_type: "refresh_token", refresh_token: pubTokens.json.refresh_token },
    { app },
  );
  assert.equal(other.json.error, "invalid_grant", "another app cannot use this grant's refresh token");
  const unsupported = await tokenRequest({ grant_type: "password", username: "a", password: "b" }, { app });
  assert.equal(unsupported.json.error, "unsupported_grant_type");
  const textBody = await fetch(gw.url + "/oauth/token", { method: "POST", headers: { "content-type": "text/plain", authorization: basic(app) }, body: "x" });
  assert.equal(textBody.status, 400);
  assert.equal((await textBody.json()).error, "invalid_request");
});

test("scopes: never more than the app may ask for, nor than the approving key holds", async () => {
  const app = await registerApp({ scopes: ["read", "write"] });
  const perResource = await registerApp({ scopes: { opportunities: ["read", "write"] } });
  const cookie = await signIn(admin.key);
  const { challenge } = pkce();
  const escalate = await getAuthorize(authorizeUrl(app, { scope: "read delete", code_challenge: challenge, code_challenge_method: "S256" }), cookie);
  assert.equal(escalate.status, 303);
  assert.equal(new URL(escalate.location).searchParams.get("error"), "invalid_scope");
  const readerCookie = await signIn(readOnlyAdmin.key);
  const page = await getAuthorize(
    authorizeUrl(perResource, { scope: "opportunities:read opportunities:write", code_challenge: challenge, code_challenge_method: "S256" }),
    readerCookie,
  );
  assert.equal(page.status, 200);
  assert.match(page.text, /cannot grant 'write' on opportunities/);
  assert.doesNotMatch(page.text, /id="approve"/);
  const forced = await decide(readerCookie, formFields(page.text), "approve");
  assert.equal(forced.status, 400, "posting Approve anyway is refused");
  assert.equal(forced.location, null);

  const tokens = await tokensFor(app, { scope: "read write" });
  const narrower = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, scope: "read" }, { app });
  assert.equal(narrower.status, 200);
  assert.equal(narrower.json.scope, "read");
  const wider = await tokenRequest({ grant_type: "refresh_token", refresh_token: narrower.json.refresh_token, scope: "read delete" }, { app });
  assert.equal(wider.json.error, "invalid_scope");
});

test("deny sends access_denied back with state and iss", async () => {
  const app = await registerApp();
  const cookie = await signIn(admin.key);
  const { challenge } = pkce();
  const page = await getAuthorize(authorizeUrl(app, { state: "s-deny", code_challenge: challenge, code_challenge_method: "S256" }), cookie);
  const denied = await decide(cookie, formFields(page.text), "deny");
  assert.equal(denied.status, 303);
  const back = new URL(denied.location);
  assert.equal(back.searchParams.get("error"), "access_denied");
  assert.equal(back.searchParams.get("state"), "s-deny");
  assert.equal(back.searchParams.get("iss"), gw.url);
});

test("'Not you? Sign out' ends the session and sends the same request through the sign-in, for whoever signs in next", async () => {
  const app = await registerApp();
  const { challenge } = pkce();
  const request = authorizeUrl(app, { state: "s-switch", code_challenge: challenge, code_challenge_method: "S256", scope: "read" });
  const cookie = await signIn(admin.key);
  const page = await getAuthorize(request, cookie);
  assert.equal(page.status, 200, page.text);
  assert.match(page.text, /<button type="submit" form="consent" name="decision" value="switch"[^>]*>Not you\? Sign out<\/button>/);
  const fields = formFields(page.text);

  // Like every decision, only from the consent page: a forged one changes nothing.
  const forged = await decide(cookie, { ...fields, csrf_token: "0".repeat(64) }, "switch");
  assert.equal(forged.status, 403);
  assert.equal((await getAuthorize(request, cookie)).status, 200, "the session survives a forged sign-out");

  const switched = await decide(cookie, fields, "switch");
  assert.equal(switched.status, 303, switched.text);
  assert.match(switched.setCookie ?? "", /Max-Age=0/, "the browser forgets the session");
  const signInPage = new URL(switched.location, gw.url);
  assert.equal(signInPage.pathname, "/dashboard/signin");
  const next = new URL(signInPage.searchParams.get("next"), gw.url);
  assert.equal(next.pathname, "/oauth/authorize");
  const asked = new URL(request, gw.url).searchParams;
  assert.deepEqual(
    Object.fromEntries(next.searchParams),
    Object.fromEntries(asked),
    "the same request, and nothing of the form (no CSRF token, no decision)",
  );
  // The old session is over on the gateway, not only in the browser.
  const after = await getAuthorize(request, cookie);
  assert.equal(after.status, 303);
  assert.match(after.location, /^\/dashboard\/signin\?next=/);
  // Someone else signs in and lands on the same request, as themselves.
  const other = await signIn(readOnlyAdmin.key);
  const theirs = await getAuthorize(next.pathname + next.search, other);
  assert.equal(theirs.status, 200, theirs.text);
  assert.match(theirs.text, new RegExp(`Signed in with <code>${readOnlyAdmin.id}</code>`));
});

test("revocation (RFC 7009), introspection (RFC 7662), Authorized apps, and deleting the app", async () => {
  const app = await registerApp();
  const tokens = await tokensFor(app);
  const introspect = async (token, auth) => {
    const res = await fetch(gw.url + "/oauth/introspect", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: auth },
      body: new URLSearchParams({ token }).toString(),
    });
    return { status: res.status, json: await res.json() };
  };
  const mine = await introspect(tokens.access_token, basic(app));
  assert.equal(mine.json.active, true);
  assert.equal(mine.json.client_id, app.clientId);
  assert.equal(mine.json.sub, mine.json.grant_id, "the token's subject is its grant, not the approving key");
  assert.equal(mine.json.approved_by, admin.id);
  assert.equal(mine.json.scope, "read write");
  const byAdmin = await introspect(tokens.refresh_token, `Bearer ${admin.key}`);
  assert.equal(byAdmin.json.active, true);
  const byOtherOrg = await introspect(tokens.access_token, `Bearer ${otherAdmin.key}`);
  assert.equal(byOtherOrg.json.active, false, "another organization's admin learns nothing");
  const otherApp = await registerApp();
  assert.equal((await introspect(tokens.access_token, basic(otherApp))).json.active, false);

  const listed = await call(gw.url, "/v1/oauth-authorizations", { key: admin.key });
  const grantId = mine.json.grant_id;
  assert.ok(listed.json.data.some((g) => g.grantId === grantId && g.status === "active"));

  const revoke = await fetch(gw.url + "/oauth/revoke", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(app) },
    body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: "refresh_token" }).toString(),
  });
  assert.equal(revoke.status, 200);
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 401, "refused on the very next request");
  assert.equal((await introspect(tokens.access_token, basic(app))).json.active, false);
  const unknown = await fetch(gw.url + "/oauth/revoke", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(app) },
    body: "token=nonsense",
  });
  assert.equal(unknown.status, 200, "RFC 7009: unknown tokens are answered 200");

  // An admin revokes from Authorized apps; deleting the app revokes all its grants.
  const second = await tokensFor(app);
  const secondId = (await introspect(second.access_token, basic(app))).json.grant_id;
  assert.equal((await call(gw.url, `/v1/oauth-authorizations/${secondId}`, { key: otherAdmin.key, method: "DELETE" })).status, 404);
  const revoked = await call(gw.url, `/v1/oauth-authorizations/${secondId}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200);
  assert.equal(revoked.json.status, "revoked");
  assert.equal((await call(gw.url, "/v1/x", { key: second.access_token })).status, 401);

  const third = await tokensFor(app);
  assert.equal((await call(gw.url, "/v1/x", { key: third.access_token })).status, 200);
  const deleted = await call(gw.url, `/v1/oauth-clients/${app.clientId}`, { key: admin.key, method: "DELETE" });
  assert.equal(deleted.status, 200);
  assert.equal((await call(gw.url, "/v1/x", { key: third.access_token })).status, 401, "deleting the app revokes its grants");
  assert.equal((await tokenRequest({ grant_type: "refresh_token", refresh_token: third.refresh_token }, { app })).json.error, "invalid_client");
  const audit = await call(gw.url, "/v1/audit-log", { key: admin.key });
  assert.ok(audit.json.data.some((e) => e.action === "oauth_client.deleted" && e.target.id === app.clientId));
});

/** `signed` (a token without its checksum) with its checksum, computed as core does:
 * CRC-32 of the text before it, in 6 base62 chars (scripts/root-key.mjs, README). */
const withChecksum = (signed) => signed + base62(crc32(signed), 6);
const grantGuardFiles = () => storedFiles(gw).filter((f) => f.includes("GrantGuard") && f.endsWith(".sqlite"));
// A refused access token speaks of an access token, never of an API key (#24).
const INVALID_TOKEN = {
  error: {
    code: "unauthorized",
    message: "Invalid access token",
    details: "The access token provided is invalid or revoked; get a new one with the refresh token at /oauth/token",
  },
};

test("a malformed access token is refused with no guard asked", async () => {
  // 54 × 'a' has the shape of a token but not its checksum: refused by the parser.
  const signed = "sat_" + "a".repeat(48);
  assert.notEqual(withChecksum(signed).slice(-6), "aaaaaa");
  const before = grantGuardFiles();
  const bad = await call(gw.url, "/v1/x", { key: signed + "aaaaaa" });
  assert.equal(bad.status, 401);
  assert.deepEqual(bad.json, INVALID_TOKEN);
  assert.deepEqual(grantGuardFiles(), before, "no grant's guard was asked");
});

test("an unknown access token with a valid checksum is asked of its grant's guard and refused like a bad key", async () => {
  // A grant that does not exist: its guard knows nothing.
  const unknown = withChecksum("sat_" + randomBytes(24).toString("hex").slice(0, 16) + "Q".repeat(32));
  const before = grantGuardFiles();
  const res = await call(gw.url, "/v1/x", { key: unknown });
  assert.equal(res.status, 401, res.text);
  assert.deepEqual(res.json, INVALID_TOKEN);
  // Past the parser: the grant's guard was asked (its object now exists, with nothing in it).
  assert.equal(grantGuardFiles().filter((f) => !before.includes(f)).length, 1, "the unknown grant's guard was asked");
  // A grant that exists, and a secret that is not its token's: its guard compares the
  // hash and refuses; the real token still works, and reaches the origin.
  const app = await registerApp();
  const tokens = await tokensFor(app);
  const wrongSecret = withChecksum(tokens.access_token.slice(0, 20) + "Z".repeat(32));
  assert.notEqual(wrongSecret, tokens.access_token);
  const received = origin.received.length;
  const refused = await call(gw.url, "/v1/x", { key: wrongSecret });
  assert.equal(refused.status, 401, refused.text);
  assert.deepEqual(refused.json, INVALID_TOKEN);
  assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="scopien", error="invalid_token"');
  assert.equal(origin.received.length, received, "nothing reached the origin");
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 200);
});

test("tokens in the query are refused", async () => {
  const app = await registerApp();
  const tokens = await tokensFor(app);
  const inQuery = await call(gw.url, `/v1/x?t=${tokens.access_token}`);
  assert.equal(inQuery.status, 401);
  assert.match(inQuery.json.error.details, /query string/);
});

test("two refreshes racing with one token: exactly one wins, and the loser's replay revokes the grant", async () => {
  const app = await registerApp();
  const tokens = await tokensFor(app);
  const body = { grant_type: "refresh_token", refresh_token: tokens.refresh_token };
  const answers = await Promise.all([tokenRequest(body, { app }), tokenRequest(body, { app })]);
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [200, 400], JSON.stringify(answers.map((a) => a.json)));
  const winner = answers.find((a) => a.status === 200).json;
  assert.equal(answers.find((a) => a.status === 400).json.error, "invalid_grant");
  // The second use of the same refresh token is a replay (RFC 9700 §4.14.2).
  assert.equal((await call(gw.url, "/v1/x", { key: winner.access_token })).status, 401);
});

test("a suspended organization's grants are refused, and come back when it is reactivated", async () => {
  const made = await call(gw.url, "/v1/organizations", { key: gw.rootKey, method: "POST", body: { name: "Initech", plan: "professional" } });
  const initechAdmin = await createKey(gw, { name: "initech admin", scopes: ["read", "write", "admin"], organizationId: made.json.id });
  const app = await registerApp();
  const tokens = await tokensFor(app, { key: initechAdmin.key });
  const ok = await call(gw.url, "/v1/x", { key: tokens.access_token });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("x-ratelimit-limit"), "5000", "the approving organization's professional plan");
  const orgPath = `/v1/organizations/${made.json.id}`;
  await call(gw.url, orgPath, { key: gw.rootKey, method: "PATCH", body: { status: "suspended" } });
  const suspended = await call(gw.url, "/v1/x", { key: tokens.access_token });
  assert.equal(suspended.status, 403);
  assert.match(suspended.json.error.details, /suspended/);
  await call(gw.url, orgPath, { key: gw.rootKey, method: "PATCH", body: { status: "active" } });
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 200);
});

test("a leaked access or refresh token reported by a secret scanner revokes its grant at once", async () => {
  const app = await registerApp();
  const tokens = await tokensFor(app);
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 200);
  const body = JSON.stringify([
    { token: tokens.refresh_token, type: "scopien_oauth_refresh_token", url: "https://github.com/o/r/blob/main/.env", source: "content" },
    { token: "srt_" + tokens.refresh_token.slice(4, 20) + "x".repeat(38), type: "scopien_oauth_refresh_token", url: "https://github.com/o/r", source: "content" },
  ]);
  const res = await rawRequest(gw.url, "/secret-scanning/github", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": SCANNER_KEY_ID,
      "github-public-key-signature": sign("sha256", Buffer.from(body), scanner.privateKey).toString("base64"),
    },
    bodyChunks: [body],
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.map((f) => f.label), ["true_positive", "false_positive"]);
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 401, "the grant is revoked");
  const audit = await call(gw.url, "/v1/audit-log", { key: admin.key });
  const event = audit.json.data.find((e) => e.action === "oauth_grant.revoked" && e.actor.type === "secret_scanning");
  assert.ok(event, JSON.stringify(audit.json.data.slice(0, 3)));
  assert.equal(event.report.url, "https://github.com/o/r/blob/main/.env");
});

test("a native app's loopback redirect: registered without a port, any port works (RFC 8252); the auth test names the app", async () => {
  const app = await registerApp({ type: "public", redirectUris: ["http://127.0.0.1/callback"] });
  const cookie = await signIn(admin.key);
  const { verifier, challenge } = pkce();
  const redirect = "http://127.0.0.1:53127/callback";
  const path = (uri) =>
    authorizeUrl(app, { redirect_uri: uri, code_challenge: challenge, code_challenge_method: "S256" });
  assert.equal((await getAuthorize(path("http://127.0.0.1:53127/elsewhere"), cookie)).status, 400, "the path must match");
  const page = await getAuthorize(path(redirect), cookie);
  assert.equal(page.status, 200, page.text);
  assert.match(page.headers.get("content-security-policy"), /form-action 'self' http:\/\/127\.0\.0\.1:53127;/);
  const answer = await decide(cookie, formFields(page.text), "approve");
  const back = new URL(answer.location);
  assert.equal(back.origin + back.pathname, redirect);
  const tokens = await tokenRequest(
    { grant_type: "authorization_code", code: back.searchParams.get("code"), redirect_uri: redirect, code_verifier: verifier, client_id: app.clientId },
    { auth: "" },
  );
  assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
  const authTest = await call(gw.url, "/v1/auth/test", { key: tokens.json.access_token });
  assert.equal(authTest.status, 200);
  assert.equal(authTest.json.clientId, app.clientId);
  assert.match(authTest.json.grantId, /^grant_/);
  assert.equal(authTest.json.keyId, admin.id, "the key that approved");
});

test("revoking the admin key that approved a grant revokes the grant: a person's approvals end with their key", async () => {
  const approver = await createKey(gw, { name: "leaving admin", scopes: ["read", "write", "admin"], organizationId: org.id });
  const app = await registerApp();
  const tokens = await tokensFor(app, { key: approver.key });
  const other = await tokensFor(app); // approved by another admin: untouched
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 200);
  const revoked = await call(gw.url, `/v1/api-keys/${approver.id}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200);
  assert.equal((await call(gw.url, "/v1/x", { key: tokens.access_token })).status, 401);
  assert.equal((await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token }, { app })).json.error, "invalid_grant");
  assert.equal((await call(gw.url, "/v1/x", { key: other.access_token })).status, 200, "another admin's approval stands");
  const audit = await call(gw.url, "/v1/audit-log", { key: admin.key });
  const event = audit.json.data.find((e) => e.action === "oauth_grant.revoked" && e.reason === "The key that approved it was revoked");
  assert.ok(event, JSON.stringify(audit.json.data.slice(0, 3)));
  assert.equal(event.actor.keyId, admin.id, "revoked by whoever revoked the key");
});

test("with METER_FLUSH_MS an access token's counts are batched too: exact while the guard runs; a crash loses counts, never the grant", async (t) => {
  const saved = { gw, org, admin };
  const vars = { ORIGIN_URL: origin.url, METER_FLUSH_MS: "1000" };
  gw = await startGateway({ vars });
  let restarted;
  try {
    ({ org, admin } = await createOrgWithAdmin(gw));
    const app = await registerApp();
    const tokens = await tokensFor(app);
    const use = (base) => call(base, "/v1/opportunities", { key: tokens.access_token });
    /** The hour's requests counted, as the answer's X-RateLimit-* (the starter plan's
     * 1,000 an hour) show them, this request included when it was admitted. */
    const counted = (res) => 1000 - Number(res.headers.get("x-ratelimit-remaining"));
    // 100 at once against a bucket of 50 (refilled at 50 a second meanwhile).
    const burst = await Promise.all(Array.from({ length: 100 }, () => use(gw.url)));
    const admitted = burst.filter((r) => r.status === 200).length;
    assert.ok(admitted >= 50 && admitted < 100, `${admitted} admitted`);
    assert.ok(burst.every((r) => r.status === 200 || r.status === 429));
    // Counted exactly, from the guard's memory: no flush has to have happened yet.
    const probe = await use(gw.url);
    assert.equal(counted(probe), admitted + (probe.status === 200 ? 1 : 0));
    await gw.crash();
    restarted = await startGateway({ vars, state: gw.state, rootKey: gw.rootKey, identityKey: gw.identityKey });
    const after = await use(restarted.url);
    assert.equal(after.status, 200, "the grant and its token were stored when they were issued");
    const stored = counted(after) - 1;
    t.diagnostic(`admitted ${admitted + (probe.status === 200 ? 1 : 0)}, stored ${stored}`);
    assert.ok(stored >= 0 && stored <= counted(probe), `stored ${stored}, counted ${counted(probe)}`);
  } finally {
    await (restarted ?? gw).stop();
    ({ gw, org, admin } = saved);
  }
});

test("a test-mode admin sees and manages only test apps, test grants and their events; live ones do not exist to it", async () => {
  // Test-mode admins of the organization, taken in turn: a test key's burst is 10.
  const testAdmins = [];
  for (let i = 0; i < 4; i += 1) {
    testAdmins.push(await createKey(gw, { name: `acme test admin ${i}`, type: "test", scopes: ["read", "write", "delete", "admin"], organizationId: org.id }));
  }
  let turn = 0;
  const testKey = () => testAdmins[turn++ % testAdmins.length].key;
  const liveApp = await registerApp({ name: "Live CRM" });
  assert.equal(liveApp.mode, "live", "an app's mode is its creator's");
  const live = await tokensFor(liveApp);
  const introspect = async (token, auth) => {
    const res = await fetch(gw.url + "/oauth/introspect", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: auth },
      body: new URLSearchParams({ token }).toString(),
    });
    return res.json();
  };
  const liveGrant = (await introspect(live.access_token, `Bearer ${admin.key}`)).grant_id;
  assert.match(liveGrant, /^grant_/);
  const asTest = (path, opts = {}) => call(gw.url, path, { key: testKey(), ...opts });

  // Live objects do not exist to the test-mode admin: not listed, 404 by id, inactive.
  const grants = await asTest("/v1/oauth-authorizations");
  assert.equal(grants.status, 200);
  assert.ok(!grants.json.data.some((g) => g.grantId === liveGrant), "a live grant is not listed");
  assert.ok(grants.json.data.every((g) => g.keyType === "test"));
  assert.equal((await introspect(live.access_token, `Bearer ${testKey()}`)).active, false, "introspection of a live token");
  assert.equal((await introspect(live.refresh_token, `Bearer ${testKey()}`)).active, false);
  const revoke = await asTest(`/v1/oauth-authorizations/${liveGrant}`, { method: "DELETE" });
  assert.equal(revoke.status, 404, "a live grant cannot be revoked");
  const apps = await asTest("/v1/oauth-clients");
  assert.ok(!apps.json.data.some((a) => a.clientId === liveApp.clientId), "a live app is not listed");
  assert.equal((await asTest(`/v1/oauth-clients/${liveApp.clientId}`)).status, 404);
  const repoint = await asTest(`/v1/oauth-clients/${liveApp.clientId}`, { method: "PATCH", body: { redirectUris: ["https://evil.example/cb"] } });
  assert.equal(repoint.status, 404, "a live app's redirect URIs cannot be repointed");
  assert.equal((await asTest(`/v1/oauth-clients/${liveApp.clientId}`, { method: "DELETE" })).status, 404);
  const liveView = await call(gw.url, `/v1/oauth-clients/${liveApp.clientId}`, { key: admin.key });
  assert.deepEqual(liveView.json.redirectUris, [REDIRECT], "unchanged");
  assert.equal((await call(gw.url, "/v1/x", { key: live.access_token })).status, 200, "the live grant stands");

  // Its own test objects: made, listed, changed, approved, introspected, revoked.
  const testApp = await registerApp({ name: "Sandbox CRM" }, testKey());
  assert.equal(testApp.mode, "test");
  const patched = await asTest(`/v1/oauth-clients/${testApp.clientId}`, { method: "PATCH", body: { name: "Sandbox CRM 2" } });
  assert.equal(patched.status, 200, patched.text);
  assert.ok((await asTest("/v1/oauth-clients")).json.data.some((a) => a.clientId === testApp.clientId));
  // A grant takes its approving key's mode: no test key approves a live app, no live key
  // a test app (whose redirect URIs test-mode admins control).
  for (const [app, key, why] of [[liveApp, testKey(), /live app/], [testApp, admin.key, /test app/]]) {
    const { challenge } = pkce();
    const page = await getAuthorize(authorizeUrl(app, { code_challenge: challenge, code_challenge_method: "S256" }), await signIn(key));
    assert.equal(page.status, 400, page.text);
    assert.match(page.text, why);
  }
  const sandbox = await tokensFor(testApp, { key: testKey() });
  const seen = await introspect(sandbox.access_token, `Bearer ${testKey()}`);
  assert.equal(seen.active, true);
  assert.ok((await asTest("/v1/oauth-authorizations")).json.data.some((g) => g.grantId === seen.grant_id));

  // The audit log: only events about test objects by test actors.
  const audit = await asTest("/v1/audit-log?limit=100");
  assert.equal(audit.status, 200);
  const ids = new Set(audit.json.data.flatMap((e) => [e.target.id, e.actor.keyId, e.actor.grantId]));
  for (const hidden of [liveApp.clientId, liveGrant, admin.id]) assert.ok(!ids.has(hidden), `${hidden} is not in a test admin's audit log`);
  assert.ok(audit.json.data.every((e) => e.actor.type !== "root"), "the root key is not a test actor");
  assert.ok(audit.json.data.some((e) => e.action === "oauth_client.created" && e.target.id === testApp.clientId));
  assert.ok(audit.json.data.some((e) => e.action === "oauth_grant.created" && e.target.id === seen.grant_id));

  const revokedTest = await asTest(`/v1/oauth-authorizations/${seen.grant_id}`, { method: "DELETE" });
  assert.equal(revokedTest.status, 200);
  assert.equal((await call(gw.url, "/v1/x", { key: sandbox.access_token })).status, 401);

  // The live admin and the root key see both modes.
  const all = await call(gw.url, "/v1/oauth-clients", { key: admin.key });
  assert.ok([liveApp.clientId, testApp.clientId].every((id) => all.json.data.some((a) => a.clientId === id)));
  const liveAudit = await call(gw.url, "/v1/audit-log?limit=100", { key: admin.key });
  assert.ok(liveAudit.json.data.some((e) => e.target.id === testApp.clientId));
  assert.ok(liveAudit.json.data.some((e) => e.target.id === liveApp.clientId));
  assert.equal((await call(gw.url, `/v1/oauth-clients/${testApp.clientId}`, { key: gw.rootKey })).status, 200);
  assert.equal((await asTest(`/v1/oauth-clients/${testApp.clientId}`, { method: "DELETE" })).status, 200);
});

test("an expired access token answers 401 with its own body; its refresh token still gets a new one", async () => {
  // ACCESS_TTL_MS (core/src/oauth/protocol.rs) is an hour, and no var shortens it: the
  // token's expiry is moved into the past in its grant's stored record, with workerd
  // stopped, as an hour passing would leave it (lifecycle.test.mjs edits a key's rows so).
  let own = await startGateway({ vars: { ORIGIN_URL: origin.url } });
  try {
    const { admin: ownAdmin } = await createOrgWithAdmin(own);
    const before = storedFiles(own).filter((f) => f.includes("GrantGuard") && f.endsWith(".sqlite"));
    const ownApp = await registerAppWith(own, ownAdmin.key, { scopes: ["read"] });
    const tokens = await tokensForWith(own, ownApp, ownAdmin.key);
    assert.equal((await call(own.url, "/v1/x", { key: tokens.access_token })).status, 200);
    const [file, ...more] = storedFiles(own).filter((f) => f.includes("GrantGuard") && f.endsWith(".sqlite") && !before.includes(f));
    assert.ok(file && more.length === 0, "one new grant, one guard file");
    await own.stop({ keep: true });
    const db = new DatabaseSync(file);
    const record = JSON.parse(db.prepare("SELECT value FROM grant_state WHERE name = 'record'").get().value);
    assert.ok(record.access.expiresMs > Date.now(), "the token was valid");
    record.access.expiresMs = Date.now() - 1000;
    db.prepare("UPDATE grant_state SET value = ? WHERE name = 'record'").run(JSON.stringify(record));
    db.close();
    own = await startGateway({ vars: { ORIGIN_URL: origin.url }, state: own.state, rootKey: own.rootKey, identityKey: own.identityKey });

    const expired = await call(own.url, "/v1/x", { key: tokens.access_token });
    assert.equal(expired.status, 401, expired.text);
    assert.equal(
      expired.text,
      '{"error":{"code":"unauthorized","message":"Access token expired","details":"The access token has expired; get a new one with the refresh token at /oauth/token"}}',
    );
    assert.equal(expired.headers.get("www-authenticate"), 'Bearer realm="scopien", error="invalid_token"');
    assert.equal(expired.headers.get("x-ratelimit-limit"), null, "no rate-limit headers on a 401");
    // Expiry is not revocation: the refresh token gets a working access token.
    const refreshed = await tokenRequestWith(own, ownApp, { grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.json));
    assert.equal((await call(own.url, "/v1/x", { key: refreshed.json.access_token })).status, 200);
  } finally {
    await own.stop();
  }
});
