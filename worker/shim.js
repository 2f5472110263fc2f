// The worker's entry module: scripts/build.sh bundles it with the edge module's
// wasm-bindgen glue (`./index.js`, with index_bg.wasm); the full module's glue
// (`./full.js`, with full_bg.wasm) stays a module of its own, imported on first use.
// Both are builds of the one crate
// (worker/src/lib.rs): the edge module answers the request path; a request it hands
// back (`null`) goes to the full module, which also runs every Durable Object. An
// isolate that only forwards requests never instantiates the full module.
//
// It replaces worker-build's generated entry, which wraps every export in Proxies (new
// ones on each property access) and builds a WorkerEntrypoint per request; here each
// call is a plain function call.
//
// Crash recovery, as worker-build's entry does it, with a plain flag per module instead
// of Proxies: a Rust panic (the workers-rs panic hook) or a WebAssembly.RuntimeError
// sets the module's `criticalError`; its next call re-instantiates it first, and a
// Durable Object whose wasm object belonged to the old instance rebuilds it before its
// next call.
import { DurableObject } from "cloudflare:workers";
import * as edgeGlue from "./index.js";

Error.stackTraceLimit = 100;

/** A wasm module and its crash-recovery state. */
function loaded(glue) {
  return { glue, state: glue.__worker_init_state() };
}

const edge = loaded(edgeGlue);
/** The full module once imported; `loadFull()` imports it. */
let full;
let fullImport;
function loadFull() {
  fullImport ??= import("./full.js").then((glue) => (full = loaded(glue)));
  return fullImport;
}
// The one way the two modules meet: the full module keeps the brute-force throttle's
// memory in the edge module's (throttle.rs), so the isolate has one.
globalThis.scopienEdgeModule = edgeGlue;

function recover(module) {
  if (module.state.criticalError) {
    console.log("Reinitializing Wasm application");
    module.glue.__wbg_reset_state();
    module.state.criticalError = false;
    module.state.instanceId++;
  }
}

function critical(module, error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error("Critical", error);
    module.state.criticalError = true;
  }
}

// Which module trapped is unknown here: both re-instantiate.
addEventListener("error", (event) => {
  critical(edge, event.error);
  if (full) critical(full, event.error);
});

/** Calls `method` of `target` (in `module`) with recovery around it; the answer is
 * returned as it is (a value when the wasm answered at once, else a Promise). */
function guarded(module, target, method, args) {
  try {
    return method.apply(target, args);
  } catch (error) {
    critical(module, error);
    throw error;
  }
}

/** A Durable Object class over the full module's wasm-bindgen class `name`: it derives
 * from DurableObject, so the runtime exposes its methods to RPC, and rebuilds the wasm
 * object after a re-instantiation. `methods` are the ones exposed; the first call of
 * an isolate waits for the full module to load, later ones answer as the wasm does. */
function durableObject(name, methods, extra = {}) {
  class Durable extends DurableObject {
    instance() {
      recover(full);
      if (this.wasm === undefined || this.instanceId !== full.state.instanceId) {
        this.wasm = new full.glue[name](this.ctx, this.env);
        this.instanceId = full.state.instanceId;
      }
      return this.wasm;
    }
    call(method, args) {
      return guarded(full, this.instance(), full.glue[name].prototype[method], args);
    }
  }
  for (const method of methods) {
    Durable.prototype[method] = function (...args) {
      if (full === undefined) return loadFull().then(() => this.call(method, args));
      return this.call(method, args);
    };
  }
  Object.assign(Durable.prototype, extra);
  return Durable;
}

// Group commit. A guard decides one input at a time, and its answer is released only
// once the write that holds its count is durable (workerd's output gate holds a
// response until the storage writes made before it are committed). While one commit is
// in flight, inputs that arrive wait here, undecided; when it completes they are decided
// in order, all in one turn, so their writes share the next commit, and their answers are
// held until that commit. One commit per batch instead of one per request, and no answer
// ever leaves before its own count is stored. Under one request at a time nothing waits.
//
// With METER_FLUSH_MS, a step whose only write is the counters stores nothing, and the
// guard says when to store them (`flush_after_ms`, once per batch): a timer calls `flush`.
// A pending timer keeps the object from being evicted, so only a crash or a redeploy
// loses a batch.
const groupCommit = {
  run(input) {
    if (full === undefined) return loadFull().then(() => this.run(input));
    if (this.waiting !== undefined) {
      return new Promise((resolve, reject) => this.waiting.push({ input, resolve, reject }));
    }
    const answer = this.decide(input);
    this.commit();
    return answer;
  },
  decide(input) {
    this.decided = (this.decided ?? 0) + 1;
    const answer = this.call("run", [input]);
    const after = this.instance().flush_after_ms();
    if (after > 0) setTimeout(() => this.call("flush", []), after);
    return answer;
  },
  /** Waits for the commit of what was decided so far; inputs arriving meanwhile wait. */
  commit() {
    this.commits = (this.commits ?? 0) + 1;
    this.waiting = [];
    const next = () => this.decideWaiting();
    this.ctx.storage.sync().then(next, next);
  },
  /** Inputs decided and commits awaited since the object started (for the bench's
   * hot-key scenario, by RPC from the harness; nothing in the worker calls it). */
  stats() {
    return { decided: this.decided ?? 0, commits: this.commits ?? 0 };
  },
  decideWaiting() {
    const batch = this.waiting;
    this.waiting = undefined;
    if (batch.length === 0) return;
    for (const { input, resolve, reject } of batch) {
      try {
        resolve(this.decide(input));
      } catch (error) {
        reject(error);
      }
    }
    this.commit();
  },
};

export const KeyGuard = durableObject("KeyGuard", ["fetch"], groupCommit);
export const OrgGuard = durableObject("OrgGuard", ["fetch", "run"]);
export const GrantGuard = durableObject("GrantGuard", ["fetch"], groupCommit);
// The session guard's storage calls are asynchronous, so its Rust side answers through
// fetch; `run` gives it the same RPC face as the other guards (guard_client.rs).
export const SessionGuard = durableObject("SessionGuard", ["fetch", "alarm"], {
  async run(input) {
    const response = await this.fetch(
      new Request("https://session-guard/", { method: "POST", body: input }),
    );
    const text = await response.text();
    if (!response.ok) throw new Error(text);
    return text;
  },
});
export const AddressThrottle = durableObject("AddressThrottle", ["fetch"]);
// The people's guards (objects/people.rs) answer through fetch, like the session guard.
const fetchRun = {
  async run(input) {
    const response = await this.fetch(
      new Request("https://people-guard/", { method: "POST", body: input }),
    );
    const text = await response.text();
    if (!response.ok) throw new Error(text);
    return text;
  },
};
export const PeopleGuard = durableObject("PeopleGuard", ["fetch"], fetchRun);
export const PersonGuard = durableObject("PersonGuard", ["fetch"], fetchRun);
export const CeremonyGuard = durableObject("CeremonyGuard", ["fetch", "alarm"], fetchRun);

function fullFetch(request, env) {
  recover(full);
  return guarded(full, undefined, full.glue.fetch, [request, env]);
}

export default {
  fetch(request, env) {
    recover(edge);
    // The edge module answers `null` at once, before reading the body, for what is not
    // the request path (lib.rs, `full_module_only!`).
    const answer = guarded(edge, undefined, edge.glue.fetch, [request, env]);
    if (answer !== null) return answer;
    if (full === undefined) return loadFull().then(() => fullFetch(request, env));
    return fullFetch(request, env);
  },
};
