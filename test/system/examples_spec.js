// The importable example flows (examples/*.json): what the flow library and the editor need of them, and each
// one deployed into a real Node-RED (red.js, the package linked into its user directory) against the Clarus
// simulator, where it must start without errors and do what its comment node says.
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const vm = require("node:vm");

const { WebSocket: CommsSocket } = require("ws");

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
const { readNodeDefinitions } = require("../../scripts/scorecard");

const MODULE = "@wmsflow/node-red-clarus";
const EXAMPLES_DIR = path.join(REPO_ROOT, "examples");
const PACKAGE = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8"));
const CLARUS_TYPES = Object.keys(PACKAGE["node-red"].nodes);
const CORE_TYPES = new Set([
  "tab",
  "comment",
  "debug",
  "function",
  "change",
  "switch",
  "http request",
  "template",
  "inject",
]);
const TOKEN = "examples-webhook-token-0123456789abcdef";
/** The one connection every example brings: the same id, so importing several examples adds it once. */
const SHARED_CONNECTION = { id: "c1a7c0c0ffee0001", name: "Clarus tenant (set me up)" };
const HEX_ID = /^[0-9a-f]{16}$/;

/** Every example, in menu order; a file that does not parse fails the first test, not the load. */
function loadExamples() {
  return fs
    .readdirSync(EXAMPLES_DIR)
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(EXAMPLES_DIR, file), "utf8");
      let flow;
      try {
        flow = JSON.parse(text);
      } catch (error) {
        flow = error;
      }
      return { file, name: file.replace(/\.json$/, ""), flow };
    });
}

const EXAMPLES = loadExamples();

function scriptsOf(htmlFile) {
  const html = fs.readFileSync(htmlFile, "utf8");
  return [...html.matchAll(/<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi)].map(
    (m) => m[1],
  );
}

/** The files of this package's resources/ folder that an editor file loads with `<script src>`. */
function resourcesOf(htmlFile) {
  const html = fs.readFileSync(htmlFile, "utf8");
  const prefix = `resources/${MODULE}/`;
  return [...html.matchAll(/<script[^>]*\ssrc=['"]([^'"]+)['"]/gi)].map((m) => {
    assert.ok(m[1].startsWith(prefix), `${htmlFile} loads ${m[1]}, not a file of ${prefix}`);
    return m[1].slice(prefix.length);
  });
}

/** What the stand-in editor has on its canvas: every example imported at once. */
const WORKSPACE = EXAMPLES.flatMap(({ flow }) => (Array.isArray(flow) ? flow : []));

/**
 * A clarus node's editor definition, by running its editor script against a stand-in for the editor's RED:
 * `registerType` records the definition, the validators behave as the editor's (Node-RED 4.1
 * `RED.validators`), and `RED.nodes` answers from WORKSPACE, so each default's `validate` runs the way the
 * editor runs it on import. An editor API the scripts start to use needs a stand-in here too.
 */
function editorDefinition(type) {
  const registered = {};
  const matches = (node, filter) => Object.entries(filter).every(([key, value]) => node[key] === value);
  const RED = {
    nodes: {
      registerType: (name, definition) => (registered[name] = definition),
      filterNodes: (filter) => WORKSPACE.filter((node) => matches(node, filter)),
      node: (id) => WORKSPACE.find((node) => node.id === id) ?? null,
    },
    editor: { getEditStack: () => [] }, // no edit dialog is open
    validators: {
      number: (blankAllowed) => (v) =>
        (blankAllowed && (v === "" || v === undefined)) ||
        (v !== "" && /^NaN$|^[+-]?[0-9]*\.?[0-9]*([eE][-+]?[0-9]+)?$/.test(v)) ||
        !isNaN(v),
      regex: (re) => (v) => re.test(v),
      typedInput: () => () => true,
    },
    _: (key) => key,
    settings: {},
  };
  const $ = () => ({ length: 0, val: () => undefined }); // no edit dialog is open
  const context = vm.createContext({ RED, $ });
  context.window = context;
  const html = path.join(REPO_ROOT, "nodes", `${type}.html`);
  // The package's shared editor code (resources/), loaded by the file's <script src> as the editor does.
  for (const file of resourcesOf(html)) {
    vm.runInContext(fs.readFileSync(path.join(REPO_ROOT, "resources", file), "utf8"), context);
  }
  for (const script of scriptsOf(html)) {
    vm.runInContext(script, context);
  }
  assert.ok(registered[type], `nodes/${type}.html does not register ${type}`);
  return registered[type];
}

/** Why the editor would mark `value` of `property` invalid (its validateNodeProperty), or undefined. */
function editorProblem(definition, node, property) {
  const spec = definition.defaults[property];
  const value = node[property];
  if (spec.required && value === "") return "is required";
  if (typeof spec.validate === "function" && !(spec.required === false && value === "")) {
    // In the editor `this` is the node, with the node set's i18n function and its definition.
    const self = { ...node, _: (key) => key, _def: definition };
    const result = spec.validate.call(self, value, {});
    if (result !== true && (typeof result === "string" || Array.isArray(result) || !result)) {
      return `fails validation (${result})`;
    }
  }
  return undefined;
}

