// The native messaging host (srllm/native_host.py), which `srllm extension install` registers:
// asked to connect, it starts the server when none runs and hands over its URL and token, so
// the extension pairs itself. Without it (not installed, another browser profile) everything
// falls back to the manual setup: `srllm serve`, and the token pasted in Options.
//
// Pure logic: the background passes chrome.runtime.connectNative in, the tests a fake.

import { normalizeServerUrl } from "./settings.js";
import { t } from "./i18n.js";

export const HOST_NAME = "srllm.native_host";
// The first start may build the fine-tuned model and then loads it: minutes on a slow machine.
export const HOST_TIMEOUT_MS = 600_000;

/** Why a connection to the host ended without a reply, from the browser's error text. */
export function hostProblem(message) {
  const text = typeof message === "string" ? message : "";
  // Chrome: "Specified native messaging host not found."; Firefox: "No such native application".
  if (/not found|no such native application/i.test(text)) {
    return {
      state: "missing",
      message: t("hostMissing", "The srllm helper is not installed: run `srllm extension install` once."),
    };
  }
  // Chrome: "Access to the specified native messaging host is forbidden." (another extension ID)
  if (/forbidden/i.test(text)) {
    return {
      state: "forbidden",
      message: t(
        "hostForbidden",
        "The srllm helper does not allow this copy of the extension: run `srllm extension install --extension-id <this extension's ID>`.",
      ),
    };
  }
  return {
    state: "failed",
    message: text
      ? t("hostStoppedWhy", "The srllm helper stopped: $1", text)
      : t("hostStopped", "The srllm helper stopped."),
  };
}

/**
 * Send one request to the host and wait for its answer: resolves (never rejects) to the host's
 * final reply ({type: "status" | "ready" | "error", ...}) or to {type: "unavailable", state,
 * message} when the host could not be reached. "starting" replies go to onProgress.
 */
export function askHost(connectNative, request, { onProgress, timeoutMs = HOST_TIMEOUT_MS, lastError } = {}) {
  return new Promise((resolve) => {
    let port = null;
    let settled = false;
    let timer = 0;
    const finish = (reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        port?.disconnect();
      } catch {
        /* already closed */
      }
      resolve(reply);
    };
    timer = setTimeout(
      () =>
        finish({
          type: "unavailable",
          state: "failed",
          message: t("hostTimeout", "The srllm helper did not answer in time."),
        }),
      timeoutMs,
    );
    try {
      port = connectNative(HOST_NAME);
    } catch (error) {
      finish({ type: "unavailable", ...hostProblem(String(error?.message ?? error)) });
      return;
    }
    port.onMessage.addListener((reply) => {
      if (reply?.type === "starting") onProgress?.(reply);
      else finish(reply && typeof reply === "object" ? reply : { type: "error", message: "bad reply" });
    });
    port.onDisconnect.addListener((closed) => {
      // Chrome reports why in runtime.lastError, Firefox in port.error.
      const why = closed?.error?.message ?? lastError?.()?.message;
      finish({ type: "unavailable", ...hostProblem(why) });
    });
    try {
      port.postMessage(request);
    } catch (error) {
      finish({ type: "unavailable", ...hostProblem(String(error?.message ?? error)) });
    }
  });
}

/**
 * A "ready" reply as {ok, serverUrl, token, started}, or {ok: false, state, message} for
 * anything else (the host's own error, or no host).
 */
export function pairingFrom(reply) {
  if (reply?.type === "unavailable") return { ok: false, state: reply.state, message: reply.message };
  if (reply?.type !== "ready") {
    const message =
      typeof reply?.message === "string" && reply.message ? reply.message : t("hostNoAnswer", "no answer");
    return {
      ok: false,
      state: "failed",
      message: t("hostServerNotStarted", "The srllm server did not start: $1", message),
    };
  }
  const token = typeof reply.token === "string" ? reply.token.trim() : "";
  if (!token || /\s/.test(token))
    return { ok: false, state: "failed", message: t("hostNoToken", "The srllm helper sent no token.") };
  try {
    return { ok: true, serverUrl: normalizeServerUrl(reply.url), token, started: Boolean(reply.started) };
  } catch (error) {
    return {
      ok: false,
      state: "failed",
      message: t("hostBadUrl", "The srllm helper sent a bad URL: $1", error.message),
    };
  }
}
