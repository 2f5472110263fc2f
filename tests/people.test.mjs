// People in a real browser (issue #22): headless Chromium with its virtual WebAuthn
// authenticator (DevTools protocol: ctap2, internal transport, resident keys, user
// verification). The root key invites over the API; the browser opens the link on
// http://localhost (an IP address cannot be an RP id), fills "Name", clicks "Create
// passkey" and lands signed in; signs out; signs in again with "Sign in with a passkey".
// Then Settings → Members: an owner invites a developer through the page, the developer
// joins with their own passkey (a second browser, its own virtual authenticator),
// cannot create an admin key, is removed by the owner, and their next call is refused.
// Settings → Passkeys: the owner adds a passkey on a new device, renames it, signs in
// with it, and removes the old one (never the last).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPasskeyGateway, call, createOrgWithAdmin } from "./harness.mjs";
import { join } from "node:path";
import { aria, launchBrowser, pageHelpers, SHOTS, SIZES, withoutPasskeyAutofill } from "./browser.mjs";

let gw, origin, acme, browser, page;
const cspViolations = [];
const { ready, assertAccessible, screenshots } = pageHelpers(
  () => page,
  () => origin,
);

/** A page in a browser of its own (its own cookies; Chromium here runs one process, so
 * no second context), with its own virtual authenticator: another person on another
 * device. */
