// Members over HTTP (issue #22): the root key, an owner or an admin (signed in, through
// the dashboard's API with its CSRF token) lists members, changes roles and removes
// members; an admin never touches an owner; API keys other than root are refused; the
// last owner can be neither demoted nor removed, even by concurrent demotions; a demoted
// or removed member's session learns it on its next call. Invitations by people follow
// the same rules. A software authenticator (tests/authenticator.mjs) makes the people.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPasskeyGateway, call, createOrgWithAdmin } from "./harness.mjs";
import { Authenticator } from "./authenticator.mjs";

let gw, origin;

before(async () => {
  ({ gw, site: origin } = await startPasskeyGateway());
});
after(async () => {
  await gw?.stop();
});

/** A same-origin call of the pages' (what a browser on `origin` sends). */
const page = (path, body) =>
  call(origin, path, { method: "POST", body: body ?? {}, headers: { origin, accept: "application/json" } });
const cookieOf = (res) => res.headers.get("set-cookie")?.split(";")[0];

/** Invites `email` as `role` with the root key and accepts with a new passkey: the
 * person, signed in (their cookie, CSRF token and id). */
async function join(org, email, role) {
  const made = await call(gw.url, `/v1/organizations/${org.id}/invitations`, {
    key: gw.rootKey,
    method: "POST",
    body: { email, role },
  });
  assert.equal(made.status, 201, made.text);
  const token = new URL(made.json.url).hash.slice(1);
  const auth = new Authenticator({ origin });
  const options = await page("/dashboard/passkey/register/options", { token });
  const joined = await page("/dashboard/passkey/register", auth.create(options.json.publicKey, { token, name: email.split("@")[0] }));
  assert.equal(joined.status, 204, joined.text);
  const cookie = cookieOf(joined);
  const session = await call(origin, "/dashboard/api/session", { headers: { cookie } });
  assert.equal(session.status, 200, session.text);
  const person = { id: session.json.personId, cookie, csrf: session.json.csrfToken, auth };
  /** A dashboard API call as this person. */
  person.dash = (method, path, body) =>
    call(origin, `/dashboard/api${path}`, {
      method,
      body,
      headers: { cookie: person.cookie, origin, "x-csrf-token": person.csrf },
    });
  return person;
}

/** A root-key call to the members API. */
const root = (method, path, body) => call(gw.url, path, { key: gw.rootKey, method, body });

async function team(name) {
  const { org, admin } = await createOrgWithAdmin(gw, { name, plan: "enterprise" });
  const [owner, adminPerson, dev, viewer] = await Promise.all([
    join(org, `owner@${name}.example`, "owner"),
    join(org, `admin@${name}.example`, "admin"),
    join(org, `dev@${name}.example`, "developer"),
    join(org, `viewer@${name}.example`, "viewer"),
  ]);
  const members = `/v1/organizations/${org.id}/members`;
  return { org, adminKey: admin.key, owner, admin: adminPerson, dev, viewer, members };
}

test("members are listed, page by page, by the root key, an owner or an admin; never by another API key", async () => {
  const t = await team("listing");
  const all = await root("GET", t.members);
  assert.equal(all.status, 200, all.text);
  assert.equal(all.json.data.length, 4);
  const dev = all.json.data.find((m) => m.personId === t.dev.id);
  assert.deepEqual(
    [dev.email, dev.name, dev.role, typeof dev.joinedAt, typeof dev.lastSignInAt],
    ["dev@listing.example", "dev", "developer", "string", "string"],
  );
  const first = await root("GET", `${t.members}?limit=3`);
  assert.deepEqual([first.json.data.length, first.json.hasMore], [3, true]);
  const second = await root("GET", `${t.members}?limit=3&cursor=${encodeURIComponent(first.json.nextCursor)}`);
  assert.deepEqual([second.json.data.length, second.json.hasMore], [1, false]);
  const seen = [...first.json.data, ...second.json.data].map((m) => m.personId);
  assert.deepEqual(seen.sort(), all.json.data.map((m) => m.personId).sort());
  assert.equal((await root("GET", `${t.members}?cursor=nope`)).json.error.field, "cursor");

  for (const who of [t.owner, t.admin]) {
    const listed = await who.dash("GET", t.members);
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.json.data.length, 4);
  }
  for (const who of [t.dev, t.viewer]) {
    assert.equal((await who.dash("GET", t.members)).status, 403);
  }
  // An admin API key of the organization: refused for every members call.
  const byKey = (method, path, body) => call(gw.url, path, { key: t.adminKey, method, body });
  assert.equal((await byKey("GET", t.members)).status, 403);
  assert.equal((await byKey("PATCH", `${t.members}/${t.dev.id}`, { role: "viewer" })).status, 403);
  const removedByKey = await byKey("DELETE", `${t.members}/${t.dev.id}`);
  assert.equal(removedByKey.status, 403);
  assert.match(removedByKey.json.error.details, /other API keys cannot/);
  assert.equal((await root("GET", t.members)).json.data.length, 4, "nobody was removed by the key");
  // Another organization's members are not found through this one.
  const other = await createOrgWithAdmin(gw, { name: "Elsewhere" });
  assert.equal((await t.owner.dash("GET", `/v1/organizations/${other.org.id}/members`)).status, 404);
  assert.equal((await root("GET", "/v1/organizations/org_0000000000000000/members")).status, 404);
});

