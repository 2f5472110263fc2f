// Every place a credential is checked goes through the one brute-force gate
// (worker/src/throttle.rs): the dashboard's sign-in and sessions, the OAuth app's
// credentials, codes, refresh and access tokens at /oauth/token, /oauth/revoke and
// /oauth/introspect, an admin key at /oauth/introspect, and the client_id at
// /oauth/authorize. Each well-formed guess counts against its address with the same limit
// and the same block; a burst of concurrent guesses is cut at the limit; a blocked address
// is answered 429 in each path's shape, before any Durable Object is asked.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startGateway, startOrigin, call, createKey, createOrgWithAdmin, makeKey, storedFiles, pkce } from "./harness.mjs";
import { crc32, base62 } from "../scripts/root-key.mjs";

const LIMIT = 5;
const REDIRECT = "https://app.example.com/callback";
let gw, origin, org, admin, app;
before(async () => {
  origin = await startOrigin();
  gw = await startGateway({
    vars: { ORIGIN_URL: origin.url, AUTH_FAILURE_LIMIT: String(LIMIT), AUTH_FAILURE_BLOCK_SECONDS: "60" },
  });
  ({ org, admin } = await createOrgWithAdmin(gw));
  const made = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "Guess CRM", redirectUris: [REDIRECT], scopes: ["read"], type: "confidential" },
  });
  assert.equal(made.status, 201, made.text);
  app = made.json;
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

// Each test guesses from addresses of its own.
let nextAddress = 1;
const freshAddress = () => {
  const n = nextAddress++;
  return `198.18.${Math.floor(n / 250)}.${(n % 250) + 1}`;
};

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const randomBase62 = (n) => Array.from(randomBytes(n), (b) => ALPHABET[b % 62]).join("");
/** A well-formed token of `prefix` (sat_, srt_, sac_) for a random grant: checksum right. */
function makeToken(prefix) {
  const signed = prefix + randomBase62(48);
  return signed + base62(crc32(signed), 6);
}
const randomClientId = () => "app_" + randomBase62(24);
const randomCookie = () => `scopien_session=${randomBytes(32).toString("hex")}`;

/** Durable Object files other than the throttle's own: what guesses made exist. */
const objectFiles = () =>
  storedFiles(gw).filter((f) => f.endsWith(".sqlite") && !f.includes("AddressThrottle"));
const filesOf = (kind) => storedFiles(gw).filter((f) => f.includes(kind) && f.endsWith(".sqlite"));

function basic(client = app) {
  return "Basic " + Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString("base64");
}

