// What a Durable Object's write and its commit cost in workerd here, with no gateway
// around it: a bare object loops N times over one storage step and awaits `sync()` (the
// commit the output gate would wait for). Prints workerd's CPU (user + system, /proc) and
// wall time per step. Steps: `sync` alone, one upsert then `sync`, two, four, a
// `storage.put` then `sync`, a `SELECT` then `sync`.
//
//   node bench/commit.mjs [--steps 3000]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuSeconds, startModuleWorker } from "../tests/harness.mjs";

const { values: opt } = parseArgs({ options: { steps: { type: "string", default: "3000" } } });
const STEPS = Number(opt.steps);

const WORKER = `
import { DurableObject } from "cloudflare:workers";
const UPSERT = "INSERT INTO g (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
export class Bare extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS g (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  }
  async loop(steps, kind) {
    const sql = this.ctx.storage.sql;
    const value = JSON.stringify({ counters: [1, 2, 3, 4, 5, 6, 7, 8], total: 123456, history: [[1, 2, 3], [4, 5, 6]] });
    for (let i = 0; i < steps; i++) {
      if (kind === "upsert 1") sql.exec(UPSERT, "meter", value + i);
      else if (kind === "upsert 2") for (let r = 0; r < 2; r++) sql.exec(UPSERT, "row" + r, value + i);
      else if (kind === "upsert 4") for (let r = 0; r < 4; r++) sql.exec(UPSERT, "row" + r, value + i);
      else if (kind === "put 1") this.ctx.storage.put("meter", value + i);
      else if (kind === "select 1") sql.exec("SELECT value FROM g WHERE name = ?", "meter").toArray();
      await this.ctx.storage.sync();
    }
    return steps;
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const steps = await env.BARE.getByName("one").loop(Number(url.searchParams.get("steps")), url.searchParams.get("kind"));
    return new Response(String(steps));
  },
};`;

const dir = mkdtempSync(join(tmpdir(), "commit-bench-"));
const script = join(dir, "bare.mjs");
writeFileSync(script, WORKER);
const { mf, url, pid } = await startModuleWorker({
  script,
  durableObjects: { BARE: { className: "Bare", useSQLite: true } },
  persistDir: join(dir, "storage"),
});
try {
  console.log(`per step, ${STEPS} steps each (workerd CPU from /proc, 10 ms ticks)`);
  for (const kind of ["nothing", "upsert 1", "upsert 2", "upsert 4", "put 1", "select 1"]) {
    const cpuBefore = cpuSeconds(pid);
    const started = performance.now();
    const res = await fetch(`${url}/?steps=${STEPS}&kind=${encodeURIComponent(kind)}`);
    if (!res.ok) throw new Error(`${kind}: ${res.status} ${await res.text()}`);
    await res.text();
    const wallUs = ((performance.now() - started) * 1000) / STEPS;
    const cpuUs = ((cpuSeconds(pid) - cpuBefore) * 1e6) / STEPS;
    console.log(`${kind.padEnd(8)} then sync(): CPU ${cpuUs.toFixed(0).padStart(4)} µs, wall ${wallUs.toFixed(0).padStart(4)} µs`);
  }
} finally {
  await mf.dispose();
  rmSync(dir, { recursive: true, force: true });
}
