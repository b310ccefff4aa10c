import fs from "node:fs";
import path from "node:path";

import { withinDeadline } from "../../deadline";
import { errorMessage } from "../../node-red/errors";
import {
  type ConnectionStore,
  type DueRequest,
  type InboxEntry,
  type InboxState,
  type Lease,
  type NewInboxEntry,
  safeFileName,
  StoreClosedError,
  type StoreHealth,
  StoreUnavailableError,
  UnstorableEventError,
} from "../connection-store";
import { DedupeStore } from "./dedupe-store";
import { FileDocuments } from "./documents";
import { type CompactionThresholds, InboxFile } from "./inbox-file";

/**
 * The inbox file's group commit, fsync and room reserved ahead of its records (1 MiB): all on by default; off
 * (`reserveBytes: 0`) only to measure what they cost.
 */
export interface InboxTuning {
  groupCommit?: boolean;
  sync?: boolean;
  reserveBytes?: number;
}

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
  inbox?: InboxTuning;
  /** When the inbox file is compacted; the defaults suit production (tests lower them). */
  inboxCompactAt?: Partial<CompactionThresholds>;
  warn: (message: string) => void;
  now?: () => number;
}

/** How long a store waits for the one before it on the same files to finish closing, before it opens anyway. */
const HANDOVER_WAIT_MS = 60_000;

/**
 * The file stores of this process that are closing, by their files, each with the promise that settles once it
 * has closed. A redeploy makes a new store on the same files while the old one may still be closing (Node-RED
 * stops waiting for a close after 15 s; a large dedupe snapshot or a slow disk can take longer): the new one
 * reads them only after the old one has written them for the last time.
 */
const closingStores = new Map<string, Promise<void>>();

/** The dedupe store and the inbox of one connection, read from their files. */
interface OpenFiles {
  dedupe: DedupeStore;
  inbox: InboxFile;
}

/**
 * The `store: file` backend: the dedupe store (a digest index and its journal; the files of earlier
 * versions still load), the durable inbox file, and JSON documents, all under the Node-RED user directory.
 * One process uses it, so a lease is always granted, and when a new process opens it every pending entry is due at once (a redeploy in the
 * same process keeps their due times).
 */
export class FileConnectionStore implements ConnectionStore {
  readonly kind = "file";
  private files?: OpenFiles;
  private readonly opened: Promise<OpenFiles>;
  private readonly documents: FileDocuments;
  private readonly redeliverMs: number;
  private readonly now: () => number;
  private readonly holderKey?: string;
  private readonly released: Promise<void>;
  private markReleased!: () => void;
  private closing?: Promise<void>;

  constructor(options: FileStoreOptions) {
    const id = safeFileName(options.connectionId);
    this.documents = new FileDocuments(options.directory);
    this.redeliverMs = options.redeliverMs;
    this.now = options.now ?? Date.now;
    this.released = new Promise<void>((resolve) => (this.markReleased = resolve));
    this.holderKey = options.directory ? path.join(path.resolve(options.directory), id) : undefined;
    const previous = this.holderKey ? closingStores.get(this.holderKey) : undefined;
    if (previous === undefined) {
      this.files = openFiles(options, id);
      this.opened = Promise.resolve(this.files);
    } else {
      this.opened = withinDeadline(
        previous.then(() => true),
        HANDOVER_WAIT_MS,
      ).then((settled) => {
        if (!settled)
          options.warn(`the connection's earlier store is still closing; its files are read anyway`);
        this.files = openFiles(options, id);
        return this.files;
      });
    }
  }

  /** The inbox, for tests and the bench: undefined until the store has read its files. */
  get inbox(): InboxFile | undefined {
    return this.files?.inbox;
  }

  get dedupe(): DedupeStore | undefined {
    return this.files?.dedupe;
  }

  /**
   * Files have no connection to lose: ready until closed. (A disk that refuses a write fails that call and
   * shows in `failing`, not here: the next write may work.)
   */
  get health(): StoreHealth {
    return this.closing ? { state: "closed" } : { state: "ready" };
  }

  onHealth(): () => void {
    return () => undefined;
  }

  /** True while the inbox file refuses writes (until one works again). */
  get failing(): boolean {
    return this.files?.inbox.failing ?? false;
  }

  async claim(key: string): Promise<boolean> {
    return (await this.open()).dedupe.claim(key);
  }

  async release(key: string): Promise<void> {
    (await this.open()).dedupe.release(key);
  }

