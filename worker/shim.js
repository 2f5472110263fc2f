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
// in order, all in one turn, and then the guard's `end_batch` writes their counts once
// for the whole batch (worker/src/objects/flush.rs); only then are their answers handed
// back, so they are held until that commit. One commit and one counter write per batch
// instead of one per request, and no answer ever leaves before its own count is stored.
// Under one request at a time nothing waits.
//
// A refusal's count (a 403 or 429 in the usage history) is not written by its batch:
// the next write that happens anyway takes it, or a timer at most REFUSALS_FLUSH_MS
// later; a batch that wrote nothing waits for no commit. With METER_FLUSH_MS, admitted
// counts are left to such a timer too. `end_batch` says when the timer should call
// `flush`. A pending timer keeps the object from being evicted, so only a crash or a
// redeploy loses what it covers.
//
// When the key is busy (the last batch held more than one input), an arrival at an idle
// guard waits one timer turn for the others of that turn, so that they share its commit.
// A fault while a batch is decided or written (a storage error, a trap that reset the
// module) fails every input of the batch: none of its answers leaves.
const groupCommit = {
  run(input) {
    if (full === undefined) return loadFull().then(() => this.run(input));
    if (this.waiting !== undefined) {
      return new Promise((resolve, reject) => this.waiting.push({ input, resolve, reject }));
    }
    if (this.hot) {
      // The key is busy: gather what else arrives in this turn of the event loop into
      // the same batch (one commit for all) before deciding it.
      this.waiting = [];
      setTimeout(() => this.decideWaiting(), 0);
      return new Promise((resolve, reject) => this.waiting.push({ input, resolve, reject }));
    }
    const [result] = this.decide([input]);
    if (result.failed) throw result.error;
    return result.answer;
  },
  /** Decides `inputs` in order, stores their counts, and starts waiting for the commit
   * that holds them; answers {answer} or {failed, error} per input. */
  decide(inputs) {
    this.decided = (this.decided ?? 0) + inputs.length;
    const instance = this.instance();
    const results = inputs.map((input) => {
      try {
        return { answer: this.call("run", [input]) };
      } catch (error) {
        return { failed: true, error };
      }
    });
    let batchFault;
    let wrote = true;
    try {
      const after = this.call("end_batch", []);
      if (after > 0) this.flushAfter(after);
      wrote = this.call("wrote", []);
    } catch (error) {
      // The batch's counts were not written: none of its answers may leave.
      batchFault = { failed: true, error };
    }
    // A trap re-instantiated the module during the batch: counts decided in the old
    // instance went with its memory.
    if (batchFault === undefined && this.wasm !== instance) {
      batchFault = { failed: true, error: new Error("the guard's module was reset during a batch") };
    }
    // A batch that wrote nothing (refusals only) has no commit to wait for.
    if (wrote) this.commit();
    return batchFault ? results.map(() => batchFault) : results;
  },
  /** The timer that stores counters left in memory (objects/flush.rs). */
  flushAfter(ms) {
    this.flushesPending = (this.flushesPending ?? 0) + 1;
    setTimeout(() => {
      this.flushesPending--;
      this.call("flush", []);
    }, ms);
  },
  /** Waits for the commit of what was decided so far; inputs arriving meanwhile wait. */
  commit() {
    this.commits = (this.commits ?? 0) + 1;
    this.waiting = [];
    const next = () => this.decideWaiting();
    this.ctx.storage.sync().then(next, next);
  },
  /** Inputs decided and commits awaited since the object started, and flush timers
   * not yet run (for the bench's hot-key scenario and the tests, by RPC from the
   * harness; nothing in the worker calls it). */
  stats() {
    return { decided: this.decided ?? 0, commits: this.commits ?? 0, flushesPending: this.flushesPending ?? 0 };
  },
  decideWaiting() {
    const batch = this.waiting;
    this.waiting = undefined;
    if (batch.length === 0) return;
    // Busy: more than one input arrived during a commit (or a gathering turn).
    this.hot = batch.length > 1;
    const results = this.decide(batch.map(({ input }) => input));
    results.forEach((result, i) => {
      if (result.failed) batch[i].reject(result.error);
      else batch[i].resolve(result.answer);
    });
  },
};

export const KeyGuard = durableObject("KeyGuard", ["fetch"], groupCommit);
// Its alarm hands due webhook messages (its outbox) to the queue.
export const OrgGuard = durableObject("OrgGuard", ["fetch", "run", "alarm"]);
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
  // Webhook messages (worker/src/delivery.rs): the full module's.
  async queue(batch, env) {
    if (full === undefined) await loadFull();
    recover(full);
    return guarded(full, undefined, full.glue.queue, [batch, env]);
  },
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
