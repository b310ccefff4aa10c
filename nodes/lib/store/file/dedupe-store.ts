import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";

import { errorMessage } from "../../node-red/errors";
import { StoreClosedError, StoreUnavailableError } from "../connection-store";
import {
  expirySeconds,
  JOURNAL_HEADER,
  journalLines,
  PendingRecords,
  RECORD_BYTES,
  replayJournal,
} from "./dedupe-journal";
import { encodeSnapshot, replayFormatOneSnapshot, replaySnapshot } from "./dedupe-snapshot";
import { type Digest, DigestIndex, digestOf } from "./digest-index";
import { cutBack, openForAppend, replaceFile, writeAll } from "./durable-write";
import { readTextIfExists } from "./json-file";

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

const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const MIN_JOURNAL_LINES_BEFORE_COMPACTION = 1000;
/**
 * Journal lines past which it is compacted even when the capacity is larger: the journal is read whole at
 * start (about 44 MB at this many lines), and a compaction writes 20 bytes a key held.
 */
const MAX_JOURNAL_LINES_BEFORE_COMPACTION = 1_000_000;
/** How often keys whose window ended are swept out of the index, so their entries are free again. */
const SWEEP_INTERVAL_MS = 3_600_000;

/**
 * The most keys one store may hold, whatever the connection's `dedupeCapacity` says: at 36 to 41 bytes a key
 * in the digest index, some 400 MB at worst. The index grows with the keys it holds, so a large bound costs
 * nothing until it is used.
 */
export const MAX_DEDUPE_CAPACITY = 10_000_000;

/**
 * The keys of events already let into the flow. Claims are synchronous (no await between check and set),
 * so two concurrent deliveries of one event can never both win. Keys are held as 16-byte digests in a
 * DigestIndex bounded by `capacity` (the least recently seen goes first), each with its expiry in whole
 * seconds, rounded up. On disk (dedupe-journal.ts, dedupe-snapshot.ts): an append-only journal written and
 * synced at most every `flushIntervalMs`, compacted into an atomically replaced binary snapshot.
 */
