import { rm } from "node:fs/promises";
import path from "node:path";

import type { Node, NodeDef, NodeMessage } from "node-red";

import type { ClarusClient, GraphqlRequestOptions, RetryInfo } from "../api/client";
import { safeFileName, type ConnectionServices } from "../connection/services";
import { ConfigError, errorMessage } from "../node-red/errors";
import { isKnownEvent } from "../events/vocabulary";
import { emitPolledEvents } from "./emission";
import { PollState, PollStateFile } from "./state";
import { flag } from "../node-red/properties";
import {
  customStream,
  STOCK_TRANSACTIONS,
  type PolledEvent,
  type PollStream,
  type StreamContext,
} from "./streams";
import { planStream } from "./stream-plans";
import { PendingRecords } from "./pending";
import { isSchemaMismatch } from "../api/schema";
import type { SchemaModel } from "../api/schema-model";
import { relayPages } from "../api/relay";
import { ServerClock } from "./server-clock";
import { subtypeEvents } from "./subtypes";
import { STATUS, ThrottledStatus } from "../node-red/status";

export interface PollDef extends NodeDef {
  connection: string;
  stream: string;
  query?: string;
  event?: string;
  intervalMinutes?: number | string;
  lookbackMinutes?: number | string;
  pageSize?: number | string;
  maxPages?: number | string;
  runOnStart?: boolean | string;
  subtypes?: unknown;
}

export interface PollSettings {
  streamName: string;
  /** The custom stream; built-in streams are planned from the tenant's schema at run time. */
  custom?: PollStream;
  /** Transaction subtype code -> event, for stock.transactions. */
  subtypes: Readonly<Record<string, string>>;
  intervalMs: number;
  lookbackMs: number;
  pageSize: number;
  maxPages: number;
  runOnStart: boolean;
}

const MAX_PAGE_SIZE = 500;
const BUILT_IN = new Set(["goods_out.completed", "goods_in.completed", STOCK_TRANSACTIONS]);
/**
 * Each run reads again at least this far before the watermark: records committed a little after their
 * timestamp (issue 13 item 3). Smaller settings, 0 included, are raised to it.
 */
export const MIN_LOOKBACK_MINUTES = 2;

export function pollSettings(def: PollDef, warn: (message: string) => void = () => {}): PollSettings {
  const streamName = String(def.stream || "goods_out.completed");
  let custom: PollStream | undefined;
  if (streamName === "custom") {
    const query = String(def.query ?? "").trim();
    if (!query) throw new ConfigError("a custom stream needs a query");
    const event = String(def.event ?? "").trim();
    if (event && event !== "unknown" && !isKnownEvent(event)) {
      throw new ConfigError(`event ${JSON.stringify(event)} is not a known Clarus event`);
    }
    custom = customStream(query, event);
  } else if (!BUILT_IN.has(streamName)) {
    throw new ConfigError(`unknown stream ${JSON.stringify(streamName)}`);
  }
  const subtypes = subtypeEvents(def.subtypes);
  if (streamName === STOCK_TRANSACTIONS && Object.keys(subtypes).length === 0) {
    throw new ConfigError("the subtypes map is empty: stock.transactions would emit nothing");
  }
  let lookbackMinutes = nonNegative(def.lookbackMinutes, 10, "lookbackMinutes");
  if (lookbackMinutes < MIN_LOOKBACK_MINUTES) {
    warn(
      `lookbackMinutes ${lookbackMinutes} is below the minimum: each run reads ${MIN_LOOKBACK_MINUTES} minutes back`,
    );
    lookbackMinutes = MIN_LOOKBACK_MINUTES;
  }
  return {
    streamName,
    custom,
    subtypes,
    intervalMs: positive(def.intervalMinutes, 15, "intervalMinutes") * 60_000,
    lookbackMs: lookbackMinutes * 60_000,
    pageSize: Math.min(MAX_PAGE_SIZE, Math.floor(positive(def.pageSize, 100, "pageSize"))),
    maxPages: Math.floor(positive(def.maxPages, 1000, "maxPages")),
    runOnStart: flag(def.runOnStart, true),
  };
}

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new ConfigError(`${name} must be a positive number`);
  return number;
}

function nonNegative(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new ConfigError(`${name} must be zero or more`);
  return number;
}

/** What asked for a run: the timer, or an input message (whose `done` reports the outcome). */
export interface PollTrigger {
  since?: string;
  msg?: NodeMessage;
  done?: (error?: Error) => void;
}

interface RunOutcome {
  fresh: number;
  duplicates: number;
  complete: boolean;
}

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

