import fs from "node:fs";
import path from "node:path";

import { isPlainObject } from "../../json";
import { errorMessage } from "../../node-red/errors";
import {
  type DueRequest,
  type InboxEntry,
  type NewInboxEntry,
  type StoredMessage,
  UnstorableEventError,
} from "../connection-store";
import { dueGrace } from "../due-request";
import { AppendLog, withoutReservedRoom } from "./append-log";

export interface InboxFileOptions {
  /** The inbox file; undefined keeps the inbox in memory only. */
  file?: string;
  groupCommit?: boolean;
  sync?: boolean;
  /** Room written ahead of the records (the log's default when undefined). */
  reserveBytes?: number;
  warn: (message: string) => void;
  now?: () => number;
  /** Runs before a compaction drops done entries: their keys must be safe in the dedupe store first. */
  beforeCompaction?: () => Promise<void>;
  /** When the file is worth compacting (the defaults suit production; tests lower them). */
  compactAt?: Partial<CompactionThresholds>;
}

/**
 * A compaction starts once the file holds `records` records or `bytes` bytes, whichever comes first, and
 * always at least 1000 records and twice as many as there are live entries.
 */
export interface CompactionThresholds {
  records: number;
  bytes: number;
}

/** An entry's key and when it was admitted, for every entry the file held at load (done ones too). */
export interface LoadedKey {
  key: string;
  admittedAt: number;
}

/** The inbox file's records, one JSON object a line, replayed in order at load. */
type InboxRecord =
  | { put: InboxEntry }
  | { due: [key: string, attempt: number, dueAt: number, lastError: string | null] }
  | { dead: [key: string, reason: string] }
  | { done: string };

/**
 * An entry as the inbox holds it. Its message stays the JSON it was written as until something reads it (a
 * redelivery, a dead-letter list): most entries are confirmed within milliseconds and never are, and parsing
 * every admitted event back only to copy it cost as much as writing it.
 */
type HeldEntry = Omit<InboxEntry, "message"> & { message: StoredMessage | string };

/** The entry with its message parsed, kept parsed from then on. */
function readEntry(entry: HeldEntry): InboxEntry {
  if (typeof entry.message === "string") entry.message = JSON.parse(entry.message) as StoredMessage;
  return entry as InboxEntry;
}

/** Compaction never starts below this many records, or below twice as many as there are live entries. */
const MIN_RECORDS_BEFORE_COMPACTION = 1000;
/**
 * A compaction blocks admissions while it rewrites and syncs the file (about 3.5 ms on this project's bench
 * machine) and syncs the dedupe journal first; at 1000 records it ran ten times a second under load. Ten
 * thousand records (a few MB of small events), or 8 MiB of large ones, make it rare under load and still
 * keep the file small; a restart reads the file whole, which takes milliseconds at that size.
 */
const DEFAULT_COMPACTION: CompactionThresholds = { records: 10_000, bytes: 8 * 1024 * 1024 };

/**
 * The inbox files this process has loaded. Only the first load in a process makes pending entries due at
 * once: the messages in flight died with the process before. A later load (a redeploy that restarts the
 * connection) keeps their due times, since those messages may still be in the flows, in a delay node say.
 */
const loadedByThisProcess = new Set<string>();

/**
 * The `on-confirm` inbox of one connection: pending and dead entries in memory, and an append-only file
 * of what happened to them (admitted, sent again, dead, done). Admissions are synced before they resolve
 * (group commit: concurrent admissions share one fsync); the rest is written in order without waiting for
 * the disk, since losing one of those to a power cut only means an event is sent once more. The file is
 * compacted (done entries dropped) so its size follows the number of live entries, not the history.
 */
export class InboxFile {
  private readonly entries = new Map<string, HeldEntry>();
  private readonly log?: AppendLog;
  private readonly now: () => number;
  private compaction?: Promise<void>;
  private readonly compactAt: CompactionThresholds;
  /** Every key the file held at load; the store counts them as claimed. */
  readonly loadedKeys: LoadedKey[] = [];