const others = [];
async function personPage({ autofill = false } = {}) {
  const { browser: another, page: own } = await launchBrowser(cspViolations);
  others.push(another);
  if (!autofill) await withoutPasskeyAutofill(own);
  const cdp = await own.createCDPSession();
  await cdp.send("WebAuthn.enable");
  own.cdp = cdp;
  ({ authenticatorId: own.authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", { options: DEVICE }));
  return own;
}
const DEVICE = { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true };
let owner;

/** The page at both sizes in both color schemes, each checked with axe. */
async function everyLook(name) {
  for (const scheme of ["light", "dark"]) {
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
    for (const [size, viewport] of Object.entries(SIZES)) {
      await page.setViewport(viewport);
      await page.screenshot({ path: join(SHOTS, `${name}-${size}-${scheme}.png`), fullPage: true });
      await assertAccessible(`${name} (${size}, ${scheme})`);
    }
  }
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  await page.setViewport(SIZES.desktop);
}

/** Opens an invitation link on `on`, types the name, presses "Create passkey", and waits
 * for the signed-in dashboard. */
async function acceptInvitation(on, url, name) {
  await on.goto(url);
  await on.waitForFunction(() => document.body.dataset.ready === "true");
  await on.locator(aria("Name", "textbox")).fill(name);
  await on.locator(aria("Create passkey", "button")).click();
  await on.waitForSelector(aria("API Keys", "heading"));
  await on.waitForFunction(() => document.body.dataset.ready === "true");
}

before(async () => {
  ({ gw, site: origin } = await startPasskeyGateway());
  acme = await createOrgWithAdmin(gw, { name: "Acme" });
  ({ browser, page } = await launchBrowser(cspViolations));
  await withoutPasskeyAutofill(page);
  const cdp = await page.createCDPSession();
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
});
after(async () => {
  for (const another of others) await another.close();
  await browser?.close();
  await gw?.stop();
});

test("invitation → Create passkey → signed in → Sign out → Sign in with a passkey", async () => {
  const made = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email: "ada@example.com", role: "developer" },
  });
  assert.equal(made.status, 201, made.text);
  assert.ok(made.json.url.startsWith(`${origin}/dashboard/invite#`));

  await page.goto(made.json.url);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  assert.equal(await page.$eval(aria("Email", "textbox"), (i) => i.value), "ada@example.com");
  assert.match(await page.$eval("#invite-lead", (p) => p.textContent), /as a developer/);
  await assertAccessible("the invitation page");
  await screenshots("invite");
  await page.locator(aria("Name", "textbox")).fill("Ada Lovelace");
  await page.locator(aria("Create passkey", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading")).catch(async (e) => {
    const shown = await page.evaluate(() => document.body.innerText);
    throw new Error(`${e.message}; the page says: ${shown}`);
  });
  await ready();
  assert.equal(new URL(page.url()).pathname, "/dashboard/keys");
  const who = await page.$eval("#who", (p) => p.textContent);
  assert.equal(who, "Signed in as Ada Lovelace (ada@example.com, developer)");
  await screenshots("signed-in-person");

  // The link is used up.
  const used = await call(origin, "/dashboard/passkey/invitation", {
    method: "POST",
    body: { token: new URL(made.json.url).hash.slice(1) },
    headers: { origin },
  });
  assert.equal(used.status, 404);

  await page.locator(aria("Sign out", "button")).click();
  await page.waitForSelector(aria("Sign in with a passkey", "button"));
  await assertAccessible("the sign-in page");
  await screenshots("sign-in-passkey");
  // The operators' form is still there, below.
  await page.waitForSelector(aria("API key", "textbox"));
  const order = await page.evaluate(() => {
    const passkey = document.getElementById("passkey-signin");
    const form = document.getElementById("signin");
    return passkey.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING;
  });
  assert.ok(order, "the passkey button comes first");

  await page.locator(aria("Sign in with a passkey", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  assert.equal(await page.$eval("#who", (p) => p.textContent), "Signed in as Ada Lovelace (ada@example.com, developer)");
  assert.deepEqual(cspViolations, []);
});

test("Conditional UI: where the browser offers passkeys in a field's autofill list, the sign-in page has that field, picking a passkey signs in, and the button still works while the list is offered", async () => {
  // A new device with no passkey yet: the field is there, the list waits.
  const grace = await personPage({ autofill: true });
  page = grace;
  await grace.goto(`${origin}/dashboard`);
  const field = await grace.waitForSelector(aria("Email", "textbox"), { visible: true });
  assert.equal(await field.evaluate((i) => i.autocomplete), "username webauthn");
  assert.equal(new URL(grace.url()).pathname, "/dashboard");
  await assertAccessible("the sign-in page with passkey autofill");
  await screenshots("sign-in-autofill");

  const made = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email: "grace@example.com", role: "viewer" },
  });
  assert.equal(made.status, 201, made.text);
  await acceptInvitation(grace, made.json.url, "Grace Hopper");
  // Signed out, the sign-in page offers her passkey in the list; the virtual
  // authenticator picks it as she would, and she is signed in without a click.
  await grace.evaluate(() => (window.beforeSignOut = true));
  await grace.locator(aria("Sign out", "button")).click();
  // A new document, signed in again (the keys page drawn), after the sign-in page.
  await grace.waitForFunction(() => !window.beforeSignOut && location.pathname === "/dashboard/keys" && document.body.dataset.ready === "true");
  assert.equal(await grace.$eval("#who", (p) => p.textContent), "Signed in as Grace Hopper (grace@example.com, viewer)");

  // Another device, the list offered (it holds no passkey yet); her passkey arrives
  // (synced); the button ends the list's request and signs in with it.
  const laptop = await personPage({ autofill: true });
  page = laptop;
  await laptop.goto(`${origin}/dashboard`);
  await laptop.waitForSelector(aria("Email", "textbox"), { visible: true });
  const { credentials } = await grace.cdp.send("WebAuthn.getCredentials", { authenticatorId: grace.authenticatorId });
  assert.equal(credentials.length, 1);
  await grace.close(); // her first device signs no more: the copy's counter stays ahead
  await laptop.cdp.send("WebAuthn.addCredential", { authenticatorId: laptop.authenticatorId, credential: credentials[0] });
  await laptop.locator(aria("Sign in with a passkey", "button")).click();
  await laptop.waitForSelector(aria("API Keys", "heading"));
  await laptop.waitForFunction(() => document.body.dataset.ready === "true");
  assert.equal(await laptop.$eval("#who", (p) => p.textContent), "Signed in as Grace Hopper (grace@example.com, viewer)");

  // Removed, her passkey is refused from the list too: the page says why and stays.
  const members = await call(gw.url, `/v1/organizations/${acme.org.id}/members`, { key: gw.rootKey });
  const member = members.json.data.find((m) => m.email === "grace@example.com");
  const removed = await call(gw.url, `/v1/organizations/${acme.org.id}/members/${member.personId}`, { key: gw.rootKey, method: "DELETE" });
  assert.equal(removed.status, 200, removed.text);
  await laptop.goto(`${origin}/dashboard`);
  // Her session ended with the removal: the dashboard shows the sign-in page.
  await laptop.waitForSelector("#passkey-error");
  await laptop.waitForFunction(() => document.getElementById("passkey-error").textContent !== "");
  assert.match(await laptop.$eval("#passkey-error", (p) => p.textContent), /no longer a member/);
  assert.equal(new URL(laptop.url()).pathname, "/dashboard");

  // Invited again, she joins with the passkey she has: the same person, no new passkey.
  const again = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email: "grace@example.com", role: "developer" },
  });
  assert.equal(again.status, 201, again.text);
  await laptop.goto(again.json.url);
  await laptop.waitForFunction(() => document.body.dataset.ready === "true");
  await screenshots("invite-have-passkey");
  await laptop.locator(aria("Join with my passkey", "button")).click();
  await laptop.waitForSelector(aria("API Keys", "heading"));
  await laptop.waitForFunction(() => document.body.dataset.ready === "true");
  assert.equal(await laptop.$eval("#who", (p) => p.textContent), "Signed in as Grace Hopper (grace@example.com, developer)");
  const rejoined = await call(gw.url, `/v1/organizations/${acme.org.id}/members`, { key: gw.rootKey });
  assert.deepEqual(rejoined.json.data.filter((m) => m.email === "grace@example.com").map((m) => m.personId), [member.personId]);
  assert.deepEqual(cspViolations, []);
});

