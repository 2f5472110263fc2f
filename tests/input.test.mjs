// Input the API must refuse rather than read one way while a person or another parser
// reads it another: JSON bodies naming a member twice (the last one won), loopback
// redirect URIs with ports no URL parser agrees on, and names holding invisible or
// direction-changing characters (a spoofed consent page).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startGateway, call, createKey, createOrgWithAdmin } from "./harness.mjs";

let gw, org, admin;
before(async () => {
  gw = await startGateway();
  ({ org, admin } = await createOrgWithAdmin(gw, { name: "Inputs" }));
});
after(async () => {
  await gw?.stop();
});

/** A raw JSON body (as written: duplicates survive) to `path`. */
function send(path, method, text, key = admin.key) {
  return call(gw.url, path, { key, method, body: text, headers: { "content-type": "application/json" } });
}

function refusedNaming(res, member, what) {
  assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
  assert.equal(res.json.error.code, "invalid_request", what);
  assert.ok(res.json.error.details.includes(`'${member}'`), `${what}: ${res.json.error.details}`);
}

test("a JSON body naming a member twice is refused, at any depth, naming the member", async () => {
  const key = await createKey(gw, { name: "patched", scopes: ["read"] }, admin.key);
  const client = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "Dup app", redirectUris: ["https://app.example/cb"], scopes: ["read"], type: "public" },
  });
  assert.equal(client.status, 201, client.text);
  const cases = [
    ["POST", "/v1/api-keys", '{"name":"dup","scopes":["read"],"scopes":["read","admin"]}', "scopes"],
    ["POST", "/v1/api-keys", '{"name":"dup","scopes":{"accounts":["read"],"accounts":["admin"]}}', "accounts"],
    ["POST", "/v1/api-keys", '{"name":"a","name":"b","scopes":["read"]}', "name"],
    ["PATCH", `/v1/api-keys/${key.id}`, '{"scopes":["read"],"scopes":["admin"]}', "scopes"],
    ["PATCH", `/v1/api-keys/${key.id}`, '{"scopes":{"x":{"y":1,"y":2}}}', "y"],
    ["POST", `/v1/api-keys/${key.id}/roll`, '{"expiresIn":0,"expiresIn":604800}', "expiresIn"],
    [
      "POST",
      "/v1/oauth-clients",
      '{"name":"n","redirectUris":["https://a.example/cb"],"scopes":{"accounts":["read"],"accounts":["write"]},"type":"public"}',
      "accounts",
    ],
    ["PATCH", `/v1/oauth-clients/${client.json.clientId}`, '{"name":"a","name":"b"}', "name"],
  ];
  for (const [method, path, body, member] of cases) {
    refusedNaming(await send(path, method, body), member, `${method} ${path} ${body}`);
  }
  const orgCases = [
    ["POST", "/v1/organizations", '{"name":"o","plan":"starter","plan":"enterprise"}', "plan"],
    ["PATCH", `/v1/organizations/${org.id}`, '{"plan":"starter","plan":"enterprise"}', "plan"],
    [
      "POST",
      "/v1/api-keys",
      `{"name":"k","scopes":["read"],"organizationId":"${org.id}","organizationId":"${org.id}"}`,
      "organizationId",
    ],
  ];
  for (const [method, path, body, member] of orgCases) {
    refusedNaming(await send(path, method, body, gw.rootKey), member, `${method} ${path} ${body}`);
  }
  // The token endpoint's JSON form (the spec's example) too.
  const token = await call(gw.url, "/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"grant_type":"authorization_code","grant_type":"refresh_token","client_id":"x"}',
  });
  assert.equal(token.status, 400, token.text);
  assert.equal(token.json.error, "invalid_request");
  assert.match(token.json.error_description, /grant_type/);
  // Nothing was created or changed by any of them.
  const after = await call(gw.url, `/v1/api-keys/${key.id}`, { key: admin.key });
  assert.deepEqual(after.json.scopes, ["read"]);
  // The same bodies without the duplicate are accepted.
  assert.equal((await send("/v1/api-keys", "POST", '{"name":"once","scopes":{"accounts":["read"]}}')).status, 201);
});

