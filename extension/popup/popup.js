// Toolbar popup: server reachable? paired? which model? and a button to check the selection.
// All server calls go through the background (STATUS_GET).

import { MSG, makeMessage } from "../lib/protocol.js";
import { localize, t } from "../lib/i18n.js";

const $ = (id) => document.getElementById(id);

function show(id, text, state) {
  $(id).textContent = text;
  if (state) $(id).dataset.state = state;
}

async function refresh() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  const status = await chrome.runtime.sendMessage(makeMessage(MSG.STATUS_GET, { tabId: tab?.id }));
  if (status.problem) {
    $("problem").textContent = `${status.problem.title}: ${status.problem.message}`;
    $("problem").hidden = false;
  }
  if (status.error) {
    $("problem").textContent = status.problem ? `${$("problem").textContent} ${status.error}` : status.error;
    $("problem").hidden = false;
  }
  if (!status.reachable) {
    show("server", t("popupNotRunning", "not running at $1", status.serverUrl), "bad");
    $("start").hidden = false;
    return;
  }
  show("server", t("popupRunning", "running at $1", status.serverUrl), "ok");
  show("model", status.model ?? t("popupUnknown", "unknown"));
  if (status.paired) show("paired", t("popupYes", "yes"), "ok");
  else {
    show(
      "paired",
      status.hasToken
        ? t("popupTokenRejected", "no: the server rejects the saved token")
        : t("popupNoToken", "no token saved"),
      "bad",
    );
    $("pair").hidden = false;
  }
}

$("check").addEventListener("click", async () => {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  await chrome.runtime.sendMessage(makeMessage(MSG.CHECK_ACTIVE_TAB, { tabId: tab?.id }));
  window.close();
});
$("options").addEventListener("click", () => chrome.runtime.openOptionsPage());
localize(document);
refresh();
