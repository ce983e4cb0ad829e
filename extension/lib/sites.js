// Per-site switches: where srllm runs (the mode: everywhere but the sites turned off, or only
// on the sites turned on; both lists are in the settings) and the tabs paused for this browser
// session (chrome.storage.session). The selection check, the page scan and check as I type ask
// siteBlock() before they touch a page; the answer is a failure the card shows.

import { t } from "./i18n.js";

// A hostname as the address bar has it: letters, digits, hyphens, dots; or an IPv4 address;
// or a bracketed IPv6 address.
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

export const MAX_SITES = 500;
// "everywhere": on except on the off-list (the default); "listed": only on the on-list.
export const SITE_MODES = Object.freeze(["everywhere", "listed"]);

/** The key of a tab's "pause on this tab" flag in chrome.storage.session. */
export const PAUSE_KEY = (tabId) => `paused:${tabId}`;

/** The hostname of a page URL (http, https, file: none), lowercased; null for anything else. */
export function hostnameOf(url) {
  let parsed;
  try {
    parsed = new URL(String(url));
  } catch {
    return null;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  return parsed.hostname.toLowerCase() || null;
}

/**
 * One entry of the list as typed: "example.com", "www.example.com", "https://example.com/a",
 * "*.example.com" all name a site; "www." is dropped so the entry covers the whole site.
 * Returns the hostname, or null when the entry is not one.
 */
export function normalizeSite(entry) {
  if (typeof entry !== "string") return null;
  let text = entry.trim().toLowerCase();
  if (!text) return null;
  if (text.startsWith("*.")) text = text.slice(2);
  const host = /^[a-z][a-z0-9+.-]*:\/\//.test(text) ? hostnameOf(text) : text.split(/[/?#]/, 1)[0];
  if (!host) return null;
  const bare = IPV6.test(host) ? host : host.replace(/:\d+$/, "").replace(/\.$/, "");
  if (!IPV6.test(bare) && !HOSTNAME.test(bare)) return null;
  return bare.startsWith("www.") && bare.length > 4 ? bare.slice(4) : bare;
}

/**
 * The site list from the settings (an array) or the options form (text, one site per line or
 * comma-separated): {sites, invalid}, sites sorted and without duplicates.
 */
export function parseSiteList(value) {
  const entries = Array.isArray(value) ? value : String(value ?? "").split(/[\n,]+/);
  const sites = new Set();
  const invalid = [];
  for (const entry of entries) {
    if (!String(entry ?? "").trim()) continue;
    const site = normalizeSite(entry);
    if (site) sites.add(site);
    else invalid.push(String(entry).trim());
  }
  return { sites: [...sites].sort(), invalid };
}

/** The listed site that covers `hostname` (the site itself or a parent domain), or null. */
export function matchingSite(hostname, sites) {
  const host = String(hostname ?? "").toLowerCase();
  if (!host || !Array.isArray(sites)) return null;
  for (const site of sites) {
    if (host === site || host.endsWith(`.${site}`)) return site;
  }
  return null;
}

/** The list with `hostname` added (add=true) or taken out (every entry that covers it goes). */
export function withSite(sites, hostname, add) {
  const list = Array.isArray(sites) ? sites : [];
  if (add) {
    const site = normalizeSite(hostname);
    return site ? parseSiteList([...list, site]).sites : [...list];
  }
  return list.filter((site) => matchingSite(hostname, [site]) === null);
}

/** Whether the site rule lets srllm run on `hostname` (null: a page that is not on a site). */
export function siteIsOn(hostname, { siteMode, offSites, onSites }) {
  if (siteMode === "listed") return matchingSite(hostname, onSites) !== null;
  return matchingSite(hostname, offSites) === null;
}

/**
 * The settings' lists with srllm turned on (on=true) or off for `hostname`, in the settings'
 * mode: {offSites, onSites}, the list the mode does not use unchanged.
 */
export function withSiteSwitch({ siteMode, offSites, onSites }, hostname, on) {
  if (siteMode === "listed") return { offSites, onSites: withSite(onSites, hostname, on) };
  return { offSites: withSite(offSites, hostname, !on), onSites };
}

/**
 * Whether srllm may act on a page: null when it may, else the failure the card shows
 * ({kind: "site_off" | "paused", title, message}). The tab's pause wins: it is the more recent
 * and the more specific choice. `settings` holds siteMode, offSites and onSites.
 */
export function siteBlock({ hostname, settings, paused }) {
  if (paused) {
    return {
      kind: "paused",
      title: t("sitePausedTitle", "srllm is paused on this tab"),
      message: t(
        "sitePausedMessage",
        "You paused srllm on this tab. Resume it from the srllm toolbar button (untick \u201cPause on this tab\u201d).",
      ),
    };
  }
  if (siteIsOn(hostname, settings)) return null;
  const title = t("siteOffTitle", "srllm is off on this site");
  if (settings.siteMode !== "listed") {
    const site = matchingSite(hostname, settings.offSites);
    return {
      kind: "site_off",
      title,
      message: t(
        "siteOffMessage",
        "You turned srllm off on $1. Turn it back on from the srllm toolbar button or in Options (Sites where srllm is off).",
        site,
      ),
    };
  }
  const message = hostname
    ? t(
        "siteNotListedMessage",
        "srllm runs only on the sites you chose, and $1 is not one of them. Turn it on for this site from the srllm toolbar button or in Options (Sites where srllm is on).",
        hostname,
      )
    : t(
        "siteNotListedPageMessage",
        "srllm runs only on the sites you chose in Options (Sites where srllm is on), and this page is not on a site.",
      );
  return { kind: "site_off", title, message };
}
