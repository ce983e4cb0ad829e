// The content script: reads the selection, shows the card, and replaces text on request.
// Injected on demand (scripting.executeScript, after card.js) into the frame where the user
// asked for a check; it never calls the server itself: it talks to background.js over a port
// named "srllm-check", and closing that port (Dismiss, Escape) cancels the request there.
// Message types are the strings of lib/protocol.js (this classic script cannot import it).
(() => {
  "use strict";
  if (globalThis.srllmContentLoaded) return; // injected again on every check; listen once
  globalThis.srllmContentLoaded = true;

  const EDITABLE_INPUT_TYPES = new Set(["text", "search", "url", "tel", "email", ""]);
  let current = null; // {card, port, target, text, finished, closed}

  // ---- selection -------------------------------------------------------------------------

  function deepActiveElement() {
    let active = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    return active;
  }

  function isTextField(node) {
    if (node instanceof HTMLTextAreaElement) return true;
    return node instanceof HTMLInputElement && EDITABLE_INPUT_TYPES.has(node.type);
  }

  /** What is selected, where, and how to put text back: null when nothing is selected. */
  function captureSelection() {
    const active = deepActiveElement();
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
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0).cloneRange();
    const text = selection.toString();
    if (!text) return null;
    const container = range.commonAncestorContainer;
    const element = container.nodeType === Node.ELEMENT_NODE ? container : container.parentElement;
    const editableRoot = element?.isContentEditable
      ? (element.closest("[contenteditable]:not([contenteditable='false'])") ?? element)
      : null;
    return {
      text,
      rect: range.getBoundingClientRect(),
      target: editableRoot
        ? { kind: "editable", range, root: editableRoot, editable: true }
        : { kind: "page", range, editable: false },
    };
  }

  // ---- replacing -------------------------------------------------------------------------

  function fireInput(element, data) {
    element.dispatchEvent(
      new InputEvent("input", { bubbles: true, inputType: "insertReplacementText", data }),
    );
  }

  /**
   * Put `replacement` where `original` was. execCommand("insertText") goes through the
   * browser's editing pipeline, so the page's undo (Ctrl+Z) restores the original and the page
   * sees beforeinput/input events; setRangeText is the fallback where that command is missing.
   */
  function replaceInField({ element, start, end }, original, replacement) {
    if (element.value.slice(start, end) !== original) {
      const found = element.value.indexOf(original);
      if (found < 0 || element.value.indexOf(original, found + 1) >= 0) return false;
      start = found;
      end = found + original.length;
    }
    element.focus();
    element.setSelectionRange(start, end);
    let inserted = false;
    try {
      inserted = document.execCommand("insertText", false, replacement);
    } catch {
      inserted = false;
    }
    if (!inserted) {
      element.setRangeText(replacement, start, end, "end");
      fireInput(element, replacement);
    }
    return true;
  }

  function replaceInEditable({ range, root }, original, replacement) {
    if (!root.isConnected || range.toString() !== original) return false;
    root.focus();
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    let inserted = false;
    try {
      inserted = document.execCommand("insertText", false, replacement);
    } catch {
      inserted = false;
    }
    if (!inserted) {
      range.deleteContents();
      range.insertNode(document.createTextNode(replacement));
      fireInput(root, replacement);
    }
    return true;
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
    if (below < window.innerHeight - 160 || rect.top < 200) {
      style.setProperty(
        "top",
        `${Math.max(margin, Math.min(below, window.innerHeight - 160))}px`,
        "important",
      );
    } else {
      style.setProperty("bottom", `${window.innerHeight - rect.top + margin}px`, "important");
    }
  }

  function onDocumentKeydown(event) {
    if (event.key === "Escape" && current) {
      event.stopPropagation();
      close();
    }
  }

  function close({ restoreFocus = true } = {}) {
    const state = current;
    if (!state) return;
    current = null;
    state.closed = true;
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
    const editable = Boolean(selection?.target?.editable);
    const state = {
      card: null,
      port: null,
      target: selection?.target,
      text: selection?.text ?? "",
      finished: false,
      closed: false,
    };
    state.card = globalThis.srllmCard.createCard(
      document,
      {
        onReplace: () => replace(state),
        onCopy: () => copy(state),
        onDismiss: () => close(),
        onRetry: () => (state.lastType === "check/rewrite" ? rewriteAnyway(state) : startCheck(state)),
        onRewriteAnyway: () => rewriteAnyway(state),
        onOptions: () => chrome.runtime.sendMessage({ type: "options/open", data: {} }),
      },
      { editable },
    );
    place(state.card.host, selection?.rect ?? { left: 16, top: 16, bottom: 16 });
    document.documentElement.append(state.card.host);
    document.addEventListener("keydown", onDocumentKeydown, true);
    current = state;
    state.card.focus();
    return state;
  }

  const portHandlers = {
    "check/flag": (state, data) => state.card.showFlag(data),
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
        title: "The check was interrupted",
        message:
          "The extension's background worker stopped before the answer came. Press Retry to check again.",
        retry: true,
      });
    });
    port.postMessage({ type, data: { text: state.text } });
  }

  function startCheck(state) {
    state.card.showChecking(state.text);
    send(state, "check/start");
  }

  function rewriteAnyway(state) {
    state.card.showRewriting();
    send(state, "check/rewrite");
  }

  function replace(state) {
    const { target } = state;
    const rewrite = state.card.rewriteText;
    let done = false;
    if (target?.kind === "field" && target.element.isConnected)
      done = replaceInField(target, state.text, rewrite);
    else if (target?.kind === "editable") done = replaceInEditable(target, state.text, rewrite);
    if (done) {
      close({ restoreFocus: false });
    } else {
      state.card.setStatus("The text changed since the check; select it again and re-check.");
    }
  }

  async function copy(state) {
    try {
      await navigator.clipboard.writeText(state.card.rewriteText);
      state.card.setStatus("Rewrite copied.");
    } catch {
      state.card.setStatus("Copying was blocked by the page; select the rewrite and copy it by hand.");
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
            title: "Selection inside an embedded frame",
            message:
              "Right-click the selection inside the frame and choose \u201cCheck for bias\u201d; if that does not work, srllm cannot read that frame.",
          }
        : {
            kind: "empty",
            title: "Nothing selected",
            message: "Select some text first, then choose \u201cCheck for bias\u201d.",
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
})();
