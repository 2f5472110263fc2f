// Every dashboard page as a person sees it: at desktop and phone width, in the light and
// the dark color scheme (screenshots in build/screenshots, to look at), each without a
// serious axe-core violation; and what the pages say in a person's words: the audit log
// as a history, a leaked key's status, a chart with no traffic, the operator's view.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { join } from "node:path";
import { startGateway, call, createKey, createOrgWithAdmin, rawRequest } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers, SHOTS, SIZES } from "./browser.mjs";

const signer = generateKeyPairSync("ec", { namedCurve: "P-256" });
const SCANNER_KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const keyDocument = JSON.stringify({
  public_keys: [
    { key_identifier: SCANNER_KEY_ID, key: signer.publicKey.export({ type: "spki", format: "pem" }), is_current: true },
  ],
});

let gw, org, admin, browser, page, quiet, leaky, app;
const cspViolations = [];
const { ready, open, assertAccessible } = pageHelpers(
  () => page,
  () => gw.url,
);

/** GitHub's report that `token` was found in a public repository. */
function reportLeak(token) {
  const body = JSON.stringify([{ token, type: "scopien_api_key", url: "https://github.com/octo/app/blob/main/.env", source: "content" }]);
  const signature = sign("sha256", Buffer.from(body), signer.privateKey).toString("base64");
  return rawRequest(gw.url, "/secret-scanning/github", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": SCANNER_KEY_ID,
      "github-public-key-signature": signature,
    },
    bodyChunks: [body],
  });
}

before(async () => {
  gw = await startGateway({ vars: { SECRET_SCANNING_PUBLIC_KEYS: keyDocument } });
  ({ org, admin } = await createOrgWithAdmin(gw));
  quiet = await createKey(gw, { name: "quiet reader", scopes: ["read"] }, admin.key);
  const widened = await call(gw.url, `/v1/api-keys/${quiet.id}`, { key: admin.key, method: "PATCH", body: { scopes: ["read", "write"] } });
  assert.equal(widened.status, 200, widened.text);
  leaky = await createKey(gw, { name: "leaky", scopes: ["read"] }, admin.key);
  assert.equal((await reportLeak(leaky.key)).status, 200);
  const registered = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "CRM Sync", redirectUris: ["https://crm.example/callback"], scopes: ["read"], type: "confidential" },
  });
  assert.equal(registered.status, 201, registered.text);
  app = registered.json;
  ({ browser, page } = await launchBrowser(cspViolations));
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** The page now, at both widths in both color schemes, as `${name}-${size}-${scheme}.png`;
 * and no serious axe violation in either scheme. */
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

