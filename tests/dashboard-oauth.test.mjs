// The dashboard's OAuth pages in a real browser (headless Chromium through puppeteer-core,
// as tests/dashboard.test.mjs): an organization's OAuth apps (register, the secret shown
// once, edit, delete) and its Authorized apps (the grants it gave, revoked one by one).
// Driven as a person does, by visible labels and roles; what the page claims is checked
// over HTTP. The grant is approved in the browser on the consent page, and redirected to
// a loopback server standing in for the app (RFC 8252).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startGateway, call, createKey, waitFor, createOrgWithAdmin, pkce } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

const OTHER_REDIRECT = "https://crm.example.com/oauth/callback";

let gw, org, admin, browser, page, app, redirect;
const cspViolations = [];
const { ready, open, assertAccessible, screenshots, pageStorage } = pageHelpers(
  () => page,
  () => gw.url,
);

/** The app's side of the redirect: a loopback server that records what it was sent. */
const callback = { received: [], server: null, url: "" };


before(async () => {
  callback.server = createServer((req, res) => {
    callback.received.push(req.url);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end('<!doctype html><html lang="en"><title>Pipeline CRM</title><h1>Pipeline CRM: signed in</h1></html>');
  });
  await new Promise((resolve) => callback.server.listen(0, "127.0.0.1", resolve));
  callback.url = `http://127.0.0.1:${callback.server.address().port}`;
  redirect = `${callback.url}/callback`;

  gw = await startGateway();
  ({ org, admin } = await createOrgWithAdmin(gw));
  ({ browser, page } = await launchBrowser(cspViolations));
});
after(async () => {
  await browser?.close();
  await gw?.stop();
  callback.server?.closeAllConnections?.();
  await new Promise((resolve) => (callback.server ? callback.server.close(resolve) : resolve()));
});

/** Follows a link of the settings navigation, as a person does. */
async function navigate(name) {
  await page.locator(`nav ${aria(name, "link")}`).click();
  await page.waitForSelector(aria(name, "heading"));
  await ready();
}

/** The cells' texts of the table row whose first cell is `name`, once it is drawn. */
async function rowCells(name) {
  const handle = await page.waitForFunction(
    (name) => {
      const tr = [...document.querySelectorAll("tbody tr")].find((row) => row.cells[0]?.textContent === name);
      return tr && [...tr.cells].map((td) => td.textContent);
    },
    {},
    name,
  );
  return handle.jsonValue();
}

function authorizePath(state, challenge, scope = "read") {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: app.clientId,
    redirect_uri: redirect,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `/oauth/authorize?${q}`;
}

/** Exchanges a code at the token endpoint (client_secret_basic). */
async function exchange(code, verifier) {
  const res = await fetch(gw.url + "/oauth/token", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: "Basic " + Buffer.from(`${app.clientId}:${app.clientSecret}`).toString("base64"),
    },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirect, code_verifier: verifier }).toString(),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

/** The consent over raw HTTP, as tests/oauth.test.mjs does it: sign in, the consent
 * page, its form posted with decision=approve; returns the tokens. */
async function approveOverHttp() {
  const signIn = await fetch(gw.url + "/dashboard/session", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", origin: gw.url },
    body: new URLSearchParams({ api_key: admin.key }).toString(),
  });
  assert.equal(signIn.status, 204, await signIn.text());
  const cookie = signIn.headers.get("set-cookie").split(";")[0];
  const { verifier, challenge } = pkce();
  const consent = await fetch(gw.url + authorizePath("raw", challenge, "read write"), { headers: { cookie }, redirect: "manual" });
  const html = await consent.text();
  assert.equal(consent.status, 200, html);
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]] = m[2].replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  }
  const decided = await fetch(gw.url + "/oauth/authorize", {
    method: "POST",
    headers: { cookie, origin: gw.url, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ ...fields, decision: "approve" }).toString(),
    redirect: "manual",
  });
  assert.equal(decided.status, 303, await decided.text());
  const back = new URL(decided.headers.get("location"));
  assert.equal(back.searchParams.get("state"), "raw");
  return exchange(back.searchParams.get("code"), verifier);
}