/** Default property names of the core nodes, from the installed Node-RED's own editor files. */
function coreDefaults() {
  const core = path.join(path.dirname(require.resolve("@node-red/nodes/package.json")), "core");
  const defaults = {};
  for (const category of fs.readdirSync(core)) {
    for (const file of fs.readdirSync(path.join(core, category))) {
      if (!file.endsWith(".html") || scriptsOf(path.join(core, category, file)).length === 0) continue;
      for (const [type, definition] of Object.entries(readNodeDefinitions(path.join(core, category, file)))) {
        defaults[type] = definition.defaults;
      }
    }
  }
  return defaults;
}

const isConfig = (node) => node.type === "clarus-connection";
const onCanvas = (node) => node.type !== "tab" && !isConfig(node);

describe("examples/", function () {
  describe("as files", function () {
    it("should hold only .json files, each a non-empty flow array of nodes with an id and a type", function () {
      assert.ok(EXAMPLES.length >= 5, `only ${EXAMPLES.length} examples`);
      for (const { file, flow } of EXAMPLES) {
        assert.match(file, /\.json$/, `examples/${file} is not a .json file`);
        assert.ok(!(flow instanceof Error), `examples/${file} does not parse: ${flow.message}`);
        assert.ok(Array.isArray(flow) && flow.length > 0, `examples/${file} is not a flow array`);
        for (const node of flow) {
          assert.equal(typeof node.id, "string", `examples/${file}: a node without an id`);
          assert.equal(typeof node.type, "string", `examples/${file}: ${node.id} has no type`);
        }
      }
    });

    it("should give every node an id of 16 hex digits that no other node in any example has, but the shared connection", function () {
      const seen = new Map();
      for (const { file, flow } of EXAMPLES) {
        for (const node of flow) {
          assert.match(node.id, HEX_ID, `examples/${file}: id ${node.id}`);
          if (node.id === SHARED_CONNECTION.id) continue;
          assert.ok(!seen.has(node.id), `id ${node.id} is in ${seen.get(node.id)} and ${file}`);
          seen.set(node.id, file);
        }
      }
    });

    it("should wire only to nodes of the same example, within each node's outputs", function () {
      for (const { file, flow } of EXAMPLES) {
        const ids = new Set(flow.map((node) => node.id));
        for (const node of flow.filter(onCanvas)) {
          assert.ok(Array.isArray(node.wires), `examples/${file}: ${node.type} ${node.id} has no wires`);
          if (typeof node.outputs === "number") {
            assert.ok(
              node.wires.length <= node.outputs,
              `examples/${file}: ${node.id} wires more than its outputs`,
            );
          }
          for (const target of node.wires.flat()) {
            assert.ok(ids.has(target), `examples/${file}: ${node.id} is wired to missing node ${target}`);
          }
        }
      }
    });

    it("should put every node on the example's one tab at an x and y, and keep the connection global", function () {
      for (const { file, flow } of EXAMPLES) {
        const tabs = flow.filter((node) => node.type === "tab");
        assert.equal(tabs.length, 1, `examples/${file} has ${tabs.length} tabs`);
        for (const node of flow.filter(onCanvas)) {
          assert.equal(node.z, tabs[0].id, `examples/${file}: ${node.id} is not on the tab`);
          assert.ok(
            Number.isFinite(node.x) && Number.isFinite(node.y),
            `examples/${file}: ${node.id} has no x/y`,
          );
        }
        for (const node of flow.filter(isConfig)) {
          assert.equal(node.z, undefined, `examples/${file}: the connection is not global`);
        }
      }
    });

    it("should use one placeholder connection without credentials, and every clarus node should use it", function () {
      const [first] = EXAMPLES[0].flow.filter(isConfig);
      for (const { file, flow } of EXAMPLES) {
        const connections = flow.filter(isConfig);
        assert.equal(connections.length, 1, `examples/${file} has ${connections.length} connections`);
        const [connection] = connections;
        // The same node, word for word, in every example: importing a second one reuses the first one's.
        assert.deepEqual(
          connection,
          first,
          `examples/${file}: its connection differs from the first example's`,
        );
        assert.equal(connection.id, SHARED_CONNECTION.id, `examples/${file}`);
        assert.equal(connection.name, SHARED_CONNECTION.name, `examples/${file}`);
        assert.equal(connection.subdomain, "your-tenant", `examples/${file}`);
        assert.equal(connection.apiUrl, "https://clarus-api.com", `examples/${file}`);
        for (const node of flow) {
          assert.equal(node.credentials, undefined, `examples/${file}: ${node.id} carries credentials`);
          if ("connection" in node)
            assert.equal(node.connection, connection.id, `examples/${file}: ${node.id}`);
        }
        const text = JSON.stringify(flow);
        for (const secret of ["clientSecret", "accessToken", "webhookToken", "clientId"]) {
          assert.ok(!text.includes(`"${secret}"`), `examples/${file} mentions ${secret} as a property`);
        }
      }
    });

    it("should explain each example with a comment node that has a name and an info text", function () {
      for (const { file, flow } of EXAMPLES) {
        const comments = flow.filter((node) => node.type === "comment");
        assert.ok(comments.length > 0, `examples/${file} has no comment node`);
        for (const comment of comments) {
          assert.ok(comment.name.trim().length > 0, `examples/${file}: a comment without a name`);
          assert.ok(comment.info.trim().length > 200, `examples/${file}: ${comment.name} explains little`);
          assert.match(
            comment.info,
            /Configure/,
            `examples/${file}: ${comment.name} says nothing to configure`,
          );
          if (!comment.name.startsWith("Read me")) continue;
          // How to use a connection set up before, and what an import of a second example asks.
          assert.ok(
            comment.info.includes(`**${SHARED_CONNECTION.name}**`),
            `examples/${file}: ${comment.name} does not name the connection`,
          );
          assert.match(
            comment.info,
            /Already have a connection\?[\s\S]*choose yours[\s\S]*\*\*Import copy\*\*/,
          );
        }
      }
    });

    it("should use every non-config node type of the package somewhere (scorecard N02)", function () {
      const used = new Set(EXAMPLES.flatMap(({ flow }) => flow.map((node) => node.type)));
      const types = CLARUS_TYPES.filter((type) => editorDefinition(type).category !== "config");
      assert.deepEqual(
        types.filter((type) => !used.has(type)),
        [],
      );
    });

    it("should use only clarus nodes and the few core nodes allowed in examples", function () {
      for (const { file, flow } of EXAMPLES) {
        for (const node of flow) {
          assert.ok(
            CLARUS_TYPES.includes(node.type) || CORE_TYPES.has(node.type),
            `examples/${file}: ${node.type} is neither a clarus nor an allowed core node`,
          );
        }
      }
    });

    it("should set every editor default of every clarus node to a value the editor accepts", function () {
      const definitions = Object.fromEntries(CLARUS_TYPES.map((type) => [type, editorDefinition(type)]));
      for (const { file, flow } of EXAMPLES) {
        const byId = new Map(flow.map((node) => [node.id, node]));
        for (const node of flow.filter((n) => CLARUS_TYPES.includes(n.type))) {
          const definition = definitions[node.type];
          for (const property of Object.keys(definition.defaults)) {
            const where = `examples/${file}: ${node.type} ${node.id} ${property}`;
            assert.ok(property in node, `${where} is not set`);
            assert.equal(editorProblem(definition, node, property), undefined, where);
            const configType = definition.defaults[property].type;
            if (configType)
              assert.equal(byId.get(node[property])?.type, configType, `${where} refers to nothing`);
          }
          if ("outputs" in definition.defaults) {
            const extra = node.otherOutput === true || node.duplicatesOutput === true;
            assert.equal(node.outputs, extra ? 2 : 1, `examples/${file}: ${node.id} outputs`);
          }
        }
      }
    });

    it("should set every editor default of every core node (Node-RED's own editor files)", function () {
      const defaults = coreDefaults();
      for (const { file, flow } of EXAMPLES) {
        for (const node of flow.filter((n) => CORE_TYPES.has(n.type) && n.type !== "tab")) {
          assert.ok(defaults[node.type], `no editor definition found for core node ${node.type}`);
          for (const property of defaults[node.type]) {
            assert.ok(property in node, `examples/${file}: ${node.type} ${node.id} ${property} is not set`);
          }
        }
      }
    });

    it("should give each webhook node its own path, across all examples and the demo", function () {
      const { demoFlow } = require(path.join(REPO_ROOT, "build", "dev", "sim", "demo-flow.js"));
      const demo = demoFlow({
        apiUrl: "",
        subdomain: "",
        domain: "",
        automations: [],
        publicUrl: "",
        register: [],
      });
      const paths = new Map();
      for (const node of demo.filter((n) => n.type === "clarus-webhook-in")) {
        paths.set(`${node.method} ${node.path.replace(/\/+$/, "")}`, "the demo (npm start)");
      }
      assert.ok(paths.size > 0, "the demo has no webhook node");
      for (const { file, flow } of EXAMPLES) {
        for (const node of flow.filter((n) => n.type === "clarus-webhook-in")) {
          const key = `${node.method} ${node.path.replace(/^\/?/, "/").replace(/\/+$/, "")}`;
          assert.ok(!paths.has(key), `${key} is used in ${paths.get(key)} and ${file}`);
          paths.set(key, file);
        }
      }
    });
  });

  describe("in a real Node-RED with the Clarus simulator", function () {
    this.timeout(60_000);

    let tmp;
    let red;
    let sim;
    let comms;
    let approvals;
    let broken = false;
    let automationIds = [];

    before(async function () {
      for (const type of CLARUS_TYPES) {
        const entry = path.join(REPO_ROOT, "build", "nodes", `${type}.js`);
        assert.ok(fs.existsSync(entry), "build/ is missing: run `npm run build` first (npm test does)");
      }
      const simulator = path.join(REPO_ROOT, "build", "dev", "sim", "index.js");
      assert.ok(
        fs.existsSync(simulator),
        "build/dev/ is missing: run `npm run build:dev` first (npm test does)",
      );
      const { startSimulator } = require(simulator);
      // The examples' placeholder tenant; the simulator stands in for https://clarus-api.com and its webhooks.
      sim = await startSimulator({ subdomain: "your-tenant", seed: 11, history: 24 });
      approvals = await startApprovalService();
      tmp = makeTempDir("clarus-examples-");
      const userDir = path.join(tmp, "userDir");
      linkPackage(userDir, { name: "clarus-examples" });
      const port = await freePort();
      writeSettings({
        userDir,
        port,
        extra: {
          debugMaxLength: 1_000_000,
          clarus: {
            timeoutMs: 5000,
            retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 50 },
            // The alert example is checked twice a second rather than every 15 s.
            alertCheckSeconds: 0.5,
          },
        },
      });
      red = await startNodeRed({ userDir, port });
      comms = await Comms.connect(port);
    });

    beforeEach(function () {
      if (broken) this.skip();
    });

    afterEach(function () {
      // The tests of one example build on each other; after a failure the rest would only repeat it.
      if (this.currentTest.state === "failed") broken = true;
    });

    after(async function () {
      comms?.close();
      if (red) {
        const status = await red.stop();
        assert.equal(status.code, 0, `Node-RED exited with ${JSON.stringify(status)}:\n${red.tail()}`);
        assert.deepEqual(
          red.lines.filter((line) => /\[error\]/.test(line)),
          [],
          "errors in the Node-RED log",
        );
      }
      await approvals?.close();
      await sim?.stop();
      removeDir(tmp);
    });

    /** The example with the simulator's URL, automations and credentials in its connection (its step 1-2). */
    function configured(example, events, webhookPath, change = () => {}) {
      for (const id of automationIds) sim.removeAutomation(id);
      automationIds = events.map((event) =>
        sim.addAutomation({ event, url: `http://127.0.0.1:${red.port}${webhookPath}/${TOKEN}` }),
      );
      const flow = structuredClone(example.flow);
      const connection = flow.find(isConfig);
      connection.apiUrl = sim.url;
      connection.automations = automationIds.map((id, i) => ({ id: String(id), event: events[i] }));
      connection.credentials = {
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
        webhookToken: TOKEN,
      };
      change(flow);
      return flow;
    }

    /** Deploys and checks the log from the deploy on: no errors, no missing types, no warnings of ours. */
    async function deployCleanly(flow) {
      const since = red.lines.length;
      await deployFlows(red, flow);
      assertCleanLog(since);
      return since;
    }

    function assertCleanLog(since) {
      const lines = red.lines.slice(since);
      assert.deepEqual(
        lines.filter((line) => /\[error\]|Waiting for missing types|\[warn\].*clarus/i.test(line)),
        [],
        red.tail(),
      );
    }

    /**
     * Resolves when every node in `ids` has shown a status matching `pattern` after comms message `since`.
     * A poll run ends with "<time> <n> new, <m> dup"; a status equal to the one shown is not sent again, so
     * the runs awaited here differ in what they find (the first backfill finds new events, the second only
     * duplicates).
     */
    function statusesAfter(since, ids, pattern) {
      return Promise.all(
        ids.map((id) =>
          comms.waitFor(
            (m) => m.topic === `status/${id}` && (pattern.test(m.data.text) || m.data.fill === "red"),
            { since, what: `status ${pattern} of ${id}` },
          ),
        ),
      ).then((messages) => {
        for (const m of messages) assert.notEqual(m.data.fill, "red", `${m.topic}: ${m.data.text}`);
        return messages;
      });
    }

    function node(flow, type, name) {
      const found = flow.find((n) => n.type === type && n.name === name);
      assert.ok(found, `no ${type} named ${name}`);
      return found;
    }

    function example(prefix) {
      const found = EXAMPLES.find((e) => e.file.startsWith(prefix));
      assert.ok(found, `no example ${prefix}`);
      return found;
    }

    function deliverByHand(webhookPath, automationId, body) {
      return request({
        port: red.port,
        method: "POST",
        path: `${webhookPath}/${TOKEN}`,
        headers: {
          "X-ClarusWMS-Domain": sim.domain,
          "X-ClarusWMS-API-Domain": sim.url,
          "X-ClarusWMS-Subdomain": sim.subdomain,
          "X-ClarusWMS-Automation-ID": String(automationId),
        },
        body,
      });
    }

    async function inject(id, props) {
      const body = props ? { __user_inject_props__: props } : undefined;
      const res = await request({ port: red.port, method: "POST", path: `/inject/${id}`, body });
      assert.equal(res.status, 200, `inject ${id}: ${res.status} ${res.text}`);
    }

    /** Generates simulator events of `kinds` and waits until Clarus's deliveries of them are answered 200. */
    async function generate(kinds) {
      const events = kinds.flatMap((kind) => sim.generate(1, [kind]));
      await sim.flush();
      for (const event of events) {
        for (const delivery of sim.sent.filter((d) => d.eventId === event.id && !d.dropped)) {
          assert.equal(delivery.status, 200, `${event.event} ${event.recordId}: ${JSON.stringify(delivery)}`);
        }
      }
      return events;
    }

    const samePayloadId = (id) => (m) => String(m.msg?.payload?.id) === String(id);
    const sameEvent = (event) => (m) => samePayloadId(event.recordId)(m) && m.msg.topic === event.event;

    describe("all of them, imported and not configured yet", function () {
      it("should deploy together, each Clarus node saying in its status what is missing, with no warning", async function () {
        // As the editor imports them one after another (Import copy): the shared connection once.
        const seen = new Set();
        const flows = WORKSPACE.filter((n) => !seen.has(n.id) && seen.add(n.id));
        assert.equal(flows.filter(isConfig).length, 1, "one connection for all the examples");
        const waiting = flows.filter((n) => ["clarus-webhook-in", "clarus-poll"].includes(n.type));
        assert.ok(waiting.length >= 8, `${waiting.length} webhook and poll nodes`);
        const since = comms.messages.length;
        const logSince = red.lines.length;
        await deployFlows(red, flows);
        const statuses = await statusesAfter(
          since,
          waiting.map((n) => n.id),
          /^not configured: no (webhook token|API credentials)$/,
        );
        for (const m of statuses) assert.equal(m.data.fill, "grey", `${m.topic}: ${m.data.text}`);
        // A barrier: a node of a later deploy has started, so everything the first deploy logs is in.
        await deployFlows(red, []);
        const log = red.lines.slice(logSince);
        assert.deepEqual(
          log.filter((line) => /\[warn\]|\[error\]/.test(line)),
          [],
          "warnings or errors in the log",
        );
        const sidebar = comms.messages.slice(since).filter((m) => m.topic === "debug" && m.data.level);
        assert.deepEqual(sidebar, [], "warnings in the debug sidebar");
        // Each says it once: one status per node, not one per retry.
        for (const n of waiting) {
          const shown = comms.messages
            .slice(since)
            .filter((m) => m.topic === `status/${n.id}` && /^not configured/.test(m.data.text ?? ""));
          assert.equal(shown.length, 1, `${n.type} ${n.name}: ${shown.length} statuses`);
        }
      });
    });

    describe("01 - Webhook to event filters", function () {
      const ex = () => example("01 - ");
      const events = [
        "goods_out.completed",
        "goods_in.completed",
        "stock.positively_adjusted",
        "stock.negatively_adjusted",
        "stock.placed_on_hold",
        "stock.released_from_hold",
      ];
      let flow;

      it("should deploy with no errors and no missing types", async function () {
        flow = configured(ex(), [...events, "goods_out.created"], "/clarus/filters");
        await deployCleanly(flow);
      });

      it("should bring each Clarus webhook to the debug node of its event, once", async function () {
        const debugOf = {
          "goods_out.completed": "Sales order dispatched",
          "goods_in.completed": "Goods-in completed",
          "stock.positively_adjusted": "Stock adjusted",
          "stock.negatively_adjusted": "Stock adjusted",
          "stock.placed_on_hold": "Stock hold placed or released",
          "stock.released_from_hold": "Stock hold placed or released",
        };
        const since = comms.messages.length;
        const generated = await generate(events);
        for (const event of generated) {
          const debug = node(flow, "debug", debugOf[event.event]);
          const message = await comms.waitForDebug(debug.id, sameEvent(event), { since });
          assert.equal(message.msg.topic, event.event);
          assert.equal(message.msg.clarus.recordId, String(event.recordId));
        }
        const created = automationIds[events.length];
        const res = await deliverByHand("/clarus/filters", created, { id: 7001, reference: "SO-7001" });
        assert.equal(res.status, 200, res.text);
        const lifecycle = node(flow, "debug", "Order created or cancelled");
        await comms.waitForDebug(lifecycle.id, samePayloadId(7001), { since });
        const unknown = await deliverByHand("/clarus/filters", 987654, { id: 7002, note: "no known shape" });
        assert.equal(unknown.status, 200, unknown.text);
        const unclassified = node(flow, "debug", "Not classified: map the automation");
        const message = await comms.waitForDebug(unclassified.id, samePayloadId(7002), { since });
        assert.equal(message.msg.topic, "unknown");
        assertCleanLog(0);
      });
    });

    describe("02 - Webhook plus poll safety net", function () {
      const ex = () => example("02 - ");
      const events = [
        "goods_out.completed",
        "goods_in.completed",
        "stock.positively_adjusted",
        "stock.negatively_adjusted",
        "stock.placed_on_hold",
        "stock.released_from_hold",
      ];
      let flow;
      let polls;

      it("should deploy with no errors and finish each poll's first run", async function () {
        flow = configured(ex(), events, "/clarus/safety-net");
        polls = flow.filter((n) => n.type === "clarus-poll").map((n) => n.id);
        assert.equal(polls.length, 3);
        const since = comms.messages.length;
        const logSince = await deployCleanly(flow);
        await statusesAfter(since, polls, /\d+ new, \d+ dup/);
        assertCleanLog(logSince);
      });

      it("should recover dropped webhooks with the backfill inject, each event once", async function () {
        sim.setWebhookOptions({ dropRate: 1 });
        const dropped = await generate(events);
        sim.setWebhookOptions({ dropRate: 0 });
        const since = comms.messages.length;
        await inject(node(flow, "inject", "Backfill last 24 h").id);
        await statusesAfter(since, polls, /\d+ new, \d+ dup/);
        const filterDebugs = flow
          .filter((n) => n.type === "debug" && !/Duplicates/.test(n.name))
          .map((n) => n.id);
        for (const event of dropped) {
          const arrivals = await comms.waitForDebug(filterDebugs, sameEvent(event), { since });
          assert.equal(arrivals.msg.clarus.source, "poll");
        }
        // A second backfill finds every one of them again and passes on none.
        const again = comms.messages.length;
        await inject(node(flow, "inject", "Backfill last 24 h").id);
        await statusesAfter(again, polls, /\d+ new, \d+ dup/);
        await barrier(flow, filterDebugs, again, 8001);
        for (const event of dropped) {
          const copies = comms
            .debugSince(since)
            .filter((m) => filterDebugs.includes(m.id) && sameEvent(event)(m));
          assert.equal(
            copies.length,
            1,
            `${event.event} ${event.recordId} reached the filters ${copies.length} times`,
          );
        }
      });

      it("should answer a repeated webhook as a duplicate on the Duplicates output", async function () {
        sim.setWebhookOptions({ repeatRate: 1 });
        const since = comms.messages.length;
        const [event] = await generate(["goods_out.completed"]);
        sim.setWebhookOptions({ repeatRate: 0 });
        const repeats = sim.sent.filter((d) => d.eventId === event.id);
        assert.equal(repeats.length, 2);
        const duplicates = node(flow, "debug", "Duplicates (already delivered)");
        const duplicate = await comms.waitForDebug(duplicates.id, samePayloadId(event.recordId), { since });
        assert.equal(duplicate.msg.clarus.duplicate, true);
        const dispatched = node(flow, "debug", "Sales order dispatched");
        await comms.waitForDebug(dispatched.id, samePayloadId(event.recordId), { since });
        await barrier(flow, [dispatched.id], since, 8002);
        const copies = comms
          .debugSince(since)
          .filter((m) => m.id === dispatched.id && samePayloadId(event.recordId)(m));
        assert.equal(copies.length, 1);
        assertCleanLog(0);
      });

      /** A fresh delivery: once it is out of the filters, everything sent before it is too. */
      async function barrier(flowNodes, debugIds, since, id) {
        const automation = automationIds[0]; // goods_out.completed
        const body = { id, reference: `SO-${id}`, goods_out_status_id: 6, goods_out_type: "sales_order" };
        const res = await deliverByHand("/clarus/safety-net", automation, body);
        assert.equal(res.status, 200, res.text);
        await comms.waitForDebug(debugIds, samePayloadId(id), { since });
      }
    });

    describe("03 - Goods-in completed starts invoice approval", function () {
      const ex = () => example("03 - ");
      let flow;

      it("should deploy with no errors and no missing types", async function () {
        flow = configured(ex(), ["goods_in.completed"], "/clarus/goods-in", (nodes) => {
          const post = nodes.find((n) => n.type === "http request");
          assert.equal(post.url, "https://approvals.example.com/requests");
          post.url = `${approvals.url}/requests`; // the placeholder, replaced as step 2 says
        });
        await deployCleanly(flow);
      });

      it("should POST an approval request for the sample receipt", async function () {
        const since = comms.messages.length;
        await inject(node(flow, "inject", "Sample receipt").id);
        const received = await approvals.next();
        assert.equal(received.method, "POST");
        assert.equal(received.url, "/requests");
        assert.equal(received.headers["content-type"], "application/json");
        assert.equal(received.headers["idempotency-key"], "goods_in.completed:5012");
        assert.deepEqual(received.body, {
          source: "clarus-wms",
          tenant: "your-tenant",
          receiptId: "5012",
          reference: "GRN-5012",
          purchaseOrder: "PO-88123",
          receivedQuantity: 34,
          receivedAt: "2026-11-27T09:40:00Z",
          lines: [
            { productCode: "SKU-1042", expectedQuantity: 24, receivedQuantity: 24 },
            { productCode: "SKU-1043", expectedQuantity: 12, receivedQuantity: 10 },
          ],
        });
        const accepted = await comms.waitForDebug(node(flow, "debug", "Approval requested").id, () => true, {
          since,
        });
        assert.equal(accepted.msg.statusCode, 201);
      });

      it("should request approval for a receipt Clarus completes, and show a refusal", async function () {
        const since = comms.messages.length;
        const [event] = await generate(["goods_in.completed"]);
        const received = await approvals.next();
        const lines = event.body.lines;
        assert.equal(received.body.receiptId, String(event.recordId));
        assert.equal(received.body.reference, event.body.reference);
        assert.equal(
          received.body.receivedQuantity,
          lines.reduce((sum, line) => sum + line.received_quantity, 0),
        );
        assert.equal(received.headers["idempotency-key"], `goods_in.completed:${event.recordId}`);
        approvals.refuseNext();
        await inject(node(flow, "inject", "Sample receipt").id);
        await approvals.next();
        const refused = await comms.waitForDebug(
          node(flow, "debug", "Approval service refused").id,
          () => true,
          {
            since,
          },
        );
        assert.equal(refused.msg.statusCode, 503);
        assertCleanLog(0);
      });
    });

    describe("04 - Stock hold raises an alert", function () {
      const ex = () => example("04 - ");
      let flow;

      it("should deploy with no errors and no missing types", async function () {
        flow = configured(ex(), ["stock.placed_on_hold"], "/clarus/stock-holds");
        await deployCleanly(flow);
      });

      it("should write the alert for the sample hold and for a hold Clarus places", async function () {
        const alert = node(flow, "debug", "Alert: e-mail or Slack here");
        let since = comms.messages.length;
        await inject(node(flow, "inject", "Sample hold").id);
        const sample = await comms.waitForDebug(alert.id, () => true, { since });
        assert.equal(sample.msg.topic, "Stock on hold: 24 x SKU-1042 in MAIN");
        assert.match(sample.msg.payload, /^Stock was placed on hold in Clarus WMS \(your-tenant\)\./);
        assert.match(sample.msg.payload, /Product: +SKU-1042\n/);
        assert.match(sample.msg.payload, /Quantity: +24\n/);
        assert.match(sample.msg.payload, /Warehouse: +MAIN\n/);
        assert.match(sample.msg.payload, /Transaction: +90817\n/);

        since = comms.messages.length;
        const [event] = await generate(["stock.placed_on_hold"]);
        const real = await comms.waitForDebug(
          alert.id,
          (m) => m.msg.clarus.recordId === String(event.recordId),
          {
            since,
          },
        );
        assert.match(real.msg.payload, new RegExp(`Product: +${event.body.product.code}\\n`));
        assert.match(
          real.msg.topic,
          new RegExp(`^Stock on hold: ${event.body.quantity} x ${event.body.product.code}`),
        );
        assertCleanLog(0);
      });
    });

    describe("06 - Alert when webhooks go missing", function () {
      const ex = () => example("06 - ");
      let flow;

      it("should deploy with no errors, its rules holding nothing yet", async function () {
        // Its step 2: a poll on the connection, run here by an inject; and a window of 3 s instead of 60 min.
        flow = configured(ex(), ["goods_in.completed"], "/clarus/alert-webhooks", (nodes) => {
          const tab = nodes.find((n) => n.type === "tab").id;
          // The examples share one connection, and the metrics keep its counters across deploys: 02's backfill
          // found events no webhook delivered a moment ago. A connection of its own starts from nothing.
          const own = nodes.find(isConfig);
          own.id = "a1e7000000000000";
          for (const n of nodes) if (n.connection === SHARED_CONNECTION.id) n.connection = own.id;
          const connection = own.id;
          const alert = nodes.find((n) => n.type === "clarus-alert");
          alert.rules[0].minutes = 0.05;
          nodes.push(
            {
              id: "a1e7000000000001",
              type: "inject",
              z: tab,
              name: "Poll now",
              props: [{ p: "payload" }],
              repeat: "",
              once: false,
              payload: "",
              payloadType: "date",
              x: 150,
              y: 220,
              wires: [["a1e7000000000002"]],
            },
            {
              id: "a1e7000000000002",
              type: "clarus-poll",
              version: 1,
              z: tab,
              name: "Poll goods in",
              connection,
              stream: "goods_in.completed",
              query: "",
              event: "",
              intervalMinutes: 60,
              lookbackMinutes: 10,
              pageSize: 100,
              maxPages: 1000,
              runOnStart: false,
              subtypes: null,
              x: 350,
              y: 220,
              wires: [[]],
            },
          );
        });
        const since = comms.messages.length;
        await deployCleanly(flow);
        await statusesAfter(since, [node(flow, "clarus-alert", "Connection alerts").id], /^ok$/);
      });

      it("should mail once when the poll finds what no webhook delivered, and once when it is over", async function () {
        const mail = node(flow, "debug", "Alert: connect e-mail here");
        const since = comms.messages.length;
        sim.setWebhookOptions({ dropRate: 1 });
        await generate(["goods_in.completed", "goods_in.completed"]);
        sim.setWebhookOptions({ dropRate: 0 });
        await inject("a1e7000000000001");
        const firing = await comms.waitForDebug(mail.id, (m) => /is firing/.test(m.msg.payload), { since });
        // The alert names the connection by its name, here the examples' "Clarus tenant (set me up)".
        const connection = flow.find(isConfig).name.replace(/[()]/g, "\\$&");
        assert.equal(firing.msg.topic, "webhooks-missing");
        assert.match(
          firing.msg.payload,
          new RegExp(
            `^Clarus WMS alert: webhooks-missing is firing on the connection ${connection}\\.\n\n` +
              "The poll found \\d+ events in the last 3 seconds that no webhook delivered \\(alert at 1\\)\\.\n\n" +
              "Since: 20\\d\\d-",
          ),
        );
        const resolved = await comms.waitForDebug(mail.id, (m) => /is resolved/.test(m.msg.payload), {
          since,
        });
        assert.match(resolved.msg.payload, /The poll found 0 events in the last 3 seconds/);
        const mails = comms.debugSince(since).filter((m) => m.id === mail.id);
        assert.deepEqual(
          mails.map((m) => m.msg.payload.split(" on the")[0]),
          ["Clarus WMS alert: webhooks-missing is firing", "Clarus WMS alert: webhooks-missing is resolved"],
        );
        assertCleanLog(0);
      });
    });

    describe("05 - Follow-up GraphQL query", function () {
      const ex = () => example("05 - ");
      let flow;

      it("should deploy with no errors and no missing types", async function () {
        flow = configured(ex(), ["goods_out.completed"], "/clarus/dispatches");
        await deployCleanly(flow);
      });

      it("should fetch the lines of an order Clarus dispatches", async function () {
        const since = comms.messages.length;
        const [event] = await generate(["goods_out.completed"]);
        const debug = node(flow, "debug", "Order with its lines");
        const { msg } = await comms.waitForDebug(debug.id, () => true, { since });
        const [order] = msg.goods_outs.all.edges.map((edge) => edge.node);
        assert.equal(order.id, String(event.recordId));
        assert.equal(order.reference, event.body.reference);
        assert.deepEqual(
          order.lines.map((line) => [line.id, line.dispatch_quantity, line.product.code]),
          event.body.lines.map((line) => [String(line.id), line.dispatch_quantity, line.product.code]),
        );
      });

      it("should list the held stock of every page", async function () {
        await generate(["stock.placed_on_hold", "stock.placed_on_hold", "stock.placed_on_hold"]);
        const held = sim.store.stocks
          .all()
          .filter((stock) => stock.status === "held")
          .map((stock) => String(stock.id));
        assert.ok(held.length >= 3, `${held.length} held`);
        const debug = node(flow, "debug", "Held stock (every page)");
        const listHeld = node(flow, "inject", "List held stock");
        let since = comms.messages.length;
        await inject(listHeld.id);
        const { msg } = await comms.waitForDebug(debug.id, () => true, { since });
        assert.deepEqual(msg.map((stock) => stock.id).sort(), held.sort());
        assert.ok(msg.every((stock) => stock.status === "held" && stock.product.code));
        // The same with one record a page: the node follows pageInfo through every page.
        since = comms.messages.length;
        const requests = sim.requests.graphql;
        await inject(listHeld.id, [{ p: "payload", v: '{"first": 1}', vt: "json" }]);
        const paged = await comms.waitForDebug(debug.id, () => true, { since });
        assert.deepEqual(paged.msg.map((stock) => stock.id).sort(), held.sort());
        assert.ok(sim.requests.graphql - requests >= held.length, "fewer requests than pages");
        assertCleanLog(0);
      });
    });
  });
});

