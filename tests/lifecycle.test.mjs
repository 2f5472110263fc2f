// Key lifecycle end to end: list, inspect, update, revoke, roll, expire, usage; each
// change effective on the very next request.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  startGateway,
  call,
  createKey,
  waitFor,
  makeKey,
  storedFiles,
  postLarge,
} from "./harness.mjs";

let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

const root = () => ({ key: gw.rootKey });
/** Polls the auth test with `key` until it answers 401; returns that answer. */
const untilRefused = (key, what) =>
  waitFor(
    async () => {
      const r = await get("/v1/auth/test", key);
      return r.status === 401 ? r : null;
    },
    { what },
  );
const get = (path, key = gw.rootKey) => call(gw.url, path, { key });

test("inspect one key: every documented field, never the hash or the key", async () => {
  const created = await createKey(gw, { name: "inspect", scopes: { reports: ["read"] }, rateLimit: 500, burst: 20 });
  const res = await get(`/v1/api-keys/${created.id}`);
  assert.equal(res.status, 200);
  const k = res.json;
  assert.equal(k.id, created.id);
  assert.equal(k.name, "inspect");
  assert.equal(k.type, "live");
  assert.deepEqual(k.scopes, { reports: ["read"] });
  assert.equal(k.rateLimit, 500);
  assert.equal(k.burst, 20);
  assert.equal(k.status, "active");
  assert.equal(k.revokedAt, null);
  assert.equal(k.expiresAt, null);
  assert.equal(k.lastUsedAt, null);
  assert.equal(k.createdAt, created.createdAt);
  assert.equal(k.display, `sk_live_${created.id.slice(4)}…${created.key.slice(-4)}`);
  assert.equal(k.key, undefined);
  assert.ok(!res.text.includes(created.key.slice(24, 56)));
  assert.ok(!("hash" in k));
});

test("unknown ids 404, malformed ids 400, wrong methods 405 with Allow", async () => {
  const unknown = await get("/v1/api-keys/key_0000000000000000");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, "not_found");
  const bad = await get("/v1/api-keys/key_short");
  assert.equal(bad.status, 400);
  const wrong = await call(gw.url, "/v1/api-keys/key_0000000000000000", { ...root(), method: "PUT" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, PATCH, DELETE");
  const rollGet = await get("/v1/api-keys/key_0000000000000000/roll");
  assert.equal(rollGet.status, 405);
  assert.equal(rollGet.headers.get("allow"), "POST");
});

test("the root key has no record: it cannot be inspected, changed or revoked", async () => {
  const rootId = `key_${gw.rootKey.slice(8, 24)}`;
  assert.equal((await get(`/v1/api-keys/${rootId}`)).status, 404);
  const del = await call(gw.url, `/v1/api-keys/${rootId}`, { ...root(), method: "DELETE" });
  assert.equal(del.status, 404);
  assert.equal((await get("/v1/auth/test")).status, 200, "the root key still works");
});

test("listing pages through every key with hasMore and nextCursor", async () => {
  const lister = await startGateway();
  try {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await createKey(lister, { name: `k${i}`, scopes: ["read"] })).id);
    const seen = [];
    let cursor = null;
    let pages = 0;
    do {
      const q = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : "?limit=2";
      const page = await call(lister.url, `/v1/api-keys${q}`, { key: lister.rootKey });
      assert.equal(page.status, 200);
      assert.ok(page.json.data.length <= 2);
      for (const k of page.json.data) {
        assert.equal(k.status, "active");
        assert.equal(k.key, undefined);
        seen.push(k.id);
      }
      cursor = page.json.hasMore ? page.json.nextCursor : null;
      if (page.json.hasMore) assert.equal(typeof page.json.nextCursor, "string");
      else assert.equal(page.json.nextCursor, null);
      pages++;
    } while (cursor && pages < 10);
    assert.ok(pages >= 3, `${pages} pages`);
    assert.deepEqual(seen.sort(), ids.sort());
    const whole = await call(lister.url, "/v1/api-keys", { key: lister.rootKey });
    assert.equal(whole.json.data.length, 5);
    assert.equal(whole.json.hasMore, false);
    for (const bad of ["?limit=0", "?limit=101", "?limit=x", "?page=2"]) {
      const res = await call(lister.url, `/v1/api-keys${bad}`, { key: lister.rootKey });
      assert.equal(res.status, 400, bad);
    }
  } finally {
    await lister.stop();
  }
});

