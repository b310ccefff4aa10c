// The dedupe store's files: every earlier format still loads (the fixtures were written by that version's own
// code, test/fixtures/dedupe/README.md), is rewritten in the current format at once, and a format this version
// does not know is a warning, never a crash.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { DedupeStore } = require("../../../../build/nodes/lib/store/file/dedupe-store.js");
const { tempUserDir } = require("../../../helpers/node-red");

const HOUR = 3_600_000;
const FIXTURES = path.join(__dirname, "..", "..", "..", "fixtures", "dedupe");
// The fixtures' clock: the first session claimed at T0 for 72 h, the second at T0 + 1 h for 1 h.
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const OLDEST_FIRST = [
  "goods_out.completed:1002",
  "goods_out.completed:1003",
  "goods_out.completed:1004",
  "goods_out.completed:1005",
  "goods_in.completed:Müller/ß→1",
  "goods_out.completed:1001",
  "goods_out.completed:1006",
  "goods_out.completed:1007",
];

/** A copy of a fixture folder in a fresh user directory: the base path of its store's files. */
function copyFixture(name) {
  const directory = path.join(tempUserDir(), "clarus");
  fs.mkdirSync(directory, { recursive: true });
  for (const file of fs.readdirSync(path.join(FIXTURES, name)))
    fs.copyFileSync(path.join(FIXTURES, name, file), path.join(directory, file));
  return path.join(directory, "dedupe-conn");
}

function open(file, time, capacity = 100) {
  const warnings = [];
  const store = new DedupeStore({
    ttlMs: 72 * HOUR,
    capacity,
    file,
    now: () => time.now,
    warn: (message) => warnings.push(message),
  });
  store.warnings = warnings;
  return store;
}

