// The clarus-alert node against the simulator: a rule that starts to hold sends one message, one that stops
// sends one more, and nothing in between however many checks run. Checks run every 0.2 s here
// (`clarus.alertCheckSeconds`); every wait is for a message or a status, never a sleep.
const assert = require("node:assert/strict");
const path = require("node:path");

const { helper, tempUserDir } = require("../helpers/node-red");
const { startWarehouse } = require("../helpers/clarus-sim");
const { waitForStatus } = require("../helpers/status");
const { eventually } = require("../helpers/eventually");

/** The status `node` shows now: its last call (the check that sends a message sets the status before it arrives). */
function lastStatus(node) {
  return node.status
    .getCalls()
    .filter((call) => call.thisValue === node)
    .at(-1).args[0];
}

const build = path.join(__dirname, "..", "..", "build", "nodes");
const alertNode = require(path.join(build, "clarus-alert.js"));
const confirmNode = require(path.join(build, "clarus-confirm.js"));
const { forgetCounters } = require(path.join(build, "lib", "metrics", "counters.js"));

const SETTINGS = { clarus: { timeoutMs: 2000, alertCheckSeconds: 0.2, health: { tokenCheckSeconds: 0.5 } } };

/** The warehouse of clarus-sim.js with an alert node on its connection, its output into `alerts`. */
async function withAlert(rules, options = {}) {
  const alert = { id: "alert", type: "clarus-alert", connection: "conn", rules, wires: [["alerts"]] };
  const { extra = { nodes: [], flow: [] }, ...rest } = options;
  const warehouse = await startWarehouse({
    settings: SETTINGS,
    ...rest,
    extra: {
      nodes: [alertNode, ...extra.nodes],
      flow: [alert, { id: "alerts", type: "helper" }, ...extra.flow],
    },
  });
  // Changed, it is what the warehouse's next load() deploys.
  warehouse.alertDef = alert;
  return warehouse;
}

function collector(id) {
  const node = helper.getNode(id);
  const received = [];
  const waiters = [];
  node.on("input", (msg) => {
    received.push(msg);
    for (const waiter of waiters.splice(0)) waiter();
  });
  return {
    received,
    async waitFor(count) {
      while (received.length < count) await new Promise((resolve) => waiters.push(resolve));
      return received;
    },
  };
}

