// The background (Chrome: module service worker; Firefox: module event page): the only code
// that calls the srllm server. It keeps no state in globals; the worker may be stopped between
// any two events, so settings are read from chrome.storage for every request and each check
// lives in the closure of its port, which the content script opens and closes.

import { MSG, PORT_NAME, SCAN_PORT_NAME, dispatch, makeMessage } from "./lib/protocol.js";
import {
  STORAGE_KEY,
  isFlagged,
  migrateSettings,
  mutedCategories,
  validateSettings,
} from "./lib/settings.js";
import {
  DISAGREE_KEY,
  confidence,
  disagreementRow,
  findingsFrom,
  parseAllowList,
  withAllowTerm,
  withDisagreement,
} from "./lib/findings.js";
import { askHost, pairingFrom } from "./lib/native.js";
import { highlightSegments, codePointLength } from "./lib/offsets.js";
import { createSseParser, eventJson } from "./lib/sse.js";
import * as failures from "./lib/errors.js";
import { focusedFrameId } from "./lib/frames.js";
import { restrictStorageAccess } from "./lib/storage.js";
import { t } from "./lib/i18n.js";
import { PAUSE_KEY, hostnameOf, siteBlock, siteIsOn, withSiteSwitch } from "./lib/sites.js";
import {
  HIGHLIGHT_CSS,
  badgeText,
  chunkSegments,
  emptyCounts,
  pageSentence,
  summaryText,
  validSegments,
} from "./lib/scan.js";

const MENU_ID = "srllm-check-selection";
const SCAN_MENU_ID = "srllm-scan-page";
const COMMAND = "check-selection";
const SCAN_COMMAND = "scan-page";
const STATUS_TIMEOUT_MS = 4000;
// While a check waits in the server's queue the user's timeout does not run (it counts from
// the start of generation); the server says "queued" every 5 s, so this long without a word
// means it is gone.
const QUEUE_SILENCE_MS = 30_000;
/** How long a queued call may go without a keep-alive: never less than the user's timeout. */
const queuedWait = (settings) => Math.max(QUEUE_SILENCE_MS, settings.timeoutSeconds * 1000);
const PROBLEM_KEY = (tabId) => `problem:${tabId}`;
const WELCOME_PAGE = "welcome/welcome.html";

// ---- settings --------------------------------------------------------------------------

async function loadSettings() {
  const stored = (await chrome.storage.local.get(STORAGE_KEY))[STORAGE_KEY];
  const { settings, changed } = migrateSettings(stored);
  if (changed) await chrome.storage.local.set({ [STORAGE_KEY]: settings });
  return settings;
}

// ---- HTTP --------------------------------------------------------------------------------

class TimeoutError extends Error {
  name = "TimeoutError";
}

/**
 * An AbortController that fires after `ms` without progress; call touch() on progress, or
 * touch(other) to wait `other` ms this once (queued). The check is cancelled by the caller's
 * `signal` too (the card was dismissed or stopped).
 */
function idleTimeout(ms, signal) {
  const controller = new AbortController();
  let timer = 0;
  const touch = (wait = ms) => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new TimeoutError()), wait);
  };
  const stop = () => clearTimeout(timer);
  signal?.addEventListener("abort", () => {
    stop();
    controller.abort(signal.reason);
  });
  touch();
  return {
    signal: controller.signal,
    touch,
    stop,
    timedOut: () => controller.signal.reason instanceof TimeoutError,
  };
}

// Firefox runs this background as an event page and suspends it after 30 s without extension
// events or API calls, a fetch in flight or not (the card then says the check was interrupted);
// the model can take longer than that before its first word. A cheap API call every 10 s keeps
// the page awake while a call to the server runs (in Chrome it extends the worker's life too).
const KEEP_AWAKE_MS = 10_000;

/** Keep the background awake until the returned function is called. */
function keepAwake() {
  const timer = setInterval(() => chrome.runtime.getPlatformInfo().catch(() => {}), KEEP_AWAKE_MS);
  return () => clearInterval(timer);
}

