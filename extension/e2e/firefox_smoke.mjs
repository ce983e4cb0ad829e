// Smoke test of the built extension in real Firefox (Debian's firefox-esr), driven by Puppeteer
// over WebDriver BiDi (puppeteer-core: it never downloads a browser). Run by
// tests/e2e/test_extension_firefox.py against the real server; by hand:
//
//   node extension/e2e/firefox_smoke.mjs --extension extension/dist/firefox \
//     --server-url http://127.0.0.1:8765 --token "$(srllm token)" --page-url http://127.0.0.1:PORT/index.html
//
// What it does: a fresh profile; the extension installed (BiDi webExtension.install) at a fixed
// moz-extension:// UUID (pref extensions.webextensions.uuids); the welcome tab it opens on
// install; from there the options page (runtime.openOptionsPage: localized text, Save, Test
// connection); a page whose textarea holds a biased sentence, selected; the check the context
// menu runs (srllm.checkSelectionInTab, in the background page that runtime.getBackgroundPage()
// gives the options page); the card it draws in the page, until the verdict. Prints one JSON
// report on stdout (progress on stderr); exits 1 when a step fails, naming the step and error.

import { parseArgs } from "node:util";
import { readFile } from "node:fs/promises";
import path from "node:path";
import puppeteer from "puppeteer-core";

const { values: args } = parseArgs({
  options: {
    firefox: { type: "string", default: "/usr/bin/firefox-esr" },
    extension: { type: "string" }, // the built extension folder (extension/dist/firefox)
    "server-url": { type: "string" },
    token: { type: "string" },
    "page-url": { type: "string" }, // tests/e2e/pages/index.html, served on 127.0.0.1
    text: { type: "string", default: "Old people are slow and useless with technology." },
    verdicts: { type: "string", default: '["Neutral", "Slightly biased", "Highly biased"]' },
    "verdict-timeout": { type: "string", default: "400" }, // seconds: the model on a busy CPU
    profile: { type: "string" }, // an empty folder for the fresh profile (default: a temporary one)
    screenshot: { type: "string" }, // where to save the page with its card (PNG)
  },
});
for (const name of ["extension", "server-url", "token", "page-url"]) {
  if (!args[name]) {
    console.error(`firefox_smoke: --${name} is required`);
    process.exit(2);
  }
}

// Any fixed UUID: the extension's pages are then at moz-extension://<UUID>/.
const EXTENSION_UUID = "5e11a1b2-0c4d-4e5f-8a9b-0123456789ab";
const SECOND = 1000;
const verdicts = JSON.parse(args.verdicts);
const report = { ok: false, step: null, error: null, timings: {} };
const started = performance.now();
const seconds = (since) => Math.round((performance.now() - since) / 10) / 100;
const log = (message) => console.error(`firefox_smoke: [${seconds(started)}s] ${message}`);

/** Run one step under a time limit; the report names the step that failed or hung. */
async function step(name, limitMs, body) {
  report.step = name;
  log(name);
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${limitMs / SECOND} s: ${name}`)), limitMs);
  });
  try {
    return await Promise.race([body(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `probe` until `done(value)`; returns the last value (the caller says what it means). */
async function poll(probe, done, limitMs, everyMs = 500) {
  const deadline = performance.now() + limitMs;
  let value = await probe();
  while (!done(value) && performance.now() < deadline) {
    await sleep(everyMs);
    value = await probe();
  }
  return value;
}

/** Where the page is, or null (a page that does not answer in time, or is going away). */
async function locationOf(page) {
  const answer = page.evaluate(() => location.href).catch(() => null);
  return Promise.race([answer, sleep(5 * SECOND).then(() => null)]);
}

/** The tab showing the extension's page `pathname` (its location, not Puppeteer's page.url()). */
async function extensionPage(pathname, limitMs) {
  const deadline = performance.now() + limitMs;
  for (;;) {
    for (const page of await firefox.pages()) {
      const href = await locationOf(page);
      if (href?.startsWith("moz-extension://") && new URL(href).pathname === pathname) return page;
    }
    if (performance.now() > deadline) throw new Error(`no tab shows the extension's ${pathname}`);
    await sleep(250);
  }
}

const manifest = JSON.parse(await readFile(path.join(args.extension, "manifest.json"), "utf8"));
const geckoId = manifest.browser_specific_settings.gecko.id;
let firefox = null; // Puppeteer's Browser (`browser` in page code is the WebExtension API)

