// Settings → Audit log: the organization's history, newest first, 50 events at a time.
// Each event reads as a sentence: who (a key, app or organization by its name, the id on
// hover and under Details), what, and each change as "Permissions: Read → Read, Write".
import { h, when, number, scopesText } from "./dom.js";
import { api, session } from "./api.js";

export const title = "Audit log";

const DEFAULT_ORG = "org_000000000default";

/** Names by id (keys, apps, grants' apps, the organization), from the lists the session
 * may read and from the events themselves (a deleted app is named by its creation). */
const names = new Map();

async function learnNames() {
  const lists = [
    ["/v1/api-keys?limit=100", (k) => [k.id, k.name]],
    ["/v1/oauth-clients?limit=100", (c) => [c.clientId ?? c.id, c.name]],
    ["/v1/oauth-authorizations?limit=100", (g) => [g.grantId, g.clientName]],
  ];
  const answers = await Promise.all(lists.map(([path]) => api("GET", path)));
  answers.forEach((res, i) => {
    if (!res.ok) return;
    for (const item of res.json.data ?? []) {
      const [id, name] = lists[i][1](item);
      if (id && name) names.set(id, name);
    }
    for (const grant of i === 2 ? res.json.data ?? [] : []) if (grant.clientId) names.set(grant.clientId, grant.clientName);
  });
  if (session.organizationId) {
    const org = await api("GET", `/v1/organizations/${session.organizationId}`);
    if (org.ok) names.set(org.json.id, org.json.name);
  }
}

/** Names an event carries: a creation's or rename's `name`, a grant's app. */
function learnFromEvent(event) {
  const c = event.changes ?? {};
  const learn = (id, name) => { if (id && typeof name === "string" && !names.has(id)) names.set(id, name); };
  learn(event.target?.id, c.name?.after ?? c.name?.before);
  learn(c.clientId?.after, c.clientName?.after);
  learn(event.target?.id, c.clientName?.after);
}

/** A name, with its id on hover; the id itself when the name is unknown. */
function named(id, quoted = true) {
  const name = names.get(id);
  if (!name) return h("code", {}, id);
  return h("span", { class: "named", title: id }, quoted ? `“${name}”` : name);
}

function who(actor) {
  switch (actor?.type) {
    case "root":
      return "The operator (root key)";
    case "key":
      return h("span", {}, "Key ", named(actor.keyId));
    case "secret_scanning":
      return "GitHub secret scanning";
    case "app":
      return h("span", {}, "App ", named(actor.clientId));
    case "person":
      // A member removed since is no longer listed by name: their email still says who.
      return h("span", {}, "Member ", names.has(actor.personId) || !actor.email
        ? named(actor.personId)
        : h("span", { class: "named", title: actor.personId }, actor.email));
    default:
      return "—";
  }
}

