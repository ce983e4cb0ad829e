import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createFakeDocument } from "./fake-dom.mjs";

await import("../card.js"); // a classic script: defines globalThis.srllmCard
const { createCard, renderSegments } = globalThis.srllmCard;

const MARKUP = '<img src=x onerror="alert(1)"><script>alert(2)</script><b>bold</b>';
const ALLOWED_TAGS = new Set([
  "srllm-card",
  "div",
  "style",
  "section",
  "h2",
  "span",
  "ul",
  "li",
  "p",
  "mark",
  "button",
  "code",
]);

function setUp({ editable = true } = {}) {
  const doc = createFakeDocument();
  const calls = [];
  const actions = Object.fromEntries(
    ["onReplace", "onUndo", "onCopy", "onDismiss", "onRetry", "onOptions", "onRewriteAnyway"].map((name) => [
      name,
      () => calls.push(name),
    ]),
  );
  const card = createCard(doc, actions, { editable });
  const part = (name) => card.host.find((n) => n.getAttribute?.("data-part") === name);
  const button = (name) => card.host.find((n) => n.getAttribute?.("data-action") === name);
  return { doc, card, calls, part, button };
}

test("markup from the model and the server is shown as text, never parsed", () => {
  const { doc, card, part } = setUp();
  card.showChecking(`Old people ${MARKUP}`);
  card.showFlag({
    label: "highly_biased",
    biased: true,
    categories: ["age", MARKUP],
    explanation: MARKUP,
    segments: [
      { text: "Old people", biased: true },
      { text: ` ${MARKUP}`, biased: false },
    ],
  });
  card.appendRewrite("<img src=x ");
  card.appendRewrite('onerror="alert(1)">');
  card.showDone({ rewrite: MARKUP, changed: true });
  assert.equal(part("rewrite").textContent, MARKUP);
  assert.equal(part("explanation").textContent, MARKUP);
  assert.equal(part("excerpt").textContent, `Old people ${MARKUP}`);
  card.showFailure({ kind: "server_error", title: MARKUP, message: MARKUP, commands: [MARKUP] });
  assert.equal(part("message").textContent, MARKUP);
  for (const node of doc.created)
    assert.ok(ALLOWED_TAGS.has(node.tagName), `unexpected <${node.tagName}> created`);
  assert.equal(doc.created.filter((n) => n.tagName === "style").length, 1, "only the card's own stylesheet");
});

test("card.js and content.js use no HTML-parsing sinks", () => {
  for (const file of ["card.js", "content.js", "popup/popup.js", "options/options.js"]) {
    const source = readFileSync(new URL(`../${file}`, import.meta.url), "utf8");
    for (const sink of [
      "innerHTML",
      "outerHTML",
      "insertAdjacentHTML",
      "document.write",
      "DOMParser",
      "createContextualFragment",
      "eval(",
    ]) {
      assert.ok(!source.includes(sink), `${file} uses ${sink}`);
    }
  }
});

test("biased words are wrapped in <mark>, the rest are text nodes", () => {
  const doc = createFakeDocument();
  const container = doc.createElement("p");
  renderSegments(doc, container, [
    { text: "Old \u{1f474} ", biased: false },
    { text: "people", biased: true },
  ]);
  assert.deepEqual(
    container.childNodes.map((n) => n.tagName),
    ["#text", "mark"],
  );
  assert.equal(container.childNodes[1].textContent, "people");
});

test("Replace only in editable fields and only for a changed rewrite", () => {
  for (const editable of [true, false]) {
    const { card, button } = setUp({ editable });
    card.showChecking("x");
    card.showFlag({
      label: "slightly_biased",
      biased: true,
      categories: [],
      explanation: "",
      segments: [{ text: "x", biased: true }],
    });
    assert.equal(button("replace").hidden, true, "hidden while streaming");
    card.showDone({ rewrite: "y", changed: true });
    assert.equal(button("replace").hidden, !editable);
    assert.equal(button("copy").hidden, false);
  }
  const { card, button } = setUp();
  card.showChecking("x");
  card.showFlag({
    label: "neutral",
    biased: false,
    categories: [],
    explanation: "",
    segments: [{ text: "x", biased: false }],
  });
  card.showDone({ rewrite: null, changed: false });
  assert.equal(button("replace").hidden, true);
  assert.equal(button("copy").hidden, true);
  assert.equal(button("rewrite-anyway").hidden, false, "a neutral verdict offers a rewrite anyway");
  button("rewrite-anyway").dispatch("click");
  card.showRewriting();
  assert.equal(button("rewrite-anyway").hidden, true);
  card.appendRewrite("z");
  card.showDone({ rewrite: "z", changed: true });
  assert.equal(button("replace").hidden, false);
});

test("buttons and Escape call the actions; the dialog is labelled", () => {
  const { card, calls, button } = setUp();
  card.showFailure({
    kind: "server_down",
    title: "Down",
    message: "m",
    retry: true,
    options: true,
    commands: ["srllm serve"],
  });
  for (const name of ["retry", "options", "dismiss"]) {
    assert.equal(button(name).hidden, false);
    assert.ok(button(name).getAttribute("aria-label"), `${name} has an aria-label`);
    button(name).dispatch("click");
  }
  const dialog = card.host.find((n) => n.getAttribute?.("role") === "dialog");
  assert.ok(dialog.getAttribute("aria-labelledby"));
  dialog.dispatch("keydown", { key: "Escape" });
  dialog.dispatch("keydown", { key: "a" });
  assert.deepEqual(calls, ["onRetry", "onOptions", "onDismiss", "onDismiss"]);
  assert.ok(
    card.host.find((n) => n.tagName === "code" && n.textContent === "srllm serve"),
    "start command shown",
  );
});

