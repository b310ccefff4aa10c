import crypto from "node:crypto";

/** Bytes of a key's digest in the index and in the files. */
export const DIGEST_BYTES = 16;

/**
 * A key's digest: its first 16 bytes, as a one-byte ("latin1") string (what `digestOf` returns, without a
 * buffer to allocate) or as bytes (what the files hold).
 */
export type Digest = string | Uint8Array;

/** The smallest number of entries the index makes room for at once. */
const INITIAL_SLOTS = 1024;
const NONE = -1;

/**
 * A set of 16-byte key digests, each with an expiry (whole seconds since the epoch), in least-recently-seen
 * order and bounded by `capacity`: the least recently seen entry goes first when a new one would not fit.
 *
 * Everything lives in typed arrays, 28 bytes an entry (digest 16, expiry 4, the two links of the recency
 * list 8) plus 4 to 8 bytes of hash table (open addressing, linear probing, at most half full), so the heap
 * holds no object per key and the garbage collector has nothing to walk. The arrays grow by doubling up to
 * `capacity` entries and never shrink; a free entry is reused before they grow.
 *
 * Digests are read as four little-endian 32-bit words. The first word places the entry in the hash table:
 * a digest is uniformly distributed already, so it needs no further hashing.
 */
export class DigestIndex {
  readonly capacity: number;
  /** Entries that can be held before the arrays grow. */
  private slots = 0;
  private digests = new Uint32Array(0);
  /** Expiry in seconds; 0 marks a free entry. */
  private expiries = new Uint32Array(0);
  /** The recency list (towards the oldest and the newest entry); `next` also chains the free entries. */
  private older = new Int32Array(0);
  private newer = new Int32Array(0);
  /** Entry number + 1 at each position; 0 is an empty position. */
  private table = new Int32Array(0);
  private mask = 0;
  private oldest = NONE;
  private newest = NONE;
  private firstFree = NONE;
  /** Entries never used yet, from this number up (the free chain holds the ones given back). */
  private unused = 0;
  private count = 0;
  /** The digest being looked up, as its four words. */
  private readonly probe = new Uint32Array(4);

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.resize(Math.min(this.capacity, INITIAL_SLOTS));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes the arrays take now: what the index costs in memory, whatever it holds. */
  get allocatedBytes(): number {
    return (
      this.digests.byteLength +
      this.expiries.byteLength +
      this.older.byteLength +
      this.newer.byteLength +
      this.table.byteLength
    );
  }

  /**
   * Makes room for `entries` at once (never past the capacity): a load that knows how many it brings grows the
   * arrays and rebuilds the hash table once instead of at every doubling.
   */
  reserve(entries: number): void {
    const wanted = Math.min(this.capacity, Math.floor(entries));
    if (wanted > this.slots) this.resize(wanted);
  }

  /** The digest's expiry in seconds, 0 when it is not held; does not count as a sighting. */
  peek(digest: Digest): number {
    const entry = this.find(digest);
    return entry === NONE ? 0 : this.expiries[entry];
  }

  /** Like `peek`, and a digest that is held becomes the most recently seen. */
  get(digest: Digest): number {
    const entry = this.find(digest);
    if (entry === NONE) return 0;
    this.touch(entry);
    return this.expiries[entry];
  }

  /**
   * Holds the digest until `expiry` (seconds, > 0) as the most recently seen entry, adding it when it is new;
   * at capacity the least recently seen entry makes room.
   */
  set(digest: Digest, expiry: number): void {
    const found = this.find(digest);
    if (found !== NONE) {
      this.expiries[found] = expiry;
      this.touch(found);
      return;
    }
    if (this.count >= this.capacity) this.removeEntry(this.oldest);
    if (this.count >= this.slots) this.resize(Math.min(this.capacity, this.slots * 2));
    const entry = this.allocate();
    // find() left the digest's words in the probe.
    this.digests.set(this.probe, entry * 4);
    this.expiries[entry] = expiry;
    this.append(entry);
    this.place(entry);
    this.count++;
  }

  /** Forgets the digest; false when it was not held. */
  delete(digest: Digest): boolean {
    const entry = this.find(digest);
    if (entry === NONE) return false;
    this.removeEntry(entry);
    return true;
  }

