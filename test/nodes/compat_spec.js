// A flow saved by 0.1 keeps working unchanged: every property added since has a default that means what 0.1
// did. The flow is test/fixtures/flows/version-1.json: 0.1's examples 01, 02 and 05 as 0.1 exported them (its
// connection, webhook-in, the five filter nodes, three polls and a graphql node; debug nodes left out), which
// is config version 1 (no `version` property). Only what a user sets after an import changes here: the
// tenant's subdomain and API URL, and the credentials.
const assert = require("node:assert/strict");
const http = require("node:http");
const path = require("node:path");

const { ALL_SIM_EVENTS, startSimulator } = require("../../build/dev/sim/index.js");
const { expectedKey } = require("../helpers/clarus-sim");
const { capturingWebhookNode, collect, connectionNode, helper, TOKEN } = require("../helpers/node-red");
const { waitForStatus } = require("../helpers/status");

const build = path.join(__dirname, "..", "..", "build", "nodes");
const NODE_MODULES = [
  "clarus-sales-order-dispatched",
  "clarus-goods-in-completed",
  "clarus-stock-adjustment",
  "clarus-stock-hold",
  "clarus-event",
  "clarus-poll",
  "clarus-graphql",
].map((type) => require(path.join(build, `${type}.js`)));
const FIXTURE = require("../fixtures/flows/version-1.json");
const OUTPUTS = [
  "dispatched-out",
  "goods-in-out",
  "adjusted-out",
  "hold-out",
  "created-or-cancelled-out",
  "unknown-out",
  "graphql-out",
];
/** The filter output each event reaches, by the 0.1 flow's wiring. */
const OUTPUT_OF = {
  "goods_out.completed": "dispatched-out",
  "goods_in.completed": "goods-in-out",
  "stock.positively_adjusted": "adjusted-out",
  "stock.negatively_adjusted": "adjusted-out",
  "stock.placed_on_hold": "hold-out",
  "stock.released_from_hold": "hold-out",
};
const TUNING = {
  timeoutMs: 2000,
  retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 50, maxAttempts: 6 },
};

describe("a flow saved by 0.1 (config version 1) works unchanged", function () {
  this.timeout(30_000);
  let sim;
  let server;
  let app;
  let outputs;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    await new Promise((resolve) => server?.close(resolve));
    await sim?.stop();
    server = sim = undefined;
  });

  /** The 0.1 flow, pointed at the simulator as a user would after importing it, with one automation per event. */
  async function load({ webhook = {} } = {}) {
    sim = await startSimulator({ history: 0, seed: 5, webhook });
    server = http.createServer((req, res) => app(req, res));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${server.address().port}/clarus/events/${TOKEN}`;
    for (const event of ALL_SIM_EVENTS) sim.addAutomation({ event, url });
    const flow = structuredClone(FIXTURE).map((node) =>
      node.type === "clarus-connection"
        ? { ...node, subdomain: sim.subdomain, domain: sim.domain, apiUrl: sim.url }
        : node,
    );
    helper.settings({ clarus: TUNING });
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode)), ...NODE_MODULES],
      [...flow, ...OUTPUTS.map((id) => ({ id, type: "helper", z: "tab01" }))],
      { conn01: { webhookToken: TOKEN, clientId: sim.clientId, clientSecret: sim.clientSecret } },
    );
    outputs = Object.fromEntries(OUTPUTS.map((id) => [id, collect(helper.getNode(id))]));
    await waitForStatus(helper.getNode("hook01"), (s) => /listening/.test(s.text));
  }

  /** Every message of the filter outputs, as `event source` lines by dedupe key. */
  function arrivals() {
    const byKey = new Map();
    for (const [id, { received }] of Object.entries(outputs)) {
      for (const msg of received) {
        const list = byKey.get(msg.clarus.dedupeKey) ?? [];
        list.push({
          output: id,
          event: msg.clarus.event,
          source: msg.clarus.source,
          attempt: msg.clarus.attempt,
        });
        byKey.set(msg.clarus.dedupeKey, list);
      }
    }
    return byKey;
  }

  function clarusNodes() {
    return FIXTURE.filter((node) => node.type.startsWith("clarus-")).map((node) => helper.getNode(node.id));
  }

  it("should start every node without an error or a warning, on files, delivering on receipt", async function () {
    await load();
    for (const node of clarusNodes()) {
      assert.equal(node.error.callCount, 0, `${node.type} ${node.id}: ${node.error.args.join("; ")}`);
      assert.equal(node.warn.callCount, 0, `${node.type} ${node.id}: ${node.warn.args.join("; ")}`);
    }
    const { delivery, store } = helper.getNode("conn01").services;
    assert.deepEqual(delivery.settings, { mode: "on-receipt", redeliverMs: 300_000, maxAttempts: 10 });
    assert.equal(store.kind, "file");
    assert.equal(store.dedupe.capacity, 100_000);
  });

  it("should route each webhook delivery to its filter once, and answer a repeat as a duplicate", async function () {
    await load({ webhook: { repeatRate: 0.3 } });
    sim.generate(40, Object.keys(OUTPUT_OF));
    await sim.flush();
    const repeated = sim.sent.filter((delivery) => delivery.repeated).length;
    assert.ok(repeated > 3, `${repeated} repeated deliveries`);
    const expected = sim.events.map((event) => [expectedKey(event), OUTPUT_OF[event.event]]);
    const byKey = arrivals();
    assert.deepEqual(
      expected.filter(([key, output]) => byKey.get(key)?.length !== 1 || byKey.get(key)[0].output !== output),
      [],
      "events not at their filter exactly once",
    );
    // On receipt, as in 0.1: no attempt counting. (Its polls ran at deploy too and may have found some first.)
    const counted = [...byKey.values()].flat().filter((m) => m.attempt !== undefined);
    assert.deepEqual(counted, []);
  });

  it("should let its polls bring what no webhook delivered, each once", async function () {
    await load({ webhook: { dropRate: 1 } });
    sim.generate(12, Object.keys(OUTPUT_OF));
    await sim.flush();
    assert.equal(arrivals().size, 0, "every webhook was dropped");
    const polls = FIXTURE.filter((node) => node.type === "clarus-poll");
    const total = () => Object.values(outputs).reduce((n, o) => n + o.received.length, 0);
    for (const poll of polls) helper.getNode(poll.id).receive({ payload: "run" });
    while (total() < sim.events.length)
      await Promise.race(Object.values(outputs).map((o) => o.waitFor(o.received.length + 1)));
    const byKey = arrivals();
    assert.deepEqual(
      sim.events
        .map(expectedKey)
        .filter((key) => byKey.get(key)?.length !== 1 || byKey.get(key)[0].source !== "poll"),
      [],
      "events not polled exactly once",
    );
  });

  it("should make no registration call to the Clarus API (no register list, no public URL)", async function () {
    await load();
    sim.generate(3, ["goods_out.completed"]);
    await sim.flush();
    await outputs["dispatched-out"].waitFor(3);
    assert.deepEqual(sim.automationsApi.counts, { list: 0, read: 0, create: 0, update: 0, delete: 0 });
    const lookups = sim.requestLog.filter((entry) => entry.variables?.filter?.name !== undefined);
    assert.deepEqual(lookups, []);
  });

  it("should answer its graphql node's query as 0.1 did", async function () {
    await load();
    helper.getNode(FIXTURE.find((node) => node.type === "clarus-graphql").id).receive({ payload: {} });
    const [msg] = await outputs["graphql-out"].waitFor(1);
    assert.ok(Array.isArray(msg.payload), JSON.stringify(msg.payload).slice(0, 200));
  });
});
