// Settings → Members (issue #22): who belongs to the organization and with which role;
// "Invite member" (the link is shown once, with "Copy"); change a role; "Remove" (with
// a confirmation); pending invitations, revocable. Only an owner or an admin sees it
// (`members.manage`); an admin cannot invite, change or remove an owner, and the last
// owner's controls are disabled with the reason. The API decides all of it again.
import { h, when, day, whileDisabled, focusRow, announce } from "./dom.js";
import { api, session } from "./api.js";
import { openDialog, confirmAction } from "./dialogs.js";
import { clearErrors } from "./forms.js";

export const title = "Members";

const ROLES = ["owner", "admin", "developer", "viewer"];
const ROLE_NAMES = { owner: "Owner", admin: "Admin", developer: "Developer", viewer: "Viewer" };
const ROLE_HINT =
  "Owner: everything, members included. Admin: every key, OAuth apps and the audit log. " +
  "Developer: test keys and live keys without Admin. Viewer: reads keys, usage and the audit log.";

/** The roles the signed-in person may give (and change or remove): an owner any, an
 * admin those below owner. */
const assignable = (role) => session.role === "owner" || role !== "owner";

/** Every member, page after page (an organization holds at most 1000). */
async function allMembers(path) {
  const members = [];
  let cursor = null;
  do {
    const res = await api("GET", cursor ? `${path}?limit=100&cursor=${encodeURIComponent(cursor)}` : `${path}?limit=100`);
    if (!res.ok) return { error: res.json?.error?.details ?? "Could not list the members." };
    members.push(...res.json.data);
    cursor = res.json.hasMore ? res.json.nextCursor : null;
  } while (cursor);
  return { members };
}

