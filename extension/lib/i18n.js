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

/** Replace the text of every element with data-i18n="key" under `root` by its message. */
export function localize(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n, element.textContent);
  }
}
