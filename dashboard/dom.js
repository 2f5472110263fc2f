// Rendering helpers every page shares: elements (HTML and SVG) built without parsing
// text as markup, and the formats of numbers, dates and scopes.

export const SCOPES = ["read", "write", "delete", "admin"];
export const SCOPE_LABELS = { read: "Read", write: "Write", delete: "Delete", admin: "Admin" };
// What an OAuth app may ask for: the keys' vocabulary without admin (the API refuses it).
export const APP_SCOPES = ["read", "write", "delete"];

/** Builds an element: h("p", { class: "x" }, "text", child). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** Builds an SVG element, as `h` does an HTML one. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

export const number = new Intl.NumberFormat("en");
export function when(value) {
  if (!value) return "—";
  const d = new Date(value);
  return d.toLocaleString("en", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
export function day(value) {
  return value ? new Date(value).toLocaleDateString("en", { year: "numeric", month: "short", day: "numeric" }) : "—";
}
export function scopesText(scopes) {
  if (Array.isArray(scopes)) return scopes.length ? scopes.map((x) => SCOPE_LABELS[x] ?? x).join(", ") : "none";
  return Object.entries(scopes)
    .map(([resource, list]) => `${resource}: ${list.map((x) => SCOPE_LABELS[x] ?? x).join(", ")}`)
    .join("; ");
}

/** Runs `call` with `button` disabled, so a second click cannot send it twice. */
export async function whileDisabled(button, call) {
  button.disabled = true;
  try {
    return await call();
  } finally {
    button.disabled = false;
  }
}

/** Moves the focus to a row's button or link whose text starts with `action` (or to the
 * page when the row is gone). */
export function focusRow(id, action, attribute = "data-key-id") {
  const row = document.querySelector(`tr[${attribute}="${id}"]`);
  const target = row && [...row.querySelectorAll("button, a")].find((el) => el.textContent.startsWith(action));
  (target ?? document.getElementById("main")).focus();
}

/** A message read out by screen readers (and shown) after an action that closes a dialog. */
export function announce(text) {
  const status = document.getElementById("page-status");
  if (status) status.textContent = text;
}
