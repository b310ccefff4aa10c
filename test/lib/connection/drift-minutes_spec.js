// The connection's `driftMinutes`: a flow without it gets 15 minutes, 0 is off, decimals are allowed, and a
// value the editor would refuse is warned about and replaced by the default.
const assert = require("node:assert/strict");

const { driftPeriodMs } = require("../../../build/nodes/lib/connection/drift-minutes");

describe("driftMinutes", function () {
  function parsed(value) {
    const warnings = [];
    return { ms: driftPeriodMs(value, (message) => warnings.push(message)), warnings };
  }

  it("should take 15 minutes when it is not set, as in a 0.1 flow", function () {
    for (const value of [undefined, null, "", "  "])
      assert.deepEqual(parsed(value), { ms: 900_000, warnings: [] });
  });

  it("should turn the checks off with 0, and take minutes with decimals", function () {
    assert.deepEqual(parsed(0), { ms: 0, warnings: [] });
    assert.deepEqual(parsed("0"), { ms: 0, warnings: [] });
    assert.deepEqual(parsed("0.02"), { ms: 1200, warnings: [] });
    assert.deepEqual(parsed(60), { ms: 3_600_000, warnings: [] });
    assert.deepEqual(parsed(" 1440 "), { ms: 86_400_000, warnings: [] });
  });

  it("should warn about a value out of bounds or not a number, and use the default", function () {
    for (const value of [-5, 0.001, 1441, "soon", true, "15m", Number.NaN, Infinity]) {
      const { ms, warnings } = parsed(value);
      assert.equal(ms, 900_000, String(value));
      assert.equal(warnings.length, 1);
      assert.match(
        warnings[0],
        /^driftMinutes .+ must be 0 \(off\) or a number of minutes from 0\.01 to 1440; 15 is used$/,
      );
    }
  });
});
