const assert = require("node:assert/strict");

const { ConnectionCounters, eventLabel, labelKey } = require("../../../build/nodes/lib/metrics/counters.js");

describe("ConnectionCounters", function () {
  it("should count since start and over the last hour, minute by minute", function () {
    let now = Date.UTC(2026, 11, 3, 10, 0, 30);
    const counters = new ConnectionCounters(() => now);
    counters.entered("goods_out.completed", "webhook");
    counters.duplicate("goods_out.completed", "webhook");
    now += 30 * 60_000;
    counters.entered("goods_in.completed", "poll");
    counters.pollOnly("goods_in.completed");
    counters.rejected("token");
    now += 45 * 60_000; // the first minute is over an hour ago now
    counters.rejected("token");
    const snapshot = counters.snapshot();
    assert.equal(snapshot.events.get(labelKey("goods_out.completed", "webhook")), 1);
    assert.equal(snapshot.rejected.get("token"), 2);
    assert.equal(snapshot.lastHour.events.get(labelKey("goods_out.completed", "webhook")), undefined);
    assert.equal(snapshot.lastHour.events.get(labelKey("goods_in.completed", "poll")), 1);
    assert.equal(snapshot.lastHour.rejected.get("token"), 2);
    assert.equal(snapshot.perMinute.length, 60);
    assert.equal(snapshot.perMinute.at(-1).rejected, 1, "this minute");
    assert.equal(snapshot.perMinute.at(-1).at, Math.floor(now / 60_000) * 60_000);
    assert.equal(
      snapshot.perMinute.reduce((n, m) => n + m.pollOnly, 0),
      1,
    );
    assert.equal(snapshot.lastEventAt.poll, Date.UTC(2026, 11, 3, 10, 30, 30));
  });

  it("should give an event that is not in the vocabulary the label unknown", function () {
    assert.equal(eventLabel("goods_out.completed"), "goods_out.completed");
    assert.equal(eventLabel("evil.made_up"), "unknown");
    assert.equal(eventLabel("unknown"), "unknown");
  });
});
