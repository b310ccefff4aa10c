// clarus-poll on tenants whose schema differs from ours: streams that cannot be built, a schema that
// changes, introspection that answers garbage, a type with no fields, a huge schema, and the subtype map.
const assert = require("node:assert/strict");

const { helper } = require("../helpers/node-red");
const { startWarehouse, startSimulator } = require("../helpers/clarus-sim");
const { waitForStatus } = require("../helpers/status");
const { startApiProxy } = require("../helpers/api-proxy");
const { ClarusClient } = require("../../build/nodes/lib/api/client.js");
const { INTROSPECTION_QUERY } = require("../../build/nodes/lib/schema/tenant-schema.js");

/** The introspection answer of a simulator speaking `schema`. */
async function introspectionOf(schema) {
  const sim = await startSimulator({ history: 0, schema, staticToken: "static" });
  try {
    const client = new ClarusClient({ apiUrl: sim.url, subdomain: sim.subdomain, accessToken: "static" });
    return { data: await client.graphql(INTROSPECTION_QUERY) };
  } finally {
    await sim.stop();
  }
}

/** `count` object types of `fields` scalar fields each, as a big tenant's introspection lists them. */
function extraTypes(count, fields) {
  const scalar = { kind: "SCALAR", name: "String", ofType: null };
  return Array.from({ length: count }, (_v, i) => ({
    kind: "OBJECT",
    name: `Extra${i}`,
    fields: Array.from({ length: fields }, (_w, j) => ({ name: `field${j}`, args: [], type: scalar })),
    inputFields: null,
  }));
}

