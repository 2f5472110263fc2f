// The dashboard's calls: every one goes to /dashboard/api/… (the management API as the
// session's key) with the session's CSRF token; and the paged tables they fill.
import { h, whileDisabled } from "./dom.js";

/** Who is signed in (GET /dashboard/api/session): the key, its plan, the CSRF token.
 * Set once by the router before any page draws. */
export let session = null;

export function setSession(value) {
  session = value;
}

/** Whether the session may do `operation` (a person's role's `permissions`; a key's
 * session is bounded by the key's scopes alone, checked by the API). */
export function can(operation) {
  return !session?.permissions || session.permissions.includes(operation);
}

/** One dashboard API call. A call without a live session goes back to sign-in. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session) headers["X-CSRF-Token"] = session.csrfToken;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch("/dashboard/api" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    // The page sends no referrer; its own calls carry their Origin (checked by the worker).
    referrerPolicy: "same-origin",
  });
  if (res.status === 401) {
    location.assign("/dashboard");
    throw new Error("signed out");
  }
  const text = await res.text();
  return { ok: res.ok, status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Fills `body` with a row per item of the list at `path`, a page at a time: while the
 * list says it has more, a "Load more" button after the table adds the next page (its
 * `nextCursor`), so every row can be reached. Or one cell spanning `columns` that says
 * the list is `empty` or why it could not be read. */
export async function fillTable(body, path, { columns, failed, empty, row }) {
  const table = body.closest("table");
  let more = table.nextElementSibling;
  if (!more?.classList.contains("load-more")) {
    more = h("button", { type: "button", class: "load-more" }, "Load more");
    table.after(more);
  }
  more.hidden = true;
  const note = (cls, text) => body.append(h("tr", {}, h("td", { colspan: columns, class: cls }, text)));
  const load = async (cursor) => {
    const sep = path.includes("?") ? "&" : "?";
    const res = await api("GET", cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    if (!cursor) body.replaceChildren();
    more.hidden = true;
    if (!res.ok) return note("error", res.json?.error?.details || res.json?.error?.message || failed);
    if (!cursor && !res.json.data.length) note("empty", empty);
    for (const item of res.json.data) body.append(row(item));
    const next = res.json.hasMore ? res.json.nextCursor : null;
    more.hidden = !next;
    more.onclick = next ? () => whileDisabled(more, () => load(next)) : null;
  };
  await load(null);
}
