// The `store: file` backend of the connection store: dedupe claims, the durable on-confirm inbox (group
// commit, compaction, crash and torn-record recovery, a disk that refuses writes) and documents.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const { FileConnectionStore } = require("../../../../build/nodes/lib/store/file/file-store.js");
const { AppendLog, withoutReservedRoom } = require("../../../../build/nodes/lib/store/file/append-log.js");
const { StoreClosedError } = require("../../../../build/nodes/lib/store/connection-store.js");
const { tempUserDir } = require("../../../helpers/node-red");

const HOUR = 3_600_000;
const REDELIVER_MS = 60_000;

function openStore(directory, options = {}) {
  const warnings = [];
  const store = new FileConnectionStore({
    directory,
    connectionId: "conn",
    dedupeTtlMs: HOUR,
    dedupeCapacity: 1000,
    redeliverMs: REDELIVER_MS,
    warn: (message) => warnings.push(message),
    ...options,
  });
  store.warnings = warnings;
  return store;
}

function entry(id, sourceNodeId = "hook") {
  return {
    key: `goods_out.completed:${id}`,
    sourceNodeId,
    message: {
      _msgid: `m${id}`,
      topic: "goods_out.completed",
      payload: { id, reference: `SO-${id}` },
      clarus: { event: "goods_out.completed", source: "webhook", dedupeKey: `goods_out.completed:${id}` },
    },
  };
}

/** A takeDue request of a delivery that sends for the webhook node "hook". */
const forHook = (limit = 10) => ({
  sources: new Set(["hook"]),
  isDeployed: () => false,
  goneSourceGraceMs: 0,
  redeliverMs: REDELIVER_MS,
  limit,
});

const inboxFile = (directory) => path.join(directory, "inbox-conn.log");
/** A log file's records: its text without the room the log reserves after them while it is open. */
const logText = (file) => withoutReservedRoom(fs.readFileSync(file, "utf8"));
const inboxLines = (directory) => logText(inboxFile(directory)).split("\n").filter(Boolean);

