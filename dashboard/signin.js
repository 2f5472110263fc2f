// The sign-in page: sends the key once (form-encoded, same origin) and goes to the
// dashboard. The key is never stored: the server answers with an HttpOnly cookie.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signin");
  const input = document.getElementById("api-key");
  const error = document.getElementById("api-key-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    if (!input.value.trim()) {
      input.setAttribute("aria-invalid", "true");
      error.textContent = "Paste an admin API key.";
      input.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const res = await fetch("/dashboard/session", {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams({ api_key: input.value.trim() }),
        credentials: "same-origin",
        // The page sends no referrer; its own calls carry their Origin (checked by the worker).
        referrerPolicy: "same-origin",
      });
      if (res.ok) {
        input.value = "";
        // The address the person asked for, or the keys page.
        location.replace(location.pathname === "/dashboard" ? "/dashboard/keys" : location.pathname);
        return;
      }
      let message = "Sign-in failed.";
      try {
        const body = await res.json();
        message = res.status === 403 && body.error.code === "forbidden" && /admin/.test(body.error.details)
          ? "This key does not have the admin permission."
          : body.error.details || body.error.message;
      } catch {
        // Not JSON: keep the generic message.
      }
      input.setAttribute("aria-invalid", "true");
      error.textContent = message;
      input.focus();
    } catch {
      error.textContent = "The gateway could not be reached. Try again.";
    } finally {
      button.disabled = false;
    }
  });
});
