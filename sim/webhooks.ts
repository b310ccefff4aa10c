import http from "node:http";
import https from "node:https";

import type { WebhookTarget } from "./automations";
import { drawDelay, validateDelay } from "./faults";
import type { Prng } from "./prng";
import type { JsonObject, WebhookMethod } from "./types";

/**
 * The Clarus webhook sender, as Clarus documents it: one request per automation and event, with the five
 * `X-ClarusWMS-*` headers and nothing else Clarus-specific. Drops and repeats are decided when the event
 * is queued, from a seeded PRNG, so the same seed drops the same deliveries however fast the receiver is.
 */
export interface WebhookOptions {
  /** Deliveries started per second; 0 or undefined means no limit. */
  ratePerSecond?: number;
  /** Share of deliveries never sent (recorded with `dropped: true`). */
  dropRate?: number;
  /** Share of deliveries sent a second time, after the first attempt ends. */
  repeatRate?: number;
  /** Delay before each attempt: fixed, or uniform in [min, max]. */
  delayMs?: number | [number, number];
  /** Sender request timeout (default 10 000 ms). */
  timeoutMs?: number;
  /** Wrap each body as `{"data": {...}}`: automation conditions read `data.<field>`, so Clarus may send one. */
  envelope?: boolean;
  /**
   * `full` (the default): every field the simulator knows. `documented`: a stock event carries only the keys
   * the Clarus docs list for the stock adjustment webhook (no subtype), so only the automation says which
   * stock event it is.
   */
  bodies?: "full" | "documented";
}

/** The keys Clarus documents for the positive stock adjustment webhook. */
const DOCUMENTED_STOCK_KEYS = [
  "id",
  "created_at",
  "account",
  "product",
  "warehouse",
  "quantity",
  "new_quantity",
];

/** One generated event, as the simulator records it. */
export interface SimEvent {
  /** Sequence number, 1-based, unique per simulator. */
  id: number;
  /** `resource.event`, e.g. `goods_out.completed`. */
  event: string;
  /** The record's integer id (goods_out, receipt, or stock transaction). */
  recordId: number;
  /** The webhook body (before any envelope). */
  body: JsonObject;
  /** ISO-8601 with milliseconds. */
  occurredAt: string;
}

/** One delivery attempt (or a drop decision). */
export interface Delivery {
  /** `SimEvent.id` of the event delivered. */
  eventId: number;
  event: string;
  recordId: number;
  automationId: number;
  url: string;
  method: WebhookMethod;
  /** HTTP status of the answer; absent when the attempt failed or was dropped. */
  status?: number;
  /** Why the attempt failed (connection refused, timeout, bad URL). */
  error?: string;
  /** True for the second send of a repeated delivery. */
  repeated: boolean;
  /** True when the delivery was deliberately not sent. */
  dropped: boolean;
  /** When the attempt started (or the drop was decided), ISO-8601. */
  at: string;
  durationMs?: number;
}

export interface WebhookIdentity {
  /** X-ClarusWMS-Domain: the tenant's login URL. */
  domain: string;
  /** X-ClarusWMS-API-Domain: resolved at send time, because the port is known only after listen. */
  apiDomain: () => string;
  subdomain: string;
}

export interface SenderHooks {
  delivered: (delivery: Delivery) => void;
  dropped: (delivery: Delivery) => void;
}

interface Job {
  event: SimEvent;
  automation: WebhookTarget;
  repeated: boolean;
  /** The repeat, queued when this first attempt ends. */
  followUp?: Job;
  delayMs: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function validateWebhookOptions(options: WebhookOptions): void {
  for (const key of ["dropRate", "repeatRate"] as const) {
    const share = options[key];
    if (share !== undefined && !(typeof share === "number" && share >= 0 && share <= 1)) {
      throw new RangeError(`webhook.${key} must be a share between 0 and 1`);
    }
  }
  for (const key of ["ratePerSecond", "timeoutMs"] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`webhook.${key} must be a non-negative number`);
    }
  }
  validateDelay("webhook.delayMs", options.delayMs);
  if (options.bodies !== undefined && options.bodies !== "full" && options.bodies !== "documented") {
    throw new RangeError('webhook.bodies must be "full" or "documented"');
  }
}

export class WebhookSender {
  readonly sent: Delivery[] = [];
  private options: WebhookOptions;
  private readonly ready: Job[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly active = new Set<http.ClientRequest>();
  private readonly idleWaiters: Array<() => void> = [];
  private pending = 0;
  private nextSlotMs = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
  };

  constructor(
    private readonly prng: Prng,
    private readonly identity: WebhookIdentity,
    private readonly hooks: SenderHooks,
    options: WebhookOptions = {},
  ) {
    validateWebhookOptions(options);
    this.options = { ...options };
  }

  get current(): Readonly<WebhookOptions> {
    return this.options;
  }

  /** Merges: a runtime change (e.g. only `dropRate`) keeps the other settings. */
  setOptions(options: WebhookOptions): void {
    const merged = { ...this.options, ...options };
    validateWebhookOptions(merged);
    this.options = merged;
    this.nextSlotMs = 0;
    this.pump();
  }

