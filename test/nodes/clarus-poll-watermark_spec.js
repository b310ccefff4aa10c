// The poll's watermark and the records it waits for: time from the API's clock, records that complete
// after their tasks, and lookups that page.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const sinon = require("sinon");

const { helper, tempUserDir } = require("../helpers/node-red");
const { startWarehouse } = require("../helpers/clarus-sim");

const MINUTE = 60_000;

describe("clarus-poll watermark and pending records", function () {
  this.timeout(60_000);
  let warehouse;
  let clock;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    clock?.restore();
    clock = undefined;
    await warehouse?.stop();
    warehouse = undefined;
    helper.settings({});
  });

  /** The ids of the records the flow received, in order. */
  const received = () => warehouse.out.received.map((msg) => msg.payload.id);

  it("should emit an order that completes 30 minutes after its DISP task, once the task has left the window", async function () {
    // Node-RED's clock and the API's move together, as in production; only Date is faked.
    clock = sinon.useFakeTimers({ now: Date.now(), toFake: ["Date"], shouldAdvanceTime: true });
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "rich",
      simOptions: { now: () => Date.now() },
    });
    await warehouse.load();
    const { sim } = warehouse;
    await warehouse.runOnce("poll0");
    const [dispatch] = sim.generate(1, ["goods_out.completed"]);
    const order = sim.store.goodsOuts.get(dispatch.recordId);
    order.goods_out_status_id = 5; // its tasks are complete, the order is not yet
    const seen = [];
    let minute = 0;
    for (const at of [1, 16, 31, 46, 61]) {
      clock.tick((at - minute) * MINUTE);
      minute = at;
      if (at === 31) order.goods_out_status_id = 6; // the order completed at minute 30
      await warehouse.runOnce("poll0");
      seen.push(received().length);
    }
    assert.deepEqual(seen, [0, 0, 1, 1, 1], "messages after the runs at minutes 1, 16, 31, 46, 61");
    assert.deepEqual(received(), [String(order.id)]);
    assert.equal(warehouse.out.received[0].topic, "goods_out.completed");
  });

  it("should take the watermark from the API's clock: a Node-RED clock 20 minutes fast loses nothing", async function () {
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "rich",
      simOptions: { now: () => Date.now() - 20 * MINUTE },
    });
    await warehouse.load();
    const { sim } = warehouse;
    await warehouse.runOnce("poll2");
    const adjustments = sim.generate(3, ["stock.positively_adjusted"]);
    await warehouse.runOnce("poll2");
    assert.deepEqual(
      received(),
      adjustments.map((event) => String(event.recordId)),
    );
  });

  it("should pull a watermark that is later than the API's clock back, and read what it skipped", async function () {
    const userDir = tempUserDir();
    const file = path.join(userDir, "clarus", "poll-poll2.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // What 0.1 kept after one run with a clock a day fast: max() never let it come back.
    fs.writeFileSync(
      file,
      JSON.stringify({ watermark: new Date(Date.now() + 24 * 60 * MINUTE).toISOString() }),
    );
    warehouse = await startWarehouse({ webhook: { dropRate: 1 }, schema: "rich", userDir });
    await warehouse.load();
    const adjustments = warehouse.sim.generate(3, ["stock.negatively_adjusted"]);
    await warehouse.runOnce("poll2");
    assert.deepEqual(
      received(),
      adjustments.map((event) => String(event.recordId)),
    );
    const { watermark } = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.ok(Date.parse(watermark) <= Date.now(), `watermark ${watermark} is in the future`);
  });

  it("should read a 0.1 state file, and start clean from parts of one that are not what they claim", async function () {
    const userDir = tempUserDir();
    const dir = path.join(userDir, "clarus");
    fs.mkdirSync(dir, { recursive: true });
    const hourAgo = new Date(Date.now() - 60 * MINUTE).toISOString();
    // poll2 stopped at maxPages under 0.1 (a resume without a plan); poll1's file was edited by hand.
    fs.writeFileSync(
      path.join(dir, "poll-poll2.json"),
      JSON.stringify({
        watermark: hourAgo,
        resume: { since: hourAgo, after: "MTAwMDA=", startedAt: hourAgo },
      }),
    );
    fs.writeFileSync(
      path.join(dir, "poll-poll1.json"),
      JSON.stringify({ watermark: "last Tuesday", resume: 7 }),
    );
    warehouse = await startWarehouse({ webhook: { dropRate: 1 }, schema: "rich", userDir });
    await warehouse.load();
    const holds = warehouse.sim.generate(2, ["stock.placed_on_hold"]);
    await warehouse.runOnce("poll2");
    await warehouse.runOnce("poll1");
    assert.deepEqual(
      received(),
      holds.map((event) => String(event.recordId)),
    );
    const warnings = helper.getNode("poll1").warn.args.map(([w]) => String(w));
    assert.ok(warnings.some((w) => /poll state watermark is not a date/.test(w)));
    assert.ok(warnings.some((w) => /unreadable place to resume from/.test(w)));
    const saved = JSON.parse(fs.readFileSync(path.join(dir, "poll-poll2.json"), "utf8"));
    assert.equal(saved.resume, undefined);
    assert.ok(Date.parse(saved.watermark) > Date.parse(hourAgo));
  });

  it("should raise a lookback below the minimum, so a record committed late is still read", async function () {
    let offsetMs = 0;
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "rich",
      pollOverrides: { lookbackMinutes: 0 },
      simOptions: { now: () => Date.now() + offsetMs },
    });
    await warehouse.load();
    const { sim } = warehouse;
    await warehouse.runOnce("poll2");
    // A transaction stamped 30 s before the run but committed after it (the API's clock is the truth).
    offsetMs = -30_000;
    const [late] = sim.generate(1, ["stock.placed_on_hold"]);
    offsetMs = 0;
    await warehouse.runOnce("poll2");
    assert.deepEqual(received(), [String(late.recordId)]);
    const warnings = helper.getNode("poll2").warn.args.map(([w]) => String(w));
    assert.ok(
      warnings.some((w) => /lookbackMinutes 0 is below the minimum: each run reads 2 minutes back/.test(w)),
    );
  });

  it("should page through record lookups when the API caps a list's pages below the page size", async function () {
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "rich",
      pollOverrides: { pageSize: 25 },
      simOptions: { maxPageSize: { goods_outs: 3 } },
    });
    await warehouse.load();
    const { sim } = warehouse;
    await warehouse.runOnce("poll0");
    const dispatches = sim.generate(20, ["goods_out.completed"]);
    await warehouse.runOnce("poll0");
    assert.deepEqual([...received()].sort(), dispatches.map((event) => String(event.recordId)).sort());
  });
});
