// The Alerter's state on a fake clock, checked by hand: one message per change of a rule however many checks
// run, the status following the firing rules, and nothing more once closed. The node is a recorder of what the
// Alerter sends; the counters and the store that cannot be built are the package's own.
const assert = require("node:assert/strict");

const { Alerter } = require("../../../build/nodes/lib/alert/alerter.js");
const { alertRules } = require("../../../build/nodes/lib/alert/settings.js");
const { ConnectionCounters } = require("../../../build/nodes/lib/metrics/counters.js");
const { UnavailableStore } = require("../../../build/nodes/lib/store/unavailable-store.js");

const MINUTE = 60_000;

function recorder() {
  const node = { sent: [], statuses: [], errors: [] };
  node.send = (msg) => node.sent.push(msg);
  node.status = (status) => node.statuses.push(status);
  node.error = (message) => node.errors.push(message);
  return node;
}

describe("Alerter", function () {
  let now;
  let counters;
  beforeEach(() => {
    now = Date.now();
    counters = new ConnectionCounters(() => now);
  });

  function alerter(
    node,
    rules,
    store = { kind: "file", health: { state: "ready" }, inboxState: async () => ({ pending: 0, dead: 0 }) },
  ) {
    return new Alerter(
      node,
      { metricsLabel: "acme", counters, store },
      alertRules({ rules }),
      60_000,
      () => now,
    );
  }

  it("should send one message when a rule starts to hold and one when it stops, whatever the checks between", async function () {
    const node = recorder();
    const watching = alerter(node, [{ rule: "silence", minutes: 10 }]);
    await watching.check();
    for (let minute = 1; minute <= 30; minute++) {
      now += MINUTE;
      await watching.check();
    }
    assert.deepEqual(
      node.sent.map((m) => [m.topic, m.payload.state, m.payload.connection]),
      [["silence", "firing", "acme"]],
    );
    assert.equal(node.sent[0].payload.since, new Date(node.sent[0].payload.since).toISOString());
    counters.entered("goods_out.completed", "webhook");
    await watching.check();
    await watching.check();
    assert.deepEqual(
      node.sent.map((m) => m.payload.state),
      ["firing", "resolved"],
    );
    assert.deepEqual(
      node.statuses.map((s) => s.text),
      ["ok", "firing: silence", "ok"],
    );
    assert.deepEqual(node.errors, []);
  });

  it("should tell store-down from the time the store stopped being ready", async function () {
    const node = recorder();
    const store = new UnavailableStore("redis", "connection refused", "connect ECONNREFUSED 127.0.0.1:6379");
    now = store.health.since + 30_000;
    const watching = alerter(node, [{ rule: "store-down", minutes: 1 }], store);
    await watching.check();
    assert.deepEqual(node.sent, []);
    now += 30_000;
    await watching.check();
    assert.deepEqual(
      node.sent.map((m) => m.payload.detail),
      ["The redis store has not been ready for 1 minute: connection refused."],
    );
  });

  it("should leave a dead-letter rule as it was when the store does not answer, and check again later", async function () {
    const node = recorder();
    let answer = () => Promise.reject(new Error("store unavailable"));
    const store = { kind: "redis", health: { state: "ready" }, inboxState: () => answer() };
    const watching = alerter(node, [{ rule: "dead-letters" }], store);
    await watching.check();
    assert.deepEqual(node.sent, []);
    answer = async () => ({ pending: 0, dead: 4 });
    await watching.check();
    assert.deepEqual(
      node.sent.map((m) => m.payload.detail),
      ["4 dead letters in the inbox (alert above 0)."],
    );
  });

  it("should check nothing more once closed", async function () {
    const node = recorder();
    const watching = alerter(node, [{ rule: "silence", minutes: 1 }]);
    watching.start();
    watching.close();
    now += 10 * MINUTE;
    await watching.check();
    assert.deepEqual(node.sent, []);
  });
});
