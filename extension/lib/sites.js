// Per-site switches: the sites where srllm stays off (a list in the settings) and the tabs
// paused for this browser session (chrome.storage.session). Both the selection check and the
// page scan ask siteBlock() before they touch a page; the answer is a failure the card shows.

// A hostname as the address bar has it: letters, digits, hyphens, dots; or an IPv4 address;
// or a bracketed IPv6 address.
const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

export const MAX_SITES = 500;

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

/** The list with `hostname` turned off (off=true) or back on (every entry that covers it goes). */
export function withSite(sites, hostname, off) {
  const list = Array.isArray(sites) ? sites : [];
  if (off) {
    const site = normalizeSite(hostname);
    return site ? parseSiteList([...list, site]).sites : [...list];
  }
  return list.filter((site) => matchingSite(hostname, [site]) === null);
}

/**
 * Whether srllm may act on a page: null when it may, else the failure the card shows
 * ({kind: "site_off" | "paused", title, message}). The tab's pause wins: it is the more recent
 * and the more specific choice.
 */
export function siteBlock({ hostname, sites, paused }) {
  if (paused) {
    return {
      kind: "paused",
      title: "srllm is paused on this tab",
      message:
        "You paused srllm on this tab. Resume it from the srllm toolbar button (untick \u201cPause on this tab\u201d).",
    };
  }
  const site = matchingSite(hostname, sites);
  if (site) {
    return {
      kind: "site_off",
      title: "srllm is off on this site",
      message: `You turned srllm off on ${site}. Turn it back on from the srllm toolbar button or in Options (Sites where srllm is off).`,
    };
  }
  return null;
}
