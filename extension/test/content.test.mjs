import { test } from "node:test";
import assert from "node:assert/strict";

// content.js is a classic script for pages, injected after card.js (its strings); in node it
// only needs chrome.runtime.onMessage.
globalThis.chrome = { runtime: { onMessage: { addListener() {} } } };
await import("../card.js");
await import("../content.js");
const { planEdit, plainText, locate } = globalThis.srllmEditing;

const P = "paragraph";
const L = "line";

test("two <p>s: the rewrite's blank line becomes one paragraph break, not an empty paragraph", () => {
  const steps = planEdit("Old people are slow.\n\nWe meet.", "Some people are slow.\n\nWe meet.", [[P]]);
  assert.deepEqual(steps, [{ text: "Some people are slow." }, { break: P }, { text: "We meet." }]);
  assert.equal(plainText(steps), "Some people are slow.\nWe meet.");
});

test("<br> lines stay line breaks, an empty line included", () => {
  const steps = planEdit("a\nb\n\nc", "A\nb\n\nC", [[L], [L, L]]);
  assert.deepEqual(steps, [
    { text: "A" },
    { break: L },
    { text: "b" },
    { break: L },
    { break: L },
    { text: "C" },
  ]);
  assert.equal(plainText(steps), "A\nb\n\nC");
});

test("an empty paragraph between two: both paragraph breaks come back", () => {
  assert.deepEqual(planEdit("a\n\n\n\nb", "A\n\n\n\nb", [[P, P]]), [
    { text: "A" },
    { break: P },
    { break: P },
    { text: "b" },
  ]);
});

test("runs the original did not have are built from the runs it had", () => {
  // The rewrite merged two paragraphs and doubled a break: "\n\n" is a paragraph break here.
  const steps = planEdit("a\n\nb\n\nc", "A b\n\n\n\nc", [[P], [P]]);
  assert.deepEqual(steps, [{ text: "A b" }, { break: P }, { break: P }, { text: "c" }]);
  // A line break that no run of the original makes up is a <br>: "\n" in the text, as in the
  // rewrite (the embedded model writes "<p>...</p>\n<p>..." inside a sentence).
  assert.deepEqual(planEdit("a b", "a\nb", []), [{ text: "a" }, { break: L }, { text: "b" }]);
  assert.deepEqual(planEdit("a\n\nb", "x\ny\n\nb", [[P]]), [
    { text: "x" },
    { break: L },
    { text: "y" },
    { break: P },
    { text: "b" },
  ]);
  assert.deepEqual(planEdit("a\n\nb", "A\n\n\nb", [[P]]), [
    { text: "A" },
    { break: P },
    { break: L },
    { text: "b" },
  ]);
});

test("when the breaks read from the page do not match the text, each newline is a <br>", () => {
  assert.deepEqual(planEdit("a\nb", "A\nb", [[P], [P]]), [{ text: "A" }, { break: L }, { text: "b" }]);
  assert.deepEqual(planEdit("a\n\nb", "A\n\nb", [[P], [P], [L]]), [
    { text: "A" },
    { break: L },
    { break: L },
    { text: "b" },
  ]);
});

test("leading and trailing breaks, and an empty rewrite", () => {
  assert.deepEqual(planEdit("\n\na", "\n\nA", [[P]]), [{ break: P }, { text: "A" }]);
  assert.deepEqual(planEdit("a", "", []), []);
  assert.equal(plainText([]), "");
});

test("locate picks the occurrence nearest the measured offset", () => {
  assert.equal(locate("x a x a x", "a", 6), 6);
  assert.equal(locate("x a x a x", "a", 0), 2);
  assert.equal(locate("abc", "z", 1), -1);
});