test("Members: an owner invites a developer through the page, the developer joins and cannot create an admin key, the owner removes them, and their session ends", async () => {
  const made = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email: "olive@example.com", role: "owner" },
  });
  assert.equal(made.status, 201, made.text);
  owner = await personPage();
  await acceptInvitation(owner, made.json.url, "Olive Owner");
  page = owner;

  // Settings → Members, from the nav.
  await owner.locator(aria("Members", "link")).click();
  await owner.waitForSelector(aria("Members", "heading"));
  await ready();
  assert.equal(new URL(owner.url()).pathname, "/dashboard/members");
  assert.equal(await owner.$eval("#org-switch", (p) => getComputedStyle(p).display), "none", "one organization: no switcher");
  // The last owner's controls are disabled, and say why.
  const ownerRow = await owner.$eval("tbody tr:has(select[aria-label='Role of Olive Owner'])", (tr) => ({
    select: tr.querySelector("select").disabled,
    remove: [...tr.querySelectorAll("button")].find((b) => b.textContent.startsWith("Remove")).disabled,
    reason: tr.querySelector(".hint")?.textContent,
  }));
  assert.deepEqual([ownerRow.select, ownerRow.remove], [true, true]);
  assert.match(ownerRow.reason, /last owner/);

  // Invite member: Email and Role; the link is shown once, with Copy.
  await owner.locator(aria("Email", "textbox")).fill("dev@example.com");
  await owner.select("#invite-role", "developer");
  await owner.locator(aria("Invite member", "button")).click();
  await owner.waitForSelector("#invite-dialog[open]");
  await owner.waitForSelector(aria("Copy", "button"));
  const link = await owner.$eval("#invite-dialog-value", (t) => t.value);
  assert.match(link, new RegExp(`^${origin}/dashboard/invite#[0-9A-Za-z]{48}$`));
  await assertAccessible("the invitation link dialog");
  await screenshots("members-invite-link", { fullPage: false });
  await owner.locator(aria("Done", "button")).click();
  assert.equal(await owner.$eval("#invite-dialog-value", (t) => t.value), "", "the link is gone from the page");
  await owner.waitForSelector("tr[data-invitation-id]");

  // The developer joins on their own device, with their own passkey.
  const dev = await personPage();
  await acceptInvitation(dev, link, "Dev Eloper");
  assert.equal(await dev.$eval("#who", (p) => p.textContent), "Signed in as Dev Eloper (dev@example.com, developer)");
  assert.equal(await dev.$("#members-nav"), null, "a developer is not offered Members");
  const devCall = (method, path, body) =>
    dev.evaluate(async (method, path, body) => {
      const session = await (await fetch("/dashboard/api/session")).json().catch(() => ({}));
      const res = await fetch(`/dashboard/api${path}`, {
        method,
        headers: { "content-type": "application/json", "x-csrf-token": session.csrfToken ?? "" },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, text: await res.text() };
    }, method, path, body);
  const adminKey = await devCall("POST", "/v1/api-keys", { name: "dev admin", type: "live", scopes: ["admin"] });
  assert.equal(adminKey.status, 403, adminKey.text);
  const readKey = await devCall("POST", "/v1/api-keys", { name: "dev read", type: "test", scopes: ["read"] });
  assert.equal(readKey.status, 201, readKey.text);

  // The owner sees them, and removes them (with a confirmation).
  await owner.reload();
  await ready();
  await owner.waitForSelector(aria("Role of Dev Eloper", "combobox"));
  assert.equal(await owner.$eval("tr[data-invitation-id]", () => true).catch(() => false), false, "the invitation is used up");
  await everyLook("members");
  // A member who lost every passkey: the owner makes a recovery link, shown once.
  await owner.locator(aria("Recovery link for Dev Eloper", "button")).click();
  await owner.waitForSelector("#invite-dialog[open]");
  assert.match(await owner.$eval("#invite-dialog-text", (p) => p.textContent), /only for them: it adds a passkey to their account/);
  assert.match(await owner.$eval("#invite-dialog-value", (t) => t.value), new RegExp(`^${origin}/dashboard/invite#[0-9A-Za-z]{48}$`));
  await owner.locator(aria("Done", "button")).click();
  await owner.waitForFunction(() => document.querySelector("tr[data-invitation-id]")?.innerText.includes("Recovery link"));
  // Change a role: it applies to the developer's next call.
  await owner.select("select[aria-label='Role of Dev Eloper']", "viewer");
  await owner.waitForFunction(() => document.getElementById("page-status").textContent === "Dev Eloper is now a viewer.");
  const asViewer = await devCall("POST", "/v1/api-keys", { name: "viewer key", type: "test", scopes: ["read"] });
  assert.equal(asViewer.status, 403, asViewer.text);
  await owner.locator(aria("Remove Dev Eloper", "button")).click();
  await owner.waitForSelector("#confirm-dialog[open]");
  assert.equal(await owner.$eval("#confirm-dialog-title", (e) => e.textContent), "Remove Dev Eloper?");
  await screenshots("members-remove", { fullPage: false });
  await owner.locator(aria("Remove member", "button")).click();
  await owner.waitForFunction(() => !document.querySelector("select[aria-label='Role of Dev Eloper']"));
  assert.equal(
    await owner.$eval("#page-status", (p) => p.textContent),
    "Dev Eloper was removed. Keys they created still work: dev read. Revoke them on API Keys if they should stop.",
  );

  // The developer's next call is refused, and the dashboard sends them to sign in.
  const after = await devCall("GET", "/v1/api-keys");
  assert.equal(after.status, 401);
  await dev.reload();
  await dev.waitForSelector(aria("Sign in with a passkey", "button"));
  // The owner reads both changes in the audit log, in words.
  await owner.goto(`${origin}/dashboard/audit-log`);
  await ready();
  const log = await owner.$eval("main", (m) => m.innerText);
  assert.match(log, /Changed the role of “Dev Eloper” from developer to viewer/);
  assert.match(log, /Removed “Dev Eloper” from the organization/);
  // Their key stays: it is the organization's.
  const keys = await call(gw.url, `/v1/api-keys?organizationId=${acme.org.id}&limit=100`, { key: gw.rootKey });
  assert.ok(keys.json.data.some((k) => k.name === "dev read"));
  assert.deepEqual(cspViolations, []);
});

