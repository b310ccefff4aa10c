// The behaviour every ConnectionStore backend promises (nodes/lib/store/connection-store.ts), run against each
// backend in test/helpers/store-backends.js: claims, the on-confirm inbox, documents and leases. Backends
// that two instances share (Redis) also run the cross-instance cases with two stores on one state.
const assert = require("node:assert/strict");
const { setTimeout: pause } = require("node:timers/promises");

const { eventually } = require("./helpers/eventually");
const { STORE_BACKENDS } = require("./helpers/store-backends");

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
        assert.deepEqual(await store.takeDue(Date.now(), 1000, 10), []);
      });

      it("should hand out a due entry exactly as admitted, count its attempt and move its due time on", async function () {
        const before = Date.now();
        await store.admit(entry("due"));
        const later = Date.now() + 61_000;
        const [taken, ...rest] = await store.takeDue(later, 5000, 10);
        assert.deepEqual(rest, []);
        assert.equal(taken.key, "due");
        assert.equal(taken.sourceNodeId, "hook");
        assert.deepEqual(taken.message, message("due"));
        assert.equal(taken.attempt, 2, "the first send was attempt 1");
        assert.equal(taken.dueAt, later + 5000);
        assert.ok(
          taken.admittedAt >= before && taken.admittedAt <= Date.now(),
          `admittedAt ${taken.admittedAt}`,
        );
        assert.equal(taken.lastError, undefined);
        assert.deepEqual(
          await store.takeDue(later, 5000, 10),
          [],
          "taken entries wait for their new due time",
        );
        const [again] = await store.takeDue(later + 5000, 5000, 10);
        assert.equal(again.attempt, 3);
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 }, "still pending until confirmed");
      });

      it("should hand out at most `limit` entries, the longest due first", async function () {
        for (const key of ["a", "b", "c", "d"]) {
          await store.admit(entry(key));
          await store.retry(key, { a: 4000, b: 1000, c: 3000, d: 2000 }[key]);
        }
        const now = Date.now() + 10_000;
        assert.deepEqual(
          (await store.takeDue(now, 60_000, 2)).map((taken) => taken.key),
          ["b", "d"],
        );
        assert.deepEqual(
          (await store.takeDue(now, 60_000, 10)).map((taken) => taken.key),
          ["c", "a"],
        );
      });

      it("should confirm a pending event once: removed from the inbox, its key still claimed", async function () {
        await store.admit(entry("done"));
        assert.equal(await store.confirm("done"), true);
        assert.deepEqual(await store.inboxCounts(), { pending: 0, dead: 0 });
        assert.deepEqual(await store.takeDue(Date.now() + 3_600_000, 1000, 10), []);
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
        assert.equal(await store.retry("flaky", 30_000, "ERP answered 502"), true);
        assert.deepEqual(await store.takeDue(asked + 10_000, 1000, 10), []);
        const [taken] = await store.takeDue(Date.now() + 30_000, 1000, 10);
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
        const [taken] = await store.takeDue(Date.now() + 61_000, 1000, 1);
        await store.markDead(taken.key, "10 attempts failed");
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 1 });
        const dead = await store.deadLetters();
        assert.equal(dead.length, 1);
        assert.equal(dead[0].key, taken.key);
        assert.equal(dead[0].dead, true);
        assert.equal(dead[0].lastError, "10 attempts failed");
        assert.equal(dead[0].attempt, 2);
        assert.deepEqual(dead[0].message, message(taken.key));
        const later = await store.takeDue(Date.now() + 3_600_000, 1000, 10);
        assert.deepEqual(
          later.map((pending) => pending.key),
          [taken.key === "poison" ? "fine" : "poison"],
        );
        assert.equal(
          await store.retry(taken.key, 0),
          false,
          "a dead letter is not retried (no Catch → retry loop)",
        );
        assert.equal(await store.admit(entry(taken.key)), "duplicate");
        assert.equal(await store.confirm(taken.key), true, "confirming a dead letter clears it");
        assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
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

      if (backend.shared) {
        it("should let another instance take the pending entries of an instance that died, once due", async function () {
          const doomed = backend.create({ namespace: ns });
          await doomed.admit(entry("orphan-1", "hook-a"));
          await doomed.admit(entry("orphan-2", "hook-a"));
          await doomed.close(false);
          assert.deepEqual(await store.takeDue(Date.now(), 60_000, 10), [], "not before their due time");
          const taken = await store.takeDue(Date.now() + 61_000, 60_000, 10);
          assert.deepEqual(taken.map((pending) => pending.key).sort(), ["orphan-1", "orphan-2"]);
          assert.deepEqual(taken[0].message, message(taken[0].key));
        });

        it("should give each due entry to exactly one of two instances taking at once", async function () {
          const other = backend.create({ namespace: ns });
          try {
            const keys = Array.from({ length: 100 }, (_, index) => `split-${index}`);
            for (const key of keys) await store.admit(entry(key));
            const now = Date.now() + 61_000;
            const batches = await Promise.all(
              Array.from({ length: 10 }, (_, index) => (index % 2 ? store : other).takeDue(now, 60_000, 15)),
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