test("sign in; register an app (a wrong redirect URI is shown at its field); the secret is shown once", async () => {
  await open("/dashboard");
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  await navigate("OAuth apps");
  assert.equal(new URL(page.url()).pathname, "/dashboard/oauth-apps");
  assert.equal(await page.$eval('nav a[aria-current="page"]', (a) => a.textContent), "OAuth apps");
  assert.match(await page.$eval("tbody", (t) => t.textContent), /No apps yet/);
  await assertAccessible("OAuth apps, empty");

  await page.locator(aria("Register app", "button")).click();
  await page.waitForSelector("#register-dialog[open]");
  assert.equal(await page.evaluate(() => document.activeElement.id), "register-name", "the dialog opens on Name");
  const offered = await page.$$eval('#register-dialog input[name="register-scope"]', (boxes) => boxes.map((b) => [b.value, b.checked]));
  assert.deepEqual(offered, [["read", true], ["write", false], ["delete", false]], "Read by default; no Admin for apps");
  assert.equal(await page.$eval(aria("Confidential", "radio"), (r) => r.checked), true);

  await page.locator(`#register-dialog ${aria("Name", "textbox")}`).fill("Pipeline CRM");
  await page.locator(aria("Redirect URIs", "textbox")).fill("http://crm.example.com/callback");
  await page.locator(`#register-dialog ${aria("Register app", "button")}`).click();
  const error = await page.waitForFunction(() => document.getElementById("register-redirect-uris-error").textContent);
  assert.match(await error.jsonValue(), /^redirect URI 'http:\/\/crm\.example\.com\/callback' must use https/);
  const field = await page.$eval("#register-redirect-uris", (t) => ({
    invalid: t.getAttribute("aria-invalid"),
    focused: document.activeElement === t,
  }));
  assert.deepEqual(field, { invalid: "true", focused: true }, "the error is at the field, which has the focus");
  await assertAccessible("the register dialog with an error");
  await screenshots("oauth-register-error", { fullPage: false });

  await page.locator(aria("Redirect URIs", "textbox")).fill(`${redirect}\n\n  ${OTHER_REDIRECT}  \n`);
  await page.locator(`#register-dialog ${aria("Write", "checkbox")}`).click();
  await page.locator(`#register-dialog ${aria("Register app", "button")}`).click();
  await page.waitForSelector("#secret-dialog[open]");
  const text = await page.$eval("#secret-dialog", (d) => d.textContent);
  assert.match(text, /shown only once: you will not see it again/);
  const clientId = await page.$eval(aria("Client ID", "textbox"), (input) => input.value);
  const clientSecret = await page.$eval(aria("Client secret", "textbox"), (input) => input.value);
  assert.match(clientId, /^app_[0-9A-Za-z]{24}$/);
  assert.match(clientSecret, /^scs_[0-9A-Za-z]{43}$/);
  assert.equal(await page.evaluate(() => document.activeElement.id), "secret-dialog-value", "the secret has the focus");
  assert.ok(await page.$(aria("Copy client secret", "button")), "a Copy button for the secret");
  await assertAccessible("the new app's secret");
  await screenshots("oauth-app-secret", { fullPage: false });
  app = { clientId, clientSecret };

  // Over HTTP: as entered, blank lines dropped; the secret is never shown again.
  const got = await call(gw.url, `/v1/oauth-clients/${clientId}`, { key: admin.key });
  assert.equal(got.status, 200);
  assert.equal(got.json.name, "Pipeline CRM");
  assert.deepEqual(got.json.redirectUris, [redirect, OTHER_REDIRECT]);
  assert.deepEqual(got.json.scopes, ["read", "write"]);
  assert.equal(got.json.type, "confidential");
  assert.equal(got.json.organizationId, org.id);
  assert.equal(got.json.clientSecret, undefined);

  // Shown once: in no storage the page can read, and gone from the page when closed.
  let stored = await pageStorage();
  for (const place of ["local", "session", "cookie"]) assert.ok(!stored[place].includes(clientSecret), place);
  await page.locator(`#secret-dialog ${aria("Done", "button")}`).click();
  await page.waitForSelector("#secret-dialog:not([open])");
  await page.waitForFunction(() => document.activeElement.id === "register-app", { timeout: 5_000 });
  stored = await pageStorage();
  assert.ok(!stored.html.includes(clientSecret), "the secret is not in the page's markup");
  assert.ok(!stored.values.includes(clientSecret), "closing the dialog erases the secret");

  const cells = await rowCells("Pipeline CRM");
  assert.deepEqual(cells.slice(1, 5), [clientId, "Confidential", redirect + OTHER_REDIRECT, "Read, Write"]);
  await assertAccessible("OAuth apps");
  await screenshots("oauth-apps");
});