describe("clarus-alert", function () {
  this.timeout(30_000);
  let warehouse;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(() => {
    // Counters outlive a redeploy, so another test of this process could have left figures on "conn".
    forgetCounters("conn");
  });
  afterEach(async () => {
    await warehouse?.stop();
    warehouse = undefined;
    helper.settings({});
  });

  it("should fire once when the poll finds events no webhook delivered, and resolve once the window passes", async function () {
    warehouse = await withAlert([{ rule: "webhooks-missing", threshold: 2, minutes: 0.05 }], {
      connection: { name: "acme" },
    });
    await warehouse.load();
    const alerts = collector("alerts");
    const alert = helper.getNode("alert");
    await waitForStatus(alert, (status) => status.text === "ok");

    warehouse.sim.setWebhookOptions({ dropRate: 1 });
    warehouse.sim.generate(3, ["goods_in.completed"]);
    await warehouse.sim.flush();
    const startedAt = Date.now();
    await warehouse.runOnce("poll1");
    await warehouse.out.waitFor(3);

    const [firing] = await alerts.waitFor(1);
    assert.equal(firing.topic, "webhooks-missing");
    assert.deepEqual(
      { ...firing.payload, since: undefined },
      {
        rule: "webhooks-missing",
        state: "firing",
        connection: "acme",
        detail: "The poll found 3 events in the last 3 seconds that no webhook delivered (alert at 2).",
        since: undefined,
      },
    );
    assert.ok(Date.parse(firing.payload.since) >= startedAt - 1000, firing.payload.since);
    await waitForStatus(
      alert,
      (status) => status.text === "firing: webhooks-missing" && status.fill === "red",
    );

    // No event since: once the window is over, the one resolution, after many checks that sent nothing.
    const [, resolved] = await alerts.waitFor(2);
    assert.equal(resolved.topic, "webhooks-missing");
    assert.equal(resolved.payload.state, "resolved");
    assert.match(resolved.payload.detail, /^The poll found 0 events in the last 3 seconds/);
    assert.ok(Date.parse(resolved.payload.since) - Date.parse(firing.payload.since) >= 3000);
    assert.equal(alerts.received.length, 2);
    assert.deepEqual(lastStatus(alert), { fill: "green", shape: "dot", text: "ok" });
    assert.equal(warehouse.caught.received.length, 0);
  });

  it("should not fire while the webhooks deliver what the poll finds, and fire on the silence after", async function () {
    warehouse = await withAlert([
      { rule: "webhooks-missing", threshold: 1, minutes: 0.05 },
      { rule: "dead-letters", threshold: 0 },
      { rule: "silence", minutes: 0.05 },
    ]);
    await warehouse.load();
    const alerts = collector("alerts");
    warehouse.sim.generate(3, ["goods_in.completed"]);
    await warehouse.sim.flush();
    await warehouse.out.waitFor(3);
    await warehouse.runOnce("poll1");
    const lastEvent = Date.now();
    // Three seconds without an event: the silence fires, after many checks in which nothing else held.
    const [silence] = await alerts.waitFor(1);
    assert.equal(silence.topic, "silence");
    assert.equal(silence.payload.state, "firing");
    assert.match(silence.payload.detail, /^No event for 3 seconds \(alert at 3 seconds; the last at 20\d\d-/);
    assert.ok(Date.parse(silence.payload.since) >= lastEvent + 2500);
    assert.equal(alerts.received.length, 1);
    await waitForStatus(helper.getNode("alert"), (status) => status.text === "firing: silence");

    // An event ends it.
    warehouse.sim.setWebhookOptions({ dropRate: 0 });
    warehouse.sim.generate(1, ["goods_out.completed"]);
    await warehouse.sim.flush();
    const [, resolved] = await alerts.waitFor(2);
    assert.deepEqual([resolved.topic, resolved.payload.state], ["silence", "resolved"]);
  });

  it("should fire once on dead letters, again once after a redeploy, and not above a higher threshold", async function () {
    const userDir = tempUserDir();
    warehouse = await withAlert([{ rule: "dead-letters", threshold: 1 }], {
      userDir,
      connection: { delivery: "on-confirm", redeliverSeconds: 1, maxAttempts: 1 },
    });
    await warehouse.load();
    let alerts = collector("alerts");
    // Nobody confirms: after their one attempt both become dead letters.
    warehouse.sim.generate(2, ["goods_out.completed"]);
    await warehouse.sim.flush();
    await warehouse.out.waitFor(2);
    const [firing] = await alerts.waitFor(1);
    assert.equal(firing.topic, "dead-letters");
    assert.equal(firing.payload.state, "firing");
    assert.equal(firing.payload.connection, "conn");
    assert.equal(firing.payload.detail, "2 dead letters in the inbox (alert above 1).");
    await waitForStatus(helper.getNode("alert"), (status) => status.text === "firing: dead-letters");

    // The state is in memory: after a redeploy the dead letters, still in the inbox file, fire once more.
    await helper.unload();
    await warehouse.load();
    alerts = collector("alerts");
    const [again] = await alerts.waitFor(1);
    assert.deepEqual(
      [again.topic, again.payload.state, again.payload.detail],
      ["dead-letters", "firing", "2 dead letters in the inbox (alert above 1)."],
    );

    // Redeployed with a threshold above the count: nothing holds, so nothing is sent.
    warehouse.alertDef.rules = [{ rule: "dead-letters", threshold: 2 }];
    await helper.unload();
    await warehouse.load();
    alerts = collector("alerts");
    // The first check shows "ok" only when no rule holds; a firing one would show "firing: dead-letters".
    await waitForStatus(helper.getNode("alert"), (status) => status.text === "ok");
    assert.deepEqual(alerts.received, []);
  });

  it("should fire once when the oldest pending event waits too long for a confirm, and resolve once it is confirmed", async function () {
    warehouse = await withAlert([{ rule: "inbox-lag", minutes: 0.03 }], {
      userDir: tempUserDir(),
      connection: { delivery: "on-confirm", redeliverSeconds: 600 },
      extra: {
        nodes: [confirmNode],
        flow: [{ id: "confirmer", type: "clarus-confirm", action: "confirm", wires: [[]] }],
      },
    });
    await warehouse.load();
    const alerts = collector("alerts");
    const alert = helper.getNode("alert");
    await waitForStatus(alert, (status) => status.text === "ok");
    warehouse.sim.generate(2, ["goods_out.completed"]);
    await warehouse.sim.flush();
    const [first, second] = await warehouse.out.waitFor(2);
    const admittedAt = Date.now();

    const [firing] = await alerts.waitFor(1);
    assert.deepEqual([firing.topic, firing.payload.state], ["inbox-lag", "firing"]);
    assert.match(
      firing.payload.detail,
      /^The oldest pending event has waited \d seconds for a confirm \(alert at 2 seconds\)\.$/,
    );
    assert.ok(Date.parse(firing.payload.since) >= admittedAt + 1000, firing.payload.since);
    await waitForStatus(alert, (status) => status.text === "firing: inbox-lag");

    // Confirming the older one leaves the younger one, which has waited as long: still firing, no message.
    helper.getNode("confirmer").receive(first);
    const store = helper.getNode("conn").services.store;
    await eventually(async () => (await store.inboxCounts()).pending === 1, { what: "one confirmed" });
    helper.getNode("confirmer").receive(second);
    const [, resolved] = await alerts.waitFor(2);
    assert.deepEqual(
      [resolved.topic, resolved.payload.state, resolved.payload.detail],
      ["inbox-lag", "resolved", "No event is waiting in the inbox for a confirm."],
    );
    assert.equal(await store.oldestPendingAge(), undefined);
    assert.equal(alerts.received.length, 2);
  });

  it("should fire once when no API token can be obtained, and resolve once one can", async function () {
    warehouse = await withAlert([{ rule: "api-down", minutes: 0.02 }], { connection: { name: "acme" } });
    await warehouse.load();
    const alerts = collector("alerts");
    const alert = helper.getNode("alert");
    await waitForStatus(alert, (status) => status.text === "ok");
    const services = helper.getNode("conn").services;
    // A token was obtained at the first check; the next token request is asked for once it is due.
    assert.equal(services.apiState.state, "ready");

    warehouse.sim.setFaults({ error5xx: 1, applyToToken: true });
    const [firing] = await alerts.waitFor(1);
    assert.deepEqual([firing.topic, firing.payload.state], ["api-down", "firing"]);
    assert.match(
      firing.payload.detail,
      /^No API token could be obtained for \d seconds?: Clarus API answered HTTP 5\d\d\.$/,
    );
    assert.equal(firing.payload.connection, "acme");
    await waitForStatus(alert, (status) => status.text === "firing: api-down");

    warehouse.sim.setFaults({});
    const [, resolved] = await alerts.waitFor(2);
    assert.deepEqual(
      [resolved.topic, resolved.payload.state, resolved.payload.detail],
      ["api-down", "resolved", "An API token can be obtained."],
    );
    assert.equal(alerts.received.length, 2);
  });

  it("should fire once when a registered automation drifted in Clarus, and resolve once a check finds it as registered", async function () {
    // A webhook-in that registers its automation; its drift is checked every 1.2 s.
    const connection = { driftMinutes: 0.02 };
    const registering = {
      id: "reg",
      type: "clarus-webhook-in",
      connection: "conn",
      path: "/clarus/registered",
      method: "POST",
      event: "auto",
      requireToken: true,
      maxBytes: 1048576,
      dedupe: true,
      register: ["goods_in.completed"],
      wires: [["out"]],
    };
    warehouse = await withAlert([{ rule: "automation-drift", threshold: 1 }], {
      connection,
      extra: { nodes: [], flow: [registering] },
    });
    connection.publicUrl = new URL(warehouse.url).origin;
    await warehouse.load();
    const alerts = collector("alerts");
    await waitForStatus(helper.getNode("reg"), (s) => /^registered 1 event/.test(s.text));
    await waitForStatus(helper.getNode("alert"), (status) => status.text === "ok");
    const services = helper.getNode("conn").services;
    assert.deepEqual(services.counters.snapshot().gauges.automations, {
      ok: 1,
      drifted: 0,
      missing: 0,
      failed: 0,
    });
    const [ours] = warehouse.sim.store.automations
      .all()
      .filter((a) => a.name.startsWith("node-red-clarus reg "));

    warehouse.sim.updateAutomation(ours.id, { enabled: false });
    const [firing] = await alerts.waitFor(1);
    assert.deepEqual(
      [firing.topic, firing.payload.state, firing.payload.detail],
      [
        "automation-drift",
        "firing",
        "1 of 1 registered automation not as registered (1 drifted) (alert at 1).",
      ],
    );
    // Repaired by that check; the next one finds it as registered.
    const [, resolved] = await alerts.waitFor(2);
    assert.deepEqual(
      [resolved.topic, resolved.payload.state, resolved.payload.detail],
      ["automation-drift", "resolved", "0 of 1 registered automation not as registered (alert at 1)."],
    );
    assert.equal(alerts.received.length, 2);
    assert.equal(warehouse.sim.store.automations.all().find((a) => a.id === ours.id).enabled, true);
  });

  it("should refuse a bad rule at deploy, in the status and to a Catch node", async function () {
    // Checked before the connection is looked for: a bad rule is reported even where none is configured yet.
    await helper.load(
      [alertNode],
      [
        {
          id: "alert",
          type: "clarus-alert",
          connection: "",
          rules: [{ rule: "silence", minutes: 30, days: ["mon", "funday"] }],
          wires: [[]],
        },
        { id: "alert-catch", type: "catch", scope: ["alert"], wires: [["alert-caught"]] },
        { id: "alert-caught", type: "helper" },
      ],
    );
    const caught = collector("alert-caught");
    const alert = helper.getNode("alert");
    const status = await waitForStatus(alert, (s) => s.fill === "red");
    assert.match(status.text, /^rule 1 \(silence\): days "funday"/);
    const [msg] = await caught.waitFor(1);
    assert.match(msg.error.message, /^not watching: rule 1 \(silence\): days "funday" is not a day/);
    assert.equal(msg.error.source.id, "alert");
    await helper.unload();
  });

  it("should wait, grey, without a connection", async function () {
    await helper.load(
      [alertNode],
      [{ id: "alert", type: "clarus-alert", connection: "", rules: [{ rule: "store-down" }], wires: [[]] }],
    );
    const status = await waitForStatus(helper.getNode("alert"), () => true);
    assert.deepEqual(status, { fill: "grey", shape: "ring", text: "not configured: no connection" });
    await helper.unload();
  });

  it("should wait, grey, on a connection not set up yet (no subdomain), instead of saying ok", async function () {
    const connectionNode = require(path.join(build, "clarus-connection.js"));
    await helper.load(
      [connectionNode, alertNode],
      [
        { id: "conn", type: "clarus-connection", name: "Clarus tenant (set me up)", subdomain: "" },
        {
          id: "alert",
          type: "clarus-alert",
          connection: "conn",
          rules: [{ rule: "store-down" }],
          wires: [[]],
        },
      ],
    );
    const alert = helper.getNode("alert");
    const status = await waitForStatus(alert, () => true);
    assert.deepEqual(status, { fill: "grey", shape: "ring", text: "not configured: no subdomain" });
    assert.equal(alert.warn.callCount, 0);
    assert.equal(alert.error.callCount, 0);
    await helper.unload();
  });
});
