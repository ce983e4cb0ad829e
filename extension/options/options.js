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
import { DISAGREE_KEY, exportAllowList, importAllowList, toJsonl } from "../lib/findings.js";
import { localize, t } from "../lib/i18n.js";

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
  form.strictness.value = settings.strictness;
  form.allowTerms.value = settings.allowTerms.join("\n");
  form.siteMode.value = settings.siteMode;
  form.offSites.value = settings.offSites.join("\n");
  form.onSites.value = settings.onSites.join("\n");
  form.checkAsYouType.checked = settings.checkAsYouType;
  for (const box of categoriesBox.querySelectorAll("input"))
    box.checked = settings.categories.includes(box.value);
}

function read() {
  return {
    serverUrl: form.serverUrl.value,
    token: form.token.value,
    maxSelectionChars: form.maxSelectionChars.value,
    timeoutSeconds: form.timeoutSeconds.value,
    strictness: form.strictness.value,
    allowTerms: form.allowTerms.value,
    siteMode: form.siteMode.value,
    offSites: form.offSites.value,
    onSites: form.onSites.value,
    checkAsYouType: form.checkAsYouType.checked,
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
    say(t("optionsSaved", "Saved."));
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    say(error.message, "bad");
    form[error.field]?.focus?.();
  }
}

function describe(status) {
  const model = status.model ?? t("optionsUnknownModel", "unknown model");
  if (status.paired) return [t("optionsPaired", "Connected and paired: $1.", model), "ok"];
  if (status.invalid) return [status.error, "bad"];
  if (!status.reachable)
    return [
      t(
        "optionsNoServer",
        "No server at $1. Start it with `srllm serve`, or install the helper once (`srllm extension install`) and press Pair automatically.",
        status.serverUrl,
      ),
      "bad",
    ];
  if (!status.hasToken)
    return [
      t(
        "optionsTokenEmpty",
        "Server running ($1), but the token is empty: run `srllm token` and paste its output.",
        model,
      ),
      "bad",
    ];
  return [
    t(
      "optionsTokenRejected",
      "Server running ($1), but it rejects this token: run `srllm token` and paste its output.",
      model,
    ),
    "bad",
  ];
}

async function testConnection() {
  // The values in the form, saved or not (the URL must be valid to be tried).
  say(t("optionsChecking", "Checking\u2026"));
  const status = await chrome.runtime.sendMessage(
    makeMessage(MSG.STATUS_GET, { settings: { serverUrl: form.serverUrl.value, token: form.token.value } }),
  );
  say(...describe(status));
}

async function pairAutomatically() {
  say(t("optionsAskingHelper", "Asking the helper (it starts the server if needed)\u2026"));
  const status = await chrome.runtime.sendMessage(makeMessage(MSG.STATUS_GET, { pair: true }));
  await load(); // the helper's URL and token are saved now
  if (status.host && !["paired", "found"].includes(status.host.state)) say(status.host.message, "bad");
  else say(...describe(status));
}

// ---- allow-list and disagreements: files in and out, nothing sent anywhere ------------------

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function exportAllow() {
  try {
    const { allowTerms, categories } = validateSettings(read());
    const mute = CATEGORIES.filter((c) => !categories.includes(c));
    download("srllm-allow-list.json", "application/json", exportAllowList(allowTerms, mute));
    say(
      t("optionsExportedAllow", "Exported $1 terms and $2 muted categories.", allowTerms.length, mute.length),
    );
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    say(error.message, "bad");
  }
}

async function importAllow(event) {
  const [file] = event.target.files;
  event.target.value = "";
  if (!file) return;
  try {
    const { terms, mute } = importAllowList(await file.text(), CATEGORIES);
    form.allowTerms.value = terms.join("\n");
    for (const box of categoriesBox.querySelectorAll("input")) box.checked = !mute.includes(box.value);
    say(
      t(
        "optionsImportedAllow",
        "Imported $1 terms and $2 muted categories; press Save to keep them.",
        terms.length,
        mute.length,
      ),
    );
  } catch (error) {
    say(`${file.name}: ${error.message}`, "bad");
  }
}

async function disagreements() {
  const rows = (await chrome.storage.local.get(DISAGREE_KEY))[DISAGREE_KEY];
  return Array.isArray(rows) ? rows : [];
}

async function showDisagreements() {
  const count = (await disagreements()).length;
  document.getElementById("disagree-count").textContent =
    count === 0
      ? t("optionsNoNotes", "No notes yet.")
      : count === 1
        ? t("optionsOneNote", "1 note kept on this computer.")
        : t("optionsNotes", "$1 notes kept on this computer.", count);
}

async function exportDisagree() {
  const rows = await disagreements();
  if (rows.length === 0) {
    say(t("optionsNoNotesToExport", "No notes to export yet."), "bad");
    return;
  }
  download("srllm-disagreements.jsonl", "application/x-ndjson", toJsonl(rows));
  say(t("optionsExportedNotes", "Exported $1 notes.", rows.length));
}

async function clearDisagree() {
  await chrome.storage.local.remove(DISAGREE_KEY);
  await showDisagreements();
  say(t("optionsNotesDeleted", "Notes deleted."));
}

document.getElementById("exportAllow").addEventListener("click", exportAllow);
document.getElementById("importAllow").addEventListener("change", importAllow);
document.getElementById("exportDisagree").addEventListener("click", exportDisagree);
document.getElementById("clearDisagree").addEventListener("click", clearDisagree);
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && DISAGREE_KEY in changes) showDisagreements();
});
showDisagreements();

localize(document);
buildCategoryBoxes();
form.addEventListener("submit", save);
document.getElementById("test").addEventListener("click", testConnection);
document.getElementById("pair").addEventListener("click", pairAutomatically);
document.getElementById("reset").addEventListener("click", () => {
  fill({ ...DEFAULTS, token: form.token.value });
  say(t("optionsDefaultsRestored", "Defaults restored; press Save to keep them."));
});
load();
