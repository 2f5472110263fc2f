// The README, run: every fenced shell block marked `<!-- try: … -->` is run with bash
// against the built gateway, in the README's order, the variables each block sets carried
// into the next, as a newcomer would paste them. Where the README has the reader do
// something by hand (restart `npm start` with ORIGIN_URL, open the consent page, paste the
// callback's CODE line), the test does the same thing. Then the example origin: it
// verifies a real identity from the gateway and refuses a tampered one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startGateway, startOrigin, call, createKey, makeKey, makeIdentityKey, freePort, waitFor } from "./harness.mjs";
import { signIn } from "./oauth-flow.mjs";
import { startExampleOrigin } from "../scripts/example-origin.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The README's try-it blocks: `{ group, code }` in order. */
function tryBlocks(markdown) {
  const blocks = [];
  for (const m of markdown.matchAll(/<!-- try: ([a-z-]+) -->\n```sh\n([\s\S]*?)\n```/g)) {
    blocks.push({ group: m[1], code: m[2] });
  }
  return blocks;
}
const BLOCKS = tryBlocks(README);
const group = (name) => {
  const found = BLOCKS.filter((b) => b.group === name);
  assert.ok(found.length > 0, `README has no try: ${name} block`);
  return found;
};

// A folder laid out as the repository for the commands (`npm run …`, `.dev.vars`), with
// its own .dev.vars: a developer's own is never read or written.
const dir = mkdtempSync(join(tmpdir(), "scopien-readme-"));
for (const name of ["package.json", "scripts", "node_modules"]) symlinkSync(join(ROOT, name), join(dir, name));
const rootKey = makeKey("live");
const identityKey = makeIdentityKey();
writeFileSync(join(dir, ".dev.vars"), `SCOPIEN_ROOT_KEY=${rootKey}\nIDENTITY_SIGNING_KEY='${identityKey}'\n`);
const STATE = join(dir, ".state.sh");
writeFileSync(STATE, "");

let gw, port, originPort, originProcess;
const storage = mkdtempSync(join(tmpdir(), "scopien-readme-state-"));

/** `npm start` as the README has it: the same storage, port and .dev.vars each time,
 * with `vars` as the reader's environment gives them. */
async function restart(vars = {}) {
  await gw?.stop({ keep: true });
  gw = await startGateway({ rootKey, identityKey, state: storage, port, vars });
}

/** A reader's shell: no variable of the developer's own (an exported KEY would hide a
 * README that never sets it), only what a fresh terminal has and the ports. */
const shellEnv = () => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  PORT: String(port),
  ORIGIN_PORT: String(originPort),
});

/** Runs one README block with bash (`set -euo pipefail`: an unset variable or a failing
 * command fails it), after the variables and functions the earlier blocks left. */
