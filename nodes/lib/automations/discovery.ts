import { EventEmitter } from "node:events";

import type { ClarusClient } from "../api/client";
import { relayPages } from "../api/relay";
import { isKnownEvent } from "../events/vocabulary";
import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { canPage, listQuery } from "../schema/list-query";
import { fitSelection, rootList, type SchemaModel } from "../schema/schema-model";
import { parseSelection } from "../schema/selection";
import { isSchemaMismatch, type TenantSchema } from "../schema/tenant-schema";
import type { ConnectionStore } from "../store/connection-store";

export const DISCOVERY_INTERVAL_MS = 5 * 60_000;
/**
 * At most one fresh read in this interval for deliveries of ids the map does not know: a new automation is
 * found within seconds, while deliveries naming random ids cannot make one API read each.
 */
export const UNKNOWN_ID_READ_INTERVAL_MS = 30_000;
/** How long a delivery of an unknown automation waits for the map before the payload decides. */
export const LOOKUP_WAIT_MS = 2_000;
const MAX_PAGES = 20;

export interface DiscoveryOptions {
  /** Least time between reads that a sync `eventOf` of an unknown id starts in the background. */
  intervalMs?: number;
  /** Least time between fresh reads that `lookup` of an unknown id starts. */
  unknownIdReadIntervalMs?: number;
  now?: () => number;
}

export interface DiscoveryState {
  ok: boolean;
  error?: string;
  automations: number;
}

/** Where the discovered map is shared: the connection's store, so every instance (and a restart) reads it. */
export interface SharedAutomationMap {
  store: Pick<ConnectionStore, "readDocument" | "writeDocument">;
  /** The document's name, e.g. `automations-<connection id>`. */
  name: string;
}

/**
 * The automation id -> event map read from the Clarus API's `automations` query, for deliveries the
 * manual map does not cover. Read at deploy, then again at most every few minutes when a delivery names
 * an automation it does not know: `lookup` waits (bounded) for the read running, or a fresh one, so the
 * first deliveries of an automation are classified by it rather than by their payload. Emits "state" after
 * each attempt, so nodes can show a failure.
 *
 * With `shared`, what was read is written to the connection's store and read from it first: an instance (or
 * a restart) classifies with the map another read before its own read answers, or when its own read fails;
 * and a delivery of an unknown automation reads the API only when no instance did within the interval.
 */
export class AutomationDiscovery extends EventEmitter {
  private events = new Map<string, string>();
  /** When the map held was read from the API (here or by another instance); 0: never. */
  private readAt = 0;
  private lastAttempt = 0;
  /** When `lookup` last started a fresh read; -Infinity: never, so the first unknown id gets one. */
  private lastUnknownIdRead = Number.NEGATIVE_INFINITY;
  private running?: Promise<void>;
  private readonly abort = new AbortController();
  private readonly intervalMs: number;
  private readonly unknownIdReadIntervalMs: number;
  private readonly now: () => number;
  state?: DiscoveryState;

