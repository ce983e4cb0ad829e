// A recording stand-in for `document`, just large enough for card.js. It has no HTML parser
// at all: any attempt to use innerHTML-like APIs throws, so rendering must build nodes and
// set text. Every created element is recorded for the tests to inspect.

const HTML_SINKS = ["innerHTML", "outerHTML"];

class FakeNode {
  constructor(doc, tagName, text = null) {
    this.ownerDocument = doc;
    this.tagName = tagName;
    this.childNodes = [];
    this.parent = null;
    this.attributes = new Map();
    this.listeners = new Map();
    this.text = text; // text nodes only
    this.style = { setProperty() {} };
    this.focused = false;
    for (const sink of HTML_SINKS) {
      Object.defineProperty(this, sink, {
        get: () => {
          throw new Error(`${sink} read`);
        },
        set: () => {
          throw new Error(`${sink} written`);
        },
      });
    }
  }
  insertAdjacentHTML() {
    throw new Error("insertAdjacentHTML called");
  }
  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }
  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }
  removeAttribute(name) {
    this.attributes.delete(name);
  }
  get hidden() {
    return this.attributes.has("hidden");
  }
  set hidden(value) {
    if (value) this.attributes.set("hidden", "");
    else this.attributes.delete("hidden");
  }
  append(...nodes) {
    for (const node of nodes) {
      const child = typeof node === "string" ? new FakeNode(this.ownerDocument, "#text", node) : node;
      child.parent?.childNodes.splice(child.parent.childNodes.indexOf(child), 1);
      child.parent = this;
      this.childNodes.push(child);
    }
  }
  replaceChildren(...nodes) {
    for (const child of this.childNodes) child.parent = null;
    this.childNodes = [];
    this.append(...nodes);
  }
  remove() {
    this.parent?.childNodes.splice(this.parent.childNodes.indexOf(this), 1);
    this.parent = null;
  }
  get textContent() {
    return this.text ?? this.childNodes.map((c) => c.textContent).join("");
  }
  set textContent(value) {
    if (this.tagName === "#text") this.text = String(value);
    else this.replaceChildren(new FakeNode(this.ownerDocument, "#text", String(value)));
  }
  attachShadow({ mode } = {}) {
    // Like the DOM: a closed root is not reachable through host.shadowRoot (tests reach it
    // through the returned object, or find()).
    this.shadow = new FakeNode(this.ownerDocument, "#shadow-root");
    this.shadowMode = mode;
    if (mode === "open") this.shadowRoot = this.shadow;
    return this.shadow;
  }
  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(listener);
  }
  /** Fire an event at the node's own listeners; trusted (the user's) unless said otherwise. */
  dispatch(type, event = {}) {
    const full = { type, isTrusted: true, stopPropagation() {}, preventDefault() {}, ...event };
    for (const listener of this.listeners.get(type) ?? []) listener(full);
  }
  focus() {
    this.focused = true;
  }
  /** Depth-first search by predicate. */
  find(predicate) {
    for (const child of this.childNodes) {
      if (predicate(child)) return child;
      const found = child.find(predicate);
      if (found) return found;
    }
    return child_of_shadow(this, predicate);
  }
  findAll(predicate, out = []) {
    for (const child of [...this.childNodes, ...(this.shadow ? [this.shadow] : [])]) {
      if (predicate(child)) out.push(child);
      child.findAll(predicate, out);
    }
    return out;
  }
}

function child_of_shadow(node, predicate) {
  return node.shadow ? (predicate(node.shadow) ? node.shadow : node.shadow.find(predicate)) : null;
}

export function createFakeDocument() {
  const created = [];
  const doc = {
    created,
    createElement(tag) {
      const node = new FakeNode(doc, tag.toLowerCase());
      created.push(node);
      return node;
    },
    createTextNode(text) {
      return new FakeNode(doc, "#text", String(text));
    },
  };
  return doc;
}
