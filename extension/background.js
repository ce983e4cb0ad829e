// The background (Chrome: module service worker; Firefox: module event page): the only code
// that calls the srllm server. It keeps no state in globals; the worker may be stopped between
// any two events, so settings are read from chrome.storage for every request and each check
// lives in the closure of its port, which the content script opens and closes.

import { MSG, PORT_NAME, dispatch, makeMessage } from "./lib/protocol.js";
import { STORAGE_KEY, isFlagged, migrateSettings, validateSettings } from "./lib/settings.js";
import { askHost, pairingFrom } from "./lib/native.js";
import { highlightSegments, codePointLength } from "./lib/offsets.js";
import { createSseParser, eventJson } from "./lib/sse.js";
import { truncate } from "./lib/truncate.js";
import * as failures from "./lib/errors.js";
import { focusedFrameId } from "./lib/frames.js";
import { restrictStorageAccess } from "./lib/storage.js";

const MENU_ID = "srllm-check-selection";
const COMMAND = "check-selection";
const STATUS_TIMEOUT_MS = 4000;
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
 * An AbortController that fires after `ms` without progress; call touch() on progress. The
 * check is cancelled by the caller's `signal` too (the card was dismissed).
 */
function idleTimeout(ms, signal) {
  const controller = new AbortController();
  let timer = 0;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new TimeoutError()), ms);
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
  return { state: "failed", message: String(reply?.message ?? "no answer") };
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
async function streamRequest(path, { text }, { port, cancel }, extra = {}) {
  if (typeof text !== "string" || !text.trim()) {
    safePost(port, MSG.CHECK_ERROR, {
      kind: "empty",
      title: "Nothing selected",
      message: "Select some text first.",
    });
    return;
  }
  const settings = await loadSettings();
  const length = codePointLength(text);
  if (length > settings.maxSelectionChars) {
    safePost(port, MSG.CHECK_ERROR, failures.tooLong(length, settings.maxSelectionChars, "set in Options"));
    return;
  }
  const timer = idleTimeout(settings.timeoutSeconds * 1000, cancel.signal);
  const fail = (failure) =>
    safePost(port, MSG.CHECK_ERROR, { retry: failure.kind !== "too_long", ...failure });
  try {
    const options = {
      method: "POST",
      body: { text, stream: true, ...extra },
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
    if (cancel.signal.aborted) return; // dismissed: nobody is listening
    if (timer.timedOut()) fail(failures.timedOut(settings.timeoutSeconds));
    else if (error instanceof SyntaxError)
      fail({ kind: "server_error", title: "Server error", message: error.message });
    else if (error instanceof HostError)
      fail({
        kind: "server_error",
        title: "The srllm server did not start",
        message: truncate(error.message, 300),
      });
    else fail({ ...failures.serverDown(settings.serverUrl), retry: true });
  } finally {
    timer.stop();
  }
}

async function readStream(response, text, settings, port, timer, cancel) {
  let finished = false;
  const handlers = {
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
      safePost(port, MSG.CHECK_DONE, { rewrite, changed: Boolean(data.changed) && rewrite !== null });
    },
    error(data) {
      finished = true;
      safePost(port, MSG.CHECK_ERROR, { retry: true, ...failures.fromStreamError(data) });
    },
  };
  const parser = createSseParser((event) => {
    if (finished) return;
    const handler = Object.hasOwn(handlers, event.event) ? handlers[event.event] : null;
    if (handler) handler(eventJson(event));
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    timer.touch();
    parser.feed(value);
    if (finished) break;
  }
  parser.end();
  if (!finished) {
    safePost(port, MSG.CHECK_ERROR, {
      kind: "server_error",
      title: "Server error",
      message: "The server closed the stream before the answer was complete.",
      retry: true,
    });
  }
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
      safePost(port, MSG.CHECK_ERROR, {
        kind: "server_error",
        title: "Extension error",
        message: truncate(String(error?.message ?? error), 300),
      });
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
  await chrome.action.setTitle({ tabId, title: `srllm: ${failure.title}` });
}

async function clearProblem(tabId) {
  await chrome.storage.session.remove(PROBLEM_KEY(tabId));
  await chrome.action.setBadgeText({ tabId, text: "" });
  await chrome.action.setTitle({ tabId, title: chrome.runtime.getManifest().action.default_title });
}

/**
 * What the context menu, the keyboard shortcut and the popup all call: open a card for the
 * selection in that frame of that tab.
 */
export async function checkSelectionInTab(tabId, frameId = 0) {
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
      status.error = error?.name === "TimeoutError" ? "The server did not answer in time." : null;
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

const messageHandlers = {
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
};

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id) return false;
  dispatch(messageHandlers, message).then(sendResponse, (error) =>
    sendResponse({ ok: false, error: String(error?.message ?? error) }),
  );
  return true; // answer asynchronously
});

// ---- entry points ------------------------------------------------------------------------

async function setUp() {
  await loadSettings(); // migrates stored settings once per install/update
  await chrome.contextMenus.removeAll();
  chrome.contextMenus.create({ id: MENU_ID, title: "Check for bias", contexts: ["selection"] });
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
});

chrome.commands.onCommand.addListener(async (command, tab) => {
  if (command !== COMMAND) return;
  const tabId = tab?.id ?? (await activeTabId());
  if (tabId !== undefined) checkSelectionInTab(tabId, await focusedFrameId(chrome.scripting, tabId));
});

// The same entry point, reachable from the worker's console (and from the end-to-end tests,
// which cannot click browser context menus in headless Chromium).
globalThis.srllm = Object.freeze({ checkSelectionInTab });
