// The dashboard: Settings → API Keys, OAuth apps, Authorized apps, Webhooks, the
// organization, its members, a person's passkeys, its audit log, a key's usage. This
// module is the entry (app.html loads it) and the one router: a table of addresses to page
// modules. Each page module exports `render(main, ...params)` and, when the page has a
// fixed one, its `title`.
// Plain DOM, ES modules, no build step; every call goes to /dashboard/api/… (the
// management API as the session's key) with the session's CSRF token (api.js). No key or
// client secret is ever stored: a new one lives only in the dialog that shows it, and is
// erased when the dialog closes (dialogs.js).
import { h } from "./dom.js";
import { api, setSession } from "./api.js";
import { wireDialogs } from "./dialogs.js";
import * as keys from "./page-keys.js";
import * as usage from "./page-usage.js";
import * as oauthApps from "./page-oauth-apps.js";
import * as authorizedApps from "./page-authorized-apps.js";
import * as organization from "./page-organization.js";
import * as audit from "./page-audit.js";
import * as members from "./page-members.js";
import * as passkeys from "./page-passkeys.js";
import * as webhooks from "./page-webhooks.js";

/** Address (without trailing slashes) → the page, and the Settings link it is under
 * (`data-page`). Groups in `path` are the page's parameters, decoded. The first match
 * wins; anything else under /dashboard is API Keys. */
const ROUTES = [
  { path: /^\/dashboard\/keys\/([^/]+)\/usage$/, nav: "keys", page: usage },
  { path: /^\/dashboard\/oauth-apps$/, nav: "oauth-apps", page: oauthApps },
  { path: /^\/dashboard\/authorized-apps$/, nav: "authorized-apps", page: authorizedApps },
  { path: /^\/dashboard\/webhooks$/, nav: "webhooks", page: webhooks },
  { path: /^\/dashboard\/organization$/, nav: "organization", page: organization },
  { path: /^\/dashboard\/audit-log$/, nav: "audit", page: audit },
  { path: /^\/dashboard\/members$/, nav: "members", page: members },
  { path: /^\/dashboard\/passkeys$/, nav: "passkeys", page: passkeys },
];
const FALLBACK = { nav: "keys", page: keys };

/** The route for an address, with its parameters. */
function routeOf(pathname) {
  const path = pathname.replace(/\/+$/, "");
  for (const route of ROUTES) {
    const match = path.match(route.path);
    if (match) return { ...route, params: match.slice(1).map(decodeURIComponent) };
  }
  return { ...FALLBACK, params: [] };
}

async function start() {
  wireDialogs();
  const res = await api("GET", "/session");
  const main = document.getElementById("main");
  if (!res.ok) {
    main.replaceChildren(h("h1", {}, "API Keys"), h("p", { class: "error" }, res.json?.error?.details ?? "This key cannot use the dashboard."));
    return;
  }
  const session = res.json;
  if (session.personId) {
    // A person: both modes, bounded by their role (api.js `can`).
    session.keyType = "live";
  }
  setSession(session);
  // A person says who they are; the operator's root key belongs to no organization, so it
  // has no plan of its own.
  document.getElementById("who").textContent = session.personId
    ? `Signed in as ${session.name} (${session.email}, ${session.role})`
    : session.organizationId
      ? `Signed in with ${session.keyName ?? session.keyId} (${session.keyType} key, ${session.plan.name[0].toUpperCase()}${session.plan.name.slice(1)} plan)`
      : "Signed in as the operator (root key)";
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api("DELETE", "/session");
    location.assign("/dashboard");
  });
  // Members: only for a person whose role manages them (owners and admins).
  const membersNav = document.getElementById("members-nav");
  if (session.personId && session.permissions?.includes("members.manage")) membersNav.hidden = false;
  else membersNav.remove();
  // Passkeys: a person's own.
  const passkeysNav = document.getElementById("passkeys-nav");
  if (session.personId) passkeysNav.hidden = false;
  else passkeysNav.remove();
  const { nav, page, params } = routeOf(location.pathname);
  for (const link of document.querySelectorAll(".settings-nav a")) {
    if (link.dataset.page !== nav) continue;
    link.setAttribute("aria-current", "page");
    // On a phone the tabs scroll sideways: the current one is in view (again when the
    // window narrows). Only the tab bar scrolls, never the page.
    const bar = link.closest("ul");
    const reveal = () => {
      const tab = link.getBoundingClientRect();
      const box = bar.getBoundingClientRect();
      if (tab.right > box.right) bar.scrollLeft += tab.right - box.right + 16;
      else if (tab.left < box.left) bar.scrollLeft -= box.left - tab.left + 16;
    };
    reveal();
    window.addEventListener("resize", reveal);
  }
  if (page.title) document.title = `${page.title} · Scopien Gate`;
  await page.render(main, ...params);
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  start().catch((error) => {
    if (error.message !== "signed out") {
      document.getElementById("main").replaceChildren(h("p", { class: "error" }, "The dashboard could not load. Reload the page."));
    }
  });
});
