// The sign-in page: sends the key once (form-encoded, same origin) and goes to the
// dashboard. The key is never stored: the server answers with an HttpOnly cookie.
import { signIn, supported } from "./passkey.js";

/** Where to go after signing in: an OAuth consent page that sent the person here
 * (`?next=/oauth/authorize?…`, nothing else, so this page redirects nowhere foreign). */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/oauth/authorize?") ? next : null;
}

document.addEventListener("DOMContentLoaded", async () => {
  const next = nextPage();
  if (next) {
    document.getElementById("signin-lead").textContent =
      "An app asks for access to your organization. Sign in to review its request.";
    // Already signed in (the cookie is SameSite=Strict, so a navigation from the app's
    // site arrives without it; this same-origin call carries it): go straight back.
    try {
      const res = await fetch("/dashboard/api/session", { credentials: "same-origin" });
      if (res.ok) {
        location.replace(next);
        return;
      }
    } catch {
      // Not reachable: the form stays.
    }
  }
  // "Create an account" only where the gateway lets anyone sign up.
  fetch("/dashboard/signup", { method: "HEAD", credentials: "same-origin" })
    .then((res) => {
      document.getElementById("signup-link").hidden = !res.ok;
    })
    .catch(() => {});
  const passkeyButton = document.getElementById("passkey-signin");
  const passkeyError = document.getElementById("passkey-error");
  if (!supported()) passkeyButton.disabled = true;
  passkeyButton.addEventListener("click", async () => {
    passkeyError.textContent = "";
    passkeyButton.disabled = true;
    try {
      await signIn();
      location.replace(next || (location.pathname === "/dashboard" || location.pathname === "/dashboard/signin" ? "/dashboard/keys" : location.pathname));
    } catch (e) {
      passkeyError.textContent = e.name === "NotAllowedError" ? "No passkey was used (cancelled or timed out)." : e.message;
    } finally {
      passkeyButton.disabled = false;
    }
  });
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
        location.replace(next || (location.pathname === "/dashboard" || location.pathname === "/dashboard/signin" ? "/dashboard/keys" : location.pathname));
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