function runBlock({ group: name, code }, env = {}) {
  const script = [
    "set -euo pipefail",
    "set -a",
    `source ${STATE}`,
    code,
    "set +a",
    // Save what this block and the earlier ones set, for the next block.
    `{ for __v in $(compgen -v); do case "$__v" in __*|BASH*|FUNCNAME|PIPESTATUS|GROUPS|PPID|UID|EUID|SHELLOPTS|RANDOM|SECONDS|LINENO|SRANDOM|EPOCH*|PWD|OLDPWD|SHLVL|_|PATH|HOME|PORT|ORIGIN_PORT|CODE) ;; *) declare -p "$__v" ;; esac; done; declare -f; } > ${STATE}.next`,
    `mv ${STATE}.next ${STATE}`,
  ].join("\n");
  return new Promise((resolve) => {
    execFile(
      "bash",
      ["-c", script],
      { cwd: dir, env: { ...shellEnv(), ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        assert.equal(error, null, `README block (try: ${name}) failed:\n${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
        resolve(stdout);
      },
    );
  });
}

async function runGroup(name, env) {
  let out = "";
  for (const block of group(name)) out += await runBlock(block, env);
  return out;
}

/** The value the earlier blocks left in `name`. */
function readVar(name) {
  const m = readFileSync(STATE, "utf8").match(new RegExp(`^declare -\\S* ${name}="([^"]*)"$`, "m"));
  assert.ok(m, `no ${name} after the README's blocks`);
  return m[1];
}

before(async () => {
  port = await freePort();
  originPort = await freePort();
  await restart();
});
after(async () => {
  // npm runs the origin as its child: end the whole group, or the orphan keeps this
  // file's process (and the test run) alive through the pipe it holds.
  if (originProcess?.pid) {
    try {
      process.kill(-originProcess.pid, "SIGTERM");
    } catch {}
    originProcess.stdout?.destroy();
  }
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the README's walkthrough runs as written and does what it says", async () => {
  const out = await runGroup("walkthrough");
  assert.match(out, /"authenticated":true/);
  assert.match(out, /"echo":true/);
  assert.match(out, /does not have 'write' permission for accounts/);
  assert.match(out, /200\n200\n429\n$/);
  assert.match(readVar("KEY"), /^sk_live_/);
});

test("the identity: the example origin, started as the README says, verifies what the gateway sends", async () => {
  // `npm run example-origin` in a terminal of its own.
  originProcess = spawn("npm", ["run", "example-origin"], {
    cwd: dir,
    env: { ...process.env, ORIGIN_PORT: String(originPort), GATEWAY: gw.url },
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  let printed = "";
  originProcess.stdout.on("data", (d) => (printed += d));
  await waitFor(() => printed.includes("Example origin on"), { what: "the example origin to listen" });
  // `ORIGIN_URL=http://127.0.0.1:8788 npm start`, the keys kept.
  await restart({ ORIGIN_URL: `http://127.0.0.1:${originPort}` });
  const out = await runGroup("identity");
  const answers = out.split(/\n(?=\{)/).map((s) => JSON.parse(s));
  assert.equal(answers.length, 3, out);
  const [first, forged, around] = answers;
  assert.equal(first.verified, true, out);
  assert.equal(first.identity.iss, gw.url);
  assert.equal(first.identity.aud, `http://127.0.0.1:${originPort}`);
  assert.equal(first.identity.sub, readVar("KEY_ID"));
  assert.equal(first.identity.scope, "accounts:read opportunities:read");
  assert.equal(forged.verified, true, "the client's header was replaced by the gateway's");
  assert.equal(around.verified, false);
  assert.match(printed, /verified \{/);
});

test("the API documentation's JavaScript and Python examples run against the local gateway", async () => {
  const examples = readFileSync(join(DOCS, "examples.md"), "utf8");
  const env = { ...shellEnv(), SCOPIEN_API_KEY: readVar("KEY"), SCOPIEN_BASE_URL: `${gw.url}/v1` };
  for (const [lang, file, command] of [
    ["javascript", "opportunities.mjs", "node"],
    ["python", "opportunities.py", "python3"],
  ]) {
    const code = examples.match(new RegExp("<!-- try: " + lang + " -->\\n```" + lang + "\\n([\\s\\S]*?)\\n```"));
    assert.ok(code, `docs/examples.md has a try: ${lang} block`);
    writeFileSync(join(dir, file), code[1]);
    const out = await new Promise((resolve) =>
      execFile(command, [file], { cwd: dir, env }, (error, stdout, stderr) => {
        // Python's requests is not a dependency of the project: skipped where it is missing.
        if (lang === "python" && /No module named 'requests'/.test(stderr)) return resolve(null);
        assert.equal(error, null, `${lang} example failed: ${stderr}`);
        resolve(stdout);
      }),
    );
    if (out === null) continue;
    const answer = JSON.parse(out);
    assert.equal(answer.verified, true, `${lang}: ${out}`);
    assert.equal(answer.identity.sub, readVar("KEY_ID"));
  }
});

test("the README's key management and organizations blocks run as written", async () => {
  const keys = await runGroup("keys");
  assert.match(keys, /"hasMore":/);
  assert.match(keys, /"rateLimit":500/);
  assert.match(keys, /"authenticated":true/, "the rolled-away secret still works");
  assert.match(keys, /"message":"IP address not allowed","details":"This API key cannot be used from 198\.51\.100\.7"/);
  const orgs = await runGroup("organizations");
  assert.match(orgs, /"name":"Acme","plan":"professional"/);
  assert.match(orgs, /organization\.created|api_key\.created/);
});

test("OAuth: register, consent by the person the README names, the callback's CODE, exchange, call", async () => {
  const [register, exchange] = group("oauth");
  const out = await runBlock(register);
  const authorize = out.trim().split("\n").at(-1);
  assert.ok(authorize.startsWith(`${gw.url}/oauth/authorize?`), out);
  // In a browser: sign in with $ACME_ADMIN_KEY, Approve, land on the example origin's /callback.
  const cookie = await signIn(gw, readVar("ACME_ADMIN_KEY"));
  const page = await fetch(authorize, { headers: { cookie } });
  const html = await page.text();
  assert.equal(page.status, 200, html);
  const fields = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2].replaceAll("&amp;", "&")]),
  );
  const approved = await fetch(gw.url + "/oauth/authorize", {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded", origin: gw.url },
    body: new URLSearchParams({ ...fields, decision: "approve" }).toString(),
    redirect: "manual",
  });
  assert.equal(approved.status, 303, await approved.text());
  const callback = await (await fetch(approved.headers.get("location"))).text();
  const line = callback.match(/CODE=(sac_[0-9A-Za-z]+)/);
  assert.ok(line, callback);
  const answer = JSON.parse(await runBlock(exchange, { CODE: line[1] }));
  assert.equal(answer.verified, true);
  assert.equal(answer.identity.client_id, readVar("CLIENT_ID"));
  assert.match(answer.identity.sub, /^grant_/);
  assert.equal(answer.identity.scope, "opportunities:read");
});

test("secret scanning: the README's key pair, pinned as it says, and its signed report revoke the key", async () => {
  // `npm run -s scan-report -- setup >> .dev.vars`, then npm start again.
  await new Promise((resolve, reject) =>
    execFile("bash", ["-c", "npm run -s scan-report -- setup >> .dev.vars"], { cwd: dir }, (e) => (e ? reject(e) : resolve())),
  );
  const pinned = readFileSync(join(dir, ".dev.vars"), "utf8").match(/^SECRET_SCANNING_PUBLIC_KEYS='(.*)'$/m);
  assert.ok(pinned, "setup printed the line .dev.vars takes");
  await restart({ ORIGIN_URL: `http://127.0.0.1:${originPort}`, SECRET_SCANNING_PUBLIC_KEYS: pinned[1] });
  const key = readVar("KEY");
  assert.equal((await call(gw.url, "/v1/auth/test", { key })).status, 200);
  const out = await runGroup("scanning");
  assert.match(out, /^200 \[\{"token_hash":"[0-9a-f]{64}","token_type":"scopien_api_key","label":"true_positive"\}\]$/m);
  assert.match(out, /Invalid API key/);
  assert.equal((await call(gw.url, "/v1/auth/test", { key })).status, 401);
});

/** Checks that every `$NAME` a page's shell blocks use is set by an earlier block of the
 * page, is in `known` (set by the README), or comes from the environment, and that no
 * command holds a value to fill in by hand (`key_…`); returns the names the page sets. */
function checkVariables(page, text, known = new Set()) {
  const fromEnvironment = new Set(["PORT", "ORIGIN_PORT", "HOME", "PATH"]);
  const set = new Set(known);
  for (const m of text.matchAll(/```sh\n([\s\S]*?)\n```/g)) {
    const code = m[1]
      .replace(/'[^']*'/g, "''") // nothing inside single quotes expands
      .replaceAll('eval "$(npm run -s pkce)"', "VERIFIER=; CHALLENGE=;"); // what it prints
    for (const use of code.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const name = use[1];
      const line = code.slice(code.lastIndexOf("\n", use.index) + 1, use.index);
      const ok =
        set.has(name) ||
        fromEnvironment.has(name) ||
        code.includes("${" + name + ":-") ||
        new RegExp(`(^|[\\s;(])(export )?${name}=`, "m").test(code.slice(0, use.index)) ||
        new RegExp(`(^|\\s)${name}=\\S+ `).test(line);
      assert.ok(ok, `${page}: $${name} is used before anything sets it:\n${m[1]}`);
    }
    for (const def of code.matchAll(/(?:^|[\s;(])(?:export )?([A-Za-z_][A-Za-z0-9_]*)=/gm)) set.add(def[1]);
    for (const def of code.matchAll(/for ([A-Za-z_]+) in/g)) set.add(def[1]);
    const commands = code
      .split("\n")
      .map((l) => l.replace(/(^|\s)#.*$/, ""))
      .join("\n");
    assert.ok(!commands.includes("…"), `${page}: a command with a value to fill in:\n${m[1]}`);
  }
  return set;
}

const DOCS = join(ROOT, "docs");

test("every variable a shell block uses is set before it, and no command has a value to fill in", () => {
  // CODE is the line the callback page shows, pasted before the block that uses it.
  assert.ok(README.indexOf("`CODE=sac_…`") < README.indexOf("code=$CODE"));
  const known = checkVariables("README.md", README, new Set(["CODE"]));
  for (const page of readdirSync(DOCS).filter((f) => f.endsWith(".md"))) {
    checkVariables(`docs/${page}`, readFileSync(join(DOCS, page), "utf8"), known);
  }
});

test("the README is short, links every docs page by its file name, and every link resolves", () => {
  assert.ok(Buffer.byteLength(README) < 20 * 1024, `README.md is ${Buffer.byteLength(README)} bytes`);
  const pages = readdirSync(DOCS).filter((f) => f.endsWith(".md"));
  assert.ok(pages.length >= 5);
  for (const page of pages) {
    assert.ok(new RegExp(`\\]\\(docs/${page.replace(".", "\\.")}[#)]`).test(README), `README links docs/${page}`);
  }
  const files = [["README.md", README], ...pages.map((p) => [`docs/${p}`, readFileSync(join(DOCS, p), "utf8")])];
  for (const [file, text] of files) {
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(ROOT, dirname(file), target)), `${file} links ${target}, which does not exist`);
    }
  }
});

test("the example origin refuses a tampered identity, a wrong audience and an unknown key", async () => {
  const origin = await startExampleOrigin({ port: 0, gateway: gw.url, log: () => {} });
  try {
    await gw.stop({ keep: true });
    gw = await startGateway({ rootKey, identityKey, state: storage, port, vars: { ORIGIN_URL: origin.url } });
    const key = await createKey(gw, { name: "origin check", scopes: ["read"] });
    const real = await call(gw.url, "/v1/accounts", { key: key.key });
    assert.equal(real.status, 200, real.text);
    assert.equal(real.json.verified, true);
    assert.equal(real.json.identity.sub, key.id);

    // A real assertion the gateway sent to another origin (a recording one).
    const recorder = await startOrigin("recorder");
    await gw.stop({ keep: true });
    gw = await startGateway({ rootKey, identityKey, state: storage, port, vars: { ORIGIN_URL: recorder.url } });
    assert.equal((await call(gw.url, "/v1/accounts", { key: key.key })).status, 200);
    await recorder.close();
    const token = recorder.received[0]?.headers["x-scopien-identity"];
    assert.ok(token, "the gateway sent an identity");

    const ask = (identity) =>
      fetch(origin.url + "/v1/accounts", { headers: identity ? { "x-scopien-identity": identity } : {} }).then(async (r) => ({ status: r.status, json: await r.json() }));
    // Sent to another origin: its aud is not this one.
    const other = await ask(token);
    assert.equal(other.status, 401);
    assert.match(other.json.error, /^aud is/);

    // The same token, its claims changed (aud made right): the signature no longer holds.
    const [h, p, s] = token.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const tampered = [h, Buffer.from(JSON.stringify({ ...claims, aud: origin.url, sub: "key_0000000000000000" })).toString("base64url"), s].join(".");
    const refused = await ask(tampered);
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error, "bad signature");

    // A signature by a key the gateway does not publish.
    const stranger = JSON.parse(makeIdentityKey());
    const forgedHeader = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, "base64url").toString()), kid: stranger.kid })).toString("base64url");
    const unknown = await ask([forgedHeader, p, s].join("."));
    assert.equal(unknown.status, 401);
    assert.match(unknown.json.error, /^unknown kid/);

    assert.equal((await ask()).status, 401);
  } finally {
    await origin.close();
  }
});
