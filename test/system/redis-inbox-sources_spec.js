// Who may take a due inbox entry from a shared Redis, in the real Node-RED (red.js, the package linked into its
// user directory), on one real redis-server: `on-confirm`, nothing confirms, so every event is sent again each
// `redeliverSeconds` with its attempt counted, and each source node's function logs "GOT <node> <id> <attempt>".
// An attempt that is counted but not sent (taken by a delivery that has no sender for it) shows as a gap.
// - Two connections of one subdomain share one inbox (the default `redisPrefix`): each one's redeliveries
//   reach its own node, none is swallowed by the other connection.
// - A rolling deploy: an instance whose flows lack a new node leaves that node's entries to the instances
//   that have it.
// - An instance whose wall clock is an hour ahead (C) takes nothing early: due times are Redis's.
// - A source node deleted from the flows: its events still end as dead letters, but only once well overdue.
const assert = require("node:assert/strict");
const path = require("node:path");

const {
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig, dispatched } = require("../helpers/fixtures");
const { eventually } = require("../helpers/eventually");
const { RedisServer } = require("../helpers/redis-server");

const TAB = "sources";
/** How far ahead instance B's wall clock is. */
const CLOCK_AHEAD_MS = 3_600_000;
/** How many redeliver periods a due entry of a node gone from the flows waits before it is taken anyway. */
const GONE_SOURCE_GRACE_PERIODS = 3;

function connection(id, redisUrl, overrides = {}) {
  return connectionConfig({
    id,
    store: "redis",
    delivery: "on-confirm",
    redeliverSeconds: 1,
    maxAttempts: 50,
    credentials: { webhookToken: TOKEN, redisUrl },
    ...overrides,
  });
}

/** A webhook-in at `/<id>` on `connectionId` → a function logging what reached that node. */
function source(id, connectionId, y = 80) {
  return [
    webhookConfig({
      id,
      z: TAB,
      connection: connectionId,
      path: `/${id}`,
      x: 140,
      y,
      wires: [[`got-${id}`]],
    }),
    {
      id: `got-${id}`,
      type: "function",
      z: TAB,
      name: `got ${id}`,
      func: `node.warn("GOT ${id} " + msg.payload.id + " " + msg.clarus.attempt);\nreturn null;`,
      outputs: 1,
      x: 340,
      y,
      wires: [[]],
    },
  ];
}

const tab = { id: TAB, type: "tab", label: "sources" };

function post(red, hookId, id) {
  return request({
    port: red.port,
    method: "POST",
    path: `/${hookId}/${TOKEN}`,
    headers: CLARUS_HEADERS,
    body: dispatched(id),
  });
}

/** Every "GOT" line of `red`: { node, id, attempt }. */
function received(red) {
  return red.lines
    .map((line) => /\bGOT (\S+) (\d+) (\d+)$/.exec(line))
    .filter(Boolean)
    .map(([, node, id, attempt]) => ({ node, id: Number(id), attempt: Number(attempt) }));
}

/** The attempts of `id` that reached `node`, in order. */
const attemptsOf = (lines, node, id) =>
  lines.filter((line) => line.node === node && line.id === id).map((line) => line.attempt);

