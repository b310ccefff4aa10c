import type fs from "node:fs";
import path from "node:path";

import { errorMessage } from "../../node-red/errors";
import { StoreUnavailableError } from "../connection-store";
import { cutBack, openForAppend, replaceFile, reserveRoom, writeAll } from "./durable-write";

export interface AppendLogOptions {
  file: string;
  /**
   * True (the default): appends that arrive while a write and sync are under way share the next write and
   * the next sync (group commit). False gives every append its own write and sync, for the bench.
   */
  groupCommit?: boolean;
  /** False skips fsync, for the bench only: what the sync costs. Default true. */
  sync?: boolean;
  /** How long records that need no sync wait for a durable one to share its write (default 2 ms). */
  lingerMs?: number;
  /** Bytes of room (zeros) written ahead of the records whenever they reach the file's end (default 1 MiB; 0: none). */
  reserveBytes?: number;
}

/**
 * How long records that need no sync (confirmations, retries) wait for a durable one to share its write.
 * Under load one comes within a fraction of this; alone, a confirmation is written this much later.
 */
const DEFAULT_LINGER_MS = 2;

/**
 * Room written ahead of the records. A synced write into it changes no metadata, where an append must also
 * journal the file's new size: on the bench machine's ext4 a 6 KB O_DSYNC write took 0.11 ms against 0.16 ms.
 * 1 MiB is about a thousand admissions of a typical event, and a write of 1 MiB of zeros a few milliseconds.
 */
const DEFAULT_RESERVE_BYTES = 1024 * 1024;

/** The text of a log's file without the room reserved after its records (trailing zeros). */
export function withoutReservedRoom(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0) end--;
  return end === text.length ? text : text.slice(0, end);
}

interface Waiter {
  text: string;
  durable: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * An append-only file of one-line records. `append` resolves once its record is written whole and, when it
 * asks to be durable, synced to the disk; concurrent appends share one write and one fsync. `rewrite`
 * replaces the whole file atomically (temp file checked whole, fsync, rename), in order with the appends.
 * While open, the file may end in room reserved ahead of the records (zeros; `withoutReservedRoom`); closing
 * cuts it off again.
 *
 * A write that fails (disk full, read-only) rejects every append of its batch, and what it may have left of
 * them is cut off again, so a failure never glues a later record to a torn one and writing resumes by itself
 * once the disk accepts it. Where even that fails, the file is rewritten whole from `snapshot` before the
 * next append. A rewrite that fails (a compaction on a full disk) keeps the old file as it was.
 */
export class AppendLog {
  private handle?: fs.promises.FileHandle;
  /** Bytes of whole records in the file: where the next append goes, and where a failed one is cut back to. */
  private size = 0;
  /** Bytes in the file, records and the room reserved after them: never less than `size`. */
  private fileSize = 0;
  private readonly reserveBytes: number;
  private queue: Waiter[] = [];
  private draining?: Promise<void>;
  private rewriteWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** True after a write failed and until one works again. */
  private failed = false;
  /** A failed write could not be cut back: nothing may be appended until the file is rewritten whole. */
  private mustRewrite = false;
  private readonly groupCommit: boolean;
  private readonly sync: boolean;
  /** The open file syncs each write itself (O_DSYNC): no fdatasync after it. */
  private syncsEachWrite = false;
  /** Ends a linger early: a durable append or a rewrite arrived. */
  private wake?: () => void;
  /** Records in the file now, for the owner's compaction policy. */
  records = 0;
  /** Writes and fsyncs so far: how well appends were grouped (tests and the bench read them). */
  readonly stats = { writes: 0, syncs: 0 };

  constructor(
    private readonly options: AppendLogOptions,
    /** The whole content the file should hold now: what a rewrite writes. */
    private readonly snapshot: () => string[],
  ) {
    this.groupCommit = options.groupCommit ?? true;
    this.sync = options.sync ?? true;
    this.reserveBytes = Math.max(0, options.reserveBytes ?? DEFAULT_RESERVE_BYTES);
  }

  get file(): string {
    return this.options.file;
  }

  /** Bytes of whole records in the file, for the owner's compaction policy. */
  get bytes(): number {
    return this.size;
  }

  /** True after a write failed and until one works again. */
  get failing(): boolean {
    return this.failed;
  }

