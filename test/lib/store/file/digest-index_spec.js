// The digest index against a plain Map kept in least-recently-seen order (a Map iterates in insertion order):
// random operations from a seeded generator, the same answers, the same size and the same eviction order.
const assert = require("node:assert/strict");
const { createHash } = require("node:crypto");

const { DigestIndex, digestOf } = require("../../../../build/nodes/lib/store/file/digest-index.js");

/** mulberry32: a small seeded generator, so a failure can be replayed from its seed. */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The model: digest (hex) → expiry, oldest first; at capacity the first one goes. */
class MapModel {
  constructor(capacity) {
    this.capacity = capacity;
    this.map = new Map();
  }
  peek(id) {
    return this.map.get(id) ?? 0;
  }
  get(id) {
    const expiry = this.map.get(id);
    if (expiry === undefined) return 0;
    this.map.delete(id);
    this.map.set(id, expiry);
    return expiry;
  }
  set(id, expiry) {
    if (this.map.has(id)) this.map.delete(id);
    else if (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value);
    this.map.set(id, expiry);
  }
  delete(id) {
    return this.map.delete(id);
  }
  sweep(now) {
    let removed = 0;
    for (const [id, expiry] of this.map) if (expiry <= now && this.map.delete(id)) removed++;
    return removed;
  }
}

function order(index) {
  const ids = [];
  index.forEachOldestFirst((words, expiry) => {
    const digest = Buffer.alloc(16);
    for (let i = 0; i < 4; i++) digest.writeUInt32LE(words[i], i * 4);
    ids.push([digest.toString("hex"), expiry]);
  });
  return ids;
}

/**
 * Runs `steps` random operations on both. Digests are drawn from a pool a few times the capacity, so keys
 * come back after they were evicted; `shared` digests share their first word (the hash table's position),
 * so probe runs form and deletions must move entries back along them.
 */
function compare({ seed, capacity, pool, steps, shared = 0 }) {
  const random = generator(seed);
  const digests = Array.from({ length: pool }, (_, i) => {
    const digest = createHash("sha256").update(`key-${seed}-${i}`).digest().subarray(0, 16);
    if (i < shared) digest.writeUInt32LE(0x5eed, 0);
    return digest;
  });
  const index = new DigestIndex(capacity);
  const model = new MapModel(capacity);
  let now = 1000;
  for (let step = 0; step < steps; step++) {
    const i = Math.floor(random() * pool);
    // Either form a digest comes in: bytes (from the files) or a one-byte string (digestOf).
    const digest = random() < 0.5 ? digests[i] : digests[i].toString("latin1");
    const id = digests[i].toString("hex");
    const what = random();
    const context = `seed ${seed}, step ${step}`;
    if (what < 0.35) {
      const expiry = now + 1 + Math.floor(random() * 100);
      index.set(digest, expiry);
      model.set(id, expiry);
    } else if (what < 0.55) assert.equal(index.get(digest), model.get(id), `get, ${context}`);
    else if (what < 0.8) assert.equal(index.peek(digest), model.peek(id), `peek, ${context}`);
    else if (what < 0.97) assert.equal(index.delete(digest), model.delete(id), `delete, ${context}`);
    else {
      now += Math.floor(random() * 30);
      assert.equal(index.sweep(now), model.sweep(now), `sweep, ${context}`);
    }
    assert.equal(index.size, model.map.size, `size, ${context}`);
    if (step % 997 === 0) assert.deepEqual(order(index), [...model.map], `order, ${context}`);
  }
  assert.deepEqual(order(index), [...model.map]);
  for (const digest of digests) assert.equal(index.peek(digest), model.peek(digest.toString("hex")));
}

describe("DigestIndex", function () {
  it("should answer as a Map in recency order does, under random operations at a small capacity", function () {
    for (const seed of [1, 2, 3, 4, 5]) compare({ seed, capacity: 50, pool: 200, steps: 20_000 });
  });

  it("should stay exact while it grows from its first arrays to a capacity past them", function () {
    compare({ seed: 7, capacity: 5000, pool: 12_000, steps: 60_000 });
  });

  it("should stay exact where many digests share a hash-table position", function () {
    compare({ seed: 11, capacity: 300, pool: 600, steps: 40_000, shared: 120 });
  });

  it("should hold 1,000,000 keys at under 64 bytes a key, and evict the oldest first", function () {
    this.timeout(60_000);
    const keys = 1_000_000;
    const index = new DigestIndex(keys);
    for (let i = 0; i < keys; i++) index.set(digestOf(`goods_out.completed:${i}`), 2_000_000_000 + i);
    assert.equal(index.size, keys);
    assert.ok(index.allocatedBytes / keys < 64, `${index.allocatedBytes / keys} bytes a key`);
    for (let i = 0; i < keys; i += 997)
      assert.equal(index.peek(digestOf(`goods_out.completed:${i}`)), 2_000_000_000 + i, `key ${i}`);
    assert.equal(index.peek(digestOf("goods_out.completed:never")), 0);
    index.get(digestOf("goods_out.completed:0")); // seen again: no longer the oldest
    index.set(digestOf("one more"), 3_000_000_000);
    assert.equal(index.size, keys);
    assert.equal(index.peek(digestOf("goods_out.completed:1")), 0, "the least recently seen went");
    assert.notEqual(index.peek(digestOf("goods_out.completed:0")), 0);
  });

  it("should take the first 16 bytes of SHA-256 of the key's UTF-8 as its digest", function () {
    const key = "goods_in.completed:Müller/ß→1";
    const expected = createHash("sha256").update(Buffer.from(key, "utf8")).digest();
    assert.deepEqual(Buffer.from(digestOf(key), "latin1").subarray(0, 16), expected.subarray(0, 16));
  });
});
