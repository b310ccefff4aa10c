const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const { DedupeStore } = require("../../../../build/nodes/lib/store/file/dedupe-store.js");
const { digestOf } = require("../../../../build/nodes/lib/store/file/digest-index.js");
const { replaySnapshot } = require("../../../../build/nodes/lib/store/file/dedupe-snapshot.js");
const { StoreClosedError } = require("../../../../build/nodes/lib/store/connection-store.js");
const { tempUserDir } = require("../../../helpers/node-red");

const HOUR = 3_600_000;
const JOURNAL_LINE = /^([0-9a-f]{32}) (\d+)$/;
const hex = (key) => Buffer.from(digestOf(key), "latin1").toString("hex", 0, 16);

function clock(start = 1_000_000) {
  const time = { now: start };
  return { now: () => time.now, advance: (ms) => (time.now += ms) };
}

function store(options = {}) {
  const warnings = [];
  const created = new DedupeStore({ ttlMs: HOUR, capacity: 100, warn: (m) => warnings.push(m), ...options });
  created.warnings = warnings;
  return created;
}

describe("DedupeStore", function () {
  const open = [];
  function track(created) {
    open.push(created);
    return created;
  }
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it("should claim a key once and refuse repeats within the window", function () {
    const s = track(store());
    assert.equal(s.claim("a"), true);
    assert.equal(s.claim("a"), false);
    assert.equal(s.claim("b"), true);
    assert.equal(s.size, 2);
  });

  it("should accept a key again once its window has passed, counting from the first claim", function () {
    const time = clock();
    const s = track(store({ now: time.now }));
    assert.equal(s.claim("a"), true);
    time.advance(HOUR - 1);
    assert.equal(s.claim("a"), false, "still inside the window");
    time.advance(1);
    assert.equal(s.claim("a"), true, "window over");
    assert.equal(s.claim("a"), false, "a new window started");
  });

  it("should evict the least recently seen key when full", function () {
    const s = track(store({ capacity: 3 }));
    s.claim("a");
    s.claim("b");
    s.claim("c");
    assert.equal(s.claim("a"), false); // a repeat counts as a sighting: b is now the least recently seen
    s.claim("d");
    assert.equal(s.size, 3);
    assert.equal(s.has("b"), false);
    assert.equal(s.has("a"), true);
    assert.equal(s.has("c"), true);
    assert.equal(s.has("d"), true);
  });

  it("should keep its keys across close and reopen, in recency order", async function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    const first = store({ file, capacity: 3 });
    first.claim("a");
    first.claim("b");
    first.claim("c");
    await first.close();
    const second = track(store({ file, capacity: 3 }));
    assert.equal(second.claim("a"), false);
    assert.equal(second.claim("b"), false);
    second.claim("d"); // c is the least recently seen after the two repeats
    assert.equal(second.has("c"), false);
    assert.deepEqual(second.warnings, []);
  });

  it("should not bring back keys whose window ended while it was closed", async function () {
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    const time = clock();
    const first = store({ file, now: time.now });
    first.claim("old");
    await first.close();
    time.advance(HOUR + 1);
    const second = track(store({ file, now: time.now }));
    assert.equal(second.size, 0);
    assert.equal(second.claim("old"), true);
  });

  it("should write claims to its journal without waiting for close", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const s = track(store({ file, flushIntervalMs: 20 }));
    const claimedAt = Date.now();
    s.claim("x");
    await new Promise((resolve) => s.once("flushed", resolve));
    const [header, line, end] = fs.readFileSync(`${file}.journal`, "utf8").split("\n");
    assert.equal(header, "clarus-dedupe-journal 2");
    assert.equal(end, "");
    const [, digest, expiry] = JOURNAL_LINE.exec(line);
    assert.equal(digest, hex("x"), "the key's digest, not the key");
    const expiresAt = Number(expiry) * 1000;
    assert.ok(expiresAt >= claimedAt + HOUR && expiresAt <= Date.now() + HOUR + 1000, line);
  });

  it("should compact the journal into an atomically replaced snapshot", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const s = track(store({ file, capacity: 1000 }));
    for (let i = 0; i < 1500; i++) s.claim(`k${i}`);
    await s.flush();
    const digests = [];
    const unreadable = replaySnapshot(fs.readFileSync(`${file}.snapshot`), (digest) =>
      digests.push(Buffer.from(digest).toString("hex")),
    );
    assert.equal(unreadable, undefined);
    // The capacity keeps the last 1000 keys; the snapshot lists them from the least recently seen.
    assert.deepEqual(
      digests,
      Array.from({ length: 1000 }, (_, i) => hex(`k${500 + i}`)),
    );
    assert.equal(fs.readFileSync(`${file}.journal`, "utf8"), "");
    assert.deepEqual(
      fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith(".tmp")),
      [],
    );
  });

  it("should start empty with a warning when its snapshot is corrupt", function () {
    const file = path.join(tempUserDir(), "dedupe");
    fs.writeFileSync(`${file}.snapshot`, "CLDS but not a snapshot");
    const s = track(store({ file }));
    assert.equal(s.size, 0);
    assert.match(s.warnings.join("\n"), /unreadable/);
    assert.equal(s.claim("a"), true);
  });

  it("should skip unreadable journal lines and keep the rest", function () {
    const file = path.join(tempUserDir(), "dedupe");
    const future = Date.now() + HOUR;
    fs.writeFileSync(`${file}.journal`, `${JSON.stringify(["good", future])}\ngarbage\n["half`);
    const s = track(store({ file }));
    assert.equal(s.has("good"), true);
    assert.match(s.warnings.join("\n"), /2 unreadable line/);
  });

  it("should fall back to memory with a warning when its directory cannot be created", function () {
    const blocker = path.join(tempUserDir(), "not-a-dir");
    fs.writeFileSync(blocker, "");
    const s = track(store({ file: path.join(blocker, "dedupe") }));
    assert.match(s.warnings.join("\n"), /memory only/);
    assert.equal(s.claim("a"), true);
    assert.equal(s.claim("a"), false);
  });

  it("should delete its files when its connection is removed", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const s = store({ file });
    s.claim("a");
    await s.flush();
    await s.close(true);
    assert.equal(fs.existsSync(`${file}.journal`), false);
    assert.equal(fs.existsSync(`${file}.json`), false);
  });

  it("should lose at most the last flush interval of keys when the process is killed", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    // The child claims 500 keys, waits for them to be flushed, claims 5 more, then is killed at once.
    const script = `
      const { DedupeStore } = require(${JSON.stringify(require.resolve("../../../../build/nodes/lib/store/file/dedupe-store.js"))});
      const s = new DedupeStore({ ttlMs: ${HOUR}, capacity: 10000, file: ${JSON.stringify(file)}, warn: () => {} });
      setInterval(() => {}, 1000); // a running Node-RED keeps the process alive; the store's timer does not
      for (let i = 0; i < 500; i++) s.claim("flushed-" + i);
      s.once("flushed", () => {
        for (let i = 0; i < 5; i++) s.claim("pending-" + i);
        process.kill(process.pid, "SIGKILL");
      });
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: "inherit" });
    const signal = await new Promise((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    assert.equal(signal, "SIGKILL");
    const s = track(store({ file, capacity: 10000 }));
    for (let i = 0; i < 500; i++) assert.equal(s.has(`flushed-${i}`), true, `flushed-${i}`);
    assert.equal(s.size, 500, "only keys younger than the flush interval are lost");
  });

  it("should compact on load a journal torn by a kill, so the next batch survives the next crash", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const future = Date.now() + HOUR;
    // A kill in the middle of a write leaves a partial last line without its newline.
    fs.writeFileSync(
      `${file}.journal`,
      `${JSON.stringify(["k1", future])}\n${JSON.stringify(["k2", future])}\n["k3-torn", 17`,
    );
    // Never closed: the process "crashes" again after this batch is flushed.
    const crashed = store({ file });
    assert.equal(crashed.has("k1"), true);
    assert.equal(crashed.has("k2"), true);
    assert.equal(crashed.claim("k4"), true);
    await crashed.flush();
    const reopened = track(store({ file }));
    assert.equal(reopened.has("k4"), true, "the batch after the torn line was lost");
    assert.equal(reopened.claim("k4"), false);
    assert.equal(reopened.has("k1"), true);
    assert.ok(
      fs
        .readFileSync(`${file}.journal`, "utf8")
        .split("\n")
        .every((line) => line === "" || line === "clarus-dedupe-journal 2" || JOURNAL_LINE.test(line)),
    );
  });

  it("should refuse claims once closed, so nothing is claimed that is never journaled", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const s = store({ file });
    assert.equal(s.claim("before"), true);
    await s.close();
    assert.throws(() => s.claim("after-close"), StoreClosedError);
    const reopened = track(store({ file }));
    assert.equal(reopened.has("before"), true);
    assert.equal(reopened.claim("after-close"), true, "a refused claim must not count as seen");
  });

  it("should replay a released claim as gone after a restart", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const s = store({ file, flushIntervalMs: 5 });
    s.claim("kept");
    s.claim("released");
    s.release("released");
    await s.flush();
    const reopened = track(store({ file }));
    assert.equal(reopened.has("kept"), true);
    assert.equal(reopened.has("released"), false);
  });

  it("should answer as a Map of expiries does, across restarts, each window kept to the second it ends in", async function () {
    // The model: key → the end of its window, rounded up to the whole second (the index keeps seconds).
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    const ttlMs = 10 * 60_000;
    const time = clock(Date.UTC(2026, 11, 1) + 123);
    const model = new Map();
    let seed = 42;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const options = { file, ttlMs, capacity: 10_000, now: time.now, flushIntervalMs: 60_000 };
    let s = store(options);
    for (let step = 0; step < 20_000; step++) {
      const key = `goods_out.completed:${Math.floor(random() * 500)}`;
      const what = random();
      const held = (model.get(key) ?? 0) > time.now();
      if (what < 0.5) {
        const fresh = s.claim(key);
        assert.equal(fresh, !held, `claim ${key} at step ${step}`);
        if (fresh) {
          const end = Math.ceil((time.now() + ttlMs) / 1000) * 1000;
          assert.ok(end >= time.now() + ttlMs && end < time.now() + ttlMs + 1000);
          model.set(key, end);
        }
      } else if (what < 0.6) {
        s.release(key);
        model.delete(key);
      } else if (what < 0.9) {
        assert.equal(s.has(key), held, `has ${key} at step ${step}`);
      } else if (what < 0.998) {
        time.advance(Math.floor(random() * 20_000));
      } else {
        // A restart: sometimes closed (the snapshot), sometimes only flushed (the journal), as after a crash.
        const crashed = random() < 0.5;
        if (crashed) await s.flush();
        else await s.close();
        const previous = s;
        s = store(options);
        if (crashed) await previous.close(); // only now: its last compaction holds what s has read
        assert.deepEqual(s.warnings, []);
      }
    }
    for (const [key, end] of model) assert.equal(s.has(key), end > time.now(), key);
    await s.close();
  });

  it("should hold 1,000,000 keys and find every one after restarts from its snapshot and its journal", async function () {
    this.timeout(120_000);
    const file = path.join(tempUserDir(), "clarus", "dedupe-conn");
    const keys = 1_000_000;
    const first = store({ file, capacity: keys });
    for (let i = 0; i < keys; i++) first.claim(`goods_out.completed:${i}`);
    await first.close();
    const second = store({ file, capacity: keys });
    assert.equal(second.size, keys);
    for (let i = 0; i < 1000; i++) assert.equal(second.claim(`goods_in.completed:${i}`), true);
    await second.flush();
    // Not closed: the third store reads the snapshot and the journal after it, as after a crash.
    const third = track(store({ file, capacity: keys }));
    await second.close();
    assert.deepEqual(third.warnings, []);
    assert.equal(third.size, keys);
    let missing = 0;
    for (let i = 1000; i < keys; i++) if (!third.has(`goods_out.completed:${i}`)) missing++;
    for (let i = 0; i < 1000; i++) if (!third.has(`goods_in.completed:${i}`)) missing++;
    assert.equal(missing, 0);
    // The 1000 journaled claims took the place of the 1000 oldest keys.
    assert.equal(third.has("goods_out.completed:999"), false);
    assert.ok(third.indexBytes / keys < 64, `${third.indexBytes / keys} bytes a key`);
  });

  it("should repair a format-2 journal torn by a kill, and keep every whole line", async function () {
    const file = path.join(tempUserDir(), "dedupe");
    const s = store({ file, flushIntervalMs: 5 });
    for (let i = 0; i < 10; i++) s.claim(`k${i}`);
    await s.flush();
    const whole = fs.readFileSync(`${file}.journal`);
    fs.writeFileSync(`${file}.journal`, Buffer.concat([whole, Buffer.from(`${hex("torn")} 17`)]));
    const crashed = store({ file });
    for (let i = 0; i < 10; i++) assert.equal(crashed.has(`k${i}`), true, `k${i}`);
    assert.equal(crashed.has("torn"), false, "a partial line is no claim");
    assert.equal(crashed.claim("after"), true);
    await crashed.flush();
    const reopened = track(store({ file }));
    assert.equal(reopened.has("after"), true);
    assert.equal(reopened.has("k9"), true);
    assert.deepEqual(reopened.warnings, []);
    await crashed.close();
    await s.close();
  });

  it("should bound its capacity at 10,000,000 keys and allocate nothing for them up front", async function () {
    // A child with --expose-gc measures the heap and array buffers a store of the largest capacity takes at once.
    const script = `
      const { DedupeStore } = require(${JSON.stringify(require.resolve("../../../../build/nodes/lib/store/file/dedupe-store.js"))});
      const used = () => { global.gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
      const before = used();
      const s = new DedupeStore({ ttlMs: 60000, capacity: 100000000, warn: () => {} });
      const grown = used() - before;
      for (let i = 0; i < 1000; i++) s.claim("k" + i);
      console.log(JSON.stringify({ capacity: s.capacity, grown, size: s.size }));
    `;
    const child = spawn(process.execPath, ["--expose-gc", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(code, 0);
    const measured = JSON.parse(output);
    assert.equal(measured.capacity, 10_000_000);
    assert.equal(measured.size, 1000);
    assert.ok(measured.grown < 4 * 1024 * 1024, `a fresh store took ${measured.grown} bytes`);
  });
});
