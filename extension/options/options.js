// Options page: edits the settings in chrome.storage.local (validated by lib/settings.js).
// It never calls the server: "Test connection" asks the background to try the values in the
// form (saved or not); "Pair automatically" asks it to pair through the native host.

import {
  CATEGORIES,
  DEFAULTS,
  STORAGE_KEY,
  migrateSettings,
  validateSettings,
  SettingsError,
} from "../lib/settings.js";
import { MSG, makeMessage } from "../lib/protocol.js";

const form = document.getElementById("form");
const result = document.getElementById("result");
const categoriesBox = document.getElementById("categories");

function say(text, tone = "ok") {
  result.textContent = text;
  result.dataset.tone = tone;
}

function buildCategoryBoxes() {
  for (const category of CATEGORIES) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "categories";
    box.value = category;
    label.append(box, document.createTextNode(category.replaceAll("_", " ")));
    categoriesBox.append(label);
  }
}

function fill(settings) {
  form.serverUrl.value = settings.serverUrl;
  form.token.value = settings.token;
  form.maxSelectionChars.value = String(settings.maxSelectionChars);
  form.timeoutSeconds.value = String(settings.timeoutSeconds);
  for (const box of categoriesBox.querySelectorAll("input"))
    box.checked = settings.categories.includes(box.value);
}

function read() {
  return {
    serverUrl: form.serverUrl.value,
    token: form.token.value,
    maxSelectionChars: form.maxSelectionChars.value,
    timeoutSeconds: form.timeoutSeconds.value,
    categories: [...categoriesBox.querySelectorAll("input:checked")].map((box) => box.value),
  };
}

async function load() {
  const stored = (await chrome.storage.local.get(STORAGE_KEY))[STORAGE_KEY];
  fill(migrateSettings(stored).settings);
}

async function save(event) {
  event.preventDefault();
  try {
    const settings = validateSettings(read());
    await chrome.storage.local.set({ [STORAGE_KEY]: settings });
    fill(settings);
    say("Saved.");
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    say(error.message, "bad");
    form[error.field]?.focus?.();
  }
}

function describe(status) {
  const model = status.model ?? "unknown model";
  if (status.paired) return [`Connected and paired: ${model}.`, "ok"];
  if (status.invalid) return [status.error, "bad"];
  if (!status.reachable)
    return [
      `No server at ${status.serverUrl}. Start it with \`srllm serve\`, or install the helper once (\`srllm extension install\`) and press Pair automatically.`,
      "bad",
    ];
  if (!status.hasToken)
    return [
      `Server running (${model}), but the token is empty: run \`srllm token\` and paste its output.`,
      "bad",
    ];
  return [
    `Server running (${model}), but it rejects this token: run \`srllm token\` and paste its output.`,
    "bad",
  ];
}

async function testConnection() {
  // The values in the form, saved or not (the URL must be valid to be tried).
  say("Checking\u2026");
  const status = await chrome.runtime.sendMessage(
    makeMessage(MSG.STATUS_GET, { settings: { serverUrl: form.serverUrl.value, token: form.token.value } }),
  );
  say(...describe(status));
}

async function pairAutomatically() {
  say("Asking the helper (it starts the server if needed)\u2026");
  const status = await chrome.runtime.sendMessage(makeMessage(MSG.STATUS_GET, { pair: true }));
  await load(); // the helper's URL and token are saved now
  if (status.host && !["paired", "found"].includes(status.host.state)) say(status.host.message, "bad");
  else say(...describe(status));
}

buildCategoryBoxes();
form.addEventListener("submit", save);
document.getElementById("test").addEventListener("click", testConnection);
document.getElementById("pair").addEventListener("click", pairAutomatically);
document.getElementById("reset").addEventListener("click", () => {
  fill({ ...DEFAULTS, token: form.token.value });
  say("Defaults restored; press Save to keep them.");
});
load();
