import type { RequestHandler } from "express";

import type { ConnectionServices } from "../connection/services";
import type { ReplayProgress } from "../delivery/dead-letter-replay";
import { errorMessage } from "../node-red/errors";
import { type ConnectionView, connectionView, type NodeSummary } from "./connection-view";

/** How often the live feed looks for changes. */
const FEED_MS = 2000;
/** Replay progress is published at most this often, and always at its end. */
const PROGRESS_MS = 250;

export interface ConnectionsFeedOptions {
  /** The connections deployed now. */
  connections: () => Iterable<ConnectionServices>;
  /** The deployed nodes that use connection `id`. */
  nodesOf: (id: string) => NodeSummary[];
  /** `RED.comms.publish`. */
  publish: (topic: string, data: unknown, retain: boolean) => void;
  warn: (message: string) => void;
}

/** The comms topic of the connections' views, and of one connection's replay progress. */
export const CONNECTIONS_TOPIC = "clarus/connections";
export const replayTopic = (connectionId: string) => `clarus/replay/${connectionId}`;

/**
 * The views of every deployed connection: answered by `GET /clarus-wms/connections`, and published on the
 * comms topic `clarus/connections` (retained, so an editor that opens gets the last at once) every two seconds
 * when they changed, so the editor's Clarus tab follows without reloading. Each connection's replay progress
 * goes out on `clarus/replay/<id>` as it moves.
 */
export class ConnectionsFeed {
  private timer?: NodeJS.Timeout;
  private last = "";
  private running?: Promise<void>;
  private readonly watched = new WeakSet<ConnectionServices>();

  constructor(private readonly options: ConnectionsFeedOptions) {}

  async views(askApi = true): Promise<ConnectionView[]> {
    return Promise.all(
      [...this.options.connections()].map((services) =>
        connectionView(services, this.options.nodesOf(services.id), askApi),
      ),
    );
  }

  handler(): RequestHandler {
    return (_req, res) => {
      this.views().then(
        (views) => res.set("Cache-Control", "no-store").json(views),
        (error: unknown) => res.status(500).json({ error: errorMessage(error) }),
      );
    };
  }

  /** A connection deployed: its replays are published as they go. */
  watch(services: ConnectionServices): void {
    if (this.watched.has(services)) return;
    this.watched.add(services);
    let sentAt = 0;
    let pending: NodeJS.Timeout | undefined;
    const topic = replayTopic(services.id);
    services.replays.on("progress", (progress: ReplayProgress) => {
      if (pending) clearTimeout(pending);
      pending = undefined;
      const wait = sentAt + PROGRESS_MS - Date.now();
      if (!progress.running || wait <= 0) {
        sentAt = Date.now();
        this.options.publish(topic, progress, true);
        return;
      }
      pending = setTimeout(() => {
        sentAt = Date.now();
        this.options.publish(topic, progress, true);
      }, wait);
      pending.unref();
    });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.look().finally(() => (this.running = undefined));
    }, FEED_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async look(): Promise<void> {
    try {
      // Never the token endpoint: the feed runs whether or not anyone looks. An editor that opens the tab asks
      // the route, which does.
      const views = await this.views(false);
      const text = JSON.stringify(views);
      if (text === this.last) return;
      this.last = text;
      this.options.publish(CONNECTIONS_TOPIC, views, true);
    } catch (error) {
      this.options.warn(`the Clarus tab's feed failed: ${errorMessage(error)}`);
    }
  }
}
