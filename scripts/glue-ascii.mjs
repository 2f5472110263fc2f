// Gives wasm-bindgen's glue (scripts/build.sh, step 4) an ASCII fast path for strings
// read out of wasm memory: short ASCII strings are built in JS, anything else still goes
// to TextDecoder. ASCII bytes are their own UTF-8, so every result is the same; only the
// cost differs (workerd's TextDecoder call and a subarray view per string cost more than
// a short loop). Fails if the glue no longer holds the function it replaces.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const glue = readFileSync(file, "utf8");
const original = `function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
}`;
const fast = `function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    const memory = getUint8ArrayMemory0();
    if (len <= 256) {
        let text = "";
        for (let i = ptr, end = ptr + len; i < end; i++) {
            const byte = memory[i];
            if (byte > 0x7f) return decodeText(memory.subarray(ptr, ptr + len));
            text += String.fromCharCode(byte);
        }
        return text;
    }
    return decodeText(memory.subarray(ptr, ptr + len));
}`;
if (glue.split(original).length !== 2) {
  console.error(`glue-ascii: ${file} does not hold getStringFromWasm0 as expected (wasm-bindgen changed?)`);
  process.exit(1);
}
writeFileSync(file, glue.replace(original, fast));