test("an owner changes any role, an admin only below owner; changes and removals are audited", async () => {
  const t = await team("roles");
  const patch = (who, person, role) => who.dash("PATCH", `${t.members}/${person.id}`, { role });
  // An admin can neither make nor touch an owner.
  const makeOwner = await patch(t.admin, t.dev, "owner");
  assert.equal(makeOwner.status, 403);
  assert.match(makeOwner.json.error.details, /cannot make someone an owner/);
  assert.equal((await patch(t.admin, t.owner, "viewer")).status, 403);
  assert.equal((await t.admin.dash("DELETE", `${t.members}/${t.owner.id}`)).status, 403);
  // ...but changes the roles below it.
  const toViewer = await patch(t.admin, t.dev, "viewer");
  assert.equal(toViewer.status, 200, toViewer.text);
  assert.deepEqual([toViewer.json.personId, toViewer.json.role], [t.dev.id, "viewer"]);
  // A developer or viewer changes nothing.
  assert.equal((await patch(t.viewer, t.dev, "developer")).status, 403);
  // An owner makes another owner.
  const promoted = await patch(t.owner, t.admin, "owner");
  assert.equal(promoted.json.role, "owner");
  // Bodies, ids, and the CSRF token are checked.
  const bad = await patch(t.owner, t.dev, "root");
  assert.deepEqual([bad.status, bad.json.error.field], [400, "role"]);
  assert.equal((await t.owner.dash("PATCH", `${t.members}/person_0000000000000000`, { role: "viewer" })).status, 404);
  assert.equal((await t.owner.dash("PATCH", `${t.members}/nope`, { role: "viewer" })).status, 400);
  const noCsrf = await call(origin, `/dashboard/api${t.members}/${t.dev.id}`, {
    method: "DELETE",
    headers: { cookie: t.owner.cookie, origin },
  });
  assert.equal(noCsrf.status, 403);
  // Removal by the root key.
  const removedViewer = await root("DELETE", `${t.members}/${t.viewer.id}`);
  assert.equal(removedViewer.status, 200, removedViewer.text);
  assert.deepEqual([removedViewer.json.member.personId, removedViewer.json.member.role, removedViewer.json.keysCreated], [t.viewer.id, "viewer", []]);
  assert.equal((await root("DELETE", `${t.members}/${t.viewer.id}`)).status, 404);

  const log = await root("GET", `/v1/audit-log?organizationId=${t.org.id}&limit=100`);
  const events = (action, id) => log.json.data.filter((e) => e.action === action && e.target.id === id);
  const [devChange] = events("member.role_changed", t.dev.id);
  assert.deepEqual(devChange.actor, { type: "person", personId: t.admin.id, email: "admin@roles.example" });
  assert.deepEqual(devChange.changes.role, { before: "developer", after: "viewer" });
  assert.deepEqual(events("member.role_changed", t.admin.id)[0].actor, { type: "person", personId: t.owner.id, email: "owner@roles.example" });
  assert.equal(events("member.role_changed", t.owner.id).length, 0, "refused changes are not events");
  const [removed] = events("member.removed", t.viewer.id);
  assert.deepEqual(removed.actor, { type: "root" });
  assert.deepEqual(removed.changes.role, { before: "viewer", after: null });
  // A removed member's own events still say who they were.
  const [viewerJoined] = events("member.joined", t.viewer.id);
  assert.deepEqual(viewerJoined.actor, { type: "person", personId: t.viewer.id, email: "viewer@roles.example" });
});

