// clarus-confirm and the on-confirm delivery of a connection, in node-red-node-test-helper: confirm, retry
// from a Catch node, redelivery, dead letters with their admin endpoint, redeploys.
const assert = require("node:assert/strict");
const path = require("node:path");

const request = require("supertest");

const {
  helper,
  connectionNode,
  capturingWebhookNode,
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  collect,
  tempUserDir,
  dispatched,
} = require("../helpers/node-red");
const { eventually } = require("../helpers/eventually");
const { waitForStatus } = require("../helpers/status");
const { startWarehouse } = require("../helpers/clarus-sim");

const confirmNode = require(path.join(__dirname, "..", "..", "build", "nodes", "clarus-confirm.js"));
const functionNode = require("@node-red/nodes/core/function/10-function.js");

/** A function node that fails an event's first attempt and passes the rest. */
const FAILS_FIRST_ATTEMPT = `
if (msg.clarus.attempt === 1) throw new Error("ERP answered 503");
return msg;`;

describe("clarus-confirm", function () {
  let app;

  function confirmConfig(overrides = {}) {
    return {
      id: "confirmer",
      type: "clarus-confirm",
      name: "",
      action: "confirm",
      retrySeconds: 60,
      wires: [["out"]],
      ...overrides,
    };
  }

  async function load(flow, { settings } = {}) {
    if (settings) helper.settings(settings);
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode)), confirmNode, functionNode],
      flow,
      { conn: { webhookToken: TOKEN } },
    );
  }

  function post(body = dispatched(1)) {
    return request(app).post(`/clarus/events/${TOKEN}`).set(CLARUS_HEADERS).send(body);
  }

  function deadLetters(id = "conn") {
    return helper.request().get(`/clarus-wms/connections/${id}/dead-letters`).expect(200);
  }

  /** The connection's inbox counts as the admin endpoint reports them. */
  async function inbox() {
    const { body } = await deadLetters();
    return { pending: body.pending, dead: body.dead };
  }

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });

  it("should be loaded with correct defaults", async function () {
    await load([connectionConfig(), { id: "confirmer", type: "clarus-confirm", wires: [[]] }]);
    const node = helper.getNode("confirmer");
    assert.equal(node.type, "clarus-confirm");
    assert.equal(node.error.callCount, 0);
    assert.equal(node.warn.callCount, 0);
  });

  it("should fail red with the reason on an action it does not know", async function () {
    await load([connectionConfig(), confirmConfig({ action: "forget" })]);
    const node = helper.getNode("confirmer");
    assert.ok(
      node.error.args.some(([e]) => /not confirming: action must be confirm or retry/.test(String(e))),
    );
  });

  context("when the connection delivers on-confirm", function () {
    const onConfirm = (overrides = {}) =>
      connectionConfig({ delivery: "on-confirm", redeliverSeconds: 1, maxAttempts: 3, ...overrides });

    it("should keep an event pending until clarus-confirm sees it, then pass the message on", async function () {
      await load([
        onConfirm({ redeliverSeconds: 300 }),
        webhookConfig({ wires: [["confirmer"]] }),
        confirmConfig(),
        { id: "out", type: "helper" },
      ]);
      const out = collect(helper.getNode("out"));
      await post().expect(200, { ok: true });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.clarus.connection, "conn");
      assert.equal(msg.clarus.attempt, 1);
      assert.equal(msg.clarus.redelivered, false);
      assert.deepEqual(await inbox(), { pending: 0, dead: 0 });
      // A repeat from Clarus of the confirmed event is a duplicate, as before.
      await post().expect(200, { ok: true, duplicate: true });
      await waitForStatus(helper.getNode("confirmer"), (s) => s.text === "1 confirmed");
    });

    it("should answer a repeat of a pending event as a duplicate and send it again itself, with attempt and redelivered", async function () {
      await load([onConfirm(), webhookConfig({ wires: [["out"]] }), { id: "out", type: "helper" }]);
      const out = collect(helper.getNode("out"));
      await post().expect(200, { ok: true });
      await post().expect(200, { ok: true, duplicate: true });
      const [first, second] = await out.waitFor(2);
      assert.equal(first.clarus.attempt, 1);
      assert.equal(second.clarus.attempt, 2);
      assert.equal(second.clarus.redelivered, true);
      assert.notEqual(second._msgid, first._msgid);
      assert.deepEqual(second.payload, dispatched(1));
      assert.deepEqual(await inbox(), { pending: 1, dead: 0 });
    });

    it("should send a failed event again through Catch → clarus-confirm (retry) and confirm it on the second attempt", async function () {
      await load([
        onConfirm({ redeliverSeconds: 300 }),
        webhookConfig({ wires: [["erp"]] }),
        {
          id: "erp",
          type: "function",
          name: "ERP",
          func: FAILS_FIRST_ATTEMPT,
          outputs: 1,
          wires: [["confirmer"]],
        },
        confirmConfig(),
        { id: "catcher", type: "catch", scope: ["erp"], wires: [["retrier"]] },
        confirmConfig({ id: "retrier", action: "retry", retrySeconds: 0, wires: [["retried"]] }),
        { id: "out", type: "helper" },
        { id: "retried", type: "helper" },
      ]);
      const out = collect(helper.getNode("out"));
      const retried = collect(helper.getNode("retried"));
      await post().expect(200, { ok: true });
      const [failed] = await retried.waitFor(1);
      assert.match(failed.error.message, /ERP answered 503/);
      const [confirmed] = await out.waitFor(1);
      assert.equal(confirmed.clarus.attempt, 2);
      assert.equal(confirmed.clarus.redelivered, true);
      assert.deepEqual(await inbox(), { pending: 0, dead: 0 });
    });

    it("should give up after maxAttempts: a Catch node gets the dead letter, the status counts it, the admin endpoint lists it", async function () {
      await load([
        onConfirm({ maxAttempts: 2 }),
        webhookConfig({ wires: [["out"]] }),
        { id: "catcher", type: "catch", scope: ["hook"], wires: [["caught"]] },
        { id: "out", type: "helper" },
        { id: "caught", type: "helper" },
      ]);
      const out = collect(helper.getNode("out"));
      const caught = collect(helper.getNode("caught"));
      await post(dispatched(7)).expect(200, { ok: true });
      const [dead] = await caught.waitFor(1);
      assert.match(dead.error.message, /dead letter goods_out\.completed:7: not confirmed after 2 attempts/);
      assert.equal(dead.payload.id, 7);
      assert.equal(dead.clarus.dedupeKey, "goods_out.completed:7");
      assert.equal(dead.clarus.attempt, 2);
      assert.deepEqual(
        out.received.map((m) => m.clarus.attempt),
        [1, 2],
      );
      const status = await waitForStatus(helper.getNode("hook"), (s) => /1 dead/.test(s.text));
      assert.equal(status.fill, "yellow");
      const { body } = await deadLetters();
      assert.equal(body.delivery, "on-confirm");
      assert.equal(body.pending, 0);
      assert.equal(body.dead, 1);
      assert.equal(body.deadLetters.length, 1);
      const [letter] = body.deadLetters;
      assert.equal(letter.key, "goods_out.completed:7");
      assert.equal(letter.sourceNodeId, "hook");
      assert.equal(letter.attempts, 2);
      assert.match(letter.lastError, /not confirmed after 2 attempts/);
      assert.deepEqual(letter.message.payload, dispatched(7));
      // A dead letter is kept: Clarus retrying it is still a duplicate.
      await post(dispatched(7)).expect(200, { ok: true, duplicate: true });
      await helper.request().get("/clarus-wms/connections/nope/dead-letters").expect(404);
    });

    it("should send a replayed dead letter (file store) through its node once, marked replayed, and keep it until confirmed", async function () {
      await load(
        [
          onConfirm({ maxAttempts: 1 }),
          webhookConfig({ wires: [["pass-replayed"]] }),
          {
            id: "pass-replayed",
            type: "function",
            func: "return msg.clarus.replayed ? msg : null;",
            wires: [["confirmer"]],
          },
          confirmConfig(),
          { id: "out", type: "helper" },
        ],
        { settings: { userDir: tempUserDir(), clarus: { replayPerSecond: 1000 } } },
      );
      const out = collect(helper.getNode("out"));
      await post(dispatched(8)).expect(200, { ok: true });
      await post(dispatched(9)).expect(200, { ok: true });
      await eventually(async () => (await inbox()).dead === 2, { what: "both dead letters" });
      const { body } = await helper
        .request()
        .post("/clarus-wms/connections/conn/dead-letters/replay")
        .send({ keys: ["goods_out.completed:9"] })
        .expect(200);
      assert.deepEqual(body, { replayed: 1, skipped: [], cancelled: false });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.id, 9);
      assert.equal(msg.clarus.replayed, true);
      assert.equal(msg.clarus.attempt, 1);
      await eventually(
        async () => {
          const counts = await inbox();
          return counts.pending === 0 && counts.dead === 1;
        },
        { what: "the replay confirmed, the other still dead" },
      );
      // Clarus repeating the replayed event is still a duplicate.
      await post(dispatched(9)).expect(200, { ok: true, duplicate: true });
      assert.equal(out.received.length, 1);
    });

    it("should keep pending events and their due times across a full redeploy", async function () {
      const userDir = tempUserDir();
      const flow = [
        onConfirm({ redeliverSeconds: 2 }),
        webhookConfig({ wires: [["out"]] }),
        { id: "out", type: "helper" },
      ];
      await load(flow, { settings: { userDir } });
      let out = collect(helper.getNode("out"));
      const admitted = Date.now();
      await post(dispatched(1)).expect(200, { ok: true });
      await post(dispatched(2)).expect(200, { ok: true });
      await out.waitFor(2);
      await helper.setFlows(
        flow.map((n) => ({ ...n })),
        "full",
      );
      out = collect(helper.getNode("out"));
      const again = await out.waitFor(2);
      // The process is the same: an event still in flight in the flow must not be sent again before it is due.
      const after = Date.now() - admitted;
      assert.ok(after >= 2000, `sent again ${after} ms after admission, before its redeliverSeconds (2 s)`);
      assert.deepEqual(again.map((m) => [m.payload.id, m.clarus.attempt, m.clarus.redelivered]).sort(), [
        [1, 2, true],
        [2, 2, true],
      ]);
      await post(dispatched(1)).expect(200, { ok: true, duplicate: true });
    });

    it("should keep pending events across a nodes deploy that leaves the connection running", async function () {
      const flow = [onConfirm(), webhookConfig({ wires: [["out"]] }), { id: "out", type: "helper" }];
      await load(flow);
      await post(dispatched(1)).expect(200, { ok: true });
      await collect(helper.getNode("out")).waitFor(1);
      flow[1] = webhookConfig({ name: "changed", wires: [["out"]] });
      await helper.setFlows(flow, "nodes");
      const out = collect(helper.getNode("out"));
      const [again] = await out.waitFor(1);
      assert.equal(again.payload.id, 1);
      assert.equal(again.clarus.redelivered, true);
    });

    it("should keep every delivery apart under a key of its own when dedupe is off", async function () {
      await load([
        onConfirm({ redeliverSeconds: 300 }),
        webhookConfig({ dedupe: false, wires: [["confirmer"]] }),
        confirmConfig(),
        { id: "out", type: "helper" },
      ]);
      const out = collect(helper.getNode("out"));
      await post().expect(200, { ok: true });
      await post().expect(200, { ok: true });
      const received = await out.waitFor(2);
      assert.equal(received[0].clarus.dedupeKey, "goods_out.completed:1");
      assert.notEqual(received[0].clarus.inboxKey, received[1].clarus.inboxKey);
      assert.deepEqual(await inbox(), { pending: 0, dead: 0 });
    });
  });

  context("when a message cannot be confirmed", function () {
    it("should fail a message without msg.clarus.dedupeKey to a Catch node", async function () {
      await load([
        connectionConfig({ delivery: "on-confirm" }),
        confirmConfig(),
        { id: "catcher", type: "catch", scope: ["confirmer"], wires: [["caught"]] },
        { id: "out", type: "helper" },
        { id: "caught", type: "helper" },
      ]);
      const caught = collect(helper.getNode("caught"));
      helper.getNode("confirmer").receive({ payload: "not from clarus" });
      const [failed] = await caught.waitFor(1);
      assert.match(failed.error.message, /msg\.clarus\.dedupeKey is missing/);
      const status = await waitForStatus(helper.getNode("confirmer"), (s) => s.fill === "red");
      assert.match(status.text, /dedupeKey is missing/);
    });

    it("should pass on, as a debug-logged no-op, a key that is unknown, confirmed before, or of no deployed connection", async function () {
      await load([
        connectionConfig({ delivery: "on-confirm" }),
        confirmConfig(),
        { id: "out", type: "helper" },
      ]);
      const out = collect(helper.getNode("out"));
      const node = helper.getNode("confirmer");
      node.receive({ payload: {}, clarus: { dedupeKey: "goods_out.completed:404", connection: "conn" } });
      // A hand-made message: no connection, or one that is not deployed.
      node.receive({ payload: {}, clarus: { dedupeKey: "goods_out.completed:405" } });
      node.receive({ payload: {}, clarus: { dedupeKey: "goods_out.completed:406", connection: "gone" } });
      await out.waitFor(3);
      assert.equal(node.error.callCount, 0);
      const debug = node.debug.args.map(([m]) => String(m)).join("\n");
      assert.match(debug, /goods_out\.completed:404 is not pending/);
      assert.match(debug, /goods_out\.completed:405 has no deployed clarus-connection \(none\)/);
      assert.match(debug, /goods_out\.completed:406 has no deployed clarus-connection \(gone\)/);
    });

    it("should warn once that retry does nothing on an on-receipt connection", async function () {
      await load([
        connectionConfig(),
        webhookConfig({ wires: [["retrier"]] }),
        confirmConfig({ id: "retrier", action: "retry" }),
        { id: "out", type: "helper" },
      ]);
      const out = collect(helper.getNode("out"));
      await post(dispatched(1)).expect(200, { ok: true });
      await post(dispatched(2)).expect(200, { ok: true });
      const [msg] = await out.waitFor(2);
      assert.equal(msg.clarus.attempt, undefined, "on-receipt messages are as in 0.1");
      const node = helper.getNode("retrier");
      assert.equal(node.warn.args.filter(([w]) => /retry has no effect/.test(String(w))).length, 1);
    });
  });

  context("when a poll delivers on-confirm", function () {
    let warehouse;
    afterEach(async () => {
      await warehouse?.stop();
      warehouse = undefined;
    });

    it("should admit each page in one group commit and send unconfirmed records again from the poll node", async function () {
      warehouse = await startWarehouse({
        webhook: { dropRate: 1 },
        userDir: tempUserDir(),
        connection: { delivery: "on-confirm", redeliverSeconds: 1, maxAttempts: 5 },
      });
      await warehouse.load();
      const { sim } = warehouse;
      sim.generate(40, ["goods_out.completed"]);
      await sim.flush();
      helper.getNode("poll0").receive({ payload: "run" });
      const first = (await warehouse.out.waitFor(40)).slice();
      assert.ok(first.every((m) => m.clarus.source === "poll" && m.clarus.attempt === 1));
      const { stats } = helper.getNode("conn").services.store.inbox.log;
      // pageSize 25: two pages, each admitted with one fsync (plus a record fetch's worth of slack).
      assert.ok(stats.syncs <= 4, `${stats.syncs} fsyncs for 40 records in 2 pages`);
      const again = await warehouse.out.waitFor(80);
      const redelivered = again.slice(40);
      assert.ok(redelivered.every((m) => m.clarus.source === "poll" && m.clarus.redelivered === true));
      assert.deepEqual(
        redelivered.map((m) => m.clarus.dedupeKey).sort(),
        first.map((m) => m.clarus.dedupeKey).sort(),
      );
    });
  });
});
