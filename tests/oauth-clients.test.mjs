// OAuth 2.0 through real, strict client libraries, as a third-party app would use them:
// oauth4webapi (Node) and authlib (Python, tests/oauth_authlib.py in build/venv, installed
// by scripts/tools.sh ensure_authlib). Each discovers the server from its RFC 8414
// metadata, sends the person to /oauth/authorize with PKCE (S256) and state; headless
// Chromium (puppeteer-core with @sparticuz/chromium's build) signs in with an admin key and
// clicks Approve; a loopback server (RFC 8252) receives the redirect; the library checks
// state (and iss, RFC 9207), exchanges the code, calls /v1/opportunities with the access
// token, refreshes, revokes, and is refused on its next call. Raw HTTP for what a library
// will not do is tests/oauth.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";
import * as oauth from "oauth4webapi";
import { startGateway, startOrigin, call, createKey, createOrgWithAdmin } from "./harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = join(ROOT, "build", "venv", "bin", "python");
const AUTHLIB_SCRIPT = join(ROOT, "tests", "oauth_authlib.py");
const STEP_TIMEOUT = 15_000;

// The test server is plain http on 127.0.0.1 (a loopback address, as RFC 8252 allows
// for native apps); oauth4webapi refuses http unless told. This option is the only
// relaxation used, and only because of that: every other check stays on.
const insecure = { [oauth.allowInsecureRequests]: true };

let gw, origin, org, admin, browser, page, callbacks, issuer, as;

/** A loopback server for the redirect URI: records every request to /callback and hands
 * it to whoever waits with `next()`. */
async function startCallbackServer() {
  const received = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Done</title><p>You may close this window.</p>");
    const full = `${server.url}${req.url}`;
    received.push(full);
    waiters.splice(0).forEach((w) => w(full));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.url = `http://127.0.0.1:${server.address().port}`;
  return {
    redirectUri: `${server.url}/callback`,
    received,
    /** The next redirect that arrives after `since` redirects had been received. */
    next(since, what) {
      if (received.length > since) return Promise.resolve(received[since]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no redirect to the loopback callback within ${STEP_TIMEOUT} ms (${what})`)),
          STEP_TIMEOUT,
        );
        waiters.push((url) => {
          clearTimeout(timer);
          resolve(url);
        });
      });
    },
    close: () => {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

before(async () => {
  origin = await startOrigin("live");
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url } });
  issuer = new URL(gw.url);
  ({ org, admin } = await createOrgWithAdmin(gw));
  callbacks = await startCallbackServer();
  browser = await puppeteer.launch({
    executablePath: await chromium.executablePath(),
    args: chromium.args,
    headless: true,
  });
  page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  // Discovery, as any app starts: RFC 8414 metadata, issuer checked against the URL.
  as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }),
  );
});
after(async () => {
  await browser?.close();
  await callbacks?.close();
  await gw?.stop();
  await origin?.close();
});

/** Registers an app for the loopback callback; returns clientId (and clientSecret). */
async function registerApp(type, name) {
  const res = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name, redirectUris: [callbacks.redirectUri], scopes: ["read", "write"], type },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

/** A person in a browser with no session (its cookies cleared) opens `authorizationUrl`,
 * signs in with the admin key, and clicks `button` ("approve" or "deny") on the consent
 * page; returns the URL the loopback server was redirected to. One page for every run:
 * @sparticuz/chromium runs single-process, where a second browser context crashes it. */
async function consentInBrowser(authorizationUrl, { button = "approve" } = {}) {
  const since = callbacks.received.length;
  const cdp = await page.createCDPSession();
  try {
    await cdp.send("Network.clearBrowserCookies");
  } finally {
    await cdp.detach();
  }
  await page.goto(authorizationUrl);
  // Not signed in: the dashboard's sign-in, which comes back here.
  await page.waitForSelector("#api-key");
  assert.equal(new URL(page.url()).pathname, "/dashboard/signin", "sent to the sign-in first");
  await page.locator('::-p-aria([name="API key"])').fill(admin.key);
  await page.locator('::-p-aria([name="Sign in"][role="button"])').click();
  await page.waitForSelector(`#${button}`);
  assert.equal(new URL(page.url()).pathname, "/oauth/authorize", "back on the consent page");
  const label = button === "approve" ? "Approve" : "Deny";
  await page.locator(`::-p-aria([name="${label}"][role="button"])`).click();
  return callbacks.next(since, `after clicking ${label}`);
}

/** oauth4webapi builds the authorization request (PKCE S256, state); the browser
 * approves; the library validates the redirect. Returns the validated callback
 * parameters and the code verifier. */
async function authorizeWithOauth4webapi(client, scope = "read write") {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
  const state = oauth.generateRandomState();
  const authorizationUrl = new URL(as.authorization_endpoint);
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: callbacks.redirectUri,
    scope,
    state,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
  })) {
    authorizationUrl.searchParams.set(name, value);
  }
  const callback = new URL(await consentInBrowser(authorizationUrl.href));
  assert.equal(callback.searchParams.get("iss"), gw.url, "RFC 9207 iss in the redirect");
  // Checks iss (the metadata says it is always sent) and state, refuses error responses.
  const params = oauth.validateAuthResponse(as, client, callback, state);
  return { params, codeVerifier };
}

