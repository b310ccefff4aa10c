// The clarus-alert node's store-down rule against a real redis-server that stops and starts again: one message
// when the store has been away for the rule's minutes, one when it is back, and the dead-letter count asked of
// the same Redis meanwhile never holds a check up.
const assert = require("node:assert/strict");
const path = require("node:path");

const { collect, helper } = require("../helpers/node-red");
const { startWarehouse, TEST_TUNING } = require("../helpers/clarus-sim");
const { RedisServer } = require("../helpers/redis-server");
const { waitForStatus } = require("../helpers/status");

/** The status `node` shows now: its last call (the check that sends a message sets the status before it arrives). */
function lastStatus(node) {
  return node.status
    .getCalls()
    .filter((call) => call.thisValue === node)
    .at(-1).args[0];
}

const build = path.join(__dirname, "..", "..", "build", "nodes");
const alertNode = require(path.join(build, "clarus-alert.js"));

describe("clarus-alert on a Redis store", function () {
  this.timeout(60_000);
  let redis;
  let warehouse;

  before(async () => {
    await helper.startServer();
    redis = await new RedisServer().start();
  });
  after(async () => {
    await warehouse?.stop();
    await redis.dispose();
    await helper.stopServer();
  });

  it("should fire once when Redis has been away for the rule's minutes, and resolve once it is back", async function () {
    warehouse = await startWarehouse({
      connection: { name: "acme", store: "redis", delivery: "on-confirm" },
      credentials: { redisUrl: redis.url() },
      settings: { clarus: { ...TEST_TUNING, alertCheckSeconds: 0.2 } },
      extra: {
        nodes: [alertNode],
        flow: [
          {
            id: "alert",
            type: "clarus-alert",
            connection: "conn",
            // 1.2 s; the dead-letter rule asks the same Redis at every check.
            rules: [{ rule: "store-down", minutes: 0.02 }, { rule: "dead-letters" }],
            wires: [["alerts"]],
          },
          { id: "alerts", type: "helper" },
        ],
      },
    });
    await warehouse.load();
    const alert = helper.getNode("alert");
    const { received, waitFor } = collect(helper.getNode("alerts"));
    await waitForStatus(alert, (status) => status.text === "ok");

    const stoppedAt = Date.now();
    await redis.stop();
    const [firing] = await waitFor(1);
    assert.equal(firing.topic, "store-down");
    assert.equal(firing.payload.state, "firing");
    assert.equal(firing.payload.connection, "acme");
    assert.match(
      firing.payload.detail,
      /^The redis store has not been ready for \d+ seconds?(: .+| \(connecting\))\.$/,
    );
    assert.ok(Date.parse(firing.payload.since) - stoppedAt >= 1000, firing.payload.since);
    await waitForStatus(alert, (status) => status.text === "firing: store-down" && status.fill === "red");

    await redis.start();
    const [, resolved] = await waitFor(2);
    assert.deepEqual(
      [resolved.topic, resolved.payload.state, resolved.payload.detail],
      ["store-down", "resolved", "The redis store is ready."],
    );
    assert.deepEqual(lastStatus(alert), { fill: "green", shape: "dot", text: "ok" });
    assert.deepEqual(
      received.map((msg) => msg.topic),
      ["store-down", "store-down"],
    );
  });
});
