// The package in the real Node-RED editor: the real Node-RED (red.js) with the package linked into its user
// directory, and the editor driven in headless Chromium through playwright-core. Every browser console error,
// page error, request off the loopback and `[error]` runtime log line fails the run.
//
// The README's pictures are taken by `npm run screenshots` (scripts/screenshot-demo.js), against the demo.
// CLARUS_CHROMIUM overrides the browser binary (default /usr/bin/chromium, Debian's `chromium` package).
//
// Functions passed to page.evaluate/waitForFunction run in the editor page, where these are defined.
/* global window, document, getComputedStyle, RED, $ */
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");

const { keepOnLoopback, launchChromium } = require("../helpers/chromium");
const {
  REPO_ROOT,
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");

const PACKAGE = require("../../package.json");
const { KNOWN_EVENTS } = require("../../build/nodes/lib/events/vocabulary");
const { installationOf } = require("../../build/nodes/lib/automations/names");
const CATEGORY = "Clarus WMS";
const EXAMPLES_DIR = path.join(REPO_ROOT, "examples");

/** Node-RED's own editor settings that would otherwise reach the internet or cover the workspace. */
const EDITOR_SETTINGS = {
  editorTheme: { tours: false, palette: { catalogues: [] } },
  externalModules: { palette: { allowInstall: false } },
};

/** How the editor logs an exception it caught in a node definition's own code. */
const EDITOR_CAUGHT = /^(onedit(prepare|save|cancel|resize|delete) |Definition error|Validation error)/;

/** A catalog key shown where its text should be: `clarus-poll.label.stream`, `clarus-event.paletteLabel`. */
const CATALOG_KEY =
  /\bclarus-[a-z-]+\.(paletteLabel|label|placeholder|tips|errors|warnings|inputs|outputs|url|event|stream|direction|change|trustProxy|register)\b/;

const CLARUS_HEADERS = {
  "X-ClarusWMS-Domain": "https://acme.claruswms.co.uk",
  "X-ClarusWMS-API-Domain": "https://clarus-api.com",
  "X-ClarusWMS-Subdomain": "acme",
  "X-ClarusWMS-Automation-ID": "43",
  "X-ClarusWMS-Integration-ID": "723",
};

/**
 * The node types of each `node-red.nodes` entry, found as the runtime finds them: the entry's `.js` path with
 * `.html`, and every `data-template-name` in it.
 */
function packageNodeTypes() {
  const types = [];
  for (const entry of Object.values(PACKAGE["node-red"].nodes)) {
    const html = fs.readFileSync(path.join(REPO_ROOT, entry.replace(/\.c?js$/, ".html")), "utf8");
    for (const match of html.matchAll(/data-template-name="([^"]+)"/g)) types.push(match[1]);
  }
  return types;
}

/**
 * Every file under examples/, nested folders too. Each must be a flow array: the editor's Import → Examples
 * menu offers the `.json` ones, and the flow library's scorecard parses every file there as JSON.
 */
function exampleFiles(dir = EXAMPLES_DIR) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const file = path.join(dir, entry.name);
      return entry.isDirectory() ? exampleFiles(file) : [file];
    })
    .sort();
}

/**
 * What is cut off in the open dialog `formSelector`, measured in the page: a label that does not fit on one line
 * beside its input, a select narrower than its longest option, an input narrower than its placeholder, text or a
 * button clipped by its box (scrollWidth over clientWidth), a field that wraps below its label, anything that
 * sticks out of the form. Runs in the editor page (page.evaluate), so it uses nothing from this file.
 */
