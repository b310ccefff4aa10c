const assert = require("node:assert/strict");
const http = require("node:http");

const { SIM, startReceiver } = require("./helpers");

const CLARUS_HEADERS = [
  "x-claruswms-api-domain",
  "x-claruswms-automation-id",
  "x-claruswms-domain",
  "x-claruswms-integration-id",
  "x-claruswms-subdomain",
];

describe("clarus simulator: webhook sender", function () {
  let sim;
  let receiver;

  beforeEach(async function () {
    receiver = await startReceiver();
  });

  afterEach(async function () {
    if (sim) await sim.stop();
    await receiver.close();
  });

  context("when an automation fires", function () {
    it("should POST the record as JSON with exactly the five Clarus headers", async function () {
      sim = await SIM.startSimulator({ seed: 3 });
      const id = sim.addAutomation({ event: "goods_out.completed", url: receiver.url, integrationId: 723 });
      const [event] = sim.generate(1, ["goods_out.completed"]);
      await sim.flush();

      assert.equal(receiver.requests.length, 1);
      const req = receiver.requests[0];
      assert.equal(req.method, "POST");
      assert.equal(req.url, "/clarus/events/secret-token");
      assert.deepEqual(
        Object.keys(req.headers)
          .filter((h) => h.startsWith("x-"))
          .sort(),
        CLARUS_HEADERS,
      );
      assert.equal(req.headers["x-claruswms-domain"], "https://acme.claruswms.co.uk");
      assert.equal(req.headers["x-claruswms-api-domain"], sim.url);
      assert.equal(req.headers["x-claruswms-subdomain"], "acme");
      assert.equal(req.headers["x-claruswms-automation-id"], String(id));
      assert.equal(req.headers["x-claruswms-integration-id"], "723");
      assert.equal(req.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(req.body), event.body);
      assert.equal(typeof JSON.parse(req.body).id, "number");

      const [sent] = sim.sent;
      assert.deepEqual(
        { ...sent, at: undefined, durationMs: undefined },
        {
          eventId: event.id,
          event: "goods_out.completed",
          recordId: event.recordId,
          automationId: id,
          url: receiver.url,
          method: "POST",
          status: 200,
          repeated: false,
          dropped: false,
          at: undefined,
          durationMs: undefined,
        },
      );
    });

    it("should leave out X-ClarusWMS-Integration-ID when the automation has none", async function () {
      sim = await SIM.startSimulator({ seed: 3, domain: "https://tenant.example", subdomain: "tenant" });
      sim.addAutomation({ event: "stock.placed_on_hold", url: receiver.url });
      sim.generate(1, ["stock.placed_on_hold"]);
      await sim.flush();
      const headers = receiver.requests[0].headers;
      assert.deepEqual(
        Object.keys(headers)
          .filter((h) => h.startsWith("x-"))
          .sort(),
        CLARUS_HEADERS.filter((h) => h !== "x-claruswms-integration-id"),
      );
      assert.equal(headers["x-claruswms-domain"], "https://tenant.example");
      assert.equal(headers["x-claruswms-subdomain"], "tenant");
    });

    it("should deliver only to enabled automations of the event, once per automation", async function () {
      sim = await SIM.startSimulator({ seed: 3 });
      const a = sim.addAutomation({ event: "stock.positively_adjusted", url: receiver.url });
      const b = sim.addAutomation({ event: "stock.positively_adjusted", url: receiver.url });
      const off = sim.addAutomation({
        event: "stock.positively_adjusted",
        url: receiver.url,
        enabled: false,
      });
      sim.addAutomation({ event: "goods_in.completed", url: receiver.url });
      sim.generate(3, ["stock.positively_adjusted"]);
      await sim.flush();
      const byAutomation = receiver.requests.map((r) => Number(r.headers["x-claruswms-automation-id"]));
      assert.equal(byAutomation.filter((x) => x === a).length, 3);
      assert.equal(byAutomation.filter((x) => x === b).length, 3);
      assert.equal(byAutomation.length, 6);

      sim.updateAutomation(off, { enabled: true });
      sim.updateAutomation(b, { enabled: false });
      sim.generate(1, ["stock.positively_adjusted"]);
      await sim.flush();
      assert.deepEqual(
        receiver.requests
          .slice(6)
          .map((r) => Number(r.headers["x-claruswms-automation-id"]))
          .sort(),
        [a, off].sort(),
      );
    });

    it("should wrap the body in {data} when envelope is on", async function () {
      sim = await SIM.startSimulator({ seed: 3, webhook: { envelope: true } });
      sim.addAutomation({ event: "goods_in.completed", url: receiver.url });
      const [event] = sim.generate(1, ["goods_in.completed"]);
      await sim.flush();
      assert.deepEqual(JSON.parse(receiver.requests[0].body), { data: event.body });
    });

    it("should send stock events with only the documented keys when bodies is documented", async function () {
      sim = await SIM.startSimulator({ seed: 3, webhook: { bodies: "documented" } });
      sim.addAutomation({ event: "stock.placed_on_hold", url: receiver.url });
      sim.addAutomation({ event: "goods_in.completed", url: receiver.url });
      const [hold] = sim.generate(1, ["stock.placed_on_hold"]);
      const [receipt] = sim.generate(1, ["goods_in.completed"]);
      await sim.flush();
      const bodies = receiver.requests.map((r) => JSON.parse(r.body));
      assert.deepEqual(Object.keys(bodies[0]), [
        "id",
        "created_at",
        "account",
        "product",
        "warehouse",
        "quantity",
        "new_quantity",
      ]);
      assert.equal(bodies[0].id, hold.recordId);
      assert.equal(hold.body.subtype, "HOLD", "the record itself keeps its subtype");
      assert.deepEqual(bodies[1], receipt.body, "other events are sent whole");
      assert.throws(() => sim.setWebhookOptions({ bodies: "some" }), RangeError);
    });

    it("should send GET without a body when the automation's method is GET", async function () {
      sim = await SIM.startSimulator({ seed: 3 });
      sim.addAutomation({ event: "goods_in.completed", url: receiver.url, method: "GET" });
      sim.generate(1, ["goods_in.completed"]);
      await sim.flush();
      assert.equal(receiver.requests[0].method, "GET");
      assert.equal(receiver.requests[0].body, "");
      assert.equal(receiver.requests[0].headers["content-type"], undefined);
    });

    it("should refuse a bad automation", async function () {
      sim = await SIM.startSimulator({ seed: 3 });
      assert.throws(() => sim.addAutomation({ event: "goods_out", url: receiver.url }), TypeError);
      assert.throws(() => sim.addAutomation({ event: "goods_out.completed", url: "ftp://x" }), TypeError);
      assert.throws(
        () => sim.addAutomation({ event: "goods_out.completed", url: receiver.url, method: "PUT" }),
        TypeError,
      );
    });
  });

  context("when drops and repeats are configured", function () {
    const run = async (seed) => {
      const s = await SIM.startSimulator({ seed, webhook: { dropRate: 0.1, repeatRate: 0.05 } });
      try {
        s.addAutomation({ event: "stock.positively_adjusted", url: receiver.url });
        let delivered = 0;
        s.on("delivered", () => delivered++);
        s.generate(1000, ["stock.positively_adjusted"]);
        await s.flush();
        return { sent: [...s.sent], delivered };
      } finally {
        await s.stop();
      }
    };

    it("should drop and repeat close to the configured shares, reproducibly per seed", async function () {
      const first = await run(5);
      const dropped = first.sent.filter((d) => d.dropped);
      const repeats = first.sent.filter((d) => d.repeated);
      assert.ok(dropped.length >= 70 && dropped.length <= 130, `dropped ${dropped.length} of 1000`);
      assert.ok(repeats.length >= 25 && repeats.length <= 75, `repeated ${repeats.length} of ~900`);
      assert.equal(receiver.requests.length, 1000 - dropped.length + repeats.length);
      assert.equal(first.delivered, receiver.requests.length);
      for (const d of dropped) assert.equal(d.status, undefined);
      for (const d of first.sent.filter((x) => !x.dropped)) assert.equal(d.status, 200);
      // A repeat is the same event, sent after its first attempt.
      for (const r of repeats) {
        const original = first.sent.findIndex((d) => d.eventId === r.eventId && !d.repeated);
        assert.ok(original >= 0 && original < first.sent.indexOf(r));
      }
      const dropIds = dropped.map((d) => d.eventId);
      receiver.requests.length = 0;
      const again = await run(5);
      assert.deepEqual(
        again.sent.filter((d) => d.dropped).map((d) => d.eventId),
        dropIds,
      );
      assert.deepEqual(
        again.sent
          .filter((d) => d.repeated)
          .map((d) => d.eventId)
          .sort((x, y) => x - y),
        repeats.map((d) => d.eventId).sort((x, y) => x - y),
      );
    });

    it("should apply option changes at runtime", async function () {
      sim = await SIM.startSimulator({ seed: 3 });
      sim.addAutomation({ event: "stock.negatively_adjusted", url: receiver.url });
      sim.setWebhookOptions({ dropRate: 1 });
      sim.generate(5, ["stock.negatively_adjusted"]);
      sim.setWebhookOptions({ dropRate: 0, repeatRate: 1 });
      sim.generate(2, ["stock.negatively_adjusted"]);
      await sim.flush();
      assert.equal(sim.sent.filter((d) => d.dropped).length, 5);
      assert.equal(receiver.requests.length, 4);
      assert.deepEqual(sim.webhookOptions, { dropRate: 0, repeatRate: 1 });
      assert.throws(() => sim.setWebhookOptions({ dropRate: 2 }), RangeError);
    });
  });

  context("when deliveries are delayed or paced", function () {
    it("should let flush() await delayed deliveries", async function () {
      sim = await SIM.startSimulator({ seed: 3, webhook: { delayMs: [20, 60] } });
      sim.addAutomation({ event: "stock.placed_on_hold", url: receiver.url });
      await sim.flush();
      sim.generate(5, ["stock.placed_on_hold"]);
      assert.equal(receiver.requests.length, 0);
      assert.ok(sim.pendingDeliveries > 0);
      await sim.flush();
      assert.equal(receiver.requests.length, 5);
      assert.equal(sim.pendingDeliveries, 0);
    });

    it("should start deliveries no faster than ratePerSecond", async function () {
      sim = await SIM.startSimulator({ seed: 3, webhook: { ratePerSecond: 50 } });
      sim.addAutomation({ event: "stock.positively_adjusted", url: receiver.url });
      sim.generate(10, ["stock.positively_adjusted"]);
      await sim.flush();
      const starts = sim.sent.map((d) => Date.parse(d.at));
      assert.equal(starts.length, 10);
      assert.ok(starts[9] - starts[0] >= 170, `10 deliveries at 50/s took ${starts[9] - starts[0]} ms`);
    });

    it("should emit 'delivered' for every finished attempt", async function () {
      sim = await SIM.startSimulator({ seed: 3 });
      sim.addAutomation({ event: "goods_out.completed", url: receiver.url });
      const got = new Promise((resolve) => sim.once("delivered", resolve));
      sim.generate(1, ["goods_out.completed"]);
      const delivery = await got;
      assert.equal(delivery.status, 200);
      assert.equal(delivery.event, "goods_out.completed");
    });
  });

  context("when the receiver fails", function () {
    it("should record the status of an error answer", async function () {
      await receiver.close();
      receiver = await startReceiver(503);
      sim = await SIM.startSimulator({ seed: 3 });
      sim.addAutomation({ event: "goods_out.completed", url: receiver.url });
      sim.generate(1, ["goods_out.completed"]);
      await sim.flush();
      assert.equal(sim.sent[0].status, 503);
    });

    it("should record connection errors and timeouts", async function () {
      const silent = http.createServer(() => {});
      await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
      // Port 9 (discard) is below the ephemeral range, so no server of a parallel test can take it, as
      // one did a port freed a moment before.
      const closedPort = 9;
      try {
        sim = await SIM.startSimulator({ seed: 3, webhook: { timeoutMs: 100 } });
        sim.addAutomation({ event: "goods_out.completed", url: `http://127.0.0.1:${closedPort}/x` });
        sim.addAutomation({
          event: "goods_out.completed",
          url: `http://127.0.0.1:${silent.address().port}/x`,
        });
        sim.generate(1, ["goods_out.completed"]);
        await sim.flush();
        assert.deepEqual(sim.sent.map((d) => d.error).sort(), ["ECONNREFUSED", "timeout"]);
      } finally {
        silent.closeAllConnections();
        silent.close();
      }
    });

    it("should cancel pending deliveries on stop() and resolve flush()", async function () {
      sim = await SIM.startSimulator({ seed: 3, webhook: { delayMs: 60_000 } });
      sim.addAutomation({ event: "goods_out.completed", url: receiver.url });
      sim.generate(3, ["goods_out.completed"]);
      const flushed = sim.flush();
      await sim.stop();
      await flushed;
      await sim.stop();
      assert.equal(receiver.requests.length, 0);
    });
  });
});
