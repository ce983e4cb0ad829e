// Shortening text for display without breaking characters: a cut never lands inside a
// surrogate pair (which would render as U+FFFD) nor right after a zero-width joiner or before
// a combining mark/variation selector (which would break an emoji sequence or an accent).

import { codePointLength } from "./offsets.js";

const JOINERS = /[\u200d]$/u;
// One code point at a time on purpose: a mark, joiner, selector or skin tone on its own.
// eslint-disable-next-line no-misleading-character-class
const CLINGING = /^[\p{M}\u200d\ufe0e\ufe0f\u{1f3fb}-\u{1f3ff}]/u;

/**
 * At most `max` code points of `text`; when shortened, the result ends with `ellipsis`
 * (counted in the limit).
 */
export function truncate(text, max, ellipsis = "\u2026") {
  if (!Number.isInteger(max) || max < 0) {
    throw new RangeError(`max must be a non-negative integer, got ${max}`);
  }
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  const room = max - codePointLength(ellipsis);
  if (room <= 0) return Array.from(ellipsis).slice(0, max).join("");
  let cut = room;
  // Back off so the kept part does not end mid-sequence.
  while (cut > 0 && (JOINERS.test(chars[cut - 1]) || CLINGING.test(chars[cut] ?? ""))) cut--;
  if (cut === 0) cut = room;
  return chars.slice(0, cut).join("").trimEnd() + ellipsis;
}

/** Whether `text` is over a limit counted the way the server counts (code points). */
export function exceedsLimit(text, max) {
  return codePointLength(text) > max;
}
