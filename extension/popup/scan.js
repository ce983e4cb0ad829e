// The popup's "This page" section: Scan this page, Stop, Clear underlines, the flagged
// sentences as a list (for keyboard users: choosing one scrolls to it, selects it and opens
// its card), and the per-site switches. Everything goes through the background.

import { MSG, makeMessage } from "../lib/protocol.js";
import { summaryText } from "../lib/scan.js";
import { truncate } from "../lib/truncate.js";

const $ = (id) => document.getElementById(id);
const send = (type, data = {}) => chrome.runtime.sendMessage(makeMessage(type, data));
const POLL_MS = 500;

let tabId;
let poll = 0;
let blocked = false;

function say(text) {
  $("scan-status").textContent = text;
}

function describe(state) {
  if (state.status === "none") return "";
  if (state.status === "running") {
    const { segments = 0, total = 0 } = state.progress ?? {};
    const found = state.counts?.biased ?? 0;
    return `Scanning\u2026 ${segments} of ${total} blocks, ${found} biased so far.`;
  }
  const text = summaryText({
    counts: state.counts,
    stopped: state.status === "stopped",
    failed: state.status === "failed",
    fields: state.fields,
  });
  const parts = [text];
  if (state.error) parts.push(`${state.error.title}: ${state.error.message}`);
  if (!state.highlights) parts.push("This browser cannot underline in place; the list below has them.");
  return parts.join(" ");
}

function renderList(flagged) {
  const list = $("scan-list");
  list.replaceChildren(
    ...flagged.map((sentence) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.label = sentence.label;
      const label = sentence.label === "biased" ? "Biased" : "Review";
      button.textContent = `${label} (${Math.round(sentence.score * 100)}%): ${truncate(sentence.text, 140)}`;
      button.addEventListener("click", async () => {
        await send(MSG.SCAN_REVEAL, { tabId, key: sentence.key });
        window.close();
      });
      item.append(button);
      return item;
    }),
  );
  list.hidden = flagged.length === 0;
}

function render(state) {
  const running = state.status === "running";
  $("scan-start").hidden = running;
  $("scan-start").disabled = blocked;
  $("scan-start").textContent = state.status === "none" ? "Scan this page" : "Scan again";
  $("scan-stop").hidden = !running;
  $("scan-clear").hidden = state.status === "none";
  say(describe(state));
  renderList(state.flagged ?? []);
}

async function refresh() {
  clearTimeout(poll);
  const state = await send(MSG.SCAN_STATE, { tabId });
  render(state ?? { status: "none" });
  if (state?.status === "running") poll = setTimeout(refresh, POLL_MS);
}

function renderSite(site) {
  $("site").hidden = !site?.available;
  if (!site?.available) return;
  $("site-off-label").textContent = `Turn off on ${site.hostname}`;
  $("site-off").checked = Boolean(site.off);
  $("tab-pause").checked = Boolean(site.paused);
  blocked = Boolean(site.off || site.paused);
  $("scan-start").disabled = blocked;
  if (site.paused) say("srllm is paused on this tab.");
  else if (site.off) say(`srllm is off on ${site.off}.`);
}

async function start() {
  say("Starting\u2026");
  const result = await send(MSG.SCAN_ACTIVE_TAB, { tabId });
  if (!result?.ok) {
    say(result?.message ?? "This page cannot be scanned.");
    return;
  }
  await refresh();
}

async function setSite(change) {
  const site = await send(MSG.SITE_SET, { tabId, ...change });
  // Off or paused clears the tab's underlines; the switch then says why nothing is scanned.
  if (site?.off || site?.paused) render({ status: "none" });
  else await refresh();
  renderSite(site);
}

/**
 * The tab this popup is about: the active one. popup.html?tab=ID names another (opened as a
 * page, as the end-to-end tests open it, the popup's own tab would be the active one).
 */
async function targetTab() {
  const named = Number(new URLSearchParams(location.search).get("tab"));
  if (Number.isInteger(named) && named > 0) return named;
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id;
}

async function init() {
  tabId = await targetTab();
  $("scan-start").addEventListener("click", start);
  $("scan-stop").addEventListener("click", async () => {
    render((await send(MSG.SCAN_STOP, { tabId })) ?? { status: "none" });
  });
  $("scan-clear").addEventListener("click", async () => {
    await send(MSG.SCAN_CLEAR, { tabId });
    render({ status: "none" });
  });
  $("site-off").addEventListener("change", (event) => setSite({ off: event.target.checked }));
  $("tab-pause").addEventListener("change", (event) => setSite({ paused: event.target.checked }));
  await refresh();
  renderSite(await send(MSG.SITE_STATE, { tabId }));
}

init();