  constructor(
    private readonly client: ClarusClient,
    private readonly schema: TenantSchema,
    private readonly shared?: SharedAutomationMap,
    options: DiscoveryOptions = {},
  ) {
    super();
    this.intervalMs = options.intervalMs ?? DISCOVERY_INTERVAL_MS;
    this.unknownIdReadIntervalMs = options.unknownIdReadIntervalMs ?? UNKNOWN_ID_READ_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  /** The discovered event of an automation; an unknown id may start a refresh for later deliveries. */
  eventOf(automationId: string): string | undefined {
    const event = this.events.get(automationId);
    if (event === undefined && this.now() - this.lastAttempt >= this.intervalMs) {
      void this.refresh({ unlessSharedWithin: this.intervalMs });
    }
    return event;
  }

  /**
   * The event of an automation, waiting at most `waitMs` for the map to learn it: first for the read running
   * now, then, when the id is still unknown, for a fresh read, unless one was started for an unknown id
   * within the interval. Undefined when the map does not know it by then (the payload decides).
   */
  async lookup(
    automationId: string,
    options: { waitMs?: number; signal?: AbortSignal } = {},
  ): Promise<string | undefined> {
    const deadline = this.now() + (options.waitMs ?? LOOKUP_WAIT_MS);
    const known = () => this.events.get(automationId);
    if (known() !== undefined) return known();
    if (this.running) await this.waitFor(this.running, deadline, options.signal);
    if (known() !== undefined || this.now() >= deadline || options.signal?.aborted) return known();
    if (this.now() - this.lastUnknownIdRead < this.unknownIdReadIntervalMs) return undefined;
    this.lastUnknownIdRead = this.now();
    await this.waitFor(this.refresh({ unlessKnown: automationId }), deadline, options.signal);
    return known();
  }

  /** Waits for `read` until `deadline` or an abort, whichever is first; the read itself goes on. */
  private async waitFor(
    read: Promise<void>,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (signal?.aborted) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - this.now()));
      onAbort = resolve;
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([read, bound]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Reads the map from the API, after taking up a newer shared one; `unlessSharedWithin`: not when the shared
   * map was read that recently (by any instance); `unlessKnown`: not when the shared map knows that id.
   */
  refresh(options: { unlessSharedWithin?: number; unlessKnown?: string } = {}): Promise<void> {
    this.running ??= this.read(options).finally(() => (this.running = undefined));
    return this.running;
  }

  stop(): void {
    this.abort.abort(new Error("the connection is closing"));
  }

  private async read(options: { unlessSharedWithin?: number; unlessKnown?: string }): Promise<void> {
    const { unlessSharedWithin, unlessKnown } = options;
    this.lastAttempt = this.now();
    await this.takeUpShared();
    const recent = unlessSharedWithin !== undefined && this.now() - this.readAt < unlessSharedWithin;
    if (recent || (unlessKnown !== undefined && this.events.has(unlessKnown))) {
      this.publish({ ok: true, automations: this.events.size });
      return;
    }
    try {
      const { model } = await this.schema.read(this.abort.signal);
      const found = await readAutomations(this.client, model, this.abort.signal);
      this.events = found;
      this.readAt = this.now();
      this.publish({ ok: true, automations: found.size });
      await this.share();
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (isSchemaMismatch(error)) this.schema.invalidate();
      // The previous map stays: a failed refresh loses nothing that was known.
      this.publish({ ok: false, error: errorMessage(error), automations: this.events.size });
    }
  }

  /** The shared map, when it is newer than the one held. The store is a shortcut: when it fails, the API is asked. */
  private async takeUpShared(): Promise<void> {
    if (!this.shared) return;
    try {
      const document = parseSharedMap(await this.shared.store.readDocument(this.shared.name));
      if (document && document.readAt > this.readAt) {
        this.events = document.events;
        this.readAt = document.readAt;
      }
    } catch {
      // Redis away or a document that is not a map: the API read goes on; the connection logs the store's state.
    }
  }

  private async share(): Promise<void> {
    if (!this.shared) return;
    const document = {
      readAt: new Date(this.readAt).toISOString(),
      automations: Object.fromEntries(this.events),
    };
    await this.shared.store.writeDocument(this.shared.name, document).catch(() => undefined);
  }

  private publish(state: DiscoveryState): void {
    this.state = state;
    this.emit("state", state);
  }
}

/** The shared document `{ readAt, automations: { id: event } }`, with only what it claims to be kept. */
function parseSharedMap(value: unknown): { readAt: number; events: Map<string, string> } | undefined {
  if (!isPlainObject(value) || typeof value.readAt !== "string" || !isPlainObject(value.automations)) return;
  const readAt = Date.parse(value.readAt);
  if (Number.isNaN(readAt)) return undefined;
  const events = new Map<string, string>();
  for (const [id, event] of Object.entries(value.automations)) {
    if (/^\d+$/.test(id) && typeof event === "string" && isKnownEvent(event)) events.set(id, event);
  }
  return { readAt, events };
}

/** Automation id -> event, from the `automations` list as the tenant's schema (`model`) has it. */
export async function readAutomations(
  client: ClarusClient,
  model: SchemaModel,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const query = automationsQuery(model);
  const found = new Map<string, string>();
  let pages = 0;
  const request = { query, variables: {}, path: ["automations", "all"], pageSize: 100, signal };
  for await (const page of relayPages(client, request)) {
    for (const node of page.nodes) {
      const event = `${String(node.resource_name ?? "")}.${String(node.event ?? "")}`;
      if (node.id !== undefined && isKnownEvent(event)) found.set(String(node.id), event);
    }
    if (++pages >= MAX_PAGES) break;
  }
  return found;
}

function automationsQuery(model: SchemaModel): string {
  const list = rootList(model, "automations");
  if (!list || !canPage(list)) {
    throw new Error("the schema has no automations list to page through: map automations by hand");
  }
  const fitted = fitSelection(model, list.nodeType, parseSelection("id resource_name event"));
  if (fitted.missing.length > 0) {
    throw new Error(`automations have no ${fitted.missing.join(", ")}: map automations by hand`);
  }
  return listQuery("ClarusAutomations", list, fitted.nodes, false);
}
