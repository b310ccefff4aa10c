// clarus-webhook-in and clarus-poll on a connection with `store: redis`, in Node-RED through the test
// helper, against a real redis-server and the simulator: a poll's state and lease live in Redis; a lease held by
// another instance makes the poll skip and say so; a Redis that is away or wrong turns the nodes red with the
// cause (webhook-in answers 503, polls wait, nothing runs), and everything resumes when it is back, without a
// redeploy. A claim on its way while webhook-in closes is released and answered 503. Two instances register
// each automation once, and check a node's drift once per period between them.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const { helper, tempUserDir, dispatched } = require("../helpers/node-red");
const { startWarehouse, startSimulator, simHeaders, TEST_TUNING } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");
const { RedisServer } = require("../helpers/redis-server");
const { waitForStatus, waitForCall } = require("../helpers/status");

const build = path.join(__dirname, "..", "..", "build", "nodes", "lib");
const { connectionRegistrar } = require(path.join(build, "automations", "registration.js"));
const { installationOf } = require(path.join(build, "automations", "names.js"));
const { ClarusClient } = require(path.join(build, "api", "client.js"));
const { createRedisStore } = require(path.join(build, "store", "redis", "redis-store.js"));

const LEASE_SECONDS = 1;
const PREFIX = "clarus:acme:";
const POLL2_LEASE = `${PREFIX}lease:poll-poll2`;
const POLL2_STATE = `${PREFIX}doc:poll-poll2`;

