// The sign-up page (/dashboard/signup, when the gateway's SIGNUP is "open"): email, name
// and organization name, then "Create passkey"; the person then owns the new organization
// and is signed in. The server names the field it refuses (`error.field`).
import { signUp, supported } from "./passkey.js";

const INPUTS = { email: "signup-email", name: "signup-name", organizationName: "signup-org" };
const EMPTY = { email: "Enter your email.", name: "Enter your name.", organizationName: "Name your organization." };

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signup");
  const error = document.getElementById("signup-error");
  const button = form.querySelector("button");
  if (!supported()) {
    error.textContent = "This browser cannot create passkeys. Open this page in a current browser.";
    button.disabled = true;
  }
  const mark = (field, message) => {
    const input = document.getElementById(INPUTS[field]);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), "signup-error"].filter(Boolean).join(" "));
      input.focus();
    }
    error.textContent = message;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    for (const id of Object.values(INPUTS)) document.getElementById(id).removeAttribute("aria-invalid");
    const fields = Object.fromEntries(Object.entries(INPUTS).map(([field, id]) => [field, document.getElementById(id).value.trim()]));
    const missing = Object.keys(INPUTS).find((field) => !fields[field]);
    if (missing) {
      mark(missing, EMPTY[missing]);
      return;
    }
    button.disabled = true;
    try {
      await signUp(fields);
      location.replace("/dashboard/keys");
    } catch (e) {
      if (e.name === "NotAllowedError") mark(null, "The passkey was not created (cancelled or timed out).");
      else mark(e.field, e.message);
    } finally {
      button.disabled = false;
    }
  });
  document.body.dataset.ready = "true";
});