test("loopback redirect URIs with port 0, past 65535 or with a leading zero are refused", async () => {
  for (const uri of [
    "http://127.0.0.1:0/cb",
    "http://127.0.0.1:99999/cb",
    "http://127.0.0.1:08080/cb",
    "http://[::1]:0/cb",
    "http://localhost:65536/cb",
    "http://localhost:00443/cb",
    "https://app.example:0443/cb",
  ]) {
    const res = await call(gw.url, "/v1/oauth-clients", {
      key: admin.key,
      method: "POST",
      body: { name: "Ports", redirectUris: [uri], scopes: ["read"], type: "public" },
    });
    assert.equal(res.status, 400, `${uri}: ${res.status} ${res.text}`);
    assert.match(res.json.error.details, /port/, uri);
  }
  for (const uri of ["http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb", "http://[::1]:8080/cb", "http://127.0.0.1/cb"]) {
    const res = await call(gw.url, "/v1/oauth-clients", {
      key: admin.key,
      method: "POST",
      body: { name: "Ports", redirectUris: [uri], scopes: ["read"], type: "public" },
    });
    assert.equal(res.status, 201, `${uri}: ${res.text}`);
  }
});

test("a loopback redirect registered without a port takes any valid port, and only a valid one", async () => {
  const app = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "Native", redirectUris: ["http://127.0.0.1/cb", "http://[::1]/cb"], scopes: ["read"], type: "public" },
  });
  assert.equal(app.status, 201, app.text);
  const authorize = async (redirectUri) => {
    const q = new URLSearchParams({
      response_type: "code",
      client_id: app.json.clientId,
      redirect_uri: redirectUri,
      state: "s",
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
    });
    const res = await fetch(`${gw.url}/oauth/authorize?${q}`, { redirect: "manual" });
    return { status: res.status, location: res.headers.get("location"), text: await res.text() };
  };
  for (const uri of [
    "http://127.0.0.1:0/cb",
    "http://127.0.0.1:99999/cb",
    "http://127.0.0.1:65536/cb",
    "http://127.0.0.1:08080/cb",
    "http://[::1]:0/cb",
    "http://[::1]:080/cb",
  ]) {
    const res = await authorize(uri);
    assert.equal(res.status, 400, `${uri}: ${res.status} ${res.location}`);
    assert.equal(res.location, null, `${uri}: nothing is sent to it`);
  }
  for (const uri of ["http://127.0.0.1:53127/cb", "http://127.0.0.1:1/cb", "http://[::1]:65535/cb"]) {
    const res = await authorize(uri);
    assert.equal(res.status, 303, `${uri}: ${res.status} ${res.text}`);
    assert.match(res.location, /^\/dashboard\/signin\?/, uri);
  }
});

// U+202E (right-to-left override), isolates, marks, zero-width and other invisible
// characters: a name that reads as another on the consent page or the dashboard.
const SPOOFING = [
  "\u202E",
  "\u202A",
  "\u202D",
  "\u2066",
  "\u2069",
  "\u200E",
  "\u200F",
  "\u061C",
  "\u200B",
  "\u200C",
  "\u200D",
  "\u2060",
  "\u2064",
  "\uFEFF",
  "\u00AD",
  "\u180E",
  "\u0085",
];

test("names with bidi controls or invisible characters are refused, naming the field", async () => {
  // About a hundred requests in a burst: an enterprise key's burst leaves the next
  // test's starter key its own budget, however fast the machine.
  const { org, admin } = await createOrgWithAdmin(gw, { name: "Spoofing", plan: "enterprise" });
  const key = await createKey(gw, { name: "plain", scopes: ["read"] }, admin.key);
  const client = await call(gw.url, "/v1/oauth-clients", {
    key: admin.key,
    method: "POST",
    body: { name: "Plain app", redirectUris: ["https://app.example/cb"], scopes: ["read"], type: "public" },
  });
  for (const c of SPOOFING) {
    const name = `Acme${c}Pay`;
    const attempts = [
      ["POST", "/v1/api-keys", { name, scopes: ["read"] }, admin.key],
      ["PATCH", `/v1/api-keys/${key.id}`, { name }, admin.key],
      ["POST", "/v1/organizations", { name, plan: "starter" }, gw.rootKey],
      ["PATCH", `/v1/organizations/${org.id}`, { name }, gw.rootKey],
      [
        "POST",
        "/v1/oauth-clients",
        { name, redirectUris: ["https://app.example/cb"], scopes: ["read"], type: "public" },
        admin.key,
      ],
      ["PATCH", `/v1/oauth-clients/${client.json.clientId}`, { name }, admin.key],
    ];
    const code = c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    for (const [method, path, body, by] of attempts) {
      const res = await call(gw.url, path, { key: by, method, body });
      assert.equal(res.status, 400, `U+${code} ${method} ${path}: ${res.status} ${res.text}`);
      assert.match(res.json.error.details, /^name /, `U+${code} ${method} ${path}`);
      assert.match(res.json.error.details, new RegExp(`U\\+${code}`), `U+${code} ${method} ${path}`);
    }
  }
  // Names in other scripts, with accents or emoji, stay welcome.
  for (const name of ["Café Ünïcode", "مفتاح الإنتاج", "生产密钥", "Deploy 🚀", "Ma\u0301laga"]) {
    assert.equal((await call(gw.url, "/v1/api-keys", { key: admin.key, method: "POST", body: { name, scopes: ["read"] } })).status, 201, name);
  }
});

