// A/B of two builds of the gateway on the valid-key path: both served at once (each its
// own workerd, on a direct socket, as ../shared/bench serves them), loaded one at a time
// by wrk in alternating order, for ROUNDS rounds; prints each round's B ÷ A and their
// median. On a noisy machine this ranks changes of a few percent that separate runs
// cannot (the ratio is taken over seconds, not minutes, apart). Not a benchmark of the
// product: use `npm run bench` for that.
//
//   node bench/ab.mjs DIR_A DIR_B [--rounds 8] [--seconds 4] [--malformed] [--b-var NAME=VALUE]
//                   [--connections 16]
// With --connections 64 and DIR_A = ../shared/bench/js-gateway, DIR_B = worker/build it is
// the hot-key scenario (one key, many connections): it also prints p50/p99 of each and
// how many commits our key's guard made per request (counted by the guard's entry,
// worker/shim.js `stats`, read over RPC after the run).
// With DIR_A = constant and --malformed, A is bench/constant.mjs (a JS worker answering
// every request with our 401 body at once, no subrequest): how close our malformed-key
// path comes to the platform's ceiling, in the same run (#21's "within 10 %"). Any
// FILE.mjs module worker may stand in for it (a variant of the constant worker).
// With --limited the key floods past its limit (burst 50): the cost of refused requests,
// and the guard's admitted and refused counts (its usage, read after the run).
//   (each DIR holds index.js and index_bg.wasm, e.g. a copy of worker/build, or is a JS
//   worker laid out as ../shared/bench/js-gateway; needs wrk)
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { cpuSeconds, createKey, makeKey, startBenchWorker, startModuleWorker, startOrigin } from "../tests/harness.mjs";

const { values: opt, positionals: dirs } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "8" },
    seconds: { type: "string", default: "4" },
    malformed: { type: "boolean", default: false },
    // A key over its limit: burst 50 (refilled at 50 a second) under the same load, so
    // nearly every request is refused (429) and about 50 a second are admitted.
    limited: { type: "boolean", default: false },
    connections: { type: "string", default: "16" },
    // NAME=VALUE vars for B only (A and B may then be the same build).
    "b-var": { type: "string", multiple: true, default: [] },
  },
});
if (dirs.length !== 2) {
  console.error("usage: node bench/ab.mjs DIR_A DIR_B [--rounds N] [--seconds S] [--malformed]");
  process.exit(2);
}
const origin = await startOrigin("origin", { record: false });

