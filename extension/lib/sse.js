// A streaming parser for text/event-stream (the WHATWG "server-sent events" format): feed it
// decoded chunks as they arrive, in any split, and it calls onEvent({event, data}) once per
// complete event. Used on the server's streamed /v1/debias and /v1/rewrite responses.

export function createSseParser(onEvent) {
  let buffer = "";
  let eventName = "";
  let dataLines = [];
  let hasData = false;

  function dispatchEvent() {
    if (hasData) onEvent({ event: eventName || "message", data: dataLines.join("\n") });
    eventName = "";
    dataLines = [];
    hasData = false;
  }

  function processLine(line) {
    if (line === "") {
      dispatchEvent();
      return;
    }
    if (line.startsWith(":")) return; // comment / keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") eventName = value;
    else if (field === "data") {
      dataLines.push(value);
      hasData = true;
    }
    // `id` and `retry` matter only for EventSource reconnection, which we never do.
  }

  function drain(final) {
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      if (!match) break;
      // A lone "\r" at the very end may be the first half of "\r\n" split across chunks.
      if (!final && match[0] === "\r" && match.index === buffer.length - 1) break;
      processLine(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  }

  return {
    feed(chunk) {
      buffer += chunk;
      drain(false);
    },
    /** End of stream: a final event without its blank line is discarded, as the spec says. */
    end() {
      drain(true);
      buffer = "";
      eventName = "";
      dataLines = [];
      hasData = false;
    },
  };
}

/** Parse an event's data as JSON; SyntaxError names the event so the card can say what broke. */
export function eventJson(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    throw new SyntaxError(`the server sent a malformed "${event.event}" event`);
  }
}