test("a failure mid-rewrite keeps the verdict and hides the partial rewrite", () => {
  const { card, part } = setUp();
  card.showChecking("x");
  card.showFlag({
    label: "highly_biased",
    biased: true,
    categories: [],
    explanation: "",
    segments: [{ text: "x", biased: true }],
  });
  card.appendRewrite("partial");
  card.showFailure({ kind: "timeout", title: "Too slow", message: "m" });
  const badge = card.host.find((n) => n.getAttribute?.("class") === "badge");
  assert.equal(badge.textContent, "Highly biased");
  assert.equal(part("rewrite").hidden, true);
  card.showChecking("x");
  assert.equal(badge.textContent, "Checking\u2026", "retry resets the card");
  assert.equal(part("message").hidden, true);
});

test("the shadow root is closed and the buttons ignore script-made clicks", () => {
  const { card, calls, button } = setUp();
  assert.equal(card.host.shadowMode, "closed");
  assert.equal(card.host.shadowRoot, undefined, "the page cannot reach the root through the host");
  card.showFailure({ kind: "server_down", title: "Down", message: "m", retry: true });
  button("retry").dispatch("click", { isTrusted: false });
  button("dismiss").dispatch("click", { isTrusted: false });
  const dialog = card.host.find((n) => n.getAttribute?.("role") === "dialog");
  dialog.dispatch("keydown", { key: "Escape", isTrusted: false });
  assert.deepEqual(calls, [], "untrusted clicks and keys do nothing");
  button("dismiss").dispatch("click");
  assert.deepEqual(calls, ["onDismiss"]);
});

test("after Replace the card offers Undo and Copy; Replace comes back only where it can", () => {
  const { card, calls, button, part } = setUp();
  card.showChecking("x");
  card.showFlag({
    label: "highly_biased",
    biased: true,
    categories: [],
    explanation: "",
    segments: [{ text: "x", biased: true }],
  });
  card.showDone({ rewrite: "y", changed: true });
  card.showEdit({ replace: false, undo: true, message: "Replaced." });
  assert.equal(button("replace").hidden, true);
  assert.equal(button("undo").hidden, false);
  assert.equal(button("copy").hidden, false);
  assert.ok(button("undo").getAttribute("aria-label"));
  button("undo").dispatch("click");
  assert.deepEqual(calls, ["onUndo"]);
  card.showEdit({ replace: true, undo: false, message: "Original restored." });
  assert.equal(button("replace").hidden, false);
  assert.equal(button("undo").hidden, true);
  assert.equal(part("rewrite").textContent, "y");
  card.showChecking("x");
  assert.equal(button("undo").hidden, true, "a new check starts without Undo");

  const readOnly = setUp({ editable: false });
  readOnly.card.showChecking("x");
  readOnly.card.showDone({ rewrite: "y", changed: true });
  readOnly.card.showEdit({ replace: true, undo: false, message: "m" });
  assert.equal(readOnly.button("replace").hidden, true, "never Replace where the text is not editable");
});

test("a selection in a field srllm cannot edit says to Copy", () => {
  const doc = createFakeDocument();
  const card = createCard(doc, {}, { editable: false, readOnlyField: true });
  card.showChecking("bob@example.com");
  card.showDone({ rewrite: "y", changed: true });
  const status = card.host.find((n) => n.getAttribute?.("role") === "status");
  const replaceButton = card.host.find((n) => n.getAttribute?.("data-action") === "replace");
  assert.equal(replaceButton.hidden, true);
  assert.match(status.textContent, /Copy/);
});

test("a rewrite srllm still flags is offered for review, not as a neutral rewrite", () => {
  const { card, part, button } = setUp();
  const status = card.host.find((n) => n.getAttribute?.("role") === "status");
  const biasedFlag = {
    label: "slightly_biased",
    biased: true,
    categories: ["age"],
    explanation: "",
    segments: [{ text: "Old people are slow.", biased: true }],
  };
  card.showChecking("Old people are slow.");
  card.showFlag(biasedFlag);
  card.showDone({ rewrite: "Old people are not fast.", changed: true, stillBiased: true });
  assert.equal(part("rewrite").textContent, "Old people are not fast.");
  assert.equal(part("rewrite").hidden, false);
  assert.equal(button("replace").hidden, false, "the user may still take it");
  assert.equal(part("message").hidden, false);
  assert.match(part("message").textContent, /still finds bias/);
  assert.equal(part("message").getAttribute("data-kind"), "review");
  assert.match(status.textContent, /review it/);

  // Unchanged: no rewrite to take, and no "left unchanged" as if that were fine.
  card.showChecking("Old people are slow.");
  assert.equal(part("message").hidden, true, "a new check clears the note");
  card.showFlag(biasedFlag);
  card.showDone({ rewrite: "Old people are slow.", changed: false, stillBiased: true });
  assert.equal(part("rewrite").hidden, true);
  assert.equal(button("replace").hidden, true);
  assert.equal(button("copy").hidden, true);
  assert.match(part("message").textContent, /no neutral rewrite/);
  assert.equal(status.textContent, "No neutral rewrite found.");

  // A clean rewrite is just ready.
  card.showChecking("Old people are slow.");
  card.showFlag(biasedFlag);
  card.showDone({ rewrite: "Some people take longer.", changed: true, stillBiased: false });
  assert.equal(part("message").hidden, true);
  assert.equal(status.textContent, "Rewrite ready.");
});
