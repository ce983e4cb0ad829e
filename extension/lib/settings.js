// Settings: typed defaults, validation and migration. Everything lives in
// chrome.storage.local under one key; nothing is cached in service-worker globals because the
// worker can be stopped at any moment.

import { MAX_SITES, SITE_MODES, parseSiteList } from "./sites.js";
import { MAX_ALLOW_TERMS, STRICTNESS, parseAllowList } from "./findings.js";
import { t } from "./i18n.js";

export const STORAGE_KEY = "settings";
export const SETTINGS_VERSION = 1;

// Mirrors CATEGORIES in srllm/contract.py (test/settings.test.mjs compares the two).
export const CATEGORIES = Object.freeze([
  "gender",
  "race_ethnicity",
  "religion",
  "age",
  "disability",
  "sexual_orientation_gender_identity",
  "nationality",
  "socioeconomic_status",
  "politics",
  "appearance",
  "health",
  "other_toxicity",
]);

export const DEFAULT_SERVER_URL = "http://127.0.0.1:8765";
// The server enforces its own limit too (GET /health limits.max_text_chars; 413 over it).
export const MAX_SELECTION_BOUNDS = Object.freeze({ min: 1, max: 20000 });
export const TIMEOUT_BOUNDS = Object.freeze({ min: 5, max: 600 });

export const DEFAULTS = Object.freeze({
  version: SETTINGS_VERSION,
  serverUrl: DEFAULT_SERVER_URL,
  token: "",
  categories: CATEGORIES,
  maxSelectionChars: 4000,
  timeoutSeconds: 120,
  // Where srllm runs: "everywhere" but offSites, or only on onSites ("listed"). Hostnames; a
  // parent domain covers its subdomains.
  siteMode: "everywhere",
  offSites: Object.freeze([]),
  onSites: Object.freeze([]),
  // After a page scan: rescan the edited sentences of a contenteditable after a pause.
  checkAsYouType: false,
  // How readily a sentence is called biased (the server maps it to a threshold).
  strictness: "conservative",
  // Terms the user accepts: sent with every check as `allow` (the server never flags them).
  allowTerms: Object.freeze([]),
});

export class SettingsError extends Error {
  name = "SettingsError";
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

// The extension may talk to the local server only; host_permissions say the same.
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost"]);

/** A canonical server URL (scheme, loopback host, optional port; no path), or SettingsError. */
export function normalizeServerUrl(value) {
  let url;
  try {
    url = new URL(String(value).trim());
  } catch {
    throw new SettingsError("serverUrl", t("settingsUrl", "expected a URL like $1", DEFAULT_SERVER_URL));
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SettingsError("serverUrl", t("settingsUrlScheme", "must start with http:// or https://"));
  }
  if (!LOOPBACK_HOSTS.has(url.hostname)) {
    throw new SettingsError(
      "serverUrl",
      t("settingsUrlLocal", "must be on this machine (127.0.0.1 or localhost)"),
    );
  }
  if (url.username || url.password || url.search || url.hash || url.pathname !== "/") {
    throw new SettingsError(
      "serverUrl",
      t("settingsUrlOrigin", "expected only scheme, host and port, like $1", DEFAULT_SERVER_URL),
    );
  }
  return url.origin;
}

function boundedInteger(field, value, { min, max }) {
  const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new SettingsError(field, t("settingsNumber", "expected a whole number from $1 to $2", min, max));
  }
  return number;
}

/**
 * Validate user input (the options form) into a complete settings object; throws
 * SettingsError naming the first bad field.
 */
export function validateSettings(input) {
  const categories = Array.isArray(input.categories) ? input.categories : [];
  const unknown = categories.filter((c) => !CATEGORIES.includes(c));
  if (unknown.length)
    throw new SettingsError("categories", t("settingsUnknown", "unknown $1", unknown.join(", ")));
  const token = typeof input.token === "string" ? input.token.trim() : "";
  if (/\s/.test(token)) throw new SettingsError("token", t("settingsTokenSpaces", "must not contain spaces"));
  return {
    version: SETTINGS_VERSION,
    serverUrl: normalizeServerUrl(input.serverUrl),
    token,
    categories: CATEGORIES.filter((c) => categories.includes(c)),
    maxSelectionChars: boundedInteger("maxSelectionChars", input.maxSelectionChars, MAX_SELECTION_BOUNDS),
    timeoutSeconds: boundedInteger("timeoutSeconds", input.timeoutSeconds, TIMEOUT_BOUNDS),
    siteMode: siteModeOf(input.siteMode),
    offSites: siteList("offSites", input.offSites),
    onSites: siteList("onSites", input.onSites),
    checkAsYouType: input.checkAsYouType === true,
    strictness: strictnessOf(input.strictness),
    allowTerms: allowList(input.allowTerms),
  };
}

