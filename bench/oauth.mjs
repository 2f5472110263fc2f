// An OAuth access token against an API key on the same gateway, side by side: one
// gateway (the built worker in workerd, through Miniflare), one origin on loopback, a
// key and a token with the same scopes and the same limits (the enterprise plan's
// defaults: a grant's limits are its organization's plan's), wrk on each in alternating
// rounds. The load stays under the plan's burst of 500/s (4 connections), and each round
// takes a new key and a new grant (10,000 an hour each), so nothing is refused: a round
// with a refusal is an error, not a figure. It
// prints req/s per round and the median ratio token ÷ key; it never fails on a time.
// Needs wrk (`apt-get install -y wrk`).
// Usage: node bench/oauth.mjs   (BENCH_SECONDS=3, BENCH_ROUNDS=4, BENCH_CONNECTIONS=4)
import { spawn } from "node:child_process";
import { startGateway, startOrigin, call, createKey, pkce } from "../tests/harness.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const REDIRECT = "https://bench.example/cb";

/** wrk on `url` with `credential`; asynchronous, because Miniflare's entry proxy runs in
 * this very process and must keep serving while wrk runs. */
function wrk(url, credential) {
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "-H", `Authorization: Bearer ${credential}`, url]);
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.on("error", reject);
    child.on("close", () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
      if (!rps || non2xx) reject(new Error(`wrk: ${stdout}`));
      else resolve(rps);
    });
  });
}

const origin = await startOrigin("bench", { record: false });
const gw = await startGateway({ vars: { ORIGIN_URL: origin.url, PLAN: "enterprise" } });
try {
  const admin = await createKey(gw, { name: "admin", scopes: ["read", "admin"] });
  const app = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "bench", redirectUris: [REDIRECT], scopes: ["read"], type: "public" },
  });
  /** A new grant's access token, by the consent over HTTP (as tests/oauth.test.mjs). */
  async function newToken() {
    const signIn = await fetch(gw.url + "/dashboard/session", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", origin: gw.url },
      body: new URLSearchParams({ api_key: admin.key }),
    });
    const cookie = signIn.headers.get("set-cookie").split(";")[0];
    const { verifier, challenge } = pkce();
    const query = new URLSearchParams({
      response_type: "code",
      client_id: app.json.clientId,
      redirect_uri: REDIRECT,
      scope: "read",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    const page = await (await fetch(`${gw.url}/oauth/authorize?${query}`, { headers: { cookie } })).text();
    const fields = Object.fromEntries(
      [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]),
    );
    const approved = await fetch(gw.url + "/oauth/authorize", {
      method: "POST",
      headers: { cookie, origin: gw.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...fields, decision: "approve" }),
      redirect: "manual",
    });
    const code = new URL(approved.headers.get("location")).searchParams.get("code");
    const tokens = await (
      await fetch(gw.url + "/oauth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
          client_id: app.json.clientId,
        }),
      })
    ).json();
    return tokens.access_token;
  }
  const url = `${gw.url}/v1/opportunities`;
  const ratios = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    // Serpentine: which goes first alternates, so a drift in the machine's load hits both.
    const order = round % 2 ? ["key", "token"] : ["token", "key"];
    const key = await createKey(gw, { name: `bench key ${round}`, scopes: ["read"] });
    const token = await newToken();
    const rps = {};
    for (const which of order) rps[which] = await wrk(url, which === "key" ? key.key : token);
    ratios.push(rps.token / rps.key);
    console.log(`round ${round}: key ${rps.key.toFixed(0)} req/s, token ${rps.token.toFixed(0)} req/s, token ÷ key ${(rps.token / rps.key).toFixed(3)}`);
  }
  ratios.sort((a, b) => a - b);
  const median = (ratios[(ratios.length - 1) >> 1] + ratios[ratios.length >> 1]) / 2;
  console.log(`median token ÷ key over ${ROUNDS} rounds of ${SECONDS} s: ${median.toFixed(3)}`);
} finally {
  await gw.stop();
  await origin.close();
}
