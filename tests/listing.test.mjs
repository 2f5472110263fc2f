// Every list pages with limit + cursor, and never claims to be complete when it is not:
// an organization's Authorized apps past 200 grants (approving throwaway apps once hid a
// backdoor grant from the API and the dashboard while its token worked), its OAuth apps,
// and the dashboard's tables, which reach every row with "Load more".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createOrgWithAdmin } from "./harness.mjs";
import { registerApp as registerOAuthApp, signIn, openConsent, submitConsent, exchange } from "./oauth-flow.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

const THROWAWAY = 205;
// One organization gives one app at most 50 active grants (tests/derived.test.mjs), so
// the throwaway grants are spread over five apps.
const THROWAWAY_APPS = 5;
let gw, origin, org, admin, cookie, browser, page, backdoor, throwaway, throwaways, backdoorToken;
const cspViolations = [];
const { ready } = pageHelpers(
  () => page,
  () => gw.url,
);

/** An app of the organization, read scope only. */
const registerApp = (name) => registerOAuthApp(gw, admin.key, { name, scopes: ["read"] });

/** Approves an opened consent: each decision begins a new grant; returns its code. */
async function approve(consent) {
  const { code, status, text } = await submitConsent(gw, consent);
  assert.equal(status, 303, text);
  return code;
}

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url } });
  // Enterprise: 205 approvals in parallel stay within the admin key's burst.
  ({ org, admin } = await createOrgWithAdmin(gw, { plan: "enterprise" }));
  cookie = await signIn(gw, admin.key);
  // The backdoor first (the oldest grant), then 205 approvals of five throwaway apps:
  // each approval is a grant of its own.
  backdoor = await registerApp("Backdoor");
  const consent = await openConsent(gw, backdoor, cookie);
  const tokens = await exchange(gw, backdoor, await approve(consent), consent.verifier);
  assert.equal(tokens.status, 200);
  backdoorToken = tokens.json.access_token;
  throwaways = [];
  for (let i = 0; i < THROWAWAY_APPS; i++) throwaways.push(await registerApp(`Throwaway ${i}`));
  [throwaway] = throwaways;
  const forms = await Promise.all(throwaways.map((app) => openConsent(gw, app, cookie)));
  for (let done = 0; done < THROWAWAY; done += 15) {
    await Promise.all(
      Array.from({ length: Math.min(15, THROWAWAY - done) }, (_, i) => approve(forms[(done + i) % THROWAWAY_APPS])),
    );
  }
});
after(async () => {
  await browser?.close();
  await gw?.stop();
  await origin?.close();
});

/** Every page of `path` (with `limit`), following nextCursor; checks each page's claims. */
async function walk(path, limit, key = admin.key) {
  const pages = [];
  let cursor = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const url = `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await call(gw.url, url, { key });
    assert.equal(res.status, 200, `${url}: ${res.text}`);
    pages.push(res.json);
    assert.ok(res.json.data.length <= limit);
    if (!res.json.hasMore) {
      assert.equal(res.json.nextCursor, null, "the last page has no cursor");
      return pages;
    }
    assert.equal(typeof res.json.nextCursor, "string", "a page with more has a cursor");
    cursor = res.json.nextCursor;
  }
  throw new Error(`${path}: no last page`);
}

test("Authorized apps past 200 grants: every grant is reached by cursor, the backdoor too, and hasMore is false only on the last page", async () => {
  const total = THROWAWAY + 1;
  // Unpaged, the listing must not claim to be complete when it is not.
  const first = await call(gw.url, "/v1/oauth-authorizations", { key: admin.key });
  assert.equal(first.status, 200, first.text);
  if (!first.json.hasMore) assert.equal(first.json.data.length, total, "a page that says it is the last holds every grant");
  assert.ok(first.json.hasMore, `${first.json.data.length} of ${total} grants, hasMore ${first.json.hasMore}`);
  for (const limit of [100, 7]) {
    const pages = await walk("/v1/oauth-authorizations", limit);
    const ids = pages.flatMap((p) => p.data.map((g) => g.grantId));
    assert.equal(ids.length, total, `limit ${limit}`);
    assert.equal(new Set(ids).size, total, `limit ${limit}: no grant twice`);
    assert.ok(pages.slice(0, -1).every((p) => p.hasMore && p.data.length === limit), `limit ${limit}`);
    const found = pages.flatMap((p) => p.data).find((g) => g.clientId === backdoor.clientId);
    assert.ok(found, "the backdoor grant is listed");
    assert.equal(found.status, "active");
  }
  // The backdoor's token works, so the listing must show it: it does, above.
  const works = await call(gw.url, "/v1/accounts", { key: backdoorToken });
  assert.equal(works.status, 200, works.text);
  // The dashboard's API is the same listing.
  const dash = await fetch(`${gw.url}/dashboard/api/v1/oauth-authorizations?limit=100`, { headers: { cookie } });
  const body = await dash.json();
  assert.equal(dash.status, 200);
  assert.equal(body.hasMore, true);
  assert.equal(body.data.length, 100);
});

test("a revoked grant moves to the end of the order and is still reached; active ones come first", async () => {
  const all = (await walk("/v1/oauth-authorizations", 100)).flatMap((p) => p.data);
  const victim = all.find((g) => g.clientId === throwaway.clientId && g.status === "active");
  const revoked = await call(gw.url, `/v1/oauth-authorizations/${victim.grantId}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200, revoked.text);
  const after = (await walk("/v1/oauth-authorizations", 50)).flatMap((p) => p.data);
  assert.equal(after.length, all.length);
  assert.equal(after.at(-1).grantId, victim.grantId, "revoked grants come after every active one");
  assert.equal(after.at(-1).status, "revoked");
});

