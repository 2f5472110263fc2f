// The API Keys page marks an active key "Rotate" when it lives longer than its
// organization's key policy allows (#23, part 2: `outOfPolicy`), or when its secret
// (`rotatedAt`) is more than 90 days old; a roll clears the mark.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createKey, createOrgWithAdmin } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

let gw, org, admin, browser, page;
const cspViolations = [];
const { ready, open } = pageHelpers(
  () => page,
  () => gw.url,
);
/** A listing the next GET /dashboard/api/v1/api-keys answers with, when set. */
let fakeListing = null;

before(async () => {
  gw = await startGateway();
  ({ org, admin } = await createOrgWithAdmin(gw, { name: "Rotation" }));
  ({ browser, page } = await launchBrowser(cspViolations));
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (fakeListing && request.method() === "GET" && url.pathname === "/dashboard/api/v1/api-keys") {
      const body = JSON.stringify(fakeListing);
      fakeListing = null;
      return request.respond({ status: 200, contentType: "application/json", body });
    }
    return request.continue();
  });
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** Name → whether its row is marked Rotate, for every row shown. */
async function marks() {
  await page.waitForSelector("tbody tr[data-key-id]");
  return page.$$eval("tbody tr[data-key-id]", (trs) =>
    Object.fromEntries(trs.map((tr) => [tr.cells[0].textContent, tr.querySelector("[data-rotate]") !== null])),
  );
}

test("keys out of policy are marked Rotate until rolled; new keys under the policy are not", async () => {
  const old = await createKey(gw, { name: "old", scopes: ["read"] }, admin.key);
  const set = await call(gw.url, `/v1/organizations/${org.id}`, { key: admin.key, method: "PATCH", body: { keyPolicy: { maxLifetimeDays: 30 } } });
  assert.equal(set.status, 200, set.text);
  await createKey(gw, { name: "fresh", scopes: ["read"] }, admin.key);
  await open("/dashboard");
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();
  assert.deepEqual(await marks(), { "rotation admin": true, old: true, fresh: false });
  const title = await page.$eval(`tr[data-key-id="${old.id}"] [data-rotate]`, (el) => el.title);
  assert.match(title, /key policy/);
  const rolled = await call(gw.url, `/v1/api-keys/${old.id}/roll`, { key: admin.key, method: "POST", body: {} });
  assert.equal(rolled.status, 200);
  await open("/dashboard/keys");
  assert.deepEqual(await marks(), { "rotation admin": true, old: false, fresh: false });
  assert.deepEqual(cspViolations, []);
});

test("a secret older than 90 days is marked Rotate, counted from its last roll; revoked keys never are", async () => {
  const day = 86_400_000;
  const at = (daysAgo) => new Date(Date.now() - daysAgo * day).toISOString();
  const view = (id, name, createdDaysAgo, rotatedDaysAgo, extra = {}) => ({
    id: `key_${id.padEnd(16, "0")}`,
    name,
    type: "live",
    organizationId: org.id,
    scopes: ["read"],
    rateLimit: 1000,
    burst: 50,
    dailyLimit: 10000,
    createdAt: at(createdDaysAgo),
    expiresAt: null,
    lastUsedAt: null,
    status: "active",
    revokedAt: null,
    display: `sk_live_${id.padEnd(16, "0")}…abcd`,
    leakedAt: null,
    allowedIps: [],
    rotatedAt: at(rotatedDaysAgo),
    outOfPolicy: false,
    ...extra,
  });
  fakeListing = {
    data: [
      view("aged", "aged", 120, 120),
      view("rolled", "rolled", 200, 10),
      view("young", "young", 89, 89),
      view("gone", "gone", 300, 300, { status: "revoked", revokedAt: at(1) }),
    ],
    hasMore: false,
    nextCursor: null,
  };
  await open("/dashboard/keys");
  assert.deepEqual(await marks(), { aged: true, rolled: false, young: false, gone: false });
});
