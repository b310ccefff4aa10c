import path from "node:path";

import type { Node } from "node-red";

import type { RetryPolicy } from "../api/backoff";
import { ClarusClient } from "../api/client";
import { AutomationStates } from "../automations/automation-states";
import { AutomationDiscovery } from "../automations/discovery";
import { DriftCounts } from "../automations/drift";
import { type AutomationRegistrar, connectionRegistrar } from "../automations/registration";
import { DeadLetterReplay, DEFAULT_REPLAY_PER_SECOND } from "../delivery/dead-letter-replay";
import { Delivery, type DeliveryHooks } from "../delivery/delivery";
import { deliverySettings } from "../delivery/settings";
import { isKnownEvent } from "../events/vocabulary";
import {
  type ConnectionCounters,
  type ConnectionGauges,
  countersOf,
  forgetCounters,
} from "../metrics/counters";
import { clarusMetrics } from "../metrics/prometheus";
import { NotConfiguredError } from "../node-red/errors";
import type { CloseReason } from "../node-red/lifecycle";
import { TenantSchema } from "../schema/tenant-schema";
import { type ConnectionStore, type InboxState, safeFileName } from "../store/connection-store";
import { MAX_DEDUPE_CAPACITY } from "../store/file/dedupe-store";
import { FileConnectionStore, type InboxTuning } from "../store/file/file-store";
import { parseRedisUrl } from "../store/redis/url";
import { driftPeriodMs } from "./drift-minutes";
import { type ConnectionHealth, connectionHealth, type PartHealth, storePartHealth } from "./health";
import { type ExpectedIdentity, expectedIdentity } from "./identity-headers";
import { ObservedIdentities } from "./observed-identity";
import { PollRuns } from "./poll-runs";
import { RecentDeliveries } from "./recent-deliveries";
import { SecretMatcher } from "./secret";
import { leaseMsOf, type RedisTuning, sharedRedisStore, storeKindOf } from "./shared-store";
import { TokenCheck } from "./token-check";
import type { AutomationMapping, ConnectionCredentials, ConnectionDef } from "./types";

export const DEFAULT_API_URL = "https://clarus-api.com";
export const DEFAULT_DEDUPE_HOURS = 72;
export const DEFAULT_DEDUPE_CAPACITY = 100_000;
/**
 * How long closing waits for registrations in progress. Node-RED gives a node 15 s to close; the store's own
 * close (a large dedupe snapshot) must start well inside that, so that the next store on its files finds it
 * closing and waits for it, instead of reading the files while it writes them.
 */
const REGISTRATION_CLOSE_WAIT_MS = 8_000;

export interface ConnectionEnvironment {
  /** Node-RED's user directory; the dedupe store lives under it. Undefined keeps the store in memory. */
  userDir?: string;
  /** `clarus` in Node-RED's settings.js: API timeout and retry tuning for every connection. */
  tuning?: ClarusTuning;
  warn: (message: string) => void;
  /** Info and debug lines (the Redis store's connection state); dropped when not given. */
  info?: (message: string) => void;
  debug?: (message: string) => void;
  /** What the delivery needs of Node-RED: message ids and the connection node's error log. */
  delivery: Omit<DeliveryHooks, "warn" | "debug">;
}

export interface ClarusTuning {
  /** The deadline of one API attempt, answer included. */
  timeoutMs?: number;
  /** The largest API answer accepted, in bytes. */
  maxResponseBytes?: number;
  retry?: Partial<RetryPolicy>;
  inbox?: InboxTuning;
  redis?: RedisTuning;
  /** How many dead letters a replay makes pending again per second (default 20), so a backlog does not flood the flow. */
  replayPerSecond?: number;
  /** Also serve `GET /clarus-wms/health` without admin auth, with states only (docs/operating.md). */
  publicHealth?: boolean;
  /** How often the health endpoint asks the token endpoint again after a token was obtained (default 30). */
  health?: { tokenCheckSeconds?: number };
}

/**
 * What a `clarus-connection` shares with every node that uses it: the tenant's identity, the webhook
 * secret, the automation map, the one store (dedupe keys, inbox, documents) and the delivery guarantee
 * built on it (on-receipt or on-confirm; see docs/delivery.md).
 */
