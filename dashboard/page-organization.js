// Settings → Organization: who the signed-in key belongs to, and its plan's limits.
import { h, number, day } from "./dom.js";
import { api, session } from "./api.js";

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
    h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("h2", {}, `Limits of the ${planName} plan`),
    h("table", { class: "cards" },
      h("thead", {}, h("tr", {}, ["Keys", "Default rate limit", "Highest rate limit", "Highest burst", "Daily limit"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, limitsRow("Live keys", plan.live), limitsRow("Test keys", plan.test))),
    h("p", { class: "hint" }, "The plan is set by the operator. A key's rate limit may be anything up to the highest for its type."),
  );
}
