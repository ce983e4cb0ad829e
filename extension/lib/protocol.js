// The message protocol between the extension's parts: every message is a {type, data}
// envelope, and receivers dispatch on `type` through a handler map (no switch statements that
// silently ignore a typo'd type).
//
// Who sends what:
//   popup/options -> background (runtime.sendMessage): STATUS_GET, CHECK_ACTIVE_TAB, OPTIONS_OPEN
//   background -> content (tabs.sendMessage):          CARD_OPEN, CARD_PROBLEM
//   content <-> background over a port named PORT_NAME, one port per request: CHECK_START
//     (flag + rewrite) or CHECK_REWRITE (rewrite only, "Rewrite anyway") in; CHECK_FLAG,
//     CHECK_DELTA, CHECK_DONE, CHECK_ERROR out, and CHECK_QUEUED ({position}) then
//     CHECK_STARTED when the server made the check wait behind another. Disconnecting the
//     port cancels the request (the card's Stop and Dismiss).
//   content -> background (runtime.sendMessage), from the card's buttons: ALLOW_ADD (always
//     ignore a term), MUTE_ADD (stop flagging a category), DISAGREE_ADD (kept on this computer),
//     SCAN_STOP (stop the page scan of the card's tab, as the popup's Stop does).
//   The page scan: popup -> background SCAN_ACTIVE_TAB, SCAN_STOP, SCAN_CLEAR, SCAN_STATE,
//     SCAN_REVEAL, SITE_STATE, SITE_SET; background -> scan.js (tabs.sendMessage) SCAN_BEGIN and
//     the same SCAN_STOP, SCAN_CLEAR, SCAN_STATE, SCAN_REVEAL; scan.js -> background SCAN_BADGE;
//     scan.js <-> background over a port named SCAN_PORT_NAME, one per scan: SCAN_SEGMENTS in;
//     SCAN_SENTENCE (flagged ones only), SCAN_PROGRESS, SCAN_DONE, SCAN_ERROR out.
// content.js is a classic script and cannot import this module: it spells the same strings,
// and test/protocol.test.mjs checks that it uses no type missing here.

export const MSG = Object.freeze({
  STATUS_GET: "status/get",
  CHECK_ACTIVE_TAB: "check/active-tab",
  OPTIONS_OPEN: "options/open",
  CARD_OPEN: "card/open",
  CARD_PROBLEM: "card/problem",
  CHECK_START: "check/start",
  CHECK_REWRITE: "check/rewrite",
  CHECK_FLAG: "check/flag",
  CHECK_DELTA: "check/delta",
  CHECK_DONE: "check/done",
  CHECK_ERROR: "check/error",
  CHECK_QUEUED: "check/queued",
  CHECK_STARTED: "check/started",
  ALLOW_ADD: "allow/add",
  MUTE_ADD: "mute/add",
  DISAGREE_ADD: "disagree/add",
  SCAN_ACTIVE_TAB: "scan/active-tab",
  SCAN_BEGIN: "scan/begin",
  SCAN_STOP: "scan/stop",
  SCAN_CLEAR: "scan/clear",
  SCAN_STATE: "scan/state",
  SCAN_REVEAL: "scan/reveal",
  SCAN_BADGE: "scan/badge",
  SCAN_SEGMENTS: "scan/segments",
  SCAN_SENTENCE: "scan/sentence",
  SCAN_PROGRESS: "scan/progress",
  SCAN_DONE: "scan/done",
  SCAN_ERROR: "scan/error",
  SITE_STATE: "site/state",
  SITE_SET: "site/set",
});

export const PORT_NAME = "srllm-check";
export const SCAN_PORT_NAME = "srllm-scan";

const KNOWN_TYPES = new Set(Object.values(MSG));

export class ProtocolError extends Error {
  name = "ProtocolError";
}

/** Build an envelope; an unknown type is a programming error, so it throws. */
export function makeMessage(type, data = {}) {
  if (!KNOWN_TYPES.has(type)) throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ProtocolError(`message data for ${type} must be an object`);
  }
  return { type, data };
}

/** Validate something received from another part; returns the envelope or throws. */
export function parseMessage(raw) {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ProtocolError("message must be an object with type and data");
  }
  const { type, data = {} } = raw;
  if (typeof type !== "string" || !KNOWN_TYPES.has(type)) {
    throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ProtocolError(`message data for ${type} must be an object`);
  }
  return { type, data };
}

/**
 * Run the handler for a message: handlers[type](data, ...context). Throws ProtocolError for a
 * malformed message or a type this receiver does not handle.
 */
export async function dispatch(handlers, raw, ...context) {
  const { type, data } = parseMessage(raw);
  const handler = Object.hasOwn(handlers, type) ? handlers[type] : undefined;
  if (typeof handler !== "function") throw new ProtocolError(`no handler for ${type}`);
  return handler(data, ...context);
}
