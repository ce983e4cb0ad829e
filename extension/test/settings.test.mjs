import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  CATEGORIES,
  DEFAULTS,
  SETTINGS_VERSION,
  SettingsError,
  isFlagged,
  migrateSettings,
  normalizeServerUrl,
  validateSettings,
} from "../lib/settings.js";

test("categories mirror srllm/contract.py", () => {
  const contract = readFileSync(new URL("../../srllm/contract.py", import.meta.url), "utf8");
  const block = contract.match(/^CATEGORIES: tuple\[str, \.\.\.\] = \(([\s\S]*?)^\)/m);
  assert.ok(block, "CATEGORIES tuple found in contract.py");
  const names = [...block[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...CATEGORIES], names);
});

test("first run: defaults, marked as changed so they get stored", () => {
  const { settings, changed } = migrateSettings(undefined);
  assert.deepEqual(settings, { ...DEFAULTS, categories: [...CATEGORIES] });
  assert.equal(settings.serverUrl, "http://127.0.0.1:8765");
  assert.equal(changed, true);
});

test("current settings pass through unchanged", () => {
  const stored = { ...DEFAULTS, categories: ["gender", "age"], token: "abc", maxSelectionChars: 500 };
  const { settings, changed } = migrateSettings(stored);
  assert.deepEqual(settings, stored);
  assert.equal(changed, false);
});

test("a bad field falls back to its default without resetting the others", () => {
  const { settings } = migrateSettings({
    version: SETTINGS_VERSION,
    serverUrl: "http://example.com",
    token: "tok",
    maxSelectionChars: "lots",
    timeoutSeconds: 30,
  });
  assert.equal(settings.serverUrl, DEFAULTS.serverUrl);
  assert.equal(settings.maxSelectionChars, DEFAULTS.maxSelectionChars);
  assert.equal(settings.token, "tok");
  assert.equal(settings.timeoutSeconds, 30);
});

test("categories the contract dropped are removed, order follows the contract", () => {
  const { settings } = migrateSettings({ ...DEFAULTS, categories: ["age", "astrology", "gender"] });
  assert.deepEqual(settings.categories, ["gender", "age"]);
});

test("migration steps run in order up to the current version", () => {
  const migrations = {
    1: (old) => ({ ...old, version: 2, serverUrl: old.server, server: undefined }),
    2: (old) => ({ ...old, version: 3, token: old.apiKey }),
  };
  const { settings } = migrateSettings(
    { version: 1, server: "http://localhost:9000/", apiKey: "k" },
    migrations,
    3,
  );
  assert.equal(settings.version, 3);
  assert.equal(settings.serverUrl, "http://localhost:9000");
  assert.equal(settings.token, "k");
});

test("non-object storage is replaced by defaults", () => {
  for (const junk of [null, 42, "x", [1, 2]]) {
    assert.deepEqual(migrateSettings(junk).settings, { ...DEFAULTS, categories: [...CATEGORIES] });
  }
});

test("server URL: loopback only, canonical origin", () => {
  assert.equal(normalizeServerUrl(" http://127.0.0.1:8765/ "), "http://127.0.0.1:8765");
  assert.equal(normalizeServerUrl("http://localhost:9000"), "http://localhost:9000");
  for (const bad of [
    "http://example.com:8765",
    "ftp://127.0.0.1",
    "127.0.0.1:8765",
    "http://127.0.0.1:8765/v1",
    "http://u:p@127.0.0.1",
  ]) {
    assert.throws(() => normalizeServerUrl(bad), SettingsError, bad);
  }
});

test("validateSettings names the bad field", () => {
  const good = { ...DEFAULTS, maxSelectionChars: "300", timeoutSeconds: "60" };
  assert.equal(validateSettings(good).maxSelectionChars, 300);
  const cases = [
    [{ maxSelectionChars: 0 }, "maxSelectionChars"],
    [{ maxSelectionChars: 2.5 }, "maxSelectionChars"],
    [{ timeoutSeconds: 1 }, "timeoutSeconds"],
    [{ token: "a b" }, "token"],
    [{ categories: ["nope"] }, "categories"],
    [{ serverUrl: "http://10.0.0.1" }, "serverUrl"],
  ];
  for (const [patch, field] of cases) {
    assert.throws(
      () => validateSettings({ ...good, ...patch }),
      (e) => e instanceof SettingsError && e.field === field,
    );
  }
});

test("isFlagged respects the categories the user flags", () => {
  assert.equal(isFlagged({ biased: false, categories: [] }, CATEGORIES), false);
  assert.equal(isFlagged({ biased: true, categories: ["age"] }, ["age"]), true);
  assert.equal(isFlagged({ biased: true, categories: ["age"] }, ["gender"]), false);
  assert.equal(isFlagged({ biased: true, categories: [] }, []), true, "uncategorised bias is always shown");
});
