// Invitations and passkeys over HTTP (issue #22): the root key invites, the link is
// single-use and revocable, another organization's invitation is not found, an admin
// key cannot invite; a software authenticator (tests/authenticator.mjs) accepts an
// invitation and signs in, and replayed challenges, other origins and counters that go
// back are refused. Expiry (7 days) is core's unit test (people::members), not a sleep.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPasskeyGateway, call, createOrgWithAdmin, pkce } from "./harness.mjs";
import { Authenticator } from "./authenticator.mjs";
import { registerApp, REDIRECT } from "./oauth-flow.mjs";

let gw, origin, acme, other;

before(async () => {
  ({ gw, site: origin } = await startPasskeyGateway());
  acme = await createOrgWithAdmin(gw, { name: "Acme" });
  other = await createOrgWithAdmin(gw, { name: "Other" });
});
after(async () => {
  await gw?.stop();
});

const invite = (org, body, key = gw.rootKey) =>
  call(gw.url, `/v1/organizations/${org.id}/invitations`, { key, method: "POST", body });

/** A same-origin call of the pages' (what a browser on `origin` sends). */
const page = (path, body, cookie) =>
  call(origin, path, {
    method: "POST",
    body: body ?? {},
    headers: { origin, accept: "application/json", ...(cookie ? { cookie } : {}) },
  });

const tokenOf = (url) => new URL(url).hash.slice(1);

async function accept(auth, token, name = "Ada") {
  const options = await page("/dashboard/passkey/register/options", { token });
  if (options.status !== 200) return options;
  return page("/dashboard/passkey/register", auth.create(options.json.publicKey, { token, name }));
}

async function signIn(auth, opts) {
  const options = await page("/dashboard/passkey/signin/options");
  assert.equal(options.status, 200);
  return page("/dashboard/passkey/signin", auth.get(options.json.publicKey, opts));
}

const cookieOf = (res) => res.headers.get("set-cookie")?.split(";")[0];

test("the root key invites: 201 with a link on the first passkey origin, shown once, pending for 7 days", async () => {
  const before = Date.now();
  const made = await invite(acme.org, { email: "ada@example.com", role: "developer" });
  assert.equal(made.status, 201, made.text);
  assert.match(made.json.id, /^inv_[0-9A-Za-z]{16}$/);
  assert.equal(made.json.email, "ada@example.com");
  assert.equal(made.json.role, "developer");
  assert.match(made.json.url, new RegExp(`^${origin}/dashboard/invite#[0-9A-Za-z]{48}$`));
  const expires = Date.parse(made.json.expiresAt);
  assert.ok(Math.abs(expires - before - 7 * 24 * 3600 * 1000) < 60_000, made.json.expiresAt);
  const listed = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, { key: gw.rootKey });
  assert.equal(listed.status, 200);
  const mine = listed.json.data.find((i) => i.id === made.json.id);
  assert.equal(mine.email, "ada@example.com");
  assert.equal(mine.url, undefined, "the link is shown once");
});

test("bodies are checked, an admin key cannot invite, an unknown organization is 404", async () => {
  const bad = await invite(acme.org, { email: "nope", role: "developer" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.field, "email");
  const role = await invite(acme.org, { email: "a@b.example", role: "root" });
  assert.equal(role.json.error.field, "role");
  const byAdmin = await invite(acme.org, { email: "a@b.example", role: "viewer" }, acme.admin.key);
  assert.equal(byAdmin.status, 403);
  const listByAdmin = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, { key: acme.admin.key });
  assert.equal(listByAdmin.status, 403);
  const otherOrg = await invite(other.org, { email: "a@b.example", role: "viewer" }, acme.admin.key);
  assert.equal(otherOrg.status, 404);
  const unknown = await call(gw.url, "/v1/organizations/org_0000000000000000/invitations", { key: gw.rootKey });
  assert.equal(unknown.status, 404);
});

