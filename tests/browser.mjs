// What the browser tests of the dashboard share: where screenshots go, the two screen
// sizes, the accessibility check, and the page helpers (bound lazily to the test's page
// and gateway, which exist only once its `before` has run).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import chromium from "@sparticuz/chromium";
import puppeteer from "puppeteer-core";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SHOTS = join(ROOT, "build", "screenshots");
export const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** An element by its accessible name (and role). */
export const aria = (name, role) =>
  role ? `::-p-aria([name=${JSON.stringify(name)}][role="${role}"])` : `::-p-aria(${JSON.stringify(name)})`;

/** Headless Chromium (from @sparticuz/chromium) and one page at the desktop size; every
 * Content-Security-Policy violation the page reports goes into `cspViolations`. */
export async function launchBrowser(cspViolations) {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: await chromium.executablePath(),
    args: chromium.args,
    headless: true,
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  await page.setViewport(SIZES.desktop);
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) cspViolations.push(message.text());
  });
  return { browser, page };
}

/** Makes `page` a browser without conditional UI (passkeys offered in a field's autofill
 * list): Chromium's virtual authenticator answers such a request at once with the first
 * passkey it holds, as if the person had picked it, so a test of the sign-in button, or
 * of a page shown while signed out, runs without it. */
export async function withoutPasskeyAutofill(page) {
  await page.evaluateOnNewDocument(() => {
    if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
}

/** The helpers for the page `currentPage()` on the gateway at `baseUrl()`. */
export function pageHelpers(currentPage, baseUrl) {
  /** Waits until the app has drawn its page (or the sign-in page is shown). */
  async function ready() {
    await currentPage().waitForFunction(
      () => document.body.dataset.ready === "true" || document.getElementById("signin"),
      { timeout: 15_000 },
    );
  }

  async function open(path) {
    await currentPage().goto(baseUrl() + path);
    await ready();
  }

  /** No serious or critical axe-core violation on the page as it is now. */
  async function assertAccessible(what) {
    const page = currentPage();
    await page.evaluate(AXE);
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    assert.deepEqual(
      bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
      [],
      `axe on ${what}`,
    );
  }

  /** The page at both sizes; a dialog as the screen shows it, a page whole. */
  async function screenshots(name, { fullPage = true } = {}) {
    const page = currentPage();
    for (const [size, viewport] of Object.entries(SIZES)) {
      await page.setViewport(viewport);
      await page.screenshot({ path: join(SHOTS, `${name}-${size}.png`), fullPage });
    }
    await page.setViewport(SIZES.desktop);
  }

  /** Everything the page itself could read and keep. */
  async function pageStorage() {
    return currentPage().evaluate(() => ({
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      cookie: document.cookie,
      html: document.documentElement.outerHTML,
      values: [...document.querySelectorAll("input, textarea")].map((i) => i.value).join("\n"),
    }));
  }

  return { ready, open, assertAccessible, screenshots, pageStorage };
}
