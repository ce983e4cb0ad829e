import { test } from "node:test";
import assert from "node:assert/strict";
import { createSseParser, eventJson } from "../lib/sse.js";

function parseAll(chunks) {
  const events = [];
  const parser = createSseParser((e) => events.push(e));
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return events;
}

const STREAM =
  'event: flag\ndata: {"label":"highly_biased"}\n\n' +
  ": keep-alive\n\n" +
  'event: delta\ndata: {"delta":"Some "}\n\n' +
  'event: delta\ndata: {"delta":"people"}\n\n' +
  'event: done\ndata: {"rewrite":"Some people","changed":true}\n\n';

test("events with names and JSON data", () => {
  const events = parseAll([STREAM]);
  assert.deepEqual(
    events.map((e) => e.event),
    ["flag", "delta", "delta", "done"],
  );
  assert.deepEqual(eventJson(events[3]), { rewrite: "Some people", changed: true });
});

test("any chunking gives the same events, including CRLF split between chunks", () => {
  const crlf = STREAM.replaceAll("\n", "\r\n");
  const whole = parseAll([crlf]);
  for (let size = 1; size < 12; size++) {
    const chunks = [];
    for (let i = 0; i < crlf.length; i += size) chunks.push(crlf.slice(i, i + size));
    assert.deepEqual(parseAll(chunks), whole, `chunk size ${size}`);
  }
  assert.deepEqual(parseAll([STREAM.replaceAll("\n", "\r")]), whole, "bare CR line ends");
});

test("multi-line data, default event name, no space after colon", () => {
  const events = parseAll(["data:a\ndata: b\n\n", "data\n\n"]);
  assert.deepEqual(events, [
    { event: "message", data: "a\nb" },
    { event: "message", data: "" },
  ]);
});

test("an event without its closing blank line is discarded at the end", () => {
  assert.deepEqual(parseAll(['event: done\ndata: {"x":1}\n']), []);
});

test("event names do not leak into the next event", () => {
  const events = parseAll(["event: flag\ndata: 1\n\ndata: 2\n\n"]);
  assert.deepEqual(
    events.map((e) => e.event),
    ["flag", "message"],
  );
});

test("astral characters survive chunk boundaries once decoded", () => {
  const bytes = new TextEncoder().encode('event: delta\ndata: {"delta":"\u{1f600}"}\n\n');
  const decoder = new TextDecoder();
  const events = [];
  const parser = createSseParser((e) => events.push(e));
  for (const byte of bytes) parser.feed(decoder.decode(new Uint8Array([byte]), { stream: true }));
  parser.end();
  assert.equal(eventJson(events[0]).delta, "\u{1f600}");
});

test("malformed JSON names the event", () => {
  assert.throws(() => eventJson({ event: "flag", data: "{nope" }), /malformed "flag" event/);
});
