// A Redis reply lost on its way back, through the real Node-RED (red.js, the package linked into its user
// directory) and a real redis-server behind a proxy that swallows one reply and cuts that connection, as a
// network or proxy does when it drops a connection after Redis ran the command. Instance A reaches Redis
// through the proxy, instance B directly; both run webhook-in → a function logging "GOT <id> <attempt>" →
// clarus-confirm on a connection with `store: redis`.
// - on-receipt: the claim ran but webhook-in answered 503. A 503 means "not taken": Clarus's retry must reach
//   the flow, on the same instance and on another one.
// - on-confirm: the admission ran but webhook-in answered 503: the retry is a duplicate, and the inbox sends
//   the event (already so before the claim tokens; kept here so it stays so).
// The 503's body names no Redis host, port or database.
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
const { startReplyDroppingProxy } = require("../helpers/reply-dropping-proxy");

const TAB = "lost-reply";
const PREFIX = "clarus:acme:";
/** What webhook-in asks Clarus to wait before it retries a 503. */
const RETRY_AFTER_MS = 5000;

function flow({ redisUrl, connection = {} }) {
  return [
    { id: TAB, type: "tab", label: "lost reply" },
    connectionConfig({ store: "redis", credentials: { webhookToken: TOKEN, redisUrl }, ...connection }),
    webhookConfig({ z: TAB, x: 140, y: 80, wires: [["got"]] }),
    {
      id: "got",
      type: "function",
      z: TAB,
      name: "got",
      func: 'node.warn("GOT " + msg.payload.id + " " + (msg.clarus.attempt || 1));\nreturn msg;',
      outputs: 1,
      x: 320,
      y: 80,
      wires: [["confirmer"]],
    },
    {
      id: "confirmer",
      type: "clarus-confirm",
      z: TAB,
      name: "",
      action: "confirm",
      retrySeconds: 60,
      x: 480,
      y: 80,
      wires: [[]],
    },
  ];
}

/** Clarus delivering order `id` to `red`: { status, text }. */
function post(red, id) {
  return request({
    port: red.port,
    method: "POST",
    path: `/clarus/events/${TOKEN}`,
    headers: CLARUS_HEADERS,
    body: dispatched(id),
  });
}

/** Clarus's retries: posts until the answer is not a 503 (the store is back), and resolves with it. */
async function postUntilTaken(red, id) {
  let answer;
  await eventually(async () => (answer = await post(red, id)).status !== 503, {
    what: `a retry of ${id} that is not answered 503`,
  });
  return answer;
}

const linesOf = (red, id) => red.lines.filter((line) => new RegExp(`\\bGOT ${id} `).test(line));

