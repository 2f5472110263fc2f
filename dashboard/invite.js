// The invitation page (/dashboard/invite#<token>): shows whom the link invites, asks for
// a name, and creates a passkey; the person is then a member and signed in. The token
// stays in the fragment, which no request, log or Referer carries.
import { post, register, signIn, supported, failure } from "./passkey.js";

const ROLE_TEXT = {
  owner: "an owner",
  admin: "an admin",
  developer: "a developer",
  viewer: "a viewer",
};

/** Signed in: the link leaves the address bar and history, and the dashboard opens. */
function enter() {
  history.replaceState(null, "", "/dashboard/invite");
  location.replace("/dashboard/keys");
}

async function start() {
  const token = location.hash.slice(1);
  const lead = document.getElementById("invite-lead");
  const form = document.getElementById("invite");
  const error = document.getElementById("invite-error");
  const name = document.getElementById("invite-name");
  if (!token) {
    lead.textContent = "This invitation link is incomplete. Open the whole link you were sent.";
    return;
  }
  const res = await post("invitation", { token });
  if (!res.ok) {
    lead.textContent = failure(res, "This invitation cannot be used.");
    return;
  }
  const role = ROLE_TEXT[res.json.role] ?? res.json.role;
  // Already signed in as a person: join with this account, no new passkey.
  const session = await fetch("/dashboard/api/session", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  const recovery = res.json.recovery === true;
  if (session?.personId && !recovery) {
    lead.textContent = `You are signed in as ${session.name} (${session.email}). Join this organization as ${role}?`;
    const join = document.getElementById("join");
    const button = document.getElementById("join-button");
    join.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const joined = await fetch("/dashboard/api/person/join", {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": session.csrfToken },
        body: JSON.stringify({ token }),
        credentials: "same-origin",
        referrerPolicy: "same-origin",
      });
      if (joined.ok) {
        enter();
        return;
      }
      const body = await joined.json().catch(() => ({}));
      document.getElementById("join-error").textContent = body.error?.details ?? "This invitation could not be used.";
      button.disabled = false;
    });
    button.focus();
    document.body.dataset.ready = "true";
    return;
  }
  lead.textContent = recovery
    ? "This link adds a new passkey to your account, for when you have lost yours. Your other passkeys stay until you remove them on Settings → Passkeys."
    : `You are invited to join as ${role}. Create a passkey to accept.`;
  // Recovering an account keeps its name: there is none to give.
  name.closest(".field").hidden = recovery;
  document.getElementById("invite-email").value = res.json.email;
  form.hidden = false;
  if (!supported()) {
    error.textContent = "This browser cannot create passkeys. Open the link in a current browser.";
  }
  if (!recovery) name.focus();
  // A person who has a passkey here joins with it (the same account), signed out or not
  // a member anywhere any more.
  if (!recovery && supported()) {
    const section = document.getElementById("have-passkey");
    const join = document.getElementById("join-with-passkey");
    const joinError = document.getElementById("have-passkey-error");
    section.hidden = false;
    join.addEventListener("click", async () => {
      joinError.textContent = "";
      join.disabled = true;
      try {
        await signIn({ invitation: token });
        enter();
      } catch (e) {
        joinError.textContent = e.name === "NotAllowedError" ? "No passkey was used (cancelled or timed out)." : e.message;
      } finally {
        join.disabled = false;
      }
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    name.removeAttribute("aria-invalid");
    if (!recovery && !name.value.trim()) {
      name.setAttribute("aria-invalid", "true");
      error.textContent = "Enter your name.";
      name.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await register(token, name.value.trim());
      enter();
    } catch (e) {
      error.textContent = e.name === "NotAllowedError" ? "The passkey was not created (cancelled or timed out)." : e.message;
    } finally {
      button.disabled = false;
    }
  });
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch(() => {
    document.getElementById("invite-lead").textContent = "The gateway could not be reached. Reload the page.";
  });
});
