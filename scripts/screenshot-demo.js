// Takes the README's pictures from the `npm start` demo (the Clarus simulator and a real Node-RED with the demo
// flow), in Debian's Chromium at the editor's default zoom:
//
//   docs/images/demo.png               the demo flow, with events in the debug sidebar
//   docs/images/palette.png            the Clarus WMS palette category
//   docs/images/webhook-in-dialog.png  the demo's webhook-in dialog, after Register now
//   docs/images/connection-test.png    the demo's connection dialog, its Test connection report
//   docs/images/sidebar.png            the Clarus sidebar tab with the demo's traffic
//   docs/images/sidebar-replay.png     the tab replaying dead letters (of a second connection made for it)
//
//   npm run screenshots [-- --events 8 --port 1880]
//
// The simulator runs with its fixed seed (42), so a re-run shows the same events, automations and report; only
// times and message ids change. The demo listens on --port (1880, as `npm start`, when it is free; else any
// free port) with a temporary user directory. Chromium is /usr/bin/chromium (CLARUS_CHROMIUM overrides it) and
// may reach nothing but the loopback. The run fails if the demo flow does not fit the window, so a change to
// sim/demo-flow.ts that would cut it off is seen here.
// Functions passed to page.evaluate/waitForFunction run in the editor page, where these are defined.
/* global window, document, RED, $ */
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const readline = require("node:readline");
const { parseArgs } = require("node:util");

const { keepOnLoopback, launchChromium } = require("../test/helpers/chromium");
const { dispatched } = require("../test/helpers/fixtures");
const { REPO_ROOT, freePort, makeTempDir, removeDir, request } = require("../test/helpers/red-process");

const DEMO = path.join(REPO_ROOT, "build", "dev", "sim", "demo.js");
const IMAGES_DIR = path.join(REPO_ROOT, "docs", "images");
/** The editor window: a common desktop size, in which the demo flow must fit beside the sidebar. */
const WINDOW = { width: 1600, height: 1000 };
const CATEGORY = "Clarus WMS";

const { values: options } = parseArgs({
  options: { events: { type: "string", default: "8" }, port: { type: "string", default: "1880" } },
});
const EVENTS = Number(options.events);

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

/**
 * `port` when nothing listens on it, else a free one: the pictures show 1880 unless `npm start` runs. Port 0
 * asks for any free port: the one the probe was given, since the demo and the browser must agree on it.
 */
function portOrFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(freePort()));
    server.listen(port, "127.0.0.1", () => {
      const bound = server.address().port;
      server.close(() => resolve(bound));
    });
  });
}

function startDemo(port, dir) {
  const demo = spawn(process.execPath, [DEMO], {
    // A webhook a second instead of every 3 s, so the sidebar fills sooner.
    env: { ...process.env, PORT: String(port), CLARUS_DEMO_DIR: dir, CLARUS_DEMO_INTERVAL_MS: "1000" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  for (const stream of [demo.stdout, demo.stderr]) {
    readline.createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      demo.emit("line", line);
    });
  }
  return { demo, lines };
}

async function stopDemo(demo) {
  if (demo.exitCode !== null || demo.signalCode !== null) return;
  const exited = new Promise((resolve) => demo.once("exit", resolve));
  demo.kill("SIGINT");
  await exited;
}

async function openEditor(browser, port) {
  const context = await browser.newContext({ viewport: WINDOW });
  await keepOnLoopback(context);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() =>
    Boolean(
      window.RED &&
      RED.workspaces &&
      RED.workspaces.active() &&
      RED.nodes.node("demo-webhook") &&
      !$("#red-ui-loading-progress").is(":visible"),
    ),
  );
  return page;
}

