import { test } from "node:test";
import assert from "node:assert/strict";
import { focusedFrameId, pickFrame, probeFocus } from "../lib/frames.js";
import { restrictStorageAccess } from "../lib/storage.js";

const frame = (frameId, focused, inChildFrame, selected) => ({
  frameId,
  result: { focused, inChildFrame, selected },
});

test("the shortcut: the focused frame whose focus is its own", () => {
  // Focus in frame 3: the top and frame 2 have it too (on their child frame element).
  assert.equal(
    pickFrame([frame(0, true, true, false), frame(2, true, true, false), frame(3, true, false, true)]),
    3,
  );
  assert.equal(pickFrame([frame(0, true, false, true), frame(4, false, false, true)]), 0);
  // A focused frame with nothing selected is still the one asked (it says "Nothing selected").
  assert.equal(
    pickFrame([frame(0, true, true, false), frame(5, true, false, false), frame(6, false, false, true)]),
    5,
  );
});

test("the popup: nothing has the focus; the top's own focus, else the one frame with a selection", () => {
  assert.equal(pickFrame([frame(0, false, false, true), frame(2, false, false, true)]), 0);
  assert.equal(
    pickFrame([frame(0, false, true, false), frame(2, false, false, true), frame(3, false, false, false)]),
    2,
  );
  assert.equal(
    pickFrame([frame(0, false, true, false), frame(2, false, false, true), frame(3, false, false, true)]),
    0,
  );
});

test("no answers, odd answers: the top frame", () => {
  assert.equal(pickFrame(undefined), 0);
  assert.equal(pickFrame([]), 0);
  assert.equal(pickFrame([{ frameId: 2 }, { frameId: "x", result: {} }, null]), 0);
});

test("focusedFrameId asks every frame and falls back to the top frame", async () => {
  const calls = [];
  const scripting = {
    async executeScript(details) {
      calls.push(details);
      return [frame(0, true, true, false), frame(7, true, false, true)];
    },
  };
  assert.equal(await focusedFrameId(scripting, 12), 7);
  assert.deepEqual(calls[0].target, { tabId: 12, allFrames: true });
  assert.equal(calls[0].func, probeFocus);
  const failing = {
    async executeScript() {
      throw new Error("Cannot access contents of the page");
    },
  };
  assert.equal(await focusedFrameId(failing, 12), 0);
});

test("probeFocus is self-contained (it is serialized into each frame)", () => {
  const source = probeFocus.toString();
  assert.ok(!/\bimport\b|\bexport\b/.test(source));
});

test("storage.local is restricted to trusted contexts where the browser can", async () => {
  const calls = [];
  const chromium = { local: { setAccessLevel: async (options) => calls.push(options) } };
  assert.equal(await restrictStorageAccess(chromium), true);
  assert.deepEqual(calls, [{ accessLevel: "TRUSTED_CONTEXTS" }]);
  const firefox = {
    local: {
      setAccessLevel: async () => {
        throw new Error("only for storage.session");
      },
    },
  };
  assert.equal(await restrictStorageAccess(firefox), false);
  assert.equal(await restrictStorageAccess({ local: {} }), false);
  assert.equal(await restrictStorageAccess(undefined), false);
});
