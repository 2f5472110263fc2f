// OAuth consent by a person in a real browser (issue #22): headless Chromium with its
// virtual WebAuthn authenticator, on http://localhost (a passkey needs a domain). An app
// (registered over the API) sends a signed-out member to /oauth/authorize; the gateway
// sends them to sign in with their passkey (made in the same browser when they accepted
// their invitation) and back to the consent screen, which says who they are signed in
// as; Approve sends the browser to the app (a loopback server, RFC 8252), whose code
// gives a token that works within the member's role. A viewer asked for more than
// `read` is offered only Deny, and told why. Then Authorized apps names each person who
// approved by name and email (a removed one by the email the organization kept), a key
// by its id as before. Driven by what a person sees: texts, and buttons by their names.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { startPasskeyGateway, startOrigin, call, createOrgWithAdmin, pkce } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers, withoutPasskeyAutofill } from "./browser.mjs";
import { registerApp, tokenRequest, tokensFor, REDIRECT } from "./oauth-flow.mjs";

let gw, upstream, site, org, admin, app, page;
const cspViolations = [];
const browsers = [];
const { ready, assertAccessible, screenshots } = pageHelpers(
  () => page,
  () => site,
);
/** The app's side of the redirect: a loopback server that records what it was sent. */
const callback = { received: [], server: null, url: "" };
const DEVICE = { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true };

before(async () => {
  callback.server = createServer((req, res) => {
    callback.received.push(req.url);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end('<!doctype html><html lang="en"><title>Pipeline CRM</title><h1>Pipeline CRM</h1></html>');
  });
  await new Promise((resolve) => callback.server.listen(0, "127.0.0.1", resolve));
  callback.url = `http://127.0.0.1:${callback.server.address().port}/callback`;
  upstream = await startOrigin();
  ({ gw, site } = await startPasskeyGateway({ ORIGIN_URL: upstream.url }));
  ({ org, admin } = await createOrgWithAdmin(gw, { name: "Acme", plan: "enterprise" }));
  app = await registerApp(gw, admin.key, { redirectUris: [callback.url, REDIRECT] });
});
after(async () => {
  for (const browser of browsers) await browser.close();
  await gw?.stop();
  await upstream?.close();
  callback.server?.closeAllConnections?.();
  await new Promise((resolve) => (callback.server ? callback.server.close(resolve) : resolve()));
});

/** A browser of its own (its own cookies) with its own virtual authenticator: one
 * person's device. Without passkey autofill, so that the person presses "Sign in with a
 * passkey" (people.test.mjs tests autofill). */
async function device() {
  const { browser, page: own } = await launchBrowser(cspViolations);
  browsers.push(browser);
  await withoutPasskeyAutofill(own);
  const cdp = await own.createCDPSession();
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", { options: DEVICE });
  return own;
}

/** A member invited by the root key, joined on `on` with a passkey made there (signed
 * in); their person id. */