/** The whole flow with oauth4webapi for one app; `clientAuth` is the library's. */
async function oauth4webapiFlow({ client, clientAuth }) {
  const redirectUri = callbacks.redirectUri;
  const { params, codeVerifier } = await authorizeWithOauth4webapi(client);

  const tokenResponse = await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, params, redirectUri, codeVerifier, insecure,
  );
  assert.equal(tokenResponse.headers.get("cache-control"), "no-store");
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse);
  assert.equal(tokens.token_type, "bearer", "oauth4webapi lower-cases token_type");
  assert.equal(tokens.expires_in, 3600);
  assert.equal(tokens.scope, "read write");
  assert.match(tokens.access_token, /^sat_/);
  assert.match(tokens.refresh_token, /^srt_/);

  // The API with the access token: forwarded to the origin, the app named to it.
  const api = new URL("/v1/opportunities", gw.url);
  const before = origin.received.length;
  const read = await oauth.protectedResourceRequest(tokens.access_token, "GET", api, undefined, undefined, insecure);
  assert.equal(read.status, 200, await read.clone().text());
  assert.equal(origin.received.length, before + 1, "the origin got the request");
  const seen = origin.received[before];
  assert.equal(seen.url, "/v1/opportunities");
  assert.equal(seen.headers["x-scopien-client-id"], client.client_id);
  assert.equal(seen.headers.authorization, undefined, "the token never reaches the origin");

  // Introspection by the app itself (RFC 7662).
  const introspected = await oauth.processIntrospectionResponse(
    as, client, await oauth.introspectionRequest(as, client, clientAuth, tokens.access_token, insecure),
  );
  assert.equal(introspected.active, true);
  assert.equal(introspected.client_id, client.client_id);
  assert.equal(introspected.scope, "read write");

  // Refresh: a new pair; the refresh token rotates.
  const refreshed = await oauth.processRefreshTokenResponse(
    as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, insecure),
  );
  assert.notEqual(refreshed.access_token, tokens.access_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, "refresh tokens rotate");
  assert.equal(refreshed.scope, "read write");
  const again = await oauth.protectedResourceRequest(refreshed.access_token, "GET", api, undefined, undefined, insecure);
  assert.equal(again.status, 200, await again.clone().text());

  // Revoke (RFC 7009); the very next call with the access token is refused, and the
  // library reads the server's Bearer challenge (RFC 6750 §3).
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, refreshed.access_token, insecure),
  );
  await assert.rejects(
    oauth.protectedResourceRequest(refreshed.access_token, "GET", api, undefined, undefined, insecure),
    (err) => {
      assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, `expected a challenge, got ${err}`);
      assert.equal(err.response.status, 401);
      const [challenge] = err.cause;
      assert.equal(challenge.scheme, "bearer");
      assert.equal(challenge.parameters.error, "invalid_token");
      return true;
    },
  );
  const gone = await oauth.processIntrospectionResponse(
    as, client, await oauth.introspectionRequest(as, client, clientAuth, refreshed.refresh_token, insecure),
  );
  assert.equal(gone.active, false, "revoking the access token revokes the grant");
}

test("oauth4webapi discovers the server from its RFC 8414 metadata", () => {
  assert.equal(as.issuer, gw.url);
  assert.equal(as.authorization_endpoint, `${gw.url}/oauth/authorize`);
  assert.equal(as.token_endpoint, `${gw.url}/oauth/token`);
  assert.equal(as.revocation_endpoint, `${gw.url}/oauth/revoke`);
  assert.equal(as.introspection_endpoint, `${gw.url}/oauth/introspect`);
  assert.deepEqual(as.code_challenge_methods_supported, ["S256"]);
  assert.equal(as.authorization_response_iss_parameter_supported, true);
  for (const method of ["client_secret_basic", "client_secret_post", "none"]) {
    assert.ok(as.token_endpoint_auth_methods_supported.includes(method), method);
  }
});

