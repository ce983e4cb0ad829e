// The card's waiting state and Stop, Stop scan, confidence, per-term buttons, text direction and
// t(); test/locales.test.mjs checks its strings against messages.json.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createFakeDocument } from "./fake-dom.mjs";

await import("../card.js");
const { createCard, t } = globalThis.srllmCard;

const NAMES = [
  "onStop",
  "onStopScan",
  "onIgnoreOnce",
  "onAllow",
  "onMute",
  "onDisagree",
  "onRetry",
  "onDismiss",
];

function setUp() {
  const doc = createFakeDocument();
  const calls = [];
  const actions = Object.fromEntries(NAMES.map((name) => [name, (...args) => calls.push([name, ...args])]));
  const card = createCard(doc, actions, { editable: true });
  const by = (attr, value) => card.host.find((n) => n.getAttribute?.(attr) === value);
  const all = (attr, value) => card.host.findAll((n) => n.getAttribute?.(attr) === value);
  const status = () => by("role", "status").textContent;
  return { card, calls, by, all, status };
}

const FLAG = {
  label: "slightly_biased",
  biased: true,
  categories: ["age", "<b>x</b>"],
  explanation: "e",
  segments: [{ text: "Old people are slow.", biased: false }],
  confidence: { percent: 72, words: "likely biased" },
  findings: [
    { text: "slow", source: "model" },
    { text: "<img src=x>", source: "opinion" },
  ],
  model: "m",
};

test("a queued check says where it waits and offers Stop, which stops it", () => {
  const { card, calls, by, status } = setUp();
  card.showChecking("Old people are slow.");
  assert.equal(by("data-action", "stop").hidden, false, "Stop from the start");
  card.showQueued(2);
  assert.equal(status(), "Waiting for another check (position 2)\u2026");
  assert.equal(by("class", "badge").textContent, "Waiting\u2026");
  card.showQueued(1);
  assert.match(status(), /position 1\)/);
  by("data-action", "stop").dispatch("click");
  by("data-action", "stop").dispatch("click", { isTrusted: false });
  assert.deepEqual(calls, [["onStop"]], "a trusted click only");
  card.showStopped();
  assert.equal(status(), "Stopped.");
  assert.equal(by("data-action", "stop").hidden, true);
  assert.equal(by("data-action", "retry").hidden, false);
  card.showChecking("x");
  card.showQueued(1);
  card.showStarted();
  assert.equal(status(), "Checking the selection\u2026");
  assert.equal(by("class", "badge").textContent, "Checking\u2026");
});

test("while the page scan runs the card offers Stop scan, which asks to stop it", () => {
  const { card, calls, by } = setUp();
  const stopScan = by("data-action", "stop-scan");
  assert.equal(stopScan.hidden, true, "no scan, no Stop scan");
  assert.equal(stopScan.textContent, "Stop scan");
  assert.equal(stopScan.getAttribute("aria-label"), "Stop the scan of this page");
  card.showScanRunning(true);
  card.showChecking("Old people are slow.");
  card.showQueued(1);
  assert.equal(stopScan.hidden, false, "through the check's own states");
  assert.equal(by("data-action", "stop").hidden, false, "beside the check's own Stop");
  stopScan.dispatch("click", { isTrusted: false });
  stopScan.dispatch("click");
  assert.deepEqual(calls, [["onStopScan"]], "a trusted click only, and the check is not stopped");
  card.showScanRunning(false);
  assert.equal(stopScan.hidden, true);
});

test("the verdict shows the confidence and a button per term and per category, as text", () => {
  const { card, calls, by, all } = setUp();
  card.showChecking("Old people are slow.");
  card.showFlag(FLAG);
  assert.equal(by("data-part", "confidence").textContent, "Model confidence: 72% (likely biased)");
  const findings = by("data-part", "findings");
  assert.equal(findings.hidden, false);
  assert.equal(findings.childNodes.length, 2);
  assert.equal(findings.childNodes[1].childNodes[0].textContent, "<img src=x>");
  assert.equal(findings.childNodes[1].childNodes[0].getAttribute("dir"), "auto");
  all("data-action", "ignore-once")[0].dispatch("click");
  all("data-action", "allow")[1].dispatch("click");
  all("data-action", "disagree-term")[0].dispatch("click");
  all("data-action", "mute")[0].dispatch("click");
  by("data-action", "disagree").dispatch("click");
  assert.deepEqual(calls, [
    ["onIgnoreOnce", "slow"],
    ["onAllow", "<img src=x>"],
    ["onDisagree", { kind: "term", term: "slow" }],
    ["onMute", "age"],
    ["onDisagree", { kind: "verdict" }],
  ]);
  assert.equal(by("data-action", "stop").hidden, false, "the rewrite is still coming");
  card.showDone({ rewrite: "Some older people are unhurried.", changed: true });
  assert.equal(by("data-action", "stop").hidden, true);
  card.showChecking("x");
  assert.equal(by("data-part", "findings").hidden, true, "a new check starts clean");
  assert.equal(by("data-part", "confidence").hidden, true);
});

test("a neutral verdict without terms has no term list but can be disagreed with", () => {
  const { card, by } = setUp();
  card.showChecking("x");
  card.showFlag({ ...FLAG, label: "neutral", biased: false, categories: [], findings: [], confidence: null });
  assert.equal(by("data-part", "findings").hidden, true);
  assert.equal(by("data-part", "confidence").hidden, true);
  assert.equal(by("data-action", "disagree").hidden, false);
  assert.equal(by("data-action", "stop").hidden, true, "nothing follows a neutral verdict");
});

test("the excerpt and the rewrite take their direction from their text (Arabic reads RTL)", () => {
  const { card, by } = setUp();
  const arabic = "\u0643\u0628\u0627\u0631 \u0627\u0644\u0633\u0646";
  card.showChecking(arabic);
  assert.equal(by("data-part", "excerpt").getAttribute("dir"), "auto");
  assert.equal(by("data-part", "excerpt").textContent, arabic);
  assert.equal(by("data-part", "rewrite").getAttribute("dir"), "auto");
});

test("t() uses chrome.i18n where there is one, and substitutes into the fallback otherwise", () => {
  assert.equal(t("nothing", "a $1 b $2", 1, "x"), "a 1 b x");
  globalThis.chrome = {
    i18n: { getMessage: (key, subs) => (key === "cardStop" ? `Arr\u00eat ${subs.length}` : "") },
  };
  try {
    assert.equal(t("cardStop", "Stop"), "Arr\u00eat 0");
    assert.equal(t("unknown", "Fallback"), "Fallback");
  } finally {
    delete globalThis.chrome;
  }
});
