// Forms: the fields the key and app forms share, and an API error shown beside the
// field it is about. A field's control, hint and error have ids `${prefix}-${control}`,
// `…-hint` and `…-error`; the form's own error line is `${prefix}-form-error`.
import { h, number, SCOPES, SCOPE_LABELS } from "./dom.js";
import { session } from "./api.js";

/** The control each request field is shown by: the API names the field of a 400 (and
 * of a 403 about the scopes asked for) in `error.field`, the JSON member as sent. The
 * form has no burst control: a burst error goes to Rate Limit. */
const CONTROL_OF_FIELD = {
  name: "name",
  type: "type",
  scopes: "permissions",
  rateLimit: "rate-limit",
  burst: "rate-limit",
  expiresAt: "expires",
  redirectUris: "redirect-uris",
  url: "url",
  events: "events",
  description: "description",
};

/** The control an API error is about; "form" for none (the form's own error line). */
function controlOf(error) {
  const field = error?.field;
  return typeof field === "string" && Object.hasOwn(CONTROL_OF_FIELD, field) ? CONTROL_OF_FIELD[field] : "form";
}

/** What a field is called on the page, by the API's name for it. */
const LABEL_OF_FIELD = {
  name: "Name",
  type: "Type",
  scopes: "Permissions",
  rateLimit: "Rate limit",
  burst: "Burst",
  expiresAt: "Expiry date",
  redirectUris: "Redirect URIs",
  url: "URL",
  events: "Events",
  description: "Description",
};

const SCOPE_WORD = { read: "Read", write: "Write", delete: "Delete", admin: "Admin" };
const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const count = (digits) => number.format(Number(digits));

/** The sentences a person reads for the API's errors about a field: `[field, pattern of
 * the details, the sentence from the match]`. The numbers (a ceiling, a length) come
 * from the API's details; a pattern that does not match leaves the API's own words. */
