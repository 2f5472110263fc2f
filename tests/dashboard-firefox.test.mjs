// The dashboard in Firefox (headless, driven by puppeteer-core over WebDriver BiDi): the
// main flow works there too, not only in Chromium. Firefox ESR comes from Debian's
// packages, installed at a pinned version by `npm test` (scripts/tools.sh,
// ensure_firefox); where it cannot be, this test says so and is skipped.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import puppeteer from "puppeteer-core";
import { startGateway, call, createKey } from "./harness.mjs";

const FIREFOX = process.env.FIREFOX_BIN ?? "/usr/bin/firefox-esr";
const available = existsSync(FIREFOX);

let gw, admin, browser, page;

before(async () => {
  if (!available) return;
  gw = await startGateway();
  admin = await createKey(gw, { name: "firefox admin", scopes: ["admin"] });
  browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true });
  page = await browser.newPage();
  page.setDefaultTimeout(20_000);
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

test("in Firefox: sign in, create a key through the form, read it once, and it works", { skip: !available && `no Firefox at ${FIREFOX}` }, async () => {
  await page.goto(`${gw.url}/dashboard`);
  await page.waitForSelector("#signin");
  await page.type("#api-key", admin.key);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#create-form");
  const heading = await page.$eval("h1", (h) => h.textContent);
  assert.equal(heading, "API Keys");

  await page.type("#create-name", "from firefox");
  await page.click("input[name=create-type][value=live]");
  await page.click("#create-rate-limit", { count: 3 });
  await page.type("#create-rate-limit", "100");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#key-dialog[open]");
  const warning = await page.$eval("#key-dialog", (d) => d.textContent);
  assert.match(warning, /Keys are only shown once\. Store them securely!/);
  const key = await page.$eval("#key-dialog-value", (input) => input.value);
  assert.match(key, /^sk_live_[0-9A-Za-z]{54}$/);

  const auth = await call(gw.url, "/v1/auth/test", { key });
  assert.equal(auth.status, 200);
  assert.deepEqual(auth.json.scopes, ["read"]);
  assert.equal(auth.headers.get("x-ratelimit-limit"), "100");
  const stored = await page.evaluate(() => ({
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie,
  }));
  for (const place of ["local", "session", "cookie"]) assert.ok(!stored[place].includes(key), place);
  assert.equal(stored.cookie, "", "the session cookie is HttpOnly");

  await page.click("#key-dialog-done");
  await page.waitForSelector("#key-dialog:not([open])");
  const value = await page.$eval("#key-dialog-value", (input) => input.value);
  assert.equal(value, "", "closing the dialog erases the key");
});