export class ConnectionServices {
  /** The connection node's id, carried by every message as `msg.clarus.connection`. */
  readonly id: string;
  /** The connection node's name, else its subdomain, as the editor labels it. */
  readonly name: string;
  readonly subdomain: string;
  readonly domain: string;
  readonly apiUrl: string;
  /** The one `X-ClarusWMS-API-Domain` host accepted; empty: the documented Clarus API hosts and the API URL's. */
  readonly apiDomain: string;
  /** What its webhook-in nodes last saw Clarus send, for Test connection. */
  readonly webhookIdentities = new ObservedIdentities();
  /** Where Clarus reaches this Node-RED: the base of the URLs webhook registration writes; empty when not set. */
  readonly publicUrl: string;
  /**
   * Dedupe claims, the on-confirm inbox, documents and leases: files in the user directory (`store: file`,
   * the default) or Redis, shared by instances (`store: redis`).
   */
  readonly store: ConnectionStore;
  readonly delivery: Delivery;
  /** What the connection's nodes did (events, duplicates, rejections, poll runs), for the metrics. */
  readonly counters: ConnectionCounters;
  /** The `connection` label of its metrics: the node's name, else its id. */
  readonly metricsLabel: string;
  /** A poll node's lease period (settings.js `clarus.redis.leaseSeconds`). */
  readonly leaseMs: number;
  /** How often webhook-in nodes read their registered automations back (`driftMinutes`); 0: never. */
  readonly driftMs: number;
  /**
   * What the drift checks of this connection's webhook-in nodes found and repaired since it started: checks,
   * failed checks, repairs by kind (`DriftCounts`). For status and metrics; never holds a URL.
   */
  readonly drift = new DriftCounts();
  /** The poll nodes on this connection and how their runs go, for the health endpoint. */
  readonly pollRuns = new PollRuns();
  /** Its webhook-in nodes' registered automations and the state each was last found in. */
  readonly automationStates = new AutomationStates();
  /** Its webhook-in nodes' last accepted deliveries, for the editor (token taken out when read). */
  readonly recent = new RecentDeliveries(() => this.webhookSecret);
  /** Operators' replays of its dead letters, one at a time, rate-limited. */
  readonly replays: DeadLetterReplay;
  readonly webhookToken?: SecretMatcher;
  /** Where this connection keeps files in the user directory (its file store, registration memory). */
  readonly stateDir?: string;
  private readonly automationEvents = new Map<string, string>();
  /** Automations that webhook-in nodes registered: exact, like the manual map. */
  private readonly registeredEvents = new Map<string, string>();
  private readonly credentials: ConnectionCredentials;
  private client?: ClarusClient;
  private tenantSchema?: TenantSchema;
  private registration?: AutomationRegistrar;
  private tokenCheck?: TokenCheck;
  discovery?: AutomationDiscovery;
  private readonly tuning: ClarusTuning;
  private readonly warn: (message: string) => void;
  private readonly stopGauges: () => void;
  private inboxRead?: Promise<InboxState>;

