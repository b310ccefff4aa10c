// GET /clarus-wms/health in Node-RED through the test helper, against the simulator: 200 when every connection is
// healthy and 503 naming the failing part (store, API token, a poll failing for three intervals), answered within
// the second a probe allows even while the token endpoint hangs, never with a secret, and with states only for a
// request without credentials when settings.js has clarus.publicHealth.
const assert = require("node:assert/strict");

const { helper, connectionNode, connectionConfig, TOKEN } = require("../helpers/node-red");
const { startWarehouse, TEST_TUNING } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");
const { waitForStatus } = require("../helpers/status");

/** A probe's own deadline: the endpoint must answer well inside it, whatever Clarus does. */
const PROBE_TIMEOUT_MS = 1500;

/** GET /clarus-wms/health with the probe's deadline; a timeout fails the test. */
async function health(headers = {}) {
  const res = await helper.request().get("/clarus-wms/health").set(headers).timeout(PROBE_TIMEOUT_MS);
  return { status: res.status, body: res.body, text: res.text };
}

describe("clarus-connection health endpoint", function () {
  this.timeout(30_000);
  let warehouse;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    if (warehouse) await warehouse.stop();
    else await helper.unload();
    warehouse = undefined;
    helper.settings({});
  });

  it("should answer 200 with the store, the API token and every poll of each connection, and no secret", async function () {
    warehouse = await startWarehouse();
    await warehouse.load();
    const { status, body, text } = await health();
    assert.equal(status, 200, text);
    assert.deepEqual(body, {
      ok: true,
      connections: [
        {
          id: "conn",
          name: "acme",
          ok: true,
          store: { ok: true, state: "ready" },
          api: { ok: true, state: "ready" },
          polls: [
            { node: "poll0", stream: "goods_out.completed", ok: true },
            { node: "poll1", stream: "goods_in.completed", ok: true },
            { node: "poll2", stream: "stock.transactions", ok: true },
          ],
        },
      ],
    });
    for (const secret of [TOKEN, warehouse.sim.clientSecret]) assert.ok(!text.includes(secret), secret);
  });

  it("should not count a connection without API credentials as unhealthy", async function () {
    await helper.load([connectionNode], [connectionConfig()], { conn: { webhookToken: TOKEN } });
    const { status, body } = await health();
    assert.equal(status, 200);
    assert.deepEqual(body.connections[0].api, { ok: true, state: "not-configured" });
    assert.deepEqual(body.connections[0].polls, []);
  });

  it("should answer 200 with no connection deployed", async function () {
    await helper.load([connectionNode], [{ id: "tab", type: "tab" }], {});
    assert.deepEqual((await health()).body, { ok: true, connections: [] });
  });

  it("should name a store that cannot be built, without the password of its redisUrl", async function () {
    const password = "hunter2-not-in-the-answer";
    await helper.load([connectionNode], [connectionConfig({ store: "redis" })], {
      conn: { webhookToken: TOKEN, redisUrl: `redis://:${password}@127.0.0.1:6379/x` },
    });
    const { status, body, text } = await health();
    assert.equal(status, 503);
    assert.equal(body.ok, false);
    assert.deepEqual(body.connections[0].store, {
      ok: false,
      state: "unavailable",
      cause: 'the database in redisUrl must be a number (e.g. /0), not "/x"',
    });
    assert.ok(!text.includes(password), text);
  });

  it("should say unknown, not ok, within the deadline while the first token request hangs", async function () {
    warehouse = await startWarehouse({ simOptions: { faults: { hang: true, applyToToken: true } } });
    await warehouse.load();
    const first = await health();
    assert.equal(first.status, 503);
    assert.deepEqual(first.body.connections[0].api, {
      ok: false,
      state: "unknown",
      cause: "no answer yet from the Clarus token endpoint",
    });
    assert.deepEqual(first.body.connections[0].store, { ok: true, state: "ready" });
    // The attempt's deadline (TEST_TUNING.timeoutMs) ends the request it started; the next answer says so.
    await eventually(async () => (await health()).body.connections[0].api.state === "unavailable", {
      what: "the token request timed out",
    });
    assert.match((await health()).body.connections[0].api.cause, /timed out/);
    warehouse.sim.clearFaults();
    await eventually(async () => (await health()).status === 200, { what: "healthy again" });
  });

  it("should answer within the deadline from the last known state while the token endpoint hangs", async function () {
    warehouse = await startWarehouse({
      settings: { clarus: { ...TEST_TUNING, timeoutMs: 20_000, health: { tokenCheckSeconds: 0.05 } } },
    });
    await warehouse.load();
    assert.equal((await health()).status, 200);
    const { sim } = warehouse;
    sim.setFaults({ hang: true, applyToToken: true });
    const hung = sim.faultCounts.hang;
    const probe = async () => {
      const { status, body } = await health();
      assert.equal(status, 200);
      assert.deepEqual(body.connections[0].api, { ok: true, state: "ready" });
    };
    // The probe after tokenCheckSeconds asks for a token, which hangs in the simulator; no answer waits for it.
    await eventually(async () => (await probe(), sim.faultCounts.hang > hung), {
      what: "a hung token request",
    });
    for (let i = 0; i < 3; i++) await probe();
    assert.equal(sim.faultCounts.hang, hung + 1, "one token request at a time");
  });

  it("should ask the token endpoint again only after tokenCheckSeconds once it gave a token", async function () {
    warehouse = await startWarehouse({
      settings: { clarus: { ...TEST_TUNING, health: { tokenCheckSeconds: 3600 } } },
    });
    await warehouse.load();
    assert.equal((await health()).status, 200);
    const tokens = warehouse.sim.requests.token;
    for (let probe = 0; probe < 3; probe++) assert.equal((await health()).status, 200);
    assert.equal(warehouse.sim.requests.token, tokens);
  });

  it("should turn 503 for a poll whose runs have failed for three intervals, and 200 once one succeeds", async function () {
    warehouse = await startWarehouse({
      simOptions: { faults: { graphqlErrors: 1 } },
      pollOverrides: { intervalMinutes: 0.02, runOnStart: true },
    });
    await warehouse.load();
    const poll0 = (body) => body.connections[0].polls.find((poll) => poll.node === "poll0");
    // Timed runs report a failure in the status: red, once a run, with "polling…" between two of them.
    const node = helper.getNode("poll0");
    const failures = () =>
      node.status.getCalls().filter((call) => call.thisValue === node && call.args[0].fill === "red").length;
    const untilFailures = (count) =>
      new Promise((resolve) => {
        const check = () => {
          if (failures() < count) return;
          node.removeListener("call:status", check);
          resolve();
        };
        node.on("call:status", check);
        check();
      });
    await untilFailures(1);
    const failing = await health();
    assert.equal(poll0(failing.body).ok, true, "one failed run is not three intervals");
    assert.ok(Date.parse(poll0(failing.body).failingSince) <= Date.now(), JSON.stringify(failing.body));

    // A run starts an interval after the last one ended: the fourth failure ends three intervals after the first began.
    await untilFailures(4);
    const down = await health();
    assert.equal(down.status, 503, down.text);
    assert.equal(down.body.connections[0].ok, false);
    assert.deepEqual(poll0(down.body), {
      node: "poll0",
      stream: "goods_out.completed",
      ok: false,
      failingSince: poll0(failing.body).failingSince,
    });
    assert.deepEqual(down.body.connections[0].store, { ok: true, state: "ready" });

    warehouse.sim.clearFaults();
    const polls = ["poll0", "poll1", "poll2"].map((id) => helper.getNode(id));
    await Promise.all(
      polls.map((poll) => waitForStatus(poll, (s) => s.fill === "green" && / new, /.test(s.text ?? ""))),
    );
    const up = await health();
    assert.equal(up.status, 200, up.text);
    assert.deepEqual(poll0(up.body), { node: "poll0", stream: "goods_out.completed", ok: true });
  });

  it("should leave the connection's poll list as its poll nodes close", async function () {
    warehouse = await startWarehouse();
    await warehouse.load();
    const { services } = helper.getNode("conn");
    assert.equal(services.pollRuns.health().length, 3);
    await warehouse.stop();
    warehouse = undefined;
    assert.deepEqual(services.pollRuns.health(), []);
  });

  context("with clarus.publicHealth", function () {
    it("should answer a request without credentials with states only: no name, no cause", async function () {
      helper.settings({ clarus: { publicHealth: true } });
      await helper.load([connectionNode], [connectionConfig({ name: "Acme production", store: "redis" })], {
        conn: { webhookToken: TOKEN, redisUrl: "redis://:pw-1234@redis.internal.example:6379/x" },
      });
      const { status, body, text } = await health();
      assert.equal(status, 503);
      assert.deepEqual(body, {
        ok: false,
        connections: [
          {
            id: "conn",
            ok: false,
            store: { ok: false, state: "unavailable" },
            api: { ok: true, state: "not-configured" },
            polls: [],
          },
        ],
      });
      for (const hidden of ["Acme", "redis.internal", "pw-1234", "redisUrl"]) {
        assert.ok(!text.includes(hidden), `${hidden} in ${text}`);
      }
    });

    it("should give a request that carries credentials the full answer, through the admin auth", async function () {
      helper.settings({ clarus: { publicHealth: true } });
      await helper.load([connectionNode], [connectionConfig({ name: "Acme production" })], {
        conn: { webhookToken: TOKEN },
      });
      // The test helper has no admin auth, so any token passes it, as a valid one would.
      const { status, body } = await health({ Authorization: "Bearer some-admin-token" });
      assert.equal(status, 200);
      assert.equal(body.connections[0].name, "Acme production");
    });

    it("should take adminAuth's own token header for credentials too", async function () {
      helper.settings({ clarus: { publicHealth: true }, adminAuth: { tokenHeader: "X-Ops-Token" } });
      await helper.load([connectionNode], [connectionConfig({ name: "Acme production" })], {
        conn: { webhookToken: TOKEN },
      });
      assert.equal((await health()).body.connections[0].name, undefined);
      const { body } = await health({ "X-Ops-Token": "some-admin-token" });
      assert.equal(body.connections[0].name, "Acme production");
    });
  });
});
