// Drive Debian's Chromium (headless, through puppeteer-core: no browser download) through the host page and print,
// as one JSON line, what a person would have seen: `node drive.mjs CHROMIUM HOST_URL SCREENSHOT`.
// tests/test_apps_browser.py asserts on it. The browser resolves only loopback names: every other lookup fails.
import puppeteer from "puppeteer-core";

const [chromium, hostUrl, screenshot] = process.argv.slice(2);
const seen = { console: [], panels: {} };
const timeout = 15_000;  // each wait; the whole run is bounded by the watchdog below

async function frames(page) {
  // Tag each sandbox proxy frame with its panel (the iframe element's data-panel), then return them by panel.
  const found = {};
  for (const handle of await page.$$("iframe.view")) {
    const panel = await handle.evaluate((element) => element.dataset.panel);
    const proxy = await handle.contentFrame();
    found[panel] = {
      proxy,
      sandbox: await handle.evaluate((element) => element.getAttribute("sandbox")),
      view: proxy.childFrames()[0],
    };
  }
  return found;
}

async function text(frame, selector) {
  return frame.$eval(selector, (element) => element.textContent.trim());
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1"],
  defaultViewport: { width: 1280, height: 900 },
});
const watchdog = setTimeout(async () => {  // never outlive 60 s, and never leave a browser behind
  seen.failure = "the whole run took over 60 s";
  console.log(JSON.stringify(seen));
  await browser.close().catch(() => {});
  process.exit(1);
}, 60_000);
try {
  const page = await browser.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warn") seen.console.push(`${message.type()}: ${message.text()}`.slice(0, 300));
  });
  page.on("pageerror", (error) => seen.console.push(`pageerror: ${error.message}`.slice(0, 300)));
  await page.goto(hostUrl, { waitUntil: "load", timeout });
  await page.waitForSelector("body[data-state]", { timeout });
  seen.state = await page.$eval("body", (body) => body.dataset.state);
  seen.events = await page.evaluate(() => window.hostEvents);
  seen.hostOrigin = await page.evaluate(() => location.origin);
  if (seen.state === "ready") {
    const panels = await frames(page);
    for (const [panel, { proxy, sandbox, view }] of Object.entries(panels)) {
      const origin = await view.evaluate(() => location.origin);
      seen.panels[panel] = { sandbox, proxyOrigin: new URL(proxy.url()).origin, viewOrigin: origin,
                             viewSandboxed: await proxy.$eval("iframe", (element) => element.getAttribute("sandbox")) };
    }
    // The notes dashboard (p0): the tool's result, then a note added from the view's own button.
    const notes = panels.p0.view;
    await notes.waitForFunction(() => document.getElementById("count").textContent !== "", { timeout });
    seen.panels.p0.before = await notes.$$eval("#notes li strong", (items) => items.map((item) => item.textContent));
    seen.panels.p0.countBefore = await text(notes, "#count");
    await notes.type("#title", "Added from the view");
    await notes.type("#body", "typed by Chromium, saved through the host");
    await notes.click("#add-button");
    await notes.waitForFunction(() => document.querySelector("#notes li strong")?.textContent === "Added from the view", { timeout });
    seen.panels.p0.after = await notes.$$eval("#notes li strong", (items) => items.map((item) => item.textContent));
    seen.panels.p0.countAfter = await text(notes, "#count");
    seen.panels.p0.status = await text(notes, "#status");
    // The official basic view, bridged without a prefix (p1): its time, then the view's own button.
    const basic = panels.p1.view;
    await basic.waitForFunction(() => /^\d{4}-\d\d-\d\dT/.test(document.getElementById("server-time").textContent), { timeout });
    seen.panels.p1.before = await text(basic, "#server-time");
    await new Promise((resolve) => setTimeout(resolve, 20));  // the next ISO time differs by at least a millisecond
    await basic.click("#get-time-btn");
    await basic.waitForFunction((before) => {
      const now = document.getElementById("server-time").textContent;
      return now !== before && now !== "Loading...";
    }, { timeout }, seen.panels.p1.before);
    seen.panels.p1.after = await text(basic, "#server-time");
    // The same view through a prefixed mount (p2): rendered from the renamed ui:// link, showing its result.
    const mounted = panels.p2.view;
    await mounted.waitForFunction(() => /^\d{4}-\d\d-\d\dT/.test(document.getElementById("server-time").textContent), { timeout });
    seen.panels.p2.before = await text(mounted, "#server-time");
    seen.events = await page.evaluate(() => window.hostEvents);
  }
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (failure) {
  seen.failure = String(failure && failure.stack || failure).slice(0, 2000);
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
console.log(JSON.stringify(seen));
