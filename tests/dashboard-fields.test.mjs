// The dashboard places an API error by the field its body names (`error.field`), not by
// reading its prose: answers whose `details` say one field while `field` names another
// are shown at the field `field` names; one naming no field it has a control for goes
// to the form's own error line. And the real API's `field` reaches the right control
// for an error only the key's guard decides (a patch over the plan's ceiling).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, createOrgWithAdmin } from "./harness.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

let gw, admin, browser, page;
const cspViolations = [];
const { ready, open } = pageHelpers(
  () => page,
  () => gw.url,
);
/** The error body the next POST /dashboard/api/v1/api-keys answers with, when set. */
let fake = null;

before(async () => {
  gw = await startGateway();
  ({ admin } = await createOrgWithAdmin(gw));
  ({ browser, page } = await launchBrowser(cspViolations));
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    if (fake && request.method() === "POST" && new URL(request.url()).pathname === "/dashboard/api/v1/api-keys") {
      const error = fake;
      fake = null;
      return request.respond({ status: 400, contentType: "application/json", body: JSON.stringify({ error }) });
    }
    return request.continue();
  });
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** The text of every error line of the page that is not empty, by id. */
async function shownErrors() {
  return page.$$eval(".error", (ps) => Object.fromEntries(ps.filter((p) => p.textContent).map((p) => [p.id, p.textContent])));
}

async function generateWith(error) {
  fake = { code: "invalid_request", message: "Invalid request", ...error };
  await page.locator(aria("Name", "textbox")).fill("placed");
  await page.locator(aria("Generate", "button")).click();
  await page.waitForFunction(() => [...document.querySelectorAll("#create-form .error")].some((p) => p.textContent));
  return shownErrors();
}

test("an error is shown at the control its `field` names, whatever its details say", async () => {
  await open("/dashboard");
  await page.locator(aria("API key", "textbox")).fill(admin.key);
  await page.locator(aria("Sign in", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading"));
  await ready();

  const cases = [
    [{ field: "name", details: "rateLimit must be at most 1000" }, "create-name-error"],
    [{ field: "rateLimit", details: "name must be 1 to 128 characters" }, "create-rate-limit-error"],
    [{ field: "burst", details: "scopes: nothing" }, "create-rate-limit-error"],
    [{ field: "scopes", details: "expiresAt must be in the future" }, "create-permissions-error"],
    [{ field: "expiresAt", details: "type must be 'test' or 'live'" }, "create-expires-error"],
    [{ field: "type", details: "scopes is required" }, "create-type-error"],
    // No control for it, or no field at all: the form's own line, prose notwithstanding.
    [{ field: "owner", details: "name: Unknown field 'owner'" }, "create-form-error"],
    [{ field: "constructor", details: "scopes: a prototype's member is no field" }, "create-form-error"],
    [{ details: "rateLimit: the body must be a JSON object" }, "create-form-error"],
  ];
  for (const [error, id] of cases) {
    const shown = await generateWith(error);
    assert.deepEqual(shown, { [id]: error.details }, JSON.stringify(error));
  }
  // The control the error is about has the focus and is marked invalid.
  await generateWith({ field: "rateLimit", details: "rateLimit must be at most 1000" });
  const control = await page.evaluate(() => [document.activeElement.id, document.activeElement.getAttribute("aria-invalid")]);
  assert.deepEqual(control, ["create-rate-limit", "true"]);
  assert.deepEqual(cspViolations, []);
});

test("the API's words about a field become a person's, with the API's numbers", async () => {
  const cases = [
    [{ field: "rateLimit", details: "rateLimit must be at most 250000 (the professional plan's ceiling)" }, "create-rate-limit-error", "Rate limit can be at most 250,000 on the Professional plan."],
    [{ field: "rateLimit", details: "rateLimit must be at most 100 (the limit for test keys)" }, "create-rate-limit-error", "Rate limit can be at most 100 for test keys."],
    [{ field: "rateLimit", details: "rateLimit must be a whole number of at least 1" }, "create-rate-limit-error", "Rate limit must be a whole number of requests per hour, 1 or more."],
    [{ field: "name", details: "name must be 1 to 128 characters" }, "create-name-error", "Enter a name of 1 to 128 characters."],
    [{ field: "scopes", details: "This API key cannot grant 'admin' permission for every resource: a key can give only the scopes it holds itself" }, "create-permissions-error", "You cannot grant Admin: a key can give only the permissions it holds itself."],
    [{ field: "scopes", details: "scopes has invalid resource name 'A B'; use lower-case letters, digits and '-'" }, "create-permissions-error", "The resource “A B” can use only lower-case letters, digits and '-'."],
    [{ field: "expiresAt", details: "expiresAt must be in the future" }, "create-expires-error", "Choose an expiry date in the future, or Never."],
    [{ field: "type", details: "type: a test-mode admin key can create only test keys; use a live admin key" }, "create-type-error", "A test admin key can create only test keys. Sign in with a live admin key to create a live key."],
    // Words no sentence is written for: the API's own, its field name read as the label.
    [{ field: "scopes", details: "scopes contains unknown scope 'own'; use read, write, delete or admin" }, "create-permissions-error", "Permissions contains unknown scope 'own'; use read, write, delete or admin"],
  ];
  for (const [error, id, text] of cases) {
    const shown = await generateWith(error);
    assert.deepEqual(shown, { [id]: text }, JSON.stringify(error));
  }
});

test("a patch over the plan's ceiling, refused by the key's guard, is shown at Rate Limit", async () => {
  await open("/dashboard/keys");
  await page.locator(aria("Edit acme admin", "button")).click();
  await page.waitForSelector("#edit-dialog[open]");
  await page.locator(`#edit-dialog ${aria("Rate Limit", "spinbutton")}`).fill("5000");
  await page.locator(aria("Save", "button")).click();
  const error = await page.waitForFunction(() => document.getElementById("edit-rate-limit-error").textContent);
  assert.match(await error.jsonValue(), /^Rate limit can be at most 1,000 on the Starter plan\.$/);
  const field = await page.$eval("#edit-rate-limit", (input) => ({
    invalid: input.getAttribute("aria-invalid"),
    focused: document.activeElement === input,
  }));
  assert.deepEqual(field, { invalid: "true", focused: true });
});