describe("a Redis reply lost after Redis ran the command (store: redis, the real Node-RED)", function () {
  this.timeout(90_000);
  let tmp;
  let redis;
  let raw;
  let proxy;
  /** A: Redis through the proxy; B: Redis directly. */
  let a;
  let b;

  async function startInstance(name) {
    const userDir = path.join(tmp, name);
    linkPackage(userDir, { name: `clarus-lost-reply-${name}` });
    const port = await freePort();
    writeSettings({ userDir, port });
    return startNodeRed({ userDir, port });
  }

  async function deployBoth(connection = {}) {
    await deployFlows(a, flow({ redisUrl: proxy.url(), connection }));
    await deployFlows(b, flow({ redisUrl: redis.url(), connection }));
  }

  /** A delivery after the one under test, to `red`: once it is in the flow, what came before it is there too. */
  async function barrier(red, id) {
    assert.equal((await post(red, id)).status, 200);
    await red.waitForLine(new RegExp(`\\bGOT ${id} `));
  }

  before(async function () {
    tmp = makeTempDir("clarus-lost-reply-");
    redis = await new RedisServer().start();
    raw = await redis.inspector();
    proxy = await startReplyDroppingProxy({ port: redis.port });
    [a, b] = await Promise.all([startInstance("a"), startInstance("b")]);
  });

  after(async function () {
    await Promise.all([a?.kill(), b?.kill()]);
    await proxy?.close();
    await redis?.dispose();
    removeDir(tmp);
  });

  afterEach(async () => {
    await raw.flushAll();
  });

  context("on-receipt", function () {
    beforeEach(() => deployBoth());

    it("should answer 503 without naming Redis, and take Clarus's retry as fresh: the order reaches the flow once", async function () {
      const dropped = proxy.dropReplyTo("claim:goods_out.completed:501");
      const first = await post(a, 501);
      await dropped;
      assert.equal(first.status, 503, first.text);
      assert.equal(first.headers["retry-after"], "5");
      assert.equal(await raw.exists(`${PREFIX}claim:goods_out.completed:501`), 1, "Redis ran the claim");

      const retry = await postUntilTaken(a, 501);
      assert.equal(retry.status, 200);
      assert.deepEqual(JSON.parse(retry.text), { ok: true }, "the retry was taken as fresh");
      await barrier(a, 502);
      assert.equal(linesOf(a, 501).length, 1, linesOf(a, 501).join("\n"));
      assert.equal(linesOf(b, 501).length, 0);
      const again = await post(a, 501);
      assert.deepEqual(JSON.parse(again.text), { ok: true, duplicate: true }, "taken once, then a duplicate");

      const { error } = JSON.parse(first.text);
      assert.equal(error, "the store is unavailable; try again later");
      for (const detail of ["127.0.0.1", String(proxy.port), "redis://", "/0"]) {
        assert.ok(!first.text.includes(detail), `the 503 body names ${detail}: ${first.text}`);
      }
      // The node's log keeps the detail.
      await a.waitForLine(/rejected 503: .*Redis at redis:\/\/127\.0\.0\.1:\d+\/0 unavailable/);
    });

    it("should free the claim well within Retry-After, so a retry that lands on another instance is fresh", async function () {
      const claim = `${PREFIX}claim:goods_out.completed:601`;
      const dropped = proxy.dropReplyTo("claim:goods_out.completed:601");
      const first = await post(a, 601);
      await dropped;
      const answeredAt = Date.now();
      assert.equal(first.status, 503, first.text);
      await eventually(async () => (await raw.exists(claim)) === 0, {
        timeoutMs: RETRY_AFTER_MS,
        what: "the lost claim deleted once Redis answers again",
      });
      const freedAfter = Date.now() - answeredAt;
      assert.ok(freedAfter < RETRY_AFTER_MS, `freed ${freedAfter} ms after the 503`);
      const retry = await post(b, 601);
      assert.deepEqual(JSON.parse(retry.text), { ok: true }, "the retry on B was taken as fresh");
      await barrier(b, 602);
      assert.equal(linesOf(b, 601).length, 1);
      assert.equal(linesOf(a, 601).length, 0);
    });

    it("should keep a delivered event a duplicate when the reply to its repeat's claim is lost", async function () {
      assert.deepEqual(JSON.parse((await post(a, 651)).text), { ok: true });
      await a.waitForLine(/\bGOT 651 /);
      const dropped = proxy.dropReplyTo("claim:goods_out.completed:651");
      const repeat = await post(a, 651);
      await dropped;
      assert.equal(repeat.status, 503, repeat.text);
      const retry = await postUntilTaken(a, 651);
      assert.deepEqual(JSON.parse(retry.text), { ok: true, duplicate: true });
      assert.deepEqual(JSON.parse((await post(b, 651)).text), { ok: true, duplicate: true });
      await barrier(a, 652);
      assert.equal(linesOf(a, 651).length, 1);
      assert.equal(linesOf(b, 651).length, 0);
    });
  });

  context("on-confirm", function () {
    beforeEach(() => deployBoth({ delivery: "on-confirm", redeliverSeconds: 1, maxAttempts: 10 }));

    it("should answer the retry as a duplicate and send the event from the inbox, once", async function () {
      // An admission first, so that Redis has the script cached: the reply lost below is the script's own.
      await barrier(a, 700);
      const dropped = proxy.dropReplyTo("claim:goods_out.completed:701");
      const first = await post(a, 701);
      await dropped;
      assert.equal(first.status, 503, first.text);
      assert.equal(await raw.hExists(`${PREFIX}inbox:entries`, "goods_out.completed:701"), 1, "admitted");
      const retry = await postUntilTaken(a, 701);
      assert.deepEqual(JSON.parse(retry.text), { ok: true, duplicate: true });
      // Sent by the inbox after redeliverSeconds, by whichever instance takes it, then confirmed.
      await Promise.race([a.waitForLine(/\bGOT 701 2\b/), b.waitForLine(/\bGOT 701 2\b/)]);
      await eventually(async () => (await raw.hLen(`${PREFIX}inbox:entries`)) === 0, { what: "confirmed" });
      const sent = [...linesOf(a, 701), ...linesOf(b, 701)];
      assert.equal(sent.length, 1, sent.join("\n"));
    });
  });
});
