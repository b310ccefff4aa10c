const assert = require("node:assert/strict");
const path = require("node:path");

const catchNode = require("@node-red/nodes/core/common/25-catch.js");

const { helper, collect } = require("../helpers/node-red");
const { waitForStatus } = require("../helpers/status");

const build = path.join(__dirname, "..", "..", "build", "nodes");
const MODULES = {
  "clarus-sales-order-dispatched": require(path.join(build, "clarus-sales-order-dispatched.js")),
  "clarus-goods-in-completed": require(path.join(build, "clarus-goods-in-completed.js")),
  "clarus-stock-adjustment": require(path.join(build, "clarus-stock-adjustment.js")),
  "clarus-stock-hold": require(path.join(build, "clarus-stock-hold.js")),
  "clarus-event": require(path.join(build, "clarus-event.js")),
};

// Records as the simulator sends them (REST-style, integer ids) and as the API returns them (string ids).
const order = (id) => ({
  id,
  reference: `SO-${id}`,
  goods_out_type: "sales_order",
  goods_out_status_id: 6,
  account_id: 1,
  warehouse_id: 2,
  customer_id: 3,
  expected_date_of_dispatch: "2026-03-11",
  actual_date_of_dispatch: "2026-03-11T14:32:08Z",
  lines: [
    { id: 11, product: { id: 5, code: "SKU-5" }, order_quantity: 4, pick_quantity: 4, dispatch_quantity: 4 },
    {
      id: 12,
      product: { id: 6, code: "SKU-6" },
      order_quantity: 2.5,
      pick_quantity: 2.5,
      dispatch_quantity: 2.5,
    },
  ],
  created_at: "2026-03-10T09:00:00Z",
  updated_at: "2026-03-11T14:32:08Z",
});

const polledOrder = (id) => ({
  id,
  reference: `SO-${id}`,
  goods_out_type: "sales_order",
  goods_out_status: { id: "6", code: "COMPLETED", name: "Completed" },
  account: { id: "1", code: "ACME" },
  warehouse: { id: "2", code: "WH1" },
  expected_date_of_dispatch: "2026-03-11",
  actual_date_of_dispatch: "2026-03-11T14:32:08.120+01:00",
  lines: [{ id: "11", product: { id: "5", code: "SKU-5" }, dispatch_quantity: 3 }],
});

const receipt = (id) => ({
  id,
  reference: `GRN-${id}`,
  status: "completed",
  account_id: 1,
  warehouse_id: 2,
  supplier_id: 9,
  expected_date_of_arrival: "2026-03-10",
  actual_date_of_arrival: "2026-03-10T16:00:00Z",
  lines: [
    { id: 21, product: { id: 5, code: "SKU-5" }, expected_quantity: 10, received_quantity: 10 },
    { id: 22, product: { id: 6, code: "SKU-6" }, expected_quantity: 5, received_quantity: 4 },
  ],
});

const SUBTYPES = {
  "stock.positively_adjusted": ["ADJUP", 5],
  "stock.negatively_adjusted": ["ADJDOWN", -3],
  "stock.placed_on_hold": ["HOLD", 7],
  "stock.released_from_hold": ["OFFHOLD", 7],
};

const transaction = (id, event = "stock.positively_adjusted") => ({
  id,
  created_at: "2026-03-11T10:00:00Z",
  account: { id: 1, code: "ACME" },
  product: { id: 5, code: "SKU-5" },
  warehouse: { id: 2, code: "WH1" },
  quantity: SUBTYPES[event][1],
  new_quantity: 40,
  subtype: SUBTYPES[event][0],
  category: "STOCK",
  stock: { id: 77, status: "available" },
});

/** A message as clarus-webhook-in emits it. */
function clarusMsg(event, payload, clarus = {}) {
  return {
    topic: event,
    payload,
    clarus: {
      event,
      source: "webhook",
      subdomain: "acme",
      automationId: "43",
      receivedAt: "2026-03-11T14:32:09.000Z",
      dedupeKey: `${event}:${payload && payload.id}`,
      duplicate: false,
      ...clarus,
    },
  };
}

