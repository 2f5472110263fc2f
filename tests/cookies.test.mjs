// The gateway's own cookie (the dashboard session) never leaves it: not to ORIGIN_URL,
// not to SANDBOX_ORIGIN_URL, not in the echo (which would defeat HttpOnly: a page able
// to call the API would read the session and, with it, the CSRF token). And no origin
// can set it (session fixation). Other cookies pass both ways as before.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startGateway, startOrigin, call, createKey } from "./harness.mjs";

const FIXED = "f".repeat(64);
// What a hostile origin answers: the gateway's cookie in every spelling a browser
// would send back as it, between cookies of the origin's own.
const ORIGIN_SET_COOKIES = [
  "theme=dark; Path=/",
  `scopien_session=${FIXED}; Path=/; HttpOnly`,
  `__Host-scopien_session=${FIXED}; Path=/; Secure; HttpOnly`,
  `=scopien_session=${FIXED}; Path=/`,
  `__HOST-scopien_session=${FIXED}; Path=/; Secure`,
  "sid=abc; Path=/; HttpOnly",
];
const KEPT_SET_COOKIES = ["theme=dark; Path=/", "sid=abc; Path=/; HttpOnly"];

/** A loopback origin that answers every request with `ORIGIN_SET_COOKIES` and
 * records the Cookie header it got. */
async function startCookieOrigin() {
  const cookies = [];
  const server = createServer((req, res) => {
    cookies.push(req.headers.cookie);
    req.resume();
    req.on("end", () => {
      res.setHeader("set-cookie", ORIGIN_SET_COOKIES);
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cookies,
    close: () => {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

let gw, origin, sandbox, hostile;
before(async () => {
  origin = await startOrigin();
  sandbox = await startOrigin("sandbox");
  hostile = await startCookieOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url } });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
  await sandbox?.close();
  await hostile?.close();
});

/** A real dashboard session: its `name=token` cookie. */
async function signIn(gateway, key) {
  const res = await fetch(gateway.url + "/dashboard/session", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      origin: gateway.url,
    },
    body: new URLSearchParams({ api_key: key }).toString(),
  });
  assert.equal(res.status, 204);
  const cookie = res.headers.get("set-cookie").split(";")[0];
  assert.match(cookie, /^scopien_session=[0-9a-f]{64}$/);
  return cookie;
}

/** The Cookie headers a browser holding `session` (and cookies of the API's domain)
 * could send, and what must arrive of each. */
function cookieHeaders(session) {
  const token = session.split("=")[1];
  return [
    [`theme=dark; ${session}; lang=en`, "theme=dark; lang=en"],
    [`__Host-scopien_session=${token}`, undefined],
    [`${session}, theme=dark`, "theme=dark"],
    ["theme=dark; lang=en", "theme=dark; lang=en"],
  ];
}

test("the session cookie never reaches ORIGIN_URL; other cookies do", async () => {
  const session = await signIn(gw, gw.rootKey);
  const token = session.split("=")[1];
  const key = await createKey(gw, { name: "cookies-live", scopes: ["read"] });
  for (const [sent, expected] of cookieHeaders(session)) {
    origin.received.length = 0;
    const res = await call(gw.url, "/v1/accounts", { key: key.key, headers: { cookie: sent } });
    assert.equal(res.status, 200);
    assert.equal(origin.received.length, 1);
    assert.equal(origin.received[0].headers.cookie, expected, sent);
    assert.ok(!JSON.stringify(origin.received[0].headers).includes(token), sent);
  }
});

test("the echo never shows the session cookie: a replayed cookie cannot read the CSRF token", async () => {
  const session = await signIn(gw, gw.rootKey);
  const token = session.split("=")[1];
  // A test key without SANDBOX_ORIGIN_URL gets the echo.
  const testKey = await createKey(gw, { name: "cookies-echo", type: "test", scopes: ["read"] });
  for (const [sent, expected] of cookieHeaders(session)) {
    const res = await call(gw.url, "/v1/accounts", { key: testKey.key, headers: { cookie: sent } });
    assert.equal(res.status, 200);
    assert.equal(res.json.echo, true);
    assert.equal(res.json.headers.cookie, expected, sent);
    assert.ok(!res.text.includes(token), `the echo printed the session token for ${sent}`);
  }
});

test("the session cookie never reaches SANDBOX_ORIGIN_URL", async () => {
  const boxed = await startGateway({ vars: { ORIGIN_URL: origin.url, SANDBOX_ORIGIN_URL: sandbox.url } });
  try {
    const session = await signIn(boxed, boxed.rootKey);
    const token = session.split("=")[1];
    const testKey = await createKey(boxed, { name: "cookies-sandbox", type: "test", scopes: ["read"] });
    for (const [sent, expected] of cookieHeaders(session)) {
      sandbox.received.length = 0;
      const res = await call(boxed.url, "/v1/accounts", { key: testKey.key, headers: { cookie: sent } });
      assert.equal(res.status, 200);
      assert.equal(sandbox.received.length, 1);
      assert.equal(sandbox.received[0].headers.cookie, expected, sent);
      assert.ok(!JSON.stringify(sandbox.received[0].headers).includes(token), sent);
    }
  } finally {
    await boxed.stop();
  }
});

test("an origin cannot set the session cookie; its other Set-Cookie headers pass, each", async () => {
  const fixing = await startGateway({ vars: { ORIGIN_URL: hostile.url, SANDBOX_ORIGIN_URL: hostile.url } });
  try {
    const testKey = await createKey(fixing, { name: "fixation-test", type: "test", scopes: ["read"] });
    for (const key of [fixing.rootKey, testKey.key]) {
      const res = await call(fixing.url, "/v1/accounts", { key });
      assert.equal(res.status, 200);
      assert.deepEqual(res.headers.getSetCookie(), KEPT_SET_COOKIES);
      assert.ok(res.headers.get("x-ratelimit-limit"), "the rate-limit headers are still added");
    }
  } finally {
    await fixing.stop();
  }
});
