import { EventEmitter } from "node:events";
import { setTimeout as wait } from "node:timers/promises";

import type { InboxEntry } from "../store/connection-store";
import type { Delivery } from "./delivery";

/** Which dead letters an operator acts on: the listed keys, or all of one event, or (neither) all. */
export interface DeadLetterSelection {
  keys?: readonly string[];
  event?: string;
}

export interface ReplayRequest extends DeadLetterSelection {
  /** The node to send them through instead of their own (a webhook-in of the same connection). */
  via?: string;
}

/** A dead letter left as it was, and why. */
export interface SkippedDeadLetter {
  key: string;
  reason: string;
}

export interface ReplayOutcome {
  replayed: number;
  skipped: SkippedDeadLetter[];
  cancelled: boolean;
}

/** How a replay is going, for the editor: published at each step. */
export interface ReplayProgress {
  running: boolean;
  total: number;
  replayed: number;
  skipped: number;
  cancelled: boolean;
  startedAt: string;
  error?: string;
}

/** A replay of this connection runs already (one at a time, so two cannot share out the rate). */
export class ReplayBusyError extends Error {
  override name = "ReplayBusyError";
}

/** The request names something that cannot be done (a `via` node that does not send for this connection). */
export class ReplayRequestError extends Error {
  override name = "ReplayRequestError";
}

/** The default of settings.js `clarus.replayPerSecond`. */
export const DEFAULT_REPLAY_PER_SECOND = 20;
/** Dead letters read per store call while the selection is gathered. */
const PAGE = 500;
/** The most dead letters one request looks through (a bound on the memory of one selection). */
const MAX_SELECTION = 100_000;

/** The dead letters a selection names, oldest first, read from the store in pages. */
export async function selectDeadLetters(
  delivery: Pick<Delivery, "store">,
  selection: DeadLetterSelection,
): Promise<{ found: InboxEntry[]; missing: string[] }> {
  const wanted = selection.keys ? new Set(selection.keys) : undefined;
  const found: InboxEntry[] = [];
  for (let offset = 0; offset < MAX_SELECTION; offset += PAGE) {
    const page = await delivery.store.deadLetters(PAGE, offset);
    for (const entry of page) {
      if (wanted && !wanted.has(entry.key)) continue;
      if (selection.event !== undefined && eventOf(entry) !== selection.event) continue;
      found.push(entry);
    }
    if (page.length < PAGE || (wanted && found.length === wanted.size)) break;
  }
  const seen = new Set(found.map((entry) => entry.key));
  const missing = wanted ? [...wanted].filter((key) => !seen.has(key)) : [];
  return { found, missing };
}

/** The event a stored message carries. */
export function eventOf(entry: InboxEntry): string {
  return entry.message.clarus?.event ?? entry.message.topic;
}

const NOT_DEAD = "not a dead letter (any more: replayed or discarded meanwhile?)";

/**
 * Replays a connection's dead letters at most `perSecond` a second, one replay at a time, cancellable: each is
 * made pending again in the store (atomically, so instances that share a Redis replay each once), and the
 * delivery sends it through its source node as any due entry, to be confirmed like any other. A dead letter
 * whose node is not deployed here is skipped with the reason, unless `via` names another node to send it.
 * Emits "progress" (ReplayProgress) at each step.
 */
export class DeadLetterReplay extends EventEmitter {
  private current?: { progress: ReplayProgress; stop: AbortController };
  private last?: ReplayProgress;

  constructor(
    private readonly delivery: Delivery,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** The replay running now, else the last one (undefined before any). */
  get progress(): ReplayProgress | undefined {
    return this.current?.progress ?? this.last;
  }

  /** Stops the running replay after the dead letter in hand; false when none runs. */
  cancel(): boolean {
    if (!this.current) return false;
    this.current.stop.abort();
    return true;
  }

  async replay(request: ReplayRequest): Promise<ReplayOutcome> {
    if (this.current) throw new ReplayBusyError("a replay of this connection is running; cancel it first");
    const { via } = request;
    if (via !== undefined && !this.delivery.hasSender(via)) {
      throw new ReplayRequestError(`node ${via} does not send events for this connection here`);
    }
    const stop = new AbortController();
    const progress: ReplayProgress = {
      running: true,
      total: 0,
      replayed: 0,
      skipped: 0,
      cancelled: false,
      startedAt: new Date(this.now()).toISOString(),
    };
    this.current = { progress, stop };
    const skipped: SkippedDeadLetter[] = [];
    const skip = (key: string, reason: string) => {
      skipped.push({ key, reason });
      progress.skipped++;
    };
    try {
      const { found, missing } = await selectDeadLetters(this.delivery, request);
      for (const key of missing) skip(key, NOT_DEAD);
      progress.total = found.length + missing.length;
      this.publish(progress);
      const gapMs = 1000 / Math.max(0.001, this.perSecond);
      const startedAt = this.now();
      let sent = 0;
      for (const entry of found) {
        if (stop.signal.aborted) break;
        const source = via ?? entry.sourceNodeId;
        if (!this.delivery.isDeployed(source)) {
          skip(entry.key, `its node ${source} is not deployed; choose a webhook-in to send it through`);
          this.publish(progress);
          continue;
        }
        const dueAt = startedAt + sent * gapMs;
        if (dueAt > this.now()) {
          try {
            await wait(dueAt - this.now(), undefined, { signal: stop.signal });
          } catch {
            break;
          }
        }
        sent++;
        if (await this.delivery.store.replayDead(entry.key, via)) {
          progress.replayed++;
          this.delivery.sendDueSoon();
        } else skip(entry.key, NOT_DEAD);
        this.publish(progress);
      }
      progress.cancelled = stop.signal.aborted;
      return { replayed: progress.replayed, skipped, cancelled: progress.cancelled };
    } catch (error) {
      progress.error = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      progress.running = false;
      this.last = progress;
      this.current = undefined;
      this.publish(progress);
    }
  }

  private publish(progress: ReplayProgress): void {
    this.emit("progress", { ...progress });
  }
}

/** Drops the selected dead letters; their keys stay claimed. */
export async function discardDeadLetters(
  delivery: Pick<Delivery, "store">,
  selection: DeadLetterSelection,
): Promise<number> {
  const { found } = await selectDeadLetters(delivery, selection);
  let discarded = 0;
  for (const entry of found) if (await delivery.store.discardDead(entry.key)) discarded++;
  return discarded;
}
