// Drift of registered automations, against the simulator's real REST and GraphQL APIs: once a webhook-in has
// registered its automations, it reads them back every `driftMinutes` of its connection and puts back what was
// changed in Clarus: a disabled one is enabled, a deleted one created again, a re-pointed one set back. Each
// repair is a warning, a status and a count on the connection; a failed read is warned about once.
const assert = require("node:assert/strict");

const {
  helper,
  connectionNode,
  capturingWebhookNode,
  tempUserDir,
  TOKEN,
  collect,
  webhookConfig,
} = require("../helpers/node-red");
const { startSimulator, TEST_TUNING, listen, connectionFor } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");
const { waitForStatus, waitForCall } = require("../helpers/status");

const EVENTS = ["goods_out.completed", "goods_in.completed", "stock.placed_on_hold"];
/** 1.2 s: a few periods fit in a test. */
const DRIFT_MINUTES = 0.02;

describe("clarus-webhook-in: drift of registered automations", function () {
  let sim;
  let server;
  let app;
  let publicUrl;
  let userDir;

  before(() => helper.startServer());
  after(() => helper.stopServer());

  beforeEach(async () => {
    sim = await startSimulator({ history: 0, seed: 21 });
    server = await listen((req, res) => app(req, res));
    publicUrl = `http://127.0.0.1:${server.address().port}`;
    userDir = tempUserDir();
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => server.close(resolve));
    await sim.stop();
    helper.settings({});
  });

  function hook(id = "hook", overrides = {}) {
    return webhookConfig({ id, register: EVENTS, ...overrides });
  }

  function flow(nodes, connectionOverrides = {}) {
    return [
      connectionFor(sim, [], {
        publicUrl,
        dedupeCapacity: 1000,
        driftMinutes: DRIFT_MINUTES,
        ...connectionOverrides,
      }),
      ...nodes,
      { id: "out", type: "helper" },
    ];
  }

  const credentials = () => ({
    conn: { webhookToken: TOKEN, clientId: sim.clientId, clientSecret: sim.clientSecret },
  });

  async function load(nodes, connectionOverrides = {}) {
    helper.settings({ clarus: TEST_TUNING, userDir });
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))],
      flow(nodes, connectionOverrides),
      credentials(),
    );
    return collect(helper.getNode("out"));
  }

  /** Loads and resolves once the node's registration has finished, with the connection's drift figures. */
  async function registeredAndWatched(nodes = [hook()], connectionOverrides = {}) {
    const out = await load(nodes, connectionOverrides);
    await registration(helper.getNode(nodes[0].id));
    return { out, drift: helper.getNode("conn").services.drift };
  }

  function registration(node) {
    return waitForStatus(node, (s) => /^(registered|registration failed)/.test(s.text));
  }

  /** The simulator's automations of node `nodeId`, by event. */
  function registered(nodeId = "hook") {
    const prefix = `node-red-clarus ${nodeId} `;
    return sim.store.automations
      .all()
      .filter((a) => a.name.startsWith(prefix))
      .map((a) => ({
        id: a.id,
        name: a.name,
        event: a.name.slice(prefix.length).split(" ")[0],
        enabled: a.enabled,
        targets: sim.webhookTargets(a.id),
      }))
      .sort((a, b) => a.event.localeCompare(b.event) || a.id - b.id);
  }

  function automationOf(event, nodeId = "hook") {
    const found = registered(nodeId).filter((a) => a.event === event);
    assert.equal(found.length, 1, `one automation of ${event}: ${JSON.stringify(found)}`);
    return found[0];
  }

  /** What the API saw of node `nodeId`: its lookups by name, REST reads, and REST writes. */
  function apiCalls(nodeId = "hook") {
    const lookups = sim.requestLog.filter(
      (entry) =>
        entry.path === "/graphql" &&
        JSON.stringify(entry.variables?.filter?.name ?? "").includes(` ${nodeId} `),
    ).length;
    const { read, create, update, delete: deleted } = sim.automationsApi.counts;
    return { lookups, reads: read, writes: create + update + deleted };
  }

  /** Resolves once the connection counted `n` checks in all (made or failed). */
  function checks(drift, n) {
    return eventually(() => drift.checks >= n, {
      timeoutMs: 15_000,
      what: `${n} drift checks (made ${drift.checks})`,
    });
  }

  /** Resolves with the first status of `node` shown from now on that `matches` accepts. */
  function nextStatus(node, matches) {
    return new Promise((resolve) => {
      const listener = (call) => {
        if (call.thisValue !== node || !matches(call.args[0])) return;
        node.removeListener("call:status", listener);
        resolve(call.args[0]);
      };
      node.on("call:status", listener);
    });
  }

  /** The warnings `node` itself logged (the spy records every node's) that `pattern` matches. */
  function warnings(node, pattern = /./) {
    return node.warn
      .getCalls()
      .filter((call) => call.thisValue === node)
      .map((call) => String(call.args[0]))
      .filter((text) => pattern.test(text));
  }

  function everythingShown(node) {
    const calls = ["log", "warn", "error", "status"].flatMap((method) => node[method].args);
    return JSON.stringify(calls) + JSON.stringify(helper.log().args);
  }

  it("should enable a disabled automation again, warn naming it, and show it in the status", async function () {
    const { out, drift } = await registeredAndWatched();
    const node = helper.getNode("hook");
    const target = automationOf("goods_in.completed");
    sim.updateAutomation(target.id, { enabled: false });

    const warning = await waitForCall(node, "warn", /was disabled in Clarus/);
    assert.equal(
      warning,
      `automation ${target.id} (goods_in.completed) was disabled in Clarus: enabled again`,
    );
    const status = await waitForStatus(node, (s) => /repaired/.test(s.text));
    assert.match(status.text, /^\d\d:\d\d repaired 1 automation\(s\)$/);
    assert.equal(status.fill, "yellow");
    assert.deepEqual(
      registered().map((a) => [a.event, a.enabled]),
      EVENTS.map((e) => [e, true]).sort(),
    );
    assert.equal(automationOf("goods_in.completed").id, target.id, "the same automation, not a new one");
    assert.deepEqual(drift.repairs, { disabled: 1, deleted: 0, "re-pointed": 0 });
    assert.equal(drift.repaired, 1);

    // The next clean check clears the status; the repaired automation delivers again.
    await nextStatus(node, (s) => s.text === "registered 3 event(s)");
    sim.generate(1, ["goods_in.completed"]);
    await sim.flush();
    const [msg] = await out.waitFor(1);
    assert.equal(msg.topic, "goods_in.completed");
    assert.equal(msg.clarus.automationId, String(target.id));
  });

  it("should create a deleted automation again once, under its name, and remember the new id", async function () {
    const { drift } = await registeredAndWatched();
    const node = helper.getNode("hook");
    const services = helper.getNode("conn").services;
    const gone = automationOf("stock.placed_on_hold");
    const creates = sim.automationsApi.counts.create;
    sim.removeAutomation(gone.id);

    const warning = await waitForCall(node, "warn", /was deleted in Clarus/);
    const again = automationOf("stock.placed_on_hold");
    assert.equal(
      warning,
      `automation ${gone.id} (stock.placed_on_hold) was deleted in Clarus: created again as ${again.id}`,
    );
    assert.notEqual(again.id, gone.id);
    assert.equal(again.name, gone.name);
    const where = (automation) => automation.targets.map((t) => [t.url, t.method]);
    assert.deepEqual(where(again), where(gone));
    // Two more checks find it there: it is created once, not once per check.
    const after = drift.checks;
    await checks(drift, after + 2);
    assert.equal(sim.automationsApi.counts.create, creates + 1);
    assert.equal(registered().length, EVENTS.length);
    assert.deepEqual(drift.repairs, { disabled: 0, deleted: 1, "re-pointed": 0 });
    // Its deliveries are classified by the new id; the registration memory forgot the old one.
    assert.equal(services.automationEvent(String(again.id)), "stock.placed_on_hold");
    const memory = await services.store.readDocument("registrations-conn");
    assert.ok(memory[String(again.id)], "the new id is remembered");
    assert.equal(memory[String(gone.id)], undefined, "the deleted id is forgotten");
  });

  it("should set a re-pointed automation back, in place, and never show the token", async function () {
    const { drift } = await registeredAndWatched();
    const node = helper.getNode("hook");
    const target = automationOf("goods_out.completed");
    sim.updateAutomation(target.id, { url: "https://elsewhere.example.com/hook", method: "GET" });

    const warning = await waitForCall(node, "warn", /was changed in Clarus/);
    assert.equal(
      warning,
      `automation ${target.id} (goods_out.completed) was changed in Clarus (its webhook URL was changed; its webhook method is no longer POST): set back`,
    );
    const repaired = automationOf("goods_out.completed");
    assert.equal(repaired.id, target.id);
    assert.deepEqual(
      repaired.targets.map((t) => [t.url, t.method]),
      [[`${publicUrl}/clarus/events/${TOKEN}`, "POST"]],
    );
    assert.deepEqual(drift.repairs, { disabled: 0, deleted: 0, "re-pointed": 1 });
    assert.ok(!everythingShown(node).includes(TOKEN), "the token was logged or shown");
  });

  it("should create what the deploy's registration could not, at the first check", async function () {
    sim.automationsApi.setFaults([{ operation: "create", nth: 2, status: 503 }]);
    const { drift } = await registeredAndWatched();
    const node = helper.getNode("hook");
    assert.equal(registered().length, EVENTS.length - 1);
    const warning = await waitForCall(node, "warn", /was missing in Clarus/);
    const made = automationOf("goods_in.completed");
    assert.equal(
      warning,
      `the automation of goods_in.completed was missing in Clarus: created as ${made.id}`,
    );
    assert.equal(registered().length, EVENTS.length);
    assert.deepEqual(drift.repairs, { disabled: 0, deleted: 1, "re-pointed": 0 });
  });

  it("should read an unchanged set back with one lookup and one read per automation, and write nothing", async function () {
    const { drift } = await registeredAndWatched();
    await checks(drift, 1);
    const before = apiCalls();
    await checks(drift, 3);
    const after = apiCalls();
    assert.deepEqual(
      {
        lookups: after.lookups - before.lookups,
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
      },
      { lookups: 2, reads: 2 * EVENTS.length, writes: 0 },
    );
    assert.equal(drift.repaired, 0);
    assert.equal(drift.failedChecks, 0);
    assert.deepEqual(warnings(helper.getNode("hook"), /Clarus/), []);
  });

  it("should make exactly one API request per check where Clarus shows no actions, and write nothing", async function () {
    sim.automationsApi.reads = false;
    const { drift } = await registeredAndWatched();
    await checks(drift, 1);
    const requests = sim.requests.total;
    await checks(drift, 3);
    assert.equal(sim.requests.total - requests, 2, "one request per check");
    const disabled = automationOf("goods_in.completed");
    sim.updateAutomation(disabled.id, { enabled: false });
    await waitForCall(helper.getNode("hook"), "warn", /was disabled in Clarus: enabled again/);
    assert.equal(automationOf("goods_in.completed").enabled, true);
  });

  it("should read nothing back with driftMinutes 0", async function () {
    // A second connection with drift on is the clock: two of its checks are two periods of the first's.
    const clock = {
      ...connectionFor(sim, [], { publicUrl, driftMinutes: DRIFT_MINUTES }),
      id: "conn-clock",
    };
    helper.settings({ clarus: TEST_TUNING, userDir });
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))],
      [
        ...flow([hook("hook")], { driftMinutes: 0 }),
        clock,
        hook("timer", { connection: "conn-clock", path: "/clarus/timer", register: ["goods_out.completed"] }),
      ],
      { ...credentials(), "conn-clock": credentials().conn },
    );
    await registration(helper.getNode("hook"));
    const before = apiCalls("hook");
    await checks(helper.getNode("conn-clock").services.drift, 2);
    assert.deepEqual(
      apiCalls("hook").lookups,
      before.lookups,
      "the node without drift looked its automations up",
    );
    assert.equal(helper.getNode("conn").services.drift.checks, 0);
    assert.equal(helper.getNode("conn").services.driftMs, 0);
  });

  it("should warn about a driftMinutes the editor would refuse, and check every 15 minutes", async function () {
    await load([hook()], { driftMinutes: "-1" });
    const connection = helper.getNode("conn");
    assert.deepEqual(warnings(connection), [
      'driftMinutes "-1" must be 0 (off) or a number of minutes from 0.01 to 1440; 15 is used',
    ]);
    assert.equal(connection.services.driftMs, 15 * 60_000);
    await registration(helper.getNode("hook"));
  });

  it("should warn once about a failed read, try again each period, and repair once it can", async function () {
    const { drift } = await registeredAndWatched();
    const node = helper.getNode("hook");
    sim.setFaults({ graphqlErrors: 1 });
    await eventually(() => drift.failedChecks >= 3, { timeoutMs: 15_000, what: "three failed checks" });
    const failed = warnings(node, /could not check its Clarus automations/);
    assert.equal(failed.length, 1, `warned ${failed.length} times`);
    assert.match(failed[0], /; trying again every 0\.02 min$/);
    await waitForStatus(node, (s) => s.text === "automation check failed");

    sim.clearFaults();
    const target = automationOf("goods_out.completed");
    sim.updateAutomation(target.id, { enabled: false });
    await waitForCall(node, "warn", /was disabled in Clarus: enabled again/);
    await waitForCall(node, "log", /could be checked again/);
    assert.equal(automationOf("goods_out.completed").enabled, true);
  });

  context("through the node's lifecycle", function () {
    /** A second webhook-in on the same connection, whose checks tell the periods. */
    const timer = () => hook("timer", { path: "/clarus/timer", register: ["goods_out.completed"] });

    it("should start no second check through redeploys", async function () {
      const { drift } = await registeredAndWatched([hook(), timer()]);
      for (let i = 0; i < 3; i++) {
        const since = helper.log().args.length;
        await helper.setFlows(
          flow([hook("hook", { name: `redeploy ${i}` }), timer()]),
          "nodes",
          credentials(),
        );
        await eventually(
          () =>
            helper
              .log()
              .args.slice(since)
              .some((args) => /registered with Clarus/.test(JSON.stringify(args))),
          { what: `registration after redeploy ${i}` },
        );
      }
      const made = drift.checks;
      await checks(drift, made + 4);
      // A timer left running beside the new one would find each check just made and leave it out.
      assert.equal(drift.checkedElsewhere, 0);
    });

    for (const [what, change, expected] of [
      ["disabled", (n) => ({ ...n, d: true }), (automations) => automations.every((a) => !a.enabled)],
      ["deleted", () => undefined, (automations) => automations.length === 0],
    ]) {
      it(`should make no check for a node ${what}, so its automations stay as closing left them`, async function () {
        const { drift } = await registeredAndWatched([hook(), timer()]);
        await checks(drift, 1);
        const changed = change(hook());
        await helper.setFlows(flow([...(changed ? [changed] : []), timer()]), "nodes", credentials());
        await eventually(() => expected(registered()), { what: `its automations ${what}` });
        const lookups = apiCalls("hook").lookups;
        await checks(drift, drift.checks + 2);
        assert.equal(apiCalls("hook").lookups, lookups, "the closed node looked its automations up");
        assert.ok(expected(registered()), `a check changed them: ${JSON.stringify(registered())}`);
      });
    }
  });
});