const without = (record, key) => {
  const copy = { ...record };
  delete copy[key];
  return copy;
};

/**
 * Per node: a config, a message that matches (with the fields it should gain), one that does not, and one
 * whose record is missing its id.
 */
const FILTERS = [
  {
    type: "clarus-sales-order-dispatched",
    config: {},
    matching: (id = 1) => clarusMsg("goods_out.completed", order(id)),
    fields: { recordId: "1", reference: "SO-1", quantity: 6.5 },
    other: () => clarusMsg("goods_out.created", { ...order(2), goods_out_status_id: 2 }),
    missingId: () => clarusMsg("goods_out.completed", without(order(3), "id")),
  },
  {
    type: "clarus-goods-in-completed",
    config: {},
    matching: (id = 1) => clarusMsg("goods_in.completed", receipt(id)),
    fields: { recordId: "1", reference: "GRN-1", quantity: 14 },
    other: () => clarusMsg("goods_out.completed", order(2)),
    missingId: () => clarusMsg("goods_in.completed", without(receipt(3), "id")),
  },
  {
    type: "clarus-stock-adjustment",
    config: { direction: "both" },
    matching: (id = 1) =>
      clarusMsg("stock.negatively_adjusted", transaction(id, "stock.negatively_adjusted")),
    fields: {
      recordId: "1",
      quantity: -3,
      direction: "negative",
      productCode: "SKU-5",
      warehouseCode: "WH1",
    },
    other: () => clarusMsg("stock.placed_on_hold", transaction(2, "stock.placed_on_hold")),
    missingId: () => clarusMsg("stock.positively_adjusted", without(transaction(3), "id")),
  },
  {
    type: "clarus-stock-hold",
    config: { change: "both" },
    matching: (id = 1) => clarusMsg("stock.placed_on_hold", transaction(id, "stock.placed_on_hold")),
    fields: { recordId: "1", quantity: 7, holdChange: "placed", productCode: "SKU-5", warehouseCode: "WH1" },
    other: () => clarusMsg("stock.positively_adjusted", transaction(2)),
    missingId: () => clarusMsg("stock.released_from_hold", without(transaction(3), "id")),
  },
  {
    type: "clarus-event",
    config: { events: ["goods_out.completed", "stock.released_from_hold"], automationIds: "" },
    matching: (id = 1) => clarusMsg("stock.released_from_hold", transaction(id, "stock.released_from_hold")),
    fields: {
      recordId: "1",
      quantity: 7,
      holdChange: "released",
      productCode: "SKU-5",
      warehouseCode: "WH1",
    },
    other: () => clarusMsg("goods_in.completed", receipt(2)),
    missingId: () => clarusMsg("goods_out.completed", without(order(3), "id")),
  },
];

const ON_TAB = { z: "f1", x: 100, y: 100 };

const byType = Object.fromEntries(FILTERS.map((filter) => [filter.type, filter]));

