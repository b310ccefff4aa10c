import { Counter, Gauge, Histogram, Registry } from "prom-client";

import { withinDeadline } from "../deadline";
import { AUTOMATION_STATES, type CountersSnapshot, labelValues } from "./counters";

/** What the exposition reads of one deployed connection at scrape time. */
export interface MetricsSource {
  /** The `connection` label: the connection node's name, else its id. */
  label: string;
  counters: { snapshot(): CountersSnapshot };
  /** True while its store can answer (files: until closed; Redis: connected). */
  storeUp: boolean;
  /** Automations its drift checks repaired since the connection started, by kind of drift. */
  driftRepairs: Readonly<Record<string, number>>;
  /**
   * Its inbox, read from the store in one call (shared by every instance on Redis): pending and dead counts, and
   * how long the oldest pending entry has waited (ms; undefined when none is pending).
   */
  inboxState(): Promise<{ pending: number; dead: number; oldestPendingMs?: number }>;
  /** Asks the token endpoint when a check is due, waiting at most `waitMs`, so `clarus_api_up` is current. */
  checkApi(waitMs: number): Promise<unknown>;
}

/** A scrape must answer even while Redis hangs: inbox gauges that take longer are left out of that scrape. */
const INBOX_DEADLINE_MS = 500;
/** How long a scrape waits for a token check that is due; past it the last known answer is shown. */
const API_WAIT_MS = 500;

/** Upper bounds (seconds) of the acknowledgement-latency buckets. */
const ACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The package's metrics in a registry of its own (not prom-client's global one, which other code in the same
 * Node-RED may fill). Counters and gauges are read from each connection's counters when scraped; the latency
 * histogram is observed as webhook-in answers.
 */
export class ClarusMetrics {
  readonly registry = new Registry();
  private readonly ack: Histogram<"connection">;
  private sources: () => MetricsSource[] = () => [];
  /**
   * The deployed connections and their counters as the last scrape found them: listed and snapshot once per
   * scrape, for every collector. (Not cleared after it: a scrape overlapping another reads the newer list.)
   */
  private scraped: { source: MetricsSource; snapshot: CountersSnapshot }[] = [];

