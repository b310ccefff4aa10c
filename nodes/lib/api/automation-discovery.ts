import { EventEmitter } from "node:events";

import type { ClarusClient } from "./client";
import { errorMessage } from "../node-red/errors";
import { isKnownEvent } from "../events/vocabulary";
import { relayPages } from "./relay";

const AUTOMATIONS = `query ClarusAutomations($first: Int, $after: String) {
  automations { all(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id resource_name event enabled } }
  } }
}`;

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
      const found = new Map<string, string>();
      let pages = 0;
      for await (const page of relayPages(this.client, {
        query: AUTOMATIONS,
        variables: {},
        path: ["automations", "all"],
        pageSize: 100,
        signal: this.abort.signal,
      })) {
        for (const node of page.nodes) {
          const event = `${String(node.resource_name ?? "")}.${String(node.event ?? "")}`;
          if (node.id !== undefined && isKnownEvent(event)) found.set(String(node.id), event);
        }
        if (++pages >= MAX_PAGES) break;
      }
      this.events = found;
      this.publish({ ok: true, automations: found.size });
    } catch (error) {
      if (this.abort.signal.aborted) return;
      // The previous map stays: a failed refresh loses nothing that was known.
      this.publish({ ok: false, error: errorMessage(error), automations: this.events.size });
    }
  }

  private publish(state: DiscoveryState): void {
    this.state = state;
    this.emit("state", state);
  }
}
