const assert = require("node:assert/strict");

const request = require("supertest");

const {
  helper,
  connectionNode,
  capturingWebhookNode,
  TOKEN,
  CLARUS_HEADERS,
  webhookConfig,
  collect,
} = require("../helpers/node-red");
const { startSimulator, connectionFor, TEST_TUNING } = require("../helpers/clarus-sim");
const { waitForStatus } = require("../helpers/status");
const { SCHEMA_DIALECTS } = require("../../build/dev/sim/index.js");
const { startApiProxy } = require("../helpers/api-proxy");

describe("event classification in clarus-webhook-in", function () {
  let sim;
  let app;
  let out;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(async () => {
    sim = await startSimulator({ history: 0, seed: 21 });
  });
  afterEach(async () => {
    await helper.unload();
    await sim.stop();
    helper.settings({});
  });

  async function load({ automations = [], hook = {}, credentials = {}, apiUrl = sim.url } = {}) {
    helper.settings({ clarus: TEST_TUNING });
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))],
      [
        connectionFor(sim, automations, { domain: "https://acme.claruswms.co.uk", apiUrl }),
        webhookConfig(hook),
        { id: "out", type: "helper" },
      ],
      { conn: { webhookToken: TOKEN, ...credentials } },
    );
    out = collect(helper.getNode("out"));
    return helper.getNode("hook");
  }

  function deliver(body, automationId = "43") {
    return request(app)
      .post(`/clarus/events/${TOKEN}`)
      .set({
        ...CLARUS_HEADERS,
        "X-ClarusWMS-API-Domain": sim.url,
        "X-ClarusWMS-Automation-ID": automationId,
      })
      .send(body)
      .expect(200);
  }

  it("should use the node's fixed event before anything else", async function () {
    await load({
      automations: [{ id: "43", event: "goods_in.completed" }],
      hook: { event: "stock.placed_on_hold" },
    });
    await deliver({ id: 1, goods_out_status_id: 6 });
    const [msg] = await out.waitFor(1);
    assert.equal(msg.topic, "stock.placed_on_hold");
    assert.equal(msg.clarus.dedupeKey, "stock.placed_on_hold:1");
  });

  it("should use the connection's automation map before the payload's shape", async function () {
    await load({ automations: [{ id: "43", event: "goods_in.completed" }] });
    await deliver({ id: 2, goods_out_status_id: 6 });
    const [msg] = await out.waitFor(1);
    assert.equal(msg.topic, "goods_in.completed");
  });

  for (const schema of SCHEMA_DIALECTS) {
    it(`should use the automation map discovered from the Clarus API (${schema} schema)`, async function () {
      await sim.stop();
      sim = await startSimulator({ history: 0, seed: 21, schema });
      const automationId = sim.addAutomation({
        event: "stock.released_from_hold",
        url: "http://127.0.0.1:9/unused",
      });
      await load({ credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret } });
      const connection = helper.getNode("conn");
      await connection.services.discovery.refresh();
      assert.deepEqual(connection.services.discovery.state, { ok: true, automations: 1 });
      await deliver({ id: 3, note: "nothing here says which event this is" }, String(automationId));
      const [msg] = await out.waitFor(1);
      assert.equal(msg.topic, "stock.released_from_hold");
      assert.equal(msg.clarus.automationId, String(automationId));
      assert.equal(sim.requests.introspection, 1);
    });
  }

  /** How many times the API was asked for the automations list. */
  const automationReads = () => sim.requestLog.filter((r) => r.roots?.includes("automations")).length;

  it("should read the map at most once for a flood of deliveries naming automations it does not know", async function () {
    this.timeout(10_000);
    await load({ credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret } });
    await helper.getNode("conn").services.discovery.refresh();
    const before = automationReads();
    // A caller with the token but made-up automation ids, all at once and then one by one.
    const ids = Array.from({ length: 30 }, (_v, i) => String(700_000 + i));
    const body = (i) => ({ id: 100 + i, subtype: "HOLD", quantity: 4 });
    await Promise.all(ids.slice(0, 20).map((id, i) => deliver(body(i), id)));
    for (const [i, id] of ids.slice(20).entries()) await deliver(body(20 + i), id);
    assert.equal(automationReads(), before + 1, "one fresh read for all of them");
    const received = await out.waitFor(ids.length);
    assert.ok(
      received.every((msg) => msg.topic === "stock.placed_on_hold"),
      "classified by the payload",
    );
  });

  it("should wait for the map about two seconds at most, then classify by the payload", async function () {
    this.timeout(15_000);
    await load({ credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret } });
    await helper.getNode("conn").services.discovery.refresh();
    sim.setFaults({ hang: true });
    try {
      const started = Date.now();
      await deliver({ id: 6, goods_out_status_id: 6 }, "800001");
      const waited = Date.now() - started;
      assert.ok(waited >= 1_900 && waited < 3_500, `answered after ${waited} ms`);
      const [msg] = await out.waitFor(1);
      assert.equal(msg.topic, "goods_out.completed");
    } finally {
      sim.clearFaults();
    }
  });

  it("should say why discovery cannot work on a schema without an automations list", async function () {
    // A tenant whose schema has no automations root.
    const proxy = await startApiProxy(sim, (request, body) => {
      if (!request.query.includes("__schema")) return undefined;
      const query = body.data.__schema.types.find((t) => t.name === body.data.__schema.queryType.name);
      query.fields = query.fields.filter((f) => f.name !== "automations");
      return body;
    });
    try {
      const node = await load({
        automations: [{ id: "43", event: "goods_out.completed" }],
        credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret },
        apiUrl: proxy.url,
      });
      const { discovery } = helper.getNode("conn").services;
      await discovery.refresh();
      assert.deepEqual(discovery.state, {
        ok: false,
        error: "the schema has no automations list to page through: map automations by hand",
        automations: 0,
      });
      await waitForStatus(node, (s) => /no automation map/.test(s.text ?? ""));
    } finally {
      await proxy.close();
    }
  });

  it("should show a failed discovery in the status and keep the manual map working", async function () {
    sim.setFaults({ graphqlErrors: 1 });
    const node = await load({
      automations: [{ id: "43", event: "goods_out.completed" }],
      credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret },
    });
    await helper.getNode("conn").services.discovery.refresh();
    const status = await waitForStatus(node, (s) => /no automation map/.test(s.text ?? ""));
    assert.equal(status.fill, "yellow");
    assert.ok(node.warn.args.some(([w]) => /could not read the automation map/.test(String(w))));
    await deliver({ id: 4, note: "mapped by hand" });
    const [msg] = await out.waitFor(1);
    assert.equal(msg.topic, "goods_out.completed");
  });

  it("should not ask the API when the connection has no credentials", async function () {
    await load();
    assert.equal(helper.getNode("conn").services.discovery, undefined);
    await deliver({ id: 5, goods_out_status_id: 6 });
    await out.waitFor(1);
    assert.equal(sim.requests.graphql, 0);
  });

  const shapes = [
    [
      "goods_out.completed",
      { id: 10, goods_out_status_id: 6, actual_date_of_dispatch: "2026-11-27T10:00:00Z" },
    ],
    ["goods_out.completed", { id: 11, goods_out_status: { id: "6", code: "COMPLETED" } }],
    ["goods_in.completed", { id: 12, status: "completed", expected_date_of_arrival: "2026-11-20" }],
    [
      "goods_in.completed",
      { data: { id: 13, actual_date_of_arrival: "2026-11-27T09:00:00Z", expected_date_of_arrival: null } },
    ],
    ["stock.positively_adjusted", { id: 14, quantity: 5, new_quantity: 25 }],
    ["stock.negatively_adjusted", { id: 15, quantity: -5, new_quantity: 20 }],
    ["stock.placed_on_hold", { id: 16, subtype: "HOLD", quantity: 20 }],
    ["stock.released_from_hold", { id: 17, subtype: "OFFHOLD", quantity: 20 }],
    ["unknown", { id: 18, colour: "blue" }],
    // Movements that carry a quantity and a new quantity are not adjustments: picks, dispatches, receipts and
    // putaways have both too, so their subtype decides.
    ["unknown", { id: 19, subtype: "PICK", quantity: -5, new_quantity: 20 }],
    ["unknown", { id: 20, subtype: "DISP", quantity: -2, new_quantity: 0 }],
    ["unknown", { id: 21, subtype: "RCV", quantity: 12, new_quantity: 12 }],
    ["unknown", { id: 22, subtype: "PWAY", quantity: 12, new_quantity: 30 }],
    ["stock.positively_adjusted", { id: 23, subtype: "adjup", quantity: 3, new_quantity: 33 }],
  ];
  for (const [event, body] of shapes) {
    it(`should recognise ${event} from the payload ${JSON.stringify(body)}`, async function () {
      await load();
      await deliver(body);
      const [msg] = await out.waitFor(1);
      assert.equal(msg.topic, event);
      assert.equal(msg.clarus.event, event);
    });
  }
});
