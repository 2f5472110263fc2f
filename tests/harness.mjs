// End-to-end harness: the real built worker (worker/build) inside workerd through
// Miniflare, with real KV and SQLite-backed Durable Object storage in a fresh folder,
// bindings read from wrangler.toml, and a real HTTP origin on loopback.
import { execFileSync } from "node:child_process";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { createServer, request } from "node:http";
import { connect } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { makeKey } from "../scripts/root-key.mjs";
import { makeIdentityKey } from "../scripts/identity-key.mjs";

export { makeKey, makeIdentityKey };
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUILD = join(ROOT, "worker", "build");

// Test doubles for the fault tests, speaking the guard's RPC (`run`, worker/src/guard.rs):
// a KeyGuard that throws (as a storage fault does) and one that answers too late.
const FAULTY_GUARDS = `
import { DurableObject } from "cloudflare:workers";
export class ThrowingGuard extends DurableObject {
  run() { throw new Error("simulated storage fault"); }
}
export class SlowGuard extends DurableObject {
  async run() {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return "{}";
  }
}
export default { fetch() { return new Response("faults"); } };
`;

/** A gateway whose dashboard takes passkeys: served on `http://localhost:PORT` (an IP
 * address cannot be a WebAuthn RP id), that origin its only passkey origin. `{gw, site}`
 * (`site` is where a browser, or a same-origin call, reaches it). `options` go to
 * `startGateway`; with `site`, a restart there (on `state`, with the same keys). */
export async function startPasskeyGateway(vars = {}, { site: again, ...options } = {}) {
  const port = again ? Number(new URL(again).port) : await freePort();
  const site = `http://localhost:${port}`;
  const gw = await startGateway({ ...options, port, vars: { PASSKEY_ORIGINS: site, PASSKEY_RP_ID: "localhost", ...vars } });
  return { gw, site };
}

/** Starts the gateway. `vars` override wrangler.toml's [vars]; `rootKey: null` runs
 * without a root key; `guard: "throwing" | "slow"` replaces the KeyGuard (or the guard
 * bound as `guardBinding`, e.g. "GRANT_GUARD") with a faulty one; `brokenKv: true` binds KEYS to something that is not a KV namespace;
 * `edgeOnly: true` serves the gateway without its full module, its Durable Objects run
 * by a second worker that has it (the whole build, at `fullUrl`, same storage); with
 * `fullStandIn` (a module's source) too, that module is the gateway's full module, to
 * see what the edge module hands over; `port`: listen there (a restart on the same
 * address), else on a free one. .dev.vars is never used. Everything the runtime logs is
 * kept in `logs`. A free port can be taken by another process between being found and
 * being bound (other test runs on a shared machine): then another one is tried. */
export async function startGateway(options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOnce(options);
    } catch (error) {
      if (options.port || error?.code !== "ERR_ADDRESS_IN_USE" || attempt >= 3) throw error;
    }
  }
}