/** Runs `body` (source of an async function of `store`) in a child that is SIGKILLed when it prints "kill". */
async function crashAfter(directory, body) {
  const script = `
    const { FileConnectionStore } = require(${JSON.stringify(require.resolve("../../../../build/nodes/lib/store/file/file-store.js"))});
    const store = new FileConnectionStore({ directory: ${JSON.stringify(directory)}, connectionId: "conn",
      dedupeTtlMs: ${HOUR}, dedupeCapacity: 100000, redeliverMs: ${REDELIVER_MS}, warn: () => {} });
    const entry = ${entry.toString()};
    setInterval(() => {}, 1000);
    (async (store) => { ${body} })(store).then(() => process.kill(process.pid, "SIGKILL"));
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  const signal = await new Promise((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
  assert.equal(signal, "SIGKILL", output);
  return output;
}

describe("FileConnectionStore (store: file)", function () {
  const open = [];
  function track(store) {
    open.push(store);
    return store;
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close(false)));
  });

  context("when events are claimed (on-receipt)", function () {
    it("should claim a key once and keep reading a 0.1 user directory's dedupe files", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      fs.mkdirSync(directory);
      const future = Date.now() + HOUR;
      // What 0.1 left behind: a snapshot and a journal.
      fs.writeFileSync(
        path.join(directory, "dedupe-conn.json"),
        JSON.stringify({ version: 1, entries: [["goods_out.completed:1", future]] }),
      );
      fs.writeFileSync(
        path.join(directory, "dedupe-conn.journal"),
        `${JSON.stringify(["goods_out.completed:2", future])}\n`,
      );
      const store = track(openStore(directory));
      assert.equal(store.kind, "file");
      assert.equal(await store.claim("goods_out.completed:1"), false);
      assert.equal(await store.claim("goods_out.completed:2"), false);
      assert.equal(await store.claim("goods_out.completed:3"), true);
      assert.equal(await store.claim("goods_out.completed:3"), false);
      assert.deepEqual(store.warnings, []);
    });

    it("should read a redeployed store's files only once the store before it has closed", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const first = openStore(directory, { dedupeCapacity: 50_000 });
      for (let i = 0; i < 50_000; i++) await first.claim(`goods_out.completed:${i}`);
      // Node-RED gives up waiting for a close after 15 s and starts the new flows: the old store is still
      // writing its last keys while the new one opens the same files.
      const closing = first.close(false);
      const second = track(openStore(directory, { dedupeCapacity: 50_000 }));
      assert.equal(await second.claim("goods_out.completed:49999"), false, "claimed just before the close");
      assert.equal(await second.claim("goods_out.completed:50000"), true);
      await closing;
    });

    it("should reject claims and admissions once closed", async function () {
      const store = openStore(path.join(tempUserDir(), "clarus"));
      await store.close(false);
      await assert.rejects(store.claim("a"), StoreClosedError);
      await assert.rejects(store.admit(entry(1)), StoreClosedError);
    });
  });

  context("when events are admitted (on-confirm)", function () {
    it("should admit an event once, and answer a repeat of a pending or confirmed one as a duplicate", async function () {
      const store = track(openStore(path.join(tempUserDir(), "clarus")));
      assert.equal(await store.admit(entry(1)), "fresh");
      assert.equal(await store.admit(entry(1)), "duplicate", "pending");
      assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
      assert.equal(await store.confirm(entry(1).key), true);
      assert.equal(await store.confirm(entry(1).key), false, "already confirmed");
      assert.equal(await store.confirm("never-seen"), false);
      assert.equal(await store.admit(entry(1)), "duplicate", "confirmed: its key stays claimed");
      assert.equal(await store.claim(entry(1).key), false);
      assert.deepEqual(await store.inboxCounts(), { pending: 0, dead: 0 });
    });

    it("should keep its own copy of the message, without _msgid", async function () {
      const store = track(openStore(path.join(tempUserDir(), "clarus")));
      const admitted = entry(1);
      await store.admit(admitted);
      admitted.message.payload.changedDownstream = true;
      await store.retry(entry(1).key, 0);
      const [due] = await store.takeDue(forHook());
      assert.deepEqual(due.message.payload, { id: 1, reference: "SO-1" });
      assert.equal(due.message._msgid, undefined);
    });

    it("should hand out due entries once, counting attempts, and honour a retry's delay", async function () {
      const t0 = Date.now();
      let clock = t0;
      const store = track(openStore(path.join(tempUserDir(), "clarus"), { now: () => clock }));
      await store.admit(entry(1));
      await store.admit(entry(2));
      assert.deepEqual(await store.takeDue(forHook()), [], "not due before redeliverMs");
      clock = t0 + 2 * REDELIVER_MS;
      const due = await store.takeDue(forHook(1));
      assert.equal(due.length, 1, "at most limit");
      assert.equal(due[0].attempt, 2);
      assert.equal(due[0].key, entry(1).key);
      const rest = await store.takeDue(forHook());
      assert.deepEqual(
        rest.map((e) => e.key),
        [entry(2).key],
        "a taken entry is not taken again before its next due time",
      );
      assert.equal(await store.retry(entry(1).key, 0, "ERP said 503"), true);
      const retried = await store.takeDue(forHook());
      assert.deepEqual(
        retried.map((e) => [e.key, e.attempt, e.lastError]),
        [[entry(1).key, 3, "ERP said 503"]],
      );
      assert.equal(await store.retry("never-seen", 0), false);
    });

    it("should keep a dead letter, send it no more and list it", async function () {
      const store = track(openStore(path.join(tempUserDir(), "clarus")));
      await store.admit(entry(1));
      await store.admit(entry(2));
      await store.markDead(entry(1).key, "not confirmed after 10 attempts");
      assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 1 });
      const dead = await store.deadLetters();
      assert.deepEqual(
        dead.map((e) => [e.key, e.dead, e.lastError]),
        [[entry(1).key, true, "not confirmed after 10 attempts"]],
      );
      await store.retry(entry(2).key, 0);
      const due = await store.takeDue(forHook());
      assert.deepEqual(
        due.map((e) => e.key),
        [entry(2).key],
      );
      assert.equal(await store.retry(entry(1).key, 0), false, "a dead letter is not pending");
      assert.equal(await store.admit(entry(1)), "duplicate");
      assert.equal(await store.confirm(entry(1).key), true, "confirming a dead letter clears it");
      assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
    });

    it("should keep pending and dead entries and their due times across close and reopen in one process", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const first = openStore(directory);
      for (const id of [1, 2, 3, 4]) await first.admit(entry(id));
      await first.confirm(entry(2).key);
      await first.markDead(entry(4).key, "gave up");
      await first.close(false);
      // A redeploy: the messages this process sent may still be in its flows, so nothing is due before its time.
      let clock = Date.now();
      const second = track(openStore(directory, { now: () => clock }));
      assert.deepEqual(await second.inboxCounts(), { pending: 2, dead: 1 });
      assert.deepEqual(await second.takeDue(forHook()), [], "none due at the reopen");
      clock += REDELIVER_MS;
      const due = await second.takeDue(forHook());
      assert.deepEqual(
        due.map((e) => [e.key, e.attempt]),
        [
          [entry(1).key, 2],
          [entry(3).key, 2],
        ],
      );
      assert.equal(await second.admit(entry(2)), "duplicate");
      assert.deepEqual(second.warnings, []);
    });

    it("should keep a replayed dead letter across a reopen, as pending, marked and last in admission order", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      let clock = Date.now();
      const first = openStore(directory, { now: () => clock });
      for (const id of [1, 2]) await first.admit(entry(id));
      await first.markDead(entry(1).key, "gave up");
      clock += 5000;
      assert.equal(await first.replayDead(entry(1).key, "hook-new"), true);
      await first.close(false);
      const second = track(openStore(directory, { now: () => clock }));
      assert.deepEqual(await second.inboxCounts(), { pending: 2, dead: 0 });
      assert.deepEqual(await second.deadLetters(), []);
      // Entry 2, admitted 5 s before the replay, is the oldest pending one now.
      assert.equal(await second.oldestPendingAge(), 5000);
      assert.equal(await second.confirm(entry(2).key), true);
      assert.equal(await second.oldestPendingAge(), 0, "the replay counts as admitted when it was replayed");
      const [replayed] = await second.takeDue({ ...forHook(), sources: new Set(["hook-new"]) });
      assert.equal(replayed.key, entry(1).key);
      assert.equal(replayed.attempt, 1);
      assert.equal(replayed.message.clarus.replayed, true);
      assert.deepEqual(second.warnings, []);
    });

    it("should make every pending entry due at once when a new process opens the file", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      await crashAfter(
        directory,
        `
        for (const id of [1, 2, 3, 4]) await store.admit(entry(id));
        await store.confirm(entry(2).key);
        await store.markDead(entry(4).key, "gave up");
        await store.close(false);
      `,
      );
      const store = track(openStore(directory));
      assert.deepEqual(await store.inboxCounts(), { pending: 2, dead: 1 });
      const due = await store.takeDue(forHook());
      assert.deepEqual(
        due.map((e) => [e.key, e.attempt]),
        [
          [entry(1).key, 2],
          [entry(3).key, 2],
        ],
      );
    });

    it("should share one fsync among concurrent admissions (group commit)", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = track(openStore(directory));
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => store.admit(entry(i))));
      assert.ok(answers.every((answer) => answer === "fresh"));
      const { stats } = store.inbox.log;
      // The first write starts alone; the other 49 wait for it and go out together.
      assert.ok(stats.syncs <= 3, `${stats.syncs} fsyncs for 50 concurrent admissions`);
      assert.equal(inboxLines(directory).length, 50);
    });

    it("should give every admission its own write and fsync with group commit off", async function () {
      const store = track(openStore(path.join(tempUserDir(), "clarus"), { inbox: { groupCommit: false } }));
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.admit(entry(i))));
      assert.deepEqual(store.inbox.log.stats, { writes: 20, syncs: 20 });
    });

    it("should compact away confirmed entries so the file follows the pending count", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = track(openStore(directory, { inboxCompactAt: { records: 1000 } }));
      for (let i = 0; i < 1500; i++) {
        await store.admit(entry(i));
        if (i >= 5) await store.confirm(entry(i).key);
      }
      await store.inbox.log.idle();
      await store.inbox.compaction;
      const lines = inboxLines(directory);
      assert.ok(lines.length < 1000, `${lines.length} records for 5 pending entries`);
      const reopened = openStore(directory);
      assert.deepEqual(await reopened.inboxCounts(), { pending: 5, dead: 0 });
      assert.equal(await reopened.admit(entry(1400)), "duplicate", "compacted keys stay claimed");
      await reopened.close(false);
    });

    it("should keep a webhook's own JSON as the payload and read the same message back", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = track(openStore(directory));
      const admitted = entry(1);
      const payload = { ...admitted.message.payload, lines: [{ sku: "A", note: "x\ny" }] };
      admitted.message.payload = payload;
      // What webhook-in hands over: the body's own text, made one line, not serialised again.
      admitted.payloadJson = '{ "id": 1, "reference": "SO-1", "lines": [ { "sku": "A", "note": "x\\ny" } ] }';
      assert.equal(await store.admit(admitted), "fresh");
      await store.close(false);
      const [line] = inboxLines(directory);
      assert.ok(line.includes(admitted.payloadJson), line);
      // Reopened in this process, the entry keeps its due time: look a redelivery period later.
      const reopened = track(openStore(directory, { now: () => Date.now() + 2 * REDELIVER_MS }));
      const [due] = await reopened.takeDue(forHook());
      const { _msgid: _sentAs, ...sent } = admitted.message;
      assert.deepEqual(due.message, sent);
    });

    it("should make a pretty-printed body one line of the file, keeping its value and the escapes in strings", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = track(openStore(directory));
      const admitted = entry(2);
      const payload = { id: 2, note: "two\nlines\r\n", sep: "\u2028", lines: [{ sku: "A" }] };
      admitted.message.payload = payload;
      admitted.payloadJson = JSON.stringify(payload, null, 2).replace(/\n/g, "\r\n");
      assert.equal(await store.admit(admitted), "fresh");
      await store.close(false);
      const lines = inboxLines(directory);
      assert.equal(lines.length, 1, "one record, one line");
      assert.doesNotMatch(lines[0], /[\r\n]/);
      assert.deepEqual(JSON.parse(lines[0]).put.message.payload, payload);
      const reopened = track(openStore(directory, { now: () => Date.now() + 2 * REDELIVER_MS }));
      const [due] = await reopened.takeDue(forHook());
      assert.deepEqual(due.message.payload, payload);
    });

    it("should leave a file of small records alone until it holds ten thousand of them", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = track(openStore(directory));
      // In groups of 500 that share their writes: 11,000 records one sync each would take seconds.
      const admitAndConfirm = async (from, to) => {
        for (let start = from; start < to; start += 500) {
          const ids = Array.from({ length: Math.min(500, to - start) }, (_, i) => start + i);
          await Promise.all(ids.map((id) => store.admit(entry(id))));
          await Promise.all(ids.map((id) => store.confirm(entry(id).key)));
        }
        await store.inbox.log.idle();
        await store.inbox.compaction;
      };
      await admitAndConfirm(0, 4000);
      assert.equal(inboxLines(directory).length, 8000, "8000 records of about 200 bytes: not compacted yet");
      await admitAndConfirm(4000, 5500);
      assert.ok(inboxLines(directory).length < 2000, `${inboxLines(directory).length} records after 11000`);
    });

    it("should compact a file once it holds the bytes threshold, before ten thousand records", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      // A thousand records of these entries take about 145 kB.
      const store = track(openStore(directory, { inboxCompactAt: { bytes: 100 * 1024 } }));
      for (let i = 0; i < 700; i++) {
        await store.admit(entry(i));
        await store.confirm(entry(i).key);
      }
      await store.inbox.log.idle();
      await store.inbox.compaction;
      const lines = inboxLines(directory);
      assert.ok(lines.length < 1000, `${lines.length} records: the file passed 100 KiB at 1000 records`);
      assert.equal(
        store.inbox.log.bytes,
        Buffer.byteLength(logText(inboxFile(directory))),
        "its size known after the rewrite",
      );
      assert.ok(store.inbox.log.bytes < 100 * 1024, `${store.inbox.log.bytes} bytes after the compaction`);
    });

    it("should delete its files when its connection is removed", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = openStore(directory);
      await store.admit(entry(1));
      await store.close(true);
      assert.deepEqual(fs.readdirSync(directory), []);
    });
  });

  context("when the process is killed", function () {
    it("should keep every admitted event and count its key as claimed, even without the dedupe journal", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      // The dedupe journal is written a second after a claim; the kill comes first, so only the inbox has the keys.
      await crashAfter(
        directory,
        `
        await Promise.all(Array.from({ length: 200 }, (_, i) => store.admit(entry(i))));
        for (let i = 0; i < 50; i++) await store.confirm(entry(i).key);
      `,
      );
      assert.equal(
        fs.existsSync(path.join(directory, "dedupe-conn.journal")),
        false,
        "the dedupe journal was written",
      );
      const store = track(openStore(directory));
      assert.deepEqual(await store.inboxCounts(), { pending: 150, dead: 0 });
      for (let i = 0; i < 200; i++) assert.equal(await store.admit(entry(i)), "duplicate", `key ${i}`);
      assert.equal(await store.admit(entry(200)), "fresh");
      const due = await store.takeDue(forHook(1000));
      assert.equal(due.length, 150, "every pending entry is due at once after a restart");
    });

    it("should load a file that ends in the room reserved ahead, as a killed process leaves it, without a warning", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const first = track(openStore(directory));
      for (const id of [1, 2, 3]) await first.admit(entry(id));
      await first.inbox.log.idle();
      // What the disk holds while the store is open is what a kill -9 leaves.
      const killed = path.join(tempUserDir(), "clarus");
      fs.mkdirSync(killed, { recursive: true });
      fs.copyFileSync(inboxFile(directory), inboxFile(killed));
      assert.ok(fs.readFileSync(inboxFile(killed)).at(-1) === 0, "the copy ends in reserved room");
      const store = track(openStore(killed));
      assert.deepEqual(await store.inboxCounts(), { pending: 3, dead: 0 });
      assert.deepEqual(store.warnings, []);
      assert.equal(await store.admit(entry(4)), "fresh");
      await store.inbox.log.idle();
      assert.equal(inboxLines(killed).length, 4, "the next record follows the last one, inside the room");
    });

    it("should load every record before a torn last one, warn once, and repair the file", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const first = openStore(directory);
      for (const id of [1, 2, 3]) await first.admit(entry(id));
      await first.close(false);
      // A kill during the next write: half a record, no newline.
      const whole = JSON.stringify({
        put: { ...entry(4), attempt: 1, admittedAt: Date.now(), dueAt: Date.now() },
      });
      fs.appendFileSync(inboxFile(directory), whole.slice(0, 40));
      const store = track(openStore(directory));
      assert.deepEqual(await store.inboxCounts(), { pending: 3, dead: 0 });
      assert.equal(store.warnings.length, 1, store.warnings.join("\n"));
      assert.match(store.warnings[0], /1 unreadable record\(s\) skipped .* 3 entries kept/);
      assert.equal(await store.admit(entry(5)), "fresh");
      await store.inbox.log.idle();
      const text = logText(inboxFile(directory));
      assert.ok(text.endsWith("\n"));
      assert.ok(
        text
          .split("\n")
          .filter(Boolean)
          .every((line) => JSON.parse(line)),
        "every record parses after the repair",
      );
      const reopened = openStore(directory);
      assert.deepEqual(await reopened.inboxCounts(), { pending: 4, dead: 0 });
      assert.deepEqual(reopened.warnings, []);
      await reopened.close(false);
    });

    it("should start with an empty inbox and a warning when the file is garbage", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      fs.mkdirSync(directory);
      fs.writeFileSync(inboxFile(directory), "\u0000\u0000garbage{{{\n[1,2]\n");
      const store = track(openStore(directory));
      assert.deepEqual(await store.inboxCounts(), { pending: 0, dead: 0 });
      assert.equal(store.warnings.length, 1);
      assert.equal(await store.admit(entry(1)), "fresh");
    });
  });

  context("when the disk refuses writes", function () {
    it("should reject admissions without claiming them, and recover by itself once writes work", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      const store = track(openStore(directory));
      assert.equal(await store.admit(entry(1)), "fresh");
      await store.inbox.log.close();
      // The inbox file and the temp file a rewrite would use now lead to /dev/full: every write fails (ENOSPC).
      fs.renameSync(inboxFile(directory), `${inboxFile(directory)}.saved`);
      fs.symlinkSync("/dev/full", inboxFile(directory));
      fs.symlinkSync("/dev/full", `${inboxFile(directory)}.tmp`);
      await assert.rejects(store.admit(entry(2)), { name: "StoreUnavailableError", message: /ENOSPC/ });
      await assert.rejects(
        store.admit(entry(2)),
        { name: "StoreUnavailableError" },
        "the claim was released",
      );
      assert.equal(store.failing, true);
      assert.deepEqual(await store.inboxCounts(), { pending: 1, dead: 0 });
      fs.rmSync(inboxFile(directory));
      fs.rmSync(`${inboxFile(directory)}.tmp`, { force: true });
      assert.equal(await store.admit(entry(2)), "fresh", "writes work again");
      assert.equal(store.failing, false);
      // The file was rewritten whole: the entry admitted before the failure is in it too.
      const reopened = openStore(directory);
      assert.deepEqual(await reopened.inboxCounts(), { pending: 2, dead: 0 });
      await reopened.close(false);
    });
  });

  context("when documents and leases are used", function () {
    it("should read a 0.1 poll state file as the document of its poll node, and write and remove documents", async function () {
      const directory = path.join(tempUserDir(), "clarus");
      fs.mkdirSync(directory);
      fs.writeFileSync(
        path.join(directory, "poll-a1b2c3.json"),
        JSON.stringify({ watermark: "2026-01-01T00:00:00.000Z" }),
      );
      const store = track(openStore(directory));
      assert.deepEqual(await store.readDocument("poll-a1b2c3"), { watermark: "2026-01-01T00:00:00.000Z" });
      assert.equal(await store.readDocument("automations"), undefined);
      await store.writeDocument("automations", { 43: "goods_out.completed" });
      assert.deepEqual(await store.readDocument("automations"), { 43: "goods_out.completed" });
      await store.removeDocument("automations");
      assert.equal(await store.readDocument("automations"), undefined);
    });

    it("should always grant a lease (one instance)", async function () {
      const store = track(openStore(undefined));
      const lease = await store.acquireLease("poll-1", 1000);
      assert.equal(await lease.renew(), true);
      assert.ok(await store.acquireLease("poll-1", 1000), "granted while held: there is no other instance");
      await lease.release();
      assert.equal(await lease.renew(), false, "a released lease is gone");
    });

    it("should keep everything in memory without a directory", async function () {
      const store = track(openStore(undefined));
      assert.equal(await store.admit(entry(1)), "fresh");
      assert.equal(await store.admit(entry(1)), "duplicate");
      await store.writeDocument("x", { a: 1 });
      assert.deepEqual(await store.readDocument("x"), { a: 1 });
    });
  });
});

describe("AppendLog", function () {
  it("should write an append made as soon as the previous one resolves", async function () {
    const file = path.join(tempUserDir(), "log");
    const log = new AppendLog({ file }, () => []);
    await log.append("a", true).then(() => log.append("b", true));
    for (let i = 0; i < 20; i++) await log.append(`r${i}`, false);
    assert.equal(log.records, 22);
    assert.equal(logText(file).split("\n").length, 23);
    await log.close();
  });

  it("should let records that need no sync wait for a durable one and share its write and its sync", async function () {
    const file = path.join(tempUserDir(), "log");
    // A linger far longer than the test: only the durable append can end it.
    const log = new AppendLog({ file, lingerMs: 600_000 }, () => []);
    const confirmations = [log.append("done-1", false), log.append("done-2", false)];
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(log.stats.writes, 0, "the confirmations wait");
    await Promise.all([...confirmations, log.append("put-3", true)]);
    assert.deepEqual(log.stats, { writes: 1, syncs: 1 });
    assert.equal(logText(file), "done-1\ndone-2\nput-3\n", "in the order appended");
    await log.close();
  });

  it("should write a record that needs no sync on its own once no durable one came", async function () {
    const file = path.join(tempUserDir(), "log");
    const log = new AppendLog({ file, lingerMs: 20 }, () => []);
    await log.append("done-1", false);
    assert.deepEqual(log.stats, { writes: 1, syncs: 0 });
    assert.equal(logText(file), "done-1\n");
    await log.close();
  });

  it("should write each append alone, without waiting, when group commit is off", async function () {
    const file = path.join(tempUserDir(), "log");
    const log = new AppendLog({ file, groupCommit: false, lingerMs: 600_000 }, () => []);
    await Promise.all([log.append("done-1", false), log.append("put-2", true), log.append("put-3", true)]);
    assert.deepEqual(log.stats, { writes: 3, syncs: 2 });
    await log.close();
  });

  it("should write records into room reserved ahead of them, and cut the room off at close", async function () {
    const file = path.join(tempUserDir(), "log");
    const log = new AppendLog({ file, reserveBytes: 4096 }, () => []);
    await log.append("a", true);
    assert.equal(fs.statSync(file).size, "a\n".length + 4096, "the record and the room after it");
    await log.append("b", true);
    assert.equal(fs.statSync(file).size, "a\n".length + 4096, "the second record went into the room");
    assert.equal(logText(file), "a\nb\n");
    assert.equal(log.bytes, 4);
    // Past the room's end: the next room is written after the records that reach it.
    await log.append("c".repeat(5000), true);
    assert.equal(fs.statSync(file).size, 4 + 5001 + 4096);
    await log.close();
    assert.equal(fs.readFileSync(file, "utf8"), `a\nb\n${"c".repeat(5000)}\n`, "closed: the records alone");
  });

  it("should append after the records, into the room, when it opens a file a killed process left with room", async function () {
    const file = path.join(tempUserDir(), "log");
    fs.writeFileSync(file, Buffer.concat([Buffer.from("a\n"), Buffer.alloc(100)]));
    const log = new AppendLog({ file, reserveBytes: 4096 }, () => []);
    await log.append("b", true);
    assert.equal(fs.statSync(file).size, 102, "written into the room that was there");
    assert.equal(logText(file), "a\nb\n");
    await log.close();
    assert.equal(fs.readFileSync(file, "utf8"), "a\nb\n");
  });

  it("should cut off a record torn inside the room, with the room, before it appends", async function () {
    const file = path.join(tempUserDir(), "log");
    fs.writeFileSync(file, Buffer.concat([Buffer.from('a\n{"put":{"ke'), Buffer.alloc(100)]));
    const log = new AppendLog({ file, reserveBytes: 0 }, () => []);
    await log.append("b", true);
    assert.equal(fs.readFileSync(file, "utf8"), "a\nb\n");
    await log.close();
  });

  it("should write no room with reserveBytes 0", async function () {
    const file = path.join(tempUserDir(), "log");
    const log = new AppendLog({ file, reserveBytes: 0 }, () => []);
    await log.append("a", true);
    assert.equal(fs.readFileSync(file, "utf8"), "a\n");
    await log.close();
  });

  it("should rewrite the whole file before the next append after a failed write", async function () {
    const directory = tempUserDir();
    const file = path.join(directory, "log");
    let content = ["a", "b"];
    const log = new AppendLog({ file }, () => content);
    await log.append("a", true);
    await log.close();
    fs.renameSync(file, `${file}.x`);
    fs.symlinkSync("/dev/full", file);
    fs.symlinkSync("/dev/full", `${file}.tmp`);
    await assert.rejects(log.append("b", true), /ENOSPC/);
    await assert.rejects(log.append("b", true), /ENOSPC/, "the rewrite fails too");
    fs.rmSync(file);
    fs.rmSync(`${file}.tmp`, { force: true });
    content = ["a", "b", "c"];
    await log.append("c", true);
    assert.equal(logText(file), "a\nb\nc\nc\n");
    assert.equal(log.records, 4);
    await log.close();
  });
});
