// Dialogs: native modal <dialog> (the page behind is inert), focus kept inside and
// returned; the dialogs that show a secret once; the confirmation dialog.
import { whileDisabled } from "./dom.js";
import { clearErrors } from "./forms.js";

export function openDialog(dialog, opener, focus) {
  dialog.returnFocusTo = opener ?? document.activeElement;
  dialog.showModal();
  (focus ?? dialog.querySelector("input, button"))?.focus();
}
export function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}
/** Closes a dialog once its close event (which returns the focus) has run, so that what
 * the caller focuses next is not taken back by it. */
export function closed(dialog) {
  return new Promise((resolve) => {
    if (!dialog.open) return resolve();
    dialog.addEventListener("close", () => resolve(), { once: true });
    dialog.close();
  });
}
/** Wires every dialog of the page once: focus returned on close, Cancel buttons, Tab
 * kept inside, and the copy buttons of the dialogs that show a secret. */
export function wireDialogs() {
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
  wireRevealDialog("invite-dialog", [["invite-dialog-copy", "invite-dialog-value", "Link copied to the clipboard."]]);
  wireRevealDialog("secret-dialog", [
    ["secret-dialog-copy-id", "secret-dialog-client-id", "Client ID copied to the clipboard."],
    ["secret-dialog-copy", "secret-dialog-value", "Client secret copied to the clipboard."],
  ]);
  wireRevealDialog("webhook-secret-dialog", [
    ["webhook-secret-dialog-copy", "webhook-secret-dialog-value", "Signing secret copied to the clipboard."],
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

/** The confirmation dialog: the safe choice (Cancel) has the focus. */
export function confirmAction({ title, text, action, opener, run, failure, done }) {
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
