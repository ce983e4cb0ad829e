import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("manifest.json", root), "utf8"));

test("one manifest for Chrome and Firefox", () => {
  assert.equal(manifest.manifest_version, 3);
  assert.equal(manifest.background.service_worker, "background.js");
  assert.deepEqual(manifest.background.scripts, ["background.js"]);
  assert.ok(manifest.browser_specific_settings.gecko.id);
});

test("permissions: only what is used; hosts: loopback only", () => {
  assert.deepEqual([...manifest.permissions].sort(), [
    "activeTab",
    "contextMenus",
    "nativeMessaging",
    "scripting",
    "storage",
  ]);
  assert.deepEqual([...manifest.host_permissions].sort(), ["http://127.0.0.1/*", "http://localhost/*"]);
  assert.equal(manifest.content_scripts, undefined, "content scripts are injected on demand only");
  assert.equal(manifest.web_accessible_resources, undefined);
});

test("every file the manifest names exists", () => {
  const files = [
    manifest.background.service_worker,
    manifest.action.default_popup,
    manifest.options_ui.page,
    ...Object.values(manifest.icons),
    ...Object.values(manifest.action.default_icon),
    "card.js",
    "content.js",
    "welcome/welcome.html",
    "welcome/welcome.js",
  ];
  for (const file of files) assert.ok(existsSync(new URL(file, root)), file);
});

test("a keyboard shortcut and no remote code", () => {
  assert.ok(manifest.commands["check-selection"].suggested_key.default);
  assert.match(manifest.content_security_policy.extension_pages, /script-src 'self'/);
  for (const file of [
    "background.js",
    "content.js",
    "card.js",
    "popup/popup.html",
    "options/options.html",
    "welcome/welcome.html",
    "lib/native.js",
  ]) {
    const source = readFileSync(new URL(file, root), "utf8");
    assert.ok(
      !/https?:\/\/(?!127\.0\.0\.1|localhost)[a-z]/i.test(source.replace(/http:\/\/www\.w3\.org[^"]*/g, "")),
      `${file} names a remote URL`,
    );
  }
});

test("only background.js calls fetch", () => {
  for (const file of [
    "content.js",
    "card.js",
    "popup/popup.js",
    "options/options.js",
    "welcome/welcome.js",
  ]) {
    const source = readFileSync(new URL(file, root), "utf8");
    assert.ok(!/\bfetch\(|XMLHttpRequest|WebSocket|EventSource/.test(source), `${file} makes requests`);
  }
});

test("the public key fixes the Chrome extension ID the native host allows", async () => {
  const { createHash } = await import("node:crypto");
  const der = Buffer.from(manifest.key, "base64");
  const hex = createHash("sha256").update(der).digest("hex").slice(0, 32);
  const id = [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join("");
  const host = readFileSync(new URL("../srllm/native_host.py", root), "utf8");
  assert.match(host, new RegExp(`CHROME_EXTENSION_ID = "${id}"`));
  assert.match(host, new RegExp(`FIREFOX_EXTENSION_ID = "${manifest.browser_specific_settings.gecko.id}"`));
});