try {
  const launchedAt = performance.now();
  firefox = await step("launch firefox", 120 * SECOND, () =>
    puppeteer.launch({
      browser: "firefox",
      executablePath: args.firefox,
      headless: true,
      ...(args.profile ? { userDataDir: args.profile } : {}),
      extraPrefsFirefox: {
        "extensions.webextensions.uuids": JSON.stringify({ [geckoId]: EXTENSION_UUID }),
        // Firefox suspends an idle event page after 30 s, a fetch in flight or not; at 1 s every
        // check outlives it, so the check passes only while background.js keeps itself awake.
        "extensions.background.idle.timeout": 1000,
      },
      timeout: 120 * SECOND,
      protocolTimeout: 120 * SECOND,
    }),
  );
  report.timings.launch_s = seconds(launchedAt);
  report.firefox = await firefox.version();

  const installedAt = performance.now();
  report.installed_id = await step("install the extension", 60 * SECOND, () =>
    firefox.installExtension(path.resolve(args.extension)),
  );
  report.timings.install_s = seconds(installedAt);

  // Firefox 153 refuses WebDriver navigation to moz-extension:// pages ("not allowed in this
  // context"), and Puppeteer's page.url() does not follow them: the extension's own pages are
  // reached from the welcome tab it opens on install (background onInstalled), found by asking
  // each tab where it is.
  const welcome = await step("wait for the welcome page", 60 * SECOND, () =>
    extensionPage("/welcome/welcome.html", 60 * SECOND),
  );
  report.timings.welcome_s = seconds(installedAt);
  report.welcome_url = await welcome.evaluate(() => location.href);
  const origin = await welcome.evaluate(() => location.origin);
  if (origin !== `moz-extension://${EXTENSION_UUID}`)
    throw new Error(`the extension's origin is ${origin}, not the fixed UUID's (the pref did not apply)`);
  report.extension_origin = origin;

  // ---- the options page (what the card's Options button opens): localized, saves, tests ----
  const options = await step("open the options page", 30 * SECOND, async () => {
    await welcome.evaluate(() => browser.runtime.openOptionsPage());
    return extensionPage("/options/options.html", 30 * SECOND);
  });
  await welcome.close();
  await step("wait for the options form", 30 * SECOND, () =>
    options.waitForFunction(() => document.getElementById("serverUrl")?.value, { timeout: 30 * SECOND }),
  );
  report.options = await options.evaluate(() => {
    const text = (selector) => document.querySelector(selector)?.textContent.replace(/\s+/g, " ").trim();
    return {
      title: document.title,
      heading: text("h1"),
      serverUrlLabel: text("label[for=serverUrl]"),
      saveButton: text("button[type=submit]"),
      // A message with placeholders: its <code> children are put back where $1..$3 are.
      serverUrlHelp: text("#serverUrl-help"),
      serverUrlHelpCodes: [...document.querySelectorAll("#serverUrl-help code")].map((c) => c.textContent),
      i18nHeading: browser.i18n.getMessage("optionsHeading"),
      i18nExtName: browser.i18n.getMessage("extName"),
      uiLanguage: browser.i18n.getUILanguage(),
      manifestName: browser.runtime.getManifest().name,
    };
  });

  await step("save the settings in the options page", 30 * SECOND, async () => {
    await options.evaluate(
      ({ serverUrl, token }) => {
        const form = document.getElementById("form");
        form.serverUrl.value = serverUrl;
        form.token.value = token;
        form.timeoutSeconds.value = "600"; // the model on a busy CPU
      },
      { serverUrl: args["server-url"], token: args.token },
    );
    await options.click("button[type=submit]");
    await options.waitForFunction(() => document.getElementById("result").textContent !== "");
  });
  report.options.saveResult = await options.$eval("#result", (el) => el.textContent);
  report.options.saved = await options.evaluate(async () => {
    const { settings } = await browser.storage.local.get("settings");
    return { serverUrl: settings?.serverUrl, hasToken: Boolean(settings?.token) };
  });
  // "Test connection": the options page asks the background, which calls the server.
  report.options.testResult = await step(
    "test the connection from the options page",
    60 * SECOND,
    async () => {
      await options.evaluate(() => {
        const result = document.getElementById("result");
        result.textContent = "";
        delete result.dataset.tone;
      });
      await options.click("#test");
      const handle = await options.waitForFunction(
        () => {
          const result = document.getElementById("result");
          return result.dataset.tone && !result.textContent.endsWith("\u2026") && result.textContent;
        },
        { timeout: 60 * SECOND },
      );
      return handle.jsonValue();
    },
  );

  // ---- a page with a biased sentence in a textarea, selected ----
  const page = await firefox.newPage();
  await step("open the test page", 30 * SECOND, () => page.goto(args["page-url"], { waitUntil: "load" }));
  await page.bringToFront();
  report.selected = await page.evaluate((text) => {
    const field = document.getElementById("draft");
    const start = field.value.indexOf(text);
    if (start < 0) throw new Error("the text is not in the test page's textarea");
    field.focus();
    field.setSelectionRange(start, start + text.length);
    return field.value.slice(field.selectionStart, field.selectionEnd);
  }, args.text);

  // ---- the check the context menu runs, in the background page ----
  const checkAt = performance.now();
  const check = await step("start the check in the background page", 60 * SECOND, () =>
    options.evaluate(async (pageUrl) => {
      const tabs = await browser.tabs.query({});
      const tab = tabs.find((t) => (t.url || "").startsWith(pageUrl));
      if (!tab) throw new Error(`no tab shows ${pageUrl}: ${JSON.stringify(tabs.map((t) => t.url))}`);
      const background = await browser.runtime.getBackgroundPage();
      if (!background) throw new Error("runtime.getBackgroundPage() gave no page");
      if (!background.srllm) throw new Error("the background page has no srllm global");
      const result = await background.srllm.checkSelectionInTab(tab.id, 0);
      return { tabId: tab.id, result: JSON.parse(JSON.stringify(result)) };
    }, args["page-url"]),
  );
  report.check_result = check.result;

  // The card's host element is in the page's own DOM (its shadow root is closed).
  await step("wait for the card in the page", 30 * SECOND, () =>
    page.waitForSelector("[data-srllm=card]", { timeout: 30 * SECOND }),
  );
  report.card_host = await page.$eval("[data-srllm=card]", (el) => el.tagName.toLowerCase());
  report.added_elements = await page.evaluate(() => window.addedElements);

  // The card's content, read in the extension's content-script world (where content.js keeps
  // srllmTestHook) through scripting.executeScript from the options page.
  const readCard = () =>
    options.evaluate(async (tabId) => {
      const [frame] = await browser.scripting.executeScript({
        target: { tabId, frameIds: [0] },
        func: () => {
          const root = globalThis.srllmTestHook?.cardRoot();
          if (!root) return null;
          const message = root.querySelector("[data-part=message]");
          return {
            badge: root.querySelector(".badge")?.textContent ?? null,
            status: root.querySelector("[role=status]")?.textContent ?? null,
            excerpt: root.querySelector("[data-part=excerpt]")?.textContent ?? null,
            failure:
              message && !message.hidden ? { kind: message.dataset.kind, text: message.textContent } : null,
          };
        },
      });
      return frame?.result ?? null;
    }, check.tabId);
  const limitS = Number(args["verdict-timeout"]);
  const card = await step("wait for the verdict", (limitS + 30) * SECOND, () =>
    poll(readCard, (c) => Boolean(c && (verdicts.includes(c.badge) || c.failure)), limitS * SECOND),
  );
  report.card = card;
  if (!card) throw new Error("the content script's card is not there (srllmTestHook.cardRoot() is null)");
  if (card.failure) throw new Error(`the card shows a failure (${card.failure.kind}): ${card.failure.text}`);
  if (!verdicts.includes(card.badge))
    throw new Error(`no verdict after ${limitS} s; the card's badge: ${card.badge}, status: ${card.status}`);
  report.verdict = card.badge;
  report.timings.first_verdict_s = seconds(checkAt);

  if (args.screenshot) {
    await page.screenshot({ path: args.screenshot });
    report.screenshot = args.screenshot;
  }
  report.ok = true;
  report.step = null;
} catch (error) {
  report.error = String(error?.stack ?? error);
  log(`failed at "${report.step}": ${error?.message ?? error}`);
} finally {
  report.timings.total_s = seconds(started);
  if (firefox) {
    const closed = firefox.close().then(
      () => true,
      (error) => log(`closing firefox: ${error.message}`),
    );
    if (!(await Promise.race([closed, sleep(30 * SECOND)]))) firefox.process()?.kill("SIGKILL");
  }
}
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(report.ok ? 0 : 1);