test("narrowing scopes applies on the very next request", async () => {
  const created = await createKey(gw, { name: "narrow", scopes: ["read", "write"] });
  const before = await call(gw.url, "/v1/opportunities", { key: created.key, method: "POST", body: {} });
  assert.equal(before.status, 200);
  const patched = await call(gw.url, `/v1/api-keys/${created.id}`, {
    ...root(),
    method: "PATCH",
    body: { scopes: ["read"] },
  });
  assert.equal(patched.status, 200);
  assert.deepEqual(patched.json.scopes, ["read"]);
  const after = await call(gw.url, "/v1/opportunities", { key: created.key, method: "POST", body: {} });
  assert.equal(after.status, 403);
  assert.equal(after.json.error.details, "This API key does not have 'write' permission for opportunities");
  assert.equal((await call(gw.url, "/v1/opportunities", { key: created.key })).status, 200);
});

test("a new rate limit applies on the very next request; limits above the plan are refused", async () => {
  const created = await createKey(gw, { name: "limits", scopes: ["read"], rateLimit: 100 });
  assert.equal((await get("/v1/auth/test", created.key)).headers.get("x-ratelimit-limit"), "100");
  const patched = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "PATCH", body: { rateLimit: 2, name: "renamed" } });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.name, "renamed");
  const next = await get("/v1/auth/test", created.key);
  assert.equal(next.headers.get("x-ratelimit-limit"), "2");
  assert.equal(next.headers.get("x-ratelimit-remaining"), "0");
  assert.equal((await get("/v1/auth/test", created.key)).status, 429);
  const over = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "PATCH", body: { rateLimit: 1001 } });
  assert.equal(over.status, 400);
  assert.match(over.json.error.details, /rateLimit must be at most 1000 \(the starter plan's ceiling\)/);
  const empty = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "PATCH", body: {} });
  assert.equal(empty.status, 400);
  const unknown = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "PATCH", body: { owner: "x" } });
  assert.match(unknown.json.error.details, /Unknown field 'owner'/);
});

test("revoking takes effect on the very next request, is idempotent, and stays listed", async () => {
  const created = await createKey(gw, { name: "revoke-me", scopes: ["read"] });
  assert.equal((await get("/v1/auth/test", created.key)).status, 200);
  const revoked = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "DELETE" });
  assert.equal(revoked.status, 200);
  assert.equal(revoked.json.status, "revoked");
  assert.ok(revoked.json.revokedAt);
  const next = await get("/v1/auth/test", created.key);
  assert.equal(next.status, 401);
  assert.deepEqual(next.json, {
    error: {
      code: "unauthorized",
      message: "Invalid API key",
      details: "The API key provided is invalid or has been revoked",
    },
  });
  const again = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "DELETE" });
  assert.equal(again.status, 200);
  assert.equal(again.json.revokedAt, revoked.json.revokedAt);
  const listed = await get("/v1/api-keys?limit=100");
  const entry = listed.json.data.find((k) => k.id === created.id);
  assert.equal(entry.status, "revoked");
  const patch = await call(gw.url, `/v1/api-keys/${created.id}`, { ...root(), method: "PATCH", body: { name: "x" } });
  assert.equal(patch.status, 409);
  assert.equal(patch.json.error.code, "conflict");
  const roll = await call(gw.url, `/v1/api-keys/${created.id}/roll`, { ...root(), method: "POST", body: {} });
  assert.equal(roll.status, 409);
});