/** Throws unless the editor is at its default zoom and every node of the flow (status and buttons too) shows. */
async function assertFlowFits(page) {
  const fit = await page.evaluate(() => {
    const chart = document.getElementById("red-ui-workspace-chart");
    const box = chart.getBoundingClientRect();
    const visible = {
      left: box.left,
      top: box.top,
      right: box.left + chart.clientWidth,
      bottom: box.top + chart.clientHeight,
    };
    const cut = [...document.querySelectorAll("#red-ui-workspace-chart .red-ui-flow-node-group")]
      .map((group) => ({ id: group.id, box: group.getBoundingClientRect() }))
      .filter(
        ({ box: b }) =>
          b.left < visible.left ||
          b.top < visible.top ||
          b.right > visible.right ||
          b.bottom > visible.bottom,
      )
      .map(({ id, box: b }) => `${id} at ${Math.round(b.left)}..${Math.round(b.right)} px`);
    return { scale: RED.view.scale(), cut, visible };
  });
  if (fit.scale !== 1) throw new Error(`the editor is at zoom ${fit.scale}, not its default`);
  if (fit.cut.length > 0) {
    throw new Error(
      `the demo flow does not fit ${WINDOW.width}x${WINDOW.height} (workspace ${Math.round(fit.visible.left)}..` +
        `${Math.round(fit.visible.right)} px): ${fit.cut.join(", ")}; arrange sim/demo-flow.ts`,
    );
  }
}

/** docs/images/demo.png: the flow and the debug sidebar with EVENTS messages, the first (top) one opened. */
async function shootDemo(page) {
  await page.evaluate(() => RED.sidebar.show("debug"));
  await assertFlowFits(page);
  // The point of the picture is a sidebar filling up with events.
  await page.waitForFunction((count) => $(".red-ui-debug-msg").length >= count, EVENTS, { timeout: 120_000 });
  // The first message and its msg.clarus opened, so the picture shows what a Clarus message carries.
  const first = page.locator(".red-ui-debug-msg").first();
  await first.locator(".red-ui-debug-msg-object-handle").first().click();
  const clarus = first
    .locator(".red-ui-debug-msg-object-key", { hasText: /^clarus$/ })
    .filter({ visible: true });
  await clarus.first().click();
  await first.locator(".red-ui-debug-msg-object-key", { hasText: /^dedupeKey$/ }).waitFor();
  // The pointer off the sidebar: over a message it would highlight that message's debug node.
  await page.mouse.move(0, WINDOW.height - 1);
  const file = path.join(IMAGES_DIR, "demo.png");
  await page.screenshot({ path: file });
  return file;
}

/** docs/images/palette.png: the palette with every category closed but ours. */
async function shootPalette(page) {
  await page.evaluate((category) => {
    $(".red-ui-palette-category").each(function () {
      const header = $(this).find(".red-ui-palette-header");
      const open = $(this).find(".red-ui-palette-content").is(":visible");
      if ((header.text().trim() === category) !== open) header.trigger("click");
    });
  }, CATEGORY);
  await page.waitForFunction(
    (category) =>
      $(".red-ui-palette-category :animated").length === 0 &&
      $(".red-ui-palette-category")
        .toArray()
        .every(
          (section) =>
            $(section).find(".red-ui-palette-content").is(":visible") ===
            ($(section).find(".red-ui-palette-header").text().trim() === category),
        ),
    CATEGORY,
  );
  // From the search box down to the end of our category, without the empty space below.
  const palette = await page.locator("#red-ui-palette").boundingBox();
  const ours = await page
    .locator(".red-ui-palette-category", {
      has: page.locator(".red-ui-palette-header", { hasText: CATEGORY }),
    })
    .boundingBox();
  const file = path.join(IMAGES_DIR, "palette.png");
  await page.screenshot({
    path: file,
    clip: { x: palette.x, y: palette.y, width: palette.width, height: ours.y + ours.height + 8 - palette.y },
  });
  return file;
}

/**
 * The open edit tray as the window shows it, its form (`formSelector`) scrolled to the top or to just above
 * `topSelector`.
 */
async function shootTray(page, file, formSelector, topSelector) {
  await page.evaluate(
    ({ form, top }) => {
      // No focus ring or hover state on the button just clicked.
      document.activeElement.blur();
      // The element that scrolls the form (the tray's tab content in Node-RED 4).
      let scroller = $(form)[0].parentElement;
      while (scroller && scroller.scrollHeight <= scroller.clientHeight) scroller = scroller.parentElement;
      if (!scroller) return;
      const offset = top ? $(top)[0].getBoundingClientRect().top - scroller.getBoundingClientRect().top : 0;
      scroller.scrollTop = top ? scroller.scrollTop + offset - 10 : 0;
    },
    { form: formSelector, top: topSelector },
  );
  await page.mouse.move(0, WINDOW.height - 1);
  await page.locator(".red-ui-tray").last().screenshot({ path: file });
  return file;
}

