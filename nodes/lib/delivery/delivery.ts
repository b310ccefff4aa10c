import { EventEmitter } from "node:events";

import type { ClarusMessage } from "../events/message";
import { errorMessage } from "../node-red/errors";
import { RateLimitedLog } from "../node-red/rate-limited-log";
import {
  type ConnectionStore,
  type InboxEntry,
  type NewInboxEntry,
  StoreClosedError,
} from "../store/connection-store";
import type { DeliverySettings } from "./settings";

/** How a source node (webhook-in, poll) sends an event of its own again, and reports one that died. */
export interface EventSender {
  send(msg: ClarusMessage): void;
  /** `node.error(error, msg)`, so a Catch node gets the dead letter with its message. */
  fail(error: Error, msg: ClarusMessage): void;
}

export interface DeliveryHooks {
  generateId: () => string;
  warn: (message: string) => void;
  debug: (message: string) => void;
  /** For a dead letter whose source node is gone: the connection node reports it. */
  error: (message: string) => void;
  /**
   * Whether a node of this id stands in this instance's deployed flows, enabled or disabled. Due entries of
   * such a node that has no sender here are another delivery's to send (or wait for it to be enabled).
   */
  isDeployed: (nodeId: string) => boolean;
}

export interface InboxCounts {
  pending: number;
  dead: number;
}

/** What `accept` made of one event; see there. */
export type AcceptOutcome = "fresh" | "duplicate" | "held" | Error;

/** The event's node closed while its claim was on its way: released, for Clarus to send again (a 503). */
export class AcceptCancelledError extends Error {
  override name = "AcceptCancelledError";
}

const never = () => false;

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** Redelivery looks for due entries this often; the shortest `redeliverSeconds` is one tick. */
const TICK_MS = 1000;
/** Entries taken per look; a full batch looks again at once (a backlog after a restart). */
const BATCH = 200;
/**
 * Redeliver periods that a due entry of a node gone from the flows waits before it is taken anyway (its
 * attempts counted, then a dead letter). Instances in a rolling deploy run different flows for a while: one
 * that lacks a new node must leave its entries to those that have it, which take them as they fall due.
 */
const GONE_SOURCE_GRACE_PERIODS = 3;

/**
 * The delivery guarantee of one connection, shared by its webhook-in and poll nodes. `on-receipt` claims
 * each event's key before it is sent (the 0.1 behaviour); `on-confirm` admits each event to the durable
 * inbox before it is answered or sent, and sends it again until a `clarus-confirm` node sees it: after
 * `redeliverMs`, at once after a restart, and as a dead letter to a Catch node after `maxAttempts`.
 *
 * Source nodes register a sender under their node id; a pending event is sent again by the node that
 * admitted it. Emits "counts" (InboxCounts) when the pending or dead count changes.
 */
export class Delivery extends EventEmitter {
  private readonly senders = new Map<string, EventSender>();
  private readonly accepting = new Set<Promise<AcceptOutcome[]>>();
  private readonly warnings: RateLimitedLog;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private started = false;
  private closed = false;
  private shown: InboxCounts = { pending: 0, dead: 0 };

  constructor(
    readonly store: ConnectionStore,
    readonly settings: DeliverySettings,
    private readonly hooks: DeliveryHooks,
  ) {
    super();
    this.warnings = new RateLimitedLog(hooks.warn);
  }

  get onConfirm(): boolean {
    return this.settings.mode === "on-confirm";
  }

  get counts(): InboxCounts {
    return this.shown;
  }

  /** The node `nodeId` sends its pending events again through `sender`; call the result on close. */
  registerSender(nodeId: string, sender: EventSender): () => void {
    this.senders.set(nodeId, sender);
    return () => {
      if (this.senders.get(nodeId) === sender) this.senders.delete(nodeId);
    };
  }

  /** Whether this delivery can send the events of node `nodeId` now (it is deployed here and enabled). */
  hasSender(nodeId: string): boolean {
    return this.senders.has(nodeId);
  }

  /** Whether a node of this id stands in this instance's flows, enabled or not. */
  isDeployed(nodeId: string): boolean {
    return this.senders.has(nodeId) || this.hooks.isDeployed(nodeId);
  }

  /**
   * Sends `msg` once through node `nodeId`, outside the inbox (a recent delivery an operator sends again):
   * false when that node does not send here.
   */
  sendThrough(nodeId: string, msg: ClarusMessage): boolean {
    const sender = this.senders.get(nodeId);
    if (!sender) return false;
    sender.send(msg);
    return true;
  }

  /** Something was made due now (a dead letter replayed): look for due entries at once, not at the next tick. */
  sendDueSoon(): void {
    this.schedule(0);
  }

  /**
   * Lets events in, before they are answered or sent: `on-receipt` claims each key; `on-confirm` admits
   * each entry (concurrent admissions share one fsync). One outcome per entry, in order: "fresh" (send it),
   * "duplicate", "held" (in the inbox, sent by redelivery instead: its node closed meanwhile) or the error
   * that kept it out (a StoreUnavailableError when the store cannot take it now, an UnstorableEventError
   * when it never can, an AcceptCancelledError). An entry let in is never lost to another entry's failure.
   *
   * `cancelled` is asked once the store has answered: true when the source node closed meanwhile (a
   * redeploy), whose messages would go to a flow that is gone. Fresh claims are then released, so Clarus's
   * retry or the next run is fresh again; fresh inbox entries are made due at once.
   */
  async accept(entries: NewInboxEntry[], cancelled: () => boolean = never): Promise<AcceptOutcome[]> {
    if (this.closed) throw new StoreClosedError("the connection is closing (a redeploy?)");
    const accepting = this.letIn(entries, cancelled);
    // The store closes only after these, so a release still reaches it during a redeploy.
    this.accepting.add(accepting);
    try {
      return await accepting;
    } finally {
      this.accepting.delete(accepting);
    }
  }

