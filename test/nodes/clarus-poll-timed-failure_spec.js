// A timed poll run that fails reaches a Catch node, like one an input asked for: once per cause while the runs go
// on failing (the timer would repeat it every interval), with a log line when a run succeeds again, and once
// more for the next streak. Every run is counted in the metrics and the connection's health alike.
const assert = require("node:assert/strict");

const { helper } = require("../helpers/node-red");
const { startWarehouse } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");
const { waitForCall } = require("../helpers/status");

describe("clarus-poll: a failed timed run", function () {
  this.timeout(60_000);
  let warehouse;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await warehouse?.stop();
    warehouse = undefined;
    helper.settings({});
  });

  /** How many runs of `stream` the connection counted with `outcome`. */
  function runs(stream, outcome) {
    const counters = helper.getNode("conn").services.counters.snapshot();
    return counters.pollRuns.get(`${stream}\u0000${outcome}`) ?? 0;
  }

  it("should reach a Catch node once per streak of failures, and log the recovery", async function () {
    // A run every 0.6 s, by the timer only.
    warehouse = await startWarehouse({ pollOverrides: { intervalMinutes: 0.01 }, schema: "documented" });
    warehouse.sim.setFaults({ graphqlErrors: 1 });
    await warehouse.load();
    const poll = helper.getNode("poll0");
    const caughtOf = () => warehouse.caught.received.filter((msg) => msg.error.source.id === "poll0");

    await eventually(() => caughtOf().length === 1, { what: "the first timed failure caught" });
    const [first] = caughtOf();
    assert.match(first.error.message, /^poll goods_out\.completed failed: .*GraphQL errors/);
    assert.equal(first.topic, "goods_out.completed");
    assert.deepEqual(first.payload, { stream: "goods_out.completed", error: first.error.message });
    // More failed runs of the same cause: counted, and shown unhealthy, but no second error.
    const failedBefore = runs("goods_out.completed", "error");
    await eventually(() => runs("goods_out.completed", "error") >= failedBefore + 3, {
      what: "three more failed runs",
    });
    assert.equal(caughtOf().length, 1);
    const health = await helper.getNode("conn").services.health(0);
    assert.ok(health.polls.find((p) => p.node === "poll0").failingSince, JSON.stringify(health.polls));

    warehouse.sim.clearFaults();
    assert.equal(await waitForCall(poll, "log", /runs again/), "poll goods_out.completed runs again");
    await eventually(() => runs("goods_out.completed", "ok") >= 1, { what: "a run counted ok" });
    assert.equal((await helper.getNode("conn").services.health(0)).polls[0].failingSince, undefined);

    // A new streak is reported again.
    warehouse.sim.setFaults({ graphqlErrors: 1 });
    await eventually(() => caughtOf().length === 2, { what: "the next streak caught" });
  });
});
