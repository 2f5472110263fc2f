// Settings → Organization: who the signed-in key belongs to, and its plan's limits; an
// owner signed in with a passkey renames it here.
import { h, number, day, announce, whileDisabled } from "./dom.js";
import { api, session, fillTable, can } from "./api.js";

export const title = "Organization";

export async function render(main) {
  const org = session.organizationId ? await api("GET", `/v1/organizations/${session.organizationId}`) : null;
  const plan = session.plan;
  const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
  const planName = capital(plan.name);
  const limitsRow = (label, l) => h("tr", {}, h("th", { scope: "row" }, label),
    h("td", { "data-label": "Default rate limit" }, `${number.format(l.defaultRateLimit)}/h`),
    h("td", { "data-label": "Highest rate limit" }, `${number.format(l.maxRateLimit)}/h`),
    h("td", { "data-label": "Highest burst" }, number.format(l.maxBurst)),
    h("td", { "data-label": "Daily limit" }, l.dailyLimit ? `${number.format(l.dailyLimit)}/day` : "None"));
  const facts = org?.ok
    ? [["Name", org.json.name], ["Id", h("code", {}, org.json.id)], ["Plan", planName], ["Status", capital(org.json.status)], ["Created", day(org.json.createdAt)]]
    : [["Signed in with", "the operator's root key (every organization)"], ["Default plan", planName]];
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Organization"),
    h("h1", {}, "Organization"),
    h("p", { role: "status", id: "page-status" }),
    h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    org?.ok && session.personId && can("organization.change") && renameForm(main, org.json),
    h("h2", {}, `Limits of the ${planName} plan`),
    h("table", { class: "cards" },
      h("thead", {}, h("tr", {}, ["Keys", "Default rate limit", "Highest rate limit", "Highest burst", "Daily limit"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, limitsRow("Live keys", plan.live), limitsRow("Test keys", plan.test))),
    h("p", { class: "hint" }, "The plan is set by the operator. A key's rate limit may be anything up to the highest for its type."),
  );
  if (session.organizationId) return;
  // The operator sees every organization, each with a way to its audit log.
  const body = h("tbody");
  const columns = ["Name", "Id", "Plan", "Status", "Created", "Audit log"];
  main.append(
    h("section", { "aria-labelledby": "organizations-heading" },
      h("h2", { id: "organizations-heading" }, "Organizations"),
      h("table", { class: "cards" },
        h("caption", { class: "visually-hidden" }, "Every organization"),
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
        body)),
  );
  await fillTable(body, "/v1/organizations?limit=100", {
    columns: columns.length,
    failed: "Could not list the organizations.",
    empty: "No organization yet besides the default one.",
    row: (o) => h("tr", { "data-organization-id": o.id },
      h("td", { "data-label": "Name" }, o.name),
      h("td", { "data-label": "Id" }, h("code", {}, o.id)),
      h("td", { "data-label": "Plan" }, capital(o.plan)),
      h("td", { "data-label": "Status" }, capital(o.status)),
      h("td", { "data-label": "Created" }, day(o.createdAt)),
      h("td", { "data-label": "Audit log" },
        h("a", { href: `/dashboard/audit-log?organization=${encodeURIComponent(o.id)}` }, "Audit log", h("span", { class: "visually-hidden" }, ` of ${o.name}`)))),
  });
}

/** An owner renames the organization (plan and status are the operator's). */
function renameForm(main, org) {
  const input = h("input", { type: "text", id: "org-name", value: org.name, maxlength: 128, autocomplete: "off", "aria-describedby": "org-name-error" });
  const error = h("p", { class: "error", id: "org-name-error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Save name");
  const form = h("form", { class: "panel", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "org-name" }, "Organization name"), input, error), button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    const name = input.value.trim();
    if (name === org.name) return;
    const res = await whileDisabled(button, () => api("PATCH", `/v1/organizations/${encodeURIComponent(org.id)}`, { name }));
    if (!res.ok) {
      error.textContent = res.json?.error?.details ?? "Could not rename the organization.";
      input.setAttribute("aria-invalid", "true");
      return input.focus();
    }
    await render(main);
    announce(`The organization is now called ${res.json.name}.`);
  });
  return form;
}
