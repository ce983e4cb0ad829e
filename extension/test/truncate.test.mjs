import { test } from "node:test";
import assert from "node:assert/strict";
import { truncate, exceedsLimit } from "../lib/truncate.js";

test("short text is returned as is", () => {
  assert.equal(truncate("hello", 5), "hello");
  assert.equal(truncate("", 0), "");
});

test("long text is cut to the limit including the ellipsis", () => {
  assert.equal(truncate("hello world", 6), "hello\u2026");
  assert.equal(Array.from(truncate("abcdefghij", 4)).length, 4);
});

test("a cut never splits a surrogate pair", () => {
  const text = "ab\u{1f600}\u{1f600}\u{1f600}";
  const out = truncate(text, 4);
  assert.equal(out, "ab\u{1f600}\u2026");
  assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(out), "no lone high surrogate");
});

test("a cut does not strand a skin-tone modifier or end on a joiner", () => {
  // 👩🏽‍💻 = woman, skin tone, ZWJ, laptop (4 code points)
  const text = "x \u{1f469}\u{1f3fd}\u200d\u{1f4bb} y";
  assert.equal(truncate(text, 4), "x\u2026"); // cutting after 👩 would strand 🏽
  assert.equal(truncate(text, 5), "x\u2026"); // cutting after 🏽 would drop the rest of the sequence
  assert.equal(truncate(text, 7), "x \u{1f469}\u{1f3fd}\u200d\u{1f4bb}\u2026"); // whole sequence fits
});

test("limits count code points like the server", () => {
  assert.equal(exceedsLimit("\u{1f600}".repeat(3), 3), false);
  assert.equal(exceedsLimit("\u{1f600}".repeat(4), 3), true);
  assert.throws(() => truncate("x", -1), RangeError);
});