/**
 * Runs one clarus-poll: never two runs at once (a trigger during a run waits for it, shown in the
 * status), the next timed run only after the last one ended, records claimed or admitted through the
 * connection's delivery before they are sent, and the watermark advanced only after a run without errors.
 */
export class Poller {
  private running?: Promise<void>;
  private waiting: PollTrigger[] = [];
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private readonly state: PollStateFile;
  private readonly status: ThrottledStatus;
  private readonly stateFile?: string;
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
    const file = connection.stateDir
      ? path.join(connection.stateDir, `poll-${safeFileName(node.id)}.json`)
      : undefined;
    this.stateFile = file;
    this.state = new PollStateFile(file, (message) => node.warn(message));
  }

  start(): void {
    this.status.set(STATUS.ok(`every ${this.settings.intervalMs / 60_000} min`));
    if (this.settings.runOnStart) this.request({});
    else this.schedule();
  }

  /** Starts a run now, or queues it behind the run in progress. */
  request(trigger: PollTrigger): void {
    if (this.stopped) {
      trigger.done?.(new Error("the poll node is closing"));
      return;
    }
    if (this.running) {
      this.waiting.push(trigger);
      this.status.set(STATUS.working(`run in progress, ${this.waiting.length} waiting`));
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.run(trigger).finally(() => {
      this.running = undefined;
      this.afterRun();
    });
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  async stop(removed: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort(new Error("the poll node is closing"));
    await this.running;
    for (const trigger of this.waiting.splice(0))
      trigger.done?.(new Error("the poll node closed before this run"));
    this.status.stop();
    if (removed && this.stateFile) {
      await rm(this.stateFile, { force: true });
    }
  }

  private afterRun(): void {
    if (this.stopped) return;
    if (this.waiting.length === 0) return this.schedule();
    // Everything that waited is served by one run; a backfill asks for the earliest date any of them gave.
    const batch = this.waiting.splice(0);
    const sinces = batch.map((t) => t.since).filter((s): s is string => s !== undefined);
    this.request({
      since: sinces.length > 0 ? sinces.sort()[0] : undefined,
      msg: batch.find((t) => t.msg)?.msg,
      done: (error) => batch.forEach((t) => t.done?.(error)),
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.request({});
    }, this.settings.intervalMs);
  }

  private async run(trigger: PollTrigger): Promise<void> {
    this.status.set(STATUS.working("polling…"));
    try {
      const outcome = await this.readStream(trigger.since);
      const time = new Date().toISOString().slice(11, 16);
      const text = `${time} ${outcome.fresh} new, ${outcome.duplicates} dup${outcome.complete ? "" : ", more"}`;
      this.status.set(STATUS.ok(text));
      trigger.done?.();
    } catch (error) {
      if (this.stopped) {
        trigger.done?.();
        return;
      }
      let reason = errorMessage(error);
      if (isSchemaMismatch(error)) {
        // The schema changed since it was read: read it again and plan anew for the next run.
        this.connection.schema.invalidate();
        this.plan = undefined;
        reason += " (the schema is read again for the next run)";
      }
      const message = `poll ${this.settings.streamName} failed: ${reason}`;
      const short = error instanceof StreamPlanError ? error.short : errorMessage(error).slice(0, 40);
      this.status.set(STATUS.failed(short));
      const failure = new Error(message);
      if (trigger.done) trigger.done(failure);
      else
        this.node.error(message, {
          topic: this.settings.streamName,
          payload: { stream: this.settings.streamName },
        });
    }
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

  private async readStream(backfillSince: string | undefined): Promise<RunOutcome> {
    const signal = this.abort.signal;
    const stream = await this.plannedStream(signal);
    const { pageSize, maxPages, lookbackMs } = this.settings;
    const state = this.state.current;
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
        this.status.set(STATUS.degraded(`${info.reason}, retry in ${Math.ceil(info.delayMs / 1000)}s`)),
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
    if (stream.recheck) await this.emit(await stream.recheck(context), outcome);
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
      await this.emit(await stream.events(page.nodes, context), outcome);
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
    await this.state.save(this.nextState(state, since, regularSince, startedAt, stoppedAt, stream, pending));
    outcome.complete = stoppedAt === undefined;
    return outcome;
  }

  /** Sends the events through the connection's delivery (dedupe claim, or the durable inbox first). */
  private async emit(events: PolledEvent[], outcome: RunOutcome): Promise<void> {
    if (events.length === 0) return;
    const emitted = await emitPolledEvents(this.node, this.connection, events, this.generateId);
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

function shift(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}
