// Dashboard sessions over HTTP: an admin key exchanged for an HttpOnly, SameSite=Strict
// cookie; the session bound to its key (revoked: ended; narrowed: narrowed) on its very
// next call; CSRF token and Origin on every state-changing call; sign-out; the security
// headers on every dashboard response. The browser tests (dashboard.test.mjs) drive the
// same flows through the pages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createKey } from "./harness.mjs";

let gw, org, admin;

before(async () => {
  gw = await startGateway();
  const res = await call(gw.url, "/v1/organizations", {
    key: gw.rootKey,
    method: "POST",
    body: { name: "Acme", plan: "professional" },
  });
  assert.equal(res.status, 201, res.text);
  org = res.json;
  admin = await createKey(gw, { name: "acme admin", scopes: ["read", "admin"], organizationId: org.id });
});
after(async () => {
  await gw?.stop();
});

/** Signs in with `key`; returns the response and the cookie to send back. */
async function signIn(key, { origin = gw.url } = {}) {
  const headers = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (origin) headers.origin = origin;
  const res = await fetch(gw.url + "/dashboard/session", {
    method: "POST",
    headers,
    body: new URLSearchParams({ api_key: key }).toString(),
    redirect: "manual",
  });
  const setCookie = res.headers.get("set-cookie");
  return { res, setCookie, cookie: setCookie?.split(";")[0] };
}

