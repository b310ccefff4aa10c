import { instantMs } from "../instant";
import { isPlainObject, type JsonObject } from "../json";

/**
 * The API's "now" as one poll run learns it: the earliest send time the API's `Date` headers give
 * (client.ts `onServerClock`), else the latest record timestamp read. A watermark taken from it never
 * runs ahead of the API, whatever this machine's clock says: a fast local clock would otherwise skip the
 * records the API stamps between its time and ours.
 */
export class ServerClock {
  private sentAt?: number;
  private latestRead?: number;

  reportSent(serverMs: number): void {
    if (this.sentAt === undefined || serverMs < this.sentAt) this.sentAt = serverMs;
  }

  readTimestamps(nodes: readonly JsonObject[], field: string | undefined): void {
    // The Date header wins; reading every record's timestamp is only the fallback.
    if (!field || this.sentAt !== undefined) return;
    for (const node of nodes) {
      const value = isPlainObject(node) ? node[field] : undefined;
      // As an instant: records may spell their times with an offset, and one without is UTC, not local.
      const ms = instantMs(value);
      if (ms !== undefined && (this.latestRead === undefined || ms > this.latestRead)) this.latestRead = ms;
    }
  }

  /** When the run started in the API's clock, or undefined when the API gave no clue. */
  get startedAt(): string | undefined {
    const ms = this.sentAt ?? this.latestRead;
    return ms === undefined ? undefined : new Date(ms).toISOString();
  }
}
