// The dashboard: Settings → API Keys, OAuth apps, Authorized apps, the organization, its
// audit log, a key's usage.
// Plain DOM; every call goes to /dashboard/api/… (the management API as the session's
// key) with the session's CSRF token. No key or client secret is ever stored: a new one
// lives only in the dialog that shows it, and is erased when the dialog closes.
"use strict";

const SCOPES = ["read", "write", "delete", "admin"];
const SCOPE_LABELS = { read: "Read", write: "Write", delete: "Delete", admin: "Admin" };
// What an OAuth app may ask for: the keys' vocabulary without admin (the API refuses it).
const APP_SCOPES = ["read", "write", "delete"];
let session = null;

// ---------- small helpers ----------

/** Builds an element: h("p", { class: "x" }, "text", child). Text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
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

/** Fills `body` with a row per item of the list at `path`, a page at a time: while the
 * list says it has more, a "Load more" button after the table adds the next page (its
 * `nextCursor`), so every row can be reached. Or one cell spanning `columns` that says
 * the list is `empty` or why it could not be read. */
async function fillTable(body, path, { columns, failed, empty, row }) {
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

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const number = new Intl.NumberFormat("en");
function when(value) {
  if (!value) return "—";
  const d = new Date(value);
  return d.toLocaleString("en", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
function day(value) {
  return value ? new Date(value).toLocaleDateString("en", { year: "numeric", month: "short", day: "numeric" }) : "—";
}
function scopesText(scopes) {
  if (Array.isArray(scopes)) return scopes.length ? scopes.map((x) => SCOPE_LABELS[x] ?? x).join(", ") : "none";
  return Object.entries(scopes)
    .map(([resource, list]) => `${resource}: ${list.map((x) => SCOPE_LABELS[x] ?? x).join(", ")}`)
    .join("; ");
}

/** One dashboard API call. A call without a live session goes back to sign-in. */
/** Runs `call` with `button` disabled, so a second click cannot send it twice. */
async function whileDisabled(button, call) {
  button.disabled = true;
  try {
    return await call();
  } finally {
    button.disabled = false;
  }
}

async function api(method, path, body) {
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

/** The field an API error is about, from the field its details name. */
function fieldOf(error) {
  const details = error?.details ?? "";
  if (/^rateLimit|^burst/.test(details)) return "rate-limit";
  if (/^name/.test(details)) return "name";
  if (/^type/.test(details)) return "type";
  if (/^expiresAt/.test(details)) return "expires";
  if (/^redirect ?uri/i.test(details)) return "redirect-uris";
  if (/^apps cannot be given/.test(details)) return "permissions";
  if (/^scopes|permission|scope/i.test(details)) return "permissions";
  return "form";
}

function clearErrors(form) {
  for (const p of form.querySelectorAll(".error")) p.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** Shows an API error next to the field it concerns and moves focus there. */
function showError(form, prefix, error) {
  const field = fieldOf(error);
  const target = form.querySelector(`#${prefix}-${field}-error`) ?? form.querySelector(`#${prefix}-form-error`);
  target.textContent = error?.details || error?.message || "Something went wrong.";
  const control = form.querySelector(`[aria-describedby~="${target.id}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  } else {
    target.closest("fieldset")?.querySelector("input")?.focus();
  }
}

// ---------- dialogs: native modal <dialog> (the page behind is inert), focus returned ----------

function openDialog(dialog, opener, focus) {
  dialog.returnFocusTo = opener ?? document.activeElement;
  dialog.showModal();
  (focus ?? dialog.querySelector("input, button"))?.focus();
}
function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}
/** Closes a dialog once its close event (which returns the focus) has run, so that what
 * the caller focuses next is not taken back by it. */
function closed(dialog) {
  return new Promise((resolve) => {
    if (!dialog.open) return resolve();
    dialog.addEventListener("close", () => resolve(), { once: true });
    dialog.close();
  });
}
function wireDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.addEventListener("close", () => {
      const back = dialog.returnFocusTo;
      dialog.returnFocusTo = null;
      if (back && back.isConnected) back.focus();
      else document.getElementById("main").focus();
    });
    for (const button of dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => closeDialog(dialog));
    }
    // Tab and Shift+Tab stay inside the dialog.
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const focusable = [...dialog.querySelectorAll("input, button, select, textarea, a[href]")].filter(
        (el) => !el.disabled && el.offsetParent !== null,
      );
      if (!focusable.length) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
  }
  wireRevealDialog("key-dialog", [["key-dialog-copy", "key-dialog-value", "Copied to the clipboard."]]);
  wireRevealDialog("secret-dialog", [
    ["secret-dialog-copy-id", "secret-dialog-client-id", "Client ID copied to the clipboard."],
    ["secret-dialog-copy", "secret-dialog-value", "Client secret copied to the clipboard."],
  ]);
}

/** Copies a field's text to the clipboard (selecting it and copying where the Clipboard
 * API is refused). */
async function copyFrom(field) {
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select();
    document.execCommand("copy");
  }
}

/** A dialog that shows a secret once (a new key; a new app's client ID and secret):
 * each `[button, field, message]` copies a field; closing it, however it closes, erases
 * every field at once, so the secret cannot be recovered from the page. */
function wireRevealDialog(id, copies) {
  const dialog = document.getElementById(id);
  const status = document.getElementById(`${id}-status`);
  const fields = copies.map(([, field]) => document.getElementById(field));
  copies.forEach(([button, , message], i) => {
    document.getElementById(button).addEventListener("click", async () => {
      await copyFrom(fields[i]);
      status.textContent = message;
    });
  });
  const forget = () => {
    for (const field of fields) field.value = "";
    status.textContent = "";
  };
  document.getElementById(`${id}-done`).addEventListener("click", () => {
    forget();
    closeDialog(dialog);
  });
  dialog.addEventListener("cancel", forget);
  dialog.addEventListener("close", forget);
}

/** Shows a new key once. */
function revealKey(title, key, opener) {
  document.getElementById("key-dialog-title").textContent = title;
  const value = document.getElementById("key-dialog-value");
  value.value = key;
  openDialog(document.getElementById("key-dialog"), opener, value);
  value.select();
}

// ---------- permissions editor (create and edit) ----------

/** The Permissions fieldset: Read/Write/Delete/Admin for every resource, or per resource.
 * `options`: the scopes offered, the legend, a hint under it, and what the per-resource
 * rows mean (an OAuth app's scopes use the same control without Admin). */
function permissionsEditor(prefix, scopes = ["read"], options = {}) {
  const {
    offered = SCOPES,
    legend = "Permissions",
    hintText = null,
    perResourceText = "With any resource listed, the key holds only the permissions listed per resource.",
  } = options;
  const everywhere = Array.isArray(scopes) ? scopes : [];
  const perResource = Array.isArray(scopes) ? [] : Object.entries(scopes);
  const boxes = offered.map((scope) =>
    h("label", {}, h("input", { type: "checkbox", name: `${prefix}-scope`, value: scope, checked: everywhere.includes(scope) }), SCOPE_LABELS[scope]),
  );
  const rows = h("div", { class: "resource-rows" });
  const hint = h("p", { class: "hint", id: `${prefix}-resources-hint` },
    `Name a resource (the first path segment after /v1/, such as accounts) to give permissions on it only. ${perResourceText}`);
  let counter = 0;
  const sync = () => {
    const any = rows.children.length > 0;
    for (const label of boxes) label.querySelector("input").disabled = any;
  };
  const addRow = (resource = "", list = ["read"]) => {
    counter += 1;
    const id = `${prefix}-resource-${counter}`;
    const row = h("div", { class: "resource-row" },
      h("label", { for: id, class: "visually-hidden" }, `Resource ${counter}`),
      h("input", { type: "text", id, value: resource, placeholder: "resource, e.g. accounts", "data-resource": "", spellcheck: "false", autocomplete: "off" }),
      h("span", { class: "choices" }, offered.map((scope) =>
        h("label", {}, h("input", { type: "checkbox", value: scope, checked: list.includes(scope), "aria-label": `${SCOPE_LABELS[scope]} on resource ${counter}` }), SCOPE_LABELS[scope]))),
      h("button", { type: "button", class: "link", onclick: () => { row.remove(); sync(); } }, "Remove", h("span", { class: "visually-hidden" }, ` resource ${counter}`)),
    );
    rows.append(row);
    sync();
    row.querySelector("input[type=text]").focus();
  };
  for (const [resource, list] of perResource) addRow(resource, list);
  const details = h("details", { class: "resources", open: perResource.length > 0 },
    h("summary", {}, "Per-resource permissions"),
    hint,
    rows,
    h("button", { type: "button", onclick: () => addRow() }, "Add resource"),
  );
  const fieldset = h("fieldset", { "aria-describedby": [hintText && `${prefix}-permissions-hint`, `${prefix}-permissions-error`].filter(Boolean).join(" ") },
    h("legend", {}, legend),
    hintText && h("p", { class: "hint", id: `${prefix}-permissions-hint` }, hintText),
    h("div", { class: "choices" }, boxes),
    details,
    h("p", { class: "error", id: `${prefix}-permissions-error`, role: "alert" }),
  );
  fieldset.value = () => {
    const named = [...rows.querySelectorAll(".resource-row")]
      .map((row) => [row.querySelector("[data-resource]").value.trim(), [...row.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value)])
      .filter(([resource]) => resource);
    if (named.length) return Object.fromEntries(named);
    return [...fieldset.querySelectorAll(`input[name="${prefix}-scope"]:checked`)].map((c) => c.value);
  };
  return fieldset;
}

function expiresEditor(prefix, expiresAt = null) {
  const dateId = `${prefix}-expires-date`;
  const date = h("input", { type: "date", id: dateId, value: expiresAt ? expiresAt.slice(0, 10) : "", disabled: !expiresAt, "aria-describedby": `${prefix}-expires-error` });
  const never = h("input", { type: "radio", name: `${prefix}-expires`, value: "never", checked: !expiresAt });
  const on = h("input", { type: "radio", name: `${prefix}-expires`, value: "on", checked: Boolean(expiresAt) });
  const toggle = () => { date.disabled = never.checked; if (on.checked) date.focus(); };
  never.addEventListener("change", toggle);
  on.addEventListener("change", toggle);
  const fieldset = h("fieldset", {},
    h("legend", {}, "Expires"),
    h("div", { class: "choices" },
      h("label", {}, never, "Never"),
      h("span", { class: "inline" }, h("label", {}, on, "On"), h("label", { for: dateId, class: "visually-hidden" }, "Expiry date"), date)),
    h("p", { class: "error", id: `${prefix}-expires-error`, role: "alert" }),
  );
  // The end of the chosen day, UTC; null for Never; undefined when no date was picked.
  fieldset.value = () => (never.checked ? null : date.value ? `${date.value}T23:59:59Z` : undefined);
  return fieldset;
}

function rateLimitField(prefix, value, keyType) {
  const id = `${prefix}-rate-limit`;
  const hint = h("p", { class: "hint", id: `${id}-hint` });
  const input = h("input", { type: "number", id, min: 1, step: 1, inputmode: "numeric", value: value ?? "", "aria-describedby": `${id}-hint ${prefix}-rate-limit-error` });
  const field = h("div", { class: "field" },
    h("label", { for: id }, "Rate Limit"),
    input,
    hint,
    h("p", { class: "error", id: `${prefix}-rate-limit-error`, role: "alert" }),
  );
  field.setType = (type) => {
    const limits = session.plan[type];
    hint.textContent = `Requests per hour. Your ${session.plan.name} plan allows up to ${number.format(limits.maxRateLimit)} for ${type} keys (default ${number.format(limits.defaultRateLimit)}).`;
    input.placeholder = String(limits.defaultRateLimit);
  };
  field.setType(keyType);
  field.value = () => (input.value.trim() === "" ? undefined : Number(input.value));
  return field;
}

function nameField(prefix, value = "") {
  const id = `${prefix}-name`;
  return h("div", { class: "field" },
    h("label", { for: id }, "Name"),
    h("input", { type: "text", id, value, maxlength: 128, autocomplete: "off", "aria-describedby": `${prefix}-name-error` }),
    h("p", { class: "error", id: `${prefix}-name-error`, role: "alert" }),
  );
}

// ---------- pages ----------

async function keysPage(main) {
  const liveAllowed = session.keyType === "live";
  const defaultType = liveAllowed ? "live" : "test";
  const name = nameField("create");
  const typeButtons = ["test", "live"].map((type) =>
    h("label", {}, h("input", { type: "radio", name: "create-type", value: type, checked: type === defaultType, disabled: type === "live" && !liveAllowed }), type === "test" ? "Test" : "Live"));
  const type = h("fieldset", { "aria-describedby": "create-type-error" },
    h("legend", {}, "Type"),
    h("div", { class: "choices" }, typeButtons),
    h("p", { class: "hint" }, "Test keys (sk_test_) reach the sandbox; live keys (sk_live_) reach production."),
    h("p", { class: "error", id: "create-type-error", role: "alert" }),
  );
  const permissions = permissionsEditor("create");
  const rate = rateLimitField("create", "", defaultType);
  const expires = expiresEditor("create");
  for (const radio of type.querySelectorAll("input")) radio.addEventListener("change", () => rate.setType(radio.value));
  const form = h("form", { id: "create-form", class: "panel", novalidate: true },
    name, type, permissions, rate, expires,
    h("p", { class: "error", id: "create-form-error", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, "Generate"),
  );
  const tableBody = h("tbody");
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, "Your organization's API keys"),
    h("thead", {}, h("tr", {}, ["Name", "Key", "Type", "Permissions", "Rate limit", "Created", "Last used", "Expires", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → API Keys"),
    h("h1", {}, "API Keys"),
    h("section", { "aria-labelledby": "create-heading" }, h("h2", { id: "create-heading" }, "Create New Key"), form),
    h("section", { "aria-labelledby": "keys-heading" }, h("h2", { id: "keys-heading" }, "Keys"), table),
  );

  const load = () =>
    fillTable(tableBody, "/v1/api-keys?limit=100", {
      columns: 10,
      failed: "Could not list keys.",
      empty: "No keys yet.",
      row: (key) => keyRow(key, load),
    });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      name: form.querySelector("#create-name").value.trim(),
      type: form.querySelector("input[name=create-type]:checked").value,
      scopes: permissions.value(),
    };
    const limit = rate.value();
    if (limit !== undefined) body.rateLimit = limit;
    const expiry = expires.value();
    if (expiry === undefined) return showError(form, "create", { details: "expiresAt: choose a date, or Never" });
    if (expiry) body.expiresAt = expiry;
    const button = form.querySelector("button[type=submit]");
    const res = await whileDisabled(button, () => api("POST", "/v1/api-keys", body));
    if (!res.ok) return showError(form, "create", res.json?.error);
    const keyType = body.type;
    form.reset();
    form.querySelector(`input[name=create-type][value=${keyType}]`).checked = true;
    form.querySelector("#create-expires-date").disabled = true;
    await load();
    revealKey("Your new API key", res.json.key, button);
  });
  await load();
}

function keyRow(key, reload) {
  const label = (text) => [text, h("span", { class: "visually-hidden" }, ` ${key.name}`)];
  const active = key.status === "active";
  const actions = h("div", { class: "row-actions" },
    active && h("button", { type: "button", class: "link", onclick: (e) => editKey(key, e.currentTarget, reload) }, label("Edit")),
    active && h("button", { type: "button", class: "link", onclick: (e) => rollKey(key, e.currentTarget, reload) }, label("Roll")),
    active && h("button", { type: "button", class: "link", onclick: (e) => revokeKey(key, e.currentTarget, reload) }, label("Revoke")),
    h("a", { href: `/dashboard/keys/${encodeURIComponent(key.id)}/usage`, class: "link" }, label("Usage")),
  );
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  return h("tr", { "data-key-id": key.id },
    cell("Name", key.name),
    h("td", { "data-label": "Key" }, h("code", { class: "nowrap" }, key.display)),
    cell("Type", key.type === "live" ? "Live" : "Test"),
    cell("Permissions", scopesText(key.scopes)),
    cell("Rate limit", `${number.format(key.rateLimit)}/h`),
    cell("Created", day(key.createdAt)),
    cell("Last used", key.lastUsedAt ? when(key.lastUsedAt) : "Never"),
    cell("Expires", key.expiresAt ? day(key.expiresAt) : "Never"),
    cell("Status", h("span", { class: `status status-${key.status}` }, key.status[0].toUpperCase() + key.status.slice(1))),
    cell("Actions", actions),
  );
}

function editKey(key, opener, reload) {
  const dialog = document.getElementById("edit-dialog");
  const form = document.getElementById("edit-form");
  document.getElementById("edit-dialog-title").textContent = `Edit ${key.name}`;
  const permissions = permissionsEditor("edit", key.scopes);
  const rate = rateLimitField("edit", key.rateLimit, key.type);
  const expires = expiresEditor("edit", key.expiresAt);
  document.getElementById("edit-fields").replaceChildren(nameField("edit", key.name), permissions, rate, expires);
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {};
    const name = form.querySelector("#edit-name").value.trim();
    if (name !== key.name) body.name = name;
    const scopes = permissions.value();
    if (JSON.stringify(scopes) !== JSON.stringify(key.scopes)) body.scopes = scopes;
    const limit = rate.value();
    if (limit !== undefined && limit !== key.rateLimit) body.rateLimit = limit;
    const expiry = expires.value();
    if (expiry === undefined) return showError(form, "edit", { details: "expiresAt: choose a date, or Never" });
    if ((expiry ?? null) !== (key.expiresAt ?? null) && !(expiry && key.expiresAt && expiry.slice(0, 10) === key.expiresAt.slice(0, 10))) body.expiresAt = expiry;
    if (!Object.keys(body).length) return closeDialog(dialog);
    const res = await api("PATCH", `/v1/api-keys/${encodeURIComponent(key.id)}`, body);
    if (!res.ok) return showError(form, "edit", res.json?.error);
    await closed(dialog);
    await reload();
    focusRow(key.id, "Edit");
  };
  openDialog(dialog, opener, form.querySelector("#edit-name"));
}

function rollKey(key, opener, reload) {
  const dialog = document.getElementById("roll-dialog");
  const form = document.getElementById("roll-form");
  document.getElementById("roll-dialog-title").textContent = `Roll ${key.name}`;
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const grace = Number(form.querySelector("input[name=grace]:checked").value);
    const res = await api("POST", `/v1/api-keys/${encodeURIComponent(key.id)}/roll`, { expiresIn: grace });
    if (!res.ok) {
      document.getElementById("roll-form-error").textContent = res.json?.error?.details ?? "Could not roll the key.";
      return;
    }
    dialog.returnFocusTo = null;
    await closed(dialog);
    await reload();
    const again = document.querySelector(`tr[data-key-id="${key.id}"] button:nth-of-type(2)`) ?? opener;
    revealKey(`The new key for ${key.name}`, res.json.key, again);
  };
  openDialog(dialog, opener, form.querySelector("input[name=grace]:checked"));
}

function revokeKey(key, opener, reload) {
  const dialog = document.getElementById("revoke-dialog");
  const form = document.getElementById("revoke-form");
  document.getElementById("revoke-dialog-title").textContent = `Revoke ${key.name}?`;
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const res = await api("DELETE", `/v1/api-keys/${encodeURIComponent(key.id)}`);
    if (!res.ok) {
      document.getElementById("revoke-form-error").textContent = res.json?.error?.details ?? "Could not revoke the key.";
      return;
    }
    await closed(dialog);
    await reload();
    focusRow(key.id, "Usage");
  };
  // The safe choice has the focus.
  openDialog(dialog, opener, form.querySelector("[data-close]"));
}

function focusRow(id, action, attribute = "data-key-id") {
  const row = document.querySelector(`tr[${attribute}="${id}"]`);
  const target = row && [...row.querySelectorAll("button, a")].find((el) => el.textContent.startsWith(action));
  (target ?? document.getElementById("main")).focus();
}

// ---------- usage ----------

/** A bar chart of admitted and refused requests per bucket, drawn as SVG. */
function chart(title, buckets, labelOf, tickEvery) {
  const width = 720;
  const height = 220;
  const pad = { left: 44, right: 8, top: 10, bottom: 28 };
  const max = Math.max(1, ...buckets.map((b) => b.admitted + b.refused));
  const step = (width - pad.left - pad.right) / Math.max(1, buckets.length);
  const y = (n) => pad.top + (height - pad.top - pad.bottom) * (1 - n / max);
  const admitted = buckets.reduce((sum, b) => sum + b.admitted, 0);
  const refused = buckets.reduce((sum, b) => sum + b.refused, 0);
  const id = title.toLowerCase().replace(/\W+/g, "-");
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-labelledby": `${id}-title ${id}-desc` },
    s("title", { id: `${id}-title` }, title),
    s("desc", { id: `${id}-desc` }, `${number.format(admitted)} admitted and ${number.format(refused)} refused requests.`),
  );
  for (const n of [0, max / 2, max]) {
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(n), y2: y(n), class: "axis" }));
    svg.append(s("text", { x: pad.left - 6, y: y(n) + 4, "text-anchor": "end" }, number.format(Math.round(n))));
  }
  buckets.forEach((b, i) => {
    const x = pad.left + i * step + step * 0.1;
    const w = Math.max(1, step * 0.8);
    if (b.admitted) svg.append(s("rect", { x, width: w, y: y(b.admitted), height: y(0) - y(b.admitted), class: "admitted" }));
    if (b.refused) svg.append(s("rect", { x, width: w, y: y(b.admitted + b.refused), height: y(b.admitted) - y(b.admitted + b.refused), class: "refused" }));
    // A label every `tickEvery` buckets, counted back from the newest (always labelled,
    // right-aligned so it is never cut); every other one is hidden on narrow screens.
    const fromEnd = buckets.length - 1 - i;
    if (fromEnd % tickEvery === 0) {
      const last = fromEnd === 0;
      svg.append(s("text", {
        x: last ? x + w : x + w / 2,
        y: height - 8,
        "text-anchor": last ? "end" : "middle",
        class: (fromEnd / tickEvery) % 2 === 1 ? "minor" : "major",
      }, labelOf(b)));
    }
  });
  const rows = buckets.filter((b) => b.admitted || b.refused);
  return h("section", { "aria-labelledby": `${id}-heading` },
    h("h2", { id: `${id}-heading` }, title),
    h("ul", { class: "legend" },
      h("li", {}, h("span", { class: "swatch admitted", "aria-hidden": "true" }), `Admitted (${number.format(admitted)})`),
      h("li", {}, h("span", { class: "swatch refused", "aria-hidden": "true" }), `Refused: 403 and 429 (${number.format(refused)})`)),
    svg,
    h("details", {},
      h("summary", {}, `${title}: the numbers`),
      rows.length
        ? h("table", {}, h("thead", {}, h("tr", {}, ["From", "Admitted", "Forbidden (403)", "Rate limited (429)"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, rows.map((b) => h("tr", {}, h("td", {}, when(b.start)), h("td", {}, b.admitted), h("td", {}, b.forbidden), h("td", {}, b.rateLimited)))))
        : h("p", { class: "empty" }, "No requests in this period.")),
  );
}

async function usagePage(main, id) {
  const [keyRes, usageRes] = await Promise.all([
    api("GET", `/v1/api-keys/${encodeURIComponent(id)}`),
    api("GET", `/v1/api-keys/${encodeURIComponent(id)}/usage`),
  ]);
  if (!keyRes.ok || !usageRes.ok) {
    main.replaceChildren(h("h1", {}, "Usage"), h("p", { class: "error" }, (keyRes.json ?? usageRes.json)?.error?.details ?? "No such key."));
    return;
  }
  const key = keyRes.json;
  const usage = usageRes.json;
  const norm = (b) => ({ ...b, refused: b.forbidden + b.rateLimited });
  const hourly = (usage.hourly ?? []).map(norm);
  const daily = (usage.daily ?? []).map(norm);
  const hourLabel = (b) => new Date(b.start).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  const dayLabel = (b) => new Date(b.start).toLocaleDateString("en", { month: "short", day: "numeric" });
  document.title = `Usage of ${key.name} · Scopien Gate`;
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, h("a", { href: "/dashboard/keys" }, "API Keys"), " → Usage"),
    h("h1", {}, `Usage: ${key.name}`),
    h("p", { class: "lead mono" }, key.display),
    h("ul", { class: "totals" },
      h("li", {}, "This hour", h("strong", {}, `${number.format(usage.hour.used)} / ${number.format(usage.hour.limit)}`)),
      usage.day && h("li", {}, "Today", h("strong", {}, `${number.format(usage.day.used)} / ${number.format(usage.day.limit)}`)),
      h("li", {}, "Admitted since created", h("strong", {}, number.format(usage.total))),
      h("li", {}, "Last used", h("strong", {}, usage.lastUsedAt ? when(usage.lastUsedAt) : "Never"))),
    chart("Requests per hour, last 48 hours", hourly, hourLabel, 6),
    chart("Requests per day, last 90 days", daily, dayLabel, 15),
  );
}

// ---------- OAuth apps and Authorized apps ----------

const APP_TYPES = { confidential: "Confidential", public: "Public" };

/** The non-empty lines of a text, trimmed. */
function linesOf(text) {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

function appNameField(prefix, value) {
  const field = nameField(prefix, value);
  field.querySelector("input").maxLength = 100;
  return field;
}

function redirectUrisField(prefix, uris = []) {
  const id = `${prefix}-redirect-uris`;
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert" });
  // The API's error about a URI stays until the list is edited.
  const input = h("textarea", { id, rows: 3, spellcheck: "false", autocomplete: "off", autocapitalize: "off", "aria-describedby": `${id}-hint ${id}-error` }, uris.join("\n"));
  input.addEventListener("input", () => {
    if (!error.textContent) return;
    error.textContent = "";
    input.removeAttribute("aria-invalid");
  });
  return h("div", { class: "field" },
    h("label", { for: id }, "Redirect URIs"),
    input,
    h("p", { class: "hint", id: `${id}-hint` },
      "One per line, each registered exactly as the app sends it: https://, or http:// only on 127.0.0.1, [::1] or localhost. No fragments (#), no wildcards (*)."),
    error,
  );
}

/** The scopes an app may ask for, in the keys' control without Admin. */
function appScopesEditor(prefix, scopes, hintText) {
  return permissionsEditor(prefix, scopes, {
    offered: APP_SCOPES,
    legend: "Scopes",
    hintText,
    perResourceText: "With any resource listed, the app may ask only for the permissions listed per resource.",
  });
}

function appTypeField(prefix) {
  const choice = (type) =>
    h("label", {}, h("input", { type: "radio", name: `${prefix}-type`, value: type, checked: type === "confidential" }), APP_TYPES[type]);
  return h("fieldset", { "aria-describedby": `${prefix}-type-hint ${prefix}-type-error` },
    h("legend", {}, "Type"),
    h("div", { class: "choices" }, choice("confidential"), choice("public")),
    h("p", { class: "hint", id: `${prefix}-type-hint` },
      "Confidential: a server-side app that can keep a client secret. Public: a browser, mobile or desktop app that cannot; it gets no secret and relies on PKCE alone."),
    h("p", { class: "error", id: `${prefix}-type-error`, role: "alert" }),
  );
}

/** A message read out by screen readers (and shown) after an action that closes a dialog. */
function announce(text) {
  const status = document.getElementById("page-status");
  if (status) status.textContent = text;
}

/** The confirmation dialog: the safe choice (Cancel) has the focus. */
function confirmAction({ title, text, action, opener, run, failure, done }) {
  const dialog = document.getElementById("confirm-dialog");
  const form = document.getElementById("confirm-form");
  const submit = document.getElementById("confirm-dialog-submit");
  document.getElementById("confirm-dialog-title").textContent = title;
  document.getElementById("confirm-dialog-text").textContent = text;
  submit.textContent = action;
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const res = await whileDisabled(submit, run);
    if (!res.ok) {
      const error = res.json?.error;
      document.getElementById("confirm-form-error").textContent = error?.details || error?.message || failure;
      return;
    }
    await closed(dialog);
    await done(res.json);
  };
  openDialog(dialog, opener, form.querySelector("[data-close]"));
}

async function oauthAppsPage(main) {
  const register = h("button", { type: "button", class: "primary", id: "register-app" }, "Register app");
  const tableBody = h("tbody");
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, "Your organization's OAuth apps"),
    h("thead", {}, h("tr", {}, ["Name", "Client ID", "Type", "Redirect URIs", "Scopes", "Created", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → OAuth apps"),
    h("h1", {}, "OAuth apps"),
    h("p", { class: "lead" },
      "Apps your organization builds on the API. A person who approves an app lets it act for their organization with the scopes they approved (OAuth 2.0, authorization code with PKCE)."),
    h("div", { class: "toolbar" }, register),
    h("p", { role: "status", id: "page-status" }),
    h("section", { "aria-labelledby": "apps-heading" }, h("h2", { id: "apps-heading" }, "Apps"), table),
  );

  const load = () =>
    fillTable(tableBody, "/v1/oauth-clients?limit=100", {
      columns: 7,
      failed: "Could not list the apps.",
      empty: "No apps yet.",
      row: (app) => appRow(app, load),
    });
  register.addEventListener("click", () => registerApp(register, load));
  await load();
}

function appRow(app, reload) {
  const label = (text) => [text, h("span", { class: "visually-hidden" }, ` ${app.name}`)];
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  return h("tr", { "data-client-id": app.clientId },
    cell("Name", app.name),
    cell("Client ID", h("code", { class: "nowrap" }, app.clientId)),
    cell("Type", APP_TYPES[app.type] ?? app.type),
    cell("Redirect URIs", h("ul", { class: "uris" }, app.redirectUris.map((uri) => h("li", {}, h("code", {}, uri))))),
    cell("Scopes", scopesText(app.scopes)),
    cell("Created", day(app.createdAt)),
    cell("Actions", h("div", { class: "row-actions" },
      h("button", { type: "button", class: "link", onclick: (e) => editApp(app, e.currentTarget, reload) }, label("Edit")),
      h("button", { type: "button", class: "link", onclick: (e) => deleteApp(app, e.currentTarget, reload) }, label("Delete")))),
  );
}

function registerApp(opener, reload) {
  const dialog = document.getElementById("register-dialog");
  const form = document.getElementById("register-form");
  const fields = document.getElementById("register-fields");
  const scopes = appScopesEditor("register", ["read"],
    "The most the app may ask for. A grant never holds more, nor more than the key of the person who approves it. Apps cannot be given Admin.");
  fields.replaceChildren(appNameField("register"), redirectUrisField("register"), scopes, appTypeField("register"));
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      name: form.querySelector("#register-name").value.trim(),
      redirectUris: linesOf(form.querySelector("#register-redirect-uris").value),
      scopes: scopes.value(),
      type: form.querySelector("input[name=register-type]:checked").value,
    };
    const button = form.querySelector("button[type=submit]");
    const res = await whileDisabled(button, () => api("POST", "/v1/oauth-clients", body));
    if (!res.ok) return showError(form, "register", res.json?.error);
    dialog.returnFocusTo = null;
    await closed(dialog);
    fields.replaceChildren();
    await reload();
    revealApp(res.json, opener);
  };
  openDialog(dialog, opener, form.querySelector("#register-name"));
}

/** Shows a new app's client ID, and its client secret once. */
function revealApp(app, opener) {
  const secret = app.clientSecret;
  document.getElementById("secret-dialog-title").textContent = `${app.name} is registered`;
  const warning = document.getElementById("secret-dialog-warning");
  warning.className = secret ? "warning" : "note";
  warning.textContent = secret
    ? "The client secret is shown only once: you will not see it again. Copy it and store it securely now!"
    : "A public app has no client secret: it proves itself with PKCE on every authorization.";
  document.getElementById("secret-dialog-client-id").value = app.clientId;
  document.getElementById("secret-dialog-secret-field").hidden = !secret;
  const value = document.getElementById("secret-dialog-value");
  value.value = secret ?? "";
  const focus = secret ? value : document.getElementById("secret-dialog-client-id");
  openDialog(document.getElementById("secret-dialog"), opener, focus);
  focus.select();
}

function editApp(app, opener, reload) {
  const dialog = document.getElementById("edit-dialog");
  const form = document.getElementById("edit-form");
  document.getElementById("edit-dialog-title").textContent = `Edit ${app.name}`;
  const scopes = appScopesEditor("edit", app.scopes,
    "The most the app may ask for from now on. Grants already given keep their scopes until revoked. Apps cannot be given Admin.");
  document.getElementById("edit-fields").replaceChildren(appNameField("edit", app.name), redirectUrisField("edit", app.redirectUris), scopes);
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {};
    const name = form.querySelector("#edit-name").value.trim();
    if (name !== app.name) body.name = name;
    const uris = linesOf(form.querySelector("#edit-redirect-uris").value);
    if (JSON.stringify(uris) !== JSON.stringify(app.redirectUris)) body.redirectUris = uris;
    const list = scopes.value();
    if (JSON.stringify(list) !== JSON.stringify(app.scopes)) body.scopes = list;
    if (!Object.keys(body).length) return closeDialog(dialog);
    const res = await api("PATCH", `/v1/oauth-clients/${encodeURIComponent(app.clientId)}`, body);
    if (!res.ok) return showError(form, "edit", res.json?.error);
    await closed(dialog);
    await reload();
    focusRow(app.clientId, "Edit", "data-client-id");
  };
  openDialog(dialog, opener, form.querySelector("#edit-name"));
}

function deleteApp(app, opener, reload) {
  confirmAction({
    title: `Delete ${app.name}?`,
    text: `Deleting ${app.name} also revokes every grant it was given: its access and refresh tokens are refused from the next request, and its client ID and secret stop working. This cannot be undone.`,
    action: "Delete app",
    opener,
    run: () => api("DELETE", `/v1/oauth-clients/${encodeURIComponent(app.clientId)}`),
    failure: "Could not delete the app.",
    done: async () => {
      await reload();
      announce(`${app.name} was deleted, and every grant it was given revoked.`);
      document.getElementById("register-app")?.focus();
    },
  });
}

async function authorizedAppsPage(main) {
  const tableBody = h("tbody");
  const columns = ["App", "Client ID", "Scopes", "Approved by", "Approved", "Status", "Actions"];
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, "Apps your organization authorized"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Authorized apps"),
    h("h1", {}, "Authorized apps"),
    h("p", { class: "lead" },
      "Apps that people of your organization allowed to act for it, and the scopes they approved. Revoking a grant stops its access and refresh tokens from the next request."),
    h("p", { role: "status", id: "page-status" }),
    h("section", { "aria-labelledby": "grants-heading" }, h("h2", { id: "grants-heading" }, "Grants"), table),
  );

  const load = () =>
    fillTable(tableBody, "/v1/oauth-authorizations?limit=100", {
      columns: columns.length,
      failed: "Could not list the authorized apps.",
      empty: "No app has been authorized yet.",
      row: (grant) => grantRow(grant, load),
    });
  await load();
}

function grantRow(grant, reload) {
  const active = grant.status === "active";
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  const status = h("span", {},
    h("span", { class: `status status-${grant.status}` }, active ? "Active" : "Revoked"),
    !active && grant.revokedAt ? ` ${day(grant.revokedAt)}` : null);
  const revoke = h("button", { type: "button", class: "link", onclick: (e) => revokeGrant(grant, e.currentTarget, reload) },
    "Revoke", h("span", { class: "visually-hidden" }, ` ${grant.clientName} (grant ${grant.grantId})`));
  return h("tr", { "data-grant-id": grant.grantId },
    cell("App", grant.clientName),
    cell("Client ID", h("code", { class: "nowrap" }, grant.clientId)),
    cell("Scopes", scopesText(grant.scopes)),
    cell("Approved by", h("span", {}, h("code", {}, grant.approvedBy), grant.keyType ? ` (${grant.keyType} key)` : null)),
    cell("Approved", when(grant.createdAt)),
    cell("Status", status),
    cell("Actions", active ? h("div", { class: "row-actions" }, revoke) : "—"),
  );
}

function revokeGrant(grant, opener, reload) {
  confirmAction({
    title: `Revoke ${grant.clientName}'s access?`,
    text: `${grant.clientName} can no longer act for your organization with this grant: its access and refresh tokens are refused from the next request. The app must ask a person to approve it again. This cannot be undone.`,
    action: "Revoke access",
    opener,
    run: () => api("DELETE", `/v1/oauth-authorizations/${encodeURIComponent(grant.grantId)}`),
    failure: "Could not revoke the grant.",
    done: async () => {
      await reload();
      announce(`${grant.clientName}'s grant was revoked.`);
      document.getElementById("main").focus();
    },
  });
}

// ---------- organization and audit log ----------

async function organizationPage(main) {
  const org = session.organizationId ? await api("GET", `/v1/organizations/${session.organizationId}`) : null;
  const plan = session.plan;
  const limitsRow = (label, l) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td", { "data-label": "Default rate limit" }, `${number.format(l.defaultRateLimit)}/h`),
    h("td", { "data-label": "Highest rate limit" }, `${number.format(l.maxRateLimit)}/h`),
    h("td", { "data-label": "Highest burst" }, number.format(l.maxBurst)),
    h("td", { "data-label": "Daily limit" }, l.dailyLimit ? `${number.format(l.dailyLimit)}/day` : "None"));
  const facts = org?.ok
    ? [["Name", org.json.name], ["Id", h("code", {}, org.json.id)], ["Plan", plan.name], ["Status", org.json.status], ["Created", day(org.json.createdAt)]]
    : [["Signed in with", "the operator's root key (every organization)"], ["Default plan", plan.name]];
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Organization"),
    h("h1", {}, "Organization"),
    h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("h2", {}, `Limits of the ${plan.name} plan`),
    h("table", { class: "cards" },
      h("thead", {}, h("tr", {}, ["Keys", "Default rate limit", "Highest rate limit", "Highest burst", "Daily limit"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, limitsRow("Live keys", plan.live), limitsRow("Test keys", plan.test))),
    h("p", { class: "hint" }, "The plan is set by the operator. A key's rate limit may be anything up to the highest for its type."),
  );
}

function actorText(actor) {
  if (!actor) return "—";
  if (actor.type === "key" || actor.keyId) return actor.keyId ?? "key";
  return actor.type ?? JSON.stringify(actor);
}

async function auditPage(main) {
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const note = h("p", { class: "hint" });
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Audit log"),
    h("h1", {}, "Audit log"),
    h("p", { class: "lead" }, "Every change to your organization's keys, OAuth apps and grants, newest first."),
    h("table", { class: "cards" },
      h("caption", { class: "visually-hidden" }, "Audit events"),
      h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Target", "Changes"].map((c) => h("th", { scope: "col" }, c)))),
      body),
    note,
    more,
  );
  if (!session.organizationId) {
    body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "The root key belongs to no organization: read an organization's log over the API with organizationId.")));
    return;
  }
  let cursor = null;
  const load = async () => {
    const res = await api("GET", `/v1/audit-log?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (!res.ok) {
      note.textContent = res.json?.error?.details ?? "Could not read the audit log.";
      return;
    }
    for (const event of res.json.data) {
      // Each change is {before, after}; a field set for the first time (before null)
      // shows only its value. Why the gateway itself acted (a replayed token) follows.
      const changes = event.changes
        ? Object.entries(event.changes).map(([field, c]) => (c?.before === null || c?.before === undefined
          ? `${field}: ${JSON.stringify(c?.after ?? null)}`
          : `${field}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after ?? null)}`)).join("; ")
        : "—";
      const changeText = event.reason ? `${changes === "—" ? "" : `${changes}. `}${event.reason}` : changes;
      body.append(h("tr", {},
        h("td", { "data-label": "When" }, when(event.at)),
        h("td", { "data-label": "Who", class: "mono" }, actorText(event.actor)),
        h("td", { "data-label": "Action" }, event.action),
        h("td", { "data-label": "Target", class: "mono" }, event.target?.id ?? event.target?.keyId ?? "—"),
        h("td", { "data-label": "Changes", class: "changes" }, changeText)));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No events yet.")));
    cursor = res.json.nextCursor ?? null;
    more.hidden = !cursor;
  };
  more.addEventListener("click", load);
  await load();
}

// ---------- start ----------

async function start() {
  wireDialogs();
  const res = await api("GET", "/session");
  const main = document.getElementById("main");
  if (!res.ok) {
    main.replaceChildren(h("h1", {}, "API Keys"), h("p", { class: "error" }, res.json?.error?.details ?? "This key cannot use the dashboard."));
    return;
  }
  session = res.json;
  document.getElementById("who").textContent = `Signed in with ${session.keyId} (${session.keyType} key, ${session.plan.name} plan)`;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api("DELETE", "/session");
    location.assign("/dashboard");
  });
  const path = location.pathname.replace(/\/+$/, "");
  const usage = path.match(/^\/dashboard\/keys\/([^/]+)\/usage$/);
  const pages = {
    "/dashboard/oauth-apps": "oauth-apps",
    "/dashboard/authorized-apps": "authorized-apps",
    "/dashboard/organization": "organization",
    "/dashboard/audit-log": "audit",
  };
  const page = usage ? "keys" : pages[path] ?? "keys";
  for (const link of document.querySelectorAll(".settings-nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
  }
  if (usage) await usagePage(main, decodeURIComponent(usage[1]));
  else if (page === "oauth-apps") {
    document.title = "OAuth apps · Scopien Gate";
    await oauthAppsPage(main);
  } else if (page === "authorized-apps") {
    document.title = "Authorized apps · Scopien Gate";
    await authorizedAppsPage(main);
  } else if (page === "organization") {
    document.title = "Organization · Scopien Gate";
    await organizationPage(main);
  } else if (page === "audit") {
    document.title = "Audit log · Scopien Gate";
    await auditPage(main);
  } else await keysPage(main);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((error) => {
    if (error.message !== "signed out") {
      document.getElementById("main").replaceChildren(h("p", { class: "error" }, "The dashboard could not load. Reload the page."));
    }
  });
});