async function serve(dir, vars = {}) {
  if (dir === "constant" || dir.endsWith(".mjs")) {
    if (!opt.malformed) throw new Error("a module worker (constant) answers 401 only: use it with --malformed");
    const script = dir === "constant" ? resolve(import.meta.dirname, "constant.mjs") : dir;
    const { mf, url, pid } = await startModuleWorker({ script });
    return { mf, url, pid, key: `sk_live_${"A".repeat(54)}` };
  }
  const rootKey = makeKey("live");
  const { mf, url, pid } = await startBenchWorker(dir, { ORIGIN_URL: origin.url, PLAN: "enterprise", SCOPIEN_ROOT_KEY: rootKey, ...vars });
  const created = await createKey({ url, rootKey }, { name: "ab", scopes: ["read"], rateLimit: 1_000_000, burst: opt.limited ? 50 : 1_000_000 });
  const key = opt.malformed ? `sk_live_${"A".repeat(54)}` : created.key;
  // Pre-flight: the load must measure the path it is meant to, not a fault's answer.
  const expected = opt.malformed ? 401 : 200;
  const res = await fetch(`${url}/v1/opportunities`, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  if (res.status !== expected) throw new Error(`${dir}: pre-flight answered ${res.status}, not ${expected}`);
  return { mf, url, pid, key, keyId: created.id, rootKey };
}

// Each round also reads the server's workerd CPU time (user + system, /proc): CPU per
// request ranks a change more steadily than req/s on a shared machine, and it shows
// whether the server (not the load generator) was the limit. A round in which any
// answer was not the expected status fails the run: a broken build is not a fast one.
const wrk = ({ url, key, pid }, seconds) =>
  new Promise((done, fail) => {
    const cpuBefore = cpuSeconds(pid);
    const args = ["-t1", `-c${opt.connections}`, `-d${seconds}s`, "--latency", "-H", `Authorization: Bearer ${key}`];
    const child = spawn("wrk", [...args, `${url}/v1/opportunities`]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const ms = (label) => {
      const m = out.match(new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`));
      return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : NaN;
    };
    child.on("close", () => {
      const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? NaN);
      const unexpected = Number(out.match(/Non-2xx or 3xx responses:\s*(\d+)/)?.[1] ?? 0);
      // The malformed-key path answers 401 by design: only the valid path must be all 2xx.
      if (!opt.malformed && !opt.limited && unexpected > 0) {
        fail(new Error(`${url}: ${unexpected} of ${requests} answers were not 2xx`));
        return;
      }
      done({
        rps: Number(out.match(/Requests\/sec:\s*([\d.]+)/)?.[1] ?? NaN),
        p50: ms("50"),
        p99: ms("99"),
        cpuUs: ((cpuSeconds(pid) - cpuBefore) * 1e6) / requests,
      });
    });
  });

const bVars = Object.fromEntries(opt["b-var"].map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
const place = (dir) => (dir === "constant" ? dir : resolve(dir));
const [a, b] = [await serve(place(dirs[0])), await serve(place(dirs[1]), bVars)];
await wrk(a, 2); // warm-up: JIT, the guards' state loaded
await wrk(b, 2);
const ratios = [];
const latencies = { a: [], b: [] };
for (let round = 1; round <= Number(opt.rounds); round++) {
  // Alternating order, so that neither build always runs on the warmer machine.
  const [first, second] = round % 2 ? [a, b] : [b, a];
  const r1 = await wrk(first, Number(opt.seconds));
  const r2 = await wrk(second, Number(opt.seconds));
  const [ra, rb] = round % 2 ? [r1, r2] : [r2, r1];
  ratios.push(rb.rps / ra.rps);
  latencies.a.push(ra);
  latencies.b.push(rb);
  console.log(
    `round ${round}: A ${ra.rps.toFixed(0)} req/s (p50 ${ra.p50} ms, p99 ${ra.p99} ms, ${ra.cpuUs.toFixed(0)} µs CPU), ` +
      `B ${rb.rps.toFixed(0)} req/s (p50 ${rb.p50} ms, p99 ${rb.p99} ms, ${rb.cpuUs.toFixed(0)} µs CPU), B ÷ A ${(rb.rps / ra.rps).toFixed(3)}`,
  );
}
const median = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
};
const sorted = [...ratios].sort((x, y) => x - y);
console.log(`B ÷ A: median ${median(ratios).toFixed(3)} (min ${sorted[0].toFixed(3)}, max ${sorted.at(-1).toFixed(3)}) over ${ratios.length} rounds`);
// CPU per request, B over A, per round: below 1, B does the same work on less CPU (what
// req/s alone hides when the slower one is waiting rather than working).
const cpuRatios = latencies.b.map((rb, i) => rb.cpuUs / latencies.a[i].cpuUs);
console.log(`CPU per request, B ÷ A: median ${median(cpuRatios).toFixed(3)} (min ${Math.min(...cpuRatios).toFixed(3)}, max ${Math.max(...cpuRatios).toFixed(3)})`);
for (const side of ["a", "b"]) {
  const rounds = latencies[side];
  console.log(
    `${side.toUpperCase()}: median ${median(rounds.map((r) => r.rps)).toFixed(0)} req/s, p50 ${median(rounds.map((r) => r.p50))} ms, ` +
      `p99 ${median(rounds.map((r) => r.p99))} ms, workerd CPU ${median(rounds.map((r) => r.cpuUs)).toFixed(0)} µs per request ` +
      `(busy ${median(rounds.map((r) => (r.cpuUs * r.rps) / 1e4)).toFixed(0)} % of a core: near 100, the server's thread was the limit)`,
  );
}
// Commits per request of B's key, when its guard counts them: ours (worker/shim.js
// `stats`, its Durable Object named by the id's 16 chars), or a JS variant laid out as
// ../shared/bench/js-gateway whose KeyGuard has a `stats()` (named by the whole id).
if (b.keyId) {
  const ours = !existsSync(resolve(dirs[1], "src", "index.js"));
  const guards = await b.mf.getDurableObjectNamespace("KEY_GUARD");
  const guard = guards.getByName(ours ? b.keyId.replace(/^key_/, "") : b.keyId);
  let stats;
  try {
    stats = await guard.stats();
  } catch {
    // A JS peer without stats().
  }
  // A malformed key never reaches its guard: nothing to count then.
  if (stats?.decided > 0) {
    const { decided, commits } = stats;
    console.log(`B's key guard: ${decided} requests decided in ${commits} commits: ${(commits / decided).toFixed(3)} commits per request`);
  }
}
if (opt.limited) {
  for (const [side, served] of [["A", a], ["B", b]]) {
    const usage = await fetch(`${served.url}/v1/api-keys/${served.keyId}/usage`, { headers: { authorization: `Bearer ${served.rootKey}` } });
    if (!usage.ok) continue; // a JS peer without the usage endpoint
    const days = (await usage.json()).daily ?? [];
    const sum = (field) => days.reduce((n, d) => n + (d[field] ?? 0), 0);
    console.log(`${side}'s key: ${sum("admitted")} admitted, ${sum("rateLimited")} refused (429) counted in its usage`);
  }
}
await a.mf.dispose();
await b.mf.dispose();
await origin.close();
process.exit(0);