  constructor(def: ConnectionDef, credentials: ConnectionCredentials, env: ConnectionEnvironment) {
    this.id = def.id;
    this.counters = countersOf(def.id);
    this.metricsLabel = String(def.name || def.id);
    // Renamed: the latency series under the old name ends; the counters follow the id and carry on.
    if (this.counters.label !== undefined && this.counters.label !== this.metricsLabel)
      clarusMetrics.forget(this.counters.label);
    this.counters.label = this.metricsLabel;
    this.credentials = credentials;
    this.tuning = env.tuning ?? {};
    this.warn = env.warn;
    this.stateDir = stateDirOf(env.userDir);
    this.leaseMs = leaseMsOf(this.tuning.redis);
    this.subdomain = (def.subdomain ?? "").trim();
    this.name = (def.name ?? "").trim() || this.subdomain;
    this.domain = (def.domain ?? "").trim();
    this.apiUrl = (def.apiUrl ?? "").trim() || DEFAULT_API_URL;
    this.apiDomain = (def.apiDomain ?? "").trim();
    this.publicUrl = (def.publicUrl ?? "").trim();
    this.driftMs = driftPeriodMs(def.driftMinutes, env.warn);
    const token = credentials.webhookToken?.trim();
    if (token) this.webhookToken = new SecretMatcher(token);
    for (const mapping of validMappings(def.automations, env.warn)) {
      this.automationEvents.set(mapping.id, mapping.event);
    }
    const hours = positiveNumber(def.dedupeHours, DEFAULT_DEDUPE_HOURS);
    const capacity = dedupeCapacity(def.dedupeCapacity, env.warn);
    const delivery = deliverySettings(def, env.warn);
    if (delivery.mode === "on-confirm" && !this.stateDir && storeKindOf(def) === "file") {
      env.warn("on-confirm without a Node-RED user directory: the inbox is kept in memory only");
    }
    this.store =
      storeKindOf(def) === "redis"
        ? sharedRedisStore(def, credentials, {
            subdomain: this.subdomain,
            claimTtlMs: hours * 3_600_000,
            redeliverMs: delivery.redeliverMs,
            tuning: this.tuning.redis,
            log: { warn: env.warn, info: env.info ?? ignore, debug: env.debug ?? ignore },
          })
        : new FileConnectionStore({
            directory: this.stateDir,
            connectionId: def.id,
            dedupeTtlMs: hours * 3_600_000,
            dedupeCapacity: capacity,
            redeliverMs: delivery.redeliverMs,
            inbox: this.tuning.inbox,
            warn: env.warn,
          });
    this.delivery = new Delivery(this.store, delivery, {
      ...env.delivery,
      warn: env.warn,
      debug: env.debug ?? ignore,
    });
    this.replays = new DeadLetterReplay(this.delivery, replayPerSecondOf(this.tuning.replayPerSecond));
    this.stopGauges = this.counters.readGaugesFrom(() => this.gauges());
  }

  /**
   * The store's inbox state for a look from outside (the editor's feed, a scrape). While one read is unanswered
   * every look shares it: a hung Redis gets one question, not one every two seconds, whose writes would keep
   * its socket busy and its response timeout from ever noticing the hang.
   */
  inboxState(): Promise<InboxState> {
    this.inboxRead ??= this.store.inboxState().finally(() => (this.inboxRead = undefined));
    return this.inboxRead;
  }

  /** What the connection knows of itself at once (no store read, no token request). */
  gauges(): ConnectionGauges {
    const api = this.apiState;
    return {
      storeUp: this.store.health.state === "ready",
      ...(api.state === "not-configured" ? {} : { apiUp: api.ok ? 1 : 0 }),
      watermarkAge: this.pollRuns.watermarkAges(),
      automations: this.automationStates.counts(),
    };
  }

  get hasApiCredentials(): boolean {
    const { accessToken, clientId, clientSecret } = this.credentials;
    return Boolean(accessToken?.trim() || (clientId?.trim() && clientSecret?.trim()));
  }

  /** The one API client of this connection, shared by its nodes so they share its token. */
  get api(): ClarusClient {
    if (!this.hasApiCredentials) {
      throw new NotConfiguredError(
        "the connection has no API credentials (client id and secret, or an access token)",
      );
    }
    this.client ??= new ClarusClient({
      apiUrl: this.apiUrl,
      subdomain: this.subdomain,
      clientId: this.credentials.clientId?.trim(),
      clientSecret: this.credentials.clientSecret?.trim(),
      accessToken: this.credentials.accessToken?.trim() || undefined,
      timeoutMs: this.tuning.timeoutMs,
      maxResponseBytes: this.tuning.maxResponseBytes,
      retry: this.tuning.retry,
    });
    return this.client;
  }

  /** The tenant's GraphQL schema, read once for every node of this connection. */
  get schema(): TenantSchema {
    this.tenantSchema ??= new TenantSchema(this.api);
    return this.tenantSchema;
  }

