// The behaviour every ConnectionStore backend promises (nodes/lib/store/connection-store.ts), run against each
// backend in test/helpers/store-backends.js: claims, the on-confirm inbox, documents and leases. Backends
// that two instances share (Redis) also run the cross-instance cases with two stores on one state.
const assert = require("node:assert/strict");
const { setTimeout: pause } = require("node:timers/promises");

const { eventually } = require("../helpers/eventually");
const { STORE_BACKENDS } = require("../helpers/store-backends");

/** A stored message as a source node hands it over: the payload carries what JSON must keep exactly. */
function message(key, extra = {}) {
  return {
    topic: "goods_out.completed",
    payload: { id: 7, lines: [], tags: {}, big: 9007199254740991, text: 'Größe ✓ "quoted" \\ /', ...extra },
    clarus: {
      event: "goods_out.completed",
      source: "webhook",
      receivedAt: "2026-11-27T10:00:00.000Z",
      dedupeKey: key,
      duplicate: false,
    },
  };
}

function entry(key, sourceNodeId = "hook") {
  return { key, sourceNodeId, message: message(key) };
}

/**
 * A takeDue request of a delivery that sends for `sources` and whose flows hold `deployed` nodes besides; an
 * entry of a node in neither is taken once it has been due for `graceMs`.
 */
function due({ sources = ["hook"], deployed = [], graceMs = 0, redeliverMs = 60_000, limit = 10 } = {}) {
  return {
    sources: new Set(sources),
    isDeployed: (id) => deployed.includes(id),
    goneSourceGraceMs: graceMs,
    redeliverMs,
    limit,
  };
}

const keysOf = (entries) => entries.map((taken) => taken.key);

/** How far the store's clock (Redis's) and this process's may read apart on one machine. */
const CLOCK_MS = 10;

let unique = 0;
const namespace = () => `ns${process.pid}-${++unique}`;