test("a revoked invitation is gone; another organization's invitation is not found here", async () => {
  const made = await invite(acme.org, { email: "rev@example.com", role: "viewer" });
  const elsewhere = await call(gw.url, `/v1/organizations/${other.org.id}/invitations/${made.json.id}`, {
    key: gw.rootKey,
    method: "DELETE",
  });
  assert.equal(elsewhere.status, 404);
  const path = `/v1/organizations/${acme.org.id}/invitations/${made.json.id}`;
  assert.equal((await call(gw.url, path, { key: gw.rootKey, method: "DELETE" })).status, 204);
  assert.equal((await call(gw.url, path, { key: gw.rootKey, method: "DELETE" })).status, 404);
  const listed = await call(gw.url, `/v1/organizations/${acme.org.id}/invitations`, { key: gw.rootKey });
  assert.ok(!listed.json.data.some((i) => i.id === made.json.id));
  const auth = new Authenticator({ origin });
  const res = await accept(auth, tokenOf(made.json.url));
  assert.equal(res.status, 404);
});

test("an invitation makes one member, signed in; its link then works for nobody", async () => {
  const made = await invite(acme.org, { email: "dev@example.com", role: "developer" });
  const token = tokenOf(made.json.url);
  const peek = await page("/dashboard/passkey/invitation", { token });
  assert.deepEqual([peek.status, peek.json.email, peek.json.role], [200, "dev@example.com", "developer"]);
  const auth = new Authenticator({ origin });
  const joined = await accept(auth, token, "Dev");
  assert.equal(joined.status, 204, joined.text);
  const cookie = cookieOf(joined);
  const session = await call(origin, "/dashboard/api/session", { headers: { cookie } });
  assert.equal(session.status, 200);
  assert.match(session.json.personId, /^person_[0-9A-Za-z]{16}$/);
  assert.deepEqual([session.json.name, session.json.email, session.json.role], ["Dev", "dev@example.com", "developer"]);
  assert.equal(session.json.organizationId, acme.org.id);
  // Used up, for anyone else.
  const again = await accept(new Authenticator({ origin }), token, "Eve");
  assert.equal(again.status, 404);
  assert.equal((await page("/dashboard/passkey/invitation", { token })).status, 404);
  // The member signs in again with the passkey.
  const signedIn = await signIn(auth);
  assert.equal(signedIn.status, 204, signedIn.text);
  const second = await call(origin, "/dashboard/api/session", { headers: { cookie: cookieOf(signedIn) } });
  assert.equal(second.json.personId, session.json.personId);
  // The audit log: invited by the root key, joined by the person, with their passkey.
  const log = await call(gw.url, `/v1/audit-log?organizationId=${acme.org.id}&limit=100`, { key: gw.rootKey });
  const of = (action, id) => log.json.data.find((e) => e.action === action && e.target.id === id);
  assert.deepEqual(of("member.invited", made.json.id).actor, { type: "root" });
  assert.equal(of("member.invited", made.json.id).changes.role.after, "developer");
  const person = session.json.personId;
  assert.deepEqual(of("member.joined", person).actor, { type: "person", personId: person, email: "dev@example.com" });
  assert.ok(of("passkey.added", person));
  assert.ok(!log.text.includes(token), "the link is never logged");
});

test("sign-in refuses a replayed challenge, another origin, a counter that goes back, an unknown passkey", async () => {
  const made = await invite(acme.org, { email: "sec@example.com", role: "viewer" });
  const auth = new Authenticator({ origin });
  assert.equal((await accept(auth, tokenOf(made.json.url))).status, 204);
  // Replay: the same answer twice; the challenge is taken by the first.
  const options = await page("/dashboard/passkey/signin/options");
  const body = auth.get(options.json.publicKey);
  assert.equal((await page("/dashboard/passkey/signin", body)).status, 204);
  const replayed = await page("/dashboard/passkey/signin", body);
  assert.equal(replayed.status, 401);
  assert.match(replayed.json.error.details, /challenge/);
  const foreign = await signIn(auth, { origin: "http://evil.example" });
  assert.equal(foreign.status, 401);
  assert.match(foreign.json.error.details, /origin/);
  const back = await signIn(auth, { count: 1 });
  assert.equal(back.status, 401);
  assert.match(back.json.error.details, /counter/);
  const noUv = await signIn(auth, { flags: 0x01, count: 50 });
  assert.equal(noUv.status, 401);
  const stranger = new Authenticator({ origin });
  stranger.credentials.push({ ...auth.credentials[0], id: Buffer.from("unknown") });
  assert.equal((await signIn(stranger, { count: 60 })).status, 401);
  // Still works with a counter that moves on.
  assert.equal((await signIn(auth, { count: 70 })).status, 204);
});

