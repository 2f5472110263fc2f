// Settings → Webhooks in a real browser: add an endpoint (a refused URL is shown at its
// field), its signing secret shown once and erased when the dialog closes, a delivery
// listed with its status once the receiver got it, no serious axe violation, no CSP
// violation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startGateway, call, createKey, createOrgWithAdmin, waitFor } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

let gw, admin, browser, page, receiver, server;
const received = [];
const cspViolations = [];
const { ready, open, assertAccessible, screenshots, pageStorage } = pageHelpers(
  () => page,
  () => gw.url,
);

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, json: JSON.parse(body) });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver = `http://127.0.0.1:${server.address().port}/hook`;
  gw = await startGateway();
  ({ admin } = await createOrgWithAdmin(gw, { name: "Hooked" }));
  ({ browser, page } = await launchBrowser(cspViolations));
});
after(async () => {
  await browser?.close();
  await gw?.stop();
  server?.closeAllConnections?.();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

test("add an endpoint, its secret shown once; its deliveries listed with their status", async () => {
  await open("/dashboard");
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  await page.locator(`nav ${aria("Webhooks", "link")}`).click();
  await page.waitForSelector(aria("Webhooks", "heading"));
  await ready();
  assert.equal(new URL(page.url()).pathname, "/dashboard/webhooks");
  assert.match(await page.$eval("tbody", (t) => t.textContent), /No endpoints yet/);
  await assertAccessible("Webhooks, empty");

  await page.locator(aria("Add endpoint", "button")).click();
  await page.waitForSelector("#webhook-dialog[open]");
  assert.equal(await page.evaluate(() => document.activeElement.id), "webhook-url", "the dialog opens on URL");
  await page.locator(aria("URL", "textbox")).fill("http://hooks.example.com/in");
  await page.locator(`#webhook-dialog ${aria("Add endpoint", "button")}`).click();
  const error = await page.waitForFunction(() => document.getElementById("webhook-url-error").textContent);
  assert.match(await error.jsonValue(), /must use https/);
  assert.deepEqual(
    await page.$eval("#webhook-url", (i) => ({ invalid: i.getAttribute("aria-invalid"), focused: document.activeElement === i })),
    { invalid: "true", focused: true },
    "the error is at the field, which has the focus",
  );
  await assertAccessible("the add dialog with an error");

  await page.locator(aria("URL", "textbox")).fill(receiver);
  await page.locator(aria("Description (optional)", "textbox")).fill("Local receiver");
  await page.locator(`#webhook-dialog ${aria("Add endpoint", "button")}`).click();
  await page.waitForSelector("#webhook-secret-dialog[open]");
  const secret = await page.$eval(aria("Signing secret", "textbox"), (t) => t.value);
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  assert.match(await page.$eval("#webhook-secret-dialog", (d) => d.textContent), /shown only once/);
  assert.ok(await page.$(aria("Copy signing secret", "button")));
  await assertAccessible("the new endpoint's secret");
  await screenshots("webhook-secret", { fullPage: false });
  await page.locator(`#webhook-secret-dialog ${aria("Done", "button")}`).click();
  await page.waitForSelector("#webhook-secret-dialog:not([open])");
  const stored = await pageStorage();
  assert.ok(!stored.html.includes(secret) && !stored.values.includes(secret), "closing the dialog erases the secret");
  for (const place of ["local", "session", "cookie"]) assert.ok(!stored[place].includes(secret), place);

  const listed = await call(gw.url, "/v1/auth/webhooks", { key: admin.key });
  assert.equal(listed.json.data.length, 1);
  assert.deepEqual(listed.json.data[0].events, ["api_key.created", "api_key.revoked"], "the events checked by default");
  assert.equal(listed.json.data[0].description, "Local receiver");

  const key = await createKey(gw, { name: "watched", scopes: ["read"] }, admin.key);
  await waitFor(() => received.some((d) => d.json.data.id === key.id), { what: "the delivery" });
  // The status is recorded just after the receiver answered.
  await waitFor(async () => {
    const res = await call(gw.url, `/v1/auth/webhooks/${listed.json.data[0].id}/deliveries`, { key: admin.key });
    return res.json.data[0]?.status === "delivered";
  }, { what: "the delivery recorded" });
  await page.locator(aria(`Deliveries ${receiver}`, "button")).click();
  const row = await page.waitForFunction(() => {
    const tr = document.querySelector("#deliveries tbody tr[data-delivery-id]");
    return tr && Object.fromEntries([...tr.cells].map((td) => [td.dataset.label, td.textContent]));
  });
  const cells = await row.jsonValue();
  assert.equal(cells.Event, "A key is created");
  assert.equal(cells.Status, "Delivered");
  assert.equal(cells.Attempts, "1");
  assert.equal(cells["Last answer"], "204");
  assert.equal(cells["Message ID"], received.find((d) => d.json.data.id === key.id).headers["webhook-id"]);
  await assertAccessible("Webhooks with deliveries");
  await screenshots("webhooks");
  assert.deepEqual(cspViolations, []);
});
