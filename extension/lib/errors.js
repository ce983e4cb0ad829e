// Failures of a check, as the card shows them: a stable `kind` (the card's state), a title and
// a message. Everything here ends up as text (textContent) in the page; server messages are
// shortened but never interpreted.

import { truncate } from "./truncate.js";
import { t } from "./i18n.js";

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
    title: t("errorServerDownTitle", "The srllm server is not running"),
    message: t(
      "errorServerDown",
      "Nothing answered at $1. Start the server on this computer, then try again:",
      serverUrl,
    ),
    commands: [...START_COMMANDS],
  };
}

export function timedOut(seconds) {
  return {
    kind: "timeout",
    title: t("errorTimeoutTitle", "The server took too long"),
    message: t(
      "errorTimeout",
      "No answer within $1 seconds. The model may be busy; try a shorter selection or raise the timeout in Options.",
      seconds,
    ),
  };
}

/** The selection is over the limit set in Options (the server's own limit: fromHttpError). */
export function tooLong(length, limit) {
  return {
    kind: "too_long",
    title: t("errorTooLongTitle", "The selection is too long"),
    message: t(
      "errorTooLong",
      "The selection has $1 characters; the limit (set in Options) is $2. Select less text.",
      length,
      limit,
    ),
    limit,
  };
}

/** An HTTP error response (status + parsed JSON body or null) as a failure. */
export function fromHttpError(status, body) {
  const code = typeof body?.error?.code === "string" ? body.error.code : "";
  if (status === 401) {
    return {
      kind: "not_paired",
      title: t("errorNotPairedTitle", "Not paired with the server"),
      message: t(
        "errorNotPaired",
        "Run this command in a terminal and paste the token it prints into the extension's Options:",
      ),
      commands: ["srllm token"],
    };
  }
  if (status === 413) {
    const message = serverMessage(body, t("errorTooLongForServer", "The text is too long for the server."));
    return {
      kind: "too_long",
      title: t("errorTooLongTitle", "The selection is too long"),
      message,
      limit: code === "text_too_long" ? limitFrom(body?.error) : null,
    };
  }
  if (code === "unsupported_language") {
    // A plain notice, not an error to retry: the model reads English only.
    const reason = typeof body?.error?.reason === "string" ? truncate(body.error.reason, 60) : null;
    return {
      kind: "unsupported_language",
      title: t("errorLanguageTitle", "Language not supported"),
      message: reason
        ? t(
            "errorLanguageReason",
            "srllm's model reads English only, and this text looks like another language ($1). It was not checked.",
            reason,
          )
        : t(
            "errorLanguage",
            "srllm's model reads English only, and this text looks like another language. It was not checked.",
          ),
      retry: false,
    };
  }
  if (status === 403) {
    return {
      kind: "forbidden",
      title: t("errorForbiddenTitle", "The server refused the request"),
      message: serverMessage(body, t("errorForbidden", "Forbidden (403).")),
    };
  }
  return {
    kind: "server_error",
    title: code
      ? t("errorServerCodeTitle", "Server error ($1)", code)
      : t("errorServerTitle", "Server error"),
    message: serverMessage(body, t("errorHttpStatus", "The server answered with HTTP $1.", status)),
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

/** An answer the extension could not read (a malformed event in the stream). */
export function badAnswer(message) {
  return {
    kind: "server_error",
    title: t("errorServerTitle", "Server error"),
    message: truncate(String(message), MAX_SERVER_MESSAGE),
  };
}

/** The stream ended before its last event, in a check or (`scan`) a page scan. */
export function streamCut(scan = false) {
  return badAnswer(
    scan
      ? t("errorStreamCutScan", "The server closed the stream before the scan was complete.")
      : t("errorStreamCutCheck", "The server closed the stream before the answer was complete."),
  );
}

/** The native host is there but could not start the server: its reason. */
export function hostFailed(message) {
  return {
    kind: "server_error",
    title: t("errorHostTitle", "The srllm server did not start"),
    message: truncate(String(message), MAX_SERVER_MESSAGE),
  };
}

/** A bug in the extension itself (a port handler threw). */
export function extensionError(error) {
  return {
    kind: "server_error",
    title: t("errorExtensionTitle", "Extension error"),
    message: truncate(String(error?.message ?? error), MAX_SERVER_MESSAGE),
  };
}

export function frameProblem() {
  return {
    kind: "frame",
    title: t("errorFrameTitle", "Selection inside an embedded frame"),
    message: t(
      "errorFrame",
      "srllm cannot read text inside this embedded frame. Open the frame's page on its own, or copy the text into a text field on this page, and check it there.",
    ),
  };
}

export function restrictedPage() {
  return {
    kind: "restricted",
    title: t("errorRestrictedTitle", "srllm cannot run on this page"),
    message: t(
      "errorRestricted",
      "The browser does not let extensions read this page (browser pages, extension stores, some PDFs). Copy the text into a text field on another page.",
    ),
  };
}
