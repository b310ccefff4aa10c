import type { Node, NodeMessage, NodeStatus } from "node-red";

import type { ClarusClient, GraphqlRequestOptions, RetryInfo } from "../api/client";
import { relayPages } from "../api/relay";
import type { PollRunReporter } from "../connection/poll-runs";
import type { ConnectionServices } from "../connection/services";
import type { PollOutcome } from "../metrics/counters";
import { errorMessage } from "../node-red/errors";
import type { CloseReason } from "../node-red/lifecycle";
import { STATUS, ThrottledStatus } from "../node-red/status";
import type { SchemaModel } from "../schema/schema-model";
import { isSchemaMismatch } from "../schema/tenant-schema";
import type { StoreHealth } from "../store/connection-store";
import { StoreUnavailableError } from "../store/connection-store";
import { describeStoreFailure, storeHealthStatus, watchHealth } from "../store/health";
import { whileHolding } from "../store/lease-holder";
import { emitPolledEvents } from "./emission";
import { PendingRecords } from "./pending";
import { ServerClock } from "./server-clock";
import type { PollSettings } from "./settings";
import { type PollState, PollStateDocument, pollStateName } from "./state";
import { planStream } from "./stream-plans";
import type { PolledEvent, PollStream, StreamContext } from "./streams";

/** What asked for a run: the timer, or an input message (whose `done` reports the outcome). */
export interface PollTrigger {
  since?: string;
  msg?: NodeMessage;
  done?: (error?: Error) => void;
  /**
   * A run the schedule asked for (not an input, not the deploy's first try): skipped when another instance
   * sharing the store completed the stream less than an interval ago.
   */
  timed?: boolean;
}

interface RunOutcome {
  fresh: number;
  duplicates: number;
  complete: boolean;
}

/** What became of an attempt to run, and so when the next one is. */
type Attempt =
  | { kind: "ran" }
  /** Another instance holds the stream's lease: try again after half a lease period. */
  | { kind: "busy" }
  /** Another instance completed the stream at `at` (epoch ms): the next timed run is an interval later. */
  | { kind: "recent"; at: number }
  /** The store cannot answer: the trigger waits for it. */
  | { kind: "waiting" };

/** A built-in stream the tenant's schema cannot serve; `short` fits the status. */
class StreamPlanError extends Error {
  override name = "StreamPlanError";

  constructor(
    message: string,
    readonly short: string,
  ) {
    super(message);
  }
}

/** The longest a run waits for a store that cannot answer before it asks again (it also asks on recovery). */
const STORE_RETRY_MS = 5000;

/**
 * Runs one clarus-poll: never two runs at once, on this instance or on another sharing the connection's
 * store (a lease per poll node, held while the run lasts; the others skip the run and say so); a trigger
 * during a run waits for it, shown in the status; the next timed run only after the last one ended, and not
 * when another instance completed one within the interval. Records are claimed or admitted through the
 * connection's delivery before they are sent, and the watermark advances only after a run without errors.
 * While the store cannot answer, nothing runs: triggers wait, the status says why, and the run starts when
 * the store is back.
 */
export class Poller {
  private running?: Promise<void>;
  private waiting: PollTrigger[] = [];
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private readonly state: PollStateDocument;
  private readonly status: ThrottledStatus;
  private readonly leaseMs: number;
  private readonly unwatchStore: () => void;
  /** Tells the connection how the runs go, for its health. */
  private readonly runs: PollRunReporter;
  /** The node's own status, shown again when the store recovers. */
  private own: NodeStatus;
  /** Why the store cannot answer (its health summary), while it cannot. */
  private storeFailure?: string;
  /** A run waits for the store to answer (said once). */
  private waitingForStore = false;
  /** The cause of the failing timed runs last reported as an error, until a run succeeds. */
  private timedFailure?: string;
  private stopped = false;
  /** The built-in stream as planned for the schema it was planned on. */
  private plan?: { model: SchemaModel; stream: PollStream };