/** One dashboard API call with a session cookie (and, unless told, its CSRF token). */
async function dash(path, cookie, { method = "GET", body, csrf, origin = gw.url } = {}) {
  const headers = { cookie };
  if (csrf) headers["x-csrf-token"] = csrf;
  if (origin) headers.origin = origin;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(gw.url + "/dashboard/api" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

test("signing in sets an HttpOnly, SameSite=Strict cookie that never holds the key", async () => {
  const { res, setCookie, cookie } = await signIn(admin.key);
  assert.equal(res.status, 204);
  // Plain http on loopback: no __Host- prefix and no Secure (browsers would refuse it).
  assert.match(setCookie, /^scopien_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.ok(!setCookie.includes(admin.key));
  const session = await dash("/session", cookie);
  assert.equal(session.status, 200);
  assert.equal(session.json.keyId, admin.id);
  assert.equal(session.json.organizationId, org.id);
  assert.equal(session.json.plan.name, "professional");
  assert.equal(session.json.plan.live.maxRateLimit, 5000);
  assert.match(session.json.csrfToken, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(session.json).includes(admin.key.slice(-20)));
  // Without JavaScript the form is answered with a redirect to the dashboard.
  const form = await fetch(gw.url + "/dashboard/session", {
    method: "POST",
    headers: { origin: gw.url, "content-type": "application/x-www-form-urlencoded" },
    body: `api_key=${admin.key}`,
    redirect: "manual",
  });
  assert.equal(form.status, 303);
  assert.equal(form.headers.get("location"), "/dashboard");
});

test("a wrong key, a non-admin key or a foreign origin gets no session", async () => {
  const wrong = await signIn(admin.key.slice(0, -1) + (admin.key.endsWith("A") ? "B" : "A"));
  assert.equal(wrong.res.status, 401);
  assert.equal(wrong.setCookie, null);
  const reader = await createKey(gw, { name: "reader", scopes: ["read"], organizationId: org.id });
  const forbidden = await signIn(reader.key);
  assert.equal(forbidden.res.status, 403);
  assert.equal(forbidden.setCookie, null);
  const foreign = await signIn(admin.key, { origin: "https://evil.example" });
  assert.equal(foreign.res.status, 403);
  assert.equal(foreign.setCookie, null);
  const noOrigin = await signIn(admin.key, { origin: null });
  assert.equal(noOrigin.res.status, 403);
  assert.equal((await signIn(admin.key, { origin: "null" })).res.status, 403);
});

test("no Origin, or Origin: null, passes only with Sec-Fetch-Site: same-origin", async () => {
  const form = (site, origin = "null") =>
    fetch(gw.url + "/dashboard/session", {
      method: "POST",
      headers: {
        ...(origin ? { origin } : {}),
        "sec-fetch-site": site,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: `api_key=${admin.key}`,
    });
  assert.equal((await form("same-origin")).status, 204);
  assert.equal((await form("cross-site")).status, 403);
  assert.equal((await form("same-site")).status, 403);
  // Chromium sends no Origin on its same-origin calls.
  assert.equal((await form("same-origin", null)).status, 204);
  assert.equal((await form("cross-site", null)).status, 403);
});

test("state-changing calls need the session's CSRF token and the dashboard's origin", async () => {
  const { cookie } = await signIn(admin.key);
  const { csrfToken } = (await dash("/session", cookie)).json;
  const body = { name: "from the dashboard", scopes: ["read"], rateLimit: 100 };
  const path = "/v1/api-keys";
  assert.equal((await dash(path, cookie, { method: "POST", body })).status, 403);
  const wrongToken = csrfToken.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
  assert.equal((await dash(path, cookie, { method: "POST", body, csrf: wrongToken })).status, 403);
  const foreign = await dash(path, cookie, { method: "POST", body, csrf: csrfToken, origin: "https://evil.example" });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.json.error.message, "Cross-site request refused");
  const made = await dash(path, cookie, { method: "POST", body, csrf: csrfToken });
  assert.equal(made.status, 201);
  assert.equal(made.json.organizationId, org.id);
  // The same rules as the API: the plan's ceiling, and the keys of this organization only.
  const over = await dash(path, cookie, { method: "POST", body: { ...body, rateLimit: 5001 }, csrf: csrfToken });
  assert.equal(over.status, 400);
  assert.match(over.json.error.details, /^rateLimit must be at most 5000/);
  const list = await dash("/v1/api-keys", cookie);
  assert.equal(list.status, 200);
  assert.ok(list.json.data.every((k) => k.organizationId === org.id));
  // Nothing is forwarded to the origin from the dashboard.
  assert.equal((await dash("/v1/accounts", cookie)).status, 404);
});

test("revoking the key ends its sessions on their next call; narrowing it narrows them", async () => {
  const second = await createKey(gw, { name: "second admin", scopes: ["admin"], organizationId: org.id });
  const { cookie } = await signIn(second.key);
  assert.equal((await dash("/v1/api-keys", cookie)).status, 200);
  const narrowed = await call(gw.url, `/v1/api-keys/${second.id}`, {
    key: admin.key,
    method: "PATCH",
    body: { scopes: ["read"] },
  });
  assert.equal(narrowed.status, 200, narrowed.json && JSON.stringify(narrowed.json));
  assert.equal((await dash("/v1/api-keys", cookie)).status, 403);
  const revoked = await call(gw.url, `/v1/api-keys/${second.id}`, { key: admin.key, method: "DELETE" });
  assert.equal(revoked.status, 200);
  const after = await dash("/v1/api-keys", cookie);
  assert.equal(after.status, 401);
  assert.match(after.headers.get("set-cookie"), /Max-Age=0/);
  // The session is gone, not only refused: the page is the sign-in page again.
  const page = await fetch(gw.url + "/dashboard", { headers: { cookie } });
  assert.match(await page.text(), /Sign in/);
});

test("signing out ends the session", async () => {
  const { cookie } = await signIn(admin.key);
  const { csrfToken } = (await dash("/session", cookie)).json;
  assert.equal((await dash("/session", cookie, { method: "DELETE" })).status, 403);
  const out = await dash("/session", cookie, { method: "DELETE", csrf: csrfToken });
  assert.equal(out.status, 204);
  assert.match(out.headers.get("set-cookie"), /Max-Age=0/);
  assert.equal((await dash("/session", cookie)).status, 401);
  assert.equal((await dash("/v1/api-keys", cookie)).status, 401);
});

test("every dashboard response has a strict CSP, no framing and no referrer", async () => {
  for (const path of ["/dashboard", "/dashboard/keys", "/dashboard/static/app.js", "/dashboard/api/session", "/dashboard/nope/../x"]) {
    const res = await fetch(gw.url + path);
    const csp = res.headers.get("content-security-policy");
    assert.match(csp, /default-src 'self'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline/, path);
    assert.equal(res.headers.get("x-frame-options"), "DENY", path);
    assert.equal(res.headers.get("referrer-policy"), "no-referrer", path);
    await res.arrayBuffer();
  }
  const script = await fetch(gw.url + "/dashboard/static/app.js");
  assert.equal(script.status, 200);
  assert.match(script.headers.get("content-type"), /javascript/);
  assert.equal((await fetch(gw.url + "/dashboard/static/..%2Fwrangler.toml")).status, 404);
});

test("signing in is a use of the key: its organization's listing shows when", async () => {
  const fresh = await createKey(gw, { name: "signs in", scopes: ["admin"], organizationId: org.id });
  const { res } = await signIn(fresh.key);
  assert.equal(res.status, 204);
  // Written before the sign-in answers: no wait needed.
  const page = await call(gw.url, "/v1/api-keys?limit=100", { key: admin.key });
  const listed = page.json.data.find((k) => k.id === fresh.id);
  assert.ok(listed.lastUsedAt, "lastUsedAt is in the listing the dashboard shows");
});
