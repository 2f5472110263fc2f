// A key's usage (/dashboard/keys/{id}/usage): its totals, and its admitted and refused
// requests per hour and per day as SVG bar charts with the numbers in a table.
import { h, s, number, when } from "./dom.js";
import { api } from "./api.js";

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
/** A count as an axis shows it: 1,500 as 1.5K, short enough for the margin at a phone's
 * larger type. */
const tickLabel = (n) => (n >= 1_000 ? compact.format(n) : number.format(n));

/** The y-axis for counts up to `max`: 3 to 6 distinct whole ticks from 0, a round step
 * apart (1, 2 or 5 times a power of ten), the top one at or above `max`. The scale never
 * goes under 4, so one request is not a full-height bar and no traffic still has ticks. */
export function yTicks(max) {
  const target = Math.max(4, max);
  const raw = target / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw);
  const whole = Math.max(1, Math.round(step));
  const top = Math.ceil(target / whole) * whole;
  const ticks = [];
  for (let n = 0; n <= top; n += whole) ticks.push(n);
  return ticks;
}

/** A bar chart of admitted and refused requests per bucket, drawn as SVG. */
function chart(title, buckets, labelOf, tickEvery) {
  const width = 720;
  const height = 220;
  const pad = { left: 60, right: 8, top: 14, bottom: 34 };
  const ticks = yTicks(Math.max(0, ...buckets.map((b) => b.admitted + b.refused)));
  const max = ticks[ticks.length - 1];
  const step = (width - pad.left - pad.right) / Math.max(1, buckets.length);
  const y = (n) => pad.top + (height - pad.top - pad.bottom) * (1 - n / max);
  const admitted = buckets.reduce((sum, b) => sum + b.admitted, 0);
  const refused = buckets.reduce((sum, b) => sum + b.refused, 0);
  const none = admitted + refused === 0;
  const id = title.toLowerCase().replace(/\W+/g, "-");
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-labelledby": `${id}-title ${id}-desc` },
    s("title", { id: `${id}-title` }, title),
    s("desc", { id: `${id}-desc` }, none ? "No requests yet." : `${number.format(admitted)} admitted and ${number.format(refused)} refused requests.`),
  );
  for (const n of ticks) {
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(n), y2: y(n), class: "axis" }));
    svg.append(s("text", { x: pad.left - 6, y: y(n) + 4, "text-anchor": "end", class: "tick" }, tickLabel(n)));
  }
  if (none) {
    svg.append(s("text", { x: pad.left + (width - pad.left - pad.right) / 2, y: (pad.top + height - pad.bottom) / 2, "text-anchor": "middle", class: "empty-note" }, "No requests yet"));
  }
  buckets.forEach((b, i) => {
    const x = pad.left + i * step + step * 0.1;
    const w = Math.max(1, step * 0.8);
    if (b.admitted) svg.append(s("rect", { x, width: w, y: y(b.admitted), height: y(0) - y(b.admitted), class: "admitted" }));
    if (b.refused) svg.append(s("rect", { x, width: w, y: y(b.admitted + b.refused), height: y(b.admitted) - y(b.admitted + b.refused), class: "refused" }));
    // A label every `tickEvery` buckets, counted back from the newest (always labelled,
    // right-aligned so it is never cut); every other one is hidden on narrow screens.
    const fromEnd = buckets.length - 1 - i;
    if (fromEnd % tickEvery === 0) {
      const last = fromEnd === 0;
      svg.append(s("text", {
        x: last ? x + w : x + w / 2,
        y: height - 6,
        "text-anchor": last ? "end" : "middle",
        class: (fromEnd / tickEvery) % 2 === 1 ? "minor" : "major",
      }, labelOf(b)));
    }
  });
  const rows = buckets.filter((b) => b.admitted || b.refused);
  return h("section", { "aria-labelledby": `${id}-heading` },
    h("h2", { id: `${id}-heading` }, title),
    h("ul", { class: "legend" },
      h("li", {}, h("span", { class: "swatch admitted", "aria-hidden": "true" }), `Admitted (${number.format(admitted)})`),
      h("li", {}, h("span", { class: "swatch refused", "aria-hidden": "true" }), `Refused: 403 and 429 (${number.format(refused)})`)),
    svg,
    h("details", {},
      h("summary", {}, `${title}: the numbers`),
      rows.length
        ? h("table", {}, h("thead", {}, h("tr", {}, ["From", "Admitted", "Forbidden (403)", "Rate limited (429)"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, rows.map((b) => h("tr", {}, h("td", {}, when(b.start)), h("td", {}, b.admitted), h("td", {}, b.forbidden), h("td", {}, b.rateLimited)))))
        : h("p", { class: "empty" }, "No requests in this period.")),
  );
}

/** The usage of the key `id` (the route's one parameter, decoded). */
export async function render(main, id) {
  const [keyRes, usageRes] = await Promise.all([
    api("GET", `/v1/api-keys/${encodeURIComponent(id)}`),
    api("GET", `/v1/api-keys/${encodeURIComponent(id)}/usage`),
  ]);
  if (!keyRes.ok || !usageRes.ok) {
    main.replaceChildren(h("h1", {}, "Usage"), h("p", { class: "error" }, (keyRes.json ?? usageRes.json)?.error?.details ?? "No such key."));
    return;
  }
  const key = keyRes.json;
  const usage = usageRes.json;
  const norm = (b) => ({ ...b, refused: b.forbidden + b.rateLimited });
  const hourly = (usage.hourly ?? []).map(norm);
  const daily = (usage.daily ?? []).map(norm);
  const hourLabel = (b) => new Date(b.start).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  const dayLabel = (b) => new Date(b.start).toLocaleDateString("en", { month: "short", day: "numeric" });
  document.title = `Usage of ${key.name} · Scopien Gate`;
  main.replaceChildren(
    h("p", { class: "breadcrumb" }, h("a", { href: "/dashboard/keys" }, "API Keys"), " → Usage"),
    h("h1", {}, `Usage: ${key.name}`),
    h("p", { class: "lead mono" }, key.display),
    h("ul", { class: "totals" },
      h("li", {}, "This hour", h("strong", {}, `${number.format(usage.hour.used)} / ${number.format(usage.hour.limit)}`)),
      usage.day && h("li", {}, "Today", h("strong", {}, `${number.format(usage.day.used)} / ${number.format(usage.day.limit)}`)),
      h("li", {}, "Admitted since created", h("strong", {}, number.format(usage.total))),
      h("li", {}, "Last used", h("strong", {}, usage.lastUsedAt ? when(usage.lastUsedAt) : "Never"))),
    chart("Requests per hour, last 48 hours", hourly, hourLabel, 6),
    chart("Requests per day, last 90 days", daily, dayLabel, 15),
  );
}
