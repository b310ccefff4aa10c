import { instantMs } from "../instant";

/**
 * Records a poll stream has seen but that were not yet in the state its event needs (a dispatch task
 * completed before its order; an overdue open order): kept in the poll state and read again on each
 * run until they are, so no event is lost for completing late. Bounded: at most
 * `limit` entries, each dropped after `maxAgeMs` without being seen.
 *
 * Entries are `<key>:<value>` (e.g. `id:1042`, `reference:SO-7`) with the time last seen.
 */
export const PENDING_LIMIT = 1000;
export const PENDING_MAX_AGE_MS = 7 * 24 * 3_600_000;

export class PendingRecords {
  private readonly entries: Map<string, string>;
  private dropped = 0;

  constructor(
    saved: unknown,
    private readonly limit = PENDING_LIMIT,
    private readonly maxAgeMs = PENDING_MAX_AGE_MS,
  ) {
    this.entries = new Map();
    if (typeof saved !== "object" || saved === null || Array.isArray(saved)) return;
    for (const [entry, seen] of Object.entries(saved)) {
      if (typeof seen === "string" && entry.includes(":")) this.entries.set(entry, seen);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The values kept under `key`, e.g. every pending id. */
  values(key: string): string[] {
    const prefix = `${key}:`;
    return [...this.entries.keys()].filter((e) => e.startsWith(prefix)).map((e) => e.slice(prefix.length));
  }

  /** Adds the record, or marks it seen again; the oldest entry goes when the limit is reached. */
  touch(key: string, value: string, seenAt: string): void {
    const entry = `${key}:${value}`;
    this.entries.delete(entry);
    this.entries.set(entry, seenAt);
    if (this.entries.size > this.limit) {
      // By instant: the times may be spelt with different offsets, which sort wrongly as text.
      const oldest = [...this.entries].sort((a, b) => seenMs(a[1]) - seenMs(b[1]))[0];
      if (oldest) this.entries.delete(oldest[0]);
      this.dropped++;
    }
  }

  remove(key: string, value: string): void {
    this.entries.delete(`${key}:${value}`);
  }

  /**
   * Drops entries not seen for `maxAgeMs` and entries of keys other than `key`; returns how many went,
   * counting those dropped for the limit since the last call.
   */
  prune(now: number, key: string | undefined): number {
    let dropped = this.dropped;
    this.dropped = 0;
    for (const [entry, seen] of this.entries) {
      const seenAt = instantMs(seen);
      const stale = seenAt === undefined || now - seenAt > this.maxAgeMs;
      const otherKey = key !== undefined && !entry.startsWith(`${key}:`);
      if (stale || otherKey) {
        this.entries.delete(entry);
        dropped++;
      }
    }
    return dropped;
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.entries);
  }
}

/** An entry's time seen as epoch ms; one that is no time sorts first, so it goes first. */
function seenMs(seen: string): number {
  return instantMs(seen) ?? Number.MIN_SAFE_INTEGER;
}
