// The editor's Clarus tab in real Chromium, on a real Node-RED with the package installed from its packed
// tarball (so the node-red.plugins entry is what a user gets): the tab appears, shows the deployed connection,
// follows webhooks as they arrive, replays a dead letter through the flow once, stops a bulk replay, discards,
// shows recent deliveries without the token and sends one again or turns it into an inject node, runs Poll now,
// Register now and Test connection, stays readable in a dark theme and whole at the editor's narrowest sidebar
// and in a 1600x1000 window. Every browser console error, page error and request off the loopback fails the run.
//
// Functions passed to page.evaluate/waitForFunction run in the editor page, where these are defined.
/* global document, getComputedStyle, window, RED, $ */
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const { keepOnLoopback, launchChromium } = require("../helpers/chromium");
const { eventually } = require("../helpers/eventually");
const {
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  dispatched,
  recordAndConfirm,
} = require("../helpers/fixtures");
const { readLines, waitForFile } = require("../helpers/output-file");
const {
  deployFlows,
  freePort,
  installIntoUserDir,
  makeTempDir,
  packPackage,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");

const TAB = "sidebar-tab";
const WINDOW = { width: 1600, height: 1000 };
/** The editor closes its sidebar when dragged below 180 px: the narrowest the tab must stay whole at. */
const NARROWEST_SIDEBAR = 180;
/** Slow enough that a bulk replay can be stopped half-way. */
const REPLAY_PER_SECOND = 4;

/**
 * A dark theme's main colour variables (light text on dark backgrounds), as a theme package sets them. The tab
 * uses only the editor's variables, so these restyle it; a colour written into the tab would not follow.
 */
const DARK_THEME = {
  "--red-ui-primary-background": "#1f1f1f",
  "--red-ui-secondary-background": "#262626",
  "--red-ui-tertiary-background": "#303030",
  "--red-ui-palette-header-background": "#2c2c2c",
  "--red-ui-primary-text-color": "#e0e0e0",
  "--red-ui-secondary-text-color": "#b0b0b0",
  "--red-ui-tertiary-text-color": "#9a9a9a",
  "--red-ui-header-text-color": "#e0e0e0",
  "--red-ui-text-color-error": "#ff8080",
  "--red-ui-text-color-success": "#70d070",
  "--red-ui-text-color-warning": "#e8c848",
  "--red-ui-text-color-link": "#66bbff",
  "--red-ui-secondary-border-color": "#444",
  "--red-ui-tertiary-border-color": "#3a3a3a",
  "--red-ui-form-input-background": "#303030",
  "--red-ui-form-text-color": "#e0e0e0",
  "--red-ui-form-input-border-color": "#555",
  "--red-ui-workspace-button-background": "#333",
  "--red-ui-workspace-button-background-hover": "#3c3c3c",
  "--red-ui-workspace-button-color": "#d0d0d0",
  "--red-ui-workspace-button-color-hover": "#fff",
  "--red-ui-list-item-background-hover": "#363636",
};

/**
 * One instance's flow: a webhook-in → a function that writes "<id> <replayed>" to the output file and passes
 * on only replayed messages → clarus-confirm. Nothing else is confirmed, so with maxAttempts 1 every delivery
 * becomes a dead letter a second after it is sent. A poll node gives the tab's Poll now a node to run.
 */
function sidebarFlow({ output, sim, publicUrl }) {
  return [
    { id: TAB, type: "tab", label: "sidebar" },
    connectionConfig({
      name: "Acme warehouse",
      delivery: "on-confirm",
      redeliverSeconds: 1,
      maxAttempts: 1,
      apiUrl: sim.url,
      subdomain: sim.subdomain,
      domain: sim.domain,
      publicUrl,
      credentials: { webhookToken: TOKEN, clientId: sim.clientId, clientSecret: sim.clientSecret },
    }),
    webhookConfig({
      z: TAB,
      name: "Clarus webhooks",
      path: "/clarus/hook",
      register: ["goods_out.completed"],
      captureCount: 20,
      x: 160,
      y: 80,
      wires: [["record"]],
    }),
    ...recordAndConfirm({
      z: TAB,
      output,
      func:
        'msg.payload = msg.payload.id + " " + (msg.clarus.replayed === true);\n' +
        "return msg.clarus.replayed ? msg : null;",
      x: 360,
    }),
    {
      id: "poll",
      type: "clarus-poll",
      z: TAB,
      name: "Safety net",
      connection: "conn",
      stream: "goods_out.completed",
      intervalMinutes: 60,
      runOnStart: false,
      x: 160,
      y: 180,
      wires: [[]],
    },
  ];
}

/**
 * What the tab shows cut off or off its box: an element wider than the tab, text clipped by its box, a
 * horizontal scrollbar. Runs in the editor page.
 */
function tabLayoutProblems() {
  const tab = document.querySelector(".clarus-sidebar");
  const box = tab.getBoundingClientRect();
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const name = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
  const scroller = tab.querySelector(".clarus-sidebar-content");
  if (scroller.scrollWidth > scroller.clientWidth + 1)
    problems.push(`the tab scrolls sideways: ${scroller.scrollWidth} > ${scroller.clientWidth} px`);
  for (const el of tab.querySelectorAll("*")) {
    if (!visible(el) || el.closest("svg")) continue;
    const r = el.getBoundingClientRect();
    if (r.right > box.right + 1 || r.left < box.left - 1)
      problems.push(`${name(el)} sticks out of the tab (${Math.round(r.left)}..${Math.round(r.right)} px)`);
    // Scrolled boxes (the dead-letter list, a payload) scroll on purpose, and sideways only in JSON.
    const scrolls = ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
    if (!scrolls && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "hidden")
      problems.push(`${name(el)} clips its text: ${el.scrollWidth} > ${el.clientWidth} px`);
  }
  return { width: Math.round(box.width), problems };
}

/**
 * The contrast (WCAG 2) of every piece of text in the tab against the background it is drawn on, and the
 * lowest found among the values (numbers, states, names), which must be easy to read. Runs in the editor page.
 */
function tabContrast() {
  const parse = (colour) => {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(colour);
    return m
      ? { rgb: [Number(m[1]), Number(m[2]), Number(m[3])], a: m[4] === undefined ? 1 : Number(m[4]) }
      : null;
  };
  const luminance = ([r, g, b]) => {
    const channel = (v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (el) => {
    for (let at = el; at; at = at.parentElement) {
      const colour = parse(getComputedStyle(at).backgroundColor);
      if (colour && colour.a > 0.5) return colour.rgb;
    }
    return [255, 255, 255];
  };
  const values =
    ".clarus-value, .clarus-number, .clarus-connection-name, .clarus-event-name, .clarus-part-title";
  const found = [];
  for (const el of document.querySelectorAll(".clarus-sidebar *")) {
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== "");
    if (!ownText || el.getClientRects().length === 0 || el.closest("button:disabled, svg")) continue;
    const fg = parse(getComputedStyle(el).color).rgb;
    const [a, b] = [luminance(fg), luminance(background(el))].sort((x, y) => y - x);
    found.push({
      text: el.textContent.trim().slice(0, 40),
      ratio: Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100,
      value: el.matches(values) || Boolean(el.closest(values)),
    });
  }
  return found;
}

describe("editor: the Clarus sidebar tab (Chromium)", function () {
  this.timeout(90_000);

  let tmp;
  let sim;
  let red;
  let browser;
  let page;
  let output;
  let nextId = 9000;
  const browserErrors = [];
  const offLoopback = [];

  const section = ".clarus-connection-section[data-connection=conn]";
  const outputOf = () =>
    readLines(output, (line) => {
      const [id, replayed] = line.split(" ");
      return { id: Number(id), replayed: replayed === "true" };
    });

  /** Clarus posts dispatched order `id` once to the webhook-in. */
  async function post(id) {
    const res = await request({
      port: red.port,
      method: "POST",
      path: `/clarus/hook/${TOKEN}`,
      headers: CLARUS_HEADERS,
      body: dispatched(id),
    });
    assert.equal(res.status, 200, res.text);
  }

  /** What the tab shows as dead letters (its Inbox row), once it shows `expected`. */
  async function tabShowsDead(expected) {
    await page.waitForFunction(
      ({ root, n }) => {
        const rows = [...document.querySelectorAll(`${root} [data-part=inbox] tr`)];
        const dead = rows.find((row) => row.firstChild.textContent === "Dead letters");
        return dead && dead.lastChild.textContent === String(n);
      },
      { root: section, n: expected },
      { timeout: 30_000 },
    );
  }

  async function tabShowsListed(expected) {
    await page.waitForFunction(
      ({ root, n }) => document.querySelectorAll(`${root} .clarus-dead-letter`).length === n,
      { root: section, n: expected },
      { timeout: 30_000 },
    );
  }

  async function confirmDialog() {
    await page.locator(".clarus-confirm-action").click();
    await page.locator(".clarus-confirm-action").waitFor({ state: "detached" });
  }

  async function openTab() {
    await page.evaluate(() => RED.sidebar.show("clarus"));
    await page.locator(section).waitFor({ state: "visible" });
  }

  before(async function () {
    this.timeout(300_000);
    tmp = makeTempDir("clarus-sidebar-");
    const tarball = await packPackage({ destination: tmp });
    const userDir = path.join(tmp, "userDir");
    fs.mkdirSync(userDir);
    await installIntoUserDir({ userDir, packages: [tarball] });
    sim = await startSimulator({ port: await freePort(), history: 0, seed: 5, webhook: { dropRate: 1 } });
    const port = await freePort();
    writeSettings({
      userDir,
      port,
      extra: {
        editorTheme: { tours: false, palette: { catalogues: [] } },
        externalModules: { palette: { allowInstall: false } },
        clarus: { replayPerSecond: REPLAY_PER_SECOND },
      },
    });
    red = await startNodeRed({ userDir, port });
    output = path.join(userDir, "out", "events.log");
    await deployFlows(red, sidebarFlow({ output, sim, publicUrl: red.baseUrl }));

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: WINDOW });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: red.baseUrl });
    await keepOnLoopback(context, (href) => offLoopback.push(href));
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("console", (message) => {
      if (message.type() === "error") browserErrors.push(`console.error: ${message.text()}`);
    });
    page.on("pageerror", (error) => browserErrors.push(`pageerror: ${error.stack || error.message}`));
    await page.goto(red.baseUrl + "/");
    await page.waitForFunction(
      () =>
        window.RED &&
        RED.workspaces &&
        RED.workspaces.active() &&
        RED.nodes.node("hook") &&
        !$("#red-ui-loading-progress").is(":visible"),
      null,
      { timeout: 30_000 },
    );
  });

  afterEach(async function () {
    // Every test starts with no dead letters and an empty output file: what is pending dies first (a second).
    await eventually(
      async () =>
        (await request({ port: red.port, path: "/clarus-wms/connections" })).json()[0].inbox.pending === 0,
      { what: "nothing pending", timeoutMs: 15_000 },
    );
    await request({
      port: red.port,
      method: "POST",
      path: "/clarus-wms/connections/conn/dead-letters/discard",
      body: {},
    });
    fs.rmSync(output, { force: true });
    assert.deepEqual(browserErrors, [], "browser errors");
    assert.deepEqual(offLoopback, [], "requests off the loopback");
    assert.deepEqual(
      // A delivery that dies logs it as an error, on purpose here.
      red.lines.filter((line) => /\[error\]/.test(line) && !/Error: dead letter /.test(line)),
      [],
      "runtime errors",
    );
  });

  after(async function () {
    if (browser) await browser.close();
    if (red) await red.kill();
    await sim?.stop();
    removeDir(tmp);
  });

  it("should add a Clarus tab that shows the deployed connection, its health and its nodes", async function () {
    const tabs = await page.evaluate(() => $("#red-ui-sidebar .red-ui-tab").text());
    assert.match(tabs, /Clarus/, "no Clarus tab among the sidebar's tabs");
    await openTab();
    const shown = await page.evaluate((root) => {
      const el = document.querySelector(root);
      const rows = {};
      el.querySelectorAll("[data-part=health] tr").forEach((row) => {
        rows[row.firstChild.textContent] = row.lastChild.textContent;
      });
      return {
        name: el.querySelector(".clarus-connection-name").textContent,
        subdomain: el.querySelector(".clarus-connection-sub").textContent,
        rows,
        nodes: [...el.querySelectorAll(".clarus-node")].map((node) => node.getAttribute("data-node")).sort(),
      };
    }, section);
    assert.equal(shown.name, "Acme warehouse");
    assert.equal(shown.subdomain, sim.subdomain);
    assert.equal(shown.rows["Store (file)"], "ready");
    assert.equal(shown.rows.Delivery, "on-confirm");
    assert.deepEqual(shown.nodes, ["hook", "poll"]);
  });

  it("should count a webhook in the tab when it arrives, without a reload", async function () {
    await openTab();
    const counted = () =>
      page.evaluate(
        (root) =>
          Number(
            document.querySelector(`${root} tr[data-counter=webhook] .clarus-since-start`)?.textContent ??
              NaN,
          ),
        section,
      );
    const before = await counted();
    assert.ok(Number.isInteger(before), "no webhook count in the tab");
    await post(nextId++);
    await page.waitForFunction(
      ({ root, n }) =>
        Number(document.querySelector(`${root} tr[data-counter=webhook] .clarus-since-start`).textContent) ===
        n,
      { root: section, n: before + 1 },
    );
    // The last hour's chart has a bar for it.
    assert.ok(await page.locator(`${section} .clarus-chart rect[data-series=webhook]`).count(), "no bar");
  });

  it("should replay a selected dead letter from the tab through the flow once, marked replayed", async function () {
    await openTab();
    const [first, second] = [nextId++, nextId++];
    await post(first);
    await post(second);
    await tabShowsDead(2);
    await tabShowsListed(2);
    // Select the first dead letter only.
    const key = await page.evaluate(
      ({ root, id }) =>
        [...document.querySelectorAll(`${root} .clarus-dead-letter`)]
          .map((el) => el.getAttribute("data-key"))
          .find((k) => k.endsWith(`:${id}`) || k.includes(String(id))),
      { root: section, id: first },
    );
    assert.ok(key, "the dead letter's key is not listed");
    await page.locator(`${section} .clarus-dead-letter[data-key="${key}"] input`).check();
    await page.locator(`${section} .clarus-replay-selected`).click();
    await confirmDialog();
    await waitForFile(output, outputOf, (lines) => lines.some((line) => line.id === first), {
      what: `order ${first} replayed`,
    });
    await tabShowsDead(1);
    // Confirmed by the flow this time: the inbox holds nothing pending for it, and it came through once.
    await eventually(
      async () =>
        (await request({ port: red.port, path: "/clarus-wms/connections" })).json()[0].inbox.pending === 0,
      { what: "the replayed event confirmed", timeoutMs: 10_000 },
    );
    assert.deepEqual(outputOf(), [{ id: first, replayed: true }]);
  });

  it("should show a bulk replay's progress and stop it with Stop; Discard all empties the inbox", async function () {
    await openTab();
    const ids = Array.from({ length: 12 }, () => nextId++);
    for (const id of ids) await post(id);
    await tabShowsDead(ids.length);
    await page.locator(`${section} .clarus-replay-all`).click();
    await confirmDialog();
    await page.waitForFunction(
      (root) =>
        document.querySelector(`${root} .clarus-replay-progress`).getAttribute("data-running") === "true" &&
        /Replaying: [1-9]\d* of 12/.test(document.querySelector(`${root} .clarus-progress-text`).textContent),
      section,
    );
    await page.locator(`${section} .clarus-replay-cancel`).click();
    await page.waitForFunction(
      (root) => /Replay stopped/.test(document.querySelector(`${root} .clarus-progress-text`).textContent),
      section,
    );
    const replayed = outputOf().length;
    assert.ok(replayed >= 1 && replayed < ids.length, `${replayed} of ${ids.length} replayed before Stop`);
    await tabShowsDead(ids.length - replayed);
    await page.locator(`${section} .clarus-discard-all`).click();
    await confirmDialog();
    await tabShowsDead(0);
    assert.equal(outputOf().length, replayed, "a discarded dead letter reached the flow");
  });

  it("should list recent deliveries without the token, send one again and make an inject node of it", async function () {
    await openTab();
    const id = nextId++;
    // The token echoed in the body as well as in the path: neither may show.
    const res = await request({
      port: red.port,
      method: "POST",
      path: `/clarus/hook/${TOKEN}?check=${TOKEN}`,
      headers: { ...CLARUS_HEADERS, Authorization: `Bearer ${TOKEN}` },
      body: { ...dispatched(id), note: `token ${TOKEN}` },
    });
    assert.equal(res.status, 200, res.text);
    const recentPart = page.locator(`${section} [data-part=recent]`);
    if (await recentPart.evaluate((el) => el.classList.contains("clarus-closed")))
      await recentPart.locator(".clarus-part-title").click();
    const item = recentPart.locator(".clarus-recent").filter({ hasText: "goods_out.completed" }).first();
    await page.waitForFunction(
      ({ root, wanted }) =>
        [...document.querySelectorAll(`${root} .clarus-recent .clarus-json`)].some((pre) =>
          pre.textContent.includes(`"id": ${wanted}`),
        ),
      { root: section, wanted: id },
    );
    const text = await recentPart.evaluate((el) => el.textContent);
    assert.ok(!text.includes(TOKEN), "the token shows in the tab");
    await item.locator(".clarus-recent-line").click();
    const delivery = recentPart.locator(".clarus-recent", { hasText: `"id": ${id}` });
    await delivery.locator(".clarus-recent-copy").click();
    const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
    assert.equal(copied.payload.id, id);
    assert.ok(!JSON.stringify(copied).includes(TOKEN), "the token was copied");

    await delivery.locator(".clarus-recent-send").click();
    await waitForFile(output, outputOf, (lines) => lines.some((line) => line.id === id), {
      what: `order ${id} sent again`,
    });
    assert.deepEqual(outputOf(), [{ id, replayed: true }]);

    await delivery.locator(".clarus-recent-inject").click();
    const inject = await page.evaluate(() => {
      const node = RED.nodes.filterNodes({ type: "inject" })[0];
      return node && { props: node.props, z: node.z };
    });
    assert.ok(inject, "no inject node was added");
    const payload = JSON.parse(inject.props.find((p) => p.p === "payload").v);
    assert.equal(payload.id, id);
    assert.equal(inject.props.find((p) => p.p === "topic").v, "goods_out.completed");
    // Leave the editor as deployed.
    await page.evaluate(() => {
      RED.nodes.filterNodes({ type: "inject" }).forEach((node) => RED.nodes.remove(node.id));
      RED.nodes.dirty(false);
      RED.view.redraw(true);
    });
  });

  it("should run Poll now, Register now and Test connection from the tab", async function () {
    await openTab();
    const nodesPart = page.locator(`${section} [data-part=nodes]`);
    const asked = sim.requestLog.length;
    await nodesPart.locator(".clarus-node[data-node=poll] .clarus-poll-now").click();
    await nodesPart
      .locator(".clarus-node[data-node=poll] .clarus-node-result", { hasText: "Poll started" })
      .waitFor();
    await eventually(() => sim.requestLog.slice(asked).some((entry) => /graphql/.test(entry.path)), {
      what: "the poll's query reaching the API",
    });

    await nodesPart.locator(".clarus-node[data-node=hook] .clarus-register-now").click();
    const registered = nodesPart.locator(".clarus-node[data-node=hook] .clarus-node-result[data-outcomes]");
    await registered.waitFor();
    // Deploy registered it already: Register now finds it as it should be.
    assert.equal(await registered.getAttribute("data-outcomes"), "exists");

    await page.locator(`${section} .clarus-test-connection`).click();
    const headline = page.locator(`${section} .clarus-test-headline`);
    await headline.waitFor();
    assert.equal(await headline.getAttribute("data-ok"), "true", await headline.textContent());
  });

  it("should stay whole in a 1600x1000 window and at the narrowest sidebar", async function () {
    await openTab();
    await post(nextId++);
    await tabShowsDead(1);
    await tabShowsListed(1);
    const wide = await page.evaluate(tabLayoutProblems);
    assert.deepEqual(wide.problems, [], `at the default width (${wide.width} px)`);

    // Drag the sidebar's separator as a user would, as far right as the editor lets the sidebar shrink.
    const separator = await page.locator("#red-ui-sidebar-separator").boundingBox();
    const sidebarWidth = await page.evaluate(() => $("#red-ui-sidebar").width());
    const x = separator.x + separator.width / 2;
    const y = separator.y + 200;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + (sidebarWidth - NARROWEST_SIDEBAR), y, { steps: 10 });
    await page.mouse.up();
    const narrowWidth = await page.evaluate(() => $("#red-ui-sidebar").width());
    assert.ok(Math.abs(narrowWidth - NARROWEST_SIDEBAR) <= 4, `the sidebar is ${narrowWidth} px wide`);
    const narrow = await page.evaluate(tabLayoutProblems);
    assert.deepEqual(narrow.problems, [], `at the narrowest sidebar (${narrow.width} px)`);
    // Every action is still reachable.
    for (const button of [".clarus-replay-all", ".clarus-discard-all", ".clarus-test-connection"])
      assert.ok(await page.locator(`${section} ${button}`).isVisible(), `${button} is hidden`);

    await page.mouse.move(x + (sidebarWidth - NARROWEST_SIDEBAR), y);
    await page.mouse.down();
    await page.mouse.move(x, y, { steps: 10 });
    await page.mouse.up();
  });

  it("should keep its text readable in the light theme and in a dark theme", async function () {
    await openTab();
    await post(nextId++);
    await tabShowsDead(1);
    for (const theme of ["light", "dark"]) {
      if (theme === "dark") {
        await page.evaluate((variables) => {
          for (const [name, value] of Object.entries(variables))
            document.documentElement.style.setProperty(name, value);
        }, DARK_THEME);
      }
      const texts = await page.evaluate(tabContrast);
      assert.ok(texts.length > 20, `only ${texts.length} texts measured`);
      // WCAG: 4.5:1 for what is read (values, names), 3:1 at least for everything (labels, notes, buttons);
      // Node-RED's own secondary text and buttons sit at 3.5:1 on white.
      const faint = texts.filter((text) => text.ratio < (text.value ? 4.5 : 3));
      assert.deepEqual(faint, [], `${theme} theme: text below its contrast`);
    }
    await page.evaluate((variables) => {
      for (const name of Object.keys(variables)) document.documentElement.style.removeProperty(name);
    }, DARK_THEME);
  });
});