test("Passkeys: a person adds one on a new device, renames it, signs in with it, and removes the old one (never the last)", async () => {
  page = owner;
  await owner.goto(`${origin}/dashboard/passkeys`);
  await owner.waitForSelector(aria("Passkeys", "heading"));
  await ready();
  const rows = () => owner.$$eval("tbody tr[data-credential-id]", (trs) => trs.map((tr) => ({
    name: tr.querySelector("td").textContent.replace(/ \(this session\)$/, ""),
    current: tr.querySelector("td").textContent.endsWith(" (this session)"),
    removable: ![...tr.querySelectorAll("button")].find((b) => b.textContent.startsWith("Remove")).disabled,
  })));
  const [old] = await rows();
  assert.deepEqual([old.current, old.removable], [true, false], "the only passkey (this session's) cannot be removed");
  assert.match(await owner.$eval("main", (m) => m.innerText), /Your only passkey: add another before removing it/);
  // A new device: the old authenticator is gone from this browser, a new one is here.
  await owner.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: owner.authenticatorId });
  await owner.cdp.send("WebAuthn.addVirtualAuthenticator", { options: DEVICE });
  await owner.locator(aria("Add a passkey", "button")).click();
  await owner.waitForFunction(() => document.querySelectorAll("tbody tr[data-credential-id]").length === 2);
  const added = (await rows()).find((r) => r.name !== old.name);
  assert.match(await owner.$eval("#page-status", (p) => p.textContent), new RegExp(`Added ${added.name}`));
  // Rename it.
  await owner.locator(aria(`Rename ${added.name}`, "button")).click();
  await owner.waitForSelector("#edit-dialog[open]");
  await owner.locator(aria("Name", "textbox")).fill("Laptop");
  await owner.locator(aria("Save", "button")).click();
  await owner.waitForFunction(() => [...document.querySelectorAll("tbody tr td:first-child")].some((td) => td.textContent.startsWith("Laptop")));
  // Sign in with the new device; the page marks the passkey of this session.
  await owner.locator(aria("Sign out", "button")).click();
  await owner.locator(aria("Sign in with a passkey", "button")).click();
  await owner.waitForSelector(aria("API Keys", "heading"));
  await owner.goto(`${origin}/dashboard/passkeys`);
  await ready();
  assert.deepEqual((await rows()).map((r) => [r.name, r.current]), [[old.name, false], ["Laptop", true]]);
  await everyLook("passkeys");
  // Remove the old one, with a confirmation; the new one is then the only one.
  await owner.locator(aria(`Remove ${old.name}`, "button")).click();
  await owner.waitForSelector("#confirm-dialog[open]");
  await owner.locator(aria("Remove passkey", "button")).click();
  await owner.waitForFunction(() => document.querySelectorAll("tbody tr[data-credential-id]").length === 1);
  assert.deepEqual(await rows(), [{ name: "Laptop", current: true, removable: false }]);
  assert.equal(await owner.$eval("#who", (p) => p.textContent), "Signed in as Olive Owner (olive@example.com, owner)");
  assert.deepEqual(cspViolations, []);
});

test("Organization: an owner signed in with a passkey renames it", async () => {
  page = owner;
  await owner.goto(`${origin}/dashboard/organization`);
  await ready();
  await owner.locator(aria("Organization name", "textbox")).fill("Acme Widgets");
  await owner.locator(aria("Save name", "button")).click();
  await owner.waitForFunction(() => document.getElementById("page-status")?.textContent === "The organization is now called Acme Widgets.");
  const facts = await owner.$eval("dl.facts", (dl) => dl.innerText);
  assert.match(facts, /Name\s+Acme Widgets/);
  await everyLook("organization-owner");
  assert.equal((await call(gw.url, `/v1/organizations/${acme.org.id}`, { key: gw.rootKey })).json.name, "Acme Widgets");
  assert.deepEqual(cspViolations, []);
});
