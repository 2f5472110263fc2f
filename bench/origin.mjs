// The benchmarks' loopback origin, in its own process so it does not share the load
// generator's event loop. Prints its URL on stdout, then serves until killed.
import { startOrigin } from "../tests/harness.mjs";

const origin = await startOrigin("bench-origin", { record: false });
process.stdout.write(`${origin.url}\n`);
