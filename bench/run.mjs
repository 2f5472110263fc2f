// `npm run bench`, after scripts/bench.sh has built the worker and run the side-by-side
// bench (../shared/bench: pass-through, the JS gateway, ours, one run, wrk when
// installed): what that bench does not report. It prints figures; it never fails on a
// time.
//   - the wasm size, raw and gzip -9;
//   - cold start: `new Miniflare` → ready (workerd up, modules compiled), then the first
//     request to the fresh isolate, for the gateway and for a constant JS worker;
//   - the load generator's ceiling: the constant-401 JS worker (bench/constant.mjs) under
//     the same wrk load; it must be far faster than every scenario of the side-by-side
//     run (read from its --json file), or that run measured its client, not the servers.
// Usage: node bench/run.mjs [SIDE_BY_SIDE.json]
import { spawnSync } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { startGateway, startModuleWorker, makeKey } from "../tests/harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WASM = join(ROOT, "worker", "build", "index_bg.wasm");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;
const fmt = (n, d = 0) => n.toFixed(d);

/** `new Miniflare` → ready, then the first request. */
async function coldStart(start, path) {
  const t0 = performance.now();
  const server = await start();
  const ready = performance.now();
  const res = await fetch(server.url + path);
  await res.arrayBuffer();
  const first = performance.now();
  return { server, readyMs: ready - t0, firstRequestMs: first - ready, totalMs: first - t0 };
}

const wasm = readFileSync(WASM);
console.log(`wasm: worker/build/index_bg.wasm ${wasm.length} B raw, ${gzipSync(wasm, { level: 9 }).length} B gzip -9`);

const servers = [];
try {
  const constant = await coldStart(() => startModuleWorker({ script: join(ROOT, "bench", "constant.mjs") }), "/");
  servers.push(constant.server);
  const gateway = await coldStart(() => startGateway({ vars: { PLAN: "enterprise" }, rootKey: makeKey("live") }), "/");
  servers.push(gateway.server);
  console.log("cold start (new Miniflare → ready = workerd up + modules compiled; then the first request):");
  for (const [name, c] of [["constant JS worker", constant], ["gateway (GET /, no Durable Object)", gateway]]) {
    console.log(`  ${name}: ready ${fmt(c.readyMs)} ms, first request ${fmt(c.firstRequestMs, 1)} ms, total ${fmt(c.totalMs)} ms`);
  }

  const wrk = spawnSync("wrk", ["--version"], { encoding: "utf8" });
  if (wrk.error) {
    console.log("load generator ceiling: skipped (wrk is not installed: apt-get install -y wrk)");
  } else {
    // bash's `time` reports wrk's own CPU: far below the run's seconds means the load
    // generator was not what limited the rate.
    const command = `TIMEFORMAT='wrk cpu %U user %S sys'; time wrk -t1 -c${CONNECTIONS} -d${SECONDS}s ` +
      `-H 'Authorization: Bearer ${makeKey("live")}x' ${constant.server.url}/v1/opportunities`;
    const out = spawnSync("bash", ["-c", command], { encoding: "utf8" });
    const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(out.stdout)?.[1]);
    const [, user, sys] = /wrk cpu ([\d.]+) user ([\d.]+) sys/.exec(out.stderr) ?? [0, NaN, NaN];
    const wrkCpu = ` (wrk itself used ${fmt((Number(user) + Number(sys)) / SECONDS * 100)}% of one core)`;
    let fastest = "";
    const json = process.argv[2];
    if (json && existsSync(json)) {
      const top = JSON.parse(readFileSync(json, "utf8")).targets.reduce((a, b) => (a.rps > b.rps ? a : b));
      fastest = `; fastest scenario of the side-by-side run: ${top.label} ${fmt(top.rps)} req/s, the ceiling is ${fmt(rps / top.rps, 2)}× that`;
    }
    console.log(`load generator ceiling: constant-401 JS worker under wrk -t1 -c${CONNECTIONS} ${SECONDS} s: ${fmt(rps)} req/s${wrkCpu}${fastest}`);
  }
} finally {
  for (const s of servers.reverse()) await s.stop();
}
