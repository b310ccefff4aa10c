import type { PollHealth } from "./health";

/** A poll whose runs have failed for this many of its intervals makes its connection unhealthy. */
export const FAILING_INTERVALS = 3;

/** What a poll node tells its connection about its runs. */
export interface PollRunReporter {
  /** A run completed (or another instance sharing the store polled the stream within the interval). */
  succeeded(): void;
  /** A run that started at `startedAt` (epoch ms) failed, or could not start (the store cannot answer). */
  failed(startedAt: number): void;
  /** The stream's watermark as the node last read or moved it (ISO 8601); undefined before a first run. */
  watermark(at: string | undefined): void;
  /** The node closed: it is no part of the connection's health any more. */
  unregister(): void;
}

interface PollRecord {
  node: string;
  stream: string;
  intervalMs: number;
  /** The start of the first failed run since the last success. */
  failingSince?: number;
  /** The watermark, epoch ms. */
  watermarkAt?: number;
}

/**
 * The poll nodes of one connection and how their runs went, for the health endpoint: each poll node registers
 * as it starts and unregisters as it closes, so the list is what is deployed now.
 */
export class PollRuns {
  private readonly polls = new Map<string, PollRecord>();

  register(node: string, stream: string, intervalMs: number): PollRunReporter {
    const record: PollRecord = { node, stream, intervalMs };
    this.polls.set(node, record);
    return {
      succeeded: () => {
        record.failingSince = undefined;
      },
      failed: (startedAt) => {
        record.failingSince ??= startedAt;
      },
      watermark: (at) => {
        const ms = at === undefined ? NaN : Date.parse(at);
        record.watermarkAt = Number.isFinite(ms) ? ms : undefined;
      },
      // A node of the same id that registered since (a redeploy) stays.
      unregister: () => {
        if (this.polls.get(node) === record) this.polls.delete(node);
      },
    };
  }

  /** Each registered poll: ok unless its runs have been failing for FAILING_INTERVALS intervals or more. */
  health(now = Date.now()): PollHealth[] {
    return [...this.polls.values()].map(({ node, stream, intervalMs, failingSince }) => {
      if (failingSince === undefined) return { node, stream, ok: true };
      return {
        node,
        stream,
        ok: now - failingSince < FAILING_INTERVALS * intervalMs,
        failingSince: new Date(failingSince).toISOString(),
      };
    });
  }

  /**
   * Seconds since each stream's watermark, by stream name (the oldest, where two poll nodes poll one stream):
   * how far behind the poll is. Streams without a watermark yet are left out.
   */
  watermarkAges(now = Date.now()): Record<string, number> {
    const ages: Record<string, number> = {};
    for (const { stream, watermarkAt } of this.polls.values()) {
      if (watermarkAt === undefined) continue;
      const age = Math.max(0, (now - watermarkAt) / 1000);
      ages[stream] = Math.max(ages[stream] ?? 0, age);
    }
    return ages;
  }
}