/** docs/images/webhook-in-dialog.png: the demo's webhook-in dialog with the Register now result. */
async function shootWebhookDialog(page) {
  await page.evaluate(() => RED.editor.edit(RED.nodes.node("demo-webhook")));
  await page.waitForSelector("#node-input-clarus-register-now", { state: "visible" });
  await page.click("#node-input-clarus-register-now");
  await page.waitForFunction(() => $(".clarus-register-item").length === 6);
  const file = await shootTray(page, path.join(IMAGES_DIR, "webhook-in-dialog.png"), "#dialog-form");
  await page.click("#node-dialog-cancel");
  await page.waitForSelector("#node-dialog-ok", { state: "detached" });
  return file;
}

/** docs/images/connection-test.png: the demo's connection dialog with the Test connection report. */
async function shootConnectionTest(page) {
  await page.evaluate(() => RED.editor.editConfig("", "clarus-connection", "demo-connection"));
  await page.waitForSelector("#node-config-clarus-test", { state: "visible" });
  await page.click("#node-config-clarus-test");
  // The plain summary, its technical steps folded away behind Details as the dialog shows them.
  await page.waitForSelector('#node-config-clarus-test-result .clarus-test-line[data-step="automations"]', {
    state: "attached",
  });
  await page.waitForSelector(".clarus-test-summary", { state: "visible" });
  // The button at the top, so the picture shows it and the whole report below it.
  const file = await shootTray(
    page,
    path.join(IMAGES_DIR, "connection-test.png"),
    "#node-config-dialog-edit-form",
    "#node-config-clarus-test",
  );
  await page.click("#node-config-dialog-cancel");
  await page.waitForSelector("#node-config-clarus-test", { state: "detached" });
  return file;
}

/** docs/images/sidebar.png: the Clarus tab, once the demo's webhooks and polls have shown up in its counts. */
async function shootSidebar(page) {
  await page.evaluate(() => RED.sidebar.show("clarus"));
  const section = ".clarus-connection-section[data-connection=demo-connection]";
  await page.waitForFunction(
    (root) =>
      Number($(`${root} tr[data-counter=webhook] .clarus-since-start`).text()) >= 3 &&
      $(`${root} .clarus-connection-header .clarus-dot`).attr("data-ok") === "true" &&
      $(`${root} .clarus-chart rect`).length > 0,
    section,
    { timeout: 120_000 },
  );
  await page.mouse.move(0, WINDOW.height - 1);
  const file = path.join(IMAGES_DIR, "sidebar.png");
  await page.locator("#red-ui-sidebar").screenshot({ path: file });
  return file;
}

const REPLAY_DEAD_LETTERS = 60;
const REPLAY_TOKEN = "replay-demo-token-0123456789";

/**
 * docs/images/sidebar-replay.png: dead letters being replayed. The demo confirms every event, so a second
 * connection is deployed beside it whose webhook-in nothing confirms (one attempt, a second to wait): the events
 * posted to it die at once, and the picture is taken while Replay all brings them back.
 */
