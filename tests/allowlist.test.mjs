// IP allow-lists per key (issue #23, part 3): `allowedIps` on create and patch; a request
// from an address off the list (CF-Connecting-IP), or with none, is refused 403 before its
// scope is looked at, counted as refused and not against the limit; IPv4, IPv6, CIDR and
// IPv4-mapped IPv6; a key short of full admin may only narrow a list.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, call, createKey, createOrgWithAdmin } from "./harness.mjs";

let gw, origin;
before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ vars: { ORIGIN_URL: origin.url } });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

/** A request to the origin through the gateway, from `address` (none: no header). */
async function from(address, key, path = "/v1/opportunities") {
  const headers = address === undefined ? {} : { "cf-connecting-ip": address };
  return call(gw.url, path, { key, headers });
}

const notAllowed = (address) => ({
  error: {
    code: "forbidden",
    message: "IP address not allowed",
    details: `This API key cannot be used from ${address}`,
  },
});

test("a key is usable only from the addresses and blocks on its list", async () => {
  const made = await createKey(gw, {
    name: "office only",
    scopes: ["read"],
    allowedIps: ["203.0.113.0/24", "2001:db8::/48", "198.51.100.7"],
  });
  assert.deepEqual(made.allowedIps, ["203.0.113.0/24", "2001:db8::/48", "198.51.100.7"]);
  const allowed = ["203.0.113.1", "203.0.113.254", "2001:db8::1", "2001:db8:0:ffff::9", "198.51.100.7", "::ffff:203.0.113.77"];
  for (const address of allowed) {
    const res = await from(address, made.key);
    assert.equal(res.status, 200, `${address}: ${res.text}`);
  }
  for (const address of ["203.0.114.1", "198.51.100.8", "2001:db9::1", "10.0.0.1", "::ffff:198.51.100.8"]) {
    const res = await from(address, made.key);
    assert.equal(res.status, 403, `${address}: ${res.text}`);
    // A mapped address is named as the IPv4 address it is.
    const shown = address.replace(/^::ffff:/, "");
    assert.deepEqual(res.json, notAllowed(shown));
    // The key proved itself: the refusal shows its windows.
    assert.ok(res.headers.get("ratelimit-policy"), "rate-limit headers on the 403");
  }
  const view = await call(gw.url, `/v1/api-keys/${made.id}`, { key: gw.rootKey });
  assert.deepEqual(view.json.allowedIps, made.allowedIps);
});

test("the address is checked before the scope, and a refusal is not counted against the limit", async () => {
  const made = await createKey(gw, { name: "narrow", scopes: ["read"], rateLimit: 3, burst: 3, allowedIps: ["203.0.113.9"] });
  // A write from elsewhere: the address answers, not the missing scope.
  const write = await call(gw.url, "/v1/opportunities", {
    key: made.key,
    method: "POST",
    body: { x: 1 },
    headers: { "cf-connecting-ip": "192.0.2.1" },
  });
  assert.equal(write.status, 403);
  assert.deepEqual(write.json, notAllowed("192.0.2.1"));
  // Ten refusals, concurrently: none of them spends the three requests the key has.
  const refused = await Promise.all(Array.from({ length: 10 }, () => from("192.0.2.1", made.key)));
  assert.deepEqual(refused.map((r) => r.status), Array(10).fill(403));
  const admitted = await Promise.all(Array.from({ length: 3 }, () => from("203.0.113.9", made.key)));
  assert.deepEqual(admitted.map((r) => r.status), [200, 200, 200], admitted.map((r) => r.text).join("\n"));
  assert.equal((await from("203.0.113.9", made.key)).status, 429, "the fourth from the right place is over the limit");
  // The usage history counts the refusals as refused (403), apart from what was admitted.
  const usage = await call(gw.url, `/v1/api-keys/${made.id}/usage`, { key: gw.rootKey });
  assert.equal(usage.status, 200, usage.text);
  const sum = (field) => usage.json.hourly.reduce((n, b) => n + b[field], 0);
  assert.equal(sum("forbidden"), 11);
  assert.equal(sum("admitted"), 3);
  assert.equal(usage.json.total, 3);
});

