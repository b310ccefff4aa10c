// Each alert rule at its boundary, on a fake clock and real counters: one figure below it does not hold, the
// figure itself does. Local times are built with the Date constructor, so the tests hold in any time zone.
const assert = require("node:assert/strict");

const { ConnectionCounters } = require("../../../build/nodes/lib/metrics/counters.js");
const { evaluateRule, pollOnlyWithin, minutesText } = require("../../../build/nodes/lib/alert/rules.js");
const { alertRules } = require("../../../build/nodes/lib/alert/settings.js");

const MINUTE = 60_000;

function rule(def) {
  return alertRules({ rules: [def] })[0];
}

/** What a check sees, from real counters at `now`; `extra` overrides a part. */
function observation(counters, now, extra = {}) {
  return {
    now,
    counters: counters.snapshot(),
    pollOnlyHistory: [],
    watchingSince: now - 24 * 60 * MINUTE,
    deadLetters: 0,
    store: { kind: "file", health: { state: "ready" } },
    ...extra,
  };
}

describe("alert rules", function () {
  describe("webhooks-missing", function () {
    it("should hold at the threshold of poll-only events in the last hour, not one below", function () {
      let now = new Date(2026, 11, 7, 10, 0, 0).getTime();
      const counters = new ConnectionCounters(() => now);
      const missing = rule({ rule: "webhooks-missing", threshold: 3 });
      counters.pollOnly("goods_in.completed");
      counters.pollOnly("goods_out.completed");
      now += 20 * MINUTE;
      let verdict = evaluateRule(missing, observation(counters, now));
      assert.equal(verdict.holds, false);
      assert.match(verdict.detail, /found 2 events in the last 60 minutes that no webhook delivered/);
      counters.pollOnly("stock.placed_on_hold");
      verdict = evaluateRule(missing, observation(counters, now));
      assert.equal(verdict.holds, true);
      assert.match(verdict.detail, /found 3 events/);
      // Events the webhooks delivered do not count.
      counters.entered("goods_out.completed", "webhook");
      assert.equal(evaluateRule(missing, observation(counters, now)).holds, true);
    });

    it("should stop holding once the events are older than the window", function () {
      let now = new Date(2026, 11, 7, 10, 0, 0).getTime();
      const counters = new ConnectionCounters(() => now);
      const missing = rule({ rule: "webhooks-missing", threshold: 1 });
      counters.pollOnly("goods_in.completed");
      now += 59 * MINUTE;
      assert.equal(evaluateRule(missing, observation(counters, now)).holds, true);
      now += 1 * MINUTE;
      assert.equal(evaluateRule(missing, observation(counters, now)).holds, false);
    });

    it("should count a short window exactly from the totals of earlier checks", function () {
      let now = new Date(2026, 11, 7, 10, 0, 0).getTime();
      const counters = new ConnectionCounters(() => now);
      const missing = rule({ rule: "webhooks-missing", threshold: 2, minutes: 0.05 }); // 3 s
      const history = [{ at: now, total: 0 }];
      counters.pollOnly("goods_in.completed");
      counters.pollOnly("goods_in.completed");
      now += 1000;
      history.push({ at: now, total: 2 });
      // The events came between the checks at 0 s and 1 s: they count until the window starts after 1 s.
      now += 2999;
      assert.equal(pollOnlyWithin(3000, observation(counters, now, { pollOnlyHistory: history })), 2);
      assert.equal(
        evaluateRule(missing, observation(counters, now, { pollOnlyHistory: history })).holds,
        true,
      );
      now += 1;
      assert.equal(pollOnlyWithin(3000, observation(counters, now, { pollOnlyHistory: history })), 0);
      assert.equal(
        evaluateRule(missing, observation(counters, now, { pollOnlyHistory: history })).holds,
        false,
      );
    });

    it("should count from the minute figures before it has watched for the window", function () {
      const now = new Date(2026, 11, 7, 10, 30, 10).getTime();
      const counters = new ConnectionCounters(() => now);
      counters.pollOnly("goods_in.completed");
      // The history starts inside the window: the current minute's figure is all there is.
      const seen = observation(counters, now, { pollOnlyHistory: [{ at: now - 1000, total: 1 }] });
      assert.equal(pollOnlyWithin(3000, seen), 1);
    });
  });

  describe("silence", function () {
    const weekdays = { rule: "silence", minutes: 30, days: ["mon-fri"], hours: "06-22" };
    // Monday 7 December 2026.
    const monday = (hours, minutes = 0) => new Date(2026, 11, 7, hours, minutes).getTime();

    it("should hold after the given minutes without an event, not a minute before", function () {
      let now = monday(10, 0);
      const counters = new ConnectionCounters(() => now);
      counters.entered("goods_out.completed", "webhook");
      const silence = rule(weekdays);
      now = monday(10, 29);
      assert.equal(evaluateRule(silence, observation(counters, now)).holds, false);
      now = monday(10, 30);
      const verdict = evaluateRule(silence, observation(counters, now));
      assert.equal(verdict.holds, true);
      assert.match(verdict.detail, /^No event for 30 minutes \(alert at 30 minutes; the last at /);
    });

    it("should take the newest event of either source", function () {
      let now = monday(10, 0);
      const counters = new ConnectionCounters(() => now);
      counters.entered("goods_out.completed", "webhook");
      now = monday(10, 20);
      counters.entered("goods_in.completed", "poll");
      now = monday(10, 45);
      assert.equal(evaluateRule(rule(weekdays), observation(counters, now)).holds, false);
    });

    it("should never hold outside the watched days and hours, however long the silence", function () {
      const counters = new ConnectionCounters(() => monday(0, 0));
      const silence = rule(weekdays);
      const since = monday(0, 0) - 7 * 24 * 60 * MINUTE;
      for (const at of [
        monday(5, 59),
        monday(22, 0),
        monday(23, 30),
        new Date(2026, 11, 12, 12, 0).getTime(),
      ]) {
        const verdict = evaluateRule(silence, observation(counters, at, { watchingSince: since }));
        assert.equal(verdict.holds, false, new Date(at).toString());
        assert.match(verdict.detail, /^Outside the watched hours \(mon,tue,wed,thu,fri 06-22\)\.$/);
      }
      assert.equal(
        evaluateRule(silence, observation(counters, monday(21, 59), { watchingSince: since })).holds,
        true,
      );
    });

    it("should count a silence from the start of the watched hours, and from the start of watching", function () {
      const counters = new ConnectionCounters(() => monday(0, 0));
      const silence = rule(weekdays);
      const longAgo = monday(0, 0) - 3 * 24 * 60 * MINUTE;
      assert.equal(
        evaluateRule(silence, observation(counters, monday(6, 29), { watchingSince: longAgo })).holds,
        false,
      );
      assert.equal(
        evaluateRule(silence, observation(counters, monday(6, 30), { watchingSince: longAgo })).holds,
        true,
      );
      const started = monday(12, 0);
      assert.equal(
        evaluateRule(silence, observation(counters, monday(12, 29), { watchingSince: started })).holds,
        false,
      );
      assert.equal(
        evaluateRule(silence, observation(counters, monday(12, 30), { watchingSince: started })).holds,
        true,
      );
    });
  });

  describe("dead-letters", function () {
    const counters = new ConnectionCounters();
    const now = Date.now();

    it("should hold above the threshold, not at it", function () {
      const dead = rule({ rule: "dead-letters", threshold: 2 });
      assert.equal(evaluateRule(dead, observation(counters, now, { deadLetters: 2 })).holds, false);
      const verdict = evaluateRule(dead, observation(counters, now, { deadLetters: 3 }));
      assert.equal(verdict.holds, true);
      assert.equal(verdict.detail, "3 dead letters in the inbox (alert above 2).");
      assert.equal(
        evaluateRule(rule({ rule: "dead-letters" }), observation(counters, now, { deadLetters: 1 })).holds,
        true,
      );
    });

    it("should not decide when the store did not answer in time", function () {
      const verdict = evaluateRule(
        rule({ rule: "dead-letters" }),
        observation(counters, now, { deadLetters: undefined }),
      );
      assert.equal(verdict.holds, undefined);
    });
  });

  describe("store-down", function () {
    const counters = new ConnectionCounters();
    const now = Date.now();
    const down = {
      state: "unavailable",
      summary: "connection refused",
      cause: "connect ECONNREFUSED",
      since: 0,
    };

    it("should hold once the store has not been ready for the minutes given, not before", function () {
      const storeDown = rule({ rule: "store-down", minutes: 2 });
      const at = (ms) => ({ store: { kind: "redis", health: down, notReadySince: now - ms } });
      assert.equal(evaluateRule(storeDown, observation(counters, now, at(2 * MINUTE - 1))).holds, false);
      const verdict = evaluateRule(storeDown, observation(counters, now, at(2 * MINUTE)));
      assert.equal(verdict.holds, true);
      assert.equal(verdict.detail, "The redis store has not been ready for 2 minutes: connection refused.");
    });

    it("should default to one minute and never hold while the store is ready", function () {
      const storeDown = rule({ rule: "store-down" });
      const connecting = {
        store: { kind: "redis", health: { state: "connecting" }, notReadySince: now - MINUTE },
      };
      assert.equal(evaluateRule(storeDown, observation(counters, now, connecting)).holds, true);
      const ready = { store: { kind: "redis", health: { state: "ready" }, notReadySince: undefined } };
      assert.equal(evaluateRule(storeDown, observation(counters, now, ready)).holds, false);
    });
  });

  describe("inbox-lag", function () {
    const counters = new ConnectionCounters();
    const now = Date.now();

    it("should hold once the oldest pending event has waited the minutes given, not a millisecond before", function () {
      const lag = rule({ rule: "inbox-lag", minutes: 10 });
      const waited = (ms) => observation(counters, now, { oldestPendingMs: ms });
      assert.equal(evaluateRule(lag, waited(10 * MINUTE - 1)).holds, false);
      const verdict = evaluateRule(lag, waited(10 * MINUTE));
      assert.equal(verdict.holds, true);
      assert.equal(
        verdict.detail,
        "The oldest pending event has waited 10 minutes for a confirm (alert at 10 minutes).",
      );
    });

    it("should not hold with nothing pending, and not decide when the store did not answer", function () {
      const lag = rule({ rule: "inbox-lag" });
      const none = evaluateRule(lag, observation(counters, now, { oldestPendingMs: null }));
      assert.deepEqual(none, { holds: false, detail: "No event is waiting in the inbox for a confirm." });
      const unknown = evaluateRule(lag, observation(counters, now, { oldestPendingMs: undefined }));
      assert.equal(unknown.holds, undefined);
    });
  });

  describe("api-down", function () {
    const counters = new ConnectionCounters();
    const now = Date.now();
    const refused = { ok: false, state: "unavailable", cause: "the token endpoint answered 401" };

    it("should hold once no token could be obtained for the minutes given, not before", function () {
      const down = rule({ rule: "api-down", minutes: 3 });
      const since = (ms) => observation(counters, now, { api: { health: refused, failingSince: now - ms } });
      assert.equal(evaluateRule(down, since(3 * MINUTE - 1)).holds, false);
      const verdict = evaluateRule(down, since(3 * MINUTE));
      assert.equal(verdict.holds, true);
      assert.equal(
        verdict.detail,
        "No API token could be obtained for 3 minutes: the token endpoint answered 401.",
      );
    });

    it("should not hold with a token or without credentials, and not decide before the first answer", function () {
      const down = rule({ rule: "api-down", minutes: 1 });
      const seen = (api) => evaluateRule(down, observation(counters, now, { api }));
      assert.equal(seen({ health: { ok: true, state: "ready" } }).holds, false);
      assert.equal(seen({ health: { ok: true, state: "not-configured" } }).holds, false);
      assert.equal(seen({ health: { ok: true, state: "static" } }).holds, false);
      const unknown = { ok: false, state: "unknown", cause: "no answer yet from the Clarus token endpoint" };
      assert.equal(seen({ health: unknown }).holds, undefined);
      assert.equal(seen(undefined).holds, undefined);
    });
  });

  describe("automation-drift", function () {
    const counters = new ConnectionCounters();
    const now = Date.now();
    const automations = (drifted, missing, failed) => ({
      automations: { ok: 3, drifted, missing, failed },
    });

    it("should hold at the threshold of automations not as registered, of any kind", function () {
      const drift = rule({ rule: "automation-drift", threshold: 2 });
      assert.equal(evaluateRule(drift, observation(counters, now, automations(1, 0, 0))).holds, false);
      const verdict = evaluateRule(drift, observation(counters, now, automations(1, 0, 1)));
      assert.equal(verdict.holds, true);
      assert.equal(
        verdict.detail,
        "2 of 5 registered automations not as registered (1 drifted, 1 failed) (alert at 2).",
      );
      assert.equal(evaluateRule(drift, observation(counters, now, automations(0, 2, 0))).holds, true);
    });

    it("should default to one and not hold while every automation is as registered", function () {
      const drift = rule({ rule: "automation-drift" });
      assert.equal(evaluateRule(drift, observation(counters, now, automations(0, 0, 0))).holds, false);
      assert.equal(evaluateRule(drift, observation(counters, now, automations(0, 1, 0))).holds, true);
      assert.equal(evaluateRule(drift, observation(counters, now, {})).holds, undefined);
    });
  });

  it("should write durations as a person reads them", function () {
    assert.deepEqual(
      [minutesText(1000), minutesText(3000), minutesText(MINUTE), minutesText(90 * MINUTE)],
      ["1 second", "3 seconds", "1 minute", "90 minutes"],
    );
  });
});