  /** One event's outcome; rejects with what kept it out. */
  async acceptOne(entry: NewInboxEntry, cancelled?: () => boolean): Promise<"fresh" | "duplicate" | "held"> {
    const [outcome] = await this.accept([entry], cancelled);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  private async letIn(entries: NewInboxEntry[], cancelled: () => boolean): Promise<AcceptOutcome[]> {
    const settled = await Promise.allSettled(
      entries.map(async (entry): Promise<"fresh" | "duplicate"> => {
        if (!this.onConfirm) return (await this.store.claim(entry.key)) ? "fresh" : "duplicate";
        entry.message.clarus.attempt = 1;
        entry.message.clarus.redelivered = false;
        return this.store.admit(entry);
      }),
    );
    const outcomes: AcceptOutcome[] = settled.map((result) =>
      result.status === "fulfilled" ? result.value : asError(result.reason),
    );
    if (!outcomes.includes("fresh") || !cancelled()) return outcomes;
    return Promise.all(
      outcomes.map(async (outcome, index) => {
        if (outcome !== "fresh") return outcome;
        const { key } = entries[index];
        if (this.onConfirm) {
          // Kept: due now, so the next flow (or another instance) sends it without waiting redeliverSeconds.
          await this.store.retry(key, 0).catch(() => undefined);
          return "held";
        }
        try {
          await this.store.release(key);
        } catch (error) {
          this.warnings.warn("a claim could not be released", `${key}: ${errorMessage(error)}`);
        }
        return new AcceptCancelledError(
          `its node closed before ${key} could be sent; the claim was released`,
        );
      }),
    );
  }

  /** The event is done. False (a no-op) for a key the inbox does not hold, e.g. one confirmed before. */
  async confirm(key: string): Promise<boolean> {
    return this.store.confirm(key);
  }

  /** Sends the pending event again after `delayMs`. False (a no-op) for a key the inbox does not hold. */
  async retry(key: string, delayMs: number, reason?: string): Promise<boolean> {
    const retried = await this.store.retry(key, delayMs, reason);
    if (retried && delayMs < TICK_MS) this.schedule(delayMs);
    return retried;
  }

  /** Starts sending due events, once the flows are running (every source node has registered). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.schedule(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    await Promise.allSettled([...this.accepting]);
    this.senders.clear();
  }

  private schedule(delayMs: number): void {
    if (this.closed || !this.started) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.ticking) this.ticking = this.tick().finally(() => (this.ticking = undefined));
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let full = false;
    try {
      const { redeliverMs } = this.settings;
      const due = await this.store.takeDue({
        // Only a delivery that can send an entry may take it: taking counts an attempt.
        sources: new Set(this.senders.keys()),
        isDeployed: this.hooks.isDeployed,
        goneSourceGraceMs: GONE_SOURCE_GRACE_PERIODS * redeliverMs,
        redeliverMs,
        limit: BATCH,
      });
      for (const entry of due) await this.sendAgain(entry);
      full = due.length === BATCH;
      await this.refreshCounts();
    } catch (error) {
      if (!(error instanceof StoreClosedError)) {
        this.warnings.warn("redelivery failed", errorMessage(error));
      }
    }
    if (!this.closed) this.schedule(full ? 0 : TICK_MS);
  }

  private async sendAgain(entry: InboxEntry): Promise<void> {
    const sender = this.senders.get(entry.sourceNodeId);
    const { maxAttempts } = this.settings;
    if (entry.attempt > maxAttempts) {
      const why = entry.lastError ? `; last error: ${entry.lastError}` : "";
      const reason = `not confirmed after ${maxAttempts} attempt${maxAttempts === 1 ? "" : "s"}${why}`;
      await this.store.markDead(entry.key, reason);
      const message = `dead letter ${entry.key}: ${reason}`;
      if (sender) sender.fail(new Error(message), this.messageOf(entry, maxAttempts));
      else this.hooks.error(`${message} (its node ${entry.sourceNodeId} is not deployed)`);
      return;
    }
    if (!sender) {
      this.hooks.debug(
        `${entry.key} is due again, but its node ${entry.sourceNodeId} is not deployed; ` +
          `attempt ${entry.attempt} of ${maxAttempts} counted`,
      );
      return;
    }
    sender.send(this.messageOf(entry, entry.attempt));
    // A connection switched back to on-receipt sends what its inbox still held once, as delivered.
    if (!this.onConfirm) await this.store.confirm(entry.key);
  }

  /** The stored message as a new message: its own id and copy, with the attempt it is. */
  private messageOf(entry: InboxEntry, attempt: number): ClarusMessage {
    const stored = structuredClone(entry.message);
    return {
      ...stored,
      _msgid: this.hooks.generateId(),
      clarus: { ...stored.clarus, attempt, redelivered: true },
    };
  }

  private async refreshCounts(): Promise<void> {
    const counts = await this.store.inboxCounts();
    if (counts.pending === this.shown.pending && counts.dead === this.shown.dead) return;
    this.shown = counts;
    this.emit("counts", counts);
  }
}
