const assert = require("node:assert/strict");

const { helper, connectionNode, connectionConfig } = require("../helpers/node-red");

describe("clarus-connection", function () {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  async function load(overrides = {}) {
    await helper.load([connectionNode], [connectionConfig(overrides)], { conn: {} });
    return helper.getNode("conn");
  }

  it("should take on-confirm with its redelivery settings", async function () {
    const node = await load({ delivery: "on-confirm", redeliverSeconds: "30", maxAttempts: 3 });
    assert.deepEqual(node.services.delivery.settings, {
      mode: "on-confirm",
      redeliverMs: 30_000,
      maxAttempts: 3,
    });
  });

  it("should lower a dedupeCapacity over 10,000,000 to the bound, with a warning", async function () {
    const node = await load({ dedupeCapacity: 25_000_000 });
    assert.equal(node.services.store.dedupe.capacity, 10_000_000);
    assert.ok(
      node.warn.args.some(([w]) => /dedupeCapacity 25000000 is over the limit of 10000000/.test(String(w))),
    );
  });

  it("should warn about delivery settings it cannot use and start with their defaults", async function () {
    const node = await load({ delivery: "at-most-once", redeliverSeconds: 0, maxAttempts: "many" });
    assert.deepEqual(node.services.delivery.settings, {
      mode: "on-receipt",
      redeliverMs: 300_000,
      maxAttempts: 10,
    });
    const warnings = node.warn.args.map(([w]) => String(w)).join("\n");
    assert.match(warnings, /delivery "at-most-once" is not on-receipt or on-confirm/);
    assert.match(warnings, /redeliverSeconds 0 must be a number of at least 1/);
    assert.match(warnings, /maxAttempts "many" must be a number of at least 1/);
  });
});
