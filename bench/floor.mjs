// The platform's floor for this design, measured with the side-by-side bench: a worker that
// does only the platform's share of a valid-key request (read the header, check the key's
// checksum, one RPC to the key's Durable Object that writes one value and answers, the
// forward with the key id set, three rate-limit headers on the answer) and none of a
// gateway's own work (no hash, no hash comparison, no scopes, no window arithmetic, no
// client-address headers). Served in our gateway's slot of ../shared/bench's A/A mode, its
// ratio to the JS gateway is the most any implementation of this design, in any language,
// can reach on this machine. The floor worker is made from the JS gateway's own source
// (its key creation kept), so the two differ only in the hot path.
//
//   node bench/floor.mjs [bench args: --quick, --rounds N, ...]   (needs wrk; see BENCHMARKS.md)
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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

/** `text` with each [from, to] replaced once; a pattern that is not found is an error. */
function patched(text, replacements, file) {
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`${file}: the JS gateway changed, '${from.slice(0, 60)}' not found`);
    text = text.replace(from, to);
  }
  return text;
}

const peer = readFileSync(join(WORK, "js-gateway", "src", "index.js"), "utf8");
const floor = patched(
  peer,
  [
    // The JS gateway's handler becomes a function (first: the floor's handler ends alike).
    ["    return response;\n  },\n};", "    return response;\n  }\n}"],
    [
      "export default {\n  async fetch(request, env) {",
      `const REFUSED = JSON.stringify({ error: { code: "unauthorized", message: "Invalid API key" } });
const REFUSED_INIT = { status: 401, headers: { "Content-Type": "application/json" } };
export default {
  async fetch(request, env) {
    const header = request.headers.get("Authorization");
    const parsed = header ? parseKey(header.slice(7)) : null;
    if (!parsed) return new Response(REFUSED, REFUSED_INIT);
    const path = request.url.slice(request.url.indexOf("/", 8));
    if (path.startsWith("/v1/api-keys")) return peer(request, env);
    const remaining = await env.KEY_GUARD.getByName(parsed.id).floor();
    const headers = new Headers(request.headers);
    headers.delete("Authorization");
    headers.set("X-Scopien-Key-Id", parsed.id);
    const upstream = await fetch(env.ORIGIN_URL + path, { method: request.method, headers, redirect: "manual" });
    const response = new Response(upstream.body, upstream);
    response.headers.set("X-RateLimit-Limit", "1000000");
    response.headers.set("X-RateLimit-Remaining", remaining);
    response.headers.set("X-RateLimit-Reset", "1800000000");
    return response;
  },
};
// The JS gateway's own handler, for key creation.
async function peer(request, env) { {`,
    ],
    [
      "  check(hash, method, resource) {",
      `  floor() {
    this.count = (this.count ?? 0) + 1;
    this.ctx.storage.put("usage", this.count);
    return String(1000000 - this.count);
  }

  check(hash, method, resource) {`,
    ],
  ],
  "js-gateway/src/index.js",
);
mkdirSync(join(WORK, "floor", "src"), { recursive: true });
writeFileSync(join(WORK, "floor", "src", "index.js"), floor);
cpSync(join(WORK, "js-gateway", "src", "keyformat.js"), join(WORK, "floor", "src", "keyformat.js"));
cpSync(join(WORK, "js-gateway", "wrangler.toml"), join(WORK, "floor", "wrangler.toml"));
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
