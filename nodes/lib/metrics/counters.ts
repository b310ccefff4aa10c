import { isKnownEvent } from "../events/vocabulary";

/** Where an event came from. */
export type EventSource = "webhook" | "poll";

/**
 * Why webhook-in refused a request: a fixed list, so a label value is never chosen by whoever sends the request.
 * token: 401; identity: a Clarus header refused (403); ip: the source address (403); method: 405; not-found: a
 * path segment where none belongs (404); content-type: 415; size: 413; timeout: the body did not arrive (408);
 * malformed: not a JSON object, or too deep (400); unstorable: an event the store can never take (400);
 * unavailable: the store cannot take it now, or the node is closing (503).
 */
export const REJECTION_REASONS = [
  "token",
  "identity",
  "ip",
  "method",
  "not-found",
  "content-type",
  "size",
  "timeout",
  "malformed",
  "unstorable",
  "unavailable",
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export const POLL_OUTCOMES = ["ok", "error", "skipped"] as const;
export type PollOutcome = (typeof POLL_OUTCOMES)[number];

/** The states of a registered automation (automations/automation-states.ts says what each means). */
export const AUTOMATION_STATES = ["ok", "drifted", "missing", "failed"] as const;
export type AutomationState = (typeof AUTOMATION_STATES)[number];

/**
 * What a connection knows of itself at once, without asking its store (the inbox figures need the store, and
 * are read apart): read at each snapshot from the deployed connection.
 */
export interface ConnectionGauges {
  /** Its store can answer. */
  storeUp: boolean;
  /** 1 when the last token check obtained a token (or a pasted access token is used), else 0; undefined without API credentials. */
  apiUp?: number;
  /** Seconds since each poll stream's watermark, by stream. */
  watermarkAge: Readonly<Record<string, number>>;
  /** Its webhook-in nodes' registered automations, by state. */
  automations: Readonly<Record<AutomationState, number>>;
}

const MINUTE_MS = 60_000;
const RING_MINUTES = 60;

/** A counter family: counts by a label key (label values joined by "\u0000"), since start. */
export type CounterValues = ReadonlyMap<string, number>;

export interface CountersSnapshot {
  events: CounterValues;
  duplicates: CounterValues;
  pollOnly: CounterValues;
  rejected: CounterValues;
  pollRuns: CounterValues;
  /** The same families, summed over the last hour. */
  lastHour: {
    events: CounterValues;
    duplicates: CounterValues;
    pollOnly: CounterValues;
    rejected: CounterValues;
    pollRuns: CounterValues;
  };
  /** Per minute of the last hour, oldest first: the figures a chart draws. */
  perMinute: MinuteFigures[];
  lastEventAt: Readonly<Partial<Record<EventSource, number>>>;
  /** The deployed connection's gauges; undefined while none is deployed. */
  gauges?: ConnectionGauges;
}

export interface MinuteFigures {
  /** The minute's start, ms since the epoch. */
  at: number;
  webhook: number;
  pollOnly: number;
  duplicates: number;
  rejected: number;
}

type Family = "events" | "duplicates" | "pollOnly" | "rejected" | "pollRuns";
const FAMILIES: readonly Family[] = ["events", "duplicates", "pollOnly", "rejected", "pollRuns"];

interface Minute {
  index: number;
  counts: Record<Family, Map<string, number>>;
}

/** The label value of an event: one of the vocabulary, or `unknown`, whatever a payload or header said. */
export function eventLabel(event: string): string {
  return isKnownEvent(event) ? event : "unknown";
}

/** The label key of several label values. */
export function labelKey(...values: string[]): string {
  return values.join("\u0000");
}

export function labelValues(key: string): string[] {
  return key.split("\u0000");
}

/**
 * What one connection did, counted by the code that decided it (webhook-in for what it answered, the poll for
 * what it found and how its runs went): since start, and per minute for the last hour. In memory only; a few map
 * increments per event, so the hot path does not notice. (The latency histogram is prometheus.ts's own.)
 */
export class ConnectionCounters {
  /** The `connection` label its connection last gave it (its name, else its id). */
  label?: string;
  private readonly totals: Record<Family, Map<string, number>> = newFamilies();
  private readonly ring: Minute[] = [];
  private readonly lastEventAt: Partial<Record<EventSource, number>> = {};
  private gaugeSource?: () => ConnectionGauges;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Where snapshots read the gauges: the connection deployed now. It returns a function that stops that, for
   * its close; one deployed since keeps its own.
   */
  readGaugesFrom(source: () => ConnectionGauges): () => void {
    this.gaugeSource = source;
    return () => {
      if (this.gaugeSource === source) this.gaugeSource = undefined;
    };
  }

  /** An event entered the flow (fresh: claimed or admitted), by the source that brought it. */
  entered(event: string, source: EventSource): void {
    this.add("events", labelKey(eventLabel(event), source));
    this.lastEventAt[source] = this.now();
  }

  /** The poll brought an event fresh: no webhook had claimed it, so the webhook path missed it. */
  pollOnly(event: string): void {
    this.add("pollOnly", eventLabel(event));
  }

  duplicate(event: string, source: EventSource): void {
    this.add("duplicates", labelKey(eventLabel(event), source));
  }

  rejected(reason: RejectionReason): void {
    this.add("rejected", reason);
  }

  pollRun(stream: string, outcome: PollOutcome): void {
    this.add("pollRuns", labelKey(stream, outcome));
  }

  snapshot(): CountersSnapshot {
    const now = this.now();
    const current = Math.floor(now / MINUTE_MS);
    const recent = this.ring.filter((minute) => minute.index > current - RING_MINUTES);
    const lastHour = newFamilies();
    for (const minute of recent) {
      for (const family of FAMILIES) {
        for (const [key, n] of minute.counts[family])
          lastHour[family].set(key, (lastHour[family].get(key) ?? 0) + n);
      }
    }
    const perMinute: MinuteFigures[] = [];
    for (let index = current - RING_MINUTES + 1; index <= current; index++) {
      const minute = recent.find((m) => m.index === index);
      const sum = (family: Family, match: (key: string) => boolean) =>
        minute ? [...minute.counts[family]].reduce((n, [key, v]) => (match(key) ? n + v : n), 0) : 0;
      perMinute.push({
        at: index * MINUTE_MS,
        webhook: sum("events", (key) => labelValues(key)[1] === "webhook"),
        pollOnly: sum("pollOnly", () => true),
        duplicates: sum("duplicates", () => true),
        rejected: sum("rejected", () => true),
      });
    }
    return {
      ...this.totals,
      lastHour,
      perMinute,
      lastEventAt: { ...this.lastEventAt },
      gauges: this.gaugeSource?.(),
    };
  }

  private add(family: Family, key: string): void {
    const totals = this.totals[family];
    totals.set(key, (totals.get(key) ?? 0) + 1);
    const counts = this.minute().counts[family];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }

  /** This minute's slot of the ring, started when the minute's first count comes. */
  private minute(): Minute {
    const index = Math.floor(this.now() / MINUTE_MS);
    const last = this.ring[this.ring.length - 1];
    if (last?.index === index) return last;
    const minute = { index, counts: newFamilies() };
    this.ring.push(minute);
    while (this.ring.length > 0 && this.ring[0]!.index <= index - RING_MINUTES) this.ring.shift();
    return minute;
  }
}

function newFamilies(): Record<Family, Map<string, number>> {
  return {
    events: new Map(),
    duplicates: new Map(),
    pollOnly: new Map(),
    rejected: new Map(),
    pollRuns: new Map(),
  };
}

/**
 * The counters of each connection, kept by connection id across its redeploys (a counter starts again only with
 * the process, as Prometheus expects of one), dropped when the connection is deleted.
 */
const byConnection = new Map<string, ConnectionCounters>();

export function countersOf(connectionId: string): ConnectionCounters {
  let counters = byConnection.get(connectionId);
  if (!counters) {
    counters = new ConnectionCounters();
    byConnection.set(connectionId, counters);
  }
  return counters;
}

export function forgetCounters(connectionId: string): void {
  byConnection.delete(connectionId);
}
