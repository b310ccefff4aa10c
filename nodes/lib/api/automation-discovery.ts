import { EventEmitter } from "node:events";

import type { ClarusClient } from "./client";
import { canPage, listQuery } from "./list-query";
import { errorMessage } from "../node-red/errors";
import { fitSelection, rootList, type SchemaModel } from "./schema-model";
import { isKnownEvent } from "../events/vocabulary";
import { isSchemaMismatch, type TenantSchema } from "./schema";
import { parseSelection } from "./selection";
import { relayPages } from "./relay";

export const DISCOVERY_INTERVAL_MS = 5 * 60_000;
const MAX_PAGES = 20;

export interface DiscoveryState {
  ok: boolean;
  error?: string;
  automations: number;
}

/**
 * The automation id -> event map read from the Clarus API's `automations` query, for deliveries the
 * manual map does not cover. Read at deploy, then again at most every few minutes when a delivery names
 * an automation it does not know. Emits "state" after each attempt, so nodes can show a failure.
 */
export class AutomationDiscovery extends EventEmitter {
  private events = new Map<string, string>();
  private lastAttempt = 0;
  private running?: Promise<void>;
  private readonly abort = new AbortController();
  state?: DiscoveryState;

  constructor(
    private readonly client: ClarusClient,
    private readonly schema: TenantSchema,
    private readonly intervalMs = DISCOVERY_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  /** The discovered event of an automation; an unknown id may start a refresh for later deliveries. */
  eventOf(automationId: string): string | undefined {
    const event = this.events.get(automationId);
    if (event === undefined && this.now() - this.lastAttempt >= this.intervalMs) void this.refresh();
    return event;
  }

  refresh(): Promise<void> {
    this.running ??= this.read().finally(() => (this.running = undefined));
    return this.running;
  }

  stop(): void {
    this.abort.abort(new Error("the connection is closing"));
  }

  private async read(): Promise<void> {
    this.lastAttempt = this.now();
    try {
      const { model } = await this.schema.read(this.abort.signal);
      const found = await readAutomations(this.client, model, this.abort.signal);
      this.events = found;
      this.publish({ ok: true, automations: found.size });
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (isSchemaMismatch(error)) this.schema.invalidate();
      // The previous map stays: a failed refresh loses nothing that was known.
      this.publish({ ok: false, error: errorMessage(error), automations: this.events.size });
    }
  }

  private publish(state: DiscoveryState): void {
    this.state = state;
    this.emit("state", state);
  }
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
