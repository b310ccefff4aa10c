// One instant, many spellings: Clarus writes timestamps with an offset (`2024-07-17T14:30:16.787+01:00`, the one
// live-looking example), in UTC (`…13:30:16.787Z`) and with more or fewer fraction digits (`.787000Z`, `.000Z`,
// none). Dedupe keys that carry a version, the poll's watermark and resume point, its pending records and the
// API's clock must read each set as one instant; compared as text they are not.
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const request = require("supertest");

const { dedupeKeyFor } = require("../../build/nodes/lib/events/dedupe-keys.js");
const { PendingRecords } = require("../../build/nodes/lib/poll/pending.js");
const { PollStateDocument } = require("../../build/nodes/lib/poll/state.js");
const { ServerClock } = require("../../build/nodes/lib/poll/server-clock.js");
const { FileConnectionStore } = require("../../build/nodes/lib/store/file/file-store.js");
const {
  helper,
  tempUserDir,
  capturingWebhookNode,
  connectionNode,
  TOKEN,
  collect,
} = require("../helpers/node-red");
const { startWarehouse, startSimulator, connectionFor, simHeaders } = require("../helpers/clarus-sim");

/** Spellings of 2024-07-17 13:30:16.787 UTC. */
const WITH_MS = [
  "2024-07-17T14:30:16.787+01:00",
  "2024-07-17T13:30:16.787Z",
  "2024-07-17T13:30:16.787000Z",
  "2024-07-17T09:30:16.787-04:00",
];
/** Spellings of 2024-07-17 13:30:16 UTC, whole seconds. */
const WHOLE_SECONDS = [
  "2024-07-17T14:30:16+01:00",
  "2024-07-17T13:30:16Z",
  "2024-07-17T13:30:16.000Z",
  "2024-07-17T13:30:16.000000Z",
];

const HOUR = 3_600_000;

