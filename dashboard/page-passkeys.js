// Settings → Passkeys (issue #22): the signed-in person's own passkeys: "Add a passkey"
// (another device or password manager), "Rename", "Remove" (with a confirmation; never
// the last, or they could not sign in again). Only for a person; the API decides again.
import { h, when, day, focusRow, announce } from "./dom.js";
import { api, session } from "./api.js";
import { openDialog, closeDialog, closed, confirmAction } from "./dialogs.js";
import { clearErrors, showError, nameField } from "./forms.js";
import { createPasskey, supported } from "./passkey.js";

export const title = "Passkeys";

export async function render(main) {
  main.replaceChildren(h("p", { class: "breadcrumb" }, "Settings → Passkeys"), h("h1", {}, "Passkeys"));
  if (!session.personId) {
    main.append(h("p", {}, "Passkeys belong to people. This session is signed in with an API key."));
    return;
  }
  const body = h("tbody");
  const columns = ["Name", "Added", "Last used to sign in", "Actions"];
  const add = h("button", { type: "button", class: "primary", id: "add-passkey" }, "Add a passkey");
  const error = h("p", { class: "error", id: "add-passkey-error", role: "alert" });
  main.append(
    h("p", { role: "status", id: "page-status" }),
    h("p", {}, "You sign in with any of these. Add one on each device you use, so that losing one device does not lock you out."),
    h("div", { class: "panel" }, add, error),
    h("h2", {}, "Your passkeys"),
    h("table", { class: "cards" },
      h("caption", { class: "visually-hidden" }, "Your passkeys"),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c === "Actions" ? "col-actions" : null }, c)))),
      body),
  );
  const load = async () => {
    const res = await api("GET", "/passkeys");
    if (!res.ok) return body.replaceChildren(h("tr", {}, h("td", { colspan: columns.length, class: "error" }, res.json?.error?.details ?? "Could not list your passkeys.")));
    const only = res.json.data.length === 1;
    body.replaceChildren(...res.json.data.map((p) => passkeyRow(p, only, load)));
  };
  add.addEventListener("click", async () => {
    error.textContent = "";
    if (!supported()) {
      error.textContent = "This browser cannot create passkeys.";
      return;
    }
    add.disabled = true;
    try {
      const added = await addPasskey();
      await load();
      announce(`Added ${added.name}.`);
      focusRow(added.credentialId, "Rename", "data-credential-id");
    } catch (e) {
      error.textContent = e.name === "NotAllowedError" ? "No passkey was added (cancelled or timed out)."
        : e.name === "InvalidStateError" ? "This device already holds one of your passkeys." : e.message;
    } finally {
      add.disabled = false;
    }
  });
  await load();
}

/** The ceremony: options from the gateway (their passkeys excluded), the browser makes
 * the passkey, the gateway verifies and keeps it. */
async function addPasskey() {
  const options = await api("POST", "/passkeys/options");
  if (!options.ok) throw new Error(options.json?.error?.details ?? "Could not start.");
  const res = await api("POST", "/passkeys", await createPasskey(options.json.publicKey));
  if (!res.ok) throw new Error(res.json?.error?.details ?? "The passkey was not added.");
  return res.json;
}

function passkeyRow(passkey, only, reload) {
  const path = `/passkeys/${encodeURIComponent(passkey.credentialId)}`;
  const hidden = (text) => h("span", { class: "visually-hidden" }, text);
  const reasonId = `passkey-${passkey.credentialId}-reason`;
  const rename = h("button", { type: "button", class: "link", onclick: (e) => renamePasskey(passkey, path, e.currentTarget, reload) },
    "Rename", hidden(` ${passkey.name}`));
  const remove = h("button", {
    type: "button",
    class: "link",
    disabled: only,
    "aria-describedby": only ? reasonId : null,
    onclick: (event) => confirmAction({
      title: `Remove ${passkey.name}?`,
      text: passkey.current
        ? "You signed in with this passkey: removing it signs you out here. Sign in again with another one."
        : "You will no longer sign in with it, and a session signed in with it ends. Your other passkeys keep working.",
      action: "Remove passkey",
      opener: event.currentTarget,
      run: () => api("DELETE", path),
      failure: "Could not remove the passkey.",
      done: async () => {
        if (passkey.current) return location.assign("/dashboard");
        announce(`Removed ${passkey.name}.`);
        await reload();
        document.getElementById("main").focus();
      },
    }),
  }, "Remove", hidden(` ${passkey.name}`));
  const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
  return h("tr", { "data-credential-id": passkey.credentialId },
    cell("Name", passkey.current ? `${passkey.name} (this session)` : passkey.name),
    cell("Added", day(passkey.createdAt)),
    cell("Last used to sign in", passkey.lastUsedAt ? when(passkey.lastUsedAt) : "Never"),
    h("td", { "data-label": "Actions", class: "col-actions" },
      h("div", {}, h("div", { class: "row-actions" }, rename, remove),
        only && h("p", { class: "hint member-reason", id: reasonId }, "Your only passkey: add another before removing it."))),
  );
}

function renamePasskey(passkey, path, opener, reload) {
  const dialog = document.getElementById("edit-dialog");
  const form = document.getElementById("edit-form");
  document.getElementById("edit-dialog-title").textContent = `Rename ${passkey.name}`;
  document.getElementById("edit-fields").replaceChildren(nameField("edit", passkey.name));
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const name = form.querySelector("#edit-name").value.trim();
    if (name === passkey.name) return closeDialog(dialog);
    const res = await api("PATCH", path, { name });
    if (!res.ok) return showError(form, "edit", res.json?.error);
    await closed(dialog);
    await reload();
    announce(`Renamed to ${res.json.name}.`);
    focusRow(passkey.credentialId, "Rename", "data-credential-id");
  };
  openDialog(dialog, opener, form.querySelector("#edit-name"));
}
