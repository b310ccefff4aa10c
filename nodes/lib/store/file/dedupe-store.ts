import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";

import { LRUCache } from "lru-cache";

import { errorMessage } from "../../node-red/errors";
import { StoreClosedError, StoreUnavailableError } from "../connection-store";
import { cutBack, openForAppend, writeAll } from "./durable-write";
import { readTextIfExists, writeFileAtomic } from "./json-file";

export interface DedupeStoreOptions {
  /** How long a key counts as seen (the connection's `dedupeHours`). */
  ttlMs: number;
  /** Most keys kept; the least recently seen goes first (the connection's `dedupeCapacity`). */
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
 * The most keys one store may hold, whatever the connection's `dedupeCapacity` says. At about 150 B a key
 * this is some 150 MB of heap at worst; the store grows with the keys it holds, so a large bound costs
 * nothing until it is used.
 */
export const MAX_DEDUPE_CAPACITY = 1_000_000;

/**
 * The keys of events already let into the flow. Claims are synchronous (no await between check and set),
 * so two concurrent deliveries of one event can never both win. Keys are kept in an LRU bounded by
 * `capacity`; each carries its expiry. On disk: an append-only journal written and synced at most every
 * `flushIntervalMs`, compacted into an atomically replaced snapshot.
 */
export class DedupeStore extends EventEmitter {
  private readonly cache: LRUCache<string, number>;
  private readonly ttlMs: number;
  readonly capacity: number;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly flushIntervalMs: number;
  private readonly snapshotFile?: string;
  private readonly journalFile?: string;
  private journalHandle?: fs.promises.FileHandle;
  /** Bytes of whole lines in the journal: where a failed write is cut back to. */
  private journalSize = 0;
  /** Journal lines not yet on disk: new claims, and those a failed write gave back. */
  private pending: string[] = [];
  /** Too many lines came back from failed writes: the next flush writes the whole store instead. */
  private mustCompact = false;
  private journalLines = 0;
  private flushTimer?: NodeJS.Timeout;
  private writes: Promise<void> = Promise.resolve();
  /** Why the last write failed, until one works again. */
  private writeFailure?: string;
  private closed = false;

  constructor(options: DedupeStoreOptions) {
    super();
    this.ttlMs = options.ttlMs;
    this.capacity = Math.max(1, Math.min(MAX_DEDUPE_CAPACITY, Math.floor(options.capacity)));
    this.now = options.now ?? Date.now;
    this.warn = options.warn;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    // maxSize rather than max: `max` makes lru-cache allocate its arrays for the full capacity up front.
    this.cache = new LRUCache<string, number>({ maxSize: this.capacity, sizeCalculation: () => 1 });
    if (options.file && this.prepareDirectory(options.file)) {
      this.snapshotFile = `${options.file}.json`;
      this.journalFile = `${options.file}.journal`;
      if (this.load() === "torn") this.enqueue(() => this.compact());
    }
  }

  get size(): number {
    return this.cache.size;
  }

  get ttl(): number {
    return this.ttlMs;
  }

  /**
   * True the first time a key is seen within the window, false for a repeat. A repeat counts as a
   * sighting, so a key that keeps arriving is the last to be evicted; its window still runs from the
   * first claim. A closed store refuses: nothing may be claimed that will not be journaled.
   */
  claim(key: string): boolean {
    if (this.closed) throw new StoreClosedError("the dedupe store is closed");
    const now = this.now();
    const expiresAt = this.cache.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    const newExpiry = now + this.ttlMs;
    this.cache.set(key, newExpiry);
    this.journal(key, newExpiry);
    return true;
  }

  /** Undoes a claim whose event could not be kept (its inbox write failed), so a retry is fresh again. */
  release(key: string): void {
    if (this.closed || !this.cache.delete(key)) return;
    // A tombstone: an expiry in the past removes the key again when the journal is replayed.
    this.journal(key, 0);
  }

  /** Counts `key` as claimed until `expiresAt` unless it already is (keys of the inbox, at load). */
  ensureClaimed(key: string, expiresAt: number): void {
    if (this.closed || expiresAt <= this.now()) return;
    const current = this.cache.peek(key);
    if (current !== undefined && current >= expiresAt) return;
    this.cache.set(key, expiresAt);
    this.journal(key, expiresAt);
  }

