// The file store on a real full disk: a small tmpfs that this suite mounts as the user directory's `clarus`
// folder and fills until the kernel refuses writes. Linux then answers a write with a short count, and the
// next one with ENOSPC. An admission acknowledged must be whole on disk and survive kill -9; one the disk
// cannot hold is refused (webhook-in: 503) and leaves nothing torn behind it; a compaction that cannot be
// written keeps the old inbox; and confirmed entries stay until their dedupe keys are on disk.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { FileConnectionStore } = require("../../build/nodes/lib/store/file/file-store.js");
const { DedupeStore } = require("../../build/nodes/lib/store/file/dedupe-store.js");
const { withoutReservedRoom } = require("../../build/nodes/lib/store/file/append-log.js");
const {
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { fileRecorder } = require("../helpers/output-file");
const { TOKEN, connectionConfig, webhookConfig, dispatched } = require("../helpers/fixtures");
const {
  ID_AND_ATTEMPT,
  acknowledged,
  burst,
  deliver,
  readOutput,
  waitForOutput,
} = require("../helpers/deliveries");
const { mountTmpfs, PAGE_SIZE } = require("../helpers/tmpfs");

const HOUR = 3_600_000;
const DISK_BYTES = 2 * 1024 * 1024;
/** A note that makes each stored event some 3 kB: a burst of them spans many pages. */
const NOTE = "n".repeat(3000);

function entry(id, { note } = {}) {
  const key = `goods_out.completed:${id}`;
  return {
    key,
    sourceNodeId: "hook",
    message: {
      topic: "goods_out.completed",
      payload: { id, reference: `SO-${id}`, ...(note ? { note } : {}) },
      clarus: { event: "goods_out.completed", source: "webhook", dedupeKey: key },
    },
  };
}

/** The inbox file's records: its text without the room the log reserves after them while it is open. */
const logText = (file) => withoutReservedRoom(fs.readFileSync(file, "utf8"));

/** The inbox file's lines; fails when its last record is torn (no newline after it) or a line does not parse. */
function wholeRecords(file) {
  const text = logText(file);
  assert.ok(text === "" || text.endsWith("\n"), `the last record is torn: …${text.slice(-80)}`);
  return text
    .split("\n")
    .filter(Boolean)
    .map((line, index) => {
      try {
        return JSON.parse(line);
      } catch {
        assert.fail(`record ${index + 1} is not whole: ${line.slice(0, 80)}…`);
      }
    });
}

/** The keys of the whole `put` records in the inbox file (a torn or unreadable line is not one). */
function keysOnDisk(file) {
  const keys = new Set();
  for (const line of logText(file).split("\n")) {
    try {
      const record = JSON.parse(line);
      if (record.put) keys.add(record.put.key);
    } catch {
      // Not a whole record.
    }
  }
  return keys;
}

/** Appends harmless records (confirmations of keys never admitted) until the file ends on a page boundary. */
function padToPageBoundary(file) {
  fs.appendFileSync(file, '{"done":"pad"}\n');
  let room = PAGE_SIZE - (fs.statSync(file).size % PAGE_SIZE);
  const frame = '{"done":""}\n'.length;
  if (room < frame) room += PAGE_SIZE;
  fs.appendFileSync(file, `{"done":"${"p".repeat(room - frame)}"}\n`);
  assert.equal(fs.statSync(file).size % PAGE_SIZE, 0);
}

describe("the file store on a full disk (a tmpfs mounted by the test)", function () {
  this.timeout(60_000);

  let tmp;
  let userDir;
  let disk;
  const open = [];

  function openStore(options = {}) {
    const warnings = [];
    const store = new FileConnectionStore({
      directory: disk.dir,
      connectionId: "conn",
      dedupeTtlMs: HOUR,
      dedupeCapacity: 100_000,
      redeliverMs: 60_000,
      // A compaction at a thousand records, as these tests count them (production waits for ten thousand).
      inboxCompactAt: { records: 1000 },
      // No room written ahead of the records: these tests count pages ("fills them" below tests the room).
      inbox: { reserveBytes: 0 },
      warn: (message) => warnings.push(message),
      ...options,
    });
    store.warnings = warnings;
    open.push(store);
    return store;
  }

  const inboxFile = () => path.join(disk.dir, "inbox-conn.log");

  before(function () {
    tmp = makeTempDir("clarus-full-disk-");
    userDir = path.join(tmp, "userDir");
    // The store's folder is the small disk; flows and settings stay on the real one.
    disk = mountTmpfs(path.join(userDir, "clarus"), DISK_BYTES);
  });

  after(function () {
    disk?.unmount();
    removeDir(tmp);
  });

  context("when the store itself writes (unit level)", function () {
    afterEach(async function () {
      await Promise.all(open.splice(0).map((store) => store.close(false)));
      disk.clear();
    });

    it("should refuse what the disk cannot hold whole, leave no torn record, and take events again once there is room", async function () {
      const store = openStore();
      for (let id = 1; id <= 5; id++) assert.equal(await store.admit(entry(id)), "fresh");
      await store.dedupe.flush();
      disk.fill().freePages(2);
      const keys = Array.from({ length: 40 }, (_, i) => entry(100 + i).key);
      const answers = await Promise.allSettled(
        keys.map((_, i) => store.admit(entry(100 + i, { note: NOTE }))),
      );
      const acknowledgedKeys = keys.filter((_, i) => answers[i].status === "fulfilled");
      const refused = answers.filter((answer) => answer.status === "rejected").map((answer) => answer.reason);
      const onDisk = keysOnDisk(inboxFile());
      assert.deepEqual(
        acknowledgedKeys.filter((key) => !onDisk.has(key)),
        [],
        "acknowledged, but not whole on disk",
      );
      wholeRecords(inboxFile());
      assert.ok(refused.length > 0, "the disk refused nothing: it was not full");
      for (const reason of refused) {
        assert.equal(reason.name, "StoreUnavailableError");
        assert.match(reason.message, /ENOSPC|no space/i);
      }
      disk.free(256 * 1024);
      assert.equal(await store.admit(entry(500, { note: NOTE })), "fresh", "writes work again");
      const records = wholeRecords(inboxFile());
      assert.equal(records.at(-1).put.key, entry(500).key);
    });

    it("should take events into the room reserved ahead on a full disk, refuse them once it fills, and leave nothing torn", async function () {
      const store = openStore({ inbox: { reserveBytes: 64 * 1024 } });
      assert.equal(await store.admit(entry(1)), "fresh");
      await store.dedupe.flush();
      disk.fill();
      const keys = Array.from({ length: 40 }, (_, i) => entry(100 + i).key);
      const answers = [];
      // One at a time, so that each batch is one event: the room takes the first ones whole.
      for (let i = 0; i < keys.length; i++) {
        answers.push(
          await store.admit(entry(100 + i, { note: NOTE })).then(
            () => "fresh",
            (error) => error,
          ),
        );
      }
      const acknowledged = keys.filter((_, i) => answers[i] === "fresh");
      const refused = answers.filter((answer) => answer !== "fresh");
      // 64 KiB of room holds some twenty events of 3 kB; a full disk takes none after them.
      assert.ok(acknowledged.length >= 15, `${acknowledged.length} taken into the room`);
      assert.ok(refused.length > 0, "the disk refused nothing: the room did not fill");
      for (const reason of refused) assert.match(reason.message, /ENOSPC|no space|took none/i);
      const onDisk = keysOnDisk(inboxFile());
      assert.deepEqual(
        acknowledged.filter((key) => !onDisk.has(key)),
        [],
        "acknowledged, but not on disk",
      );
      assert.deepEqual(
        acknowledged,
        keys.slice(0, acknowledged.length),
        "refused only once the room was used up",
      );
      wholeRecords(inboxFile());
      disk.free(256 * 1024);
      assert.equal(await store.admit(entry(500, { note: NOTE })), "fresh", "writes work again");
      assert.equal(wholeRecords(inboxFile()).at(-1).put.key, entry(500).key);
    });

    it("should keep the old inbox whole when a compaction cannot be written", async function () {
      const store = openStore();
      for (let id = 1; id <= 100; id++) await store.admit(entry(id, { note: NOTE }));
      for (let id = 1000; id < 1449; id++) {
        await store.admit(entry(id));
        await store.confirm(entry(id).key);
      }
      await store.dedupe.flush();
      assert.equal(store.inbox.log.records, 998, "one record before a compaction");
      // Room for the next records, not for the 300 kB that a rewrite of the 100 pending entries takes.
      disk.fill().freePages(4);
      await store.admit(entry(2000));
      await store.confirm(entry(2000).key);
      await store.inbox.compaction;
      await store.close(false);
      const reopened = openStore();
      assert.deepEqual(await reopened.inboxCounts(), { pending: 100, dead: 0 });
      assert.equal(wholeRecords(inboxFile()).length, 1000);
      assert.ok(
        store.warnings.some((warning) => /inbox compaction failed: .*(ENOSPC|no space)/i.test(warning)),
        store.warnings.join("\n"),
      );
    });

    it("should not compact away confirmed entries whose dedupe keys could not be written", async function () {
      const first = openStore();
      for (let id = 1; id <= 498; id++) {
        await first.admit(entry(id));
        await first.confirm(entry(id).key);
      }
      // Closing writes every key into the dedupe snapshot and empties its journal.
      await first.close(false);
      padToPageBoundary(inboxFile());
      const store = openStore();
      assert.equal(store.inbox.log.records, 998, "two records before a compaction");
      // One free page: the inbox's next records take it, and the dedupe journal gets none.
      disk.fill().freePages(1);
      assert.equal(await store.admit(entry(900)), "fresh");
      assert.equal(await store.confirm(entry(900).key), true);
      await store.inbox.compaction;
      // The process dies here (it is not closed, which would write the dedupe snapshot): the key of event
      // 900 is in no dedupe file, only in the inbox's records.
      const restarted = openStore();
      assert.equal(
        await restarted.claim(entry(900).key),
        false,
        "Clarus's retry of a confirmed event is a duplicate after the restart",
      );
      assert.ok(
        store.warnings.some((warning) => /inbox compaction failed: .*dedupe/i.test(warning)),
        store.warnings.join("\n"),
      );
    });

    it("should keep dedupe keys the journal could not take and write them, whole, once there is room", async function () {
      const file = path.join(disk.dir, "dedupe-unit");
      const warnings = [];
      const options = { ttlMs: HOUR, capacity: 100_000, file, flushIntervalMs: 60_000 };
      const store = new DedupeStore({ ...options, warn: (message) => warnings.push(message) });
      for (let i = 0; i < 10; i++) store.claim(`key-${i}`);
      await store.flush();
      disk.fill();
      // Some 10 kB of journal: more than the journal's last page has left.
      for (let i = 10; i < 300; i++) store.claim(`key-${i}`);
      const onFullDisk = await store.flush().then(
        () => "flushed",
        (error) => error,
      );
      disk.free(64 * 1024);
      store.claim("key-300");
      await store.flush();
      const reloadWarnings = [];
      const reloaded = new DedupeStore({ ...options, warn: (message) => reloadWarnings.push(message) });
      const missing = Array.from({ length: 301 }, (_, i) => `key-${i}`).filter((key) => !reloaded.has(key));
      await reloaded.close();
      await store.close();
      assert.deepEqual(missing, [], "keys claimed but lost");
      assert.deepEqual(reloadWarnings, [], "the journal holds whole lines only");
      assert.equal(
        onFullDisk.name,
        "StoreUnavailableError",
        "the flush on the full disk reported its failure",
      );
      assert.match(onFullDisk.message, /ENOSPC|no space/i);
    });
  });

  context("when a real Node-RED admits a burst of events (on-confirm)", function () {
    const TAB = "full-disk-tab";
    let port;
    let red;
    let outputs;

    function flow(output) {
      return [
        { id: TAB, type: "tab", label: "full disk" },
        connectionConfig({
          delivery: "on-confirm",
          redeliverSeconds: 300,
          maxAttempts: 10,
          dedupeCapacity: 100_000,
          credentials: { webhookToken: TOKEN },
        }),
        webhookConfig({ z: TAB, x: 140, y: 80, wires: [["to-line"]] }),
        // Nothing confirms: every event admitted stays pending, so a restart must send each one again.
        ...fileRecorder({ id: "to-line", z: TAB, file: output, func: ID_AND_ATTEMPT, x: 320 }),
      ];
    }

    before(async function () {
      linkPackage(userDir, { name: "clarus-full-disk-test" });
      outputs = path.join(tmp, "outputs");
      port = await freePort();
      writeSettings({ userDir, port });
    });

    after(async function () {
      if (red) await red.kill();
      disk.clear();
    });

    it("should lose no event answered 200 while the disk fills, across kill -9 and a restart", async function () {
      const output = path.join(outputs, "ids.txt");
      red = await startNodeRed({ userDir, port });
      await deployFlows(red, flow(output));
      assert.equal((await deliver(port, undefined, 1)).status, 200, "the inbox file exists");
      disk.fill().free(32 * 1024);
      // More than the 1 MiB of room the inbox reserved ahead at its first event: it fills, then 503s.
      const ids = Array.from({ length: 500 }, (_, i) => 1000 + i);
      const answers = await burst(port, ids, 20, undefined, (id) => ({ ...dispatched(id), note: NOTE }));
      const ok = acknowledged(answers);
      const refused = [...answers.values()].filter((answer) => answer.status === 503);
      assert.ok(ok.length > 0 && refused.length > 0, `${ok.length} answered 200, ${refused.length} 503`);
      // Clarus is told only that the store is unavailable; the log names the cause.
      for (const answer of refused) assert.match(answer.body, /the store is unavailable/);
      assert.ok(
        red.lines.some((line) => /ENOSPC/.test(line)),
        "the log names the full disk",
      );
      assert.equal(ok.length + refused.length, ids.length, "every delivery answered 200 or 503");

      await red.kill();
      // Room for the redeliveries' own records; the kill left the inbox as it was.
      disk.free(512 * 1024);
      red = await startNodeRed({ userDir, port });
      const since = 0;
      assert.equal((await deliver(port, undefined, 5000)).status, 200, "the restarted node takes events");
      // Every pending event is sent again at once after the restart, in no promised order with id 5000.
      const resentOf = ({ attempts }) =>
        ok.filter((id) => (attempts.get(id) ?? []).some((attempt) => attempt > 1));
      const done = (o) => o.counts.has(5000) && resentOf(o).length === ok.length;
      const resentOutput = await waitForOutput(output, done, {
        what: "every 200 sent again",
        timeoutMs: 15_000,
      }).catch(() => readOutput(output));
      const lost = ok.filter((id) => !resentOf(resentOutput).includes(id));
      console.log(
        `      full disk: ${ok.length} answered 200, ${refused.length} answered 503, ` +
          `${lost.length} of the 200s lost after kill -9`,
      );
      assert.deepEqual(lost, [], "answered 200, but not sent again after the restart");
      assert.deepEqual(
        red.lines.slice(since).filter((line) => /unreadable record/.test(line)),
        [],
        "no record was torn",
      );
    });
  });
});