  constructor(
    private readonly node: Node,
    private readonly connection: ConnectionServices,
    private readonly client: ClarusClient,
    private readonly settings: PollSettings,
    private readonly generateId: () => string,
  ) {
    this.status = new ThrottledStatus(node, 250);
    this.state = new PollStateDocument(connection.store, pollStateName(node.id), (message) =>
      node.warn(message),
    );
    this.leaseMs = connection.leaseMs;
    this.own = STATUS.ok(`every ${settings.intervalMs / 60_000} min`);
    this.unwatchStore = watchHealth(connection.store, (health) => this.onStoreHealth(health));
    this.runs = connection.pollRuns.register(node.id, settings.streamName, settings.intervalMs);
  }

  start(): void {
    this.show(this.own);
    if (this.settings.runOnStart) this.request({});
    else this.schedule(this.settings.intervalMs);
  }

  /** Starts a run now, or queues it behind the run in progress (or the store's recovery). */
  request(trigger: PollTrigger): void {
    if (this.stopped) {
      trigger.done?.(new Error("the poll node is closing"));
      return;
    }
    this.waiting.push(trigger);
    if (this.running) return this.showProgress();
    this.startNext();
  }

  /** Stops; the watermark and pending records go only with a node deleted from the flows (not a disabled one). */
  async stop(reason: CloseReason): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unwatchStore();
    this.runs.unregister();
    this.abort.abort(new Error("the poll node is closing"));
    await this.running;
    for (const trigger of this.waiting.splice(0))
      trigger.done?.(new Error("the poll node closed before this run"));
    this.status.stop();
    if (reason === "deleted") {
      await this.state.remove().catch((error: unknown) => {
        this.node.warn(`could not remove the poll state: ${errorMessage(error)}`);
      });
    }
  }

  /** Everything that waits is served by one run; a backfill asks for the earliest date any of them gave. */
  private startNext(): void {
    if (this.running || this.stopped || this.waiting.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0);
    const sinces = batch.map((t) => t.since).filter((s): s is string => s !== undefined);
    const dones = batch.flatMap((t) => (t.done ? [t.done] : []));
    const trigger: PollTrigger = {
      since: sinces.length > 0 ? sinces.sort()[0] : undefined,
      msg: batch.find((t) => t.msg)?.msg,
      // None when no input asked: a failure then goes to node.error (failed), not into an empty callback.
      done: dones.length > 0 ? (error) => dones.forEach((done) => done(error)) : undefined,
      timed: batch.every((t) => t.timed),
    };
    const startedAt = Date.now();
    this.running = this.attempt(trigger, startedAt)
      .catch((error: unknown): Attempt => {
        // Not expected (every failure of a run is reported inside it); never left unhandled.
        this.report("error", startedAt);
        this.node.error(`poll ${this.settings.streamName} failed: ${errorMessage(error)}`);
        trigger.done?.(error instanceof Error ? error : new Error(String(error)));
        return { kind: "ran" };
      })
      .then((attempt) => {
        this.running = undefined;
        this.after(trigger, attempt);
      });
  }

  private after(trigger: PollTrigger, attempt: Attempt): void {
    const again = attempt.kind === "busy" || attempt.kind === "waiting";
    if (this.stopped) {
      if (again) trigger.done?.(new Error("the poll node closed before this run"));
      return;
    }
    if (again) {
      // Asked again later; a deploy's first try is then a timed run like any other.
      this.waiting.unshift({ ...trigger, timed: trigger.timed || trigger.msg === undefined });
      const delay = attempt.kind === "busy" ? this.leaseMs / 2 : Math.min(STORE_RETRY_MS, this.leaseMs / 2);
      return this.schedule(delay);
    }
    if (this.waiting.length > 0) return this.startNext();
    const { intervalMs } = this.settings;
    if (attempt.kind === "recent") {
      return this.schedule(Math.max(this.leaseMs / 2, attempt.at + intervalMs - Date.now()));
    }
    this.schedule(intervalMs);
  }

  /** In `delayMs`, the waiting triggers run, or a timed run when none waits. */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.waiting.length === 0) this.waiting.push({ timed: true });
      this.startNext();
    }, delayMs);
  }

  /** Runs while holding the stream's lease; another instance holding it makes this one skip. */
  private async attempt(trigger: PollTrigger, startedAt: number): Promise<Attempt> {
    let held: { value: Attempt } | undefined;
    try {
      held = await whileHolding(
        this.connection.store,
        this.state.name,
        this.leaseMs,
        (signal) => this.run(trigger, signal, startedAt),
        this.abort.signal,
      );
    } catch (error) {
      if (error instanceof StoreUnavailableError) return this.storeCannotAnswer(error, startedAt);
      throw error;
    }
    if (held) return held.value;
    this.show(STATUS.working("another instance is polling"));
    this.report("skipped", startedAt);
    return { kind: "busy" };
  }

  private async run(trigger: PollTrigger, signal: AbortSignal, startedAt: number): Promise<Attempt> {
    const { intervalMs } = this.settings;
    let state: PollState;
    try {
      state = await this.state.load();
    } catch (error) {
      if (error instanceof StoreUnavailableError) return this.storeCannotAnswer(error, startedAt);
      throw error;
    }
    this.runs.watermark(state.watermark);
    const ranAt = state.ranAt ? Date.parse(state.ranAt) : undefined;
    // A little slack: a timer fires an interval after the run it follows ended, not a millisecond later.
    if (
      trigger.timed &&
      ranAt !== undefined &&
      Date.now() - ranAt < intervalMs - Math.min(intervalMs / 10, 60_000)
    ) {
      this.show(STATUS.ok(`${clockTime(ranAt)} polled by another instance`));
      this.report("recent", startedAt);
      trigger.done?.();
      return { kind: "recent", at: ranAt };
    }
    this.waitingForStore = false;
    const name = this.settings.streamName;
    this.node.debug(`${name} run started at ${new Date().toISOString()}`);
    this.showProgress();
    try {
      const outcome = await this.readStream(trigger.since, state, signal);
      const text = `${clockTime(Date.now())} ${outcome.fresh} new, ${outcome.duplicates} dup${outcome.complete ? "" : ", more"}`;
      this.node.debug(`${name} run ended at ${new Date().toISOString()}: ${text}`);
      this.show(STATUS.ok(text));
      this.report("ok", startedAt);
      trigger.done?.();
    } catch (error) {
      this.node.debug(`${name} run ended at ${new Date().toISOString()}: ${errorMessage(error)}`);
      if (this.stopped) {
        trigger.done?.();
        return { kind: "ran" };
      }
      // Nothing was lost: the watermark stayed, and the run is made again once the store answers.
      if (error instanceof StoreUnavailableError) return this.storeCannotAnswer(error, startedAt);
      this.failed(trigger, error, startedAt);
    }
    return { kind: "ran" };
  }

  /**
   * One attempt's outcome, to the connection's counters and to its health side by side. `recent`: another
   * instance polled the stream within the interval, counted as skipped and as a success of the stream.
   */
  private report(outcome: PollOutcome | "recent", startedAt: number): void {
    this.connection.counters.pollRun(this.settings.streamName, outcome === "recent" ? "skipped" : outcome);
    if (outcome === "error") return this.runs.failed(startedAt);
    if (outcome === "skipped") return;
    this.runs.succeeded();
    if (outcome === "ok" && this.timedFailure !== undefined) {
      this.timedFailure = undefined;
      this.node.log(`poll ${this.settings.streamName} runs again`);
    }
  }

  private failed(trigger: PollTrigger, error: unknown, startedAt: number): void {
    let reason = errorMessage(error);
    if (isSchemaMismatch(error)) {
      // The schema changed since it was read: read it again and plan anew for the next run.
      this.connection.schema.invalidate();
      this.plan = undefined;
      reason += " (the schema is read again for the next run)";
    }
    this.report("error", startedAt);
    const message = `poll ${this.settings.streamName} failed: ${reason}`;
    const short = error instanceof StreamPlanError ? error.short : errorMessage(error).slice(0, 40);
    this.show(STATUS.failed(short));
    if (trigger.done) return trigger.done(new Error(message));
    // A timed run: with a message, so a Catch node sees it; once per cause while the runs go on failing (the
    // timer would repeat it every interval), and a log line when a run succeeds again.
    if (reason === this.timedFailure) return;
    this.timedFailure = reason;
    this.node.error(message, {
      topic: this.settings.streamName,
      payload: { stream: this.settings.streamName, error: message },
    });
  }

  /** Said once for each time a run starts waiting; the connection logs the store's own changes. */
  private storeCannotAnswer(error: StoreUnavailableError, startedAt: number): Attempt {
    // A run that cannot start fails the stream as surely as one that fails.
    this.report("error", startedAt);
    if (!this.waitingForStore) {
      this.waitingForStore = true;
      this.node.warn(`poll ${this.settings.streamName} waits for the store: ${errorMessage(error)}`);
    }
    const failure = describeStoreFailure(this.connection.store);
    this.storeFailure = failure;
    this.status.set(STATUS.failed(failure));
    return { kind: "waiting" };
  }

  /** Red with the store's cause while it cannot answer; back to the node's own status, and to work, after. */
  private onStoreHealth(health: StoreHealth): void {
    if (health.state === "unavailable") {
      this.storeFailure = storeHealthStatus(this.connection.store.kind, health)?.text;
      this.status.set(STATUS.failed(this.storeFailure ?? "store failing"));
    } else if (health.state === "ready" && this.storeFailure !== undefined) {
      this.storeFailure = undefined;
      this.status.set(this.own);
      this.startNext();
    }
  }

  /** A run is on: "polling…", or how many triggers wait for it. */
  private showProgress(): void {
    const waiting = this.waiting.length;
    this.show(STATUS.working(waiting > 0 ? `run in progress, ${waiting} waiting` : "polling…"));
  }

  private show(status: NodeStatus): void {
    this.own = status;
    if (this.storeFailure === undefined) this.status.set(status);
  }

  /** The stream to read: the custom one, or the built-in one planned for the tenant's current schema. */
  private async plannedStream(signal: AbortSignal): Promise<PollStream> {
    if (this.settings.custom) return this.settings.custom;
    const reading = await this.connection.schema.read(signal);
    if (this.plan?.model === reading.model) return this.plan.stream;
    const planned = planStream(this.settings.streamName, reading.model, this.settings.subtypes);
    if ("failure" in planned) throw new StreamPlanError(planned.failure, planned.short);
    this.plan = { model: reading.model, stream: planned.stream };
    const name = this.settings.streamName;
    if (reading.fallbackReason)
      this.node.warn(`${name}: using the documented fields only (${reading.fallbackReason})`);
    if (planned.stream.missing.length > 0) {
      this.node.warn(
        `${name}: the tenant's schema lacks ${planned.stream.missing.join(", ")}; messages come without them`,
      );
    }
    this.node.debug(`${name} reads ${planned.stream.description}`);
    return planned.stream;
  }

  private async readStream(
    backfillSince: string | undefined,
    state: PollState,
    signal: AbortSignal,
  ): Promise<RunOutcome> {
    const stream = await this.plannedStream(signal);
    const { pageSize, maxPages, lookbackMs } = this.settings;
    const now = Date.now();
    const clock = new ServerClock();
    // A watermark later than this machine's clock came from a clock that ran fast (0.1 kept it): read from now.
    const watermark = state.watermark
      ? new Date(Math.min(Date.parse(state.watermark), now)).toISOString()
      : undefined;
    const regularSince = watermark ? shift(watermark, -lookbackMs) : undefined;
    const resume =
      backfillSince === undefined && state.resume?.plan === stream.description ? state.resume : undefined;
    const since =
      backfillSince ?? resume?.since ?? regularSince ?? shift(new Date(now).toISOString(), -lookbackMs);
    const request: GraphqlRequestOptions = {
      signal,
      onRetry: (info: RetryInfo) =>
        this.show(STATUS.degraded(`${info.reason}, retry in ${Math.ceil(info.delayMs / 1000)}s`)),
      onServerClock: (serverMs) => clock.reportSent(serverMs),
    };
    const pending = new PendingRecords(state.pending);
    const context: StreamContext = {
      client: this.client,
      pageSize,
      maxPages,
      pending,
      seenAt: new Date(now).toISOString(),
      request,
    };
    const outcome: RunOutcome = { fresh: 0, duplicates: 0, complete: true };
    const emit = (events: PolledEvent[]) => this.emit(events, outcome, signal);
    if (stream.recheck) await emit(await stream.recheck(context));
    let pages = 0;
    let stoppedAt: string | undefined;
    const pageRequest = {
      query: stream.query,
      variables: stream.variables(since),
      path: stream.path,
      pageSize,
      after: resume?.after,
      ...request,
    };
    for await (const page of relayPages(this.client, pageRequest)) {
      pages++;
      clock.readTimestamps(page.nodes, stream.timeField);
      await emit(await stream.events(page.nodes, context));
      if (pages >= maxPages && page.hasNextPage && page.endCursor) {
        stoppedAt = page.endCursor;
        break;
      }
    }
    if (!stoppedAt && stream.watch) await stream.watch(context, since);
    const dropped = pending.prune(now, stream.pendingKey);
    if (dropped > 0) {
      this.node.warn(
        `${this.settings.streamName}: stopped waiting for ${dropped} records that did not complete in time`,
      );
    }
    const startedAt = earliest(resume?.startedAt, clock.startedAt);
    const next = this.nextState(state, since, regularSince, startedAt, stoppedAt, stream, pending);
    // A lease lost now means another instance may already be running: it keeps the state as it found it.
    signal.throwIfAborted();
    await this.state.save({ ...next, ranAt: new Date().toISOString() });
    this.runs.watermark(next.watermark);
    outcome.complete = stoppedAt === undefined;
    return outcome;
  }

  /** Sends the events through the connection's delivery (dedupe claim, or the durable inbox first). */
  private async emit(events: PolledEvent[], outcome: RunOutcome, signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    const cancelled = () => signal.aborted;
    const emitted = await emitPolledEvents(this.node, this.connection, events, this.generateId, cancelled);
    outcome.fresh += emitted.fresh;
    outcome.duplicates += emitted.duplicates;
  }

  /**
   * A finished run moves the watermark to when it started in the API's clock (never a later time, and
   * never this machine's clock); a run cut short by `maxPages` keeps the watermark and records where to
   * go on. A backfill that starts after the regular window would leave a gap, so it never moves the
   * watermark. Without any reading of the API's clock the watermark stays.
   */
  private nextState(
    state: PollState,
    since: string,
    regularSince: string | undefined,
    startedAt: string | undefined,
    stoppedAt: string | undefined,
    stream: PollStream,
    pending: PendingRecords,
  ): PollState {
    const kept: PollState = { watermark: state.watermark, pending: pending.toJSON() };
    if (stoppedAt) {
      const resumeStart = startedAt ?? state.watermark ?? since;
      return {
        ...kept,
        resume: { since, after: stoppedAt, startedAt: resumeStart, plan: stream.description },
      };
    }
    const coversWindow = regularSince === undefined || Date.parse(since) <= Date.parse(regularSince);
    if (!coversWindow || startedAt === undefined) return kept;
    return { ...kept, watermark: startedAt };
  }
}

/** `hh:mm` of an epoch ms, as the status shows times (UTC, like the watermark). */
function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16);
}

function shift(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}
