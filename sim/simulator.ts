import { EventEmitter } from "node:events";
import type http from "node:http";
import type { AddressInfo } from "node:net";

import { Activity } from "./activity";
import { TokenAuthority } from "./auth";
import {
  createAutomation,
  PartIds,
  webhookAttributes,
  type WebhookTarget,
  webhookTargets,
} from "./automations";
import { AutomationsApi } from "./automations-api";
import { ALL_SIM_EVENTS, isSimEventId, type SimEventId } from "./constants";
import { isSchemaDialect, SCHEMA_DIALECTS, type SchemaDialect } from "./dialects";
import { type Endpoint, type FaultCounts, FaultInjector, type FaultKind, type FaultOptions } from "./faults";
import { Prng } from "./prng";
import { createGraphql } from "./schema";
import { createApiServer, type RequestLogEntry } from "./server";
import { Store } from "./store";
import { HOUR_MS } from "./time";
import type { WebhookMethod } from "./types";
import { type Delivery, type SimEvent, type WebhookOptions, WebhookSender } from "./webhooks";

export interface SimulatorOptions {
  /** 0 (default) picks a free port. The server always binds 127.0.0.1. */
  port?: number;
  /** Tenant key: `X-Clarus-Subdomain` on requests, `X-ClarusWMS-Subdomain` on webhooks. Default "acme". */
  subdomain?: string;
  /** `X-ClarusWMS-Domain`, the tenant login URL. Default `https://<subdomain>.claruswms.co.uk`. */
  domain?: string;
  /** `X-ClarusWMS-API-Domain`. Default: the simulator's own base URL. */
  apiDomain?: string;
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of issued tokens (default 3600; fractions allowed for tests). */
  tokenTtlSeconds?: number;
  /** A bearer token that is always accepted, like a pasted token. */
  staticToken?: string;
  /** PRNG seed for the warehouse, the webhook shares and the faults (default 42). */
  seed?: number;
  /** Activities replayed into the past (last 72 h) before start, so queries find history. Default 24. */
  history?: number;
  /** Clock in epoch ms (default Date.now); a test can move it to expire tokens without sleeping. */
  now?: () => number;
  webhook?: WebhookOptions;
  faults?: FaultOptions;
  /** Automations to create at start. */
  automations?: AutomationInput[];
  /** The GraphQL schema the tenant speaks: `documented`, `rich` (default) or `scalar` (sim/dialects.ts). */
  schema?: SchemaDialect;
  /** Test only: filter fields the schema leaves out, as "FilterType.field" (e.g. a stream that cannot work). */
  schemaWithout?: readonly string[];
  /** The most records one page holds, whatever `first` asks for (default 500); a map caps per root field. */
  maxPageSize?: number | Readonly<Record<string, number>>;
}

export interface AutomationInput {
  /** `resource.event`, e.g. `goods_out.completed`. */
  event: string;
  url: string;
  method?: WebhookMethod;
  name?: string;
  enabled?: boolean;
  integrationId?: number | null;
}

export interface AutomationPatch {
  url?: string;
  method?: WebhookMethod;
  enabled?: boolean;
  name?: string;
  integrationId?: number | null;
}

export interface ActivityOptions {
  /** Milliseconds between activities (default 2000). */
  intervalMs?: number;
  /** Kinds to draw from (default all six). */
  kinds?: readonly string[];
}

export interface RequestCounters {
  total: number;
  token: number;
  graphql: number;
  /** GraphQL requests that read the schema (`__schema`). */
  introspection: number;
  other: number;
  /** Answers by HTTP status, e.g. `{ "200": 12, "401": 1 }`. */
  byStatus: Record<string, number>;
}

export type SimulatorEvents = {
  /** A generated event (before any delivery). */
  event: [SimEvent];
  /** A finished delivery attempt: answered (`status`) or failed (`error`). */
  delivered: [Delivery];
  /** A delivery deliberately not sent. */
  dropped: [Delivery];
  /** A fault fired on the API. */
  fault: [{ kind: FaultKind; endpoint: Endpoint }];
  /** A request is now held by the `hang` fault. */
  hang: [];
  /** An API request was answered. */
  request: [RequestLogEntry];
};

const REQUEST_LOG_LIMIT = 5000;
const DEFAULT_SEED = 42;
const AUTOMATION_NAME = /^[a-z_]+\.[a-z_]+$/;

