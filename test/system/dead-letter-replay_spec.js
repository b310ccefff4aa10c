// The Clarus tab's admin routes in two real Node-RED processes from the packed package, on one redis-server:
// the connections' views, dead-letter replay (rate-limited, cancellable, each entry once across instances,
// through another webhook-in when its own is gone) and discard, recent deliveries and sending one again, Poll now,
// with settings.js adminAuth: read to look, write to act, 404 for what is not deployed, 400 for a bad body.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const { eventually } = require("../helpers/eventually");
const {
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  dispatched,
  recordAndConfirm,
} = require("../helpers/fixtures");
const { readLines, waitForFile } = require("../helpers/output-file");
const {
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

const WRITE = { Authorization: "Bearer ops-write" };
const READ = { Authorization: "Bearer ops-read" };
const TAB = "replay-tab";
const EVENT = "goods_out.completed";

/** adminAuth whose only ways in are two bearer tokens: one may do everything, one may only read. */
const ADMIN_AUTH_SOURCE = `{
  adminAuth: {
    type: "credentials",
    users: [],
    tokens: (token) => Promise.resolve(
      token === "ops-write" ? { username: "ops", permissions: "*" }
      : token === "ops-read" ? { username: "viewer", permissions: "read" } : null),
  },
}`;

/**
 * One instance's flow: webhook-in nodes → a function that writes "<id> <replayed> <node>" to the instance's
 * output file and passes on only replayed messages → clarus-confirm. Nothing else is confirmed, so with
 * maxAttempts 1 every delivery becomes a dead letter a second after it is sent.
 */
function replayFlow({ output, hooks = ["hook"], sim }) {
  const line =
    'msg.payload = msg.payload.id + " " + (msg.clarus.replayed === true) + " " + msg.hook;\n' +
    "return msg.clarus.replayed ? msg : null;";
  const nodes = [
    { id: TAB, type: "tab", label: "replay" },
    connectionConfig({
      store: "redis",
      delivery: "on-confirm",
      redeliverSeconds: 1,
      maxAttempts: 1,
      apiUrl: sim.url,
      subdomain: sim.subdomain,
      domain: sim.domain,
      credentials: {
        webhookToken: TOKEN,
        redisUrl: sim.redisUrl,
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
      },
    }),
    ...recordAndConfirm({ z: TAB, output, func: line }),
    {
      id: "poll",
      type: "clarus-poll",
      z: TAB,
      connection: "conn",
      stream: EVENT,
      intervalMinutes: 60,
      runOnStart: false,
      x: 140,
      y: 300,
      wires: [[]],
    },
  ];
  hooks.forEach((id, index) => {
    // Each hook tags its messages, so the output says which node sent a replay.
    nodes.push(
      webhookConfig({
        id,
        z: TAB,
        path: `/clarus/${id}`,
        x: 140,
        y: 80 + 60 * index,
        wires: [[`${id}-tag`]],
      }),
      {
        id: `${id}-tag`,
        type: "change",
        z: TAB,
        rules: [{ t: "set", p: "hook", pt: "msg", to: id, tot: "str" }],
        x: 260,
        y: 80 + 60 * index,
        wires: [["record"]],
      },
    );
  });
  return nodes;
}

/** The output lines as { id, replayed, hook }. */
const outputOf = (file) =>
  readLines(file, (text) => {
    const [id, replayed, hook] = text.split(" ");
    return { id: Number(id), replayed: replayed === "true", hook };
  });

describe("the Clarus tab's admin routes in real Node-RED instances on one Redis", function () {
  this.timeout(120_000);
  let tmp;
  let redis;
  let sim;
  const instances = [];

  async function startInstance(name) {
    const userDir = path.join(tmp, name);
    fs.mkdirSync(userDir);
    await installIntoUserDir({ userDir, packages: [tarball] });
    const port = await freePort();
    writeSettings({ userDir, port, extraSource: ADMIN_AUTH_SOURCE });
    const red = await startNodeRed({ userDir, port });
    return { name, userDir, port, red, output: path.join(userDir, "out", "events.log") };
  }

  let tarball;

  const deploy = (instance, flows) => deployFlows(instance.red, flows, { headers: WRITE });

  const admin = (instance, method, urlPath, { body, headers = WRITE, timeoutMs } = {}) =>
    request({ port: instance.port, method, path: urlPath, headers, body, timeoutMs });

  async function view(instance) {
    const res = await admin(instance, "GET", "/clarus-wms/connections", { headers: READ });
    assert.equal(res.status, 200, res.text);
    return res.json().find((connection) => connection.id === "conn");
  }

  /** Clarus posts each id once to `hook` of `instance`; every answer must be a 200. */
  async function post(instance, ids, hook = "hook", extraHeaders = {}) {
    for (const id of ids) {
      const res = await request({
        port: instance.port,
        method: "POST",
        path: `/clarus/${hook}/${TOKEN}`,
        headers: { ...CLARUS_HEADERS, ...extraHeaders },
        body: dispatched(id),
      });
      assert.equal(res.status, 200, res.text);
    }
  }

  async function deadCount(instance, expected) {
    let seen;
    await eventually(async () => (seen = (await view(instance)).inbox?.dead) === expected, {
      what: `${expected} dead letters (seen ${seen})`,
      timeoutMs: 60_000,
    });
  }

  before(async function () {
    this.timeout(300_000);
    tmp = makeTempDir("clarus-replay-");
    tarball = await packPackage({ destination: tmp });
    redis = await new RedisServer().start();
    const apiPort = await freePort();
    sim = await startSimulator({ port: apiPort, history: 0, seed: 3, webhook: { dropRate: 1 } });
    sim.redisUrl = redis.url();
    for (const name of ["a", "b"]) instances.push(await startInstance(name));
    for (const instance of instances) await deploy(instance, replayFlow({ output: instance.output, sim }));
  });

  after(async () => {
    for (const instance of instances) await instance.red.kill();
    await redis?.dispose();
    await sim?.stop();
    removeDir(tmp);
  });

  afterEach(async () => {
    // Every test starts with an empty inbox and empty output files.
    await admin(instances[0], "POST", "/clarus-wms/connections/conn/dead-letters/discard", { body: {} });
    for (const instance of instances) fs.rmSync(instance.output, { force: true });
  });

  it("should let a read token look and refuse it every action; no token gets nothing", async function () {
    const [a] = instances;
    for (const route of [
      "/clarus-wms/connections",
      "/clarus-wms/connections/conn/dead-letters",
      "/clarus-wms/connections/conn/recent",
    ]) {
      assert.equal((await admin(a, "GET", route, { headers: READ })).status, 200, route);
      assert.equal((await admin(a, "GET", route, { headers: {} })).status, 401, route);
    }
    for (const route of [
      "/clarus-wms/connections/conn/dead-letters/replay",
      "/clarus-wms/connections/conn/dead-letters/replay/cancel",
      "/clarus-wms/connections/conn/dead-letters/discard",
      "/clarus-wms/nodes/poll/poll",
    ]) {
      // Node-RED answers a token without the permission as one without a token: 401.
      assert.equal((await admin(a, "POST", route, { headers: READ, body: {} })).status, 401, route);
      assert.equal((await admin(a, "POST", route, { headers: {}, body: {} })).status, 401, route);
    }
  });

  it("should answer 404 with the reason for a connection or node that is not deployed", async function () {
    const [a] = instances;
    for (const [method, route] of [
      ["GET", "/clarus-wms/connections/nope/dead-letters"],
      ["POST", "/clarus-wms/connections/nope/dead-letters/replay"],
      ["POST", "/clarus-wms/connections/nope/dead-letters/replay/cancel"],
      ["POST", "/clarus-wms/connections/nope/dead-letters/discard"],
      ["GET", "/clarus-wms/connections/nope/recent"],
      ["POST", "/clarus-wms/connections/nope/recent/x/send"],
      ["POST", "/clarus-wms/connections/conn/recent/not-kept/send"],
      ["POST", "/clarus-wms/nodes/nope/poll"],
      ["POST", "/clarus-wms/nodes/hook/poll"],
    ]) {
      const res = await admin(a, method, route, { body: {} });
      assert.equal(res.status, 404, `${method} ${route}: ${res.text}`);
      assert.match(res.json().error, /not|no /, route);
    }
  });

  it("should refuse a body it cannot act on with 400 and the reason, and act on nothing", async function () {
    const [a] = instances;
    await post(a, [101]);
    await deadCount(a, 1);
    const bodies = [
      [{ key: "goods_out.completed:101" }, /unknown field "key"/],
      [{ keys: "goods_out.completed:101" }, /keys must be an array/],
      [{ keys: [] }, /keys is empty/],
      [{ keys: [7] }, /keys must be an array/],
      [{ event: 5 }, /event must be a non-empty string/],
      [[1, 2], /JSON object/],
      [{ via: "no-such-node" }, /does not send events/],
    ];
    for (const [body, reason] of bodies) {
      const res = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay", { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.json().error, reason);
    }
    const discard = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/discard", {
      body: { via: "hook" },
    });
    assert.equal(discard.status, 400, "discard takes no via");
    assert.equal((await view(a)).inbox.dead, 1, "nothing was replayed or discarded");
  });

  it("should replay 500 dead letters at the rate limit, each through its node once, marked replayed, and confirmed", async function () {
    const [a, b] = instances;
    const ids = Array.from({ length: 500 }, (_, index) => 1000 + index);
    await post(a, ids);
    await deadCount(a, 500);
    const started = Date.now();
    const res = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay", {
      body: {},
      timeoutMs: 90_000,
    });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), { replayed: 500, skipped: [], cancelled: false });
    // 20 a second (settings.js clarus.replayPerSecond's default): the 500th goes at 499 / 20 s at the earliest.
    assert.ok(seconds >= 499 / 20, `500 replayed in ${seconds} s: faster than 20 a second`);
    const replayed = () => [...outputOf(a.output), ...outputOf(b.output)].filter((line) => line.replayed);
    await eventually(() => replayed().length >= 500, { what: "every replay in the flow", timeoutMs: 30_000 });
    const counts = new Map();
    for (const line of replayed()) counts.set(line.id, (counts.get(line.id) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), ids, "every dead letter came back");
    assert.deepEqual(
      [...counts.values()].filter((n) => n !== 1),
      [],
      "each once",
    );
    assert.ok(
      replayed().every((line) => line.hook === "hook"),
      "through its own node",
    );
    await eventually(
      async () => {
        const { inbox } = await view(a);
        return inbox.pending === 0 && inbox.dead === 0;
      },
      { what: "every replay confirmed" },
    );
    console.log(`      500 dead letters replayed at the default limit in ${seconds.toFixed(1)} s, each once`);
  });

  it("should stop a replay on cancel, answer 409 to a second while one runs, and leave the rest dead", async function () {
    const [a] = instances;
    const ids = Array.from({ length: 100 }, (_, index) => 2000 + index);
    await post(a, ids);
    await deadCount(a, 100);
    const running = admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay", { body: {} });
    await eventually(async () => (await view(a)).replay?.replayed >= 10, { what: "10 replayed" });
    const second = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay", { body: {} });
    assert.equal(second.status, 409);
    const cancel = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay/cancel");
    assert.deepEqual(cancel.json(), { cancelled: true });
    const answer = (await running).json();
    assert.equal(answer.cancelled, true);
    assert.ok(answer.replayed >= 10 && answer.replayed < 100, `replayed ${answer.replayed}`);
    await eventually(async () => (await view(a)).inbox.dead === 100 - answer.replayed, {
      what: "the rest still dead",
    });
    const again = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay/cancel");
    assert.deepEqual(again.json(), { cancelled: false }, "nothing to cancel");
  });

  it("should replay each dead letter once when two instances replay them all at once", async function () {
    const [a, b] = instances;
    const ids = Array.from({ length: 200 }, (_, index) => 3000 + index);
    await post(a, ids);
    await deadCount(a, 200);
    const answers = await Promise.all(
      [a, b].map((instance) =>
        admin(instance, "POST", "/clarus-wms/connections/conn/dead-letters/replay", {
          body: {},
          timeoutMs: 60_000,
        }),
      ),
    );
    const [fromA, fromB] = answers.map((res) => res.json());
    assert.equal(fromA.replayed + fromB.replayed, 200, `a ${fromA.replayed}, b ${fromB.replayed}`);
    const replayed = () => [...outputOf(a.output), ...outputOf(b.output)].filter((line) => line.replayed);
    await eventually(() => replayed().length >= 200, { what: "every replay in a flow" });
    const counts = new Map();
    for (const line of replayed()) counts.set(line.id, (counts.get(line.id) ?? 0) + 1);
    assert.equal(counts.size, 200);
    assert.deepEqual(
      [...counts.values()].filter((n) => n !== 1),
      [],
      "each once across both instances",
    );
  });

  it("should replay by event and by key, send a dead letter of a node gone through another webhook-in, and discard by event", async function () {
    const [a, b] = instances;
    for (const instance of instances) {
      await deploy(instance, replayFlow({ output: instance.output, hooks: ["hook", "hook-old"], sim }));
    }
    await post(a, [4001, 4002], "hook-old");
    await post(a, [4003, 4004]);
    await deadCount(a, 4);
    // hook-old leaves the flows: its dead letters stay, and are skipped until a node is named to send them.
    for (const instance of instances) await deploy(instance, replayFlow({ output: instance.output, sim }));
    const byKey = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay", {
      body: { keys: [`${EVENT}:4001`, `${EVENT}:4003`, `${EVENT}:9999`] },
    });
    const answer = byKey.json();
    assert.equal(answer.replayed, 1);
    assert.deepEqual(answer.skipped.map((s) => s.key).sort(), [`${EVENT}:4001`, `${EVENT}:9999`]);
    assert.match(answer.skipped.find((s) => s.key === `${EVENT}:4001`).reason, /hook-old is not deployed/);
    const via = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/replay", {
      body: { keys: [`${EVENT}:4001`], via: "hook" },
    });
    assert.deepEqual(via.json(), { replayed: 1, skipped: [], cancelled: false });
    const replayed = () => [...outputOf(a.output), ...outputOf(b.output)].filter((line) => line.replayed);
    await eventually(() => replayed().length >= 2, { what: "both replays in the flow" });
    assert.deepEqual(
      replayed()
        .map(({ id, hook }) => [id, hook])
        .sort(),
      [
        [4001, "hook"],
        [4003, "hook"],
      ],
    );
    const other = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/discard", {
      body: { event: "stock.placed_on_hold" },
    });
    assert.deepEqual(other.json(), { discarded: 0 }, "another event's dead letters: none");
    const discarded = await admin(a, "POST", "/clarus-wms/connections/conn/dead-letters/discard", {
      body: { event: EVENT },
    });
    assert.deepEqual(discarded.json(), { discarded: 2 });
    await eventually(async () => (await view(a)).inbox.dead === 0, { what: "no dead letters left" });
  });

  it("should list what each deployed connection is doing, and run a poll node on Poll now", async function () {
    const [a] = instances;
    await post(a, [5001]);
    const seen = await view(a);
    assert.equal(seen.name, "acme");
    assert.equal(seen.store, "redis");
    assert.equal(seen.delivery, "on-confirm");
    assert.equal(seen.health.store.ok, true);
    assert.ok(seen.counters.sinceStart.webhook >= 1);
    assert.equal(seen.counters.perMinute.length, 60);
    assert.ok(seen.counters.lastEventAt.webhook);
    assert.deepEqual(
      seen.nodes.map((node) => node.id).sort(),
      ["hook", "poll"],
      "the nodes that use the connection",
    );
    assert.ok(!JSON.stringify(seen).includes(TOKEN), "never the token");
    assert.ok(!JSON.stringify(seen).includes(sim.clientSecret), "never the client secret");
    assert.equal(seen.counters.watermarkAge[EVENT], undefined, "no poll has run");
    const poll = await admin(a, "POST", "/clarus-wms/nodes/poll/poll");
    assert.deepEqual(poll.json(), { started: true });
    await eventually(async () => (await view(a)).counters.watermarkAge[EVENT] !== undefined, {
      what: "the poll's watermark after Poll now",
    });
  });

  it("should keep the last deliveries without the token, send one to the flow again, and forget them at a redeploy", async function () {
    const [a] = instances;
    const echoed = { ...dispatched(6001), note: `the token ${TOKEN} echoed`, [TOKEN]: [TOKEN] };
    const placements = [
      { path: `/clarus/hook/${TOKEN}`, headers: {} },
      {
        path: `/clarus/hook?token=${encodeURIComponent(TOKEN)}`,
        headers: { "X-Original-URI": `/clarus/hook?token=${TOKEN}` },
      },
      { path: "/clarus/hook", headers: { Authorization: `Bearer ${TOKEN}`, Cookie: `t=${TOKEN}` } },
    ];
    for (const [index, placement] of placements.entries()) {
      const res = await request({
        port: a.port,
        method: "POST",
        path: placement.path,
        headers: { ...CLARUS_HEADERS, ...placement.headers, "X-Forwarded-Uri": `/x/${TOKEN}` },
        body: { ...echoed, id: 6001 + index },
      });
      assert.equal(res.status, 200, res.text);
    }
    const res = await admin(a, "GET", "/clarus-wms/connections/conn/recent", { headers: READ });
    const recent = res.json();
    assert.deepEqual(
      recent.slice(0, 3).map((delivery) => delivery.payload.id),
      [6003, 6002, 6001],
      "newest first",
    );
    assert.ok(!res.text.includes(TOKEN), `the token is in the capture: ${res.text.slice(0, 300)}`);
    assert.equal(recent[0].headers["x-claruswms-automation-id"], "43");
    assert.equal(recent[0].headers.authorization, undefined);
    assert.equal(recent[0].event, EVENT);
    assert.equal(recent[0].automationId, "43");
    const send = await admin(a, "POST", `/clarus-wms/connections/conn/recent/${recent[2].id}/send`);
    assert.deepEqual(send.json(), { sent: true });
    await waitForFile(
      a.output,
      () => outputOf(a.output),
      (lines) => lines.some((line) => line.id === 6001 && line.replayed),
      { what: "the delivery sent again, marked replayed" },
    );
    await deploy(a, replayFlow({ output: a.output, sim }));
    const after = await admin(a, "GET", "/clarus-wms/connections/conn/recent", { headers: READ });
    assert.deepEqual(after.json(), [], "a redeploy clears them");
  });
});
