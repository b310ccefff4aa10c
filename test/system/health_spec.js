// GET /clarus-wms/health in a real Node-RED process from the packed package, on a real redis-server (store: redis)
// and the simulator: 200 → 503 → 200 around a stopped Redis and an unreachable API, an answer inside a probe's
// 1.5 s deadline while Redis is paused (SIGSTOP) or the token endpoint hangs, 401 without admin credentials when
// settings.js has adminAuth, and with clarus.publicHealth the states only: no names, no hosts, no causes.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const { eventually } = require("../helpers/eventually");
const {
  REPO_ROOT,
  deployFlows,
  freePort,
  installIntoUserDir,
  makeTempDir,
  packPackage,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { RedisServer } = require("../helpers/redis-server");

/** A probe's own deadline: a request still unanswered then rejects, and fails the test. */
const PROBE_TIMEOUT_MS = 1500;
const REDIS_PASSWORD = "redis-pa55-not-in-the-answer";
const ADMIN_TOKEN = "ops-token-for-the-probe";
const NAME = "Acme production";

/** settings.js source for an adminAuth whose only way in is the bearer token ADMIN_TOKEN, read-only. */
const ADMIN_AUTH_SOURCE = `{
  adminAuth: {
    type: "credentials",
    users: [],
    tokens: (token) => Promise.resolve(token === ${JSON.stringify(ADMIN_TOKEN)} ? { username: "ops", permissions: "read" } : null),
  },
}`;

describe("the health endpoint in a running Node-RED", function () {
  this.timeout(60_000);
  let tmp;
  let userDir;
  let port;
  let apiPort;
  let red;
  let redis;
  let sim;

  const startSim = async () => {
    sim = await startSimulator({ port: apiPort, history: 0, seed: 5, webhook: { dropRate: 1 } });
  };

  /** The health endpoint, with the probe's deadline. */
  async function health(headers = {}) {
    const res = await request({ port, path: "/clarus-wms/health", headers, timeoutMs: PROBE_TIMEOUT_MS });
    const json = /json/.test(res.headers["content-type"] ?? "");
    return { status: res.status, text: res.text, body: json ? res.json() : undefined };
  }

  /** Asks until an answer is `status` (every answer within the deadline); resolves with that answer. */
  async function healthTurns(status, what, { timeoutMs = 20_000, headers } = {}) {
    let last;
    await eventually(async () => (last = await health(headers)).status === status, {
      timeoutMs,
      everyMs: 100,
      what,
    });
    return last;
  }

  /** (Re)starts Node-RED with settings.js `clarus` (and `extraSource`); it runs the flows deployed last. */
  async function startRed({ clarus = {}, extraSource } = {}) {
    if (red) await red.stop();
    writeSettings({
      userDir,
      port,
      extra: { clarus: { health: { tokenCheckSeconds: 0.2 }, ...clarus } },
      extraSource,
    });
    red = await startNodeRed({ userDir, port });
  }

  function flows() {
    return [
      { id: "tab", type: "tab", label: "health" },
      {
        id: "conn",
        type: "clarus-connection",
        name: NAME,
        subdomain: sim.subdomain,
        domain: sim.domain,
        apiUrl: sim.url,
        store: "redis",
        credentials: {
          clientId: sim.clientId,
          clientSecret: sim.clientSecret,
          redisUrl: redis.url(),
        },
      },
      {
        id: "poll",
        z: "tab",
        type: "clarus-poll",
        connection: "conn",
        stream: "goods_out.completed",
        intervalMinutes: 60,
        runOnStart: false,
        wires: [[]],
      },
    ];
  }

  before(async function () {
    this.timeout(300_000);
    assert.ok(
      fs.existsSync(path.join(REPO_ROOT, "build", "nodes", "clarus-connection.js")),
      "build/ is missing: run `npm run build` first (npm test does)",
    );
    tmp = makeTempDir("clarus-health-");
    userDir = path.join(tmp, "userDir");
    fs.mkdirSync(userDir);
    const tarball = await packPackage({ destination: tmp });
    await installIntoUserDir({ userDir, packages: [tarball] });
    port = await freePort();
    apiPort = await freePort();
    redis = await new RedisServer({ password: REDIS_PASSWORD }).start();
    await startSim();
    await startRed();
    await deployFlows(red, flows());
  });

  after(async () => {
    if (red) await red.kill();
    await redis?.dispose();
    await sim?.stop();
    removeDir(tmp);
  });

  afterEach(async () => {
    // Whatever a test left stopped or paused is back for the next one.
    if (redis.paused) redis.resume();
    await redis.start();
    sim.clearFaults();
  });

  context("without adminAuth", function () {
    it("should answer 200 with the connection's store, API token and poll, and no secret", async function () {
      const { body, text } = await healthTurns(200, "healthy after the deploy");
      assert.deepEqual(body, {
        ok: true,
        connections: [
          {
            id: "conn",
            name: NAME,
            ok: true,
            store: { ok: true, state: "ready" },
            api: { ok: true, state: "ready" },
            polls: [{ node: "poll", stream: "goods_out.completed", ok: true }],
          },
        ],
      });
      for (const secret of [REDIS_PASSWORD, sim.clientSecret]) assert.ok(!text.includes(secret), secret);
    });

    it("should answer 200 → 503 → 200 around a stopped redis-server", async function () {
      await healthTurns(200, "healthy");
      await redis.stop();
      const down = await healthTurns(503, "unhealthy with Redis stopped");
      const connection = down.body.connections[0];
      assert.equal(connection.ok, false);
      assert.equal(connection.store.ok, false);
      assert.equal(connection.store.state, "unavailable");
      assert.match(connection.store.cause, /connection (refused|closed|reset)/);
      assert.deepEqual(connection.api, { ok: true, state: "ready" }, "only the store is named");
      assert.ok(!down.text.includes(REDIS_PASSWORD));
      await redis.start();
      await healthTurns(200, "healthy with Redis back");
    });

    it("should answer within the deadline while redis-server is paused, and 503 once Redis stops answering", async function () {
      await healthTurns(200, "healthy");
      redis.pause();
      // Every answer comes within the probe's deadline: the first from the last known state, the later ones
      // once the store noticed that Redis answers nothing.
      const down = await healthTurns(503, "unhealthy with Redis paused");
      assert.deepEqual(down.body.connections[0].store, {
        ok: false,
        state: "unavailable",
        cause: "Redis stopped answering (no reply within the response timeout)",
      });
      redis.resume();
      await healthTurns(200, "healthy with Redis resumed");
    });

    it("should answer 200 → 503 → 200 around an unreachable API", async function () {
      await healthTurns(200, "healthy");
      await sim.stop();
      const down = await healthTurns(503, "unhealthy with the API gone");
      const { api, store } = down.body.connections[0];
      assert.equal(api.ok, false);
      assert.equal(api.state, "unavailable");
      assert.match(api.cause, /cannot be reached \(ECONNREFUSED\)/);
      assert.deepEqual(store, { ok: true, state: "ready" }, "only the API is named");
      await startSim();
      await healthTurns(200, "healthy with the API back");
    });

    it("should answer within the deadline while the token endpoint hangs, and 503 once it has not answered for 10 s", async function () {
      await healthTurns(200, "healthy");
      sim.setFaults({ hang: true, applyToToken: true });
      const down = await healthTurns(503, "unhealthy with the token endpoint hanging");
      assert.ok(sim.faultCounts.hang >= 1, "a token request hung");
      assert.deepEqual(down.body.connections[0].store, { ok: true, state: "ready" });
      assert.match(down.body.connections[0].api.cause, /token endpoint has not answered for 1\d s/);
      sim.clearFaults();
      await healthTurns(200, "healthy once the token endpoint answers");
    });
  });

  context("with adminAuth", function () {
    before(async () => startRed({ extraSource: ADMIN_AUTH_SOURCE }));

    it("should answer 401 without admin credentials or with a wrong token, and the full answer with one", async function () {
      assert.equal((await health()).status, 401);
      assert.equal((await health({ Authorization: "Bearer not-the-token" })).status, 401);
      const { body } = await healthTurns(200, "healthy after the restart", {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(body.connections[0].name, NAME);
    });
  });

  context("with adminAuth and clarus.publicHealth", function () {
    before(async () => startRed({ clarus: { publicHealth: true }, extraSource: ADMIN_AUTH_SOURCE }));

    it("should answer a request without credentials with states only: no names, no hosts, no causes", async function () {
      const up = await healthTurns(200, "healthy after the restart");
      assert.deepEqual(up.body, {
        ok: true,
        connections: [
          {
            id: "conn",
            ok: true,
            store: { ok: true, state: "ready" },
            api: { ok: true, state: "ready" },
            polls: [{ node: "poll", stream: "goods_out.completed", ok: true }],
          },
        ],
      });
      await redis.stop();
      const down = await healthTurns(503, "unhealthy with Redis stopped");
      assert.deepEqual(down.body.connections[0].store, { ok: false, state: "unavailable" });
      for (const hidden of [NAME, "127.0.0.1", "cause", REDIS_PASSWORD]) {
        assert.ok(!down.text.includes(hidden), `${hidden} in ${down.text}`);
      }
      assert.equal((await health({ Authorization: "Bearer not-the-token" })).status, 401);
      const full = await health({ Authorization: `Bearer ${ADMIN_TOKEN}` });
      assert.match(full.body.connections[0].store.cause, /connection (refused|closed|reset)/);
    });
  });
});
