// The simulator's webhook fault, switched over its own HTTP control as the demo does (`POST /sim/webhooks`):
// while the webhooks are silent the poll still finds the events, and clarus-alert's webhooks-missing fires once;
// once they speak again and the window passes without a poll-only event, it resolves once.
const assert = require("node:assert/strict");
const path = require("node:path");

const { collect, helper } = require("../helpers/node-red");
const { startWarehouse, TEST_TUNING } = require("../helpers/clarus-sim");
const { waitForStatus } = require("../helpers/status");

const build = path.join(__dirname, "..", "..", "build", "nodes");
const alertNode = require(path.join(build, "clarus-alert.js"));

async function silence(sim, silent) {
  const res = await fetch(`${sim.url}/sim/webhooks`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ silent }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

describe("clarus-alert against the simulator's silenced webhooks", function () {
  this.timeout(60_000);
  let warehouse;

  before(() => helper.startServer());
  after(async () => {
    await warehouse?.stop();
    await helper.stopServer();
  });

  it("should fire webhooks-missing while the webhooks are silent, and resolve once they are back", async function () {
    warehouse = await startWarehouse({
      connection: { name: "acme" },
      // No webhook dropped at random (the demo's --no-drops): silencing drops all, and speaking puts this back.
      webhook: { dropRate: 0 },
      settings: { clarus: { ...TEST_TUNING, alertCheckSeconds: 0.2 } },
      extra: {
        nodes: [alertNode],
        flow: [
          {
            id: "alert",
            type: "clarus-alert",
            connection: "conn",
            // A 3 s window, so the resolution comes within the test.
            rules: [{ rule: "webhooks-missing", threshold: 2, minutes: 0.05 }],
            wires: [["alerts"]],
          },
          { id: "alerts", type: "helper" },
        ],
      },
    });
    await warehouse.load();
    const { sim } = warehouse;
    const { received, waitFor } = collect(helper.getNode("alerts"));
    const alert = helper.getNode("alert");
    await waitForStatus(alert, (status) => status.text === "ok");

    // Webhooks working: what the poll finds the webhooks brought first, so nothing fires.
    sim.generate(2, ["goods_in.completed"]);
    await sim.flush();
    await warehouse.out.waitFor(2);
    await warehouse.runOnce("poll1");

    assert.deepEqual(await (await fetch(`${sim.url}/sim/webhooks`)).json(), { silent: false });
    assert.deepEqual(await silence(sim, true), { silent: true });
    sim.generate(3, ["goods_in.completed"]);
    await sim.flush();
    assert.equal(warehouse.out.received.length, 2, "no webhook came through");
    await warehouse.runOnce("poll1");
    await warehouse.out.waitFor(5);
    const [firing] = await waitFor(1);
    assert.deepEqual(
      [firing.topic, firing.payload.state, firing.payload.connection, firing.payload.detail],
      [
        "webhooks-missing",
        "firing",
        "acme",
        "The poll found 3 events in the last 3 seconds that no webhook delivered (alert at 2).",
      ],
    );
    await waitForStatus(alert, (status) => status.text === "firing: webhooks-missing");

    // Back: the webhooks deliver again, the poll finds only duplicates, and the window empties.
    assert.deepEqual(await silence(sim, false), { silent: false });
    sim.generate(2, ["goods_in.completed"]);
    await sim.flush();
    await warehouse.out.waitFor(7);
    await warehouse.runOnce("poll1");
    const [, resolved] = await waitFor(2);
    assert.deepEqual([resolved.topic, resolved.payload.state], ["webhooks-missing", "resolved"]);
    assert.match(resolved.payload.detail, /^The poll found [01] events? in the last 3 seconds/);
    assert.equal(received.length, 2);
    assert.equal(warehouse.out.received.length, 7, "every event once");
  });
});