async function startGatewayOnce({
  vars = {},
  rootKey = makeKey("live"),
  identityKey = makeIdentityKey(),
  guard,
  guardBinding = "KEY_GUARD",
  brokenKv,
  edgeOnly,
  fullStandIn,
  state = mkdtempSync(join(tmpdir(), "scopien-e2e-")),
  port: fixedPort,
} = {}) {
  if (!existsSync(join(BUILD, "index.js"))) {
    throw new Error("worker/build is missing: run `npm run build` (npm test does)");
  }
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  // The gateway's public URL is its own address unless a test names another: a port is
  // chosen first, so the issuer it announces is where it is reached.
  const port = fixedPort ?? (await freePort());
  // Webhooks go to the tests' receivers on loopback.
  const bindings = {
    ...workerOptions.bindings,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    WEBHOOK_ALLOW_HTTP_LOOPBACK: "true",
    ...vars,
  };
  delete bindings.SCOPIEN_ROOT_KEY; // from a developer's .dev.vars: never in tests
  if (rootKey) bindings.SCOPIEN_ROOT_KEY = rootKey;
  delete bindings.IDENTITY_SIGNING_KEY;
  if (identityKey) bindings.IDENTITY_SIGNING_KEY = identityKey;
  const durableObjects = { ...workerOptions.durableObjects };
  if (guard) {
    const className = guard === "slow" ? "SlowGuard" : "ThrowingGuard";
    durableObjects[guardBinding] = { className, scriptName: "faults", useSQLite: true };
  }
  let kvNamespaces = Object.keys(workerOptions.kvNamespaces ?? {});
  if (brokenKv) {
    kvNamespaces = [];
    bindings.KEYS = "not a KV namespace";
  }
  const logs = [];
  const full = edgeOnly && {
    name: "full",
    ...builtModules(BUILD),
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    bindings,
    kvNamespaces,
    durableObjects: { ...durableObjects },
    // The real queue (Miniflare's broker): the guards' alarms produce, this consumes.
    queueProducers: workerOptions.queueProducers,
    queueConsumers: workerOptions.queueConsumers,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  };
  const modules = builtModules(BUILD);
  if (edgeOnly) {
    modules.modules = modules.modules.filter((m) => !/[/\\]full[._]/.test(m.path));
    if (fullStandIn) modules.modules.push({ type: "ESModule", path: join(BUILD, "full.js"), contents: fullStandIn });
    for (const [binding, { className }] of Object.entries(durableObjects)) {
      durableObjects[binding] = { className, scriptName: "full", useSQLite: true };
    }
  }
  const gateway = {
    name: "gateway",
    ...modules,
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    bindings,
    kvNamespaces,
    durableObjects,
    queueProducers: workerOptions.queueProducers,
    // With its full module elsewhere, that worker consumes the queue.
    ...(edgeOnly ? {} : { queueConsumers: workerOptions.queueConsumers }),
    // The dashboard's files (Workers Static Assets), exactly as wrangler.toml declares them.
    assets: workerOptions.assets,
  };
  const workers = [gateway];
  if (full) workers.push(full);
  if (guard) {
    workers.push({
      name: "faults",
      modules: true,
      script: FAULTY_GUARDS,
      compatibilityDate: workerOptions.compatibilityDate,
      durableObjects: { FAULTY: { className: durableObjects[guardBinding].className, useSQLite: true } },
    });
  }
  const options = convertV4MiniflareOptions({
    workers,
    host: "127.0.0.1",
    port,
    cf: false,
  });
  const workerdBefore = workerdChildren();
  // Miniflare 5 keeps every binding's storage under one folder.
  const mf = new Miniflare({
    ...options,
    resourcePersistencePath: state,
    handleStructuredLogs: (log) => logs.push(log.message),
  });
  const url = (await mf.ready).href.replace(/\/$/, "");
  const [workerd] = workerdChildren().filter((pid) => !workerdBefore.includes(pid));
  const fullUrl = full && String(await mf.unsafeGetDirectURL("full")).replace(/\/$/, "");
  return {
    url,
    fullUrl,
    mf,
    /** Kills workerd at once (SIGKILL: no flush, no shutdown), as a crash would; its
     * storage is kept, to start again on it. */
    async crash() {
      process.kill(workerd, "SIGKILL");
      await mf.dispose().catch(() => {});
    },
    rootKey,
    identityKey,
    state,
    logs,
    /** Stops workerd; its storage is deleted unless `keep` (to start again on it). */
    async stop({ keep = false } = {}) {
      await mf.dispose();
      if (!keep) rmSync(state, { recursive: true, force: true });
    },
  };
}

/** A loopback port free a moment ago (the kernel's choice). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The modules of a built gateway: the entry `dir/index.js` first, then every other
 * module in `dir` (today the edge module index_bg.wasm, and the full module full.js
 * with full_bg.wasm; a build from before the split has only the first two). */
function builtModules(dir) {
  const others = readdirSync(dir)
    .filter((name) => name !== "index.js" && /\.(js|wasm)$/.test(name))
    .sort()
    .map((name) => ({
      type: name.endsWith(".wasm") ? "CompiledWasm" : "ESModule",
      path: join(dir, name),
    }));
  return {
    modules: [{ type: "ESModule", path: join(dir, "index.js") }, ...others],
    modulesRoot: dir,
  };
}

/** A gateway under load, as ../shared/bench serves one: our build in `dir` (or, when
 * `dir/src/index.js` exists, a JS worker laid out as that bench's js-gateway), our
 * wrangler.toml's bindings plus `bindings`, SQLite Durable Objects, on a direct socket
 * (no Miniflare entry worker in front). Returns Miniflare and the socket's URL. */
