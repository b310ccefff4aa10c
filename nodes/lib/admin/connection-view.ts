import type { ConnectionHealth } from "../connection/health";
import type { ConnectionServices } from "../connection/services";
import { withinDeadline } from "../deadline";
import type { ReplayProgress } from "../delivery/dead-letter-replay";
import {
  type AutomationState,
  type CountersSnapshot,
  type CounterValues,
  labelValues,
  type MinuteFigures,
} from "../metrics/counters";
import { HEALTH_WAIT_MS } from "./health-route";

/** How long a view waits for the store's inbox figures: a Redis that hangs shows as "cannot tell" (null). */
const INBOX_DEADLINE_MS = 500;

/** A deployed node that uses the connection, for the tab's per-node buttons. */
export interface NodeSummary {
  id: string;
  type: string;
  name: string;
  /** Its flow (tab or subflow). */
  z?: string;
}

/** Event counts summed over events, with the rejections by reason. */
export interface CounterTotals {
  webhook: number;
  poll: number;
  pollOnly: number;
  duplicates: number;
  rejected: number;
  rejectedBy: Record<string, number>;
}

export interface EventFigures {
  event: string;
  webhook: number;
  poll: number;
  pollOnly: number;
  duplicates: number;
}

/** One deployed connection as the editor's Clarus tab shows it: never a secret. */
export interface ConnectionView {
  id: string;
  name: string;
  subdomain: string;
  /** The GraphQL API it uses (a URL, never a secret): the tab's Test connection sends it back. */
  apiUrl: string;
  store: string;
  delivery: string;
  health: ConnectionHealth;
  counters: {
    sinceStart: CounterTotals;
    lastHour: CounterTotals;
    byEvent: EventFigures[];
    perMinute: MinuteFigures[];
    lastEventAt: { webhook?: string; poll?: string };
    watermarkAge: Record<string, number>;
  };
  /** Null when the store cannot answer now. */
  inbox: { pending: number; dead: number; oldestPendingSeconds: number | null } | null;
  automations: { node: string; event: string; state: AutomationState }[];
  nodes: NodeSummary[];
  replay: ReplayProgress | null;
}

/**
 * The view of one connection. The API part waits for the token endpoint at most HEALTH_WAIT_MS; with `askApi`
 * false it does not ask it at all (the live feed, every few seconds, asks only now and then). The inbox waits for the store at
 * most half a second.
 */
export async function connectionView(
  services: ConnectionServices,
  nodes: NodeSummary[],
  askApi = true,
): Promise<ConnectionView> {
  const { store } = services;
  const inbox = await withinDeadline(services.inboxState(), INBOX_DEADLINE_MS);
  const snapshot = services.counters.snapshot();
  // As the health endpoint: the first look waits briefly for the token check, so a tab that just opened does not
  // show a working API as unknown.
  const health = askApi ? await services.health(HEALTH_WAIT_MS) : services.healthKnown();
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    id: services.id,
    name: services.name,
    subdomain: services.subdomain,
    apiUrl: services.apiUrl,
    store: store.kind,
    delivery: services.delivery.settings.mode,
    health,
    counters: {
      sinceStart: totals(snapshot),
      lastHour: totals(snapshot.lastHour),
      byEvent: byEvent(snapshot),
      perMinute: snapshot.perMinute,
      lastEventAt: { webhook: iso(snapshot.lastEventAt.webhook), poll: iso(snapshot.lastEventAt.poll) },
      watermarkAge: { ...snapshot.gauges?.watermarkAge },
    },
    inbox:
      inbox === undefined
        ? null
        : {
            pending: inbox.pending,
            dead: inbox.dead,
            oldestPendingSeconds:
              inbox.oldestPendingMs === undefined ? null : Math.round(inbox.oldestPendingMs / 1000),
          },
    automations: services.automationStates.list(),
    nodes,
    replay: services.replays.progress ?? null,
  };
}

type Families = Pick<CountersSnapshot, "events" | "duplicates" | "pollOnly" | "rejected">;

function totals(families: Families): CounterTotals {
  const sum = (values: CounterValues, match: (labels: string[]) => boolean = () => true) =>
    [...values].reduce((n, [key, v]) => (match(labelValues(key)) ? n + v : n), 0);
  const rejectedBy: Record<string, number> = {};
  for (const [reason, n] of families.rejected) rejectedBy[reason] = n;
  return {
    webhook: sum(families.events, ([, source]) => source === "webhook"),
    poll: sum(families.events, ([, source]) => source === "poll"),
    pollOnly: sum(families.pollOnly),
    duplicates: sum(families.duplicates),
    rejected: sum(families.rejected),
    rejectedBy,
  };
}

function byEvent(snapshot: CountersSnapshot): EventFigures[] {
  const figures = new Map<string, EventFigures>();
  const of = (event: string) => {
    let row = figures.get(event);
    if (!row) figures.set(event, (row = { event, webhook: 0, poll: 0, pollOnly: 0, duplicates: 0 }));
    return row;
  };
  for (const [key, n] of snapshot.events) {
    const [event, source] = labelValues(key);
    of(event)[source === "poll" ? "poll" : "webhook"] += n;
  }
  for (const [key, n] of snapshot.duplicates) of(labelValues(key)[0]).duplicates += n;
  for (const [event, n] of snapshot.pollOnly) of(event).pollOnly += n;
  return [...figures.values()].sort((a, b) => a.event.localeCompare(b.event));
}
