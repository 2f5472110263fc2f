// Self-serve sign-up (issue #22, SIGNUP = "open"): a person with a passkey creates their
// own organization on the default plan and owns it. Over HTTP with the software
// authenticator (tests/authenticator.mjs), and once in Chromium with its virtual
// authenticator, from the sign-in page's "Create an account". Closed by default; a
// completed sign-up is counted per address and hour (SIGNUP_LIMIT_PER_HOUR), also when
// sign-ups race.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPasskeyGateway, startGateway, call } from "./harness.mjs";
import { Authenticator } from "./authenticator.mjs";
import { aria, launchBrowser, pageHelpers } from "./browser.mjs";

const LIMIT = 2;
let gw, origin, browser, page;
const cspViolations = [];
const { ready, assertAccessible, screenshots } = pageHelpers(
  () => page,
  () => origin,
);

before(async () => {
  ({ gw, site: origin } = await startPasskeyGateway({ SIGNUP: "open", SIGNUP_LIMIT_PER_HOUR: String(LIMIT) }));
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** A same-origin call of the pages' from `address` (each test its own, so each has its
 * own hourly count). */
const pageCall = (path, body, address, cookie) =>
  call(origin, path, {
    method: "POST",
    body: body ?? {},
    headers: { origin, accept: "application/json", "cf-connecting-ip": address, ...(cookie ? { cookie } : {}) },
  });

/** The create body without the invitation's members a sign-up does not take. */
function credentialOnly(body) {
  const { token: _t, name: _n, ...rest } = body;
  return rest;
}

const cookieOf = (res) => res.headers.get("set-cookie")?.split(";")[0];
const organizations = async () => (await call(gw.url, "/v1/organizations?limit=100", { key: gw.rootKey })).json.data;

test("a sign-up creates the organization on the default plan, its owner, and their session", async () => {
  const auth = new Authenticator({ origin });
  const options = await pageCall("/dashboard/passkey/signup/options", { email: "grace@example.com", name: "Grace Hopper", organizationName: "Compilers Inc" }, "198.51.100.1");
  assert.equal(options.status, 200, options.text);
  assert.equal(options.json.publicKey.user.name, "grace@example.com");
  const done = await pageCall("/dashboard/passkey/signup", credentialOnly(auth.create(options.json.publicKey, {})), "198.51.100.1");
  assert.equal(done.status, 204, done.text);
  const cookie = cookieOf(done);
  assert.ok(cookie, "signed in");
  const session = await call(origin, "/dashboard/api/session", { headers: { cookie } });
  assert.equal(session.status, 200, session.text);
  assert.equal(session.json.role, "owner");
  assert.equal(session.json.name, "Grace Hopper");
  const org = (await organizations()).find((o) => o.id === session.json.organizationId);
  assert.ok(org, "the root key lists the new organization");
  assert.equal(org.name, "Compilers Inc");
  assert.equal(org.plan, "starter", "the default plan: a sign-up cannot choose one");
  assert.equal(org.status, "active");
  // An owner can work at once: a key in their own organization.
  const key = await call(origin, "/dashboard/api/v1/api-keys", {
    method: "POST",
    body: { name: "first", scopes: ["read"] },
    headers: { cookie, origin, "x-csrf-token": session.json.csrfToken },
  });
  assert.equal(key.status, 201, key.text);
  assert.equal(key.json.organizationId, org.id);
  // The history says who did it.
  const audit = await call(gw.url, `/v1/audit-log?organizationId=${org.id}`, { key: gw.rootKey });
  const actions = audit.json.data.map((e) => e.action);
  for (const action of ["organization.created", "member.joined", "passkey.added"]) assert.ok(actions.includes(action), `${action}: ${actions}`);
  const created = audit.json.data.find((e) => e.action === "organization.created");
  assert.equal(created.actor.type, "person");
});

test("a sign-up's body is checked field by field; its plan is not the person's to pick", async () => {
  const cases = [
    [{ name: "A", organizationName: "B" }, "email"],
    [{ email: "nope", name: "A", organizationName: "B" }, "email"],
    [{ email: "a@b.example", organizationName: "B" }, "name"],
    [{ email: "a@b.example", name: "A" }, "organizationName"],
    [{ email: "a@b.example", name: "A", organizationName: "Acme\u202EPay" }, "organizationName"],
  ];
  for (const [body, field] of cases) {
    const res = await pageCall("/dashboard/passkey/signup/options", body, "198.51.100.2");
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.error.field, field, res.text);
  }
  const plan = await pageCall("/dashboard/passkey/signup/options", { email: "a@b.example", name: "A", organizationName: "B", plan: "enterprise" }, "198.51.100.2");
  assert.equal(plan.status, 400);
});

test("a challenge completes one sign-up once; a sign-in challenge completes none", async () => {
  const auth = new Authenticator({ origin });
  const address = "198.51.100.3";
  const options = await pageCall("/dashboard/passkey/signup/options", { email: "r@example.com", name: "R", organizationName: "Replay" }, address);
  const body = credentialOnly(auth.create(options.json.publicKey, {}));
  assert.equal((await pageCall("/dashboard/passkey/signup", body, address)).status, 204);
  const replay = await pageCall("/dashboard/passkey/signup", body, address);
  assert.notEqual(replay.status, 204, "a replayed sign-up");
  assert.equal((await organizations()).filter((o) => o.name === "Replay").length, 1);
  const signin = await pageCall("/dashboard/passkey/signin/options", {}, address);
  const asCreate = { ...signin.json.publicKey, user: { id: Buffer.from("person_0000000000000000").toString("base64url") } };
  const wrong = await pageCall("/dashboard/passkey/signup", credentialOnly(auth.create(asCreate, {})), address);
  assert.notEqual(wrong.status, 204, "a sign-in challenge cannot create an organization");
});

