// A software passkey authenticator for the API tests: what a ctap2 platform
// authenticator answers to navigator.credentials.create/get (attestation "none", ES256,
// user present and verified), made with Node's crypto, CBOR written by hand for the few
// types it needs. The browser test uses Chromium's virtual authenticator instead.
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

/** CBOR (RFC 8949) of unsigned/negative ints, byte and text strings, and maps. */
function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (typeof value === "string") {
    const b = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, b.length), b]);
  }
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error("cbor: unsupported value");
}

const b64u = (buf) => Buffer.from(buf).toString("base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();

export class Authenticator {
  constructor({ origin, rpId = "localhost" }) {
    this.origin = origin;
    this.rpId = rpId;
    this.credentials = [];
  }

  clientData(type, challenge, origin = this.origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  authData(flags, count, attested) {
    const head = Buffer.alloc(37);
    sha256(this.rpId).copy(head, 0);
    head[32] = flags | (attested ? 0x40 : 0);
    head.writeUInt32BE(count, 33);
    return attested ? Buffer.concat([head, attested]) : head;
  }

  /** The body of POST /dashboard/passkey/register for `options.publicKey`, with a key of
   * `alg`: "ES256" (P-256), "EdDSA" (Ed25519) or "RS256" (RSA 2048). */
  create(publicKey, { token, name, flags = 0x05, alg = "ES256" }) {
    const pair =
      alg === "EdDSA" ? generateKeyPairSync("ed25519")
        : alg === "RS256" ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const { privateKey, publicKey: pub } = pair;
    const jwk = pub.export({ format: "jwk" });
    const id = randomBytes(16);
    const credential = { id, privateKey, alg, userHandle: Buffer.from(publicKey.user.id, "base64url"), count: 0 };
    this.credentials.push(credential);
    const b = (text) => Buffer.from(text, "base64url");
    const coseKey = cbor(new Map(
      alg === "EdDSA" ? [[1, 1], [3, -8], [-1, 6], [-2, b(jwk.x)]]
        : alg === "RS256" ? [[1, 3], [3, -257], [-1, b(jwk.n)], [-2, b(jwk.e)]]
          : [[1, 2], [3, -7], [-1, 1], [-2, b(jwk.x)], [-3, b(jwk.y)]],
    ));
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, id, coseKey]);
    const attestationObject = cbor(new Map([
      ["fmt", "none"], ["attStmt", new Map()], ["authData", this.authData(flags, 0, attested)],
    ]));
    return {
      token,
      name,
      clientDataJSON: b64u(this.clientData("webauthn.create", publicKey.challenge)),
      attestationObject: b64u(attestationObject),
    };
  }

  /** The body of POST /dashboard/passkey/signin for `options.publicKey`, with the
   * credential `which` (the last made by default). */
  get(publicKey, { which = this.credentials.length - 1, count, origin, flags = 0x05 } = {}) {
    const credential = this.credentials[which];
    credential.count = count ?? credential.count + 1;
    const clientDataJSON = this.clientData("webauthn.get", publicKey.challenge, origin);
    const authenticatorData = this.authData(flags, credential.count);
    const signed = Buffer.concat([authenticatorData, sha256(clientDataJSON)]);
    // ECDSA in DER (as authenticators send it); Ed25519 and RSA as they come.
    const signature =
      credential.alg === "EdDSA" ? sign(null, signed, credential.privateKey)
        : credential.alg === "RS256" ? sign("sha256", signed, credential.privateKey)
          : sign("sha256", signed, { key: credential.privateKey, dsaEncoding: "der" });
    return {
      credentialId: b64u(credential.id),
      clientDataJSON: b64u(clientDataJSON),
      authenticatorData: b64u(authenticatorData),
      signature: b64u(signature),
      userHandle: b64u(credential.userHandle),
    };
  }
}