export async function startBenchWorker(dir, bindings, { inspectorPort } = {}) {
  const before = workerdChildren();
  const mf = new Miniflare(
    convertV4MiniflareOptions({ cf: false, host: "127.0.0.1", port: 0, inspectorPort, workers: [benchWorker(dir, bindings)] }),
  );
  await mf.ready;
  const [pid] = workerdChildren().filter((p) => !before.includes(p));
  return { mf, pid, url: String(await mf.unsafeGetDirectURL("gateway")).replace(/\/$/, "") };
}

/** CPU seconds (user + system) that process `pid` has used so far, from /proc (Linux);
 * NaN elsewhere. */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch {
    return NaN;
  }
}

function benchWorker(dir, bindings) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  const js = existsSync(join(dir, "src", "index.js"));
  return {
    name: "gateway",
    ...(js
      ? {
          modules: readdirSync(join(dir, "src"))
            .filter((f) => f.endsWith(".js"))
            .sort((x, y) => (x === "index.js" ? -1 : y === "index.js" ? 1 : 0))
            .map((f) => ({ type: "ESModule", path: join(dir, "src", f) })),
          modulesRoot: join(dir, "src"),
        }
      : builtModules(dir)),
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    bindings: { ...workerOptions.bindings, ...bindings },
    kvNamespaces: Object.keys(workerOptions.kvNamespaces ?? {}),
    durableObjects: js ? { KEY_GUARD: { className: "KeyGuard", useSQLite: true } } : workerOptions.durableObjects,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  };
}

/** The pids of this process's workerd children. */
function workerdChildren() {
  return execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.trim().endsWith("workerd"))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/** A plain JS module worker (`script`) in workerd with `bindings` and no storage, served
 * on a direct socket (no Miniflare entry proxy), as ../shared/bench serves its workers:
 * the benchmarks' reference worker. */
export async function startModuleWorker({ script, bindings = {}, durableObjects, persistDir }) {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.toml"));
  const options = convertV4MiniflareOptions({
    workers: [{
      name: "module",
      modules: [{ type: "ESModule", path: script }],
      modulesRoot: dirname(script),
      compatibilityDate: workerOptions.compatibilityDate,
      bindings,
      // e.g. { BINDING: { className, useSQLite: true } }, stored on disk under persistDir.
      ...(durableObjects && { durableObjects }),
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    }],
    ...(persistDir && { durableObjectsPersist: persistDir }),
    host: "127.0.0.1",
    port: 0,
    cf: false,
  });
  const before = workerdChildren();
  const mf = new Miniflare(options);
  await mf.ready;
  const [pid] = workerdChildren().filter((p) => !before.includes(p));
  const url = String(await mf.unsafeGetDirectURL("module")).replace(/\/$/, "");
  return { url, mf, pid, stop: () => mf.dispose() };
}

/** A loopback origin that records every request it receives (`record: false`: answers
 * only, for load). `hold: true`: it never answers (a hung origin) until `release()`;
 * `abandoned` counts requests whose connection the gateway closed while held. */