describe("clarus filter nodes", function () {
  let out;
  let other;
  let caught;

  /** Loads one filter wired to `out` and `other`, plus a real catch node wired to `caught`. */
  async function load(type, config = {}) {
    // The runtime treats a node without a tab and a position as a config node, which no catch node sees.
    const flow = [
      { id: "f1", type: "tab" },
      {
        id: "filter",
        type,
        ...ON_TAB,
        name: "",
        otherOutput: false,
        ...byType[type].config,
        ...config,
        wires: [["out"], ["other"]],
      },
      { id: "out", type: "helper", ...ON_TAB },
      { id: "other", type: "helper", ...ON_TAB },
      { id: "catcher", type: "catch", ...ON_TAB, scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", type: "helper", ...ON_TAB },
    ];
    await helper.load([MODULES[type], catchNode], flow);
    out = collect(helper.getNode("out"));
    other = collect(helper.getNode("other"));
    caught = collect(helper.getNode("caught"));
    return helper.getNode("filter");
  }

  /** Sends `msg` through the filter, then a matching barrier; only the barrier may reach output 1. */
  async function expectNothingOnOutput1(node, msg, barrier) {
    node.receive(msg);
    node.receive(barrier);
    const [first] = await out.waitFor(1);
    assert.deepEqual(first.payload, barrier.payload);
    assert.equal(out.received.length, 1);
  }

  /** Sends `msg` through a filter with otherOutput set, then a non-matching barrier for output 2. */
  async function expectNothingOnOutput2(node, msg, barrier) {
    node.receive(msg);
    node.receive(barrier);
    const [first] = await other.waitFor(1);
    assert.deepEqual(first.payload, barrier.payload);
    assert.equal(other.received.length, 1);
  }

  async function expectCaught(node, msg, ...parts) {
    node.receive(msg);
    const [error] = await caught.waitFor(1);
    for (const part of parts) assert.ok(error.error.message.includes(part), error.error.message);
    assert.equal(error.error.source.id, node.id);
    assert.equal(error.error.code, "CLARUS_INVALID_RECORD");
    return error;
  }

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  context("when loaded with the editor's defaults", function () {
    const DEFAULTS = {
      "clarus-sales-order-dispatched": {},
      "clarus-goods-in-completed": {},
      "clarus-stock-adjustment": { direction: "both" },
      "clarus-stock-hold": { change: "both" },
      "clarus-event": { events: [], automationIds: "" },
    };
    for (const [type, defaults] of Object.entries(DEFAULTS)) {
      it(`should load ${type}`, async function () {
        const flow = [
          { id: "n1", type, ...ON_TAB, name: "", otherOutput: false, outputs: 1, ...defaults, wires: [[]] },
        ];
        await helper.load(MODULES[type], flow);
        const node = helper.getNode("n1");
        assert.ok(node, `${type} did not load`);
        assert.equal(node.type, type);
        assert.equal(node.error.callCount, 0);
        assert.equal(node.warn.callCount, 0);
      });
    }
  });

  for (const filter of FILTERS) {
    describe(filter.type, function () {
      context("when a message matches", function () {
        it("should send it on output 1 with the normalised fields and the payload untouched", async function () {
          const node = await load(filter.type);
          const msg = filter.matching();
          const input = structuredClone(msg);
          node.receive(msg);
          const [sent] = await out.waitFor(1);
          assert.deepEqual(sent.payload, input.payload);
          assert.equal(sent.topic, input.topic);
          assert.deepEqual(sent.clarus, { ...input.clarus, ...filter.fields });
        });

        it("should send it on output 1 only when otherOutput is set", async function () {
          const node = await load(filter.type, { otherOutput: true });
          node.receive(filter.matching());
          await out.waitFor(1);
          await expectNothingOnOutput2(node, filter.matching(2), filter.other());
        });
      });

      context("when a message does not match", function () {
        it("should drop it when otherOutput is off", async function () {
          const node = await load(filter.type);
          await expectNothingOnOutput1(node, filter.other(), filter.matching(999));
        });

        it("should send it unchanged on output 2 when otherOutput is on", async function () {
          const node = await load(filter.type, { otherOutput: true });
          const msg = filter.other();
          const input = structuredClone(msg);
          node.receive(msg);
          const [sent] = await other.waitFor(1);
          assert.deepEqual(sent.payload, input.payload);
          assert.deepEqual(sent.clarus, input.clarus);
          await expectNothingOnOutput1(node, filter.other(), filter.matching(999));
        });

        it("should treat an unknown event and a message without msg.clarus as not matching", async function () {
          const node = await load(filter.type, { otherOutput: true });
          const unknown = clarusMsg("unknown", { hello: "world" });
          const { clarus: _dropped, ...plain } = filter.matching();
          node.receive(unknown);
          node.receive(plain);
          const received = await other.waitFor(2);
          assert.deepEqual(received[0].payload, { hello: "world" });
          assert.equal(received[1].clarus, undefined);
          await expectNothingOnOutput1(node, filter.other(), filter.matching(999));
        });
      });

      context("when a matching record fails its schema", function () {
        it("should report the missing id to a catch node and send nothing", async function () {
          const node = await load(filter.type, { otherOutput: true });
          const msg = filter.missingId();
          const error = await expectCaught(node, msg, msg.clarus.event, "payload.id is required");
          assert.deepEqual(error.payload, msg.payload);
          await expectNothingOnOutput1(node, filter.missingId(), filter.matching(999));
          assert.equal(caught.received.length, 2);
          await expectNothingOnOutput2(node, filter.missingId(), filter.other());
        });

        it("should report a payload that is not an object", async function () {
          const node = await load(filter.type);
          const msg = filter.matching();
          msg.payload = "SO-1 dispatched";
          await expectCaught(node, msg, msg.clarus.event, "payload must be an object (got string)");
        });
      });

      it("should count matched, other and invalid messages in its status", async function () {
        const node = await load(filter.type);
        node.receive(filter.matching());
        node.receive(filter.other());
        node.receive(filter.missingId());
        const status = await waitForStatus(node, (s) => s.text === "1 matched, 1 other, 1 invalid");
        assert.equal(status.fill, "yellow");
        assert.equal(status.shape, "dot");
        assert.equal((await waitForStatus(node, (s) => s.text === "1 matched")).fill, "green");
      });
    });
  }

  describe("records", function () {
    it("should accept number and string ids and give recordId as a string", async function () {
      const node = await load("clarus-sales-order-dispatched");
      node.receive(clarusMsg("goods_out.completed", order(7)));
      node.receive(clarusMsg("goods_out.completed", polledOrder("7"), { source: "poll" }));
      const [rest, polled] = await out.waitFor(2);
      assert.equal(rest.clarus.recordId, "7");
      assert.equal(polled.clarus.recordId, "7");
    });

    it("should read nested API objects (warehouse code, status object, string quantities)", async function () {
      const node = await load("clarus-sales-order-dispatched");
      const record = polledOrder("8");
      record.lines.push({ id: "12", product: { id: "6", code: "SKU-6" }, dispatch_quantity: "2.25" });
      const input = structuredClone(record);
      node.receive(clarusMsg("goods_out.completed", record, { source: "poll" }));
      const [sent] = await out.waitFor(1);
      assert.deepEqual(sent.payload, input);
      assert.equal(sent.clarus.warehouseCode, "WH1");
      assert.equal(sent.clarus.quantity, 5.25);
    });

    it("should accept date-only dates and date-times with or without a zone", async function () {
      const node = await load("clarus-goods-in-completed");
      node.receive(clarusMsg("goods_in.completed", { ...receipt(1), actual_date_of_arrival: "2026-03-10" }));
      node.receive(
        clarusMsg("goods_in.completed", {
          id: "2",
          expected_date_of_receipt: "2026-03-10",
          actual_date_of_receipt: "2026-03-10T16:00:00.5-05:00",
        }),
      );
      node.receive(clarusMsg("goods_in.completed", { id: 3, actual_date_of_arrival: "2026-03-10T16:00:00" }));
      const received = await out.waitFor(3);
      assert.deepEqual(
        received.map((m) => m.clarus.recordId),
        ["1", "2", "3"],
      );
    });

    it("should reject a date in another format and name the field", async function () {
      const node = await load("clarus-goods-in-completed");
      const msg = clarusMsg("goods_in.completed", { ...receipt(1), actual_date_of_arrival: "10/03/2026" });
      await expectCaught(node, msg, "goods_in.completed", "payload.actual_date_of_arrival must be a date");
    });

    it("should accept null for optional fields", async function () {
      const node = await load("clarus-sales-order-dispatched");
      const record = {
        ...order(1),
        reference: null,
        actual_date_of_dispatch: null,
        customer_id: null,
        lines: null,
      };
      node.receive(clarusMsg("goods_out.completed", record));
      const [sent] = await out.waitFor(1);
      assert.deepEqual(sent.payload, record);
      assert.equal(sent.clarus.reference, undefined);
      assert.equal("quantity" in sent.clarus, false);
    });

    it("should unwrap a data envelope and leave msg.payload as it came", async function () {
      const node = await load("clarus-stock-adjustment");
      const payload = { data: transaction(5) };
      node.receive(clarusMsg("stock.positively_adjusted", payload));
      const [sent] = await out.waitFor(1);
      assert.deepEqual(sent.payload, { data: transaction(5) });
      assert.equal(sent.clarus.recordId, "5");
      assert.equal(sent.clarus.direction, "positive");
      assert.equal(sent.clarus.quantity, 5);
    });

    it("should name the path inside a data envelope", async function () {
      const node = await load("clarus-stock-adjustment");
      const msg = clarusMsg("stock.positively_adjusted", { data: without(transaction(5), "id") });
      await expectCaught(node, msg, "payload.data.id is required");
    });

    it("should let unknown extra fields through", async function () {
      const node = await load("clarus-stock-hold");
      const payload = {
        ...transaction(6, "stock.released_from_hold"),
        string1: "custom",
        reason: { code: "QC", note: null },
        lines: "not ours to check",
      };
      node.receive(clarusMsg("stock.released_from_hold", payload));
      const [sent] = await out.waitFor(1);
      assert.deepEqual(sent.payload, payload);
      assert.equal(sent.clarus.holdChange, "released");
    });

    it("should list every issue of a stock transaction in the error", async function () {
      const node = await load("clarus-stock-adjustment");
      const payload = { id: 9, quantity: "lots", product: {}, warehouse: "WH1", extra: true };
      const error = await expectCaught(
        node,
        clarusMsg("stock.negatively_adjusted", payload),
        "stock.negatively_adjusted payload is invalid",
        "payload.quantity must be a number",
        "payload.product must have an id or a code",
        "payload.warehouse must be an object (got string)",
      );
      assert.equal(error.error.source.type, "clarus-stock-adjustment");
    });

    it("should refuse an empty or fractional id", async function () {
      const node = await load("clarus-goods-in-completed");
      await expectCaught(
        node,
        clarusMsg("goods_in.completed", { ...receipt(1), id: " " }),
        "payload.id must be an integer or a non-empty string",
      );
      node.receive(clarusMsg("goods_in.completed", { ...receipt(1), id: 1.5 }));
      const received = await caught.waitFor(2);
      assert.ok(received[1].error.message.includes("payload.id must be an integer or a non-empty string"));
    });

    it("should require quantity and product of a stock transaction", async function () {
      const node = await load("clarus-stock-hold");
      await expectCaught(
        node,
        clarusMsg("stock.placed_on_hold", { id: 9 }),
        "payload.quantity is required",
        "payload.product is required",
      );
    });

    it("should fall back to msg.topic when msg.clarus.event is empty", async function () {
      const node = await load("clarus-goods-in-completed");
      const msg = clarusMsg("goods_in.completed", receipt(4), { event: "" });
      node.receive(msg);
      const [sent] = await out.waitFor(1);
      assert.equal(sent.clarus.recordId, "4");
    });
  });

  describe("clarus-stock-adjustment direction", function () {
    for (const [direction, passes, stops] of [
      ["positive", "stock.positively_adjusted", "stock.negatively_adjusted"],
      ["negative", "stock.negatively_adjusted", "stock.positively_adjusted"],
    ]) {
      it(`should pass only ${passes} when direction is ${direction}`, async function () {
        const node = await load("clarus-stock-adjustment", { direction, otherOutput: true });
        node.receive(clarusMsg(stops, transaction(1, stops)));
        node.receive(clarusMsg(passes, transaction(2, passes)));
        const [[passed], [stopped]] = await Promise.all([out.waitFor(1), other.waitFor(1)]);
        assert.equal(passed.clarus.direction, direction);
        assert.equal(stopped.clarus.event, stops);
        assert.equal(stopped.clarus.direction, undefined);
      });
    }

    it("should refuse an unknown direction at deploy and fail every message", async function () {
      const node = await load("clarus-stock-adjustment", { direction: "sideways" });
      assert.ok(node.error.args.some(([message]) => String(message).includes("direction must be one of")));
      node.receive(clarusMsg("stock.positively_adjusted", transaction(1)));
      const [error] = await caught.waitFor(1);
      assert.ok(error.error.message.includes('not "sideways"'), error.error.message);
    });
  });

  describe("clarus-stock-hold change", function () {
    for (const [change, passes, stops] of [
      ["placed", "stock.placed_on_hold", "stock.released_from_hold"],
      ["released", "stock.released_from_hold", "stock.placed_on_hold"],
    ]) {
      it(`should pass only ${passes} when change is ${change}`, async function () {
        const node = await load("clarus-stock-hold", { change, otherOutput: true });
        node.receive(clarusMsg(stops, transaction(1, stops)));
        node.receive(clarusMsg(passes, transaction(2, passes)));
        const [[passed], [stopped]] = await Promise.all([out.waitFor(1), other.waitFor(1)]);
        assert.equal(passed.clarus.holdChange, change);
        assert.equal(stopped.clarus.event, stops);
      });
    }
  });

  describe("clarus-event lists", function () {
    it("should accept the events as a comma-separated string", async function () {
      const node = await load("clarus-event", {
        events: " goods_in.completed , stock.picked",
        otherOutput: true,
      });
      node.receive(clarusMsg("stock.picked", { id: 3, whatever: true }));
      node.receive(clarusMsg("goods_in.completed", receipt(4)));
      node.receive(clarusMsg("goods_out.completed", order(5)));
      const [[picked, received], [dispatched]] = await Promise.all([out.waitFor(2), other.waitFor(1)]);
      assert.equal(picked.clarus.recordId, "3");
      assert.equal(received.clarus.quantity, 14);
      assert.equal(dispatched.payload.id, 5);
    });

    it("should match every event, unknown included, when the list is empty", async function () {
      const node = await load("clarus-event", { events: [] });
      node.receive(clarusMsg("unknown", { hello: "world" }));
      node.receive(clarusMsg("invoice.paid", { id: "INV-1", total: 10 }));
      node.receive(clarusMsg("stock.positively_adjusted", transaction(2)));
      const received = await out.waitFor(3);
      assert.deepEqual(received[0].payload, { hello: "world" });
      assert.equal(received[0].clarus.recordId, undefined);
      assert.equal(received[1].clarus.recordId, "INV-1");
      assert.equal(received[2].clarus.direction, "positive");
    });

    it("should validate the known event families and only require an object of the others", async function () {
      const node = await load("clarus-event", { events: [] });
      await expectCaught(
        node,
        clarusMsg("goods_out.cancelled", { reference: "SO-1" }),
        "payload.id is required",
      );
      node.receive(clarusMsg("putaway_task.completed", {}));
      const [sent] = await out.waitFor(1);
      assert.deepEqual(sent.payload, {});
      const error = await (async () => {
        node.receive(clarusMsg("ftp_file.uploaded", ["not", "an", "object"]));
        const received = await caught.waitFor(2);
        return received[1];
      })();
      assert.ok(
        error.error.message.includes("ftp_file.uploaded payload is invalid: payload must be an object"),
      );
    });

    it("should match only the listed automation ids", async function () {
      const node = await load("clarus-event", { events: [], automationIds: "43, 44", otherOutput: true });
      node.receive(clarusMsg("goods_out.completed", order(1), { automationId: "45" }));
      node.receive(clarusMsg("goods_out.completed", order(2), { source: "poll", automationId: undefined }));
      node.receive(clarusMsg("goods_out.completed", order(3), { automationId: "44" }));
      const [[matched], others] = await Promise.all([out.waitFor(1), other.waitFor(2)]);
      assert.equal(matched.payload.id, 3);
      assert.deepEqual(
        others.map((m) => m.payload.id),
        [1, 2],
      );
    });

    it("should warn about an event outside the Clarus vocabulary", async function () {
      const node = await load("clarus-event", { events: ["goods_out.complete"] });
      assert.ok(node.warn.args.some(([message]) => String(message).includes("goods_out.complete")));
    });
  });
});
