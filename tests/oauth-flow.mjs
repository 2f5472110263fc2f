// The OAuth consent flow as a person and an app go through it, for tests that need
// grants: sign in to the dashboard, open the consent page, approve, exchange the code.
import assert from "node:assert/strict";
import { pkce } from "./harness.mjs";

export const REDIRECT = "https://app.example.com/callback";

/** Registers an app with `key` (an organization's admin key); returns it with its secret. */
export async function registerApp(gw, key, spec = {}) {
  const res = await fetch(gw.url + "/v1/oauth-clients", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "Pipeline CRM",
      redirectUris: [REDIRECT],
      scopes: ["read", "write", "delete"],
      type: "confidential",
      ...spec,
    }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return JSON.parse(text);
}

/** Signs in to the dashboard with `key`; returns the session cookie. */
export async function signIn(gw, key) {
  const res = await fetch(gw.url + "/dashboard/session", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", origin: gw.url },
    body: new URLSearchParams({ api_key: key }).toString(),
  });
  assert.equal(res.status, 204, await res.text());
  return res.headers.get("set-cookie").split(";")[0];
}

function hiddenFields(html) {
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]] = m[2].replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  }
  return fields;
}

/** Opens the consent page for `app` as the signed-in `cookie`; returns its form's fields
 * and the PKCE verifier, ready for `submitConsent`. */
export async function openConsent(gw, app, cookie, { scope } = {}) {
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({
    response_type: "code",
    client_id: app.clientId,
    redirect_uri: REDIRECT,
    state: "st",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  if (scope) q.set("scope", scope);
  const res = await fetch(gw.url + `/oauth/authorize?${q}`, { headers: { cookie }, redirect: "manual" });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return { fields: hiddenFields(text), verifier, cookie };
}

/** Approves an opened consent; returns the code, or `null` with the page when the
 * gateway refused to give one. */
export async function submitConsent(gw, { fields, cookie }) {
  const res = await fetch(gw.url + "/oauth/authorize", {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded", origin: gw.url },
    body: new URLSearchParams({ ...fields, decision: "approve" }).toString(),
    redirect: "manual",
  });
  const text = await res.text();
  if (res.status !== 303) return { code: null, status: res.status, text };
  return { code: new URL(res.headers.get("location")).searchParams.get("code"), status: 303, text };
}

/** The token endpoint, authenticated as `app`. */
export async function tokenRequest(gw, app, body) {
  const auth = Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret)}`).toString("base64");
  const res = await fetch(gw.url + "/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${auth}` },
    body: new URLSearchParams(body).toString(),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Exchanges an approved consent's code; returns the token endpoint's answer. */
export function exchange(gw, app, code, verifier) {
  return tokenRequest(gw, app, { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
}

/** Consent by `key` for `app`, then the code exchanged; fails the test unless tokens come back. */
export async function tokensFor(gw, app, key, { scope } = {}) {
  const cookie = await signIn(gw, key);
  const consent = await openConsent(gw, app, cookie, { scope });
  const { code, text } = await submitConsent(gw, consent);
  assert.ok(code, text);
  const res = await exchange(gw, app, code, consent.verifier);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json;
}
