// The worker's entry module: scripts/build.sh bundles it with wasm-bindgen's glue
// (`./index.js`, built with --target module --experimental-reset-state-function
// --force-enable-abort-handler). It replaces worker-build's generated entry, which wraps
// every export in Proxies (new ones on each property access) and builds a
// WorkerEntrypoint per request; here each call is a plain function call.
//
// Crash recovery, as worker-build's entry does it, with a plain flag instead of Proxies:
// a Rust panic (the workers-rs panic hook) or a WebAssembly.RuntimeError sets
// `criticalError`; the next call re-instantiates the module first, and a Durable Object
// whose wasm object belonged to the old instance rebuilds it before its next call.
import { DurableObject } from "cloudflare:workers";
import * as wasm from "./index.js";

Error.stackTraceLimit = 100;
const initState = wasm.__worker_init_state();

function recover() {
  if (initState.criticalError) {
    console.log("Reinitializing Wasm application");
    wasm.__wbg_reset_state();
    initState.criticalError = false;
    initState.instanceId++;
  }
}

function critical(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error("Critical", error);
    initState.criticalError = true;
  }
}

addEventListener("error", (event) => critical(event.error));

/** Calls `method` of `target` with recovery around it; the answer is returned as it is
 * (a value when the wasm answered at once, else a Promise). */
function guarded(target, method, args) {
  try {
    return method.apply(target, args);
  } catch (error) {
    critical(error);
    throw error;
  }
}

/** A Durable Object class over a wasm-bindgen class: it derives from DurableObject, so
 * the runtime exposes its methods to RPC, and rebuilds the wasm object after a
 * re-instantiation. `methods` are the ones exposed. */
function durableObject(Wasm, methods, extra = {}) {
  class Durable extends DurableObject {
    constructor(state, env) {
      super(state, env);
      this.instance();
    }
    instance() {
      recover();
      if (this.wasm === undefined || this.instanceId !== initState.instanceId) {
        this.wasm = new Wasm(this.ctx, this.env);
        this.instanceId = initState.instanceId;
      }
      return this.wasm;
    }
  }
  for (const name of methods) {
    const method = Wasm.prototype[name];
    Durable.prototype[name] = function (...args) {
      return guarded(this.instance(), method, args);
    };
  }
  Object.assign(Durable.prototype, extra);
  return Durable;
}

// With METER_FLUSH_MS, a decided request's counts are stored later, with others: the
// guard says when (`flush_after_ms`, once per batch) and a timer calls `flush`. A pending
// timer keeps the object from being evicted, so only a crash or a redeploy loses a batch.
function batchedRun(Wasm) {
  return {
    run(input) {
      const guard = this.instance();
      const answer = guarded(guard, Wasm.prototype.run, [input]);
      const after = guard.flush_after_ms();
      if (after > 0) setTimeout(() => guarded(this.instance(), Wasm.prototype.flush, []), after);
      return answer;
    },
  };
}

export const KeyGuard = durableObject(wasm.KeyGuard, ["fetch"], batchedRun(wasm.KeyGuard));
export const OrgGuard = durableObject(wasm.OrgGuard, ["fetch", "run"]);
export const GrantGuard = durableObject(wasm.GrantGuard, ["fetch"], batchedRun(wasm.GrantGuard));
// The session guard's storage calls are asynchronous, so its Rust side answers through
// fetch; `run` gives it the same RPC face as the other guards (guard_client.rs).
export const SessionGuard = durableObject(wasm.SessionGuard, ["fetch", "alarm"], {
  async run(input) {
    const response = await this.fetch(
      new Request("https://session-guard/", { method: "POST", body: input }),
    );
    const text = await response.text();
    if (!response.ok) throw new Error(text);
    return text;
  },
});
export const AddressThrottle = durableObject(wasm.AddressThrottle, ["fetch"]);

export default {
  fetch(request, env, ctx) {
    recover();
    return guarded(undefined, wasm.fetch, [request, env, ctx]);
  },
};
