// The Redis store beyond the shared contract (test/system/store-contract_spec.js): its keys in Redis, and what it
// does when Redis itself fails or is configured wrong. Every case runs against a real redis-server
// (test/helpers/redis-server.js) that the tests stop, restart, pause and misconfigure; no mock of Redis.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");

const { eventually } = require("../helpers/eventually");
const { RedisServer } = require("../helpers/redis-server");
const { startReplyDroppingProxy } = require("../helpers/reply-dropping-proxy");
const { recordingLog } = require("../helpers/store-backends");
const { freePort } = require("../helpers/red-process");

const build = path.join(__dirname, "..", "..", "build", "nodes", "lib", "store");
const { createRedisStore } = require(path.join(build, "redis", "redis-store.js"));
const { ConnectionServices } = require(path.join(build, "..", "connection", "services.js"));
const { redisPrefix } = require(path.join(build, "redis", "keys.js"));
const { parseRedisUrl } = require(path.join(build, "redis", "url.js"));

const PASSWORD = "pa55-w0rd-never-logged";

/** Fast timings, so failures and recoveries show within a test's time; the defaults are seconds. */
const FAST = { connectTimeoutMs: 1000, responseTimeoutMs: 600, pingIntervalMs: 200, reconnectMaxMs: 200 };

/** Resolves with the store's health once `matches` accepts it (now or at a later change). */
function healthWhere(store, matches, timeoutMs = 15_000) {
  if (matches(store.health)) return Promise.resolve(store.health);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`health still ${JSON.stringify(store.health)} after ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = store.onHealth((health) => {
      if (!matches(health)) return;
      clearTimeout(timer);
      stop();
      resolve(health);
    });
  });
}

const isReady = (health) => health.state === "ready";
const isUnavailable = (health) => health.state === "unavailable";

/** A takeDue request of a delivery that sends for `sources` and knows `deployed` nodes in its flows. */
function dueFor(sources, { deployed = [], graceMs = 0 } = {}) {
  return {
    sources: new Set([sources].flat()),
    isDeployed: (id) => deployed.includes(id),
    goneSourceGraceMs: graceMs,
    redeliverMs: 60_000,
    limit: 100,
  };
}

/** Rejects with StoreUnavailableError and how long it took. */
async function timedRejection(promise) {
  const started = Date.now();
  const error = await promise.then(
    () => assert.fail("expected a rejection"),
    (rejection) => rejection,
  );
  assert.equal(error.name, "StoreUnavailableError", error.stack);
  return { error, ms: Date.now() - started };
}

/** Every text a log and the errors carried, to check that no secret is in any of them. */
function assertNoSecret(lines, errors, secret = PASSWORD) {
  for (const { message } of lines) assert.ok(!message.includes(secret), `secret in log: ${message}`);
  for (const error of errors)
    assert.ok(!String(error.message).includes(secret), `secret in error: ${error.message}`);
}

describe("Redis store", function () {
  this.timeout(60_000);
  const stores = [];
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);

  function open({ url, prefix = "clarus:acme:", timing = FAST, claimTtlMs = 3_600_000, tls } = {}) {
    const { log, lines, until } = recordingLog();
    const store = createRedisStore({
      redisUrl: url,
      prefix,
      claimTtlMs,
      redeliverMs: 60_000,
      timing,
      tls,
      log,
    });
    stores.push(store);
    return { store, lines, until };
  }

  before(() => process.on("unhandledRejection", onUnhandled));
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close(false)));
    assert.deepEqual(unhandled.splice(0), [], "no unhandled rejection");
  });
  after(() => process.off("unhandledRejection", onUnhandled));

  context("keys in Redis", function () {
    let server;
    let raw;
    before(async () => {
      server = await new RedisServer().start();
      raw = await server.inspector();
    });
    after(async () => {
      await server.dispose();
    });

    it("should default the prefix to clarus:<subdomain>: and keep a configured one", function () {
      assert.equal(redisPrefix(undefined, "acme"), "clarus:acme:");
      assert.equal(redisPrefix("  ", "acme"), "clarus:acme:");
      assert.equal(redisPrefix("project-b:", "acme"), "project-b:");
    });

    it("should wait the redeliverSeconds the delivery waits: one reading of the property for both", async function () {
      // 0.5 is under the one-second tick: the delivery refuses it for the default; the store must not read 0.5 s.
      const warnings = [];
      const services = new ConnectionServices(
        {
          id: "redeliver",
          subdomain: "acme",
          store: "redis",
          redisPrefix: "clarus:redeliver:",
          delivery: "on-confirm",
          redeliverSeconds: 0.5,
        },
        { redisUrl: server.url() },
        { warn: (message) => warnings.push(message), delivery: { generateId: () => "id", error: () => {} } },
      );
      try {
        assert.equal(services.delivery.settings.redeliverMs, 300_000);
        assert.match(
          warnings.join("\n"),
          /redeliverSeconds 0\.5 must be a number of at least 1; 300 is used/,
        );
        const message = { topic: "t", payload: {}, clarus: {} };
        assert.equal(await services.store.admit({ key: "k1", sourceNodeId: "hook", message }), "fresh");
        const [seconds, micros] = (await raw.time()).map(Number);
        const dueAt = Number(await raw.zScore("clarus:redeliver:inbox:due:hook", "k1"));
        const waited = dueAt - (seconds * 1000 + Math.floor(micros / 1000));
        assert.ok(waited > 290_000 && waited <= 300_000, `first due ${waited} ms after admission`);
      } finally {
        await services.close("deleted");
        // A deleted connection leaves its keys to the prefix (other instances may use it): the test clears them.
        const left = await raw.keys("clarus:redeliver:*");
        if (left.length > 0) await raw.del(left);
      }
    });

    it("should keep every key under the prefix, with dedupeHours as the claim's expiry", async function () {
      const { store } = open({ url: server.url(), prefix: "clarus:keys:", claimTtlMs: 72 * 3_600_000 });
      await store.claim("goods_out.completed:1");
      await store.admit({
        key: "goods_out.completed:2",
        sourceNodeId: "hook",
        message: { topic: "t", payload: {}, clarus: {} },
      });
      await store.writeDocument("poll-1", { watermark: "x" });
      const lease = await store.acquireLease("poll-1", 30_000);
      const keys = await raw.keys("*");
      assert.ok(keys.length >= 5, keys.join(", "));
      for (const key of keys) assert.ok(key.startsWith("clarus:keys:"), `${key} is outside the prefix`);
      const claimTtl = await raw.pTTL("clarus:keys:claim:goods_out.completed:1");
      assert.ok(claimTtl > 72 * 3_600_000 - 60_000 && claimTtl <= 72 * 3_600_000, `claim TTL ${claimTtl}`);
      const admittedTtl = await raw.pTTL("clarus:keys:claim:goods_out.completed:2");
      assert.ok(
        admittedTtl > 72 * 3_600_000 - 60_000,
        `an admitted key is claimed for dedupeHours too: ${admittedTtl}`,
      );
      const leaseTtl = await raw.pTTL("clarus:keys:lease:poll-1");
      assert.ok(leaseTtl > 0 && leaseTtl <= 30_000, `lease TTL ${leaseTtl}`);
      assert.equal(await raw.pTTL("clarus:keys:doc:poll-1"), -1, "documents do not expire");
      await lease.release();
      assert.equal(await raw.exists("clarus:keys:lease:poll-1"), 0);
    });

    it("should keep two prefixes (two tenants, two projects) apart on one Redis", async function () {
      const { store: tenantA } = open({ url: server.url(), prefix: "clarus:tenant-a:" });
      const { store: tenantB } = open({ url: server.url(), prefix: "clarus:tenant-b:" });
      assert.equal(await tenantA.claim("goods_out.completed:9"), true);
      assert.equal(await tenantB.claim("goods_out.completed:9"), true);
      await tenantA.admit({
        key: "k",
        sourceNodeId: "hook",
        message: { topic: "t", payload: {}, clarus: {} },
      });
      assert.deepEqual(await tenantB.inboxCounts(), { pending: 0, dead: 0 });
      await tenantA.writeDocument("poll", { a: 1 });
      assert.equal(await tenantB.readDocument("poll"), undefined);
      assert.ok(await tenantA.acquireLease("poll", 5000));
      assert.ok(await tenantB.acquireLease("poll", 5000));
    });

    it("should run its scripts again after Redis forgot them (restart, SCRIPT FLUSH)", async function () {
      const { store } = open({ url: server.url(), prefix: "clarus:flush:" });
      await store.admit({ key: "a", sourceNodeId: "hook", message: { topic: "t", payload: {}, clarus: {} } });
      await raw.scriptFlush();
      assert.equal(
        await store.admit({
          key: "b",
          sourceNodeId: "hook",
          message: { topic: "t", payload: {}, clarus: {} },
        }),
        "fresh",
      );
      assert.equal(await store.confirm("a"), true);
    });
  });

  context("when a reply from Redis is lost (the connection drops after Redis ran the command)", function () {
    let server;
    let raw;
    let proxy;
    before(async () => {
      server = await new RedisServer().start();
      raw = await server.inspector();
      proxy = await startReplyDroppingProxy({ port: server.port });
    });
    after(async () => {
      await proxy.close();
      await server.dispose();
    });
    afterEach(() => raw.flushAll());

    const claimKey = (key) => `clarus:acme:claim:${key}`;

    it("should delete a claim whose reply was lost once Redis answers, so another instance's claim wins", async function () {
      const { store: here, lines } = open({ url: proxy.url() });
      const { store: elsewhere } = open({ url: server.url() });
      await here.claim("warm-up");
      const dropped = proxy.dropReplyTo(claimKey("lost-1"));
      await timedRejection(here.claim("lost-1"));
      await dropped;
      const lostAt = Date.now();
      assert.match(await raw.get(claimKey("lost-1")), /^[\w-]+\.\w+$/, "Redis made the claim, with a token");
      await eventually(async () => (await raw.exists(claimKey("lost-1"))) === 0, {
        what: "the claim deleted once Redis answers again",
      });
      const ms = Date.now() - lostAt;
      assert.ok(ms < 2000, `deleted ${ms} ms after the lost reply`);
      assert.equal(await elsewhere.claim("lost-1"), true, "fresh on another instance");
      assert.equal(await here.claim("lost-1"), false, "and then claimed, here too");
      assert.ok(
        lines.some((line) =>
          /deleted 1 claim\(s\) that Redis made when its reply was lost/.test(line.message),
        ),
      );
    });

    it("should take a key that holds its own unanswered claim for a new claim, and leave others' claims alone", async function () {
      // This user may not DEL, so the lost claim cannot be deleted in the background: the retry takes it over.
      await raw.sendCommand(["ACL", "SETUSER", "nodel", "on", ">nodel-pass", "~*", "&*", "+@all", "-del"]);
      const { store: here } = open({ url: `redis://nodel:nodel-pass@127.0.0.1:${proxy.port}` });
      const { store: elsewhere } = open({ url: server.url() });
      await here.claim("warm-up");
      const dropped = proxy.dropReplyTo(claimKey("lost-2"));
      await timedRejection(here.claim("lost-2"));
      await dropped;
      const lostToken = await raw.get(claimKey("lost-2"));
      assert.ok(lostToken, "Redis made the claim");
      await eventually(async () => JSON.stringify(await raw.sendCommand(["ACL", "LOG"])).includes('"del"'), {
        what: "the background deletion refused",
      });
      assert.equal(await raw.get(claimKey("lost-2")), lostToken, "still the lost claim");
      assert.equal(await here.claim("lost-2"), true, "Clarus's retry is fresh");
      assert.notEqual(await raw.get(claimKey("lost-2")), lostToken, "under a new token");
      assert.equal(await here.claim("lost-2"), false, "a repeat after that is a duplicate");
      assert.equal(await elsewhere.claim("lost-2"), false, "on every instance");
      // A key another instance claimed is never taken over, even one whose claim here had no reply.
      assert.equal(await elsewhere.claim("theirs"), true);
      const droppedToo = proxy.dropReplyTo(claimKey("theirs"));
      await timedRejection(here.claim("theirs"));
      await droppedToo;
      await healthWhere(here, isReady);
      assert.equal(await here.claim("theirs"), false);
      await raw.sendCommand(["ACL", "DELUSER", "nodel"]);
    });

    it("should finish a release that never reached Redis once Redis answers again", async function () {
      const { store: here } = open({ url: proxy.url() });
      const { store: elsewhere } = open({ url: server.url() });
      assert.equal(await here.claim("released"), true);
      const cut = proxy.dropRequestWith(claimKey("released"));
      await timedRejection(here.release("released"));
      await cut;
      await eventually(async () => (await raw.exists(claimKey("released"))) === 0, {
        what: "the claim deleted once Redis answers again",
      });
      assert.equal(await elsewhere.claim("released"), true, "fresh on another instance");
      assert.equal(await elsewhere.claim("released"), false);
      await here.release("released");
      assert.equal(await raw.exists(claimKey("released")), 1, "a release never deletes another's claim");
    });
  });

  context("inbox data of an older version (one due set for every source node)", function () {
    let server;
    let raw;
    before(async () => {
      server = await new RedisServer().start();
      raw = await server.inspector();
    });
    after(() => server.dispose());

    it("should still send its pending entries, by their own source node, and keep its dead letters", async function () {
      const prefix = "clarus:upgraded:";
      const message = (id) => ({ topic: "t", payload: { id }, clarus: { dedupeKey: `k${id}` } });
      const stored = (source, id) =>
        JSON.stringify({ sourceNodeId: source, message: message(id), admittedAt: 1 });
      // What the previous version's admit and markDead scripts wrote.
      await raw.hSet(`${prefix}inbox:entries`, {
        k1: stored("hook", 1),
        k2: stored("other", 2),
        k3: "{not json",
        k4: stored("hook", 4),
      });
      await raw.hSet(`${prefix}inbox:attempts`, { k1: "3", k2: "1", k3: "1", k4: "10" });
      await raw.hSet(`${prefix}inbox:errors`, { k4: "not confirmed after 10 attempts" });
      const past = Date.now() - 60_000;
      await raw.zAdd(`${prefix}inbox:due`, [
        { score: past, value: "k1" },
        { score: past, value: "k2" },
        { score: past, value: "k3" },
        { score: past, value: "gone" },
      ]);
      await raw.zAdd(`${prefix}inbox:dead`, { score: past, value: "k4" });
      const { store } = open({ url: server.url(), prefix });
      assert.deepEqual(await store.inboxCounts(), { pending: 3, dead: 1 });

      const taken = await store.takeDue(dueFor("hook", { deployed: ["other"] }));
      assert.deepEqual(
        taken.map((entry) => [entry.key, entry.sourceNodeId, entry.attempt, entry.message.payload.id]),
        [["k1", "hook", 4, 1]],
      );
      assert.equal(await raw.exists(`${prefix}inbox:due`), 0, "the old due set is emptied");
      assert.deepEqual(
        (await store.takeDue(dueFor("other"))).map((entry) => entry.key),
        ["k2"],
        "another node's entry waits for its own delivery",
      );
      const dead = await store.deadLetters();
      assert.deepEqual(
        dead.map((entry) => [entry.key, entry.lastError]),
        [["k4", "not confirmed after 10 attempts"]],
        "an unreadable entry cannot be listed; the old dead letter is",
      );
      assert.deepEqual(await store.inboxCounts(), { pending: 2, dead: 2 }, "k3 is a dead letter now");
      assert.equal(
        await raw.hGet(`${prefix}inbox:errors`, "k3"),
        "the inbox entry in Redis is not valid JSON",
      );
      assert.equal(await store.confirm("k1"), true);
      assert.equal(await store.retry("k2", 0, "again"), true);
      assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 2 });
    });

    it("should count the pending entries it admitted without the admitted set in the oldest pending age", async function () {
      const prefix = "clarus:untracked:";
      const message = (id) => ({ topic: "t", payload: { id }, clarus: { dedupeKey: `k${id}` } });
      const admittedAt = Date.now() - 90_000;
      // What the previous version's admit wrote: no admitted set.
      await raw.hSet(`${prefix}inbox:entries`, {
        k1: JSON.stringify({ sourceNodeId: "hook", message: message(1), admittedAt }),
        k2: JSON.stringify({ sourceNodeId: "hook", message: message(2), admittedAt: admittedAt - 30_000 }),
      });
      await raw.zAdd(`${prefix}inbox:due:hook`, [
        { score: Date.now(), value: "k1" },
        { score: Date.now(), value: "k2" },
      ]);
      await raw.hSet(`${prefix}inbox:source`, { k1: "hook", k2: "hook" });
      await raw.sAdd(`${prefix}inbox:sources`, "hook");
      await raw.zAdd(`${prefix}inbox:dead`, { score: Date.now(), value: "k2" });
      const { store } = open({ url: server.url(), prefix });
      // k2 is a dead letter: the oldest pending is k1, admitted 90 s ago.
      const age = await store.oldestPendingAge();
      assert.ok(age >= 90_000 && age < 95_000, String(age));
      assert.equal(await raw.zScore(`${prefix}inbox:admitted`, "k1"), admittedAt);
      assert.equal(await raw.zScore(`${prefix}inbox:admitted`, "k2"), null);
      // One this version admits goes in at Redis's clock; confirming k1 leaves it the oldest.
      await store.admit({ key: "k3", sourceNodeId: "hook", message: message(3) });
      assert.equal(await store.confirm("k1"), true);
      assert.ok((await store.oldestPendingAge()) < 5_000);
      assert.equal(await raw.zScore(`${prefix}inbox:admitted`, "k1"), null);
    });
  });

  context("when Redis goes away and comes back", function () {
    let server;
    beforeEach(async () => {
      server = await new RedisServer().start();
    });
    afterEach(() => server.dispose());

    it("should reject every call at once while Redis is down, queue nothing, and resume by itself on the same port", async function () {
      const { store, lines } = open({ url: server.url() });
      assert.equal(await store.claim("before"), true);
      await server.stop();
      await healthWhere(store, isUnavailable);
      // 1,000 calls while it is away: each one rejects at once; none waits in a queue for Redis to return.
      const outcomes = await Promise.all(
        Array.from({ length: 1000 }, (_, index) => timedRejection(store.claim(`k${index}`))),
      );
      const slowest = Math.max(...outcomes.map((outcome) => outcome.ms));
      assert.ok(slowest < 1000, `slowest rejection took ${slowest} ms`);
      assert.match(outcomes[0].error.message, /^Redis at redis:\/\/127\.0\.0\.1:\d+\/0 unavailable: /);
      for (const call of [
        store.admit({ key: "x", sourceNodeId: "hook", message: { topic: "t", payload: {}, clarus: {} } }),
        store.takeDue(dueFor("hook")),
        store.readDocument("d"),
        store.acquireLease("l", 1000),
        store.inboxCounts(),
      ]) {
        await timedRejection(call);
      }
      await server.start();
      await healthWhere(store, isReady);
      assert.equal(await store.claim("after"), true, "working again, without a new store");
      assert.ok(
        lines.some((line) => /is back after/.test(line.message)),
        "the recovery is logged",
      );
    });

    it("should log the first failure and each new cause once, and the retries only at debug", async function () {
      const { store, lines, until } = open({ url: server.url() });
      await store.claim("warm-up");
      await server.stop({ signal: "SIGKILL" });
      await healthWhere(store, isUnavailable);
      // Let it retry a good number of times (reconnects every ≤ 200 ms here), each one a debug line.
      await until((all) => all.filter((line) => line.level === "debug").length >= 8);
      const warnings = lines.filter((line) => line.level === "warn");
      assert.ok(
        warnings.length >= 1 && warnings.length <= 2,
        warnings.map((line) => line.message).join("\n"),
      );
      assert.match(warnings[0].message, /unavailable: .*; retrying with backoff/);
      await server.start();
      await healthWhere(store, isReady);
      const infos = lines.filter((line) => line.level === "info").map((line) => line.message);
      assert.match(infos[0], /^connected to Redis at redis:\/\/127\.0\.0\.1:\d+\/0$/);
      assert.match(infos[infos.length - 1], /is back after \d+\.\d s$/);
    });

    it("should reject calls to a hung Redis within the response timeout and recover once it answers", async function () {
      const { store } = open({ url: server.url() });
      await store.claim("warm-up");
      server.pause();
      const { error, ms } = await timedRejection(store.claim("during-hang"));
      assert.ok(ms < FAST.responseTimeoutMs + 2000, `took ${ms} ms`);
      assert.match(error.message, /stopped answering/);
      server.resume();
      await healthWhere(store, isReady);
      // The claim sent before the hang may or may not have reached Redis; a new key shows it works again.
      assert.equal(await store.claim("after-hang"), true);
    });

    it("should notice a Redis that hangs under steady calls, fail the calls after at once, and recover when it answers", async function () {
      const { store, lines } = open({ url: server.url() });
      await store.claim("warm-up");
      // A claim every 20 ms: the socket never idles for the response timeout, so only a deadline per call sees the hang.
      const outcomes = [];
      const steady = setInterval(() => {
        const started = Date.now();
        const call = store.claim(`steady-${outcomes.length}`).then(
          () => ({ ms: Date.now() - started }),
          (error) => ({ error, ms: Date.now() - started }),
        );
        outcomes.push(call);
      }, 20);
      try {
        server.pause();
        const hung = await healthWhere(store, isUnavailable, FAST.responseTimeoutMs + 5000);
        assert.match(hung.cause, /stopped answering/);
        const { error, ms } = await timedRejection(store.claim("while-hung"));
        assert.ok(ms < 100, `a call while Redis hangs took ${ms} ms to fail`);
        assert.match(error.message, /stopped answering/);
        server.resume();
        await healthWhere(store, isReady);
      } finally {
        clearInterval(steady);
      }
      const settled = await Promise.all(outcomes);
      const failed = settled.filter((outcome) => outcome.error);
      assert.ok(failed.length > 0, "some steady calls met the hang");
      for (const outcome of failed) assert.equal(outcome.error.name, "StoreUnavailableError");
      const slowest = Math.max(...settled.map((outcome) => outcome.ms));
      assert.ok(slowest < FAST.responseTimeoutMs + 1000, `the slowest call took ${slowest} ms`);
      assert.equal(await store.claim("after-hang"), true);
      const warnings = lines.filter(
        (line) => line.level === "warn" && /stopped answering/.test(line.message),
      );
      assert.equal(warnings.length, 1, lines.map((line) => line.message).join("\n"));
    });

    it("should fail the first calls quickly when Redis is not there at all", async function () {
      const port = await freePort();
      const { store } = open({ url: `redis://127.0.0.1:${port}` });
      const { error, ms } = await timedRejection(store.claim("k"));
      assert.ok(ms < FAST.connectTimeoutMs + 1000, `took ${ms} ms`);
      assert.match(error.message, /connection refused/);
    });
  });

  context("when it is configured wrong", function () {
    it("should say the password is wrong, and never log or return the password", async function () {
      const server = await new RedisServer({ password: PASSWORD }).start();
      try {
        const { store, lines } = open({ url: server.url({ password: `${PASSWORD}-not` }) });
        const { error } = await timedRejection(store.claim("k"));
        assert.match(error.message, /authentication failed: wrong password/);
        assert.match(store.health.cause, /wrong password/);
        assert.ok(lines.some((line) => line.level === "warn" && /wrong password/.test(line.message)));
        assertNoSecret(lines, [error], `${PASSWORD}-not`);
        const { store: right } = open({ url: server.url() });
        assert.equal(await right.claim("k"), true, "the right password works");
      } finally {
        await server.dispose();
      }
    });

    it("should say that Redis wants a password when redisUrl has none", async function () {
      const server = await new RedisServer({ password: PASSWORD }).start();
      try {
        const { store } = open({ url: server.url({ password: undefined }) });
        const { error } = await timedRejection(store.claim("k"));
        assert.match(error.message, /requires a password/);
      } finally {
        await server.dispose();
      }
    });

    it("should say that the database does not exist", async function () {
      const server = await new RedisServer({ databases: 2 }).start();
      try {
        const { store, lines } = open({ url: server.url({ db: 5 }) });
        const { error } = await timedRejection(store.claim("k"));
        assert.match(error.message, /database in redisUrl does not exist/);
        assert.equal(lines.filter((line) => line.level === "warn").length, 1);
        const { store: existing } = open({ url: server.url({ db: 1 }) });
        assert.equal(await existing.claim("k"), true);
      } finally {
        await server.dispose();
      }
    });

    it("should say that a port which answers HTTP is not Redis", async function () {
      const web = http.createServer((_req, res) => res.end("not redis"));
      await new Promise((resolve) => web.listen(0, "127.0.0.1", resolve));
      try {
        const { store } = open({ url: `redis://127.0.0.1:${web.address().port}` });
        const { error } = await timedRejection(store.claim("k"));
        assert.match(error.message, /does not speak the Redis protocol/);
      } finally {
        web.closeAllConnections();
        await new Promise((resolve) => web.close(resolve));
      }
    });

    it("should say that a port which accepts and never answers is not answering", async function () {
      const sockets = new Set();
      const silent = net.createServer((socket) => sockets.add(socket));
      await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
      try {
        const { store } = open({ url: `redis://127.0.0.1:${silent.address().port}` });
        await healthWhere(store, isUnavailable);
        assert.match(store.health.cause, /stopped answering/);
        await timedRejection(store.claim("k"));
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it("should refuse a redisUrl that does not parse with the reason, without the password, and never connect", async function () {
      const cases = [
        [`redis://:${PASSWORD}@127.0.0.1:notaport`, /does not parse/],
        [`http://:${PASSWORD}@127.0.0.1:6379`, /must start with redis:\/\/ or rediss:\/\//],
        [`redis://:${PASSWORD}@127.0.0.1:6379/zero`, /database in redisUrl must be a number/],
        ["", /no redisUrl/],
        [undefined, /no redisUrl/],
      ];
      for (const [url, reason] of cases) {
        const { store, lines } = open({ url });
        assert.equal(store.kind, "redis");
        assert.equal(store.health.state, "unavailable");
        const { error } = await timedRejection(store.claim("k"));
        assert.match(error.message, reason);
        assert.match(lines[0].message, reason);
        assert.equal(lines.length, 1, "one log line");
        assertNoSecret(lines, [error]);
      }
    });

    it("should warn once when Redis may evict any key when full (maxmemory-policy allkeys-*)", async function () {
      const server = await new RedisServer({ args: ["--maxmemory-policy", "allkeys-lru"] }).start();
      try {
        const { store, lines, until } = open({ url: server.url() });
        await store.claim("k");
        await until((all) => all.some((line) => /maxmemory-policy/.test(line.message)));
        const warnings = lines.filter((line) => line.level === "warn");
        assert.equal(warnings.length, 1);
        assert.match(warnings[0].message, /maxmemory-policy allkeys-lru: .* use noeviction/);
      } finally {
        await server.dispose();
      }
    });

    it("should read host, port, database, user and password from redisUrl", function () {
      assert.deepEqual(parseRedisUrl("redis://127.0.0.1"), {
        tls: false,
        host: "127.0.0.1",
        port: 6379,
        database: 0,
        username: undefined,
        password: undefined,
        display: "redis://127.0.0.1/0",
      });
      const full = parseRedisUrl("rediss://alice:p%40ss%3Aword@redis.example.com:6380/3");
      assert.equal(full.tls, true);
      assert.equal(full.username, "alice");
      assert.equal(full.password, "p@ss:word");
      assert.equal(full.database, 3);
      assert.equal(full.port, 6380);
      assert.equal(full.display, "rediss://alice@redis.example.com:6380/3");
      assert.equal(parseRedisUrl("redis://[::1]:6379/").host, "::1");
      assert.equal(parseRedisUrl(" redis://:secret@h:1/2 ").display, "redis://h:1/2");
    });
  });

  context("over TLS (rediss://)", function () {
    let server;
    let plain;
    before(async () => {
      server = await new RedisServer({ tls: true }).start();
      plain = await new RedisServer().start();
    });
    after(async () => {
      await server.dispose();
      await plain.dispose();
    });

    it("should connect when the server's certificate is trusted (a private CA from settings.js)", async function () {
      const { store } = open({ url: server.url(), tls: { ca: fs.readFileSync(server.tlsFiles.ca) } });
      assert.equal(await store.claim("tls"), true);
      assert.equal(await store.claim("tls"), false);
    });

    it("should say that the certificate was refused when it is not trusted", async function () {
      const { store } = open({ url: server.url() });
      const { error } = await timedRejection(store.claim("k"));
      assert.match(error.message, /TLS certificate refused: .*(SELF_SIGNED|UNABLE_TO)/);
    });

    it("should say so when rediss:// points at a plain port", async function () {
      const { store } = open({ url: plain.url().replace("redis://", "rediss://") });
      const { error } = await timedRejection(store.claim("k"));
      assert.match(error.message, /TLS/);
    });

    it("should hint at rediss:// when redis:// points at a TLS-only port", async function () {
      const { store } = open({ url: server.url().replace("rediss://", "redis://") });
      const { error } = await timedRejection(store.claim("k"));
      assert.match(error.message, /rediss:\/\//);
    });
  });
});
