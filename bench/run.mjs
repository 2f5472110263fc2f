// `npm run bench`, after scripts/bench.sh has built the worker and run the side-by-side
// bench (../shared/bench: pass-through, the JS gateway, ours, one run, wrk when
// installed): what that bench does not report. It prints figures; it never fails on a
// time.
//   - the two wasm modules' sizes, raw and gzip -9: the edge module (the request path)
//     and the full module (everything else, and the Durable Objects);
//   - cold start: `new Miniflare` → ready (workerd up, modules compiled), then the first
//     request to the fresh isolate (a malformed key: the edge module alone), then the
//     first that needs the full module (GET /, which loads it), for the gateway; and a
//     constant JS worker's;
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
const BUILD = join(ROOT, "worker", "build");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;
const fmt = (n, d = 0) => n.toFixed(d);

/** `new Miniflare` → ready, then the first request, then (with `then`) a second. */
async function coldStart(start, path, then) {
  const t0 = performance.now();
  const server = await start();
  const ready = performance.now();
  const get = async (p) => {
    const res = await fetch(server.url + p.path, { headers: p.headers });
    await res.arrayBuffer();
    return performance.now();
  };
  const first = await get(path);
  const second = then ? await get(then) : first;
  return {
    server,
    readyMs: ready - t0,
    firstRequestMs: first - ready,
    secondRequestMs: second - first,
    totalMs: first - t0,
  };
}

for (const [name, role] of [["index_bg.wasm", "edge module"], ["full_bg.wasm", "full module"]]) {
  const wasm = readFileSync(join(BUILD, name));
  console.log(`wasm, ${role}: worker/build/${name} ${wasm.length} B raw, ${gzipSync(wasm, { level: 9 }).length} B gzip -9`);
}

const servers = [];
try {
  const constant = await coldStart(() => startModuleWorker({ script: join(ROOT, "bench", "constant.mjs") }), { path: "/" });
  servers.push(constant.server);
  const malformed = { path: "/v1/opportunities", headers: { authorization: `Bearer ${makeKey("live")}x` } };
  const gateway = await coldStart(() => startGateway({ vars: { PLAN: "enterprise" }, rootKey: makeKey("live") }),
    malformed, { path: "/" });
  servers.push(gateway.server);
  console.log("cold start (new Miniflare → ready = workerd up + modules compiled; then the first request):");
  console.log(`  constant JS worker: ready ${fmt(constant.readyMs)} ms, first request ${fmt(constant.firstRequestMs, 1)} ms, total ${fmt(constant.totalMs)} ms`);
  console.log(`  gateway: ready ${fmt(gateway.readyMs)} ms, first request (malformed key: the edge module) ` +
    `${fmt(gateway.firstRequestMs, 1)} ms, total ${fmt(gateway.totalMs)} ms; ` +
    `then GET / (loads the full module) ${fmt(gateway.secondRequestMs, 1)} ms`);

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
