// `npm run bench` (after scripts/bench.sh has built the release worker): serves, in one
// run, a bare pass-through worker and the gateway in workerd through Miniflare (no
// wrangler dev proxy), drives every scenario with the same bounded load generator on
// loopback, and prints req/s, p50, p99 and the ratio of each to the pass-through; then
// the wasm size and cold start. It prints figures; it never fails on a time.
//
// Knobs (env): BENCH_SECONDS (5 per scenario), BENCH_WARMUP_SECONDS (1),
// BENCH_CONCURRENCY (16).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem, type } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Agent, request } from "undici";
import { startGateway, startModuleWorker, createKey, makeKey, call } from "../tests/harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WASM = join(ROOT, "worker", "build", "index_bg.wasm");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const PATH = "/v1/opportunities?limit=10";

/** Starts the loopback origin in a child process; resolves with its URL and a stopper. */
function startOriginProcess() {
  const child = spawn(process.execPath, [join(ROOT, "bench", "origin.mjs")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout.once("data", (chunk) =>
      resolve({ url: chunk.toString().trim(), stop: () => child.kill("SIGTERM") }),
    );
  });
}

/** Closed-loop load: `CONCURRENCY` keep-alive connections, each sending the next request
 * when the previous answer is read, for `seconds`. Loopback only; stops by itself. */
async function load(base, headers, expectStatus, seconds) {
  const target = new URL(base);
  if (target.hostname !== "127.0.0.1") throw new Error(`not loopback: ${base}`);
  const dispatcher = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  const latencies = [];
  const wrong = new Map();
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  async function worker() {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const res = await request(base + PATH, { method: "GET", headers, dispatcher });
      await res.body.dump();
      latencies.push(performance.now() - t0);
      if (res.statusCode !== expectStatus) {
        wrong.set(res.statusCode, (wrong.get(res.statusCode) ?? 0) + 1);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  await dispatcher.close();
  latencies.sort((x, y) => x - y);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    requests: latencies.length,
    rps: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    wrong: Object.fromEntries(wrong),
  };
}

async function scenario(name, base, headers, expectStatus) {
  await load(base, headers, expectStatus, WARMUP_SECONDS);
  const result = await load(base, headers, expectStatus, SECONDS);
  if (Object.keys(result.wrong).length > 0) {
    throw new Error(`${name}: unexpected statuses ${JSON.stringify(result.wrong)} (wanted ${expectStatus})`);
  }
  return { name, ...result };
}

/** `new Miniflare` → ready (workerd up, module compiled), then the first request. */
async function coldStart(start, path) {
  const t0 = performance.now();
  const server = await start();
  const ready = performance.now();
  const res = await fetch(server.url + path);
  await res.arrayBuffer();
  const first = performance.now();
  return { server, readyMs: ready - t0, firstRequestMs: first - ready, totalMs: first - t0 };
}

const fmt = (n, d = 0) => n.toFixed(d);

const origin = await startOriginProcess();
const servers = [];
try {
  const rootKey = makeKey("live");
  const gatewayVars = { PLAN: "enterprise", ORIGIN_URL: origin.url };
  const pass = await coldStart(
    () => startModuleWorker({ script: join(ROOT, "bench", "passthrough.mjs"), bindings: { ORIGIN_URL: origin.url } }),
    PATH,
  );
  servers.push(pass.server);
  const constant = await startModuleWorker({ script: join(ROOT, "bench", "constant.mjs") });
  servers.push(constant);
  const gw = await coldStart(() => startGateway({ vars: gatewayVars, rootKey }), "/");
  servers.push(gw.server);

  const unlimited = { name: "bench", scopes: ["read"], rateLimit: 1_000_000, burst: 1_000_000 };
  const valid = (await createKey(gw.server, unlimited)).key;
  const spent = (await createKey(gw.server, { name: "spent", scopes: ["read"], rateLimit: 1 })).key;
  const first = await call(gw.server.url, PATH, { key: spent });
  if (first.status !== 200) throw new Error(`the rateLimit-1 key's first request: ${first.status}`);
  // A well-formed-looking key whose checksum is wrong: refused before any storage.
  const good = makeKey("live");
  const malformed = good.slice(0, -1) + (good.endsWith("a") ? "b" : "a");
  const bearer = (key) => ({ authorization: `Bearer ${key}` });

  console.log(
    `load: ${CONCURRENCY} keep-alive connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per scenario, GET ${PATH}, loopback`,
  );
  const results = [];
  results.push(await scenario("(a) pass-through worker → origin", pass.server.url, {}, 200));
  results.push(await scenario("(b) gateway, valid key → origin (counter write)", gw.server.url, bearer(valid), 200));
  results.push(await scenario("(c) gateway, malformed key → 401", gw.server.url, bearer(malformed), 401));
  results.push(await scenario("(d) gateway, spent key → 429", gw.server.url, bearer(spent), 429));
  results.push(await scenario("(ref) constant 401 JS worker, no subrequest (ceiling)", constant.url, bearer(malformed), 401));

  const base = results[0].rps;
  console.log("\n| scenario | requests | req/s | p50 ms | p99 ms | req/s ÷ (a) |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.requests} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rps / base, 2)}× |`,
    );
  }

  const wasm = readFileSync(WASM);
  const t0 = performance.now();
  await WebAssembly.compile(wasm);
  const compileMs = performance.now() - t0;
  console.log(`\nwasm: worker/build/index_bg.wasm ${wasm.length} bytes raw, ${gzipSync(wasm, { level: 9 }).length} bytes gzip -9`);
  console.log(`wasm compile in this Node's V8 (WebAssembly.compile): ${fmt(compileMs, 1)} ms`);
  console.log("cold start (new Miniflare → ready = workerd up + modules compiled; then the first request):");
  for (const [name, c] of [
    ["pass-through", pass],
    ["gateway", gw],
    ["gateway (no counter write)", gwNoWrite],
  ]) {
    console.log(
      `  ${name}: ready ${fmt(c.readyMs)} ms, first request ${fmt(c.firstRequestMs, 1)} ms, total ${fmt(c.totalMs)} ms`,
    );
  }
  console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${fmt(totalmem() / 2 ** 30, 1)} GiB, ${type()}, Node ${process.version}`);
} finally {
  for (const s of servers.reverse()) await s.stop();
  origin.stop();
}
