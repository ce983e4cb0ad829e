// The popup's "This page" section: Scan this page, Stop, Clear underlines, the flagged
// sentences as a list (for keyboard users: choosing one scrolls to it, selects it and opens
// its card), and the per-site switches. Everything goes through the background.

import { MSG, makeMessage } from "../lib/protocol.js";
import { summaryText } from "../lib/scan.js";
import { truncate } from "../lib/truncate.js";
import { t } from "../lib/i18n.js";

const $ = (id) => document.getElementById(id);
const send = (type, data = {}) => chrome.runtime.sendMessage(makeMessage(type, data));
const POLL_MS = 500;

let tabId;
let poll = 0;
let blocked = false;
let turnsOn = false; // what ticking the site box does: turn srllm on for the site, or off

function say(text) {
  $("scan-status").textContent = text;
}

function describe(state) {
  if (state.status === "none") return "";
  if (state.status === "running") {
    const { segments = 0, total = 0 } = state.progress ?? {};
    const found = state.counts?.biased ?? 0;
    return t("popupScanning", "Scanning\u2026 $1 of $2 blocks, $3 biased so far.", segments, total, found);
  }
  const text = summaryText({
    counts: state.counts,
    stopped: state.status === "stopped",
    failed: state.status === "failed",
    fields: state.fields,
  });
  const parts = [text];
  if (state.error) parts.push(`${state.error.title}: ${state.error.message}`);
  if (!state.highlights)
    parts.push(t("popupNoHighlights", "This browser cannot underline in place; the list below has them."));
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
      const percent = Math.round(sentence.score * 100);
      const text = truncate(sentence.text, 140);
      button.textContent =
        sentence.label === "biased"
          ? t("popupFlaggedBiased", "Biased ($1%): $2", percent, text)
          : t("popupFlaggedReview", "Review ($1%): $2", percent, text);
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
  $("scan-start").textContent =
    state.status === "none" ? t("popupScanStart", "Scan this page") : t("popupScanAgain", "Scan again");
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
  // Everywhere-but mode: the box turns srllm off for the site; only-listed mode: on.
  turnsOn = site.mode === "listed";
  $("site-switch-label").textContent = turnsOn
    ? t("popupSiteTurnOn", "Turn on for $1", site.hostname)
    : t("popupSiteTurnOff", "Turn off on $1", site.hostname);
  $("site-switch").checked = turnsOn === site.on;
  $("tab-pause").checked = site.paused;
  blocked = !site.on || site.paused;
  $("scan-start").disabled = blocked;
  if (site.paused) say(t("popupTabPaused", "srllm is paused on this tab."));
  else if (!site.on) say(t("popupSiteIsOff", "srllm is off on $1.", site.hostname));
}

async function start() {
  say(t("popupScanStarting", "Starting\u2026"));
  const result = await send(MSG.SCAN_ACTIVE_TAB, { tabId });
  if (!result?.ok) {
    say(result?.message ?? t("popupCannotScan", "This page cannot be scanned."));
    return;
  }
  await refresh();
}

async function setSite(change) {
  const site = await send(MSG.SITE_SET, { tabId, ...change });
  // Off or paused clears the tab's underlines; the switch then says why nothing is scanned.
  if (site?.available && (!site.on || site.paused)) render({ status: "none" });
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
  $("site-switch").addEventListener("change", (event) => setSite({ on: turnsOn === event.target.checked }));
  $("tab-pause").addEventListener("change", (event) => setSite({ paused: event.target.checked }));
  await refresh();
  renderSite(await send(MSG.SITE_STATE, { tabId }));
}

init();
