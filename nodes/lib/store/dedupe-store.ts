import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";

import { LRUCache } from "lru-cache";

import { errorMessage } from "../node-red/errors";
import { readTextIfExists, writeFileAtomic } from "./json-file";

export interface DedupeStoreOptions {
  /** How long a key counts as seen (DESIGN.md `dedupeHours`). */
  ttlMs: number;
  /** Most keys kept; the least recently seen goes first (DESIGN.md `dedupeCapacity`). */
  capacity: number;
  /** Base path of the store's files; undefined keeps the store in memory only. */
  file?: string;
  /** How long a claimed key may wait before it is on disk: the most a crash can lose. */
  flushIntervalMs?: number;
  warn: (message: string) => void;
  now?: () => number;
}

interface Snapshot {
  version: 1;
  entries: [string, number][];
}

const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const MIN_JOURNAL_LINES_BEFORE_COMPACTION = 1000;

/**
 * The keys of events already let into the flow. Claims are synchronous (no await between check and set),
 * so two concurrent deliveries of one event can never both win. Keys are kept in an LRU bounded by
 * `capacity`; each carries its expiry. On disk: an append-only journal written at most every
 * `flushIntervalMs`, compacted into an atomically replaced snapshot.
 */
export class DedupeStore extends EventEmitter {
  private readonly cache: LRUCache<string, number>;
  private readonly ttlMs: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly flushIntervalMs: number;
  private readonly snapshotFile?: string;
  private readonly journalFile?: string;
  private pending: string[] = [];
  private journalLines = 0;
  private flushTimer?: NodeJS.Timeout;
  private writes: Promise<void> = Promise.resolve();
  private writeFailed = false;
  private closed = false;

  constructor(options: DedupeStoreOptions) {
    super();
    this.ttlMs = options.ttlMs;
    this.capacity = options.capacity;
    this.now = options.now ?? Date.now;
    this.warn = options.warn;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.cache = new LRUCache<string, number>({ max: options.capacity });
    if (options.file && this.prepareDirectory(options.file)) {
      this.snapshotFile = `${options.file}.json`;
      this.journalFile = `${options.file}.journal`;
      this.load();
    }
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * True the first time a key is seen within the window, false for a repeat. A repeat counts as a
   * sighting, so a key that keeps arriving is the last to be evicted; its window still runs from the
   * first claim.
   */
  claim(key: string): boolean {
    const now = this.now();
    const expiresAt = this.cache.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    const newExpiry = now + this.ttlMs;
    this.cache.set(key, newExpiry);
    this.journal(key, newExpiry);
    return true;
  }

  has(key: string): boolean {
    const expiresAt = this.cache.peek(key);
    return expiresAt !== undefined && expiresAt > this.now();
  }

  /** Resolves once every claim made so far is on disk. */
  async flush(): Promise<void> {
    this.writePending();
    await this.writes;
  }

  /** Writes everything and stops; with `removeFiles` the store's files are deleted (connection removed). */
  async close(removeFiles = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (removeFiles) {
      this.pending = [];
      await this.writes;
      for (const file of [this.snapshotFile, this.journalFile]) {
        if (file) await fs.promises.rm(file, { force: true });
      }
      return;
    }
    this.pending = [];
    this.enqueue(() => this.compact());
    await this.writes;
  }

  private prepareDirectory(file: string): boolean {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      return true;
    } catch (error) {
      this.warn(
        `dedupe store kept in memory only: cannot create ${path.dirname(file)} (${errorMessage(error)})`,
      );
      return false;
    }
  }

  private journal(key: string, expiresAt: number): void {
    if (!this.journalFile || this.closed) return;
    this.pending.push(JSON.stringify([key, expiresAt]));
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.writePending();
      }, this.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  private writePending(): void {
    if (!this.journalFile || this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    const journalFile = this.journalFile;
    this.enqueue(async () => {
      await fs.promises.appendFile(journalFile, lines.join("\n") + "\n");
      this.journalLines += lines.length;
      if (this.journalLines > Math.max(this.capacity, MIN_JOURNAL_LINES_BEFORE_COMPACTION))
        await this.compact();
      this.emit("flushed", lines.length);
    });
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).then(
      () => {
        if (this.writeFailed) this.warn("dedupe store writes work again");
        this.writeFailed = false;
      },
      (error: unknown) => {
        if (!this.writeFailed) this.warn(`dedupe store could not be written: ${errorMessage(error)}`);
        this.writeFailed = true;
      },
    );
  }

  /** Replaces the snapshot atomically (temp file + rename), then empties the journal it now contains. */
  private async compact(): Promise<void> {
    if (!this.snapshotFile || !this.journalFile) return;
    const now = this.now();
    const entries: [string, number][] = [];
    // rentries() walks from least to most recently seen, so a reload rebuilds the same eviction order.
    for (const [key, expiresAt] of this.cache.rentries() as Iterable<[string, number]>) {
      if (expiresAt > now) entries.push([key, expiresAt]);
    }
    const snapshot: Snapshot = { version: 1, entries };
    await writeFileAtomic(this.snapshotFile, JSON.stringify(snapshot));
    await fs.promises.writeFile(this.journalFile, "");
    this.journalLines = 0;
  }

  /** A missing file is an empty store; an unreadable one is a warning and an empty store, never a failure. */
  private load(): void {
    const now = this.now();
    const snapshot = readTextIfExists(this.snapshotFile);
    if (snapshot !== undefined) {
      const entries = parseSnapshot(snapshot);
      if (entries === undefined) {
        this.warn(`dedupe store snapshot ${path.basename(this.snapshotFile ?? "")} was unreadable; ignored`);
      } else {
        for (const [key, expiresAt] of entries) if (expiresAt > now) this.cache.set(key, expiresAt);
      }
    }
    const journal = readTextIfExists(this.journalFile);
    if (journal === undefined) return;
    let unreadable = 0;
    for (const line of journal.split("\n")) {
      if (line === "") continue;
      const entry = parseEntry(line);
      if (entry === undefined) {
        unreadable++;
        continue;
      }
      this.journalLines++;
      if (entry[1] > now) this.cache.set(entry[0], entry[1]);
    }
    if (unreadable > 0) this.warn(`dedupe store journal had ${unreadable} unreadable line(s); skipped`);
  }
}

function parseSnapshot(text: string): [string, number][] | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const entries = (parsed as { entries?: unknown }).entries;
    if (!Array.isArray(entries)) return undefined;
    return entries.filter(isEntry);
  } catch {
    return undefined;
  }
}

function parseEntry(line: string): [string, number] | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    return isEntry(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isEntry(value: unknown): value is [string, number] {
  return (
    Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && Number.isFinite(value[1])
  );
}