export async function render(main) {
  const org = session.organizationId;
  const base = `/v1/organizations/${encodeURIComponent(org)}`;
  if (!session.personId || !session.permissions?.includes("members.manage")) {
    main.replaceChildren(
      h("p", { class: "breadcrumb" }, "Settings → Members"),
      h("h1", {}, "Members"),
      h("p", {}, session.personId
        ? "Only an owner or an admin of the organization manages its members."
        : "Members are managed by the organization's owners and admins, signed in with their passkeys."),
    );
    return;
  }
  const membersBody = h("tbody");
  const invitationsBody = h("tbody");
  const email = h("input", { type: "email", id: "invite-email", autocomplete: "off", maxlength: 254, required: true, "aria-describedby": "invite-email-error" });
  const role = h("select", { id: "invite-role", "aria-describedby": "invite-role-hint invite-role-error" },
    ROLES.filter(assignable).map((r) => h("option", { value: r, selected: r === "developer" }, ROLE_NAMES[r])));
  const form = h("form", { id: "invite-form", class: "panel", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "invite-email" }, "Email"), email,
      h("p", { class: "hint" }, "Who the link is for. No email is sent: you send the link."),
      h("p", { class: "error", id: "invite-email-error", role: "alert" })),
    h("div", { class: "field" }, h("label", { for: "invite-role" }, "Role"), role,
      h("p", { class: "hint", id: "invite-role-hint" }, ROLE_HINT),
      h("p", { class: "error", id: "invite-role-error", role: "alert" })),
    h("p", { class: "error", id: "invite-form-error", role: "alert" }),
    h("button", { type: "submit", class: "primary" }, "Invite member"),
  );
  const memberColumns = ["Name", "Email", "Role", "Last sign-in", "Actions"];
  const inviteColumns = ["Email", "Role", "Expires", "Actions"];
  const table = (caption, columns, body) => h("table", { class: "cards members" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c === "Actions" ? "col-actions" : null }, c)))),
    body);
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Members"),
    h("h1", {}, "Members"),
    h("p", { role: "status", id: "page-status" }),
    h("section", { "aria-labelledby": "members-heading" }, h("h2", { id: "members-heading" }, "People in this organization"),
      table("The organization's members", memberColumns, membersBody)),
    h("section", { "aria-labelledby": "invite-heading" }, h("h2", { id: "invite-heading" }, "Invite member"), form),
    h("section", { "aria-labelledby": "invitations-heading" }, h("h2", { id: "invitations-heading" }, "Pending invitations"),
      table("Invitations not yet accepted", inviteColumns, invitationsBody)),
  );

  const note = (body, columns, cls, text) => body.replaceChildren(h("tr", {}, h("td", { colspan: columns, class: cls }, text)));
  const loadMembers = async () => {
    const { members, error } = await allMembers(`${base}/members`);
    if (error) return note(membersBody, memberColumns.length, "error", error);
    const owners = members.filter((m) => m.role === "owner").length;
    membersBody.replaceChildren(...members.map((m) => memberRow(m, owners, base, reload)));
  };
  const loadInvitations = async () => {
    const res = await api("GET", `${base}/invitations`);
    if (!res.ok) return note(invitationsBody, inviteColumns.length, "error", res.json?.error?.details ?? "Could not list the invitations.");
    if (!res.json.data.length) return note(invitationsBody, inviteColumns.length, "empty", "No pending invitations.");
    invitationsBody.replaceChildren(...res.json.data.map((i) => invitationRow(i, base, reload)));
  };
  const reload = () => Promise.all([loadMembers(), loadInvitations()]);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const address = email.value.trim();
    if (!address.includes("@")) {
      document.getElementById("invite-email-error").textContent = "Enter an email address, like name@example.com.";
      email.setAttribute("aria-invalid", "true");
      return email.focus();
    }
    const button = form.querySelector("button[type=submit]");
    const res = await whileDisabled(button, () => api("POST", `${base}/invitations`, { email: address, role: role.value }));
    if (!res.ok) {
      const error = res.json?.error;
      const target = error?.field === "email" ? "invite-email-error" : error?.field === "role" ? "invite-role-error" : "invite-form-error";
      document.getElementById(target).textContent = error?.details || error?.message || "Could not invite.";
      if (error?.field === "email") email.focus();
      return;
    }
    form.reset();
    role.value = "developer";
    await loadInvitations();
    revealLink(res.json, button);
  });
  await reload();
}

/** Shows an invitation's (or a recovery) link once, with "Copy". */
function revealLink(invitation, opener) {
  document.getElementById("invite-dialog-text").textContent = invitation.recovers
    ? `Send this link to ${invitation.email} yourself. It works once, until ${day(invitation.expiresAt)}, ` +
      "and only for them: it adds a passkey to their account and signs them in. It is shown only now."
    : `Send this link to ${invitation.email} yourself. It works once, until ${day(invitation.expiresAt)}: ` +
      `whoever opens it joins as ${article(invitation.role)} ${invitation.role}. It is shown only now.`;
  const value = document.getElementById("invite-dialog-value");
  value.value = invitation.url;
  openDialog(document.getElementById("invite-dialog"), opener, value);
  value.select();
}

const article = (role) => (/^[aeiou]/.test(role) ? "an" : "a");

