// Variants of the shared bench's JavaScript gateway (../shared/bench/js-gateway), made
// from its own source for measurement only: the platform's floor for this design (what
// every gateway of it must pay, and nothing of a gateway's own work), and the JS gateway
// with group commit. bench/floor.mjs serves the floor in the shared bench; bench/bounds.mjs
// A/Bs them all against the JS gateway. A pattern that is not found is an error: the JS
// gateway changed, and a variant must not silently measure something else.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** `text` with each [from, to] replaced once. */
export function patched(text, replacements, file) {
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`${file}: the JS gateway changed, '${from.slice(0, 60)}' not found`);
    text = text.replace(from, to);
  }
  return text;
}

// Group commit as the guard's answer sees it: while one commit is in flight, arrivals wait
// undecided; when it ends they are decided in order in one turn (their writes share one
// implicit transaction) and answered only after that batch's `sync()`. `decide(args)`
// makes the decision and its write; `decided` and `commits` are read by bench/ab.mjs.
const GROUP_COMMIT = `
  grouped(args) {
    this.decided = (this.decided ?? 0) + 1;
    if (this.waiting !== undefined) return new Promise((resolve) => this.waiting.push({ args, resolve }));
    const answer = this.decide(args);
    this.commitThen();
    return this.ctx.storage.sync().then(() => answer);
  }
  commitThen() {
    this.commits = (this.commits ?? 0) + 1;
    this.waiting = [];
    this.ctx.storage.sync().then(() => {
      const batch = this.waiting;
      this.waiting = undefined;
      if (batch.length === 0) return;
      const answers = batch.map(({ args }) => this.decide(args));
      this.commitThen();
      this.ctx.storage.sync().then(() => batch.forEach(({ resolve }, i) => resolve(answers[i])));
    });
  }
  stats() {
    return { decided: this.decided ?? 0, commits: this.commits ?? 0 };
  }
`;

/** How the floor's Durable Object stores its count: a write per request, committed
 * before each answer (the JS gateway's way); group commit; or no write at all (the
 * ceiling of every design that makes one Durable Object call per request). */
const FLOOR_STORE = {
  each: `  floor() {
    this.count = (this.count ?? 0) + 1;
    this.ctx.storage.put("usage", this.count);
    return String(1000000 - this.count);
  }
`,
  group: `  floor() {
    return this.grouped([]);
  }
  decide() {
    this.count = (this.count ?? 0) + 1;
    this.ctx.storage.put("usage", this.count);
    return String(1000000 - this.count);
  }
${GROUP_COMMIT}`,
  none: `  floor() {
    this.count = (this.count ?? 0) + 1;
    return String(1000000 - this.count);
  }
`,
};

/** The floor: read the header and check the key's checksum, one RPC to the key's Durable
 * Object (which counts, stored as `store` says, and answers), the forward with the key
 * id set, three rate-limit headers on the answer; no hash, no comparison, no scopes, no
 * window arithmetic, no client-address headers. The JS gateway's own handler is kept
 * for key creation. */
export function floorSource(peer, store = "each") {
  return patched(
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
      ["  check(hash, method, resource) {", `${FLOOR_STORE[store]}\n  check(hash, method, resource) {`],
    ],
    "js-gateway/src/index.js",
  );
}

/** The JS gateway with group commit in its guard: its own `check`, unchanged, decided
 * in batches, each answer released after its batch's commit. */
export function groupCommitSource(peer) {
  return patched(
    peer,
    [
      [
        "decision = await guard.check(hash, request.method, isAuthTest ? null : resource);",
        "decision = await guard.grouped([hash, request.method, isAuthTest ? null : resource]);",
      ],
      [
        "  check(hash, method, resource) {",
        `  decide(args) {
    return this.check(...args);
  }
${GROUP_COMMIT}
  check(hash, method, resource) {`,
      ],
    ],
    "js-gateway/src/index.js",
  );
}

/** Writes a worker laid out as the JS gateway (`src/index.js`, its key format module,
 * its wrangler.toml) at `dir`, with `source` as its entry. */
export function writeVariant(jsGateway, dir, source) {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "src", "index.js"), source);
  cpSync(join(jsGateway, "src", "keyformat.js"), join(dir, "src", "keyformat.js"));
  cpSync(join(jsGateway, "wrangler.toml"), join(dir, "wrangler.toml"));
}

export const readPeer = (jsGateway) => readFileSync(join(jsGateway, "src", "index.js"), "utf8");