test("an address completes at most SIGNUP_LIMIT_PER_HOUR sign-ups, also when they race", async () => {
  for (let trial = 0; trial < 3; trial++) {
    const address = `203.0.113.${10 + trial}`;
    const name = `Racer ${trial}`;
    const fields = (i) => ({ email: `r${i}@example.com`, name: `R${i}`, organizationName: name });
    // Every ceremony opened first, then all completed at once.
    const prepared = await Promise.all([0, 1, 2, 3].map(async (i) => {
      const auth = new Authenticator({ origin });
      const options = await pageCall("/dashboard/passkey/signup/options", fields(i), address);
      assert.equal(options.status, 200, options.text);
      return credentialOnly(auth.create(options.json.publicKey, {}));
    }));
    const answers = await Promise.all(prepared.map((body) => pageCall("/dashboard/passkey/signup", body, address)));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [204, 204, 429, 429], `trial ${trial}: ${answers.map((a) => `${a.status} ${a.text}`)}`);
    const refused = answers.find((a) => a.status === 429);
    assert.equal(refused.json.error.message, "Too many sign-ups");
    assert.ok(Number(refused.headers.get("retry-after")) > 0);
    assert.equal((await organizations()).filter((o) => o.name === name).length, LIMIT, "no organization for a refused sign-up");
  }
});

test("by default sign-up is closed: no page, no ceremony", async () => {
  const closed = await startGateway({});
  try {
    const pageRes = await call(closed.url, "/dashboard/signup");
    assert.equal(pageRes.status, 404);
    const options = await call(closed.url, "/dashboard/passkey/signup/options", {
      method: "POST",
      body: { email: "a@b.example", name: "A", organizationName: "B" },
      headers: { origin: closed.url },
    });
    assert.equal(options.status, 404, options.text);
    assert.match(options.json.error.details, /by invitation/);
  } finally {
    await closed.stop();
  }
});

test("in a browser: Create an account → Create passkey → signed in as the owner", async () => {
  ({ browser, page } = await launchBrowser(cspViolations));
  const cdp = await page.createCDPSession();
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  await page.goto(`${origin}/dashboard`);
  await page.waitForSelector("#signup-link:not([hidden])");
  await page.locator(aria("Create an account", "link")).click();
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  await assertAccessible("the sign-up page");
  // An empty organization name is said in words, beside its field.
  await page.locator(aria("Email", "textbox")).fill("ada@example.com");
  await page.locator(aria("Name", "textbox")).fill("Ada Lovelace");
  await page.locator(aria("Create passkey", "button")).click();
  await page.waitForFunction(() => document.getElementById("signup-error").textContent !== "");
  assert.equal(await page.$eval("#signup-error", (p) => p.textContent), "Name your organization.");
  assert.equal(await page.$eval("#signup-org", (i) => i.getAttribute("aria-invalid")), "true");
  await screenshots("signup");
  await page.locator(aria("Organization name", "textbox")).fill("Analytical Engines");
  await page.locator(aria("Create passkey", "button")).click();
  await page.waitForSelector(aria("API Keys", "heading")).catch(async (e) => {
    throw new Error(`${e.message}; the page says: ${await page.evaluate(() => document.body.innerText)}`);
  });
  await ready();
  assert.equal(await page.$eval("#who", (p) => p.textContent), "Signed in as Ada Lovelace (ada@example.com, owner)");
  assert.deepEqual(cspViolations, []);
});

test("in a browser: the signed-in owner opens another organization's invitation, presses Join, and switches between the two", async () => {
  const other = await call(gw.url, "/v1/organizations", { key: gw.rootKey, method: "POST", body: { name: "Difference Engines", plan: "starter" } });
  assert.equal(other.status, 201, other.text);
  const invited = await call(gw.url, `/v1/organizations/${other.json.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email: "ada@example.com", role: "viewer" },
  });
  assert.equal(invited.status, 201, invited.text);
  await page.goto(invited.json.url);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  assert.match(await page.$eval("#invite-lead", (p) => p.textContent), /signed in as Ada Lovelace .* as a viewer\?/);
  await assertAccessible("the invitation page, signed in");
  await page.locator(aria("Join", "button")).click();
  await page.waitForSelector("#org-switch:not([hidden])");
  await ready();
  assert.equal(await page.$eval("#who", (p) => p.textContent), "Signed in as Ada Lovelace (ada@example.com, viewer)");
  const options = await page.$$eval("#org-choice option", (os) => os.map((o) => [o.textContent, o.selected]));
  assert.deepEqual(options, [["Analytical Engines (owner)", false], ["Difference Engines (viewer)", true]]);
  // A viewer reads the keys and is told who creates them (never a stray "false").
  const text = await page.$eval("#main", (m) => m.innerText);
  assert.match(text, /Your role lets you read the keys/);
  assert.doesNotMatch(text, /\bfalse\b/);
  await assertAccessible("the header with the organization switcher");
  await screenshots("organization-switcher");
  await page.select("#org-choice", await page.$eval("#org-choice option", (o) => o.value));
  await page.waitForFunction(() => document.getElementById("who").textContent.endsWith("owner)"));
  assert.equal(await page.$eval("#who", (p) => p.textContent), "Signed in as Ada Lovelace (ada@example.com, owner)");
  assert.deepEqual(cspViolations, []);
});
