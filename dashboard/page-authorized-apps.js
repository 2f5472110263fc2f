// Settings → Authorized apps: the grants people of the organization gave apps, each
// revocable.
import { h, when, day, scopesText, announce } from "./dom.js";
import { api, fillTable } from "./api.js";
import { confirmAction } from "./dialogs.js";

export const title = "Authorized apps";

export async function render(main) {
  const tableBody = h("tbody");
  const columns = ["App", "Client ID", "Scopes", "Approved by", "Approved", "Status", "Actions"];
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, "Apps your organization authorized"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Authorized apps"),
    h("h1", {}, "Authorized apps"),
    h("p", { class: "lead" },
      "Apps that people of your organization allowed to act for it, and the scopes they approved. Revoking a grant stops its access and refresh tokens from the next request."),
    h("p", { role: "status", id: "page-status" }),
    h("section", { "aria-labelledby": "grants-heading" }, h("h2", { id: "grants-heading" }, "Grants"), table),
  );

  const load = () =>
    fillTable(tableBody, "/v1/oauth-authorizations?limit=100", {
      columns: columns.length,
      failed: "Could not list the authorized apps.",
      empty: "No app has been authorized yet.",
      row: (grant) => grantRow(grant, load),
    });
  await load();
}

function grantRow(grant, reload) {
  const active = grant.status === "active";
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  const status = h("span", {},
    h("span", { class: `status status-${grant.status}` }, active ? "Active" : "Revoked"),
    !active && grant.revokedAt ? ` ${day(grant.revokedAt)}` : null);
  const revoke = h("button", { type: "button", class: "link", onclick: (e) => revokeGrant(grant, e.currentTarget, reload) },
    "Revoke", h("span", { class: "visually-hidden" }, ` ${grant.clientName} (grant ${grant.grantId})`));
  return h("tr", { "data-grant-id": grant.grantId },
    cell("App", grant.clientName),
    cell("Client ID", h("code", { class: "nowrap" }, grant.clientId)),
    cell("Scopes", scopesText(grant.scopes)),
    cell("Approved by", approver(grant)),
    cell("Approved", when(grant.createdAt)),
    cell("Status", status),
    cell("Actions", active ? h("div", { class: "row-actions" }, revoke) : "—"),
  );
}

/** Who approved: a key by its id and mode; a person by name and email as on Members
 * (their id on hover), a removed one by the email the organization kept. The mode of a
 * person's grant is its app's. */
function approver(grant) {
  if (!grant.approvedBy?.startsWith("person_")) {
    return h("span", {}, h("code", {}, grant.approvedBy), grant.keyType ? ` (${grant.keyType} key)` : null);
  }
  const mode = grant.keyType ? `, ${grant.keyType} mode` : "";
  if (!grant.approverEmail) return h("span", {}, h("code", {}, grant.approvedBy), mode);
  const who = grant.approverName
    ? `${grant.approverName} (${grant.approverEmail})`
    : `${grant.approverEmail} (no longer a member)`;
  return h("span", {}, h("span", { class: "named", title: grant.approvedBy }, who), mode);
}

function revokeGrant(grant, opener, reload) {
  confirmAction({
    title: `Revoke ${grant.clientName}'s access?`,
    text: `${grant.clientName} can no longer act for your organization with this grant: its access and refresh tokens are refused from the next request. The app must ask a person to approve it again. This cannot be undone.`,
    action: "Revoke access",
    opener,
    run: () => api("DELETE", `/v1/oauth-authorizations/${encodeURIComponent(grant.grantId)}`),
    failure: "Could not revoke the grant.",
    done: async () => {
      await reload();
      announce(`${grant.clientName}'s grant was revoked.`);
      document.getElementById("main").focus();
    },
  });
}