test("roles bound the dashboard's calls: a viewer reads keys, cannot create one; a developer cannot create an admin key", async () => {
  const viewerInv = await invite(acme.org, { email: "view@example.com", role: "viewer" });
  const viewer = await accept(new Authenticator({ origin }), tokenOf(viewerInv.json.url), "Vi");
  const vCookie = cookieOf(viewer);
  const vSession = await call(origin, "/dashboard/api/session", { headers: { cookie: vCookie } });
  assert.deepEqual(vSession.json.permissions, ["keys.read", "organization.read", "audit.read"]);
  const dash = (cookie, csrf, method, path, body) =>
    call(origin, `/dashboard/api${path}`, { method, body, headers: { cookie, origin, "x-csrf-token": csrf } });
  const list = await dash(vCookie, vSession.json.csrfToken, "GET", "/v1/api-keys");
  assert.equal(list.status, 200);
  assert.ok(list.json.data.some((k) => k.name === "acme admin"), "the organization's keys");
  assert.ok(!list.json.data.some((k) => k.name === "other admin"), "not another's");
  const create = await dash(vCookie, vSession.json.csrfToken, "POST", "/v1/api-keys", { name: "x", type: "test", scopes: ["read"] });
  assert.equal(create.status, 403);
  assert.match(create.json.error.details, /viewer/);

  const devInv = await invite(acme.org, { email: "d2@example.com", role: "developer" });
  const dev = await accept(new Authenticator({ origin }), tokenOf(devInv.json.url), "De");
  const dCookie = cookieOf(dev);
  const dSession = await call(origin, "/dashboard/api/session", { headers: { cookie: dCookie } });
  const made = await dash(dCookie, dSession.json.csrfToken, "POST", "/v1/api-keys", { name: "dev key", type: "live", scopes: ["read", "write"] });
  assert.equal(made.status, 201, made.text);
  const log = await call(gw.url, `/v1/audit-log?organizationId=${acme.org.id}&limit=100`, { key: gw.rootKey });
  const keyEvent = log.json.data.find((e) => e.action === "api_key.created" && e.target.id === made.json.id);
  assert.deepEqual(keyEvent.actor, { type: "person", personId: dSession.json.personId, email: "d2@example.com" });
  const admin = await dash(dCookie, dSession.json.csrfToken, "POST", "/v1/api-keys", { name: "dev admin", type: "live", scopes: ["admin"] });
  assert.equal(admin.status, 403);
  const members = await dash(dCookie, dSession.json.csrfToken, "GET", `/v1/organizations/${acme.org.id}/invitations`);
  assert.equal(members.status, 403);
  // No CSRF token: refused before the role is asked.
  const noCsrf = await dash(dCookie, "", "POST", "/v1/api-keys", { name: "y", type: "test", scopes: ["read"] });
  assert.equal(noCsrf.status, 403);
});

