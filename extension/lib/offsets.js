// The server counts offsets in Unicode code points (Python str indices); JavaScript strings
// count UTF-16 code units, where an emoji or other astral character takes two. Every span from
// the server passes through here before it touches a JavaScript string.

function isHighSurrogate(unit) {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit) {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Number of code points in a string (what Python's len() returns). */
export function codePointLength(text) {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    if (!(isLowSurrogate(text.charCodeAt(i)) && i > 0 && isHighSurrogate(text.charCodeAt(i - 1)))) {
      count++;
    }
  }
  return count;
}

/** UTF-16 index of a code point offset; offsets past the end clamp to text.length. */
export function codePointToUtf16(text, codePoint) {
  if (!Number.isInteger(codePoint) || codePoint < 0) {
    throw new RangeError(`code point offset must be a non-negative integer, got ${codePoint}`);
  }
  let index = 0;
  for (let seen = 0; seen < codePoint && index < text.length; seen++) {
    const pair = isHighSurrogate(text.charCodeAt(index)) && isLowSurrogate(text.charCodeAt(index + 1));
    index += pair ? 2 : 1;
  }
  return index;
}

/** Code point offset of a UTF-16 index; an index inside a surrogate pair counts the pair. */
export function utf16ToCodePoint(text, index) {
  if (!Number.isInteger(index) || index < 0) {
    throw new RangeError(`UTF-16 index must be a non-negative integer, got ${index}`);
  }
  return codePointLength(text.slice(0, Math.min(index, text.length)));
}

/**
 * Server spans ({start, end, text} in code points) as UTF-16 ranges into `text`: sorted,
 * non-overlapping, inside the text. When a span's offsets do not cover its own `text` (a server
 * bug, or the text changed), the first occurrence of that text at or after the given start wins;
 * spans that match nothing are dropped rather than highlighting the wrong words.
 */
export function spansToUtf16(text, spans) {
  const ranges = [];
  for (const span of Array.isArray(spans) ? spans : []) {
    if (!span || !Number.isInteger(span.start) || !Number.isInteger(span.end)) continue;
    if (span.start < 0 || span.end <= span.start) continue;
    let start = codePointToUtf16(text, span.start);
    let end = codePointToUtf16(text, span.end);
    const expected = typeof span.text === "string" ? span.text : "";
    if (expected && text.slice(start, end) !== expected) {
      let found = text.indexOf(expected, start);
      if (found < 0) found = text.indexOf(expected);
      if (found < 0) continue;
      start = found;
      end = found + expected.length;
    }
    if (end > start) ranges.push({ start, end });
  }
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.start < last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** The text cut into [{text, biased}] pieces for rendering; pieces join back to the text. */
export function highlightSegments(text, spans) {
  const segments = [];
  let at = 0;
  for (const { start, end } of spansToUtf16(text, spans)) {
    if (start > at) segments.push({ text: text.slice(at, start), biased: false });
    segments.push({ text: text.slice(start, end), biased: true });
    at = end;
  }
  if (at < text.length || segments.length === 0) {
    segments.push({ text: text.slice(at), biased: false });
  }
  return segments;
}
