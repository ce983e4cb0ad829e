import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CHUNK_LIMITS,
  HIGHLIGHT_CSS,
  badgeText,
  chunkSegments,
  emptyCounts,
  pageSentence,
  summaryText,
  validSegments,
} from "../lib/scan.js";

const seg = (id, text) => ({ id, text });

test("chunks keep the order and stay within the segment and character limits", () => {
  const segments = Array.from({ length: 7 }, (_, i) => seg(`s${i}`, "x".repeat(40)));
  const chunks = chunkSegments(segments, { maxSegments: 3, maxChars: 100 });
  assert.deepEqual(
    chunks.map((c) => c.map((s) => s.id)),
    [["s0", "s1"], ["s2", "s3"], ["s4", "s5"], ["s6"]],
  );
  const bySegments = chunkSegments(segments, { maxSegments: 3, maxChars: 10_000 });
  assert.deepEqual(
    bySegments.map((c) => c.length),
    [3, 3, 1],
  );
  assert.deepEqual(chunkSegments([], CHUNK_LIMITS), []);
});

test("a segment longer than a chunk goes alone; characters are counted as code points", () => {
  const chunks = chunkSegments([seg("a", "y"), seg("b", "z".repeat(50)), seg("c", "w")], {
    maxSegments: 10,
    maxChars: 20,
  });
  assert.deepEqual(
    chunks.map((c) => c.map((s) => s.id)),
    [["a"], ["b"], ["c"]],
  );
  // Five emoji are ten UTF-16 units but five code points: they fit a 5-character chunk.
  const emoji = chunkSegments([seg("e", "\u{1f600}".repeat(5))], { maxSegments: 10, maxChars: 5 });
  assert.equal(emoji.length, 1);
  const two = chunkSegments([seg("e", "\u{1f600}".repeat(3)), seg("f", "ab")], {
    maxSegments: 10,
    maxChars: 5,
  });
  assert.equal(two.length, 1);
});

test("the content script's segments are checked; letterless ones are dropped", () => {
  assert.deepEqual(validSegments([seg("a", "Hello."), seg("b", "  \u{1f600} 42 "), seg("c", "Été.")]), [
    seg("a", "Hello."),
    seg("c", "Été."),
  ]);
  assert.throws(() => validSegments("x"), TypeError);
  assert.throws(() => validSegments([{ id: 1, text: "a" }]), TypeError);
  assert.throws(() => validSegments([seg("a", "x"), seg("a", "y")]), /not unique/);
  assert.throws(() => validSegments([seg("a".repeat(40), "x")]), TypeError);
  assert.throws(
    () => validSegments([seg("a", "xx"), seg("b", "yy")], { maxSegments: 5, maxChars: 3, maxIdChars: 8 }),
    RangeError,
  );
  assert.throws(
    () => validSegments([seg("a", "x"), seg("b", "y")], { maxSegments: 1, maxChars: 9, maxIdChars: 8 }),
    RangeError,
  );
});

test("sentences: code point offsets become UTF-16 offsets of their segment", () => {
  const text = "\u{1f474}\u{1f3fb} Old people are useless. Fine.";
  const texts = new Map([["s1", text]]);
  // The server: the first sentence starts after two emoji and a space (code point 3).
  const sentence = pageSentence({ id: "s1", start: 3, end: 27, score: 0.91, label: "biased" }, texts);
  assert.deepEqual(sentence, { id: "s1", start: 5, end: 29, score: 0.91, label: "biased" });
  assert.equal(text.slice(sentence.start, sentence.end), "Old people are useless. ");
  const exact = pageSentence({ id: "s1", start: 3, end: 26, score: 0.5, label: "review" }, texts);
  assert.equal(text.slice(exact.start, exact.end), "Old people are useless.");
});

test("sentences that do not fit their segment are dropped, not underlined somewhere else", () => {
  const texts = new Map([["s1", "Short."]]);
  for (const bad of [
    { id: "s2", start: 0, end: 3, label: "biased" },
    { id: "s1", start: 0, end: 30, label: "biased" },
    { id: "s1", start: 4, end: 2, label: "biased" },
    { id: "s1", start: -1, end: 2, label: "biased" },
    { id: "s1", start: 0, end: 2, label: "weird" },
    null,
  ]) {
    assert.equal(pageSentence(bad, texts), null, JSON.stringify(bad));
  }
  assert.equal(pageSentence({ id: "s1", start: 0, end: 6, label: "review", score: "x" }, texts).score, 0);
});

test("badge and summary", () => {
  assert.equal(badgeText(0, true), "\u2026");
  assert.equal(badgeText(3, true), "3");
  assert.equal(badgeText(0, false), "0");
  const counts = { ...emptyCounts(), biased: 2, review: 1, neutral: 117 };
  assert.equal(summaryText({ counts }), "2 biased and 1 to review in 120 sentences.");
  assert.equal(
    summaryText({ counts: { biased: 0, review: 0, neutral: 1 } }),
    "Nothing flagged in 1 sentence.",
  );
  assert.match(summaryText({ counts, stopped: true }), /^Stopped\. 2 biased/);
  assert.match(summaryText({ counts, failed: true }), /^Scan incomplete\./);
  assert.match(summaryText({ counts, fields: 2 }), /2 text fields were not scanned/);
  assert.match(summaryText({ counts, fields: 1 }), /1 text field was not scanned: select text in it/);
});

test("the underline style names the highlights scan.js registers", () => {
  assert.match(HIGHLIGHT_CSS, /::highlight\(srllm-biased\)/);
  assert.match(HIGHLIGHT_CSS, /::highlight\(srllm-review\)/);
});
