const assert = require("node:assert/strict");

const { SIM, allPages, gql, ids } = require("./helpers");

describe("clarus simulator: GraphQL paging and filters", function () {
  let sim;
  let token;

  before(async function () {
    sim = await SIM.startSimulator({ seed: 7 });
    sim.generate(300);
    token = sim.issueToken();
  });

  after(() => sim.stop());

  it("should name the root fields each request asked for in requestLog", async function () {
    await gql(
      sim,
      token,
      "{ automations { all(first: 1) { edges { cursor } } } stocks { all(first: 1) { edges { cursor } } } }",
    );
    assert.deepEqual(sim.requestLog.at(-1).roots, ["automations", "stocks"]);
    await gql(sim, token, "{ not closed");
    assert.equal(sim.requestLog.at(-1).roots, undefined);
  });

  context("when a client pages with first/after", function () {
    for (const first of [1, 7, 50, 499]) {
      it(`should return every transaction exactly once in id order at page size ${first}`, async function () {
        const expected = sim.store.transactions.all().map((t) => t.id);
        const { nodes, pages } = await allPages(sim, token, "transactions", {
          first,
          args: ", include_archived: true",
        });
        assert.deepEqual(ids(nodes), expected);
        assert.equal(pages, Math.max(1, Math.ceil(expected.length / first)));
      });
    }

    it("should default to 50 per page and clamp first to 500", async function () {
      assert.ok(sim.store.transactions.size > 500);
      const query = `query($first: Int) { transactions { all(first: $first, include_archived: true) {
        pageInfo { hasNextPage } edges { cursor } } } }`;
      const byDefault = await gql(sim, token, query, {});
      assert.equal(byDefault.body.data.transactions.all.edges.length, SIM.DEFAULT_PAGE_SIZE);
      const clamped = await gql(sim, token, query, { first: 100000 });
      assert.equal(clamped.body.data.transactions.all.edges.length, SIM.MAX_PAGE_SIZE);
      assert.equal(clamped.body.data.transactions.all.pageInfo.hasNextPage, true);
    });

    it("should neither skip nor repeat records inserted between pages", async function () {
      const query = `query($first: Int, $after: String) { goods_outs { all(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { id } } } } }`;
      const before = sim.store.goodsOuts.all().map((o) => o.id);
      const seen = [];
      let after = null;
      for (;;) {
        const { body } = await gql(sim, token, query, { first: 4, after });
        const conn = body.data.goods_outs.all;
        seen.push(...ids(conn.edges.map((e) => e.node)));
        // Every page adds orders (new ids) while the client is mid-way.
        if (sim.store.goodsOuts.size < before.length + 30) sim.generate(3, ["goods_out.completed"]);
        if (!conn.pageInfo.hasNextPage) break;
        after = conn.pageInfo.endCursor;
      }
      assert.equal(new Set(seen).size, seen.length, "no record twice");
      for (const id of before) assert.ok(seen.includes(id), `record ${id} was skipped`);
      assert.deepEqual(
        seen,
        sim.store.goodsOuts.all().map((o) => o.id),
      );
    });

    it("should answer a bad cursor or a negative first with a GraphQL error (HTTP 200)", async function () {
      const query = `query($first: Int, $after: String) { stocks { all(first: $first, after: $after) { edges { cursor } } } }`;
      const bad = await gql(sim, token, query, { after: "not-a-cursor" });
      assert.equal(bad.status, 200);
      assert.match(bad.body.errors[0].message, /Invalid cursor/);
      assert.equal(bad.body.data.stocks.all, null);
      const negative = await gql(sim, token, query, { first: -1 });
      assert.match(negative.body.errors[0].message, /negative/);
    });

    it("should use base64 of the record id as the cursor", async function () {
      const { body } = await gql(sim, token, "{ stocks { all(first: 1) { edges { cursor node { id } } } } }");
      const edge = body.data.stocks.all.edges[0];
      assert.equal(Buffer.from(edge.cursor, "base64").toString(), edge.node.id);
      assert.equal(typeof edge.node.id, "string");
    });

    it("should hide archived transactions unless include_archived is true", async function () {
      const archived = sim.store.transactions.all().filter((t) => t.archived);
      assert.ok(archived.length > 0, "the seeded history has archived transactions");
      const { nodes } = await allPages(sim, token, "transactions", { first: 500 });
      assert.equal(nodes.length, sim.store.transactions.size - archived.length);
      assert.ok(!ids(nodes).includes(archived[0].id));
    });
  });

  context("when a filter is given", function () {
    const fetchIds = async (resource, filter) =>
      ids((await allPages(sim, token, resource, { filter, first: 500 })).nodes);
    const expectIds = (table, predicate) =>
      sim.store[table]
        .all()
        .filter((r) => !r.archived && predicate(r))
        .map((r) => r.id);
    /** Asserts the filter selects exactly what the predicate does, and that this is a real test (some rows, not all). */
    const check = async (resource, table, filter, predicate) => {
      const expected = expectIds(table, predicate);
      const visible = expectIds(table, () => true).length;
      assert.ok(
        expected.length > 0 && expected.length < visible,
        `${JSON.stringify(filter)} selects some rows`,
      );
      assert.deepEqual(await fetchIds(resource, filter), expected, JSON.stringify(filter));
      return expected;
    };

    it("should filter strings with eq and in", async function () {
      await check("tasks", "tasks", { task_type_code: { eq: "DISP" } }, (t) => t.task_type_code === "DISP");
      await check("tasks", "tasks", { task_type_code: { in: ["RCV", "PWAY"] } }, (t) =>
        ["RCV", "PWAY"].includes(t.task_type_code),
      );
      await check("stocks", "stocks", { status: { eq: "held" } }, (s) => s.status === "held");
      assert.deepEqual(await fetchIds("tasks", { task_type_code: { in: [] } }), []);
    });

    it("should filter strings with ilike and like (SQL patterns)", async function () {
      const acme = (s) => sim.store.products.get(s.product_id).code.startsWith("ACME-");
      await check("stocks", "stocks", { product_code: { ilike: "acme-%" } }, acme);
      await check("stocks", "stocks", { product_code: { like: "ACME-SKU-00_" } }, acme);
      assert.deepEqual(
        await fetchIds("stocks", { product_code: { like: "acme-%" } }),
        [],
        "like is case-sensitive",
      );
      const order = sim.store.goodsOuts.all()[3];
      assert.deepEqual(
        await fetchIds("goods_outs", { reference: { ilike: order.reference.toLowerCase() } }),
        [order.id],
      );
    });

    it("should filter strings with between (inclusive)", async function () {
      await check("transactions", "transactions", { subtype: { between: ["ADJDOWN", "ADJUP"] } }, (t) =>
        ["ADJDOWN", "ADJUP"].includes(t.subtype),
      );
    });

    it("should filter ids with eq, in, gt/lteq and filled", async function () {
      const order = sim.store.goodsOuts.all()[2];
      assert.deepEqual(await fetchIds("goods_outs", { id: { eq: String(order.id) } }), [order.id]);
      const three = sim.store.goodsOuts
        .all()
        .slice(0, 3)
        .map((o) => String(o.id));
      assert.deepEqual(await fetchIds("goods_outs", { id: { in: three } }), three.map(Number));
      await check(
        "stocks",
        "stocks",
        { id: { gt: "30010", lteq: "30020" } },
        (s) => s.id > 30010 && s.id <= 30020,
      );
      await check(
        "stocks",
        "stocks",
        { id: { gteq: "30010", lt: "30020" } },
        (s) => s.id >= 30010 && s.id < 30020,
      );
      await check("tasks", "tasks", { goods_out_id: { filled: true } }, (t) => t.goods_out_id !== null);
      await check("tasks", "tasks", { goods_out_id: { filled: false } }, (t) => t.goods_out_id === null);
      const dispatched = sim.store.goodsOuts.all().findLast((o) => o.goods_out_status_id === 6);
      await check(
        "transactions",
        "transactions",
        { goods_out_id: { eq: dispatched.id } },
        (t) => t.goods_out_id === dispatched.id,
      );
    });

    it("should filter numbers with gt, gteq, lt, lteq, eq and between", async function () {
      await check("stocks", "stocks", { quantity: { gt: 100 } }, (s) => s.quantity > 100);
      await check(
        "stocks",
        "stocks",
        { quantity: { gteq: 50, lt: 150 } },
        (s) => s.quantity >= 50 && s.quantity < 150,
      );
      await check("stocks", "stocks", { quantity: { lteq: 40 } }, (s) => s.quantity <= 40);
      await check(
        "stocks",
        "stocks",
        { quantity: { between: [100, 200] } },
        (s) => s.quantity >= 100 && s.quantity <= 200,
      );
      const q = sim.store.stocks.all()[0].quantity;
      await check("stocks", "stocks", { quantity: { eq: q } }, (s) => s.quantity === q);
      await check("tasks", "tasks", { priority: { gteq: 4 } }, (t) => t.priority >= 4);
    });

    it("should filter datetimes with from, to, between and eq", async function () {
      const times = [...new Set(sim.store.tasks.all().map((t) => t.completed_at))].sort();
      const mid = times[Math.floor(times.length / 2)];
      const low = times[1];
      const fromMid = await check(
        "tasks",
        "tasks",
        { completed_at: { from: mid } },
        (t) => t.completed_at >= mid,
      );
      await check("tasks", "tasks", { completed_at: { to: mid } }, (t) => t.completed_at <= mid);
      await check(
        "tasks",
        "tasks",
        { completed_at: { between: [low, mid] } },
        (t) => t.completed_at >= low && t.completed_at <= mid,
      );
      await check("tasks", "tasks", { completed_at: { eq: mid } }, (t) => t.completed_at === mid);
      await check("transactions", "transactions", { created_at: { from: mid } }, (t) => t.created_at >= mid);
      // The same instant written with an offset selects the same rows.
      const shifted = new Date(Date.parse(mid) + 3600_000).toISOString().replace(".000Z", "+01:00");
      assert.deepEqual(await fetchIds("tasks", { completed_at: { from: shifted } }), fromMid);
    });

    it("should filter dates, booleans and combine fields with AND", async function () {
      const order = sim.store.goodsOuts.all().find((o) => o.goods_out_status_id === 6);
      await check(
        "goods_outs",
        "goodsOuts",
        {
          expected_date_of_dispatch: { eq: order.expected_date_of_dispatch },
          goods_out_status_code: { eq: "COMPLETED" },
          account_id: { eq: String(order.account_id) },
        },
        (o) =>
          o.expected_date_of_dispatch === order.expected_date_of_dispatch &&
          o.goods_out_status_id === 6 &&
          o.account_id === order.account_id,
      );
      await check(
        "goods_in_receipts",
        "receipts",
        { status: { eq: "completed" } },
        (r) => r.status === "completed",
      );
      const a = sim.addAutomation({
        event: "goods_out.completed",
        url: "http://127.0.0.1:9/x",
        enabled: false,
      });
      const b = sim.addAutomation({
        event: "stock.placed_on_hold",
        url: "http://127.0.0.1:9/y",
        integrationId: 723,
      });
      assert.deepEqual(await fetchIds("automations", { enabled: { eq: false } }), [a]);
      assert.deepEqual(await fetchIds("automations", { integration_id: { eq: "723" } }), [b]);
      assert.deepEqual(
        await fetchIds("automations", { resource_name: { eq: "stock" }, event: { eq: "placed_on_hold" } }),
        [b],
      );
      sim.removeAutomation(a);
      sim.removeAutomation(b);
    });

    it("should answer a bad operand with a GraphQL error, not a crash", async function () {
      const query = `query($filter: TaskFilterType) { tasks { all(filter: $filter) { edges { cursor } } } }`;
      for (const filter of [
        { completed_at: { from: "yesterday" } },
        { completed_at: { between: ["2026-01-01T00:00:00Z"] } },
        { goods_out_id: { eq: "abc" } },
      ]) {
        const { status, body } = await gql(sim, token, query, { filter });
        assert.equal(status, 200);
        assert.equal(body.errors.length, 1, JSON.stringify(filter));
        assert.equal(body.data.tasks.all, null);
      }
      const unknownField = await gql(sim, token, query, { filter: { updated_at: { from: "2026-01-01" } } });
      assert.equal(unknownField.status, 200);
      assert.ok(unknownField.body.errors.length > 0);
    });
  });

  context("when a node selects nested fields", function () {
    it("should expose the documented goods_out, receipt, stock, transaction, task and automation fields", async function () {
      const query = `{
        goods_outs { all(first: 1) { edges { node { id reference goods_out_type goods_out_status { id code name }
          goods_out_status_id expected_date_of_dispatch actual_date_of_dispatch priority account { id code name }
          warehouse { id code name } customer_id created_at updated_at
          lines { id order_quantity pick_quantity dispatch_quantity product { id code } } } } } }
        goods_in_receipts { all(first: 1) { edges { node { id reference status receipt_type expected_date_of_receipt
          actual_date_of_receipt notes account { id code name } warehouse { id code name } created_at updated_at
          lines { id expected_quantity received_quantity product { id code } } } } } }
        stocks { all(first: 1) { edges { node { id quantity status fifo_date product { id code } location { id code }
          account { id code } storage_unit { id reference } } } } }
        transactions { all(first: 1, include_archived: true) { edges { node { id subtype category quantity new_quantity
          created_at product { id code } account { id code } warehouse { id code } stock { id status }
          location_from { id code } location_to { id code } goods_out { id reference } completing_user { id } } } } }
        tasks { all(first: 1) { edges { node { id status subtype start_quantity confirmed_quantity created_at
          completed_at task_type { id code } goods_out { id reference }
          goods_in_receipt_line { id goods_in_receipt { id reference } } product { id code } account { id code }
          warehouse { id code } } } } }
        automations { all { edges { node { id name resource_name event enabled integration_id created_at } } } }
      }`;
      const { status, body } = await gql(sim, token, query);
      assert.equal(status, 200);
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      const order = body.data.goods_outs.all.edges[0].node;
      assert.equal(typeof order.id, "string");
      assert.ok(order.lines.length > 0);
      assert.match(body.data.stocks.all.edges[0].node.fifo_date, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    });
  });
});