test("a demoted member's next call has the new role; a removed member's session ends and their passkey no longer signs in", async () => {
  const t = await team("sessions");
  const create = (who, name) => who.dash("POST", "/v1/api-keys", { name, type: "test", scopes: ["read"] });
  assert.equal((await create(t.dev, "before")).status, 201);
  const gone = await create(t.dev, "gone");
  assert.equal((await t.dev.dash("DELETE", `/v1/api-keys/${gone.json.id}`)).status, 200, "a revoked key is not listed below");
  assert.equal((await t.owner.dash("PATCH", `${t.members}/${t.dev.id}`, { role: "viewer" })).status, 200);
  const demoted = await create(t.dev, "after");
  assert.equal(demoted.status, 403);
  assert.match(demoted.json.error.details, /viewer/);
  const session = await call(origin, "/dashboard/api/session", { headers: { cookie: t.dev.cookie } });
  assert.deepEqual([session.json.role, session.json.permissions.includes("keys.write")], ["viewer", false]);
  // Removed: the next call is refused and the session is gone for good.
  const removed = await t.admin.dash("DELETE", `${t.members}/${t.dev.id}`);
  assert.equal(removed.status, 200, removed.text);
  // The answer lists the keys they created that still work: they stay, the organization's.
  assert.deepEqual(removed.json.keysCreated.map((k) => [k.name, k.createdBy]), [["before", { type: "person", personId: t.dev.id }]]);
  const next = await t.dev.dash("GET", "/v1/api-keys");
  assert.equal(next.status, 401);
  assert.match(next.headers.get("set-cookie") ?? "", /Max-Age=0/);
  assert.equal((await call(origin, "/dashboard/api/session", { headers: { cookie: t.dev.cookie } })).status, 401);
  const options = await page("/dashboard/passkey/signin/options");
  const again = await page("/dashboard/passkey/signin", t.dev.auth.get(options.json.publicKey));
  assert.notEqual(again.status, 204);
  assert.match(again.json.error.details, /no longer a member/);
  // The key they created stays: it is the organization's.
  const keys = await t.owner.dash("GET", "/v1/api-keys");
  assert.ok(keys.json.data.some((k) => k.name === "before"));
});