test("a request with no client address is refused by a key with a list, and served by one without", async () => {
  const listed = await createKey(gw, { name: "listed", scopes: ["read"], allowedIps: ["203.0.113.0/24"] });
  const open = await createKey(gw, { name: "open", scopes: ["read"] });
  const res = await from(undefined, listed.key);
  // Locally the runtime may give every request its own address; either way the key
  // refuses what is not on its list.
  assert.equal(res.status, 403, res.text);
  assert.equal(res.json.error.message, "IP address not allowed");
  assert.equal((await from(undefined, open.key)).status, 200);
  assert.deepEqual(open.allowedIps, []);
});

test("malformed, meaningless and too long lists are refused, naming allowedIps", async () => {
  const bad = [
    ["0.0.0.0/0"],
    ["::/0"],
    ["203.0.113.7/24"],
    ["203.0.113.0/33"],
    ["gateway.example.com"],
    ["203.0.113.1", 7],
    "203.0.113.1",
    Array.from({ length: 33 }, (_, i) => `198.51.100.${i + 1}`),
  ];
  for (const allowedIps of bad) {
    const res = await call(gw.url, "/v1/api-keys", {
      key: gw.rootKey,
      method: "POST",
      body: { name: "bad", scopes: ["read"], allowedIps },
    });
    assert.equal(res.status, 400, `${JSON.stringify(allowedIps)}: ${res.text}`);
    assert.equal(res.json.error.field, "allowedIps", res.text);
    assert.match(res.json.error.details, /^allowedIps: /);
  }
  const hostBits = await call(gw.url, "/v1/api-keys", {
    key: gw.rootKey,
    method: "POST",
    body: { name: "bad", scopes: ["read"], allowedIps: ["203.0.113.7/24"] },
  });
  assert.match(hostBits.json.error.details, /203\.0\.113\.0\/24/, "the error names the block that was meant");
  // Thirty-two is the most, and duplicates count once.
  const most = await createKey(gw, {
    name: "most",
    scopes: ["read"],
    allowedIps: [...Array.from({ length: 32 }, (_, i) => `198.51.100.${i + 1}`)],
  });
  assert.equal(most.allowedIps.length, 32);
});

test("a key short of full admin may only narrow a list; the root key may widen or remove it", async () => {
  const { admin } = await createOrgWithAdmin(gw, { name: "Narrowing" });
  // A partial admin: it manages keys but does not hold every scope everywhere.
  const partial = await createKey(gw, { name: "key manager", scopes: { "api-keys": ["read", "write", "admin"], opportunities: ["read"] } }, admin.key);
  const target = await createKey(gw, { name: "target", scopes: { opportunities: ["read"] }, allowedIps: ["203.0.113.0/24"] }, admin.key);
  const patch = (key, allowedIps) =>
    call(gw.url, `/v1/api-keys/${target.id}`, { key, method: "PATCH", body: { allowedIps } });
  const narrowed = await patch(partial.key, ["203.0.113.128/25"]);
  assert.equal(narrowed.status, 200, narrowed.text);
  assert.deepEqual(narrowed.json.allowedIps, ["203.0.113.128/25"]);
  for (const wider of [["203.0.113.0/24"], ["198.51.100.1"], [], null]) {
    const res = await patch(partial.key, wider);
    assert.equal(res.status, 400, `${JSON.stringify(wider)}: ${res.text}`);
    assert.equal(res.json.error.field, "allowedIps");
  }
  assert.equal((await from("203.0.113.1", target.key)).status, 403, "the narrowed list holds");
  assert.equal((await from("203.0.113.129", target.key)).status, 200);
  // The root key (full admin) may widen it and take it away.
  const removed = await patch(gw.rootKey, null);
  assert.equal(removed.status, 200, removed.text);
  assert.deepEqual(removed.json.allowedIps, []);
  assert.equal((await from("192.0.2.55", target.key)).status, 200, "no list: any address");
});
