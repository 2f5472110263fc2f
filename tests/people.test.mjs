// People in a real browser (issue #22): headless Chromium with its virtual WebAuthn
// authenticator (DevTools protocol: ctap2, internal transport, resident keys, user
// verification). The root key invites over the API; the browser opens the link on
// http://localhost (an IP address cannot be an RP id), fills "Name", clicks "Create
// passkey" and lands signed in; signs out; signs in again with "Sign in with a passkey".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createOrgWithAdmin, freePort } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

let gw, origin, acme, browser, page;
const cspViolations = [];
const { ready, assertAccessible, screenshots } = pageHelpers(
  () => page,
  () => origin,
);

before(async () => {
  const port = await freePort();
  origin = `http://localhost:${port}`;
  gw = await startGateway({ port, vars: { PASSKEY_ORIGINS: origin, PASSKEY_RP_ID: "localhost" } });
  acme = await createOrgWithAdmin(gw, { name: "Acme" });
  ({ browser, page } = await launchBrowser(cspViolations));
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
