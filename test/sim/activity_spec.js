const assert = require("node:assert/strict");

const { SIM, allPages, gql, ids } = require("./helpers");

const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

describe("clarus simulator: warehouse activity", function () {
  let sim;
  let token;

  beforeEach(async function () {
    sim = await SIM.startSimulator({ seed: 11 });
    token = sim.issueToken();
  });

  afterEach(() => sim.stop());

  const one = async (query, variables) => {
    const { status, body } = await gql(sim, token, query, variables);
    assert.equal(status, 200);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };

  const stockTotal = async (productId, warehouseId) => {
    const { nodes } = await allPages(sim, token, "stocks", {
      filter: { product_id: { eq: String(productId) }, warehouse_id: { eq: String(warehouseId) } },
      fields: "id quantity status",
      first: 500,
    });
    return nodes.reduce((sum, s) => sum + s.quantity, 0);
  };

  const transactionNode = async (id) => {
    const data = await one(
      `query($id: ID) { transactions { all(filter: { id: { eq: $id } }) { edges { node {
        id subtype category quantity new_quantity created_at stock { id status quantity }
        product { id code } account { id code } warehouse { id code } } } } } }`,
      { id: String(id) },
    );
    return data.transactions.all.edges[0].node;
  };

  context("when a sales order is dispatched", function () {
    it("should complete the order, its PICK and DISP tasks and transactions, and take the stock", async function () {
      const open = sim.store.goodsOuts.all().find((o) => o.goods_out_status_id !== 6);
      const before = new Map();
      for (const line of open.lines)
        before.set(line.product_id, await stockTotal(line.product_id, open.warehouse_id));

      const [event] = sim.generate(1, ["goods_out.completed"]);
      assert.equal(event.event, "goods_out.completed");
      assert.equal(event.recordId, open.id);

      const data = await one(
        `query($id: ID) {
          goods_outs { all(filter: { id: { eq: $id } }) { edges { node { id goods_out_status { id code }
            actual_date_of_dispatch lines { id order_quantity pick_quantity dispatch_quantity product { id } } } } } }
          tasks { all(filter: { goods_out_id: { eq: $id } }) { edges { node { id status completed_at
            task_type { code } product { id } confirmed_quantity goods_out { id } } } } }
          transactions { all(filter: { goods_out_id: { eq: $id } }) { edges { node { subtype quantity product { id } } } } }
        }`,
        { id: String(open.id) },
      );
      const order = data.goods_outs.all.edges[0].node;
      assert.deepEqual(order.goods_out_status, { id: "6", code: "COMPLETED" });
      assert.match(order.actual_date_of_dispatch, ISO_SECONDS);

      const tasks = data.tasks.all.edges.map((e) => e.node);
      assert.deepEqual(
        tasks.map((t) => t.task_type.code).sort(),
        open.lines.flatMap(() => ["DISP", "PICK"]).sort(),
      );
      for (const task of tasks) {
        assert.equal(task.status, "COMPLETED");
        assert.equal(task.completed_at, order.actual_date_of_dispatch);
        assert.equal(task.goods_out.id, String(open.id));
      }
      // The poll node's documented route: DISP tasks completed since a watermark.
      const since = await allPages(sim, token, "tasks", {
        filter: { task_type_code: { eq: "DISP" }, completed_at: { from: order.actual_date_of_dispatch } },
        fields: "id goods_out { id }",
      });
      assert.ok(since.nodes.some((t) => t.goods_out.id === String(open.id)));

      const txns = data.transactions.all.edges.map((e) => e.node);
      for (const line of order.lines) {
        assert.equal(line.dispatch_quantity, line.pick_quantity);
        const picked = txns
          .filter((t) => t.subtype === "PICK" && t.product.id === line.product.id)
          .reduce((sum, t) => sum + t.quantity, 0);
        assert.equal(picked, line.pick_quantity);
        const productId = Number(line.product.id);
        assert.equal(
          await stockTotal(productId, open.warehouse_id),
          before.get(productId) - line.pick_quantity,
        );
      }

      const body = event.body;
      assert.equal(body.id, open.id);
      assert.equal(body.goods_out_type, "sales_order");
      assert.equal(body.goods_out_status_id, 6);
      assert.equal(typeof body.account_id, "number");
      assert.match(body.expected_date_of_dispatch, /^\d{4}-\d{2}-\d{2}$/);
      assert.equal(body.actual_date_of_dispatch, order.actual_date_of_dispatch);
      assert.equal(typeof body.external_system_reference1, "string");
      assert.deepEqual(Object.keys(body.lines[0]).sort(), [
        "dispatch_quantity",
        "id",
        "order_quantity",
        "pick_quantity",
        "product",
      ]);
      assert.equal(typeof body.lines[0].product.id, "number");
    });
  });

  context("when a goods-in receipt is completed", function () {
    it("should complete the receipt, add RCV and PWAY tasks per line and put the stock away", async function () {
      const open = sim.store.receipts.all().find((r) => r.status !== "completed");
      const [event] = sim.generate(1, ["goods_in.completed"]);
      assert.equal(event.event, "goods_in.completed");
      assert.equal(event.recordId, open.id);

      const lineIds = open.lines.map((l) => String(l.id));
      const data = await one(
        `query($id: ID, $lines: [ID!]) {
          goods_in_receipts { all(filter: { id: { eq: $id } }) { edges { node { id status actual_date_of_receipt
            lines { id expected_quantity received_quantity product { id } } } } } }
          tasks { all(filter: { goods_in_receipt_line_id: { in: $lines } }) { edges { node { status completed_at
            task_type { code } confirmed_quantity goods_in_receipt_line { id goods_in_receipt { id reference } } } } } }
        }`,
        { id: String(open.id), lines: lineIds },
      );
      const receipt = data.goods_in_receipts.all.edges[0].node;
      assert.equal(receipt.status, "completed");
      assert.match(receipt.actual_date_of_receipt, ISO_SECONDS);
      const tasks = data.tasks.all.edges.map((e) => e.node);
      assert.equal(tasks.length, 2 * open.lines.length);
      for (const task of tasks) {
        assert.ok(["RCV", "PWAY"].includes(task.task_type.code));
        assert.equal(task.status, "COMPLETED");
        assert.equal(task.completed_at, receipt.actual_date_of_receipt);
        assert.equal(task.goods_in_receipt_line.goods_in_receipt.id, String(open.id));
      }
      for (const line of receipt.lines) {
        assert.ok(line.received_quantity > 0);
        const rcv = await allPages(sim, token, "transactions", {
          filter: {
            subtype: { eq: "RCV" },
            product_id: { eq: line.product.id },
            created_at: { from: receipt.actual_date_of_receipt },
          },
          fields: "quantity stock { id quantity status }",
        });
        assert.ok(
          rcv.nodes.some(
            (t) => t.quantity === line.received_quantity && t.stock.quantity === line.received_quantity,
          ),
        );
      }
      const body = event.body;
      assert.equal(body.status, "completed");
      assert.equal(body.actual_date_of_arrival, receipt.actual_date_of_receipt);
      assert.ok("expected_date_of_arrival" in body && "supplier_id" in body);
      assert.equal(body.lines.length, open.lines.length);
    });
  });

  context("when stock is adjusted", function () {
    for (const [kind, subtype, sign] of [
      ["stock.positively_adjusted", "ADJUP", 1],
      ["stock.negatively_adjusted", "ADJDOWN", -1],
    ]) {
      it(`should write a signed ${subtype} transaction whose new_quantity is the stock's quantity`, async function () {
        const [event] = sim.generate(1, [kind]);
        assert.equal(event.event, kind);
        const txn = await transactionNode(event.recordId);
        assert.equal(txn.subtype, subtype);
        assert.equal(txn.category, "ADJUSTMENT");
        assert.equal(Math.sign(txn.quantity), sign);
        assert.equal(txn.new_quantity, txn.stock.quantity);
        const stockBefore = txn.new_quantity - txn.quantity;
        assert.ok(stockBefore >= 0);

        assert.deepEqual(Object.keys(event.body).sort(), [
          "account",
          "category",
          "created_at",
          "id",
          "new_quantity",
          "product",
          "quantity",
          "stock",
          "subtype",
          "warehouse",
        ]);
        assert.equal(event.body.id, Number(txn.id));
        assert.equal(event.body.quantity, txn.quantity);
        assert.deepEqual(event.body.product, { id: Number(txn.product.id), code: txn.product.code });
        assert.deepEqual(event.body.stock, { id: Number(txn.stock.id), status: txn.stock.status });
      });
    }
  });

  context("when stock is placed on hold and released", function () {
    it("should flip the stock status and write HOLD then OFFHOLD transactions", async function () {
      const [held] = sim.generate(1, ["stock.placed_on_hold"]);
      const hold = await transactionNode(held.recordId);
      assert.equal(hold.subtype, "HOLD");
      assert.equal(hold.category, "STATUS");
      assert.equal(hold.stock.status, "held");
      assert.equal(hold.quantity, hold.stock.quantity);
      const heldStocks = await allPages(sim, token, "stocks", { filter: { status: { eq: "held" } } });
      assert.ok(ids(heldStocks.nodes).includes(Number(hold.stock.id)));

      // Release until this stock is available again (release picks any held stock).
      let release;
      while (sim.store.stocks.get(Number(hold.stock.id)).status === "held") {
        [release] = sim.generate(1, ["stock.released_from_hold"]);
      }
      const off = await transactionNode(release.recordId);
      assert.equal(off.subtype, "OFFHOLD");
      assert.equal(off.category, "STATUS");
      assert.equal(off.stock.status, "available");
      assert.equal(off.quantity, off.stock.quantity);
      assert.equal(release.body.stock.status, "available");
    });

    it("should place a hold first (its own event) when nothing is held to release", async function () {
      while (sim.store.stocks.all().some((s) => s.status === "held"))
        sim.generate(1, ["stock.released_from_hold"]);
      const events = sim.generate(1, ["stock.released_from_hold"]);
      assert.deepEqual(
        events.map((e) => e.event),
        ["stock.placed_on_hold", "stock.released_from_hold"],
      );
    });
  });

  context("when the generator runs", function () {
    it("should replay exactly with the same seed and differ with another", async function () {
      const strip = (events) =>
        events.map((e) =>
          JSON.stringify([e.event, e.recordId, e.body], (k, v) => (/_at$|date/.test(k) ? undefined : v)),
        );
      const a = await SIM.startSimulator({ seed: 99 });
      const b = await SIM.startSimulator({ seed: 99 });
      const c = await SIM.startSimulator({ seed: 100 });
      try {
        const ea = strip(a.generate(60));
        assert.deepEqual(ea, strip(b.generate(60)));
        assert.notDeepEqual(ea, strip(c.generate(60)));
        assert.equal(new Set(ea.map((e) => JSON.parse(e)[0])).size, 6, "all six kinds occur");
      } finally {
        await Promise.all([a.stop(), b.stop(), c.stop()]);
      }
    });

    it("should record every event with its sequence id, record id, body and occurredAt", function () {
      const events = sim.generate(20);
      assert.deepEqual(sim.events.slice(-20), events);
      events.forEach((e, i) => {
        assert.equal(e.id, events[0].id + i);
        assert.equal(typeof e.recordId, "number");
        assert.equal(e.body.id, e.recordId);
        assert.ok(!Number.isNaN(Date.parse(e.occurredAt)));
      });
    });

    it("should refuse unknown kinds", function () {
      assert.throws(() => sim.generate(1, ["stock.exploded"]), /unknown activity kind/);
      assert.throws(() => sim.generate(-1), RangeError);
    });

    it("should generate events on a timer between startActivity and stopActivity", async function () {
      const seen = [];
      await new Promise((resolve) => {
        sim.on("event", (e) => {
          seen.push(e);
          if (seen.length === 3) resolve();
        });
        sim.startActivity({ intervalMs: 5, kinds: ["stock.positively_adjusted"] });
      });
      sim.stopActivity();
      assert.ok(seen.every((e) => e.event === "stock.positively_adjusted"));
    });
  });
});