  append(record: string, durable: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ text: record + "\n", durable, resolve, reject });
      if (durable) this.wake?.();
      this.startDraining();
    });
  }

  /** Rewrites the file from `snapshot` before any append made after this call; resolves once it is done. */
  rewrite(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.rewriteWaiters.push({ resolve, reject });
      this.wake?.();
      this.startDraining();
    });
  }

  /** Resolves when everything asked so far is written (or has failed). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async close(): Promise<void> {
    await this.idle();
    // What the next process or an older version reads is the records alone; the room costs no sync to cut.
    if (this.handle && this.fileSize > this.size && !this.failed) {
      await this.handle.truncate(this.size).catch(() => undefined);
    }
    await this.closeHandle();
  }

  private startDraining(): void {
    // After the current job: appends made in the same tick (a poll page) start out as one batch.
    this.draining ??= Promise.resolve()
      .then(() => this.drain())
      .finally(() => {
        this.draining = undefined;
        // A resolved append's continuation may append again after the loop's last look at the queue but
        // before this runs: without another drain, that record would wait for some later append.
        if (this.queue.length > 0 || this.rewriteWaiters.length > 0) this.startDraining();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.rewriteWaiters.length > 0) {
      if (this.rewriteWaiters.length > 0 || this.mustRewrite) {
        const waiters = this.rewriteWaiters.splice(0);
        try {
          await this.writeWhole();
          this.failed = false;
          this.mustRewrite = false;
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          // The old file is unchanged. Appends wait only if it may end in a torn record.
          this.rejectAll(this.mustRewrite ? [...waiters, ...this.queue.splice(0)] : waiters, error);
          if (this.mustRewrite) this.failed = true;
          continue;
        }
      }
      if (this.shouldLinger()) {
        await this.linger();
        // A rewrite asked for meanwhile goes first, as it would have without the wait.
        if (this.rewriteWaiters.length > 0) continue;
      }
      const batch = this.groupCommit ? this.queue.splice(0) : this.queue.splice(0, 1);
      if (batch.length === 0) continue;
      const data = Buffer.from(batch.map((waiter) => waiter.text).join(""));
      try {
        // No await before the write when the file is open: the last batch's waiters then answer their requests
        // while this batch is on its way to the disk, instead of before it starts.
        const handle = this.handle ?? (await this.open());
        if (this.size + data.length > this.fileSize) await this.reserve(handle, data.length);
        await writeAll(handle, data, this.size);
        this.stats.writes++;
        if (this.sync && batch.some((waiter) => waiter.durable)) {
          if (!this.syncsEachWrite) await handle.datasync();
          this.stats.syncs++;
        }
      } catch (error) {
        this.failed = true;
        await this.cutBackFailedWrite();
        this.rejectAll(batch, error);
        continue;
      }
      this.size += data.length;
      // A batch written without room (none reserved, or the disk refused it) grew the file.
      this.fileSize = Math.max(this.fileSize, this.size);
      this.records += batch.length;
      this.failed = false;
      for (const waiter of batch) waiter.resolve();
    }
  }

  /**
   * Whether the queue holds only records that need no sync: with a file that syncs every write, writing them
   * alone would cost a sync each and hold up the admissions behind them, so they wait for one to ride on.
   */
  private shouldLinger(): boolean {
    if (!this.groupCommit || !this.sync || this.queue.length === 0) return false;
    return !this.queue.some((waiter) => waiter.durable);
  }

  /** Waits up to `lingerMs`, or until `wake` (a durable append or a rewrite), whichever comes first. */
  private linger(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.lingerMs ?? DEFAULT_LINGER_MS);
      this.wake = done;
    });
  }

  /**
   * Writes room for `needed` bytes and `reserveBytes` more after the records. Where the disk refuses it
   * (full), the batch is written without it: it may still fit, and only a record that cannot be written fails.
   */
  private async reserve(handle: fs.promises.FileHandle, needed: number): Promise<void> {
    if (this.reserveBytes === 0) return;
    const to = this.size + needed + this.reserveBytes;
    try {
      await reserveRoom(handle, this.fileSize, to, this.sync && !this.syncsEachWrite);
      this.fileSize = to;
    } catch {
      // How much of the room was written is unknown: it is tried again at the next batch.
    }
  }

  /** Drops what a failed write left after the whole records; if that fails too, a rewrite must come first. */
  private async cutBackFailedWrite(): Promise<void> {
    const handle = this.handle;
    if (!handle) return;
    try {
      await cutBack(handle, this.size, this.sync);
      this.fileSize = this.size;
    } catch {
      this.mustRewrite = true;
      await this.closeHandle();
    }
  }

  private rejectAll(batch: { reject: (error: Error) => void }[], error: unknown): void {
    const failure = new StoreUnavailableError(
      `${path.basename(this.options.file)} could not be written: ${errorMessage(error)}`,
    );
    for (const waiter of batch) waiter.reject(failure);
  }

  private async open(): Promise<fs.promises.FileHandle> {
    if (!this.handle) {
      const opened = await openForAppend(this.options.file, this.sync, {
        syncEachWrite: this.groupCommit,
        keepsRoom: true,
      });
      this.handle = opened.handle;
      this.size = opened.size;
      this.fileSize = opened.fileSize;
      this.syncsEachWrite = opened.syncsEachWrite;
    }
    return this.handle;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async writeWhole(): Promise<void> {
    const lines = this.snapshot();
    const file = this.options.file;
    await this.closeHandle();
    // One process owns the file (store: file), so the temp file's name is fixed: `<file>.tmp`.
    const data = Buffer.from(lines.length > 0 ? lines.join("\n") + "\n" : "");
    await replaceFile(file, `${file}.tmp`, data, this.sync);
    this.records = lines.length;
    this.size = data.length;
    this.fileSize = data.length;
  }
}