function dialogLayoutProblems(formSelector) {
  const form = document.querySelector(formSelector);
  const formBox = form.getBoundingClientRect();
  const problems = [];
  // Node-RED's code editors (Monaco, Ace) measure and scroll their own text.
  const visible = (el) =>
    el.getClientRects().length > 0 &&
    getComputedStyle(el).visibility !== "hidden" &&
    !el.closest(".node-text-editor");
  const name = (el) => (el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`);
  const text = (el) => el.textContent.trim().replace(/\s+/g, " ");
  /** The width `el` takes when nothing constrains it: a label on one line, a select as wide as its longest option. */
  function naturalWidth(el) {
    const probe = el.cloneNode(true);
    probe.removeAttribute("id");
    probe.removeAttribute("for");
    Object.assign(probe.style, {
      position: "absolute",
      visibility: "hidden",
      width: "auto",
      whiteSpace: "nowrap",
    });
    el.parentNode.appendChild(probe);
    const width = probe.getBoundingClientRect().width;
    probe.remove();
    return width;
  }
  const canvas = document.createElement("canvas").getContext("2d");

  for (const label of form.querySelectorAll(".form-row > label")) {
    if (!visible(label)) continue;
    const box = label.getBoundingClientRect();
    const needed = naturalWidth(label);
    if (needed > box.width + 1) {
      problems.push(
        `label "${text(label)}" is ${Math.round(box.width)} px wide, its text needs ${Math.round(needed)}`,
      );
    }
    // What follows a label on its row (input, select, button) starts on the label's line, not below it.
    for (let el = label.nextElementSibling; el; el = el.nextElementSibling) {
      const style = getComputedStyle(el);
      if (!visible(el) || (!style.display.startsWith("inline") && style.float === "none")) continue;
      if (el.getBoundingClientRect().top >= box.bottom) {
        problems.push(`${name(el)} wraps below its label "${text(label)}"`);
      }
    }
  }
  for (const select of form.querySelectorAll("select")) {
    if (!visible(select)) continue;
    const width = select.getBoundingClientRect().width;
    const needed = naturalWidth(select);
    if (needed > width + 1) {
      problems.push(
        `select ${name(select)} is ${Math.round(width)} px wide, its longest option needs ${Math.round(needed)}`,
      );
    }
  }
  for (const input of form.querySelectorAll("input[placeholder], textarea[placeholder]")) {
    if (!visible(input) || input.placeholder === "") continue;
    const style = getComputedStyle(input);
    canvas.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const needed = canvas.measureText(input.placeholder).width;
    if (needed > room + 1) {
      problems.push(
        `${name(input)} is ${Math.round(room)} px inside, its placeholder needs ${Math.round(needed)}`,
      );
    }
  }
  const boxes =
    "input:not([type=checkbox]):not([type=radio]), textarea, button, .red-ui-typedInput-container, .form-tips, .form-row";
  for (const el of form.querySelectorAll(boxes)) {
    if (!visible(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1)
      problems.push(`${name(el)} clips its content: ${el.scrollWidth} > ${el.clientWidth} px`);
    if (el.tagName === "TEXTAREA" && el.scrollHeight > el.clientHeight + 1)
      problems.push(`${name(el)} hides lines`);
    const right = el.getBoundingClientRect().right;
    if (right > formBox.right + 1)
      problems.push(`${name(el)} sticks out of the dialog: ${Math.round(right - formBox.right)} px`);
  }
  return problems;
}

/**
 * The nodes of the active flow that the workspace does not show whole at the editor's default zoom (each node's
 * group: its label, ports, buttons and status), as `name left..right` in page pixels. Runs in the editor page.
 */
function flowCutOff() {
  const chart = document.getElementById("red-ui-workspace-chart");
  const box = chart.getBoundingClientRect();
  const visible = {
    left: box.left,
    top: box.top,
    right: box.left + chart.clientWidth,
    bottom: box.top + chart.clientHeight,
  };
  const cut = [...chart.querySelectorAll(".red-ui-flow-node-group")]
    .map((group) => ({ node: RED.nodes.node(group.id), box: group.getBoundingClientRect() }))
    .filter(
      ({ box: b }) =>
        b.left < visible.left || b.top < visible.top || b.right > visible.right || b.bottom > visible.bottom,
    )
    .map(
      ({ node, box: b }) => `${node?.name || node?.type} at ${Math.round(b.left)}..${Math.round(b.right)} px`,
    );
  return {
    scale: RED.view.scale(),
    nodes: chart.querySelectorAll(".red-ui-flow-node-group").length,
    cut,
    visible: `${Math.round(visible.left)}..${Math.round(visible.right)} px`,
  };
}

/** The editor window in which every example must fit beside the sidebar, as the demo does. */
const EXAMPLE_WINDOW = { width: 1600, height: 1000 };

describe("editor: the package in the Node-RED editor (Chromium)", function () {
  this.timeout(60_000);

  let tmp;
  let red;
  let browser;
  let page;
  let types;
  let configTypes;
  let nodeTypes;
  const browserErrors = [];
  const offLoopback = [];

  /** Runtime `[error]` lines: every one fails the run. */
  const runtimeErrors = () => (red ? red.lines.filter((line) => /\[error\]/.test(line)) : []);

  async function waitForEditor() {
    await page.waitForFunction(
      (type) =>
        window.RED &&
        RED.nodes &&
        RED.nodes.getType(type) &&
        RED.workspaces.active() &&
        document.querySelectorAll(".red-ui-palette-node[data-palette-type]").length > 0 &&
        !$("#red-ui-loading-progress").is(":visible"),
      "clarus-webhook-in",
      { timeout: 30_000 },
    );
  }

  /** Drags `type` from the palette onto the workspace, as a user adds a node; resolves with the new node's id. */
  async function dragFromPalette(type, x, y) {
    const before = await page.evaluate((t) => RED.nodes.filterNodes({ type: t }).map((n) => n.id), type);
    const paletteNode = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
    await paletteNode.scrollIntoViewIfNeeded();
    const from = await paletteNode.boundingBox();
    const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(from.x + from.width / 2 + 40, from.y + from.height / 2, { steps: 4 });
    await page.mouse.move(chart.x + x, chart.y + y, { steps: 8 });
    await page.mouse.up();
    const handle = await page.waitForFunction(
      ({ t, known }) => RED.nodes.filterNodes({ type: t }).find((n) => !known.includes(n.id))?.id,
      { t: type, known: before },
    );
    return handle.jsonValue();
  }

  /** Puts a `type` node with its editor defaults on the workspace, as the palette would; resolves with its id. */
  function addNodeWithDefaults(type, x, y) {
    return page.evaluate(
      ({ nodeType, at }) => {
        const defaults = RED.nodes.getType(nodeType).defaults;
        const node = { id: RED.nodes.id(), type: nodeType, x: at.x, y: at.y, z: RED.workspaces.active() };
        for (const [property, spec] of Object.entries(defaults)) node[property] = spec.value;
        RED.view.importNodes([node], { generateIds: false, addFlow: false, touchImport: true });
        return node.id;
      },
      { nodeType: type, at: { x, y } },
    );
  }

  /** The open dialog's layout problems (dialogLayoutProblems), each prefixed with `what`. */
  async function layoutProblems(what, formSelector = "#dialog-form") {
    const problems = await page.evaluate(dialogLayoutProblems, formSelector);
    return problems.map((problem) => `${what}: ${problem}`);
  }

  /**
   * Waits until the top tray has slid in. Its buttons count as visible while it is still off to the right,
   * and a click then can miss them (a Cancel that never closed the dialog, once, in CI).
   */
  async function trayInPlace() {
    await page.waitForFunction(() => {
      const tray = $("#red-ui-editor-stack > .red-ui-tray").last()[0];
      return tray !== undefined && getComputedStyle(tray).right === "0px";
    });
  }

  async function openEditDialog(id) {
    await page.evaluate((nodeId) => RED.editor.edit(RED.nodes.node(nodeId)), id);
    await page.waitForSelector("#node-dialog-ok", { state: "visible" });
    await page.waitForFunction(() => RED.view.state() === RED.state.EDITING);
    await trayInPlace();
  }

  /** Opens a connection's dialog ("_ADD_" for a new one) and waits until it has slid in. */
  async function openConnectionDialog(configId) {
    await page.evaluate((id) => RED.editor.editConfig("", "clarus-connection", id), configId);
    await page.waitForSelector("#node-config-input-subdomain", { state: "visible" });
    await trayInPlace();
  }

  async function closeEditDialog(button = "#node-dialog-cancel") {
    await page.click(button);
    await page.waitForSelector("#node-dialog-ok", { state: "detached" });
  }

  /**
   * What the open dialog renders: for each default property whether its input exists (by the prefix's id, or
   * the element the editor uses instead), and any label, placeholder or text still showing a catalog key.
   */
  function inspectDialog(type, prefix) {
    return page.evaluate(
      ({ nodeType, inputPrefix, keyPattern }) => {
        const CATALOG_KEY = new RegExp(keyPattern);
        const substitutes = {
          events: "#node-input-clarus-events",
          register: "#node-input-clarus-register",
          query: "#node-input-query-editor",
          automations: "#node-config-input-automation-list",
          subtypes: "#node-input-subtype-list",
          rules: "#node-input-rule-list",
        };
        const def = RED.nodes.getType(nodeType);
        const form = $(
          inputPrefix === "node-config-input" ? "#node-config-dialog-edit-form" : "#dialog-form",
        );
        // `version` is the config version, kept by the editor and the runtime, never typed.
        const missing = Object.keys(def.defaults).filter(
          (prop) =>
            prop !== "version" &&
            $(`#${inputPrefix}-${prop}`).length === 0 &&
            $(substitutes[prop] || "#none").length === 0,
        );
        const credentials = Object.entries(def.credentials || {}).map(([prop, cred]) => ({
          prop,
          type: cred.type,
          inputType: $(`#${inputPrefix}-${prop}`).attr("type"),
        }));
        const texts = [];
        form.find("label, .form-tips, button, option, span").each(function () {
          texts.push($(this).text().trim());
        });
        form.find("input[placeholder], textarea[placeholder]").each(function () {
          texts.push($(this).attr("placeholder"));
        });
        const untranslated = texts.filter((text) => CATALOG_KEY.test(text));
        const labels = form
          .find(".form-row > label")
          .map(function () {
            return $(this).text().trim();
          })
          .get();
        // The event lists offered (webhook in, poll, connection), without their "none of these" entries.
        const eventChoices = form
          .find("select#node-input-event option, datalist option")
          .map(function () {
            return this.value;
          })
          .get()
          .filter((value) => value !== "" && value !== "auto" && value !== "unknown")
          .sort();
        return { missing, credentials, untranslated, labels, eventChoices };
      },
      { nodeType: type, inputPrefix: prefix, keyPattern: CATALOG_KEY.source },
    );
  }

  /** Clicks Deploy and waits until the runtime has started the new flows and the editor has no changes left. */
  async function deployFromEditor() {
    const since = red.lines.length;
    await page.click("#red-ui-header-button-deploy");
    // Either the deploy goes through, or the editor asks to confirm deploying unknown or unconfigured nodes.
    const outcome = await page.waitForFunction(() => {
      if ($("#red-ui-deploy-dialog-confirm-deploy-deploy").is(":visible")) {
        return {
          confirm: $("#red-ui-deploy-dialog-confirm-deploy-deploy").closest(".red-ui-notification").text(),
        };
      }
      return !RED.nodes.dirty() && { deployed: true };
    });
    const result = await outcome.jsonValue();
    assert.ok(result.deployed, `the editor asked to confirm the deploy: ${result.confirm}`);
    await red.waitForLine(/\bStarted (modified )?(flows|nodes)\b/, { since });
    return since;
  }

  async function importAndDeploy(flow) {
    assert.ok(Array.isArray(flow), "not a flow array");

    // A clean runtime and editor for each example, so examples cannot collide with one another.
    await deployFlows(red, []);
    await page.evaluate(() => RED.nodes.dirty(false));
    await page.reload();
    await waitForEditor();

    await page.click("#red-ui-header-button-sidemenu");
    await page.click("#menu-item-import");
    await page.waitForSelector("#red-ui-clipboard-dialog-import-text", { state: "visible" });
    await page.fill("#red-ui-clipboard-dialog-import-text", JSON.stringify(flow, null, 2));
    // The dialog checks the text on keyup (as when typing or pasting) before it enables Import.
    await page.press("#red-ui-clipboard-dialog-import-text", "End");
    await page.waitForFunction(() => {
      const button = $("#red-ui-clipboard-dialog-ok");
      return !button.prop("disabled") && !button.hasClass("ui-state-disabled");
    });
    await page.click("#red-ui-clipboard-dialog-ok");
    await page.waitForSelector("#red-ui-clipboard-dialog-import-text", { state: "hidden" });
    // Imported nodes hang on the mouse until a click places them.
    if (await page.evaluate(() => RED.view.state() === RED.state.IMPORT_DRAGGING)) {
      const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
      await page.mouse.move(chart.x + 200, chart.y + 200, { steps: 4 });
      await page.mouse.click(chart.x + 200, chart.y + 200);
      await page.waitForFunction(() => RED.view.state() === RED.state.DEFAULT);
    }

    const imported = await page.evaluate(() => {
      const nodes = [];
      RED.nodes.eachNode((n) => nodes.push(n));
      RED.nodes.eachConfig((n) => nodes.push(n));
      return nodes.map((n) => ({
        id: n.id,
        // The editor imports a type it does not know as "unknown", named after the missing type.
        type: n.type === "unknown" ? n.name : n.type,
        known: n.type !== "unknown" && !!RED.nodes.getType(n.type),
        valid: n.valid !== false,
        errors: n.validationErrors || [],
      }));
    });
    const expected = flow.filter((n) => n.type !== "tab" && n.type !== "group" && n.type !== "subflow");
    assert.ok(imported.length >= expected.length, `imported ${imported.length} of ${expected.length} nodes`);
    assert.deepEqual(
      imported.filter((n) => !n.known).map((n) => n.type),
      [],
      "unknown node types",
    );
    assert.deepEqual(
      imported.filter((n) => !n.valid).map((n) => `${n.type} ${n.id}: ${n.errors.join(", ")}`),
      [],
      "nodes the editor flags as not properly configured",
    );

    const since = await deployFromEditor();
    const log = red.lines.slice(since);
    assert.deepEqual(
      log.filter((line) => /Waiting for missing types|\[error\]/.test(line)),
      [],
      "deploy log",
    );

    // The example's tab, as deployed (the statuses under the nodes take room too), at the default zoom.
    const tab = flow.find((n) => n.type === "tab");
    if (tab) {
      await page.evaluate((id) => RED.workspaces.show(id), tab.id);
      await page.waitForFunction(
        (count) =>
          document.querySelectorAll("#red-ui-workspace-chart .red-ui-flow-node-group").length === count,
        flow.filter((n) => n.z === tab.id && n.type !== "group").length,
      );
      const fit = await page.evaluate(flowCutOff);
      assert.equal(fit.scale, 1, "the editor is not at its default zoom");
      assert.deepEqual(
        fit.cut,
        [],
        `cut off in a ${EXAMPLE_WINDOW.width}x${EXAMPLE_WINDOW.height} editor (workspace ${fit.visible})`,
      );
    }
  }

  before(async function () {
    this.timeout(90_000);
    assert.ok(
      fs.existsSync(path.join(REPO_ROOT, "build", "nodes", "clarus-webhook-in.html")),
      "build/ is missing: run `npm run build` first (npm test does)",
    );
    types = packageNodeTypes();

    tmp = makeTempDir("clarus-editor-");
    const userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-editor-test" });
    const port = await freePort();
    writeSettings({ userDir, port, extra: EDITOR_SETTINGS });
    red = await startNodeRed({ userDir, port });

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: red.baseUrl });
    // Nothing leaves the machine: any request off the loopback is refused and recorded.
    await keepOnLoopback(context, (href) => offLoopback.push(href));
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("console", (message) => {
      // The editor catches what a node's editor code throws and only logs it (console.log/warn), so those count too.
      if (message.type() === "error" || EDITOR_CAUGHT.test(message.text())) {
        browserErrors.push(`console.${message.type()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => browserErrors.push(`pageerror: ${error.stack || error.message}`));
    page.on("dialog", (dialog) => {
      // A reload with undeployed changes asks first; nothing else should open a browser dialog.
      browserErrors.push(`unexpected ${dialog.type()} dialog: ${dialog.message()}`);
      return dialog.type() === "beforeunload" ? dialog.accept() : dialog.dismiss();
    });
    await page.goto(red.baseUrl + "/");
    await waitForEditor();
    const categories = await page.evaluate(
      (all) => Object.fromEntries(all.map((type) => [type, RED.nodes.getType(type)?.category])),
      types,
    );
    configTypes = types.filter((type) => categories[type] === "config");
    nodeTypes = types.filter((type) => categories[type] !== "config");
  });

  after(async function () {
    if (browser) await browser.close();
    if (red) await red.kill();
    removeDir(tmp);
  });

  it("should register every node type of package.json's node-red.nodes in the editor", async function () {
    assert.ok(types.length >= 2, `no node types found in package.json: ${types}`);
    const registered = await page.evaluate((all) => all.filter((type) => RED.nodes.getType(type)), types);
    assert.deepEqual(registered, types);
    assert.ok(configTypes.includes("clarus-connection"), "clarus-connection is not a config node");
  });

  it(`should list every non-config node in the "${CATEGORY}" palette category`, async function () {
    const palette = await page.evaluate((category) => {
      const section = [...document.querySelectorAll(".red-ui-palette-category")].find(
        (element) => element.querySelector(".red-ui-palette-header")?.textContent.trim() === category,
      );
      if (!section) return undefined;
      return [...section.querySelectorAll(".red-ui-palette-node[data-palette-type]")].map((node) => ({
        type: node.getAttribute("data-palette-type"),
        label: node.querySelector(".red-ui-palette-label")?.textContent.trim(),
      }));
    }, CATEGORY);
    assert.ok(palette, `no "${CATEGORY}" palette category`);
    assert.deepEqual(palette.map((node) => node.type).sort(), [...nodeTypes].sort());
    for (const node of palette) {
      assert.ok(node.label && !CATALOG_KEY.test(node.label), `${node.type} has palette label ${node.label}`);
    }
    const help = await page.evaluate(
      (all) =>
        all.filter(
          (type) =>
            !/\S/.test(
              $(RED.nodes.getNodeHelp(type) || "")
                .first()
                .text(),
            ),
        ),
      types,
    );
    assert.deepEqual(help, [], "node types without help text");
  });

  it("should add every node from the palette and open its edit dialog with all its fields", async function () {
    let y = 60;
    for (const type of nodeTypes) {
      const id = await dragFromPalette(type, 300, y);
      y += 60;
      const def = await page.evaluate((t) => {
        const d = RED.nodes.getType(t);
        return Object.entries(d.defaults)
          .filter(([, spec]) => spec.type && spec.required)
          .map(([prop]) => prop);
      }, type);
      const node = await page.evaluate((nodeId) => {
        const n = RED.nodes.node(nodeId);
        const setting = n.type.replace(/-([a-z])/g, (_m, letter) => letter.toUpperCase()) + "Version";
        return {
          valid: n.valid,
          errors: n.validationErrors || [],
          label: RED.utils.getNodeLabel(n),
          version: n.version,
          current: RED.settings[setting],
        };
      }, id);
      assert.equal(typeof node.current, "number", `${type}: the runtime exports its config version`);
      assert.equal(node.version, node.current, `${type}: a new node starts at the current config version`);
      // A fresh node is complete but for the config node it needs: no validator rejects a default.
      assert.deepEqual(node.errors, def, `${type}: invalid properties on a fresh node`);
      assert.ok(node.label && !CATALOG_KEY.test(node.label), `${type} is labelled ${node.label}`);

      await openEditDialog(id);
      const dialog = await inspectDialog(type, "node-input");
      assert.deepEqual(dialog.missing, [], `${type}: properties without an input in the dialog`);
      if (dialog.eventChoices.length > 0) {
        assert.deepEqual(dialog.eventChoices, [...KNOWN_EVENTS].sort(), `${type}: the events offered`);
      }
      assert.deepEqual(dialog.untranslated, [], `${type}: catalog keys shown instead of text`);
      assert.ok(
        dialog.labels.every((label) => label.length > 0),
        `${type}: empty labels ${dialog.labels}`,
      );
      await closeEditDialog();
    }
  });

  it("should give a node saved without a config version the current one when its dialog is saved", async function () {
    const id = await page.evaluate(() => {
      // As every flow saved before config versions: no version property.
      const [node] = RED.nodes.import(
        [
          {
            id: "old0stock0hold",
            type: "clarus-stock-hold",
            z: RED.workspaces.active(),
            name: "",
            change: "placed",
            otherOutput: false,
            outputs: 1,
            x: 500,
            y: 500,
            wires: [[]],
          },
        ],
        { generateIds: false },
      ).nodes;
      return node.id;
    });
    assert.equal(await page.evaluate((nodeId) => RED.nodes.node(nodeId).version, id), undefined);
    await openEditDialog(id);
    await closeEditDialog("#node-dialog-ok");
    const saved = await page.evaluate((nodeId) => {
      const n = RED.nodes.node(nodeId);
      return { version: n.version, change: n.change, current: RED.settings.clarusStockHoldVersion };
    }, id);
    assert.equal(typeof saved.current, "number");
    assert.deepEqual([saved.version, saved.change], [saved.current, "placed"]);
    await page.evaluate((nodeId) => {
      RED.nodes.remove(nodeId);
      RED.view.redraw(true);
    }, id);
  });

  it("should fit every label, select, input and button of every dialog at its default width", async function () {
    /** The rows a dialog shows only for some choices, each made visible once (the first state is as opened). */
    const states = {
      "clarus-poll": ["goods_in.completed", "stock.transactions", "custom"].map((stream) => async () => {
        await page.selectOption("#node-input-stream", stream);
        return `stream ${stream}`;
      }),
      "clarus-graphql": [
        async () => {
          await page.check("#node-input-allPages");
          return "all pages";
        },
      ],
      "clarus-alert": [
        async () => {
          // A new row is a silence rule, the one with the most figures: minutes, days, hours.
          await page.click(".node-input-rule-list-row .red-ui-editableList-addButton");
          await page.waitForFunction(() => $(".node-input-clarus-rule-days:visible").length === 1);
          return "a silence rule";
        },
      ],
    };
    const problems = [];
    for (const type of nodeTypes) {
      const id = await addNodeWithDefaults(type, 700, 600);
      await openEditDialog(id);
      problems.push(...(await layoutProblems(type)));
      for (const state of states[type] || []) {
        const what = await state();
        problems.push(...(await layoutProblems(`${type} (${what})`)));
      }
      await closeEditDialog();
      await page.evaluate((nodeId) => {
        RED.nodes.remove(nodeId);
        RED.view.redraw(true);
      }, id);
    }

    await openConnectionDialog("_ADD_");
    const config = "#node-config-dialog-edit-form";
    problems.push(...(await layoutProblems("clarus-connection", config)));
    await page.selectOption("#node-config-input-delivery", "on-confirm");
    await page.selectOption("#node-config-input-store", "redis");
    await page.waitForSelector("#node-config-input-redisUrl", { state: "visible" });
    problems.push(...(await layoutProblems("clarus-connection (on-confirm, Redis)", config)));
    await page.click("#node-config-dialog-cancel");
    await page.waitForSelector("#node-config-input-subdomain", { state: "detached" });

    assert.deepEqual(problems, [], "cut-off text in the dialogs");
  });

  it("should show the webhook URL to paste into Clarus and copy it", async function () {
    const id = await page.evaluate(() => RED.nodes.filterNodes({ type: "clarus-webhook-in" })[0].id);
    await openEditDialog(id);
    const url = page.locator("#node-input-clarus-url");
    const base = red.baseUrl;
    assert.equal(await url.inputValue(), `${base}/clarus/events/<webhook token>`);
    assert.match(await page.textContent("#node-input-clarus-url-tip"), /Webhook URL[\s\S]*<webhook token>/);
    // No connection yet: the dialog says so.
    await page.waitForSelector("#node-input-clarus-warning", { state: "visible" });

    await page.click("#node-input-clarus-copy-url");
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, `${base}/clarus/events/<webhook token>`);

    // The path check answers at once however long the path (the old pattern backtracked for seconds).
    const validation = await page.evaluate((nodeId) => {
      const node = RED.nodes.node(nodeId);
      const started = performance.now();
      const result = node._def.defaults.path.validate.call(node, "/" + "a".repeat(40) + "!", {});
      return { result, ms: performance.now() - started };
    }, id);
    assert.equal(typeof validation.result, "string", "an invalid path is reported with a message");
    assert.ok(validation.ms < 50, `validating a 42-character path took ${validation.ms} ms`);

    await page.fill("#node-input-path", "hooks/acme/");
    assert.equal(await url.inputValue(), `${base}/hooks/acme/<webhook token>`);
    await page.uncheck("#node-input-requireToken");
    assert.equal(await url.inputValue(), `${base}/hooks/acme`);
    await page.selectOption("#node-input-method", "GET");
    assert.match(await page.textContent("#node-input-clarus-url-tip"), /Webhook Method[\s\S]*GET/);
    await closeEditDialog();
    const unchanged = await page.evaluate((nodeId) => {
      const n = RED.nodes.node(nodeId);
      return { path: n.path, method: n.method, requireToken: n.requireToken };
    }, id);
    assert.deepEqual(unchanged, { path: "/clarus/events", method: "POST", requireToken: true });
  });

  it("should add a clarus-connection from the webhook dialog and deploy what the dialogs made", async function () {
    const id = await page.evaluate(() => RED.nodes.filterNodes({ type: "clarus-webhook-in" })[0].id);
    await openEditDialog(id);
    await page.click("#node-input-btn-connection-add");
    await page.waitForSelector("#node-config-input-subdomain", { state: "visible" });
    const dialog = await inspectDialog("clarus-connection", "node-config-input");
    assert.deepEqual(dialog.missing, [], "clarus-connection: properties without an input");
    assert.deepEqual(
      dialog.eventChoices,
      [...KNOWN_EVENTS].sort(),
      "clarus-connection: the events suggested",
    );
    assert.deepEqual(dialog.untranslated, [], "clarus-connection: catalog keys shown instead of text");
    for (const credential of dialog.credentials) {
      const expected = credential.type === "password" ? "password" : "text";
      assert.equal(credential.inputType, expected, `credential ${credential.prop}`);
    }
    assert.equal(await page.inputValue("#node-config-input-apiUrl"), "https://clarus-api.com");
    assert.equal(await page.inputValue("#node-config-input-dedupeHours"), "72");

    await page.fill("#node-config-input-subdomain", "acme");
    await page.click("#node-config-clarus-generate-token");
    const token = await page.inputValue("#node-config-input-webhookToken");
    assert.match(token, /^[0-9a-f]{48}$/);
    await page.click("#node-config-dialog-edit-form .red-ui-editableList-addButton");
    await page.fill(".node-config-clarus-automation-id", "43");
    await page.fill(".node-config-clarus-automation-event", "goods_out.completed");
    await page.click("#node-config-dialog-ok");
    await page.waitForSelector("#node-config-input-subdomain", { state: "detached" });

    // Back in the webhook dialog: the new connection is chosen and has a token, so no warning.
    await page.waitForSelector("#node-input-clarus-warning", { state: "hidden" });
    await closeEditDialog("#node-dialog-ok");

    const saved = await page.evaluate((nodeId) => {
      const hook = RED.nodes.node(nodeId);
      const connection = RED.nodes.node(hook.connection);
      return {
        hookValid: hook.valid,
        connectionType: connection && connection.type,
        subdomain: connection && connection.subdomain,
        automations: connection && connection.automations,
        hasToken: connection && connection.credentials.has_webhookToken,
      };
    }, id);
    assert.deepEqual(saved, {
      hookValid: true,
      connectionType: "clarus-connection",
      subdomain: "acme",
      automations: [{ id: "43", event: "goods_out.completed" }],
      hasToken: true,
    });

    // The config dialog opens on its own too, with what was entered.
    const connectionId = await page.evaluate((nodeId) => RED.nodes.node(nodeId).connection, id);
    await openConnectionDialog(connectionId);
    assert.equal(await page.inputValue("#node-config-input-subdomain"), "acme");
    assert.equal(await page.locator(".node-config-clarus-automation-id").inputValue(), "43");
    await page.click("#node-config-dialog-cancel");
    await page.waitForSelector("#node-config-input-subdomain", { state: "detached" });

    // Nodes still waiting for a connection would stop the deploy; the rest deploy and the webhook answers.
    await page.evaluate(() => {
      const incomplete = RED.nodes.filterNodes({}).filter((n) => n.valid === false);
      incomplete.forEach((n) => RED.nodes.remove(n.id));
      RED.nodes.dirty(true);
      RED.view.redraw(true);
    });
    const since = await deployFromEditor();
    const res = await request({
      port: red.port,
      method: "POST",
      path: `/clarus/events/${token}`,
      headers: CLARUS_HEADERS,
      body: { id: 7, reference: "SO-7", goods_out_status_id: 6 },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), { ok: true });
    assert.ok(!red.lines.slice(since).some((line) => line.includes(token)), "the webhook token was logged");

    // Test connection shows what Clarus sent the webhook node, even before API credentials are entered.
    await openConnectionDialog(connectionId);
    await page.click("#node-config-clarus-test");
    const webhooksLine = '#node-config-clarus-test-result .clarus-test-line[data-step="webhooks"]';
    // The technical steps are behind Details; the plain summary above them says what works.
    await page.waitForSelector(webhooksLine, { state: "attached" });
    assert.equal(await page.getAttribute(webhooksLine, "data-ok"), "true");
    assert.match(
      await page.textContent(".clarus-test-summary"),
      /The last webhook from Clarus was accepted\.[\s\S]*There are no API credentials\./,
    );
    const seen = "Domain https://acme.claruswms.co.uk, API-Domain https://clarus-api.com, Subdomain acme";
    const text = await page.textContent(webhooksLine);
    assert.ok(text.startsWith(`Webhooks: accepted what Clarus sent (${seen})`), text);
    assert.match(text, new RegExp(`: ${seen.replace(/[.]/g, "\\.")} \\(\\d{4}-[^)]*, accepted\\)$`));
    await page.click("#node-config-dialog-cancel");
    await page.waitForSelector("#node-config-input-subdomain", { state: "detached" });
  });

  it("should show the poll's subtype guesses for stock transactions and save an edited map", async function () {
    // A fresh poll node with its editor defaults (the one the palette test added was removed before a deploy).
    const id = await addNodeWithDefaults("clarus-poll", 600, 500);
    await openEditDialog(id);
    await page.waitForSelector(".node-input-subtypes-row", { state: "hidden" });
    await page.selectOption("#node-input-stream", "stock.transactions");
    await page.waitForSelector("#node-input-subtype-list", { state: "visible" });
    const rows = () =>
      page.evaluate(() =>
        $("#node-input-subtype-list")
          .editableList("items")
          .map(function () {
            return `${$(this).find(".node-input-clarus-subtype-code").val()}=${$(this).find(".node-input-clarus-subtype-event").val()}`;
          })
          .get(),
      );
    await page.waitForFunction(() => $("#node-input-subtype-list").editableList("items").length === 4);
    assert.deepEqual(await rows(), [
      "ADJUP=stock.positively_adjusted",
      "ADJDOWN=stock.negatively_adjusted",
      "HOLD=stock.placed_on_hold",
      "OFFHOLD=stock.released_from_hold",
    ]);
    // Every row shows: the list grows with them instead of scrolling.
    const list = await page.evaluate(() => {
      const container = $("#node-input-subtype-list").closest(".red-ui-editableList-container")[0];
      return { scrollHeight: container.scrollHeight, clientHeight: container.clientHeight };
    });
    assert.ok(
      list.scrollHeight <= list.clientHeight + 1,
      `the subtype list scrolls: ${JSON.stringify(list)}`,
    );
    // Saved unchanged, the node keeps following the built-in guesses.
    await closeEditDialog("#node-dialog-ok");
    assert.equal(await page.evaluate((nodeId) => RED.nodes.node(nodeId).subtypes, id), null);

    await openEditDialog(id);
    await page.waitForFunction(() => $("#node-input-subtype-list").editableList("items").length === 4);
    await page.fill(".node-input-clarus-subtype-code >> nth=0", "adjplus");
    await closeEditDialog("#node-dialog-ok");
    const saved = await page.evaluate((nodeId) => {
      const n = RED.nodes.node(nodeId);
      return { subtypes: n.subtypes, valid: n.valid !== false || n.validationErrors.join() === "connection" };
    }, id);
    assert.deepEqual(saved.subtypes, {
      ADJPLUS: "stock.positively_adjusted",
      ADJDOWN: "stock.negatively_adjusted",
      HOLD: "stock.placed_on_hold",
      OFFHOLD: "stock.released_from_hold",
    });
    assert.ok(saved.valid);
    await openEditDialog(id);
    await page.waitForFunction(() => $("#node-input-subtype-list").editableList("items").length === 4);
    assert.equal(await page.inputValue(".node-input-clarus-subtype-code >> nth=0"), "ADJPLUS");
    await closeEditDialog();
  });

  it("should test a connection from its dialog, before and after deploy, naming the cause of a failure", async function () {
    const sim = await startSimulator({ history: 0, schema: "documented" });
    const automation = sim.addAutomation({ event: "goods_out.completed", url: "http://127.0.0.1:9/x" });
    const wrongSecret = "wrong-secret-5a4b3c";
    /** Clicks Test connection and resolves with the report's lines (behind Details), as `step ok label: text`. */
    async function testConnection() {
      await page.evaluate(() => $("#node-config-clarus-test-result").empty());
      await page.click("#node-config-clarus-test");
      await page.waitForSelector("#node-config-clarus-test-result .clarus-test-line", { state: "attached" });
      return page.evaluate(() =>
        $("#node-config-clarus-test-result .clarus-test-line")
          .map(function () {
            return `${$(this).attr("data-step")} ${$(this).attr("data-ok")} ${$(this).text().trim()}`;
          })
          .get(),
      );
    }
    /** The plain summary as shown: its headline, what works, each problem with what to do, and Details' state. */
    function summaryShown() {
      return page.evaluate(() => {
        const texts = (selector) =>
          $(selector)
            .map(function () {
              return this.innerText.trim().replace(/\s+/g, " ");
            })
            .get();
        return {
          headline: texts(".clarus-test-headline")[0],
          works: texts(".clarus-test-works"),
          problems: texts(".clarus-test-problem"),
          // A closed <details> hides its content without display: none, so jQuery's :visible cannot tell.
          detailsShown: [...document.querySelectorAll(".clarus-test-line")].some((line) =>
            line.checkVisibility(),
          ),
        };
      });
    }
    try {
      await openConnectionDialog("_ADD_");
      await page.fill("#node-config-input-subdomain", sim.subdomain);
      await page.fill("#node-config-input-apiUrl", sim.url);
      await page.fill("#node-config-input-clientId", sim.clientId);
      await page.fill("#node-config-input-clientSecret", wrongSecret);
      assert.deepEqual(await testConnection(), [
        "token false Token: wrong client ID or secret: Clarus refused the client credentials " +
          "(HTTP 401: invalid_client: client authentication failed)",
      ]);
      assert.ok(!(await page.textContent("#node-config-clarus-test-result")).includes(wrongSecret));
      // In plain words first: what does not work and what to do; the lines above only behind Details.
      assert.deepEqual(await summaryShown(), {
        headline: "Not working yet: Node-RED cannot use the Clarus API with these settings.",
        works: [],
        problems: [
          "Clarus refuses the client ID and secret. What to do: Check both for typing errors and spaces; " +
            "if they are right, ask Clarus support.",
        ],
        detailsShown: false,
      });

      await page.fill("#node-config-input-clientSecret", sim.clientSecret);
      const lines = await testConnection();
      assert.deepEqual(lines.slice(0, 2), [
        "token true Token: token obtained",
        "subdomain true Subdomain: acme accepted",
      ]);
      assert.match(lines[2], /^schema true Schema: read by introspection \(\d+ types\)$/);
      assert.match(
        lines[3],
        /^stream true goods_out\.completed: ready: reads goods_outs in goods_out_status_code COMPLETED/,
      );
      assert.match(
        lines[4],
        /^stream true goods_in\.completed: ready: reads goods_in_receipts in status completed/,
      );
      assert.match(
        lines[5],
        /^stream true stock\.transactions: ready: reads transactions created since the watermark/,
      );
      assert.equal(lines[6], `automations true Automations: 1 found: ${automation} → goods_out.completed`);
      assert.deepEqual(await summaryShown(), {
        headline: "It works: Node-RED can reach your Clarus tenant with these settings.",
        works: [
          "Clarus accepts the client ID and secret.",
          "The tenant answers (acme).",
          "Its warehouse data can be read.",
          "A poll node can read orders dispatched, goods-in completed and stock adjustments and holds.",
          "1 automation found in Clarus.",
        ],
        problems: [],
        detailsShown: false,
      });
      assert.deepEqual(
        await layoutProblems("Test connection", "#node-config-dialog-edit-form"),
        [],
        "cut-off text with the summary shown",
      );
      await page.click(".clarus-test-details > summary");
      await page.waitForSelector('.clarus-test-line[data-step="automations"]', { state: "visible" });
      assert.deepEqual(
        await layoutProblems("Test connection", "#node-config-dialog-edit-form"),
        [],
        "cut-off text with the details shown",
      );
      await page.click("#node-config-dialog-ok");
      await page.waitForSelector("#node-config-input-subdomain", { state: "detached" });

      // Deployed, the secret comes back as a placeholder; the runtime uses the stored one.
      await page.evaluate(() => {
        RED.nodes
          .filterNodes({})
          .filter((n) => n.valid === false)
          .forEach((n) => RED.nodes.remove(n.id));
        RED.nodes.dirty(true);
      });
      await deployFromEditor();
      const id = await page.evaluate((url) => {
        let found;
        RED.nodes.eachConfig((n) => {
          if (n.type === "clarus-connection" && n.apiUrl === url) found = n.id;
        });
        return found;
      }, sim.url);
      await openConnectionDialog(id);
      assert.equal(await page.inputValue("#node-config-input-clientSecret"), "__PWRD__");
      const deployed = await testConnection();
      assert.equal(deployed[0], "token true Token: token obtained");
      assert.equal(deployed.length, 7);
      await page.click("#node-config-dialog-cancel");
      await page.waitForSelector("#node-config-input-subdomain", { state: "detached" });
      assert.ok(!red.lines.some((line) => line.includes(sim.clientSecret) || line.includes(wrongSecret)));
    } finally {
      await sim.stop();
    }
  });

  it("should show the Redis fields only for a Redis store and keep the Redis URL a credential", async function () {
    // Config nodes are not in filterNodes: the one the webhook node uses (made by the test above).
    const connectionId = await page.evaluate(
      () => RED.nodes.filterNodes({ type: "clarus-webhook-in" })[0].connection,
    );
    await openConnectionDialog(connectionId);
    await page.waitForSelector("#node-config-input-store", { state: "visible" });
    assert.equal(await page.inputValue("#node-config-input-store"), "file", "a 0.1 connection is on files");
    await page.waitForSelector("#node-config-input-redisUrl", { state: "hidden" });
    await page.selectOption("#node-config-input-store", "redis");
    await page.waitForSelector("#node-config-input-redisUrl", { state: "visible" });
    assert.equal(await page.getAttribute("#node-config-input-redisPrefix", "placeholder"), "clarus:acme:");
    await page.fill("#node-config-input-redisUrl", "redis://:editor-secret@127.0.0.1:6379/0");
    await page.fill("#node-config-input-redisPrefix", "project-b:");
    await page.click("#node-config-dialog-ok");
    await page.waitForSelector("#node-config-input-store", { state: "detached" });
    const saved = await page.evaluate((configId) => {
      const connection = RED.nodes.node(configId);
      return {
        store: connection.store,
        redisPrefix: connection.redisPrefix,
        property: connection.redisUrl,
        credential: connection.credentials.redisUrl,
      };
    }, connectionId);
    assert.deepEqual(saved, {
      store: "redis",
      redisPrefix: "project-b:",
      property: undefined,
      credential: "redis://:editor-secret@127.0.0.1:6379/0",
    });
  });

  it("should import every example through Menu → Import and deploy it without errors", async function () {
    const files = exampleFiles();
    assert.ok(files.length > 0, `no example flows in ${path.relative(REPO_ROOT, EXAMPLES_DIR)}/`);
    this.timeout(30_000 + files.length * 20_000);
    // Every example is tried, and every failure reported, even after the first; in the window it must fit.
    const failures = [];
    const viewport = page.viewportSize();
    await page.setViewportSize(EXAMPLE_WINDOW);
    for (const file of files) {
      const name = path.relative(REPO_ROOT, file);
      const errorsBefore = browserErrors.length;
      try {
        assert.ok(file.endsWith(".json"), "not a .json file, so the editor's Examples menu leaves it out");
        await importAndDeploy(JSON.parse(fs.readFileSync(file, "utf8")));
        assert.deepEqual(browserErrors.slice(errorsBefore), [], "browser errors");
      } catch (error) {
        failures.push(`${name}: ${error.message}`);
      }
    }
    await page.setViewportSize(viewport);
    if (failures.length > 0) {
      assert.fail(
        `${failures.length} of ${files.length} examples did not import and deploy cleanly:\n\n${failures.join("\n\n")}`,
      );
    }
  });

  it("should add the examples' connection once when several examples are imported (Import copy)", async function () {
    const files = exampleFiles().filter((file) => file.endsWith(".json"));
    assert.ok(files.length >= 2, "fewer than two examples");
    await deployFlows(red, []);
    await page.evaluate(() => RED.nodes.dirty(false));
    await page.reload();
    await waitForEditor();
    const connections = () =>
      page.evaluate(() => {
        const found = [];
        RED.nodes.eachConfig((n) => n.type === "clarus-connection" && found.push(n.id));
        return found;
      });
    for (const [i, file] of files.entries()) {
      await page.click("#red-ui-header-button-sidemenu");
      await page.click("#menu-item-import");
      await page.waitForSelector("#red-ui-clipboard-dialog-import-text", { state: "visible" });
      await page.fill("#red-ui-clipboard-dialog-import-text", fs.readFileSync(file, "utf8"));
      await page.press("#red-ui-clipboard-dialog-import-text", "End");
      await page.waitForFunction(() => {
        const button = $("#red-ui-clipboard-dialog-ok");
        return !button.prop("disabled") && !button.hasClass("ui-state-disabled");
      });
      await page.click("#red-ui-clipboard-dialog-ok");
      if (i > 0) {
        // The connection is there already: Node-RED asks, and Import copy reuses it (the rest is copied).
        const copy = page.locator(".red-ui-notification button", { hasText: "Import copy" });
        await copy.waitFor({ state: "visible" });
        await copy.click();
      }
      await page.waitForFunction((tabs) => {
        let count = 0;
        RED.nodes.eachWorkspace(() => count++);
        return count >= tabs;
      }, i + 2);
      assert.equal((await connections()).length, 1, `after importing ${path.basename(file)}`);
    }
    const users = await page.evaluate(() => {
      let connection;
      RED.nodes.eachConfig((n) => {
        if (n.type === "clarus-connection") connection = n;
      });
      const using = RED.nodes.filterNodes({}).filter((n) => n.connection !== undefined);
      return {
        name: connection.name,
        users: connection.users.length,
        using: using.length,
        own: using.every((n) => n.connection === connection.id),
      };
    });
    assert.equal(users.name, "Clarus tenant (set me up)");
    assert.ok(users.own, "a node of an example refers to another connection");
    assert.equal(users.users, users.using);
    // Leave the editor as the next test expects it: nothing undeployed.
    await page.evaluate(() => RED.nodes.dirty(false));
    await page.reload();
    await waitForEditor();
  });

  it("should register the node's automations with Register now and list what it did", async function () {
    const sim = await startSimulator({ history: 0, seed: 9 });
    try {
      const token = "editor-registration-token-0123456789";
      await deployFlows(red, [
        { id: "reg-tab", type: "tab", label: "registration" },
        {
          id: "reg-conn",
          type: "clarus-connection",
          subdomain: sim.subdomain,
          domain: sim.domain,
          apiUrl: sim.url,
          publicUrl: red.baseUrl,
          automations: [],
          dedupeHours: 72,
          dedupeCapacity: 1000,
          credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret, webhookToken: token },
        },
        {
          id: "reg-hook",
          type: "clarus-webhook-in",
          z: "reg-tab",
          connection: "reg-conn",
          path: "/clarus/registered",
          method: "POST",
          event: "auto",
          requireToken: true,
          register: [],
          x: 200,
          y: 80,
          wires: [[]],
        },
      ]);
      await page.evaluate(() => RED.nodes.dirty(false));
      await page.reload();
      await waitForEditor();
      await openEditDialog("reg-hook");
      // The events are picked in the dialog; the button then runs what a deploy would, with the dialog's values.
      await page.evaluate(() =>
        $("#node-input-clarus-register").typedInput("value", "goods_out.completed,stock.placed_on_hold"),
      );
      await page.click("#node-input-clarus-register-now");
      await page.waitForSelector(".clarus-register-item", { state: "visible" });
      const shown = await page.locator("#node-input-clarus-register-result").innerText();
      assert.match(shown, /goods_out\.completed: created \(automation \d+\)/);
      assert.match(shown, /stock\.placed_on_hold: created/);
      assert.match(shown, /\/clarus\/registered\/<webhook token>/);
      assert.ok(!shown.includes(token), "the dialog showed the token");
      assert.deepEqual(await layoutProblems("Register now"), [], "cut-off text with the result shown");
      const automations = sim.store.automations.all().map((a) => [a.name, sim.webhookTargets(a.id)[0].url]);
      // Named for the node, its event and this installation's mark (of its public URL and httpNodeRoot).
      const mark = installationOf(red.baseUrl).mark;
      assert.deepEqual(automations, [
        [
          `node-red-clarus reg-hook goods_out.completed @${mark}`,
          `${red.baseUrl}/clarus/registered/${token}`,
        ],
        [
          `node-red-clarus reg-hook stock.placed_on_hold @${mark}`,
          `${red.baseUrl}/clarus/registered/${token}`,
        ],
      ]);

      await page.click("#node-input-clarus-register-now");
      await page.waitForFunction(
        () =>
          $(".clarus-register-item").length === 2 &&
          $(".clarus-register-item[data-outcome=exists]").length === 2,
      );
      // A dialog that lacks what registration needs says why, and nothing reaches Clarus.
      await page.selectOption("#node-input-method", "GET");
      await page.evaluate(() => $("#node-input-clarus-register").typedInput("value", ""));
      await page.click("#node-input-clarus-register-now");
      await page.waitForSelector(".clarus-register-error", { state: "visible" });
      assert.match(await page.textContent(".clarus-register-error"), /at least one event/);
      assert.equal(sim.automationsApi.counts.create, 2);
      await closeEditDialog();
    } finally {
      await sim.stop();
    }
  });

  it("should have logged no browser error, no request off the loopback and no runtime error", function () {
    assert.deepEqual(offLoopback, [], "requests off the loopback");
    assert.deepEqual(browserErrors, [], "browser console errors and page errors");
    assert.deepEqual(runtimeErrors(), [], "runtime [error] lines");
  });
});
