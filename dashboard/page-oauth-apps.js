// Settings → OAuth apps: register an app (its client secret shown once), and the apps'
// table with Edit and Delete.
import { h, day, scopesText, whileDisabled, focusRow, announce, APP_SCOPES } from "./dom.js";
import { api, fillTable } from "./api.js";
import { openDialog, closeDialog, closed, confirmAction } from "./dialogs.js";
import { clearErrors, showError, permissionsEditor, nameField } from "./forms.js";

export const title = "OAuth apps";

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

export async function render(main) {
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
