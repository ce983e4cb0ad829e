import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MSG, PORT_NAME, ProtocolError, dispatch, makeMessage, parseMessage } from "../lib/protocol.js";

test("envelopes are {type, data}", () => {
  assert.deepEqual(makeMessage(MSG.CHECK_START, { text: "x" }), { type: "check/start", data: { text: "x" } });
  assert.deepEqual(makeMessage(MSG.STATUS_GET), { type: "status/get", data: {} });
  assert.throws(() => makeMessage("check/strat"), ProtocolError);
  assert.throws(() => makeMessage(MSG.CHECK_START, "text"), ProtocolError);
});

test("parseMessage rejects what is not an envelope", () => {
  for (const bad of [null, "x", [], { type: 1 }, { type: "nope" }, { type: MSG.CHECK_DONE, data: [] }]) {
    assert.throws(() => parseMessage(bad), ProtocolError);
  }
  assert.deepEqual(parseMessage({ type: MSG.CHECK_DONE }), { type: MSG.CHECK_DONE, data: {} });
});

test("dispatch calls the handler for the type with data and context", async () => {
  const calls = [];
  const handlers = {
    [MSG.CHECK_DELTA]: (data, ctx) => {
      calls.push([data.delta, ctx]);
      return "ok";
    },
  };
  assert.equal(await dispatch(handlers, makeMessage(MSG.CHECK_DELTA, { delta: "a" }), "port"), "ok");
  assert.deepEqual(calls, [["a", "port"]]);
  await assert.rejects(dispatch(handlers, makeMessage(MSG.CHECK_DONE)), /no handler for check\/done/);
  await assert.rejects(dispatch({ toString: () => "x" }, { type: "toString" }), ProtocolError);
});

test("content.js and background.js speak only the protocol's message types", () => {
  const known = new Set(Object.values(MSG));
  const content = readFileSync(new URL("../content.js", import.meta.url), "utf8");
  const used = [...content.matchAll(/"((?:check|card|status|options|scan)\/[a-z-]+)"/g)].map((m) => m[1]);
  assert.ok(used.length >= 6, "content.js uses message types");
  for (const type of used) assert.ok(known.has(type), `content.js uses unknown type ${type}`);
  assert.ok(content.includes(`"${PORT_NAME}"`), "content.js connects with the protocol's port name");
});