const SENTENCES = [
  ["rateLimit", /must be at most (\d+) \(the (\w+) plan's ceiling\)/, (m) => `Rate limit can be at most ${count(m[1])} on the ${capitalized(m[2])} plan.`],
  ["rateLimit", /must be at most (\d+) \(the limit for test keys\)/, (m) => `Rate limit can be at most ${count(m[1])} for test keys.`],
  ["rateLimit", /must be at most (\d+)/, (m) => `Rate limit can be at most ${count(m[1])}.`],
  ["rateLimit", /whole number of at least 1/, () => "Rate limit must be a whole number of requests per hour, 1 or more."],
  ["burst", /must be at most (\d+)/, (m) => `The burst this rate limit implies can be at most ${count(m[1])}; choose a lower rate limit.`],
  ["name", /^name is required|^name must be 1 to (\d+) characters|^name must be a string/, (m) => `Enter a name of 1 to ${m[1] ? count(m[1]) : "128"} characters.`],
  ["name", /^name must not contain/, () => "The name cannot contain control characters, direction marks or invisible characters."],
  ["type", /^type must be 'test' or 'live'/, () => "Choose Test or Live."],
  ["type", /test-mode admin key can create only test keys/, () => "A test admin key can create only test keys. Sign in with a live admin key to create a live key."],
  ["type", /^type must be 'confidential' or 'public'/, () => "Choose Confidential or Public."],
  ["scopes", /^scopes is required|must name at least one scope|^scopes must name at least one resource/, () => "Choose at least one permission."],
  ["scopes", /cannot grant '(\w+)' permission for (.+?):/, (m) => `You cannot grant ${SCOPE_WORD[m[1]] ?? m[1]}${m[2] === "every resource" ? "" : ` on ${m[2]}`}: a key can give only the permissions it holds itself.`],
  ["scopes", /apps cannot be given admin/, () => "An app cannot be given Admin; choose Read, Write or Delete."],
  ["scopes", /invalid resource name '([^']*)'/, (m) => `The resource “${m[1]}” can use only lower-case letters, digits and '-'.`],
  ["scopes", /may name at most (\d+) resources/, (m) => `Name at most ${count(m[1])} resources.`],
  ["expiresAt", /must be in the future/, () => "Choose an expiry date in the future, or Never."],
  ["expiresAt", /RFC 3339 timestamp|choose a date/, () => "Choose an expiry date, or Never."],
  ["redirectUris", /must list 1 to (\d+) URIs/, (m) => `List 1 to ${count(m[1])} redirect URIs, one per line.`],
  ["redirectUris", /^redirect URI '(.*)' must start with https:\/\//, (m) => `The redirect URI ${m[1]} must start with https://.`],
];

/** An API error in a person's words: the sentence for its field and details when there
 * is one; otherwise its details, with the API's name of the field they start with (when
 * it is the error's field) read as the page's label. */
export function personText(error) {
  const details = error?.details || error?.message || "Something went wrong.";
  const field = typeof error?.field === "string" ? error.field : null;
  if (!field) return details;
  for (const [name, pattern, sentence] of SENTENCES) {
    if (name !== field) continue;
    const match = details.match(pattern);
    if (match) return sentence(match);
  }
  const label = Object.hasOwn(LABEL_OF_FIELD, field) ? LABEL_OF_FIELD[field] : null;
  if (label && details.startsWith(`${field} `)) return label + details.slice(field.length);
  if (label && details.startsWith(`${field}: `)) return label + details.slice(field.length);
  const on = field === "scopes" && details.match(/^scopes\.([a-z0-9-]+) (.*)$/);
  if (on) return `Permissions on ${on[1]}: ${on[2]}`;
  return details;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".error")) p.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** Shows an API error (`{field, details, message}`) next to the field it concerns and
 * moves focus there. */
export function showError(form, prefix, error) {
  const control = controlOf(error);
  const target = form.querySelector(`#${prefix}-${control}-error`) ?? form.querySelector(`#${prefix}-form-error`);
  target.textContent = personText(error);
  const described = form.querySelector(`[aria-describedby~="${target.id}"]`);
  if (described) {
    described.setAttribute("aria-invalid", "true");
    described.focus();
  } else {
    target.closest("fieldset")?.querySelector("input")?.focus();
  }
}

/** The Permissions fieldset: Read/Write/Delete/Admin for every resource, or per resource.
 * `options`: the scopes offered, the legend, a hint under it, and what the per-resource
 * rows mean (an OAuth app's scopes use the same control without Admin). */
export function permissionsEditor(prefix, scopes = ["read"], options = {}) {
  const {
    offered = SCOPES,
    legend = "Permissions",
    hintText = null,
    perResourceText = "With any resource listed, the key holds only the permissions listed per resource.",
  } = options;
  const everywhere = Array.isArray(scopes) ? scopes : [];
  const perResource = Array.isArray(scopes) ? [] : Object.entries(scopes);
  const boxes = offered.map((scope) =>
    h("label", {}, h("input", { type: "checkbox", name: `${prefix}-scope`, value: scope, checked: everywhere.includes(scope) }), SCOPE_LABELS[scope]),
  );
  const rows = h("div", { class: "resource-rows" });
  const hint = h("p", { class: "hint", id: `${prefix}-resources-hint` },
    `Name a resource (the first path segment after /v1/, such as accounts) to give permissions on it only. ${perResourceText}`);
  let counter = 0;
  const sync = () => {
    const any = rows.children.length > 0;
    for (const label of boxes) label.querySelector("input").disabled = any;
  };
  const addRow = (resource = "", list = ["read"]) => {
    counter += 1;
    const id = `${prefix}-resource-${counter}`;
    const row = h("div", { class: "resource-row" },
      h("label", { for: id, class: "visually-hidden" }, `Resource ${counter}`),
      h("input", { type: "text", id, value: resource, placeholder: "resource, e.g. accounts", "data-resource": "", spellcheck: "false", autocomplete: "off" }),
      h("span", { class: "choices" }, offered.map((scope) =>
        h("label", {}, h("input", { type: "checkbox", value: scope, checked: list.includes(scope), "aria-label": `${SCOPE_LABELS[scope]} on resource ${counter}` }), SCOPE_LABELS[scope]))),
      h("button", { type: "button", class: "link", onclick: () => { row.remove(); sync(); } }, "Remove", h("span", { class: "visually-hidden" }, ` resource ${counter}`)),
    );
    rows.append(row);
    sync();
    row.querySelector("input[type=text]").focus();
  };
  for (const [resource, list] of perResource) addRow(resource, list);
  const details = h("details", { class: "resources", open: perResource.length > 0 },
    h("summary", {}, "Per-resource permissions"),
    hint,
    rows,
    h("button", { type: "button", onclick: () => addRow() }, "Add resource"),
  );
  const fieldset = h("fieldset", { "aria-describedby": [hintText && `${prefix}-permissions-hint`, `${prefix}-permissions-error`].filter(Boolean).join(" ") },
    h("legend", {}, legend),
    hintText && h("p", { class: "hint", id: `${prefix}-permissions-hint` }, hintText),
    h("div", { class: "choices" }, boxes),
    details,
    h("p", { class: "error", id: `${prefix}-permissions-error`, role: "alert" }),
  );
  fieldset.value = () => {
    const named = [...rows.querySelectorAll(".resource-row")]
      .map((row) => [row.querySelector("[data-resource]").value.trim(), [...row.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value)])
      .filter(([resource]) => resource);
    if (named.length) return Object.fromEntries(named);
    return [...fieldset.querySelectorAll(`input[name="${prefix}-scope"]:checked`)].map((c) => c.value);
  };
  return fieldset;
}

export function expiresEditor(prefix, expiresAt = null) {
  const dateId = `${prefix}-expires-date`;
  const date = h("input", { type: "date", id: dateId, value: expiresAt ? expiresAt.slice(0, 10) : "", disabled: !expiresAt, "aria-describedby": `${prefix}-expires-error` });
  const never = h("input", { type: "radio", name: `${prefix}-expires`, value: "never", checked: !expiresAt });
  const on = h("input", { type: "radio", name: `${prefix}-expires`, value: "on", checked: Boolean(expiresAt) });
  const toggle = () => { date.disabled = never.checked; if (on.checked) date.focus(); };
  never.addEventListener("change", toggle);
  on.addEventListener("change", toggle);
  const fieldset = h("fieldset", {},
    h("legend", {}, "Expires"),
    h("div", { class: "choices" },
      h("label", {}, never, "Never"),
      h("span", { class: "inline" }, h("label", {}, on, "On"), h("label", { for: dateId, class: "visually-hidden" }, "Expiry date"), date)),
    h("p", { class: "error", id: `${prefix}-expires-error`, role: "alert" }),
  );
  // The end of the chosen day, UTC; null for Never; undefined when no date was picked.
  fieldset.value = () => (never.checked ? null : date.value ? `${date.value}T23:59:59Z` : undefined);
  return fieldset;
}

/** The error of an expiry chosen as "On" with no date: shown at the Expires field. */
export const NO_EXPIRY_DATE = { field: "expiresAt", details: "Choose an expiry date, or Never." };

export function rateLimitField(prefix, value, keyType) {
  const id = `${prefix}-rate-limit`;
  const hint = h("p", { class: "hint", id: `${id}-hint` });
  const input = h("input", { type: "number", id, min: 1, step: 1, inputmode: "numeric", value: value ?? "", "aria-describedby": `${id}-hint ${prefix}-rate-limit-error` });
  const field = h("div", { class: "field" },
    h("label", { for: id }, "Rate Limit"),
    input,
    hint,
    h("p", { class: "error", id: `${prefix}-rate-limit-error`, role: "alert" }),
  );
  field.setType = (type) => {
    const limits = session.plan[type];
    const plan = `${session.plan.name[0].toUpperCase()}${session.plan.name.slice(1)} plan`;
    // The operator's root key has no plan of its own: its keys go to the default organization.
    const whose = session.organizationId ? `Your ${plan}` : `The default organization's ${plan}`;
    hint.textContent = `Requests per hour. ${whose} allows up to ${number.format(limits.maxRateLimit)} for ${type} keys (default ${number.format(limits.defaultRateLimit)}).`;
    input.placeholder = String(limits.defaultRateLimit);
  };
  field.setType(keyType);
  field.value = () => (input.value.trim() === "" ? undefined : Number(input.value));
  return field;
}

export function nameField(prefix, value = "") {
  const id = `${prefix}-name`;
  return h("div", { class: "field" },
    h("label", { for: id }, "Name"),
    h("input", { type: "text", id, value, maxlength: 128, autocomplete: "off", "aria-describedby": `${prefix}-name-error` }),
    h("p", { class: "error", id: `${prefix}-name-error`, role: "alert" }),
  );
}
