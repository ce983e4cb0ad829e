// First-run page (opened when the extension is installed): says what to run once, shows live
// status (helper found, server up, paired, model, fine-tuned) and moves on to "Ready" when a
// check would work. All server and helper calls go through the background (STATUS_GET).

import { MSG, makeMessage } from "../lib/protocol.js";
import { localize, t } from "../lib/i18n.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

let pairTried = false; // the helper starts the server once per visit; "Try again" allows another
let timer = 0;

function show(id, text, state) {
  $(id).textContent = text;
  if (state) $(id).dataset.state = state;
  else delete $(id).dataset.state;
}

function render(status, step) {
  const host = status.host ?? {};
  if (host.state === "found" || host.state === "paired")
    show("host", t("welcomeHostInstalled", "installed"), "ok");
  else if (host.state === "missing")
    show("host", t("welcomeHostMissing", "not installed: run the command above"), "bad");
  else if (host.message) show("host", host.message, "bad");

  if (step === "starting")
    show("server", t("welcomeServerStarting", "starting (loading the model)\u2026"), "checking");
  else if (status.reachable) show("server", t("popupRunning", "running at $1", status.serverUrl), "ok");
  else show("server", t("popupNotRunning", "not running at $1", status.serverUrl), "bad");

  if (status.paired) show("paired", t("popupYes", "yes"), "ok");
  else if (status.reachable) show("paired", t("welcomeNo", "no"), "bad");
  else show("paired", "\u2013");
  show("model", status.model ?? "\u2013");
  if (status.finetuned === true) show("finetuned", t("popupYes", "yes"), "ok");
  else if (status.finetuned === false)
    show("finetuned", t("welcomeUntuned", "no: the untuned fallback model"));
  else show("finetuned", "\u2013");

  const problem = host.state !== "missing" && host.message ? host.message : status.error;
  $("problem").textContent = problem ?? "";
  $("problem").hidden = !problem;
  $("retry").hidden = !(pairTried && !status.paired && host.state !== "missing");
  $("ready").hidden = !status.paired;
  $("main").dataset.step = status.paired ? "ready" : step;
}

async function status(data) {
  return chrome.runtime.sendMessage(makeMessage(MSG.STATUS_GET, data));
}

async function poll() {
  clearTimeout(timer);
  let current = await status({ probeHost: true });
  if (!current.paired && current.host?.state === "found" && !pairTried) {
    pairTried = true;
    render(current, current.host.running ? "setup" : "starting");
    current = await status({ pair: true });
  }
  render(current, "setup");
  if (!current.paired) timer = setTimeout(poll, POLL_MS);
}

$("retry").addEventListener("click", () => {
  pairTried = false;
  poll();
});
$("options").addEventListener("click", (event) => {
  event.preventDefault();
  chrome.runtime.openOptionsPage();
});
localize(document);
poll();
