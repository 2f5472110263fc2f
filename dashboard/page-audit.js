// Settings → Audit log: the organization's events, newest first, 50 at a time.
import { h, when } from "./dom.js";
import { api, session } from "./api.js";

export const title = "Audit log";

function actorText(actor) {
  if (!actor) return "—";
  if (actor.type === "key" || actor.keyId) return actor.keyId ?? "key";
  if (actor.type === "person") return actor.personId;
  return actor.type ?? JSON.stringify(actor);
}

export async function render(main) {
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const note = h("p", { class: "hint" });
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Audit log"),
    h("h1", {}, "Audit log"),
    h("p", { class: "lead" }, "Every change to your organization's keys, OAuth apps and grants, newest first."),
    h("table", { class: "cards" },
      h("caption", { class: "visually-hidden" }, "Audit events"),
      h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Target", "Changes"].map((c) => h("th", { scope: "col" }, c)))),
      body),
    note,
    more,
  );
  if (!session.organizationId) {
    body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "The root key belongs to no organization: read an organization's log over the API with organizationId.")));
    return;
  }
  let cursor = null;
  const load = async () => {
    const res = await api("GET", `/v1/audit-log?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (!res.ok) {
      note.textContent = res.json?.error?.details ?? "Could not read the audit log.";
      return;
    }
    for (const event of res.json.data) {
      // Each change is {before, after}; a field set for the first time (before null)
      // shows only its value. Why the gateway itself acted (a replayed token) follows.
      const changes = event.changes
        ? Object.entries(event.changes).map(([field, c]) => (c?.before === null || c?.before === undefined
          ? `${field}: ${JSON.stringify(c?.after ?? null)}`
          : `${field}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after ?? null)}`)).join("; ")
        : "—";
      const changeText = event.reason ? `${changes === "—" ? "" : `${changes}. `}${event.reason}` : changes;
      body.append(h("tr", {},
        h("td", { "data-label": "When" }, when(event.at)),
        h("td", { "data-label": "Who", class: "mono" }, actorText(event.actor)),
        h("td", { "data-label": "Action" }, event.action),
        h("td", { "data-label": "Target", class: "mono" }, event.target?.id ?? event.target?.keyId ?? "—"),
        h("td", { "data-label": "Changes", class: "changes" }, changeText)));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No events yet.")));
    cursor = res.json.nextCursor ?? null;
    more.hidden = !cursor;
  };
  more.addEventListener("click", load);
  await load();
}