test("a passkey is a credential like a key: failed sign-ins count against the address, and past the limit even a good passkey waits", async () => {
  const address = "192.0.2.77";
  const from = (path, body) =>
    call(origin, path, { method: "POST", body: body ?? {}, headers: { origin, accept: "application/json", "cf-connecting-ip": address } });
  const made = await invite(acme.org, { email: "throttled@example.com", role: "viewer" });
  const good = new Authenticator({ origin });
  assert.equal((await accept(good, tokenOf(made.json.url), "T")).status, 204);
  // A passkey nobody registered, for a person who does not exist.
  const stranger = new Authenticator({ origin });
  stranger.create({ challenge: "AA", user: { id: Buffer.from("0123456789abcdef").toString("base64url") } }, {});
  let refusedAfter = null;
  for (let i = 0; i < 40 && refusedAfter === null; i++) {
    const options = await from("/dashboard/passkey/signin/options");
    assert.equal(options.status, 200, options.text);
    const res = await from("/dashboard/passkey/signin", stranger.get(options.json.publicKey));
    if (res.status === 429) refusedAfter = i;
    else assert.equal(res.status, 401, res.text);
  }
  assert.ok(refusedAfter !== null, "failed passkeys were never throttled");
  assert.ok(refusedAfter <= 31, `throttled only after ${refusedAfter} failures (limit 30)`);
  // The good passkey never worked from this address: it waits like any guess.
  const options = await from("/dashboard/passkey/signin/options");
  const blocked = await from("/dashboard/passkey/signin", good.get(options.json.publicKey));
  assert.equal(blocked.status, 429, blocked.text);
  assert.ok(Number(blocked.headers.get("retry-after")) > 0);
  // From another address it works.
  const elsewhere = await signIn(good);
  assert.equal(elsewhere.status, 204, elsewhere.text);
});