test("oauth4webapi, confidential app (client_secret_basic): browser consent, code, API, refresh, revoke", async () => {
  const app = await registerApp("confidential", "Pipeline CRM (oauth4webapi)");
  await oauth4webapiFlow({ client: { client_id: app.clientId }, clientAuth: oauth.ClientSecretBasic(app.clientSecret) });
});

test("oauth4webapi, confidential app (client_secret_post): the same flow", async () => {
  const app = await registerApp("confidential", "Pipeline CRM (oauth4webapi, post)");
  await oauth4webapiFlow({ client: { client_id: app.clientId }, clientAuth: oauth.ClientSecretPost(app.clientSecret) });
});

test("oauth4webapi, public app (no client authentication, PKCE alone): the same flow", async () => {
  const app = await registerApp("public", "Pipeline CLI (oauth4webapi)");
  assert.equal(app.clientSecret, undefined);
  await oauth4webapiFlow({ client: { client_id: app.clientId }, clientAuth: oauth.None() });
});

test("oauth4webapi: Deny comes back as access_denied, with state and iss the library checks", async () => {
  const app = await registerApp("confidential", "Pipeline CRM (denied)");
  const client = { client_id: app.clientId };
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: callbacks.redirectUri,
    scope: "read",
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
    code_challenge_method: "S256",
  }).toString();
  const callback = new URL(await consentInBrowser(url.href, { button: "deny" }));
  assert.throws(
    () => oauth.validateAuthResponse(as, client, callback, state),
    (err) => {
      assert.ok(err instanceof oauth.AuthorizationResponseError, `expected an error response, got ${err}`);
      assert.equal(err.error, "access_denied");
      return true;
    },
  );
  // A forged redirect (another state, or another issuer) is refused by the library.
  const forged = new URL(callback);
  forged.searchParams.set("state", "not-ours");
  assert.throws(() => oauth.validateAuthResponse(as, client, forged, state), /state/);
  forged.searchParams.set("state", state);
  forged.searchParams.set("iss", "https://evil.example");
  assert.throws(() => oauth.validateAuthResponse(as, client, forged, state), /iss/);
});

test("oauth4webapi reads the server's refusals: wrong secret, a code used twice, a refresh token replayed", async () => {
  const app = await registerApp("confidential", "Pipeline CRM (refusals)");
  const client = { client_id: app.clientId };
  const auth = oauth.ClientSecretBasic(app.clientSecret);
  const api = new URL("/v1/opportunities", gw.url);
  const exchange = async (params, codeVerifier, clientAuth = auth) =>
    oauth.processAuthorizationCodeResponse(
      as, client,
      await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, callbacks.redirectUri, codeVerifier, insecure),
    );
  const refusedToken = async (accessToken) => {
    await assert.rejects(
      oauth.protectedResourceRequest(accessToken, "GET", api, undefined, undefined, insecure),
      (err) => err instanceof oauth.WWWAuthenticateChallengeError && err.response.status === 401
        && err.cause[0].parameters.error === "invalid_token",
    );
  };

  const first = await authorizeWithOauth4webapi(client);
  // A wrong secret: 401 with a Basic challenge (RFC 6749 §5.2), which the library reads.
  await assert.rejects(exchange(first.params, first.codeVerifier, oauth.ClientSecretBasic("scs_wrong")), (err) => {
    assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, `expected a challenge, got ${err}`);
    assert.equal(err.response.status, 401);
    assert.equal(err.cause[0].scheme, "basic");
    return true;
  });
  // The wrong verifier: invalid_grant.
  await assert.rejects(exchange(first.params, oauth.generateRandomCodeVerifier()), (err) => {
    assert.ok(err instanceof oauth.ResponseBodyError, `expected an error body, got ${err}`);
    assert.equal(err.status, 400);
    assert.equal(err.error, "invalid_grant");
    return true;
  });
  // (Whether a failed attempt spends the code is the server's choice: RFC 6749 does not
  // say. Here a fresh consent gives a fresh code for the reuse check.)
  const second = await authorizeWithOauth4webapi(client);
  const tokens = await exchange(second.params, second.codeVerifier);
  await assert.rejects(exchange(second.params, second.codeVerifier), (err) => {
    assert.ok(err instanceof oauth.ResponseBodyError, `expected an error body, got ${err}`);
    assert.equal(err.error, "invalid_grant");
    return true;
  });
  await refusedToken(tokens.access_token);

  // Refresh rotation; the rotated-out token replayed revokes the grant (RFC 9700 §4.14.2).
  const third = await authorizeWithOauth4webapi(client);
  const original = await exchange(third.params, third.codeVerifier);
  const rotated = await oauth.processRefreshTokenResponse(
    as, client, await oauth.refreshTokenGrantRequest(as, client, auth, original.refresh_token, insecure),
  );
  await assert.rejects(
    oauth.processRefreshTokenResponse(
      as, client, await oauth.refreshTokenGrantRequest(as, client, auth, original.refresh_token, insecure),
    ),
    (err) => err instanceof oauth.ResponseBodyError && err.error === "invalid_grant",
  );
  await refusedToken(rotated.access_token);
});