  /** Deliveries queued, delayed or in flight. */
  get inFlight(): number {
    return this.pending;
  }

  enqueue(event: SimEvent, automation: WebhookTarget): void {
    if (this.stopped) return;
    // Every decision is drawn here, in event order, so timing never shifts the PRNG sequence.
    const dropped = this.prng.chance(this.options.dropRate ?? 0);
    const repeat = this.prng.chance(this.options.repeatRate ?? 0);
    const delayMs = drawDelay(this.prng, this.options.delayMs);
    const repeatDelayMs = drawDelay(this.prng, this.options.delayMs);
    if (dropped) {
      const delivery = this.record(event, automation, false);
      delivery.dropped = true;
      this.hooks.dropped(delivery);
      return;
    }
    const job: Job = { event, automation, repeated: false, delayMs };
    if (repeat) job.followUp = { event, automation, repeated: true, delayMs: repeatDelayMs };
    this.pending += repeat ? 2 : 1;
    this.schedule(job);
  }

  /** Resolves once nothing is queued, delayed or in flight. */
  flush(): Promise<void> {
    if (this.pending === 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.ready.length = 0;
    for (const req of this.active) req.destroy(new Error("simulator stopped"));
    this.active.clear();
    this.agents.http.destroy();
    this.agents.https.destroy();
    this.pending = 0;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private schedule(job: Job): void {
    if (job.delayMs <= 0) {
      this.ready.push(job);
      this.pump();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.ready.push(job);
      this.pump();
    }, job.delayMs);
    this.timers.add(timer);
  }

  /** Starts ready jobs, spaced 1/rate seconds apart when a rate is set. */
  private pump(): void {
    if (this.stopped || this.pumpTimer) return;
    const rate = this.options.ratePerSecond ?? 0;
    while (this.ready.length > 0) {
      if (rate > 0) {
        const now = Date.now();
        if (now < this.nextSlotMs) {
          this.pumpTimer = setTimeout(() => {
            this.pumpTimer = undefined;
            this.pump();
          }, this.nextSlotMs - now);
          return;
        }
        this.nextSlotMs = Math.max(now, this.nextSlotMs) + 1000 / rate;
      }
      this.send(this.ready.shift() as Job);
    }
  }

  private send(job: Job): void {
    const delivery = this.record(job.event, job.automation, job.repeated);
    const started = Date.now();
    const finish = (outcome: { status?: number; error?: string }): void => {
      if (this.stopped) return;
      Object.assign(delivery, outcome, { durationMs: Date.now() - started });
      this.hooks.delivered(delivery);
      if (job.followUp) this.schedule(job.followUp);
      this.done();
    };

    let target: URL;
    try {
      target = new URL(job.automation.url);
      if (target.protocol !== "http:" && target.protocol !== "https:")
        throw new Error("unsupported protocol");
    } catch {
      queueMicrotask(() => finish({ error: `invalid webhook URL: ${job.automation.url}` }));
      return;
    }
    const isPost = job.automation.method === "POST";
    const body = this.bodyOf(job.event);
    const payload = isPost
      ? Buffer.from(JSON.stringify(this.options.envelope ? { data: body } : body), "utf8")
      : undefined;
    const headers: Record<string, string> = {
      "X-ClarusWMS-Domain": this.identity.domain,
      "X-ClarusWMS-API-Domain": this.identity.apiDomain(),
      "X-ClarusWMS-Subdomain": this.identity.subdomain,
      "X-ClarusWMS-Automation-ID": String(job.automation.id),
    };
    if (job.automation.integration_id !== null) {
      headers["X-ClarusWMS-Integration-ID"] = String(job.automation.integration_id);
    }
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const transport = target.protocol === "https:" ? https : http;
    const req = transport.request(target, {
      method: job.automation.method,
      headers,
      agent: target.protocol === "https:" ? this.agents.https : this.agents.http,
    });
    this.active.add(req);
    let settled = false;
    const settle = (outcome: { status?: number; error?: string }): void => {
      if (settled) return;
      settled = true;
      this.active.delete(req);
      finish(outcome);
    };
    req.setTimeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => req.destroy(new Error("timeout")));
    req.on("response", (res) => {
      res.on("error", () => settle({ status: res.statusCode }));
      res.on("end", () => settle({ status: res.statusCode }));
      res.resume();
    });
    req.on("error", (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.message }));
    req.end(payload);
  }

  private bodyOf(event: SimEvent): JsonObject {
    if (this.options.bodies !== "documented" || !event.event.startsWith("stock.")) return event.body;
    return Object.fromEntries(
      DOCUMENTED_STOCK_KEYS.filter((key) => key in event.body).map((key) => [key, event.body[key]]),
    );
  }

  private record(event: SimEvent, automation: WebhookTarget, repeated: boolean): Delivery {
    const delivery: Delivery = {
      eventId: event.id,
      event: event.event,
      recordId: event.recordId,
      automationId: automation.id,
      url: automation.url,
      method: automation.method,
      repeated,
      dropped: false,
      at: new Date().toISOString(),
    };
    this.sent.push(delivery);
    return delivery;
  }

  private done(): void {
    this.pending--;
    if (this.pending === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