describe("one instant in every spelling Clarus uses", function () {
  context("versioned dedupe keys", function () {
    const keyOf = (updatedAt) =>
      dedupeKeyFor("goods_out.updated", { id: 77, updated_at: updatedAt }, "{}", { deliveryId: "d" });

    it("should give every spelling of one instant one key, and other instants other keys", function () {
      for (const forms of [WITH_MS, WHOLE_SECONDS]) {
        const keys = new Set(forms.map(keyOf));
        assert.equal(keys.size, 1, `${forms.join(", ")} gave ${[...keys].join(", ")}`);
      }
      assert.equal(keyOf(WITH_MS[0]), "goods_out.updated:77@2024-07-17T13:30:16.787Z");
      assert.equal(keyOf(WHOLE_SECONDS[0]), "goods_out.updated:77@2024-07-17T13:30:16.000Z");
      // A millisecond, or a microsecond, later is another occurrence.
      assert.notEqual(keyOf("2024-07-17T13:30:16.788Z"), keyOf(WITH_MS[1]));
      assert.notEqual(keyOf("2024-07-17T13:30:16.787001Z"), keyOf(WITH_MS[1]));
      // A version that is not a timestamp stays as it is.
      assert.equal(keyOf("v7"), "goods_out.updated:77@v7");
    });
  });

  context("through clarus-webhook-in", function () {
    let sim;
    let app;

    before(() => helper.startServer());
    after(() => helper.stopServer());
    afterEach(async () => {
      await helper.unload();
      await sim?.stop();
    });

    it("should answer a redelivery that spells updated_at another way as a duplicate", async function () {
      sim = await startSimulator({ history: 0 });
      await helper.load(
        [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))],
        [
          connectionFor(sim, []),
          {
            id: "hook",
            type: "clarus-webhook-in",
            connection: "conn",
            path: "/clarus/events",
            event: "goods_out.updated",
            requireToken: true,
            wires: [["out"]],
          },
          { id: "out", type: "helper" },
        ],
        { conn: { webhookToken: TOKEN } },
      );
      const out = collect(helper.getNode("out"));
      const answers = [];
      for (const updatedAt of [...WITH_MS, "2024-07-17T13:30:17.000Z"]) {
        const res = await request(app)
          .post(`/clarus/events/${TOKEN}`)
          .set(simHeaders(sim, 43))
          .send({ id: 77, reference: "SO-77", updated_at: updatedAt })
          .expect(200);
        answers.push(res.body.duplicate === true ? "duplicate" : "fresh");
      }
      assert.deepEqual(answers, ["fresh", "duplicate", "duplicate", "duplicate", "fresh"]);
      const received = await out.waitFor(2);
      assert.deepEqual(
        received.map((msg) => msg.clarus.dedupeKey),
        ["goods_out.updated:77@2024-07-17T13:30:16.787Z", "goods_out.updated:77@2024-07-17T13:30:17.000Z"],
      );
    });
  });

  context("poll state", function () {
    it("should drop the pending record seen longest ago by instant, not by its text", function () {
      // 14:30:16.787+01:00 is 13:30:16.787Z: seen before 13:40Z, though its text sorts after.
      const pending = new PendingRecords({ "id:1": WITH_MS[0], "id:2": "2024-07-17T13:40:00.000Z" }, 2);
      pending.touch("id", "3", "2024-07-17T13:50:00.000Z");
      assert.deepEqual(pending.values("id").sort(), ["2", "3"]);
    });

    it("should age out pending records by the instant they were seen, whatever the spelling", function () {
      const maxAgeMs = HOUR;
      const seen = Object.fromEntries(WITH_MS.map((form, i) => [`id:${i}`, form]));
      const instant = Date.parse(WITH_MS[1]);
      const kept = new PendingRecords(seen, 100, maxAgeMs);
      assert.equal(kept.prune(instant + maxAgeMs, "id"), 0, "none is older than the limit yet");
      assert.equal(kept.size, WITH_MS.length);
      assert.equal(kept.prune(instant + maxAgeMs + 1, "id"), WITH_MS.length, "all age out together");
    });

    it("should load a watermark and resume point in any spelling as the instant it names", async function () {
      const store = new FileConnectionStore({
        connectionId: "c",
        dedupeTtlMs: HOUR,
        dedupeCapacity: 10,
        redeliverMs: 60_000,
        warn: () => {},
      });
      try {
        const document = new PollStateDocument(store, "poll-p", (message) => assert.fail(message));
        await store.writeDocument("poll-p", {
          watermark: WITH_MS[0],
          resume: { since: WHOLE_SECONDS[3], after: "MTAwMQ==", startedAt: WITH_MS[2], plan: "p" },
          pending: { "id:9": WITH_MS[3] },
          ranAt: WHOLE_SECONDS[0],
        });
        assert.deepEqual(await document.load(), {
          watermark: "2024-07-17T13:30:16.787Z",
          resume: {
            since: "2024-07-17T13:30:16.000Z",
            after: "MTAwMQ==",
            startedAt: "2024-07-17T13:30:16.787Z",
            plan: "p",
          },
          pending: { "id:9": "2024-07-17T13:30:16.787Z" },
          ranAt: "2024-07-17T13:30:16.000Z",
        });
      } finally {
        await store.close(true);
      }
    });

    it("should take the API's clock from record timestamps as instants, whatever their spelling", function () {
      const clock = new ServerClock();
      clock.readTimestamps(
        [
          { created_at: "2024-07-17T14:30:16.786+01:00" },
          { created_at: "2024-07-17T13:30:16.787000Z" },
          { created_at: "2024-07-17T09:30:16.700-04:00" },
        ],
        "created_at",
      );
      assert.equal(clock.startedAt, "2024-07-17T13:30:16.787Z");
    });
  });

  it("should read a record time without an offset as UTC, whatever this machine's zone", function () {
    // Date.parse reads it in the local zone; a server's timestamp has nothing to do with this machine's.
    const script = `
      const { ServerClock } = require(${JSON.stringify(require.resolve("../../build/nodes/lib/poll/server-clock.js"))});
      const clock = new ServerClock();
      clock.readTimestamps([{ created_at: "2024-07-17T13:30:16.787" }], "created_at");
      process.stdout.write(clock.startedAt);`;
    for (const zone of ["America/New_York", "Asia/Tokyo"]) {
      const startedAt = execFileSync(process.execPath, ["-e", script], { env: { ...process.env, TZ: zone } });
      assert.equal(String(startedAt), "2024-07-17T13:30:16.787Z", zone);
    }
  });

  context("through clarus-poll", function () {
    this.timeout(60_000);
    let warehouse;

    before(() => helper.startServer());
    after(() => helper.stopServer());
    afterEach(async () => {
      await warehouse?.stop();
      warehouse = undefined;
      helper.settings({});
    });

    for (const [name, spell] of [
      ["an offset", (ms) => offsetForm(ms, 60)],
      ["microseconds", (ms) => new Date(ms).toISOString().replace("Z", "000Z")],
    ]) {
      it(`should read from a watermark written with ${name} as from the instant it names`, async function () {
        const userDir = tempUserDir();
        const file = path.join(userDir, "clarus", "poll-poll2.json");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const watermarkMs = Date.now() - HOUR;
        fs.writeFileSync(file, JSON.stringify({ watermark: spell(watermarkMs) }));
        warehouse = await startWarehouse({ webhook: { dropRate: 1 }, schema: "rich", userDir });
        await warehouse.load();
        const holds = warehouse.sim.generate(2, ["stock.placed_on_hold"]);
        await warehouse.runOnce("poll2");
        const read = warehouse.sim.requestLog.filter((r) => r.variables?.filter?.created_at).pop();
        // The lookback (10 minutes) before the watermark's instant.
        assert.equal(
          read.variables.filter.created_at.from,
          new Date(watermarkMs - 10 * 60_000).toISOString(),
        );
        assert.deepEqual(
          warehouse.out.received.map((msg) => msg.payload.id),
          holds.map((event) => String(event.recordId)),
        );
      });
    }
  });
});

/** `ms` written in a zone `minutes` east of UTC, as Rails writes a tenant's local time. */
function offsetForm(ms, minutes) {
  const local = new Date(ms + minutes * 60_000).toISOString().replace("Z", "");
  const sign = minutes >= 0 ? "+" : "-";
  const hh = String(Math.floor(Math.abs(minutes) / 60)).padStart(2, "0");
  const mm = String(Math.abs(minutes) % 60).padStart(2, "0");
  return `${local}${sign}${hh}:${mm}`;
}