async function send(path, { address, method = "POST", headers = {}, form }) {
  const h = { "cf-connecting-ip": address, ...headers };
  if (form) h["content-type"] = "application/x-www-form-urlencoded";
  const res = await fetch(gw.url + path, {
    method,
    headers: h,
    body: form ? new URLSearchParams(form).toString() : undefined,
    redirect: "manual",
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const signIn = (address, key) =>
  send("/dashboard/session", {
    address,
    headers: { accept: "application/json", origin: gw.url },
    form: { api_key: key },
  });

/** A session cookie for `key`, signed in from `address`. */
async function sessionCookie(key, address) {
  const res = await signIn(address, key);
  assert.equal(res.status, 204, res.text);
  return res.headers.get("set-cookie").split(";")[0];
}

/** A grant of `app` approved by the organization's admin, and its tokens. */
async function tokens() {
  const address = freshAddress();
  const cookie = await sessionCookie(admin.key, address);
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({
    response_type: "code",
    client_id: app.clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s",
  });
  const page = await send(`/oauth/authorize?${q}`, { address, method: "GET", headers: { cookie } });
  assert.equal(page.status, 200, page.text);
  const fields = {};
  for (const m of page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = m[2];
  const decided = await send("/oauth/authorize", {
    address,
    headers: { cookie, origin: gw.url },
    form: { ...fields, decision: "approve" },
  });
  assert.equal(decided.status, 303, decided.text);
  const code = new URL(decided.headers.get("location")).searchParams.get("code");
  const res = await send("/oauth/token", {
    address,
    headers: { authorization: basic() },
    form: { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier },
  });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** 429 for a blocked address, in the OAuth endpoints' shape (RFC 6749 §5.2). */
function assertOAuth429(res, what) {
  assert.equal(res.status, 429, `${what}: ${res.status} ${res.text}`);
  assert.equal(typeof res.json?.error, "string", `${what}: ${res.text}`);
  assert.match(res.json.error_description, /failed authentication attempts/, what);
  assert.ok(Number(res.headers.get("retry-after")) >= 1, `${what}: Retry-After`);
  assert.equal(res.headers.get("cache-control"), "no-store", what);
}

/** 429 for a blocked address, as an HTML page. */
function assertPage429(res, what) {
  assert.equal(res.status, 429, `${what}: ${res.status} ${res.text.slice(0, 200)}`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/, what);
  assert.match(res.text, /failed authentication attempts/i, what);
  assert.ok(Number(res.headers.get("retry-after")) >= 1, `${what}: Retry-After`);
}

/** 429 for a blocked address, in the API's JSON error shape. */
function assertApi429(res, what) {
  assert.equal(res.status, 429, `${what}: ${res.status} ${res.text}`);
  assert.equal(res.json?.error?.code, "rate_limit_exceeded", what);
  assert.match(res.json.error.details, /failed authentication attempts/, what);
  assert.ok(Number(res.headers.get("retry-after")) >= 1, `${what}: Retry-After`);
}

/** 120 concurrent requests from one fresh address, `valid` at index 100 and guesses
 * elsewhere; several trials. `reached(res)` tells an answer its guard gave. */
async function burstTrials({ guess, valid, reached, refused, kind }) {
  for (let trial = 0; trial < 3; trial++) {
    const address = freshAddress();
    const before = filesOf(kind).length;
    const answers = await Promise.all(
      Array.from({ length: 120 }, (_, i) => (i === 100 ? valid(address) : guess(address))),
    );
    const statuses = answers.map((r) => r.status);
    const through = answers.filter(reached).length;
    const guards = filesOf(kind).length - before;
    assert.ok(
      answers.every((r) => reached(r) || r.status === 429),
      `trial ${trial}: ${JSON.stringify(statuses)}`,
    );
    assert.ok(through <= LIMIT + 1, `trial ${trial}: ${through} of 120 reached a guard: ${JSON.stringify(statuses)}`);
    assert.ok(guards <= LIMIT + 1, `trial ${trial}: ${guards} new ${kind} objects`);
    refused(answers[100], `trial ${trial}: the valid credential hidden in the burst`);
    // The block stands: the valid credential, never used from here, is refused too.
    refused(await valid(address), `trial ${trial}: the valid credential after the burst`);
  }
}

test("sign-in: a burst of 120 concurrent guesses is cut at the limit, and a valid admin key in it is refused", async () => {
  await burstTrials({
    kind: "KeyGuard",
    guess: (address) => signIn(address, makeKey("live")),
    valid: (address) => signIn(address, admin.key),
    reached: (r) => r.status === 401,
    refused: assertApi429,
  });
});

test("introspection with an admin key: a burst of 120 concurrent guesses is cut at the limit", async () => {
  const token = makeToken("sat_");
  const introspect = (address, key) =>
    send("/oauth/introspect", { address, headers: { authorization: `Bearer ${key}` }, form: { token } });
  await burstTrials({
    kind: "KeyGuard",
    guess: (address) => introspect(address, makeKey("live")),
    valid: (address) => introspect(address, admin.key),
    reached: (r) => r.status === 401,
    refused: assertOAuth429,
  });
});

test("introspection of guessed tokens: a burst of 120 concurrent guesses is cut at the limit, a live token in it refused", async () => {
  const live = await tokens();
  const introspect = (address, token) =>
    send("/oauth/introspect", { address, headers: { authorization: basic() }, form: { token } });
  const check = await introspect(freshAddress(), live.access_token);
  assert.equal(check.json.active, true, check.text);
  await burstTrials({
    kind: "GrantGuard",
    guess: (address) => introspect(address, makeToken("sat_")),
    valid: (address) => introspect(address, live.access_token),
    reached: (r) => r.status === 200,
    refused: assertOAuth429,
  });
});

test("client secrets at /oauth/token: a burst of 120 concurrent guesses is cut at the limit", async () => {
  const refresh = (address, secret) =>
    send("/oauth/token", {
      address,
      form: { grant_type: "refresh_token", refresh_token: makeToken("srt_"), client_id: app.clientId, client_secret: secret },
    });
  await burstTrials({
    kind: "GrantGuard",
    guess: (address) => refresh(address, randomBase62(40)),
    // The right secret, with a refresh token that does not exist: it gets as far as
    // the grant (400) only when the app authenticated.
    valid: (address) => refresh(address, app.clientSecret),
    reached: (r) => r.status === 401,
    refused: assertOAuth429,
  });
});

/** 100 well-formed guesses in a row from one address: the first LIMIT get the path's
 * ordinary answer, every one past the limit 429, and no Durable Object is made for them. */
async function guessesInARow(what, guess, { ordinary, refused }) {
  const address = freshAddress();
  const before = objectFiles().length;
  const answers = [];
  for (let i = 0; i < 100; i++) answers.push(await guess(address));
  const made = objectFiles().length - before;
  const statuses = answers.map((r) => r.status);
  for (const [i, res] of answers.slice(0, LIMIT).entries()) ordinary(res, `${what} #${i + 1}`);
  for (const [i, res] of answers.slice(LIMIT + 1).entries()) refused(res, `${what} #${LIMIT + 2 + i}`);
  assert.ok(statuses.slice(LIMIT + 1).every((s) => s === 429), `${what}: ${JSON.stringify(statuses)}`);
  assert.ok(made <= LIMIT + 1, `${what}: ${made} Durable Objects made by 100 guesses`);
}

test("unknown client_ids at /oauth/authorize count as failures: past the limit, a 429 page", async () => {
  await guessesInARow(
    "authorize",
    (address) =>
      send(`/oauth/authorize?${new URLSearchParams({ response_type: "code", client_id: randomClientId(), redirect_uri: REDIRECT })}`, {
        address,
        method: "GET",
      }),
    {
      ordinary: (res, what) => assert.equal(res.status, 400, `${what}: ${res.status}`),
      refused: assertPage429,
    },
  );
});

test("unknown session cookies at /dashboard and /dashboard/api count as failures: past the limit, 429", async () => {
  await guessesInARow(
    "dashboard page",
    (address) => send("/dashboard", { address, method: "GET", headers: { cookie: randomCookie() } }),
    {
      ordinary: (res, what) => {
        assert.equal(res.status, 200, what);
        assert.match(res.text, /sign in/i, what);
      },
      refused: assertPage429,
    },
  );
  for (const path of ["/dashboard/api/session", "/dashboard/api/v1/api-keys"]) {
    await guessesInARow(
      path,
      (address) => send(path, { address, method: "GET", headers: { cookie: randomCookie() } }),
      {
        ordinary: (res, what) => assert.equal(res.status, 401, `${what}: ${res.text}`),
        refused: assertApi429,
      },
    );
  }
});

test("unknown codes and refresh tokens at /oauth/token count as failures: past the limit, 429 in OAuth's shape", async () => {
  for (const [grantType, field, prefix] of [
    ["refresh_token", "refresh_token", "srt_"],
    ["authorization_code", "code", "sac_"],
  ]) {
    await guessesInARow(
      `token ${grantType}`,
      (address) =>
        send("/oauth/token", {
          address,
          headers: { authorization: basic() },
          form: { grant_type: grantType, [field]: makeToken(prefix), redirect_uri: REDIRECT, code_verifier: "v".repeat(43) },
        }),
      {
        ordinary: (res, what) => {
          assert.equal(res.status, 400, `${what}: ${res.text}`);
          assert.equal(res.json.error, "invalid_grant", what);
        },
        refused: assertOAuth429,
      },
    );
  }
});

test("unknown tokens at /oauth/revoke and /oauth/introspect count as failures: past the limit, 429 in OAuth's shape", async () => {
  for (const prefix of ["sat_", "srt_"]) {
    await guessesInARow(
      `revoke ${prefix}`,
      (address) => send("/oauth/revoke", { address, headers: { authorization: basic() }, form: { token: makeToken(prefix) } }),
      {
        ordinary: (res, what) => assert.equal(res.status, 200, `${what}: ${res.text}`),
        refused: assertOAuth429,
      },
    );
    await guessesInARow(
      `introspect ${prefix}`,
      (address) => send("/oauth/introspect", { address, headers: { authorization: basic() }, form: { token: makeToken(prefix) } }),
      {
        ordinary: (res, what) => {
          assert.equal(res.status, 200, `${what}: ${res.text}`);
          assert.equal(res.json.active, false, what);
        },
        refused: assertOAuth429,
      },
    );
  }
});

test("unknown apps at /oauth/token count as failures: past the limit, 429 in OAuth's shape", async () => {
  await guessesInARow(
    "token client_id",
    (address) =>
      send("/oauth/token", {
        address,
        form: { grant_type: "refresh_token", refresh_token: makeToken("srt_"), client_id: randomClientId() },
      }),
    {
      ordinary: (res, what) => {
        assert.equal(res.status, 401, `${what}: ${res.text}`);
        assert.equal(res.json.error, "invalid_client", what);
      },
      refused: assertOAuth429,
    },
  );
});

test("what worked from an address before its block keeps working: a session, a key, an app, a grant", async () => {
  const live = await tokens();
  const other = await createKey(gw, { name: "other admin", scopes: ["read", "admin"], organizationId: org.id });
  const address = freshAddress();
  const cookie = await sessionCookie(admin.key, address);
  const introspect = () =>
    send("/oauth/introspect", { address, headers: { authorization: basic() }, form: { token: live.access_token } });
  assert.equal((await introspect()).json.active, true);
  assert.equal((await send("/dashboard/api/session", { address, method: "GET", headers: { cookie } })).status, 200);
  for (let i = 0; i <= LIMIT; i++) await send("/dashboard/api/session", { address, method: "GET", headers: { cookie: randomCookie() } });
  assertApi429(await send("/dashboard/api/session", { address, method: "GET", headers: { cookie: randomCookie() } }), "a new guess");
  assertApi429(await signIn(address, other.key), "a valid key never used from here is a new guess too");
  assert.equal((await signIn(address, admin.key)).status, 204, "the key that signed in here before");
  assert.equal((await send("/dashboard/api/session", { address, method: "GET", headers: { cookie } })).status, 200, "the session that worked here");
  const again = await introspect();
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.active, true, "the app and the token that worked here");
});
