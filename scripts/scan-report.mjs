// `npm run -s scan-report`: plays GitHub's secret-scanning partner program against a
// local gateway. GitHub signs each report with ECDSA P-256 / SHA-256 and publishes its
// public keys; here you make the key pair and pin its public half in the gateway.
//
//   npm run -s scan-report -- setup >> .dev.vars
//       makes a P-256 key pair (the private half in .dev.scanning-key.pem, not committed)
//       and prints the SECRET_SCANNING_PUBLIC_KEYS line for .dev.vars; restart npm start.
//   npm run -s scan-report -- TOKEN [TOKEN ...]
//       posts a signed report of those tokens to $GATEWAY/secret-scanning/github
//       (GATEWAY defaults to http://127.0.0.1:8787) and prints the gateway's answer.
//
// Each token's `type` is GitHub's name for the pattern that matched it (what you
// register); the gateway only echoes it back and decides by the token itself:
//   sk_live_… / sk_test_…  scopien_api_key
//   sat_…                  scopien_oauth_access_token
//   srt_…                  scopien_oauth_refresh_token
//   sac_…                  scopien_oauth_authorization_code
// SCAN_URL sets the report's `url` (where the token was "found").
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { existsSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const TYPES = {
  sk_: "scopien_api_key",
  sat_: "scopien_oauth_access_token",
  srt_: "scopien_oauth_refresh_token",
  sac_: "scopien_oauth_authorization_code",
};

export const typeOf = (token) =>
  Object.entries(TYPES).find(([prefix]) => token.startsWith(prefix))?.[1] ?? "scopien_api_key";

/** The key document GitHub publishes (/meta/public_keys/secret_scanning), for `publicKey`. */
export function keyDocument(publicKey) {
  const pem = publicKey.export({ type: "spki", format: "pem" });
  return JSON.stringify({ public_keys: [{ key_identifier: keyIdentifier(publicKey), key: pem, is_current: true }] });
}

export function keyIdentifier(publicKey) {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex");
}

/** The body and headers of a report of `tokens`, signed with `privateKey`. */
export function signedReport(tokens, privateKey, { url = "https://github.com/example/app/blob/main/.env" } = {}) {
  const body = JSON.stringify(tokens.map((token) => ({ token, type: typeOf(token), url, source: "content" })));
  return {
    body,
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": keyIdentifier(createPublicKey(privateKey)),
      "github-public-key-signature": sign("sha256", Buffer.from(body), privateKey).toString("base64"),
    },
  };
}

// Run, not imported (the path may come through a symlink).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.env.SCAN_KEY_FILE || ".dev.scanning-key.pem";
  const args = process.argv.slice(2);
  if (args[0] === "setup") {
    if (!existsSync(file)) {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    }
    const publicKey = createPublicKey(readFileSync(file, "utf8"));
    // Single quotes: .dev.vars keeps the JSON's \n escapes as they are.
    console.log(`SECRET_SCANNING_PUBLIC_KEYS='${keyDocument(publicKey)}'`);
  } else if (args.length > 0 && !args[0].startsWith("-")) {
    if (!existsSync(file)) {
      console.error(`No ${file}: run \`npm run -s scan-report -- setup >> .dev.vars\` and restart npm start first.`);
      process.exit(1);
    }
    const gateway = (process.env.GATEWAY || "http://127.0.0.1:8787").replace(/\/$/, "");
    const { body, headers } = signedReport(args, createPrivateKey(readFileSync(file, "utf8")), {
      url: process.env.SCAN_URL || undefined,
    });
    const res = await fetch(`${gateway}/secret-scanning/github`, { method: "POST", headers, body });
    console.log(`${res.status} ${await res.text()}`);
    if (!res.ok) process.exit(1);
  } else {
    console.error("usage: npm run -s scan-report -- setup >> .dev.vars\n       npm run -s scan-report -- TOKEN [TOKEN ...]");
    process.exit(2);
  }
}
