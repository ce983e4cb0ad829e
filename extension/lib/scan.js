// The page scan, on the background's side: the segments a content script collected (visible
// text first) are checked, cut into calls of POST /v1/scan within the server's limits, and
// every flagged sentence the server answers is turned into UTF-16 offsets of its segment before
// it goes back to the page (the server counts code points; DOM ranges count UTF-16 units).

import { codePointLength, codePointToUtf16 } from "./offsets.js";
import { t } from "./i18n.js";

// Per call. The server takes up to 1,000 segments and 200,000 characters; smaller calls give
// the page its first underlines sooner and make Stop take effect between two of them.
export const CHUNK_LIMITS = Object.freeze({ maxSegments: 200, maxChars: 20000 });
// Per scan: what one page may send at all (the content script stops collecting there too).
export const SCAN_LIMITS = Object.freeze({ maxSegments: 20000, maxChars: 2000000, maxIdChars: 32 });
export const LABELS = Object.freeze(["biased", "review", "neutral"]);

// The underlines: a user stylesheet (scripting.insertCSS), so the page's DOM is not touched.
export const HIGHLIGHT_CSS = `
::highlight(srllm-biased) {
  text-decoration: underline wavy #c4182e 2px;
  background-color: rgb(196 24 46 / 0.1);
}
::highlight(srllm-review) {
  text-decoration: underline dotted #a06a00 2px;
}
`;

/**
 * What a content script sent, checked: [{id, text}] with string ids (unique, short) and string
 * texts; segments without a letter are dropped (they score 0 without the model). Throws
 * TypeError on a malformed list, RangeError over SCAN_LIMITS.
 */
export function validSegments(raw, limits = SCAN_LIMITS) {
  if (!Array.isArray(raw)) throw new TypeError("segments must be a list");
  if (raw.length > limits.maxSegments) throw new RangeError(`more than ${limits.maxSegments} segments`);
  const seen = new Set();
  const out = [];
  let total = 0;
  for (const segment of raw) {
    const id = segment?.id;
    const text = segment?.text;
    if (typeof id !== "string" || !id || id.length > limits.maxIdChars || typeof text !== "string")
      throw new TypeError("each segment must be {id, text} with a short string id");
    if (seen.has(id)) throw new TypeError(`segment id ${id} is not unique`);
    seen.add(id);
    if (!/\p{L}/u.test(text)) continue;
    total += text.length;
    if (total > limits.maxChars) throw new RangeError(`more than ${limits.maxChars} characters`);
    out.push({ id, text });
  }
  return out;
}

/**
 * The segments in order, cut into calls of at most `maxSegments` segments and `maxChars` code
 * points; a segment longer than `maxChars` goes alone (the server's own limit is far higher).
 */
export function chunkSegments(segments, { maxSegments, maxChars } = CHUNK_LIMITS) {
  const chunks = [];
  let chunk = [];
  let chars = 0;
  for (const segment of segments) {
    const length = codePointLength(segment.text);
    if (chunk.length && (chunk.length >= maxSegments || chars + length > maxChars)) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(segment);
    chars += length;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

/**
 * One `sentence` of the server's answer for the page: {id, start, end, score, label} with
 * start/end in UTF-16 units of the segment's text, or null when it does not fit the segment
 * (a server bug; nothing is underlined rather than the wrong words).
 */
export function pageSentence(sentence, textsById) {
  if (!sentence || typeof sentence !== "object") return null;
  const id = sentence.id;
  const text = textsById.get(id);
  const { start, end } = sentence;
  if (typeof text !== "string" || !Number.isInteger(start) || !Number.isInteger(end)) return null;
  if (start < 0 || end <= start || end > codePointLength(text)) return null;
  const label = LABELS.includes(sentence.label) ? sentence.label : null;
  if (!label) return null;
  const score = typeof sentence.score === "number" && Number.isFinite(sentence.score) ? sentence.score : 0;
  return {
    id,
    start: codePointToUtf16(text, start),
    end: codePointToUtf16(text, end),
    score,
    label,
  };
}

export function emptyCounts() {
  return { biased: 0, review: 0, neutral: 0 };
}

/** The toolbar badge: the biased count; "…" while a scan has found none yet. */
export function badgeText(biased, running) {
  if (running && biased === 0) return "\u2026";
  return String(biased);
}

/** "1 sentence" or "N sentences" (one message each: languages plural differently). */
const sentences = (n) =>
  n === 1 ? t("scanOneSentence", "1 sentence") : t("scanSentences", "$1 sentences", n);

/**
 * The summary shown when a scan ends: "2 biased and 1 to review in 120 sentences." plus what
 * was not scanned. `fields`: text fields skipped (their text is not in the page's DOM).
 */
export function summaryText({ counts, stopped = false, fields = 0, failed = false }) {
  const total = sentences(counts.biased + counts.review + counts.neutral);
  const found =
    counts.biased + counts.review === 0
      ? t("scanNothingFlagged", "Nothing flagged in $1.", total)
      : t("scanFound", "$1 biased and $2 to review in $3.", counts.biased, counts.review, total);
  const parts = [
    stopped
      ? t("scanStoppedSummary", "Stopped. $1", found)
      : failed
        ? t("scanIncompleteSummary", "Scan incomplete. $1", found)
        : found,
  ];
  if (fields === 1)
    parts.push(t("scanOneField", "1 text field was not scanned: select text in it and use Check for bias."));
  else if (fields)
    parts.push(
      t("scanFields", "$1 text fields were not scanned: select text in them and use Check for bias.", fields),
    );
  return parts.join(" ");
}