  constructor(private readonly options: InboxFileOptions) {
    this.now = options.now ?? Date.now;
    this.compactAt = { ...DEFAULT_COMPACTION, ...options.compactAt };
    if (!options.file) return;
    this.log = new AppendLog(
      {
        file: options.file,
        groupCommit: options.groupCommit,
        sync: options.sync,
        reserveBytes: options.reserveBytes,
      },
      () => [...this.entries.values()].map((entry) => putLine(entry)),
    );
    const state = this.load(options.file);
    if (state !== "clean") void this.log.rewrite().catch(() => undefined);
  }

  /** Whether the key is in the inbox, pending or dead. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  get failing(): boolean {
    return this.log?.failing ?? false;
  }

  /** Adds a pending entry, due `redeliverMs` from now; resolves once it is on disk. */
  async add(fresh: NewInboxEntry, redeliverMs: number): Promise<void> {
    const now = this.now();
    const { _msgid: _sentAs, ...message } = fresh.message;
    // The inbox keeps its own copy, the JSON: the message it was given goes on into the flow, which may change it.
    const entry: HeldEntry = {
      key: fresh.key,
      sourceNodeId: fresh.sourceNodeId,
      message: fresh.payloadJson === undefined ? serialise(message) : withPayload(message, fresh.payloadJson),
      attempt: 1,
      admittedAt: now,
      dueAt: now + redeliverMs,
    };
    const line = putLine(entry);
    this.entries.set(entry.key, entry);
    try {
      await this.writeLine(line, true);
    } catch (error) {
      if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
      throw error;
    }
  }

  /** Pending or dead: the entry is gone (confirming a dead letter clears it). */
  async done(key: string): Promise<boolean> {
    if (!this.entries.delete(key)) return false;
    await this.write({ done: key }, false);
    return true;
  }

  async retry(key: string, dueAt: number, reason: string | undefined): Promise<boolean> {
    const entry = this.entries.get(key);
    if (!entry || entry.dead) return false;
    entry.dueAt = dueAt;
    if (reason !== undefined) entry.lastError = reason;
    await this.write({ due: [key, entry.attempt, entry.dueAt, entry.lastError ?? null] }, false);
    return true;
  }

  /** The entries due at `now` that `request` may take, the longest due first, at most `limit`. */
  async takeDue(now: number, request: DueRequest): Promise<InboxEntry[]> {
    const graceOf = dueGrace(request);
    const due: { entry: HeldEntry; since: number }[] = [];
    for (const entry of this.entries.values()) {
      if (entry.dead) continue;
      const grace = graceOf(entry.sourceNodeId);
      if (grace !== undefined && entry.dueAt + grace <= now) due.push({ entry, since: entry.dueAt + grace });
    }
    due.sort((a, b) => a.since - b.since);
    const taken = due.slice(0, request.limit).map(({ entry }) => {
      entry.attempt++;
      entry.dueAt = now + request.redeliverMs;
      return { ...readEntry(entry) };
    });
    await Promise.all(
      taken.map((entry) =>
        this.write({ due: [entry.key, entry.attempt, entry.dueAt, entry.lastError ?? null] }, false),
      ),
    );
    return taken;
  }