async function join(on, email, name, role) {
  const made = await call(gw.url, `/v1/organizations/${org.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email, role },
  });
  assert.equal(made.status, 201, made.text);
  await on.goto(made.json.url);
  await on.waitForFunction(() => document.body.dataset.ready === "true");
  await on.locator(aria("Name", "textbox")).fill(name);
  await on.locator(aria("Create passkey", "button")).click();
  await on.waitForSelector(aria("API Keys", "heading"));
  const members = await call(gw.url, `/v1/organizations/${org.id}/members`, { key: gw.rootKey });
  return members.json.data.find((m) => m.email === email).personId;
}

/** The app sends the browser to the consent page, asking for `scope`. */
function authorizeUrl(scope, state, challenge) {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: app.clientId,
    redirect_uri: callback.url,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `${site}/oauth/authorize?${q}`;
}

/** What the consent screen shows a person: its heading, its text, its buttons. */
const screen = () =>
  page.evaluate(() => ({
    heading: document.querySelector("h1")?.textContent,
    text: document.querySelector("main").innerText,
    buttons: [...document.querySelectorAll("button")].map((b) => b.textContent),
    alert: document.querySelector("[role=alert]")?.textContent ?? null,
  }));

/** Presses `button` on the consent screen; the address the browser is sent to (the app). */
async function press(button) {
  await Promise.all([page.waitForNavigation(), page.locator(aria(button, "button")).click()]);
  const back = new URL(page.url());
  assert.equal(back.origin + back.pathname, callback.url, "the browser is sent to the app");
  assert.ok(callback.received.some((url) => url === back.pathname + back.search), "the app received it");
  return back.searchParams;
}

/** The app exchanges its code for tokens. */
async function exchange(code, verifier) {
  const tokens = await tokenRequest(gw, app, { grant_type: "authorization_code", code, redirect_uri: callback.url, code_verifier: verifier });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
  return tokens.json;
}

let devId, viewerId;

test("a signed-out developer is sent to sign in with their passkey, returns to the consent screen, approves, and the app's token works within what they approved", async () => {
  page = await device();
  devId = await join(page, "dev@example.com", "Dev Eloper", "developer");
  await page.locator(aria("Sign out", "button")).click();
  await page.waitForSelector(aria("Sign in with a passkey", "button"));

  const { verifier, challenge } = pkce();
  await page.goto(authorizeUrl("read write", "st-dev", challenge));
  await page.waitForSelector(aria("Sign in with a passkey", "button"));
  assert.equal(new URL(page.url()).pathname, "/dashboard/signin", "sent to sign in");
  // Not "with an admin API key" only: a member signs in with their passkey, first.
  const lead = await page.$eval("#signin-lead", (p) => p.textContent);
  assert.equal(lead, "An app asks for access to your organization. Sign in to review its request.");
  await assertAccessible("the sign-in page for an app's request");
  await screenshots("consent-signin-person");

  await Promise.all([page.waitForNavigation(), page.locator(aria("Sign in with a passkey", "button")).click()]);
  await page.waitForSelector(aria("Approve", "button"));
  assert.equal(new URL(page.url()).pathname, "/oauth/authorize", "back on the consent screen");
  const shown = await screen();
  assert.equal(shown.heading, "Authorize Pipeline CRM");
  assert.match(shown.text, /Pipeline CRM asks to act for Acme/);
  assert.match(shown.text, /Signed in with dev@example\.com\. Not you\? Sign out\n/);
  assert.match(shown.text, /Your answer is sent back to http:\/\/127\.0\.0\.1:\d+\/callback\./);
  // What approving means for a person, and who can undo it: a developer cannot open
  // Authorized apps.
  assert.match(shown.text, /The app can never do more than your role allows, and its access ends if you leave Acme\./);
  assert.match(shown.text, /An owner or admin of Acme can revoke it under Authorized apps\./);
  assert.match(shown.text, /\bread\b[^\n]*every resource/);
  assert.match(shown.text, /\bwrite\b[^\n]*every resource/);
  assert.deepEqual(shown.buttons, ["Not you? Sign out", "Approve", "Deny"]);
  assert.equal(shown.alert, null, "nothing the developer's role lacks");
  await assertAccessible("the consent screen as a person");
  await screenshots("consent-person");

  const sent = await press("Approve");
  assert.equal(sent.get("state"), "st-dev");
  assert.equal(sent.get("iss"), gw.url);
  const tokens = await exchange(sent.get("code"), verifier);
  assert.equal(tokens.scope, "read write");
  const asApp = { key: tokens.access_token };
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200, "it reads");
  assert.equal((await call(gw.url, "/v1/accounts", { ...asApp, method: "POST", body: {} })).status, 200, "it writes");
  const del = await call(gw.url, "/v1/accounts/1", { ...asApp, method: "DELETE" });
  assert.equal(del.status, 403, "delete was not approved");
  const who = await call(gw.url, "/v1/auth/test", asApp);
  assert.equal(who.json.keyId, devId, "approved by the person");
  assert.deepEqual(cspViolations, []);
});

test("a viewer asked for more than read is offered only Deny, told why; Deny tells the app; a read request gives a read-only token", async () => {
  page = await device();
  viewerId = await join(page, "viewer@example.com", "Vera Viewer", "viewer");

  const wide = pkce();
  await page.goto(authorizeUrl("read write", "st-wide", wide.challenge));
  await page.waitForSelector(aria("Deny", "button"));
  const shown = await screen();
  assert.match(shown.text, /Signed in with viewer@example\.com/);
  assert.deepEqual(shown.buttons, ["Not you? Sign out", "Deny"], "no Approve");
  assert.equal(
    shown.alert,
    "Your role cannot grant 'write' on every resource: as a viewer you may approve 'read' only. Ask a member whose role allows it, or deny.",
  );
  await assertAccessible("the consent screen a viewer cannot approve");
  await screenshots("consent-person-viewer");
  const denied = await press("Deny");
  assert.equal(denied.get("error"), "access_denied");
  assert.equal(denied.get("state"), "st-wide");
  assert.equal(denied.get("code"), null);

  const { verifier, challenge } = pkce();
  await page.goto(authorizeUrl("read", "st-read", challenge));
  await page.waitForSelector(aria("Approve", "button"));
  assert.deepEqual((await screen()).buttons, ["Not you? Sign out", "Approve", "Deny"]);
  const sent = await press("Approve");
  const tokens = await exchange(sent.get("code"), verifier);
  assert.equal(tokens.scope, "read");
  const asApp = { key: tokens.access_token };
  assert.equal((await call(gw.url, "/v1/accounts/1", asApp)).status, 200);
  assert.equal((await call(gw.url, "/v1/accounts", { ...asApp, method: "POST", body: {} })).status, 403);

  // Not the viewer at this browser? Sign out from the consent screen: the same request
  // waits behind the sign-in for whoever signs in next, and the app is told nothing.
  await page.goto(authorizeUrl("read", "st-switch", pkce().challenge));
  await page.waitForSelector(aria("Not you? Sign out", "button"));
  await Promise.all([page.waitForNavigation(), page.locator(aria("Not you? Sign out", "button")).click()]);
  const signInAgain = new URL(page.url());
  assert.equal(signInAgain.pathname, "/dashboard/signin");
  assert.match(signInAgain.searchParams.get("next"), /^\/oauth\/authorize\?.*state=st-switch/);
  const leadAgain = await page.$eval("#signin-lead", (p) => p.textContent);
  assert.equal(leadAgain, "An app asks for access to your organization. Sign in to review its request.");
  assert.ok(!callback.received.some((url) => url.includes("st-switch")), "the app is told nothing");
  assert.deepEqual(cspViolations, []);
});

test("Authorized apps names who approved: a member by name and email, a removed member by email, a key by its id", async () => {
  assert.ok(devId && viewerId, "the tests above ran");
  // A grant approved by the admin key, and the viewer removed (their grant ends).
  await tokensFor(gw, app, admin.key, { scope: "read" });
  const removed = await call(gw.url, `/v1/organizations/${org.id}/members/${viewerId}`, { key: gw.rootKey, method: "DELETE" });
  assert.equal(removed.status, 200, removed.text);

  const listed = await call(gw.url, "/v1/oauth-authorizations", { key: admin.key });
  assert.equal(listed.status, 200, listed.text);
  const by = (id) => listed.json.data.find((g) => g.approvedBy === id);
  assert.deepEqual([by(devId).approverEmail, by(devId).approverName], ["dev@example.com", "Dev Eloper"]);
  assert.deepEqual([by(viewerId).approverEmail, by(viewerId).approverName], ["viewer@example.com", undefined]);
  // A removed member's grants are revoked, as a revoked key's are: listed so, and logged.
  assert.deepEqual([by(viewerId).status, by(devId).status, by(admin.id).status], ["revoked", "active", "active"]);
  const log = await call(gw.url, `/v1/audit-log?limit=100`, { key: admin.key });
  assert.equal(log.status, 200, log.text);
  const revokedEvent = log.json.data.find((e) => e.action === "oauth_grant.revoked" && JSON.stringify(e).includes(by(viewerId).grantId));
  assert.ok(revokedEvent, `oauth_grant.revoked for the removed member's grant: ${log.text}`);
  assert.deepEqual([by(admin.id).approverEmail, by(admin.id).approverName], [undefined, undefined]);
  // The new fields are in the contract (its Authorization allows no other).
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  ajv.addSchema((await call(gw.url, "/openapi.json")).json, "openapi");
  const validate = ajv.getSchema("openapi#/components/schemas/AuthorizationPage");
  assert.ok(validate(listed.json), ajv.errorsText(validate.errors));

  // An operator signs in with the admin key and opens Authorized apps.
  await page.goto(`${site}/dashboard/signin`);
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  await page.locator(`nav ${aria("Authorized apps", "link")}`).click();
  await page.waitForSelector(aria("Authorized apps", "heading"));
  await ready();
  const approvedBy = (grantId) =>
    page.$eval(`tr[data-grant-id="${grantId}"] td[data-label="Approved by"]`, (td) => td.textContent);
  assert.equal(await approvedBy(by(devId).grantId), "Dev Eloper (dev@example.com), live mode");
  assert.equal(await approvedBy(by(viewerId).grantId), "viewer@example.com (no longer a member), live mode");
  assert.equal(await approvedBy(by(admin.id).grantId), `${admin.id} (live key)`);
  await assertAccessible("Authorized apps with people's grants");
  await screenshots("authorized-apps-people");
  assert.deepEqual(cspViolations, []);
});
