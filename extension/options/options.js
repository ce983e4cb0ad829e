// Options page: edits the settings in chrome.storage.local (validated by lib/settings.js).
// It never calls the server; "Test connection" asks the background.

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

async function testConnection() {
  say("Checking\u2026");
  const status = await chrome.runtime.sendMessage(makeMessage(MSG.STATUS_GET));
  if (!status.reachable)
    say(`No server at ${status.serverUrl}. Start it with \`srllm serve\` (or \`just serve\`).`, "bad");
  else if (!status.hasToken)
    say(
      `Server running (${status.model ?? "unknown model"}), but no token is saved: run \`srllm token\`.`,
      "bad",
    );
  else if (!status.paired)
    say(
      `Server running (${status.model ?? "unknown model"}), but it rejects the saved token: run \`srllm token\` and save its output.`,
      "bad",
    );
  else say(`Connected and paired: ${status.model ?? "unknown model"}.`);
}

buildCategoryBoxes();
form.addEventListener("submit", save);
document.getElementById("test").addEventListener("click", testConnection);
document.getElementById("reset").addEventListener("click", () => {
  fill({ ...DEFAULTS, token: form.token.value });
  say("Defaults restored; press Save to keep them.");
});
load();