  has(key: string): boolean {
    const expiresAt = this.cache.peek(key);
    return expiresAt !== undefined && expiresAt > this.now();
  }

  /**
   * Resolves once every claim made so far is on disk and synced; rejects (StoreUnavailableError) when the
   * disk would not take them. Those claims stay queued and are written by a later flush.
   */
  async flush(): Promise<void> {
    this.writePending();
    await this.writes;
    if (this.writeFailure !== undefined) {
      throw new StoreUnavailableError(`dedupe store could not be written: ${this.writeFailure}`);
    }
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
      await this.closeJournal();
      for (const file of [this.snapshotFile, this.journalFile]) {
        if (file) await fs.promises.rm(file, { force: true });
      }
      return;
    }
    this.pending = [];
    this.enqueue(() => this.compact());
    await this.writes;
    await this.closeJournal();
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
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.writePending();
    }, this.flushIntervalMs);
    this.flushTimer.unref();
  }

  private writePending(): void {
    if (!this.journalFile || (this.pending.length === 0 && !this.mustCompact)) return;
    const lines = this.pending;
    this.pending = [];
    this.enqueue(async () => {
      // The snapshot holds every key, the lines given back included.
      if (this.mustCompact) return this.compact();
      // One write and one sync a flush: a power cut loses no more than a kill -9 (the last interval).
      try {
        await this.appendToJournal(Buffer.from(lines.join("\n") + "\n"));
      } catch (error) {
        this.giveBack(lines);
        throw error;
      }
      this.journalLines += lines.length;
      if (this.journalLines > this.compactionLines) await this.compact();
      this.emit("flushed", lines.length);
    });
  }

  /** Journal lines beyond this many are compacted into the snapshot; as many may wait for a full disk. */
  private get compactionLines(): number {
    return Math.max(this.capacity, MIN_JOURNAL_LINES_BEFORE_COMPACTION);
  }

  /**
   * Keeps lines a failed write could not put on disk for the next flush: a claimed key that never reaches
   * the disk would make Clarus's retry of its event fresh after a restart. Past the compaction size the
   * lines are dropped and the next flush writes the snapshot, which holds every key, instead.
   */
  private giveBack(lines: string[]): void {
    if (this.closed) return;
    if (lines.length + this.pending.length > this.compactionLines) {
      this.pending = [];
      this.mustCompact = true;
    } else {
      this.pending = lines.concat(this.pending);
    }
    this.scheduleFlush();
  }

  private async appendToJournal(data: Buffer): Promise<void> {
    if (!this.journalHandle) {
      const { handle, size } = await openForAppend(this.journalFile as string, true);
      this.journalHandle = handle;
      this.journalSize = size;
    }
    const handle = this.journalHandle;
    try {
      await writeAll(handle, data);
      await handle.datasync();
    } catch (error) {
      // What the write left of its lines goes again; failing that, the next open cuts the torn line off.
      await cutBack(handle, this.journalSize, true).catch(() => this.closeJournal());
      throw error;
    }
    this.journalSize += data.length;
  }

  private async closeJournal(): Promise<void> {
    const handle = this.journalHandle;
    this.journalHandle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).then(
      () => {
        if (this.writeFailure !== undefined) this.warn("dedupe store writes work again");
        this.writeFailure = undefined;
      },
      async (error: unknown) => {
        if (this.writeFailure === undefined)
          this.warn(`dedupe store could not be written: ${errorMessage(error)}`);
        this.writeFailure = errorMessage(error);
        // The next write opens the journal afresh: the file may have been replaced or repaired meanwhile.
        await this.closeJournal();
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
    this.mustCompact = false;
    await this.closeJournal();
    await fs.promises.writeFile(this.journalFile, "");
    this.journalLines = 0;
  }

  /**
   * A missing file is an empty store; an unreadable one is a warning and an empty store, never a failure.
   * "torn" when the journal ends in a partial line (a kill during a write): the next append would be glued
   * to it and be lost with it, so the caller compacts before anything is appended.
   */
  private load(): "ok" | "torn" {
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
    if (journal === undefined) return "ok";
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
      else this.cache.delete(entry[0]);
    }
    if (unreadable > 0) this.warn(`dedupe store journal had ${unreadable} unreadable line(s); skipped`);
    return journal !== "" && !journal.endsWith("\n") ? "torn" : "ok";
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
