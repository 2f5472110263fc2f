// Prints a fresh private Ed25519 JWK for IDENTITY_SIGNING_KEY: the key the gateway signs
// the X-Scopien-Identity assertion with. Its public half is served at
// /.well-known/jwks.json; the private half is a secret.
import { generateKeyPairSync, createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

export function makeIdentityKey() {
  const { privateKey } = generateKeyPairSync("ed25519");
  const { kty, crv, d, x } = privateKey.export({ format: "jwk" });
  const kid = createHash("sha256").update(x).digest("hex").slice(0, 16);
  return JSON.stringify({ kty, crv, d, x, kid });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(makeIdentityKey());
}
