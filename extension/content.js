// The content script: reads the selection, shows the card, and replaces text on request.
// Injected on demand (scripting.executeScript, after card.js) into the frame where the user
// asked for a check; it never calls the server itself: it talks to background.js over a port
// named "srllm-check", and closing that port (Dismiss, Escape) cancels the request there.
// Message types are the strings of lib/protocol.js (this classic script cannot import it).
//
// Replace goes through the page's own editing machinery, never around it:
//   - text fields: execCommand("insertText") on the field's selection (the page's undo works);
//   - rich-text editors that keep their own model (Lexical, Slate, CKEditor...): a cancelable
//     `beforeinput` of type insertReplacementText, which such editors apply to their model;
//   - other contenteditables: execCommand per line, insertParagraph or insertLineBreak between
//     lines as the selection had paragraphs or <br>s, so the structure survives (Chromium's
//     insertText would turn every "\n" into a new paragraph) and the edit is one undo step.
// Afterwards the text is read back: if it is not the rewrite, the card says so and offers Undo
// and Copy. Nothing is ever written into the DOM directly.
(() => {
  "use strict";
  if (globalThis.srllmContentLoaded) return; // injected again on every check; listen once
  globalThis.srllmContentLoaded = true;

  // Inputs with a selection API. email and number have none (selectionStart is null): their
  // selected text comes from window.getSelection() and is checked read-only.
  const { t } = globalThis.srllmCard; // card.js is injected first
  const TEXT_INPUT_TYPES = new Set(["text", "search", "url", "tel", ""]);
  const SETTLE_MS = 800; // how long an editor may take to show an edit (they update async)
  const POLL_MS = 50;
  let current = null; // {card, port, target, text, finished, closed, ...}
  let scanRunning = false; // the page scan of this frame runs (scan.js says when it changes)

  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  /** Selection text as Chromium reports it, with no-break spaces (editors type them) as spaces. */
  const normalize = (text) => text.replace(/\u00a0/g, " ");

  // ---- selection -------------------------------------------------------------------------

  function deepActiveElement() {
    let active = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    return active;
  }

  function isTextField(node) {
    if (node instanceof HTMLTextAreaElement) return true;
    if (!(node instanceof HTMLInputElement) || !TEXT_INPUT_TYPES.has(node.type)) return false;
    try {
      return typeof node.selectionStart === "number";
    } catch {
      return false;
    }
  }

  /** The outermost element of the contenteditable region holding `element`, or null. */
  function editingHost(element) {
    if (!element?.isContentEditable) return null;
    let host = element;
    while (host.parentElement?.isContentEditable) host = host.parentElement;
    return host;
  }

  /** What is selected, where, and how to put text back: null when nothing is selected. */
  function captureSelection() {
    const active = deepActiveElement();
    // Never a password (Chromium reports its selection as bullets anyway).
    if (active instanceof HTMLInputElement && active.type === "password") return null;
    if (isTextField(active)) {
      const start = active.selectionStart ?? 0;
      const end = active.selectionEnd ?? 0;
      if (end <= start) return null;
      const editable = !active.readOnly && !active.disabled;
      return {
        text: active.value.slice(start, end),
        rect: active.getBoundingClientRect(),
        target: { kind: "field", element: active, start, end, editable },
      };
    }
    const selection = window.getSelection();
    // Not isCollapsed: for an email field's selection the range is collapsed beside the field.
    if (!selection || selection.rangeCount === 0) return null;
    const range = selection.getRangeAt(0).cloneRange();
    const text = selection.toString();
    if (!text) return null;
    // A field without a selection API (email): Chromium reports its selected text here, with
    // a range around the field. It can be checked, not replaced.
    const inField = active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement;
    const container = range.commonAncestorContainer;
    const element = container.nodeType === Node.ELEMENT_NODE ? container : container.parentElement;
    const root = inField ? null : editingHost(element);
    return {
      text,
      rect: (inField ? active : range).getBoundingClientRect(),
      target: root
        ? { kind: "editable", range, root, editable: true }
        : { kind: "page", range, editable: false, field: inField },
    };
  }

  /** The text of `range` as selection.toString() gives it (line breaks for blocks and <br>). */
  function textOf(range) {
    const selection = window.getSelection();
    const saved = [];
    for (let i = 0; i < selection.rangeCount; i++) saved.push(selection.getRangeAt(i));
    selection.removeAllRanges();
    selection.addRange(range);
    const text = selection.toString();
    selection.removeAllRanges();
    for (const r of saved) selection.addRange(r);
    return text;
  }

  function contentsOf(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    return range;
  }

  // ---- planning an edit (pure; exported for test/content.test.mjs) -------------------------

  /**
   * Where `needle` is in `haystack`: the occurrence nearest to `near`, or -1. The selection's
   * offset inside its editor is measured, but where a block boundary falls (before or after
   * the selection) can shift it by a line break.
   */
  function locate(haystack, needle, near) {
    let best = -1;
    for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) {
      if (best < 0 || Math.abs(at - near) < Math.abs(best - near)) best = at;
    }
    return best;
  }

  /**
   * The edit that puts `rewrite` where `original` was: [{text}] and [{break: "paragraph" |
   * "line"}] steps. `groups` lists, for each run of line breaks in `original` (what
   * selection.toString() made of block boundaries and <br>s), the breaks behind it, e.g. a
   * "\n\n" between two <p>s is ["paragraph"] and one between two <br>s is ["line", "line"].
   * The server keeps every character outside the rewritten sentences, so the rewrite's runs are
   * usually the original's, in order: each gets the same breaks back. Other runs (a model may
   * put line breaks inside a sentence) are built from runs the original had, and what is left
   * becomes <br>s: one "\n" each in selection.toString(), so the text reads back as the rewrite.
   */
  function planEdit(original, rewrite, groups) {
    const originalRuns = original.match(/\n+/g) ?? [];
    const pieces = rewrite.split(/(\n+)/); // odd indices are runs of line breaks
    const runs = pieces.filter((_, i) => i % 2 === 1);
    const aligned = groups.length === originalRuns.length;
    const same =
      aligned && runs.length === originalRuns.length && runs.every((r, i) => r === originalRuns[i]);
    const known = new Map();
    if (aligned) originalRuns.forEach((run, i) => known.has(run) || known.set(run, groups[i]));
    const longestFirst = [...known.keys()].sort((a, b) => b.length - a.length);
    const breaksFor = (run) => {
      const out = [];
      let rest = run.length;
      while (rest > 0) {
        const piece = longestFirst.find((k) => k.length <= rest);
        if (!piece) {
          for (; rest > 0; rest--) out.push("line");
          break;
        }
        out.push(...known.get(piece));
        rest -= piece.length;
      }
      return out;
    };
    const steps = [];
    pieces.forEach((piece, i) => {
      if (i % 2 === 0) {
        if (piece) steps.push({ text: piece });
        return;
      }
      const run = (i - 1) / 2;
      for (const kind of same ? groups[run] : breaksFor(piece)) steps.push({ break: kind });
    });
    return steps;
  }

  /** The steps as plain text for an editor: one "\n" per paragraph or line break. */
  function plainText(steps) {
    return steps.map((step) => step.text ?? "\n").join("");
  }

  // ---- reading an editor's line breaks ----------------------------------------------------

  function blockOf(node, root) {
    for (
      let el = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
      el;
      el = el.parentElement
    ) {
      if (el === root) return root;
      const display = getComputedStyle(el).display;
      if (display && !display.startsWith("inline") && display !== "contents" && display !== "none") return el;
    }
    return root;
  }

  /**
   * The breaks behind each run of line breaks in the text of `range`: text pieces and <br>s in
   * order; a change of block between two of them is a paragraph break, a <br> followed by more
   * in its block a line break (a <br> that ends its block only keeps an empty block open).
   */
  function lineBreakGroups(range, root) {
    const leaves = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!range.intersectsNode(node)) continue;
      if (node.nodeType === Node.TEXT_NODE) {
        if (/[^ \t\n\r\f]/.test(node.data)) leaves.push({ br: false, block: blockOf(node, root) });
      } else if (node.tagName === "BR") {
        leaves.push({ br: true, block: blockOf(node.parentNode, root) });
      }
    }
    const groups = [];
    let group = [];
    for (let i = 1; i < leaves.length; i++) {
      const previous = leaves[i - 1];
      const next = leaves[i];
      if (previous.block !== next.block) group.push("paragraph");
      else if (previous.br) group.push("line");
      if (!next.br && group.length) {
        groups.push(group);
        group = [];
      }
    }
    if (group.length) groups.push(group);
    return groups;
  }

  // ---- replacing -------------------------------------------------------------------------

  function exec(command, value) {
    try {
      return document.execCommand(command, false, value);
    } catch {
      return false;
    }
  }

  /** Run the steps as editing commands on the current selection; how many succeeded. */
  function runSteps(steps) {
    if (steps.length === 0) return exec("delete") ? 1 : 0;
    let done = 0;
    for (const step of steps) {
      const ok =
        step.text !== undefined
          ? exec("insertText", step.text)
          : exec(step.break === "paragraph" ? "insertParagraph" : "insertLineBreak");
      if (!ok) break;
      done++;
    }
    return done;
  }

  /**
   * Offer an edit to an editor that keeps its own model: a cancelable `beforeinput` like the
   * browser's own. True when the editor took it (cancelled the event and did the edit itself);
   * a plain contenteditable has nobody listening, and the browser does nothing for a
   * script-made event.
   */
  function offerToEditor(root, inputType, range, text) {
    const init = { bubbles: true, cancelable: true, composed: true, inputType };
    if (text !== undefined) {
      init.data = text;
      try {
        init.dataTransfer = new DataTransfer();
        init.dataTransfer.setData("text/plain", text);
      } catch {
        delete init.dataTransfer;
      }
    }
    if (range) {
      const { startContainer, startOffset, endContainer, endOffset } = range;
      init.targetRanges = [new StaticRange({ startContainer, startOffset, endContainer, endOffset })];
    }
    let event;
    try {
      event = new InputEvent("beforeinput", init);
    } catch {
      return false;
    }
    return !root.dispatchEvent(event);
  }

  /** Poll `read` until `done(value)` or SETTLE_MS: editors update their DOM asynchronously. */
  async function settle(read, done) {
    const deadline = Date.now() + SETTLE_MS;
    await wait(0);
    let value = read();
    while (!done(value) && Date.now() < deadline) {
      await wait(POLL_MS);
      value = read();
    }
    return value;
  }

  /** Run `edit` with the page's edit events marked as ours (not the user's). */
  function asOwnEdit(state, edit) {
    state.ownEdit = true;
    try {
      return edit();
    } finally {
      state.ownEdit = false;
    }
  }

  /**
   * An outcome: {kind: "replaced" | "mismatch" | "refused" | "changed", undo?}. "refused": the
   * page's text is as it was; "mismatch": it changed, but is not the rewrite.
   */
  function outcome(after, before, isExpected, undo) {
    if (isExpected(after)) return { kind: "replaced", undo };
    if (after === before) return { kind: "refused" };
    return { kind: "mismatch", undo };
  }

  async function replaceInField(state, target, original, rewrite) {
    const { element } = target;
    let { start, end } = target;
    if (!element.isConnected) return { kind: "changed" };
    if (element.value.slice(start, end) !== original) {
      const found = element.value.indexOf(original);
      if (found < 0 || element.value.indexOf(original, found + 1) >= 0) return { kind: "changed" };
      start = found;
      end = found + original.length;
    }
    const before = element.value;
    const expected = before.slice(0, start) + rewrite + before.slice(end);
    const isExpected = (value) => value === expected;
    element.focus({ preventScroll: true });
    element.setSelectionRange(start, end);
    const inserted = asOwnEdit(state, () => exec("insertText", rewrite));
    if (!inserted && element.value === before) return { kind: "refused" };
    const read = () => element.value;
    const after = await settle(read, isExpected);
    const undo = async () => {
      // Only what Replace left: undoing anything else would undo the user's own edits.
      if (!element.isConnected || read() !== after) return read() === before;
      element.focus({ preventScroll: true });
      asOwnEdit(state, () => exec("undo"));
      return (await settle(read, (value) => value === before)) === before;
    };
    return outcome(after, before, isExpected, undo);
  }

  async function replaceInEditable(state, target, original, rewrite) {
    const { range, root } = target;
    if (!root.isConnected) return { kind: "changed" };
    root.focus({ preventScroll: true });
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    // selection.toString() has line breaks for block boundaries and <br>s, range.toString()
    // has none: compare like with like.
    if (normalize(selection.toString()) !== normalize(original)) return { kind: "changed" };

    const steps = planEdit(original, rewrite, lineBreakGroups(range, root));
    const whole = () => normalize(textOf(contentsOf(root)));
    const before = whole();
    const prefix = document.createRange();
    prefix.setStart(root, 0);
    prefix.setEnd(range.startContainer, range.startOffset);
    const at = locate(before, normalize(original), normalize(textOf(prefix)).length);
    const expected =
      at < 0 ? null : before.slice(0, at) + normalize(rewrite) + before.slice(at + original.length);
    // Where the original cannot be found in its editor's text, the rewrite must at least be there.
    const isExpected = (text) =>
      expected === null ? text !== before && text.includes(normalize(rewrite)) : text === expected;

    const byEditor = asOwnEdit(state, () =>
      offerToEditor(root, "insertReplacementText", range, plainText(steps)),
    );
    if (!byEditor) {
      const done = asOwnEdit(state, () => runSteps(steps));
      if (done === 0) return { kind: "refused" };
      if (done < Math.max(steps.length, 1)) {
        // The browser stopped half-way: take the half-edit back (one undo step) and say so.
        asOwnEdit(state, () => exec("undo"));
        const now = await settle(whole, (text) => text === before);
        return now === before ? { kind: "refused" } : { kind: "mismatch", undo: null };
      }
    }
    const after = await settle(whole, isExpected);
    const undo = async () => {
      // Only what Replace left: undoing anything else would undo the user's own edits.
      const now = root.isConnected ? whole() : null;
      if (now !== after) return now === before;
      root.focus({ preventScroll: true });
      if (byEditor) {
        if (!asOwnEdit(state, () => offerToEditor(root, "historyUndo"))) return false;
      } else {
        asOwnEdit(state, () => exec("undo"));
      }
      return (await settle(whole, (text) => text === before)) === before;
    };
    return outcome(after, before, isExpected, undo);
  }

  /**
   * After a Replace, the user may edit on; the card's Undo then no longer knows what it would
   * undo (the browser's undo stack is one per page), so it steps aside for the page's own.
   */
  function watchEdits(state) {
    const onEdit = (event) => {
      if (state.ownEdit || !event.isTrusted || state.closed) return;
      unwatchEdits(state);
      state.undo = null;
      state.card.showEdit({
        replace: false,
        undo: false,
        message:
          event.inputType === "historyUndo"
            ? t("cardUndoneInPage", "Undone in the page.")
            : t(
                "cardEditedAfterReplace",
                "The text was edited after Replace: use the field's own undo (Ctrl+Z) to go back.",
              ),
      });
    };
    document.addEventListener("beforeinput", onEdit, true);
    document.addEventListener("input", onEdit, true);
    state.unwatch = () => {
      document.removeEventListener("beforeinput", onEdit, true);
      document.removeEventListener("input", onEdit, true);
    };
  }

  function unwatchEdits(state) {
    state.unwatch?.();
    state.unwatch = null;
  }

  const REPLACE_MESSAGES = {
    replaced: t("cardReplaced", "Replaced. Undo, or Ctrl+Z in the field, brings the original back."),
    mismatch: t(
      "cardReplaceMismatch",
      "The page changed the text while it went in: it is not exactly the rewrite. Undo brings the original back; Copy gives you the rewrite.",
    ),
    mismatchNoUndo: t(
      "cardReplaceMismatchNoUndo",
      "The page changed the text while it went in: it is not exactly the rewrite. The field's own undo (Ctrl+Z) brings the original back; Copy gives you the rewrite.",
    ),
    refused: t(
      "cardReplaceRefused",
      "This editor did not take the rewrite, so nothing was changed. Copy it and paste it in yourself.",
    ),
    changed: t("cardReplaceChanged", "The text changed since the check; select it again and re-check."),
  };

  async function replace(state) {
    if (state.busy || state.closed) return;
    const { target } = state;
    const rewrite = state.card.rewriteText;
    state.busy = true;
    state.card.setStatus(t("cardReplacing", "Replacing\u2026"));
    let result = { kind: "changed" };
    try {
      if (target?.kind === "field") result = await replaceInField(state, target, state.text, rewrite);
      else if (target?.kind === "editable")
        result = await replaceInEditable(state, target, state.text, rewrite);
    } catch {
      result = { kind: "refused" };
    } finally {
      state.busy = false;
    }
    if (state.closed) return;
    if (result.kind === "replaced" || result.kind === "mismatch") {
      state.undo = result.undo ?? null;
      const key = result.kind === "mismatch" && !state.undo ? "mismatchNoUndo" : result.kind;
      state.card.showEdit({ replace: false, undo: Boolean(state.undo), message: REPLACE_MESSAGES[key] });
      if (state.undo) watchEdits(state);
    } else {
      state.card.showEdit({ replace: false, undo: false, message: REPLACE_MESSAGES[result.kind] });
    }
  }

  async function undo(state) {
    if (state.busy || state.closed || !state.undo) return;
    const run = state.undo;
    state.undo = null;
    unwatchEdits(state);
    state.busy = true;
    let restored = false;
    try {
      restored = await run();
    } catch {
      restored = false;
    } finally {
      state.busy = false;
    }
    if (state.closed) return;
    if (!restored) {
      state.card.showEdit({
        replace: false,
        undo: false,
        message: t(
          "cardUndoFailed",
          "The original did not come back from here: use the field's own undo (Ctrl+Z).",
        ),
      });
      return;
    }
    // The browser's undo selects the restored text again: Replace can be offered once more.
    const again = captureSelection();
    const replaceable = again?.target?.editable && normalize(again.text) === normalize(state.text);
    if (replaceable) state.target = again.target;
    state.card.showEdit({
      replace: Boolean(replaceable),
      undo: false,
      message: t("cardUndone", "Original restored."),
    });
  }

  // ---- card ------------------------------------------------------------------------------

  function place(host, rect) {
    const margin = 8;
    const width = Math.min(400, window.innerWidth - 2 * margin);
    const left = Math.max(margin, Math.min(rect.left, window.innerWidth - width - margin));
    const below = rect.bottom + margin;
    const style = host.style;
    // Inline !important beats even `* { ... !important }` in the page's stylesheets.
    style.setProperty("all", "initial", "important");
    style.setProperty("display", "block", "important");
    style.setProperty("position", "fixed", "important");
    style.setProperty("z-index", "2147483647", "important");
    style.setProperty("left", `${left}px`, "important");
    let room; // the card's height may not pass the window's edge: it scrolls inside instead
    if (below < window.innerHeight - 160 || rect.top < 200) {
      const top = Math.max(margin, Math.min(below, window.innerHeight - 160));
      style.setProperty("top", `${top}px`, "important");
      room = window.innerHeight - top - margin;
    } else {
      style.setProperty("bottom", `${window.innerHeight - rect.top + margin}px`, "important");
      room = rect.top - 2 * margin;
    }
    style.setProperty("--srllm-room", `${Math.max(160, Math.floor(room))}px`, "important");
  }

  function onDocumentKeydown(event) {
    // Only the user's own Escape: a page script cannot dismiss the card with a made-up one.
    if (event.key === "Escape" && event.isTrusted && current) {
      event.stopPropagation();
      close();
    }
  }

  function close({ restoreFocus = true } = {}) {
    const state = current;
    if (!state) return;
    current = null;
    state.closed = true;
    unwatchEdits(state);
    document.removeEventListener("keydown", onDocumentKeydown, true);
    try {
      state.port?.disconnect(); // the background aborts the request when the port closes
    } catch {
      /* already gone */
    }
    state.card.destroy();
    if (restoreFocus && state.target?.kind === "field" && state.target.element.isConnected) {
      state.target.element.focus({ preventScroll: true });
    }
  }

  function openCard(selection) {
    close({ restoreFocus: false });
    const target = selection?.target;
    const state = {
      card: null,
      port: null,
      target,
      text: selection?.text ?? "",
      finished: false,
      closed: false,
      busy: false,
      ownEdit: false,
      undo: null,
      unwatch: null,
      ignore: new Set(), // terms ignored once on this card
      flag: null,
    };
    state.card = globalThis.srllmCard.createCard(
      document,
      {
        onReplace: () => replace(state),
        onUndo: () => undo(state),
        onCopy: () => copy(state),
        onDismiss: () => close(),
        onRetry: () => (state.lastType === "check/rewrite" ? rewriteAnyway(state) : startCheck(state)),
        onRewriteAnyway: () => rewriteAnyway(state),
        onOptions: () => chrome.runtime.sendMessage({ type: "options/open", data: {} }),
        onStop: () => stop(state),
        onStopScan: () => stopScan(),
        onIgnoreOnce: (term) => ignoreOnce(state, term),
        onAllow: (term) =>
          remember(state, "allow/add", { term }, t("cardAllowed", "Never flagged again (Options lists it).")),
        onMute: (category) =>
          remember(
            state,
            "mute/add",
            { category },
            t("cardMuted", "Category muted (Options can turn it back on)."),
          ),
        onDisagree: (what) => disagree(state, what),
      },
      { editable: Boolean(target?.editable), readOnlyField: Boolean(target?.field) },
    );
    state.card.showScanRunning(scanRunning);
    place(state.card.host, selection?.rect ?? { left: 16, top: 16, bottom: 16 });
    document.documentElement.append(state.card.host);
    document.addEventListener("keydown", onDocumentKeydown, true);
    current = state;
    state.card.focus();
    return state;
  }

  const portHandlers = {
    "check/queued": (state, data) => state.card.showQueued(data.position),
    "check/started": (state) => state.card.showStarted(),
    "check/flag": (state, data) => {
      state.flag = data; // what Disagree records
      state.card.showFlag(data);
    },
    "check/delta": (state, data) => state.card.appendRewrite(data.delta),
    "check/done": (state, data) => {
      state.finished = true;
      state.card.showDone(data);
    },
    "check/error": (state, data) => {
      state.finished = true;
      state.card.showFailure(data);
    },
  };

  /** Open a port for one request; the background streams the answer back on it. */
  function send(state, type) {
    if (state.closed) return;
    try {
      state.port?.disconnect(); // cancels a request still running for this card
    } catch {
      /* already gone */
    }
    state.finished = false;
    state.lastType = type;
    const port = chrome.runtime.connect({ name: "srllm-check" });
    state.port = port;
    port.onMessage.addListener((message) => {
      if (state.port !== port || state.closed) return;
      const handler = portHandlers[message?.type];
      if (handler) handler(state, message.data ?? {});
    });
    port.onDisconnect.addListener(() => {
      // The service worker stopped (the browser stops idle workers, or the extension was
      // updated) before the answer came: say so and offer Retry, which wakes a fresh worker.
      if (state.port !== port || state.closed || state.finished) return;
      state.finished = true;
      state.card.showFailure({
        kind: "disconnected",
        title: t("cardInterruptedTitle", "The check was interrupted"),
        message: t(
          "cardInterrupted",
          "The extension's background worker stopped before the answer came. Press Retry to check again.",
        ),
        retry: true,
      });
    });
    port.postMessage({ type, data: { text: state.text, ignore: [...state.ignore] } });
  }

  /** Stop: closing the port cancels the request, which stops the server's work on it. */
  function stop(state) {
    if (state.closed || state.finished) return;
    state.finished = true;
    try {
      state.port?.disconnect();
    } catch {
      /* already gone */
    }
    state.port = null;
    state.card.showStopped();
  }

  /**
   * The card's "Stop scan": the message the popup's Stop sends, for this tab (the background
   * takes it from the sender); scan.js stops and says so through setScanRunning().
   */
  function stopScan() {
    chrome.runtime.sendMessage({ type: "scan/stop", data: {} }).catch(() => {});
  }

  function setScanRunning(running) {
    scanRunning = running;
    current?.card.showScanRunning(running);
  }

  /** Check again with `term` allowed for this card only. */
  function ignoreOnce(state, term) {
    if (state.closed) return;
    state.ignore.add(term);
    startCheck(state);
  }

  /** Save a choice through the background (the settings are out of this world's reach), then
   * check again under it. */
  async function remember(state, type, data, done) {
    if (state.closed) return;
    const reply = await chrome.runtime.sendMessage({ type, data }).catch(() => null);
    if (state.closed) return;
    if (!reply?.ok) {
      state.card.setStatus(t("cardNotSaved", "That could not be saved; try again from Options."));
      return;
    }
    startCheck(state);
    state.card.setStatus(done);
  }

  /** "Disagree" on the verdict or one highlighted term: an evaluation row kept on this computer. */
  async function disagree(state, { kind, term = null }) {
    const flag = state.flag;
    if (state.closed || !flag) return;
    const data = {
      kind,
      term,
      text: state.text,
      label: flag.label,
      terms: (flag.findings ?? []).map((f) => f.text),
      model: flag.model ?? null,
    };
    const reply = await chrome.runtime.sendMessage({ type: "disagree/add", data }).catch(() => null);
    if (state.closed) return;
    state.card.setStatus(
      reply?.ok
        ? t("cardNoted", "Noted on this computer only; export your notes from Options.")
        : t("cardNoteNotSaved", "The note could not be saved."),
    );
  }

  function startCheck(state) {
    state.card.showChecking(state.text);
    send(state, "check/start");
  }

  function rewriteAnyway(state) {
    state.card.showRewriting();
    send(state, "check/rewrite");
  }

  async function copy(state) {
    try {
      await navigator.clipboard.writeText(state.card.rewriteText);
      state.card.setStatus(t("cardCopied", "Rewrite copied."));
    } catch {
      state.card.setStatus(
        t("cardCopyBlocked", "Copying was blocked by the page; select the rewrite and copy it by hand."),
      );
    }
  }

  function openForSelection() {
    const selection = captureSelection();
    if (selection && selection.text.trim()) {
      startCheck(openCard(selection));
      return;
    }
    // Read the focus before the card opens: the card takes the focus.
    const focused = deepActiveElement()?.tagName;
    const inFrame = focused === "IFRAME" || focused === "FRAME";
    const state = openCard(null);
    state.card.showFailure(
      inFrame
        ? {
            kind: "frame",
            title: t("errorFrameTitle", "Selection inside an embedded frame"),
            message: t(
              "cardFrameSelection",
              "Right-click the selection inside the frame and choose \u201cCheck for bias\u201d; if that does not work, srllm cannot read that frame.",
            ),
          }
        : {
            kind: "empty",
            title: t("errorEmptyTitle", "Nothing selected"),
            message: t(
              "cardNothingSelected",
              "Select some text first, then choose \u201cCheck for bias\u201d.",
            ),
          },
    );
  }

  const messageHandlers = {
    "card/open": () => openForSelection(),
    "card/problem": (data) => {
      const state = openCard(captureSelection());
      state.card.showFailure(data);
    },
  };

  chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
    const handler = messageHandlers[message?.type];
    if (!handler) return false;
    handler(message.data ?? {});
    sendResponse({ ok: true });
    return false;
  });

  // The pure planning helpers, for test/content.test.mjs. This global and the test hook below
  // live in the extension's isolated world: a page's scripts run in another world and cannot
  // see them (nor can other extensions). The end-to-end tests reach this world through the
  // DevTools protocol (tests/e2e/conftest.py); that is the only way in from outside.
  globalThis.srllmEditing = Object.freeze({ planEdit, plainText, locate });
  // For scan.js, in this same world: a click on an underline selects its sentence and opens
  // the card exactly as a check of the selection does (so Replace and Undo work the same), and
  // the scan says when it starts and ends (the card offers "Stop scan" meanwhile).
  globalThis.srllmContent = Object.freeze({ openForSelection, setScanRunning });
  globalThis.srllmTestHook = Object.freeze({
    /** The open card's closed shadow root, or null. */
    cardRoot: () => current?.card.root ?? null,
  });
})();
