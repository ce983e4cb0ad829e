// The page scan, in the page: a classic content script injected (after card.js and content.js)
// into the top frame when the user asks for a scan, never before. It collects the visible text
// of the page and of its contenteditable regions as segments (runs of text nodes in one block),
// visible ones first, and sends them to background.js over a port named "srllm-scan" (closing
// it stops the scan there). Flagged sentences come back with UTF-16 offsets into their segment
// and are underlined with the CSS Custom Highlight API: ranges in CSS.highlights, styled by a
// stylesheet the background inserted (scripting.insertCSS). Nothing is added to, removed from
// or changed in the page's DOM; the card, opened by a click on an underline, is the only node.
// Textareas and inputs are skipped: their text is not in the DOM, so it cannot be underlined.
// Message types are the strings of lib/protocol.js (this classic script cannot import it).
(() => {
  "use strict";
  if (globalThis.srllmScanLoaded) return; // injected again on every scan; listen once
  globalThis.srllmScanLoaded = true;
  const { t } = globalThis.srllmCard; // card.js is injected first

  // Never scanned: not text, not shown as text, or our own card.
  const SKIP = new Set([
    "script",
    "style",
    "noscript",
    "template",
    "textarea",
    "input",
    "select",
    "option",
    "iframe",
    "frame",
    "object",
    "embed",
    "canvas",
    "svg",
    "math",
    "head",
    "title",
    "video",
    "audio",
    "srllm-card",
  ]);
  const FIELD_TYPES = new Set(["text", "search", "url", "tel", "email", ""]);
  const BIASED = "srllm-biased";
  const REVIEW = "srllm-review";
  const MAX_RUN_CHARS = 10000; // a longer run is cut at the next text node
  // What one scan sends at most (lib/scan.js SCAN_LIMITS); visible text comes first, so a
  // page beyond this loses its far end.
  const MAX_SEGMENTS = 20000;
  const MAX_CHARS = 2000000;
  const PAUSE_MS = 800; // after the last input event: prune stale underlines, rescan if opted in

  // ---- pure helpers (exported for test/scan-page.test.mjs) --------------------------------

  /** HTML's white space (not U+00A0, which is shown as a space but is text). */
  const isSpace = (code) => code === 32 || code === 9 || code === 10 || code === 13 || code === 12;

  /**
   * The text of a run of text nodes as it reads: white space collapsed to one space, none at
   * either end. `pieces` map it back: each is a stretch of non-space characters copied from one
   * node, {node, nodeOffset, textOffset, length}, in order; a collapsed space between them maps
   * to nothing (a sentence never starts or ends on one: the server trims them).
   */
  function runText(nodes) {
    let text = "";
    let space = false;
    const pieces = [];
    for (const node of nodes) {
      const data = node.data;
      let i = 0;
      while (i < data.length) {
        if (isSpace(data.charCodeAt(i))) {
          space = text.length > 0;
          while (i < data.length && isSpace(data.charCodeAt(i))) i++;
          continue;
        }
        let j = i;
        while (j < data.length && !isSpace(data.charCodeAt(j))) j++;
        const last = pieces[pieces.length - 1];
        // One plain space between two words of a node reads as it is written: one piece, not
        // one per word (a long page has hundreds of thousands of words).
        const joined =
          space && last?.node === node && last.nodeOffset + last.length === i - 1 && data[i - 1] === " ";
        if (space) text += " ";
        space = false;
        if (joined) last.length += 1 + j - i;
        else pieces.push({ node, nodeOffset: i, textOffset: text.length, length: j - i });
        text += data.slice(i, j);
        i = j;
      }
    }
    return { text, pieces };
  }

  /** The DOM position of UTF-16 offset `offset` of a run's text: {node, offset}, or null. */
  function locate(pieces, offset) {
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const piece = pieces[mid];
      if (offset < piece.textOffset) hi = mid - 1;
      else if (offset >= piece.textOffset + piece.length) lo = mid + 1;
      else return { node: piece.node, offset: piece.nodeOffset + offset - piece.textOffset };
    }
    return null;
  }

  /**
   * Runs ({top, bottom}: their block's place in the viewport) in scanning order: those on the
   * screen, then those below it, then those above it, each in document order.
   */
  function visibleFirst(runs, viewportHeight) {
    const on = [];
    const below = [];
    const above = [];
    for (const run of runs) {
      if (run.bottom <= 0) above.push(run);
      else if (run.top >= viewportHeight) below.push(run);
      else on.push(run);
    }
    return [...on, ...below, ...above];
  }

  /** Text compared loosely: the DOM's and the scan's white space differ. */
  const loose = (text) => String(text).replace(/\s+/g, " ").trim();

  /**
   * Which blocks to rescan after an edit: `before` and `now` map block -> text. Returns the
   * blocks that are new or changed, and those gone (in `before` only).
   */
  function diffBlocks(before, now) {
    const changed = [];
    const gone = [];
    for (const [block, text] of now) if (before.get(block) !== text) changed.push(block);
    for (const block of before.keys()) if (!now.has(block)) gone.push(block);
    return { changed, gone };
  }

  // ---- reading the page -------------------------------------------------------------------

  /** The outermost element of the contenteditable region holding `node`, or null. */
  function editingHost(node) {
    let element = node?.nodeType === Node.ELEMENT_NODE ? node : node?.parentElement;
    if (!element?.isContentEditable) return null;
    while (element.parentElement?.isContentEditable) element = element.parentElement;
    return element;
  }

  function isEditingHost(element) {
    return element.isContentEditable && !element.parentElement?.isContentEditable;
  }

  /**
   * The runs of text under `root`: text nodes grouped by the block they sit in (a <br>, or a
   * nested block, starts a new run), skipping what is not shown. Also counts the text fields
   * with text, which the scan cannot underline.
   */
  function collectRuns(root) {
    const display = new Map();
    const shown = new Map();
    const isBlock = (element) => {
      let value = display.get(element);
      if (value === undefined) {
        const d = getComputedStyle(element).display;
        value = !(d.startsWith("inline") || d === "contents" || d === "none" || d.startsWith("ruby"));
        display.set(element, value);
      }
      return value;
    };
    const blockOf = (node) => {
      for (let el = node.parentElement; el; el = el.parentElement) {
        // An editor is its own block, so that the full scan and a rescan of it agree.
        if (el === root || isBlock(el) || isEditingHost(el)) return el;
      }
      return root;
    };
    const textShown = (parent) => {
      let value = shown.get(parent);
      if (value === undefined) {
        value = getComputedStyle(parent).visibility === "visible";
        shown.set(parent, value);
      }
      return value;
    };
    let fields = 0;
    const filter = {
      acceptNode(node) {
        if (node.nodeType === Node.TEXT_NODE) return NodeFilter.FILTER_ACCEPT;
        const name = node.localName;
        if (SKIP.has(name)) {
          const field = name === "textarea" || (name === "input" && FIELD_TYPES.has(node.type));
          if (field && node.value.trim() && node.checkVisibility?.() !== false) fields++;
          return NodeFilter.FILTER_REJECT;
        }
        if (name === "br") return NodeFilter.FILTER_ACCEPT;
        if (node.checkVisibility && !node.checkVisibility()) {
          // display: contents has no box of its own, but its children do.
          return getComputedStyle(node).display === "contents"
            ? NodeFilter.FILTER_SKIP
            : NodeFilter.FILTER_REJECT;
        }
        return NodeFilter.FILTER_SKIP;
      },
    };
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, filter);
    const runs = [];
    let run = null;
    const end = () => {
      if (run) runs.push(run);
      run = null;
    };
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeType !== Node.TEXT_NODE) {
        end(); // a <br>
        continue;
      }
      const parent = node.parentElement;
      if (!parent || !textShown(parent)) continue;
      const blank = !/[^ \t\n\r\f]/.test(node.data);
      if (blank) {
        // Spacing between inline elements of the run; nothing on its own.
        if (run && blockOf(node) === run.block) run.nodes.push(node);
        continue;
      }
      const block = blockOf(node);
      if (!run || run.block !== block || run.length > MAX_RUN_CHARS) {
        end();
        run = { block, nodes: [], length: 0 };
      }
      run.nodes.push(node);
      run.length += node.data.length;
    }
    end();
    return { runs, fields };
  }

  // ---- state -------------------------------------------------------------------------------

  let nextId = 0;
  let scan = null; // {status, port, counts, progress, fields, error, checkAsYouType}
  const segments = new Map(); // id -> {block, text, pieces}
  const flagged = new Map(); // key -> {key, id, block, range, text, score, label}
  let blockTexts = new Map(); // editable block -> its text at the last scan (check as I type)
  const dirty = new Set(); // input event targets since the last pause
  let pauseTimer = 0;
  let rescanning = null; // the port of the rescan in flight
  let again = false;
  let lastSent = 0; // segments in the last request (for the test hook)
  let scanOrder = []; // the ids of the last full scan, in the order sent (for the test hook)

  const supported = () => typeof Highlight === "function" && Boolean(globalThis.CSS?.highlights);

  function highlight(label) {
    if (!supported()) return null;
    const name = label === "biased" ? BIASED : REVIEW;
    let set = CSS.highlights.get(name);
    if (!set) {
      set = new Highlight();
      set.priority = label === "biased" ? 2 : 1;
      CSS.highlights.set(name, set);
    }
    return set;
  }

  /** Make segments of runs: ids, texts, and the maps back to the DOM. */
  function toSegments(runs) {
    const out = [];
    for (const run of runs) {
      const { text, pieces } = runText(run.nodes);
      if (!/\p{L}/u.test(text)) continue;
      const id = `s${++nextId}`;
      segments.set(id, { block: run.block, text, pieces });
      out.push({ id, text });
    }
    return out;
  }

  function textsByBlock(runs) {
    const texts = new Map();
    for (const run of runs) {
      if (!editingHost(run.block)) continue;
      const text = runText(run.nodes).text;
      texts.set(run.block, texts.has(run.block) ? `${texts.get(run.block)}\n${text}` : text);
    }
    return texts;
  }

  function rangeFor(segment, start, end) {
    const a = locate(segment.pieces, start);
    const b = locate(segment.pieces, end - 1);
    if (!a || !b || !a.node.isConnected || !b.node.isConnected) return null;
    try {
      const range = document.createRange();
      range.setStart(a.node, a.offset);
      range.setEnd(b.node, b.offset + 1);
      // The page may have changed since the text was read: underline only what still reads so.
      return loose(range.toString()) === loose(segment.text.slice(start, end)) ? range : null;
    } catch {
      return null;
    }
  }

  function addSentence(data) {
    const segment = segments.get(data.id);
    if (!segment || !Number.isInteger(data.start) || !Number.isInteger(data.end)) return;
    const range = rangeFor(segment, data.start, data.end);
    if (!range) return;
    const key = `${data.id}:${data.start}`;
    const label = data.label === "biased" ? "biased" : "review";
    const entry = {
      key,
      id: data.id,
      block: segment.block,
      range,
      text: segment.text.slice(data.start, data.end),
      score: Number(data.score) || 0,
      label,
    };
    flagged.set(key, entry);
    highlight(label)?.add(range);
  }

  /** A range on `text` in `block` as it reads now, or null; `cache` keeps the block's runs. */
  function find(block, text, cache) {
    let runs = cache.get(block);
    if (!runs) {
      runs = collectRuns(block).runs.map((run) => runText(run.nodes));
      cache.set(block, runs);
    }
    for (const run of runs) {
      const at = run.text.indexOf(text);
      if (at >= 0) return rangeFor({ text: run.text, pieces: run.pieces }, at, at + text.length);
    }
    return null;
  }

  function move(entry, range) {
    const set = CSS.highlights?.get(entry.label === "biased" ? BIASED : REVIEW);
    set?.delete(entry.range);
    entry.range = range;
    set?.add(range);
  }

  function removeEntry(entry) {
    flagged.delete(entry.key);
    CSS.highlights?.get(entry.label === "biased" ? BIASED : REVIEW)?.delete(entry.range);
  }

  function forgetBlock(block) {
    for (const entry of [...flagged.values()]) if (entry.block === block) removeEntry(entry);
    for (const [id, segment] of segments) if (segment.block === block) segments.delete(id);
  }

  const biasedCount = () => [...flagged.values()].filter((e) => e.label === "biased").length;

  /** Tell content.js whether the scan runs: its card offers "Stop scan" while it does. */
  function announce() {
    globalThis.srllmContent?.setScanRunning(scan?.status === "running");
  }

  function reportBadge(biased = biasedCount()) {
    chrome.runtime.sendMessage({ type: "scan/badge", data: { biased } }).catch(() => {});
  }

  /** One request to the background: `list` of segments; handlers for what comes back. */
  function send(list, rescan, handlers) {
    const port = chrome.runtime.connect({ name: "srllm-scan" });
    lastSent = list.length;
    let finished = false;
    port.onMessage.addListener((message) => {
      if (message?.type === "scan/done" || message?.type === "scan/error") finished = true;
      const handler = Object.hasOwn(handlers, message?.type) ? handlers[message.type] : null;
      if (handler) handler(message.data ?? {});
    });
    port.onDisconnect.addListener(() => {
      if (!finished) handlers.lost?.();
    });
    port.postMessage({ type: "scan/segments", data: { segments: list, rescan } });
    return port;
  }

  // ---- a scan ------------------------------------------------------------------------------

  function begin({ checkAsYouType = false } = {}) {
    clear();
    const root = document.body ?? document.documentElement;
    const { runs, fields } = collectRuns(root);
    const boxes = new Map();
    const placed = runs.map((run) => {
      let box = boxes.get(run.block);
      if (!box) {
        box = run.block.getBoundingClientRect();
        boxes.set(run.block, box);
      }
      return { run, top: box.top, bottom: box.bottom };
    });
    const ordered = visibleFirst(placed, window.innerHeight).map((p) => p.run);
    let list = toSegments(ordered);
    let chars = 0;
    list = list.filter((s) => (chars += s.text.length) <= MAX_CHARS).slice(0, MAX_SEGMENTS);
    blockTexts = textsByBlock(runs);
    scan = {
      status: "running",
      port: null,
      counts: { biased: 0, review: 0, neutral: 0 },
      progress: { segments: 0, total: list.length },
      fields,
      error: null,
      checkAsYouType: Boolean(checkAsYouType),
    };
    listen();
    if (list.length === 0) {
      scan.status = "done";
      reportBadge();
      announce();
      return;
    }
    const state = scan;
    scanOrder = list.map((s) => s.id);
    state.port = send(list, false, {
      "scan/sentence": (data) => state === scan && addSentence(data),
      "scan/progress": (data) => {
        if (state !== scan) return;
        state.progress = { segments: data.segments, total: data.total };
        state.counts = { ...data.counts };
      },
      "scan/done": (data) => {
        if (state !== scan) return;
        state.counts = { ...data.counts };
        state.progress.segments = state.progress.total;
        state.status = "done";
        state.port = null;
        announce();
      },
      "scan/error": (data) => {
        if (state !== scan) return;
        state.status = "failed";
        state.error = {
          title: String(data.title ?? t("scanFailedTitle", "Scan failed")),
          message: String(data.message ?? ""),
        };
        state.port = null;
        announce();
      },
      lost: () => {
        if (state !== scan || state.status !== "running") return;
        state.status = "failed";
        state.port = null;
        state.error = {
          title: t("scanInterruptedTitle", "The scan was interrupted"),
          message: t("scanInterrupted", "The extension's background worker stopped. Scan again to finish."),
        };
        announce();
      },
    });
    announce();
  }

  function stop() {
    if (scan?.status !== "running") return;
    scan.status = "stopped";
    disconnect(scan.port);
    scan.port = null;
    reportBadge();
    announce();
  }

  function disconnect(port) {
    try {
      port?.disconnect(); // the background stops the request when the port closes
    } catch {
      /* already gone */
    }
  }

  function clear() {
    if (scan) disconnect(scan.port);
    disconnect(rescanning);
    rescanning = null;
    scan = null;
    flagged.clear();
    segments.clear();
    blockTexts = new Map();
    dirty.clear();
    clearTimeout(pauseTimer);
    if (supported()) {
      CSS.highlights.delete(BIASED);
      CSS.highlights.delete(REVIEW);
    }
    unlisten();
    announce();
  }

  // ---- opening the card from an underline --------------------------------------------------

  function open(entry, { reveal = false } = {}) {
    const { range } = entry;
    if (range.collapsed || !range.startContainer.isConnected) return false;
    if (reveal) {
      const element = range.startContainer.parentElement;
      element?.scrollIntoView({ block: "center", inline: "nearest" });
      editingHost(element)?.focus({ preventScroll: true });
    }
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range.cloneRange());
    // The card reads the selection like any check: Replace and Undo work as they do there.
    globalThis.srllmContent?.openForSelection();
    return true;
  }

  function inRect(x, y, rect) {
    return x >= rect.left - 1 && x <= rect.right + 1 && y >= rect.top - 1 && y <= rect.bottom + 1;
  }

  /** The underlined sentence drawn under the point (clientX/Y), or null. */
  function entryAt(x, y) {
    for (const entry of flagged.values()) {
      if (!entry.range.startContainer.isConnected) continue;
      for (const rect of entry.range.getClientRects()) if (inRect(x, y, rect)) return entry;
    }
    return null;
  }

  function onClick(event) {
    if (!event.isTrusted || event.button !== 0 || flagged.size === 0) return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.target?.localName === "srllm-card") return; // a click in the card itself
    const selection = window.getSelection();
    if (selection && !selection.isCollapsed) return; // the user is selecting text: leave it be
    const entry = entryAt(event.clientX, event.clientY);
    if (entry) open(entry);
  }

  function onKeydown(event) {
    // Enter on an underline with the caret (caret browsing) or a selection in it; not in an
    // editor or a control, where Enter is the user's.
    if (event.key !== "Enter" || !event.isTrusted || flagged.size === 0) return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const active = document.activeElement;
    if (active?.isContentEditable || active?.matches?.("input, textarea, select, button, a[href], summary"))
      return;
    const selection = window.getSelection();
    if (!selection?.rangeCount) return;
    const at = selection.getRangeAt(0);
    for (const entry of flagged.values()) {
      try {
        if (!entry.range.isPointInRange(at.startContainer, at.startOffset)) continue;
        if (!entry.range.isPointInRange(at.endContainer, at.endOffset)) continue;
      } catch {
        continue;
      }
      event.preventDefault();
      event.stopPropagation();
      open(entry);
      return;
    }
  }

  // ---- after an edit -----------------------------------------------------------------------

  function onInput(event) {
    // Per keystroke: remember where, restart the timer; the work waits for the pause.
    dirty.add(event.target);
    clearTimeout(pauseTimer);
    pauseTimer = setTimeout(afterPause, PAUSE_MS);
  }

  function afterPause() {
    if (!scan) return;
    const hosts = new Set();
    for (const target of dirty) {
      const host = editingHost(target);
      if (host) hosts.add(host);
    }
    dirty.clear();
    if (hosts.size === 0) return;
    if (rescanning) {
      for (const host of hosts) dirty.add(host);
      again = true;
      return;
    }
    // An edit moves or collapses the ranges around it (an editor may rebuild the text nodes of
    // the paragraph): an underline whose sentence is still in its block is put back on it; one
    // whose words changed (Replace, typing) goes.
    const runsOf = new Map();
    for (const entry of [...flagged.values()]) {
      const { range, block } = entry;
      const connected = range.startContainer.isConnected && block.isConnected;
      if (connected && ![...hosts].some((host) => host.contains(block))) continue;
      if (connected && loose(range.toString()) === loose(entry.text)) continue;
      const found = block.isConnected ? find(block, entry.text, runsOf) : null;
      if (found) move(entry, found);
      else removeEntry(entry);
    }
    if (scan.checkAsYouType && scan.status !== "running") rescan(hosts);
    else reportBadge();
  }

  /** Send the blocks of `hosts` whose text changed since the last scan; the rest stay. */
  function rescan(hosts) {
    const runs = [];
    const now = new Map();
    const before = new Map();
    for (const host of hosts) {
      const found = collectRuns(host).runs;
      runs.push(...found);
      for (const [block, text] of textsByBlock(found)) now.set(block, text);
      for (const [block, text] of blockTexts) {
        if (host.contains(block) || !block.isConnected) before.set(block, text);
      }
    }
    const { changed, gone } = diffBlocks(before, now);
    for (const block of gone) {
      forgetBlock(block);
      blockTexts.delete(block);
    }
    const wanted = new Set(changed);
    for (const block of changed) {
      forgetBlock(block);
      blockTexts.set(block, now.get(block));
    }
    const list = toSegments(runs.filter((run) => wanted.has(run.block)));
    if (list.length === 0) {
      reportBadge();
      return;
    }
    const done = () => {
      rescanning = null;
      reportBadge();
      if (again) {
        again = false;
        afterPause();
      }
    };
    rescanning = send(list, true, {
      "scan/sentence": (data) => addSentence(data),
      "scan/done": done,
      "scan/error": (data) => {
        if (data.kind !== "site_off" && data.kind !== "paused") return done();
        // Turned off meanwhile (in another tab of the site): no more underlines here either.
        clear();
        reportBadge(null);
      },
      lost: done,
    });
  }

  let listening = false;

  function listen() {
    if (listening) return;
    listening = true;
    document.addEventListener("click", onClick, true);
    document.addEventListener("keydown", onKeydown, true);
    document.addEventListener("input", onInput, true);
  }

  function unlisten() {
    listening = false;
    document.removeEventListener("click", onClick, true);
    document.removeEventListener("keydown", onKeydown, true);
    document.removeEventListener("input", onInput, true);
  }

  // ---- messages ----------------------------------------------------------------------------

  function inOrder(entries) {
    return entries.sort((a, b) => {
      try {
        return a.range.compareBoundaryPoints(Range.START_TO_START, b.range);
      } catch {
        return 0;
      }
    });
  }

  /** What the popup shows: the scan's state and the flagged sentences in page order. */
  function snapshot() {
    if (!scan) return { status: "none", highlights: supported() };
    return {
      status: scan.status,
      counts: { ...scan.counts },
      progress: { ...scan.progress },
      fields: scan.fields,
      error: scan.error,
      highlights: supported(),
      checkAsYouType: scan.checkAsYouType,
      biased: biasedCount(),
      flagged: inOrder([...flagged.values()]).map(({ key, text, score, label }) => ({
        key,
        text,
        score,
        label,
      })),
    };
  }

  const messageHandlers = {
    "scan/begin": (data) => {
      begin(data);
      return { ok: true };
    },
    "scan/stop": () => {
      stop();
      return snapshot();
    },
    "scan/clear": () => {
      clear();
      return { ok: true };
    },
    "scan/state": () => snapshot(),
    "scan/reveal": (data) => {
      const entry = flagged.get(String(data.key));
      return { ok: Boolean(entry && open(entry, { reveal: true })) };
    },
  };

  chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
    const handler = Object.hasOwn(messageHandlers, message?.type) ? messageHandlers[message.type] : null;
    if (!handler) return false;
    sendResponse(handler(message.data ?? {}));
    return false;
  });

  // The pure helpers, for test/scan-page.test.mjs; and a test hook in the extension's isolated
  // world (as content.js's): the end-to-end tests read the underlines through it.
  globalThis.srllmScanning = Object.freeze({ runText, locate, visibleFirst, diffBlocks, loose });
  globalThis.srllmScanTestHook = Object.freeze({
    /** The underlined text, per style, in page order. */
    underlined: () => {
      const read = (name) =>
        inOrder([...(CSS.highlights?.get(name) ?? [])].map((range) => ({ range }))).map((e) =>
          loose(e.range.toString()),
        );
      return { biased: read(BIASED), review: read(REVIEW) };
    },
    state: () => snapshot(),
    lastSent: () => lastSent,
    /** The texts of the last full scan's segments, in the order they were sent. */
    sentOrder: () => scanOrder.map((id) => segments.get(id)?.text ?? null),
    /** Scroll the underline holding `fragment` into view; the middle of its first line box. */
    point: (fragment) => {
      const entry = [...flagged.values()].find((e) => e.text.includes(fragment));
      if (!entry) return null;
      entry.range.startContainer.parentElement?.scrollIntoView({ block: "center" });
      const rect = entry.range.getClientRects()[0];
      return rect ? { x: rect.left + Math.min(rect.width / 2, 20), y: rect.top + rect.height / 2 } : null;
    },
  });
})();