test("edit the app: a fragment is refused at its field; name, redirect URIs and scopes change", async () => {
  await page.locator(aria("Edit Pipeline CRM", "button")).click();
  await page.waitForSelector("#edit-dialog[open]");
  assert.equal(await page.$eval("#edit-dialog-title", (t) => t.textContent), "Edit Pipeline CRM");
  assert.equal(await page.$eval("#edit-redirect-uris", (t) => t.value), `${redirect}\n${OTHER_REDIRECT}`);
  await page.locator(`#edit-dialog ${aria("Name", "textbox")}`).fill("Pipeline CRM Pro");
  await page.locator(`#edit-dialog ${aria("Redirect URIs", "textbox")}`).fill(`${redirect}#top`);
  await page.locator(`#edit-dialog ${aria("Save", "button")}`).click();
  const error = await page.waitForFunction(() => document.getElementById("edit-redirect-uris-error").textContent);
  assert.match(await error.jsonValue(), /has a fragment; fragments are not allowed/);
  assert.equal(await page.$eval("#edit-redirect-uris", (t) => t.getAttribute("aria-invalid")), "true");

  await page.locator(`#edit-dialog ${aria("Redirect URIs", "textbox")}`).fill(redirect);
  const cleared = await page.$eval("#edit-redirect-uris", (t) => [t.getAttribute("aria-invalid"), document.getElementById("edit-redirect-uris-error").textContent]);
  assert.deepEqual(cleared, [null, ""], "editing the list clears its error");
  await page.locator(`#edit-dialog ${aria("Delete", "checkbox")}`).click();
  await assertAccessible("the edit dialog");
  await screenshots("oauth-edit-dialog", { fullPage: false });
  await page.locator(`#edit-dialog ${aria("Save", "button")}`).click();
  await page.waitForSelector("#edit-dialog:not([open])");
  const edited = await waitFor(async () => {
    const res = await call(gw.url, `/v1/oauth-clients/${app.clientId}`, { key: admin.key });
    return res.json.name === "Pipeline CRM Pro" && res.json;
  }, { what: "the edit to reach the app" });
  assert.deepEqual(edited.redirectUris, [redirect]);
  assert.deepEqual(edited.scopes, ["read", "write", "delete"]);
  const cells = await rowCells("Pipeline CRM Pro");
  assert.deepEqual(cells.slice(1, 5), [app.clientId, "Confidential", redirect, "Read, Write, Delete"]);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Edit Pipeline CRM Pro", "focus returns to the row");
});