  async markDead(key: string, reason: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry || entry.dead) return;
    entry.dead = true;
    entry.lastError = reason;
    await this.write({ dead: [key, reason] }, true);
  }

  deadLetters(limit: number, offset = 0): InboxEntry[] {
    const dead: InboxEntry[] = [];
    let skipped = 0;
    for (const entry of this.entries.values()) {
      if (dead.length >= limit) break;
      if (!entry.dead) continue;
      if (skipped < offset) skipped++;
      else dead.push({ ...readEntry(entry) });
    }
    return dead;
  }

  /**
   * The dead letter as a pending entry admitted `now` (written whole, as a `put`, so an older version reads
   * it too); resolves once it is on disk. The check and the change happen before any await: two replays of one
   * key never both win.
   */
  async replayDead(key: string, sourceNodeId: string | undefined, now: number): Promise<boolean> {
    const held = this.entries.get(key);
    if (!held?.dead) return false;
    const dead = readEntry(held);
    const { dead: _dead, ...kept } = dead;
    const replayed: InboxEntry = {
      ...kept,
      sourceNodeId: sourceNodeId ?? dead.sourceNodeId,
      message: { ...dead.message, clarus: { ...dead.message.clarus, replayed: true } },
      attempt: 0,
      dueAt: now,
      admittedAt: now,
    };
    // Last in admission order, where a new admission goes: the oldest pending entry is the map's first.
    this.entries.delete(key);
    this.entries.set(key, replayed);
    try {
      await this.write({ put: replayed }, true);
    } catch (error) {
      if (this.entries.get(key) === replayed) this.entries.set(key, dead);
      throw error;
    }
    return true;
  }

  /** A dead letter is dropped; a pending entry of that key is not (it may have been replayed meanwhile). */
  async discardDead(key: string): Promise<boolean> {
    if (!this.entries.get(key)?.dead) return false;
    return this.done(key);
  }

  counts(): { pending: number; dead: number } {
    let dead = 0;
    for (const entry of this.entries.values()) if (entry.dead) dead++;
    return { pending: this.entries.size - dead, dead };
  }

  /** When the oldest pending entry was admitted: the map keeps admission order, so the first one not dead. */
  oldestPendingAt(): number | undefined {
    for (const entry of this.entries.values()) if (!entry.dead) return entry.admittedAt;
    return undefined;
  }

  /** Waits for the writes asked so far; with `removeFile` the file is deleted (its connection was deleted). */
  async close(removeFile: boolean): Promise<void> {
    await this.compaction;
    if (!this.log) return;
    await this.log.close();
    if (removeFile) await fs.promises.rm(this.log.file, { force: true });
  }

  private write(record: InboxRecord, durable: boolean): Promise<void> {
    return this.writeLine(JSON.stringify(record), durable);
  }

  private async writeLine(line: string, durable: boolean): Promise<void> {
    if (!this.log) return;
    await this.log.append(line, durable);
    this.compactIfWorthIt();
  }

  private compactIfWorthIt(): void {
    const log = this.log;
    if (!log || this.compaction) return;
    if (log.records < Math.max(MIN_RECORDS_BEFORE_COMPACTION, 2 * this.entries.size)) return;
    if (log.records < this.compactAt.records && log.bytes < this.compactAt.bytes) return;
    this.compaction = (async () => {
      await this.options.beforeCompaction?.();
      await log.rewrite();
    })()
      .catch((error: unknown) => this.options.warn(`inbox compaction failed: ${errorMessage(error)}`))
      .finally(() => (this.compaction = undefined));
  }

  /**
   * Replays the file. A record that does not parse (the last one, torn by a kill during its write) is
   * skipped with one warning and everything else is kept; the node always starts. At the first load in this
   * process every pending entry is due at once: the messages that were in flight died with the old process.
   */
  private load(file: string): "clean" | "repair" {
    const resolved = path.resolve(file);
    const firstLoadInProcess = !loadedByThisProcess.has(resolved);
    loadedByThisProcess.add(resolved);
    let text: string;
    try {
      const stat = fs.statSync(file);
      if (!stat.isFile()) {
        this.options.warn(`inbox ${path.basename(file)} is not a regular file; starting with an empty inbox`);
        return "clean";
      }
      // Room the log reserved after its records is left when the process was killed; it holds no records.
      text = withoutReservedRoom(fs.readFileSync(file, "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        this.options.warn(
          `inbox ${path.basename(file)} could not be read (${errorMessage(error)}); starting empty`,
        );
      }
      return "clean";
    }
    const admitted = new Map<string, number>();
    let unreadable = 0;
    let records = 0;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const record = parseRecord(line);
      if (record === undefined) {
        unreadable++;
        continue;
      }
      records++;
      this.replay(record, admitted);
    }
    for (const [key, admittedAt] of admitted) this.loadedKeys.push({ key, admittedAt });
    if (firstLoadInProcess) {
      const now = this.now();
      for (const entry of this.entries.values()) if (!entry.dead) entry.dueAt = Math.min(entry.dueAt, now);
    }
    if (this.log) this.log.records = records;
    if (unreadable > 0) {
      this.options.warn(
        `inbox ${path.basename(file)}: ${unreadable} unreadable record(s) skipped (a write cut short by a crash); ` +
          `${this.entries.size} entries kept`,
      );
    }
    return unreadable > 0 || (text !== "" && !text.endsWith("\n")) ? "repair" : "clean";
  }

  private replay(record: InboxRecord, admitted: Map<string, number>): void {
    if ("put" in record) {
      // A replayed dead letter is put again, last in admission order as it was when replayed.
      this.entries.delete(record.put.key);
      this.entries.set(record.put.key, record.put);
      admitted.set(record.put.key, record.put.admittedAt);
      return;
    }
    if ("done" in record) {
      this.entries.delete(record.done);
      return;
    }
    if ("due" in record) {
      const [key, attempt, dueAt, lastError] = record.due;
      const entry = this.entries.get(key);
      if (!entry) return;
      entry.attempt = attempt;
      entry.dueAt = dueAt;
      if (lastError !== null) entry.lastError = lastError;
      return;
    }
    const [key, reason] = record.dead;
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.dead = true;
    entry.lastError = reason;
  }
}