  constructor() {
    const registers = [this.registry];
    const each = (collect: (source: MetricsSource, snapshot: CountersSnapshot) => void) => {
      for (const { source, snapshot } of this.scraped) collect(source, snapshot);
    };
    const counter = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      values: (snapshot: CountersSnapshot) => ReadonlyMap<string, number>,
    ) =>
      new Counter<"connection" | L>({
        name,
        help,
        labelNames: ["connection", ...labelNames],
        registers,
        collect() {
          this.reset();
          each((source, snapshot) => {
            for (const [key, n] of values(snapshot)) {
              const labels = Object.fromEntries(labelNames.map((label, i) => [label, labelValues(key)[i]!]));
              this.inc({ connection: source.label, ...labels } as Record<"connection" | L, string>, n);
            }
          });
        },
      });
    counter("clarus_events_total", "Events that entered the flow.", ["event", "source"], (s) => s.events);
    counter(
      "clarus_duplicates_total",
      "Deliveries and polled records answered as duplicates.",
      ["event", "source"],
      (s) => s.duplicates,
    );
    counter(
      "clarus_poll_only_events_total",
      "Events the poll brought that no webhook had delivered.",
      ["event"],
      (s) => s.pollOnly,
    );
    counter(
      "clarus_webhook_rejected_total",
      "Webhook requests refused, by reason.",
      ["reason"],
      (s) => s.rejected,
    );
    counter(
      "clarus_poll_runs_total",
      "Poll runs, by stream and outcome.",
      ["stream", "outcome"],
      (s) => s.pollRuns,
    );
    new Counter({
      name: "clarus_automation_repairs_total",
      help: "Registered automations repaired after a change in Clarus, by kind (disabled, deleted, re-pointed).",
      labelNames: ["connection", "kind"],
      registers,
      collect() {
        this.reset();
        each((source) => {
          for (const [kind, n] of Object.entries(source.driftRepairs))
            this.inc({ connection: source.label, kind }, n);
        });
      },
    });
    this.ack = new Histogram({
      name: "clarus_webhook_ack_seconds",
      help: "Time from a webhook request to its 200 answer.",
      labelNames: ["connection"],
      buckets: ACK_BUCKETS,
      registers,
    });
    new Gauge({
      name: "clarus_last_event_timestamp_seconds",
      help: "When the last event entered the flow, by source (Unix time).",
      labelNames: ["connection", "source"],
      registers,
      collect() {
        this.reset();
        each((source, snapshot) => {
          for (const [from, at] of Object.entries(snapshot.lastEventAt)) {
            this.set({ connection: source.label, source: from }, at / 1000);
          }
        });
      },
    });
    new Gauge({
      name: "clarus_poll_watermark_age_seconds",
      help: "Time since the poll stream's watermark: how far behind Clarus the poll has read.",
      labelNames: ["connection", "stream"],
      registers,
      collect() {
        this.reset();
        each((source, snapshot) => {
          for (const [stream, age] of Object.entries(snapshot.gauges?.watermarkAge ?? {}))
            this.set({ connection: source.label, stream }, age);
        });
      },
    });
    new Gauge({
      name: "clarus_api_up",
      help: "1 while an API token can be obtained (the last token check), else 0; absent without API credentials.",
      labelNames: ["connection"],
      registers,
      collect() {
        this.reset();
        each((source, snapshot) => {
          const up = snapshot.gauges?.apiUp;
          if (up !== undefined) this.set({ connection: source.label }, up);
        });
      },
    });
    new Gauge({
      name: "clarus_automations",
      help: "Registered automations by the state their last registration or drift check found.",
      labelNames: ["connection", "state"],
      registers,
      collect() {
        this.reset();
        each((source, snapshot) => {
          const counts = snapshot.gauges?.automations;
          if (!counts) return;
          for (const state of AUTOMATION_STATES) this.set({ connection: source.label, state }, counts[state]);
        });
      },
    });
    const storeUp = new Gauge({
      name: "clarus_store_up",
      help: "1 while the connection's store can answer, else 0.",
      labelNames: ["connection"],
      registers,
    });
    const pending = new Gauge({
      name: "clarus_inbox_pending",
      help: "Events in the inbox waiting for a confirm (on-confirm).",
      labelNames: ["connection"],
      registers,
    });
    const oldest = new Gauge({
      name: "clarus_inbox_oldest_pending_seconds",
      help: "How long the oldest pending inbox event has waited since it was admitted (0: none pending).",
      labelNames: ["connection"],
      registers,
    });
    const dead = new Gauge({
      name: "clarus_dead_letters",
      help: "Dead letters in the inbox.",
      labelNames: ["connection"],
      registers,
    });
    // One collect for the three store gauges: the store is asked once per connection and scrape.
    const storeGauges = async () => {
      storeUp.reset();
      pending.reset();
      oldest.reset();
      dead.reset();
      await Promise.all(
        this.scraped.map(async ({ source }) => {
          storeUp.set({ connection: source.label }, source.storeUp ? 1 : 0);
          const inbox = await withinDeadline(source.inboxState(), INBOX_DEADLINE_MS);
          if (!inbox) return;
          oldest.set({ connection: source.label }, (inbox.oldestPendingMs ?? 0) / 1000);
          pending.set({ connection: source.label }, inbox.pending);
          dead.set({ connection: source.label }, inbox.dead);
        }),
      );
    };
    this.storeGauges = storeGauges;
  }

  private readonly storeGauges: () => Promise<void>;

  /** Where the exposition finds the deployed connections. */
  readFrom(sources: () => MetricsSource[]): void {
    this.sources = sources;
  }

  /** A webhook-in answered 200 after `seconds`. */
  acknowledged(connection: string, seconds: number): void {
    this.ack.observe({ connection }, seconds);
  }

  /** A connection renamed or deleted: its latency series go. */
  forget(connection: string): void {
    this.ack.remove({ connection });
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    const sources = this.sources();
    await Promise.all(sources.map((source) => source.checkApi(API_WAIT_MS).catch(() => undefined)));
    this.scraped = sources.map((source) => ({ source, snapshot: source.counters.snapshot() }));
    await this.storeGauges();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The one registry of this package in the process. */
export const clarusMetrics = new ClarusMetrics();
