// Passkeys in the browser (WebAuthn): the two ceremonies the gateway checks
// (api/passkeys.rs). Binary members travel as base64url; the server gives the options
// (challenge, RP id, user handle) and verifies what the authenticator answers.

/** base64url → ArrayBuffer. */
export function fromB64u(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

/** ArrayBuffer → base64url (no padding). */
export function toB64u(buffer) {
  let bin = "";
  for (const b of new Uint8Array(buffer)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A same-origin JSON POST to /dashboard/passkey/…; `{ok, status, json}`. */
export async function post(step, body) {
  const res = await fetch("/dashboard/passkey/" + step, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
    referrerPolicy: "same-origin",
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { ok: res.ok, status: res.status, json };
}

/** The message of a failed call. */
export function failure(res, fallback) {
  return res.json?.error?.details || res.json?.error?.message || fallback;
}

/** Whether this browser can make passkeys at all. */
export function supported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

/** The browser makes a passkey from the gateway's creation options (their binary fields
 * arrive as base64url); answers the two fields every registration sends back. */
export async function createPasskey(pk) {
  const credential = await navigator.credentials.create({
    publicKey: {
      ...pk,
      challenge: fromB64u(pk.challenge),
      user: { ...pk.user, id: fromB64u(pk.user.id) },
      excludeCredentials: pk.excludeCredentials.map((c) => ({ ...c, id: fromB64u(c.id) })),
    },
  });
  return {
    clientDataJSON: toB64u(credential.response.clientDataJSON),
    attestationObject: toB64u(credential.response.attestationObject),
  };
}

/** Creates a passkey for the invitation `token`, as `name`: the person is then signed in. */
export async function register(token, name) {
  const options = await post("register/options", { token });
  if (!options.ok) throw new Error(failure(options, "The invitation could not be used."));
  const res = await post("register", { token, name, ...(await createPasskey(options.json.publicKey)) });
  if (!res.ok) throw new Error(failure(res, "The passkey could not be created."));
}

/** Creates a passkey for a self-serve sign-up (`{email, name, organizationName}`): the
 * person then owns their new organization and is signed in. A refusal carries `field`. */
export async function signUp(fields) {
  const refusal = (res, fallback) => Object.assign(new Error(failure(res, fallback)), { field: res.json?.error?.field });
  const options = await post("signup/options", fields);
  if (!options.ok) throw refusal(options, "Sign-up could not start.");
  const res = await post("signup", await createPasskey(options.json.publicKey));
  if (!res.ok) throw refusal(res, "The account could not be created.");
}

/** Whether the browser offers passkeys in a field's autofill list (WebAuthn conditional
 * mediation, "conditional UI"). */
export async function autofillSupported() {
  if (!supported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return false;
  try {
    return await PublicKeyCredential.isConditionalMediationAvailable();
  } catch {
    return false;
  }
}

/** Signs in with a discoverable passkey (the browser offers the ones for this site).
 * `mediation: "conditional"` waits until the person picks one from a field's autofill
 * list (a field with `autocomplete="username webauthn"`); `signal` ends that wait, and
 * `renewAfter(ms)` is told when the challenge expires, so the caller can ask anew.
 * With `invitation` (its token) the person joins that organization as they sign in. */
export async function signIn({ mediation, signal, renewAfter, invitation } = {}) {
  const options = await post("signin/options");
  if (!options.ok) throw new Error(failure(options, "Sign-in could not start."));
  const pk = options.json.publicKey;
  renewAfter?.(pk.timeout);
  const credential = await navigator.credentials.get({
    ...(mediation ? { mediation } : {}),
    ...(signal ? { signal } : {}),
    publicKey: { ...pk, challenge: fromB64u(pk.challenge), allowCredentials: [] },
  });
  const r = credential.response;
  const res = await post(invitation ? "join" : "signin", {
    ...(invitation ? { token: invitation } : {}),
    credentialId: toB64u(credential.rawId),
    clientDataJSON: toB64u(r.clientDataJSON),
    authenticatorData: toB64u(r.authenticatorData),
    signature: toB64u(r.signature),
    userHandle: r.userHandle ? toB64u(r.userHandle) : "",
  });
  if (!res.ok) throw new Error(failure(res, "Sign-in failed."));
}
