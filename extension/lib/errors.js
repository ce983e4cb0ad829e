// Failures of a check, as the card shows them: a stable `kind` (the card's state), a title and
// a message. Everything here ends up as text (textContent) in the page; server messages are
// shortened but never interpreted.

import { truncate } from "./truncate.js";

export const START_COMMANDS = Object.freeze(["srllm serve", "just serve"]);
const MAX_SERVER_MESSAGE = 300;

export const FAILURE_KINDS = Object.freeze([
  "server_down",
  "not_paired",
  "too_long",
  "timeout",
  "forbidden",
  "server_error",
  "frame",
  "restricted",
  "unsupported_language",
]);

function serverMessage(body, fallback) {
  const message = body?.error?.message;
  return truncate(
    typeof message === "string" && message.trim() ? message.trim() : fallback,
    MAX_SERVER_MESSAGE,
  );
}

/** The character limit a 413 body carries as a field ({"limit": 4000, "unit": "characters"}). */
function limitFrom(error) {
  return Number.isInteger(error?.limit) && error?.unit === "characters" ? error.limit : null;
}

export function serverDown(serverUrl) {
  return {
    kind: "server_down",
    title: "The srllm server is not running",
    message: `Nothing answered at ${serverUrl}. Start the server on this computer, then try again:`,
    commands: [...START_COMMANDS],
  };
}

export function timedOut(seconds) {
  return {
    kind: "timeout",
    title: "The server took too long",
    message: `No answer within ${seconds} seconds. The model may be busy; try a shorter selection or raise the timeout in Options.`,
  };
}

export function tooLong(length, limit, where) {
  return {
    kind: "too_long",
    title: "The selection is too long",
    message: `The selection has ${length} characters; the limit${where ? ` (${where})` : ""} is ${limit}. Select less text.`,
    limit,
  };
}

/** An HTTP error response (status + parsed JSON body or null) as a failure. */
export function fromHttpError(status, body) {
  const code = typeof body?.error?.code === "string" ? body.error.code : "";
  if (status === 401) {
    return {
      kind: "not_paired",
      title: "Not paired with the server",
      message: "Run this command in a terminal and paste the token it prints into the extension's Options:",
      commands: ["srllm token"],
    };
  }
  if (status === 413) {
    const message = serverMessage(body, "The text is too long for the server.");
    return {
      kind: "too_long",
      title: "The selection is too long",
      message,
      limit: code === "text_too_long" ? limitFrom(body?.error) : null,
    };
  }
  if (code === "unsupported_language") {
    // A plain notice, not an error to retry: the model reads English only.
    const reason = typeof body?.error?.reason === "string" ? ` (${truncate(body.error.reason, 60)})` : "";
    return {
      kind: "unsupported_language",
      title: "Language not supported",
      message: `srllm's model reads English only, and this text looks like another language${reason}. It was not checked.`,
      retry: false,
    };
  }
  if (status === 403) {
    return {
      kind: "forbidden",
      title: "The server refused the request",
      message: serverMessage(body, "Forbidden (403)."),
    };
  }
  return {
    kind: "server_error",
    title: `Server error${code ? ` (${code})` : ""}`,
    message: serverMessage(body, `The server answered with HTTP ${status}.`),
  };
}

/** An `event: error` in a stream: the same shape as an HTTP error body. */
export function fromStreamError(body) {
  const code = typeof body?.error?.code === "string" ? body.error.code : "";
  const status =
    code === "text_too_long" || code === "body_too_large"
      ? 413
      : code === "unauthorized"
        ? 401
        : code === "unsupported_language"
          ? 422
          : 500;
  return fromHttpError(status, body);
}

export function frameProblem() {
  return {
    kind: "frame",
    title: "Selection inside an embedded frame",
    message:
      "srllm cannot read text inside this embedded frame. Open the frame's page on its own, or copy the text into a text field on this page, and check it there.",
  };
}

export function restrictedPage() {
  return {
    kind: "restricted",
    title: "srllm cannot run on this page",
    message:
      "The browser does not let extensions read this page (browser pages, extension stores, some PDFs). Copy the text into a text field on another page.",
  };
}
