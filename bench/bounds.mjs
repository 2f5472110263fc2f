// What this design can reach on this machine, beside what ours does: each variant below
// A/B'd against the shared bench's JS gateway by bench/ab.mjs (same load, alternating
// rounds, one run), with req/s, CPU per request and commits per request side by side.
//
//   - the floor, every request its own commit (bench/floor.mjs's worker);
//   - the floor with group commit: the most any gateway of this design that stores every
//     count before its answer can reach, in any language;
//   - the floor with no write at all: the most any design making one Durable Object call
//     per request can reach, durable or not;
//   - the JS gateway with group commit (its own `check`, decided in batches);
//   - ours (worker/build), and ours with METER_FLUSH_MS=100 against ours (what storing
//     counts at most 100 ms later still buys beyond group commit).
// Variants are made from the JS gateway's own source (bench/variants.mjs).
//
//   npm run build && node bench/bounds.mjs [--rounds 8] [--seconds 4]   (needs wrk; ~15 min)
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { floorSource, groupCommitSource, readPeer, writeVariant } from "./variants.mjs";

const { values: opt } = parseArgs({
  options: { rounds: { type: "string", default: "8" }, seconds: { type: "string", default: "4" } },
});
const ROOT = join(import.meta.dirname, "..");
const JS_GATEWAY = join(process.env.SHARED_BENCH ?? join(ROOT, "..", "shared", "bench"), "js-gateway");
const OURS = join(ROOT, "worker", "build");
const WORK = join(ROOT, "build", "bounds");
for (const [dir, what] of [[JS_GATEWAY, "the shared bench's JS gateway (set SHARED_BENCH)"], [join(OURS, "index.js"), "a build (npm run build)"]]) {
  if (!existsSync(dir)) {
    console.error(`missing ${what}: ${dir}`);
    process.exit(1);
  }
}

rmSync(WORK, { recursive: true, force: true });
const peer = readPeer(JS_GATEWAY);
const variant = (name, source) => {
  writeVariant(JS_GATEWAY, join(WORK, name), source);
  return join(WORK, name);
};
const runs = [
  ["floor, a commit per request", JS_GATEWAY, variant("floor-each", floorSource(peer, "each"))],
  ["floor, group commit", JS_GATEWAY, variant("floor-group", floorSource(peer, "group"))],
  ["floor, no write", JS_GATEWAY, variant("floor-none", floorSource(peer, "none"))],
  ["JS gateway, group commit", JS_GATEWAY, variant("js-group-commit", groupCommitSource(peer))],
  ["ours", JS_GATEWAY, OURS],
  ["ours, METER_FLUSH_MS=100 (÷ ours)", OURS, OURS, ["--b-var", "METER_FLUSH_MS=100"]],
];

/** Runs bench/ab.mjs, echoing it, and reads its summary lines. */
function ab(a, b, extra = []) {
  return new Promise((resolve, reject) => {
    const args = [join(ROOT, "bench", "ab.mjs"), a, b, "--rounds", opt.rounds, "--seconds", opt.seconds, ...extra];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`bench/ab.mjs exited ${code}`));
      const number = (re) => Number(out.match(re)?.[1] ?? NaN);
      resolve({
        ratio: number(/^B ÷ A: median ([\d.]+)/m),
        cpu: number(/^CPU per request, B ÷ A: median ([\d.]+)/m),
        bCpuUs: number(/^B: .*workerd CPU (\d+) µs/m),
        commits: number(/([\d.]+) commits per request/),
      });
    });
  });
}

const results = [];
for (const [name, a, b, extra] of runs) {
  console.log(`\n== ${name}`);
  results.push([name, await ab(a, b, extra)]);
}
console.log("\n| B (A = the JS gateway unless said) | req/s, B ÷ A | CPU per request, B ÷ A | B's CPU µs per request | B's commits per request |");
console.log("|---|---:|---:|---:|---:|");
for (const [name, r] of results) {
  const commits = Number.isNaN(r.commits) ? "—" : r.commits.toFixed(3);
  console.log(`| ${name} | ${r.ratio.toFixed(3)} | ${r.cpu.toFixed(3)} | ${r.bCpuUs} | ${commits} |`);
}
