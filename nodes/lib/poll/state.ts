import { canonicalInstant } from "../instant";
import { isPlainObject, type JsonObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { type ConnectionStore, StoreUnavailableError } from "../store/connection-store";
import { safeFileName } from "../store/connection-store";

/**
 * Where a poll node stands: what is finished, where an unfinished run goes on, and which records are
 * waiting to complete. A 0.1 state file (watermark and resume only) reads as it is.
 */
export interface PollState {
  /** Everything that happened before this instant, in the API's clock, has been read (less the lookback). */
  watermark?: string;
  /**
   * A run stopped at `maxPages`: the next run continues it from `after`, if it reads the same way
   * (`plan`, the stream's description; a cursor means nothing to another query).
   */
  resume?: { since: string; after: string; startedAt: string; plan?: string };
  /** Records seen but not yet in the state their event needs, read again each run (pending.ts). */
  pending?: Record<string, string>;
  /**
   * When the last complete run ended, in the clock of the instance that ran it: instances sharing the store
   * skip a timed run when another ran the stream less than an interval ago.
   */
  ranAt?: string;
}

/** The document (and lease) name of a poll node: its 0.1 file `clarus/poll-<node id>.json` is this document. */
export function pollStateName(nodeId: string): string {
  return `poll-${safeFileName(nodeId)}`;
}

/**
 * A poll node's state as a document of the connection's store, so redeploys and restarts keep it (Node-RED's
 * default context store is memory only) and, with `store: redis`, every instance reads where the last run,
 * wherever it ran, left it. Read at the start of each run. A document that cannot be read (not JSON, not an
 * object) is a fresh start, with a warning; a store that cannot answer rejects (StoreUnavailableError).
 */
export class PollStateDocument {
  constructor(
    private readonly store: ConnectionStore,
    readonly name: string,
    private readonly warn: (message: string) => void,
  ) {}

  async load(): Promise<PollState> {
    let value: unknown;
    try {
      value = await this.store.readDocument(this.name);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      this.warn(`poll state was unreadable (${errorMessage(error)}); starting from the lookback window`);
      return {};
    }
    if (value === undefined) return {};
    if (!isPlainObject(value)) {
      this.warn("poll state was not an object; starting from the lookback window");
      return {};
    }
    return validState(value, this.warn);
  }

  save(state: PollState): Promise<void> {
    return this.store.writeDocument(this.name, state);
  }

  remove(): Promise<void> {
    return this.store.removeDocument(this.name);
  }
}

/**
 * The parts of a state file that are what they claim; a part that is not is dropped, with a warning. Times
 * are kept in one spelling (UTC, milliseconds), however they were written: a file edited by hand or written
 * by another version may spell an instant with an offset.
 */
function validState(parsed: JsonObject, warn: (message: string) => void): PollState {
  const state: PollState = {};
  const watermark = canonicalInstant(parsed.watermark);
  if (watermark !== undefined) state.watermark = watermark;
  else if (parsed.watermark !== undefined)
    warn("poll state watermark is not a date; starting from the lookback window");
  const resume = parsed.resume;
  const since = isPlainObject(resume) ? canonicalInstant(resume.since) : undefined;
  const startedAt = isPlainObject(resume) ? canonicalInstant(resume.startedAt) : undefined;
  if (
    isPlainObject(resume) &&
    since !== undefined &&
    startedAt !== undefined &&
    typeof resume.after === "string" &&
    (resume.plan === undefined || typeof resume.plan === "string")
  ) {
    state.resume = { since, after: resume.after, startedAt, plan: resume.plan };
  } else if (resume !== undefined) {
    warn("poll state had an unreadable place to resume from; the next run reads its whole window");
  }
  if (isPlainObject(parsed.pending)) state.pending = pendingTimes(parsed.pending);
  const ranAt = canonicalInstant(parsed.ranAt);
  if (ranAt !== undefined) state.ranAt = ranAt;
  return state;
}

/** Pending entries with their times in one spelling; an entry whose time is none stays, for prune to drop. */
function pendingTimes(pending: JsonObject): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [entry, seen] of Object.entries(pending)) {
    if (typeof seen === "string") kept[entry] = canonicalInstant(seen) ?? seen;
  }
  return kept;
}