describe("webhook-in and clarus-poll on a Redis store", function () {
  this.timeout(60_000);
  let redis;
  let raw;
  let warehouse;

  async function load({ connection = {}, credentials = {}, pollOverrides = {}, userDir } = {}) {
    warehouse = await startWarehouse({
      webhook: { dropRate: 1 },
      schema: "documented",
      userDir,
      pollOverrides,
      connection: { store: "redis", ...connection },
      credentials: { redisUrl: redis.url(), ...credentials },
      settings: { clarus: { ...TEST_TUNING, redis: { leaseSeconds: LEASE_SECONDS } } },
    });
    await warehouse.load();
    // The webhook node reads the automation map from the API at deploy: done before a test counts requests.
    const { services } = helper.getNode("conn");
    await eventually(() => !services.discovery || services.discovery.state, { what: "discovery" });
    return warehouse;
  }

  /** Posts a dispatched order (or `body`) as Clarus's goods_out.completed automation does. */
  function deliver(id, body = dispatched(id)) {
    const automation = warehouse.automations.find((a) => a.event === "goods_out.completed");
    return fetch(warehouse.url, {
      method: "POST",
      headers: simHeaders(warehouse.sim, automation.id),
      body: JSON.stringify(body),
    });
  }

  before(async () => {
    await helper.startServer();
    redis = await new RedisServer().start();
  });
  after(async () => {
    await redis.dispose();
    await helper.stopServer();
  });
  beforeEach(async () => {
    raw = await redis.inspector();
  });
  afterEach(async () => {
    await warehouse?.stop();
    warehouse = undefined;
    helper.settings({});
    await redis.start();
    raw = await redis.inspector();
    await raw.flushAll();
  });

  context("when Redis answers", function () {
    it("should keep the poll's state in Redis, not in a file, and release its lease after the run", async function () {
      const userDir = tempUserDir();
      await load({ userDir });
      const holds = warehouse.sim.generate(3, ["stock.placed_on_hold"]);
      await warehouse.runOnce("poll2");
      const received = await warehouse.out.waitFor(3);
      assert.deepEqual(
        received.map((msg) => msg.payload.id).sort(),
        holds.map((event) => String(event.recordId)).sort(),
      );
      const state = JSON.parse(await raw.get(POLL2_STATE));
      assert.ok(Date.parse(state.watermark) <= Date.now(), `watermark ${state.watermark}`);
      assert.ok(Date.parse(state.ranAt) <= Date.now(), `ranAt ${state.ranAt}`);
      // The run's done comes as its last page is sent; the release follows it.
      await eventually(async () => (await raw.exists(POLL2_LEASE)) === 0, {
        what: "the lease released at the end of the run",
      });
      assert.equal(fs.existsSync(path.join(userDir, "clarus", "poll-poll2.json")), false, "no state file");
      const claims = await raw.keys(`${PREFIX}claim:*`);
      assert.equal(claims.length, 3, "the polled events are claimed in Redis");
      await warehouse.runOnce("poll2");
      assert.equal(warehouse.out.received.length, 3, "the next run reads on from the state in Redis");
    });

    it("should skip a run while another instance holds the lease, say so, and run once it is free", async function () {
      await load();
      const poll = helper.getNode("poll2");
      await raw.set(POLL2_LEASE, "another-instance", { PX: 60_000 });
      const requests = warehouse.sim.requests.graphql;
      poll.receive({ payload: "run" });
      const status = await waitForStatus(poll, (s) => /another instance/.test(s.text ?? ""));
      assert.deepEqual(status, { fill: "blue", shape: "ring", text: "another instance is polling" });
      // It asks again every half lease period; the lease is still taken after a few of them.
      await eventually(async () => (await raw.pTTL(POLL2_LEASE)) < 59_000, { what: "a second" });
      assert.equal(warehouse.sim.requests.graphql, requests, "no API request while another instance polls");
      assert.equal(warehouse.completed.received.length, 0, "the input waits");
      await raw.del(POLL2_LEASE);
      await warehouse.completed.waitFor(1);
      assert.ok(warehouse.sim.requests.graphql > requests, "it ran once the lease was free");
      assert.ok(JSON.parse(await raw.get(POLL2_STATE)).ranAt);
    });

    it("should skip the deploy's run when another instance completed one within the interval", async function () {
      const ranAt = new Date(Date.now() - 60_000).toISOString();
      // Another instance is polling as this one starts, and has finished when this one asks again.
      await raw.set(POLL2_LEASE, "another-instance", { PX: 60_000 });
      await load({ pollOverrides: { runOnStart: true } });
      const poll = helper.getNode("poll2");
      await waitForStatus(poll, (s) => s.text === "another instance is polling");
      await raw.set(POLL2_STATE, JSON.stringify({ watermark: ranAt, ranAt }));
      await raw.del(POLL2_LEASE);
      const skipped = await waitForStatus(poll, (s) => /polled by another instance/.test(s.text ?? ""));
      assert.deepEqual(skipped, {
        fill: "green",
        shape: "dot",
        text: `${ranAt.slice(11, 16)} polled by another instance`,
      });
      assert.deepEqual(JSON.parse(await raw.get(POLL2_STATE)), { watermark: ranAt, ranAt }, "it did not run");
      // The polls whose lease was free ran on start, as a 0.1 flow's do.
      await eventually(async () => (await raw.exists(`${PREFIX}doc:poll-poll0`)) === 1, {
        what: "poll0 ran",
      });
    });
    it("should share the automation map it discovered: another instance whose API read fails classifies with it", async function () {
      // No manual map: the event of a delivery comes from the automation map read from the API.
      await load({ connection: { automations: [] } });
      const shared = JSON.parse(await raw.get(`${PREFIX}doc:automations-conn`));
      const goodsOut = warehouse.automations.find((a) => a.event === "goods_out.completed");
      assert.equal(shared.automations[goodsOut.id], "goods_out.completed");
      assert.ok(Date.parse(shared.readAt) <= Date.now());

      // Another instance (the same flow, loaded again) whose own read of the API fails.
      await helper.unload();
      warehouse.sim.setFaults({ graphqlErrors: 1 });
      await warehouse.load();
      const { services } = helper.getNode("conn");
      await eventually(() => services.discovery.state, { what: "discovery" });
      assert.equal(services.discovery.state.ok, false, "its own read failed");
      // Nothing in the body says which event it is: only the automation map can.
      assert.equal((await deliver(9, { id: 9, note: "which event?" })).status, 200);
      const [msg] = await warehouse.out.waitFor(1);
      assert.equal(msg.topic, "goods_out.completed", "classified with the shared map");
    });
  });

  context("when Redis goes away and comes back", function () {
    it("should answer 503 and hold polls, red with the cause, then resume without a redeploy and lose nothing", async function () {
      await load();
      const hook = helper.getNode("hook");
      const poll = helper.getNode("poll2");
      assert.equal((await deliver(1)).status, 200);
      await warehouse.out.waitFor(1);

      await redis.stop();
      const red = (s) => s.fill === "red" && /Redis: /.test(s.text ?? "");
      const hookStatus = await waitForStatus(hook, red);
      assert.match(hookStatus.text, /^1 ok, Redis: (connection refused|connection closed|connection reset)$/);
      const answer = await deliver(2);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get("retry-after"), "5");
      // The caller is told the store is away, not where it is; the node's log says where and why.
      assert.deepEqual(await answer.json(), {
        ok: false,
        error: "the store is unavailable; try again later",
      });
      await waitForCall(
        hook,
        "warn",
        /rejected 503: the store cannot take the event: Redis at redis:\/\/.* unavailable/,
      );

      const requests = warehouse.sim.requests.graphql;
      poll.receive({ payload: "run" });
      await waitForCall(poll, "warn", /poll stock\.transactions waits for the store: Redis at/);
      const pollStatus = await waitForStatus(poll, red);
      assert.match(pollStatus.text, /^Redis: /);
      assert.equal(warehouse.sim.requests.graphql, requests, "no run while Redis is away");
      assert.equal(warehouse.completed.received.length, 0);

      await redis.start();
      raw = await redis.inspector();
      // The run that waited is made; Clarus's retry of the refused delivery is taken.
      await warehouse.completed.waitFor(1);
      assert.equal(warehouse.caught.received.length, 0);
      assert.ok(JSON.parse(await raw.get(POLL2_STATE)).watermark, "the run's state is in Redis");
      assert.equal((await deliver(2)).status, 200);
      const received = await warehouse.out.waitFor(2);
      assert.deepEqual(
        received.map((msg) => msg.payload.id),
        [1, 2],
      );
      // Back from red: the count of what was refused (a 503 Clarus retried) stays, as for any rejection.
      await waitForStatus(hook, (s) => s.fill === "yellow" && s.text === "2 ok, 1 rejected");
      assert.ok(helper.log().called, "still running");
    });
  });

  context("when the Redis configuration is wrong", function () {
    const CASES = [
      {
        what: "a redisUrl that does not parse",
        url: () => "redis://:secret@127.0.0.1:port",
        text: "Redis: bad redisUrl",
        log: /Redis store not started: redisUrl does not parse/,
      },
      {
        what: "a port where an HTTP server, not Redis, listens",
        url: () => `redis://127.0.0.1:${httpServer.address().port}`,
        text: "Redis: not a Redis server",
        log: /does not speak the Redis protocol/,
      },
      {
        what: "rediss:// (TLS) to a Redis that speaks plain TCP",
        url: () => redis.url().replace(/^redis:/, "rediss:"),
        text: "Redis: connect timeout",
        log: /no TLS handshake within the connect timeout \(is the port TLS-enabled\? use redis:\/\/ if not\)/,
      },
      {
        what: "a database that does not exist",
        url: () => redis.url({ db: 99 }),
        text: "Redis: no such database",
        log: /the database in redisUrl does not exist/,
      },
    ];

    let httpServer;
    before(async () => {
      httpServer = http.createServer((_req, res) => res.end("not Redis"));
      await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    });
    after(() => new Promise((resolve) => httpServer.close(resolve)));

    for (const { what, url, text, log } of CASES) {
      it(`should show "${text}" on webhook-in and poll for ${what}, answer 503 and run nothing`, async function () {
        await load({ credentials: { redisUrl: url() } });
        const conn = helper.getNode("conn");
        const hook = helper.getNode("hook");
        const poll = helper.getNode("poll2");
        await waitForCall(conn, "warn", log);
        const shown = (s) => s.fill === "red" && s.text?.endsWith(text);
        await waitForStatus(hook, shown);
        const answer = await deliver(3);
        assert.equal(answer.status, 503);
        const requests = warehouse.sim.requests.graphql;
        poll.receive({ payload: "run" });
        await waitForCall(poll, "warn", /waits for the store/);
        assert.equal((await waitForStatus(poll, shown)).text, text);
        assert.equal(warehouse.sim.requests.graphql, requests, "nothing ran");
        assert.equal(warehouse.out.received.length, 0);
        const logged = conn.warn.args.map(String);
        assert.ok(!logged.some((line) => line.includes("secret")), "no password in the log");
      });
    }
  });

  context("when webhook-in closes while a claim is on its way to Redis", function () {
    for (const { delivery, status, check } of [
      {
        delivery: "on-receipt",
        status: 503,
        // Released: Clarus's retry of the event is fresh for the next flow.
        check: async (key) => assert.equal(await raw.exists(`${PREFIX}claim:${key}`), 0),
      },
      {
        delivery: "on-confirm",
        status: 200,
        // Kept in the inbox and due at once, so the next flow sends it without waiting redeliverSeconds.
        check: async (key) => assert.ok((await raw.zScore(`${PREFIX}inbox:due:hook`, key)) <= Date.now()),
      },
    ]) {
      it(`should answer ${status} and send nothing from the closing node (${delivery})`, async function () {
        await load({ connection: { delivery } });
        const hook = helper.getNode("hook");
        // Redis holds every write until unpaused: the claim of the delivery below waits in Redis.
        await raw.sendCommand(["CLIENT", "PAUSE", "20000", "WRITE"]);
        const answering = deliver(77);
        await eventually(async () => /blocked_clients:[1-9]/.test(await raw.info("clients")), {
          what: "the claim to wait in Redis",
        });
        const closed = new Promise((resolve) => hook.on("close", () => resolve()));
        const unloading = helper.unload();
        await closed;
        await raw.sendCommand(["CLIENT", "UNPAUSE"]);
        const answer = await answering;
        await unloading;
        assert.equal(answer.status, status, await answer.text());
        if (status === 503) assert.equal(answer.headers.get("retry-after"), "5");
        assert.equal(warehouse.out.received.length, 0, "nothing was sent from the closing node");
        await check("goods_out.completed:77");
      });
    }
  });

  context("when redeliverSeconds is below the delivery's minimum", function () {
    it("should first send an event again when the delivery would: one reading of redeliverSeconds for both", async function () {
      await load({ connection: { delivery: "on-confirm", redeliverSeconds: 0.5 } });
      const conn = helper.getNode("conn");
      await waitForCall(conn, "warn", /redeliverSeconds 0\.5 must be a number of at least 1; 300 is used/);
      const before = Date.now();
      assert.equal((await deliver(88)).status, 200);
      const key = "goods_out.completed:88";
      // The due set of the webhook node (older versions kept one set for all).
      const dueAt =
        (await raw.zScore(`${PREFIX}inbox:due:hook`, key)) ?? (await raw.zScore(`${PREFIX}inbox:due`, key));
      const wait = dueAt - before;
      assert.ok(wait > 299_000 && wait <= 301_000, `first due ${wait} ms after the delivery, not 300 s`);
    });
  });

  context("when two instances register the same webhook node at once", function () {
    it("should create each automation once: the registration lease makes the second find the first's", async function () {
      const sim = await startSimulator({ history: 0, seed: 3 });
      const quiet = { info() {}, warn() {}, debug() {} };
      const stores = [0, 1].map(() =>
        createRedisStore({
          redisUrl: redis.url(),
          prefix: PREFIX,
          claimTtlMs: 60_000,
          redeliverMs: 60_000,
          log: quiet,
        }),
      );
      try {
        const events = ["goods_out.completed", "goods_in.completed"];
        const installation = installationOf("http://127.0.0.1:9");
        const request = {
          nodeId: "hook",
          installation,
          events,
          url: "http://127.0.0.1:9/clarus/events",
          method: "POST",
        };
        // Each Node-RED process queues its own registrations per connection; two processes are two queues,
        // as the two connection ids here are in this one.
        const reports = await Promise.all(
          stores.map((store, index) =>
            connectionRegistrar({
              connectionId: `conn-${index}`,
              client: new ClarusClient({
                apiUrl: sim.url,
                subdomain: sim.subdomain,
                clientId: sim.clientId,
                clientSecret: sim.clientSecret,
              }),
              documents: store,
              lease: { store, ttlMs: LEASE_SECONDS * 1000 },
              warn: () => undefined,
            }).ensure(request),
          ),
        );
        const outcomes = reports.map((report) => report.items.map((item) => item.outcome).join(","));
        assert.deepEqual(outcomes.sort(), ["created,created", "exists,exists"]);
        assert.equal(sim.automationsApi.counts.create, 2);
        assert.deepEqual(
          sim.store.automations
            .all()
            .map((a) => a.name)
            .sort(),
          [
            `node-red-clarus hook goods_in.completed @${installation.mark}`,
            `node-red-clarus hook goods_out.completed @${installation.mark}`,
          ],
        );
        assert.equal(await raw.exists(`${PREFIX}lease:registration`), 0, "released");
      } finally {
        await Promise.all(stores.map((store) => store.close(false)));
        await sim.stop();
      }
    });

    it("should check a node's drift on one of them per period, and repair once", async function () {
      const sim = await startSimulator({ history: 0, seed: 4 });
      const quiet = { info() {}, warn() {}, debug() {} };
      const stores = [0, 1].map(() =>
        createRedisStore({
          redisUrl: redis.url(),
          prefix: PREFIX,
          claimTtlMs: 60_000,
          redeliverMs: 60_000,
          log: quiet,
        }),
      );
      try {
        const installation = installationOf("http://127.0.0.1:9");
        const request = {
          nodeId: "hook",
          installation,
          events: ["goods_out.completed", "goods_in.completed"],
          url: "http://127.0.0.1:9/clarus/events",
          method: "POST",
        };
        // Two processes: two queues (two connection ids here) on one store, as in the test above.
        const registrars = stores.map((store, index) =>
          connectionRegistrar({
            connectionId: `conn-${index}`,
            client: new ClarusClient({
              apiUrl: sim.url,
              subdomain: sim.subdomain,
              clientId: sim.clientId,
              clientSecret: sim.clientSecret,
            }),
            documents: store,
            lease: { store, ttlMs: LEASE_SECONDS * 1000 },
            warn: () => undefined,
          }),
        );
        const registered = await registrars[0].ensure(request);
        const expected = new Map(registered.items.map((item) => [item.event, item.automationId]));
        const [disabled] = registered.items;
        sim.updateAutomation(Number(disabled.automationId), { enabled: false });
        const lookups = () =>
          sim.requestLog.filter((entry) => entry.path === "/graphql" && entry.variables?.filter?.name).length;
        const before = { lookups: lookups(), updates: sim.automationsApi.counts.update };

        const drift = { ...request, periodMs: 60_000, expected };
        const reports = await Promise.all(registrars.map((registrar) => registrar.checkDrift(drift)));
        assert.deepEqual(reports.map((report) => report.outcome).sort(), ["checked", "recent"]);
        const checked = reports.find((report) => report.outcome === "checked");
        assert.deepEqual(
          checked.repairs.map((repair) => [repair.automationId, repair.kinds]),
          [[disabled.automationId, ["disabled"]]],
        );
        assert.deepEqual(
          { lookups: lookups() - before.lookups, updates: sim.automationsApi.counts.update - before.updates },
          { lookups: 1, updates: 1 },
        );
        assert.ok(sim.store.automations.all().every((a) => a.enabled));
        // The check is shared through the store: the instance that did not check counts it as made elsewhere.
        assert.deepEqual(registrars.map((r) => [r.drift.checks, r.drift.checkedElsewhere]).sort(), [
          [0, 1],
          [1, 0],
        ]);
        assert.ok(await raw.exists(`${PREFIX}doc:drift-hook`), "the last check is kept in Redis");
        assert.equal(await raw.exists(`${PREFIX}lease:registration`), 0, "released");
      } finally {
        await Promise.all(stores.map((store) => store.close(false)));
        await sim.stop();
      }
    });
  });
});
