import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MSG, SCAN_PORT_NAME } from "../lib/protocol.js";

// scan.js is a classic script for pages, injected after card.js (its strings); in node it only
// needs chrome.runtime.onMessage.
globalThis.chrome = { runtime: { onMessage: { addListener() {} } } };
await import("../card.js");
await import("../scan.js");
const { runText, locate, visibleFirst, diffBlocks, loose } = globalThis.srllmScanning;

const node = (data) => ({ data });

test("a run's text: white space collapsed across nodes, none at the ends", () => {
  const nodes = [node("\n    Old  people "), node(" are "), node("useless.\n"), node("  Fine.")];
  const { text } = runText(nodes);
  assert.equal(text, "Old people are useless. Fine.");
  assert.equal(runText([node("  \n ")]).text, "");
  // A no-break space is text, not white space to collapse.
  assert.equal(runText([node("a\u00a0 b")]).text, "a\u00a0 b");
});

test("every offset of a word maps back to its node and place in it", () => {
  const nodes = [node("\n    Old  people "), node(" are "), node("use"), node("less.\n")];
  const { text, pieces } = runText(nodes);
  for (let i = 0; i < text.length; i++) {
    const at = locate(pieces, i);
    if (at === null) {
      assert.equal(text[i], " ", `only a collapsed space maps to nothing (offset ${i})`);
      continue;
    }
    assert.equal(at.node.data[at.offset], text[i], `offset ${i}`);
  }
  // A sentence's end is the position after its last character.
  const end = text.indexOf("less.") + 5;
  const last = locate(pieces, end - 1);
  assert.equal(last.node, nodes[3]);
  assert.equal(last.offset + 1, 5);
  assert.equal(locate(pieces, text.length), null);
  assert.equal(locate([], 0), null);
  // Two spaces collapse: the words on either side are two pieces; one plain space keeps one.
  assert.equal(locate(pieces, text.indexOf(" people")), null);
  assert.equal(runText([node("one two three")]).pieces.length, 1);
  assert.equal(runText([node("one  two\nthree")]).pieces.length, 3);
});

test("astral characters keep their UTF-16 places", () => {
  const nodes = [node("\u{1f474}\u{1f3fb} old"), node("  people \u{1f643}")];
  const { text, pieces } = runText(nodes);
  assert.equal(text, "\u{1f474}\u{1f3fb} old people \u{1f643}");
  const start = text.indexOf("people");
  const at = locate(pieces, start);
  assert.equal(at.node, nodes[1]);
  assert.equal(at.offset, 2);
  const emoji = locate(pieces, text.length - 1); // the low surrogate of the last emoji
  assert.equal(emoji.node.data.slice(emoji.offset - 1, emoji.offset + 1), "\u{1f643}");
});

test("visible blocks first, then those below the screen, then those above", () => {
  const runs = [
    { id: "above", top: -500, bottom: -100 },
    { id: "on1", top: -10, bottom: 40 },
    { id: "below1", top: 900, bottom: 950 },
    { id: "on2", top: 500, bottom: 700 },
    { id: "below2", top: 800, bottom: 820 },
  ];
  assert.deepEqual(
    visibleFirst(runs, 800).map((r) => r.id),
    ["on1", "on2", "below1", "below2", "above"],
  );
});

test("check as I type: only changed, new and gone blocks", () => {
  const a = {};
  const b = {};
  const c = {};
  const d = {};
  const before = new Map([
    [a, "One."],
    [b, "Two."],
    [c, "Three."],
  ]);
  const now = new Map([
    [a, "One."],
    [b, "Two, edited."],
    [d, "Four."],
  ]);
  const { changed, gone } = diffBlocks(before, now);
  assert.deepEqual(changed, [b, d]);
  assert.deepEqual(gone, [c]);
  assert.equal(loose("  a \n b "), "a b");
});

test("scan.js speaks only the protocol's message types and port name", () => {
  const known = new Set(Object.values(MSG));
  const source = readFileSync(new URL("../scan.js", import.meta.url), "utf8");
  const used = [...source.matchAll(/"((?:scan|site|check|card)\/[a-z-]+)"/g)].map((m) => m[1]);
  assert.ok(used.length >= 8, "scan.js uses message types");
  for (const type of used) assert.ok(known.has(type), `scan.js uses unknown type ${type}`);
  assert.ok(source.includes(`"${SCAN_PORT_NAME}"`));
  // It never calls the server, and never writes HTML.
  assert.ok(!/\bfetch\(|XMLHttpRequest|innerHTML|outerHTML|insertAdjacentHTML/.test(source));
});

test("the manifest has the scan shortcut and the package ships scan.js", () => {
  const root = new URL("../", import.meta.url);
  const manifest = JSON.parse(readFileSync(new URL("manifest.json", root), "utf8"));
  assert.ok(manifest.commands["scan-page"].suggested_key.default);
  assert.match(readFileSync(new URL("build.py", root), "utf8"), /"scan\.js"/);
  const background = readFileSync(new URL("background.js", root), "utf8");
  assert.match(background, /files: \["card\.js", "content\.js", "scan\.js"\]/);
});