test("approve the app in the browser; Authorized apps lists the grant; Revoke refuses its token at once", async () => {
  const { verifier, challenge } = pkce();
  await page.goto(gw.url + authorizePath("st-browser", challenge));
  await page.waitForSelector("#approve");
  assert.match(await page.$eval("h1", (h) => h.textContent), /Pipeline CRM Pro/);
  await assertAccessible("the consent page");
  await screenshots("oauth-consent");
  await Promise.all([page.waitForNavigation(), page.click("#approve")]);
  const back = new URL(page.url());
  assert.equal(back.origin + back.pathname, redirect, "the browser is sent to the app");
  assert.equal(back.searchParams.get("state"), "st-browser");
  assert.equal(back.searchParams.get("iss"), gw.url);
  assert.ok(callback.received.some((url) => url.includes(`code=${back.searchParams.get("code")}`)), "the app received the code");
  const tokens = await exchange(back.searchParams.get("code"), verifier);
  assert.equal(tokens.scope, "read");
  assert.equal((await call(gw.url, "/v1/opportunities", { key: tokens.access_token })).status, 200);

  const listed = await call(gw.url, "/v1/oauth-authorizations", { key: admin.key });
  const grant = listed.json.data.find((g) => g.clientId === app.clientId && g.status === "active");
  assert.ok(grant, JSON.stringify(listed.json));

  await open("/dashboard/keys");
  await navigate("Authorized apps");
  assert.equal(new URL(page.url()).pathname, "/dashboard/authorized-apps");
  const cells = await rowCells("Pipeline CRM Pro");
  assert.deepEqual(
    [cells[1], cells[2], cells[3], cells[5]],
    [app.clientId, "Read", `${admin.id} (live key)`, "Active"],
  );
  await assertAccessible("Authorized apps");
  await screenshots("authorized-apps");

  await page.locator(aria(`Revoke Pipeline CRM Pro (grant ${grant.grantId})`, "button")).click();
  await page.waitForSelector("#confirm-dialog[open]");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Cancel", "the safe choice has the focus");
  assert.match(await page.$eval("#confirm-dialog-text", (p) => p.textContent), /refused from the next request/);
  await assertAccessible("the revoke dialog");
  await screenshots("revoke-grant-dialog", { fullPage: false });
  await page.locator(aria("Revoke access", "button")).click();
  await page.waitForSelector("#confirm-dialog:not([open])");
  await page.waitForFunction(
    (id) => document.querySelector(`tr[data-grant-id="${id}"]`)?.cells[5].textContent.startsWith("Revoked"),
    {},
    grant.grantId,
  );
  assert.equal(await page.$(aria(`Revoke Pipeline CRM Pro (grant ${grant.grantId})`, "button")), null, "no Revoke on a revoked grant");
  assert.match(await page.$eval("#page-status", (p) => p.textContent), /grant was revoked/);

  // Over HTTP: refused on the very next request, listed as revoked, no refresh.
  const refused = await call(gw.url, "/v1/opportunities", { key: tokens.access_token });
  assert.equal(refused.status, 401);
  const after = await call(gw.url, "/v1/oauth-authorizations", { key: admin.key });
  const revoked = after.json.data.find((g) => g.grantId === grant.grantId);
  assert.equal(revoked.status, "revoked");
  assert.ok(revoked.revokedAt);
  await assertAccessible("Authorized apps after a revocation");
  await screenshots("authorized-apps-revoked");
});

test("delete the app: the confirmation says every grant is revoked, and it is", async () => {
  const tokens = await approveOverHttp();
  assert.equal((await call(gw.url, "/v1/opportunities", { key: tokens.access_token })).status, 200);

  await navigate("OAuth apps");
  await page.locator(aria("Delete Pipeline CRM Pro", "button")).click();
  await page.waitForSelector("#confirm-dialog[open]");
  assert.equal(await page.$eval("#confirm-dialog-title", (t) => t.textContent), "Delete Pipeline CRM Pro?");
  assert.match(await page.$eval("#confirm-dialog-text", (p) => p.textContent), /revokes every grant it was given/);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Cancel");
  await assertAccessible("the delete dialog");
  await screenshots("oauth-delete-dialog", { fullPage: false });
  await page.locator(aria("Delete app", "button")).click();
  await page.waitForSelector("#confirm-dialog:not([open])");
  await page.waitForFunction(() => /No apps yet/.test(document.querySelector("tbody").textContent));
  assert.match(await page.$eval("#page-status", (p) => p.textContent), /was deleted, and every grant it was given revoked/);
  assert.equal(await page.evaluate(() => document.activeElement.id), "register-app");

  assert.equal((await call(gw.url, `/v1/oauth-clients/${app.clientId}`, { key: admin.key })).status, 404);
  assert.equal((await call(gw.url, "/v1/opportunities", { key: tokens.access_token })).status, 401, "its grants are revoked");
  await navigate("Authorized apps");
  const statuses = await page.$$eval("tbody tr", (trs) => trs.map((tr) => tr.cells[5].textContent));
  assert.equal(statuses.length, 2);
  for (const status of statuses) assert.match(status, /^Revoked/);
});

