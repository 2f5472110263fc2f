// Settings → API Keys: create a key (shown once), and the keys' table with Edit, Roll,
// Revoke and Usage.
import { h, number, when, day, scopesText, whileDisabled, focusRow } from "./dom.js";
import { api, session, fillTable, can } from "./api.js";
import { openDialog, closeDialog, closed } from "./dialogs.js";
import {
  clearErrors, showError, permissionsEditor, expiresEditor, rateLimitField, nameField, NO_EXPIRY_DATE,
} from "./forms.js";

export async function render(main) {
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
  // A developer's keys never hold admin: the API refuses it, and the page does not offer it.
  const permissions = permissionsEditor("create", ["read"], session.role === "developer" ? { offered: ["read", "write", "delete"] } : {});
  const rate = rateLimitField("create", "", defaultType);
  const expires = expiresEditor("create");
  for (const radio of type.querySelectorAll("input")) radio.addEventListener("change", () => rate.setType(radio.value));
  const form = h("form", { id: "create-form", class: "panel", novalidate: true },
    name, type, permissions, rate, expires,
    h("p", { class: "error", id: "create-form-error", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, "Generate"),
  );
  const tableBody = h("tbody");
  // The operator (the root key, of no organization) sees every organization's keys:
  // each says whose it is.
  const operator = !session.organizationId;
  const orgNames = operator ? await organizationNames() : null;
  const columns = ["Name", "Key", ...(operator ? ["Organization"] : []), "Type", "Permissions", "Rate limit", "Created", "Last used", "Expires", "Status", "Actions"];
  const table = h("table", { class: "cards keys" },
    h("caption", { class: "visually-hidden" }, operator ? "Every organization's API keys" : "Your organization's API keys"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c === "Actions" ? "col-actions" : null }, c)))),
    tableBody,
  );
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → API Keys"),
    h("h1", {}, "API Keys"),
    // replaceChildren would write a `false` out as text: a viewer gets a sentence instead.
    can("keys.write")
      ? h("section", { "aria-labelledby": "create-heading" }, h("h2", { id: "create-heading" }, "Create New Key"), form)
      : h("p", { class: "lead" }, "Your role lets you read the keys; an owner, admin or developer creates them."),
    h("section", { "aria-labelledby": "keys-heading" }, h("h2", { id: "keys-heading" }, "Keys"), table),
  );

  const load = () =>
    fillTable(tableBody, "/v1/api-keys?limit=100", {
      columns: columns.length,
      failed: "Could not list keys.",
      empty: "No keys yet.",
      row: (key) => keyRow(key, load, orgNames),
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
    if (expiry === undefined) return showError(form, "create", NO_EXPIRY_DATE);
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

/** Shows a new key once. */
function revealKey(title, key, opener) {
  document.getElementById("key-dialog-title").textContent = title;
  const value = document.getElementById("key-dialog-value");
  value.value = key;
  openDialog(document.getElementById("key-dialog"), opener, value);
  value.select();
}

/** Keys whose secret is older than this are marked "Rotate" (the spec's "Rotate keys
 * every 90 days"). */
const ROTATE_AFTER_DAYS = 90;

/** Why an active key should be rolled now, or null: it lives longer than its
 * organization's key policy allows (`outOfPolicy`), or its secret (`rotatedAt`: created
 * or last rolled) is older than 90 days. */
export function rotationDue(key, now = Date.now()) {
  if (key.status !== "active") return null;
  if (key.outOfPolicy === true) return "It lives longer than your organization's key policy allows: roll it.";
  const issued = Date.parse(key.rotatedAt ?? key.createdAt);
  if (now - issued > ROTATE_AFTER_DAYS * 86_400_000) return `Its secret is more than ${ROTATE_AFTER_DAYS} days old: roll it.`;
  return null;
}

/** The names of the organizations the operator sees, by id. */
async function organizationNames() {
  const names = new Map([[DEFAULT_ORG, "Default organization"]]);
  const res = await api("GET", "/v1/organizations?limit=100");
  if (res.ok) for (const org of res.json.data ?? []) names.set(org.id, org.name);
  return names;
}
const DEFAULT_ORG = "org_000000000default";

/** A key's display form, which may break after its "…" (and nowhere else) when the
 * table is crowded: its two parts are inline blocks. */
function keyDisplay(display) {
  const cut = display.indexOf("…");
  return cut < 0
    ? h("code", { class: "nowrap" }, display)
    : h("code", { class: "key-display" }, h("span", {}, display.slice(0, cut + 1)), h("span", {}, display.slice(cut + 1)));
}

/** A key's status as a person reads it: why it stopped (a leak), and when. */
function statusCell(key) {
  const word = key.status[0].toUpperCase() + key.status.slice(1);
  if (key.leakedAt) {
    const revoked = key.status === "revoked";
    return h("span", { class: "status-text" },
      h("span", { class: `status-leaked status-${key.status}` }, revoked ? "Revoked: leaked in a public repository" : "Leaked in a public repository"),
      h("span", { class: "status-when" }, `Reported ${when(key.leakedAt)}${revoked ? "" : "; roll or revoke it"}`));
  }
  if (key.status === "revoked" && key.revokedAt) {
    return h("span", { class: `status status-${key.status}`, title: `Revoked ${when(key.revokedAt)}` }, word);
  }
  return h("span", { class: `status status-${key.status}` }, word);
}

function keyRow(key, reload, orgNames) {
  const label = (text) => [text, h("span", { class: "visually-hidden" }, ` ${key.name}`)];
  const active = key.status === "active";
  // No change to a key that holds more than the member (the API refuses it: 403).
  const writes = active && can("keys.write") && !(session.role === "developer" && JSON.stringify(key.scopes).includes('"admin"'));
  const actions = h("div", { class: "row-actions" },
    writes && h("button", { type: "button", class: "link", onclick: (e) => editKey(key, e.currentTarget, reload) }, label("Edit")),
    writes && h("button", { type: "button", class: "link", onclick: (e) => rollKey(key, e.currentTarget, reload) }, label("Roll")),
    writes && h("button", { type: "button", class: "link", onclick: (e) => revokeKey(key, e.currentTarget, reload) }, label("Revoke")),
    h("a", { href: `/dashboard/keys/${encodeURIComponent(key.id)}/usage`, class: "link" }, label("Usage")),
  );
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  return h("tr", { "data-key-id": key.id },
    cell("Name", key.name),
    h("td", { "data-label": "Key" }, keyDisplay(key.display)),
    orgNames && cell("Organization", h("span", { title: key.organizationId }, orgNames.get(key.organizationId) ?? key.organizationId)),
    cell("Type", key.type === "live" ? "Live" : "Test"),
    cell("Permissions", scopesText(key.scopes)),
    cell("Rate limit", `${number.format(key.rateLimit)}/h`),
    cell("Created", day(key.createdAt)),
    cell("Last used", key.lastUsedAt ? when(key.lastUsedAt) : "Never"),
    cell("Expires", key.expiresAt ? day(key.expiresAt) : "Never"),
    cell("Status", statusCell(key),
      rotationDue(key) && h("span", { class: "status status-rotate", title: rotationDue(key), "data-rotate": "" }, "Rotate")),
    h("td", { "data-label": "Actions", class: "col-actions" }, actions),
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
    if (expiry === undefined) return showError(form, "edit", NO_EXPIRY_DATE);
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
