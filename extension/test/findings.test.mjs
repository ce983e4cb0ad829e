import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_ALLOW_CHARS,
  MAX_ALLOW_TERMS,
  MAX_DISAGREEMENTS,
  confidence,
  disagreementRow,
  exportAllowList,
  findingsFrom,
  importAllowList,
  parseAllowList,
  toJsonl,
  withAllowTerm,
  withDisagreement,
} from "../lib/findings.js";
import { CATEGORIES, DEFAULTS, migrateSettings, mutedCategories, validateSettings } from "../lib/settings.js";
import { fromHttpError, fromStreamError } from "../lib/errors.js";

test("confidence words hedge with the number", () => {
  assert.deepEqual(confidence(0.912), { percent: 91, words: "very likely biased" });
  assert.deepEqual(confidence(0.7), { percent: 70, words: "likely biased" });
  assert.deepEqual(confidence(0.4), { percent: 40, words: "possibly biased" });
  assert.deepEqual(confidence(0.2), { percent: 20, words: "probably fair" });
  assert.deepEqual(confidence(0.01), { percent: 1, words: "very likely fair" });
  assert.equal(confidence(null), null);
  assert.equal(confidence("0.9"), null);
});

test("findings are the highlighted terms once each, in order", () => {
  const spans = [
    { text: "slow", source: "model" },
    { text: "Slow", source: "model" },
    { text: "wheelchair bound", source: "lexicon" },
    { text: " ", source: "model" },
    null,
  ];
  assert.deepEqual(findingsFrom(spans), [
    { text: "slow", source: "model" },
    { text: "wheelchair bound", source: "lexicon" },
  ]);
});

test("the allow-list keeps valid terms once, within the server's bounds", () => {
  const { terms, invalid } = parseAllowList("Old  people\nold people\n\n" + "x".repeat(MAX_ALLOW_CHARS + 1));
  assert.deepEqual(terms, ["Old people"]);
  assert.equal(invalid.length, 1);
  assert.deepEqual(withAllowTerm(["a"], "B"), ["a", "B"]);
  assert.deepEqual(withAllowTerm(["a", "B"], "b", false), ["a"]);
  const full = Array.from({ length: MAX_ALLOW_TERMS }, (_, i) => `t${i}`);
  assert.equal(withAllowTerm(full, "new").length, MAX_ALLOW_TERMS);
});

test("the allow-list exports and imports as JSON, refusing what is not one", () => {
  const text = exportAllowList(["slow"], ["age"]);
  assert.deepEqual(importAllowList(text, CATEGORIES), { terms: ["slow"], mute: ["age"] });
  assert.deepEqual(importAllowList('["a", "b"]', CATEGORIES), { terms: ["a", "b"], mute: [] });
  assert.throws(() => importAllowList("{", CATEGORIES), /not JSON/);
  assert.throws(() => importAllowList('{"terms": "a"}', CATEGORIES), /list of terms/);
  assert.throws(() => importAllowList('{"terms": [3], "mute": []}', CATEGORIES), /Not terms/);
  assert.throws(() => importAllowList('{"terms": [], "mute": ["ageism"]}', CATEGORIES), /Unknown categories/);
});

test("settings carry strictness and the allow-list; unticked categories are the mute list", () => {
  assert.equal(DEFAULTS.strictness, "conservative");
  const settings = validateSettings({ ...DEFAULTS, strictness: "sensitive", allowTerms: "slow\nold people" });
  assert.equal(settings.strictness, "sensitive");
  assert.deepEqual(settings.allowTerms, ["slow", "old people"]);
  assert.throws(() => validateSettings({ ...DEFAULTS, strictness: "paranoid" }), /strictness/);
  assert.throws(() => validateSettings({ ...DEFAULTS, allowTerms: ["x".repeat(65)] }), /allowTerms/);
  const { settings: repaired } = migrateSettings({ strictness: "odd", allowTerms: ["ok", 3] });
  assert.equal(repaired.strictness, "conservative");
  assert.deepEqual(repaired.allowTerms, ["ok"]);
  assert.deepEqual(mutedCategories({ categories: CATEGORIES.filter((c) => c !== "age") }), ["age"]);
});

test("a disagreement is a row of the evaluation's format", () => {
  const verdict = disagreementRow({
    kind: "verdict",
    text: "Old people are slow.",
    label: "slightly_biased",
    terms: ["slow"],
  });
  assert.equal(verdict.biased_text, "Old people are slow.");
  assert.equal(verdict.label, "neutral");
  assert.deepEqual(verdict.biased_words, []);
  assert.equal(verdict.model_label, "slightly biased");
  const missed = disagreementRow({ kind: "verdict", text: "x y", label: "neutral" });
  assert.equal(missed.label, "slightly biased");
  const term = disagreementRow({
    kind: "term",
    term: "SLOW",
    text: "Old people are slow and useless.",
    label: "highly_biased",
    terms: ["slow", "useless"],
  });
  assert.equal(term.label, "highly biased");
  assert.deepEqual(term.biased_words, ["useless"]);
  const last = disagreementRow({
    kind: "term",
    term: "slow",
    text: "a",
    label: "slightly_biased",
    terms: ["slow"],
  });
  assert.equal(last.label, "neutral", "no biased word left: the user says it is fair");
  assert.throws(() => disagreementRow({ kind: "other", text: "a" }), /unknown/);
  assert.throws(() => disagreementRow({ kind: "verdict", text: " " }), /no text/);
  const lines = toJsonl([verdict, term]).split("\n");
  assert.equal(lines.length, 3);
  assert.deepEqual(JSON.parse(lines[1]).biased_words, ["useless"]);
  let stored = [];
  for (let i = 0; i < MAX_DISAGREEMENTS + 5; i++) stored = withDisagreement(stored, { i });
  assert.equal(stored.length, MAX_DISAGREEMENTS);
  assert.equal(stored[0].i, 5, "the oldest go first");
});

test("another language is a plain notice, not an error to retry", () => {
  const body = { error: { code: "unsupported_language", message: "m", reason: "Arabic script" } };
  const failure = fromHttpError(422, body);
  assert.equal(failure.kind, "unsupported_language");
  assert.equal(failure.retry, false);
  assert.match(failure.message, /English only.*\(Arabic script\)/);
  assert.equal(fromStreamError(body).kind, "unsupported_language");
});