function request(settings, path, { method = "GET", body, signal, stream = false } = {}) {
  const headers = { Accept: stream ? "text/event-stream" : "application/json" };
  // /health answers details (the model's name, limits) only with the token.
  if (settings.token && (path.startsWith("/v1/") || path === "/health"))
    headers.Authorization = `Bearer ${settings.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${settings.serverUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "omit",
    cache: "no-store",
  });
}

// ---- pairing through the native host -------------------------------------------------------

class HostError extends Error {
  name = "HostError";
}

function connectNative(name) {
  return chrome.runtime.connectNative(name);
}

const hostOptions = (extra = {}) => ({ lastError: () => chrome.runtime.lastError, ...extra });

/** The origin the server should accept: chrome-extension://<id> or moz-extension://<uuid>. */
function extensionOrigin() {
  return chrome.runtime.getURL("").replace(/\/$/, "");
}

/**
 * Ask the native host for the server (it starts one when none answers) and save the URL and
 * token it hands over: {ok: true, settings, started} or {ok: false, state, message}.
 */
async function pairWithHost() {
  const reply = await askHost(connectNative, { type: "connect", origin: extensionOrigin() }, hostOptions());
  const pairing = pairingFrom(reply);
  if (!pairing.ok) return pairing;
  const current = await loadSettings();
  const settings = validateSettings({ ...current, serverUrl: pairing.serverUrl, token: pairing.token });
  await chrome.storage.local.set({ [STORAGE_KEY]: settings });
  return { ok: true, settings, started: pairing.started };
}

/** Whether the host is installed, without starting anything. */
async function hostStatus() {
  const reply = await askHost(connectNative, { type: "status" }, hostOptions({ timeoutMs: 10_000 }));
  if (reply?.type === "status")
    return { state: "found", version: reply.version ?? null, running: Boolean(reply.running) };
  if (reply?.type === "unavailable") return { state: reply.state, message: reply.message };
  return { state: "failed", message: String(reply?.message ?? t("hostNoAnswer", "no answer")) };
}

/**
 * request(), and when no token is saved, nothing answers or the token is refused: pair through
 * the native host once (it starts the server if needed) and send again with what it handed
 * over. Without the host the first outcome stands, so the manual setup works as before; a host
 * that is there but failed says why (HostError). `timer` (the idle timeout) pauses meanwhile:
 * a cold start loads the model.
 */
async function requestPaired(settings, path, options, timer) {
  let outcome = null;
  if (settings.token) {
    try {
      const response = await request(settings, path, options);
      if (response.status !== 401) return response;
      outcome = response;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      outcome = error;
    }
  }
  timer?.stop();
  const paired = await pairWithHost();
  timer?.touch();
  if (paired.ok) return request(paired.settings, path, options);
  if (paired.state !== "missing") throw new HostError(paired.message);
  if (outcome === null) return request(settings, path, options); // no token: the server says so
  if (outcome instanceof Response) return outcome;
  throw outcome;
}

async function errorBody(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// ---- a check, streamed over a port -------------------------------------------------------

function safePost(port, type, data) {
  try {
    port.postMessage(makeMessage(type, data));
    return true;
  } catch {
    return false; // the card was dismissed meanwhile
  }
}

/**
 * One streamed request for the card behind `port`: POST `path` with {text, stream: true} and
 * forward what arrives. CHECK_START uses /v1/debias (flag, then rewrite deltas, then done);
 * CHECK_REWRITE uses /v1/rewrite (deltas, then done) for "Rewrite anyway" on a neutral verdict:
 * `all` asks for every sentence, not only those the flag calls biased.
 */
async function streamRequest(path, { text, ignore }, { port, cancel }, extra = {}) {
  if (typeof text !== "string" || !text.trim()) {
    safePost(port, MSG.CHECK_ERROR, {
      kind: "empty",
      title: t("errorEmptyTitle", "Nothing selected"),
      message: t("errorEmpty", "Select some text first."),
    });
    return;
  }
  const settings = await loadSettings();
  const length = codePointLength(text);
  if (length > settings.maxSelectionChars) {
    safePost(port, MSG.CHECK_ERROR, failures.tooLong(length, settings.maxSelectionChars));
    return;
  }
  const timer = idleTimeout(settings.timeoutSeconds * 1000, cancel.signal);
  const awake = keepAwake();
  const fail = (failure) =>
    safePost(port, MSG.CHECK_ERROR, { retry: failure.kind !== "too_long", ...failure });
  try {
    const options = {
      method: "POST",
      body: { text, stream: true, ...checkOptions(settings, ignore), ...extra },
      signal: timer.signal,
      stream: true,
    };
    const response = await requestPaired(settings, path, options, timer);
    timer.touch();
    if (!response.ok) {
      const failure = failures.fromHttpError(response.status, await errorBody(response));
      fail({ ...failure, options: failure.kind === "not_paired" });
      return;
    }
    await readStream(response, text, settings, port, timer, cancel);
  } catch (error) {
    if (!cancel.signal.aborted) fail(callFailure(error, timer, settings)); // else nobody listens
  } finally {
    timer.stop();
    awake();
  }
}

/** Why a call to the server threw: its timeout, an answer it could not read, the helper, or no server. */
function callFailure(error, timer, settings) {
  if (timer.timedOut()) return failures.timedOut(settings.timeoutSeconds);
  if (error instanceof SyntaxError) return failures.badAnswer(error.message);
  if (error instanceof HostError) return failures.hostFailed(error.message);
  return failures.serverDown(settings.serverUrl);
}

/**
 * What the user set for every check: strictness, the allow-list (plus the terms ignored once
 * on this card) and the categories turned off, as the server's `mute`.
 */
function checkOptions(settings, ignore) {
  const once = parseAllowList(Array.isArray(ignore) ? ignore : []).terms;
  const allow = parseAllowList([...settings.allowTerms, ...once]).terms;
  const mute = mutedCategories(settings);
  return {
    strictness: settings.strictness,
    ...(allow.length ? { allow } : {}),
    ...(mute.length ? { mute } : {}),
  };
}

/**
 * Feed a streamed answer's server-sent events to `handlers` (by event name) until the stream
 * ends or `finished()` says the call is over; every chunk read counts as activity for `timer`.
 */
async function pumpEvents(response, timer, handlers, finished) {
  const parser = createSseParser((event) => {
    if (finished()) return;
    const handler = Object.hasOwn(handlers, event.event) ? handlers[event.event] : null;
    if (handler) handler(eventJson(event));
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    timer.touch();
    parser.feed(value);
    if (finished()) break;
  }
  parser.end();
}

async function readStream(response, text, settings, port, timer, cancel) {
  let finished = false;
  const handlers = {
    queued(data) {
      timer.touch(queuedWait(settings));
      const position = Number.isInteger(data.position) && data.position > 0 ? data.position : 1;
      safePost(port, MSG.CHECK_QUEUED, { position });
    },
    started() {
      timer.touch(); // the user's timeout counts from here
      safePost(port, MSG.CHECK_STARTED, {});
    },
    flag(flag) {
      const categories = Array.isArray(flag.categories) ? flag.categories.map(String) : [];
      const muted = Boolean(flag.biased) && !isFlagged(flag, settings.categories);
      safePost(port, MSG.CHECK_FLAG, {
        label: String(flag.label),
        biased: Boolean(flag.biased),
        categories,
        explanation: typeof flag.explanation === "string" ? flag.explanation : "",
        segments: highlightSegments(text, flag.spans),
        muted,
        // The card's confidence line, its per-term buttons and what "Disagree" records.
        confidence: confidence(flag.p_biased),
        findings: findingsFrom(flag.spans),
        model: typeof flag.model === "string" ? flag.model : null,
      });
      if (muted) {
        // Nothing the user asked for: stop the rewrite instead of spending the CPU on it.
        finished = true;
        safePost(port, MSG.CHECK_DONE, { rewrite: null, changed: false });
        cancel.abort();
      }
    },
    delta(data) {
      if (typeof data.delta === "string") safePost(port, MSG.CHECK_DELTA, { delta: data.delta });
    },
    done(data) {
      finished = true;
      const rewrite = typeof data.rewrite === "string" ? data.rewrite : null;
      safePost(port, MSG.CHECK_DONE, {
        rewrite,
        changed: Boolean(data.changed) && rewrite !== null,
        // srllm's own check still flags what came back: the card asks for a review.
        stillBiased: data.still_biased === true && rewrite !== null,
      });
    },
    error(data) {
      finished = true;
      safePost(port, MSG.CHECK_ERROR, { retry: true, ...failures.fromStreamError(data) });
    },
  };
  await pumpEvents(response, timer, handlers, () => finished);
  if (!finished) safePost(port, MSG.CHECK_ERROR, { ...failures.streamCut(), retry: true });
}

const portHandlers = {
  [MSG.CHECK_START]: (data, context) => streamRequest("/v1/debias", data, context),
  [MSG.CHECK_REWRITE]: (data, context) => streamRequest("/v1/rewrite", data, context, { all: true }),
};

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== PORT_NAME) return;
  // The content script closes the port on Dismiss/Escape/navigation: cancel the request, which
  // closes the HTTP connection, which stops generation on the server.
  const cancel = new AbortController();
  port.onDisconnect.addListener(() => cancel.abort());
  port.onMessage.addListener((message) => {
    dispatch(portHandlers, message, { port, cancel }).catch((error) => {
      safePost(port, MSG.CHECK_ERROR, failures.extensionError(error));
    });
  });
});

// ---- starting a check in a tab -----------------------------------------------------------

async function inject(tabId, frameId) {
  await chrome.scripting.executeScript({
    target: { tabId, frameIds: [frameId] },
    files: ["card.js", "content.js"],
  });
  await chrome.tabs.sendMessage(tabId, makeMessage(MSG.CARD_OPEN), { frameId });
}

async function reportProblem(tabId, failure) {
  // No page to draw in: the toolbar badge says so and the popup shows why.
  await chrome.storage.session.set({
    [PROBLEM_KEY(tabId)]: { title: failure.title, message: failure.message },
  });
  await chrome.action.setBadgeText({ tabId, text: "!" });
  await chrome.action.setBadgeBackgroundColor({ tabId, color: "#a3192c" });
  await chrome.action.setTitle({ tabId, title: t("actionTitleStatus", "srllm: $1", failure.title) });
}

async function clearProblem(tabId) {
  await chrome.storage.session.remove(PROBLEM_KEY(tabId));
  await chrome.action.setBadgeText({ tabId, text: "" });
  await chrome.action.setTitle({ tabId, title: t("actionTitle", "srllm: check text for bias") });
}

/**
 * What the context menu, the keyboard shortcut and the popup all call: open a card for the
 * selection in that frame of that tab.
 */
export async function checkSelectionInTab(tabId, frameId = 0) {
  const site = await siteState(tabId);
  if (site?.block) return refuse(tabId, frameId, site.block);
  try {
    await inject(tabId, frameId);
    await clearProblem(tabId);
    return { ok: true };
  } catch {
    // Fall through: the frame (or the whole page) does not accept content scripts.
  }
  if (frameId !== 0) {
    try {
      await chrome.scripting.executeScript({
        target: { tabId, frameIds: [0] },
        files: ["card.js", "content.js"],
      });
      await chrome.tabs.sendMessage(tabId, makeMessage(MSG.CARD_PROBLEM, failures.frameProblem()), {
        frameId: 0,
      });
      return { ok: false, kind: "frame" };
    } catch {
      /* the top page is closed to us as well */
    }
  }
  await reportProblem(tabId, failures.restrictedPage());
  return { ok: false, kind: "restricted" };
}

async function activeTabId() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id;
}

// ---- per-site switches -------------------------------------------------------------------

/**
 * The site of a tab (its top frame's address, as the address bar shows it), the settings' mode,
 * whether the site rule lets srllm run there (`on`), whether it is paused on the tab, and the
 * refusal that makes (`block`); null when the page is closed to extensions (nothing can run
 * there anyway).
 */
async function siteState(tabId) {
  let hostname;
  try {
    const [frame] = await chrome.scripting.executeScript({
      target: { tabId, frameIds: [0] },
      func: () => location.href,
    });
    hostname = hostnameOf(frame?.result);
  } catch {
    return null;
  }
  const settings = await loadSettings();
  const paused = Boolean((await chrome.storage.session.get(PAUSE_KEY(tabId)))[PAUSE_KEY(tabId)]);
  return {
    hostname,
    mode: settings.siteMode,
    on: siteIsOn(hostname, settings),
    paused,
    block: siteBlock({ hostname, settings, paused }),
  };
}

/** Say in the page why nothing happens (a card with the reason): {ok: false, kind, message}. */
async function refuse(tabId, frameId, block, { quiet = false } = {}) {
  if (!quiet) {
    try {
      await chrome.scripting.executeScript({
        target: { tabId, frameIds: [frameId] },
        files: ["card.js", "content.js"],
      });
      await chrome.tabs.sendMessage(tabId, makeMessage(MSG.CARD_PROBLEM, block), { frameId });
    } catch {
      /* the frame went away */
    }
  }
  return { ok: false, kind: block.kind, title: block.title, message: block.message };
}

/**
 * Turn srllm on or off for the tab's site (`on`, in the settings' mode: the off-list or the
 * on-list changes), pause or resume it on the tab (`paused`).
 */
async function setSite({ tabId, on, paused }) {
  const site = await siteState(tabId);
  if (!site) return { available: false };
  if (typeof on === "boolean" && site.hostname) {
    const settings = await loadSettings();
    const lists = withSiteSwitch(settings, site.hostname, on);
    await chrome.storage.local.set({ [STORAGE_KEY]: validateSettings({ ...settings, ...lists }) });
  }
  if (typeof paused === "boolean") {
    if (paused) await chrome.storage.session.set({ [PAUSE_KEY(tabId)]: true });
    else await chrome.storage.session.remove(PAUSE_KEY(tabId));
  }
  if (on === false || paused === true) await clearScan(tabId); // off means no underlines either
  return siteView(await siteState(tabId));
}

function siteView(site) {
  if (!site) return { available: false };
  const { hostname, mode, on, paused } = site;
  return { available: Boolean(hostname), hostname, mode, on, paused };
}

// ---- the page scan -----------------------------------------------------------------------

async function setBadge(tabId, text, color = "#55575f") {
  await chrome.action.setBadgeText({ tabId, text });
  await chrome.action.setBadgeBackgroundColor({ tabId, color });
}

async function sendToPage(tabId, type, data = {}) {
  try {
    return await chrome.tabs.sendMessage(tabId, makeMessage(type, data), { frameId: 0 });
  } catch {
    return null; // no scan.js in the page: nothing was scanned there
  }
}

/**
 * What the popup, the context menu and the shortcut call: scan the top frame of the tab. The
 * page's own text is read by scan.js; the underline style goes in as a user stylesheet, which
 * adds no node to the page. `quiet`: the caller (the popup) says itself why a scan is refused.
 */
export async function scanTab(tabId, { quiet = false } = {}) {
  const site = await siteState(tabId);
  if (site?.block) return refuse(tabId, 0, site.block, { quiet });
  try {
    if (!site) throw new Error("closed page");
    const settings = await loadSettings();
    const target = { tabId, frameIds: [0] };
    await chrome.scripting.executeScript({ target, files: ["card.js", "content.js", "scan.js"] });
    await chrome.scripting.removeCSS({ target, css: HIGHLIGHT_CSS }).catch(() => {});
    await chrome.scripting.insertCSS({ target, css: HIGHLIGHT_CSS });
    await clearProblem(tabId);
    await setBadge(tabId, badgeText(0, true));
    await chrome.tabs.sendMessage(
      tabId,
      makeMessage(MSG.SCAN_BEGIN, { checkAsYouType: settings.checkAsYouType }),
      {
        frameId: 0,
      },
    );
    return { ok: true };
  } catch {
    const failure = failures.restrictedPage();
    await reportProblem(tabId, failure);
    return { ok: false, kind: "restricted", title: failure.title, message: failure.message };
  }
}

/** The scan's state in the tab, as scan.js reports it ({status: "none"} before any scan). */
export async function scanState(tabId) {
  return (await sendToPage(tabId, MSG.SCAN_STATE)) ?? { status: "none" };
}

async function stopScan(tabId) {
  return (await sendToPage(tabId, MSG.SCAN_STOP)) ?? { status: "none" };
}

async function clearScan(tabId) {
  await sendToPage(tabId, MSG.SCAN_CLEAR);
  await chrome.action.setBadgeText({ tabId, text: "" });
  await chrome.action.setTitle({ tabId, title: t("actionTitle", "srllm: check text for bias") });
  return { ok: true };
}

/** The shortcut: scan, or stop the scan that is running. */
async function toggleScan(tabId) {
  if ((await scanState(tabId)).status === "running") return stopScan(tabId);
  return scanTab(tabId);
}

const scanFailure = (failure) =>
  failure.kind === "too_long"
    ? { ...failure, title: t("scanTooLongTitle", "Too much text for one scan") }
    : failure;

/**
 * One call of POST /v1/scan, streamed: every flagged sentence goes to the page as it comes.
 * Returns null when done, or the failure; `skip` when the server refused one sentence as
 * longer than the model reads (the caller splits the chunk and leaves that segment out).
 */
async function scanChunk(chunk, { port, cancel, settings, texts, counts }) {
  const timer = idleTimeout(settings.timeoutSeconds * 1000, cancel.signal);
  const awake = keepAwake();
  try {
    const options = {
      method: "POST",
      // The user's strictness, allow-list and muted categories, as for a check.
      body: { segments: chunk, stream: true, ...checkOptions(settings) },
      signal: timer.signal,
      stream: true,
    };
    const response = await requestPaired(settings, "/v1/scan", options, timer);
    timer.touch();
    if (!response.ok) {
      const body = await errorBody(response);
      if (response.status === 413 && body?.error?.unit === "tokens") return { skip: true };
      return scanFailure(failures.fromHttpError(response.status, body));
    }
    let outcome = null;
    let finished = false;
    const handlers = {
      // Queued behind another call: the timeout counts from `started`, as for a check.
      queued: () => timer.touch(queuedWait(settings)),
      started: () => timer.touch(),
      sentence(data) {
        if (!Object.hasOwn(counts, data.label)) return;
        counts[data.label] += 1;
        if (data.label === "neutral") return;
        const sentence = pageSentence(data, texts);
        if (sentence) safePost(port, MSG.SCAN_SENTENCE, sentence);
      },
      done() {
        finished = true;
      },
      error(data) {
        finished = true;
        outcome = scanFailure(failures.fromStreamError(data));
      },
    };
    await pumpEvents(response, timer, handlers, () => finished);
    return finished ? outcome : failures.streamCut(true);
  } catch (error) {
    return cancel.signal.aborted ? null : callFailure(error, timer, settings);
  } finally {
    timer.stop();
    awake();
  }
}

/** A chunk, split in halves around a sentence the model cannot read (that segment is left out). */
async function scanSplitting(chunk, context) {
  const outcome = await scanChunk(chunk, context);
  if (!outcome?.skip) return outcome;
  if (chunk.length === 1) return null;
  const half = Math.ceil(chunk.length / 2);
  return (await scanSplitting(chunk.slice(0, half), context)) ?? scanSplitting(chunk.slice(half), context);
}

/**
 * A scan for the page behind `port`: its segments in calls of lib/scan.js's size, in the order
 * sent (visible text first), progress after each call. A full scan keeps the toolbar badge and
 * title up to date; a rescan (`rescan`: the edited blocks of a draft) leaves them to scan.js.
 */
async function runScan({ segments: raw, rescan = false }, { port, cancel }) {
  const tabId = port.sender?.tab?.id;
  const own = !rescan && Number.isInteger(tabId);
  let segments;
  try {
    segments = validSegments(raw);
  } catch (error) {
    safePost(port, MSG.SCAN_ERROR, {
      kind: "server_error",
      title: t("scanRefusedTitle", "Scan refused"),
      message: error.message,
    });
    return;
  }
  // The switches apply to every request, a rescan of a draft in another tab of the site too.
  const site = Number.isInteger(tabId) ? await siteState(tabId) : null;
  if (site?.block) {
    safePost(port, MSG.SCAN_ERROR, site.block);
    return;
  }
  const settings = await loadSettings();
  const texts = new Map(segments.map((s) => [s.id, s.text]));
  const counts = emptyCounts();
  const context = { port, cancel, settings, texts, counts };
  let sent = 0;
  for (const chunk of chunkSegments(segments)) {
    const failure = await scanSplitting(chunk, context);
    if (cancel.signal.aborted) return; // stopped: scan.js says so
    if (failure) {
      if (own) await reportProblem(tabId, failure);
      safePost(port, MSG.SCAN_ERROR, failure);
      return;
    }
    sent += chunk.length;
    safePost(port, MSG.SCAN_PROGRESS, { segments: sent, total: segments.length, counts });
    if (own) await setBadge(tabId, badgeText(counts.biased, true), counts.biased ? "#a3192c" : undefined);
  }
  // The badge first: when the page hears "done", the badge already has the final count.
  if (own) {
    await setBadge(tabId, badgeText(counts.biased, false), counts.biased ? "#a3192c" : undefined);
    await chrome.action.setTitle({
      tabId,
      title: t("actionTitleStatus", "srllm: $1", summaryText({ counts })),
    });
  }
  safePost(port, MSG.SCAN_DONE, { counts });
}

const scanPortHandlers = {
  [MSG.SCAN_SEGMENTS]: (data, context) => runScan(data, context),
};

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== SCAN_PORT_NAME) return;
  // scan.js closes the port on Stop, Clear and navigation: the request in flight is aborted,
  // and the server stops between two windows of sentences.
  const cancel = new AbortController();
  port.onDisconnect.addListener(() => cancel.abort());
  port.onMessage.addListener((message) => {
    dispatch(scanPortHandlers, message, { port, cancel }).catch((error) => {
      safePost(port, MSG.SCAN_ERROR, failures.extensionError(error));
    });
  });
});

// ---- status for the popup and options ----------------------------------------------------

/** Reachable? paired? which model? for `settings`; fills `status` in place. */
async function probeServer(settings, status) {
  Object.assign(status, {
    serverUrl: settings.serverUrl,
    hasToken: Boolean(settings.token),
    reachable: false,
    paired: false,
    model: null,
    finetuned: null,
    limits: null,
    error: null,
  });
  try {
    const health = await request(settings, "/health", { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
    if (!health.ok) {
      status.error = failures.fromHttpError(health.status, await errorBody(health)).message;
      return;
    }
    const body = await health.json();
    status.reachable = true;
    status.model = typeof body?.model?.name === "string" ? body.model.name : null;
    status.finetuned = typeof body?.model?.finetuned === "boolean" ? body.model.finetuned : null;
    status.limits = body?.limits ?? null;
    if (!settings.token) return;
    const models = await request(settings, "/v1/models", { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
    status.paired = models.ok;
    if (!models.ok && models.status !== 401)
      status.error = failures.fromHttpError(models.status, await errorBody(models)).message;
  } catch (error) {
    if (!status.reachable)
      status.error =
        error?.name === "TimeoutError" ? t("statusTimeout", "The server did not answer in time.") : null;
  }
}

/**
 * Status for the popup, options and welcome pages. `settings` ({serverUrl, token}, e.g. the
 * options form's) are tested instead of the saved ones, without saving them. `probeHost` adds
 * whether the native host is installed; `pair` also pairs through it (starting the server)
 * when the saved settings do not work.
 */
async function getStatus({ tabId, settings: form, probeHost = false, pair = false } = {}) {
  let settings = await loadSettings();
  const status = { problem: null, host: null };
  if (Number.isInteger(tabId))
    status.problem = (await chrome.storage.session.get(PROBLEM_KEY(tabId)))[PROBLEM_KEY(tabId)] ?? null;
  if (form && typeof form === "object") {
    try {
      settings = validateSettings({ ...settings, serverUrl: form.serverUrl, token: form.token ?? "" });
    } catch (error) {
      return {
        ...status,
        invalid: true,
        serverUrl: String(form.serverUrl ?? ""),
        reachable: false,
        paired: false,
        error: error.message,
      };
    }
  }
  await probeServer(settings, status);
  if (pair && !status.paired) {
    const paired = await pairWithHost();
    status.host = paired.ok
      ? { state: "paired", started: paired.started }
      : { state: paired.state, message: paired.message };
    if (paired.ok) await probeServer(paired.settings, status);
  } else if (probeHost || pair) {
    status.host = await hostStatus();
  }
  return status;
}

// ---- the card's per-finding buttons -----------------------------------------------------------

/** "Always ignore this term": added to the allow-list in the settings. */
async function addAllowTerm({ term }) {
  const settings = await loadSettings();
  const allowTerms = withAllowTerm(settings.allowTerms, term, true);
  await chrome.storage.local.set({ [STORAGE_KEY]: validateSettings({ ...settings, allowTerms }) });
  return { ok: true, terms: allowTerms.length };
}

/** "Mute category": the category is no longer flagged (unticked in Options). */
async function muteCategory({ category }) {
  const settings = await loadSettings();
  const categories = settings.categories.filter((c) => c !== category);
  await chrome.storage.local.set({ [STORAGE_KEY]: validateSettings({ ...settings, categories }) });
  return { ok: true };
}

/** "Disagree": one evaluation row, kept in chrome.storage.local only (exported in Options). */
async function addDisagreement(data) {
  const row = disagreementRow({ ...data, at: new Date().toISOString() });
  const stored = (await chrome.storage.local.get(DISAGREE_KEY))[DISAGREE_KEY];
  const rows = withDisagreement(stored, row);
  await chrome.storage.local.set({ [DISAGREE_KEY]: rows });
  return { ok: true, count: rows.length };
}

const messageHandlers = {
  [MSG.ALLOW_ADD]: (data) => addAllowTerm(data),
  [MSG.MUTE_ADD]: (data) => muteCategory(data),
  [MSG.DISAGREE_ADD]: (data) => addDisagreement(data),
  [MSG.STATUS_GET]: (data) => getStatus(data),
  [MSG.CHECK_ACTIVE_TAB]: async (data) => {
    const tabId = Number.isInteger(data.tabId) ? data.tabId : await activeTabId();
    if (tabId === undefined) return { ok: false, kind: "restricted" };
    return checkSelectionInTab(tabId, await focusedFrameId(chrome.scripting, tabId));
  },
  [MSG.OPTIONS_OPEN]: async () => {
    await chrome.runtime.openOptionsPage();
    return { ok: true };
  },
  [MSG.SCAN_ACTIVE_TAB]: async (data) => {
    const tabId = Number.isInteger(data.tabId) ? data.tabId : await activeTabId();
    if (tabId === undefined) return { ok: false, kind: "restricted" };
    return scanTab(tabId, { quiet: true });
  },
  [MSG.SCAN_STATE]: (data) => scanState(data.tabId),
  // The popup names its tab; the card's "Stop scan" is in the tab it stops.
  [MSG.SCAN_STOP]: (data, sender) => stopScan(Number.isInteger(data.tabId) ? data.tabId : sender.tab?.id),
  [MSG.SCAN_CLEAR]: (data) => clearScan(data.tabId),
  [MSG.SCAN_REVEAL]: async (data) =>
    (await sendToPage(data.tabId, MSG.SCAN_REVEAL, { key: String(data.key) })) ?? { ok: false },
  // From scan.js, after Stop or an edit: the count of biased underlines left (null: none).
  [MSG.SCAN_BADGE]: async (data, sender) => {
    const tabId = sender?.tab?.id;
    if (!Number.isInteger(tabId) || sender.frameId !== 0) return { ok: false };
    if (data.biased === null) await chrome.action.setBadgeText({ tabId, text: "" });
    else if (Number.isInteger(data.biased))
      await setBadge(tabId, badgeText(data.biased, false), data.biased ? "#a3192c" : undefined);
    return { ok: true };
  },
  [MSG.SITE_STATE]: async (data) => siteView(await siteState(data.tabId)),
  [MSG.SITE_SET]: (data) => setSite(data),
};

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id) return false;
  dispatch(messageHandlers, message, sender).then(sendResponse, (error) =>
    sendResponse({ ok: false, error: String(error?.message ?? error) }),
  );
  return true; // answer asynchronously
});

// ---- entry points ------------------------------------------------------------------------

async function setUp() {
  await loadSettings(); // migrates stored settings once per install/update
  await chrome.contextMenus.removeAll();
  const title = t("menuCheck", "Check for bias");
  chrome.contextMenus.create({ id: MENU_ID, title, contexts: ["selection"] });
  chrome.contextMenus.create({
    id: SCAN_MENU_ID,
    title: t("menuScan", "Scan this page for bias"),
    contexts: ["page"],
  });
}

chrome.runtime.onInstalled.addListener(async ({ reason }) => {
  await setUp();
  // First run: the page that says what to run once and shows when everything works.
  if (reason === "install") await chrome.tabs.create({ url: chrome.runtime.getURL(WELCOME_PAGE) });
});
chrome.runtime.onStartup.addListener(() => setUp());
restrictStorageAccess(chrome.storage); // every start: the token stays out of content scripts

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === MENU_ID && tab?.id !== undefined) checkSelectionInTab(tab.id, info.frameId ?? 0);
  if (info.menuItemId === SCAN_MENU_ID && tab?.id !== undefined) scanTab(tab.id);
});

chrome.commands.onCommand.addListener(async (command, tab) => {
  if (command === SCAN_COMMAND) {
    const tabId = tab?.id ?? (await activeTabId());
    if (tabId !== undefined) toggleScan(tabId);
    return;
  }
  if (command !== COMMAND) return;
  const tabId = tab?.id ?? (await activeTabId());
  if (tabId !== undefined) checkSelectionInTab(tabId, await focusedFrameId(chrome.scripting, tabId));
});

// The same entry point, reachable from the worker's console (and from the end-to-end tests,
// which cannot click browser context menus in headless Chromium).
globalThis.srllm = Object.freeze({ checkSelectionInTab, scanTab, scanState, clearScan });

// A new document in the tab has no underlines: its badge count and title go with the old one.
chrome.tabs.onUpdated.addListener((tabId, change) => {
  if (change.status !== "loading") return;
  chrome.action.setBadgeText({ tabId, text: "" }).catch(() => {});
  chrome.action.setTitle({ tabId, title: t("actionTitle", "srllm: check text for bias") }).catch(() => {});
});
chrome.tabs.onRemoved.addListener((tabId) => {
  chrome.storage.session.remove(PAUSE_KEY(tabId)).catch(() => {});
});
