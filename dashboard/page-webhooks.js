// Settings → Webhooks: the organization's endpoints (a new one's signing secret shown
// once, and again only as a new secret after Rotate secret), Delete, and an endpoint's
// deliveries: each message's event, status, attempts and the last answer.
import { h, day, when, whileDisabled, announce } from "./dom.js";
import { api, can, fillTable } from "./api.js";
import { openDialog, closed, confirmAction } from "./dialogs.js";
import { clearErrors, showError } from "./forms.js";

export const title = "Webhooks";

/** The events the gateway sends today, in a person's words (docs/webhooks.md). */
const EVENTS = [
  ["api_key.created", "A key is created"],
  ["api_key.updated", "A key is changed"],
  ["api_key.revoked", "A key is revoked"],
  ["api_key.rolled", "A key is rolled"],
  ["api_key.leaked", "A key is reported leaked"],
  ["api_key.expiring", "A key expires in 7 days, or in 1 day"],
  ["api_key.expired", "A key expires"],
  ["rate_limit.exceeded", "A key reaches its hourly or daily limit"],
  ["organization.updated", "The organization changes"],
  ["oauth_grant.created", "An OAuth app is authorized"],
  ["oauth_grant.revoked", "An app's authorization is revoked"],
];
const EVENT_TEXT = Object.fromEntries(EVENTS);
const STATUS_TEXT = { pending: "Pending", delivered: "Delivered", failed: "Failed" };

function urlField(prefix) {
  const id = `${prefix}-url`;
  return h("div", { class: "field" },
    h("label", { for: id }, "URL"),
    h("input", { type: "url", id, required: true, spellcheck: "false", autocomplete: "off", autocapitalize: "off", "aria-describedby": `${id}-hint ${id}-error` }),
    h("p", { class: "hint", id: `${id}-hint` }, "Where the gateway posts each event: https:// to a public host. Every message is signed with the endpoint's secret (Standard Webhooks)."),
    h("p", { class: "error", id: `${id}-error`, role: "alert" }),
  );
}

function eventsField(prefix) {
  const id = `${prefix}-events`;
  return h("fieldset", { id, "aria-describedby": `${id}-error` },
    h("legend", {}, "Events"),
    h("div", { class: "choices" }, EVENTS.map(([name, text]) =>
      h("label", {}, h("input", { type: "checkbox", name: id, value: name, checked: name === "api_key.created" || name === "api_key.revoked" }), text))),
    h("p", { class: "error", id: `${id}-error`, role: "alert" }),
  );
}

function descriptionField(prefix) {
  const id = `${prefix}-description`;
  return h("div", { class: "field" },
    h("label", { for: id }, "Description (optional)"),
    h("input", { type: "text", id, maxLength: 256, autocomplete: "off", "aria-describedby": `${id}-error` }),
    h("p", { class: "error", id: `${id}-error`, role: "alert" }),
  );
}

export async function render(main) {
  if (!can("webhooks.manage")) {
    main.replaceChildren(
      h("p", { class: "breadcrumb" }, "Settings → Webhooks"),
      h("h1", {}, "Webhooks"),
      h("p", { class: "lead" }, "Only the organization's owners and admins manage its webhooks."),
    );
    return;
  }
  const add = h("button", { type: "button", class: "primary", id: "add-webhook" }, "Add endpoint");
  const tableBody = h("tbody");
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, "Your organization's webhook endpoints"),
    h("thead", {}, h("tr", {}, ["URL", "Events", "Description", "Created", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  const deliveries = h("section", { "aria-labelledby": "deliveries-heading", id: "deliveries", hidden: true });
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, "Settings → Webhooks"),
    h("h1", {}, "Webhooks"),
    h("p", { class: "lead" },
      "Endpoints the gateway tells when your keys or your organization change. Each message is signed; failed deliveries are retried for about 8 hours."),
    h("div", { class: "toolbar" }, add),
    h("p", { role: "status", id: "page-status" }),
    h("section", { "aria-labelledby": "webhooks-heading" }, h("h2", { id: "webhooks-heading" }, "Endpoints"), table),
    deliveries,
  );
  const load = () =>
    fillTable(tableBody, "/v1/auth/webhooks?limit=100", {
      columns: 5,
      failed: "Could not list the endpoints.",
      empty: "No endpoints yet.",
      row: (hook) => webhookRow(hook, load, deliveries),
    });
  add.addEventListener("click", () => addWebhook(add, load));
  await load();
}

function webhookRow(hook, reload, deliveries) {
  const label = (text) => [text, h("span", { class: "visually-hidden" }, ` ${hook.url}`)];
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  return h("tr", { "data-webhook-id": hook.id },
    cell("URL", h("code", {}, hook.url)),
    cell("Events", h("ul", { class: "uris" }, hook.events.map((e) => h("li", {}, EVENT_TEXT[e] ?? e)))),
    cell("Description", hook.description ?? "—"),
    cell("Created", day(hook.createdAt)),
    cell("Actions", h("div", { class: "row-actions" },
      h("button", { type: "button", class: "link", onclick: () => showDeliveries(hook, deliveries) }, label("Deliveries")),
      h("button", { type: "button", class: "link", onclick: (e) => rotateSecret(hook, e.currentTarget) }, label("Rotate secret")),
      h("button", { type: "button", class: "link", onclick: (e) => deleteWebhook(hook, e.currentTarget, reload, deliveries) }, label("Delete")))),
  );
}