/** Runs tests/oauth_authlib.py; it prints one JSON line with the authorization URL, waits
 * for the redirect URL on its standard input, then prints one JSON line of results. */
function runAuthlib(env) {
  const child = spawn(PYTHON, [AUTHLIB_SCRIPT], {
    env: { ...process.env, ...env, PYTHONUNBUFFERED: "1" },
    stdio: ["pipe", "pipe", "pipe"],
    timeout: 120_000,
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const queue = [];
  const waiters = [];
  lines.on("line", (line) => (waiters.length ? waiters.shift()(line) : queue.push(line)));
  const exited = new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  const fail = (why) => new Error(`authlib script: ${why}\n--- its stderr ---\n${stderr}`);
  return {
    /** The next JSON line it prints; fails if it exits or stays silent first. */
    async message(what) {
      const line = queue.length
        ? queue.shift()
        : await Promise.race([
            new Promise((resolve) => waiters.push(resolve)),
            exited.then(({ code, signal }) => {
              throw fail(`exited (code ${code}, signal ${signal}) before printing ${what}`);
            }),
            new Promise((_, reject) => setTimeout(() => reject(fail(`printed no ${what} within 60 s`)), 60_000).unref()),
          ]);
      try {
        return JSON.parse(line);
      } catch {
        throw fail(`printed something that is not JSON: ${line}`);
      }
    },
    send: (line) => child.stdin.write(line + "\n"),
    async done() {
      const { code, signal } = await exited;
      if (code !== 0) throw fail(`exited with code ${code}, signal ${signal}`);
    },
    kill: () => child.exitCode === null && child.kill(),
  };
}

test("authlib (Python), confidential app: OAuth2Session with PKCE through the same flow", async () => {
  assert.ok(existsSync(PYTHON), "build/venv is made by `npm test` (scripts/tools.sh ensure_authlib)");
  const app = await registerApp("confidential", "Pipeline CRM (authlib)");
  const script = runAuthlib({
    SCOPIEN_ISSUER: gw.url,
    OAUTH_CLIENT_ID: app.clientId,
    OAUTH_CLIENT_SECRET: app.clientSecret,
    OAUTH_REDIRECT_URI: callbacks.redirectUri,
    OAUTH_SCOPE: "read write",
  });
  try {
    const start = await script.message("the authorization URL");
    const authorizationUrl = new URL(start.authorization_url);
    assert.equal(authorizationUrl.origin + authorizationUrl.pathname, `${gw.url}/oauth/authorize`);
    assert.equal(authorizationUrl.searchParams.get("code_challenge_method"), "S256");
    assert.equal(authorizationUrl.searchParams.get("state"), start.state);

    const before = origin.received.length;
    const redirect = await consentInBrowser(authorizationUrl.href);
    script.send(redirect);
    const result = await script.message("its results");
    await script.done();

    assert.deepEqual(result.metadata_errors, [], "authlib's RFC 8414 metadata validation");
    assert.equal(result.iss, gw.url);
    assert.equal(result.state_mismatch_refused, true, "authlib refuses a redirect with another state");
    assert.equal(result.token.token_type, "Bearer");
    assert.equal(result.token.expires_in, 3600);
    assert.equal(result.token.scope, "read write");
    assert.match(result.token.access_token_prefix, /^sat_/);
    assert.equal(result.api.status, 200);
    assert.equal(result.api.body.origin, "live", "forwarded to the origin");
    const seen = origin.received.slice(before).find((r) => r.url === "/v1/opportunities");
    assert.ok(seen, "the origin got the request");
    assert.equal(seen.headers["x-scopien-client-id"], app.clientId);
    assert.equal(result.refreshed.rotated, true, "a new refresh token");
    assert.equal(result.refreshed.new_access_token, true);
    assert.equal(result.refreshed.scope, "read write");
    assert.equal(result.api_after_refresh.status, 200);
    assert.equal(result.introspection.active, true);
    assert.equal(result.introspection.client_id, app.clientId);
    assert.equal(result.revocation.status, 200);
    assert.equal(result.api_after_revocation.status, 401);
    assert.match(result.api_after_revocation.www_authenticate, /^Bearer .*error="invalid_token"/);
  } finally {
    script.kill();
  }
});