/** What happened, as a sentence. */
function what(event) {
  const target = event.target?.id ? named(event.target.id) : "—";
  const sentence = (...parts) => h("span", {}, ...parts);
  switch (event.action) {
    case "api_key.created": return sentence("Created the key ", target);
    case "api_key.updated": return sentence("Changed the key ", target);
    case "api_key.rolled": return sentence("Rolled the key ", target, " (a new secret)");
    case "api_key.revoked": return sentence("Revoked the key ", target);
    case "api_key.leaked": return sentence("Revoked the key ", target, ": leaked in a public repository");
    case "oauth_client.created": return sentence("Registered the OAuth app ", target);
    case "oauth_client.updated": return sentence("Changed the OAuth app ", target);
    case "oauth_client.deleted": return sentence("Deleted the OAuth app ", target, " and revoked its grants");
    case "oauth_grant.created": return sentence("Authorized the app ", target, " to act for the organization");
    case "oauth_grant.revoked": return sentence("Revoked the access of the app ", target);
    case "webhook.created": return sentence("Added the webhook endpoint ", event.changes?.url?.after ?? target);
    case "webhook.updated": return sentence("Changed the webhook endpoint ", target);
    case "webhook.deleted": return sentence("Deleted the webhook endpoint ", target);
    case "webhook.secret_rotated": return sentence("Rotated the signing secret of the webhook endpoint ", target);
    case "organization.created": return sentence("Created the organization ", target);
    case "organization.updated": return sentence("Changed the organization ", target);
    case "member.recovery_link_sent": return sentence("Sent a recovery link to ", event.changes?.email?.after ?? "a member", " (it adds a passkey to their account)");
    case "member.invited": return sentence("Invited ", event.changes?.email?.after ?? "someone", " as ", event.changes?.role?.after ?? "a member");
    case "member.joined": return sentence("Joined the organization as ", event.changes?.role?.after ?? "a member");
    case "member.role_changed": return sentence("Changed the role of ", target, " from ", event.changes?.role?.before ?? "?", " to ", event.changes?.role?.after ?? "?");
    case "member.removed": return sentence("Removed ", target, " from the organization");
    case "passkey.added": return sentence("Added a passkey", event.changes?.name?.after ? ` (${event.changes.name.after})` : "");
    case "passkey.removed": return sentence("Removed a passkey", event.changes?.name?.before ? ` (${event.changes.name.before})` : "");
    default: return sentence(event.action, " ", target);
  }
}

const LABELS = {
  name: "Name", type: "Type", scopes: "Permissions", scope: "Scopes", rateLimit: "Rate limit", burst: "Burst",
  dailyLimit: "Daily limit", expiresAt: "Expires", status: "Status", plan: "Plan", redirectUris: "Redirect URIs",
  display: "Key", allowedIps: "Allowed IPs", keyType: "Mode", approvedBy: "Approved by", revokedAt: "Revoked",
  leakedAt: "Leaked",
};
/** Fields a change list leaves out: ids and times the row already says. */
const SKIP = new Set(["id", "organizationId", "createdAt", "lastUsedAt", "revokedAt", "leakedAt", "grantId", "clientId", "clientName", "scope", "revision"]);
/** What a creation lists: the choices a person made, not every default. */
const CREATED = new Set(["type", "scopes", "rateLimit", "expiresAt", "plan", "redirectUris", "keyType", "approvedBy"]);

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** A value as the pages show it. */
function shown(field, value) {
  if (value === null || value === undefined) return field === "expiresAt" ? "Never" : "none";
  switch (field) {
    case "scopes": return scopesText(value);
    case "rateLimit": return `${number.format(value)}/h`;
    case "dailyLimit": return `${number.format(value)}/day`;
    case "burst": return number.format(value);
    case "expiresAt": case "revokedAt": case "leakedAt": return when(value);
    case "approvedBy": return names.get(value) ?? value;
    default:
      if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
      if (typeof value === "string") return ["type", "status", "plan", "keyType"].includes(field) ? capital(value) : value;
      return JSON.stringify(value);
  }
}

/** The changes as lines: "Label: before → after", or "Label: value" for a creation. */
function changeLines(event) {
  const entries = Object.entries(event.changes ?? {});
  const creation = entries.length > 0 && entries.every(([, c]) => c?.before === null || c?.before === undefined);
  const lines = [];
  for (const [field, c] of entries) {
    if (SKIP.has(field) || (creation && !CREATED.has(field))) continue;
    if (field === "allowedIps" && creation) continue;
    // An app's or a grant's permissions are OAuth scopes (as their pages say).
    const label = field === "scopes" && event.target?.type !== "api_key" ? "Scopes" : LABELS[field] ?? field;
    lines.push(creation || c?.before === null || c?.before === undefined
      ? `${label}: ${shown(field, c?.after)}`
      : `${label}: ${shown(field, c.before)} → ${shown(field, c?.after)}`);
  }
  return lines;
}

