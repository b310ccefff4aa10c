import fs from "node:fs";
import path from "node:path";

import { errorMessage } from "../node-red/errors";
import {
  StoreClosedError,
  StoreUnavailableError,
  UnstorableEventError,
  type ConnectionStore,
  type DueRequest,
  type InboxEntry,
  type Lease,
  type NewInboxEntry,
} from "./connection-store";
import { DedupeStore } from "./dedupe-store";
import { FileDocuments, safeFileName } from "./file-documents";
import { InboxFile } from "./inbox-file";

export interface FileStoreOptions {
  /** The connection's state directory (`<userDir>/clarus`); undefined keeps everything in memory. */
  directory?: string;
  /** The connection node's id: its files are `dedupe-<id>.*` and `inbox-<id>.log`. */
  connectionId: string;
  dedupeTtlMs: number;
  dedupeCapacity: number;
  /** How long a fresh inbox entry waits before it is due again (`redeliverSeconds`). */
  redeliverMs: number;
  /** `clarus.inbox` in settings.js; for the bench. */
  inbox?: { groupCommit?: boolean; sync?: boolean };
  warn: (message: string) => void;
  now?: () => number;
}

/**
 * The `store: file` backend: the dedupe store (LRU and journal, the 0.1 files unchanged), the durable
 * inbox file, and JSON documents, all under the Node-RED user directory. One process uses it, so a lease
 * is always granted, and when a new process opens it every pending entry is due at once (a redeploy in the
 * same process keeps their due times).
 */
export class FileConnectionStore implements ConnectionStore {
  readonly kind = "file";
  readonly dedupe: DedupeStore;
  private readonly inbox: InboxFile;
  private readonly documents: FileDocuments;
  private readonly redeliverMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(options: FileStoreOptions) {
    const id = safeFileName(options.connectionId);
    this.documents = new FileDocuments(options.directory);
    this.redeliverMs = options.redeliverMs;
    this.now = options.now ?? Date.now;
    this.dedupe = new DedupeStore({
      ttlMs: options.dedupeTtlMs,
      capacity: options.dedupeCapacity,
      file: options.directory ? path.join(options.directory, `dedupe-${id}`) : undefined,
      warn: options.warn,
      now: options.now,
    });
    this.inbox = new InboxFile({
      // Only where the dedupe store could make its directory: otherwise both live in memory.
      file:
        options.directory && fs.existsSync(options.directory)
          ? path.join(options.directory, `inbox-${id}.log`)
          : undefined,
      groupCommit: options.inbox?.groupCommit,
      sync: options.inbox?.sync,
      warn: options.warn,
      now: options.now,
      beforeCompaction: () => this.dedupe.flush(),
    });
    // After a crash the dedupe journal may lack the last second of keys, but the inbox has them: a retry
    // of an event the inbox holds must be a duplicate, and the inbox, not the retry, sends it again.
    const ttl = this.dedupe.ttl;
    for (const { key, admittedAt } of this.inbox.loadedKeys) this.dedupe.ensureClaimed(key, admittedAt + ttl);
  }

  /** True while the inbox file refuses writes (until one works again). */
  get failing(): boolean {
    return this.inbox.failing;
  }

  async claim(key: string): Promise<boolean> {
    this.assertOpen();
    return this.dedupe.claim(key);
  }

  async release(key: string): Promise<void> {
    this.assertOpen();
    this.dedupe.release(key);
  }

  async admit(entry: NewInboxEntry): Promise<"fresh" | "duplicate"> {
    this.assertOpen();
    if (this.inbox.has(entry.key) || !this.dedupe.claim(entry.key)) return "duplicate";
    try {
      await this.inbox.add(entry, this.redeliverMs);
    } catch (error) {
      this.dedupe.release(entry.key);
      if (error instanceof StoreUnavailableError || error instanceof UnstorableEventError) throw error;
      throw new StoreUnavailableError(errorMessage(error));
    }
    return "fresh";
  }

  async confirm(key: string): Promise<boolean> {
    this.assertOpen();
    return this.inbox.done(key);
  }

  async retry(key: string, delayMs: number, reason?: string): Promise<boolean> {
    this.assertOpen();
    return this.inbox.retry(key, this.now() + delayMs, reason);
  }

  async takeDue(request: DueRequest): Promise<InboxEntry[]> {
    this.assertOpen();
    return this.inbox.takeDue(this.now(), request);
  }

  async markDead(key: string, reason: string): Promise<void> {
    this.assertOpen();
    await this.inbox.markDead(key, reason);
  }

  async deadLetters(limit = 100): Promise<InboxEntry[]> {
    return this.inbox.deadLetters(limit);
  }

  async inboxCounts(): Promise<{ pending: number; dead: number }> {
    return this.inbox.counts();
  }

  readDocument(name: string): Promise<unknown> {
    return this.documents.readDocument(name);
  }

  async writeDocument(name: string, value: unknown): Promise<void> {
    this.assertOpen();
    await this.documents.writeDocument(name, value);
  }

  removeDocument(name: string): Promise<void> {
    return this.documents.removeDocument(name);
  }

  /** One instance: always granted; a released lease no longer renews. */
  async acquireLease(): Promise<Lease> {
    let held = true;
    return {
      renew: async () => held,
      release: async () => {
        held = false;
      },
    };
  }

  async close(removed: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inbox.close(removed);
    await this.dedupe.close(removed);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError("the connection's store is closed (a redeploy?)");
  }
}

export { safeFileName };
