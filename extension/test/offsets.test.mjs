import { test } from "node:test";
import assert from "node:assert/strict";
import {
  codePointLength,
  codePointToUtf16,
  utf16ToCodePoint,
  spansToUtf16,
  highlightSegments,
} from "../lib/offsets.js";

// "Old 👴🏻 people 🙄 are slow" in code points: O0 l1 d2 ' '3 👴4 🏻5 ' '6 p7..people ends 13,
// ' '13 🙄14 ' '15 a16 r17 e18 ' '19 s20 l21 o22 w23 -> length 24.
const TEXT = "Old \u{1f474}\u{1f3fb} people \u{1f644} are slow";

test("code point length counts astral characters once", () => {
  assert.equal(codePointLength(TEXT), 24);
  assert.equal(codePointLength(""), 0);
  assert.equal(codePointLength("abc"), 3);
  assert.equal(TEXT.length, 27);
});

test("code point -> UTF-16 and back", () => {
  assert.equal(codePointToUtf16(TEXT, 0), 0);
  assert.equal(codePointToUtf16(TEXT, 4), 4); // before the emoji
  assert.equal(codePointToUtf16(TEXT, 5), 6); // after 👴 (two units)
  assert.equal(codePointToUtf16(TEXT, 20), 23); // "slow" after three astral characters
  assert.equal(TEXT.slice(codePointToUtf16(TEXT, 20), codePointToUtf16(TEXT, 24)), "slow");
  for (let cp = 0; cp <= 24; cp++) assert.equal(utf16ToCodePoint(TEXT, codePointToUtf16(TEXT, cp)), cp);
  assert.equal(codePointToUtf16(TEXT, 99), TEXT.length, "past the end clamps");
  assert.throws(() => codePointToUtf16(TEXT, -1), RangeError);
  assert.throws(() => codePointToUtf16(TEXT, 1.5), RangeError);
});

test("lone surrogates count as one code point each, like Python", () => {
  const broken = "a\ud83db";
  assert.equal(codePointLength(broken), 3);
  assert.equal(codePointToUtf16(broken, 2), 2);
});

test("spans in code points highlight the right words after emoji", () => {
  const spans = [
    { start: 7, end: 13, text: "people" },
    { start: 20, end: 24, text: "slow" },
  ];
  const segments = highlightSegments(TEXT, spans);
  assert.deepEqual(
    segments.filter((s) => s.biased).map((s) => s.text),
    ["people", "slow"],
  );
  assert.equal(segments.map((s) => s.text).join(""), TEXT, "segments rebuild the text");
});

test("naive UTF-16 use of the same offsets would be wrong (guards the test itself)", () => {
  assert.notEqual(TEXT.slice(20, 24), "slow");
});

test("mismatched, overlapping and invalid spans", () => {
  const text = "The lazy lazy crowd";
  // offsets off by one but text present: found by search from start
  assert.deepEqual(spansToUtf16(text, [{ start: 3, end: 7, text: "lazy" }]), [{ start: 4, end: 8 }]);
  // invented word: dropped
  assert.deepEqual(spansToUtf16(text, [{ start: 0, end: 3, text: "nope" }]), []);
  // overlaps merge; garbage ignored
  assert.deepEqual(
    spansToUtf16(text, [
      { start: 4, end: 13 },
      { start: 9, end: 19 },
      null,
      { start: 5, end: 2 },
      { start: "a", end: 3 },
    ]),
    [{ start: 4, end: 19 }],
  );
  assert.deepEqual(spansToUtf16(text, undefined), []);
});

test("no spans: one plain segment, even for empty text", () => {
  assert.deepEqual(highlightSegments("fine", []), [{ text: "fine", biased: false }]);
  assert.deepEqual(highlightSegments("", []), [{ text: "", biased: false }]);
});