/** The simulated Clarus tenant: API server, warehouse, activity and webhook sender in one object. */
export class Simulator extends EventEmitter<SimulatorEvents> {
  readonly seed: number;
  readonly subdomain: string;
  readonly domain: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly schema: SchemaDialect;
  readonly store = new Store();
  /** Every generated event, in order. */
  readonly events: SimEvent[] = [];
  readonly requests: RequestCounters = {
    total: 0,
    token: 0,
    graphql: 0,
    introspection: 0,
    other: 0,
    byStatus: {},
  };
  /** The last answered API requests (at most 5000), oldest first. */
  readonly requestLog: RequestLogEntry[] = [];

  private readonly now: () => number;
  private readonly activity: Activity;
  private readonly kindPrng: Prng;
  private readonly auth: TokenAuthority;
  private readonly faults: FaultInjector;
  private readonly sender: WebhookSender;
  private readonly server: http.Server;
  private readonly automationParts = new PartIds();
  /** The REST automations API: its request counts, `reads` switch and fault hooks (`setFaults`). */
  readonly automationsApi: AutomationsApi;
  private readonly apiDomainOverride: string | undefined;
  private activityTimer: NodeJS.Timeout | undefined;
  /** The drop rate to put back when the webhooks speak again; undefined while they are not silenced. */
  private dropRateBeforeSilence: number | undefined;
  private listening: AddressInfo | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: SimulatorOptions = {}) {
    super();
    this.seed = options.seed ?? DEFAULT_SEED;
    this.subdomain = options.subdomain ?? "acme";
    this.domain = options.domain ?? `https://${this.subdomain}.claruswms.co.uk`;
    this.apiDomainOverride = options.apiDomain;
    this.clientId = options.clientId ?? "sim-client";
    this.clientSecret = options.clientSecret ?? "sim-secret";
    this.now = options.now ?? Date.now;
    this.schema = options.schema ?? "rich";
    if (!isSchemaDialect(this.schema)) {
      throw new RangeError(
        `schema must be one of ${SCHEMA_DIALECTS.join(", ")}, got "${String(this.schema)}"`,
      );
    }
    const ttl = options.tokenTtlSeconds ?? 3600;
    if (!(Number.isFinite(ttl) && ttl > 0)) throw new RangeError("tokenTtlSeconds must be a positive number");

    // Separate streams: turning on a fault never changes the warehouse or which deliveries drop.
    const root = new Prng(this.seed);
    const warehousePrng = root.fork(1);
    const webhookPrng = root.fork(2);
    const faultPrng = root.fork(3);
    this.kindPrng = root.fork(4);

    this.activity = new Activity(this.store, warehousePrng);
    this.seedWarehouse(warehousePrng, options.history ?? 24);

    this.auth = new TokenAuthority({
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      tokenTtlSeconds: ttl,
      staticToken: options.staticToken,
      now: this.now,
    });
    this.faults = new FaultInjector(faultPrng);
    if (options.faults) this.setFaults(options.faults);
    this.sender = new WebhookSender(
      webhookPrng,
      { domain: this.domain, apiDomain: () => this.apiDomainOverride ?? this.url, subdomain: this.subdomain },
      { delivered: (d) => this.emit("delivered", d), dropped: (d) => this.emit("dropped", d) },
      options.webhook,
    );
    for (const automation of options.automations ?? []) this.addAutomation(automation);
    this.automationsApi = new AutomationsApi(this.store, this.automationParts, this.now);

    this.server = createApiServer({
      auth: this.auth,
      faults: this.faults,
      graphql: createGraphql(this.store, {
        dialect: this.schema,
        without: options.schemaWithout,
        maxPageSize: options.maxPageSize,
      }),
      automations: this.automationsApi,
      webhooks: {
        silent: () => this.webhooksSilent,
        setSilent: (silent) => this.silenceWebhooks(silent),
      },
      subdomain: this.subdomain,
      now: this.now,
      onFault: (kind, endpoint) => {
        this.faults.record(kind);
        this.emit("fault", { kind, endpoint });
      },
      onHang: () => this.emit("hang"),
      onRequest: (entry) => this.countRequest(entry),
    });
  }

  /** Binds 127.0.0.1 (never another interface: this is a test tool with fixed credentials). */
  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.listening = this.server.address() as AddressInfo;
    return this;
  }

  get port(): number {
    return this.listening?.port ?? 0;
  }

  /** API base URL, e.g. `http://127.0.0.1:4000` (GraphQL at `/graphql`, tokens at `/oauth/token`). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get graphqlUrl(): string {
    return `${this.url}/graphql`;
  }

  get tokenUrl(): string {
    return `${this.url}/oauth/token`;
  }

  /** Every delivery attempt and drop decision, in the order they started. */
  get sent(): readonly Delivery[] {
    return this.sender.sent;
  }

  get faultCounts(): Readonly<FaultCounts> {
    return this.faults.counts;
  }

  get activeFaults(): Readonly<FaultOptions> {
    return this.faults.current;
  }

  get webhookOptions(): Readonly<WebhookOptions> {
    return this.sender.current;
  }

  /** Deliveries queued, delayed or in flight. */
  get pendingDeliveries(): number {
    return this.sender.inFlight;
  }

  /**
   * Runs `n` activities now, each firing one event of a kind drawn from `kinds` (default: all six, only
   * those possible right now). A kind whose precondition is missing (release with nothing held) first runs
   * the enabling activity, whose event is returned and delivered too.
   */
  generate(n = 1, kinds?: readonly string[]): SimEvent[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError("generate(n): n must be a non-negative integer");
    const allowed = this.checkKinds(kinds);
    const out: SimEvent[] = [];
    for (let i = 0; i < n; i++) {
      const pool = kinds ? allowed : allowed.filter((kind) => this.activity.feasible(kind));
      const kind = this.kindPrng.pick(pool.length > 0 ? pool : allowed);
      for (const produced of this.activity.run(kind, this.now())) out.push(this.publish(produced));
    }
    return out;
  }

  /**
   * Creates a webhook automation (id → resource/event, one webhook action with URL and method) and returns
   * its numeric id; the same as `POST /api/automations` with such an action.
   */
  addAutomation(input: AutomationInput): number {
    if (!AUTOMATION_NAME.test(input.event))
      throw new TypeError(`event must be "resource.event", got "${input.event}"`);
    checkUrl(input.url);
    const method = input.method ?? "POST";
    checkMethod(method);
    const [resource, event] = input.event.split(".") as [string, string];
    const attributes = webhookAttributes({
      resource_name: resource,
      event,
      name: input.name ?? `Webhook ${input.event}`,
      enabled: input.enabled ?? true,
      url: input.url,
      method,
    });
    const row = createAutomation(this.store, this.automationParts, attributes, this.now());
    row.integration_id = input.integrationId ?? null;
    return row.id;
  }

  /** Changes an automation; `url` and `method` change its first webhook action. */
  updateAutomation(id: number, patch: AutomationPatch): void {
    const row = this.store.automations.get(id);
    if (!row) throw new RangeError(`no automation ${id}`);
    if (patch.url !== undefined) checkUrl(patch.url);
    if (patch.method !== undefined) checkMethod(patch.method);
    const action = row.actions.find((a) => a.destination_type === "webhook");
    if ((patch.url !== undefined || patch.method !== undefined) && !action) {
      throw new RangeError(`automation ${id} has no webhook action`);
    }
    for (const [code, value] of [
      ["webhook_url", patch.url],
      ["webhook_method", patch.method],
    ] as const) {
      if (value === undefined || !action) continue;
      const parameter = action.parameters.find((p) => p.parameter_code === code);
      if (parameter) parameter.value = value;
      else
        action.parameters.push({
          id: this.automationParts.take("parameter"),
          parameter_code: code,
          value,
          operator: null,
        });
    }
    if (patch.enabled !== undefined) row.enabled = patch.enabled;
    if (patch.name !== undefined) row.name = patch.name;
    if (patch.integrationId !== undefined) row.integration_id = patch.integrationId;
  }

  /** Where an automation's webhooks go: one target per webhook action, none while it is disabled. */
  webhookTargets(id: number): WebhookTarget[] {
    const row = this.store.automations.get(id);
    return row ? webhookTargets(row) : [];
  }

  removeAutomation(id: number): boolean {
    return this.store.automations.remove(id);
  }

  /** Resolves when every queued, delayed or in-flight delivery has finished. */
  flush(): Promise<void> {
    return this.sender.flush();
  }

  /** Whether every webhook is being dropped (`silenceWebhooks`). */
  get webhooksSilent(): boolean {
    return this.dropRateBeforeSilence !== undefined;
  }

  /**
   * A broken webhook path while Clarus works: every webhook dropped (`dropRate: 1`), the events still made,
   * so the poll finds them. Off puts back the drop rate from before.
   */
  silenceWebhooks(silent: boolean): void {
    if (silent === this.webhooksSilent) return;
    if (silent) {
      this.dropRateBeforeSilence = this.sender.current.dropRate ?? 0;
      this.sender.setOptions({ dropRate: 1 });
    } else {
      this.sender.setOptions({ dropRate: this.dropRateBeforeSilence ?? 0 });
      this.dropRateBeforeSilence = undefined;
    }
  }

  /** Changes delivery options at runtime; merges with the current ones. */
  setWebhookOptions(options: WebhookOptions): void {
    this.sender.setOptions(options);
  }

  /** Replaces the active API faults. `expireTokens: true` expires every issued token now (one shot). */
  setFaults(options: FaultOptions): void {
    this.faults.set(options);
    if (options.expireTokens) this.expireTokens();
  }

  /** Removes every fault; requests held by `hang` are answered normally. */
  clearFaults(): void {
    this.faults.clear();
  }

  /** Invalidates every issued token (the static token stays valid). Returns how many were live. */
  expireTokens(): number {
    this.faults.record("expireTokens");
    this.emit("fault", { kind: "expireTokens", endpoint: "token" });
    return this.auth.expireAll();
  }

  /** A valid access token without an HTTP round trip. */
  issueToken(): string {
    return this.auth.issue().access_token;
  }

  startActivity(options: ActivityOptions = {}): void {
    const intervalMs = options.intervalMs ?? 2000;
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) throw new RangeError("intervalMs must be positive");
    const kinds = options.kinds ? [...this.checkKinds(options.kinds)] : undefined;
    this.stopActivity();
    if (this.stopping) return;
    const tick = (): void => {
      this.generate(1, kinds);
      this.activityTimer = setTimeout(tick, intervalMs);
    };
    this.activityTimer = setTimeout(tick, intervalMs);
  }

  stopActivity(): void {
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = undefined;
  }

  /** Closes the server, timers and pending deliveries. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.stopActivity();
      this.sender.stop();
      this.faults.stop();
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopping;
  }

  private publish(produced: {
    event: string;
    recordId: number;
    body: SimEvent["body"];
    occurredAtMs: number;
  }): SimEvent {
    const event: SimEvent = {
      id: this.events.length + 1,
      event: produced.event,
      recordId: produced.recordId,
      body: produced.body,
      occurredAt: new Date(produced.occurredAtMs).toISOString(),
    };
    this.events.push(event);
    this.emit("event", event);
    if (!this.stopping) {
      for (const target of this.webhookTargetsFor(event.event)) this.sender.enqueue(event, target);
    }
    return event;
  }

  /** Every webhook action of every enabled automation of this event: Clarus sends one request each. */
  private webhookTargetsFor(eventId: string): WebhookTarget[] {
    return this.store.automations
      .all()
      .filter((a) => `${a.resource_name}.${a.event}` === eventId)
      .flatMap((a) => webhookTargets(a));
  }

  private checkKinds(kinds: readonly string[] | undefined): SimEventId[] {
    if (kinds === undefined) return [...ALL_SIM_EVENTS];
    if (kinds.length === 0) throw new RangeError("kinds must not be empty");
    return kinds.map((kind) => {
      if (!isSimEventId(kind))
        throw new RangeError(`unknown activity kind "${kind}"; use one of ${ALL_SIM_EVENTS.join(", ")}`);
      return kind;
    });
  }

  /** History: open orders and receipts, then past activity; transactions older than 48 h are archived. */
  private seedWarehouse(prng: Prng, history: number): void {
    const now = this.now();
    this.store.seed(prng, now);
    for (let i = 0; i < 5; i++) {
      this.activity.createOpenOrder(now - prng.int(80, 120) * HOUR_MS);
      this.activity.createOpenReceipt(now - prng.int(80, 120) * HOUR_MS);
    }
    const span = 72 * HOUR_MS;
    for (let i = 0; i < history; i++) {
      const at = now - span + Math.floor(((i + 0.5) * span) / history);
      const pool = ALL_SIM_EVENTS.filter((kind) => this.activity.feasible(kind));
      this.activity.run(prng.pick(pool), at);
    }
    const archiveBefore = now - 48 * HOUR_MS;
    for (const txn of this.store.transactions.all()) {
      if (Date.parse(txn.created_at) < archiveBefore) txn.archived = true;
    }
  }

  private countRequest(entry: RequestLogEntry): void {
    const r = this.requests;
    r.total++;
    if (entry.introspection) r.introspection++;
    if (entry.path === "/graphql") r.graphql++;
    else if (entry.path === "/oauth/token") r.token++;
    else r.other++;
    r.byStatus[String(entry.status)] = (r.byStatus[String(entry.status)] ?? 0) + 1;
    this.requestLog.push(entry);
    if (this.requestLog.length > REQUEST_LOG_LIMIT)
      this.requestLog.splice(0, this.requestLog.length - REQUEST_LOG_LIMIT);
    this.emit("request", entry);
  }
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`invalid webhook URL "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`webhook URL must be http(s): "${url}"`);
  }
}

function checkMethod(method: string): void {
  if (method !== "POST" && method !== "GET")
    throw new TypeError(`method must be POST or GET, got "${method}"`);
}
