import { errorMessage } from "../node-red/errors";
import { readTextIfExists, writeFileAtomic } from "../store/json-file";
import { isPlainObject } from "../json";

/** Where a poll node stands: what is finished, and where an unfinished run goes on. */
export interface PollState {
  /** Everything that happened before this instant has been read (less the lookback). */
  watermark?: string;
  /** A run stopped at `maxPages`: the next run continues it from `after`. */
  resume?: { since: string; after: string; startedAt: string };
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
      if (isPlainObject(parsed)) this.state = parsed as PollState;
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
