// Where a request's time goes: a CPU profile of the gateway's workerd (worker and key
// guard share its one thread) under wrk load, through workerd's inspector (the V8
// Profiler domain). Prints self time per function, in µs per request, and writes the
// profile for Chrome DevTools. Not a benchmark (the profiler slows everything down, and
// a busy machine shifts absolute figures by 20-30%): read proportions, and compare
// profiles taken back to back.
//
//   npm run build && PATH=$PWD/node_modules/.bin:$PATH node bench/profile.mjs [--malformed | --limited] [--seconds 8]
//
// Function names need the names section, which scripts/build.sh strips: for a profile,
// build with `SCOPIEN_WASM_NAMES=1 bash scripts/build.sh`. Needs wrk (apt-get install -y wrk).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createKey, makeKey, startBenchWorker, startOrigin } from "../tests/harness.mjs";

const { values: opt } = parseArgs({
  options: {
    malformed: { type: "boolean", default: false },
    // A key over its limit (burst 50 a second): nearly every request refused (429).
    limited: { type: "boolean", default: false },
    seconds: { type: "string", default: "8" },
    port: { type: "string", default: "9331" },
    out: { type: "string", default: "build/gateway.cpuprofile" },
    // Profile the JavaScript peer instead (../shared/bench/js-gateway), for comparison.
    js: { type: "string" },
  },
});
const ROOT = join(import.meta.dirname, "..");
const BUILD = join(ROOT, "worker", "build");

const origin = await startOrigin("origin", { record: false });
const rootKey = makeKey("live");
const { mf, url } = await startBenchWorker(
  opt.js ?? BUILD,
  { ORIGIN_URL: origin.url, PLAN: "enterprise", SCOPIEN_ROOT_KEY: rootKey },
  { inspectorPort: Number(opt.port) },
);
const created = await createKey({ url, rootKey }, { name: "profile", scopes: ["read"], rateLimit: 1_000_000, burst: opt.limited ? 50 : 1_000_000 });
const key = opt.malformed ? `sk_live_${"A".repeat(54)}` : created.key;

const targets = await (await fetch(`http://127.0.0.1:${opt.port}/json`)).json();
const ws = new WebSocket(targets.find((t) => t.webSocketDebuggerUrl).webSocketDebuggerUrl);
await new Promise((resolve) => ws.addEventListener("open", resolve));
let next = 1;
const pending = new Map();
ws.addEventListener("message", (e) => {
  const msg = JSON.parse(e.data);
  pending.get(msg.id)?.(msg);
  pending.delete(msg.id);
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
// Asynchronously: the origin answers from this process's event loop.
const wrk = (seconds) =>
  new Promise((resolve) => {
    const child = spawn("wrk", ["-t1", "-c16", `-d${seconds}s`, "-H", `Authorization: Bearer ${key}`, `${url}/v1/opportunities`]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", () => resolve(out));
  });

await wrk(3); // warm-up: JIT, the guard's state loaded
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 100 });
await send("Profiler.start");
const report = await wrk(Number(opt.seconds));
const { result } = await send("Profiler.stop");
const requests = Number(report.match(/(\d+) requests in/)?.[1] ?? 0);
console.log(report.split("\n").filter((l) => /Requests\/sec|Latency/.test(l)).join("\n"));
writeFileSync(join(ROOT, opt.out), JSON.stringify(result.profile));

// Self time per function (µs per request), from the sample time deltas.
const { nodes, samples, timeDeltas } = result.profile;
const byId = new Map(nodes.map((n) => [n.id, n]));
const self = new Map();
samples.forEach((id, i) => {
  const { functionName, url: file, lineNumber } = byId.get(id).callFrame;
  const name = `${functionName || "(anonymous)"} ${file.split("/").pop()}:${lineNumber + 1}`;
  self.set(name, (self.get(name) ?? 0) + (timeDeltas[i + 1] ?? 0));
});
const busy = [...self].filter(([n]) => !n.startsWith("(idle)"));
const total = busy.reduce((sum, [, t]) => sum + t, 0);
console.log(`${requests} requests; busy ${(total / requests).toFixed(0)} µs per request; profile in ${opt.out}`);
for (const [name, t] of busy.sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${(t / requests).toFixed(1).padStart(8)} µs  ${name.slice(0, 110)}`);
}
// The key's guard (same thread): samples under its entry in worker/shim.js (groupCommit:
// `run`, a batch decided after a commit or a gathering turn, the flush timer). Needs the
// unminified entry of a names build; the runtime's own share of the RPC is not in it.
const parent = new Map();
for (const node of nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const GUARD = new Set(["run", "decideWaiting", "flushAfter"]);
const inGuard = (id) => {
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const { functionName, url: file } = byId.get(at).callFrame;
    if (file.endsWith("index.js") && (GUARD.has(functionName) || /^flushAfter/.test(functionName))) return true;
  }
  return false;
};
let guard = 0;
samples.forEach((id, i) => {
  if (inGuard(id)) guard += timeDeltas[i + 1] ?? 0;
});
console.log(`key guard (its entry in worker/shim.js and below): ${(guard / requests).toFixed(0)} µs per request`);
ws.close();
await mf.dispose();
await origin.close();
process.exit(0);