test("a person signed in with a passkey who opens a consent page sees the consent screen, as themselves", async () => {
  const app = await registerApp(gw, acme.admin.key);
  const made = await invite(acme.org, { email: "consent@example.com", role: "admin" });
  const joined = await accept(new Authenticator({ origin }), tokenOf(made.json.url), "C");
  assert.equal(joined.status, 204, joined.text);
  const { challenge } = pkce();
  const q = new URLSearchParams({
    response_type: "code",
    client_id: app.clientId,
    redirect_uri: REDIRECT,
    state: "st",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  const res = await fetch(`${origin}/oauth/authorize?${q}`, { headers: { cookie: cookieOf(joined) }, redirect: "manual" });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get("content-type"), /^text\/html/);
  assert.match(text, /Signed in with consent@example\.com\./);
  assert.match(text, /id="approve"/);
});

test("EdDSA (Ed25519) and RS256 passkeys join and sign in as ES256 ones do; a forged signature of each is refused", async () => {
  for (const alg of ["EdDSA", "RS256"]) {
    const made = await invite(acme.org, { email: `${alg.toLowerCase()}@example.com`, role: "viewer" });
    const token = tokenOf(made.json.url);
    const opened = await page("/dashboard/passkey/register/options", { token });
    assert.deepEqual(opened.json.publicKey.pubKeyCredParams.map((p) => p.alg), [-7, -8, -257], "all three offered");
    const auth = new Authenticator({ origin });
    const joined = await page("/dashboard/passkey/register", auth.create(opened.json.publicKey, { token, name: alg, alg }));
    assert.equal(joined.status, 204, `${alg}: ${joined.text}`);
    const signedIn = await signIn(auth);
    assert.equal(signedIn.status, 204, `${alg}: ${signedIn.text}`);
    const session = await call(origin, "/dashboard/api/session", { headers: { cookie: cookieOf(signedIn) } });
    assert.equal(session.json.name, alg);
    // The same passkey's signature over other data does not verify.
    const fresh = await page("/dashboard/passkey/signin/options");
    const body = auth.get(fresh.json.publicKey);
    const sig = Buffer.from(body.signature, "base64url");
    sig[sig.length - 1] ^= 1;
    const forged = await page("/dashboard/passkey/signin", { ...body, signature: sig.toString("base64url") });
    assert.equal(forged.status, 401, `${alg}: ${forged.text}`);
  }
});

test("a signed-in person joins another organization through its link, switches between the two, and cannot switch into one they left", async () => {
  const beta = await createOrgWithAdmin(gw, { name: "Beta" });
  const first = await invite(acme.org, { email: "multi@example.com", role: "developer" });
  const joinedAcme = await accept(new Authenticator({ origin }), tokenOf(first.json.url), "Multi");
  assert.equal(joinedAcme.status, 204, joinedAcme.text);
  let cookie = cookieOf(joinedAcme);
  const sessionOf = async (c) => call(origin, "/dashboard/api/session", { headers: { cookie: c } });
  let session = (await sessionOf(cookie)).json;
  const dash = (path, body, csrf = session.csrfToken) =>
    call(origin, path, { method: "POST", body, headers: { origin, cookie, accept: "application/json", ...(csrf ? { "x-csrf-token": csrf } : {}) } });
  const second = await invite(beta.org, { email: "multi@example.com", role: "admin" });
  const token = tokenOf(second.json.url);
  assert.equal((await dash("/dashboard/api/person/join", { token }, null)).status, 403, "no CSRF token, no join");
  const joined = await dash("/dashboard/api/person/join", { token });
  assert.equal(joined.status, 204, joined.text);
  const old = cookie;
  cookie = cookieOf(joined);
  assert.ok(cookie && cookie !== old, "a new session");
  assert.equal((await sessionOf(old)).status, 401, "the old session ended");
  session = (await sessionOf(cookie)).json;
  assert.deepEqual([session.organizationId, session.role], [beta.org.id, "admin"]);
  assert.deepEqual(
    session.organizations.map((o) => [o.id, o.name, o.role]),
    [[acme.org.id, "Acme", "developer"], [beta.org.id, "Beta", "admin"]],
  );
  assert.equal((await dash("/dashboard/api/person/join", { token })).status, 404, "the link is used up");
  // Back to the first, with that organization's role.
  const back = await dash("/dashboard/api/person/switch", { organizationId: acme.org.id });
  assert.equal(back.status, 204, back.text);
  cookie = cookieOf(back);
  session = (await sessionOf(cookie)).json;
  assert.deepEqual([session.organizationId, session.role], [acme.org.id, "developer"]);
  // Never into an organization they do not belong to, nor one that removed them.
  assert.equal((await dash("/dashboard/api/person/switch", { organizationId: other.org.id })).status, 404);
  const removed = await call(gw.url, `/v1/organizations/${beta.org.id}/members/${session.personId}`, { key: gw.rootKey, method: "DELETE" });
  assert.ok([200, 204].includes(removed.status), removed.text);
  assert.equal((await dash("/dashboard/api/person/switch", { organizationId: beta.org.id })).status, 404);
  session = (await sessionOf(cookie)).json;
  assert.deepEqual(session.organizations.map((o) => o.id), [acme.org.id]);
  const malformed = await dash("/dashboard/api/person/switch", { organizationId: "nope" });
  assert.deepEqual([malformed.status, malformed.json.error.field], [400, "organizationId"]);
});

test("a person with a passkey joins with it, signed out: the same person, no new passkey; a removed member invited again is themselves again", async () => {
  const sessionOf = async (res) => (await call(origin, "/dashboard/api/session", { headers: { cookie: cookieOf(res) } })).json;
  const joinWith = async (auth, token, opts) => {
    const options = await page("/dashboard/passkey/signin/options");
    assert.equal(options.status, 200);
    return page("/dashboard/passkey/join", { ...auth.get(options.json.publicKey, opts), token });
  };
  const grace = new Authenticator({ origin });
  const first = await accept(grace, tokenOf((await invite(acme.org, { email: "grace@example.com", role: "developer" })).json.url), "Grace");
  assert.equal(first.status, 204, first.text);
  const personId = (await sessionOf(first)).personId;

  // Signed out, invited to another organization: she joins with the passkey she has.
  const toOther = tokenOf((await invite(other.org, { email: "grace@example.com", role: "viewer" })).json.url);
  const joined = await joinWith(grace, toOther);
  assert.equal(joined.status, 204, joined.text);
  let session = await sessionOf(joined);
  assert.deepEqual([session.personId, session.organizationId, session.role], [personId, other.org.id, "viewer"]);
  assert.equal(grace.credentials.length, 1, "no new passkey");
  assert.equal((await joinWith(grace, toOther)).status, 404, "the link is used up");

  // Removed from both, she can sign in nowhere; invited again, she joins as herself.
  for (const org of [acme.org, other.org]) {
    const removed = await call(gw.url, `/v1/organizations/${org.id}/members/${personId}`, { key: gw.rootKey, method: "DELETE" });
    assert.equal(removed.status, 200, removed.text);
  }
  assert.equal((await signIn(grace)).status, 401);
  const again = await joinWith(grace, tokenOf((await invite(acme.org, { email: "grace@example.com", role: "viewer" })).json.url));
  assert.equal(again.status, 204, again.text);
  session = await sessionOf(again);
  assert.deepEqual([session.personId, session.organizationId, session.role], [personId, acme.org.id, "viewer"]);
  const members = await call(gw.url, `/v1/organizations/${acme.org.id}/members`, { key: gw.rootKey });
  assert.deepEqual(members.json.data.filter((m) => m.email === "grace@example.com").map((m) => m.personId), [personId]);

  // The passkey is checked as at sign-in: a stranger's, or a bad signature, joins nobody;
  // neither uses the link up.
  const token = tokenOf((await invite(other.org, { email: "grace@example.com", role: "viewer" })).json.url);
  const stranger = new Authenticator({ origin });
  stranger.create({ challenge: "AA", user: { id: Buffer.from("0123456789abcdef").toString("base64url") } }, {});
  assert.equal((await joinWith(stranger, token)).status, 401);
  const forged = await joinWith(grace, token, { origin: "http://evil.example" });
  assert.equal(forged.status, 401);
  assert.equal((await joinWith(grace, token)).status, 204, "the link still works");
  assert.equal((await page("/dashboard/passkey/join", { token: "nope", credentialId: "x", clientDataJSON: "x", authenticatorData: "x", signature: "x", userHandle: "x" })).status, 404);
});

test("a member who lost every passkey gets a recovery link from the root key: it adds a passkey to the same person, once", async () => {
  const made = await invite(acme.org, { email: "lost@example.com", role: "developer" });
  const lost = new Authenticator({ origin });
  const joined = await accept(lost, tokenOf(made.json.url), "Lost");
  assert.equal(joined.status, 204, joined.text);
  const personId = (await call(origin, "/dashboard/api/session", { headers: { cookie: cookieOf(joined) } })).json.personId;
  const path = `/v1/organizations/${acme.org.id}/members/${personId}/recovery`;
  // Never by an API key other than root; never for someone who is not a member.
  assert.equal((await call(gw.url, path, { key: acme.admin.key, method: "POST" })).status, 403);
  const stranger = await call(gw.url, `/v1/organizations/${acme.org.id}/members/person_0000000000000000/recovery`, { key: gw.rootKey, method: "POST" });
  assert.equal(stranger.status, 404, stranger.text);
  const link = await call(gw.url, path, { key: gw.rootKey, method: "POST" });
  assert.equal(link.status, 201, link.text);
  assert.deepEqual([link.json.email, link.json.role, link.json.recovers], ["lost@example.com", "developer", personId]);
  const token = tokenOf(link.json.url);
  const peek = await page("/dashboard/passkey/invitation", { token });
  assert.equal(peek.json.recovery, true);
  // The new device's passkey joins the same person (no name asked), who is signed in.
  const found = new Authenticator({ origin });
  const options = await page("/dashboard/passkey/register/options", { token });
  assert.equal(Buffer.from(options.json.publicKey.user.id, "base64url").toString(), personId.slice("person_".length), "the member's own user handle");
  const recovered = await page("/dashboard/passkey/register", found.create(options.json.publicKey, { token, name: "" }));
  assert.equal(recovered.status, 204, recovered.text);
  const session = await call(origin, "/dashboard/api/session", { headers: { cookie: cookieOf(recovered) } });
  assert.deepEqual([session.json.personId, session.json.role], [personId, "developer"]);
  assert.equal((await signIn(found)).status, 204, "the new passkey signs in");
  assert.equal((await accept(new Authenticator({ origin }), token, "Thief")).status, 404, "the link is used up");
  const log = await call(gw.url, `/v1/audit-log?organizationId=${acme.org.id}&limit=100`, { key: gw.rootKey });
  assert.ok(log.json.data.some((e) => e.action === "passkey.added" && e.target.id === personId && e.changes.name?.after === "Recovered"));
  assert.ok(log.json.data.some((e) => e.action === "member.recovery_link_sent" && e.target.id === link.json.id), "the audit log tells a recovery from an invitation");
});
