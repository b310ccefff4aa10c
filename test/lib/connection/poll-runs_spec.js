// PollRuns: the poll nodes of a connection and whether their runs have been failing for three intervals.
const assert = require("node:assert/strict");

const { PollRuns, FAILING_INTERVALS } = require("../../../build/nodes/lib/connection/poll-runs.js");

const INTERVAL = 60_000;

describe("PollRuns", function () {
  it("should list each registered poll, ok until its runs have failed for three intervals", function () {
    const runs = new PollRuns();
    const poll = runs.register("p1", "goods_out.completed", INTERVAL);
    runs.register("p2", "stock.transactions", INTERVAL);
    const start = 1_700_000_000_000;
    assert.deepEqual(runs.health(start), [
      { node: "p1", stream: "goods_out.completed", ok: true },
      { node: "p2", stream: "stock.transactions", ok: true },
    ]);
    poll.failed(start);
    // Later failures keep the start of the first one.
    poll.failed(start + INTERVAL);
    const failingSince = new Date(start).toISOString();
    const justBefore = start + FAILING_INTERVALS * INTERVAL - 1;
    assert.deepEqual(runs.health(justBefore)[0], {
      node: "p1",
      stream: "goods_out.completed",
      ok: true,
      failingSince,
    });
    assert.deepEqual(runs.health(justBefore + 1)[0], {
      node: "p1",
      stream: "goods_out.completed",
      ok: false,
      failingSince,
    });
    poll.succeeded();
    assert.deepEqual(runs.health(justBefore + 1)[0], { node: "p1", stream: "goods_out.completed", ok: true });
  });

  it("should forget a poll that unregistered, but not a node of the same id registered since", function () {
    const runs = new PollRuns();
    const old = runs.register("p1", "goods_out.completed", INTERVAL);
    const redeployed = runs.register("p1", "goods_in.completed", INTERVAL);
    old.unregister();
    assert.deepEqual(runs.health(), [{ node: "p1", stream: "goods_in.completed", ok: true }]);
    redeployed.unregister();
    assert.deepEqual(runs.health(), []);
  });
});
