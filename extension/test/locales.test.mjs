// The messages and their uses agree: every key the code or a page uses is in
// _locales/en/messages.json with the same English as the fallback written at the use, every
// message is used somewhere, and the pages show no text that is not a message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ROOT,
  englishOf,
  manifestKeys,
  pageUses,
  readMessages,
  scriptUses,
  sourceFiles,
} from "./locale-usage.mjs";
import { fallbackOf, localize } from "../lib/i18n.js";

const messages = readMessages();
const pages = sourceFiles(".html").map(pageUses);
const uses = [...scriptUses(), ...pages.flatMap((page) => page.uses)];

test("every t() call and data-i18n names a message with the same English", () => {
  assert.ok(uses.length > 150, `the strings go through t() and data-i18n (${uses.length} uses)`);
  for (const { file, key, fallback } of uses) {
    assert.ok(Object.hasOwn(messages, key), `${file}: ${key} is not in messages.json`);
    assert.equal(typeof fallback, "string", `${file}: t("${key}", ...) needs its English as a literal`);
    assert.equal(englishOf(messages[key]), fallback, `${file}: ${key}`);
  }
});

test("every message is used: by the code, a page or the manifest", () => {
  const used = new Set([...uses.map((use) => use.key), ...manifestKeys()]);
  const dead = Object.keys(messages).filter((key) => !used.has(key));
  assert.deepEqual(dead, [], "messages nothing uses");
  for (const key of manifestKeys()) assert.ok(Object.hasOwn(messages, key), `manifest: ${key}`);
  const manifest = JSON.parse(readFileSync(join(ROOT, "manifest.json"), "utf8"));
  assert.equal(manifest.default_locale, "en");
});

test("placeholders: every $PN$ of a message is defined as $N, and only those", () => {
  for (const [key, entry] of Object.entries(messages)) {
    const named = [...entry.message.matchAll(/\$(\w+)\$/g)].map((m) => m[1].toLowerCase());
    const defined = Object.keys(entry.placeholders ?? {});
    assert.deepEqual([...new Set(named)].sort(), defined.sort(), key);
    for (const [name, { content }] of Object.entries(entry.placeholders ?? {}))
      assert.equal(content, `$${name.slice(1)}`, `${key}: ${name}`);
  }
});

test("the pages show no text outside a message (commands, keys and the name aside)", () => {
  for (const [i, page] of pages.entries()) assert.deepEqual(page.loose, [], sourceFiles(".html")[i]);
});

// ---- localize(): a page's element keeps its child elements where its message puts them ----

class Node {
  constructor(nodeType, name, text = "") {
    this.nodeType = nodeType;
    this.name = name;
    this.data = text;
    this.childNodes = [];
    this.attributes = new Map();
    this.dataset = {};
  }
  get children() {
    return this.childNodes.filter((node) => node.nodeType === 1);
  }
  get textContent() {
    return this.nodeType === 3 ? this.data : this.childNodes.map((node) => node.textContent).join("");
  }
  replaceChildren(...nodes) {
    this.childNodes = nodes.map((node) => (typeof node === "string" ? new Node(3, "#text", node) : node));
  }
  getAttribute(name) {
    return this.attributes.get(name) ?? null;
  }
  setAttribute(name, value) {
    this.attributes.set(name, value);
  }
}

function element(name, children = [], data = {}) {
  const node = new Node(1, name);
  node.childNodes = children.map((child) =>
    typeof child === "string" ? new Node(3, "#text", child) : child,
  );
  Object.assign(node.dataset, data);
  return node;
}

function page(...elements) {
  return {
    querySelectorAll: (selector) =>
      selector === "[data-i18n]"
        ? elements.filter((e) => e.dataset.i18n)
        : elements.filter((e) => e.dataset.i18nAriaLabel),
  };
}

test("localize: the message's text around the element's own child elements, moved, not re-made", () => {
  const code = element("code", ["srllm serve"]);
  const help = element("p", ["\n  Run ", code, " (keep it\n  running).  "], { i18n: "x" });
  assert.equal(fallbackOf(help), "Run $1 (keep it running).");
  // No chrome.i18n (as here): the English, white space collapsed, the <code> in its place.
  localize(page(help));
  assert.equal(help.textContent, "Run srllm serve (keep it running).");
  assert.equal(help.childNodes[1], code);
  // A translation may move the element; it is the same node, never text parsed as markup.
  const again = element("p", ["Run ", code, "."], { i18n: "x" });
  const list = element("ol", [], { i18nAriaLabel: "y" });
  list.setAttribute("aria-label", "Flagged sentences");
  globalThis.chrome = {
    i18n: { getMessage: (key, subs) => ({ x: `${subs[0]} <b>lancer</b> !`, y: "Phrases" })[key] ?? "" },
  };
  try {
    localize(page(again, list));
  } finally {
    delete globalThis.chrome;
  }
  assert.equal(again.childNodes[0], code);
  assert.equal(again.textContent, "srllm serve <b>lancer</b> !");
  assert.equal(again.children.length, 1, "the markup in the message stayed text");
  assert.equal(list.getAttribute("aria-label"), "Phrases");
});
