// Writes docs/images/demo.png: the `npm start` demo in the Node-RED editor, with the debug sidebar showing
// the events that arrived in its first seconds. Build first, then run it:
//
//   npm run build && npx tsc -p tsconfig.dev.json && node scripts/screenshot-demo.js [--seconds 10]
//
// The demo runs on a free port with a temporary user directory; Chromium is /usr/bin/chromium (CLARUS_CHROMIUM
// overrides it) and may reach nothing but the loopback.
// Functions passed to page.evaluate/waitForFunction run in the editor page, where these are defined.
/* global window, RED, $ */
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const { parseArgs } = require("node:util");

const { chromium } = require("playwright-core");

const { REPO_ROOT, freePort, makeTempDir, removeDir } = require("../test/helpers/red-process");

const DEMO = path.join(REPO_ROOT, "build", "dev", "sim", "demo.js");
const OUTPUT = path.join(REPO_ROOT, "docs", "images", "demo.png");
const CHROMIUM = process.env.CLARUS_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const { values: options } = parseArgs({ options: { seconds: { type: "string", default: "10" } } });
const SECONDS = Number(options.seconds);

/** Resolves once `pattern` appears in the child's output; rejects if the child exits first. */
function waitForOutput(child, lines, pattern, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    if (lines.some((line) => pattern.test(line))) return resolve();
    const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    const onLine = (line) => pattern.test(line) && done();
    const onExit = (code) => done(new Error(`the demo exited (${code}) before ${pattern}`));
    function done(error) {
      clearTimeout(timer);
      child.off("line", onLine);
      child.off("exit", onExit);
      if (error) reject(new Error(`${error.message}\n${lines.slice(-30).join("\n")}`));
      else resolve();
    }
    child.on("line", onLine);
    child.once("exit", onExit);
  });
}

async function main() {
  if (!fs.existsSync(DEMO))
    throw new Error(`${DEMO} is missing: run npm run build && npx tsc -p tsconfig.dev.json`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  const dir = makeTempDir("clarus-demo-shot-");
  const port = await freePort();
  const demo = spawn(process.execPath, [DEMO], {
    env: { ...process.env, PORT: String(port), CLARUS_DEMO_DIR: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  for (const stream of [demo.stdout, demo.stderr]) {
    readline.createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      demo.emit("line", line);
    });
  }
  let browser;
  try {
    await waitForOutput(demo, lines, /Clarus WMS demo is running/);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      const local =
        !/^(https?|wss?):$/.test(url.protocol) || ["127.0.0.1", "localhost"].includes(url.hostname);
      return local ? route.continue() : route.abort("blockedbyclient");
    });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(
      () =>
        window.RED &&
        RED.workspaces &&
        RED.workspaces.active() &&
        RED.nodes.filterNodes({ type: "clarus-webhook-in" }).length > 0 &&
        !$("#red-ui-loading-progress").is(":visible"),
      null,
      { timeout: 30_000 },
    );
    // Two steps out, so the whole demo flow, debug nodes included, fits beside the sidebar.
    await page.evaluate(() => {
      RED.actions.invoke("core:zoom-out");
      RED.actions.invoke("core:zoom-out");
      RED.sidebar.show("debug");
    });
    await page.waitForSelector(".red-ui-debug-msg", { timeout: 30_000 });
    // The point of the picture is a sidebar filling up with events, so it is taken after a while.
    await page.waitForTimeout(SECONDS * 1000);
    const count = await page.locator(".red-ui-debug-msg").count();
    // Open the newest message and its msg.clarus, so the picture shows what a Clarus message carries.
    const newest = page.locator(".red-ui-debug-msg").first();
    await newest.locator(".red-ui-debug-msg-object-handle").first().click();
    const clarus = newest
      .locator(".red-ui-debug-msg-object-key", { hasText: /^clarus$/ })
      .filter({ visible: true });
    if ((await clarus.count()) > 0) await clarus.first().click();
    fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
    await page.screenshot({ path: OUTPUT });
    console.log(`${path.relative(REPO_ROOT, OUTPUT)}: 1400x900, ${count} debug messages after ${SECONDS} s`);
  } finally {
    if (browser) await browser.close();
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill("SIGINT");
      await new Promise((resolve) => demo.once("exit", resolve));
    }
    removeDir(dir);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