/**
 * The record as one line. An event that JSON cannot express (nested deeper than the stack allows) is
 * refused as unstorable: asking again gives the same answer, so it is the event's fault, not the disk's.
 */
function serialise(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new UnstorableEventError(`the event cannot be stored: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * The message as JSON with `payloadJson` as its payload, so the payload is not serialised a second time. The
 * file holds one record a line: the text's line breaks become spaces. JSON strings cannot hold a raw line break,
 * so each one is whitespace between tokens, and the line parses to the same value.
 */
function withPayload(message: Omit<StoredMessage, "_msgid">, payloadJson: string): string {
  const { payload: _payload, ...rest } = message;
  const payload = payloadJson.replace(LINE_BREAKS, " ");
  const restJson = serialise(rest);
  return restJson === "{}" ? `{"payload":${payload}}` : `{"payload":${payload},${restJson.slice(1)}`;
}

const LINE_BREAKS = /[\r\n]/g;

/**
 * The entry's `put` record. Its message is spliced in as the JSON it is held as, so an admission serialises
 * the event once; the line reads back as `{ put: entry }` like any other.
 */
function putLine(entry: HeldEntry): string {
  const { message, ...rest } = entry;
  const messageJson = typeof message === "string" ? message : JSON.stringify(message);
  return `{"put":{"message":${messageJson},${JSON.stringify(rest).slice(1)}}`;
}

function parseRecord(line: string): InboxRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed)) return undefined;
  if (isEntry(parsed.put)) return { put: parsed.put };
  if (typeof parsed.done === "string") return { done: parsed.done };
  const due = parsed.due;
  if (
    Array.isArray(due) &&
    typeof due[0] === "string" &&
    Number.isFinite(due[1]) &&
    Number.isFinite(due[2]) &&
    (due[3] === null || typeof due[3] === "string")
  ) {
    return { due: [due[0], due[1], due[2], due[3]] };
  }
  const dead = parsed.dead;
  if (Array.isArray(dead) && typeof dead[0] === "string" && typeof dead[1] === "string") {
    return { dead: [dead[0], dead[1]] };
  }
  return undefined;
}

function isEntry(value: unknown): value is InboxEntry {
  if (!isPlainObject(value)) return false;
  return (
    typeof value.key === "string" &&
    typeof value.sourceNodeId === "string" &&
    isPlainObject(value.message) &&
    Number.isFinite(value.attempt) &&
    Number.isFinite(value.dueAt) &&
    Number.isFinite(value.admittedAt)
  );
}
