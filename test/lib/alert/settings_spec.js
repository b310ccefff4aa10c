// The rules of a clarus-alert node as the editor saves them: defaults filled in, and every bad value refused
// with a ConfigError that names the rule and the property.
const assert = require("node:assert/strict");

const { alertRules, checkIntervalMs } = require("../../../build/nodes/lib/alert/settings.js");

describe("alert settings", function () {
  it("should fill in the defaults of each rule", function () {
    const rules = alertRules({
      rules: [
        { rule: "webhooks-missing" },
        { rule: "silence" },
        { rule: "dead-letters" },
        { rule: "store-down" },
        { rule: "inbox-lag" },
        { rule: "api-down" },
        { rule: "automation-drift" },
      ],
    });
    assert.deepEqual(
      rules.map((r) => ({ ...r, days: r.days && [...r.days] })),
      [
        { rule: "webhooks-missing", threshold: 1, windowMs: 3_600_000, days: undefined },
        { rule: "silence", quietMs: 1_800_000, days: [0, 1, 2, 3, 4, 5, 6], fromHour: 0, toHour: 24 },
        { rule: "dead-letters", threshold: 0, days: undefined },
        { rule: "store-down", downMs: 60_000, days: undefined },
        { rule: "inbox-lag", lagMs: 900_000, days: undefined },
        { rule: "api-down", downMs: 300_000, days: undefined },
        { rule: "automation-drift", threshold: 1, days: undefined },
      ],
    );
  });

  it("should read days as names, ranges (over the weekend too) or one text, and hours as from-to", function () {
    const [a, b] = alertRules({
      rules: [
        { rule: "silence", minutes: "45", days: ["mon", "wed"], hours: "06-22" },
        { rule: "silence", minutes: 10, days: "fri-mon, wed", hours: "0-24" },
      ],
    });
    assert.deepEqual([[...a.days], a.fromHour, a.toHour, a.quietMs], [[1, 3], 6, 22, 2_700_000]);
    assert.deepEqual([[...b.days].sort(), b.fromHour, b.toHour], [[0, 1, 3, 5, 6], 0, 24]);
  });

  it("should refuse a bad rule with a ConfigError that names it", function () {
    const refusals = [
      [undefined, /no rule to watch/],
      ["webhooks-missing", /rules must be a list/],
      [
        [{ rule: "disk-full" }],
        /rule 1: "disk-full" is not a rule \(webhooks-missing, silence, dead-letters, inbox-lag, store-down, api-down, automation-drift\)/,
      ],
      [
        [{ rule: "dead-letters" }, { rule: "dead-letters", threshold: -1 }],
        /rule 2 \(dead-letters\): threshold "?-1"? must be a whole number of at least 0/,
      ],
      [[{ rule: "webhooks-missing", threshold: 0 }], /threshold 0 must be a whole number of at least 1/],
      [[{ rule: "webhooks-missing", threshold: 1.5 }], /threshold 1.5/],
      [
        [{ rule: "webhooks-missing", minutes: 61 }],
        /minutes 61 must be a number of minutes, more than 0 and at most 60/,
      ],
      [[{ rule: "store-down", minutes: "soon" }], /rule 1 \(store-down\): minutes "soon"/],
      [[{ rule: "inbox-lag", minutes: 0 }], /rule 1 \(inbox-lag\): minutes 0 must be a number of minutes/],
      [[{ rule: "api-down", minutes: -2 }], /rule 1 \(api-down\): minutes -2 must be a number of minutes/],
      [
        [{ rule: "automation-drift", threshold: 0 }],
        /rule 1 \(automation-drift\): threshold 0 must be a whole number of at least 1/,
      ],
      [[{ rule: "silence", minutes: 0 }], /minutes 0 must be a number of minutes, more than 0/],
      [[{ rule: "silence", days: ["mon", "funday"] }], /days "funday" is not a day/],
      [[{ rule: "silence", hours: "22-06" }], /hours "22-06" must be hours from-to within 00-24/],
      [[{ rule: "silence", hours: "6" }], /hours "6"/],
      [["silence"], /rule 1 is not a rule/],
    ];
    for (const [rules, message] of refusals) {
      assert.throws(
        () => alertRules({ rules }),
        (error) => error.name === "ConfigError" && message.test(error.message),
        JSON.stringify(rules),
      );
    }
  });

  it("should check every 15 s unless settings.js lowers it", function () {
    assert.deepEqual(
      [
        checkIntervalMs(undefined),
        checkIntervalMs({ alertCheckSeconds: 0.2 }),
        checkIntervalMs({ alertCheckSeconds: "x" }),
      ],
      [15_000, 200, 15_000],
    );
  });
});
