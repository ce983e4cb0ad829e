import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FAILURE_KINDS,
  badAnswer,
  extensionError,
  fromHttpError,
  fromStreamError,
  hostFailed,
  serverDown,
  streamCut,
  timedOut,
  tooLong,
} from "../lib/errors.js";

const body = (code, message) => ({ error: { code, message } });

test("401 means not paired and says how to pair", () => {
  const failure = fromHttpError(401, body("unauthorized", "missing or bad token"));
  assert.equal(failure.kind, "not_paired");
  assert.deepEqual(failure.commands, ["srllm token"]);
  assert.match(failure.message, /Options/);
});

test("413 text_too_long carries the character limit as a field, not parsed from the message", () => {
  const error = {
    code: "text_too_long",
    message: "text is 5012 characters; the limit is 4000",
    limit: 4000,
    unit: "characters",
  };
  const failure = fromHttpError(413, { error });
  assert.equal(failure.kind, "too_long");
  assert.equal(failure.limit, 4000);
  assert.match(failure.message, /4000/);
  assert.equal(fromHttpError(413, body("text_too_long", "the limit is 4000")).limit, null);
  const tokens = {
    error: { code: "text_too_long", message: "text is 900 tokens", limit: 862, unit: "tokens" },
  };
  assert.equal(fromHttpError(413, tokens).limit, null); // a token limit is not a selection length
  assert.equal(fromHttpError(413, body("body_too_large", "request body over 65536 bytes")).limit, null);
});

test("other errors keep the server's message, shortened, and its code", () => {
  const failure = fromHttpError(502, body("model_output_invalid", "x".repeat(1000)));
  assert.equal(failure.kind, "server_error");
  assert.match(failure.title, /model_output_invalid/);
  assert.ok(Array.from(failure.message).length <= 300);
  assert.match(fromHttpError(500, null).message, /HTTP 500/);
  assert.equal(fromHttpError(403, body("forbidden", "bad Origin")).kind, "forbidden");
});

test("stream errors map like HTTP errors", () => {
  assert.equal(fromStreamError(body("text_too_long", "limit is 10")).kind, "too_long");
  assert.equal(fromStreamError(body("model_output_invalid", "bad")).kind, "server_error");
  assert.equal(fromStreamError({}).kind, "server_error");
});

test("local failures: server down names the start commands; timeout and length name numbers", () => {
  const down = serverDown("http://127.0.0.1:8765");
  assert.deepEqual(down.commands, ["srllm serve", "just serve"]);
  assert.match(down.message, /127\.0\.0\.1:8765/);
  assert.match(timedOut(60).message, /60 seconds/);
  const long = tooLong(5000, 4000);
  assert.equal(long.limit, 4000);
  assert.equal(
    long.message,
    "The selection has 5000 characters; the limit (set in Options) is 4000. Select less text.",
  );
  for (const f of [down, timedOut(1), long]) assert.ok(FAILURE_KINDS.includes(f.kind));
});

test("the extension's own failures: a bad answer, a cut stream, the helper, a bug; messages shortened", () => {
  assert.deepEqual(badAnswer("Unexpected token < in JSON"), {
    kind: "server_error",
    title: "Server error",
    message: "Unexpected token < in JSON",
  });
  assert.equal(streamCut().message, "The server closed the stream before the answer was complete.");
  assert.equal(streamCut(true).message, "The server closed the stream before the scan was complete.");
  const host = hostFailed(`no model: ${"x".repeat(1000)}`);
  assert.equal(host.title, "The srllm server did not start");
  assert.ok(host.message.startsWith("no model: ") && Array.from(host.message).length <= 300);
  assert.equal(extensionError(new TypeError("boom")).message, "boom");
  assert.equal(extensionError("plain").title, "Extension error");
  for (const f of [badAnswer("x"), streamCut(), host, extensionError("x")])
    assert.ok(FAILURE_KINDS.includes(f.kind));
});

test("another language: the reason when the server gives one, a plain notice without", () => {
  const error = { code: "unsupported_language", message: "m" };
  assert.equal(
    fromHttpError(422, { error }).message,
    "srllm's model reads English only, and this text looks like another language. It was not checked.",
  );
  assert.match(
    fromHttpError(422, { error: { ...error, reason: "Cyrillic script" } }).message,
    /language \(Cyrillic script\)\. It/,
  );
});
