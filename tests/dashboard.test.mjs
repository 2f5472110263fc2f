// The dashboard in a real browser: headless Chromium (puppeteer-core with the Chromium
// inside @sparticuz/chromium) against the real worker in workerd. Driven as a person
// does, by visible labels and roles; what the page claims is checked over HTTP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createKey, waitFor, createOrgWithAdmin } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

let gw, org, admin, browser, page;
const cspViolations = [];
const { ready, open, assertAccessible, screenshots, pageStorage } = pageHelpers(
  () => page,
  () => gw.url,
);


before(async () => {
  gw = await startGateway();
  ({ org, admin } = await createOrgWithAdmin(gw));
  ({ browser, page } = await launchBrowser(cspViolations));
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

async function readNewKey() {
  await page.waitForSelector("#key-dialog[open]");
  const text = await page.$eval("#key-dialog", (d) => d.textContent);
  assert.match(text, /Keys are only shown once\. Store them securely!/);
  const key = await page.$eval(aria("Key", "textbox"), (input) => input.value);
  assert.match(key, /^sk_(live|test)_/);
  return key;
}

async function closeKeyDialog() {
  await page.locator(aria("Done", "button")).click();
  await page.waitForSelector("#key-dialog:not([open])");
}

async function row(name) {
  return page.waitForFunction(
    (name) => [...document.querySelectorAll("tbody tr")].find((tr) => tr.cells[0]?.textContent === name),
    {},
    name,
  );
}

let created;

test("sign in with an admin key, then create a key with Read only and a rate limit of 100", async () => {
  await open("/dashboard");
  await assertAccessible("sign-in");
  await screenshots("sign-in");
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  assert.equal(new URL(page.url()).pathname, "/dashboard/keys");

  await page.locator(aria("Name", "textbox")).fill("reader");
  await page.locator(aria("Live", "radio")).click();
  const checked = await page.$$eval('input[name="create-scope"]:checked', (boxes) => boxes.map((b) => b.value));
  assert.deepEqual(checked, ["read"], "Read alone is checked by default");
  await page.locator(aria("Rate Limit", "spinbutton")).fill("100");
  assert.equal(await page.$eval(aria("Never", "radio"), (r) => r.checked), true);
  await page.locator(aria("Generate", "button")).click();
  const key = await readNewKey();
  await assertAccessible("the new key dialog");
  await screenshots("new-key-dialog", { fullPage: false });

  // Over HTTP: exactly Read, exactly 100 an hour.
  const auth = await call(gw.url, "/v1/auth/test", { key });
  assert.equal(auth.status, 200);
  assert.deepEqual(auth.json.scopes, ["read"]);
  assert.equal(auth.json.type, "live");
  assert.equal(auth.headers.get("x-ratelimit-limit"), "100");
  const listed = await call(gw.url, `/v1/api-keys/${auth.json.keyId}`, { key: admin.key });
  assert.equal(listed.json.rateLimit, 100);
  assert.equal(listed.json.expiresAt, null);
  assert.equal(listed.json.name, "reader");

  // Shown once: in no storage the page can read, and gone from the page when closed.
  let stored = await pageStorage();
  for (const place of ["local", "session", "cookie"]) assert.ok(!stored[place].includes(key), place);
  assert.equal(stored.cookie, "", "the session cookie is HttpOnly");
  await closeKeyDialog();
  stored = await pageStorage();
  assert.ok(!stored.html.includes(key), "the key is not in the page's markup");
  assert.ok(!stored.values.includes(key), "closing the dialog erases the key");
  await row("reader");
  const cells = await page.$$eval("tbody tr", (trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent)).find((c) => c[0] === "reader"),
  );
  assert.equal(cells[1], `sk_live_${auth.json.keyId.slice(4)}…${key.slice(-4)}`);
  assert.equal(cells[3], "Read");
  assert.equal(cells[4], "100/h");
  assert.equal(cells[8], "Active");
  created = { key, id: auth.json.keyId };
  await assertAccessible("API Keys");
  await screenshots("api-keys");
});

test("edit, roll (the old key works through its grace), usage, revoke (401 at once)", async () => {
  await page.locator(aria("Edit reader", "button")).click();
  await page.waitForSelector("#edit-dialog[open]");
  await page.locator(`#edit-dialog ${aria("Rate Limit", "spinbutton")}`).fill("50");
  await page.locator(`#edit-dialog ${aria("Write", "checkbox")}`).click();
  await assertAccessible("the edit dialog");
  await page.locator(aria("Save", "button")).click();
  await page.waitForSelector("#edit-dialog:not([open])");
  const edited = await waitFor(async () => {
    const res = await call(gw.url, `/v1/api-keys/${created.id}`, { key: admin.key });
    return res.json.rateLimit === 50 && res.json;
  }, { what: "the edit to reach the key" });
  assert.deepEqual(edited.scopes, ["read", "write"]);

  await page.locator(aria("Roll reader", "button")).click();
  await page.waitForSelector("#roll-dialog[open]");
  await page.locator(aria("1 hour", "radio")).click();
  await page.locator(aria("Roll key", "button")).click();
  const rolled = await readNewKey();
  assert.notEqual(rolled, created.key);
  await closeKeyDialog();
  assert.equal((await call(gw.url, "/v1/auth/test", { key: created.key })).status, 200, "old key in its grace");
  assert.equal((await call(gw.url, "/v1/auth/test", { key: rolled })).status, 200);

  // Requests to show on the usage chart: three admitted, one refused (no delete scope).
  for (let i = 0; i < 3; i += 1) assert.equal((await call(gw.url, "/v1/accounts", { key: rolled })).status, 200);
  assert.equal((await call(gw.url, "/v1/accounts/1", { key: rolled, method: "DELETE" })).status, 403);
  await page.locator(aria("Usage reader", "link")).click();
  await page.waitForSelector(aria("Usage: reader", "heading"));
  await ready();
  const descriptions = await page.$$eval("svg.chart desc", (ds) => ds.map((d) => d.textContent));
  assert.equal(descriptions.length, 2);
  // The auth tests above count as admitted too: 3 + 3 = 6 (sign-in used the admin key).
  for (const text of descriptions) assert.match(text, /^6 admitted and 1 refused requests\.$/);
  // The y-axis: distinct round ticks from 0 past the highest bar (7 requests in a bucket).
  const ticks = await page.$$eval("svg.chart", (svgs) => svgs.map((svg) => [...svg.querySelectorAll("text.tick")].map((t) => t.textContent)));
  for (const list of ticks) assert.deepEqual(list, ["0", "2", "4", "6", "8"]);
  await assertAccessible("Usage");
  await screenshots("usage");

  await page.locator(aria("API Keys", "link")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  await page.locator(aria("Revoke reader", "button")).click();
  await page.waitForSelector("#revoke-dialog[open]");
  const focused = await page.evaluate(() => document.activeElement.textContent);
  assert.equal(focused, "Cancel", "the safe choice has the focus");
  await screenshots("revoke-dialog", { fullPage: false });
  await page.locator(aria("Revoke key", "button")).click();
  await page.waitForSelector("#revoke-dialog:not([open])");
  await page.waitForFunction(() =>
    [...document.querySelectorAll("tbody tr")].some((tr) => tr.cells[0].textContent === "reader" && tr.cells[8].textContent === "Revoked"),
  );
  assert.equal((await call(gw.url, "/v1/auth/test", { key: rolled })).status, 401);
  assert.equal((await call(gw.url, "/v1/auth/test", { key: created.key })).status, 401);
});

test("a rate limit over the plan's ceiling is shown at the Rate Limit field in a person's words", async () => {
  const hint = await page.$eval("#create-rate-limit-hint", (p) => p.textContent);
  assert.match(hint, /Starter plan allows up to 1,000 for live keys/);
  await page.locator(aria("Name", "textbox")).fill("too fast");
  await page.locator(aria("Live", "radio")).click();
  await page.locator(aria("Rate Limit", "spinbutton")).fill("5000");
  await page.locator(aria("Generate", "button")).click();
  const error = await page.waitForFunction(() => document.getElementById("create-rate-limit-error").textContent);
  assert.match(await error.jsonValue(), /^Rate limit can be at most 1,000 on the Starter plan\.$/);
  const field = await page.$eval(aria("Rate Limit", "spinbutton"), (input) => ({
    invalid: input.getAttribute("aria-invalid"),
    focused: document.activeElement === input,
  }));
  assert.deepEqual(field, { invalid: "true", focused: true });
  await assertAccessible("the form with an error");
  await screenshots("create-error");
});

test("a key can be created with the keyboard alone; the dialog traps and returns focus", async () => {
  await open("/dashboard/keys");
  const tabTo = async (predicate, what) => {
    for (let i = 0; i < 40; i += 1) {
      if (await page.evaluate(predicate)) return;
      await page.keyboard.press("Tab");
    }
    throw new Error(`Tab never reached ${what}`);
  };
  await tabTo(() => document.activeElement.id === "create-name", "Name");
  await page.keyboard.type("keyboard");
  await tabTo(() => document.activeElement.name === "create-type", "Type");
  // Arrow keys move between radios: pick Test.
  if (await page.evaluate(() => document.activeElement.value !== "test")) await page.keyboard.press("ArrowLeft");
  await tabTo(() => document.activeElement.value === "read" && document.activeElement.name === "create-scope", "Read");
  await tabTo(() => document.activeElement.id === "create-rate-limit", "Rate Limit");
  await page.keyboard.type("10");
  await tabTo(() => document.activeElement.textContent === "Generate", "Generate");
  await page.keyboard.press("Enter");
  const key = await readNewKey();
  assert.match(key, /^sk_test_/);
  // Focus is in the dialog and stays there.
  for (let i = 0; i < 6; i += 1) {
    await page.keyboard.press("Tab");
    assert.ok(await page.evaluate(() => document.getElementById("key-dialog").contains(document.activeElement)));
  }
  await page.keyboard.press("Escape");
  await page.waitForSelector("#key-dialog:not([open])");
  // Focus returns to Generate (the close event runs just after the dialog closes).
  await page.waitForFunction(() => document.activeElement.textContent === "Generate", { timeout: 5_000 });
  assert.equal(await page.$eval("#key-dialog-value", (i) => i.value), "", "Escape erases the key too");
  const auth = await call(gw.url, "/v1/auth/test", { key });
  assert.equal(auth.status, 200);
  assert.deepEqual(auth.json.scopes, ["read"]);
  assert.equal(auth.headers.get("x-ratelimit-limit"), "10");
});

test("organization and audit log pages; every page accessible and without CSP violations", async () => {
  await open("/dashboard/organization");
  await page.waitForSelector(aria("Organization", "heading"));
  const text = await page.$eval("main", (m) => m.textContent);
  assert.match(text, /Acme/);
  assert.match(text, /1,000\/h/);
  await assertAccessible("Organization");
  await screenshots("organization");
  await page.locator(aria("Audit log", "link")).click();
  await page.waitForSelector(aria("Audit log", "heading"));
  await ready();
  const actions = await page.$$eval("tbody tr[data-action]", (trs) => trs.map((tr) => tr.dataset.action));
  for (const action of ["api_key.created", "api_key.updated", "api_key.rolled", "api_key.revoked"]) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }
  // A history: who by name (the id on hover), what as a sentence, each change as
  // "Label: before → after" in the pages' own words.
  const edit = await page.$eval('tbody tr[data-action="api_key.updated"]', (tr) => ({
    who: tr.cells[1].textContent,
    title: tr.cells[1].querySelector("[title]")?.title,
    what: tr.cells[2].textContent,
    changes: [...tr.cells[3].querySelectorAll("li")].map((li) => li.textContent),
  }));
  assert.deepEqual(edit, {
    who: "Key “acme admin”",
    title: admin.id,
    what: "Changed the key “reader”",
    changes: ["Permissions: Read → Read, Write", "Rate limit: 100/h → 50/h"],
  });
  await assertAccessible("Audit log");
  await screenshots("audit-log");
  assert.deepEqual(cspViolations, []);
});

test("permissions per resource; Sign out ends the session", async () => {
  await open("/dashboard/keys");
  await page.locator(aria("Name", "textbox")).fill("accounts only");
  await page.locator(aria("Per-resource permissions")).click();
  await page.locator(aria("Add resource", "button")).click();
  await page.locator(aria("Resource 1", "textbox")).fill("accounts");
  await page.locator(aria("Write on resource 1", "checkbox")).click();
  await page.locator(aria("Generate", "button")).click();
  const key = await readNewKey();
  await closeKeyDialog();
  const auth = await call(gw.url, "/v1/auth/test", { key });
  assert.deepEqual(auth.json.scopes, { accounts: ["read", "write"] });
  assert.equal((await call(gw.url, "/v1/opportunities", { key })).status, 403);

  await page.locator(aria("Sign out", "button")).click();
  await page.waitForSelector(aria("Sign in", "button"));
  const cookies = await page.cookies();
  assert.deepEqual(cookies.filter((c) => c.name.includes("session")), [], "the cookie is gone");
  // Signing in again works, and lands on the keys page.
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  const session = (await page.cookies()).find((c) => c.name === "scopien_session");
  assert.deepEqual(
    { httpOnly: session.httpOnly, sameSite: session.sameSite, path: session.path },
    { httpOnly: true, sameSite: "Strict", path: "/" },
  );
});

test("revoking the signed-in key over the API sends the page's next action to sign-in", async () => {
  await open("/dashboard/keys");
  const revoked = await call(gw.url, `/v1/api-keys/${admin.id}`, { key: gw.rootKey, method: "DELETE" });
  assert.equal(revoked.status, 200);
  await page.locator(aria("Name", "textbox")).fill("after revocation");
  await page.locator(aria("Generate", "button")).click();
  await page.waitForSelector(aria("Sign in", "button"));
  assert.equal(new URL(page.url()).pathname, "/dashboard");
  const listed = await call(gw.url, `/v1/api-keys?organizationId=${org.id}`, { key: gw.rootKey });
  assert.ok(!listed.json.data.some((k) => k.name === "after revocation"));
});