  /** Forgets every entry whose expiry is at or before `nowSeconds`; returns how many went. */
  sweep(nowSeconds: number): number {
    let removed = 0;
    // In the order of the arrays, not of the recency list: one pass over memory, some 10 ms at 10M entries.
    for (let entry = 0; entry < this.unused; entry++) {
      const expiry = this.expiries[entry];
      if (expiry !== 0 && expiry <= nowSeconds) {
        this.removeEntry(entry);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Calls `visit` for each entry from the least to the most recently seen, with its digest's four words (the
   * first 4 of `words`, reused from call to call; little-endian words of the digest's bytes) and its expiry.
   * The index must not change during the walk.
   */
  forEachOldestFirst(visit: (words: Uint32Array, expiry: number) => void): void {
    const words = new Uint32Array(4);
    for (let entry = this.oldest; entry !== NONE; entry = this.newer[entry]) {
      const base = entry * 4;
      words[0] = this.digests[base];
      words[1] = this.digests[base + 1];
      words[2] = this.digests[base + 2];
      words[3] = this.digests[base + 3];
      visit(words, this.expiries[entry]);
    }
  }

  /** The entry holding the digest, or NONE; either way the probe holds the digest's words afterwards. */
  private find(digest: Digest): number {
    const probe = this.probe;
    if (typeof digest === "string") {
      for (let i = 0; i < 4; i++) probe[i] = charWord(digest, i * 4);
    } else {
      for (let i = 0; i < 4; i++) probe[i] = byteWord(digest, i * 4);
    }
    const w0 = probe[0];
    const w1 = probe[1];
    const w2 = probe[2];
    const w3 = probe[3];
    for (let position = w0 & this.mask; ; position = (position + 1) & this.mask) {
      const held = this.table[position];
      if (held === 0) return NONE;
      const entry = held - 1;
      const base = entry * 4;
      if (
        this.digests[base] === w0 &&
        this.digests[base + 1] === w1 &&
        this.digests[base + 2] === w2 &&
        this.digests[base + 3] === w3
      )
        return entry;
    }
  }

  private place(entry: number): void {
    let position = this.digests[entry * 4] & this.mask;
    while (this.table[position] !== 0) position = (position + 1) & this.mask;
    this.table[position] = entry + 1;
  }

  private removeEntry(entry: number): void {
    this.unplace(entry);
    this.unlink(entry);
    this.expiries[entry] = 0;
    this.newer[entry] = this.firstFree;
    this.firstFree = entry;
    this.count--;
  }

  /** Empties the entry's position, moving later entries of its probe run back so every lookup still finds them. */
  private unplace(entry: number): void {
    let hole = this.digests[entry * 4] & this.mask;
    while (this.table[hole] !== entry + 1) hole = (hole + 1) & this.mask;
    for (let position = (hole + 1) & this.mask; ; position = (position + 1) & this.mask) {
      const held = this.table[position];
      if (held === 0) break;
      const home = this.digests[(held - 1) * 4] & this.mask;
      // The held entry may move into the hole unless its home lies cyclically in (hole, position].
      const stays = hole <= position ? home > hole && home <= position : home > hole || home <= position;
      if (stays) continue;
      this.table[hole] = held;
      hole = position;
    }
    this.table[hole] = 0;
  }

  private allocate(): number {
    if (this.firstFree !== NONE) {
      const entry = this.firstFree;
      this.firstFree = this.newer[entry];
      return entry;
    }
    return this.unused++;
  }

  private append(entry: number): void {
    this.older[entry] = this.newest;
    this.newer[entry] = NONE;
    if (this.newest !== NONE) this.newer[this.newest] = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlink(entry: number): void {
    const older = this.older[entry];
    const newer = this.newer[entry];
    if (older !== NONE) this.newer[older] = newer;
    else this.oldest = newer;
    if (newer !== NONE) this.older[newer] = older;
    else this.newest = older;
  }

  private touch(entry: number): void {
    if (entry === this.newest) return;
    this.unlink(entry);
    this.append(entry);
  }

  /** Makes room for `slots` entries: entries keep their numbers, the hash table is rebuilt when it must grow. */
  private resize(slots: number): void {
    this.digests = grown(this.digests, slots * 4, Uint32Array);
    this.expiries = grown(this.expiries, slots, Uint32Array);
    this.older = grown(this.older, slots, Int32Array);
    this.newer = grown(this.newer, slots, Int32Array);
    this.slots = slots;
    // At most half full, so a probe run stays short.
    let tableSize = 1;
    while (tableSize < slots * 2) tableSize *= 2;
    if (tableSize === this.table.length) return;
    this.table = new Int32Array(tableSize);
    this.mask = tableSize - 1;
    for (let entry = this.oldest; entry !== NONE; entry = this.newer[entry]) this.place(entry);
  }
}

function byteWord(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0
  );
}

function charWord(chars: string, offset: number): number {
  return (
    (chars.charCodeAt(offset) |
      (chars.charCodeAt(offset + 1) << 8) |
      (chars.charCodeAt(offset + 2) << 16) |
      (chars.charCodeAt(offset + 3) << 24)) >>>
    0
  );
}

function grown<T extends Uint32Array | Int32Array>(
  array: T,
  length: number,
  Type: new (length: number) => T,
): T {
  if (array.length === length) return array;
  const next = new Type(length);
  next.set(array.subarray(0, Math.min(array.length, length)));
  return next;
}

/**
 * The index's digest of a dedupe key: the first 16 bytes of the SHA-256 of its UTF-8 bytes (of the 32 the
 * returned one-byte string holds). Stable across processes and versions: the files hold digests, not keys.
 */
export const digestOf: (key: string) => string =
  // crypto.hash (Node 20.12+) is the one-shot form; a string result spares a buffer allocation, which costs
  // more than the hash itself (some 0.3 against 0.8 µs a key).
  typeof crypto.hash === "function"
    ? (key) => crypto.hash("sha256", key, "binary")
    : (key) => crypto.createHash("sha256").update(key).digest("binary");
