import fs from "node:fs";
import path from "node:path";

import { errorMessage } from "../node-red/errors";
import { StoreUnavailableError } from "./connection-store";

export interface AppendLogOptions {
  file: string;
  /**
   * True (the default): appends that arrive while a write and sync are under way share the next write and
   * the next sync (group commit). False gives every append its own write and sync, for the bench.
   */
  groupCommit?: boolean;
  /** False skips fsync, for the bench only: what the sync costs. Default true. */
  sync?: boolean;
}

interface Waiter {
  text: string;
  durable: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * An append-only file of one-line records. `append` resolves once its record is written and, when it asks
 * to be durable, synced to the disk; concurrent appends share one write and one fsync. `rewrite` replaces
 * the whole file atomically (temp file, fsync, rename), in order with the appends.
 *
 * A write that fails (disk full, read-only) may have left part of a record behind: the file is then
 * rewritten whole from `snapshot` before the next append, so a failure never glues a later record to a
 * torn one, and writing resumes by itself once the disk accepts it again.
 */
export class AppendLog {
  private handle?: fs.promises.FileHandle;
  private queue: Waiter[] = [];
  private draining?: Promise<void>;
  private rewriteWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private failed = false;
  private readonly groupCommit: boolean;
  private readonly sync: boolean;
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
  }

  get file(): string {
    return this.options.file;
  }

  /** True after a write failed and until one works again. */
  get failing(): boolean {
    return this.failed;
  }

  append(record: string, durable: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ text: record + "\n", durable, resolve, reject });
      this.startDraining();
    });
  }

  /** Rewrites the file from `snapshot` before any append made after this call; resolves once it is done. */
  rewrite(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.rewriteWaiters.push({ resolve, reject });
      this.startDraining();
    });
  }

  /** Resolves when everything asked so far is written (or has failed). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async close(): Promise<void> {
    await this.idle();
    await this.closeHandle();
  }

  private startDraining(): void {
    // After the current job: appends made in the same tick (a poll page) start out as one batch.
    this.draining ??= Promise.resolve()
      .then(() => this.drain())
      .finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.rewriteWaiters.length > 0) {
      if (this.rewriteWaiters.length > 0 || this.failed) {
        const waiters = this.rewriteWaiters.splice(0);
        try {
          await this.writeWhole();
          this.failed = false;
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          this.failed = true;
          await this.closeHandle();
          this.rejectAll([...waiters, ...this.queue.splice(0)], error);
          continue;
        }
      }
      const batch = this.groupCommit ? this.queue.splice(0) : this.queue.splice(0, 1);
      if (batch.length === 0) continue;
      try {
        const handle = await this.open();
        await handle.write(batch.map((waiter) => waiter.text).join(""));
        this.stats.writes++;
        if (this.sync && batch.some((waiter) => waiter.durable)) {
          await handle.datasync();
          this.stats.syncs++;
        }
        this.records += batch.length;
        for (const waiter of batch) waiter.resolve();
      } catch (error) {
        this.failed = true;
        await this.closeHandle();
        this.rejectAll(batch, error);
      }
    }
  }

  private rejectAll(batch: { reject: (error: Error) => void }[], error: unknown): void {
    const failure = new StoreUnavailableError(
      `${path.basename(this.options.file)} could not be written: ${errorMessage(error)}`,
    );
    for (const waiter of batch) waiter.reject(failure);
  }

  private async open(): Promise<fs.promises.FileHandle> {
    this.handle ??= await fs.promises.open(this.options.file, "a");
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
    // One process owns the file (store: file), so the temp file's name is fixed: `<file>.tmp`.
    const temp = `${file}.tmp`;
    try {
      const handle = await fs.promises.open(temp, "w");
      try {
        await handle.write(lines.length > 0 ? lines.join("\n") + "\n" : "");
        if (this.sync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await this.closeHandle();
      await fs.promises.rename(temp, file);
    } catch (error) {
      await removeIfRegularFile(temp);
      throw error;
    }
    if (this.sync) await syncDirectory(path.dirname(file));
    this.records = lines.length;
  }
}

/** Removes a half-written temp file; anything else at that path (a link someone put there) is not ours. */
async function removeIfRegularFile(file: string): Promise<void> {
  try {
    if ((await fs.promises.lstat(file)).isFile()) await fs.promises.rm(file, { force: true });
  } catch {
    // Nothing there, or nothing we may remove: the next rewrite writes over it.
  }
}

/** Makes a rename durable: the directory entry is on disk only once the directory is synced. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.promises.open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
