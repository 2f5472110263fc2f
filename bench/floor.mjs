// The platform's floor for this design, measured with the side-by-side bench: a worker that
// does only the platform's share of a valid-key request (read the header, check the key's
// checksum, one RPC to the key's Durable Object that writes one value and answers, the
// forward with the key id set, three rate-limit headers on the answer) and none of a
// gateway's own work (no hash, no hash comparison, no scopes, no window arithmetic, no
// client-address headers). Served in our gateway's slot of ../shared/bench's A/A mode, its
// ratio to the JS gateway is the most any implementation of this design, in any language,
// can reach on this machine while every request is its own commit. The floor worker is made
// from the JS gateway's own source (bench/variants.mjs; its key creation kept), so the two
// differ only in the hot path. bench/bounds.mjs measures it with group commit too.
//
//   node bench/floor.mjs [bench args: --quick, --rounds N, ...]   (needs wrk; see BENCHMARKS.md)
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { floorSource, patched, readPeer, writeVariant } from "./variants.mjs";

const ROOT = join(import.meta.dirname, "..");
const SHARED = process.env.SHARED_BENCH ?? join(ROOT, "..", "shared", "bench");
const WORK = join(ROOT, "build", "floor-bench");
if (!existsSync(join(SHARED, "bench.mjs"))) {
  console.error(`no side-by-side bench at ${SHARED} (set SHARED_BENCH)`);
  process.exit(1);
}
rmSync(WORK, { recursive: true, force: true });
cpSync(SHARED, WORK, { recursive: true });
// npm run bench's copy already holds the bench's dependencies: reuse them.
const installed = join(ROOT, "build", "bench", "node_modules");
if (existsSync(installed)) cpSync(installed, join(WORK, "node_modules"), { recursive: true });

writeVariant(join(WORK, "js-gateway"), join(WORK, "floor"), floorSource(readPeer(join(WORK, "js-gateway"))));
// A/A mode serves js-gateway/ in our slot; here it serves floor/.
const benchFile = join(WORK, "bench.mjs");
writeFileSync(
  benchFile,
  patched(
    readFileSync(benchFile, "utf8"),
    [['if (opt.aa) gatewayDir = path.join(HERE, "js-gateway");', 'if (opt.aa) gatewayDir = path.join(HERE, "floor");']],
    "bench.mjs",
  ),
);
console.log("(d)/(e) below are the platform floor, not our gateway: RATIO gateway/js-peer = floor ÷ JS gateway");
const run = spawnSync(process.execPath, ["bench.mjs", "--aa", ...process.argv.slice(2)], { cwd: WORK, stdio: "inherit" });
process.exit(run.status ?? 1);
