// The in-page result card. A classic script (content scripts cannot be ES modules), injected
// before content.js; it defines globalThis.srllmCard in the content script's isolated world.
//
// Rule: every string that came from the page, the model or the server goes in through
// textContent / createTextNode; no HTML parsing anywhere (the CSS below is a constant of ours).
// The page cannot reach into the card: its shadow root is closed, and its buttons act only on
// the user's own clicks (event.isTrusted), never on script-made ones.
// test/card.test.mjs renders it against a recording fake document.
(() => {
  "use strict";

  /**
   * A string of _locales/<lang>/messages.json through chrome.i18n (content scripts have it);
   * `fallback` (English, with $1, $2... for `subs`) where there is no such API or message, as
   * in the node tests.
   */
  function t(key, fallback, ...subs) {
    try {
      const message = globalThis.chrome?.i18n?.getMessage?.(key, subs.map(String));
      if (message) return message;
    } catch {
      /* no i18n here */
    }
    return subs.reduce((text, value, i) => text.replaceAll(`$${i + 1}`, String(value)), fallback);
  }

  const VERDICTS = {
    neutral: { text: t("verdictNeutral", "Neutral"), tone: "ok" },
    slightly_biased: { text: t("verdictSlightlyBiased", "Slightly biased"), tone: "warn" },
    highly_biased: { text: t("verdictHighlyBiased", "Highly biased"), tone: "bad" },
  };

  const CSS = `
:host { all: initial; }
.card {
  color-scheme: light dark; letter-spacing: normal; word-spacing: normal; text-transform: none;
  text-indent: 0; font-style: normal; font-weight: normal; direction: ltr;
  --bg: #ffffff; --fg: #1b1b1f; --muted: #55575f; --line: #c9cad1; --accent: #1c5fd4;
  --mark: #ffe08a; --mark-fg: #1b1b1f; --ok: #1e6b35; --warn: #8a5a00; --bad: #a3192c;
  box-sizing: border-box; width: min(400px, calc(100vw - 16px)); max-height: min(70vh, 560px, var(--srllm-room, 560px));
  overflow: auto; padding: 12px 14px; border: 1px solid var(--line); border-radius: 10px;
  background: var(--bg); color: var(--fg); box-shadow: 0 6px 24px rgba(0,0,0,.25);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; text-align: left;
}
@media (prefers-color-scheme: dark) {
  .card { --bg: #202126; --fg: #ececf1; --muted: #b4b6be; --line: #4a4c55; --accent: #8ab4ff;
    --mark: #7a5c00; --mark-fg: #fff6d8; --ok: #7fd99a; --warn: #ffcc66; --bad: #ff8a97; }
}
.card:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.head { display: flex; align-items: center; gap: 8px; margin: 0 0 8px; }
.title { font-weight: 600; font-size: 14px; margin: 0; flex: 1; }
.badge { border: 1px solid currentColor; border-radius: 999px; padding: 1px 8px; font-size: 12px;
  font-weight: 600; white-space: nowrap; }
.badge[data-tone="ok"] { color: var(--ok); } .badge[data-tone="warn"] { color: var(--warn); }
.badge[data-tone="bad"] { color: var(--bad); } .badge[data-tone="busy"] { color: var(--muted); }
.cats { display: flex; flex-wrap: wrap; gap: 4px; margin: 0 0 8px; padding: 0; list-style: none; }
.cats li { font-size: 12px; background: color-mix(in srgb, var(--line) 45%, transparent);
  border-radius: 4px; padding: 0 6px; }
.label { font-size: 12px; color: var(--muted); margin: 8px 0 2px; font-weight: 600; }
.excerpt, .rewrite { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; max-height: 160px;
  overflow: auto; text-align: start; }
.confidence { font-size: 12px; color: var(--muted); margin: 0 0 6px; }
.findings { margin: 6px 0; padding: 0; list-style: none; }
.findings li { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; margin: 2px 0; }
.findings .term { font-weight: 600; margin-right: 4px; }
.findings .source { font-size: 12px; color: var(--muted); margin-right: 4px; }
.cats li button, .findings button { font-size: 11px; padding: 0 6px; border-radius: 4px; }
.cats li button { margin-left: 4px; }
.excerpt mark { background: var(--mark); color: var(--mark-fg); border-radius: 2px; padding: 0 1px; }
.rewrite { border-left: 3px solid var(--accent); padding-left: 8px; }
.explanation, .message { margin: 6px 0; }
.status { font-size: 12px; color: var(--muted); min-height: 1em; margin: 6px 0 0; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background:
  color-mix(in srgb, var(--line) 45%, transparent); padding: 1px 5px; border-radius: 4px; }
.commands { margin: 6px 0; padding-left: 18px; }
.actions { display: flex; gap: 8px; margin-top: 10px; flex-wrap: wrap; }
button { font: inherit; font-size: 13px; padding: 4px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: transparent; color: var(--fg); }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--bg); }
button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
[hidden] { display: none !important; }
`;

  function el(doc, tag, attrs = {}, text) {
    const node = doc.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  /** Fill `container` with the excerpt, biased pieces wrapped in <mark>; all as text. */
  function renderSegments(doc, container, segments) {
    container.replaceChildren();
    for (const segment of segments) {
      const text = String(segment.text);
      if (segment.biased) container.append(el(doc, "mark", {}, text));
      else container.append(doc.createTextNode(text));
    }
  }

  let counter = 0;

  /**
   * Build a card. `actions` holds callbacks: onReplace, onUndo, onCopy, onDismiss, onRetry,
   * onOptions, onRewriteAnyway, onStop, onStopScan. `editable`: the selection can be replaced; `readOnlyField`: it
   * is in a field srllm cannot edit (an email field), which the finished card says.
   * Returns {host, root, ...methods}; the caller positions and attaches `host`. `root` is the
   * closed shadow root, for the content script's own (isolated) world only.
   */
  function createCard(doc, actions, { editable = false, readOnlyField = false } = {}) {
    const id = `srllm-card-${++counter}`;
    // A custom tag: page rules for div/section/etc. never match the host.
    const host = el(doc, "srllm-card", { "data-srllm": "card" });
    const root = host.attachShadow({ mode: "closed" });
    const style = el(doc, "style", {}, CSS);
    const card = el(doc, "section", {
      class: "card",
      role: "dialog",
      "aria-labelledby": `${id}-title`,
      "aria-describedby": `${id}-status`,
      tabindex: "-1",
    });
    const head = el(doc, "div", { class: "head" });
    const title = el(doc, "h2", { class: "title", id: `${id}-title` }, t("cardTitle", "srllm bias check"));
    const badge = el(
      doc,
      "span",
      { class: "badge", "data-tone": "busy" },
      t("cardChecking", "Checking\u2026"),
    );
    head.append(title, badge);

    const cats = el(doc, "ul", {
      class: "cats",
      "aria-label": t("cardCategories", "Bias categories"),
      hidden: "",
    });
    const excerptLabel = el(doc, "p", { class: "label" }, t("cardSelectedText", "Selected text"));
    // dir="auto": right-to-left text (Arabic, Hebrew) reads in its own direction.
    const excerpt = el(doc, "p", { class: "excerpt", "data-part": "excerpt", dir: "auto" });
    const confidenceLine = el(doc, "p", { class: "confidence", "data-part": "confidence", hidden: "" });
    const explanation = el(doc, "p", { class: "explanation", "data-part": "explanation", hidden: "" });
    const findings = el(doc, "ul", {
      class: "findings",
      "data-part": "findings",
      "aria-label": t("cardFindings", "Highlighted words"),
      hidden: "",
    });
    const rewriteLabel = el(
      doc,
      "p",
      { class: "label", hidden: "" },
      t("cardSuggestedRewrite", "Suggested rewrite"),
    );
    const rewrite = el(doc, "p", {
      class: "rewrite",
      "data-part": "rewrite",
      dir: "auto",
      "aria-busy": "true",
      hidden: "",
    });
    const message = el(doc, "p", { class: "message", "data-part": "message", hidden: "" });
    const commands = el(doc, "ul", {
      class: "commands",
      "aria-label": t("cardCommands", "Commands to run"),
      hidden: "",
    });
    const status = el(doc, "p", {
      class: "status",
      id: `${id}-status`,
      role: "status",
      "aria-live": "polite",
    });

    const buttons = el(doc, "div", { class: "actions" });
    const button = (label, name, aria, handler, primary = false) => {
      const b = el(doc, "button", { type: "button", "data-action": name, "aria-label": aria }, label);
      if (primary) b.setAttribute("class", "primary");
      b.addEventListener("click", (event) => {
        event.stopPropagation();
        if (event.isTrusted) handler(); // a mouse click or Enter/Space, not a script's click()
      });
      return b;
    };
    const replaceButton = button(
      t("cardReplace", "Replace"),
      "replace",
      t("cardReplaceLabel", "Replace the selected text with the rewrite"),
      () => actions.onReplace(),
      true,
    );
    const undoButton = button(
      t("cardUndo", "Undo"),
      "undo",
      t("cardUndoLabel", "Put the original text back"),
      () => actions.onUndo(),
    );
    const copyButton = button(t("cardCopy", "Copy"), "copy", t("cardCopyLabel", "Copy the rewrite"), () =>
      actions.onCopy(),
    );
    const anywayButton = button(
      t("cardRewriteAnyway", "Rewrite anyway"),
      "rewrite-anyway",
      t("cardRewriteAnywayLabel", "Suggest a neutral rewrite anyway"),
      () => actions.onRewriteAnyway(),
    );
    const retryButton = button(
      t("cardRetry", "Retry"),
      "retry",
      t("cardRetryLabel", "Check the selection again"),
      () => actions.onRetry(),
    );
    const optionsButton = button(
      t("popupOptions", "Options"),
      "options",
      t("cardOptionsLabel", "Open srllm options"),
      () => actions.onOptions(),
    );
    const dismissButton = button(
      t("cardDismiss", "Dismiss"),
      "dismiss",
      t("cardDismissLabel", "Close the srllm card"),
      () => actions.onDismiss(),
    );
    // Stop cancels the check (waiting or running): the port closes, the server stops.
    const stopButton = button(t("cardStop", "Stop"), "stop", t("cardStopLabel", "Stop this check"), () =>
      actions.onStop?.(),
    );
    // While the page scan runs (the card may wait behind it at the server): stop the scan.
    const stopScanButton = button(
      t("cardStopScan", "Stop scan"),
      "stop-scan",
      t("cardStopScanLabel", "Stop the scan of this page"),
      () => actions.onStopScan?.(),
    );
    stopScanButton.hidden = true;
    const disagreeButton = button(
      t("cardDisagree", "Disagree"),
      "disagree",
      t("cardDisagreeLabel", "The verdict is wrong: keep a note of it on this computer"),
      () => actions.onDisagree?.({ kind: "verdict" }),
    );
    const optional = [
      replaceButton,
      undoButton,
      copyButton,
      anywayButton,
      retryButton,
      optionsButton,
      stopButton,
      disagreeButton,
    ];
    for (const b of optional) b.hidden = true;
    buttons.append(
      stopButton,
      stopScanButton,
      disagreeButton,
      replaceButton,
      undoButton,
      copyButton,
      anywayButton,
      retryButton,
      optionsButton,
      dismissButton,
    );

    card.append(
      head,
      cats,
      excerptLabel,
      excerpt,
      confidenceLine,
      explanation,
      findings,
      rewriteLabel,
      rewrite,
      message,
      commands,
      buttons,
      status,
    );
    root.append(style, card);
    card.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && event.isTrusted) {
        event.stopPropagation();
        actions.onDismiss();
      }
    });

    let rewriteText = "";
    let flagShown = false;
    const setBadge = (text, tone) => {
      badge.textContent = text;
      badge.setAttribute("data-tone", tone);
    };

    return {
      host,
      root,
      focus() {
        card.focus();
      },
      get rewriteText() {
        return rewriteText;
      },
      showChecking(text) {
        rewriteText = "";
        flagShown = false;
        title.textContent = t("cardTitle", "srllm bias check");
        setBadge(t("cardChecking", "Checking\u2026"), "busy");
        renderSegments(doc, excerpt, [{ text, biased: false }]);
        excerptLabel.hidden = false;
        excerpt.hidden = false;
        cats.replaceChildren();
        explanation.textContent = "";
        rewrite.textContent = "";
        message.textContent = "";
        message.removeAttribute("data-kind");
        commands.replaceChildren();
        rewrite.setAttribute("aria-busy", "true");
        findings.replaceChildren();
        confidenceLine.textContent = "";
        const parts = [cats, explanation, rewriteLabel, rewrite, message, commands, findings, confidenceLine];
        for (const part of parts) part.hidden = true;
        for (const b of optional) b.hidden = true;
        stopButton.hidden = false;
        status.textContent = t("cardCheckingSelection", "Checking the selection\u2026");
      },
      /** The server runs one check at a time: this one waits behind another. */
      showQueued(position) {
        const n = Number.isInteger(position) && position > 0 ? position : 1;
        if (!flagShown) setBadge(t("cardWaiting", "Waiting\u2026"), "busy");
        stopButton.hidden = false;
        status.textContent = t("cardQueued", "Waiting for another check (position $1)\u2026", n);
      },
      showStarted() {
        if (!flagShown) setBadge(t("cardChecking", "Checking\u2026"), "busy");
        stopButton.hidden = false;
        status.textContent = t("cardCheckingSelection", "Checking the selection\u2026");
      },
      /** Whether the page scan runs: "Stop scan" is offered while it does. */
      showScanRunning(running) {
        if (!running && root.activeElement === stopScanButton) card.focus(); // keep the focus in the card
        stopScanButton.hidden = !running;
      },
      /** After Stop: the check was cancelled here and on the server. */
      showStopped() {
        if (!flagShown) setBadge(t("cardNotChecked", "Not checked"), "busy");
        rewrite.setAttribute("aria-busy", "false");
        if (!rewriteText) {
          rewriteLabel.hidden = true;
          rewrite.hidden = true;
        }
        stopButton.hidden = true;
        retryButton.hidden = false;
        status.textContent = t("cardStopped", "Stopped.");
      },
      showFlag(flag) {
        flagShown = true;
        const verdict = VERDICTS[flag.label] ?? { text: String(flag.label), tone: "busy" };
        setBadge(verdict.text, verdict.tone);
        renderSegments(doc, excerpt, flag.segments);
        cats.replaceChildren(
          ...flag.categories.map((c) => {
            const name = String(c).replaceAll("_", " ");
            const item = el(doc, "li", {});
            item.append(
              el(doc, "span", {}, name),
              button(t("cardMute", "Mute"), "mute", t("cardMuteLabel", "Stop flagging $1", name), () =>
                actions.onMute?.(String(c)),
              ),
            );
            return item;
          }),
        );
        cats.hidden = flag.categories.length === 0;
        const sure = flag.confidence;
        confidenceLine.textContent = sure
          ? t("cardConfidence", "Model confidence: $1% ($2)", sure.percent, sure.words)
          : "";
        confidenceLine.hidden = !sure;
        explanation.textContent = flag.explanation || "";
        explanation.hidden = !flag.explanation;
        const terms = Array.isArray(flag.findings) ? flag.findings : [];
        findings.replaceChildren(
          ...terms.map(({ text, source }) => {
            const term = String(text);
            const item = el(doc, "li", {});
            item.append(
              el(doc, "span", { class: "term", dir: "auto" }, term),
              el(doc, "span", { class: "source" }, String(source)),
              button(
                t("cardIgnoreOnce", "Ignore once"),
                "ignore-once",
                t("cardIgnoreOnceLabel", "Check again without $1", term),
                () => actions.onIgnoreOnce?.(term),
              ),
              button(
                t("cardAlwaysIgnore", "Always ignore"),
                "allow",
                t("cardAlwaysIgnoreLabel", "Never flag $1 again", term),
                () => actions.onAllow?.(term),
              ),
              button(
                t("cardDisagreeTerm", "Not biased"),
                "disagree-term",
                t("cardDisagreeTermLabel", "$1 is not biased: keep a note of it on this computer", term),
                () => actions.onDisagree?.({ kind: "term", term }),
              ),
            );
            return item;
          }),
        );
        findings.hidden = terms.length === 0;
        disagreeButton.hidden = false;
        stopButton.hidden = !(flag.biased && !flag.muted); // a rewrite follows
        if (flag.muted) {
          message.textContent = t(
            "cardMutedOnly",
            "Not flagged: only categories you turned off in Options apply.",
          );
          message.hidden = false;
          status.textContent = t("cardVerdictMuted", "$1, in categories you do not flag.", verdict.text);
        } else if (flag.biased) {
          rewriteLabel.hidden = false;
          rewrite.hidden = false;
          status.textContent = t("cardVerdictRewriting", "$1. Writing a neutral rewrite\u2026", verdict.text);
        } else {
          status.textContent = t("cardNeutral", "Neutral: nothing to rewrite.");
        }
      },
      /** "Rewrite anyway": a rewrite-only request after a neutral (or muted) verdict. */
      showRewriting() {
        rewriteText = "";
        rewrite.textContent = "";
        rewrite.setAttribute("aria-busy", "true");
        rewriteLabel.hidden = false;
        rewrite.hidden = false;
        message.hidden = true;
        commands.hidden = true;
        for (const b of optional) b.hidden = true;
        stopButton.hidden = false;
        status.textContent = t("cardRewriting", "Writing a neutral rewrite\u2026");
      },
      appendRewrite(delta) {
        rewriteText += String(delta);
        rewrite.textContent = rewriteText;
      },
      /** `stillBiased`: srllm's own check still flags the text that came back (the best of
       * its tries, or the text itself): not shown as a neutral rewrite. */
      showDone({ rewrite: finalText, changed, stillBiased = false }) {
        rewrite.setAttribute("aria-busy", "false");
        stopButton.hidden = true;
        if (typeof finalText === "string") {
          rewriteText = finalText;
          rewrite.textContent = finalText;
        }
        if (typeof finalText === "string" && changed) {
          replaceButton.hidden = !editable;
          copyButton.hidden = false;
          if (stillBiased) {
            message.textContent = t(
              "cardRewriteStillBiased",
              "srllm still finds bias in this rewrite: review it, or change the highlighted words yourself.",
            );
            message.setAttribute("data-kind", "review");
            message.hidden = false;
          }
          status.textContent = readOnlyField
            ? t(
                "cardRewriteReadyReadOnly",
                "Rewrite ready. srllm cannot edit this kind of field: Copy the rewrite and paste it.",
              )
            : stillBiased
              ? t("cardRewriteReview", "Rewrite ready: review it before you replace.")
              : t("cardRewriteReady", "Rewrite ready.");
        } else if (typeof finalText === "string" && stillBiased) {
          rewriteLabel.hidden = true; // the "rewrite" is the selection itself
          rewrite.hidden = true;
          message.textContent = t(
            "cardNoNeutralRewrite",
            "srllm found no neutral rewrite for this text. The highlighted words show what to change.",
          );
          message.setAttribute("data-kind", "review");
          message.hidden = false;
          status.textContent = t("cardNoNeutralRewriteStatus", "No neutral rewrite found.");
        } else if (typeof finalText === "string") {
          status.textContent = t("cardUnchanged", "The model left the text unchanged.");
        } else {
          anywayButton.hidden = false; // neutral or muted verdict: no rewrite was made
        }
      },
      showFailure(failure) {
        // A failure after the verdict (mid-rewrite) keeps the verdict and drops the partial rewrite.
        if (!flagShown) setBadge(t("cardNotChecked", "Not checked"), "busy");
        stopButton.hidden = true;
        excerptLabel.hidden = excerpt.textContent === "";
        excerpt.hidden = excerpt.textContent === "";
        rewriteLabel.hidden = true;
        rewrite.hidden = true;
        replaceButton.hidden = true;
        undoButton.hidden = true;
        copyButton.hidden = true;
        title.textContent = failure.title;
        message.textContent = failure.message;
        message.hidden = false;
        message.setAttribute("data-kind", failure.kind);
        const list = Array.isArray(failure.commands) ? failure.commands : [];
        commands.replaceChildren(
          ...list.map((c) => {
            const item = el(doc, "li");
            item.append(el(doc, "code", {}, c));
            return item;
          }),
        );
        commands.hidden = list.length === 0;
        rewrite.setAttribute("aria-busy", "false");
        anywayButton.hidden = true;
        retryButton.hidden = !failure.retry;
        optionsButton.hidden = !failure.options;
        status.textContent = failure.title;
      },
      setStatus(text) {
        status.textContent = text;
      },
      /** After Replace or Undo: which of Replace and Undo to offer, and what happened. */
      showEdit({ replace = false, undo = false, message }) {
        replaceButton.hidden = !(replace && editable);
        undoButton.hidden = !undo;
        copyButton.hidden = false;
        status.textContent = message;
      },
      destroy() {
        host.remove();
      },
    };
  }

  globalThis.srllmCard = Object.freeze({ createCard, renderSegments, VERDICTS, CSS, t });
})();
