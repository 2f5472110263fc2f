// Times one signed secret-scanning report of 300 tokens (100 real keys, 100 unknown
// well-formed keys, 100 bad checksums) against the built worker in workerd, then the same
// report again. Prints figures; never fails on a time. Usage: npm run build && node bench/scan-report.mjs
import { startGateway, createKey, rawRequest, makeKey } from "../tests/harness.mjs";
import { generateKeyPairSync, sign } from "node:crypto";
const signer = generateKeyPairSync("ec", { namedCurve: "P-256" });
const doc = JSON.stringify({ public_keys: [{ key_identifier: "k1", key: signer.publicKey.export({ type: "spki", format: "pem" }), is_current: true }] });
const gw = await startGateway({ vars: { SECRET_SCANNING_PUBLIC_KEYS: doc } });
const tokens = [];
for (let i = 0; i < 100; i++) tokens.push((await createKey(gw, { name: `k${i}`, scopes: ["read"] })).key);
for (let i = 0; i < 100; i++) tokens.push(makeKey("live"));
for (let i = 0; i < 100; i++) tokens.push("sk_live_" + "x".repeat(54));
const body = JSON.stringify(tokens.map((t) => ({ token: t, type: "scopien", url: "https://github.com/o/r", source: "content" })));
const sig = sign("sha256", Buffer.from(body), signer.privateKey).toString("base64");
const t0 = performance.now();
const res = await rawRequest(gw.url, "/secret-scanning/github", { method: "POST", headers: { "github-public-key-identifier": "k1", "github-public-key-signature": sig }, bodyChunks: [body] });
const ms = performance.now() - t0;
const labels = res.json.reduce((a, f) => ((a[f.label] = (a[f.label] ?? 0) + 1), a), {});
console.log(res.status, JSON.stringify(labels), `${ms.toFixed(0)} ms for ${tokens.length} tokens`);
const t1 = performance.now();
await rawRequest(gw.url, "/secret-scanning/github", { method: "POST", headers: { "github-public-key-identifier": "k1", "github-public-key-signature": sig }, bodyChunks: [body] });
console.log(`again (idempotent): ${(performance.now() - t1).toFixed(0)} ms`);
await gw.stop();