  async admit(entry: NewInboxEntry): Promise<"fresh" | "duplicate"> {
    const { dedupe, inbox } = await this.open();
    // No await between the check and the claim: two admissions of one key never both win.
    if (inbox.has(entry.key) || !dedupe.claim(entry.key)) return "duplicate";
    try {
      await inbox.add(entry, this.redeliverMs);
    } catch (error) {
      dedupe.release(entry.key);
      if (error instanceof StoreUnavailableError || error instanceof UnstorableEventError) throw error;
      throw new StoreUnavailableError(errorMessage(error));
    }
    return "fresh";
  }

  async confirm(key: string): Promise<boolean> {
    return (await this.open()).inbox.done(key);
  }

  async retry(key: string, delayMs: number, reason?: string): Promise<boolean> {
    return (await this.open()).inbox.retry(key, this.now() + delayMs, reason);
  }

  async takeDue(request: DueRequest): Promise<InboxEntry[]> {
    return (await this.open()).inbox.takeDue(this.now(), request);
  }

  async markDead(key: string, reason: string): Promise<void> {
    await (await this.open()).inbox.markDead(key, reason);
  }

  async deadLetters(limit = 100, offset = 0): Promise<InboxEntry[]> {
    return (await this.opened).inbox.deadLetters(limit, offset);
  }

  async replayDead(key: string, sourceNodeId?: string): Promise<boolean> {
    return (await this.open()).inbox.replayDead(key, sourceNodeId, this.now());
  }

  async discardDead(key: string): Promise<boolean> {
    return (await this.open()).inbox.discardDead(key);
  }

  async inboxCounts(): Promise<{ pending: number; dead: number }> {
    return (await this.opened).inbox.counts();
  }

  async oldestPendingAge(): Promise<number | undefined> {
    const at = (await this.opened).inbox.oldestPendingAt();
    return at === undefined ? undefined : Math.max(0, this.now() - at);
  }

  async inboxState(): Promise<InboxState> {
    const { inbox } = await this.opened;
    const at = inbox.oldestPendingAt();
    return {
      ...inbox.counts(),
      oldestPendingMs: at === undefined ? undefined : Math.max(0, this.now() - at),
    };
  }

  async readDocument(name: string): Promise<unknown> {
    await this.opened;
    return this.documents.readDocument(name);
  }

  async writeDocument(name: string, value: unknown): Promise<void> {
    await this.open();
    await this.documents.writeDocument(name, value);
  }

  async removeDocument(name: string): Promise<void> {
    await this.opened;
    await this.documents.removeDocument(name);
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

  close(removed: boolean): Promise<void> {
    if (this.closing) return this.closing;
    if (this.holderKey) closingStores.set(this.holderKey, this.released);
    this.closing = (async () => {
      try {
        const { dedupe, inbox } = await this.opened;
        await inbox.close(removed);
        await dedupe.close(removed);
      } finally {
        this.markReleased();
        if (this.holderKey && closingStores.get(this.holderKey) === this.released)
          closingStores.delete(this.holderKey);
      }
    })();
    return this.closing;
  }

  /** The files, once the store before this one on them has closed; refused once this one closes. */
  private async open(): Promise<OpenFiles> {
    this.assertOpen();
    const files = this.files ?? (await this.opened);
    this.assertOpen();
    return files;
  }

  private assertOpen(): void {
    if (this.closing) throw new StoreClosedError("the connection's store is closed (a redeploy?)");
  }
}

function openFiles(options: FileStoreOptions, id: string): OpenFiles {
  const dedupe = new DedupeStore({
    ttlMs: options.dedupeTtlMs,
    capacity: options.dedupeCapacity,
    file: options.directory ? path.join(options.directory, `dedupe-${id}`) : undefined,
    warn: options.warn,
    now: options.now,
  });
  const inbox = new InboxFile({
    // Only where the dedupe store could make its directory: otherwise both live in memory.
    file:
      options.directory && fs.existsSync(options.directory)
        ? path.join(options.directory, `inbox-${id}.log`)
        : undefined,
    groupCommit: options.inbox?.groupCommit,
    sync: options.inbox?.sync,
    reserveBytes: options.inbox?.reserveBytes,
    warn: options.warn,
    now: options.now,
    beforeCompaction: () => dedupe.flush(),
    compactAt: options.inboxCompactAt,
  });
  // After a crash the dedupe journal may lack the last second of keys, but the inbox has them: a retry
  // of an event the inbox holds must be a duplicate, and the inbox, not the retry, sends it again.
  const ttl = dedupe.ttl;
  for (const { key, admittedAt } of inbox.loadedKeys) dedupe.ensureClaimed(key, admittedAt + ttl);
  return { dedupe, inbox };
}