  /**
   * The webhook token as typed, only to build the URL that registration gives Clarus; everything else
   * compares through `webhookToken`. Never log it.
   */
  get webhookSecret(): string | undefined {
    return this.credentials.webhookToken?.trim() || undefined;
  }

  /**
   * Registers webhook-in nodes' automations with Clarus, one run at a time for this connection and, through a
   * lease in its store, across the instances that share it.
   */
  get registrar(): AutomationRegistrar {
    this.registration ??= connectionRegistrar({
      connectionId: this.id,
      client: this.api,
      documents: this.store,
      lease: { store: this.store, ttlMs: this.leaseMs },
      drift: this.drift,
      warn: this.warn,
    });
    return this.registration;
  }

  /** Records what registration made (`event`) or removed (undefined) for exact classification. */
  setRegisteredAutomation(automationId: string, event: string | undefined): void {
    if (event === undefined) this.registeredEvents.delete(automationId);
    else this.registeredEvents.set(automationId, event);
  }

  /**
   * Starts reading the automation map from the API when the connection has credentials. Off in a
   * connection without them; the manual map works either way.
   */
  startDiscovery(): AutomationDiscovery | undefined {
    if (!this.hasApiCredentials || this.discovery) return this.discovery;
    this.discovery = new AutomationDiscovery(this.api, this.schema, {
      store: this.store,
      name: `automations-${safeFileName(this.id)}`,
    });
    void this.discovery.refresh();
    return this.discovery;
  }

  /** The manual map first, then what registration made, then what discovery found. */
  automationEvent(automationId: string): string | undefined {
    return (
      this.automationEvents.get(automationId) ??
      this.registeredEvents.get(automationId) ??
      this.discovery?.eventOf(automationId)
    );
  }

  /**
   * Like `automationEvent`, but an id no map knows waits (about two seconds at most) for the automation map
   * read from the API: a delivery of a new automation is classified by it, as the poll is, not by its payload.
   */
  async automationEventAwaited(automationId: string, signal?: AbortSignal): Promise<string | undefined> {
    const exact = this.automationEvents.get(automationId) ?? this.registeredEvents.get(automationId);
    if (exact !== undefined) return exact;
    return this.discovery?.lookup(automationId, { signal });
  }

  /**
   * How the connection is doing, for the health endpoint: the store's last known health, whether an API token
   * can be obtained (waiting at most `waitMs` for the token endpoint), and its poll nodes' runs. Never awaits
   * the store, so a Redis that hangs cannot hold the answer up.
   */
  async health(waitMs: number): Promise<ConnectionHealth> {
    return this.healthWith(await this.apiHealth(waitMs));
  }

  /** The same report from what is known now, without asking the token endpoint. */
  healthKnown(): ConnectionHealth {
    return this.healthWith(this.apiState);
  }

  private healthWith(api: PartHealth): ConnectionHealth {
    const parts = { store: storePartHealth(this.store.health), api, polls: this.pollRuns.health() };
    return connectionHealth(this, parts, this.secrets());
  }

  /**
   * No credentials is no fault (a connection for webhooks only); a pasted access token is taken as it is,
   * since only a call to the API could tell whether Clarus still accepts it.
   */
  async apiHealth(waitMs: number): Promise<PartHealth> {
    const check = this.tokenChecked();
    return check ? check.check(waitMs) : this.apiState;
  }

  /** The API part as the last token check left it, without asking again (unknown before any check). */
  get apiState(): PartHealth {
    if (!this.hasApiCredentials) return { ok: true, state: "not-configured" };
    if (this.credentials.accessToken?.trim()) return { ok: true, state: "static" };
    return (
      this.tokenCheck?.lastKnown ?? {
        ok: false,
        state: "unknown",
        cause: "no answer yet from the Clarus token endpoint",
      }
    );
  }

  /** Since when no API token could be obtained (epoch ms); undefined while tokens come or none is needed. */
  get apiFailingSince(): number | undefined {
    return this.tokenCheck?.failingSince;
  }

  /** The token check, for a connection that obtains its tokens with a client id and secret. */
  private tokenChecked(): TokenCheck | undefined {
    if (!this.hasApiCredentials || this.credentials.accessToken?.trim()) return undefined;
    this.tokenCheck ??= new TokenCheck(() => this.api.refreshToken(), {
      intervalMs: tokenCheckMsOf(this.tuning.health),
    });
    return this.tokenCheck;
  }