test("OAuth apps page by cursor too; a malformed cursor or limit is a 400 naming it", async () => {
  const pages = await walk("/v1/oauth-clients", 1);
  assert.equal(pages.length, 1 + THROWAWAY_APPS);
  assert.deepEqual(
    pages.flatMap((p) => p.data.map((a) => a.clientId)).sort(),
    [backdoor, ...throwaways].map((a) => a.clientId).sort(),
  );
  const viaRoot = await walk(`/v1/oauth-clients?organizationId=${org.id}`, 1, gw.rootKey);
  assert.equal(viaRoot.flatMap((p) => p.data).length, 1 + THROWAWAY_APPS);
  for (const path of ["/v1/oauth-clients", "/v1/oauth-authorizations", "/v1/audit-log", "/v1/api-keys"]) {
    for (const cursor of ["nope", "1.x.grant_0123456789abcdef", "key_%00"]) {
      const res = await call(gw.url, `${path}?cursor=${encodeURIComponent(cursor)}`, { key: admin.key });
      assert.equal(res.status, 400, `${path} cursor ${cursor}: ${res.text}`);
      assert.match(res.json.error.details, /cursor/, path);
    }
    const res = await call(gw.url, `${path}?limit=0`, { key: admin.key });
    assert.equal(res.status, 400, `${path} limit=0`);
    assert.match(res.json.error.details, /limit/, path);
  }
});

test("the root key's global listings (keys, organizations) refuse a cursor no page gave out, and follow the ones that did", async () => {
  for (const path of ["/v1/api-keys", "/v1/organizations"]) {
    for (const cursor of ["garbage", "…", "AAAAAAAAAAAA"]) {
      const res = await call(gw.url, `${path}?cursor=${encodeURIComponent(cursor)}`, { key: gw.rootKey });
      assert.equal(res.status, 400, `${path} cursor ${cursor}: ${res.text}`);
      assert.equal(res.json.error.field, "cursor", res.text);
    }
  }
  // A real cursor still leads on: page through every key one at a time.
  const seen = new Set();
  let path = "/v1/api-keys?limit=1";
  for (let pages = 0; path; pages++) {
    assert.ok(pages < 500, "the listing ends");
    const res = await call(gw.url, path, { key: gw.rootKey });
    assert.equal(res.status, 200, res.text);
    for (const key of res.json.data) seen.add(key.id);
    path = res.json.hasMore ? `/v1/api-keys?limit=1&cursor=${encodeURIComponent(res.json.nextCursor)}` : null;
  }
  assert.ok(seen.has(admin.id), "the organization's admin key is in the global listing");
});

test("the dashboard's Authorized apps reaches every grant with Load more", async () => {
  ({ browser, page } = await launchBrowser(cspViolations));
  const [name, value] = cookie.split("=");
  await page.setCookie({ name, value, url: gw.url });
  await page.goto(`${gw.url}/dashboard/authorized-apps`);
  await ready();
  await page.waitForSelector("tbody tr[data-grant-id]");
  for (let i = 0; i < 20; i++) {
    const more = await page.$(`${aria("Load more", "button")}`);
    const visible = more && (await more.evaluate((b) => !b.hidden && b.offsetParent !== null));
    if (!visible) break;
    const before = await page.$$eval("tbody tr[data-grant-id]", (rows) => rows.length);
    await more.click();
    await page.waitForFunction((n) => document.querySelectorAll("tbody tr[data-grant-id]").length > n, {}, before);
  }
  const ids = await page.$$eval("tbody tr[data-grant-id]", (rows) => rows.map((r) => r.dataset.grantId));
  assert.equal(ids.length, THROWAWAY + 1);
  assert.equal(new Set(ids).size, ids.length);
  const backdoorRow = await page.$$eval("tbody tr[data-grant-id]", (rows) =>
    rows.filter((r) => r.cells[0]?.textContent === "Backdoor").length,
  );
  assert.equal(backdoorRow, 1, "the backdoor grant's row is reached");
  assert.deepEqual(cspViolations, []);
});
