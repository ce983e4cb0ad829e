// The card's waiting state and Stop, confidence, per-term buttons, text direction and strings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createFakeDocument } from "./fake-dom.mjs";

await import("../card.js");
const { createCard, t } = globalThis.srllmCard;

const NAMES = ["onStop", "onIgnoreOnce", "onAllow", "onMute", "onDisagree", "onRetry", "onDismiss"];

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

test("every card string is in _locales/en/messages.json, the same in English", () => {
  const messages = JSON.parse(readFileSync(new URL("../_locales/en/messages.json", import.meta.url), "utf8"));
  const source = readFileSync(new URL("../card.js", import.meta.url), "utf8");
  const calls = [...source.matchAll(/\bt\(\s*"([A-Za-z]+)",\s*"((?:[^"\\]|\\.)*)"/g)];
  assert.ok(calls.length >= 20, "the card's strings go through t()");
  for (const [, key, literal] of calls) {
    const fallback = JSON.parse(`"${literal}"`);
    const entry = messages[key];
    assert.ok(entry, `${key} missing from messages.json`);
    let text = entry.message;
    for (const [name, { content }] of Object.entries(entry.placeholders ?? {}))
      text = text.replaceAll(`$${name.toUpperCase()}$`, content);
    assert.equal(text, fallback, key);
  }
  const manifest = JSON.parse(readFileSync(new URL("../manifest.json", import.meta.url), "utf8"));
  assert.equal(manifest.default_locale, "en");
  for (const value of [manifest.name, manifest.description, manifest.action.default_title]) {
    const key = value.match(/^__MSG_(\w+)__$/)?.[1];
    assert.ok(key && messages[key], `${value} is a message`);
  }
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

test("the popup's and the options page's strings are in messages.json too", () => {
  const messages = JSON.parse(readFileSync(new URL("../_locales/en/messages.json", import.meta.url), "utf8"));
  const resolve = (entry) => {
    let text = entry.message;
    for (const [name, { content }] of Object.entries(entry.placeholders ?? {}))
      text = text.replaceAll(`$${name.toUpperCase()}$`, content);
    return text;
  };
  for (const page of ["../popup/popup.html", "../options/options.html"]) {
    const html = readFileSync(new URL(page, import.meta.url), "utf8");
    const marked = [...html.matchAll(/data-i18n="(\w+)"[^>]*>([^<]*)</g)];
    assert.ok(marked.length >= 8, page);
    for (const [, key, text] of marked) assert.equal(resolve(messages[key]), text.trim(), key);
  }
  const js = readFileSync(new URL("../popup/popup.js", import.meta.url), "utf8");
  const calls = [...js.matchAll(/\bt\(\s*"(\w+)",\s*"((?:[^"\\]|\\.)*)"/g)];
  assert.ok(calls.length >= 6);
  for (const [, key, literal] of calls) assert.equal(resolve(messages[key]), JSON.parse(`"${literal}"`), key);
});
