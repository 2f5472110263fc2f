// A key over its limit (#21). A refused request (429) changes no rate-limit counter, only
// the key's usage history, and that count is not worth a write and a commit of its own:
// the guard keeps it in memory until a write that happens anyway (an admitted request, a
// management change) or a timer at most 1 s later stores it (worker/src/objects/flush.rs). What
// must still hold: every refusal shows in the usage; once stored it survives a crash;
// refusals make no commit of their own; and a change of the key (a raised limit, a
// revocation) takes effect at the next request, flood or not.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, createKey, call, waitFor } from "./harness.mjs";

const LIMIT = 3; // an hour: everything after the first three is refused
const CLIENTS = 8;

let origin;
after(async () => {
  await origin?.close();
});

async function gateway(vars = {}, from) {
  origin ??= await startOrigin("origin", { record: false });
  const settings = { ORIGIN_URL: origin.url, PLAN: "enterprise", ...vars };
  if (!from) return startGateway({ vars: settings });
  return startGateway({ vars: settings, state: from.state, rootKey: from.rootKey, identityKey: from.identityKey });
}

/** CLIENTS clients sending `key`'s requests one after another until `stop()`; `seen`
 * counts the answers by status. */
function flood(url, key) {
  const seen = {};
  let stopped = false;
  const client = async () => {
    while (!stopped) {
      const res = await fetch(`${url}/v1/accounts`, { headers: { authorization: `Bearer ${key}` } });
      await res.arrayBuffer();
      seen[res.status] = (seen[res.status] ?? 0) + 1;
    }
  };
  const running = Array.from({ length: CLIENTS }, client);
  return {
    seen,
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

const guardOf = async (gw, id) =>
  (await gw.mf.getDurableObjectNamespace("KEY_GUARD")).getByName(id.replace(/^key_/, "")); // named by the id's 16 chars

/** The key's usage: admitted and refused (429) requests over its daily buckets. */
async function counted(gw, id) {
  const usage = await call(gw.url, `/v1/api-keys/${id}/usage`, { key: gw.rootKey });
  assert.equal(usage.status, 200);
  const sum = (field) => usage.json.daily.reduce((n, day) => n + day[field], 0);
  return { total: usage.json.total, admitted: sum("admitted"), refused: sum("rateLimited") };
}

test("a flooding key's refusals make no commit of their own, all show in its usage, and are stored without another write", async (t) => {
  const gw = await gateway();
  let crashed = false;
  try {
    const key = await createKey(gw, { name: "flood", scopes: ["read"], rateLimit: LIMIT, burst: 50 });
    for (let i = 0; i < LIMIT; i++) assert.equal((await call(gw.url, "/v1/accounts", { key: key.key })).status, 200);
    const guard = await guardOf(gw, key.id);
    const before = await guard.stats();
    const load = flood(gw.url, key.key);
    await waitFor(() => (load.seen[429] ?? 0) >= 300, { what: "300 refusals", timeoutMs: 30_000 });
    await load.stop();
    assert.deepEqual(Object.keys(load.seen), ["429"], `only refusals: ${JSON.stringify(load.seen)}`);
    const during = await guard.stats();
    const decided = during.decided - before.decided;
    const commits = during.commits - before.commits;
    t.diagnostic(`${decided} refusals decided with ${commits} commits awaited`);
    assert.equal(decided, load.seen[429]);
    // One commit a request would be `decided`; a timer's flush awaits none.
    assert.equal(commits, 0, `${commits} commits awaited for ${decided} refusals`);
    // Every refusal is counted (the guard's memory answers).
    assert.deepEqual(await counted(gw, key.id), { total: LIMIT, admitted: LIMIT, refused: load.seen[429] });
    // No write follows the flood: the timer stores the refusals within a second.
    await waitFor(async () => (await guard.stats()).flushesPending === 0, { what: "the refusals' flush", timeoutMs: 10_000 });
    await gw.crash();
    crashed = true;
    const again = await gateway({}, gw);
    try {
      assert.deepEqual(await counted(again, key.id), { total: LIMIT, admitted: LIMIT, refused: load.seen[429] });
    } finally {
      await again.stop();
    }
  } finally {
    if (!crashed) await gw.stop();
  }
});

test("during a flood a raised limit takes effect at the next request, and a revocation too", async (t) => {
  const gw = await gateway();
  try {
    const key = await createKey(gw, { name: "raised", scopes: ["read"], rateLimit: LIMIT, burst: 1000 });
    const load = flood(gw.url, key.key);
    try {
      await waitFor(() => (load.seen[429] ?? 0) >= 100, { what: "100 refusals", timeoutMs: 30_000 });
      const raised = await call(gw.url, `/v1/api-keys/${key.id}`, {
        key: gw.rootKey,
        method: "PATCH",
        body: { rateLimit: 100_000 },
      });
      assert.equal(raised.status, 200);
      const next = await call(gw.url, "/v1/accounts", { key: key.key });
      assert.equal(next.status, 200, "the first request after the change is admitted");
      const revoked = await call(gw.url, `/v1/api-keys/${key.id}`, { key: gw.rootKey, method: "DELETE" });
      assert.equal(revoked.status, 200);
      const after = await call(gw.url, "/v1/accounts", { key: key.key });
      assert.equal(after.status, 401, "the first request after the revocation is refused");
    } finally {
      await load.stop();
    }
    t.diagnostic(`the flood saw ${JSON.stringify(load.seen)}`);
    const usage = await counted(gw, key.id);
    // Admitted: the first LIMIT, then the flood's after the raise, and `next`; refused:
    // the flood's 429s. (401s are not the key's: they are not in its usage.)
    assert.equal(usage.admitted, (load.seen[200] ?? 0) + 1);
    assert.equal(usage.refused, load.seen[429]);
  } finally {
    await gw.stop();
  }
});
