// What drift means for one automation: how a read of it differs from what the node registered, the line that
// reports its repair (ids, event, what changed; never the URL), and the connection's figures.
const assert = require("node:assert/strict");

const { DriftCounts, describeRepair, driftOf } = require("../../../build/nodes/lib/automations/drift");
const { checkedWithin } = require("../../../build/nodes/lib/automations/drift-checks");

const HOOK_URL = "https://nodered.example.com/clarus/events/s3cret";
const WANTED = {
  name: "node-red-clarus hook goods_out.completed @0123abcd",
  event: "goods_out.completed",
  url: HOOK_URL,
  method: "POST",
};
const KEPT = { id: "45", name: WANTED.name, event: WANTED.event, enabled: true, mark: "0123abcd" };

/** A read of the automation: enabled, on its event, one webhook action with these parameters. */
function details({
  enabled = true,
  event = "completed",
  parameters = { webhook_url: HOOK_URL, webhook_method: "POST" },
  actions,
} = {}) {
  const webhookActions = actions ?? [
    {
      id: 701,
      parameters: Object.entries(parameters).map(([code, value], i) => ({ id: 801 + i, code, value })),
    },
  ];
  return { enabled, resourceName: "goods_out", event, webhookActions };
}

describe("drift of one automation", function () {
  it("should find none in an automation as registered, read or not", function () {
    assert.equal(driftOf(KEPT, details(), WANTED), undefined);
    assert.equal(driftOf(KEPT, undefined, WANTED), undefined);
  });

  it("should see a disabled one, from the lookup or from the read", function () {
    assert.deepEqual(driftOf({ ...KEPT, enabled: false }, undefined, WANTED), {
      kinds: ["disabled"],
      changes: ["disabled"],
    });
    assert.deepEqual(driftOf(KEPT, details({ enabled: false }), WANTED).kinds, ["disabled"]);
  });

  it("should tell each way a read shows it re-pointed", function () {
    const cases = [
      [
        { parameters: { webhook_url: "https://elsewhere.example.com", webhook_method: "POST" } },
        ["its webhook URL was changed"],
      ],
      [
        { parameters: { webhook_url: HOOK_URL, webhook_method: "GET" } },
        ["its webhook method is no longer POST"],
      ],
      [{ parameters: { webhook_url: HOOK_URL } }, ["its webhook method is no longer POST"]],
      [{ event: "cancelled" }, ["its trigger was changed"]],
      [{ actions: [] }, ["its webhook action was removed"]],
    ];
    for (const [read, changes] of cases) {
      assert.deepEqual(
        driftOf(KEPT, details(read), WANTED),
        { kinds: ["re-pointed"], changes },
        JSON.stringify(read),
      );
    }
    const twice = details();
    twice.webhookActions.push({ id: 702, parameters: [] });
    assert.deepEqual(driftOf(KEPT, twice, WANTED).changes, ["a second webhook action was added"]);
  });

  it("should report every kind in a line with the ids and the event, never the URL", function () {
    const lines = [
      describeRepair({ event: WANTED.event, automationId: "45", kinds: ["disabled"], changes: ["disabled"] }),
      describeRepair({
        event: WANTED.event,
        automationId: "45",
        replacedBy: "52",
        kinds: ["deleted"],
        changes: ["deleted"],
      }),
      describeRepair({ event: WANTED.event, replacedBy: "52", kinds: ["deleted"], changes: ["deleted"] }),
      describeRepair({
        event: WANTED.event,
        automationId: "45",
        kinds: ["disabled", "re-pointed"],
        changes: ["disabled", "its webhook URL was changed"],
      }),
      describeRepair({
        event: WANTED.event,
        automationId: "45",
        replacedBy: "53",
        kinds: ["disabled"],
        changes: ["disabled"],
      }),
    ];
    assert.deepEqual(lines, [
      "automation 45 (goods_out.completed) was disabled in Clarus: enabled again",
      "automation 45 (goods_out.completed) was deleted in Clarus: created again as 52",
      "the automation of goods_out.completed was missing in Clarus: created as 52",
      "automation 45 (goods_out.completed) was changed in Clarus (disabled; its webhook URL was changed): set back and enabled again",
      "automation 45 (goods_out.completed) was disabled in Clarus: replaced by 53",
    ]);
    assert.ok(lines.every((line) => !line.includes("s3cret")));
  });

  it("should count checks, failed checks, checks left to another instance and repairs by kind", function () {
    const counts = new DriftCounts();
    counts.checked([{ event: "goods_out.completed", kinds: ["disabled", "re-pointed"], changes: [] }], false);
    counts.checked([], true);
    counts.failed();
    counts.leftOut();
    assert.deepEqual(
      {
        checks: counts.checks,
        failed: counts.failedChecks,
        elsewhere: counts.checkedElsewhere,
        repaired: counts.repaired,
      },
      { checks: 3, failed: 2, elsewhere: 1, repaired: 2 },
    );
    assert.deepEqual(counts.repairs, { disabled: 1, deleted: 0, "re-pointed": 1 });
  });

  it("should leave a timed check out only within a period of the last, less a little slack", function () {
    const period = 15 * 60_000;
    const now = Date.parse("2026-03-11T09:30:00Z");
    assert.equal(checkedWithin(undefined, period, now), false);
    assert.equal(checkedWithin(now - 60_000, period, now), true);
    assert.equal(checkedWithin(now - period + 90_000, period, now), true);
    assert.equal(
      checkedWithin(now - period + 30_000, period, now),
      false,
      "a timer a little early still checks",
    );
    assert.equal(checkedWithin(now - period, period, now), false);
  });
});