for (const makeBackend of STORE_BACKENDS) {
  const backend = makeBackend();

  describe(`ConnectionStore contract: ${backend.name}`, function () {
    this.timeout(30_000);
    let store;
    let ns;

    before(() => backend.start());
    after(() => backend.stop());
    beforeEach(() => {
      ns = namespace();
      store = backend.create({ namespace: ns });
    });
    afterEach(() => store.close(false));

    it(`should say it is the ${backend.name} store`, function () {
      assert.equal(store.kind, backend.name);
    });

    context("claims", function () {
      it("should win the first claim of a key and lose every repeat", async function () {
        assert.equal(await store.claim("goods_out.completed:1"), true);
        assert.equal(await store.claim("goods_out.completed:1"), false);
        assert.equal(await store.claim("goods_out.completed:1"), false);
        assert.equal(await store.claim("goods_out.completed:2"), true);
      });

      it("should let exactly one of many concurrent claims of one key win", async function () {
        const results = await Promise.all(Array.from({ length: 50 }, () => store.claim("race")));
        assert.equal(results.filter(Boolean).length, 1);
      });

      it("should let a key be claimed again once dedupeHours have passed", async function () {
        const short = backend.create({ namespace: ns, claimTtlMs: 150 });
        try {
          assert.equal(await short.claim("expiring"), true);
          assert.equal(await short.claim("expiring"), false);
          const claimedAt = Date.now();
          await eventually(() => short.claim("expiring"), { what: "the claim to expire" });
          assert.ok(Date.now() - claimedAt >= 100, "the claim lasted its TTL");
        } finally {
          await short.close(false);
        }
      });

      it("should make a released key fresh again, and leave other keys claimed", async function () {
        assert.equal(await store.claim("released"), true);
        assert.equal(await store.claim("kept"), true);
        await store.release("released");
        assert.equal(await store.claim("released"), true, "fresh again after the release");
        assert.equal(await store.claim("released"), false, "claimed again by that claim");
        assert.equal(await store.claim("kept"), false);
        await store.release("never-claimed");
        assert.equal(await store.claim("never-claimed"), true, "releasing an unknown key changes nothing");
      });

      if (backend.shared) {
        it("should let one of two instances win a key that both claim at once", async function () {
          const other = backend.create({ namespace: ns });
          try {
            const keys = Array.from({ length: 200 }, (_, index) => `shared-${index}`);
            const results = await Promise.all(keys.flatMap((key) => [store.claim(key), other.claim(key)]));
            for (let index = 0; index < keys.length; index++) {
              assert.equal(
                results[2 * index] + results[2 * index + 1],
                1,
                `exactly one winner for ${keys[index]}`,
              );
            }
          } finally {
            await other.close(false);
          }
        });
      }
    });

    context("the inbox (on-confirm)", function () {
      it("should admit a fresh event as pending and answer a repeat as a duplicate", async function () {
        assert.equal(await store.admit(entry("e1")), "fresh");
        assert.equal(await store.admit(entry("e1")), "duplicate");
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
      });

      it("should share the dedupe window with claim(): an admitted key is claimed and a claimed key is not admitted", async function () {
        assert.equal(await store.admit(entry("admitted")), "fresh");
        assert.equal(await store.claim("admitted"), false);
        assert.equal(await store.claim("claimed"), true);
        assert.equal(await store.admit(entry("claimed")), "duplicate");
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
      });

      it("should admit exactly one of many concurrent admits of one event", async function () {
        const results = await Promise.all(Array.from({ length: 30 }, () => store.admit(entry("burst"))));
        assert.equal(results.filter((result) => result === "fresh").length, 1);
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
      });

      it("should not hand out an entry before it is due", async function () {
        await store.admit(entry("not-yet"));
        assert.deepEqual(await store.takeDue(due({ redeliverMs: 1000 })), []);
      });

      it("should hand out a due entry once its redeliverMs have passed", async function () {
        const quick = backend.create({ namespace: ns, redeliverMs: 300 });
        try {
          await quick.admit(entry("first-due"));
          const admitted = Date.now();
          assert.deepEqual(await quick.takeDue(due()), [], "not at once");
          let taken = [];
          await eventually(async () => (taken = await quick.takeDue(due())).length > 0, { what: "due" });
          const waited = Date.now() - admitted;
          assert.deepEqual(keysOf(taken), ["first-due"]);
          assert.ok(waited >= 290, `due after ${waited} ms`);
        } finally {
          await quick.close(false);
        }
      });

      it("should hand out a due entry exactly as admitted, count its attempt and move its due time on", async function () {
        const before = Date.now();
        await store.admit(entry("due"));
        await store.retry("due", 0);
        const asked = Date.now();
        const [taken, ...rest] = await store.takeDue(due({ redeliverMs: 5000 }));
        const answered = Date.now();
        assert.deepEqual(rest, []);
        assert.equal(taken.key, "due");
        assert.equal(taken.sourceNodeId, "hook");
        assert.deepEqual(taken.message, message("due"));
        assert.equal(taken.attempt, 2, "the first send was attempt 1");
        assert.ok(
          taken.dueAt >= asked + 5000 - CLOCK_MS && taken.dueAt <= answered + 5000 + CLOCK_MS,
          `next due ${taken.dueAt - asked} ms after it was taken`,
        );
        assert.ok(
          taken.admittedAt >= before && taken.admittedAt <= Date.now(),
          `admittedAt ${taken.admittedAt}`,
        );
        assert.equal(taken.lastError, undefined);
        assert.deepEqual(
          await store.takeDue(due({ redeliverMs: 5000 })),
          [],
          "taken entries wait for their new due time",
        );
        await store.retry("due", 0);
        const [again] = await store.takeDue(due({ redeliverMs: 5000 }));
        assert.equal(again.attempt, 3);
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 }, "still pending until confirmed");
      });

      it("should hand out at most `limit` entries, the longest due first", async function () {
        for (const key of ["a", "b", "c", "d"]) {
          await store.admit(entry(key));
          await store.retry(key, { a: 400, b: 100, c: 300, d: 200 }[key]);
        }
        // Time passes: all four are due, each since its own time.
        await pause(500);
        assert.deepEqual(keysOf(await store.takeDue(due({ limit: 2 }))), ["b", "d"]);
        assert.deepEqual(keysOf(await store.takeDue(due())), ["c", "a"]);
      });

      it("should hand out only the entries of the source nodes it sends for, and leave a deployed node's alone", async function () {
        await store.admit(entry("of-a", "hook-a"));
        await store.admit(entry("of-b", "hook-b"));
        await store.retry("of-a", 0);
        await store.retry("of-b", 0);
        const forA = due({ sources: ["hook-a"], deployed: ["hook-b"] });
        assert.deepEqual(keysOf(await store.takeDue(forA)), ["of-a"]);
        assert.deepEqual(await store.takeDue(forA), [], "hook-b's entry is its own delivery's to send");
        const [taken] = await store.takeDue(due({ sources: ["hook-b"], deployed: ["hook-a"] }));
        assert.deepEqual([taken.key, taken.sourceNodeId, taken.attempt], ["of-b", "hook-b", 2]);
      });

      it("should hand out an entry of a node gone from the flows only once it has been due for the grace", async function () {
        await store.admit(entry("orphan", "deleted-node"));
        await store.retry("orphan", 0);
        const dueSince = Date.now();
        const request = due({ sources: ["hook"], graceMs: 400 });
        assert.deepEqual(await store.takeDue(request), [], "not at once");
        let taken = [];
        await eventually(async () => (taken = await store.takeDue(request)).length > 0, { what: "taken" });
        const waited = Date.now() - dueSince;
        assert.ok(waited >= 390, `taken ${waited} ms after it fell due`);
        assert.deepEqual(
          taken.map((orphan) => [orphan.key, orphan.attempt]),
          [["orphan", 2]],
        );
      });

      it("should confirm a pending event once: removed from the inbox, its key still claimed", async function () {
        await store.admit(entry("done"));
        await store.retry("done", 0);
        assert.equal(await store.confirm("done"), true);
        assert.deepEqual(await store.inboxCounts(), { pending: 0, dead: 0 });
        assert.deepEqual(await store.takeDue(due()), []);
        assert.equal(await store.confirm("done"), false, "a second confirm is a no-op");
        assert.equal(await store.confirm("never-admitted"), false);
        assert.equal(
          await store.admit(entry("done")),
          "duplicate",
          "a retry of a confirmed event is a duplicate",
        );
        assert.equal(await store.claim("done"), false);
      });

      it("should send a retried event again after the delay, with the reason", async function () {
        await store.admit(entry("flaky"));
        const asked = Date.now();
        assert.equal(await store.retry("flaky", 300, "ERP answered 502"), true);
        assert.deepEqual(await store.takeDue(due()), []);
        let batch = [];
        await eventually(async () => (batch = await store.takeDue(due())).length > 0, { what: "due" });
        const waited = Date.now() - asked;
        assert.ok(waited >= 290, `sent again after ${waited} ms`);
        const [taken] = batch;
        assert.equal(taken.key, "flaky");
        assert.equal(taken.attempt, 2);
        assert.equal(taken.lastError, "ERP answered 502");
        assert.equal(await store.retry("unknown", 1000), false);
        await store.confirm("flaky");
        assert.equal(await store.retry("flaky", 1000), false, "a confirmed event is not sent again");
      });

      it("should keep a dead letter: never handed out again, listed with its reason and counted", async function () {
        await store.admit(entry("poison"));
        await store.admit(entry("fine"));
        await store.retry("poison", 0);
        await store.retry("fine", 0);
        const [taken] = await store.takeDue(due({ limit: 1 }));
        await store.markDead(taken.key, "10 attempts failed");
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 1 });
        const dead = await store.deadLetters();
        assert.equal(dead.length, 1);
        assert.equal(dead[0].key, taken.key);
        assert.equal(dead[0].dead, true);
        assert.equal(dead[0].lastError, "10 attempts failed");
        assert.equal(dead[0].attempt, 2);
        assert.deepEqual(dead[0].message, message(taken.key));
        const other = taken.key === "poison" ? "fine" : "poison";
        assert.equal(await store.retry(other, 0), true);
        assert.deepEqual(keysOf(await store.takeDue(due())), [other], "the dead letter is not handed out");
        assert.equal(
          await store.retry(taken.key, 0),
          false,
          "a dead letter is not retried (no Catch → retry loop)",
        );
        assert.equal(await store.admit(entry(taken.key)), "duplicate");
        assert.equal(await store.confirm(taken.key), true, "confirming a dead letter clears it");
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
      });

      it("should say how long the oldest pending event has waited since its admission, whatever its due time", async function () {
        assert.equal(await store.oldestPendingAge(), undefined, "none pending");
        const started = Date.now();
        await store.admit(entry("older"));
        await pause(60);
        await store.admit(entry("younger"));
        // A retry moves the older one's due time after the younger's; its admission stays first.
        assert.equal(await store.retry("older", 60_000, "later"), true);
        await pause(40);
        const age = await store.oldestPendingAge();
        assert.ok(age >= 100 - CLOCK_MS && age <= Date.now() - started + CLOCK_MS, String(age));
        const state = await store.inboxState();
        assert.equal(state.pending, 2);
        assert.equal(state.dead, 0);
        assert.ok(
          state.oldestPendingMs >= age && state.oldestPendingMs <= age + 50,
          `${state.oldestPendingMs}`,
        );
        assert.equal(await store.confirm("older"), true);
        const younger = await store.oldestPendingAge();
        assert.ok(younger >= 40 - CLOCK_MS && younger < age - 60 + CLOCK_MS, `${younger} after ${age}`);
        // A dead letter is not pending.
        await store.markDead("younger", "given up");
        assert.equal(await store.oldestPendingAge(), undefined);
        assert.deepEqual(await store.inboxState(), { pending: 0, dead: 1, oldestPendingMs: undefined });
      });

      it("should list at most `limit` dead letters, the oldest first", async function () {
        for (const key of ["d1", "d2", "d3"]) {
          await store.admit(entry(key));
          await store.markDead(key, `reason ${key}`);
        }
        assert.deepEqual(
          (await store.deadLetters(2)).map((dead) => dead.key),
          ["d1", "d2"],
        );
        assert.equal((await store.deadLetters()).length, 3);
      });

      it("should list dead letters from an offset, the oldest first", async function () {
        for (const key of ["o1", "o2", "o3", "o4"]) {
          await store.admit(entry(key));
          await store.markDead(key, "given up");
        }
        assert.deepEqual(keysOf(await store.deadLetters(2, 1)), ["o2", "o3"]);
        assert.deepEqual(keysOf(await store.deadLetters(10, 3)), ["o4"]);
        assert.deepEqual(await store.deadLetters(10, 4), []);
      });

      it("should replay a dead letter once: pending, due now, attempts from zero, marked replayed, its key still claimed", async function () {
        await store.admit(entry("revive", "hook-old"));
        await store.markDead("revive", "not confirmed after 3 attempts");
        const before = Date.now();
        assert.equal(await store.replayDead("revive", "hook"), true);
        assert.equal(await store.replayDead("revive", "hook"), false, "no longer a dead letter");
        assert.equal(await store.replayDead("never-admitted"), false);
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
        assert.equal(
          await store.admit(entry("revive")),
          "duplicate",
          "a replay bypasses dedupe, which holds",
        );
        assert.equal(await store.claim("revive"), false);
        const age = await store.oldestPendingAge();
        assert.ok(
          age !== undefined && age <= Date.now() - before + CLOCK_MS,
          `counted as admitted now: ${age}`,
        );
        const [taken, ...more] = await store.takeDue(due({ sources: ["hook"] }));
        assert.deepEqual(more, []);
        assert.equal(taken.key, "revive");
        assert.equal(taken.sourceNodeId, "hook", "sent through the node the replay named");
        assert.equal(taken.attempt, 1, "the replay's first send is attempt 1");
        assert.equal(taken.message.clarus.replayed, true);
        assert.deepEqual(taken.message.payload, message("revive").payload);
        assert.equal(await store.confirm("revive"), true);
        assert.deepEqual(await store.inboxCounts(), { pending: 0, dead: 0 });
      });

      it("should replay a dead letter through its own node when none is named", async function () {
        await store.admit(entry("own", "hook-a"));
        await store.markDead("own", "given up");
        assert.equal(await store.replayDead("own"), true);
        assert.deepEqual(keysOf(await store.takeDue(due({ sources: ["hook-a"] }))), ["own"]);
      });

      it("should replay exactly one of many concurrent replays of one dead letter", async function () {
        await store.admit(entry("contested"));
        await store.markDead("contested", "given up");
        const results = await Promise.all(Array.from({ length: 20 }, () => store.replayDead("contested")));
        assert.equal(results.filter(Boolean).length, 1);
      });

      it("should discard a dead letter but never a pending entry", async function () {
        await store.admit(entry("gone"));
        await store.admit(entry("waiting"));
        await store.markDead("gone", "given up");
        assert.equal(await store.discardDead("waiting"), false, "pending: kept");
        assert.equal(await store.discardDead("gone"), true);
        assert.equal(await store.discardDead("gone"), false);
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
        assert.equal(await store.admit(entry("gone")), "duplicate", "its key stays claimed");
      });

      if (backend.shared) {
        it("should let another instance take the pending entries of an instance that died, once due", async function () {
          const doomed = backend.create({ namespace: ns, redeliverMs: 300 });
          await doomed.admit(entry("orphan-1", "hook-a"));
          await doomed.admit(entry("orphan-2", "hook-a"));
          await doomed.close(false);
          const request = due({ sources: ["hook-a"] });
          assert.deepEqual(await store.takeDue(request), [], "not before their due time");
          let taken = [];
          await eventually(async () => (taken = taken.concat(await store.takeDue(request))).length >= 2, {
            what: "both taken",
          });
          assert.deepEqual(keysOf(taken).sort(), ["orphan-1", "orphan-2"]);
          assert.deepEqual(taken[0].message, message(taken[0].key));
        });

        it("should replay each dead letter once when two instances replay them all at once", async function () {
          const other = backend.create({ namespace: ns });
          try {
            const keys = Array.from({ length: 50 }, (_, index) => `twice-${index}`);
            for (const key of keys) {
              await store.admit(entry(key));
              await store.markDead(key, "given up");
            }
            const [mine, theirs] = await Promise.all(
              [store, other].map((instance) => Promise.all(keys.map((key) => instance.replayDead(key)))),
            );
            const won = keys.map((_, index) => Number(mine[index]) + Number(theirs[index]));
            assert.deepEqual(
              won,
              keys.map(() => 1),
              "each key replayed by exactly one instance",
            );
            assert.deepEqual(await store.inboxCounts(), { pending: 50, dead: 0 });
          } finally {
            await other.close(false);
          }
        });

        it("should give each due entry to exactly one of two instances taking at once", async function () {
          const other = backend.create({ namespace: ns });
          try {
            const keys = Array.from({ length: 100 }, (_, index) => `split-${index}`);
            for (const key of keys) {
              await store.admit(entry(key));
              await store.retry(key, 0);
            }
            const batches = await Promise.all(
              Array.from({ length: 10 }, (_, index) =>
                (index % 2 ? store : other).takeDue(due({ limit: 15 })),
              ),
            );
            const takenKeys = batches.flat().map((taken) => taken.key);
            assert.equal(takenKeys.length, keys.length, "every entry handed out once");
            assert.deepEqual([...new Set(takenKeys)].sort(), [...keys].sort());
          } finally {
            await other.close(false);
          }
        });
      }
    });

    context("documents", function () {
      it("should read back what was written, undefined when there is none, and forget a removed one", async function () {
        assert.equal(await store.readDocument("poll-1"), undefined);
        const value = {
          watermark: "2026-11-27T10:00:00.000Z",
          cursor: null,
          ids: [1, 2],
          empty: [],
          nested: { ü: "✓" },
        };
        await store.writeDocument("poll-1", value);
        assert.deepEqual(await store.readDocument("poll-1"), value);
        await store.writeDocument("poll-1", { watermark: "later" });
        assert.deepEqual(await store.readDocument("poll-1"), { watermark: "later" });
        assert.equal(await store.readDocument("poll-2"), undefined, "documents are separate by name");
        await store.removeDocument("poll-1");
        assert.equal(await store.readDocument("poll-1"), undefined);
        await store.removeDocument("poll-1");
      });
    });

    context("leases", function () {
      it("should grant a lease that renews and releases", async function () {
        const lease = await store.acquireLease("poll-a", 5000);
        assert.ok(lease, "granted");
        assert.equal(await lease.renew(), true);
        await lease.release();
        assert.equal(await lease.renew(), false, "a released lease is gone");
        const again = await store.acquireLease("poll-a", 5000);
        assert.ok(again, "free again after release");
        await again.release();
      });

      if (backend.shared) {
        it("should grant a lease to one holder at a time", async function () {
          const other = backend.create({ namespace: ns });
          try {
            const results = await Promise.all(
              Array.from({ length: 10 }, (_, index) =>
                (index % 2 ? store : other).acquireLease("poll-b", 5000),
              ),
            );
            const granted = results.filter(Boolean);
            assert.equal(granted.length, 1);
            assert.equal(
              await other.acquireLease("poll-c", 5000).then(Boolean),
              true,
              "other names are separate",
            );
            await granted[0].release();
            assert.ok(await other.acquireLease("poll-b", 5000), "released: the other instance gets it");
          } finally {
            await other.close(false);
          }
        });

        it("should keep a renewed lease past its TTL and hand it over within a TTL once renewals stop", async function () {
          const other = backend.create({ namespace: ns });
          try {
            const ttlMs = 300;
            const lease = await store.acquireLease("poll-d", ttlMs);
            const held = Date.now();
            // Renewing at a third of the TTL keeps it for three TTLs; nobody else gets it meanwhile.
            while (Date.now() - held < 3 * ttlMs) {
              assert.equal(await lease.renew(), true);
              assert.equal(await other.acquireLease("poll-d", ttlMs), undefined);
              await pause(ttlMs / 3);
            }
            const stopped = Date.now();
            let taken;
            await eventually(async () => (taken = await other.acquireLease("poll-d", 5000)) !== undefined, {
              what: "the lease to expire",
            });
            const handover = Date.now() - stopped;
            assert.ok(handover < 2 * ttlMs + 1000, `taken over ${handover} ms after the last renewal`);
            assert.equal(await lease.renew(), false, "the old holder learns it lost the lease");
            await lease.release();
            assert.equal(
              await taken.renew(),
              true,
              "the old holder's release leaves the new holder's lease alone",
            );
            await taken.release();
          } finally {
            await other.close(false);
          }
        });
      }
    });

    context("close", function () {
      it("should refuse calls after close with StoreUnavailableError", async function () {
        const closing = backend.create({ namespace: ns });
        await closing.claim("before-close");
        await closing.close(false);
        await assert.rejects(closing.claim("after-close"), { name: "StoreUnavailableError" });
      });
    });
  });
}