test("the last owner can be neither demoted nor removed, even by concurrent demotions of the last two owners", async () => {
  const t = await team("owners");
  const second = await join(t.org, "second@owners.example", "owner");
  const owners = async () => (await root("GET", t.members)).json.data.filter((m) => m.role === "owner").map((m) => m.personId);
  const TRIALS = 6;
  for (let trial = 0; trial < TRIALS; trial++) {
    const [a, b] = [t.owner, second];
    // Alternately: the root key demotes both at once; each owner demotes the other at once.
    const answers = await Promise.all(
      trial % 2 === 0
        ? [root("PATCH", `${t.members}/${a.id}`, { role: "admin" }), root("PATCH", `${t.members}/${b.id}`, { role: "admin" })]
        : [a.dash("PATCH", `${t.members}/${b.id}`, { role: "admin" }), b.dash("PATCH", `${t.members}/${a.id}`, { role: "admin" })],
    );
    const statuses = answers.map((r) => r.status);
    const left = await owners();
    assert.equal(left.length, 1, `trial ${trial}: ${statuses} left ${left}`);
    // One demotion happened; the other was refused: 409 for the last owner, or 403 when
    // the asking owner was the one demoted first (an admin cannot touch an owner).
    assert.equal(statuses.filter((s) => s === 200).length, 1, `trial ${trial}: ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 409 || s === 403), `trial ${trial}: ${statuses}`);
    // Make both owners again for the next trial.
    for (const p of [a, b]) {
      assert.equal((await root("PATCH", `${t.members}/${p.id}`, { role: "owner" })).status, 200);
    }
  }
  // Concurrent removals of both owners: one stays.
  const removals = await Promise.all([t.owner, second].map((p) => root("DELETE", `${t.members}/${p.id}`)));
  assert.deepEqual(removals.map((r) => r.status).sort(), [200, 409]);
  const [last] = await owners();
  const lastOwner = last === t.owner.id ? t.owner : second;
  const refused = await lastOwner.dash("PATCH", `${t.members}/${last}`, { role: "admin" });
  assert.equal(refused.status, 409);
  assert.match(refused.json.error.details, /last owner/);
  assert.equal((await root("DELETE", `${t.members}/${last}`)).status, 409);
  assert.deepEqual(await owners(), [last]);
});

test("a signed-in owner invites any role, an admin roles below owner; they list and revoke; other keys cannot", async () => {
  const t = await team("invites");
  const invitations = `/v1/organizations/${t.org.id}/invitations`;
  const byOwner = await t.owner.dash("POST", invitations, { email: "boss@invites.example", role: "owner" });
  assert.equal(byOwner.status, 201, byOwner.text);
  assert.match(byOwner.json.url, new RegExp(`^${origin}/dashboard/invite#`));
  const adminOwner = await t.admin.dash("POST", invitations, { email: "x@invites.example", role: "owner" });
  assert.equal(adminOwner.status, 403);
  const byAdmin = await t.admin.dash("POST", invitations, { email: "dev2@invites.example", role: "developer" });
  assert.equal(byAdmin.status, 201, byAdmin.text);
  assert.equal((await t.dev.dash("POST", invitations, { email: "y@invites.example", role: "viewer" })).status, 403);
  assert.equal((await call(gw.url, invitations, { key: t.adminKey, method: "POST", body: { email: "z@invites.example", role: "viewer" } })).status, 403);
  const listed = await t.admin.dash("GET", invitations);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.data.map((i) => i.email).sort(), ["boss@invites.example", "dev2@invites.example"]);
  assert.ok(listed.json.data.every((i) => i.url === undefined), "links are shown once");
  // An admin cannot revoke an owner's invitation; an owner can; an admin revokes below.
  assert.equal((await t.admin.dash("DELETE", `${invitations}/${byOwner.json.id}`)).status, 403);
  assert.equal((await t.admin.dash("DELETE", `${invitations}/${byAdmin.json.id}`)).status, 204);
  assert.equal((await t.owner.dash("DELETE", `${invitations}/${byOwner.json.id}`)).status, 204);
  assert.equal((await t.owner.dash("GET", invitations)).json.data.length, 0);
  const log = await root("GET", `/v1/audit-log?organizationId=${t.org.id}&limit=100`);
  const invited = log.json.data.find((e) => e.action === "member.invited" && e.target.id === byAdmin.json.id);
  assert.deepEqual(invited.actor, { type: "person", personId: t.admin.id, email: "admin@invites.example" });
});

test("a person's own passkeys: listed, another added (theirs excluded), renamed, removed but never the last; audited", async () => {
  const { org } = await createOrgWithAdmin(gw, { name: "Keys", plan: "enterprise" });
  const ada = await join(org, "ada@keys.example", "viewer");
  const listed = await ada.dash("GET", "/passkeys");
  assert.equal(listed.status, 200, listed.text);
  assert.equal(listed.json.data.length, 1);
  const [first] = listed.json.data;
  assert.match(first.name, /^Passkey /);
  assert.equal(first.publicKey, undefined, "never the public key");
  // The last one stays.
  const last = await ada.dash("DELETE", `/passkeys/${first.credentialId}`);
  assert.equal(last.status, 409);
  assert.match(last.json.error.details, /last passkey/);
  // Another: the options exclude the one they have; the new one is theirs.
  const options = await ada.dash("POST", "/passkeys/options");
  assert.equal(options.status, 200, options.text);
  assert.deepEqual(options.json.publicKey.excludeCredentials.map((c) => c.id), [first.credentialId]);
  const { token: _, ...made } = ada.auth.create(options.json.publicKey, { name: "Work laptop" });
  const added = await ada.dash("POST", "/passkeys", made);
  assert.equal(added.status, 201, added.text);
  assert.equal(added.json.name, "Work laptop");
  // Its challenge was used once.
  assert.equal((await ada.dash("POST", "/passkeys", made)).status, 400);
  // It signs in; from here on Ada uses that session, and the first one is kept aside.
  const signInOptions = await page("/dashboard/passkey/signin/options");
  const signedIn = await page("/dashboard/passkey/signin", ada.auth.get(signInOptions.json.publicKey, { which: 1 }));
  assert.equal(signedIn.status, 204, signedIn.text);
  const firstSession = ada.cookie;
  ada.cookie = cookieOf(signedIn);
  ada.csrf = (await call(origin, "/dashboard/api/session", { headers: { cookie: ada.cookie } })).json.csrfToken;
  const marked = await ada.dash("GET", "/passkeys");
  assert.deepEqual(marked.json.data.map((p) => p.current), [false, true], "the session's own passkey is marked");
  // Rename, with the name checked.
  const renamed = await ada.dash("PATCH", `/passkeys/${first.credentialId}`, { name: "Phone" });
  assert.deepEqual([renamed.status, renamed.json.name], [200, "Phone"]);
  assert.equal((await ada.dash("PATCH", `/passkeys/${first.credentialId}`, { name: "" })).json.error.field, "name");
  assert.equal((await ada.dash("PATCH", "/passkeys/nope", { name: "X" })).status, 404);
  // Now the first may go; the other is then the last.
  assert.equal((await ada.dash("DELETE", `/passkeys/${first.credentialId}`)).status, 204);
  const after = await ada.dash("GET", "/passkeys");
  assert.deepEqual(after.json.data.map((p) => p.name), ["Work laptop"]);
  assert.equal((await ada.dash("DELETE", `/passkeys/${added.json.credentialId}`)).status, 409);
  // The session signed in with the removed one ends at its next call; this one goes on.
  const ended = await call(origin, "/dashboard/api/v1/api-keys", { headers: { cookie: firstSession } });
  assert.equal(ended.status, 401);
  assert.equal((await call(origin, "/dashboard/api/session", { headers: { cookie: firstSession } })).status, 401);
  assert.equal((await ada.dash("GET", "/v1/api-keys")).status, 200);
  // The removed one no longer signs in.
  const again = await page("/dashboard/passkey/signin/options");
  assert.equal((await page("/dashboard/passkey/signin", ada.auth.get(again.json.publicKey, { which: 0 }))).status, 401);
  // Changes need the CSRF token; an API key's session has no passkeys.
  const noCsrf = await call(origin, `/dashboard/api/passkeys/${added.json.credentialId}`, {
    method: "PATCH",
    body: { name: "X" },
    headers: { cookie: ada.cookie, origin },
  });
  assert.equal(noCsrf.status, 403);
  const log = await root("GET", `/v1/audit-log?organizationId=${org.id}&limit=100`);
  const of = (action) => log.json.data.filter((e) => e.action === action && e.target.id === ada.id);
  assert.equal(of("passkey.added").length, 2, "the first (joining) and the laptop");
  assert.deepEqual(of("passkey.removed")[0].changes.name, { before: "Phone", after: null });
  assert.deepEqual(of("passkey.removed")[0].actor, { type: "person", personId: ada.id, email: "ada@keys.example" });
});

test("an owner renames the organization; an admin cannot; plan and status stay the operator's", async () => {
  const t = await team("naming");
  const org = `/v1/organizations/${t.org.id}`;
  const renamed = await t.owner.dash("PATCH", org, { name: "Naming & Co" });
  assert.equal(renamed.status, 200, renamed.text);
  assert.equal(renamed.json.name, "Naming & Co");
  assert.equal((await root("GET", org)).json.name, "Naming & Co");
  assert.equal((await t.owner.dash("PATCH", org, { plan: "enterprise", name: "X" })).status, 403);
  assert.equal((await t.owner.dash("PATCH", org, { status: "suspended" })).status, 403);
  const byAdmin = await t.admin.dash("PATCH", org, { name: "Admin's" });
  assert.equal(byAdmin.status, 403);
  assert.match(byAdmin.json.error.details, /admin/);
  assert.equal((await call(gw.url, org, { key: t.adminKey, method: "PATCH", body: { name: "Key's" } })).status, 403);
  const bad = await t.owner.dash("PATCH", org, { name: "" });
  assert.deepEqual([bad.status, bad.json.error.field], [400, "name"]);
  const log = await root("GET", `/v1/audit-log?organizationId=${t.org.id}&limit=100`);
  const event = log.json.data.find((e) => e.action === "organization.updated");
  assert.deepEqual(event.actor, { type: "person", personId: t.owner.id, email: "owner@naming.example" });
  assert.deepEqual(event.changes.name, { before: "naming", after: "Naming & Co" });
});