test("rolling: both keys work and share one budget until the grace ends, then the old one fails", async () => {
  const created = await createKey(gw, { name: "roll", scopes: ["read"], rateLimit: 50 });
  assert.equal((await get("/v1/auth/test", created.key)).status, 200);
  const rolled = await call(gw.url, `/v1/api-keys/${created.id}/roll`, { ...root(), method: "POST", body: { expiresIn: 3 } });
  assert.equal(rolled.status, 200);
  assert.equal(rolled.json.id, created.id);
  assert.notEqual(rolled.json.key, created.key);
  assert.equal(rolled.json.key.slice(0, 24), created.key.slice(0, 24), "same id");
  assert.deepEqual(rolled.json.scopes, ["read"]);
  const viaOld = await get("/v1/auth/test", created.key);
  const viaNew = await get("/v1/auth/test", rolled.json.key);
  assert.equal(viaOld.status, 200);
  assert.equal(viaNew.status, 200);
  assert.equal(viaOld.json.rateLimit.remaining, 48);
  assert.equal(viaNew.json.rateLimit.remaining, 47, "one budget for both");
  const expired = await untilRefused(created.key, "the old key to stop working");
  assert.equal(expired.json.error.details, "The API key has expired");
  assert.equal((await get("/v1/auth/test", rolled.json.key)).status, 200);
  const bad = await call(gw.url, `/v1/api-keys/${created.id}/roll`, { ...root(), method: "POST", body: { expiresIn: 604801 } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.details, /expiresIn/);
});

test("a key past expiresAt answers 401 'expired' and lists as expired", async () => {
  const expiresAt = new Date(Date.now() + 4000).toISOString();
  const created = await createKey(gw, { name: "short", scopes: ["read"], expiresAt });
  assert.equal(created.expiresAt.slice(0, 19), expiresAt.slice(0, 19));
  assert.equal((await get("/v1/auth/test", created.key)).status, 200);
  const res = await untilRefused(created.key, "the key to expire");
  assert.equal(res.json.error.details, "The API key has expired");
  assert.equal((await get(`/v1/api-keys/${created.id}`)).json.status, "expired");
  const listed = await get("/v1/api-keys?limit=100");
  assert.equal(listed.json.data.find((k) => k.id === created.id).status, "expired");
});

test("usage counts the requests made; lastUsedAt reaches the listing", async () => {
  const created = await createKey(gw, { name: "usage", scopes: ["read"] });
  for (let i = 0; i < 4; i++) assert.equal((await get("/v1/accounts", created.key)).status, 200);
  await call(gw.url, "/v1/accounts", { key: created.key, method: "POST", body: {} }); // 403: not counted
  const usage = await get(`/v1/api-keys/${created.id}/usage`);
  assert.equal(usage.status, 200);
  assert.equal(usage.json.hour.used, 4);
  assert.equal(usage.json.hour.limit, 1000);
  assert.equal(usage.json.day.used, 4);
  assert.equal(usage.json.total, 4);
  assert.ok(Math.abs(Date.parse(usage.json.lastUsedAt) - Date.now()) < 60_000);
  assert.ok((await get(`/v1/api-keys/${created.id}`)).json.lastUsedAt);
  await waitFor(
    async () => {
      const listed = await get("/v1/api-keys?limit=100");
      return listed.json.data.find((k) => k.id === created.id)?.lastUsedAt;
    },
    { what: "lastUsedAt in the listing" },
  );
});

test("a test-mode admin key sees and manages only test keys", async () => {
  const testAdmin = await createKey(gw, { name: "test admin", type: "test", scopes: ["admin"] });
  const live = await createKey(gw, { name: "live one", scopes: ["read"] });
  const mine = await createKey(gw, { name: "test one", scopes: ["read"] }, testAdmin.key);
  assert.equal(mine.type, "test", "a test admin's keys default to test");
  const refused = await call(gw.url, "/v1/api-keys", {
    key: testAdmin.key,
    method: "POST",
    body: { name: "x", type: "live", scopes: ["read"] },
  });
  assert.equal(refused.status, 400);
  assert.match(refused.json.error.details, /^type:/);
  const listed = await get("/v1/api-keys?limit=100", testAdmin.key);
  assert.equal(listed.status, 200);
  assert.ok(listed.json.data.length >= 2);
  assert.ok(listed.json.data.every((k) => k.type === "test"));
  assert.equal((await get(`/v1/api-keys/${live.id}`, testAdmin.key)).status, 404);
  const del = await call(gw.url, `/v1/api-keys/${live.id}`, { key: testAdmin.key, method: "DELETE" });
  assert.equal(del.status, 404);
  assert.equal((await get("/v1/auth/test", live.key)).status, 200, "the live key was untouched");
  assert.equal((await get(`/v1/api-keys/${mine.id}`, testAdmin.key)).status, 200);
  assert.equal((await get(`/v1/api-keys/${mine.id}`)).status, 200, "a live admin sees test keys");
});

test("management bodies over 64 KiB answer 413", async () => {
  const body = JSON.stringify({ name: "big", scopes: ["read"], pad: "x".repeat(70_000) });
  const res = await postLarge(gw.url, "/v1/api-keys", gw.rootKey, body);
  assert.equal(res.status, 413);
  assert.equal(res.json.error.code, "payload_too_large");
});

test("an unknown key id in a well-formed key writes nothing", async () => {
  const stranger = makeKey("live");
  const filesBefore = storedFiles(gw);
  assert.equal((await get("/v1/auth/test", stranger)).status, 401);
  // workerd opens an empty SQLite file for the object it started; the guard wrote no
  // table and no row into it.
  const added = storedFiles(gw).filter((f) => !filesBefore.includes(f));
  assert.ok(added.length <= 1, `files added: ${added}`);
  for (const file of added) {
    const db = new DatabaseSync(file, { readOnly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE name = 'guard'").all();
    db.close();
    assert.deepEqual(tables, [], "no guard table");
  }
  const lookup = await get(`/v1/api-keys/key_${stranger.slice(8, 24)}`);
  assert.equal(lookup.status, 404);
});

test("a request stores only the open hour and day beside the counters; a history stored whole before reads back whole", async () => {
  const HOUR = 3_600_000;
  const DAY = 86_400_000;
  let gateway = await startGateway();
  try {
    const guardFiles = () => storedFiles(gateway).filter((f) => f.includes("KeyGuard") && f.endsWith(".sqlite"));
    // The root key's own guard counts its calls: made before, so that the one new file is the key's.
    assert.equal((await call(gateway.url, "/v1/api-keys", { key: gateway.rootKey })).status, 200);
    const filesBefore = guardFiles();
    const created = await createKey(gateway, { name: "history", scopes: ["read"] });
    const [file] = guardFiles().filter((f) => !filesBefore.includes(f));
    assert.ok(file, "the key's guard has a file");
    const request = async () => assert.equal((await call(gateway.url, "/v1/accounts", { key: created.key })).status, 200);
    const usage = async () => {
      const res = await call(gateway.url, `/v1/api-keys/${created.id}/usage`, { key: gateway.rootKey });
      assert.equal(res.status, 200);
      return res.json;
    };
    /** The guard's rows, read with workerd stopped (SQLite's write-ahead log is folded
     * into the file when workerd closes it), then workerd started again on the same
     * storage; `change` may rewrite them meanwhile. */
    const rows = async (change = () => {}) => {
      await gateway.stop({ keep: true });
      const db = new DatabaseSync(file);
      const all = Object.fromEntries(db.prepare("SELECT name, value FROM guard").all().map((r) => [r.name, JSON.parse(r.value)]));
      change(db, all);
      db.close();
      gateway = await startGateway({ state: gateway.state, rootKey: gateway.rootKey, identityKey: gateway.identityKey });
      return all;
    };

    for (let i = 0; i < 3; i++) await request();
    let stored = await rows();
    assert.equal(stored.meter.total, 3);
    assert.equal(stored.meter.history.hourly.length, 1, "the meter holds the open hour only");
    assert.equal(stored.meter.history.hourly[0][1], 3);
    assert.deepEqual(stored.history, { hourly: [], daily: [] }, "no closed period yet");

    // As a gateway before this change stored it: the whole history in the meter, no
    // closed part apart. Three past hours and two past days.
    const hour = Math.floor(Date.now() / HOUR);
    const day = Math.floor(Date.now() / DAY);
    const planted = {
      hourly: [[hour - 3, 5, 0, 0], [hour - 2, 7, 1, 0], [hour - 1, 3, 0, 2]],
      daily: [[day - 2, 20, 0, 0], [day - 1, 15, 1, 2]],
    };
    await rows((db, all) => {
      db.prepare("UPDATE guard SET value = ? WHERE name = 'meter'").run(JSON.stringify({ ...all.meter, history: planted }));
      db.prepare("DELETE FROM guard WHERE name = 'history'").run();
    });
    const at = (series, start, period) => series.find((b) => Date.parse(b.start) === start * period);
    const plantedShown = (u) => {
      for (const [series, buckets, period] of [[u.hourly, planted.hourly, HOUR], [u.daily, planted.daily, DAY]]) {
        for (const [start, ...counts] of buckets) {
          const shown = at(series, start, period);
          assert.ok(shown, `period ${start} is shown`);
          assert.deepEqual([shown.admitted, shown.forbidden, shown.rateLimited], counts);
        }
      }
    };
    plantedShown(await usage());
    await request();
    stored = await rows();
    assert.equal(stored.meter.total, 4);
    assert.equal(stored.meter.history.hourly.length, 1, "the meter is back to the open hour only");
    assert.ok(stored.meter.history.hourly[0][0] >= hour);
    assert.deepEqual(stored.history, planted, "the closed periods are stored apart");
    const after = await usage();
    plantedShown(after);
    assert.equal(after.hourly.at(-1).admitted, 1);
  } finally {
    await gateway.stop();
  }
});
