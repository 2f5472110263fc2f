// Prints a fresh sk_live_ key in the gateway's format, for SCOPIEN_ROOT_KEY.
// The same rules as core/src/credentials/key.rs: 16 id + 32 secret base62 chars, then the CRC-32
// of everything before it in 6 base62 chars.
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(text) {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, "ascii")) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function base62(value, width) {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function makeKey(type = "live", random = randomBytes(96)) {
  let body = "";
  for (let i = 0; i < 48; i++) body += ALPHABET[random.readUInt16BE(2 * i) % 62];
  const signed = `sk_${type}_${body}`;
  return signed + base62(crc32(signed), 6);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(makeKey(process.argv[2] === "test" ? "test" : "live"));
}