  /** Every secret of the connection as it could appear in a text, to blank it out of the health report. */
  private secrets(): string[] {
    const { clientSecret, accessToken, webhookToken, redisUrl } = this.credentials;
    const secrets = [clientSecret, accessToken, webhookToken, redisUrl].map((s) => s?.trim() ?? "");
    try {
      const password = parseRedisUrl(redisUrl).password;
      if (password) secrets.push(password, encodeURIComponent(password));
    } catch {
      // No usable redisUrl: the whole URL is blanked above.
    }
    return secrets.filter((secret) => secret !== "");
  }

  expectedIdentity(automationIds: ReadonlySet<string>): ExpectedIdentity {
    return expectedIdentity(this.subdomain, this.domain, this.apiUrl, automationIds, this.apiDomain);
  }

  /** Closes; the store's data is dropped only with a connection deleted from the flows (not a disabled one). */
  async close(reason: CloseReason): Promise<void> {
    this.stopGauges();
    this.replays.cancel();
    this.discovery?.stop();
    // A removed webhook node's deletions were queued as the flows stopped: they need the client and the store.
    await this.registration?.idle(REGISTRATION_CLOSE_WAIT_MS);
    this.client?.close();
    await this.delivery.close();
    await this.store.close(reason === "deleted");
    // Counters count on across redeploys; only a deletion ends them (Prometheus sees a restart as a reset).
    if (reason === "deleted") forgetCounters(this.id);
    if (reason === "deleted") clarusMetrics.forget(this.metricsLabel);
  }
}

export type ClarusConnectionNode = Node<ConnectionCredentials> & { services: ConnectionServices };

function validMappings(value: unknown, warn: (message: string) => void): AutomationMapping[] {
  if (!Array.isArray(value)) return [];
  const mappings: AutomationMapping[] = [];
  for (const entry of value) {
    const id = String((entry as Partial<AutomationMapping>)?.id ?? "").trim();
    const event = String((entry as Partial<AutomationMapping>)?.event ?? "").trim();
    if (!/^\d+$/.test(id) || event === "") {
      warn(`automation map entry ${JSON.stringify(entry)} ignored: it needs a numeric id and an event`);
      continue;
    }
    if (!isKnownEvent(event)) warn(`automation ${id} maps to ${event}, which is not a known Clarus event`);
    mappings.push({ id, event });
  }
  return mappings;
}

function ignore(): void {}

function positiveNumber(value: unknown, fallback: number): number {
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? number : fallback;
}

/** `dedupeCapacity`, at most MAX_DEDUPE_CAPACITY: a larger value (the editor refuses it) is lowered, warned. */
function dedupeCapacity(value: unknown, warn: (message: string) => void): number {
  const capacity = Math.floor(positiveNumber(value, DEFAULT_DEDUPE_CAPACITY));
  if (capacity <= MAX_DEDUPE_CAPACITY) return capacity;
  warn(
    `dedupeCapacity ${capacity} is over the limit of ${MAX_DEDUPE_CAPACITY}; ${MAX_DEDUPE_CAPACITY} is used`,
  );
  return MAX_DEDUPE_CAPACITY;
}

/** settings.js `clarus.replayPerSecond` when it is a positive number, else the default. */
function replayPerSecondOf(value: unknown): number {
  const perSecond = Number(value);
  return Number.isFinite(perSecond) && perSecond > 0 ? perSecond : DEFAULT_REPLAY_PER_SECOND;
}

/** `clarus.health.tokenCheckSeconds` in ms when it is a positive number, else the default. */
function tokenCheckMsOf(health: ClarusTuning["health"]): number | undefined {
  const seconds = Number(health?.tokenCheckSeconds);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

/** Where connections and their nodes keep files: `clarus/` in the Node-RED user directory. */
export function stateDirOf(userDir: string | undefined): string | undefined {
  return userDir ? path.join(userDir, "clarus") : undefined;
}