test("a 400 about one field names it in `field`, beside the spec's three members", async () => {
  const key = await createKey(gw, { name: "fielded", scopes: ["read"] }, admin.key);
  const app = { name: "Fields", redirectUris: ["https://app.example/cb"], scopes: ["read"], type: "public" };
  const cases = [
    ["POST", "/v1/api-keys", { scopes: ["read"] }, "name"],
    ["POST", "/v1/api-keys", { name: "", scopes: ["read"] }, "name"],
    ["POST", "/v1/api-keys", { name: "x" }, "scopes"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["root"] }, "scopes"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["read"], type: "prod" }, "type"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["read"], rateLimit: 0 }, "rateLimit"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["read"], rateLimit: 5000 }, "rateLimit"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["read"], burst: 5000 }, "burst"],
    ["POST", "/v1/api-keys", { name: "x", scopes: ["read"], expiresAt: "soon" }, "expiresAt"],
    // Over the plan's ceiling is decided by the key's guard, which knows its type.
    ["PATCH", `/v1/api-keys/${key.id}`, { rateLimit: 5000 }, "rateLimit"],
    ["PATCH", `/v1/api-keys/${key.id}`, { expiresAt: "2020-01-01T00:00:00Z" }, "expiresAt"],
    ["POST", `/v1/api-keys/${key.id}/roll`, { expiresIn: -1 }, "expiresIn"],
    ["POST", "/v1/oauth-clients", { ...app, redirectUris: ["http://app.example/cb"] }, "redirectUris"],
    ["POST", "/v1/oauth-clients", { ...app, scopes: ["admin"] }, "scopes"],
    ["POST", "/v1/oauth-clients", { ...app, type: "spa" }, "type"],
    ["GET", "/v1/api-keys?limit=0", undefined, "limit"],
    ["GET", "/v1/api-keys?cursor=nope", undefined, "cursor"],
    ["GET", "/v1/audit-log?cursor=nope", undefined, "cursor"],
  ];
  for (const [method, path, body, field] of cases) {
    const what = `${method} ${path} ${JSON.stringify(body)}`;
    const res = await call(gw.url, path, { key: admin.key, method, body });
    assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
    assert.deepEqual(Object.keys(res.json.error).sort(), ["code", "details", "field", "message"], what);
    assert.equal(res.json.error.code, "invalid_request", what);
    assert.equal(res.json.error.field, field, `${what}: ${res.text}`);
  }
  // About no one field of the API: the body as a whole, a member or query parameter it
  // does not have, the path.
  for (const [method, path, text] of [
    ["POST", "/v1/api-keys", "[]"],
    ["POST", "/v1/api-keys", '{"name":"x","scopes":["read"],"owner":"me"}'],
    ["GET", "/v1/api-keys?page=2", undefined],
    ["POST", "/v1/api-keys", '{"name":'],
    ["PATCH", `/v1/api-keys/${key.id}`, "{}"],
    ["GET", "/v1/api-keys/nope", undefined],
  ]) {
    const res = await send(path, method, text);
    assert.equal(res.status, 400, `${method} ${path} ${text}: ${res.text}`);
    assert.equal(res.json.error.field, undefined, `${method} ${path} ${text}: ${res.text}`);
  }
});