describe("clarus-poll against tenants' schemas", function () {
  this.timeout(60_000);
  let warehouse;
  let proxy;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await warehouse?.stop();
    await proxy?.close();
    warehouse = undefined;
    proxy = undefined;
    helper.settings({});
  });

  /** A warehouse whose API answers go through `rewrite` (test/helpers/api-proxy.js). */
  async function behindProxy(options, rewrite) {
    warehouse = await startWarehouse({ webhook: { dropRate: 1 }, ...options });
    proxy = await startApiProxy(warehouse.sim, rewrite);
    warehouse.apiUrl = proxy.url;
    return warehouse.load();
  }

  const received = () => warehouse.out.received;

  it("should fail a stream the schema cannot serve with the missing piece, red, and keep the others running", async function () {
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "documented",
      simOptions: { schemaWithout: ["TransactionFilterType.created_at"] },
    });
    await warehouse.load();
    await assert.rejects(
      warehouse.runOnce("poll2"),
      /poll stock.transactions failed: stock.transactions cannot be polled on this tenant's schema: transactions cannot be filtered by created_at \(from\)\. Use a custom stream/,
    );
    const status = await waitForStatus(helper.getNode("poll2"), (s) => s.fill === "red");
    assert.deepEqual(status, { fill: "red", shape: "ring", text: "no created_at filter" });
    // The same error on the next run: no crash, no silence.
    await assert.rejects(warehouse.runOnce("poll2"), /created_at \(from\)/);
    await warehouse.runOnce("poll0");
    await warehouse.runOnce("poll1");
    const events = warehouse.sim.generate(2, ["goods_out.completed"]);
    await warehouse.runOnce("poll0");
    await warehouse.runOnce("poll1");
    assert.deepEqual(
      received().map((m) => m.payload.id),
      events.map((e) => String(e.recordId)),
    );
  });

  it("should read the schema again after a validation error and recover on the next run", async function () {
    // The first reading says the tenant is rich; it really speaks the documented schema (it changed).
    const rich = await introspectionOf("rich");
    let readings = 0;
    await behindProxy({ schema: "documented" }, (request) => {
      if (!request.query.includes("__schema")) return undefined;
      return ++readings === 1 ? rich : undefined;
    });
    await assert.rejects(
      warehouse.runOnce("poll2"),
      /Cannot query field "new_quantity" on type "Transaction".*\(the schema is read again for the next run\)/,
    );
    const events = warehouse.sim.generate(3, ["stock.positively_adjusted"]);
    await warehouse.runOnce("poll2");
    assert.equal(readings, 2);
    assert.deepEqual(
      received().map((m) => m.payload.id),
      events.map((e) => String(e.recordId)),
    );
  });

  it("should plan goods-out from the tenant's schema after a burst of 429 on the first schema read", async function () {
    warehouse = await startWarehouse({ webhook: { dropRate: 1 }, schema: "rich" });
    await warehouse.load();
    warehouse.sim.setFaults({ rateLimit: 1, retryAfterSeconds: 0 });
    try {
      await assert.rejects(warehouse.runOnce("poll0"), /HTTP 429/);
    } finally {
      warehouse.sim.clearFaults();
    }
    const events = warehouse.sim.generate(2, ["goods_out.completed"]);
    await warehouse.runOnce("poll0");
    const poll = helper.getNode("poll0");
    const warnings = poll.warn.args.map(([w]) => String(w));
    assert.deepEqual(
      warnings.filter((w) => /documented fields only/.test(w)),
      [],
      "the day-window fallback was pinned",
    );
    const plan = poll.debug.args.map(([d]) => String(d)).find((d) => / reads /.test(d));
    assert.match(plan, /DISP tasks .*\(through goods_out \{ id \}, by id with in\)/);
    assert.deepEqual(
      received().map((m) => m.payload.id),
      events.map((e) => String(e.recordId)),
    );
  });

  it("should poll with the documented fields when introspection answers garbage", async function () {
    await behindProxy({ schema: "documented" }, (request) =>
      request.query.includes("__schema") ? { data: { __schema: "garbage" } } : undefined,
    );
    for (const id of ["poll0", "poll1", "poll2"]) await warehouse.runOnce(id);
    const events = warehouse.sim.generate(12);
    for (const id of ["poll0", "poll1", "poll2"]) await warehouse.runOnce(id);
    assert.deepEqual(
      received()
        .map((m) => `${m.topic}:${m.payload.id}`)
        .sort(),
      events.map((e) => `${e.event}:${e.recordId}`).sort(),
    );
    const warnings = helper.getNode("poll0").warn.args.map(([w]) => String(w));
    assert.ok(
      warnings.some((w) =>
        /using the documented fields only \(introspection answered something that is not a schema/.test(w),
      ),
      warnings.join("\n"),
    );
  });

  it("should fail only the stream whose record type has no fields, with a clear error", async function () {
    await behindProxy({ schema: "rich" }, (request, body) => {
      if (!request.query.includes("__schema")) return undefined;
      body.data.__schema.types.find((t) => t.name === "GoodsOut").fields = [];
      return body;
    });
    await assert.rejects(
      warehouse.runOnce("poll0"),
      /goods_out.completed cannot be polled on this tenant's schema: tasks point at no goods_outs record .*, and goods_outs have no field id/,
    );
    const events = warehouse.sim.generate(4, ["stock.placed_on_hold"]);
    await warehouse.runOnce("poll2");
    assert.equal(received().length, events.length);
  });

  it("should poll through a schema of 10,000 more types", async function () {
    let size = 0;
    await behindProxy({ schema: "rich" }, (request, body) => {
      if (!request.query.includes("__schema")) return undefined;
      body.data.__schema.types.push(...extraTypes(10_000, 10));
      const text = JSON.stringify(body);
      size = text.length;
      return text;
    });
    for (const id of ["poll0", "poll1", "poll2"]) await warehouse.runOnce(id);
    const events = warehouse.sim.generate(9);
    for (const id of ["poll0", "poll1", "poll2"]) await warehouse.runOnce(id);
    assert.equal(received().length, events.length);
    assert.ok(size > 5_000_000, `the schema answer was ${size} bytes`);
    assert.equal(warehouse.sim.requests.introspection, 1);
  });

  it("should emit stock transactions by the node's own subtype map", async function () {
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "documented",
      pollOverrides: { subtypes: { adjup: "stock.negatively_adjusted", HOLD: "stock.placed_on_hold" } },
    });
    await warehouse.load();
    await warehouse.runOnce("poll2");
    const adjustments = warehouse.sim.generate(2, ["stock.positively_adjusted"]);
    const holds = warehouse.sim.generate(2, ["stock.placed_on_hold"]);
    warehouse.sim.generate(2, ["stock.negatively_adjusted"]); // ADJDOWN is not in the map
    await warehouse.runOnce("poll2");
    assert.deepEqual(
      received().map((m) => `${m.topic}:${m.payload.id}`),
      [
        ...adjustments.map((e) => `stock.negatively_adjusted:${e.recordId}`),
        ...holds.map((e) => `stock.placed_on_hold:${e.recordId}`),
      ],
    );
    const query = warehouse.sim.requestLog.filter((r) => r.variables?.filter?.subtype).pop();
    assert.deepEqual(query.variables.filter.subtype, { in: ["ADJUP", "HOLD"] });
  });

  it("should refuse to start with an empty subtype map or one that maps to no event", async function () {
    warehouse = await startWarehouse({ schema: "documented", pollOverrides: { subtypes: {} } });
    await warehouse.load();
    const poll = helper.getNode("poll2");
    const status = await waitForStatus(poll, (s) => s.fill === "red");
    assert.match(status.text, /subtypes map is empty/);
    assert.ok(poll.error.args.some(([e]) => /not polling: the subtypes map is empty/.test(String(e))));
    await warehouse.stop();
    warehouse = await startWarehouse({ schema: "documented", pollOverrides: { subtypes: { HOLD: "held" } } });
    await warehouse.load();
    const other = helper.getNode("poll2");
    assert.match((await waitForStatus(other, (s) => s.fill === "red")).text, /subtype "HOLD" must map/);
  });
});
