const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const path = require("node:path");

const { SIM, gql } = require("./helpers");

const CLI = path.join(__dirname, "..", "..", "build", "dev", "sim", "cli.js");

const TYPE_FIELDS = `query($name: String!) { __type(name: $name) { fields { name } inputFields { name type { name } } } }`;

/** The field names of an object type, or `name: operator type` of an input type. */
async function typeFields(sim, token, name) {
  const { body } = await gql(sim, token, TYPE_FIELDS, { name });
  const type = body.data.__type;
  if (!type) return undefined;
  if (type.fields) return type.fields.map((f) => f.name).sort();
  return type.inputFields.map((f) => `${f.name}: ${f.type.name}`).sort();
}

describe("clarus simulator: schema dialects", function () {
  const sims = {};
  const tokens = {};

  before(async function () {
    for (const dialect of SIM.SCHEMA_DIALECTS) {
      sims[dialect] = await SIM.startSimulator({ seed: 7, schema: dialect });
      sims[dialect].generate(40);
      tokens[dialect] = sims[dialect].issueToken();
    }
  });

  after(() => Promise.all(Object.values(sims).map((sim) => sim.stop())));

  it("should default to the rich dialect and refuse an unknown one", async function () {
    const sim = new SIM.Simulator({ history: 0 });
    assert.equal(sim.schema, "rich");
    assert.throws(
      () => new SIM.Simulator({ schema: "vague" }),
      /schema must be one of documented, rich, scalar/,
    );
  });

  it("should show the task's goods-out as an object (rich), a scalar id (scalar) or not at all (documented)", async function () {
    const task = {};
    for (const dialect of SIM.SCHEMA_DIALECTS)
      task[dialect] = await typeFields(sims[dialect], tokens[dialect], "Task");
    assert.ok(task.rich.includes("goods_out") && task.rich.includes("goods_in_receipt_line"));
    assert.ok(!task.rich.includes("goods_out_id"));
    assert.ok(task.scalar.includes("goods_out_id") && task.scalar.includes("goods_in_receipt_id"));
    assert.ok(!task.scalar.includes("goods_out"));
    assert.deepEqual(task.documented, [
      "account",
      "confirmed_quantity",
      "created_at",
      "id",
      "location_from",
      "location_to",
      "product",
      "start_quantity",
      "status",
      "subtype",
      "task_type",
      "warehouse",
    ]);
  });

  it("should offer the documented filters only, with the documented operator types", async function () {
    const { documented: sim } = sims;
    const token = tokens.documented;
    assert.deepEqual(await typeFields(sim, token, "GoodsOutsFilterType"), [
      "account_id: IdOperatorType",
      "carrier_id: IdOperatorType",
      "expected_date_of_dispatch: DatetimeOperatorType",
      "goods_out_status_code: StringOperatorType",
      "reference: StringOperatorType",
      "warehouse_id: IdOperatorType",
    ]);
    const transactionFilters = await typeFields(sim, token, "TransactionFilterType");
    assert.ok(transactionFilters.includes("subtype: SubtypeTypeInputType"));
    assert.ok(!transactionFilters.some((f) => f.startsWith("id:")));
    assert.deepEqual(await typeFields(sim, token, "GoodsOut"), [
      "account",
      "carrier",
      "expected_date_of_dispatch",
      "goods_out_status",
      "id",
      "priority",
      "reference",
      "warehouse",
    ]);
  });

  it("should refuse an undocumented field on the documented dialect, as a real tenant would", async function () {
    const query = `{ goods_outs { all(first: 1) { edges { node { id customer_id lines { id } } } } } }`;
    const { body } = await gql(sims.documented, tokens.documented, query, {});
    const messages = body.errors.map((e) => e.message).join("\n");
    assert.match(messages, /Cannot query field "customer_id" on type "GoodsOut"/);
    assert.match(messages, /Cannot query field "lines" on type "GoodsOut"/);
    const rich = await gql(sims.rich, tokens.rich, query, {});
    assert.equal(rich.body.errors, undefined);
  });

  it("should drop the goods-out id filter on the scalar dialect and keep only eq on receipt ids", async function () {
    const { scalar: sim } = sims;
    const token = tokens.scalar;
    const goodsOutFilters = await typeFields(sim, token, "GoodsOutsFilterType");
    assert.ok(!goodsOutFilters.some((f) => f.startsWith("id:")));
    assert.ok((await typeFields(sim, token, "InboundGoodFilterType")).includes("id: IdEqOperatorType"));
    const receipt = sim.store.receipts.all()[0];
    const { body } = await gql(
      sim,
      token,
      `query($filter: InboundGoodFilterType) { goods_in_receipts { all(filter: $filter) { edges { node { id } } } } }`,
      { filter: { id: { eq: String(receipt.id) } } },
    );
    assert.deepEqual(body.data.goods_in_receipts.all.edges, [{ node: { id: String(receipt.id) } }]);
    // The task's scalar relations point at the same records as the rich dialect's objects.
    const task = sim.store.tasks.all().find((t) => t.goods_in_receipt_line_id !== null);
    const tasks = await gql(
      sim,
      token,
      `query($filter: TaskFilterType) { tasks { all(filter: $filter) { edges { node { goods_in_receipt_id goods_out_id } } } } }`,
      { filter: { id: { eq: String(task.id) } } },
    );
    const line = sim.store.receiptLines.get(task.goods_in_receipt_line_id);
    assert.deepEqual(tasks.body.data.tasks.all.edges[0].node, {
      goods_in_receipt_id: String(line.goods_in_receipt_id),
      goods_out_id: null,
    });
  });

  it("should leave out the filter fields named in schemaWithout", async function () {
    const sim = await SIM.startSimulator({
      history: 0,
      schema: "documented",
      schemaWithout: ["TransactionFilterType.created_at"],
    });
    try {
      const fields = await typeFields(sim, sim.issueToken(), "TransactionFilterType");
      assert.ok(!fields.some((f) => f.startsWith("created_at:")));
      assert.ok(fields.some((f) => f.startsWith("subtype:")));
    } finally {
      await sim.stop();
    }
  });

  it("should cap pages at maxPageSize and say there is more", async function () {
    const sim = await SIM.startSimulator({ history: 0, maxPageSize: 3 });
    try {
      const { body } = await gql(
        sim,
        sim.issueToken(),
        `{ stocks { all(first: 50) { pageInfo { hasNextPage } edges { node { id } } } } }`,
        {},
      );
      assert.equal(body.data.stocks.all.edges.length, 3);
      assert.equal(body.data.stocks.all.pageInfo.hasNextPage, true);
    } finally {
      await sim.stop();
    }
  });

  it("should answer with its own clock in the Date header and count introspection requests", async function () {
    const offsetMs = -20 * 60_000;
    const sim = await SIM.startSimulator({ history: 0, now: () => Date.now() + offsetMs });
    try {
      const token = sim.issueToken();
      const { headers } = await gql(sim, token, `{ __schema { queryType { name } } }`, {});
      const skew = Date.parse(headers.get("date")) - Date.now();
      assert.ok(Math.abs(skew - offsetMs) < 2000, `Date header is ${skew} ms off, expected ${offsetMs}`);
      await gql(sim, token, `{ stocks { all(first: 1) { edges { node { id } } } } }`, {});
      assert.equal(sim.requests.introspection, 1);
      assert.equal(sim.requests.graphql, 2);
    } finally {
      await sim.stop();
    }
  });

  it("should take the dialect from the CLI's --schema", async function () {
    const child = spawn(process.execPath, [CLI, "--port", "0", "--schema", "documented", "--interval", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = await new Promise((resolve, reject) => {
      let text = "";
      child.stdout.on("data", (chunk) => {
        text += chunk;
        if (/Schema:\s+\S+/.test(text)) resolve(text);
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${text}`)));
    });
    child.kill("SIGTERM");
    assert.match(out, /Schema:\s+documented/);
    const bad = spawn(process.execPath, [CLI, "--schema", "vague"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    bad.stderr.on("data", (c) => (err += c));
    assert.equal(await new Promise((resolve) => bad.once("exit", resolve)), 2);
    assert.match(err, /--schema must be one of documented, rich, scalar/);
  });
});
