// The sign-in page: sends the key once (form-encoded, same origin) and goes to the
// dashboard. The key is never stored: the server answers with an HttpOnly cookie.
import { autofillSupported, signIn, supported } from "./passkey.js";

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
  const signedIn = () =>
    location.replace(next || (location.pathname === "/dashboard" || location.pathname === "/dashboard/signin" ? "/dashboard/keys" : location.pathname));
  const cancelled = (e) => e.name === "NotAllowedError" || e.name === "AbortError";
  if (!supported()) passkeyButton.disabled = true;

  // Conditional UI: where the browser has it, the passkeys for this site are offered in
  // the Email field's autofill list, and picking one signs in; no click needed. The wait
  // holds a challenge, so it is asked anew before the challenge expires; the button
  // ends it first (one WebAuthn request at a time). A refused passkey is not asked again
  // on its own: the message stays, and the button tries anew.
  let autofill; // the AbortController of the pending autofill request
  async function offerAutofill() {
    for (;;) {
      const controller = new AbortController();
      autofill = controller;
      let renewal;
      const renewAfter = (ms) => {
        renewal = setTimeout(() => controller.abort("renew"), Math.max(10_000, (ms ?? 300_000) - 30_000));
      };
      try {
        await signIn({ mediation: "conditional", signal: controller.signal, renewAfter });
        signedIn();
        return;
      } catch (e) {
        if (controller.signal.aborted && controller.signal.reason === "renew") continue;
        if (!controller.signal.aborted && !cancelled(e)) passkeyError.textContent = e.message;
        return;
      } finally {
        clearTimeout(renewal);
        if (autofill === controller) autofill = undefined;
      }
    }
  }
  document.getElementById("passkey-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    passkeyError.textContent = "";
    passkeyButton.disabled = true;
    const wasOffering = autofill !== undefined;
    autofill?.abort("button");
    try {
      await signIn();
      signedIn();
    } catch (e) {
      passkeyError.textContent = cancelled(e) ? "No passkey was used (cancelled or timed out)." : e.message;
      if (wasOffering) offerAutofill();
    } finally {
      passkeyButton.disabled = false;
    }
  });
  if (await autofillSupported()) {
    document.getElementById("passkey-autofill").hidden = false;
    offerAutofill();
  }

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
