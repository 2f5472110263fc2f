// Secret scanning: GitHub's partner protocol, with a P-256 key pair made here and
// published to the gateway through SECRET_SCANNING_PUBLIC_KEYS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { startGateway, call, createKey, makeKey, rawRequest } from "./harness.mjs";

const signer = generateKeyPairSync("ec", { namedCurve: "P-256" });
const KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const keyDocument = JSON.stringify({
  public_keys: [
    { key_identifier: KEY_ID, key: signer.publicKey.export({ type: "spki", format: "pem" }), is_current: true },
  ],
});

let gw;
before(async () => {
  gw = await startGateway({ vars: { SECRET_SCANNING_PUBLIC_KEYS: keyDocument } });
});
after(async () => {
  await gw?.stop();
});

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** Posts `body` (a string) signed over its exact bytes, or with `headers` as given. */
function report(base, body, headers) {
  const signature = sign("sha256", Buffer.from(body), signer.privateKey).toString("base64");
  return rawRequest(base, "/secret-scanning/github", {
    method: "POST",
    headers: headers ?? {
      "content-type": "application/json",
      "github-public-key-identifier": KEY_ID,
      "github-public-key-signature": signature,
    },
    bodyChunks: [body],
  });
}

const match = (token, url = "https://github.com/octo/app/blob/main/.env") => ({
  token,
  type: "scopien_api_key",
  url,
  source: "content",
});

test("a signed report is labelled; real keys are revoked at once and audited", async () => {
  const live = await createKey(gw, { name: "leaky live", scopes: ["read"] });
  const testKey = await createKey(gw, { name: "leaky test", type: "test", scopes: ["read"] });
  const revoked = await createKey(gw, { name: "already revoked", scopes: ["read"] });
  await call(gw.url, `/v1/api-keys/${revoked.id}`, { key: gw.rootKey, method: "DELETE" });
  const unknown = makeKey("live");
  const broken = live.key.slice(0, -1) + (live.key.endsWith("a") ? "b" : "a");
  assert.equal((await call(gw.url, "/v1/auth/test", { key: live.key })).status, 200);

  const body = JSON.stringify([match(live.key), match(revoked.key), match(unknown), match(broken), match(testKey.key)]);
  const res = await report(gw.url, body);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(
    res.json.map((f) => f.label),
    ["true_positive", "true_positive", "false_positive", "false_positive", "true_positive"],
  );
  assert.deepEqual(
    res.json.map((f) => f.token_hash),
    [live.key, revoked.key, unknown, broken, testKey.key].map(sha256),
  );
  assert.ok(res.json.every((f) => f.token_type === "scopien_api_key"));
  assert.ok(!res.text.includes(live.key), "hashes, never the token");

  for (const key of [live.key, testKey.key]) {
    const next = await call(gw.url, "/v1/auth/test", { key });
    assert.equal(next.status, 401, "revoked on its next request");
  }
  const view = await call(gw.url, `/v1/api-keys/${live.id}`, { key: gw.rootKey });
  assert.equal(view.json.status, "revoked");
  assert.ok(view.json.leakedAt);

  const log = await call(gw.url, `/v1/audit-log?organizationId=${live.organizationId}&limit=100`, { key: gw.rootKey });
  const leaked = log.json.data.filter((e) => e.action === "api_key.leaked");
  assert.equal(leaked.length, 2);
  const event = leaked.find((e) => e.target.id === live.id);
  assert.deepEqual(event.actor, { type: "secret_scanning" });
  assert.deepEqual(event.report, { url: "https://github.com/octo/app/blob/main/.env", source: "content" });
  assert.ok(event.changes.revokedAt.after);
  assert.ok(!JSON.stringify(log.json).includes(live.key));

  // The same report again: the same labels, nothing changes, no new event.
  const again = await report(gw.url, body);
  assert.deepEqual(again.json, res.json);
  const log2 = await call(gw.url, `/v1/audit-log?organizationId=${live.organizationId}&limit=100`, { key: gw.rootKey });
  assert.equal(log2.json.data.filter((e) => e.action === "api_key.leaked").length, 2);
  // Logs carry no token.
  assert.ok(!gw.logs.some((line) => String(line).includes(live.key)));
});

test("a report that is not signed by a published key is refused and changes nothing", async () => {
  const key = await createKey(gw, { name: "safe", scopes: ["read"] });
  const body = JSON.stringify([match(key.key)]);
  const signature = sign("sha256", Buffer.from(body), signer.privateKey).toString("base64");
  const tampered = body.replace("content", "commit");
  const cases = [
    // changed after signing
    [tampered, { "github-public-key-identifier": KEY_ID, "github-public-key-signature": signature }],
    // unknown key identifier
    [body, { "github-public-key-identifier": "not-published", "github-public-key-signature": signature }],
    // missing signature
    [body, { "github-public-key-identifier": KEY_ID }],
    // junk signature
    [body, { "github-public-key-identifier": KEY_ID, "github-public-key-signature": "bm90IGEgc2lnbmF0dXJl" }],
  ];
  for (const [payload, headers] of cases) {
    const res = await report(gw.url, payload, { "content-type": "application/json", ...headers });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.equal(res.json.error.code, "unauthorized");
  }
  assert.equal((await call(gw.url, "/v1/auth/test", { key: key.key })).status, 200, "nothing was revoked");
  const big = JSON.stringify([match(key.key, "x".repeat(1024 * 1024))]);
  assert.equal((await report(gw.url, big)).status, 413);
  assert.equal((await call(gw.url, "/secret-scanning/github")).status, 405);
});

test("LEAKED_KEY_ACTION=flag marks the key leaked and leaves it working", async () => {
  const flagging = await startGateway({
    vars: { SECRET_SCANNING_PUBLIC_KEYS: keyDocument, LEAKED_KEY_ACTION: "flag" },
  });
  try {
    const key = await createKey(flagging, { name: "flagged", scopes: ["read"] });
    const res = await report(flagging.url, JSON.stringify([match(key.key)]));
    assert.equal(res.json[0].label, "true_positive");
    assert.equal((await call(flagging.url, "/v1/auth/test", { key: key.key })).status, 200);
    const view = await call(flagging.url, `/v1/api-keys/${key.id}`, { key: flagging.rootKey });
    assert.equal(view.json.status, "active");
    assert.ok(view.json.leakedAt, "visible in its view");
  } finally {
    await flagging.stop();
  }
});
