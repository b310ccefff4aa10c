const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { helper, tempUserDir } = require("../helpers/node-red");
const { startWarehouse, expectedKey, POLL_IDS } = require("../helpers/clarus-sim");
const { waitForStatus } = require("../helpers/status");
const { SCHEMA_DIALECTS } = require("../../build/dev/sim/index.js");

/** Every generated event arrived exactly once, whichever path brought it. */
function assertExactlyOnce(sim, received) {
  const keys = received.map((msg) => msg.clarus.dedupeKey);
  const counts = new Map();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  const doubled = [...counts].filter(([, n]) => n > 1).map(([key]) => key);
  assert.deepEqual(doubled, [], "events delivered twice");
  const expected = sim.events.map(expectedKey);
  const missing = expected.filter((key) => !counts.has(key));
  assert.deepEqual(missing, [], "events never delivered");
  assert.equal(keys.length, expected.length, "unexpected extra events");
}

describe("clarus-poll with clarus-webhook-in against the simulator", function () {
  this.timeout(60_000);
  let warehouse;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await warehouse?.stop();
    warehouse = undefined;
    helper.settings({});
  });

  for (const schema of SCHEMA_DIALECTS) {
    context(`on the ${schema} schema`, function () {
      it("should deliver every event exactly once with 30% of webhooks dropped and 10% repeated", async function () {
        warehouse = await startWarehouse({ webhook: { dropRate: 0.3, repeatRate: 0.1 }, schema });
        await warehouse.load();
        const { sim } = warehouse;
        // The polls run once at deploy (runOnStart), before the warehouse gets busy.
        await warehouse.pollUntilClean();
        sim.generate(150);
        await sim.flush();
        const dropped = sim.sent.filter((d) => d.dropped).length;
        const repeated = sim.sent.filter((d) => d.repeated).length;
        assert.ok(dropped > 20 && repeated > 5, `dropped ${dropped}, repeated ${repeated}`);
        await warehouse.pollUntilClean();
        const received = await warehouse.settle(sim.events.length);
        assertExactlyOnce(sim, received);
        const bySource = received.reduce(
          (n, m) => ({ ...n, [m.clarus.source]: (n[m.clarus.source] ?? 0) + 1 }),
          {},
        );
        assert.ok(bySource.poll > 0 && bySource.webhook > 0, JSON.stringify(bySource));
        assert.equal(bySource.poll, sim.events.length - bySource.webhook);
        // Six runs of three polls on one connection read the schema once.
        assert.equal(sim.requests.introspection, 1, "introspection requests");

        // A webhook that arrives after the poll recovered its event is answered as a duplicate.
        const recovered = received.find((m) => m.clarus.source === "poll");
        const event = sim.events.find((e) => expectedKey(e) === recovered.clarus.dedupeKey);
        const automationId = sim.sent.find((d) => d.event === event.event).automationId;
        const response = await warehouse.deliver(automationId, event.body);
        assert.deepEqual(await response.json(), { ok: true, duplicate: true });
      });

      for (const [name, faults] of [
        ["5xx answers", { error5xx: 0.3 }],
        ["429 with Retry-After", { rateLimit: 0.3, retryAfterSeconds: 1 }],
        ["slow answers", { slowMs: [5, 40], slowRate: 0.5 }],
        ["GraphQL errors with HTTP 200", { graphqlErrors: 0.15 }],
        ["partial data with errors", { partialData: 0.15 }],
      ]) {
        it(`should still deliver every event exactly once under ${name}`, async function () {
          warehouse = await startWarehouse({ webhook: { dropRate: 0.3, repeatRate: 0.1 }, seed: 11, schema });
          await warehouse.load();
          const { sim } = warehouse;
          await warehouse.pollUntilClean();
          sim.generate(80);
          await sim.flush();
          sim.setFaults(faults);
          await warehouse.pollUntilClean();
          sim.clearFaults();
          const received = await warehouse.settle(sim.events.length);
          assertExactlyOnce(sim, received);
          const counts = sim.faultCounts;
          const fired = Object.values(counts).reduce((a, b) => a + b, 0);
          assert.ok(fired > 0, `no fault fired: ${JSON.stringify(counts)}`);
        });
      }

      it("should still deliver every event exactly once when tokens expire mid-run", async function () {
        warehouse = await startWarehouse({ webhook: { dropRate: 0.3, repeatRate: 0.1 }, seed: 13, schema });
        await warehouse.load();
        const { sim } = warehouse;
        await warehouse.pollUntilClean();
        sim.generate(40);
        await sim.flush();
        await warehouse.pollUntilClean();
        const tokensBefore = sim.requests.token;
        sim.expireTokens();
        sim.generate(40);
        await sim.flush();
        const rejectedBefore = sim.requests.byStatus[401] ?? 0;
        assert.equal(
          await warehouse.pollUntilClean(),
          1,
          "a 401 is answered by one token refresh, not a failed run",
        );
        assert.ok(
          (sim.requests.byStatus[401] ?? 0) > rejectedBefore,
          "the expired token was used and refused",
        );
        assert.equal(sim.requests.token, tokensBefore + 1, "one new token, shared by the three polls");
        assertExactlyOnce(sim, await warehouse.settle(sim.events.length));
      });

      it("should lose and double nothing across a Node-RED restart between polls", async function () {
        const userDir = tempUserDir();
        warehouse = await startWarehouse({
          webhook: { dropRate: 0.3, repeatRate: 0.1 },
          userDir,
          seed: 5,
          schema,
        });
        await warehouse.load();
        const { sim } = warehouse;
        await warehouse.pollUntilClean();
        sim.generate(60);
        await sim.flush();
        await warehouse.pollUntilClean();
        const first = await warehouse.settle(sim.events.length);
        const watermarks = POLL_IDS.map((id) => path.join(userDir, "clarus", `poll-${id}.json`));
        for (const file of watermarks) assert.ok(JSON.parse(fs.readFileSync(file, "utf8")).watermark, file);

        await helper.unload();
        sim.generate(60);
        await sim.flush(); // webhooks while Node-RED is down: all refused at the socket or 404
        await warehouse.load();
        await warehouse.pollUntilClean();
        const second = await warehouse.settle(sim.events.length - first.length);
        assertExactlyOnce(sim, [...first, ...second]);
        assert.equal(sim.requests.introspection, 2, "one schema reading per start of the connection");
      });
    });
  }

  context("runs (documented schema)", function () {
    it("should never run twice at once; a trigger during a hung run waits, visibly", async function () {
      warehouse = await startWarehouse({ schema: "documented" });
      await warehouse.load();
      const { sim } = warehouse;
      sim.generate(10, ["stock.positively_adjusted"]);
      await sim.flush();
      const poll = helper.getNode("poll2");
      sim.setFaults({ hang: true });
      const graphqlBefore = sim.requests.graphql;
      poll.receive({ payload: "first" });
      poll.receive({ payload: "second" });
      poll.receive({ payload: "third" });
      const waiting = await waitForStatus(poll, (s) => /waiting/.test(s.text ?? ""));
      assert.match(waiting.text, /run in progress, 2 waiting/);
      assert.equal(sim.requests.graphql - graphqlBefore <= 1, true, "only the first run may be asking");
      sim.clearFaults();
      // All three inputs end; the two that waited share one run.
      await warehouse.completed.waitFor(3);
      assert.equal(warehouse.caught.received.length, 0);
    });

    it("should backfill from msg.since and not move the watermark past a gap", async function () {
      const userDir = tempUserDir();
      warehouse = await startWarehouse({ userDir, schema: "documented" });
      await warehouse.load();
      const { sim } = warehouse;
      sim.generate(5, ["stock.placed_on_hold"]);
      await sim.flush();
      const poll = helper.getNode("poll2");
      await warehouse.out.waitFor(5);
      poll.receive({ since: new Date(Date.now() - 3_600_000).toISOString() });
      await warehouse.completed.waitFor(1);
      // Everything the backfill found had come by webhook already.
      await waitForStatus(poll, (s) => /0 new, 5 dup/.test(s.text ?? ""));
      poll.receive({ since: "not a date" });
      const [caught] = await warehouse.caught.waitFor(1);
      assert.match(caught.error.message, /msg.since "not a date" is not a date/);
    });

    it("should keep the watermark when a run fails and report the error to a Catch node", async function () {
      const userDir = tempUserDir();
      warehouse = await startWarehouse({ userDir, schema: "documented" });
      await warehouse.load();
      const { sim } = warehouse;
      const poll = helper.getNode("poll2");
      poll.receive({});
      await warehouse.completed.waitFor(1);
      const file = path.join(userDir, "clarus", "poll-poll2.json");
      const before = fs.readFileSync(file, "utf8");
      sim.setFaults({ graphqlErrors: 1 });
      poll.receive({});
      const [caught] = await warehouse.caught.waitFor(1);
      assert.match(caught.error.message, /GraphQL errors/);
      assert.equal(fs.readFileSync(file, "utf8"), before);
      const status = await waitForStatus(poll, (s) => s.fill === "red");
      assert.equal(status.shape, "ring");
    });

    it("should stop at maxPages and go on from there in the next run", async function () {
      warehouse = await startWarehouse({
        webhook: { dropRate: 1 },
        pollOverrides: { pageSize: 5, maxPages: 2 },
        schema: "documented",
      });
      await warehouse.load();
      const { sim, out, completed } = warehouse;
      sim.generate(23, ["stock.negatively_adjusted"]);
      await sim.flush();
      const poll = helper.getNode("poll2");
      for (const [run, total] of [
        [1, 10],
        [2, 20],
        [3, 23],
      ]) {
        poll.receive({});
        await completed.waitFor(run);
        await out.waitFor(total);
      }
      assertExactlyOnce(sim, await warehouse.settle(23));
      await waitForStatus(poll, (s) => /3 new, 0 dup$/.test(s.text ?? ""));
    });
  });
});
