import { withinDeadline } from "../deadline";
import { errorMessage } from "../node-red/errors";
import type { PartHealth } from "./health";

/** How often a health check asks the token endpoint again after it answered with a token (settings.js). */
export const DEFAULT_TOKEN_CHECK_MS = 30_000;
/** A token request unanswered this long counts as failing, though it may still answer later. */
export const TOKEN_STALL_MS = 10_000;

export interface TokenCheckOptions {
  /** After a token was obtained, the next check asks again only this much later; after a failure, at once. */
  intervalMs?: number;
  stallMs?: number;
  now?: () => number;
}

/**
 * Whether the connection can obtain an API token, for the health endpoint, which must answer within a second
 * whatever Clarus does: a check asks the token endpoint (one request at a time, `refresh`) and waits for it
 * only as long as the caller allows; past that the last known answer stands, and the request goes on for the
 * next check. Before any request has answered the state is "unknown" (not ok): a probe cannot tell a Clarus
 * that is slow to answer from one that never will.
 */
export class TokenCheck {
  private last?: { at: number; error?: string };
  /** When the token endpoint first failed since it last gave a token (a refusal, or a request left unanswered). */
  private failedSince?: number;
  private inFlight?: { since: number; done: Promise<void> };
  private readonly intervalMs: number;
  private readonly stallMs: number;
  private readonly now: () => number;

  constructor(
    private readonly refresh: () => Promise<void>,
    options: TokenCheckOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_TOKEN_CHECK_MS;
    this.stallMs = options.stallMs ?? TOKEN_STALL_MS;
    this.now = options.now ?? Date.now;
  }

  /** Asks the token endpoint when it is time to, waits at most `waitMs` for the answer, and says what is known. */
  async check(waitMs: number): Promise<PartHealth> {
    const last = this.last;
    const due = !last || last.error !== undefined || this.now() - last.at >= this.intervalMs;
    if (due && !this.inFlight) this.start();
    if (this.inFlight) await withinDeadline(this.inFlight.done, waitMs);
    return this.known();
  }

  private start(): void {
    const since = this.now();
    const done = this.refresh()
      .then(
        () => {
          this.last = { at: this.now() };
          this.failedSince = undefined;
        },
        (error: unknown) => {
          this.last = { at: this.now(), error: errorMessage(error) };
          this.failedSince ??= since;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
    this.inFlight = { since, done };
  }

  /** What the last answers said, without asking again. */
  get lastKnown(): PartHealth {
    return this.known();
  }

  /**
   * Since when no token could be obtained (epoch ms): from the start of the first request that failed or has
   * stalled since the last success; undefined while tokens come, or before any answer.
   */
  get failingSince(): number | undefined {
    const stalled =
      this.inFlight && this.now() - this.inFlight.since >= this.stallMs ? this.inFlight.since : undefined;
    if (this.failedSince === undefined) return stalled;
    return stalled === undefined ? this.failedSince : Math.min(stalled, this.failedSince);
  }

  private known(): PartHealth {
    const waited = this.inFlight ? this.now() - this.inFlight.since : 0;
    if (waited >= this.stallMs) {
      const seconds = Math.floor(waited / 1000);
      return {
        ok: false,
        state: "unavailable",
        cause: `the Clarus token endpoint has not answered for ${seconds} s`,
      };
    }
    if (!this.last) {
      return { ok: false, state: "unknown", cause: "no answer yet from the Clarus token endpoint" };
    }
    if (this.last.error !== undefined) return { ok: false, state: "unavailable", cause: this.last.error };
    return { ok: true, state: "ready" };
  }
}