describe("who takes a due inbox entry from a shared Redis (the real Node-RED)", function () {
  this.timeout(90_000);
  let tmp;
  let redis;
  let raw;
  /** A and B: true clocks. C: a wall clock an hour ahead. */
  let a;
  let b;
  let c;

  async function startInstance(name, env = {}) {
    const userDir = path.join(tmp, name);
    linkPackage(userDir, { name: `clarus-sources-${name}` });
    const port = await freePort();
    writeSettings({ userDir, port });
    const nodeArgs = env.CLARUS_TEST_CLOCK_OFFSET_MS
      ? ["--require", path.join(__dirname, "..", "helpers", "clock-offset.js")]
      : [];
    return startNodeRed({ userDir, port, env, nodeArgs });
  }

  /**
   * Resolves once every event in `expected` ({ node, id }) has reached its node with attempt `attempt` or a
   * later one; rejects after a while with the attempts that did.
   */
  async function waitForAttempt(red, expected, attempt) {
    const reached = ({ node, id }) => attemptsOf(received(red), node, id).some((n) => n >= attempt);
    try {
      await eventually(() => expected.every(reached), { timeoutMs: 20_000, what: `attempt ${attempt}` });
    } catch (error) {
      const seen = expected.map(({ node, id }) => `${node} ${id}: ${attemptsOf(received(red), node, id)}`);
      error.message += ` at every event's own node; attempts that reached it:\n${seen.join("\n")}`;
      throw error;
    }
  }

  /** Every attempt from 1 to the last one reached its node: none was counted without being sent. */
  function assertNoneSwallowed(lines, expected) {
    for (const { node, id } of expected) {
      const attempts = attemptsOf(lines, node, id);
      const last = Math.max(...attempts);
      assert.deepEqual(
        attempts,
        Array.from({ length: last }, (_, index) => index + 1),
        `${node} ${id}: attempts ${attempts.join(", ")}`,
      );
    }
  }

  before(async function () {
    tmp = makeTempDir("clarus-sources-");
    redis = await new RedisServer().start();
    raw = await redis.inspector();
    [a, b, c] = await Promise.all([
      startInstance("a"),
      startInstance("b"),
      startInstance("c", { CLARUS_TEST_CLOCK_OFFSET_MS: String(CLOCK_AHEAD_MS) }),
    ]);
  });

  after(async function () {
    await Promise.all([a?.kill(), b?.kill(), c?.kill()]);
    await redis?.dispose();
    removeDir(tmp);
  });

  afterEach(async () => {
    await Promise.all([deployFlows(a, [tab]), deployFlows(b, [tab]), deployFlows(c, [tab])]);
    await raw.flushAll();
  });

  it("should send each connection's redeliveries through its own node when two connections share one inbox", async function () {
    await deployFlows(b, [tab]);
    const url = redis.url();
    await deployFlows(a, [
      tab,
      connection("conn-a", url),
      connection("conn-b", url),
      ...source("hook-a", "conn-a", 80),
      ...source("hook-b", "conn-b", 160),
    ]);
    const expected = [];
    for (let id = 1; id <= 20; id++) {
      const node = id % 2 ? "hook-a" : "hook-b";
      assert.equal((await post(a, node, id)).status, 200);
      expected.push({ node, id });
    }
    await waitForAttempt(a, expected, 3);
    const lines = received(a);
    assertNoneSwallowed(lines, expected);
    for (const { node, id } of expected) {
      const other = node === "hook-a" ? "hook-b" : "hook-a";
      assert.deepEqual(attemptsOf(lines, other, id), [], `${id} reached ${other}`);
    }
    assert.ok(!a.lines.some((line) => /dead letter/.test(line)), "no dead letter");
  });

  it("should leave a new node's entries to the instances that have it during a rolling deploy", async function () {
    const url = redis.url();
    // B still runs the previous flows: it lacks hook-new.
    await deployFlows(b, [tab, connection("conn", url), ...source("hook-old", "conn")]);
    await deployFlows(a, [
      tab,
      connection("conn", url),
      ...source("hook-old", "conn", 80),
      ...source("hook-new", "conn", 160),
    ]);
    const expected = [];
    for (let id = 101; id <= 110; id++) {
      assert.equal((await post(a, "hook-new", id)).status, 200);
      expected.push({ node: "hook-new", id });
    }
    await waitForAttempt(a, expected, 3);
    assertNoneSwallowed(received(a), expected);
    assert.deepEqual(received(b), [], "B sent nothing");
    assert.ok(![...a.lines, ...b.lines].some((line) => /dead letter/.test(line)), "no dead letter");
  });

  it("should not send an event again early from an instance whose clock is ahead: due times are Redis's", async function () {
    const url = redis.url();
    const flows = [tab, connection("conn", url, { redeliverSeconds: 2 }), ...source("hook", "conn")];
    await deployFlows(a, flows);
    await deployFlows(c, flows);
    assert.equal((await post(a, "hook", 201)).status, 200);
    await a.waitForLine(/\bGOT hook 201 1$/);
    const firstAt = Date.now();
    await Promise.race([a.waitForLine(/\bGOT hook 201 2$/), c.waitForLine(/\bGOT hook 201 2$/)]);
    const gap = Date.now() - firstAt;
    assert.ok(gap >= 1800, `sent again ${gap} ms after the first send, redeliverSeconds is 2`);
  });

  it("should still make a dead letter of a deleted node's event, once it is well overdue", async function () {
    const url = redis.url();
    const settings = { redeliverSeconds: 1, maxAttempts: 1 };
    await deployFlows(b, [tab, connection("conn", url, settings)]);
    await deployFlows(a, [tab, connection("conn", url, settings), ...source("hook-gone", "conn")]);
    assert.equal((await post(a, "hook-gone", 301)).status, 200);
    const admittedAt = Date.now();
    await a.waitForLine(/\bGOT hook-gone 301 1$/);
    await deployFlows(a, [tab, connection("conn", url, settings)]);
    const dead =
      /dead letter goods_out\.completed:301: not confirmed after 1 attempt \(its node hook-gone is not deployed\)/;
    await Promise.race([
      a.waitForLine(dead, { timeoutMs: 30_000 }),
      b.waitForLine(dead, { timeoutMs: 30_000 }),
    ]);
    const after = Date.now() - admittedAt;
    const grace = (1 + GONE_SOURCE_GRACE_PERIODS) * 1000;
    assert.ok(
      after >= grace - 200,
      `a dead letter ${after} ms after its admission, before the grace ran out`,
    );
    assert.equal(Number(await raw.zCard("clarus:acme:inbox:dead")), 1);
  });
});
