// What the card offers on a verdict and its highlights: the model's confidence in words, the
// allow-list (terms the user accepts), muted categories, and "Disagree" records kept on this
// computer and exported as JSON lines in the evaluation's row format. Pure functions; the
// background stores, the options page imports and exports.

import { t } from "./i18n.js";

// The server's bounds for `allow` (server/task.py MAX_ALLOW_TERMS, MAX_ALLOW_CHARS).
export const MAX_ALLOW_TERMS = 200;
export const MAX_ALLOW_CHARS = 64;
export const STRICTNESS = Object.freeze(["conservative", "balanced", "sensitive"]);
export const DISAGREE_KEY = "disagreements";
export const MAX_DISAGREEMENTS = 1000;

/**
 * The model's P(biased) as the card says it: {percent, words}; null without a number. The
 * words hedge as the number does; the verdict itself comes from the server's threshold.
 */
export function confidence(p) {
  if (typeof p !== "number" || !Number.isFinite(p)) return null;
  const clamped = Math.min(1, Math.max(0, p));
  const percent = Math.round(clamped * 100);
  let words;
  if (clamped >= 0.85) words = t("confidenceVeryLikelyBiased", "very likely biased");
  else if (clamped >= 0.6) words = t("confidenceLikelyBiased", "likely biased");
  else if (clamped >= 0.3) words = t("confidencePossiblyBiased", "possibly biased");
  else if (clamped >= 0.1) words = t("confidenceProbablyFair", "probably fair");
  else words = t("confidenceVeryLikelyFair", "very likely fair");
  return { percent, words };
}

/** The highlighted terms of a flag, once each, in order: [{text, source}]. */
export function findingsFrom(spans) {
  const seen = new Set();
  const out = [];
  for (const span of Array.isArray(spans) ? spans : []) {
    const text = typeof span?.text === "string" ? span.text.trim() : "";
    const key = text.toLowerCase();
    if (!text || seen.has(key)) continue;
    seen.add(key);
    out.push({ text, source: typeof span.source === "string" ? span.source : "model" });
  }
  return out;
}

/** A term as the allow-list keeps it (spaces collapsed), or null when it cannot be one. */
export function allowTerm(value) {
  if (typeof value !== "string") return null;
  const term = value.split(/\s+/).filter(Boolean).join(" ");
  if (!term || [...term].length > MAX_ALLOW_CHARS) return null;
  return term;
}

/**
 * Terms from a list (or newline-separated text): {terms, invalid}; duplicates (ignoring case)
 * are dropped, the first spelling kept.
 */
export function parseAllowList(value) {
  const items = Array.isArray(value) ? value : String(value ?? "").split("\n");
  const terms = [];
  const invalid = [];
  const seen = new Set();
  for (const item of items) {
    if (typeof item === "string" && !item.trim()) continue;
    const term = allowTerm(item);
    if (term === null) {
      invalid.push(String(item).slice(0, 80));
      continue;
    }
    if (seen.has(term.toLowerCase())) continue;
    seen.add(term.toLowerCase());
    terms.push(term);
  }
  return { terms, invalid };
}

/** The allow-list with `term` added (or removed), still within the bounds. */
export function withAllowTerm(list, term, add = true) {
  const clean = allowTerm(term);
  const current = parseAllowList(list).terms;
  if (clean === null) return current;
  const rest = current.filter((t) => t.toLowerCase() !== clean.toLowerCase());
  return add ? [...rest, clean].slice(-MAX_ALLOW_TERMS) : rest;
}

/** The JSON the options page exports: {"srllm": "allow-list", "terms": [...], "mute": [...]}. */
export function exportAllowList(terms, mute) {
  return JSON.stringify({ srllm: "allow-list", version: 1, terms, mute }, null, 2);
}

/**
 * An exported allow-list (or a plain JSON array of terms) back: {terms, mute}; throws Error
 * with a message for the user when the file is not one.
 */
export function importAllowList(text, categories) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(t("importNotJson", "The file is not JSON."));
  }
  const rawTerms = Array.isArray(data) ? data : data?.terms;
  if (!Array.isArray(rawTerms))
    throw new Error(t("importNotList", 'Expected a list of terms, or {"terms": [...]}.'));
  const { terms, invalid } = parseAllowList(rawTerms);
  if (invalid.length)
    throw new Error(
      t(
        "importNotTerms",
        "Not terms (1 to $1 characters): $2",
        MAX_ALLOW_CHARS,
        invalid.slice(0, 3).join(", "),
      ),
    );
  if (terms.length > MAX_ALLOW_TERMS)
    throw new Error(t("importTooMany", "At most $1 terms.", MAX_ALLOW_TERMS));
  const rawMute = Array.isArray(data?.mute) ? data.mute : [];
  const unknown = rawMute.filter((c) => !categories.includes(c));
  if (unknown.length)
    throw new Error(t("importUnknownCategories", "Unknown categories: $1", unknown.slice(0, 3).join(", ")));
  return { terms, mute: categories.filter((c) => rawMute.includes(c)) };
}

// The evaluation reads SR-LLM rows (evaluation/data.py, infer_50.csv): biased_text, label (in
// the data's words), biased_words. A disagreement becomes such a row with what the user says.
const DATA_LABELS = Object.freeze({
  neutral: "neutral",
  slightly_biased: "slightly biased",
  highly_biased: "highly biased",
});

/**
 * One "Disagree" as an evaluation row. `kind` "verdict": the user says the verdict is wrong
 * (a biased one is neutral; a neutral one is biased, words unknown); "term": the user says one
 * highlighted term is not biased (the row keeps the other terms and the label).
 */
export function disagreementRow({ kind, text, label, terms = [], term = null, model = null, at = null }) {
  if (typeof text !== "string" || !text.trim()) throw new Error("no text");
  const modelLabel = Object.hasOwn(DATA_LABELS, label) ? label : "neutral";
  const modelWords = (Array.isArray(terms) ? terms : []).map(String);
  let userLabel;
  let words;
  if (kind === "verdict") {
    userLabel = modelLabel === "neutral" ? "slightly_biased" : "neutral";
    words = [];
  } else if (kind === "term" && typeof term === "string" && term) {
    userLabel = modelLabel;
    words = modelWords.filter((w) => w.toLowerCase() !== term.toLowerCase());
    if (words.length === 0) userLabel = "neutral";
  } else {
    throw new Error(`unknown disagreement ${JSON.stringify(kind)}`);
  }
  return {
    biased_text: text,
    label: DATA_LABELS[userLabel],
    biased_words: words,
    source: "srllm-extension-disagree",
    disagree: kind === "term" ? { kind, term } : { kind },
    model_label: DATA_LABELS[modelLabel],
    model_words: modelWords,
    model,
    at,
  };
}

/** Rows as JSON lines (one object per line, a final newline). */
export function toJsonl(rows) {
  return rows.map((row) => JSON.stringify(row)).join("\n") + (rows.length ? "\n" : "");
}

/** The stored list with one row more, the oldest dropped past MAX_DISAGREEMENTS. */
export function withDisagreement(stored, row) {
  const list = Array.isArray(stored) ? stored : [];
  return [...list, row].slice(-MAX_DISAGREEMENTS);
}
