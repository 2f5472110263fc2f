// `npm run -s pkce`: a fresh PKCE pair (RFC 7636, S256) as two shell assignments, so
// `eval "$(npm run -s pkce)"` sets VERIFIER (kept by the app, sent with the code) and
// CHALLENGE (its SHA-256, sent on the authorization request).
import { createHash, randomBytes } from "node:crypto";

const verifier = randomBytes(32).toString("base64url");
const challenge = createHash("sha256").update(verifier).digest("base64url");
console.log(`VERIFIER=${verifier}`);
console.log(`CHALLENGE=${challenge}`);