/** Ids and where a leak was found, for who wants them. */
function detailRow(event) {
  const ids = [["Event", event.id]];
  if (event.actor?.keyId) ids.push(["Actor key", event.actor.keyId]);
  if (event.actor?.clientId) ids.push(["Actor app", event.actor.clientId]);
  if (event.actor?.grantId) ids.push(["Actor grant", event.actor.grantId]);
  if (event.target?.id) ids.push(["Target", event.target.id]);
  const clientId = event.changes?.clientId?.after;
  if (clientId && clientId !== event.target?.id) ids.push(["App", clientId]);
  return h("details", { class: "event-details" },
    h("summary", {}, "Details", h("span", { class: "visually-hidden" }, ` of event ${event.id}`)),
    h("dl", {}, ids.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, v))]),
      event.report?.url ? [h("dt", {}, "Found at"), h("dd", {}, h("a", { href: event.report.url, rel: "noreferrer" }, event.report.url))] : null,
      event.action ? [h("dt", {}, "Action"), h("dd", {}, h("code", {}, event.action))] : null));
}

export async function render(main) {
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const note = h("p", { class: "hint" });
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Audit log"),
    h("h1", {}, "Audit log"),
    h("p", { class: "lead" }, "Every change to your organization's keys, OAuth apps and grants, newest first."),
    h("table", { class: "cards audit" },
      h("caption", { class: "visually-hidden" }, "Audit events"),
      h("thead", {}, h("tr", {}, ["When", "Who", "What", "Changes"].map((c) => h("th", { scope: "col" }, c)))),
      body),
    note,
    more,
  );
  // The operator (the root key, of no organization) reads any organization's log: the
  // one the address names (?organization=org_…), else the default organization.
  const operator = !session.organizationId;
  let organizationId = session.organizationId;
  if (operator) {
    const orgs = await api("GET", "/v1/organizations?limit=100");
    const listed = orgs.ok ? orgs.json.data.filter((o) => o.id !== DEFAULT_ORG).map((o) => [o.id, o.name]) : [];
    const choices = [[DEFAULT_ORG, "Default organization"], ...listed];
    for (const [id, name] of choices) names.set(id, name);
    const asked = new URLSearchParams(location.search).get("organization");
    organizationId = choices.some(([id]) => id === asked) ? asked : DEFAULT_ORG;
    const select = h("select", { id: "audit-organization" },
      choices.map(([id, name]) => h("option", { value: id, selected: id === organizationId }, `${name} (${id})`)));
    select.addEventListener("change", () => {
      location.assign(`/dashboard/audit-log?organization=${encodeURIComponent(select.value)}`);
    });
    main.querySelector(".lead").replaceWith(
      h("p", { class: "lead" }, "Every change to an organization's keys, OAuth apps and grants, newest first."),
      h("div", { class: "field" }, h("label", { for: "audit-organization" }, "Organization"), select));
  }
  await learnNames();
  let cursor = null;
  const load = async () => {
    const scope = operator ? `&organizationId=${encodeURIComponent(organizationId)}` : "";
    const res = await api("GET", `/v1/audit-log?limit=50${scope}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (!res.ok) {
      note.textContent = res.json?.error?.details ?? "Could not read the audit log.";
      return;
    }
    // The lists' names are the current ones; an event names only what they do not.
    for (const event of res.json.data) learnFromEvent(event);
    for (const event of res.json.data) {
      const lines = changeLines(event);
      if (event.reason) lines.push(event.reason);
      body.append(h("tr", { "data-action": event.action, "data-event-id": event.id },
        h("td", { "data-label": "When" }, when(event.at)),
        h("td", { "data-label": "Who" }, who(event.actor)),
        h("td", { "data-label": "What" }, what(event)),
        // One block in the cell, so that on a phone (a card of label/value rows) the
        // Details stay beside their label, under the changes.
        h("td", { "data-label": "Changes", class: "changes" }, h("div", {},
          lines.length ? h("ul", { class: "change-list" }, lines.map((line) => h("li", {}, line))) : null,
          detailRow(event)))));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No events yet.")));
    cursor = res.json.nextCursor ?? null;
    more.hidden = !cursor;
  };
  more.addEventListener("click", load);
  await load();
}
