import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PAUSE_KEY,
  hostnameOf,
  matchingSite,
  normalizeSite,
  parseSiteList,
  siteBlock,
  withSite,
} from "../lib/sites.js";
import { DEFAULTS, SettingsError, migrateSettings, validateSettings } from "../lib/settings.js";

test("hostnameOf: web pages only, lowercased", () => {
  assert.equal(hostnameOf("https://News.Example.com/a?b#c"), "news.example.com");
  assert.equal(hostnameOf("http://127.0.0.1:8000/x"), "127.0.0.1");
  for (const other of ["chrome://extensions", "file:///tmp/a.html", "about:blank", "nonsense", undefined]) {
    assert.equal(hostnameOf(other), null, String(other));
  }
});

test("an entry names a site however it was typed", () => {
  assert.equal(normalizeSite("example.com"), "example.com");
  assert.equal(normalizeSite("  WWW.Example.com "), "example.com");
  assert.equal(normalizeSite("https://www.example.com/path?q=1"), "example.com");
  assert.equal(normalizeSite("*.example.com"), "example.com");
  assert.equal(normalizeSite("example.com:8080/x"), "example.com");
  assert.equal(normalizeSite("docs.example.com."), "docs.example.com");
  assert.equal(normalizeSite("127.0.0.1"), "127.0.0.1");
  for (const bad of ["", "   ", "exa mple.com", "-bad.com", "http://", "a..b", "ex_ample.com"]) {
    assert.equal(normalizeSite(bad), null, bad);
  }
});

test("the list from text or from storage: sorted, unique, bad entries reported", () => {
  assert.deepEqual(parseSiteList("b.com\nwww.a.com, a.com\n\n"), { sites: ["a.com", "b.com"], invalid: [] });
  assert.deepEqual(parseSiteList(["x.org", "not a site"]), { sites: ["x.org"], invalid: ["not a site"] });
  assert.deepEqual(parseSiteList(undefined), { sites: [], invalid: [] });
});

test("a listed site covers its subdomains, not look-alikes", () => {
  const sites = ["example.com"];
  assert.equal(matchingSite("example.com", sites), "example.com");
  assert.equal(matchingSite("news.example.com", sites), "example.com");
  assert.equal(matchingSite("badexample.com", sites), null);
  assert.equal(matchingSite("example.com.evil.net", sites), null);
  assert.equal(matchingSite(null, sites), null);
});

test("turning a site off and back on", () => {
  assert.deepEqual(withSite([], "www.example.com", true), ["example.com"]);
  assert.deepEqual(withSite(["b.org"], "a.org", true), ["a.org", "b.org"]);
  assert.deepEqual(withSite(["a.org"], "a.org", true), ["a.org"]);
  // Back on: every entry that covers the host goes, the others stay.
  assert.deepEqual(withSite(["example.com", "b.org"], "news.example.com", false), ["b.org"]);
  assert.deepEqual(withSite(["news.example.com"], "example.com", false), ["news.example.com"]);
});

test("siteBlock: the tab's pause, then the site list; a failure the card can show", () => {
  assert.equal(siteBlock({ hostname: "a.org", sites: [], paused: false }), null);
  const off = siteBlock({ hostname: "www.a.org", sites: ["a.org"], paused: false });
  assert.equal(off.kind, "site_off");
  assert.match(off.message, /a\.org/);
  assert.ok(off.title && off.message);
  assert.equal(siteBlock({ hostname: "a.org", sites: ["a.org"], paused: true }).kind, "paused");
  assert.equal(siteBlock({ hostname: null, sites: ["a.org"], paused: false }), null);
  assert.equal(PAUSE_KEY(7), "paused:7");
});

test("settings: the site list and check-as-I-type are validated and migrated", () => {
  const saved = validateSettings({ ...DEFAULTS, offSites: "www.a.org\nb.org", checkAsYouType: true });
  assert.deepEqual(saved.offSites, ["a.org", "b.org"]);
  assert.equal(saved.checkAsYouType, true);
  assert.throws(
    () => validateSettings({ ...DEFAULTS, offSites: "a.org\nnot a site" }),
    (e) => e instanceof SettingsError && e.field === "offSites" && /not a site/.test(e.message),
  );
  assert.equal(validateSettings({ ...DEFAULTS, checkAsYouType: "yes" }).checkAsYouType, false);
  // Older stored settings get the new keys off by default; a bad stored entry is dropped alone.
  const { version, serverUrl, token, categories, maxSelectionChars, timeoutSeconds } = DEFAULTS;
  const old = { version, serverUrl, token, categories: [...categories], maxSelectionChars, timeoutSeconds };
  const { settings, changed } = migrateSettings(old);
  assert.deepEqual(settings.offSites, []);
  assert.equal(settings.checkAsYouType, false);
  assert.equal(changed, true);
  assert.deepEqual(migrateSettings({ ...old, offSites: ["a.org", "??", 3] }).settings.offSites, ["a.org"]);
});