export async function startOrigin(name = "origin", { record = true, port = 0, hold = false } = {}) {
  const received = [];
  const held = [];
  const origin = { abandoned: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (record) received.push({ method: req.method, url: req.url, headers: req.headers, body });
      const answer = () => {
        res.writeHead(200, { "content-type": "application/json", "x-origin": name });
        res.end(JSON.stringify({ origin: name, method: req.method, url: req.url }));
      };
      if (!hold) return answer();
      held.push(answer);
      res.on("close", () => {
        if (!res.writableEnded) origin.abandoned += 1;
      });
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return Object.assign(origin, {
    url: `http://127.0.0.1:${server.address().port}`,
    received,
    release: () => held.splice(0).forEach((answer) => answer()),
    close: () => {
      held.splice(0).forEach((answer) => answer());
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  });
}

/** One request; returns status, headers and the parsed JSON body (or text). */
export async function call(base, path, { key, method = "GET", body, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  let payload = body;
  if (body !== undefined && typeof body !== "string") {
    payload = JSON.stringify(body);
    h["content-type"] = "application/json";
  }
  const res = await fetch(base + path, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Creates a key with the root key; fails the test unless it answers 201. */
export async function createKey(gw, spec, adminKey = gw.rootKey) {
  const res = await call(gw.url, "/v1/api-keys", { key: adminKey, method: "POST", body: spec });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${res.text}`);
  return res.json;
}

/** Creates an organization and its first admin key with the root key; fails the test
 * unless both are created. */
export async function createOrgWithAdmin(
  gw,
  { name = "Acme", plan = "starter", scopes = ["read", "write", "delete", "admin"] } = {},
) {
  const made = await call(gw.url, "/v1/organizations", { key: gw.rootKey, method: "POST", body: { name, plan } });
  if (made.status !== 201) throw new Error(`organization not created: ${made.status} ${made.text}`);
  const admin = await createKey(gw, { name: `${name.toLowerCase()} admin`, scopes, organizationId: made.json.id });
  return { org: made.json, admin };
}

/** A PKCE pair (RFC 7636, S256): a random verifier and its challenge. */
export function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** Every byte the gateway has stored (KV and Durable Object files), concatenated. */
export function storedBytes(gw) {
  const files = readdirSync(gw.state, { recursive: true, withFileTypes: true });
  return Buffer.concat(
    files.filter((f) => f.isFile()).map((f) => readFileSync(join(f.parentPath, f.name))),
  );
}

/** The names of the files under the gateway's storage folder (SQLite journals aside). */
export function storedFiles(gw) {
  return readdirSync(gw.state, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && !/-(wal|shm|journal)$/.test(f.name))
    .map((f) => join(f.parentPath, f.name))
    .sort();
}

/** A request whose path is sent exactly as written (fetch would normalise it), on a
 * connection of its own: a server may close a connection after answering before it read
 * the body (413), and a pooled connection would then fail the next request. */
export function rawRequest(base, path, { method = "GET", headers = {}, bodyChunks = [] } = {}) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const fetched = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          fetched.set(name, Array.isArray(value) ? value.join(", ") : value);
        }
        resolve({ status: res.statusCode, headers: fetched, json, text });
      });
    });
    req.on("error", reject);
    // Chunks are sent without Content-Length (chunked transfer encoding).
    for (const chunk of bodyChunks) req.write(chunk);
    req.end();
  });
}

/** Polls `probe` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor(probe, { timeoutMs = 15_000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Sends an oversized body with a declared Content-Length on a connection of its own. */
export function postLarge(base, path, key, body) {
  return rawRequest(base, path, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    },
    bodyChunks: [body],
  });
}

/** Sends `bodyBytes` of a chunked body (no Content-Length), `chunkBytes` at a time, on
 * a raw socket, and never ends it: no last chunk follows. Resolves with the status and
 * parsed JSON of the answer the gateway gives to a body still open, or rejects after
 * `waitMs` without one (a gateway that buffers the whole body never answers). The client
 * is idle when the gateway answers and closes, so the close never races a write (a write
 * into a closed connection can make the kernel drop the answer: EPIPE, ECONNRESET). */
export function answerToOpenUpload(
  base,
  path,
  { method = "POST", headers = {}, bodyBytes, chunkBytes = 8 * 1024, waitMs = 15_000 },
) {
  const { hostname, port } = new URL(base);
  const chunk = (n) => Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), Buffer.alloc(n, 0x61), Buffer.from("\r\n")]);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const received = [];
    let settled = false;
    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn(value);
    };
    const timer = setTimeout(
      () => settle(reject, new Error(`no answer within ${waitMs} ms to a body left open after ${bodyBytes} bytes`)),
      waitMs,
    );
    const parse = () => {
      const text = Buffer.concat(received).toString("utf8");
      const head = text.match(/^HTTP\/1\.1 (\d{3})/);
      const body = text.slice(text.indexOf("\r\n\r\n") + 4);
      try {
        return head && { status: Number(head[1]), json: JSON.parse(body.slice(body.indexOf("{"), body.lastIndexOf("}") + 1)) };
      } catch {
        return null; // not all of the body yet
      }
    };
    socket.on("data", (data) => {
      received.push(data);
      const answer = parse();
      if (answer) settle(resolve, answer);
    });
    socket.on("error", (err) => settle(reject, err));
    socket.on("close", () => settle(reject, new Error(`connection closed before an answer: ${Buffer.concat(received)}`)));
    const head = Object.entries({ host: `${hostname}:${port}`, "transfer-encoding": "chunked", ...headers })
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join("");
    socket.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n`);
    for (let sent = 0; sent < bodyBytes; sent += chunkBytes) socket.write(chunk(Math.min(chunkBytes, bodyBytes - sent)));
  });
}