function strictnessOf(value) {
  const name = value ?? DEFAULTS.strictness;
  if (!STRICTNESS.includes(name))
    throw new SettingsError("strictness", t("settingsOneOf", "expected one of $1", STRICTNESS.join(", ")));
  return name;
}

function allowList(value) {
  const { terms, invalid } = parseAllowList(value ?? []);
  if (invalid.length)
    throw new SettingsError(
      "allowTerms",
      t("settingsNotTerm", "not a term: $1", invalid.slice(0, 3).join(", ")),
    );
  if (terms.length > MAX_ALLOW_TERMS)
    throw new SettingsError("allowTerms", t("settingsTooManyTerms", "at most $1 terms", MAX_ALLOW_TERMS));
  return terms;
}

/** The categories the user turned off, as the server's `mute`. */
export function mutedCategories(settings) {
  const on = Array.isArray(settings?.categories) ? settings.categories : CATEGORIES;
  return CATEGORIES.filter((c) => !on.includes(c));
}

function siteList(field, value) {
  const { sites, invalid } = parseSiteList(value ?? []);
  if (invalid.length)
    throw new SettingsError(field, t("settingsNotSite", "not a site: $1", invalid.slice(0, 3).join(", ")));
  if (sites.length > MAX_SITES)
    throw new SettingsError(field, t("settingsTooManySites", "at most $1 sites", MAX_SITES));
  return sites;
}

function siteModeOf(value) {
  const mode = value ?? DEFAULTS.siteMode;
  if (!SITE_MODES.includes(mode))
    throw new SettingsError("siteMode", t("settingsOneOf", "expected one of $1", SITE_MODES.join(", ")));
  return mode;
}

// Each step takes the stored object of version N and returns one of version N+1; add a step
// here (and bump SETTINGS_VERSION) whenever a stored field is renamed or changes meaning.
// Version 1 is the first format, so there is no step yet.
export const MIGRATIONS = Object.freeze({});

/**
 * Stored value (anything, including undefined on first run) -> {settings, changed}.
 * Older versions are migrated step by step; each field that is missing or invalid falls back
 * to its default on its own, so one bad field never resets the others.
 */
export function migrateSettings(stored, migrations = MIGRATIONS, targetVersion = SETTINGS_VERSION) {
  let data = stored && typeof stored === "object" && !Array.isArray(stored) ? { ...stored } : {};
  // No version field: nothing was stored yet, or only single fields were written by hand.
  let version = Number.isInteger(data.version) ? data.version : targetVersion;
  while (version < targetVersion) {
    const step = migrations[version];
    if (typeof step !== "function") break; // unknown old format: repair field by field below
    data = step(data);
    version += 1;
  }
  const settings = { version: targetVersion };
  for (const field of Object.keys(DEFAULTS)) {
    if (field === "version") continue;
    try {
      settings[field] = validateSettings({ ...DEFAULTS, [field]: data[field] ?? DEFAULTS[field] })[field];
    } catch {
      settings[field] = DEFAULTS[field];
    }
  }
  // Categories the contract no longer has are dropped silently (validateSettings would refuse).
  if (Array.isArray(data.categories)) {
    settings.categories = CATEGORIES.filter((c) => data.categories.includes(c));
  }
  settings.categories = [...settings.categories];
  // An allow-list term that is not one is dropped, not the whole list.
  settings.allowTerms = Array.isArray(data.allowTerms)
    ? parseAllowList(data.allowTerms).terms.slice(0, MAX_ALLOW_TERMS)
    : [...settings.allowTerms];
  // Likewise, a site entry that is not one is dropped, not the whole list.
  for (const field of ["offSites", "onSites"]) {
    settings[field] = Array.isArray(data[field])
      ? parseSiteList(data[field]).sites.slice(0, MAX_SITES)
      : [...settings[field]];
  }
  const changed = JSON.stringify(settings) !== JSON.stringify(stored);
  return { settings, changed };
}

/** Whether a flag result should be shown as biased under the user's category choice. */
export function isFlagged(flag, enabledCategories) {
  if (!flag || !flag.biased) return false;
  const categories = Array.isArray(flag.categories) ? flag.categories : [];
  if (categories.length === 0) return true;
  return categories.some((c) => enabledCategories.includes(c));
}