/** The editor's view of a running Node-RED: debug sidebar messages and node statuses, over /comms. */
class Comms extends EventEmitter {
  static async connect(port) {
    const socket = new CommsSocket(`ws://127.0.0.1:${port}/comms`);
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    const comms = new Comms(socket);
    socket.send(JSON.stringify({ subscribe: "debug" }));
    socket.send(JSON.stringify({ subscribe: "status/#" }));
    return comms;
  }

  constructor(socket) {
    super();
    this.socket = socket;
    this.messages = [];
    socket.on("message", (data) => {
      for (const message of [].concat(JSON.parse(String(data)))) {
        if (message.topic === "debug") message.data.msg = decodeDebug(message.data);
        this.messages.push(message);
        this.emit("message", message, this.messages.length - 1);
      }
    });
  }

  close() {
    this.socket.close();
  }

  /** Debug sidebar entries from message index `since` on: `{id, name, msg}` with `msg` decoded. */
  debugSince(since) {
    return this.messages
      .slice(since)
      .filter((m) => m.topic === "debug" && m.data.level === undefined)
      .map((m) => m.data);
  }

  /** Resolves with the first message at index >= `since` that `test` accepts. */
  waitFor(test, { since = 0, timeoutMs = 20_000, what = "a comms message" } = {}) {
    const found = this.messages.slice(since).find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onMessage = (message, index) => {
        if (index < since || !test(message)) return;
        clearTimeout(timer);
        this.off("message", onMessage);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.off("message", onMessage);
        const recent = this.messages.slice(Math.max(since, this.messages.length - 10));
        reject(
          new Error(`no ${what} within ${timeoutMs} ms; last messages:\n${JSON.stringify(recent, null, 1)}`),
        );
      }, timeoutMs);
      this.on("message", onMessage);
    });
  }

  /** The first debug entry of the debug node(s) `ids` (at index >= `since`) that `test` accepts. */
  async waitForDebug(ids, test, { since = 0, timeoutMs } = {}) {
    const wanted = [].concat(ids);
    const message = await this.waitFor(
      (m) => m.topic === "debug" && m.data.level === undefined && wanted.includes(m.data.id) && test(m.data),
      { since, timeoutMs, what: `debug message of ${wanted.join(", ")}` },
    );
    return message.data;
  }
}

/** The debug node's encoding (RED.util.encodeObject) undone: strings stay strings, the rest is JSON. */
function decodeDebug(data) {
  if (typeof data.format === "string" && data.format.startsWith("string")) return data.msg;
  if (data.format === "undefined") return undefined;
  try {
    return JSON.parse(data.msg);
  } catch {
    return data.msg;
  }
}

/** A stand-in for the approval system of example 03: records each request, answers 201 (or 503 once). */
async function startApprovalService() {
  const received = [];
  const waiting = [];
  let refuse = false;
  let count = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const entry = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      const status = refuse ? 503 : 201;
      refuse = false;
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(status === 201 ? { id: `APR-${++count}` } : { error: "unavailable" }));
      const waiter = waiting.shift();
      if (waiter) waiter(entry);
      else received.push(entry);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** The next request, already received or still to come. */
    next: () =>
      received.length > 0 ? Promise.resolve(received.shift()) : new Promise((r) => waiting.push(r)),
    refuseNext: () => (refuse = true),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
