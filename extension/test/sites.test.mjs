import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PAUSE_KEY,
  hostnameOf,
  matchingSite,
  normalizeSite,
  parseSiteList,
  siteBlock,
  siteIsOn,
  withSite,
  withSiteSwitch,
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

test("a site added to a list and taken out of it", () => {
  assert.deepEqual(withSite([], "www.example.com", true), ["example.com"]);
  assert.deepEqual(withSite(["b.org"], "a.org", true), ["a.org", "b.org"]);
  assert.deepEqual(withSite(["a.org"], "a.org", true), ["a.org"]);
  // Taken out: every entry that covers the host goes, the others stay.
  assert.deepEqual(withSite(["example.com", "b.org"], "news.example.com", false), ["b.org"]);
  assert.deepEqual(withSite(["news.example.com"], "example.com", false), ["news.example.com"]);
});

const everywhere = (offSites, onSites = []) => ({ siteMode: "everywhere", offSites, onSites });
const listed = (onSites, offSites = []) => ({ siteMode: "listed", offSites, onSites });

test("siteIsOn: everywhere but the off-list, or only on the on-list", () => {
  assert.equal(siteIsOn("a.org", everywhere([])), true);
  assert.equal(siteIsOn("news.a.org", everywhere(["a.org"])), false);
  assert.equal(siteIsOn("b.org", everywhere(["a.org"], ["a.org"])), true, "the on-list is not used");
  assert.equal(siteIsOn("a.org", listed([])), false);
  assert.equal(siteIsOn("news.a.org", listed(["a.org"])), true);
  assert.equal(siteIsOn("b.org", listed(["a.org"], ["b.org"])), false);
  assert.equal(siteIsOn("a.org", listed(["a.org"], ["a.org"])), true, "the off-list is not used");
  // A page that is not on a site (file:, data:) is on everywhere, and never listed.
  assert.equal(siteIsOn(null, everywhere(["a.org"])), true);
  assert.equal(siteIsOn(null, listed(["a.org"])), false);
});

test("withSiteSwitch: the popup's switch changes the list of the mode in use, not the other", () => {
  assert.deepEqual(withSiteSwitch(everywhere([], ["x.org"]), "www.a.org", false), {
    offSites: ["a.org"],
    onSites: ["x.org"],
  });
  assert.deepEqual(withSiteSwitch(everywhere(["a.org"], ["x.org"]), "news.a.org", true), {
    offSites: [],
    onSites: ["x.org"],
  });
  assert.deepEqual(withSiteSwitch(listed([], ["x.org"]), "www.a.org", true), {
    offSites: ["x.org"],
    onSites: ["a.org"],
  });
  assert.deepEqual(withSiteSwitch(listed(["a.org", "b.org"], ["x.org"]), "a.org", false), {
    offSites: ["x.org"],
    onSites: ["b.org"],
  });
  // Switched the way it says, the rule agrees.
  for (const settings of [everywhere(["b.org"]), listed(["b.org"])]) {
    for (const on of [true, false]) {
      const after = { ...settings, ...withSiteSwitch(settings, "www.a.org", on) };
      assert.equal(siteIsOn("www.a.org", after), on, `${settings.siteMode} ${on}`);
      assert.equal(siteIsOn("b.org", after), siteIsOn("b.org", settings), "other sites stay");
    }
  }
});

test("siteBlock: the tab's pause, then the site rule; a failure the card can show", () => {
  assert.equal(siteBlock({ hostname: "a.org", settings: everywhere([]), paused: false }), null);
  const off = siteBlock({ hostname: "www.a.org", settings: everywhere(["a.org"]), paused: false });
  assert.equal(off.kind, "site_off");
  assert.equal(off.title, "srllm is off on this site");
  assert.match(off.message, /You turned srllm off on a\.org\./);
  assert.equal(
    siteBlock({ hostname: "a.org", settings: everywhere(["a.org"]), paused: true }).kind,
    "paused",
  );
  assert.equal(siteBlock({ hostname: null, settings: everywhere(["a.org"]), paused: false }), null);
  // Only listed sites: the same notice, which says how to turn the site on.
  const unlisted = siteBlock({ hostname: "b.org", settings: listed(["a.org"]), paused: false });
  assert.equal(unlisted.kind, "site_off");
  assert.equal(unlisted.title, "srllm is off on this site");
  assert.match(unlisted.message, /runs only on the sites you chose, and b\.org is not one of them/);
  assert.match(unlisted.message, /Sites where srllm is on/);
  assert.match(
    siteBlock({ hostname: null, settings: listed(["a.org"]), paused: false }).message,
    /not on a site/,
  );
  assert.equal(siteBlock({ hostname: "news.a.org", settings: listed(["a.org"]), paused: false }), null);
  assert.equal(siteBlock({ hostname: "a.org", settings: listed(["a.org"]), paused: true }).kind, "paused");
  assert.equal(PAUSE_KEY(7), "paused:7");
});

test("settings: the site mode, both lists and check-as-I-type are validated and migrated", () => {
  assert.equal(DEFAULTS.siteMode, "everywhere");
  const saved = validateSettings({
    ...DEFAULTS,
    siteMode: "listed",
    offSites: "www.a.org\nb.org",
    onSites: "c.org, https://www.d.org/x",
    checkAsYouType: true,
  });
  assert.equal(saved.siteMode, "listed");
  assert.deepEqual(saved.offSites, ["a.org", "b.org"]);
  assert.deepEqual(saved.onSites, ["c.org", "d.org"]);
  assert.equal(saved.checkAsYouType, true);
  for (const field of ["offSites", "onSites"]) {
    assert.throws(
      () => validateSettings({ ...DEFAULTS, [field]: "a.org\nnot a site" }),
      (e) => e instanceof SettingsError && e.field === field && /not a site/.test(e.message),
    );
  }
  assert.throws(
    () => validateSettings({ ...DEFAULTS, siteMode: "nowhere" }),
    (e) => e instanceof SettingsError && e.field === "siteMode",
  );
  assert.equal(validateSettings({ ...DEFAULTS, checkAsYouType: "yes" }).checkAsYouType, false);
  // Older stored settings get the new keys at their defaults (today's behaviour); a bad stored
  // entry or mode is dropped alone.
  const { version, serverUrl, token, categories, maxSelectionChars, timeoutSeconds } = DEFAULTS;
  const old = { version, serverUrl, token, categories: [...categories], maxSelectionChars, timeoutSeconds };
  const { settings, changed } = migrateSettings(old);
  assert.equal(settings.siteMode, "everywhere");
  assert.deepEqual(settings.offSites, []);
  assert.deepEqual(settings.onSites, []);
  assert.equal(settings.checkAsYouType, false);
  assert.equal(changed, true);
  const messy = migrateSettings({
    ...old,
    siteMode: 7,
    offSites: ["a.org", "??", 3],
    onSites: ["b.org", "?"],
  });
  assert.equal(messy.settings.siteMode, "everywhere");
  assert.deepEqual(messy.settings.offSites, ["a.org"]);
  assert.deepEqual(messy.settings.onSites, ["b.org"]);
  assert.equal(migrateSettings({ ...old, siteMode: "listed" }).settings.siteMode, "listed");
});
