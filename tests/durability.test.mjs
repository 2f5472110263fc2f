// What a crash of workerd (SIGKILL mid-load: no flush, no shutdown) loses of a key's
// counts. By default nothing: a decided request is answered only once its meter is
// stored. With METER_FLUSH_MS, at most what the key admitted in that last stretch, which
// its burst bucket caps. Each run counts the 200s its clients saw, crashes workerd,
// starts it again on the same storage and compares them with the key's stored total.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, startOrigin, createKey, call, waitFor } from "./harness.mjs";

const BURST = 10; // tokens, refilled at BURST a second
const CLIENTS = 4;

let origin;
after(async () => {
  await origin?.close();
});

/** Loads a fresh key from CLIENTS clients until workerd is killed; returns how many 200s
 * the clients saw and the total the key's guard has stored, read after a restart. */
async function crashUnderLoad(vars, clients = CLIENTS) {
  origin ??= await startOrigin("origin", { record: false });
  const settings = { ORIGIN_URL: origin.url, PLAN: "enterprise", ...vars };
  const first = await startGateway({ vars: settings });
  const key = await createKey(first, { name: "crash", scopes: ["read"], rateLimit: 100_000, burst: BURST });
  let admitted = 0;
  let answered = 0;
  const client = async () => {
    for (;;) {
      try {
        const res = await fetch(`${first.url}/v1/accounts`, { headers: { authorization: `Bearer ${key.key}` } });
        await res.arrayBuffer();
        answered++;
        if (res.status === 200) admitted++;
      } catch {
        return; // workerd is gone
      }
    }
  };
  const running = Array.from({ length: clients }, client);
  // Past the first bucket and well into the refilled tokens (more than the bound below,
  // so that a guard that never stored its meter would fail), with refusals in between.
  await waitFor(() => admitted >= 3 * BURST && answered > admitted, { what: "load past the burst", timeoutMs: 30_000 });
  await first.crash();
  await Promise.all(running);
  const again = await startGateway({ vars: settings, state: first.state, rootKey: first.rootKey, identityKey: first.identityKey });
  try {
    const usage = await call(again.url, `/v1/api-keys/${key.id}/usage`, { key: again.rootKey });
    assert.equal(usage.status, 200);
    return { admitted, stored: usage.json.total };
  } finally {
    await again.stop();
  }
}

test("by default a crash loses no admitted request: each was stored before it was answered", async (t) => {
  const { admitted, stored } = await crashUnderLoad({});
  t.diagnostic(`admitted ${admitted}, stored ${stored}`);
  assert.ok(stored >= admitted, `stored ${stored} < ${admitted} admitted`);
  // Requests decided and stored whose answers the crash cut off: at most one a client.
  assert.ok(stored <= admitted + CLIENTS, `stored ${stored} > ${admitted} admitted + ${CLIENTS} in flight`);
});

test("group commit: with many requests of one key at once, a crash still loses no admitted request", async (t) => {
  // Enough clients that requests arrive while a commit is in flight and are decided in
  // batches: an answer released with an earlier batch's commit would be lost here.
  const many = 32;
  const { admitted, stored } = await crashUnderLoad({}, many);
  t.diagnostic(`admitted ${admitted}, stored ${stored}`);
  assert.ok(stored >= admitted, `stored ${stored} < ${admitted} admitted`);
  assert.ok(stored <= admitted + many, `stored ${stored} > ${admitted} admitted + ${many} in flight`);
});

test("group commit: requests of one key that arrive together share commits, and limits stay exact", async (t) => {
  origin ??= await startOrigin("origin", { record: false });
  const gw = await startGateway({ vars: { ORIGIN_URL: origin.url } });
  try {
    const N = 40;
    const created = await createKey(gw, { name: "together", scopes: ["read"], rateLimit: N, burst: 50 });
    const statuses = (
      await Promise.all(Array.from({ length: 2 * N }, () => call(gw.url, "/v1/accounts", { key: created.key })))
    ).map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, N);
    assert.equal(statuses.filter((s) => s === 429).length, N);
    const guards = await gw.mf.getDurableObjectNamespace("KEY_GUARD");
    const { decided, commits } = await guards.getByName(created.id.replace(/^key_/, "")).stats(); // named by the id's 16 chars
    t.diagnostic(`${decided} requests decided in ${commits} commits`);
    assert.ok(decided >= 2 * N, `${decided} decided`);
    assert.ok(commits < decided, `${commits} commits for ${decided} requests: none were grouped`);
    const usage = await call(gw.url, `/v1/api-keys/${created.id}/usage`, { key: gw.rootKey });
    assert.equal(usage.json.total, N);
  } finally {
    await gw.stop();
  }
});

test("with METER_FLUSH_MS a crash loses at most what the burst bucket admits in that time", async (t) => {
  const { admitted, stored } = await crashUnderLoad({ METER_FLUSH_MS: "200" });
  t.diagnostic(`admitted ${admitted}, stored ${stored}`);
  // The stretch since the last flush is METER_FLUSH_MS plus the timer's own delay under
  // this load; the bucket admits at most BURST plus BURST a second of it. Allowing up to
  // a second of delay: 2 × BURST.
  const bound = 2 * BURST;
  assert.ok(admitted - stored <= bound, `lost ${admitted - stored} admitted requests, more than ${bound}`);
  assert.ok(stored <= admitted + CLIENTS, `stored ${stored} > ${admitted} admitted + ${CLIENTS} in flight`);
});

test("with METER_FLUSH_MS limits stay exact while the guard runs: 2N simultaneous requests against N, exactly N pass", async () => {
  origin ??= await startOrigin("origin", { record: false });
  const gw = await startGateway({ vars: { ORIGIN_URL: origin.url, METER_FLUSH_MS: "1000" } });
  try {
    const N = 25;
    const created = await createKey(gw, { name: "race", scopes: ["read"], rateLimit: N, burst: 50 });
    const results = await Promise.all(
      Array.from({ length: 2 * N }, () => call(gw.url, "/v1/accounts", { key: created.key })),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, N);
    assert.equal(statuses.filter((s) => s === 429).length, N);
    // Read from the guard's memory, before any flush has to have happened.
    const usage = await call(gw.url, `/v1/api-keys/${created.id}/usage`, { key: gw.rootKey });
    assert.equal(usage.json.hour.used, N);
    assert.equal(usage.json.total, N);
  } finally {
    await gw.stop();
  }
});