export class DedupeStore extends EventEmitter {
  private readonly index: DigestIndex;
  private readonly ttlMs: number;
  readonly capacity: number;
  private readonly now: () => number;
  private readonly warn: (message: string) => void;
  private readonly flushIntervalMs: number;
  private readonly snapshotFile?: string;
  /** The JSON snapshot of earlier versions (format 1): read when it is the newer one, removed at compaction. */
  private readonly formatOneSnapshotFile?: string;
  private readonly journalFile?: string;
  private journalHandle?: fs.promises.FileHandle;
  /** Bytes of whole lines in the journal: where a failed write is cut back to. */
  private journalSize = 0;
  /** Journal records not yet on disk: new claims, and those a failed write gave back. */
  private readonly pending = new PendingRecords();
  /** Too many lines came back from failed writes: the next flush writes the whole store instead. */
  private mustCompact = false;
  private journalLines = 0;
  private flushTimer?: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
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
    // Grows with the keys it holds, up to the capacity: a large bound allocates nothing up front.
    this.index = new DigestIndex(this.capacity);
    if (options.file && this.prepareDirectory(options.file)) {
      this.snapshotFile = `${options.file}.snapshot`;
      this.formatOneSnapshotFile = `${options.file}.json`;
      this.journalFile = `${options.file}.journal`;
      // A torn journal would glue the next append to its partial line; one of an earlier format is rewritten
      // in this one, so it is appended to in one format only.
      if (this.load() === "rewrite") this.enqueue(() => this.compact());
    }
    this.sweepTimer = setInterval(() => this.index.sweep(this.nowSeconds()), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Keys held, those whose window ended but that were not swept out yet included. */
  get size(): number {
    return this.index.size;
  }

  /** Bytes the index's arrays take now (tests and bench:store's memory table read it). */
  get indexBytes(): number {
    return this.index.allocatedBytes;
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
    const digest = digestOf(key);
    if (this.live(this.index.get(digest), now)) return false;
    const expiry = expirySeconds(now + this.ttlMs);
    this.index.set(digest, expiry);
    this.journal(digest, expiry);
    return true;
  }

  /** Undoes a claim whose event could not be kept (its inbox write failed), so a retry is fresh again. */
  release(key: string): void {
    if (this.closed) return;
    const digest = digestOf(key);
    if (!this.index.delete(digest)) return;
    // A tombstone: expiry 0 removes the key again when the journal is replayed.
    this.journal(digest, 0);
  }

  /** Counts `key` as claimed until `expiresAt` unless it already is (keys of the inbox, at load). */
  ensureClaimed(key: string, expiresAt: number): void {
    if (this.closed || expiresAt <= this.now()) return;
    const digest = digestOf(key);
    const expiry = expirySeconds(expiresAt);
    if (this.index.peek(digest) >= expiry) return;
    this.index.set(digest, expiry);
    this.journal(digest, expiry);
  }

  has(key: string): boolean {
    return this.live(this.index.peek(digestOf(key)), this.now());
  }

  /** An expiry in seconds (0: not held) still counts at `now` (ms) until the second it names begins. */
  private live(expiry: number, now: number): boolean {
    return expiry * 1000 > now;
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
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
    clearInterval(this.sweepTimer);
    if (removeFiles) {
      this.pending.clear();
      await this.writes;
      await this.closeJournal();
      for (const file of [this.snapshotFile, this.formatOneSnapshotFile, this.journalFile]) {
        if (file) await fs.promises.rm(file, { force: true });
      }
      return;
    }
    this.pending.clear();
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

  private journal(digest: Digest, expiry: number): void {
    if (!this.journalFile || this.closed) return;
    this.pending.push(digest, expiry);
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
    if (!this.journalFile || (this.pending.count === 0 && !this.mustCompact)) return;
    const records = this.pending.take();
    const lines = records.length / RECORD_BYTES;
    this.enqueue(async () => {
      // The snapshot holds every key, the lines given back included.
      if (this.mustCompact) return this.compact();
      // One write and one sync a flush: a power cut loses no more than a kill -9 (the last interval).
      try {
        await this.appendToJournal(journalLines(records));
      } catch (error) {
        this.giveBack(records);
        throw error;
      }
      this.journalLines += lines;
      if (this.journalLines > this.compactionLines) await this.compact();
      this.emit("flushed", lines);
    });
  }

  /** Journal lines beyond this many are compacted into the snapshot; as many may wait for a full disk. */
  private get compactionLines(): number {
    return Math.min(
      Math.max(this.capacity, MIN_JOURNAL_LINES_BEFORE_COMPACTION),
      MAX_JOURNAL_LINES_BEFORE_COMPACTION,
    );
  }

  /**
   * Keeps lines a failed write could not put on disk for the next flush: a claimed key that never reaches
   * the disk would make Clarus's retry of its event fresh after a restart. Past the compaction size the
   * lines are dropped and the next flush writes the snapshot, which holds every key, instead.
   */
  private giveBack(records: Buffer): void {
    if (this.closed) return;
    if (records.length / RECORD_BYTES + this.pending.count > this.compactionLines) {
      this.pending.clear();
      this.mustCompact = true;
    } else {
      this.pending.giveBack(records);
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
    // A journal begins with the line that names its format (a new file, or one a compaction emptied).
    if (this.journalSize === 0) data = Buffer.concat([Buffer.from(JOURNAL_HEADER), data]);
    try {
      await writeAll(handle, data, this.journalSize);
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

  /**
   * Replaces the snapshot atomically (temp file checked whole, fsync, rename), then empties the journal it
   * now contains. Entries are written from the least to the most recently seen, so a reload rebuilds the
   * same eviction order. A format-1 snapshot left by an earlier version goes once the new one is in place.
   */
  private async compact(): Promise<void> {
    if (!this.snapshotFile || !this.journalFile) return;
    const nowSeconds = this.nowSeconds();
    this.index.sweep(nowSeconds);
    await replaceFile(
      this.snapshotFile,
      `${this.snapshotFile}.tmp`,
      encodeSnapshot(this.index, nowSeconds),
      true,
    );
    if (this.formatOneSnapshotFile) await fs.promises.rm(this.formatOneSnapshotFile, { force: true });
    this.mustCompact = false;
    await this.closeJournal();
    await fs.promises.writeFile(this.journalFile, "");
    this.journalLines = 0;
  }

  /**
   * A missing file is an empty store; an unreadable one is a warning and an empty store, never a failure.
   * "rewrite" when the files must be compacted before anything is appended: the journal ends in a partial
   * line (a kill during a write), and the next append would be glued to it and be lost with it; or they are
   * of the format before the digest index, which is then written in this one.
   */
  private load(): "ok" | "rewrite" {
    const now = this.now();
    const apply = (digest: Digest, expiry: number): void => {
      if (this.live(expiry, now)) this.index.set(digest, expiry);
      else this.index.delete(digest);
    };
    let rewrite = false;
    const snapshot = this.newestSnapshot();
    if (snapshot === undefined) {
      // A new store, or one whose snapshot was never written.
    } else if (snapshot === this.snapshotFile) {
      const data = readIfExists(snapshot);
      const unreadable = data && replaySnapshot(data, apply, (count) => this.index.reserve(count));
      if (unreadable)
        this.warn(`dedupe store snapshot ${path.basename(snapshot)} was unreadable (${unreadable}); ignored`);
    } else {
      const text = readTextIfExists(snapshot);
      if (text !== undefined) {
        rewrite = true;
        if (!replayFormatOneSnapshot(text, apply))
          this.warn(`dedupe store snapshot ${path.basename(snapshot)} was unreadable; ignored`);
      }
    }
    const journal = readTextIfExists(this.journalFile);
    if (journal === undefined) return rewrite ? "rewrite" : "ok";
    const replay = replayJournal(journal, apply);
    this.journalLines = replay.records;
    if (replay.unknownFormat !== undefined) {
      this.warn(
        `dedupe store journal ${path.basename(this.journalFile ?? "")} is of format ${replay.unknownFormat}, which this version does not read; ignored`,
      );
      return "rewrite";
    }
    if (replay.unreadable > 0)
      this.warn(`dedupe store journal had ${replay.unreadable} unreadable line(s); skipped`);
    return rewrite || replay.torn || replay.formatOne > 0 ? "rewrite" : "ok";
  }

  /**
   * The snapshot to read: this format's, or the format-1 one an earlier version left. Both exist only when a
   * conversion stopped between the two (the newer is the whole one) or an earlier version ran again since.
   */
  private newestSnapshot(): string | undefined {
    const current = modifiedAt(this.snapshotFile);
    const formatOne = modifiedAt(this.formatOneSnapshotFile);
    if (current === undefined && formatOne === undefined) return undefined;
    if (formatOne === undefined || (current !== undefined && current >= formatOne)) return this.snapshotFile;
    return this.formatOneSnapshotFile;
  }
}

function modifiedAt(file: string | undefined): number | undefined {
  if (!file) return undefined;
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}