test("a public app gets no secret; the keyboard alone registers one; no CSP violations anywhere", async () => {
  await navigate("OAuth apps");
  await page.locator(aria("Register app", "button")).click();
  await page.waitForSelector("#register-dialog[open]");
  await page.keyboard.type("CLI tool");
  const tabTo = async (predicate, what) => {
    for (let i = 0; i < 30; i += 1) {
      if (await page.evaluate(predicate)) return;
      await page.keyboard.press("Tab");
      assert.ok(await page.evaluate(() => document.getElementById("register-dialog").contains(document.activeElement)), "focus stays in the dialog");
    }
    throw new Error(`Tab never reached ${what}`);
  };
  await tabTo(() => document.activeElement.id === "register-redirect-uris", "Redirect URIs");
  await page.keyboard.type("http://localhost:8765/done");
  await tabTo(() => document.activeElement.name === "register-type", "Type");
  if (await page.evaluate(() => document.activeElement.value !== "public")) await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement.value), "public");
  await tabTo(() => document.activeElement.textContent === "Register app", "Register app");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#secret-dialog[open]");
  const text = await page.$eval("#secret-dialog", (d) => d.textContent);
  assert.match(text, /A public app has no client secret/);
  assert.equal(await page.$eval("#secret-dialog-secret-field", (f) => f.hidden), true);
  const clientId = await page.$eval(aria("Client ID", "textbox"), (input) => input.value);
  await assertAccessible("a public app's dialog");
  await screenshots("oauth-public-app", { fullPage: false });
  await page.keyboard.press("Escape");
  await page.waitForSelector("#secret-dialog:not([open])");
  const got = await call(gw.url, `/v1/oauth-clients/${clientId}`, { key: admin.key });
  assert.equal(got.json.type, "public");
  assert.deepEqual(got.json.redirectUris, ["http://localhost:8765/done"]);
  assert.deepEqual(got.json.scopes, ["read"]);
  const cells = await rowCells("CLI tool");
  assert.equal(cells[2], "Public");
  await screenshots("oauth-apps-public");

  await navigate("Audit log");
  const actions = await page.$$eval("tbody tr[data-action]", (trs) => trs.map((tr) => tr.dataset.action));
  for (const action of ["oauth_client.created", "oauth_client.updated", "oauth_grant.created", "oauth_grant.revoked", "oauth_client.deleted"]) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }
  // A grant reads as a sentence naming the app, its scopes as the pages show them, the
  // app's id under Details.
  const grants = await page.$$eval('tbody tr[data-action="oauth_grant.created"]', (trs) =>
    trs.map((tr) => ({ what: tr.cells[2].textContent, changes: [...tr.cells[3].querySelectorAll("li")].map((li) => li.textContent), details: tr.cells[3].querySelector("details").textContent })));
  assert.ok(grants.length >= 2);
  for (const grant of grants) {
    assert.match(grant.what, /^Authorized the app “.+” to act for the organization$/);
    assert.ok(grant.changes.some((line) => /^Scopes: Read/.test(line)), grant.changes.join(" | "));
    assert.ok(grant.details.includes(app.clientId), grant.details);
  }
  await screenshots("audit-log-oauth");
  assert.deepEqual(cspViolations, []);
});