describe("DedupeStore files", function () {
  const opened = [];
  const track = (store) => (opened.push(store), store);
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  for (const fixture of ["0.1", "json-1", "index-2"]) {
    context(`written by ${fixture}`, function () {
      it("should hold every key it held, with its expiry", async function () {
        const time = { now: T0 + 90 * 60_000 };
        const store = track(open(copyFixture(fixture), time));
        assert.deepEqual(store.warnings, []);
        assert.equal(store.size, OLDEST_FIRST.length);
        for (const key of OLDEST_FIRST) assert.equal(store.has(key), true, key);
        assert.equal(store.has("goods_out.completed:1008"), false, "released (or never claimed)");
        time.now = T0 + 2 * HOUR - 1;
        assert.equal(store.has("goods_out.completed:1007"), true, "claimed for 1 h at T0 + 1 h");
        time.now = T0 + 2 * HOUR;
        assert.equal(store.has("goods_out.completed:1006"), false);
        assert.equal(store.claim("goods_out.completed:1007"), true, "its window is over");
        time.now = T0 + 72 * HOUR - 1;
        assert.equal(store.has("goods_out.completed:1001"), true);
        time.now = T0 + 72 * HOUR;
        assert.equal(store.has("goods_out.completed:1001"), false);
      });

      it("should keep its least-recently-seen order", function () {
        const time = { now: T0 + 90 * 60_000 };
        const store = track(open(copyFixture(fixture), time, OLDEST_FIRST.length));
        // Each fresh key makes room by evicting the least recently seen, in the order the files recorded.
        for (let i = 0; i < OLDEST_FIRST.length; i++) {
          assert.equal(store.claim(`fresh:${i}`), true);
          assert.deepEqual(
            OLDEST_FIRST.filter((key) => store.has(key)),
            OLDEST_FIRST.slice(i + 1),
          );
        }
      });

      it("should be rewritten in the current format and load the same from it", async function () {
        const file = copyFixture(fixture);
        const time = { now: T0 + 90 * 60_000 };
        const first = open(file, time);
        await first.flush();
        assert.equal(fs.existsSync(`${file}.json`), false, "the format-1 snapshot is gone");
        assert.equal(fs.readFileSync(`${file}.snapshot`).toString("latin1", 0, 4), "CLDS");
        const journal = fs.readFileSync(`${file}.journal`, "utf8");
        if (fixture === "index-2") assert.match(journal, /^clarus-dedupe-journal 2\n/);
        else assert.equal(journal, "", "the journal was compacted into the snapshot");
        first.claim("after-the-rewrite");
        await first.close();
        const second = track(open(file, time));
        assert.deepEqual(second.warnings, []);
        for (const key of [...OLDEST_FIRST, "after-the-rewrite"]) assert.equal(second.has(key), true, key);
        assert.equal(second.has("goods_out.completed:1008"), false);
      });
    });
  }

  it("should read a format-1 journal appended to in format 2 (a conversion the disk refused)", function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const formatOne = fs.readFileSync(path.join(FIXTURES, "json-1", "dedupe-conn.journal"), "utf8");
    const formatTwo = fs
      .readFileSync(path.join(FIXTURES, "index-2", "dedupe-conn.journal"), "utf8")
      .split("\n")
      .slice(1, 2)
      .join("\n");
    fs.writeFileSync(`${file}.journal`, `${formatOne}${formatTwo}\n`);
    const store = track(open(file, { now: T0 + 90 * 60_000 }));
    assert.deepEqual(store.warnings, []);
    assert.equal(store.has("goods_out.completed:1006"), true);
    assert.equal(store.has("goods_out.completed:1007"), true);
    assert.equal(store.has("goods_out.completed:1008"), false);
  });

  it("should read the newer snapshot when an earlier version wrote one after this one", function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, "index-2", "dedupe-conn.snapshot"), `${file}.snapshot`);
    const later = T0 + 24 * HOUR;
    fs.writeFileSync(
      `${file}.json`,
      JSON.stringify({ version: 1, entries: [["written-by-an-earlier-version", later + HOUR]] }),
    );
    fs.utimesSync(`${file}.snapshot`, new Date(T0), new Date(T0));
    fs.utimesSync(`${file}.json`, new Date(later), new Date(later));
    const store = track(open(file, { now: later }));
    assert.equal(store.has("written-by-an-earlier-version"), true);
    assert.equal(store.has("goods_out.completed:1001"), false, "the older snapshot is not read");
  });

  it("should start empty with a warning when a format-1 snapshot is corrupt", function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.json`, "{ not json");
    const store = track(open(file, { now: T0 }));
    assert.equal(store.size, 0);
    assert.match(store.warnings.join("\n"), /dedupe-conn\.json was unreadable/);
    assert.equal(store.claim("a"), true);
  });

  it("should warn about, and not read, files of a format newer than it knows", async function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const snapshot = fs.readFileSync(path.join(FIXTURES, "index-2", "dedupe-conn.snapshot"));
    snapshot.writeUInt16LE(3, 4);
    fs.writeFileSync(`${file}.snapshot`, snapshot);
    fs.writeFileSync(`${file}.journal`, "clarus-dedupe-journal 3\nwhatever format 3 holds\n");
    const store = track(open(file, { now: T0 }));
    assert.equal(store.size, 0);
    assert.match(store.warnings.join("\n"), /snapshot dedupe-conn\.snapshot was unreadable \(format 3/);
    assert.match(store.warnings.join("\n"), /journal dedupe-conn\.journal is of format 3/);
    assert.equal(store.claim("a"), true);
    await store.flush();
    assert.match(fs.readFileSync(`${file}.journal`, "utf8"), /^clarus-dedupe-journal 2\n[0-9a-f]{32} \d+\n$/);
  });

  it("should refuse a snapshot whose length does not match its header (a file cut short)", function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const snapshot = fs.readFileSync(path.join(FIXTURES, "index-2", "dedupe-conn.snapshot"));
    fs.writeFileSync(`${file}.snapshot`, snapshot.subarray(0, snapshot.length - 7));
    const store = track(open(file, { now: T0 }));
    assert.equal(store.size, 0);
    assert.match(store.warnings.join("\n"), /length does not match its header/);
  });
});
