import { rm } from "node:fs/promises";
import path from "node:path";

import type { Node, NodeDef, NodeMessage } from "node-red";

import type { ClarusClient, RetryInfo } from "../api/client";
import { safeFileName, type ConnectionServices } from "../connection/services";
import { ConfigError, errorMessage } from "../node-red/errors";
import { isKnownEvent } from "../events/vocabulary";
import { emitPolledEvents } from "./emission";
import { PollState, PollStateFile } from "./state";
import { flag } from "../node-red/properties";
import { customStream, POLL_STREAMS, PollStream } from "./streams";
import { relayPages } from "../api/relay";
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
}

export interface PollSettings {
  streamName: string;
  stream: PollStream;
  intervalMs: number;
  lookbackMs: number;
  pageSize: number;
  maxPages: number;
  runOnStart: boolean;
}

const MAX_PAGE_SIZE = 500;

export function pollSettings(def: PollDef): PollSettings {
  const streamName = String(def.stream || "goods_out.completed");
  let stream = POLL_STREAMS[streamName];
  if (streamName === "custom") {
    const query = String(def.query ?? "").trim();
    if (!query) throw new ConfigError("a custom stream needs a query");
    const event = String(def.event ?? "").trim();
    if (event && event !== "unknown" && !isKnownEvent(event)) {
      throw new ConfigError(`event ${JSON.stringify(event)} is not a known Clarus event`);
    }
    stream = customStream(query, event);
  }
  if (!stream) throw new ConfigError(`unknown stream ${JSON.stringify(streamName)}`);
  return {
    streamName,
    stream,
    intervalMs: positive(def.intervalMinutes, 15, "intervalMinutes") * 60_000,
    lookbackMs: nonNegative(def.lookbackMinutes, 10, "lookbackMinutes") * 60_000,
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
      const message = `poll ${this.settings.streamName} failed: ${errorMessage(error)}`;
      this.status.set(STATUS.failed(errorMessage(error).slice(0, 40)));
      const failure = new Error(message);
      if (trigger.done) trigger.done(failure);
      else
        this.node.error(message, {
          topic: this.settings.streamName,
          payload: { stream: this.settings.streamName },
        });
    }
  }

  private async readStream(backfillSince: string | undefined): Promise<RunOutcome> {
    const { stream, pageSize, maxPages, lookbackMs } = this.settings;
    const state = this.state.current;
    const startedAt = new Date().toISOString();
    const regularSince = state.watermark ? shift(state.watermark, -lookbackMs) : undefined;
    const resume = backfillSince === undefined ? state.resume : undefined;
    const since = backfillSince ?? resume?.since ?? regularSince ?? shift(startedAt, -lookbackMs);
    const runStartedAt = resume?.startedAt ?? startedAt;
    const outcome: RunOutcome = { fresh: 0, duplicates: 0, complete: true };
    let pages = 0;
    let stoppedAt: string | undefined;
    const signal = this.abort.signal;
    const onRetry = (info: RetryInfo) =>
      this.status.set(STATUS.degraded(`${info.reason}, retry in ${Math.ceil(info.delayMs / 1000)}s`));
    const pageRequest = {
      query: stream.query,
      variables: stream.variables(since),
      path: stream.path,
      pageSize,
      after: resume?.after,
      signal,
      onRetry,
    };
    for await (const page of relayPages(this.client, pageRequest)) {
      pages++;
      const events = await stream.events(page.nodes, this.client, signal);
      const emitted = await emitPolledEvents(this.node, this.connection, events, this.generateId);
      outcome.fresh += emitted.fresh;
      outcome.duplicates += emitted.duplicates;
      if (pages >= maxPages && page.hasNextPage && page.endCursor) {
        stoppedAt = page.endCursor;
        break;
      }
    }
    await this.state.save(this.nextState(state, since, regularSince, runStartedAt, stoppedAt));
    outcome.complete = stoppedAt === undefined;
    return outcome;
  }

  /**
   * A finished run moves the watermark to when it started; a run cut short by `maxPages` keeps the
   * watermark and records where to go on. A backfill that starts after the regular window would leave
   * a gap, so it never moves the watermark.
   */
  private nextState(
    state: PollState,
    since: string,
    regularSince: string | undefined,
    runStartedAt: string,
    stoppedAt: string | undefined,
  ): PollState {
    if (stoppedAt)
      return { watermark: state.watermark, resume: { since, after: stoppedAt, startedAt: runStartedAt } };
    const coversWindow = regularSince === undefined || Date.parse(since) <= Date.parse(regularSince);
    if (!coversWindow) return { watermark: state.watermark };
    const watermark =
      state.watermark && Date.parse(state.watermark) > Date.parse(runStartedAt)
        ? state.watermark
        : runStartedAt;
    return { watermark };
  }
}

function shift(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}
