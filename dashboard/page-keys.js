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
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, "Your organization's API keys"),
    h("thead", {}, h("tr", {}, ["Name", "Key", "Type", "Permissions", "Rate limit", "Created", "Last used", "Expires", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → API Keys"),
    h("h1", {}, "API Keys"),
    can("keys.write") && h("section", { "aria-labelledby": "create-heading" }, h("h2", { id: "create-heading" }, "Create New Key"), form),
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

function keyRow(key, reload) {
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
