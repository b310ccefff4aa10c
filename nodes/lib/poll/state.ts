import { errorMessage } from "../node-red/errors";
import { readTextIfExists, writeFileAtomic } from "../store/json-file";
import { isPlainObject, type JsonObject } from "../json";

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
}

/**
 * A poll node's state in its own file, so redeploys and restarts keep it (Node-RED's default context
 * store is memory only). Written atomically; a missing or unreadable file is a fresh start.
 */
export class PollStateFile {
  private state: PollState;

  constructor(
    private readonly file: string | undefined,
    warn: (message: string) => void,
  ) {
    this.state = {};
    const text = readTextIfExists(file);
    if (text === undefined) return;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isPlainObject(parsed)) this.state = validState(parsed, warn);
    } catch (error) {
      warn(`poll state file was unreadable (${errorMessage(error)}); starting from the lookback window`);
    }
  }

  get current(): PollState {
    return this.state;
  }

  async save(state: PollState): Promise<void> {
    this.state = state;
    if (this.file) await writeFileAtomic(this.file, JSON.stringify(state));
  }
}

/** The parts of a state file that are what they claim; a part that is not is dropped, with a warning. */
function validState(parsed: JsonObject, warn: (message: string) => void): PollState {
  const state: PollState = {};
  const isDate = (value: unknown): value is string =>
    typeof value === "string" && !Number.isNaN(Date.parse(value));
  if (isDate(parsed.watermark)) state.watermark = parsed.watermark;
  else if (parsed.watermark !== undefined)
    warn("poll state watermark is not a date; starting from the lookback window");
  const resume = parsed.resume;
  if (
    isPlainObject(resume) &&
    isDate(resume.since) &&
    isDate(resume.startedAt) &&
    typeof resume.after === "string" &&
    (resume.plan === undefined || typeof resume.plan === "string")
  ) {
    state.resume = {
      since: resume.since,
      after: resume.after,
      startedAt: resume.startedAt,
      plan: resume.plan,
    };
  } else if (resume !== undefined) {
    warn("poll state had an unreadable place to resume from; the next run reads its whole window");
  }
  if (isPlainObject(parsed.pending)) state.pending = parsed.pending as Record<string, string>;
  return state;
}
