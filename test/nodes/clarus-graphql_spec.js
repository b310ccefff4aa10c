const assert = require("node:assert/strict");

const { helper, connectionNode, collect } = require("../helpers/node-red");
const { startSimulator, graphqlNode, connectionFor, TEST_TUNING } = require("../helpers/clarus-sim");
const { SCHEMA_DIALECTS } = require("../../build/dev/sim/index.js");

// Filters and fields every dialect has (the documented schema filters stocks by storage unit, not by id).
const STOCK_BY_UNIT = `query StockByUnit($unit: ID) {
  stocks { all(filter: { storage_unit_id: { eq: $unit } }, first: 1) { edges { node { id quantity storage_unit { id } } } } }
}`;

const ALL_STOCKS = `query AllStocks($first: Int, $after: String) {
  stocks { all(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }
}`;

for (const schema of SCHEMA_DIALECTS) {
  describe(`clarus-graphql (${schema} schema)`, function () {
    let sim;
    let out;
    let caught;

    before(() => helper.startServer());
    after(() => helper.stopServer());
    afterEach(async () => {
      await helper.unload();
      await sim.stop();
      helper.settings({});
    });

    async function load(node = {}, credentials, tuning = {}) {
      sim = await startSimulator({ history: 0, seed: 9, schema });
      helper.settings({ clarus: { ...TEST_TUNING, ...tuning } });
      await helper.load(
        [connectionNode, graphqlNode],
        [
          connectionFor(sim, []),
          {
            id: "gql",
            type: "clarus-graphql",
            connection: "conn",
            query: STOCK_BY_UNIT,
            wires: [["out"]],
            ...node,
          },
          { id: "on-catch", type: "catch", scope: ["gql"], wires: [["caught"]] },
          { id: "out", type: "helper" },
          { id: "caught", type: "helper" },
        ],
        { conn: credentials ?? { clientId: sim.clientId, clientSecret: sim.clientSecret } },
      );
      out = collect(helper.getNode("out"));
      caught = collect(helper.getNode("caught"));
      return helper.getNode("gql");
    }

    it("should be loaded with its defaults", async function () {
      const node = await load();
      assert.equal(node.type, "clarus-graphql");
    });

    it("should take variables from msg.variables, else from an object msg.payload", async function () {
      const node = await load();
      node.receive({ variables: { unit: "20001" }, payload: { unit: "20002" } });
      node.receive({ payload: { unit: "20002" } });
      const [first, second] = await out.waitFor(2);
      assert.equal(first.payload.stocks.all.edges[0].node.storage_unit.id, "20001");
      assert.equal(second.payload.stocks.all.edges[0].node.storage_unit.id, "20002");
    });

    it("should run with no variables when the payload is a primitive or missing", async function () {
      const node = await load({ query: ALL_STOCKS });
      node.receive({ payload: 42 });
      node.receive({ payload: "text" });
      node.receive({});
      const received = await out.waitFor(3);
      for (const msg of received) assert.ok(Array.isArray(msg.payload.stocks.all.edges));
      assert.equal(caught.received.length, 0);
    });

    it("should give each response to its own message under concurrent inputs", async function () {
      const node = await load();
      sim.setFaults({ slowMs: [1, 40], slowRate: 1 });
      const units = Array.from({ length: 20 }, (_v, i) => String(20001 + i));
      for (const unit of units) node.receive({ variables: { unit }, tag: unit });
      const received = await out.waitFor(units.length);
      for (const msg of received) assert.equal(msg.payload.stocks.all.edges[0].node.storage_unit.id, msg.tag);
      const order = received.map((m) => m.tag).join(",");
      assert.notEqual(order, units.join(","), "slow answers should come back out of order");
    });

    it("should return every node of every page with allPages, up to maxPages", async function () {
      const node = await load({ query: ALL_STOCKS, allPages: true, maxPages: 100 });
      node.receive({ variables: { first: 7 } });
      const [msg] = await out.waitFor(1);
      assert.ok(Array.isArray(msg.payload));
      const ids = msg.payload.map((n) => n.id);
      assert.equal(new Set(ids).size, ids.length);
      assert.ok(ids.length > 7, `only ${ids.length} stocks`);

      await helper.unload();
      await sim.stop();
      const limited = await load({ query: ALL_STOCKS, allPages: true, maxPages: 2 });
      limited.receive({ variables: { first: 3 } });
      const [page] = await out.waitFor(1);
      assert.equal(page.payload.length, 6);
    });

    it("should send GraphQL errors to a Catch node, even with HTTP 200", async function () {
      const node = await load();
      sim.setFaults({ graphqlErrors: 1 });
      node.receive({ variables: { id: "1" } });
      const [msg] = await caught.waitFor(1);
      assert.match(msg.error.message, /GraphQL errors/);
      assert.ok(Array.isArray(msg.errors));
      assert.equal(out.received.length, 0);
    });

    it("should report a query the API rejects", async function () {
      const node = await load({ query: "query { nonsense }" });
      node.receive({});
      const [msg] = await caught.waitFor(1);
      assert.match(msg.error.message, /nonsense/);
    });

    it("should report missing credentials without crashing", async function () {
      const node = await load({}, { webhookToken: "x" });
      node.receive({});
      const [msg] = await caught.waitFor(1);
      assert.match(msg.error.message, /no API credentials/);
    });

    it("should send a mutation answered 5xx once, never again", async function () {
      const node = await load({ query: "mutation Hold($ids: [ID!]) { stocks { hold(ids: $ids) { id } } }" });
      node.receive({ payload: "warm up the token" }); // the simulator has no mutations: a GraphQL error
      await caught.waitFor(1);
      const before = sim.requests.graphql;
      sim.setFaults({ error5xx: 1 });
      node.receive({ variables: { ids: ["1"] } });
      const [, msg] = await caught.waitFor(2);
      assert.match(msg.error.message, /HTTP 50\d; not sent again/);
      assert.equal(sim.requests.graphql - before, 1, "a mutation must not be applied twice");
    });

    it("should run the operation named in msg.operationName", async function () {
      const node = await load({ query: `${STOCK_BY_UNIT}\nmutation Hold { stocks { hold { id } } }` });
      node.receive({ operationName: "StockByUnit", variables: { unit: "20004" } });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.stocks.all.edges[0].node.storage_unit.id, "20004");
      assert.equal(sim.requestLog.at(-1).operationName, "StockByUnit");
    });

    it("should refuse an answer over settings.js clarus.maxResponseBytes", async function () {
      const node = await load({ query: ALL_STOCKS }, undefined, { maxResponseBytes: 1000 });
      node.receive({ variables: { first: 50 } });
      const [msg] = await caught.waitFor(1);
      assert.match(msg.error.message, /over the size limit of 1000 bytes/);
      assert.equal(out.received.length, 0);
    });

    it("should take the query from msg.query when the node has none", async function () {
      const node = await load({ query: "" });
      node.receive({ query: STOCK_BY_UNIT, variables: { unit: "20003" } });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.stocks.all.edges[0].node.storage_unit.id, "20003");
    });
  });
}