async function signIn(key) {
  await open("/dashboard");
  await page.locator(aria("API key", "textbox")).fill(key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
}

/** Whether the page is no wider than the window (no sideways scrolling). */
const fitsWidth = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

const rowCells = (selector) =>
  page.$$eval(selector, (trs) => trs.map((tr) => Object.fromEntries([...tr.cells].map((td) => [td.dataset.label, td.textContent]))));

test("API Keys: a leaked key says so and when; the actions stay on one line", async () => {
  await open("/dashboard");
  await everyLook("sign-in-page");
  await signIn(admin.key);
  const who = await page.$eval("#who", (p) => p.textContent);
  assert.equal(who, "Signed in with acme admin (live key, Starter plan)", "the header names the key, not its id");
  const rows = await rowCells("tbody tr[data-key-id]");
  const leaked = rows.find((r) => r.Name === "leaky");
  assert.match(leaked.Status, /^Revoked: leaked in a public repositoryReported [A-Z][a-z]{2} \d{1,2}, \d{4}/);
  assert.equal(rows.find((r) => r.Name === "quiet reader").Status, "Active");
  assert.ok(!rows.some((r) => "Organization" in r), "an organization's admin sees no Organization column");
  // On a desktop, a row's actions take one line.
  const heights = await page.$$eval("tbody tr[data-key-id] .row-actions", (divs) =>
    divs.map((d) => [d.children.length, Math.round(d.getBoundingClientRect().height)]));
  const lineHeight = Math.min(...heights.map(([, height]) => height));
  for (const [, height] of heights) assert.ok(height <= lineHeight + 2, `actions wrapped: ${JSON.stringify(heights)}`);
  assert.ok(await fitsWidth(), "the keys table fits the desktop width");
  await everyLook("api-keys-page");
  // On a phone the navigation is one row (it scrolls sideways).
  await page.setViewport(SIZES.phone);
  const navRows = await page.$$eval(".settings-nav li", (lis) => new Set(lis.map((li) => Math.round(li.getBoundingClientRect().top))).size);
  assert.equal(navRows, 1, "the navigation takes one row on a phone");
  await page.setViewport(SIZES.desktop);
});

test("Usage with no traffic: round, distinct ticks and 'No requests yet'", async () => {
  await open(`/dashboard/keys/${quiet.id}/usage`);
  await page.waitForSelector(aria("Usage: quiet reader", "heading"));
  const charts = await page.$$eval("svg.chart", (svgs) => svgs.map((svg) => ({
    ticks: [...svg.querySelectorAll("text.tick")].map((t) => t.textContent),
    note: svg.querySelector("text.empty-note")?.textContent,
    desc: svg.querySelector("desc").textContent,
  })));
  assert.equal(charts.length, 2);
  for (const chart of charts) {
    assert.deepEqual(chart.ticks, ["0", "1", "2", "3", "4"]);
    assert.equal(chart.note, "No requests yet");
    assert.equal(chart.desc, "No requests yet.");
  }
  await everyLook("usage-empty-page");
});

test("Audit log: who by name, what as a sentence, changes as before → after", async () => {
  await open("/dashboard/audit-log");
  await page.waitForSelector(aria("Audit log", "heading"));
  const rows = await page.$$eval("tbody tr[data-action]", (trs) => trs.map((tr) => ({
    action: tr.dataset.action,
    who: tr.cells[1].textContent,
    whoTitle: tr.cells[1].querySelector("[title]")?.title ?? null,
    what: tr.cells[2].textContent,
    changes: [...tr.cells[3].querySelectorAll(".change-list li")].map((li) => li.textContent),
    details: tr.cells[3].querySelector("details")?.textContent ?? "",
  })));
  const one = (action, name) => rows.find((r) => r.action === action && r.what.includes(name));
  const updated = one("api_key.updated", "quiet reader");
  assert.equal(updated.who, "Key “acme admin”");
  assert.equal(updated.whoTitle, admin.id, "the actor's id on hover");
  assert.equal(updated.what, "Changed the key “quiet reader”");
  assert.deepEqual(updated.changes, ["Permissions: Read → Read, Write"]);
  assert.match(updated.details, new RegExp(quiet.id));
  const created = one("api_key.created", "quiet reader");
  assert.equal(created.what, "Created the key “quiet reader”");
  assert.ok(created.changes.includes("Permissions: Read"), created.changes.join(" | "));
  const leaked = one("api_key.leaked", "leaky");
  assert.equal(leaked.who, "GitHub secret scanning");
  assert.equal(leaked.what, "Revoked the key “leaky”: leaked in a public repository");
  assert.match(leaked.details, /github\.com\/octo\/app/);
  const registered = one("oauth_client.created", "CRM Sync");
  assert.equal(registered.what, "Registered the OAuth app “CRM Sync”");
  assert.match(registered.details, new RegExp(app.clientId));
  assert.ok(!rows.some((r) => /[{}"]/.test(r.changes.join(""))), "no JSON in the changes");
  await everyLook("audit-log-page");
});

test("Organization, OAuth apps and Authorized apps pages", async () => {
  for (const [path, heading, name] of [
    ["/dashboard/organization", "Organization", "organization-page"],
    ["/dashboard/oauth-apps", "OAuth apps", "oauth-apps-page"],
    ["/dashboard/authorized-apps", "Authorized apps", "authorized-apps-page"],
  ]) {
    await open(path);
    await page.waitForSelector(aria(heading, "heading"));
    // On a phone the current tab is scrolled into view.
    await page.setViewport(SIZES.phone);
    await open(path);
    const current = await page.$eval('.settings-nav a[aria-current="page"]', (a) => {
      const box = a.getBoundingClientRect();
      return { text: a.textContent, visible: box.left >= 0 && box.right <= window.innerWidth };
    });
    assert.deepEqual(current, { text: heading, visible: true });
    await page.setViewport(SIZES.desktop);
    await everyLook(name);
  }
});

test("the operator (root key): an Organization column, no plan in the header, every organization and its log", async () => {
  await page.locator(aria("Sign out", "button")).click();
  await page.waitForSelector(aria("Sign in", "button"));
  await signIn(gw.rootKey);
  const who = await page.$eval("#who", (p) => p.textContent);
  assert.equal(who, "Signed in as the operator (root key)");
  await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-key-id]").length > 0);
  const rows = await rowCells("tbody tr[data-key-id]");
  const quietRow = rows.find((r) => r.Name === "quiet reader");
  assert.ok(quietRow, `the operator sees Acme's keys: ${JSON.stringify(rows.map((r) => r.Name))}`);
  assert.equal(quietRow.Organization, org.name);
  assert.ok(await fitsWidth(), "with the Organization column too, the table fits the desktop width: " + JSON.stringify(await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth, document.querySelector("main").getBoundingClientRect().width, [...document.querySelectorAll("thead th")].map((th) => [th.textContent, Math.round(th.getBoundingClientRect().width)])])));
  const hint = await page.$eval("#create-rate-limit-hint", (p) => p.textContent);
  assert.match(hint, /^Requests per hour\. The default organization's Starter plan allows/);
  await everyLook("api-keys-operator-page");

  // The list of organizations, and any one's audit log.
  await open("/dashboard/organization");
  await page.waitForSelector(aria("Organizations", "heading"));
  const listed = await rowCells("tbody tr[data-organization-id]");
  assert.deepEqual(listed.map((r) => [r.Name, r.Id, r.Plan, r.Status]), [[org.name, org.id, "Starter", "Active"]]);
  await everyLook("organization-operator-page");
  await page.locator(aria(`Audit log of ${org.name}`, "link")).click();
  await page.waitForSelector(aria("Audit log", "heading"));
  await ready();
  assert.equal(await page.$eval("#audit-organization", (s) => s.value), org.id);
  const whats = await page.$$eval("tbody tr[data-action]", (trs) => trs.map((tr) => tr.cells[2].textContent));
  assert.ok(whats.includes("Changed the key “quiet reader”"), whats.join(" | "));
  await everyLook("audit-log-operator-page");
  assert.deepEqual(cspViolations, []);
});
