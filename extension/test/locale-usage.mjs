// Where the extension uses its messages, read from the source: t("key", "English") calls in the
// scripts, data-i18n and data-i18n-aria-label in the pages, __MSG_key__ in the manifest. For
// test/locales.test.mjs. The pages are our own, formatted by prettier: a tag tokenizer is
// enough, no HTML parser.

import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SKIP_DIRS = new Set(["node_modules", "dist", "test"]);
const VOID = new Set([
  "area",
  "base",
  "br",
  "col",
  "embed",
  "hr",
  "img",
  "input",
  "link",
  "meta",
  "source",
  "wbr",
]);
const ENTITIES = { hellip: "\u2026", ndash: "\u2013", gt: ">", lt: "<", amp: "&", quot: '"', nbsp: "\u00a0" };
// Text outside a data-i18n element that needs no translation: commands, keys, the brand.
const VERBATIM = new Set(["code", "kbd", "pre", "script", "style"]);
const BRAND = "srllm";

export function sourceFiles(ext, dir = ROOT) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...sourceFiles(ext, join(dir, entry.name)));
    } else if (entry.name.endsWith(ext)) {
      out.push(join(dir, entry.name));
    }
  }
  return out.sort();
}

/** The text of a JS string literal in double or single quotes (as prettier writes them). */
function literal(quoted) {
  const body = quoted.slice(1, -1);
  if (quoted[0] === '"') return JSON.parse(quoted);
  return JSON.parse(`"${body.replace(/\\'/g, "'").replace(/"/g, '\\"')}"`);
}

/**
 * Every t("key", ...) call of the scripts: [{file, key, fallback}], fallback null when the
 * call's second argument is not a string literal.
 */
export function scriptUses() {
  const uses = [];
  for (const file of sourceFiles(".js")) {
    const source = readFileSync(file, "utf8");
    const calls = /\bt\(\s*"(\w+)"\s*(?:,\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))?/g;
    for (const [, key, quoted] of source.matchAll(calls))
      uses.push({ file: relative(ROOT, file), key, fallback: quoted ? literal(quoted) : null });
  }
  return uses;
}

const decode = (text) => text.replace(/&(\w+);/g, (whole, name) => ENTITIES[name] ?? whole);
const attribute = (tag, name) => tag.match(new RegExp(`\\s${name}="([^"]*)"`))?.[1] ?? null;
const tagName = (tag) => tag.match(/^<\/?([a-zA-Z0-9-]+)/)?.[1].toLowerCase() ?? null;

/**
 * One page's messages: [{file, key, fallback}] for data-i18n (its text with each child element
 * as $1, $2..., as lib/i18n.js reads it) and data-i18n-aria-label (the aria-label); and the
 * text that is shown outside both (`loose`), which should be none.
 */
export function pageUses(file) {
  const tokens = readFileSync(file, "utf8").split(/(<[^>]+>)/);
  const uses = [];
  const loose = [];
  const stack = []; // open elements: {name, i18n}
  tokens.forEach((token, index) => {
    if (!token.startsWith("<")) {
      const text = decode(token).replace(/\s+/g, " ").trim();
      const covered = stack.some((open) => open.i18n || VERBATIM.has(open.name));
      if (/\p{L}/u.test(text) && !covered && text !== BRAND) loose.push(text);
      return;
    }
    if (token.startsWith("<!")) return;
    const name = tagName(token);
    if (token.startsWith("</")) {
      stack.pop();
      return;
    }
    const where = relative(ROOT, file);
    const label = attribute(token, "data-i18n-aria-label");
    if (label) uses.push({ file: where, key: label, fallback: attribute(token, "aria-label") });
    const key = attribute(token, "data-i18n");
    if (key) uses.push({ file: where, key, fallback: elementText(tokens, index) });
    if (!VOID.has(name) && !token.endsWith("/>")) stack.push({ name, i18n: Boolean(key) });
  });
  return { uses, loose };
}

/** The text of the element opened at tokens[start], its child elements as $1, $2... */
function elementText(tokens, start) {
  const parts = [];
  let depth = 0;
  let children = 0;
  for (const token of tokens.slice(start + 1)) {
    if (!token.startsWith("<")) {
      if (depth === 0) parts.push(decode(token));
    } else if (token.startsWith("</")) {
      if (depth === 0) break;
      depth -= 1;
    } else {
      if (depth === 0) parts.push(`$${++children}`);
      if (!VOID.has(tagName(token)) && !token.endsWith("/>")) depth += 1;
    }
  }
  return parts.join("").replace(/\s+/g, " ").trim();
}

/** The keys the manifest names as __MSG_key__. */
export function manifestKeys() {
  const text = readFileSync(join(ROOT, "manifest.json"), "utf8");
  return [...text.matchAll(/__MSG_(\w+)__/g)].map((m) => m[1]);
}

export function readMessages() {
  return JSON.parse(readFileSync(join(ROOT, "_locales", "en", "messages.json"), "utf8"));
}

/** A message as English text with $1, $2... (what the fallbacks spell): placeholders resolved. */
export function englishOf(entry) {
  let text = entry.message;
  for (const [name, { content }] of Object.entries(entry.placeholders ?? {}))
    text = text.replaceAll(`$${name.toUpperCase()}$`, content);
  return text;
}
