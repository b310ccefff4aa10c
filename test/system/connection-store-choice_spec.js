// The connection's `store`, `redisUrl` and `redisPrefix` (docs/several-instances.md), loaded in
// Node-RED through the test helper, against a real redis-server: a 0.1 connection stays on files, `store: redis`
// builds the Redis store, and a Redis that is wrong or away is a clear log line and status, never a crash.
const assert = require("node:assert/strict");
const path = require("node:path");

const {
  helper,
  connectionNode,
  webhookNode,
  connectionConfig,
  webhookConfig,
  TOKEN,
} = require("../helpers/node-red");
const { RedisServer } = require("../helpers/redis-server");
const { waitForCall } = require("../helpers/status");

const build = path.join(__dirname, "..", "..", "build", "nodes", "lib", "store");
const { storeHealthStatus } = require(path.join(build, "health.js"));

const PASSWORD = "conn-pa55word-not-in-logs";

/** Every line Node-RED logged and every warn/log/debug/error call of `node`, for secret checks. */
function everythingLogged(node) {
  const calls = ["log", "warn", "debug", "error"].flatMap((method) => node[method].getCalls());
  return [
    ...calls.map((call) => JSON.stringify(call.args)),
    ...helper
      .log()
      .getCalls()
      .map((call) => JSON.stringify(call.args)),
  ];
}

describe("clarus-connection store", function () {
  this.timeout(30_000);
  let server;
  let raw;

  async function load(connection = {}, credentials = {}) {
    const flow = [connectionConfig(connection), webhookConfig({ wires: [[]] })];
    await helper.load([connectionNode, webhookNode], flow, { conn: { webhookToken: TOKEN, ...credentials } });
    return helper.getNode("conn");
  }

  before(async () => {
    await helper.startServer();
    server = await new RedisServer({ password: PASSWORD }).start();
    raw = await server.inspector();
  });
  after(async () => {
    await server.dispose();
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
    await raw.flushAll();
  });

  it("should keep a 0.1 connection (no store property) on files, without Redis", async function () {
    const conn = await load();
    assert.equal(conn.services.store.kind, "file");
    assert.equal(await conn.services.store.claim("k"), true);
    assert.deepEqual(await raw.keys("*"), []);
  });

  it("should keep files when store is file, even with a redisUrl", async function () {
    const conn = await load({ store: "file" }, { redisUrl: server.url() });
    assert.equal(conn.services.store.kind, "file");
  });

  it("should build the Redis store from redisUrl, with keys under clarus:<subdomain>: by default", async function () {
    const conn = await load({ store: "redis" }, { redisUrl: server.url() });
    const connected = await waitForCall(conn, "log", /connected to Redis/);
    assert.match(connected, /^connected to Redis at redis:\/\/127\.0\.0\.1:\d+\/0$/);
    const { store } = conn.services;
    assert.equal(store.kind, "redis");
    assert.equal(await store.claim("goods_out.completed:1"), true);
    assert.equal(await store.claim("goods_out.completed:1"), false);
    assert.deepEqual(await raw.keys("*"), ["clarus:acme:claim:goods_out.completed:1"]);
    const ttl = await raw.pTTL("clarus:acme:claim:goods_out.completed:1");
    assert.ok(ttl > 71 * 3_600_000 && ttl <= 72 * 3_600_000, `dedupeHours 72 as the key's expiry: ${ttl} ms`);
    assertNoPassword(conn);
  });

  it("should put the keys under redisPrefix when it is set", async function () {
    const conn = await load({ store: "redis", redisPrefix: "project-b:" }, { redisUrl: server.url() });
    await conn.services.store.claim("k");
    assert.deepEqual(await raw.keys("*"), ["project-b:claim:k"]);
  });

  it("should close its Redis connection when the flow stops, leaving no client behind", async function () {
    const clients = () => server.clientsNamed();
    const conn = await load({ store: "redis" }, { redisUrl: server.url() });
    await conn.services.store.claim("k");
    assert.equal(await clients(), 1);
    await helper.unload();
    assert.equal(await clients(), 0);
  });

  it("should say the password is wrong, in the log and as a red status text, without the password", async function () {
    const conn = await load({ store: "redis" }, { redisUrl: server.url({ password: `${PASSWORD}-x` }) });
    const warning = await waitForCall(conn, "warn", /Redis at/);
    assert.match(warning, /unavailable: authentication failed: wrong password/);
    const { store } = conn.services;
    await assert.rejects(store.claim("k"), { name: "StoreUnavailableError", message: /wrong password/ });
    assert.deepEqual(storeHealthStatus(store.kind, store.health), {
      fill: "red",
      shape: "ring",
      text: "Redis: wrong password",
    });
    assertNoPassword(conn, `${PASSWORD}-x`);
  });

  it("should warn once about a redisUrl that does not parse, and still deploy its nodes", async function () {
    const conn = await load({ store: "redis" }, { redisUrl: `redis://:${PASSWORD}@127.0.0.1:port` });
    const warning = await waitForCall(conn, "warn", /Redis store/);
    assert.match(warning, /^Redis store not started: redisUrl does not parse/);
    const { store } = conn.services;
    await assert.rejects(store.claim("k"), { name: "StoreUnavailableError", message: /does not parse/ });
    assert.equal(storeHealthStatus(store.kind, store.health).text, "Redis: bad redisUrl");
    assert.ok(helper.getNode("hook"), "the webhook node deployed");
    assertNoPassword(conn);
  });

  it("should say that a redis store needs a redisUrl", async function () {
    const conn = await load({ store: "redis" });
    await waitForCall(conn, "warn", /no redisUrl/);
    assert.equal(storeHealthStatus("redis", conn.services.store.health).text, "Redis: no redisUrl");
  });

  function assertNoPassword(conn, secret = PASSWORD) {
    for (const line of everythingLogged(conn))
      assert.ok(!line.includes(secret), `the password was logged: ${line}`);
  }
});
