// Strings of _locales/<language>/messages.json for the extension's own pages (the card, a
// classic script, has its own copy of t()). English is the fallback written next to each use,
// so a page reads the same where chrome.i18n is missing (the node tests) or a message is.

/** The message `key` with `subs` for $1, $2...; `fallback` (English) when there is none. */
export function t(key, fallback, ...subs) {
  try {
    const message = globalThis.chrome?.i18n?.getMessage?.(key, subs.map(String));
    if (message) return message;
  } catch {
    /* no i18n here */
  }
  return subs.reduce((text, value, i) => text.replaceAll(`$${i + 1}`, String(value)), fallback);
}

// Stands for the n-th child element while a message is looked up: a private-use character no
// message contains, so the child elements can be put back where the message places them.
const mark = (n) => `\u{E000}${n}\u{E000}`;
const MARKS = /\u{E000}(\d+)\u{E000}/u;

/**
 * An element's English text as its message's fallback: its text with each child element
 * (code, kbd, a link) as $1, $2... in order, white space collapsed as the page shows it.
 */
export function fallbackOf(element) {
  let n = 0;
  const parts = [...element.childNodes].map((node) =>
    node.nodeType === 1 ? `$${++n}` : node.nodeType === 3 ? node.data : "",
  );
  return parts.join("").replace(/\s+/g, " ").trim();
}

/**
 * Replace the text of every element with data-i18n="key" under `root` by its message. Its child
 * elements stay (moved, never re-created or parsed from text) where the message's $1, $2... are.
 * data-i18n-aria-label="key" does the same for the element's aria-label.
 */
export function localize(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    const children = [...element.children];
    const message = t(element.dataset.i18n, fallbackOf(element), ...children.map((_, i) => mark(i)));
    const pieces = message.split(MARKS); // text, child index, text, ...
    const nodes = pieces.map((piece, i) => (i % 2 === 0 ? piece : (children[Number(piece)] ?? "")));
    element.replaceChildren(...nodes.filter((node) => node !== "")); // strings go in as text
  }
  for (const element of root.querySelectorAll("[data-i18n-aria-label]")) {
    const label = t(element.dataset.i18nAriaLabel, element.getAttribute("aria-label") ?? "");
    element.setAttribute("aria-label", label);
  }
}