function addWebhook(opener, reload) {
  const dialog = document.getElementById("webhook-dialog");
  const form = document.getElementById("webhook-form");
  const fields = document.getElementById("webhook-fields");
  fields.replaceChildren(urlField("webhook"), eventsField("webhook"), descriptionField("webhook"));
  clearErrors(form);
  form.onsubmit = async (event) => {
    event.preventDefault();
    clearErrors(form);
    const description = form.querySelector("#webhook-description").value.trim();
    const body = {
      url: form.querySelector("#webhook-url").value.trim(),
      events: [...form.querySelectorAll("input[name=webhook-events]:checked")].map((i) => i.value),
      ...(description ? { description } : {}),
    };
    const button = form.querySelector("button[type=submit]");
    const res = await whileDisabled(button, () => api("POST", "/v1/auth/webhooks", body));
    if (!res.ok) return showError(form, "webhook", res.json?.error);
    dialog.returnFocusTo = null;
    await closed(dialog);
    fields.replaceChildren();
    await reload();
    revealSecret(res.json, opener, `${res.json.url} is added`);
  };
  openDialog(dialog, opener, form.querySelector("#webhook-url"));
}

/** Shows an endpoint's signing secret, once. */
function revealSecret(hook, opener, heading) {
  document.getElementById("webhook-secret-dialog-title").textContent = heading;
  const value = document.getElementById("webhook-secret-dialog-value");
  value.value = hook.secret;
  openDialog(document.getElementById("webhook-secret-dialog"), opener, value);
  value.select();
}

function rotateSecret(hook, opener) {
  confirmAction({
    title: `Rotate the secret of ${hook.url}?`,
    text: "A new signing secret is made and shown once. The old one keeps signing beside it for 24 hours (each message then carries both signatures), so you can deploy the new one without losing a message.",
    action: "Rotate secret",
    opener,
    run: () => api("POST", `/v1/auth/webhooks/${encodeURIComponent(hook.id)}/rotate-secret`),
    failure: "Could not rotate the secret.",
    done: (rotated) => revealSecret(rotated, opener, `The new secret of ${hook.url}`),
  });
}

function deleteWebhook(hook, opener, reload, deliveries) {
  confirmAction({
    title: `Delete ${hook.url}?`,
    text: "The endpoint gets no more events, and messages still waiting to be delivered to it are dropped. This cannot be undone.",
    action: "Delete endpoint",
    opener,
    run: () => api("DELETE", `/v1/auth/webhooks/${encodeURIComponent(hook.id)}`),
    failure: "Could not delete the endpoint.",
    done: async () => {
      if (deliveries.dataset.webhookId === hook.id) deliveries.hidden = true;
      await reload();
      announce(`${hook.url} was deleted.`);
      document.getElementById("add-webhook")?.focus();
    },
  });
}

async function showDeliveries(hook, section) {
  const tableBody = h("tbody");
  const table = h("table", { class: "cards" },
    h("caption", { class: "visually-hidden" }, `Deliveries to ${hook.url}, newest first`),
    h("thead", {}, h("tr", {}, ["Event", "Status", "Attempts", "Last answer", "Last attempt", "Message ID"].map((c) => h("th", { scope: "col" }, c)))),
    tableBody,
  );
  const heading = h("h2", { id: "deliveries-heading", tabindex: "-1" }, `Deliveries to ${hook.url}`);
  section.dataset.webhookId = hook.id;
  section.replaceChildren(heading, table);
  section.hidden = false;
  await fillTable(tableBody, `/v1/auth/webhooks/${encodeURIComponent(hook.id)}/deliveries`, {
    columns: 6,
    failed: "Could not list the deliveries.",
    empty: "No events sent to it yet.",
    row: deliveryRow,
  });
  heading.focus();
}

function deliveryRow(delivery) {
  const cell = (labelText, ...content) => h("td", { "data-label": labelText }, ...content);
  const answer = delivery.lastStatusCode ?? (delivery.attempts ? "No answer" : "—");
  return h("tr", { "data-delivery-id": delivery.id },
    cell("Event", EVENT_TEXT[delivery.event] ?? delivery.event),
    cell("Status", h("span", { class: `status status-${delivery.status}` }, STATUS_TEXT[delivery.status] ?? delivery.status)),
    cell("Attempts", String(delivery.attempts)),
    cell("Last answer", String(answer)),
    cell("Last attempt", when(delivery.lastAttemptAt)),
    cell("Message ID", h("code", { class: "nowrap" }, delivery.id)),
  );
}