function memberRow(member, owners, base, reload) {
  const path = `${base}/members/${encodeURIComponent(member.personId)}`;
  const you = member.personId === session.personId;
  const name = you ? `${member.name} (you)` : member.name;
  const hidden = (text) => h("span", { class: "visually-hidden" }, text);
  const lastOwner = member.role === "owner" && owners === 1;
  const reasonId = `member-${member.personId}-reason`;
  const reason = lastOwner
    ? "The last owner. Make another member an owner first."
    : !assignable(member.role)
      ? "Only an owner can change an owner."
      : null;
  const select = h("select", {
    "aria-label": `Role of ${member.name}`,
    disabled: Boolean(reason),
    "aria-describedby": reason ? reasonId : null,
  }, ROLES.filter((r) => r === member.role || assignable(r)).map((r) => h("option", { value: r, selected: r === member.role }, ROLE_NAMES[r])));
  select.addEventListener("change", async () => {
    const res = await api("PATCH", path, { role: select.value });
    if (!res.ok) {
      select.value = member.role;
      announce(res.json?.error?.details ?? "Could not change the role.");
      return;
    }
    announce(`${member.name} is now ${article(res.json.role)} ${res.json.role}.`);
    if (you) return location.reload();
    await reload();
    document.querySelector(`tr[data-person-id="${member.personId}"] select`)?.focus();
  });
  const remove = h("button", {
    type: "button",
    class: "link",
    disabled: Boolean(reason),
    "aria-describedby": reason ? reasonId : null,
    onclick: (event) => confirmAction({
      title: `Remove ${member.name}?`,
      text: `${member.name} (${member.email}) loses access to this organization at once: their next click signs them out. ` +
        "The keys they created stay; revoke them on API Keys if they should stop working.",
      action: "Remove member",
      opener: event.currentTarget,
      run: () => api("DELETE", path),
      failure: "Could not remove the member.",
      done: async (answer) => {
        if (you) return location.assign("/dashboard");
        const kept = answer?.keysCreated ?? [];
        announce(kept.length
          ? `${member.name} was removed. Keys they created still work: ${kept.map((k) => k.name).join(", ")}. Revoke them on API Keys if they should stop.`
          : `${member.name} was removed.`);
        await reload();
        document.getElementById("main").focus();
      },
    }),
  }, "Remove", hidden(` ${member.name}`));
  // A member who lost every passkey: only an owner sends the link (it is their account).
  const recovery = session.role === "owner" && !you && h("button", {
    type: "button",
    class: "link",
    onclick: async (event) => {
      const opener = event.currentTarget;
      const res = await whileDisabled(opener, () => api("POST", `${path}/recovery`));
      if (!res.ok) return announce(res.json?.error?.details ?? "Could not make a recovery link.");
      await reload();
      revealLink(res.json, opener);
    },
  }, "Recovery link", hidden(` for ${member.name}`));
  const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
  return h("tr", { "data-person-id": member.personId },
    cell("Name", name),
    cell("Email", member.email),
    cell("Role", select),
    cell("Last sign-in", member.lastSignInAt ? when(member.lastSignInAt) : "Never"),
    h("td", { "data-label": "Actions", class: "col-actions" },
      h("div", {}, h("div", { class: "row-actions" }, recovery || null, remove), reason && h("p", { class: "hint member-reason", id: reasonId }, reason))),
  );
}

function invitationRow(invitation, base, reload) {
  const allowed = assignable(invitation.role);
  const revoke = h("button", {
    type: "button",
    class: "link",
    disabled: !allowed,
    title: allowed ? null : "Only an owner can revoke an owner's invitation.",
    onclick: (event) => confirmAction({
      title: `Revoke the invitation for ${invitation.email}?`,
      text: "Its link will work for nobody. You can invite them again.",
      action: "Revoke invitation",
      opener: event.currentTarget,
      run: () => api("DELETE", `${base}/invitations/${encodeURIComponent(invitation.id)}`),
      failure: "Could not revoke the invitation.",
      done: async () => {
        announce(`The invitation for ${invitation.email} was revoked.`);
        await reload();
        focusRow(invitation.id, "Revoke", "data-invitation-id");
      },
    }),
  }, "Revoke", h("span", { class: "visually-hidden" }, ` the invitation for ${invitation.email}`));
  const cell = (label, ...content) => h("td", { "data-label": label }, ...content);
  return h("tr", { "data-invitation-id": invitation.id },
    cell("Email", invitation.email),
    cell("Role", invitation.recovers ? "Recovery link" : ROLE_NAMES[invitation.role] ?? invitation.role),
    cell("Expires", day(invitation.expiresAt)),
    h("td", { "data-label": "Actions", class: "col-actions" }, revoke),
  );
}
