// An event the store can never take (it cannot be serialised: nested far too deep) is that event's error, not
// a store outage: the file store refuses it without marking itself failing, and the poll path reports the one
// record and goes on with the rest of its page.
const assert = require("node:assert/strict");
const path = require("node:path");

const { FileConnectionStore } = require("../../build/nodes/lib/store/file/file-store.js");
const { StoreUnavailableError } = require("../../build/nodes/lib/store/connection-store.js");
const { Delivery } = require("../../build/nodes/lib/delivery/delivery.js");
const { emitPolledEvents } = require("../../build/nodes/lib/poll/emission.js");
const { ConnectionCounters } = require("../../build/nodes/lib/metrics/counters.js");
const { tempUserDir } = require("../helpers/node-red");

const HOUR = 3_600_000;

/** An object holding `depth` nested objects: far deeper than JSON.stringify's stack allows. */
function nested(depth) {
  let value = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

function openStore() {
  const warnings = [];
  const store = new FileConnectionStore({
    directory: path.join(tempUserDir(), "clarus"),
    connectionId: "conn",
    dedupeTtlMs: HOUR,
    dedupeCapacity: 1000,
    redeliverMs: 60_000,
    warn: (message) => warnings.push(message),
  });
  store.warnings = warnings;
  return store;
}

function entry(key, payload) {
  return {
    key,
    sourceNodeId: "poll",
    message: {
      topic: "goods_out.completed",
      payload,
      clarus: { event: "goods_out.completed", source: "poll", dedupeKey: key },
    },
  };
}

describe("an event the store can never take", function () {
  let store;
  afterEach(async () => {
    await store?.close(false);
    store = undefined;
  });

  it("should be refused by the file store as unstorable, without a claim and without marking the store failing", async function () {
    store = openStore();
    const refused = await store.admit(entry("goods_out.completed:1", nested(100_000))).then(
      () => assert.fail("admitted"),
      (error) => error,
    );
    assert.equal(refused.name, "UnstorableEventError");
    assert.ok(!(refused instanceof StoreUnavailableError), "not a store outage");
    assert.match(refused.message, /cannot be stored/);
    assert.equal(store.failing, false);
    assert.equal(
      await store.admit(entry("goods_out.completed:1", { id: 1 })),
      "fresh",
      "its key was released",
    );
    assert.equal(await store.admit(entry("goods_out.completed:2", { id: 2 })), "fresh");
    assert.deepEqual(await store.inboxCounts(), { pending: 2, dead: 0 });
    assert.deepEqual(store.warnings, []);
  });

  it("should be an error for its one record on the poll path, while the rest of the page is sent", async function () {
    store = openStore();
    const delivery = new Delivery(
      store,
      { mode: "on-confirm", redeliverMs: 60_000, maxAttempts: 10 },
      { generateId: () => "id", warn: () => {}, debug: () => {}, error: () => {} },
    );
    const sent = [];
    const errors = [];
    const node = {
      id: "poll",
      send: (msg) => sent.push(msg),
      error: (error, msg) => errors.push({ error: String(error), msg }),
    };
    const counters = new ConnectionCounters();
    const connection = {
      id: "conn",
      subdomain: "acme",
      apiUrl: "https://clarus-api.com",
      delivery,
      counters,
    };
    let ids = 0;
    const events = [
      { event: "goods_out.completed", record: { id: 1, reference: "SO-1" } },
      { event: "goods_out.completed", record: { id: 2, reference: "SO-2", lines: nested(100_000) } },
      { event: "goods_out.completed", record: { id: 3, reference: "SO-3" } },
    ];
    const outcome = await emitPolledEvents(node, connection, events, () => `m${++ids}`);
    assert.deepEqual(outcome, { fresh: 2, duplicates: 0 });
    assert.equal(
      counters.snapshot().pollOnly.get("goods_out.completed"),
      2,
      "the skipped record is not counted",
    );
    assert.deepEqual(
      sent.map((msg) => msg.payload.id),
      [1, 3],
    );
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].error, /goods_out\.completed record 2 cannot be stored/);
    assert.deepEqual(errors[0].msg.payload, { id: 2 }, "the error's message does not carry the record");
    assert.equal(store.failing, false);
    await delivery.close();
  });
});
