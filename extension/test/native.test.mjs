import { test } from "node:test";
import assert from "node:assert/strict";
import { HOST_NAME, askHost, hostProblem, pairingFrom } from "../lib/native.js";

/** A fake chrome.runtime.Port: `script(request, port)` answers like the host would. */
function fakeConnect(script, calls = []) {
  return (name) => {
    const listeners = { message: [], disconnect: [] };
    const port = {
      disconnected: false,
      onMessage: { addListener: (f) => listeners.message.push(f) },
      onDisconnect: { addListener: (f) => listeners.disconnect.push(f) },
      postMessage(message) {
        calls.push({ name, message });
        queueMicrotask(() => script(message, port));
      },
      disconnect() {
        port.disconnected = true;
      },
      reply: (m) => listeners.message.forEach((f) => f(m)),
      close: (error) => listeners.disconnect.forEach((f) => f(error ? { error } : port)),
    };
    calls.ports = [...(calls.ports ?? []), port];
    return port;
  };
}

test("connect: progress, then the ready reply; the port is closed afterwards", async () => {
  const calls = [];
  const progress = [];
  const connect = fakeConnect((message, port) => {
    port.reply({ type: "starting", url: "http://127.0.0.1:8765", log: "/x/server.log" });
    port.reply({ type: "ready", url: "http://127.0.0.1:8765", token: "t".repeat(43), started: true });
  }, calls);
  const reply = await askHost(
    connect,
    { type: "connect", origin: "chrome-extension://abc" },
    {
      onProgress: (r) => progress.push(r.type),
    },
  );
  assert.equal(reply.type, "ready");
  assert.deepEqual(progress, ["starting"]);
  assert.equal(calls[0].name, HOST_NAME);
  assert.deepEqual(calls[0].message, { type: "connect", origin: "chrome-extension://abc" });
  assert.ok(calls.ports[0].disconnected);
  assert.deepEqual(pairingFrom(reply), {
    ok: true,
    serverUrl: "http://127.0.0.1:8765",
    token: "t".repeat(43),
    started: true,
  });
});

test("no host installed: Chrome's lastError and Firefox's port.error both mean missing", async () => {
  const chrome = await askHost(
    fakeConnect((_m, port) => port.close()),
    { type: "status" },
    { lastError: () => ({ message: "Specified native messaging host not found." }) },
  );
  assert.deepEqual([chrome.type, chrome.state], ["unavailable", "missing"]);
  assert.match(chrome.message, /srllm extension install/);
  const firefox = await askHost(
    fakeConnect((_m, port) => port.close({ message: "No such native application srllm.native_host" })),
    { type: "status" },
  );
  assert.equal(firefox.state, "missing");
  assert.equal(pairingFrom(firefox).ok, false);
  assert.equal(pairingFrom(firefox).state, "missing");
});

test("a host that exits or is not allowed is not 'missing': the user is told why", () => {
  assert.equal(hostProblem("Access to the specified native messaging host is forbidden.").state, "forbidden");
  assert.equal(hostProblem("Native host has exited.").state, "failed");
  assert.match(hostProblem("Native host has exited.").message, /exited/);
  assert.equal(hostProblem(undefined).state, "failed");
});

test("connectNative throwing (no permission, no API) resolves, never rejects", async () => {
  const reply = await askHost(
    () => {
      throw new Error("connectNative is not a function");
    },
    { type: "status" },
  );
  assert.equal(reply.type, "unavailable");
});

test("a host that never answers times out", async () => {
  const reply = await askHost(
    fakeConnect(() => {}),
    { type: "status" },
    { timeoutMs: 20 },
  );
  assert.equal(reply.state, "failed");
  assert.match(reply.message, /in time/);
});

test("pairingFrom: the host's error, a missing token or a non-loopback URL are failures", () => {
  const error = pairingFrom({ type: "error", code: "model_load_failed", message: "no model" });
  assert.deepEqual(error, {
    ok: false,
    state: "failed",
    message: "The srllm server did not start: no model",
  });
  assert.equal(pairingFrom({ type: "ready", url: "http://127.0.0.1:8765", token: "" }).ok, false);
  assert.equal(pairingFrom({ type: "ready", url: "http://127.0.0.1:8765", token: "a b" }).ok, false);
  const remote = pairingFrom({ type: "ready", url: "http://example.com:8765", token: "x".repeat(20) });
  assert.equal(remote.ok, false);
  assert.match(remote.message, /this machine/);
  const slash = pairingFrom({ type: "ready", url: "http://127.0.0.1:9000/", token: "x".repeat(20) });
  assert.equal(slash.serverUrl, "http://127.0.0.1:9000");
});