async function shootReplay(page, port) {
  const admin = (method, urlPath, body) =>
    request({ port, method, path: urlPath, headers: { "Node-RED-API-Version": "v2" }, body });
  const { flows } = (await admin("GET", "/flows")).json();
  const demo = flows.find((node) => node.id === "demo-connection");
  const extra = [
    { id: "replay-tab", type: "tab", label: "Replay demo" },
    {
      id: "replay-connection",
      type: "clarus-connection",
      name: "Dead-letter demo",
      subdomain: demo.subdomain,
      domain: demo.domain,
      apiUrl: demo.apiUrl,
      automations: [],
      delivery: "on-confirm",
      redeliverSeconds: 1,
      maxAttempts: 1,
      credentials: { webhookToken: REPLAY_TOKEN },
    },
    {
      id: "replay-webhook",
      type: "clarus-webhook-in",
      z: "replay-tab",
      name: "Nobody confirms",
      connection: "replay-connection",
      path: "/clarus/replay-demo",
      method: "POST",
      event: "auto",
      requireToken: true,
      x: 160,
      y: 80,
      wires: [[]],
    },
  ];
  const deployed = await admin("POST", "/flows", { flows: [...flows, ...extra] });
  if (deployed.status !== 200) throw new Error(`deploy answered ${deployed.status}: ${deployed.text}`);
  // Node-RED answers the deploy before the new flows start: the tab shows the connection once they have.
  const section = ".clarus-connection-section[data-connection=replay-connection]";
  await page.waitForSelector(section, { timeout: 30_000 });
  const headers = {
    "X-ClarusWMS-Domain": `https://${demo.domain.replace(/^https?:\/\//, "")}`,
    "X-ClarusWMS-API-Domain": new URL(demo.apiUrl).origin,
    "X-ClarusWMS-Subdomain": demo.subdomain,
    "X-ClarusWMS-Automation-ID": "900",
    "X-ClarusWMS-Integration-ID": "900",
  };
  for (let id = 1; id <= REPLAY_DEAD_LETTERS; id++) {
    const res = await request({
      port,
      method: "POST",
      path: `/clarus/replay-demo/${REPLAY_TOKEN}`,
      headers,
      body: dispatched(70000 + id),
    });
    if (res.status !== 200) throw new Error(`the replay demo's webhook answered ${res.status}: ${res.text}`);
  }
  await page.waitForFunction(
    ({ root, n }) => $(`${root} .clarus-dead-letter`).length === n,
    { root: section, n: REPLAY_DEAD_LETTERS },
    { timeout: 60_000 },
  );
  // The demo's own connection folded, so the replaying one is in view.
  await page.click(".clarus-connection-section[data-connection=demo-connection] .clarus-connection-header");
  await page.click(`${section} .clarus-replay-all`);
  await page.click(".clarus-confirm-action");
  await page.waitForFunction(
    (root) => {
      const match = /Replaying: (\d+) of (\d+)/.exec($(`${root} .clarus-progress-text`).text());
      return match && Number(match[2]) > 0 && Number(match[1]) >= Number(match[2]) / 3;
    },
    section,
    { timeout: 30_000 },
  );
  await page.mouse.move(0, WINDOW.height - 1);
  const file = path.join(IMAGES_DIR, "sidebar-replay.png");
  await page.locator("#red-ui-sidebar").screenshot({ path: file });
  await page.waitForFunction(
    (root) => /Replay done/.test($(`${root} .clarus-progress-text`).text()),
    section,
    {
      timeout: 30_000,
    },
  );
  return file;
}

async function main() {
  if (!fs.existsSync(DEMO)) throw new Error(`${DEMO} is missing: run npm run build && npm run build:dev`);
  const dir = makeTempDir("clarus-screenshots-");
  const port = await portOrFree(Number(options.port));
  const { demo, lines } = startDemo(port, dir);
  let browser;
  try {
    await waitForOutput(demo, lines, /Clarus WMS demo is running/);
    browser = await launchChromium();
    const page = await openEditor(browser, port);
    fs.mkdirSync(IMAGES_DIR, { recursive: true });
    const files = [
      await shootDemo(page),
      await shootPalette(page),
      await shootWebhookDialog(page),
      await shootConnectionTest(page),
      await shootSidebar(page),
      await shootReplay(page, port),
    ];
    for (const file of files) {
      const png = fs.readFileSync(file);
      // A PNG's IHDR chunk holds its width and height at bytes 16 and 20.
      const size = `${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`;
      console.log(`${path.relative(REPO_ROOT, file)}  ${size}`);
    }
    console.log(`demo on port ${port}, ${EVENTS} debug messages awaited`);
  } finally {
    if (browser) await browser.close();
    await stopDemo(demo);
    removeDir(dir);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
